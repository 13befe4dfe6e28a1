//! The masterclass platform's domain crate: everything the function crates share.
//!
//! Every business rule lives here and only here; a function crate in `functions/` is a thin
//! router that turns HTTP into calls on this crate. Its modules stand on floors, each importing
//! only from its own and those below (the list and the test that keeps it are in `layers.rs`;
//! `shared/README.md` explains them). The layout:
//!
//! - [`config`]: typed configuration read once from the environment ([`secret::Secret`]s never
//!   printed).
//! - [`auth`]: passwords, staff JWTs, student tokens, and the [`auth::Caller`] that RLS sees.
//! - [`telemetry`]: tracing set-up, JSON in Lambda and readable locally, and the id of the
//!   request being served.
//! - [`db`]: the Postgres pool, embedded migrations, and **every SQL query** of the platform,
//!   one module per group of tables: `db::masterclasses`, `db::staff` (accounts, tutor
//!   assignments, sign-in and sessions), `db::inscriptions` (profiles, inscriptions, access
//!   tokens, opt-outs), `db::questions` (the bank and its keys), `db::attempts` (papers,
//!   attempts, answers, the POST window), `db::outbox` (messages from queueing to delivery),
//!   `db::webhooks` (what the provider sends us), `db::sync` (devices, the change stream,
//!   documents), `db::replica` (records as instances exchange them, settling a person
//!   registered on both), `db::peers` (sync peers, a venue's remote, its queue, runs, parked
//!   records, objects to copy), `db::live` (the live channel's connections and the drain of
//!   what writes changed), `db::idempotency`, `db::audit`. Rows are read
//!   by column name ([`db::FromRow`]); a failed query names what it was doing and to which id.
//! - [`model`]: types that cross the store boundary, the rows and views `db` returns.
//! - [`domain`]: newtypes and aggregates, parsed at the door (parse, don't validate). The PRE
//!   and POST tests students take are "exams" in code (`domain::exam`, `services::exams`, the
//!   function `exams`), so that "test" only ever means the test suite; URLs keep `/api/tests`.
//! - [`error`]: the one [`Error`] type and its [`Result`], on the bottom floor (it imports
//!   nothing else of the crate).
//! - [`http`]: the web layer: [`Error`] rendered as RFC 9457 problem+json, extractors, and the
//!   layers every router gets (the request id itself is [`telemetry`]'s).
//! - [`ai`]: question generation from a handout (PDF text, OpenAI or offline, validation).
//! - [`outbox`]: French message templates and queueing a message in the caller's transaction.
//! - [`messaging`]: delivering queued messages, the provider's webhooks, reminders, tests taken
//!   in the chat, and what staff send.
//! - [`storage`]: the S3 client (any S3-compatible store through an endpoint override); [`aws`],
//!   the SDK configuration every AWS client is built from.
//! - [`rfc3339`]: how every timestamp is written in JSON.
//! - [`idempotency`]: `Idempotency-Key` handling for every POST that creates something.
//! - [`sync`]: offline sync for devices: push (exactly once), pull (a cursor that never skips),
//!   hybrid logical clocks and per-field merges (their types in `model::sync`, below the store);
//!   its SQL is in `db::sync`. Between instances (a
//!   venue server and its cloud): `sync::peer` (a run: scan, queue, push, pull, copy objects)
//!   and `sync::replica` (a received record merged, the same on both sides); SQL in
//!   `db::replica` and `db::peers`. `sync::live`: the live channel that tells open browsers
//!   "pull now" (tickets, fan-out to API Gateway's connections).
//! - [`services`]: use cases that combine the above (for example the PDF upload flow); no SQL.
//! - [`state`]: [`AppState`], built once per process and cloned into every handler.

pub mod ai;
pub mod auth;
pub mod aws;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod http;
pub mod idempotency;
#[cfg(test)]
mod layers;
pub mod messaging;
pub mod model;
pub mod outbox;
pub mod rfc3339;
pub mod secret;
pub mod services;
pub mod state;
pub mod storage;
pub mod sync;
pub mod telemetry;

pub use config::Config;
pub use error::{Error, Result};
pub use state::AppState;
