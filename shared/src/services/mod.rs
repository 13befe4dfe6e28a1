//! Use cases: what a route does, expressed with the domain types, the queries and the store.
//! Handlers parse the request, call one of these, and render the result.

pub mod backup;
pub mod dashboard;
pub mod exams;
pub mod generation;
pub mod limits;
pub mod masterclasses;
pub mod photos;
pub mod privacy;
pub mod questions;
pub mod registration;
pub mod staff;
pub mod stats;
pub mod students;

/// Appends `action` on `entity` `id` to the audit trail in the transaction of the change, so the
/// entry exists exactly when the change does. The actor is the transaction's caller.
pub async fn audit(
    db: &impl crate::db::Db,
    action: &str,
    entity: &str,
    id: impl std::fmt::Display,
    details: serde_json::Value,
) -> crate::error::Result<()> {
    // Details are an object, empty when there is nothing to add.
    let details = match details {
        serde_json::Value::Object(_) => details,
        serde_json::Value::Null => serde_json::json!({}),
        other => serde_json::json!({ "value": other }),
    };
    crate::db::audit::record(db, action, entity, &id.to_string(), &details).await
}

/// The size of the object a client says it uploaded to `key` (a presigned PUT), within
/// `max_bytes`: a 422 `code` when nothing is there (yet), and a 413 naming `what` when it is
/// too large, in which case the object is deleted (the store keeps no refused upload).
pub async fn uploaded_size(
    state: &crate::AppState,
    key: &str,
    max_bytes: u64,
    code: &'static str,
    what: &str,
) -> crate::error::Result<u64> {
    let Some(size) = state.storage.size(key).await? else {
        return Err(crate::error::Error::Unprocessable {
            code,
            detail: "no object was uploaded under this key (or the upload has not finished)".into(),
        });
    };
    if size > max_bytes {
        state.storage.delete(key).await?;
        return Err(crate::error::Error::PayloadTooLarge(format!(
            "{what} is {size} bytes; the limit is {max_bytes}"
        )));
    }
    Ok(size)
}
