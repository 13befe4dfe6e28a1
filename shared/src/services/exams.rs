//! PRE and POST exams (the students' "tests"): the paper a student sees, submission, and scoring on the server.
//!
//! Rules: the paper is 10 approved questions of the masterclass, picked once per student and
//! the same for PRE and POST, choices in a per-student order, never with the correct answer.
//! One attempt per kind. PRE until the masterclass ends; POST once it has started, or earlier
//! when staff open it. Answers must cover exactly the paper, each A–D. The score is computed by
//! the database from keys the student's transaction cannot read, and a result message is queued
//! in the same transaction.
//!
//! Service functions share a shape across `services/`: look the record
//! up (a 404 when the caller may not see it), change it through `db`, log it, and `audit` it in
//! the same transaction, one statement a step so that the order reads as the rule. Request and
//! answer types are flat structs whose fields are the contract (an optional filter a field, a
//! timestamp with its `rfc3339` attribute), so two of them read alike. What differs (the record,
//! the rule, the audit action, the fields) is the content of each.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{
    auth::StudentIdentity,
    db::{self, Transaction},
    domain::exam::{Answers, Channel, Choice, ExamKind, PAPER_SIZE, choice_order},
    error::{Error, Result},
    outbox::{self, MessageType, Outgoing, templates},
};

/// One choice as shown: its letter (what to answer with) and its text.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct PaperChoice {
    pub key: Choice,
    pub text: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct PaperQuestion {
    pub id: Uuid,
    pub text: String,
    /// In this student's order.
    pub choices: Vec<PaperChoice>,
}

/// The test a student takes.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Paper {
    pub kind: ExamKind,
    pub max_score: i32,
    pub questions: Vec<PaperQuestion>,
    /// The result, once this kind was submitted.
    pub submitted: Option<Attempt>,
    /// The answers given so far and not yet submitted (on the web with
    /// `PUT /api/tests/{kind}/draft`, or in the WhatsApp chat): a test started in one place is
    /// finished in the other.
    #[schema(value_type = BTreeMap<String, Choice>)]
    pub draft: BTreeMap<Uuid, Choice>,
}

/// A scored attempt.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Attempt {
    pub kind: ExamKind,
    pub score: i32,
    pub max_score: i32,
    #[serde(with = "crate::rfc3339")]
    pub submitted_at: OffsetDateTime,
    /// For POST: the PRE score and the gain, when the PRE test was taken.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub pre_score: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub gain: Option<i32>,
}

const MAX_SCORE: i32 = PAPER_SIZE as i32;

/// The student's paper question ids, picking them on first use.
async fn paper_ids(tx: &Transaction<'_>) -> Result<Vec<Uuid>> {
    let ids = db::attempts::paper(tx, PAPER_SIZE).await?;
    ids.ok_or_else(|| Error::Conflict {
        code: "not_enough_questions",
        detail: format!(
            "the test is not ready: this masterclass needs at least {PAPER_SIZE} approved questions; \
             staff are preparing them"
        ),
    })
}

/// A scored attempt of `kind`, if any.
pub async fn attempt(
    tx: &Transaction<'_>,
    inscription_id: Uuid,
    kind: ExamKind,
) -> Result<Option<Attempt>> {
    Ok(db::attempts::scored(tx, inscription_id, kind).await?.map(
        |(score, max_score, submitted_at)| Attempt {
            kind,
            score,
            max_score,
            submitted_at,
            pre_score: None,
            gain: None,
        },
    ))
}

/// Both attempts, with the gain on POST when there is a PRE.
pub async fn results(
    tx: &Transaction<'_>,
    inscription_id: Uuid,
) -> Result<(Option<Attempt>, Option<Attempt>)> {
    let pre = attempt(tx, inscription_id, ExamKind::Pre).await?;
    let post = attempt(tx, inscription_id, ExamKind::Post)
        .await?
        .map(|mut post| {
            if let Some(pre) = &pre {
                post.pre_score = Some(pre.score);
                post.gain = Some(post.score - pre.score);
            }
            post
        });
    Ok((pre, post))
}

/// The paper of `kind` for the student.
pub async fn paper(
    tx: &Transaction<'_>,
    student: &StudentIdentity,
    kind: ExamKind,
) -> Result<Paper> {
    let ids = paper_ids(tx).await?;
    let texts = db::attempts::paper_texts(tx, &ids).await?;
    let mut questions = Vec::with_capacity(ids.len());
    for id in &ids {
        let question = texts
            .iter()
            .find(|q| q.id == *id)
            .ok_or_else(|| anyhow::anyhow!("question {id} of a paper is not readable"))?;
        let choices = choice_order(student.inscription_id, *id)
            .into_iter()
            .map(|key| PaperChoice {
                key,
                text: question.choices[key.index()].clone(),
            })
            .collect();
        questions.push(PaperQuestion {
            id: *id,
            text: question.text.clone(),
            choices,
        });
    }
    let (pre, post) = results(tx, student.inscription_id).await?;
    let submitted = match kind {
        ExamKind::Pre => pre,
        ExamKind::Post => post,
    };
    let draft = if submitted.is_some() {
        BTreeMap::new()
    } else {
        draft(tx, student.inscription_id, kind, &ids).await?
    };
    Ok(Paper {
        kind,
        max_score: MAX_SCORE,
        questions,
        submitted,
        draft,
    })
}

/// The draft answers of a test that are on its paper `ids`.
async fn draft(
    tx: &Transaction<'_>,
    inscription_id: Uuid,
    kind: ExamKind,
    ids: &[Uuid],
) -> Result<BTreeMap<Uuid, Choice>> {
    Ok(db::chat::drafts(tx, inscription_id, kind)
        .await?
        .into_iter()
        .filter(|d| ids.contains(&d.question_id))
        .filter_map(|d| Some((d.question_id, Choice::parse(&d.choice)?)))
        .collect())
}

/// Keeps some answers of a test not yet submitted (the web's draft): each replaces an earlier
/// answer to its question. Returns the draft as it now stands.
pub async fn save_draft(
    tx: &Transaction<'_>,
    student: &StudentIdentity,
    kind: ExamKind,
    answers: &Answers,
    now: OffsetDateTime,
) -> Result<BTreeMap<Uuid, Choice>> {
    check_window(tx, student, kind, now).await?;
    // The paper as drawn when it was shown (a refused draft must change nothing, not even draw
    // one): before that, no question is the student's.
    let ids = db::attempts::drawn_paper(tx, student.inscription_id)
        .await?
        .unwrap_or_default();
    let strangers: Vec<_> = answers
        .0
        .keys()
        .filter(|id| !ids.contains(id))
        .map(|id| {
            crate::error::FieldError::new(
                format!("answers.{id}"),
                "is not a question of your paper",
            )
        })
        .collect();
    if !strangers.is_empty() {
        return Err(Error::Validation(strangers));
    }
    if attempt(tx, student.inscription_id, kind).await?.is_some() {
        return Err(already_submitted(kind));
    }
    let question_ids: Vec<Uuid> = answers.0.keys().copied().collect();
    let choices: Vec<&str> = answers.0.values().map(|c| c.as_str()).collect();
    let at = vec![now; question_ids.len()];
    db::chat::save_drafts(
        tx,
        student.inscription_id,
        kind,
        &question_ids,
        &choices,
        &at,
        Channel::Web.as_str(),
    )
    .await?;
    draft(tx, student.inscription_id, kind, &ids).await
}

fn already_submitted(kind: ExamKind) -> Error {
    Error::Conflict {
        code: "already_submitted",
        detail: format!(
            "the {} test was already submitted: one attempt per test",
            kind.as_str()
        ),
    }
}

/// Checks the time rules for submitting `kind` now.
pub async fn check_window(
    tx: &Transaction<'_>,
    student: &StudentIdentity,
    kind: ExamKind,
    now: OffsetDateTime,
) -> Result<()> {
    let masterclass = db::masterclasses::find(tx, student.masterclass_id, false)
        .await?
        .ok_or(Error::NotFound("masterclass"))?;
    match kind {
        ExamKind::Pre if now >= masterclass.ends_at => Err(Error::Conflict {
            code: "pre_test_closed",
            detail: "the PRE test closes when the masterclass ends".into(),
        }),
        ExamKind::Post if now < masterclass.starts_at => {
            let opened = db::attempts::post_opened_at(tx, student.masterclass_id).await?;
            if opened.is_some() {
                Ok(())
            } else {
                Err(Error::Conflict {
                    code: "post_test_not_open",
                    detail:
                        "the POST test opens when the masterclass starts (or when staff open it)"
                            .into(),
                })
            }
        }
        _ => Ok(()),
    }
}

/// Stores, scores and announces an attempt answered on `channel`; its draft answers go.
pub async fn submit(
    tx: &Transaction<'_>,
    student: &StudentIdentity,
    kind: ExamKind,
    answers: &Answers,
    now: OffsetDateTime,
    channel: Channel,
) -> Result<Attempt> {
    check_window(tx, student, kind, now).await?;
    let ids = paper_ids(tx).await?;
    answers.check_against(&ids)?;
    let (attempt_id, submitted_at) =
        db::attempts::start(tx, student.inscription_id, kind, MAX_SCORE, channel)
            .await?
            .ok_or_else(|| already_submitted(kind))?;
    db::chat::clear_drafts(tx, student.inscription_id, kind).await?;
    let question_ids: Vec<Uuid> = answers.0.keys().copied().collect();
    let choices: Vec<&str> = answers.0.values().map(|c| c.as_str()).collect();
    let score = db::attempts::answer_and_score(tx, attempt_id, &question_ids, &choices).await?;
    let (_, post) = results(tx, student.inscription_id).await?;
    let result = match kind {
        ExamKind::Pre => Attempt {
            kind,
            score,
            max_score: MAX_SCORE,
            submitted_at,
            pre_score: None,
            gain: None,
        },
        ExamKind::Post => {
            post.ok_or_else(|| anyhow::anyhow!("the POST attempt just scored is not readable"))?
        }
    };
    queue_result_message(tx, student, &result, attempt_id).await?;
    tracing::info!(inscription_id = %student.inscription_id, kind = kind.as_str(), channel = channel.as_str(), score, "test submitted");
    Ok(result)
}

async fn queue_result_message(
    tx: &Transaction<'_>,
    student: &StudentIdentity,
    result: &Attempt,
    attempt_id: Uuid,
) -> Result<()> {
    let to = db::inscriptions::addressee(tx, student.inscription_id).await?;
    let mut data = serde_json::json!({
        "prenom": templates::first_name(&to.full_name),
        "masterclass": to.masterclass_title,
        "date": templates::french_date(to.starts_at),
        "score": result.score,
        "max_score": result.max_score,
    });
    let message_type = match result.kind {
        ExamKind::Pre => MessageType::PreTestResult,
        ExamKind::Post => {
            data["pre_score"] = result
                .pre_score
                .map_or_else(|| "—".into(), |s| s.to_string())
                .into();
            data["gain"] = result
                .gain
                .map_or_else(|| "—".into(), templates::signed)
                .into();
            MessageType::PostTestResult
        }
    };
    outbox::enqueue(
        tx,
        &Outgoing {
            message_type,
            inscription_id: Some(student.inscription_id),
            profile_id: Some(student.profile_id),
            to_number: &to.whatsapp_number,
            data,
            dedupe_key: format!("{}:{attempt_id}", message_type.as_str()),
        },
    )
    .await?;
    Ok(())
}

/// Staff open (or close again) the POST test of a masterclass before it starts.
pub async fn set_post_open(
    tx: &Transaction<'_>,
    masterclass_id: Uuid,
    staff_id: Uuid,
    open: bool,
) -> Result<()> {
    db::masterclasses::find(tx, masterclass_id, false)
        .await?
        .ok_or(Error::NotFound("masterclass"))?;
    db::attempts::set_post_open(tx, masterclass_id, staff_id, open).await?;
    tracing::info!(masterclass_id = %masterclass_id, open, "POST test window changed");
    super::audit(
        tx,
        "masterclass.post_test_window",
        "masterclass",
        masterclass_id,
        serde_json::json!({ "open": open }),
    )
    .await?;
    Ok(())
}
