//! Messages of the outbox as `db::outbox` reads them.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

// `services::dashboard::RecordMessage` is this view's sibling in a student's record (it has
// `status_at` instead of the queue's `due_at` and provider id): each is the contract of its
// route, and the record's is part of the export.
/// A message as staff see it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema, postgres_from_row::FromRow)]
pub struct MessageView {
    pub id: Uuid,
    pub inscription_id: Option<Uuid>,
    /// E.164.
    #[schema(pattern = r"^\+[1-9][0-9]{6,14}$", example = "+24106123456")]
    pub to_number: String,
    pub message_type: String,
    pub body: String,
    pub status: String,
    pub attempts: i32,
    #[serde(with = "crate::rfc3339")]
    pub due_at: OffsetDateTime,
    pub last_error: Option<String>,
    pub provider_message_id: Option<String>,
    #[serde(with = "crate::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "crate::rfc3339::option")]
    pub sent_at: Option<OffsetDateTime>,
}
