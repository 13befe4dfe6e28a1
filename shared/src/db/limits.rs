//! Queries of the rate limits (`limit_hits`, migration 0020): a counter per bucket per fixed
//! window, shared by every function instance. Buckets come sealed (`services::limits`) and are
//! stored hashed; each call is one statement in the caller's transaction, safe behind a
//! transaction-mode pooler.
//!
//! Each query is a small function of one shape, the same across `db/`: its SQL, typed parameters,
//! `failed(...)` naming the work and the row, the answer read by column name.

use std::{num::NonZeroU32, time::Duration};

use super::{Db, p, row::failed};
use crate::error::Result;

fn window_secs(window: Duration) -> i32 {
    i32::try_from(window.as_secs().max(1)).unwrap_or(i32::MAX)
}

fn limit_of(limit: NonZeroU32) -> i32 {
    i32::try_from(limit.get()).unwrap_or(i32::MAX)
}

/// Counts one hit against `bucket` in its current window of `window`, unless the window holds
/// `limit` already: then `Some(seconds until it ends)` and nothing counted.
pub async fn take(
    db: &impl Db,
    bucket: &str,
    limit: NonZeroU32,
    window: Duration,
) -> Result<Option<u32>> {
    let row = db
        .one(
            "select limit_take($1, $2, $3) as retry_after",
            &[p(&bucket), p(&limit_of(limit)), p(&window_secs(window))],
        )
        .await
        .map_err(failed("counting a hit against a limit"))?;
    let retry_after: i32 = row.try_get("retry_after")?;
    Ok(u32::try_from(retry_after).ok().filter(|s| *s > 0))
}

/// `Some(seconds until its window ends)` if `bucket` holds `limit` hits in its current window of
/// `window`; counts nothing.
pub async fn full(
    db: &impl Db,
    bucket: &str,
    limit: NonZeroU32,
    window: Duration,
) -> Result<Option<u32>> {
    let row = db
        .one(
            "select limit_full($1, $2, $3) as retry_after",
            &[p(&bucket), p(&limit_of(limit)), p(&window_secs(window))],
        )
        .await
        .map_err(failed("checking a limit"))?;
    let retry_after: i32 = row.try_get("retry_after")?;
    Ok(u32::try_from(retry_after).ok().filter(|s| *s > 0))
}

/// Counts one hit against `bucket` in its current window of `window`, whatever it holds.
pub async fn hit(db: &impl Db, bucket: &str, window: Duration) -> Result<()> {
    db.exec(
        "select limit_hit($1, $2)",
        &[p(&bucket), p(&window_secs(window))],
    )
    .await
    .map_err(failed("counting a hit against a limit"))?;
    Ok(())
}

/// Forgets every hit of `bucket`.
pub async fn clear(db: &impl Db, bucket: &str) -> Result<()> {
    db.exec("select limit_clear($1)", &[p(&bucket)])
        .await
        .map_err(failed("clearing a limit"))?;
    Ok(())
}
