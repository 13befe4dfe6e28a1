//! Postgres: the pool, the embedded migrations, and the queries next to the aggregate they serve.
//!
//! Pooler safety: every query runs through `Client::query*`/`execute` with SQL text, which
//! prepares a statement, uses it and closes it within the same transaction. Nothing calls
//! `prepare_cached`, so no named prepared statement outlives its transaction and the code is safe
//! behind a transaction-mode pooler (pgbouncer, Supavisor, RDS Proxy).

pub mod attempts;
pub mod audit;
pub mod idempotency;
pub mod inscriptions;
pub mod masterclasses;
mod migrate;
mod pool;
pub mod questions;
pub mod row;
mod session;
pub mod staff;

pub use deadpool_postgres::{Client, Pool, Transaction};
pub use migrate::{MIGRATIONS, Migration, migrate};
pub use pool::{connect, ping};
pub use row::FromRow;
pub use session::{APP_ROLE, act_as, begin_as, transact};
