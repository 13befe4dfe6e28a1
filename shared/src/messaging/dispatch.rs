//! The dispatcher: delivers queued messages, none of them twice by accident.
//!
//! Every run has a deadline (the Lambda invocation's; `MESSAGES_RUN_SECS` from now for the
//! local timer), and a message moves through these states:
//!
//! ```text
//! queued ─claim─► claimed ─right before its HTTP call─► sending ─► sent | queued (retry) | failed | dead
//!    ▲               │ not started by the deadline             │ outcome unknown
//!    └──────────────┘ (handed back, never sent)                ▼
//!    ▲                                          in_doubt ─ask the provider─► sent (it has it)
//!    └──────────── not found: sent again, once ◄──┘  │         └─ not found twice ─► dead
//!                                                    └─ could not be asked, MESSAGES_MAX_LOOKUPS times ─► dead
//! ```
//!
//! 1. **Expire**: a `claimed` message whose claim outlived its run's deadline was never started
//!    (a run starts nothing it cannot finish in time), so it goes back to the queue. A `sending`
//!    one outlived the call its run was making: its outcome is unknown, so it is `in_doubt`.
//! 2. **Settle doubts**: a message `in_doubt` for `MESSAGES_DOUBT_SETTLE_SECS` is looked up at
//!    the provider. Found: `sent`, with the provider's id. Not found: queued again, once; a second
//!    doubt that is not found is `dead` for staff, never sent a third time. A lookup the
//!    provider cannot answer (a 404 or 401 for the chat, a timeout) is tried again by the next
//!    run, `MESSAGES_MAX_LOOKUPS` times at most; then the message is `dead`, with the reason.
//! 3. **Suppress** due messages to students who opted out, and **hold** those that would take
//!    their recipient past `MESSAGES_PER_RECIPIENT_PER_DAY` in 24 hours: `held` for staff, who
//!    see them in `/api/admin/messages?status=held` and may send one anyway (retry). A burst
//!    of registrations with one number cannot make the platform spam it (nor get the
//!    organisation's sender banned); replies in a chat test, which answer the number's own
//!    messages, are exempt.
//! 4. **Claim** with `FOR UPDATE SKIP LOCKED` only as many as the run can start before its
//!    deadline at `MESSAGES_PER_SECOND`, so concurrent dispatchers never share one.
//! 5. **Send** each: `sending` (and the attempt counted) right before its own HTTP call, then
//!    the outcome under the claim: `sent` with the provider's id, `queued` again later
//!    (exponential backoff with jitter), `dead` after the last attempt, `failed` for a permanent
//!    refusal, `in_doubt` when nobody knows. A run stops starting sends once less than
//!    `MESSAGES_SEND_TIMEOUT_SECS` (and a margin) is left, and hands back what it did not start.
//!
//! So a student gets a message at most twice, and only when a send's outcome was unknown and the
//! provider still did not list it after the settle delay (see `shared/src/messaging/README.md`).

use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::provider::{Provider, SendError};
use crate::{
    AppState,
    auth::Caller,
    db::{
        self,
        outbox::{SendOutcome, Settlement},
    },
    error::Result,
};

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub claimed: usize,
    pub sent: usize,
    pub retried: usize,
    pub failed: usize,
    pub dead: usize,
    pub suppressed: u64,
    /// Sends whose outcome became unknown in this run (timeouts after the request was written).
    pub in_doubt: usize,
    /// Messages a stopped run left `sending`: now in doubt, to be settled.
    pub orphaned: u64,
    /// Claimed messages no run started (this run's, at its deadline, or a stopped run's),
    /// handed back to the queue.
    pub released: u64,
    /// Messages in doubt that the provider turned out to have: recorded as sent.
    pub confirmed: usize,
    /// Messages in doubt that the provider did not have: queued to be sent again, once.
    pub resent: usize,
}

pub use db::outbox::Claimed;

/// Time kept back after a send's own timeout, to record its outcome before the deadline.
const RECORDING_MARGIN: Duration = Duration::from_secs(2);

/// Can a call of at most `timeout` still start and be recorded before `deadline`?
fn time_for_one_more(timeout: Duration, deadline: OffsetDateTime) -> bool {
    OffsetDateTime::now_utc() + timeout + RECORDING_MARGIN <= deadline
}

/// How many sends a run can start before `deadline`, at `per_second`, each taking at most
/// `timeout`: the last one must start `timeout` (and the margin) before the deadline.
pub fn capacity(per_second: u32, timeout: Duration, deadline: OffsetDateTime) -> i64 {
    let window = (deadline - OffsetDateTime::now_utc()) - timeout - RECORDING_MARGIN;
    if window.is_negative() {
        return 0;
    }
    // Truncating: a fraction of a send cannot start.
    #[allow(clippy::cast_possible_truncation)]
    let slots = (window.as_seconds_f64() * f64::from(per_second.max(1))).floor() as i64;
    slots.saturating_add(1)
}

/// Claims up to `limit` due messages for `claim_id` until `deadline` (and suppresses those to
/// opted-out students).
pub async fn claim(
    state: &AppState,
    claim_id: Uuid,
    limit: i64,
    deadline: OffsetDateTime,
) -> Result<(Vec<Claimed>, u64)> {
    let per_day = i64::from(state.config.messaging.per_recipient_per_day.get());
    db::transact(&state.db, &Caller::System, async |tx| {
        let suppressed = db::outbox::suppress_opted_out(tx).await?;
        let held = db::outbox::hold_over_limit(tx, per_day, None).await?;
        if held > 0 {
            tracing::warn!(
                held,
                "messages held: their recipients reached the daily limit"
            );
        }
        if limit <= 0 {
            return Ok((Vec::new(), suppressed));
        }
        Ok((
            db::outbox::claim(tx, claim_id, limit, deadline).await?,
            suppressed,
        ))
    })
    .await
}

/// Marks a claimed message `sending` and counts the attempt, right before its HTTP call.
/// Returns the attempt number, or `None` if the claim was lost meanwhile.
pub async fn start_sending(state: &AppState, claim_id: Uuid, id: Uuid) -> Result<Option<i32>> {
    db::transact(&state.db, &Caller::System, async |tx| {
        db::outbox::start_sending(tx, claim_id, id).await
    })
    .await
}

/// Hands the messages of `claim_id` that were never started back to the queue.
pub async fn release(state: &AppState, claim_id: Uuid) -> Result<u64> {
    db::transact(&state.db, &Caller::System, async |tx| {
        db::outbox::release(tx, claim_id).await
    })
    .await
}

/// The delay before retry number `attempts + 1`: base × 2^(attempts−1), at most an hour, ±20 %.
pub fn backoff(base: Duration, attempts: i32) -> Duration {
    let exponent = u32::try_from(attempts.saturating_sub(1))
        .unwrap_or(0)
        .min(16);
    let raw = base
        .saturating_mul(2u32.saturating_pow(exponent))
        .min(Duration::from_secs(3600));
    let jitter = rand::rng().random_range(0.8..1.2);
    raw.mul_f64(jitter)
}

enum Outcome {
    Sent,
    Retried,
    Failed,
    Dead,
    InDoubt,
}

async fn record(
    state: &AppState,
    claim_id: Uuid,
    message: &Claimed,
    attempts: i32,
    result: Result<String, SendError>,
) -> Result<Outcome> {
    let config = &state.config.messaging;
    let (outcome, recorded) = match &result {
        Ok(provider_id) => (Outcome::Sent, SendOutcome::Sent(provider_id)),
        Err(SendError::Permanent { reason }) => (Outcome::Failed, SendOutcome::Failed(reason)),
        Err(SendError::Unknown { reason }) => (Outcome::InDoubt, SendOutcome::InDoubt(reason)),
        Err(SendError::Transient { reason, .. }) if attempts >= config.max_attempts => {
            (Outcome::Dead, SendOutcome::GaveUp { attempts, reason })
        }
        Err(SendError::Transient {
            reason,
            retry_after,
        }) => {
            let delay = backoff(config.retry_base, attempts).max(retry_after.unwrap_or_default());
            (Outcome::Retried, SendOutcome::Retry(reason, delay))
        }
    };
    db::transact(&state.db, &Caller::System, async |tx| {
        db::outbox::record(tx, claim_id, message.id, &recorded).await
    })
    .await?;
    Ok(outcome)
}

/// Step 1: claims that outlived their run. Returns (handed back to the queue, now in doubt).
pub async fn expire_claims(state: &AppState) -> Result<(u64, u64)> {
    let (released, orphaned) = db::transact(&state.db, &Caller::System, async |tx| {
        db::outbox::expire_claims(tx).await
    })
    .await?;
    if orphaned > 0 {
        tracing::warn!(
            orphaned,
            "messages left sending by a stopped dispatcher are in doubt"
        );
    }
    Ok((released, orphaned))
}

/// Step 2: asks the provider about messages in doubt for longer than the settle delay.
async fn settle_doubts(
    state: &AppState,
    provider: &dyn Provider,
    deadline: OffsetDateTime,
    report: &mut Report,
) -> Result<()> {
    let config = &state.config.messaging;
    let doubts = db::transact(&state.db, &Caller::System, async |tx| {
        db::outbox::doubts(tx, config.doubt_settle, config.batch).await
    })
    .await?;
    for doubt in doubts {
        if !time_for_one_more(config.send_timeout, deadline) {
            break;
        }
        // A minute of slack for the provider's clock.
        let since =
            doubt.sending_at.unwrap_or(OffsetDateTime::UNIX_EPOCH) - time::Duration::minutes(1);
        let found = match provider.find(&doubt.to_number, &doubt.body, since).await {
            Ok(found) => found,
            Err(reason) => {
                tracing::warn!(message_id = %doubt.id, reason, "could not settle a message in doubt");
                let settlement = Settlement::Unanswered {
                    reason: &reason,
                    max: config.max_lookups,
                };
                let given_up = db::transact(&state.db, &Caller::System, async |tx| {
                    db::outbox::settle(tx, doubt.id, settlement).await
                })
                .await?;
                report.dead += given_up as usize;
                continue;
            }
        };
        let settlement = match (&found, doubt.resent_after_doubt) {
            (Some(provider_id), _) => Settlement::Found(provider_id),
            (None, false) => Settlement::Resend,
            (None, true) => Settlement::GiveUp,
        };
        let settled = db::transact(&state.db, &Caller::System, async |tx| {
            db::outbox::settle(tx, doubt.id, settlement).await
        })
        .await?;
        if settled == 0 {
            continue;
        }
        match (&found, doubt.resent_after_doubt) {
            (Some(_), _) => report.confirmed += 1,
            (None, false) => report.resent += 1,
            (None, true) => report.dead += 1,
        }
    }
    Ok(())
}

/// One dispatcher run, until the configured `MESSAGES_RUN_SECS` from now.
pub async fn run(state: &AppState, provider: &dyn Provider) -> Result<Report> {
    let deadline = OffsetDateTime::now_utc() + state.config.messaging.run_for;
    run_until(state, provider, deadline).await
}

/// One dispatcher run that starts no send it could not finish by `deadline`.
pub async fn run_until(
    state: &AppState,
    provider: &dyn Provider,
    deadline: OffsetDateTime,
) -> Result<Report> {
    let config = &state.config.messaging;
    let mut report = Report::default();
    (report.released, report.orphaned) = expire_claims(state).await?;
    settle_doubts(state, provider, deadline, &mut report).await?;
    let claim_id = Uuid::new_v4();
    let limit = capacity(config.per_second, config.send_timeout, deadline).min(config.batch);
    let (claimed, suppressed) = claim(state, claim_id, limit, deadline).await?;
    report.claimed = claimed.len();
    report.suppressed = suppressed;
    send_claimed(state, provider, claim_id, &claimed, deadline, &mut report).await?;
    if report != Report::default() {
        tracing::info!(provider = provider.name(), ?report, "dispatcher run");
    }
    Ok(report)
}

/// A short run for one number's due messages only (the next question of a test in the chat,
/// right after the reply): no expiry or doubt settling (the scheduled runs do those), the same
/// claim, send and record, so a message is still never sent twice by accident.
pub async fn run_to(
    state: &AppState,
    provider: &dyn Provider,
    number: &str,
    deadline: OffsetDateTime,
) -> Result<Report> {
    let config = &state.config.messaging;
    let mut report = Report::default();
    let claim_id = Uuid::new_v4();
    let limit = capacity(config.per_second, config.send_timeout, deadline).min(config.batch);
    if limit <= 0 {
        return Ok(report);
    }
    let per_day = i64::from(config.per_recipient_per_day.get());
    let claimed = db::transact(&state.db, &Caller::System, async |tx| {
        db::outbox::hold_over_limit(tx, per_day, Some(number)).await?;
        db::outbox::claim_to(tx, claim_id, number, limit, deadline).await
    })
    .await?;
    report.claimed = claimed.len();
    send_claimed(state, provider, claim_id, &claimed, deadline, &mut report).await?;
    Ok(report)
}

/// Sends what run `claim_id` claimed, paced, each recorded; hands back what it did not start.
async fn send_claimed(
    state: &AppState,
    provider: &dyn Provider,
    claim_id: Uuid,
    claimed: &[Claimed],
    deadline: OffsetDateTime,
    report: &mut Report,
) -> Result<()> {
    if claimed.is_empty() {
        return Ok(());
    }
    let config = &state.config.messaging;
    let pause = Duration::from_secs_f64(1.0 / f64::from(config.per_second.max(1)));
    let mut tried = 0;
    for (i, message) in claimed.iter().enumerate() {
        if i > 0 {
            tokio::time::sleep(pause).await;
        }
        if !time_for_one_more(config.send_timeout, deadline) {
            break;
        }
        tried += 1;
        let Some(attempts) = start_sending(state, claim_id, message.id).await? else {
            continue;
        };
        let result = provider.send(&message.to_number, &message.body).await;
        if let Err(e) = &result {
            tracing::warn!(message_id = %message.id, attempt = attempts, error = ?e, "send failed");
        }
        match record(state, claim_id, message, attempts, result).await? {
            Outcome::Sent => report.sent += 1,
            Outcome::Retried => report.retried += 1,
            Outcome::Failed => report.failed += 1,
            Outcome::Dead => report.dead += 1,
            Outcome::InDoubt => report.in_doubt += 1,
        }
    }
    // Every claimed message started (or lost its claim): nothing to hand back, and a statement
    // saved on the hot path of a test in the chat.
    if tried < claimed.len() {
        report.released += release(state, claim_id).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let base = Duration::from_secs(30);
        for (attempts, nominal) in [(1, 30.0), (2, 60.0), (3, 120.0), (20, 3600.0)] {
            let delay = backoff(base, attempts).as_secs_f64();
            assert!(
                (nominal * 0.8..=nominal * 1.2).contains(&delay),
                "attempt {attempts}: {delay}"
            );
        }
    }

    #[test]
    fn a_run_claims_only_what_it_can_start_before_its_deadline() {
        let now = OffsetDateTime::now_utc();
        let timeout = Duration::from_secs(10);
        // 60 s, of which 12 are kept for the last call: 48 s at 5 per second, plus the first.
        let sixty = capacity(5, timeout, now + Duration::from_secs(60));
        assert!((240..=241).contains(&sixty), "{sixty}");
        assert_eq!(capacity(5, timeout, now + Duration::from_secs(11)), 0);
        assert_eq!(capacity(5, timeout, now - Duration::from_secs(1)), 0);
        let just = capacity(1, timeout, now + Duration::from_millis(12_500));
        assert_eq!(just, 1, "time for the first send only");
    }
}
