//! The `sync-live` Lambda: build the state once, then handle each WebSocket API event.

use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    let state = shared::AppState::from_env().await?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<sync_live::Event>| {
        sync_live::handle(&state, event.payload)
    }))
    .await
}
