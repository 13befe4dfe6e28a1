//! The audit trail as `db::audit` reads it, and the filter a page of it is read with.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// One entry of the audit trail.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema, postgres_from_row::FromRow)]
pub struct AuditEntry {
    pub id: i64,
    #[serde(with = "crate::rfc3339")]
    pub at: OffsetDateTime,
    /// admin, tuteur, system, anon, student, registrar.
    pub actor_role: String,
    pub actor_id: Option<String>,
    /// What was done, `entity.verb` (`masterclass.created`, `inscription.attendance`, ...).
    pub action: String,
    /// What it was done to: its kind and id.
    pub entity: String,
    pub entity_id: Option<String>,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

/// A checked `services::dashboard::AuditQuery` (without the paging).
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub entity: Option<String>,
    pub entity_id: Option<String>,
    pub from: Option<OffsetDateTime>,
    pub before: Option<OffsetDateTime>,
}
