//! Queries for `idempotency_keys`: the saved answers of requests sent with an `Idempotency-Key`,
//! each visible only to the caller who sent it (RLS).
//!
//! Each query is a small function: its SQL, typed parameters, `failed(...)` naming the work and
//! the row, the answer read by column name. One function a query, so that "where is the SQL for
//! X?" has one answer.

use super::{
    Db, p,
    row::{FromRow, failed},
};
use crate::error::Result;

/// A saved answer, and the fingerprint of the request it answered.
#[derive(Debug, Clone, postgres_from_row::FromRow)]
pub struct SavedAnswer {
    pub request_hash: String,
    #[from_row(rename = "response_status")]
    pub status: i16,
    #[from_row(rename = "response_body")]
    pub body: serde_json::Value,
}

/// Claims (`scope`, `key`) for a request whose body hashes to `hash`. False if it was claimed
/// before (then its answer is saved, or being written by a transaction that holds the row).
pub async fn claim(db: &impl Db, scope: &str, key: &str, hash: &str) -> Result<bool> {
    let claimed = db
        .exec(
            "insert into idempotency_keys (scope, key, request_hash) values ($1, $2, $3)
             on conflict do nothing",
            &[p(&scope), p(&key), p(&hash)],
        )
        .await
        .map_err(failed(format!(
            "claiming idempotency key {key:?} of {scope}"
        )))?;
    Ok(claimed == 1)
}

/// Whether (`scope`, `key`)'s saved answer was erased with the person it named (migration
/// 0020 keeps the key's hash, nothing else).
pub async fn erased(db: &impl Db, scope: &str, key: &str) -> Result<bool> {
    let row = db
        .one(
            "select exists (select 1 from idempotency_erased
                            where scope = $1 and key_hash = sha256(convert_to($2, 'UTF8'))) as erased",
            &[p(&scope), p(&key)],
        )
        .await
        .map_err(failed(format!(
            "checking whether idempotency key {key:?} of {scope} was erased"
        )))?;
    Ok(row.try_get("erased")?)
}

/// Saves the answer of the claimed (`scope`, `key`). False if the caller no longer sees it.
pub async fn save(
    db: &impl Db,
    scope: &str,
    key: &str,
    status: i16,
    body: &serde_json::Value,
) -> Result<bool> {
    let saved = db
        .exec(
            "update idempotency_keys set response_status = $3, response_body = $4
             where scope = $1 and key = $2",
            &[p(&scope), p(&key), p(&status), p(body)],
        )
        .await
        .map_err(failed(format!(
            "saving the answer of idempotency key {key:?} of {scope}"
        )))?;
    Ok(saved == 1)
}

/// The saved answer of (`scope`, `key`), if it has one.
pub async fn saved(db: &impl Db, scope: &str, key: &str) -> Result<Option<SavedAnswer>> {
    db.opt(
        "select request_hash, response_status, response_body from idempotency_keys
         where scope = $1 and key = $2 and response_status is not null",
        &[p(&scope), p(&key)],
    )
    .await
    .map_err(failed(format!(
        "reading idempotency key {key:?} of {scope}"
    )))?
    .as_ref()
    .map(SavedAnswer::from_row)
    .transpose()
}

/// Drops the answers saved more than `older_than` ago; returns how many.
pub async fn purge(db: &impl Db, older_than: std::time::Duration) -> Result<i64> {
    Ok(db
        .one(
            "select purge_idempotency_keys(make_interval(secs => $1)) as purged",
            &[p(&older_than.as_secs_f64())],
        )
        .await
        .map_err(failed("purging old idempotency keys"))?
        .try_get("purged")?)
}
