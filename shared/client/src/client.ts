/**
 * `createSyncClient`: a local RxDB database of the platform's sync collections, replicated
 * through `/api/sync/push` and `/api/sync/pull`, pulled again whenever the live channel pokes.
 *
 * Every local write is stamped with per-field clocks (`clocks`) by the collections' hooks, on a
 * clock node of its own per tab. One tab replicates (RxDB's leader election); the others see its
 * writes through the shared IndexedDB. Refused writes are kept in the local `rejections`
 * collection, records written here and not yet confirmed by the server in `pending`.
 */
import { addRxPlugin, createRxDatabase, type RxCollection, type RxDatabase, type RxStorage } from "rxdb";
import { RxDBLeaderElectionPlugin } from "rxdb/plugins/leader-election";
import { replicateRxCollection, type RxReplicationState } from "rxdb/plugins/replication";
import { getRxStorageDexie } from "rxdb/plugins/storage-dexie";
import { Subject, filter, firstValueFrom, map, merge, type Observable } from "rxjs";
import { COLLECTIONS, COLLECTION_NAMES, type CollectionName, type SyncDoc } from "./collections.js";
import { Clock, compareHlc } from "./hlc.js";
import { Api, type Credentials } from "./http.js";
import { LiveChannel } from "./live.js";
import {
  conflictHandler,
  pullHandler,
  pushHandler,
  type Doc,
  type Rejection,
} from "./replication.js";
import { importLocalStorage, type ImportOptions } from "./storage-import.js";

addRxPlugin(RxDBLeaderElectionPlugin);

export interface SyncOptions extends Credentials {
  /** The API's origin (`https://api.example.org`); the page's own by default. */
  baseUrl?: string;
  /** The local database's name: one per signed-in account on a shared browser. */
  name?: string;
  /** What to sync; by default every collection (students: leave `questions` out). */
  collections?: CollectionName[];
  /** Listen to the live channel (default true); without it, `resync()` pulls. */
  live?: boolean;
  /** Wait after a failed request before RxDB tries again, in ms (default 2000). */
  retryTime?: number;
  /** Records per pull batch (default 500). */
  batchSize?: number;
  /** Another RxDB storage (the default is IndexedDB through Dexie). */
  storage?: RxStorage<any, any>;
  fetch?: typeof fetch;
}

type Collections = { [C in CollectionName]: RxCollection<SyncDoc<C>> };

export interface SyncClient {
  db: RxDatabase;
  /** The synced collections, for RxDB's queries (`.find().$` updates by itself). */
  collections: Partial<Collections>;
  replications: Partial<Record<CollectionName, RxReplicationState<any, any>>>;
  /** Every refused write still shown, newest first. */
  rejections$: Observable<Rejection[]>;
  /** How many records hold writes the server has not confirmed yet. */
  pending$: Observable<number>;
  /** Whether the live channel is connected. */
  live$: Observable<boolean>;
  /** Errors of the replications (a failed request: they are tried again). */
  errors$: Observable<unknown>;
  /** Pulls every collection now. */
  resync(): void;
  /** Resolves when every write of this database (any tab's) has been confirmed by the server;
   * in the tab that replicates, also when what the server had has been pulled. */
  awaitInSync(): Promise<void>;
  /** Forgets a shown rejection. */
  dismissRejection(id: string): Promise<void>;
  /** Turns the named localStorage keys into `documents`, once (see `storage-import.ts`). */
  importLocalStorage(keys: string[], options?: ImportOptions): Promise<number>;
  /** Stops replicating and closes the database. */
  close(): Promise<void>;
}

const REJECTIONS_SCHEMA = {
  version: 0,
  primaryKey: "id",
  type: "object",
  properties: {
    id: { type: "string", maxLength: 200 },
    collection_name: { type: "string" },
    record_id: { type: "string" },
    op: { type: "string" },
    reason: { type: "string" },
    detail: { type: ["string", "null"] },
    errors: { type: "array" },
    fields: { type: "object" },
    at: { type: "number", minimum: 0, maximum: 1e15, multipleOf: 1 },
  },
  required: ["id", "at"],
  indexes: ["at"],
} as const;

const PENDING_SCHEMA = {
  version: 0,
  primaryKey: "id",
  type: "object",
  properties: {
    id: { type: "string", maxLength: 100 },
    clock: { type: "string" },
  },
  required: ["id", "clock"],
} as const;

/** A value kept for this browser under `key` (made by `make` the first time). */
function kept(key: string, make: () => string): string {
  const storage = globalThis.localStorage;
  const held = storage?.getItem(key);
  if (held) return held;
  const value = make();
  storage?.setItem(key, value);
  return value;
}

const randomId = () => crypto.randomUUID();

/** Stamps each local write of `collection` with clocks, and marks the record pending. */
function stampWrites(collection: RxCollection<any>, clock: Clock, pending: RxCollection<any>, name: string): void {
  const newest = (clocks: Record<string, string> | undefined) =>
    Object.values(clocks ?? {}).sort().pop();
  const mark = async (id: string, stamp: string | undefined) => {
    if (!stamp) return;
    await pending.upsert({ id: `${name}:${id}`, clock: stamp });
  };
  collection.preInsert((data: any) => {
    const stamp = clock.tick();
    data.clocks = { ...(data.clocks ?? {}) };
    for (const field of Object.keys(data)) {
      if (field !== "id" && field !== "clocks" && data[field] !== undefined) data.clocks[field] = stamp;
    }
  }, false);
  collection.preSave((data: any, before: any) => {
    const held = newest(before?.clocks);
    if (held) clock.observe(held);
    let stamp: string | undefined;
    data.clocks = { ...(before?.clocks ?? {}), ...(data.clocks ?? {}) };
    for (const field of new Set([...Object.keys(data), ...Object.keys(before ?? {})])) {
      if (["id", "clocks", "_deleted", "_meta", "_rev", "_attachments"].includes(field)) continue;
      if (JSON.stringify(data[field]) === JSON.stringify(before?.[field])) continue;
      stamp ??= clock.tick();
      data.clocks[field] = stamp;
    }
  }, false);
  collection.preRemove((data: any) => {
    const held = newest(data.clocks);
    if (held) clock.observe(held);
    data.clocks = { ...(data.clocks ?? {}), _deleted: clock.tick() };
  }, false);
  collection.postInsert((data: any) => mark(data.id, newest(data.clocks)), false);
  collection.postSave((data: any) => mark(data.id, newest(data.clocks)), false);
  collection.postRemove((data: any) => mark(data.id, newest(data.clocks)), false);
}

export async function createSyncClient(options: SyncOptions): Promise<SyncClient> {
  const name = options.name ?? "masterclass";
  const api = new Api(options.baseUrl ?? "", options, options.fetch);
  const device = kept(`${name}:device`, randomId).replace(/-/g, "");
  // Each tab writes on its own node, so two tabs' writes never tie.
  const clock = new Clock(`${device}-${randomId().slice(0, 8)}`);
  const wanted = (options.collections ?? [...COLLECTION_NAMES]).filter((c) => c in COLLECTIONS);

  const db = await createRxDatabase({
    name,
    storage: options.storage ?? getRxStorageDexie(),
    multiInstance: true,
    eventReduce: true,
    closeDuplicates: true,
  });
  const added: Record<string, RxCollection<any>> = await db.addCollections({
    ...Object.fromEntries(
      wanted.map((c) => [c, { schema: COLLECTIONS[c].schema as any, conflictHandler }]),
    ),
    rejections: { schema: REJECTIONS_SCHEMA as any },
    pending: { schema: PENDING_SCHEMA as any },
  });
  const rejections = added.rejections;
  const pending = added.pending;
  const collections: Partial<Collections> = {};
  for (const c of wanted) {
    collections[c] = added[c] as any;
    stampWrites(added[c], clock, pending, c);
  }

  const live = options.live === false ? null : new LiveChannel(api);
  const manual = new Subject<void>();
  const replications: SyncClient["replications"] = {};
  for (const c of wanted) {
    const clientKey = `${name}:client:${c}`;
    const stream$ = merge(
      manual.pipe(map(() => "RESYNC" as const)),
      (live?.pokes$ ?? new Subject<never>()).pipe(
        filter((p) => p.collections === "all" || p.collections.includes(c)),
        map(() => "RESYNC" as const),
      ),
    );
    replications[c] = replicateRxCollection({
      collection: added[c],
      replicationIdentifier: `masterclass-sync:${c}:${api.url("/")}`,
      live: true,
      retryTime: options.retryTime ?? 2000,
      // The leading tab replicates, and so does the visible one (RxDB's default): a browser
      // slows down the timers of hidden tabs, and the tab the user writes in should push at
      // once. Two tabs pushing at once is safe: see `pushHandler`.
      waitForLeadership: true,
      toggleOnDocumentVisible: true,
      pull: {
        handler: pullHandler(c, { api, clock, local: added[c] }) as any,
        batchSize: options.batchSize ?? 500,
        stream$: stream$ as any,
      },
      push:
        COLLECTIONS[c].create.length === 0
          ? undefined
          : {
              batchSize: 50,
              handler: pushHandler(c, {
                api,
                clock,
                clientId: () => kept(clientKey, randomId),
                renewClientId: () => globalThis.localStorage?.setItem(clientKey, randomId()),
                rejected: async (refused) => {
                  await rejections.bulkUpsert(refused);
                },
                confirmed: async (records) => {
                  const ids = records.map((r) => `${c}:${r.id}`);
                  const marks = await pending.findByIds(ids).exec();
                  const done = records
                    .filter((r) => {
                      const mark = marks.get(`${c}:${r.id}`);
                      return mark && compareHlc(mark.clock, r.clock) <= 0;
                    })
                    .map((r) => `${c}:${r.id}`);
                  if (done.length) await pending.bulkRemove(done);
                },
              }) as any,
            },
    });
  }
  const all = Object.values(replications) as RxReplicationState<any, any>[];

  return {
    db,
    collections,
    replications,
    rejections$: rejections.find({ sort: [{ at: "desc" }] }).$.pipe(map((docs) => docs.map((d) => d.toJSON() as Rejection))),
    pending$: pending.count().$,
    live$: live?.connected$ ?? new Subject<boolean>(),
    errors$: merge(...all.map((r) => r.error$)),
    resync: () => manual.next(),
    awaitInSync: async () => {
      // The tabs that replicate (the leading one, a visible one) wait for their replications;
      // any tab, for the writes they share to be confirmed.
      const started = await Promise.race([
        Promise.all(all.map((r) => r.startPromise)).then(() => true),
        new Promise<boolean>((r) => setTimeout(() => r(false), 2000)),
      ]);
      if (started) await Promise.all(all.map((r) => r.awaitInSync()));
      await firstValueFrom(pending.count().$.pipe(filter((n) => n === 0)));
    },
    dismissRejection: async (id) => {
      await rejections.findOne(id).remove();
    },
    importLocalStorage: (keys, importOptions) =>
      importLocalStorage(collections.documents, name, device, keys, importOptions),
    close: async () => {
      await Promise.all(all.map((r) => r.cancel()));
      live?.stop();
      await db.close();
    },
  };
}

export type { Doc, Rejection };
