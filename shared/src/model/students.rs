//! Students and their inscriptions as `db::students` and `db::inscriptions` read them: the
//! dashboard's list (its filter, sort, page key and row) and an inscription after a change.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// The sort of the students list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StudentSort {
    Registered,
    Name,
}

/// A checked `services::dashboard::StudentQuery` (without the paging).
#[derive(Debug, Clone)]
pub struct StudentFilter {
    pub masterclass_id: Option<Uuid>,
    pub attended: Option<bool>,
    pub registered_from: Option<OffsetDateTime>,
    pub registered_before: Option<OffsetDateTime>,
    pub has_pre: Option<bool>,
    pub has_post: Option<bool>,
    pub search: Option<String>,
    pub sort: StudentSort,
    pub descending: bool,
}

/// Where a page of students ends: the sort, its key (registration time in microseconds, or the
/// name key) and the inscription.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StudentKey {
    pub sort: StudentSort,
    pub descending: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub id: Uuid,
}

/// One student in one masterclass, as the list shows them: the essentials only.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StudentRow {
    pub inscription_id: Uuid,
    /// The student (`GET /api/admin/students/{id}`).
    pub student_id: Uuid,
    pub full_name: String,
    #[schema(pattern = r"^\+[1-9][0-9]{6,14}$", example = "+24106123456")]
    pub whatsapp_number: String,
    pub masterclass_id: Uuid,
    pub masterclass_title: String,
    pub attended: bool,
    #[serde(with = "crate::rfc3339")]
    pub registered_at: OffsetDateTime,
    pub pre_score: Option<i32>,
    pub post_score: Option<i32>,
    pub max_score: Option<i32>,
    /// POST minus PRE, when both were taken.
    pub gain: Option<i32>,
    #[serde(skip)]
    #[schema(ignore)]
    pub name_key: String,
}

/// An inscription as staff see it after a change.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema, postgres_from_row::FromRow)]
pub struct InscriptionView {
    pub id: Uuid,
    pub masterclass_id: Uuid,
    pub profile_id: Uuid,
    pub attended: bool,
    #[serde(with = "crate::rfc3339::option")]
    pub attendance_validated_at: Option<OffsetDateTime>,
}
