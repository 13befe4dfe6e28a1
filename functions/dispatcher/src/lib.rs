//! The scheduled function (EventBridge, every minute): queue due reminders, remind and close
//! silent tests in the WhatsApp chat, deliver queued
//! WhatsApp messages, send sync pokes, fan out to the live channel what no write request did (a
//! function that died between its commit and its fan-out) and drop what nobody drained, and
//! drop expired Idempotency-Key answers (erased ones too) and the rate limits' ended windows.
//! The local gateway runs the same on a timer.

use serde_json::{Value, json};
use shared::{
    AppState,
    auth::Caller,
    db, idempotency,
    messaging::{chat, dispatch, reminders},
};
use time::OffsetDateTime;

/// One scheduled run that starts no send it could not finish by `deadline` (the invocation's);
/// the answer (logged by Lambda) says what it did.
pub async fn run(state: &AppState, deadline: OffsetDateTime) -> anyhow::Result<Value> {
    let queued = reminders::queue_due(state)
        .await
        .map_err(|e| anyhow::anyhow!("queueing reminders: {e:?}"))?;
    let chat_tests = chat::expire_due(state)
        .await
        .map_err(|e| anyhow::anyhow!("reminding and closing chat tests: {e:?}"))?;
    let report = dispatch::run_until(state, state.messenger.as_ref(), deadline)
        .await
        .map_err(|e| anyhow::anyhow!("dispatching messages: {e:?}"))?;
    let pokes = shared::sync::poke::deliver(state)
        .await
        .map_err(|e| anyhow::anyhow!("delivering sync pokes: {e:?}"))?;
    let (live, live_dropped) = shared::sync::live::housekeeping(state)
        .await
        .map_err(|e| anyhow::anyhow!("fanning out live pokes: {e:?}"))?;
    let purged = db::transact(&state.db, &Caller::System, async |tx| {
        idempotency::purge(tx).await
    })
    .await
    .map_err(|e| anyhow::anyhow!("purging idempotency keys: {e:?}"))?;
    Ok(json!({
        "reminders_queued": queued,
        "chat_tests": chat_tests,
        "dispatch": report,
        "sync_pokes": pokes,
        "live": live,
        "live_dropped": live_dropped,
        "idempotency_keys_purged": purged,
    }))
}

/// The deadline of a Lambda invocation (milliseconds since the epoch, from its context).
pub fn deadline_of(context: &lambda_runtime::Context) -> OffsetDateTime {
    OffsetDateTime::UNIX_EPOCH
        + time::Duration::milliseconds(i64::try_from(context.deadline).unwrap_or(i64::MAX))
}
