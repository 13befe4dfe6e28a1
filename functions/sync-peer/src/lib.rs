//! The scheduled function of an instance that has a remote (`SYNC_REMOTE_URL`): one sync run
//! per invocation (EventBridge, every few minutes), as `shared::sync::peer` describes. The local
//! gateway runs the same every 30 s when a remote is configured.

use serde_json::Value;
use shared::{
    AppState,
    sync::peer::{self, Trigger},
};

/// One run; its report (logged by Lambda, and listed by `GET /api/sync/runs`). Nothing to do
/// without a remote.
pub async fn run(state: &AppState) -> anyhow::Result<Value> {
    if state.config.sync.remote.is_none() {
        return Ok(serde_json::json!({ "skipped": "no remote configured" }));
    }
    let report = peer::run(state, Trigger::Schedule)
        .await
        .map_err(|e| anyhow::anyhow!("syncing with the remote: {e:?}"))?;
    // What the run applied reaches the live channel now, not at the dispatcher's next minute
    // (the local gateway's hub hears of it by itself).
    shared::sync::live::after_write(state).await;
    Ok(serde_json::to_value(report)?)
}
