//! Offline sync for devices: a batched push of mutations applied exactly once, and a pull of
//! every change since a cursor that never skips one.
//!
//! - **Push** (`POST /api/sync/push`): a device sends its queued mutations, numbered 1, 2, 3...
//!   per `client_id`. In one transaction each new mutation is applied in a savepoint of its own
//!   (one bad mutation never blocks the others), and the last mutation id is recorded with their
//!   effects: a batch retried whole or in part is applied once, and what is at or below the
//!   recorded id answers `duplicate`. A mutation id past the next expected one is a gap: the
//!   push is refused (409 `mutation_gap`) with nothing applied, and the client renumbers its queue
//!   from `last_mutation_id + 1` (an empty push tells it that number). A mutation sent again
//!   repeats its first fate. Consecutive document creates are written together, with the same
//!   answers ([`push`]).
//! - **Pull** (`GET /api/sync/pull`): see [`cursor`] for why it never skips, and [`db::sync`] for
//!   the horizon that makes it so.
//! - **Merge**: per field, the newer hybrid logical clock wins ([`merge`], [`hlc`]).
//! - **Pokes** ([`poke`]): after a push that changed data, a signed "pull now" to each
//!   configured URL, sent by the scheduled run.
//! - **The live channel** ([`live`]): a WebSocket an open browser holds, over which it hears
//!   "pull now" within a second of a commit that changes what its caller may see.
//! - **Collections** ([`Collection`]) declare what a client may write; row-level security still
//!   decides what it may read and change.
//!
//!
//! The files: [`push`] and [`pull`], the two routes; [`apply`], one mutation of a device;
//! [`peer`] and [`replica`], instance sync. The protocol's types (flat structs and text enums
//! whose fields are the wire format), clocks, merges and codecs are below the store, in
//! `model::sync` ([`wire`], [`hlc`], [`merge`], [`codec`], re-exported here).

pub mod apply;
pub mod cursor;
pub mod live;
pub mod peer;
pub mod poke;
pub mod pull;
pub mod push;
pub mod replica;

pub use crate::model::sync::{
    Clock, Fields, Hlc, clocks_from_json, clocks_to_json, codec, hlc, merge, millis, wire, wire::*,
};
pub use cursor::Cursor;
pub use pull::pull;
pub use push::push;

/// The savepoint each mutation of a push (a device's, or a peer's record) is applied in.
const MUTATION_SAVEPOINT: &str = "sync_mutation";
