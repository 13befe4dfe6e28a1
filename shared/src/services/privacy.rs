//! The rights of a person over their data: see it all (export), withdraw or give consent again,
//! and have it erased; and the retention period that erases it by itself.
//!
//! A student's token proves a registration, not the WhatsApp number (anyone may register with
//! any number), so a student acts on their own registration: its export, its consent, its
//! erasure (their profile goes with their last registration). An admin acts on the person (the
//! profile: every registration of the number). The number's own STOP/START (WhatsApp) governs
//! messages to the number.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::model::privacy::ConsentEvent;
use crate::{
    AppState,
    auth::{Caller, StudentIdentity},
    db::{self, Transaction},
    error::{Error, Result},
    services::dashboard::StudentRecord,
};

/// The version of the export document's shape; bumped when a field changes meaning or goes.
pub const EXPORT_SCHEMA_VERSION: u32 = 1;

/// Everything held about a person (or, for a student, about their registration).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Export {
    pub schema_version: u32,
    #[serde(with = "crate::rfc3339")]
    pub exported_at: OffsetDateTime,
    /// Profile, consent, registrations with tests and answers, messages sent (with delivery
    /// statuses) and received, and the audit entries about them: what
    /// `GET /api/admin/students/{id}` shows, whole.
    pub student: StudentRecord,
    /// Every consent given and withdrawn, oldest first.
    pub consent_history: Vec<ConsentEvent>,
}

/// `POST /api/me/consent`.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentChange {
    /// false: withdraw consent (messages stop at once); true: give it again.
    pub given: bool,
}

/// Where consent stands after a change.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConsentState {
    pub inscription_id: Uuid,
    pub given: bool,
    #[serde(with = "crate::rfc3339::option")]
    pub withdrawn_at: Option<OffsetDateTime>,
    pub history: Vec<ConsentEvent>,
}

/// What an erasure did: the same answer however many times it is asked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Erased {
    /// The student (profile) or registration (inscription) erased.
    pub id: Uuid,
    #[serde(with = "crate::rfc3339")]
    pub erased_at: OffsetDateTime,
}

/// Everything held about student (profile) `id`, for an admin; audited.
pub async fn export_student(tx: &Transaction<'_>, id: Uuid) -> Result<Export> {
    let student = record(tx, id, None).await?;
    let consent_history = db::privacy::consent_history(tx, id, None).await?;
    super::audit(tx, "student.exported", "profile", id, serde_json::json!({})).await?;
    Ok(Export {
        schema_version: EXPORT_SCHEMA_VERSION,
        exported_at: OffsetDateTime::now_utc(),
        student,
        consent_history,
    })
}

/// Everything held about the student's own registration. Read as the platform (a student may not
/// read their profile or answers under RLS), scoped here to the registration; which answers were
/// right is left out, since the keys are the bank's and the bank serves other students.
pub async fn export_own(state: &AppState, student: &StudentIdentity) -> Result<Export> {
    let (mut record, consent_history) = db::transact(&state.db, &Caller::System, async |tx| {
        let record = record(tx, student.profile_id, Some(student.inscription_id)).await?;
        let history =
            db::privacy::consent_history(tx, student.profile_id, Some(student.inscription_id))
                .await?;
        Ok((record, history))
    })
    .await?;
    for inscription in &mut record.inscriptions {
        for test in &mut inscription.tests {
            for answer in &mut test.answers {
                answer.correct = None;
                answer.correct_choice = None;
            }
        }
    }
    db::transact(&state.db, &Caller::Student(*student), async |tx| {
        super::audit(
            tx,
            "student.exported",
            "inscription",
            student.inscription_id,
            serde_json::json!({ "by": "student" }),
        )
        .await
    })
    .await?;
    Ok(Export {
        schema_version: EXPORT_SCHEMA_VERSION,
        exported_at: OffsetDateTime::now_utc(),
        student: record,
        consent_history,
    })
}

async fn record(tx: &Transaction<'_>, id: Uuid, only: Option<Uuid>) -> Result<StudentRecord> {
    let json = db::students::record(tx, id, only)
        .await?
        .ok_or(Error::NotFound("student"))?;
    serde_json::from_value(json)
        .map_err(|e| Error::Internal(anyhow::anyhow!("reading student {id}'s record: {e}")))
}

/// Withdraws or gives again the consent of the student's registration.
pub async fn set_consent(
    state: &AppState,
    student: &StudentIdentity,
    change: &ConsentChange,
) -> Result<ConsentState> {
    let id = student.inscription_id;
    let (withdrawn_at, history) = db::transact(&state.db, &Caller::System, async |tx| {
        let (profile, withdrawn_at) = db::privacy::set_consent(tx, id, change.given)
            .await?
            .ok_or(Error::NotFound("inscription"))?;
        let history = db::privacy::consent_history(tx, profile, Some(id)).await?;
        Ok((withdrawn_at, history))
    })
    .await?;
    db::transact(&state.db, &Caller::Student(*student), async |tx| {
        let action = if change.given {
            "consent.given"
        } else {
            "consent.withdrawn"
        };
        super::audit(
            tx,
            action,
            "inscription",
            id,
            serde_json::json!({ "source": "web" }),
        )
        .await
    })
    .await?;
    tracing::info!(inscription_id = %id, given = change.given, "consent changed on the web");
    Ok(ConsentState {
        inscription_id: id,
        given: withdrawn_at.is_none(),
        withdrawn_at,
        history,
    })
}

/// Erases student (profile) `id` and all their registrations; the same answer when repeated.
/// Their photos go from the store first (a failure there leaves the record as it was, to try
/// again); the store keeps a deleted object's old version until its lifecycle expires it.
pub async fn erase_student(state: &AppState, admin: &Caller, id: Uuid) -> Result<Erased> {
    let erasing = db::transact(&state.db, admin, async |tx| {
        db::privacy::to_erase(tx, Some(id), None).await
    })
    .await?;
    let photos = delete_photos(state, &erasing).await?;
    let erased_at = db::transact(&state.db, admin, async |tx| {
        let (erased_at, now) = db::privacy::erase_profile(tx, id)
            .await?
            .ok_or(Error::NotFound("student"))?;
        if now {
            super::audit(tx, "student.erased", "profile", id, serde_json::json!({})).await?;
        }
        Ok(erased_at)
    })
    .await?;
    tracing::info!(student = %id, photos, "student erased");
    Ok(Erased { id, erased_at })
}

/// Erases the student's own registration (and their profile with their last one).
pub async fn erase_own(state: &AppState, student: &StudentIdentity) -> Result<Erased> {
    let id = student.inscription_id;
    let (erased_at, _) = erase_inscription(state, id, serde_json::json!({ "by": "student" }))
        .await?
        .ok_or(Error::NotFound("inscription"))?;
    tracing::info!(inscription_id = %id, "registration erased by its student");
    Ok(Erased { id, erased_at })
}

/// Erases registration `id` (its photos first, then the row, whose triggers do the rest), and
/// audits it with `details` if this call did it. Returns when it was erased and whether this
/// call did it; `None` for an unknown registration.
async fn erase_inscription(
    state: &AppState,
    id: Uuid,
    details: serde_json::Value,
) -> Result<Option<(OffsetDateTime, bool)>> {
    let erasing = db::transact(&state.db, &Caller::System, async |tx| {
        db::privacy::to_erase(tx, None, Some(id)).await
    })
    .await?;
    delete_photos(state, &erasing).await?;
    db::transact(&state.db, &Caller::System, async |tx| {
        let erased = db::privacy::erase_inscription(tx, id).await?;
        if let Some((_, true)) = erased {
            super::audit(tx, "inscription.erased", "inscription", id, details).await?;
        }
        Ok(erased)
    })
    .await
}

/// Deletes every photo object of `inscriptions` (the current one, earlier ones, uploads never
/// confirmed, a sync peer's upload not checked yet): all under their photo folder. Returns how
/// many. Instance sync calls it too, for erasures that arrive from the other side.
pub async fn delete_photos(state: &AppState, inscriptions: &[Uuid]) -> Result<usize> {
    let mut deleted = 0;
    for id in inscriptions {
        let folder = super::photos::prefix(*id);
        for prefix in [
            folder.clone(),
            format!("{}{folder}", crate::storage::STAGING),
        ] {
            for (key, _) in state.storage.list(&prefix).await? {
                state.storage.delete(&key).await?;
                deleted += 1;
            }
        }
    }
    Ok(deleted)
}

/// A second `DELETE /api/me` with the token the first one revoked: the first answer again.
pub async fn erased_by_token(state: &AppState, token: &str) -> Result<Option<Erased>> {
    let client = state.db.get().await?;
    let hash = crate::auth::student_token::hash(token);
    Ok(db::privacy::erased_by_token(&client, &hash)
        .await?
        .map(|(id, erased_at)| Erased { id, erased_at }))
}

/// Erases the registrations of masterclasses that ended more than the retention period ago
/// (`RETENTION_DAYS`; nothing when unset). Returns how many.
pub async fn apply_retention(state: &AppState) -> Result<usize> {
    let Some(days) = state.config.journey.retention_days else {
        return Ok(0);
    };
    let before = OffsetDateTime::now_utc() - time::Duration::days(i64::from(days));
    let expired = db::transact(&state.db, &Caller::System, async |tx| {
        db::privacy::expired_inscriptions(tx, before).await
    })
    .await?;
    let mut erased = 0;
    for &id in &expired {
        // A copy merged into a registration met earlier in this loop went with it (`false`):
        // no second entry for it.
        let details = serde_json::json!({ "by": "retention", "days": days });
        // Boxed: inline, this future nests deep enough in the backup run's to overflow the
        // compiler's layout recursion limit in the `backup` function.
        if let Some((_, true)) = Box::pin(erase_inscription(state, id, details)).await? {
            erased += 1;
        }
    }
    if erased > 0 {
        tracing::info!(erased, days, "registrations past retention erased");
    }
    Ok(erased)
}
