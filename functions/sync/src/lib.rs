//! `/api/sync`: offline sync for devices (see `shared::sync` for the protocol).
//!
//! | route | who |
//! |---|---|
//! | `POST /api/sync/push` | staff or student (exactly once per `client_id` and `mutation_id`) |
//! | `GET /api/sync/pull?cursor=&collections=&limit=` | staff or student (row-level security decides what) |

use axum::{Router, extract::State};
use shared::{
    AppState, Result,
    http::{Json, Member, Query},
    sync::{self, PullQuery, PullResponse, PushRequest, PushResponse},
};
use utoipa_axum::{router::OpenApiRouter, routes};

#[utoipa::path(
    post, operation_id = "sync_push", path = "/api/sync/push", tag = "sync",
    summary = "Apply a device's queued mutations, each exactly once",
    security(("staff_jwt" = []), ("student_token" = [])),
    request_body = PushRequest,
    responses(
        (status = 200, description = "What became of each mutation; every `applied` one is durable", body = PushResponse),
        (status = 403, description = "The client id belongs to someone else", content_type = "application/problem+json", body = shared::http::openapi::Problem),
        (status = 409, description = "`mutation_gap`: a mutation id skips the next expected one; nothing was applied", content_type = "application/problem+json", body = shared::http::openapi::Problem),
        (status = 413, description = "More than 500 mutations, or a body over 256 KiB", content_type = "application/problem+json", body = shared::http::openapi::Problem)
    )
)]
async fn push(
    State(state): State<AppState>,
    Member(caller): Member,
    Json(request): Json<PushRequest>,
) -> Result<Json<PushResponse>> {
    Ok(Json(sync::push(&state, &caller, &request).await?))
}

#[utoipa::path(
    get, operation_id = "sync_pull", path = "/api/sync/pull", tag = "sync",
    summary = "Every change the caller may see since a cursor, paged",
    security(("staff_jwt" = []), ("student_token" = [])),
    params(PullQuery),
    responses(
        (status = 200, description = "A page of changes, oldest first", body = PullResponse),
        (status = 403, description = "A collection the caller may not read", content_type = "application/problem+json", body = shared::http::openapi::Problem)
    )
)]
async fn pull(
    State(state): State<AppState>,
    Member(caller): Member,
    Query(query): Query<PullQuery>,
) -> Result<Json<PullResponse>> {
    Ok(Json(sync::pull(&state, &caller, &query).await?))
}

/// The function's routes, without the common layers (the caller adds them once).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(push))
        .routes(routes!(pull))
}

/// The function's router as deployed: its routes, the common layers, and its state.
pub fn router(state: AppState) -> Router {
    shared::http::deployed(routes(), state)
}
