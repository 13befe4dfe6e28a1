//! The append-only `audit_log`: who did what to which record (the actor comes from the
//! transaction's caller, which row-level security checks on insert).

use deadpool_postgres::GenericClient;

use super::row::failed;
use crate::http::Result;

/// Appends `action` on `entity` `entity_id`, with `details`.
pub async fn record(
    db: &impl GenericClient,
    action: &str,
    entity: &str,
    entity_id: &str,
    details: &serde_json::Value,
) -> Result<()> {
    db.execute(
        "insert into audit_log (action, entity, entity_id, details) values ($1, $2, $3, $4)",
        &[&action, &entity, &entity_id, details],
    )
    .await
    .map_err(failed(format!(
        "recording {action} of {entity} {entity_id}"
    )))?;
    Ok(())
}
