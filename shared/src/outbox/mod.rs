//! Queueing a message to a student, in the caller's transaction: what every use case that
//! announces a change needs.
//!
//! [`templates`] renders each message type from its data, refusing to render with a variable
//! missing; [`enqueue`] writes the rendered message to the outbox in the caller's transaction
//! ([`enqueue_all`] many in one statement), so a message exists exactly when the change it
//! announces does. Delivering it is `messaging`'s.

pub mod templates;

use serde_json::Value;
use uuid::Uuid;

pub use templates::MessageType;

use crate::{db::Db, error::Result};

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
pub async fn enqueue(db: &impl Db, message: &Outgoing<'_>) -> Result<Option<Uuid>> {
    Ok(enqueue_many(db, std::slice::from_ref(message)).await?.pop())
}

/// Renders and queues every message of `messages` in one statement, in `db`'s transaction; a
/// message whose dedupe key was already queued is skipped. Returns how many were queued.
pub async fn enqueue_all(db: &impl Db, messages: &[Outgoing<'_>]) -> Result<u64> {
    Ok(enqueue_many(db, messages).await?.len() as u64)
}

async fn enqueue_many(db: &impl Db, messages: &[Outgoing<'_>]) -> Result<Vec<Uuid>> {
    let bodies = messages
        .iter()
        .map(|m| templates::render(m.message_type, &m.data))
        .collect::<Result<Vec<_>>>()?;
    let rows: Vec<crate::db::outbox::NewMessage<'_>> = messages
        .iter()
        .zip(&bodies)
        .map(|(m, body)| crate::db::outbox::NewMessage {
            inscription_id: m.inscription_id,
            profile_id: m.profile_id,
            to_number: m.to_number,
            message_type: m.message_type.as_str(),
            data: &m.data,
            body,
            dedupe_key: Some(&m.dedupe_key),
            created_by: None,
            suppressed: false,
        })
        .collect();
    crate::db::outbox::insert(db, &rows).await
}
