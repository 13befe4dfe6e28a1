//! Queries for tests: each student's paper (`test_papers`, drawn once by a definer function),
//! attempts and answers (`test_attempts`, `test_answers`, scored by a definer function that
//! alone reads the keys), and the POST test's window (`test_windows`).
//!
//! Each query is a small function: its SQL, typed parameters, `failed(...)` naming the work and
//! the row, the answer read by column name. One function a query, so that "where is the SQL for
//! X?" has one answer.

use time::OffsetDateTime;
use tokio_postgres::error::SqlState;
use uuid::Uuid;

use super::{Db, p, row::failed};
use crate::{
    domain::exam::{Channel, ExamKind},
    error::{Error, Result},
};

/// The questions of the caller's paper, drawn on first use from `size` approved questions;
/// `None` while the bank has too few.
pub async fn paper(db: &impl Db, size: usize) -> Result<Option<Vec<Uuid>>> {
    let size = i32::try_from(size).map_err(anyhow::Error::from)?;
    Ok(db
        .one("select ensure_test_paper($1) as ids", &[p(&size)])
        .await
        .map_err(failed("drawing a test paper"))?
        .try_get("ids")?)
}

/// The questions of the paper of inscription `inscription_id`, if it was drawn (never draws it).
pub async fn drawn_paper(db: &impl Db, inscription_id: Uuid) -> Result<Option<Vec<Uuid>>> {
    db.opt(
        "select question_ids from test_papers where inscription_id = $1",
        &[p(&inscription_id)],
    )
    .await
    .map_err(failed(format!(
        "reading the paper of inscription {inscription_id}"
    )))?
    .map(|row| Ok(row.try_get("question_ids")?))
    .transpose()
}

/// A question of a paper as its student sees it: no key.
#[derive(Debug, Clone)]
pub struct PaperText {
    pub id: Uuid,
    pub text: String,
    /// A, B, C, D in the bank's order.
    pub choices: [String; 4],
}

/// The texts of questions `ids` (in any order).
pub async fn paper_texts(db: &impl Db, ids: &[Uuid]) -> Result<Vec<PaperText>> {
    let rows = db
        .all(
            "select id, text, choice_a, choice_b, choice_c, choice_d from questions where id = any($1)",
            &[p(&ids)])
        .await
        .map_err(failed("reading the questions of a paper"))?;
    rows.iter()
        .map(|row| {
            Ok(PaperText {
                id: row.try_get("id")?,
                text: row.try_get("text")?,
                choices: [
                    row.try_get("choice_a")?,
                    row.try_get("choice_b")?,
                    row.try_get("choice_c")?,
                    row.try_get("choice_d")?,
                ],
            })
        })
        .collect()
}

/// A scored attempt: score, out of, when.
pub async fn scored(
    db: &impl Db,
    inscription_id: Uuid,
    kind: ExamKind,
) -> Result<Option<(i32, i32, OffsetDateTime)>> {
    db.opt(
        "select score, max_score, submitted_at from test_attempts
         where inscription_id = $1 and kind = $2 and score is not null and not superseded",
        &[p(&inscription_id), p(&kind.as_str())],
    )
    .await
    .map_err(failed(format!(
        "reading the {} attempt of inscription {inscription_id}",
        kind.as_str()
    )))?
    .map(|row| {
        Ok((
            row.try_get("score")?,
            row.try_get("max_score")?,
            row.try_get("submitted_at")?,
        ))
    })
    .transpose()
}

/// When the POST test of masterclass `masterclass_id` was opened by staff, if it was.
pub async fn post_opened_at(db: &impl Db, masterclass_id: Uuid) -> Result<Option<OffsetDateTime>> {
    Ok(db
        .opt(
            "select post_opened_at from test_windows where masterclass_id = $1",
            &[p(&masterclass_id)],
        )
        .await
        .map_err(failed(format!(
            "reading the POST test window of masterclass {masterclass_id}"
        )))?
        .map(|row| row.try_get("post_opened_at"))
        .transpose()?
        .flatten())
}

/// Opens (`open`) or closes the POST test of masterclass `masterclass_id`, as `staff_id`.
pub async fn set_post_open(
    db: &impl Db,
    masterclass_id: Uuid,
    staff_id: Uuid,
    open: bool,
) -> Result<()> {
    db.exec(
        "insert into test_windows (masterclass_id, post_opened_at, post_opened_by)
         values ($1, case when $2 then now() end, $3)
         on conflict (masterclass_id) do update set
             post_opened_at = case when $2 then coalesce(test_windows.post_opened_at, now()) end,
             post_opened_by = $3, updated_at = now()",
        &[p(&masterclass_id), p(&open), p(&staff_id)],
    )
    .await
    .map_err(failed(format!(
        "changing the POST test window of masterclass {masterclass_id}"
    )))?;
    Ok(())
}

/// Starts the one attempt of `kind` of inscription `inscription_id`, answered on `channel`: its
/// id and time, or `None` if it was submitted before.
pub async fn start(
    db: &impl Db,
    inscription_id: Uuid,
    kind: ExamKind,
    max_score: i32,
    channel: Channel,
) -> Result<Option<(Uuid, OffsetDateTime)>> {
    db.opt(
        "insert into test_attempts (inscription_id, kind, max_score, channel) values ($1, $2, $3, $4)
         on conflict (inscription_id, kind) where not superseded do nothing
         returning id, submitted_at",
        &[p(&inscription_id), p(&kind.as_str()), p(&max_score), p(&channel.as_str())],
    )
    .await
    .map_err(failed(format!(
        "starting the {} attempt of inscription {inscription_id}",
        kind.as_str()
    )))?
    .map(|row| Ok((row.try_get("id")?, row.try_get("submitted_at")?)))
    .transpose()
}

/// Stores the answers of attempt `attempt_id` (question ids and letters, pairwise) in one
/// statement, and scores it; returns the score. Scoring someone else's attempt is a 403.
pub async fn answer_and_score(
    db: &impl Db,
    attempt_id: Uuid,
    question_ids: &[Uuid],
    choices: &[&str],
) -> Result<i32> {
    db.exec(
        "insert into test_answers (attempt_id, question_id, choice)
         select $1, q, c from unnest($2::uuid[], $3::text[]) as a(q, c)",
        &[p(&attempt_id), p(&question_ids), p(&choices)],
    )
    .await
    .map_err(failed(format!(
        "storing the answers of attempt {attempt_id}"
    )))?;
    let row = db
        .one("select score_test_attempt($1) as score", &[p(&attempt_id)])
        .await
        .map_err(|e| match e.code() {
            Some(code) if *code == SqlState::INSUFFICIENT_PRIVILEGE => Error::Forbidden,
            _ => failed(format!("scoring attempt {attempt_id}"))(e),
        })?;
    Ok(row.try_get("score")?)
}
