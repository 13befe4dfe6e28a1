//! The question bank of each masterclass, managed by its staff.
//!
//! A question used in a submitted test keeps its choices and its correct answer for ever, so
//! old scores stay explainable: changing them is a 409, and deleting it archives it instead.
//! (A database trigger freezes used keys too, whatever the code does.)

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tokio_postgres::Row;
use uuid::Uuid;

use crate::{
    db::Transaction,
    domain::test::{Choice, NewQuestion, QuestionStatus},
    http::{Error, Result},
};

/// A question as staff see it, with its answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct QuestionView {
    pub id: Uuid,
    pub masterclass_id: Uuid,
    pub text: String,
    pub choices: Vec<String>,
    pub correct: Choice,
    pub status: QuestionStatus,
    pub source_excerpt: Option<String>,
    pub provenance: serde_json::Value,
    /// Whether a submitted test used it (then its choices and answer are frozen).
    pub used: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// Filters of the listing.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct QuestionFilter {
    pub masterclass_id: Option<Uuid>,
    #[param(value_type = Option<QuestionStatus>)]
    pub status: Option<String>,
}

const COLUMNS: &str = "q.id, q.masterclass_id, q.text, q.choice_a, q.choice_b, q.choice_c, q.choice_d, k.correct, \
     q.status, q.source_excerpt, q.provenance, q.created_at, q.updated_at, \
     exists (select 1 from test_answers a where a.question_id = q.id) as used";

fn view(row: &Row) -> Result<QuestionView> {
    let correct: String = row.get("correct");
    let status: String = row.get("status");
    Ok(QuestionView {
        id: row.get("id"),
        masterclass_id: row.get("masterclass_id"),
        text: row.get("text"),
        choices: vec![
            row.get("choice_a"),
            row.get("choice_b"),
            row.get("choice_c"),
            row.get("choice_d"),
        ],
        correct: Choice::parse(&correct).ok_or_else(|| anyhow::anyhow!("bad key {correct:?}"))?,
        status: QuestionStatus::parse(&status)
            .ok_or_else(|| anyhow::anyhow!("bad status {status:?}"))?,
        source_excerpt: row.get("source_excerpt"),
        provenance: row.get("provenance"),
        used: row.get("used"),
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
    })
}

pub async fn get(tx: &Transaction<'_>, id: Uuid) -> Result<QuestionView> {
    let row = tx
        .query_opt(
            &format!("select {COLUMNS} from questions q join question_keys k on k.question_id = q.id where q.id = $1 and q.deleted_at is null"),
            &[&id],
        )
        .await?
        .ok_or(Error::NotFound("question"))?;
    view(&row)
}

/// The questions the caller staffs, newest first, optionally by masterclass and status.
pub async fn list(tx: &Transaction<'_>, filter: &QuestionFilter) -> Result<Vec<QuestionView>> {
    let status = match filter.status.as_deref() {
        None => None,
        Some(raw) => Some(
            QuestionStatus::parse(raw)
                .ok_or_else(|| Error::field("status", "must be draft, approved or archived"))?
                .as_str(),
        ),
    };
    let rows = tx
        .query(
            &format!(
                "select {COLUMNS} from questions q join question_keys k on k.question_id = q.id
                 where q.deleted_at is null and ($1::uuid is null or q.masterclass_id = $1)
                   and ($2::text is null or q.status = $2)
                 order by q.created_at desc, q.id limit 1000"
            ),
            &[&filter.masterclass_id, &status],
        )
        .await?;
    rows.iter().map(view).collect()
}

pub(crate) async fn visible_masterclass(tx: &Transaction<'_>, masterclass_id: Uuid) -> Result<()> {
    let staffed = tx
        .query_opt(
            "select 1 from masterclasses where id = $1 and deleted_at is null and auth_staffs(id)",
            &[&masterclass_id],
        )
        .await?;
    staffed
        .map(|_| ())
        .ok_or_else(|| Error::field("masterclass_id", "names no masterclass you staff"))
}

/// A question written by staff member `staff_id` (its provenance says so).
pub async fn create_by_staff(
    tx: &Transaction<'_>,
    staff_id: Uuid,
    new: &NewQuestion,
) -> Result<QuestionView> {
    create(tx, staff_id, new, serde_json::json!({ "source": "staff" })).await
}

/// Adds a question (RLS: staff of its masterclass).
pub async fn create(
    tx: &Transaction<'_>,
    staff_id: Uuid,
    new: &NewQuestion,
    provenance: serde_json::Value,
) -> Result<QuestionView> {
    visible_masterclass(tx, new.masterclass_id).await?;
    let [a, b, c, d] = &new.choices;
    let id: Uuid = tx
        .query_one(
            "insert into questions (masterclass_id, text, choice_a, choice_b, choice_c, choice_d, status, source_excerpt,
                                    provenance, created_by)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) returning id",
            &[
                &new.masterclass_id, &new.text, a, b, c, d, &new.status.as_str(), &new.source_excerpt, &provenance,
                &staff_id,
            ],
        )
        .await?
        .get(0);
    tx.execute(
        "insert into question_keys (question_id, correct) values ($1, $2)",
        &[&id, &new.correct.as_str()],
    )
    .await?;
    get(tx, id).await
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
    let [a, b, c, d] = &new.choices;
    tx.execute(
        "update questions set text = $2, choice_a = $3, choice_b = $4, choice_c = $5, choice_d = $6, status = $7,
             source_excerpt = $8
         where id = $1",
        &[&id, &new.text, a, b, c, d, &new.status.as_str(), &new.source_excerpt],
    )
    .await?;
    tx.execute(
        "update question_keys set correct = $2 where question_id = $1",
        &[&id, &new.correct.as_str()],
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
        tx.execute(
            "update questions set status = 'archived' where id = $1",
            &[&id],
        )
        .await?;
        return Ok((Removed::Archived, get(tx, id).await?));
    }
    tx.execute("delete from questions where id = $1", &[&id])
        .await?;
    Ok((Removed::Deleted, current))
}
