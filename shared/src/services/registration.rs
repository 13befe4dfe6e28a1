//! `POST /api/inscriptions`: a student registers for a masterclass.
//!
//! Everything in one transaction, all or nothing: the profile (created by the number's first
//! registration), the inscription with the name, date of birth and consent submitted with it,
//! the access token, the queued confirmation message, an audit entry, and, when answers come
//! with it, the scored PRE test and its result message. The transaction runs as a `registrar`
//! caller whose claims name the number being registered: row-level security lets it read none
//! of that number's profile, and the writes go through `register_inscription`, which checks
//! the claims' number and the masterclass itself before writing (migration 0010).
//!
//! **A number someone else already registered.** Nobody proves they own a number by typing it,
//! so an anonymous registration learns nothing about a profile that exists: the answer and the
//! new token show only what this request submitted (a shared family phone works the same way:
//! each inscription keeps its own name and date of birth). The profile itself is never changed
//! by a registration; its opt-out (a STOP reply) is lifted only by the number's own START reply.
//! The confirmation goes to the number, so its owner hears of every registration made with it
//! (and hears nothing if they opted out). What an anonymous caller can still learn is whether
//! the number is registered for that very masterclass (the 409), which the one-per-number rule
//! needs.

use std::net::IpAddr;

use http::StatusCode;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{
    AppState,
    auth::{Caller, StudentIdentity, student_token::StudentToken},
    db::{self, Transaction},
    domain::{
        exam::{Channel, ExamKind, answers_sent_as},
        student::{Registration, RegistrationDraft},
    },
    error::{Error, Result},
    idempotency::{self, MaybeIdempotencyKey},
    outbox::{MessageType, templates},
    services::{
        exams::{self, Attempt},
        limits, students,
    },
};

/// The new inscription (the access token is added by the caller: it is never stored in clear).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Registered {
    pub inscription_id: Uuid,
    pub masterclass_id: Uuid,
    pub full_name: String,
    /// E.164.
    #[schema(pattern = r"^\+[1-9][0-9]{6,14}$", example = "+24106123456")]
    pub whatsapp_number: String,
    #[serde(with = "crate::rfc3339")]
    pub registered_at: OffsetDateTime,
    pub pre_test: Option<Attempt>,
    /// Shown once: the bearer token for `/api/tests` and `/api/me`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub access_token: Option<String>,
}

/// The caller of a registration transaction.
pub fn caller(registration: &Registration) -> Caller {
    Caller::Registrar {
        whatsapp_number: registration.whatsapp_number.as_str().to_owned(),
    }
}

/// `POST /api/inscriptions` from `source` under its `Idempotency-Key`, in `tx` (begun as
/// [`caller`]): registers once, within the limits per source and per number; a retry with the
/// same key answers the same inscription (and counts nothing), or a 410 once it was erased.
/// Either way the answer carries a fresh access token: a replay's client never received the
/// first one (or it would not have retried), tokens are stored only hashed, so a new one is
/// issued and the earlier revoked.
pub async fn register_once(
    state: &AppState,
    tx: &Transaction<'_>,
    key: &MaybeIdempotencyKey,
    draft: &RegistrationDraft,
    registration: &Registration,
    source: Option<IpAddr>,
    now: OffsetDateTime,
) -> Result<(StatusCode, Registered)> {
    let mut token = None;
    let outcome = idempotency::run(
        tx,
        key,
        "inscriptions.create",
        draft,
        StatusCode::CREATED,
        async || {
            limits::take_registration(tx, &state.config, source, registration).await?;
            let (registered, issued) = register(state, tx, None, registration, now).await?;
            token = Some(issued);
            Ok(registered)
        },
    )
    .await?;
    let mut registered: Registered =
        serde_json::from_value(outcome.body).map_err(|e| Error::from(anyhow::Error::from(e)))?;
    registered.access_token = Some(match token {
        Some(token) => token,
        None => {
            students::issue_token(tx, registered.inscription_id)
                .await?
                .access_token
        }
    });
    Ok((outcome.status, registered))
}

/// Registers, under `id` when a device made one; `tx` must have been begun as [`caller`].
/// Returns the inscription and its token.
pub async fn register(
    state: &AppState,
    tx: &Transaction<'_>,
    id: Option<Uuid>,
    registration: &Registration,
    now: OffsetDateTime,
) -> Result<(Registered, String)> {
    let masterclass = db::masterclasses::find(tx, registration.masterclass_id, true)
        .await?
        .ok_or_else(|| Error::field("masterclass_id", "names no published masterclass"))?;
    let closes_at = masterclass.starts_at - state.config.journey.registration_closes_before;
    if now >= closes_at {
        return Err(Error::Conflict {
            code: "registration_closed",
            detail: "registration for this masterclass is closed: it has started".into(),
        });
    }
    let number = registration.whatsapp_number.as_str();
    let name = registration.full_name.as_str();
    let born = registration.date_of_birth.date();
    let notice = state.config.journey.privacy_notice_version.as_str();
    // One call writes it all (see `db::inscriptions::register`). The person behind a number is
    // created by its first registration; a later one, whoever sends it, reads nothing of that
    // profile and changes nothing in it (least of all an opt-out). The inscription keeps what
    // was submitted with it: its name, date of birth and consent.
    let token = StudentToken::generate();
    let message_data = serde_json::json!({
        "prenom": templates::first_name(name),
        "masterclass": masterclass.title,
        "date": templates::french_date(masterclass.starts_at),
    });
    let message_body = templates::render(MessageType::RegistrationConfirmed, &message_data)?;
    let (inscription_id, profile_id, registered_at) = db::inscriptions::register(
        tx,
        &db::inscriptions::NewRegistration {
            id,
            masterclass_id: masterclass.id,
            full_name: name,
            date_of_birth: born,
            whatsapp_number: number,
            consent_at: now,
            consent_version: notice,
            token_hash: &token.hash(),
            message_type: MessageType::RegistrationConfirmed.as_str(),
            message_data: &message_data,
            message_body: &message_body,
        },
    )
    .await?
    .map_err(Error::AlreadyRegistered)?;
    tracing::info!(inscription_id = %inscription_id, "student token issued");
    let pre_test = match &registration.pre_test {
        None => None,
        Some(answers) => {
            let student = StudentIdentity {
                inscription_id,
                profile_id,
                masterclass_id: masterclass.id,
            };
            db::act_as(tx, &Caller::Student(student)).await?;
            let attempt = exams::submit(tx, &student, ExamKind::Pre, answers, now, Channel::Web)
                .await
                .map_err(|e| match e {
                    Error::Validation(errors) => {
                        Error::Validation(answers_sent_as("pre_test", errors))
                    }
                    other => other,
                })?;
            // Back to the registrar: what follows in this transaction (the idempotency record)
            // belongs to the anonymous caller.
            db::act_as(tx, &caller(registration)).await?;
            Some(attempt)
        }
    };
    tracing::info!(inscription_id = %inscription_id, masterclass_id = %masterclass.id,
                   number = %registration.whatsapp_number.masked(), "registered");
    Ok((
        Registered {
            inscription_id,
            masterclass_id: masterclass.id,
            full_name: name.to_owned(),
            whatsapp_number: number.to_owned(),
            registered_at,
            pre_test,
            access_token: None,
        },
        token.as_str().to_owned(),
    ))
}

/// A registration made offline at a desk by `staff` and pushed by its device (sync), under the
/// inscription id the device gave it: the same rules and writes as [`register`], judged at
/// `registered_at`, in `tx` (begun as `staff`, who is its caller again afterwards). The access
/// token made with it is shown to no one (only its hash is stored): a desk has nobody to hand
/// it to.
pub async fn register_at_desk(
    state: &AppState,
    tx: &Transaction<'_>,
    staff: &Caller,
    id: Uuid,
    registration: &Registration,
    registered_at: OffsetDateTime,
) -> Result<()> {
    db::act_as(tx, &caller(registration)).await?;
    register(state, tx, Some(id), registration, registered_at).await?;
    db::act_as(tx, staff).await
}
