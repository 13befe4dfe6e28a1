//! `Idempotency-Key` for POSTs that create something (Stripe's semantics).
//!
//! The key and the response are stored in the same transaction as the work itself, so either
//! both exist or neither does: a retry after a crash simply runs again, and a retry after
//! success gets the saved response. The same key with a different body is a 422. Two requests
//! racing with one key serialise on the key's row; the second sees the first's saved answer.
//! Keys belong to their caller (row-level security on `idempotency_keys`).
//!
//! An erasure removes every saved answer that names the person, and keeps only the key's hash
//! as erased: a retry of a request made before the erasure is a 410 `erased`, so it cannot
//! bring the person back (a registration sent again would otherwise register them anew).

use crate::db::Db;
use axum::{
    extract::FromRequestParts,
    response::{IntoResponse, Response},
};
use http::{StatusCode, request::Parts};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::{
    db,
    error::{Error, Result},
    http::Json,
};

/// The header name.
pub const HEADER: &str = "idempotency-key";

/// A client-chosen key: 1 to 255 visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(raw: &str) -> Result<Self> {
        if raw.is_empty() || raw.len() > 255 || !raw.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::BadRequest(
                "Idempotency-Key must be 1 to 255 visible ASCII characters".into(),
            ));
        }
        Ok(Self(raw.to_owned()))
    }
}

/// The header as the OpenAPI document shows it (`params(IdempotencyKeyHeader)` on a route).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub struct IdempotencyKeyHeader {
    /// 1 to 255 visible ASCII characters; a retry with the same key and body gets the first
    /// answer, the same key with another body is a 422.
    #[param(rename = "Idempotency-Key", min_length = 1, max_length = 255)]
    idempotency_key: Option<String>,
}

/// The optional `Idempotency-Key` header as an extractor: absent is `None`, malformed is a 400.
#[derive(Debug, Clone)]
pub struct MaybeIdempotencyKey(pub Option<IdempotencyKey>);

impl<S: Send + Sync> FromRequestParts<S> for MaybeIdempotencyKey {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self> {
        match parts.headers.get(HEADER) {
            None => Ok(Self(None)),
            Some(value) => {
                let raw = value
                    .to_str()
                    .map_err(|_| Error::BadRequest("Idempotency-Key must be ASCII".into()))?;
                Ok(Self(Some(IdempotencyKey::parse(raw)?)))
            }
        }
    }
}

fn fingerprint(request: &impl Serialize) -> Result<String> {
    // serde_json's map is ordered, so equal bodies serialise equally whatever their key order.
    let value = serde_json::to_value(request).map_err(anyhow::Error::from)?;
    Ok(hex::encode(Sha256::digest(value.to_string().as_bytes())))
}

/// What [`run`] produced: the answer, and whether it was replayed from an earlier request.
#[derive(Debug)]
pub struct Outcome {
    pub status: StatusCode,
    pub body: serde_json::Value,
    pub replayed: bool,
}

impl IntoResponse for Outcome {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

/// Runs `work` at most once per (caller, `scope`, key) and returns its JSON body with
/// `status`, or the saved answer of an earlier run. Without a key, `work` simply runs. The
/// caller commits `db` afterwards, which commits the saved answer with the work.
pub async fn run<T, F>(
    db: &impl Db,
    key: &MaybeIdempotencyKey,
    scope: &str,
    request: &impl Serialize,
    status: StatusCode,
    work: F,
) -> Result<Outcome>
where
    T: Serialize,
    F: AsyncFnOnce() -> Result<T>,
{
    let Some(IdempotencyKey(raw)) = &key.0 else {
        let body = serde_json::to_value(work().await?).map_err(anyhow::Error::from)?;
        return Ok(Outcome {
            status,
            body,
            replayed: false,
        });
    };
    if db::idempotency::erased(db, scope, raw).await? {
        return Err(erased());
    }
    let hash = fingerprint(request)?;
    let claimed = db::idempotency::claim(db, scope, raw, &hash).await?;
    if !claimed {
        return saved(db, key, scope, request)
            .await?
            .ok_or_else(|| anyhow::anyhow!("the idempotency record of {scope} vanished").into());
    }
    let body = serde_json::to_value(work().await?).map_err(anyhow::Error::from)?;
    let saved = db::idempotency::save(db, scope, raw, status.as_u16() as i16, &body).await?;
    if !saved {
        // The work changed the caller and the key is no longer theirs: a bug, not an answer.
        return Err(anyhow::anyhow!("the idempotency record of {scope} could not be saved").into());
    }
    Ok(Outcome {
        status,
        body,
        replayed: false,
    })
}

/// The saved answer of an earlier request with this key, if there is one: lets slow work (a
/// call to an outside provider) be skipped on a replay before it starts. The same key with a
/// different body is a 422.
pub async fn saved(
    db: &impl Db,
    key: &MaybeIdempotencyKey,
    scope: &str,
    request: &impl Serialize,
) -> Result<Option<Outcome>> {
    let Some(IdempotencyKey(key)) = &key.0 else {
        return Ok(None);
    };
    if db::idempotency::erased(db, scope, key).await? {
        return Err(erased());
    }
    let Some(answer) = db::idempotency::saved(db, scope, key).await? else {
        return Ok(None);
    };
    if answer.request_hash != fingerprint(request)? {
        return Err(Error::Unprocessable {
            code: "idempotency_key_reused",
            detail: "this Idempotency-Key was used with a different request body".into(),
        });
    }
    let status = StatusCode::from_u16(answer.status as u16).map_err(anyhow::Error::from)?;
    Ok(Some(Outcome {
        status,
        body: answer.body,
        replayed: true,
    }))
}

/// The answer to a key whose saved answer was erased with its person.
fn erased() -> Error {
    Error::Gone {
        code: "erased",
        detail: "what this Idempotency-Key's request made was erased since; it is not made again"
            .into(),
    }
}

// Same parameters as `run`, which it wraps: the two entry points for a service that answers a
// value and a handler that answers a response.
/// [`run`], answered as an HTTP response.
pub async fn once<T, F>(
    db: &impl Db,
    key: &MaybeIdempotencyKey,
    scope: &str,
    request: &impl Serialize,
    status: StatusCode,
    work: F,
) -> Result<Response>
where
    T: Serialize,
    F: AsyncFnOnce() -> Result<T>,
{
    Ok(run(db, key, scope, request, status, work)
        .await?
        .into_response())
}

/// How long saved answers are kept (`IDEMPOTENCY_TTL_HOURS` is not worth a variable: a client
/// retries within minutes).
pub const KEEP_FOR: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// Drops saved answers older than [`KEEP_FOR`] (returns how many), and with them the erased
/// keys as old and the rate limits' ended windows; the dispatcher's schedule runs it.
pub async fn purge(db: &impl Db) -> Result<i64> {
    db::idempotency::purge(db, KEEP_FOR).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_bodies_have_equal_fingerprints_whatever_their_key_order() {
        let a: serde_json::Value = serde_json::from_str(r#"{"a":1,"b":[1,2]}"#).unwrap();
        let b: serde_json::Value = serde_json::from_str(r#"{"b":[1,2],"a":1}"#).unwrap();
        let c: serde_json::Value = serde_json::from_str(r#"{"b":[2,1],"a":1}"#).unwrap();
        assert_eq!(fingerprint(&a).unwrap(), fingerprint(&b).unwrap());
        assert_ne!(fingerprint(&a).unwrap(), fingerprint(&c).unwrap());
    }

    #[test]
    fn keys_must_be_visible_ascii() {
        assert!(IdempotencyKey::parse("order-42").is_ok());
        assert!(IdempotencyKey::parse("").is_err());
        assert!(IdempotencyKey::parse("with space").is_err());
        assert!(IdempotencyKey::parse(&"k".repeat(256)).is_err());
    }
}
