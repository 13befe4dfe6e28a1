//! Queries for what the WhatsApp provider sends us: students' messages (`incoming_messages`,
//! once per provider id) and events we could not place (`webhook_events`, kept for staff).

use uuid::Uuid;

use super::{Db, p, row::failed};
use crate::error::Result;

/// Keeps a student's message unless it was stored before (the provider redelivers); returns 1
/// if it is new.
pub async fn store_incoming(
    db: &impl Db,
    provider_id: &str,
    profile_id: Option<Uuid>,
    from_number: &str,
    body: Option<&str>,
    payload: &serde_json::Value,
) -> Result<u64> {
    db.exec(
        "insert into incoming_messages (provider_message_id, profile_id, from_number, body, payload)
         values ($1, $2, $3, $4, $5) on conflict (provider_message_id) do nothing",
        &[p(&provider_id), p(&profile_id), p(&from_number), p(&body), p(payload)])
    .await
    .map_err(failed(format!("storing incoming message {provider_id}")))
}

/// Keeps an event we could not place, of `kind`, for staff to look at.
pub async fn record_unplaced(db: &impl Db, kind: &str, payload: &serde_json::Value) -> Result<()> {
    db.exec(
        "insert into webhook_events (provider, kind, payload) values ('whapi', $1, $2)",
        &[p(&kind), p(payload)],
    )
    .await
    .map_err(failed(format!("keeping a webhook event of kind {kind}")))?;
    Ok(())
}
