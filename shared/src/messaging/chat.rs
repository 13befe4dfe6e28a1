//! PRE and POST tests taken inside WhatsApp, one question at a time (issue 17).
//!
//! A student sends `TEST` (or `QUIZ`, `PRE`, `POST`: see [`crate::domain::chat`]); the platform
//! opens a conversation on the test that is open for them and sends the instructions with the
//! first unanswered question of their own paper (the web's paper and choice order; the lines
//! are lettered A–D as shown, and a letter is turned back into the choice it stands for). Each
//! reply is stored once (by the provider's id) with the time the student sent it, and the
//! conversation is folded again from all its replies in that order: a late or repeated webhook
//! changes nothing that in-order delivery would not have. Each new reply gets one message: the
//! next question, or the same one with a short help; a late reply that moves nothing gets none.
//! When every question has an answer the test is submitted through [`exams::submit`]: the same
//! rules, scoring and result message as `POST /api/tests/{kind}`, in the webhook's transaction.
//!
//! Answers given so far are kept in `test_drafts` whatever the channel (the web's
//! `PUT /api/tests/{kind}/draft` too), so a test started in one place is finished in the other,
//! and one attempt is all there is. A silent conversation is reminded, then closed
//! ([`expire_due`], from the schedule); its answers stay until the test window closes.

use time::OffsetDateTime;
use uuid::Uuid;

use crate::outbox::{MessageType, Outgoing, enqueue, templates};
use crate::{
    AppState,
    auth::{Caller, StudentIdentity},
    db::{self, Transaction, chat::ChatTest},
    domain::{
        chat::{Given, Last, Reply, State, fold},
        exam::{Answers, Channel, Choice, ExamKind},
    },
    error::{Error, Result},
    services::exams::{self, Paper},
};

/// A student's message, as the webhook read it.
#[derive(Debug, Clone)]
pub struct Incoming<'a> {
    pub profile_id: Uuid,
    /// The sender's number (E.164).
    pub number: &'a str,
    pub message_id: &'a str,
    /// When the student sent it (the provider's timestamp).
    pub sent_at: OffsetDateTime,
    pub body: &'a str,
}

/// What a message did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Not about a test in the chat.
    Ignored,
    /// Applied to a conversation (started, answered, went back, was unclear...).
    Applied,
    /// Completed the test, which was submitted.
    Submitted,
}

/// Applies a student's new message (never one seen before: the webhook stores each once).
pub async fn on_message(tx: &Transaction<'_>, message: &Incoming<'_>) -> Result<Outcome> {
    let reply = Reply::parse(message.body);
    match db::chat::open_of(tx, message.profile_id).await? {
        // `PRE`/`POST` naming the other test: this one is left (its answers stay), that one opens.
        Some(chat)
            if matches!(reply, Reply::Start(Some(kind)) if kind != chat.kind)
                && message.sent_at >= chat.started_at =>
        {
            end(tx, &chat, "closed").await?;
            let Reply::Start(kind) = reply else {
                return Ok(Outcome::Ignored);
            };
            start(tx, message, kind).await
        }
        Some(chat) if message.sent_at >= chat.started_at => {
            db::chat::add_reply(
                tx,
                chat.id,
                message.message_id,
                message.sent_at,
                reply.as_str(),
            )
            .await?;
            advance(tx, &chat, Some(message.message_id)).await
        }
        // Sent before this conversation began: part of none.
        Some(_) => Ok(Outcome::Ignored),
        None => match reply {
            Reply::Start(kind) => start(tx, message, kind).await,
            _ => Ok(Outcome::Ignored),
        },
    }
}

/// The test `TEST` opens for a student: with a kind, that kind; without, POST once it is open,
/// else PRE. The masterclass nearest to now first.
async fn start(
    tx: &Transaction<'_>,
    message: &Incoming<'_>,
    wanted: Option<ExamKind>,
) -> Result<Outcome> {
    let now = OffsetDateTime::now_utc();
    let kinds: &[ExamKind] = match wanted {
        Some(ExamKind::Pre) => &[ExamKind::Pre],
        Some(ExamKind::Post) => &[ExamKind::Post],
        None => &[ExamKind::Post, ExamKind::Pre],
    };
    let candidates = db::chat::candidates(tx, message.profile_id).await?;
    let mut refusal = if candidates.is_empty() {
        Refusal::NotRegistered
    } else {
        Refusal::NoneOpen
    };
    for candidate in &candidates {
        let student = StudentIdentity {
            inscription_id: candidate.inscription_id,
            profile_id: message.profile_id,
            masterclass_id: candidate.masterclass_id,
        };
        for &kind in kinds {
            let taken = match kind {
                ExamKind::Pre => candidate.pre_taken || candidate.post_taken,
                ExamKind::Post => candidate.post_taken,
            };
            if taken {
                if refusal == Refusal::NoneOpen || refusal == Refusal::NotRegistered {
                    refusal = Refusal::Taken(kind);
                }
                continue;
            }
            match exams::check_window(tx, &student, kind, now).await {
                Ok(()) => return open(tx, message, &student, kind).await,
                Err(Error::Conflict { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
    }
    say(
        tx,
        message.number,
        message.profile_id,
        None,
        refusal.text(),
        format!("chat:{}", message.message_id),
    )
    .await?;
    Ok(Outcome::Applied)
}

/// Why `TEST` opened nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    NotRegistered,
    NoneOpen,
    Taken(ExamKind),
}

impl Refusal {
    fn text(self) -> String {
        match self {
            Self::NotRegistered => {
                "Nous ne trouvons aucune inscription à une masterclass pour ce numéro. \
                 Inscrivez-vous d'abord sur le site de la masterclass."
                    .into()
            }
            Self::NoneOpen => {
                "Aucun test n'est ouvert pour vous en ce moment : le test de début se passe \
                 avant la fin de la masterclass, le test de fin à partir de son début."
                    .into()
            }
            Self::Taken(kind) => format!(
                "Vous avez déjà passé le {} : un seul essai par test. Merci !",
                kind_name(kind)
            ),
        }
    }
}

fn kind_name(kind: ExamKind) -> &'static str {
    match kind {
        ExamKind::Pre => "test de début",
        ExamKind::Post => "test de fin",
    }
}

/// Opens a conversation on `kind` of `student`, carrying the answers already given.
async fn open(
    tx: &Transaction<'_>,
    message: &Incoming<'_>,
    student: &StudentIdentity,
    kind: ExamKind,
) -> Result<Outcome> {
    let drafts = db::chat::drafts(tx, student.inscription_id, kind).await?;
    let carried: serde_json::Map<String, serde_json::Value> = drafts
        .iter()
        .map(|d| {
            (
                d.question_id.to_string(),
                serde_json::json!([d.choice, rfc3339(d.answered_at)]),
            )
        })
        .collect();
    let created = db::chat::create(
        tx,
        student.inscription_id,
        student.profile_id,
        kind,
        message.sent_at,
        &serde_json::Value::Object(carried),
    )
    .await?;
    // One started at the same moment by another call: that call answered.
    if created.is_none() {
        return Ok(Outcome::Ignored);
    }
    let chat = db::chat::open_of(tx, student.profile_id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("the chat test just opened is not readable"))?;
    advance(tx, &chat, None).await
}

fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Runs `work` as the conversation's student (the paper and the submission go through the same
/// row-level security as the web's), then goes back to the platform's own claims.
async fn as_student<T>(
    tx: &Transaction<'_>,
    student: &StudentIdentity,
    work: impl AsyncFnOnce() -> Result<T>,
) -> Result<T> {
    db::act_as(tx, &Caller::Student(*student)).await?;
    let result = work().await;
    db::act_as(tx, &Caller::System).await?;
    result
}

/// Folds the conversation again after a new reply (`latest`, or `None` when it just started),
/// keeps its answers, and sends the one message it calls for; submits the test once complete.
async fn advance(tx: &Transaction<'_>, chat: &ChatTest, latest: Option<&str>) -> Result<Outcome> {
    let student = StudentIdentity {
        inscription_id: chat.inscription_id,
        profile_id: chat.profile_id,
        masterclass_id: chat.masterclass_id,
    };
    // The window may have closed (the masterclass ended, or was deleted) since it started.
    match exams::check_window(tx, &student, chat.kind, OffsetDateTime::now_utc()).await {
        Ok(()) => {}
        Err(Error::Conflict { .. } | Error::NotFound(_)) => {
            let text = format!(
                "Le {} est fermé : il ne peut plus être passé. Vos réponses n'ont pas été envoyées.",
                kind_name(chat.kind)
            );
            return close(tx, chat, latest, "closed", text).await;
        }
        Err(e) => return Err(e),
    }
    let paper = match as_student(tx, &student, async || {
        exams::paper(tx, &student, chat.kind).await
    })
    .await
    {
        Ok(paper) => paper,
        Err(Error::Conflict { .. } | Error::NotFound(_)) => {
            return close(tx, chat, latest, "closed", not_ready(chat.kind)).await;
        }
        Err(e) => return Err(e),
    };
    if let Some(done) = &paper.submitted {
        let text = format!(
            "Vous avez déjà passé le {} (score : {}/{}) : un seul essai par test.",
            kind_name(chat.kind),
            done.score,
            done.max_score
        );
        return close(tx, chat, latest, "closed", text).await;
    }
    let replies = db::chat::replies(tx, chat.id).await?;
    let parsed: Vec<(OffsetDateTime, Reply)> = replies
        .iter()
        .map(|(at, reply, _)| (*at, Reply::from_stored(reply)))
        .collect();
    let carried = carried(&chat.carried, &paper);
    let state = fold(carried.clone(), &parsed);
    // A reply that arrived after one the student sent later: a message only if it moved the
    // conversation (else the student would see the same question twice).
    let late = latest
        .and_then(|id| replies.iter().position(|(_, _, m)| m == id))
        .filter(|&i| i + 1 < replies.len());
    let worth_a_message = match late {
        None => true,
        Some(i) => {
            let mut without = parsed.clone();
            without.remove(i);
            fold(carried.clone(), &without).position != state.position
        }
    };
    keep_answers(tx, chat, &paper, &state).await?;
    if state.complete() {
        return submit(tx, chat, &student, &paper, latest).await;
    }
    if worth_a_message {
        ask(tx, chat, &paper, &state, latest).await?;
    }
    db::chat::touch(tx, chat.id).await?;
    Ok(Outcome::Applied)
}

fn not_ready(kind: ExamKind) -> String {
    format!(
        "Le {} n'est pas encore prêt : l'équipe prépare les questions. Réessayez plus tard en \
         répondant TEST.",
        kind_name(kind)
    )
}

/// The answers carried from the web, by paper index, as the letters shown in the chat.
fn carried(raw: &serde_json::Value, paper: &Paper) -> Vec<Option<Given>> {
    paper
        .questions
        .iter()
        .map(|question| {
            let entry = raw.get(question.id.to_string())?;
            let key = Choice::parse(entry.get(0)?.as_str()?)?;
            let at = OffsetDateTime::parse(
                entry.get(1)?.as_str()?,
                &time::format_description::well_known::Rfc3339,
            )
            .ok()?;
            let shown = question.choices.iter().position(|c| c.key == key)?;
            Some(Given {
                choice: Choice::ALL[shown],
                at,
            })
        })
        .collect()
}

/// The choice (its key) that letter `shown` stands for on question `index` of `paper`.
fn key_of(paper: &Paper, index: usize, shown: Choice) -> Option<Choice> {
    Some(paper.questions.get(index)?.choices.get(shown.index())?.key)
}

/// Keeps the answers given in the chat as draft answers (the web shows them), as this fold
/// has them: an answer an earlier fold put on another question (before a late reply was put
/// back in its place) is moved or dropped.
async fn keep_answers(
    tx: &Transaction<'_>,
    chat: &ChatTest,
    paper: &Paper,
    state: &State,
) -> Result<()> {
    let mut ids = Vec::new();
    let mut choices = Vec::new();
    let mut at = Vec::new();
    let answered: Vec<Uuid> = state
        .answers
        .iter()
        .zip(&paper.questions)
        .filter(|(given, _)| given.is_some())
        .map(|(_, question)| question.id)
        .collect();
    db::chat::drop_chat_drafts_except(tx, chat.inscription_id, chat.kind, &answered).await?;
    // Every answer the fold holds, the carried ones too: a late reply may have moved an answer
    // back onto a question whose draft an earlier fold had changed.
    for (index, given) in state.answers.iter().enumerate() {
        let Some(given) = given else { continue };
        let Some(key) = key_of(paper, index, given.choice) else {
            continue;
        };
        ids.push(paper.questions[index].id);
        choices.push(key.as_str());
        at.push(given.at);
    }
    if !ids.is_empty() {
        db::chat::save_drafts(
            tx,
            chat.inscription_id,
            chat.kind,
            &ids,
            &choices,
            &at,
            Channel::Chat.as_str(),
        )
        .await?;
    }
    Ok(())
}

/// Submits the completed test: the draft answers (each the newest given, in the chat or on the
/// web) through the web route's own function.
async fn submit(
    tx: &Transaction<'_>,
    chat: &ChatTest,
    student: &StudentIdentity,
    paper: &Paper,
    latest: Option<&str>,
) -> Result<Outcome> {
    let drafts = db::chat::drafts(tx, chat.inscription_id, chat.kind).await?;
    let answers = Answers(
        drafts
            .iter()
            .filter(|d| paper.questions.iter().any(|q| q.id == d.question_id))
            .filter_map(|d| Some((d.question_id, Choice::parse(&d.choice)?)))
            .collect(),
    );
    let now = OffsetDateTime::now_utc();
    let submitted = as_student(tx, student, async || {
        exams::submit(tx, student, chat.kind, &answers, now, Channel::Chat).await
    })
    .await;
    match submitted {
        Ok(_) => {
            end(tx, chat, "submitted").await?;
            Ok(Outcome::Submitted)
        }
        Err(Error::NotFound(_)) => {
            let text = format!(
                "Le {} est fermé : vos réponses n'ont pas pu être envoyées.",
                kind_name(chat.kind)
            );
            close(tx, chat, latest, "closed", text).await?;
            Ok(Outcome::Applied)
        }
        Err(Error::Conflict { code, .. }) => {
            let text = match code {
                "already_submitted" => format!(
                    "Vous avez déjà passé le {} : un seul essai par test.",
                    kind_name(chat.kind)
                ),
                _ => format!(
                    "Le {} est fermé : vos réponses n'ont pas pu être envoyées.",
                    kind_name(chat.kind)
                ),
            };
            close(tx, chat, latest, "closed", text).await?;
            Ok(Outcome::Applied)
        }
        Err(e) => Err(e),
    }
}

/// Ends the conversation for `reason`; a question still queued for it is not sent.
async fn end(tx: &Transaction<'_>, chat: &ChatTest, reason: &str) -> Result<()> {
    db::chat::end(tx, chat.id, reason).await?;
    db::outbox::supersede_queued(tx, chat.inscription_id, MessageType::TestQuestion.as_str())
        .await?;
    Ok(())
}

/// Ends the conversation for `reason`, telling the student `text`.
async fn close(
    tx: &Transaction<'_>,
    chat: &ChatTest,
    latest: Option<&str>,
    reason: &str,
    text: String,
) -> Result<Outcome> {
    end(tx, chat, reason).await?;
    let key = match latest {
        Some(id) => format!("chat:{id}"),
        None => format!("chat:{}:{reason}", chat.id),
    };
    tell(tx, chat, text, key).await?;
    Ok(Outcome::Applied)
}

/// Queues a free text of the conversation.
/// [`say`] to the student of conversation `chat`, about its registration.
async fn tell(tx: &Transaction<'_>, chat: &ChatTest, text: String, key: String) -> Result<()> {
    say(
        tx,
        &chat.to_number,
        chat.profile_id,
        Some(chat.inscription_id),
        text,
        key,
    )
    .await
}

async fn say(
    tx: &Transaction<'_>,
    to: &str,
    profile_id: Uuid,
    inscription_id: Option<Uuid>,
    text: String,
    dedupe_key: String,
) -> Result<()> {
    enqueue(
        tx,
        &Outgoing {
            message_type: MessageType::TestChat,
            inscription_id,
            profile_id: Some(profile_id),
            to_number: to,
            data: serde_json::json!({ "text": text }),
            dedupe_key,
        },
    )
    .await?;
    Ok(())
}

// `ask` and `submit` take much the same arguments (the transaction, the conversation, the
// paper, the latest reply): the two things a reply can lead to, one more question or the test
// handed in.
/// Queues the question the conversation is at, after a line on what the last reply did.
async fn ask(
    tx: &Transaction<'_>,
    chat: &ChatTest,
    paper: &Paper,
    state: &State,
    latest: Option<&str>,
) -> Result<()> {
    let Some(index) = state.position else {
        return Ok(());
    };
    let question = paper.questions.get(index).ok_or_else(|| {
        anyhow::anyhow!("question {index} of a paper of {}", paper.questions.len())
    })?;
    let intro = match state.last {
        Last::Started => {
            let given = state.answers.iter().filter(|a| a.is_some()).count();
            let kept = if given > 0 {
                format!(" Vos {given} réponses déjà données sont gardées.")
            } else {
                String::new()
            };
            format!(
                "Bonjour {} ! Voici le {} de la masterclass « {} » : {} questions, une à la fois. \
                 Répondez à chacune par la lettre de votre choix (A, B, C ou D). RETOUR revient à la \
                 question précédente pour changer votre réponse ; STOP arrête les messages.{kept}\n\n",
                templates::first_name(&chat.full_name),
                kind_name(chat.kind),
                chat.masterclass_title,
                paper.questions.len(),
            )
        }
        Last::Answered => "Réponse enregistrée.\n\n".into(),
        Last::Back(true) => match state.answers[index] {
            Some(given) => format!(
                "Question précédente : votre réponse actuelle est {}. Envoyez une lettre pour la \
                 changer.\n\n",
                given.choice.as_str()
            ),
            None => "Question précédente.\n\n".into(),
        },
        Last::Back(false) => "Vous êtes déjà à la première question.\n\n".into(),
        Last::Resumed => "Reprenons où vous en étiez.\n\n".into(),
        Last::Unclear => {
            "Je n'ai pas compris votre réponse. Répondez seulement par une lettre : A, B, C \
             ou D (ou RETOUR pour revenir en arrière).\n\n"
                .into()
        }
    };
    let choices: Vec<String> = question
        .choices
        .iter()
        .zip(Choice::ALL)
        .map(|(choice, shown)| format!("{}. {}", shown.as_str(), choice.text))
        .collect();
    let key = match latest {
        Some(id) => format!("chat:{id}"),
        None => format!("chat:{}:start", chat.id),
    };
    // A question still queued was answered before it went out (the student typed ahead, or
    // one webhook call carried several replies): this one replaces it.
    db::outbox::supersede_queued(tx, chat.inscription_id, MessageType::TestQuestion.as_str())
        .await?;
    enqueue(
        tx,
        &Outgoing {
            message_type: MessageType::TestQuestion,
            inscription_id: Some(chat.inscription_id),
            profile_id: Some(chat.profile_id),
            to_number: &chat.to_number,
            data: serde_json::json!({
                "intro": intro,
                "numero": index + 1,
                "total": paper.questions.len(),
                "question": question.text,
                "choix": choices.join("\n"),
            }),
            dedupe_key: key,
        },
    )
    .await?;
    Ok(())
}

/// Sends what the webhook call just queued for `numbers` (the next question), without waiting
/// for the scheduled dispatcher: a short run of the same dispatcher restricted to each number,
/// sized for a send or two, so the student reads the next question within a second or so. A
/// failure is only logged: the messages stay queued and the scheduled run sends them.
pub async fn send_now(state: &AppState, numbers: &[String]) {
    let config = &state.config.messaging;
    // Without a provider token this process only logs messages (marking them sent): leave them
    // queued for the dispatcher, which has the token.
    if config.whapi_token.is_none() {
        return;
    }
    for number in numbers {
        let deadline = OffsetDateTime::now_utc()
            + config.send_timeout
            + std::time::Duration::from_millis(2300);
        let sent = super::dispatch::run_to(state, state.messenger.as_ref(), number, deadline).await;
        if let Err(e) = sent {
            tracing::warn!(error = ?e, "sending the next question at once failed; the schedule will");
        }
    }
}

/// What a scheduled run did to conversations.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct Expiry {
    pub reminded: u64,
    pub expired: u64,
    /// PRE tests of masterclasses that ended while their conversation was open.
    pub closed: u64,
    pub drafts_dropped: u64,
}

/// Reminds the conversations silent for a while, closes those silent too long (their answers
/// stay: `TEST` resumes), and drops the draft answers of tests whose window closed.
pub async fn expire_due(state: &AppState) -> Result<Expiry> {
    let config = &state.config.messaging;
    db::transact(&state.db, &Caller::System, async |tx| {
        let mut done = Expiry::default();
        for due in db::chat::due(
            tx,
            config.chat_expires_after,
            config.chat_reminder_before,
            500,
        )
        .await?
        {
            let chat = &due.chat;
            if db::attempts::scored(tx, chat.inscription_id, chat.kind)
                .await?
                .is_some()
            {
                // Submitted on the web meanwhile: nothing to remind of.
                end(tx, chat, "closed").await?;
                continue;
            }
            let kind = kind_name(chat.kind);
            let (text, key) = if due.closed {
                end(tx, chat, "closed").await?;
                done.closed += 1;
                (
                    format!(
                        "Le {kind} est fermé (la masterclass est terminée) : il ne peut plus être passé."
                    ),
                    format!("chat-closed:{}", chat.id),
                )
            } else if due.expired {
                end(tx, chat, "expired").await?;
                done.expired += 1;
                (
                    format!(
                        "Votre {kind} est mis en pause faute de réponse. Vos réponses sont gardées : \
                         répondez TEST pour le reprendre où vous en étiez."
                    ),
                    format!("chat-expired:{}", chat.id),
                )
            } else {
                db::chat::reminded(tx, chat.id).await?;
                done.reminded += 1;
                (
                    format!(
                        "Votre {kind} vous attend : répondez à la dernière question reçue pour \
                         continuer (ou TEST pour la recevoir à nouveau)."
                    ),
                    // One reminder per silence: a reply moves `active_at`.
                    format!(
                        "chat-reminder:{}:{}",
                        chat.id,
                        due.active_at.unix_timestamp_nanos() / 1000
                    ),
                )
            };
            tell(tx, chat, text, key).await?;
        }
        done.drafts_dropped = db::chat::drop_closed_drafts(tx).await?;
        Ok(done)
    })
    .await
}

/// Staff end a student's open conversation (one stuck, or to start afresh); the answers given
/// so far stay. Returns the conversation ended, if one was open.
pub async fn reset(tx: &Transaction<'_>, profile_id: Uuid) -> Result<Option<Uuid>> {
    let Some(chat) = db::chat::open_of(tx, profile_id).await? else {
        return Ok(None);
    };
    end(tx, &chat, "reset").await?;
    let text = format!(
        "Votre {} en cours a été réinitialisé par l'équipe. Vos réponses sont gardées : répondez \
         TEST pour le reprendre.",
        kind_name(chat.kind)
    );
    tell(tx, &chat, text, format!("chat-reset:{}", chat.id)).await?;
    crate::services::audit(
        tx,
        "chat_test.reset",
        "inscription",
        chat.inscription_id,
        serde_json::json!({ "chat_test_id": chat.id, "kind": chat.kind.as_str() }),
    )
    .await?;
    Ok(Some(chat.id))
}
