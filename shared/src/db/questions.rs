//! Queries for the question bank: `questions` and their answers in `question_keys` (a table of
//! its own, so that a student's paper can read questions without ever seeing a key).
//!
//! Each query is a small function: its SQL, typed parameters, `failed(...)` naming the work and
//! the row, the answer read by column name. One function a query, so that "where is the SQL for
//! X?" has one answer.

use time::OffsetDateTime;
use tokio_postgres::Row;
use uuid::Uuid;

use super::{
    Db, p,
    row::{FromRow, all, failed},
};
use crate::{
    domain::exam::{Choice, NewQuestion, QuestionStatus, QuestionSummary, QuestionView},
    error::Result,
};

const VIEW: &str = "q.id, q.masterclass_id, q.text, q.choice_a, q.choice_b, q.choice_c, q.choice_d, \
     k.correct, q.status, q.source_excerpt, q.provenance, q.created_at, q.updated_at, \
     exists (select 1 from test_answers a where a.question_id = q.id) as used";

impl FromRow for QuestionView {
    fn from_row(row: &Row) -> Result<Self> {
        let summary = QuestionSummary::from_row(row)?;
        Ok(Self {
            id: summary.id,
            masterclass_id: summary.masterclass_id,
            text: summary.text,
            choices: summary.choices,
            correct: summary.correct,
            status: summary.status,
            source_excerpt: row.try_get("source_excerpt")?,
            provenance: row.try_get("provenance")?,
            used: summary.used,
            created_at: summary.created_at,
            updated_at: summary.updated_at,
        })
    }
}

const SUMMARY: &str = "q.id, q.masterclass_id, q.text, q.choice_a, q.choice_b, q.choice_c, \
     q.choice_d, k.correct, q.status, q.created_at, q.updated_at, \
     exists (select 1 from test_answers a where a.question_id = q.id) as used";

impl FromRow for QuestionSummary {
    fn from_row(row: &Row) -> Result<Self> {
        let correct: String = row.try_get("correct")?;
        let status: String = row.try_get("status")?;
        Ok(Self {
            id: row.try_get("id")?,
            masterclass_id: row.try_get("masterclass_id")?,
            text: row.try_get("text")?,
            choices: vec![
                row.try_get("choice_a")?,
                row.try_get("choice_b")?,
                row.try_get("choice_c")?,
                row.try_get("choice_d")?,
            ],
            correct: Choice::parse(&correct)
                .ok_or_else(|| anyhow::anyhow!("bad key {correct:?}"))?,
            status: QuestionStatus::parse(&status)
                .ok_or_else(|| anyhow::anyhow!("bad status {status:?}"))?,
            used: row.try_get("used")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        })
    }
}

/// One question with its answer (RLS: staff of its masterclass).
pub async fn get(db: &impl Db, id: Uuid) -> Result<Option<QuestionView>> {
    db.opt(
        &format!(
            "select {VIEW} from questions q join question_keys k on k.question_id = q.id
             where q.id = $1 and q.deleted_at is null"
        ),
        &[p(&id)],
    )
    .await
    .map_err(failed(format!("reading question {id}")))?
    .as_ref()
    .map(QuestionView::from_row)
    .transpose()
}

/// The staff listing's SQL, newest first: `$1` masterclass, `$2` status (either null for all),
/// `$3`/`$4` the creation time and id to start after (null: from the start), `$5` rows. Public
/// for the benchmark that compares it under row-level security with the same SQL as the owner.
pub fn list_sql() -> String {
    format!(
        "select {SUMMARY} from questions q join question_keys k on k.question_id = q.id
         where q.deleted_at is null and ($1::uuid is null or q.masterclass_id = $1)
           and ($2::text is null or q.status = $2)
           and ($4::uuid is null or (q.created_at, q.id) < ($3::timestamptz, $4))
         order by q.created_at desc, q.id desc limit $5"
    )
}

/// Up to `rows` questions the caller staffs, newest first, of one masterclass and one status
/// when given, after `after` (creation time and id).
pub async fn list(
    db: &impl Db,
    masterclass_id: Option<Uuid>,
    status: Option<QuestionStatus>,
    after: Option<(OffsetDateTime, Uuid)>,
    rows: i64,
) -> Result<Vec<QuestionSummary>> {
    let (after_at, after_id) = after.unzip();
    let rows = db
        .all(
            &list_sql(),
            &[
                p(&masterclass_id),
                p(&status.map(QuestionStatus::as_str)),
                p(&after_at),
                p(&after_id),
                p(&rows),
            ],
        )
        .await
        .map_err(failed("listing questions"))?;
    all(&rows)
}

/// Adds a question and its key, under `id` when a device made one; returns its id.
pub async fn insert(
    db: &impl Db,
    id: Option<Uuid>,
    staff_id: Uuid,
    new: &NewQuestion,
    provenance: &serde_json::Value,
) -> Result<Uuid> {
    let doing = || format!("adding a question to masterclass {}", new.masterclass_id);
    let [a, b, c, d] = &new.choices;
    let id: Uuid = db
        .one(
            "insert into questions (id, masterclass_id, text, choice_a, choice_b, choice_c,
                                    choice_d, status, source_excerpt, provenance, created_by)
             values (coalesce($1, gen_random_uuid()), $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
             returning id",
            &[
                p(&id),
                p(&new.masterclass_id),
                p(&new.text),
                p(a),
                p(b),
                p(c),
                p(d),
                p(&new.status.as_str()),
                p(&new.source_excerpt),
                p(provenance),
                p(&staff_id),
            ],
        )
        .await
        .map_err(failed(doing()))?
        .try_get("id")?;
    // A statement of its own: the key's policy looks the question up, and rows written by a
    // statement are not visible to its own subqueries.
    db.exec(
        "insert into question_keys (question_id, correct) values ($1, $2)",
        &[p(&id), p(&new.correct.as_str())],
    )
    .await
    .map_err(failed(doing()))?;
    Ok(id)
}

/// Rewrites question `id` and its key.
pub async fn update(db: &impl Db, id: Uuid, new: &NewQuestion) -> Result<()> {
    let [a, b, c, d] = &new.choices;
    db.exec(
        "update questions set text = $2, choice_a = $3, choice_b = $4, choice_c = $5, choice_d = $6,
             status = $7, source_excerpt = $8
         where id = $1",
        &[p(&id), p(&new.text), p(a), p(b), p(c), p(d), p(&new.status.as_str()), p(&new.source_excerpt)])
    .await
    .map_err(failed(format!("rewriting question {id}")))?;
    db.exec(
        "update question_keys set correct = $2 where question_id = $1",
        &[p(&id), p(&new.correct.as_str())],
    )
    .await
    .map_err(failed(format!("rewriting the key of question {id}")))?;
    Ok(())
}

/// Archives question `id`.
pub async fn archive(db: &impl Db, id: Uuid) -> Result<()> {
    db.exec(
        "update questions set status = 'archived' where id = $1",
        &[p(&id)],
    )
    .await
    .map_err(failed(format!("archiving question {id}")))?;
    Ok(())
}

/// Deletes question `id`: a tombstone (`deleted_at`), so that synced devices hear of it.
pub async fn delete(db: &impl Db, id: Uuid) -> Result<()> {
    db.exec(
        "update questions set deleted_at = now() where id = $1 and deleted_at is null",
        &[p(&id)],
    )
    .await
    .map_err(failed(format!("deleting question {id}")))?;
    Ok(())
}

/// The texts of every question of masterclass `masterclass_id` (to keep a generation from
/// repeating them).
pub async fn texts(db: &impl Db, masterclass_id: Uuid) -> Result<Vec<String>> {
    db.all(
        "select text from questions where masterclass_id = $1 and deleted_at is null",
        &[p(&masterclass_id)],
    )
    .await
    .map_err(failed(format!(
        "reading the question texts of masterclass {masterclass_id}"
    )))?
    .iter()
    .map(|row| Ok(row.try_get("text")?))
    .collect()
}
