//! The `admin` Lambda: build the state once, then serve API Gateway events.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let state = shared::AppState::from_env().await?;
    lambda_http::run(admin::router(state)).await
}
