/**
 * The one-time move of a frontend's localStorage into `documents`: each key the app names
 * becomes a document (`key`, and `value` parsed as JSON, or the raw text if it is not JSON),
 * pushed with the first sync.
 *
 * Once and only once: the document's id is derived from the owner and the key (a UUID v5), so
 * two tabs importing at the same moment, a reload half way, or the same account importing on a
 * second device all name the same record (the server merges a create of a record it has as an
 * update); and a key imported is marked (`<db name>:imported:<key>`), so it is never read again
 * even after the app changes the document.
 */
import type { RxCollection } from "rxdb";

export interface ImportOptions {
  /** Whose data this is (the account's id): the same key of the same owner is one document on
   * every device. By default this browser's device id. */
  owner?: string;
  /** Remove each key from localStorage once imported (default false). */
  remove?: boolean;
}

/** The name space of the package's derived ids. */
const NAMESPACE = "6f1c2f4e-8b7d-4e58-9a0c-3d5e7f9a1b2c";

/** The UUID v5 of `name` in `namespace` (the package's by default), as RFC 9562 makes it. */
export async function uuidV5(name: string, namespace: string = NAMESPACE): Promise<string> {
  const space = Uint8Array.from(namespace.replace(/-/g, "").match(/../g)!.map((h) => parseInt(h, 16)));
  const text = new TextEncoder().encode(name);
  const input = new Uint8Array(space.length + text.length);
  input.set(space);
  input.set(text, space.length);
  const hash = new Uint8Array(await crypto.subtle.digest("SHA-1", input)).slice(0, 16);
  hash[6] = (hash[6] & 0x0f) | 0x50;
  hash[8] = (hash[8] & 0x3f) | 0x80;
  const hex = [...hash].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Imports `keys`; returns how many documents this call created. */
export async function importLocalStorage(
  documents: RxCollection<any> | undefined,
  database: string,
  device: string,
  keys: string[],
  options: ImportOptions = {},
): Promise<number> {
  if (!documents) throw new Error("importLocalStorage needs the documents collection");
  const storage = globalThis.localStorage;
  let created = 0;
  for (const key of keys) {
    const marker = `${database}:imported:${key}`;
    const raw = storage.getItem(key);
    if (raw === null || storage.getItem(marker) !== null) continue;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch {
      value = raw;
    }
    const id = await uuidV5(`${options.owner ?? device}\u0000${key}`);
    const held = await documents.findOne(id).exec();
    if (!held) {
      try {
        await documents.insert({ id, key, value });
        created++;
      } catch (error: any) {
        // Another tab inserted it first: the same document, already there.
        if (error?.code !== "CONFLICT" && error?.parameters?.writeError?.status !== 409) throw error;
      }
    }
    storage.setItem(marker, new Date().toISOString());
    if (options.remove) storage.removeItem(key);
  }
  return created;
}
