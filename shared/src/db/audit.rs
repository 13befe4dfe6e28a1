//! The append-only `audit_log`: who did what to which record (the actor comes from the
//! transaction's caller, which row-level security checks on insert).
//!
//! Each query is a small function: its SQL, typed parameters, `failed(...)` naming the work and
//! the row, the answer read by column name. One function a query, so that "where is the SQL for
//! X?" has one answer.

use super::{
    Db, p,
    row::{all, failed},
};
use crate::{
    error::Result,
    model::audit::{AuditEntry, AuditFilter},
};

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

/// Appends `action` on each `entity` of `entity_ids`, with the same `details`, in one statement.
pub async fn record_many(
    db: &impl Db,
    action: &str,
    entity: &str,
    entity_ids: &[String],
    details: &serde_json::Value,
) -> Result<()> {
    db.exec(
        "insert into audit_log (action, entity, entity_id, details)
         select $1, $2, id, $4 from unnest($3::text[]) as id",
        &[p(&action), p(&entity), p(&entity_ids), p(details)],
    )
    .await
    .map_err(failed(format!(
        "recording {action} of {} {entity}s",
        entity_ids.len()
    )))?;
    Ok(())
}

/// Up to `rows` entries matching `filter`, newest first, older than entry `before_id`.
pub async fn page(
    db: &impl Db,
    filter: &AuditFilter,
    before_id: Option<i64>,
    rows: i64,
) -> Result<Vec<AuditEntry>> {
    let rows = db
        .all(
            "select id, at, actor_role, actor_id, action, entity, entity_id, details from audit_log
             where ($1::text is null or actor_id = $1) and ($2::text is null or action = $2)
               and ($3::text is null or entity = $3) and ($4::text is null or entity_id = $4)
               and ($5::timestamptz is null or at >= $5) and ($6::timestamptz is null or at < $6)
               and ($7::bigint is null or id < $7)
             order by id desc limit $8",
            &[
                p(&filter.actor),
                p(&filter.action),
                p(&filter.entity),
                p(&filter.entity_id),
                p(&filter.from),
                p(&filter.before),
                p(&before_id),
                p(&rows),
            ],
        )
        .await
        .map_err(failed("listing the audit trail"))?;
    all(&rows)
}
