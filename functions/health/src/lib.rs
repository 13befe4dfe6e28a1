//! `GET /api/health`: is this function up, and can it reach Postgres and the object store?
//!
//! Answers 200 with each dependency's state, or 503 (problem+json) when one is down, so a load
//! balancer or an uptime check can use it as is.

use axum::{Router, extract::State};
use serde::Serialize;
use shared::{AppState, Error, http::Json};
use utoipa_axum::{router::OpenApiRouter, routes};

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Health {
    pub status: &'static str,
    pub database: &'static str,
    pub storage: &'static str,
    pub version: &'static str,
}

#[utoipa::path(
get, operation_id = "health_health", path = "/api/health", tag = "health",
    summary = "Is the function up, with its database and object store?",
    responses((status = 200, description = "Every dependency answers", body = Health))
)]
async fn health(State(state): State<AppState>) -> Result<Json<Health>, Error> {
    shared::db::ping(&state.db).await?;
    state.storage.ping().await.map_err(Error::Unavailable)?;
    Ok(Json(Health {
        status: "ok",
        database: "ok",
        storage: "ok",
        version: env!("CARGO_PKG_VERSION"),
    }))
}

/// The function's routes, without the common layers (the caller adds them once).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(health))
}

/// The function's router as deployed: its routes, the common layers, and its state.
pub fn router(state: AppState) -> Router {
    shared::http::deployed(routes(), state)
}
