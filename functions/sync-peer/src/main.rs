//! The `sync-peer` Lambda: build the state once, then run a sync per scheduled event.
//!
//! Every scheduled Lambda's `main` is these lines with its own `run`:
//! the binary stays a few lines, the work is in the library.

use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    let state = shared::AppState::from_env().await?;
    lambda_runtime::run(service_fn(|_event: LambdaEvent<serde_json::Value>| {
        sync_peer::run(&state)
    }))
    .await
}
