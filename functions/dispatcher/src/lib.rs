//! The scheduled function (EventBridge, every minute): queue due reminders, deliver queued
//! WhatsApp messages, and drop expired Idempotency-Key answers. The local gateway runs the same
//! on a timer.

use serde_json::{Value, json};
use shared::{
    AppState,
    auth::Caller,
    db, idempotency,
    messaging::{dispatch, reminders},
};

/// One scheduled run; the answer (logged by Lambda) says what it did.
pub async fn run(state: &AppState) -> anyhow::Result<Value> {
    let queued = reminders::queue_due(state)
        .await
        .map_err(|e| anyhow::anyhow!("queueing reminders: {e:?}"))?;
    let report = dispatch::run(state, state.messenger.as_ref())
        .await
        .map_err(|e| anyhow::anyhow!("dispatching messages: {e:?}"))?;
    let purged = db::transact(&state.db, &Caller::System, async |tx| {
        idempotency::purge(tx).await
    })
    .await
    .map_err(|e| anyhow::anyhow!("purging idempotency keys: {e:?}"))?;
    Ok(json!({ "reminders_queued": queued, "dispatch": report, "idempotency_keys_purged": purged }))
}
