/**
 * RxDB's replication contract mapped onto the platform's sync protocol
 * (`shared/src/sync/README.md`).
 *
 * - **Pull**: `GET /api/sync/pull` for one collection, paged by the server's cursor (RxDB's
 *   checkpoint is `{cursor}`), filling RxDB's batch across short pages. A `delete` and the
 *   records of a dropped masterclass become tombstones.
 * - **Push**: each document's fields whose clock moved since the state the server last
 *   confirmed become mutations (one per clock), numbered per collection's `client_id`. The
 *   server merges per field by clock and answers with each record as it now holds it: where that
 *   differs from what was pushed (a field lost to a newer clock, a write refused, fields only the
 *   server writes), it goes back to RxDB as the "real master state" and the conflict handler
 *   takes it whole. Nothing a push carried is lost by that: the server's record already is the
 *   merge of it, and an edit made while the push was in flight is pushed next.
 * - **Retries**: a mutation sent again repeats its first fate on the server, so a lost answer or
 *   a retried batch applies nothing twice; after any failure the next push first asks the server
 *   (an empty push) where its numbering stands.
 */
import type { RxCollection, RxConflictHandler, WithDeleted } from "rxdb";
import { COLLECTIONS, type CollectionName } from "./collections.js";
import type { components } from "./api.js";
import { compareHlc, type Clock } from "./hlc.js";
import { HttpError, type Api } from "./http.js";

type Change = components["schemas"]["Change"];
type Mutation = components["schemas"]["Mutation"];
type MutationResult = components["schemas"]["MutationResult"];
type PushResponse = components["schemas"]["PushResponse"];
type PullResponse = components["schemas"]["PullResponse"];

/** A record as RxDB hands it over: fields, clocks and the deletion flag. */
export type Doc = WithDeleted<{ id: string; clocks: Record<string, string>; [field: string]: unknown }>;

/** A write the server refused, as the app is told of it. */
export interface Rejection {
  /** `<collection>:<record id>:<clock of the write>`: the same write refused twice is one entry. */
  id: string;
  /** The collection (a record's `collection` is RxDB's own, hence the name). */
  collection_name: CollectionName;
  record_id: string;
  op: Mutation["op"];
  /** `validation`, `forbidden`, `unknown_collection` or `conflict`. */
  reason: string;
  /** For `conflict`, the rule (`already_registered`, `question_used`...), else a sentence. */
  detail: string | null;
  errors: { field: string; message: string }[];
  /** What the refused write carried, to show the user what was undone. */
  fields: Record<string, unknown>;
  at: number;
}

/** Everything a document carries besides its fields. */
const NOT_FIELDS = new Set(["id", "clocks", "_deleted", "_meta", "_rev", "_attachments"]);
/** The most mutations, and the most bytes of JSON, sent in one push (the server's limits are
 * 500 and 256 KiB). */
const PUSH_MUTATIONS = 500;
const PUSH_BYTES = 200 * 1024;

/** A JSON text of `value` with object keys sorted, to compare records whatever their key order. */
export function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([key, v]) => v !== undefined && !NOT_FIELDS.has(key))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, v]) => `${JSON.stringify(key)}:${canonical(v)}`).join(",")}}`;
  }
  return JSON.stringify(value ?? null);
}

/** Two states are the same when both are gone with the same clocks, or both are live with the
 * same fields and clocks. */
export function sameState(a: Doc, b: Doc): boolean {
  if (Boolean(a._deleted) !== Boolean(b._deleted)) return false;
  if (canonical(a.clocks ?? {}) !== canonical(b.clocks ?? {})) return false;
  return a._deleted || canonical(a) === canonical(b);
}

/** The server merges; its record after a push is the truth the device takes. */
export const conflictHandler: RxConflictHandler<any> = {
  isEqual: (a, b) => sameState(a as Doc, b as Doc),
  resolve: async ({ realMasterState }) => realMasterState,
};

/** A pulled or answered change as RxDB stores it. */
export function changeToDoc(change: Change): Doc {
  const clocks = (change.clocks ?? {}) as Record<string, string>;
  if (change.op === "delete") return { id: change.id, clocks, _deleted: true };
  return { ...(change.fields as Record<string, unknown>), id: change.id, clocks, _deleted: false };
}

/** The fields of a document (what it holds besides id, clocks and RxDB's own). */
function fieldsOf(doc: Doc): Record<string, unknown> {
  return Object.fromEntries(Object.entries(doc).filter(([key, v]) => !NOT_FIELDS.has(key) && v !== undefined));
}

type Draft = Omit<Mutation, "mutation_id" | "fields"> & { fields?: Record<string, unknown> };

/**
 * The mutations that bring the server from `before` (the state it last confirmed, if any) to
 * `after`: a create for a record it never confirmed, then, per clock, the fields written at
 * that clock, and a delete at its own clock. Fields a device may not write are sent too: the
 * server refuses them and its answer undoes them here.
 */
export function mutationsFor(collection: CollectionName, before: Doc | undefined, after: Doc): Draft[] {
  const clocks = after.clocks ?? {};
  const confirmed = before?.clocks ?? {};
  const drafts: Draft[] = [];
  const byClock = new Map<string, Record<string, unknown>>();
  const fields = fieldsOf(after);
  let createdAt: string | undefined;
  if (!before) {
    if (after._deleted) return [];
    const stamps = Object.keys(fields).map((f) => clocks[f]).filter(Boolean).sort();
    createdAt = stamps[0];
    if (!createdAt) throw new Error(`${collection} ${after.id} has no clocks: was it written through this package?`);
    drafts.push({ collection, record_id: after.id, op: "create", fields, hlc: createdAt });
  }
  for (const [field, value] of Object.entries(fields)) {
    const clock = clocks[field];
    if (!clock || compareHlc(clock, confirmed[field]) <= 0) continue;
    if (createdAt && compareHlc(clock, createdAt) <= 0) continue;
    const group = byClock.get(clock) ?? {};
    group[field] = value;
    byClock.set(clock, group);
  }
  for (const [hlc, changed] of byClock) {
    drafts.push({ collection, record_id: after.id, op: "update", fields: changed, hlc });
  }
  if (before && after._deleted && compareHlc(clocks._deleted, confirmed._deleted) > 0) {
    drafts.push({ collection, record_id: after.id, op: "delete", hlc: clocks._deleted });
  }
  // The create first; then in clock order, as they were written.
  return drafts.sort((a, b) => (a.op === "create" ? -1 : b.op === "create" ? 1 : compareHlc(a.hlc, b.hlc)));
}

/** Splits mutations into pushes within the server's limits. */
function batches(mutations: Draft[]): Draft[][] {
  const out: Draft[][] = [];
  let current: Draft[] = [];
  let bytes = 0;
  for (const mutation of mutations) {
    const size = JSON.stringify(mutation).length + 32;
    if (current.length && (current.length >= PUSH_MUTATIONS || bytes + size > PUSH_BYTES)) {
      out.push(current);
      current = [];
      bytes = 0;
    }
    current.push(mutation);
    bytes += size;
  }
  if (current.length) out.push(current);
  return out;
}

export interface PushContext {
  api: Api;
  clock: Clock;
  /** The `client_id` of this collection's queue (made once, kept by the device). */
  clientId(): string;
  /** Called when the server says the client id is someone else's: a new one is made. */
  renewClientId(): void;
  /** Refused writes, to record and show. */
  rejected(rejections: Rejection[]): Promise<void>;
  /** Records pushed, with the newest clock each carried: their pending marks may go. */
  confirmed(records: { id: string; clock: string }[]): Promise<void>;
}

/** Runs `task` holding the browser's lock `name` (Web Locks: one holder across every tab of the
 * origin), or at once where there are no Web Locks. */
function locked<T>(name: string, task: () => Promise<T>): Promise<T> {
  const locks = (globalThis.navigator as Navigator | undefined)?.locks;
  return locks ? (locks.request(name, task) as Promise<T>) : task();
}

/**
 * The push handler of one collection. Pushes never overlap, in this tab or any other: mutation
 * ids are one sequence per `client_id`, so each push holds a browser lock named after the client
 * id and numbers from the next id stored beside it (written after each answer, forgotten after a
 * failure, when the next push first asks the server with an empty push). Two tabs therefore never
 * send two different mutations under one id.
 */
export function pushHandler(collection: CollectionName, context: PushContext) {
  type Numbered = Draft & { mutation_id: number };
  const storage = globalThis.localStorage as Storage | undefined;
  const nextKey = () => `${context.clientId()}:next-mutation`;
  const send = async (mutations: Numbered[]): Promise<PushResponse> => {
    storage?.removeItem(nextKey());
    try {
      const answer = await context.api.call<PushResponse>("POST", "/api/sync/push", {
        client_id: context.clientId(),
        mutations,
      });
      context.clock.observe(answer.server_hlc);
      storage?.setItem(nextKey(), String(answer.last_mutation_id + 1));
      return answer;
    } catch (error) {
      if (error instanceof HttpError && error.status === 403) context.renewClientId();
      throw error;
    }
  };
  const next = async (): Promise<number> => {
    const held = Number(storage?.getItem(nextKey()));
    if (Number.isInteger(held) && held > 0) return held;
    return (await send([])).last_mutation_id + 1;
  };
  const push = async (rows: { assumedMasterState?: Doc; newDocumentState: Doc }[]): Promise<Doc[]> => {
    const drafts = rows.flatMap((row) => mutationsFor(collection, row.assumedMasterState, row.newDocumentState));
    const results = new Map<number, MutationResult>();
    const sent = new Map<number, Numbered>();
    const records = new Map<string, Change>();
    for (const batch of batches(drafts)) {
      const first = await next();
      const numbered = batch.map((draft, i) => ({ ...draft, mutation_id: first + i }));
      numbered.forEach((m) => sent.set(m.mutation_id, m));
      const answer = await send(numbered);
      for (const result of answer.results) {
        results.set(result.mutation_id, result);
        const mutation = sent.get(result.mutation_id);
        if (mutation && result.record) records.set(mutation.record_id, result.record as Change);
      }
    }
    const rejections: Rejection[] = [];
    for (const [id, result] of results) {
      const mutation = sent.get(id);
      if (!mutation || result.status !== "rejected") continue;
      rejections.push({
        id: `${collection}:${mutation.record_id}:${mutation.hlc}`,
        collection_name: collection,
        record_id: mutation.record_id,
        op: mutation.op,
        reason: result.reason ?? "rejected",
        detail: result.detail ?? null,
        errors: (result.errors ?? []) as Rejection["errors"],
        fields: (mutation.fields ?? {}) as Record<string, unknown>,
        at: Date.now(),
      });
    }
    if (rejections.length) await context.rejected(rejections);
    const conflicts: Doc[] = [];
    for (const row of rows) {
      const record = records.get(row.newDocumentState.id);
      if (!record) continue;
      const held = changeToDoc(record);
      if (!sameState(held, row.newDocumentState)) conflicts.push(held);
    }
    await context.confirmed(
      rows.map((row) => ({
        id: row.newDocumentState.id,
        clock: Object.values(row.newDocumentState.clocks ?? {}).sort().pop() ?? "",
      })),
    );
    return conflicts;
  };
  return (rows: { assumedMasterState?: Doc; newDocumentState: Doc }[]): Promise<Doc[]> =>
    locked(`masterclass-sync:push:${context.clientId()}`, () => push(rows));
}

export interface PullContext {
  api: Api;
  clock: Clock;
  /** The local collection, to find the records of a dropped masterclass. */
  local: RxCollection<any>;
}

/** The pull handler of one collection: pages by cursor until RxDB's batch is full or the server
 * has nothing more. */
export function pullHandler(collection: CollectionName, context: PullContext) {
  return async (checkpoint: { cursor?: string } | undefined, batchSize: number) => {
    let cursor = checkpoint?.cursor;
    const docs = new Map<string, Doc>();
    let more = true;
    while (more && docs.size < batchSize) {
      const query = new URLSearchParams({ collections: collection, limit: String(Math.min(1000, batchSize - docs.size)) });
      if (cursor) query.set("cursor", cursor);
      const page = await context.api.call<PullResponse>("GET", `/api/sync/pull?${query}`);
      context.clock.observe(page.server_hlc);
      if (page.drops.length) {
        if (collection === "masterclasses") {
          for (const id of page.drops) docs.set(id, { id, clocks: {}, _deleted: true });
        } else if ("masterclass_id" in COLLECTIONS[collection].schema.properties) {
          const held = await context.local.find({ selector: { masterclass_id: { $in: page.drops } } }).exec();
          for (const doc of held) docs.set(doc.id, { id: doc.id, clocks: {}, _deleted: true });
        }
      }
      for (const change of page.changes) {
        docs.delete(change.id);
        docs.set(change.id, changeToDoc(change as Change));
      }
      cursor = page.next_cursor;
      more = page.has_more;
    }
    return { documents: [...docs.values()], checkpoint: { cursor } };
  };
}
