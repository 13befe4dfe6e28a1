//! The dispatcher: delivers queued messages, each exactly once.
//!
//! A run (1) buries messages left `sending` past the lease by a dispatcher that died mid-send,
//! as `dead` with an explanation and without resending them: the provider has no idempotency
//! key, so a resend could be a duplicate, and staff decide; (2) marks due messages to opted-out
//! students `suppressed`; (3) claims due messages with `FOR UPDATE SKIP LOCKED`, recording
//! `sending` and a claim id before any call, so concurrent dispatchers never share one; (4) sends
//! each through the provider at the configured rate and records the outcome under its claim:
//! `sent` with the provider's id, `queued` again later (exponential backoff with jitter), `dead`
//! after the last attempt, or `failed` for a permanent refusal.

use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::provider::{Provider, SendError};
use crate::{AppState, auth::Caller, db, http::Result};

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub claimed: usize,
    pub sent: usize,
    pub retried: usize,
    pub failed: usize,
    pub dead: usize,
    pub suppressed: u64,
    pub orphaned: u64,
}

/// A claimed message.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub id: Uuid,
    pub to_number: String,
    pub body: String,
    pub attempts: i32,
}

/// Claims up to `limit` due messages for `claim_id` (and suppresses those to opted-out students).
pub async fn claim(state: &AppState, claim_id: Uuid, limit: i64) -> Result<(Vec<Claimed>, u64)> {
    let (suppressed, rows) = db::transact(&state.db, &Caller::System, async |tx| {
        let suppressed = tx
            .execute(
                "update outbox_messages o set status = 'suppressed', status_at = now(),
                     last_error = 'the student opted out (STOP) or withdrew consent'
                 where o.status = 'queued' and o.due_at <= now()
                   and exists (select 1 from profiles p where p.whatsapp_number = o.to_number and p.opted_out_at is not null)",
                &[],
            )
            .await?;
        let rows = tx
            .query(
                "with due as (
                     select id from outbox_messages
                     where status = 'queued' and due_at <= now()
                     order by due_at, created_at limit $2
                     for update skip locked
                 )
                 update outbox_messages o set status = 'sending', claim_id = $1, claimed_at = now(), status_at = now(),
                     attempts = o.attempts + 1
                 from due where o.id = due.id
                 returning o.id, o.to_number, o.body, o.attempts",
                &[&claim_id, &limit],
            )
            .await?;
        Ok((suppressed, rows))
    })
    .await?;
    Ok((
        rows.iter()
            .map(|r| Claimed {
                id: r.get(0),
                to_number: r.get(1),
                body: r.get(2),
                attempts: r.get(3),
            })
            .collect(),
        suppressed,
    ))
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
}

async fn record(
    state: &AppState,
    claim_id: Uuid,
    message: &Claimed,
    result: Result<String, SendError>,
) -> Result<Outcome> {
    let config = &state.config.messaging;
    let outcome = db::transact(&state.db, &Caller::System, async |tx| {
        let guard = "where id = $1 and claim_id = $2 and status = 'sending'";
        let outcome = match result {
            Ok(provider_id) => {
                tx.execute(
                    &format!(
                        "update outbox_messages set status = 'sent', provider_message_id = $3, sent_at = now(),
                             status_at = now(), last_error = null {guard}"
                    ),
                    &[&message.id, &claim_id, &provider_id],
                )
                .await?;
                Outcome::Sent
            }
            Err(SendError::Permanent { reason }) => {
                tx.execute(
                    &format!("update outbox_messages set status = 'failed', status_at = now(), last_error = $3 {guard}"),
                    &[&message.id, &claim_id, &reason],
                )
                .await?;
                Outcome::Failed
            }
            Err(SendError::Transient { reason, .. }) if message.attempts >= config.max_attempts => {
                tx.execute(
                    &format!("update outbox_messages set status = 'dead', status_at = now(), last_error = $3 {guard}"),
                    &[&message.id, &claim_id, &format!("gave up after {} attempts: {reason}", message.attempts)],
                )
                .await?;
                Outcome::Dead
            }
            Err(SendError::Transient {
                reason,
                retry_after,
            }) => {
                let delay =
                    backoff(config.retry_base, message.attempts).max(retry_after.unwrap_or_default());
                tx.execute(
                    &format!(
                        "update outbox_messages set status = 'queued', status_at = now(), last_error = $3,
                             due_at = now() + make_interval(secs => $4) {guard}"
                    ),
                    &[&message.id, &claim_id, &reason, &delay.as_secs_f64()],
                )
                .await?;
                Outcome::Retried
            }
        };
        Ok(outcome)
    })
    .await?;
    Ok(outcome)
}

/// Buries messages left `sending` past the lease (see the module's documentation).
pub async fn bury_orphans(state: &AppState) -> Result<u64> {
    let buried = db::transact(&state.db, &Caller::System, async |tx| {
        let buried = tx
            .execute(
                "update outbox_messages set status = 'dead', status_at = now(),
                     last_error = 'outcome unknown: the dispatcher stopped while sending it; not resent so that \
                                   it is never sent twice. Check the conversation, then retry it if needed.'
                 where status = 'sending' and claimed_at < now() - make_interval(secs => $1)",
                &[&state.config.messaging.sending_lease.as_secs_f64()],
            )
            .await?;
        Ok(buried)
    })
    .await?;
    if buried > 0 {
        tracing::warn!(
            buried,
            "messages left sending by a stopped dispatcher were buried"
        );
    }
    Ok(buried)
}

/// One dispatcher run.
pub async fn run(state: &AppState, provider: &dyn Provider) -> Result<Report> {
    let config = &state.config.messaging;
    let mut report = Report {
        orphaned: bury_orphans(state).await?,
        ..Report::default()
    };
    let claim_id = Uuid::new_v4();
    let (claimed, suppressed) = claim(state, claim_id, config.batch).await?;
    report.claimed = claimed.len();
    report.suppressed = suppressed;
    let pause = Duration::from_secs_f64(1.0 / f64::from(config.per_second.max(1)));
    for (i, message) in claimed.iter().enumerate() {
        if i > 0 {
            tokio::time::sleep(pause).await;
        }
        let result = provider.send(&message.to_number, &message.body).await;
        if let Err(e) = &result {
            tracing::warn!(message_id = %message.id, attempt = message.attempts, error = ?e, "send failed");
        }
        match record(state, claim_id, message, result).await? {
            Outcome::Sent => report.sent += 1,
            Outcome::Retried => report.retried += 1,
            Outcome::Failed => report.failed += 1,
            Outcome::Dead => report.dead += 1,
        }
    }
    if report != Report::default() {
        tracing::info!(provider = provider.name(), ?report, "dispatcher run");
    }
    Ok(report)
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
}
