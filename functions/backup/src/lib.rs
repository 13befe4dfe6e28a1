//! The scheduled backup (EventBridge, daily): the retention period applied, then a consistent
//! snapshot of every table written to the object store with its manifest, the oldest backups
//! pruned (see `shared::services::backup`). The local gateway runs the same on a timer and on
//! `cargo run -- backup`.

use serde_json::Value;
use shared::{AppState, services::backup};

/// One run; its report (logged by Lambda, recorded in `backup_runs`).
pub async fn run(state: &AppState) -> anyhow::Result<Value> {
    let report = backup::run(state).await?;
    Ok(serde_json::json!({ "backup": report }))
}
