//! A person's consent history as `db::privacy` reads it.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// One consent event.
#[derive(
    Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema, postgres_from_row::FromRow,
)]
pub struct ConsentEvent {
    /// The registration it is about; none for the number's STOP / START.
    pub inscription_id: Option<Uuid>,
    pub given: bool,
    /// registration, web, whatsapp or staff.
    pub source: String,
    pub version: Option<String>,
    #[serde(with = "crate::rfc3339")]
    pub at: OffsetDateTime,
}
