//! Sync peers and their runs as `db::peers` reads them.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

/// A sync peer, as admins of the remote see it (never its secret).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema, postgres_from_row::FromRow)]
pub struct PeerView {
    pub id: Uuid,
    pub name: String,
    #[serde(with = "crate::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "crate::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
    #[serde(with = "crate::rfc3339::option")]
    pub last_seen_at: Option<OffsetDateTime>,
}

/// A run's report.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema, postgres_from_row::FromRow)]
pub struct RunView {
    pub id: Uuid,
    pub remote_url: String,
    /// `schedule` or `manual`.
    pub trigger: String,
    /// `running`, `succeeded`, `failed` (see `errors`; the next run resumes) or `skipped`
    /// (another run held the remote).
    pub status: String,
    #[serde(with = "crate::rfc3339")]
    pub started_at: OffsetDateTime,
    #[serde(with = "crate::rfc3339::option")]
    pub finished_at: Option<OffsetDateTime>,
    /// Mutations the remote acknowledged in this run.
    pub pushed: i32,
    /// Changes pulled and applied in this run.
    pub pulled: i32,
    /// Mutations the remote refused (they stay refused: see `errors`).
    pub rejected: i32,
    /// Objects (handouts) copied, both ways.
    pub objects: i32,
    #[schema(value_type = Vec<String>)]
    pub errors: Value,
    /// The remote's pull cursor after the run.
    pub next_cursor: Option<String>,
}
