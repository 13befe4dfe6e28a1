//! What the provider reports back: delivery statuses of our messages, and messages students
//! send us (`STOP`/`ARRET` opts them out, `START`/`REPRENDRE` back in).
//!
//! Statuses only move a message forward (queued < sending < sent < delivered < read; `failed`
//! only before delivery), so duplicated and out-of-order events are harmless. A status for a
//! message we do not know is kept in `webhook_events` and answered normally, so the provider
//! stops retrying.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use super::chat;
use crate::{
    AppState,
    auth::Caller,
    db,
    error::{Error, Result},
};

/// Whapi's webhook body: the parts the platform reads (anything else is accepted and kept in
/// the raw payload). Either list may be absent.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"messages": [{"id": "wamid.HBgM", "from_me": false, "from": "24106612345",
    "chat_id": "24106612345@s.whatsapp.net", "text": {"body": "STOP"}, "timestamp": 1796640000}],
    "statuses": [{"id": "wamid.HBgL", "status": "delivered"}]}))]
pub struct WhapiEvent {
    /// Messages on the channel's chats; those `from_me` (our own, echoed) are skipped.
    #[serde(default)]
    pub messages: Vec<WhapiMessage>,
    /// Delivery statuses of messages we sent.
    #[serde(default)]
    pub statuses: Vec<WhapiStatus>,
}

/// One message a student sent us.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
pub struct WhapiMessage {
    /// Whapi's id of the message: a message delivered twice is stored once.
    pub id: String,
    /// True for our own messages, which Whapi reports too (skipped).
    #[serde(default)]
    pub from_me: bool,
    /// The sender's number, digits with the country code (`24106612345`).
    pub from: Option<String>,
    /// The chat (`24106612345@s.whatsapp.net`): the sender's number when `from` is absent.
    pub chat_id: Option<String>,
    /// The text of a text message; other kinds (images, voice) have none and are stored only.
    pub text: Option<WhapiText>,
    /// When the student sent it (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<i64>,
}

/// A text message's content.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
pub struct WhapiText {
    /// What the student wrote: `STOP`/`ARRET`, `START`/`REPRENDRE`, or a reply in a chat test.
    pub body: String,
}

/// A delivery status of one of our messages.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
pub struct WhapiStatus {
    /// Whapi's id of our message (as its send answered).
    pub id: String,
    /// `pending`/`sent`/`server`, `delivered`/`device`, `read`/`played`, or `failed`/`error`
    /// (others are accepted and change nothing).
    pub status: String,
}

/// What a webhook call changed.
#[derive(Debug, Default, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Handled {
    pub statuses_applied: u64,
    pub statuses_unknown: u64,
    pub messages_stored: u64,
    pub opted_out: u64,
    /// Students who sent START after a STOP.
    pub opted_in: u64,
    /// Messages applied to a test taken in the chat (a start, an answer, a RETOUR...).
    pub test_replies: u64,
    /// Tests completed in the chat, and so submitted.
    pub tests_submitted: u64,
    /// The numbers with a test in the chat going on (to send their next question at once).
    #[serde(skip)]
    pub chatting: Vec<String>,
}

/// Our status for a provider status, if it is one we track.
fn our_status(theirs: &str) -> Option<&'static str> {
    match theirs {
        "pending" | "sent" | "server" => Some("sent"),
        "delivered" | "device" => Some("delivered"),
        "read" | "played" => Some("read"),
        "failed" | "error" => Some("failed"),
        _ => None,
    }
}

/// What a student's message asks of their subscription, if anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keyword {
    /// Stop every message (`STOP`, `ARRET`, ...).
    Stop,
    /// Messages again, after a STOP (`START`, `REPRENDRE`, ...). Only the number's own message
    /// lifts an opt-out: a registration, whoever sends it, never does.
    Start,
}

/// The keyword a message is, if it is one (alone, any case, a trailing `.` or `!` allowed).
pub fn keyword(body: &str) -> Option<Keyword> {
    let word = body.trim().trim_end_matches(['.', '!']).to_uppercase();
    match word.as_str() {
        "STOP" | "ARRET" | "ARRÊT" | "STOPP" | "UNSUBSCRIBE" | "DÉSINSCRIRE" | "DESINSCRIRE" => {
            Some(Keyword::Stop)
        }
        "START" | "REPRENDRE" | "DEMARRER" | "DÉMARRER" | "SUBSCRIBE" => Some(Keyword::Start),
        _ => None,
    }
}

/// The sender's number in E.164, from `from` (`24106612345`) or `chat_id` (`...@s.whatsapp.net`).
fn sender(message: &WhapiMessage) -> Option<String> {
    let raw = message
        .from
        .as_deref()
        .or_else(|| message.chat_id.as_deref()?.split('@').next())?;
    let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
    (7..=15)
        .contains(&digits.len())
        .then(|| format!("+{digits}"))
}

/// Applies one webhook call, in one transaction.
pub async fn handle(state: &AppState, payload: Value) -> Result<Handled> {
    let event: WhapiEvent = serde_json::from_value(payload.clone())
        .map_err(|e| Error::field("body", format!("not a Whapi event: {e}")))?;
    db::transact(&state.db, &Caller::System, async |tx| {
        let mut handled = Handled::default();
        for status in &event.statuses {
            let Some(ours) = our_status(&status.status) else {
                continue;
            };
            let applied = db::outbox::apply_status(tx, &status.id, ours).await?;
            if applied > 0 {
                handled.statuses_applied += applied;
                continue;
            }
            let known = db::outbox::sent_as(tx, &status.id).await?;
            if !known {
                db::webhooks::record_unplaced(
                    tx,
                    "unknown_status",
                    &serde_json::to_value(status).map_err(anyhow::Error::from)?,
                )
                .await?;
                handled.statuses_unknown += 1;
            }
        }
        for message in event.messages.iter().filter(|m| !m.from_me) {
            let Some(number) = sender(message) else {
                continue;
            };
            let profile = db::inscriptions::profile_of(tx, &number).await?;
            let body = message.text.as_ref().map(|t| t.body.clone());
            let stored = db::webhooks::store_incoming(
                tx,
                &message.id,
                profile,
                &number,
                body.as_deref(),
                &serde_json::to_value(message).map_err(anyhow::Error::from)?,
            )
            .await?;
            handled.messages_stored += stored;
            // A redelivered message (already stored) changes nothing again.
            let (Some(profile), Some(text), 1) = (profile, body.as_deref(), stored) else {
                continue;
            };
            let Some(keyword) = keyword(text) else {
                let sent_at = message
                    .timestamp
                    .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok())
                    .unwrap_or_else(OffsetDateTime::now_utc);
                let incoming = chat::Incoming {
                    profile_id: profile,
                    number: &number,
                    message_id: &message.id,
                    sent_at,
                    body: text,
                };
                // One message's test going wrong (a bug, a row gone) must not undo the rest
                // of the call (statuses, STOPs, other students' replies), nor fail every
                // redelivery of it: it is logged and skipped. Unavailability still fails the
                // call, for the provider to retry.
                db::savepoint(tx, "chat_message").await?;
                let outcome = match chat::on_message(tx, &incoming).await {
                    Ok(outcome) => {
                        db::release(tx, "chat_message").await?;
                        outcome
                    }
                    Err(e) if e.is_unavailable() => return Err(e),
                    Err(e) => {
                        db::rollback_to(tx, "chat_message").await?;
                        tracing::error!(error = ?e, message_id = %message.id, "a reply to a test in the chat could not be applied; skipped");
                        continue;
                    }
                };
                match outcome {
                    chat::Outcome::Ignored => continue,
                    chat::Outcome::Applied => handled.test_replies += 1,
                    chat::Outcome::Submitted => {
                        handled.test_replies += 1;
                        handled.tests_submitted += 1;
                    }
                }
                if !handled.chatting.contains(&number) {
                    handled.chatting.push(number.clone());
                }
                continue;
            };
            match keyword {
                Keyword::Stop => {
                    // A test being taken in the chat stops too (its answers stay).
                    db::chat::end_of_profile(tx, profile, "stopped").await?;
                    let changed = db::inscriptions::set_opted_out(tx, profile, true).await?;
                    if changed > 0 {
                        db::privacy::record_number_consent(tx, profile, false).await?;
                    }
                    handled.opted_out += changed;
                    // What waits in the queue stops now too, not at the next dispatcher run.
                    db::outbox::suppress_queued_to(tx, &number).await?;
                    tracing::info!(profile_id = %profile, "student opted out of WhatsApp messages");
                }
                Keyword::Start => {
                    let changed = db::inscriptions::set_opted_out(tx, profile, false).await?;
                    if changed > 0 {
                        db::privacy::record_number_consent(tx, profile, true).await?;
                    }
                    handled.opted_in += changed;
                    tracing::info!(profile_id = %profile, "student opted in to WhatsApp messages again");
                }
            }
        }
        Ok(handled)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_and_start_words_in_french_and_english_are_keywords() {
        for body in ["STOP", " stop ", "Arrêt", "ARRET", "arret!", "Stop."] {
            assert_eq!(keyword(body), Some(Keyword::Stop), "{body}");
        }
        for body in ["START", "start", "Reprendre.", "démarrer!"] {
            assert_eq!(keyword(body), Some(Keyword::Start), "{body}");
        }
        for body in ["Stop le spam svp", "merci", "arrêter ?", "start again"] {
            assert_eq!(keyword(body), None, "{body}");
        }
    }
}
