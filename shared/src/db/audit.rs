//! The append-only `audit_log`: who did what to which record (the actor comes from the
//! transaction's caller, which row-level security checks on insert).

use super::{Db, p, row::failed};
use crate::http::Result;

/// Appends `action` on `entity` `entity_id`, with `details`.
pub async fn record(
    db: &impl Db,
    action: &str,
    entity: &str,
    entity_id: &str,
    details: &serde_json::Value,
) -> Result<()> {
    db.exec(
        "insert into audit_log (action, entity, entity_id, details) values ($1, $2, $3, $4)",
        &[p(&action), p(&entity), p(&entity_id), p(details)],
    )
    .await
    .map_err(failed(format!(
        "recording {action} of {entity} {entity_id}"
    )))?;
    Ok(())
}
