//! Postgres: the pool, the embedded migrations, and every query of the platform, one module per
//! group of tables (see the crate's doc for which is where). Nothing outside this module writes
//! SQL; rows become types through [`FromRow`], by column name, and every failed query says what
//! it was doing ([`row::failed`]).
//!
//! Pooler safety: every query runs through `Client::query*`/`execute` with SQL text, which
//! prepares an unnamed statement and uses it within the same transaction (`query_typed` where
//! the types are given: one round trip instead of two). Nothing calls
//! `prepare_cached`, so no named prepared statement outlives its transaction and the code is safe
//! behind a transaction-mode pooler (pgbouncer, Supavisor, RDS Proxy).

pub mod attempts;
pub mod audit;
pub mod idempotency;
pub mod inscriptions;
pub mod masterclasses;
mod migrate;
pub mod outbox;
mod pool;
pub mod questions;
pub mod row;
mod session;
pub mod staff;
pub mod sync;
pub mod webhooks;

pub use deadpool_postgres::{Client, Pool, Transaction};
pub use migrate::{MIGRATIONS, Migration, migrate};
pub use pool::{connect, ping};
pub use row::FromRow;
pub use session::{APP_ROLE, act_as, begin_as, transact};
