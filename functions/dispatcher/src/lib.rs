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
    let purged = async {
        let mut client = state.db.get().await?;
        let tx = db::begin_as(&mut client, &Caller::System).await?;
        let purged = idempotency::purge(&tx).await?;
        tx.commit().await?;
        shared::Result::<i64>::Ok(purged)
    }
    .await
    .map_err(|e| anyhow::anyhow!("purging idempotency keys: {e:?}"))?;
    Ok(json!({ "reminders_queued": queued, "dispatch": report, "idempotency_keys_purged": purged }))
}
