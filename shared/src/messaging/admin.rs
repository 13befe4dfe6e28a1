//! What staff send (`POST /api/send-whatsapp`) and see (`/api/admin/messages`).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::model::outbox::MessageView;
use crate::outbox::{MessageType, templates};
use crate::{
    auth::{Role, StaffIdentity},
    db::{self, Transaction},
    domain::{
        Fields,
        paging::{CursorKey, Keyset, micros_of, micros_time},
        student::Phone,
    },
    error::{Error, Result},
};

/// `POST /api/send-whatsapp`, as sent (the product brief's field names).
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SendRequest {
    /// An inscription id, or a phone number.
    #[schema(
        required = true,
        nullable = false,
        example = "7d6f0d2e-3f9a-4c7e-9a51-2b8f1c9e4a10"
    )]
    pub to: Option<String>,
    #[schema(required = true, nullable = false)]
    pub message_type: Option<MessageType>,
    /// Template variables; those known from the inscription (prenom, masterclass, date) may be
    /// left out.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub data: Option<Value>,
}

/// The queued (or suppressed) message.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Queued {
    pub id: Uuid,
    pub status: String,
}

/// A page of messages.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MessagePage {
    pub items: Vec<MessageView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Filters of `GET /api/admin/messages`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MessageFilter {
    /// queued, claimed, sending, in_doubt, sent, delivered, read, failed, dead, suppressed or
    /// held (past the recipient's daily limit, waiting for staff).
    pub status: Option<String>,
    pub inscription_id: Option<Uuid>,
    /// 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

const STATUSES: [&str; 11] = [
    "queued",
    "claimed",
    "sending",
    "in_doubt",
    "sent",
    "delivered",
    "read",
    "failed",
    "dead",
    "suppressed",
    "held",
];
const CUSTOM_MAX_CHARS: usize = 1000;

struct Recipient {
    inscription_id: Option<Uuid>,
    profile_id: Option<Uuid>,
    number: String,
    opted_out: bool,
    defaults: Value,
}

async fn recipient(tx: &Transaction<'_>, staff: &StaffIdentity, to: &str) -> Result<Recipient> {
    if let Ok(inscription_id) = Uuid::parse_str(to.trim()) {
        let student = db::inscriptions::recipient(tx, inscription_id)
            .await?
            .ok_or_else(|| Error::field("to", "names no inscription of a masterclass you staff"))?;
        let (title, starts_at) = student
            .masterclass
            .clone()
            .ok_or_else(|| anyhow::anyhow!("an inscription without its masterclass"))?;
        return Ok(Recipient {
            inscription_id: student.inscription_id,
            profile_id: Some(student.profile_id),
            number: student.whatsapp_number,
            opted_out: student.opted_out,
            defaults: serde_json::json!({
                "prenom": templates::first_name(&student.full_name),
                "masterclass": title,
                "date": templates::french_date(starts_at),
            }),
        });
    }
    let phone = Phone::parse(to).map_err(|m| {
        Error::field(
            "to",
            format!("is neither an inscription id nor a phone number: it {m}"),
        )
    })?;
    let profile = db::inscriptions::recipient_by_number(tx, phone.as_str()).await?;
    if profile.is_none() && staff.role != Role::Admin {
        return Err(Error::field(
            "to",
            "tutors message the students of their masterclasses only",
        ));
    }
    Ok(Recipient {
        inscription_id: None,
        profile_id: profile.as_ref().map(|p| p.profile_id),
        number: phone.as_str().to_owned(),
        opted_out: profile.as_ref().is_some_and(|p| p.opted_out),
        defaults: profile
            .map(|p| serde_json::json!({ "prenom": templates::first_name(&p.full_name) }))
            .unwrap_or_else(|| serde_json::json!({})),
    })
}

/// Renders, checks and queues a message from staff. An opted-out student's message is recorded
/// as `suppressed` and not sent.
pub async fn send(
    tx: &Transaction<'_>,
    staff: &StaffIdentity,
    request: &SendRequest,
) -> Result<Queued> {
    let mut fields = Fields::default();
    let to = fields.required("to", request.to.as_deref(), |to| Ok(to.to_owned()));
    let message_type = fields.required("messageType", request.message_type.as_ref(), |t| Ok(*t));
    fields.optional("data", request.data.as_ref(), |data| {
        data.is_object()
            .then_some(())
            .ok_or_else(|| "must be an object".to_owned())
    });
    let (to, message_type) = fields.finish(|| Some((to?, message_type?)))?;
    if message_type == MessageType::Custom {
        if staff.role != Role::Admin {
            return Err(Error::Forbidden);
        }
        let text = request
            .data
            .as_ref()
            .and_then(|d| d["text"].as_str())
            .unwrap_or_default();
        if text.trim().is_empty() || text.chars().count() > CUSTOM_MAX_CHARS {
            return Err(Error::field(
                "data.text",
                format!("a custom message is 1 to {CUSTOM_MAX_CHARS} characters"),
            ));
        }
    }
    let recipient = recipient(tx, staff, &to).await?;
    let mut data = recipient.defaults.clone();
    if let Some(Value::Object(given)) = &request.data {
        for (key, value) in given {
            data[key] = value.clone();
        }
    }
    let body = templates::render(message_type, &data)?;
    let status = if recipient.opted_out {
        "suppressed"
    } else {
        "queued"
    };
    let id = db::outbox::insert(
        tx,
        &[db::outbox::NewMessage {
            inscription_id: recipient.inscription_id,
            profile_id: recipient.profile_id,
            to_number: &recipient.number,
            message_type: message_type.as_str(),
            data: &data,
            body: &body,
            dedupe_key: None,
            created_by: Some(staff.id),
            suppressed: recipient.opted_out,
        }],
    )
    .await?
    .pop()
    .ok_or_else(|| anyhow::anyhow!("a message without a dedupe key was not queued"))?;
    tracing::info!(message_id = %id, message_type = message_type.as_str(), status, "message queued by staff");
    crate::services::audit(
        tx,
        "message.sent",
        "message",
        id,
        serde_json::json!({ "type": message_type.as_str(), "status": status }),
    )
    .await?;
    Ok(Queued {
        id,
        status: status.to_owned(),
    })
}

/// Messages the caller may see (RLS), newest first.
pub async fn list(
    tx: &Transaction<'_>,
    cursors: &CursorKey,
    filter: &MessageFilter,
) -> Result<MessagePage> {
    let keyset: Keyset<(i64, Uuid)> =
        Keyset::parse(cursors, filter.limit, filter.cursor.as_deref())?;
    if let Some(status) = &filter.status
        && !STATUSES.contains(&status.as_str())
    {
        return Err(Error::field(
            "status",
            format!("must be one of {}", STATUSES.join(", ")),
        ));
    }
    let after = keyset
        .after
        .map(|(micros, id)| Ok::<_, Error>((micros_time(micros)?, id)))
        .transpose()?;
    let rows = db::outbox::page(
        tx,
        filter.status.as_deref(),
        filter.inscription_id,
        after,
        keyset.fetch(),
    )
    .await?;
    let (items, next_cursor) = keyset.page(rows, |m| (micros_of(m.created_at), m.id));
    Ok(MessagePage { items, next_cursor })
}

/// Puts a `dead`, `failed`, `in_doubt` or `held` message back in the queue, due now, with fresh
/// attempts: staff who checked the conversation decide (a message in doubt may have arrived; a
/// held one is then sent past its recipient's daily limit).
pub async fn retry(tx: &Transaction<'_>, id: Uuid) -> Result<MessageView> {
    let current = db::outbox::get(tx, id)
        .await?
        .ok_or(Error::NotFound("message"))?;
    if !["dead", "failed", "in_doubt", "held"].contains(&current.status.as_str()) {
        return Err(Error::Conflict {
            code: "not_retryable",
            detail: format!(
                "only dead, failed, in_doubt or held messages are retried; this one is {}",
                current.status
            ),
        });
    }
    let view = db::outbox::requeue(tx, id).await?;
    tracing::info!(message_id = %id, "message re-queued by staff");
    crate::services::audit(
        tx,
        "message.retried",
        "message",
        id,
        serde_json::json!({ "was": current.status }),
    )
    .await?;
    Ok(view)
}
