//! The question bank of each masterclass, managed by its staff.
//!
//! A question used in a submitted test keeps its choices and its correct answer for ever, so
//! old scores stay explainable: changing them is a 409, and deleting it archives it instead.
//! (A database trigger freezes used keys too, whatever the code does.)
//!
//! Service functions share a shape across `services/`: look the record
//! up (a 404 when the caller may not see it), change it through `db`, log it, and `audit` it in
//! the same transaction, one statement a step so that the order reads as the rule. Request and
//! answer types are flat structs whose fields are the contract (an optional filter a field, a
//! timestamp with its `rfc3339` attribute), so two of them read alike. What differs (the record,
//! the rule, the audit action, the fields) is the content of each.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use crate::domain::exam::{QuestionSummary, QuestionView};
use crate::{
    db::{self, Transaction},
    domain::{
        exam::{NewQuestion, QuestionStatus},
        paging::{CursorKey, Keyset, micros_of, micros_time},
    },
    error::{Error, Result},
};

/// Filters of the listing.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct QuestionFilter {
    pub masterclass_id: Option<Uuid>,
    #[param(value_type = Option<QuestionStatus>)]
    pub status: Option<String>,
    /// Questions per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A page of the bank, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct QuestionPage {
    pub items: Vec<QuestionSummary>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

pub async fn get(tx: &Transaction<'_>, id: Uuid) -> Result<QuestionView> {
    db::questions::get(tx, id)
        .await?
        .ok_or(Error::NotFound("question"))
}

/// The questions the caller staffs, newest first, optionally by masterclass and status.
pub async fn list(
    tx: &Transaction<'_>,
    cursors: &CursorKey,
    filter: &QuestionFilter,
) -> Result<QuestionPage> {
    let keyset: Keyset<(i64, Uuid)> =
        Keyset::parse(cursors, filter.limit, filter.cursor.as_deref())?;
    let status = match filter.status.as_deref() {
        None => None,
        Some(raw) => Some(
            QuestionStatus::parse(raw)
                .ok_or_else(|| Error::field("status", "must be draft, approved or archived"))?,
        ),
    };
    let after = keyset
        .after
        .map(|(micros, id)| Ok::<_, Error>((micros_time(micros)?, id)))
        .transpose()?;
    let rows =
        db::questions::list(tx, filter.masterclass_id, status, after, keyset.fetch()).await?;
    let (items, next_cursor) = keyset.page(rows, |q| (micros_of(q.created_at), q.id));
    Ok(QuestionPage { items, next_cursor })
}

pub(crate) async fn visible_masterclass(tx: &Transaction<'_>, masterclass_id: Uuid) -> Result<()> {
    if db::masterclasses::staffs(tx, masterclass_id).await? {
        Ok(())
    } else {
        Err(Error::field(
            "masterclass_id",
            "names no masterclass you staff",
        ))
    }
}

/// A question written by staff member `staff_id` (its provenance says so).
pub async fn create_by_staff(
    tx: &Transaction<'_>,
    staff_id: Uuid,
    new: &NewQuestion,
) -> Result<QuestionView> {
    let view = create(tx, staff_id, new, serde_json::json!({ "source": "staff" })).await?;
    super::audit(
        tx,
        "question.created",
        "question",
        view.id,
        serde_json::json!({ "masterclass_id": new.masterclass_id }),
    )
    .await?;
    Ok(view)
}

/// Adds a question (RLS: staff of its masterclass).
pub async fn create(
    tx: &Transaction<'_>,
    staff_id: Uuid,
    new: &NewQuestion,
    provenance: serde_json::Value,
) -> Result<QuestionView> {
    visible_masterclass(tx, new.masterclass_id).await?;
    let id = db::questions::insert(tx, None, staff_id, new, &provenance).await?;
    get(tx, id).await
}

/// Adds a question a device made offline, under the id it gave it (RLS: staff of its
/// masterclass).
pub async fn create_synced(
    tx: &Transaction<'_>,
    staff_id: Uuid,
    id: Uuid,
    new: &NewQuestion,
) -> Result<()> {
    visible_masterclass(tx, new.masterclass_id).await?;
    let provenance = serde_json::json!({ "source": "staff", "via": "sync" });
    db::questions::insert(tx, Some(id), staff_id, new, &provenance).await?;
    super::audit(
        tx,
        "question.created",
        "question",
        id,
        serde_json::json!({ "masterclass_id": new.masterclass_id, "via": "sync" }),
    )
    .await?;
    Ok(())
}

/// Replaces a question. Its masterclass cannot change; a used question keeps its choices and
/// answer.
pub async fn replace(tx: &Transaction<'_>, id: Uuid, new: &NewQuestion) -> Result<QuestionView> {
    let current = get(tx, id).await?;
    if current.masterclass_id != new.masterclass_id {
        return Err(Error::field(
            "masterclass_id",
            "a question cannot move to another masterclass",
        ));
    }
    if current.used && (current.correct != new.correct || current.choices != new.choices.to_vec()) {
        return Err(Error::Conflict {
            code: "question_in_use",
            detail:
                "this question was used in a submitted test: its choices and answer are frozen; \
                     archive it and write a new one"
                    .into(),
        });
    }
    db::questions::update(tx, id, new).await?;
    super::audit(
        tx,
        "question.replaced",
        "question",
        id,
        serde_json::json!({}),
    )
    .await?;
    get(tx, id).await
}

/// What a delete did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removed {
    Deleted,
    /// It was used: archived instead, and returned.
    Archived,
}

/// Deletes an unused question; archives a used one.
pub async fn delete(tx: &Transaction<'_>, id: Uuid) -> Result<(Removed, QuestionView)> {
    let current = get(tx, id).await?;
    if current.used {
        db::questions::archive(tx, id).await?;
        super::audit(
            tx,
            "question.archived",
            "question",
            id,
            serde_json::json!({}),
        )
        .await?;
        return Ok((Removed::Archived, get(tx, id).await?));
    }
    db::questions::delete(tx, id).await?;
    super::audit(
        tx,
        "question.deleted",
        "question",
        id,
        serde_json::json!({}),
    )
    .await?;
    Ok((Removed::Deleted, current))
}
