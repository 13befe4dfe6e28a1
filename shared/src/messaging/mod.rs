//! Messages to students (WhatsApp), in French.
//!
//! [`templates`] renders each message type from its data, refusing to render with a variable
//! missing; [`enqueue`] writes the rendered message to the outbox in the caller's transaction
//! ([`enqueue_all`] many in one statement),
//! so a message exists exactly when the change it announces does. [`dispatch`] delivers queued
//! messages through a [`provider::Provider`]; [`webhook`] records what the provider reports
//! back; [`reminders`] queues the scheduled messages; [`staff`] is what staff send and see.

pub mod dispatch;
pub mod provider;
pub mod reminders;
pub mod staff;
pub mod templates;
pub mod webhook;

use deadpool_postgres::GenericClient;
use serde_json::Value;
use uuid::Uuid;

pub use templates::MessageType;

use crate::http::Result;

/// A message about to be queued.
#[derive(Debug, Clone)]
pub struct Outgoing<'a> {
    pub message_type: MessageType,
    pub inscription_id: Option<Uuid>,
    pub profile_id: Option<Uuid>,
    /// E.164.
    pub to_number: &'a str,
    pub data: Value,
    /// One message per event: a second enqueue with the same key is ignored.
    pub dedupe_key: String,
}

/// Renders and queues a message in `db`'s transaction. Returns its id, or `None` when a message
/// with the same dedupe key was already queued.
pub async fn enqueue(db: &impl GenericClient, message: &Outgoing<'_>) -> Result<Option<Uuid>> {
    let body = templates::render(message.message_type, &message.data)?;
    let row = db
        .query_opt(
            "insert into outbox_messages (inscription_id, profile_id, to_number, message_type, data, body, dedupe_key)
             values ($1, $2, $3, $4, $5, $6, $7)
             on conflict (dedupe_key) do nothing
             returning id",
            &[
                &message.inscription_id,
                &message.profile_id,
                &message.to_number,
                &message.message_type.as_str(),
                &message.data,
                &body,
                &message.dedupe_key,
            ],
        )
        .await?;
    Ok(row.map(|r| r.get(0)))
}

/// Renders and queues every message of `messages` in one statement, in `db`'s transaction; a
/// message whose dedupe key was already queued is skipped. Returns how many were queued.
pub async fn enqueue_all(db: &impl GenericClient, messages: &[Outgoing<'_>]) -> Result<u64> {
    if messages.is_empty() {
        return Ok(0);
    }
    let bodies = messages
        .iter()
        .map(|m| templates::render(m.message_type, &m.data))
        .collect::<Result<Vec<_>>>()?;
    let column = |f: fn(&Outgoing<'_>) -> String| messages.iter().map(f).collect::<Vec<_>>();
    let inserted = db
        .execute(
            "insert into outbox_messages (inscription_id, profile_id, to_number, message_type, data, body, dedupe_key)
             select * from unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::jsonb[], $6::text[], $7::text[])
             on conflict (dedupe_key) do nothing",
            &[
                &messages.iter().map(|m| m.inscription_id).collect::<Vec<_>>(),
                &messages.iter().map(|m| m.profile_id).collect::<Vec<_>>(),
                &column(|m| m.to_number.to_owned()),
                &column(|m| m.message_type.as_str().to_owned()),
                &messages.iter().map(|m| m.data.clone()).collect::<Vec<_>>(),
                &bodies,
                &column(|m| m.dedupe_key.clone()),
            ],
        )
        .await?;
    Ok(inserted)
}
