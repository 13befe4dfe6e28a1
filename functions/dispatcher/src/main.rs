//! The `dispatcher` Lambda: build the state once, then handle each scheduled event.
//!
//! Every scheduled Lambda's `main` is these lines with its own `run`:
//! the binary stays a few lines, the work is in the library.

use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    let state = shared::AppState::from_env().await?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        dispatcher::run(&state, dispatcher::deadline_of(&event.context))
    }))
    .await
}
