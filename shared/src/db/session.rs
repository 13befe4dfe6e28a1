//! "A transaction as this caller": the one way handlers and jobs reach the data.
//!
//! [`transact`] runs a unit of work in one such transaction and commits it; [`begin_as`], which
//! it uses, opens a transaction, drops to the `masterclass_app` role (owns nothing, no
//! BYPASSRLS) and sets the caller's verified claims, so row-level security decides what every
//! query in it may see and change; it also turns JIT compilation off. These settings are
//! transaction-local, hence safe behind a transaction-mode pooler.

use deadpool_postgres::{Client, Transaction};
use futures::FutureExt;

use super::{Db, p, row::failed};
use crate::{auth::Caller, error::Result};

/// The role request transactions run as.
pub const APP_ROLE: &str = "masterclass_app";

/// Opens a transaction on `client` in which `caller`'s claims are in force.
pub async fn begin_as<'a>(client: &'a mut Client, caller: &Caller) -> Result<Transaction<'a>> {
    let tx = client.transaction().await?;
    set_caller(tx, caller)
}

/// Opens a read-only `REPEATABLE READ` transaction as `caller`: every statement in it sees the
/// same snapshot (an export or a backup read in many statements is one consistent state).
pub async fn begin_snapshot_as<'a>(
    client: &'a mut Client,
    caller: &Caller,
) -> Result<Transaction<'a>> {
    let tx = client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await?;
    set_caller(tx, caller)
}

fn set_caller<'a>(tx: Transaction<'a>, caller: &Caller) -> Result<Transaction<'a>> {
    let claims = caller.claims().to_string();
    // JIT off: the platform's queries are short, and Postgres compiles any whose estimated cost
    // passes `jit_above_cost` (a reminder scan over 34k inscriptions spent 1.7 s compiling for
    // 46 ms of work). Transaction-local like the rest, in the same statement.
    //
    // Sent now and not waited for: Postgres answers it together with the work's first
    // statement, which saves a round trip per request. A connection runs its messages in
    // order, so no statement of the work runs before the role and claims are set; were setting
    // them to fail, the transaction would be aborted and every statement of the work would fail
    // with it, so nothing ever runs without them. (tokio-postgres sends a query when its future
    // is first polled, and reads past the answer of a future that was dropped.)
    let sent = tx
        .all(
            "select set_config('role', $1, true), set_config('request.jwt.claims', $2, true),
                    set_config('jit', 'off', true)",
            &[p(&APP_ROLE), p(&claims)],
        )
        .now_or_never();
    if let Some(Err(e)) = sent {
        return Err(e.into());
    }
    Ok(tx)
}

/// Changes the caller for the rest of `tx` (registration goes on as the new student to submit
/// the PRE test it carries).
pub async fn act_as(tx: &Transaction<'_>, caller: &Caller) -> Result<()> {
    tx.all(
        "select set_config('request.jwt.claims', $1, true)",
        &[p(&caller.claims().to_string())],
    )
    .await?;
    Ok(())
}

/// Marks a point in a transaction that [`rollback_to`] returns to: one mutation of a push, one
/// message of a webhook call, whose failure must not take the rest down with it.
pub async fn savepoint(db: &impl Db, name: &str) -> Result<()> {
    db.batch(&format!("savepoint {name}"))
        .await
        .map_err(failed(format!("opening savepoint {name}")))
}

/// Undoes what the transaction did since savepoint `name` (the caller's claims included), and
/// forgets the savepoint.
pub async fn rollback_to(db: &impl Db, name: &str) -> Result<()> {
    db.batch(&format!(
        "rollback to savepoint {name}; release savepoint {name}"
    ))
    .await
    .map_err(failed(format!("undoing the work since savepoint {name}")))
}

/// Forgets savepoint `name`, keeping what was done since.
pub async fn release(db: &impl Db, name: &str) -> Result<()> {
    db.batch(&format!("release savepoint {name}"))
        .await
        .map_err(failed(format!("keeping the work since savepoint {name}")))
}

// `transact_snapshot` and `transact` take the same arguments: the names say which transaction
// a caller gets, and both are `transact_with`.
/// [`transact`], in a read-only `REPEATABLE READ` transaction ([`begin_snapshot_as`]).
pub async fn transact_snapshot<T>(
    pool: &deadpool_postgres::Pool,
    caller: &Caller,
    work: impl AsyncFnOnce(&Transaction<'_>) -> Result<T>,
) -> Result<T> {
    transact_with(pool, caller, true, work).await
}

/// Runs `work` in one transaction as `caller` on a connection from `pool`, and commits it; an
/// error rolls everything back. The one way handlers reach the data.
///
/// A pooled connection the server closed (a restart, a failover, an idle timeout) fails at
/// `BEGIN`, before anything was done: it is thrown away and the transaction begun once more on
/// a fresh connection. Any other unavailability is a 503 for the caller to retry.
pub async fn transact<T>(
    pool: &deadpool_postgres::Pool,
    caller: &Caller,
    work: impl AsyncFnOnce(&Transaction<'_>) -> Result<T>,
) -> Result<T> {
    transact_with(pool, caller, false, work).await
}

/// [`transact`], or [`transact_snapshot`] when `snapshot`: both begin again once on a fresh
/// connection when the pooled one was closed.
async fn transact_with<T>(
    pool: &deadpool_postgres::Pool,
    caller: &Caller,
    snapshot: bool,
    work: impl AsyncFnOnce(&Transaction<'_>) -> Result<T>,
) -> Result<T> {
    let mut client = pool.get().await?;
    let stale = match begin(&mut client, caller, snapshot).await {
        Ok(tx) => return run(tx, work).await,
        Err(e) if e.is_unavailable() => e,
        Err(e) => return Err(e),
    };
    tracing::warn!(error = %format!("{stale:#}"), "a pooled connection was closed; beginning again on a fresh one");
    drop(deadpool_postgres::Object::take(client));
    let mut client = pool.get().await?;
    let tx = begin(&mut client, caller, snapshot).await?;
    run(tx, work).await
}

async fn begin<'a>(
    client: &'a mut Client,
    caller: &Caller,
    snapshot: bool,
) -> Result<Transaction<'a>> {
    if snapshot {
        begin_snapshot_as(client, caller).await
    } else {
        begin_as(client, caller).await
    }
}

async fn run<T>(
    tx: Transaction<'_>,
    work: impl AsyncFnOnce(&Transaction<'_>) -> Result<T>,
) -> Result<T> {
    let value = work(&tx).await?;
    tx.commit().await?;
    Ok(value)
}
