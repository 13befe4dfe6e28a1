//! Postgres: the pool, the embedded migrations, and every query of the platform, one module per
//! group of tables (see the crate's doc for which is where). Nothing outside this module writes
//! SQL; rows become types through [`FromRow`], by column name, and every failed query says what
//! it was doing ([`row::failed`]).
//!
//! One round trip per statement, and pooler safety: every query runs through [`Db`]
//! (`db.all/one/opt/exec(sql, &[p(&value), ...])`), which sends the SQL text with each
//! parameter's type (taken from its Rust type, [`Param`]) and value at once (`query_typed`): an
//! unnamed statement parsed, bound and run in one round trip. Nothing calls `prepare` or
//! `prepare_cached`, so no named prepared statement outlives its statement and the code is
//! safe behind a transaction-mode pooler (pgbouncer, Supavisor, RDS Proxy).

pub mod attempts;
pub mod audit;
pub mod backup;
pub mod chat;
pub mod idempotency;
pub mod inscriptions;
pub mod limits;
pub mod live;
pub mod masterclasses;
mod migrate;
pub mod outbox;
pub mod peers;
mod pool;
pub mod privacy;
pub mod questions;
pub mod replica;
pub mod row;
mod session;
pub mod staff;
pub mod stats;
pub mod students;
pub mod sync;
mod typed;
pub mod webhooks;

pub use deadpool_postgres::{Client, Pool, Transaction};
pub use migrate::{MIGRATIONS, Migration, migrate};
pub use pool::{connect, ping};
pub use row::FromRow;
pub use session::{
    APP_ROLE, act_as, begin_as, begin_snapshot_as, release, rollback_to, savepoint, transact,
    transact_snapshot,
};
pub use typed::{Db, Param, Typed, p};
