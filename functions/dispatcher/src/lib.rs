//! The scheduled function (EventBridge, every minute): queue due reminders, then deliver queued
//! WhatsApp messages. The local gateway runs the same two jobs on timers.

use serde_json::{Value, json};
use shared::{
    AppState,
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
    Ok(json!({ "reminders_queued": queued, "dispatch": report }))
}
