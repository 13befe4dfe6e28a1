/**
 * `@masterclass/sync-client`: an offline-first local copy of the platform's data for web apps,
 * on RxDB. See `shared/client/README.md`.
 */
export { createSyncClient, type SyncClient, type SyncOptions, type Doc, type Rejection } from "./client.js";
export { COLLECTIONS, COLLECTION_NAMES, type CollectionName, type Records, type SyncDoc } from "./collections.js";
export { Clock, compareHlc, formatHlc, parseHlc, MAX_AHEAD_MS, type Hlc } from "./hlc.js";
export { Api, HttpError, type Credentials } from "./http.js";
export { LiveChannel, type Poke } from "./live.js";
export { uuidV5, type ImportOptions } from "./storage-import.js";
export { mutationsFor, changeToDoc, canonical } from "./replication.js";
export type { components, paths } from "./api.js";
