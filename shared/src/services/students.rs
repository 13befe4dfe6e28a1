//! Students' access: the per-inscription bearer tokens, and what a student may read of their own.
//!
//! A token is issued at registration (and re-issued by staff when a student loses it), shown
//! once, and stored only as a hash. Re-issuing revokes the earlier ones.
//!
//! Service functions share a shape across `services/`: look the record
//! up (a 404 when the caller may not see it), change it through `db`, log it, and `audit` it in
//! the same transaction, one statement a step so that the order reads as the rule. Request and
//! answer types are flat structs whose fields are the contract (an optional filter a field, a
//! timestamp with its `rfc3339` attribute), so two of them read alike. What differs (the record,
//! the rule, the audit action, the fields) is the content of each.

use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use crate::model::students::InscriptionView;
use crate::{
    auth::{StudentIdentity, student_token::StudentToken},
    db::{self, Transaction},
    domain::origin::Origin,
    error::{Error, Result},
    services::{
        exams::{self, Attempt},
        masterclasses::{self, MasterclassView},
    },
};

// `YYYY-MM-DD`, as the API takes dates (time's default would be a `[year, ordinal]` pair).
time::serde::format_description!(iso_date, Date, "[year]-[month]-[day]");

/// A freshly issued token: the only time it is shown.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IssuedAccess {
    pub inscription_id: Uuid,
    pub access_token: String,
}

/// A student's own record.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Me {
    pub inscription_id: Uuid,
    pub full_name: String,
    #[serde(with = "iso_date::option")]
    pub date_of_birth: Option<Date>,
    /// E.164.
    #[schema(pattern = r"^\+[1-9][0-9]{6,14}$", example = "+24106123456")]
    pub whatsapp_number: String,
    pub attended: bool,
    #[serde(with = "crate::rfc3339")]
    pub registered_at: OffsetDateTime,
    pub masterclass: MasterclassView,
    /// Scores so far; `post` carries the PRE score and the gain.
    pub tests: Results,
}

/// A student's PRE and POST results.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Results {
    pub pre: Option<Attempt>,
    pub post: Option<Attempt>,
}

/// `PATCH /api/admin/inscriptions/{id}`.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttendanceChange {
    pub attended: bool,
}

/// Validates (or unvalidates) attendance (RLS: staff of the masterclass).
pub async fn set_attendance(
    tx: &Transaction<'_>,
    staff_id: Uuid,
    inscription_id: Uuid,
    attended: bool,
) -> Result<InscriptionView> {
    let view = db::inscriptions::set_attendance(tx, inscription_id, attended, staff_id)
        .await?
        .ok_or(Error::NotFound("inscription"))?;
    tracing::info!(inscription_id = %inscription_id, attended, "attendance changed");
    super::audit(
        tx,
        "inscription.attendance",
        "inscription",
        inscription_id,
        serde_json::json!({ "attended": attended }),
    )
    .await?;
    Ok(view)
}

/// Revokes the inscription's live tokens and issues a new one (RLS: staff of the masterclass,
/// or the system during registration).
pub async fn issue_token(tx: &Transaction<'_>, inscription_id: Uuid) -> Result<IssuedAccess> {
    if !db::inscriptions::exists(tx, inscription_id).await? {
        return Err(Error::NotFound("inscription"));
    }
    revoke_tokens(tx, inscription_id).await?;
    let token = StudentToken::generate();
    db::inscriptions::insert_token(tx, inscription_id, &token.hash()).await?;
    tracing::info!(inscription_id = %inscription_id, "student token issued");
    super::audit(
        tx,
        "inscription.token_issued",
        "inscription",
        inscription_id,
        serde_json::json!({}),
    )
    .await?;
    Ok(IssuedAccess {
        inscription_id,
        access_token: token.as_str().to_owned(),
    })
}

/// Revokes every live token of an inscription. Returns how many were live.
pub async fn revoke_tokens(tx: &Transaction<'_>, inscription_id: Uuid) -> Result<u64> {
    db::inscriptions::revoke_tokens(tx, inscription_id).await
}

/// The student's inscription (with the name, date of birth and number it was registered with)
/// and masterclass. Nothing comes from the profile, which other registrations may share.
pub async fn me(origin: &Origin, tx: &Transaction<'_>, student: &StudentIdentity) -> Result<Me> {
    let own = db::inscriptions::own(tx, student.inscription_id)
        .await?
        .ok_or(Error::NotFound("inscription"))?;
    let masterclass = masterclasses::get(origin, tx, student.masterclass_id, false).await?;
    let (pre, post) = exams::results(tx, student.inscription_id).await?;
    Ok(Me {
        tests: Results { pre, post },
        inscription_id: own.id,
        full_name: own.full_name,
        date_of_birth: own.date_of_birth,
        whatsapp_number: own.whatsapp_number,
        attended: own.attended,
        registered_at: own.created_at,
        masterclass,
    })
}
