//! `/api/generate-questions`: draft questions for a masterclass's bank, written from its PDF
//! handout by OpenAI or by the offline generator (staff; tutors only for the masterclasses
//! they are assigned to, enforced by row-level security).
//!
//! | route | who |
//! |---|---|
//! | `POST /api/generate-questions` | staff (`Idempotency-Key`) |
//!
//! Every handler here has one shape, the same in every function crate: a `#[utoipa::path]` that
//! states the route's contract (the OpenAPI document is built from it), extractors that parse and
//! authenticate, then one service call, most often in one transaction as the caller. So handlers
//! read alike line for line, here and across crates. What
//! differs between two of them (the path, the role, the statuses, the service) is all each one
//! says; a macro over the shape would hide the contract the attribute states, and the rules are
//! in `shared` already.

use axum::{Router, extract::State, response::Response};
use shared::services::generation::GenerationView;
use shared::{
    AppState, Result,
    http::{Json, Staff},
    idempotency::MaybeIdempotencyKey,
    services::generation::{self as service, GenerationDraft, GenerationOrder},
};
use utoipa_axum::{router::OpenApiRouter, routes};

#[utoipa::path(
post, operation_id = "generate_questions_generate", path = "/api/generate-questions", tag = "questions",
    summary = "Draft questions from the masterclass handout (OpenAI or offline)",
    security(("staff_jwt" = [])),
    params(shared::idempotency::IdempotencyKeyHeader),
    request_body = GenerationDraft,
    responses(
        (status = 201, description = "The new drafts and their provenance", body = GenerationView),
        (status = 409, description = "No confirmed PDF handout yet (pdf_missing)", content_type = "application/problem+json", body = shared::http::openapi::Problem),
        (status = 502, description = "The AI provider failed, timed out or answered unusably (provider_*); see Retry-After", content_type = "application/problem+json", body = shared::http::openapi::Problem)
    )
)]
async fn generate(
    State(state): State<AppState>,
    staff: Staff,
    key: MaybeIdempotencyKey,
    Json(draft): Json<GenerationDraft>,
) -> Result<Response> {
    let order = GenerationOrder::parse(&draft, state.generator.default_provider())?;
    service::generate(&state, &staff.0, &key, &draft, &order).await
}

/// The function's routes, without the common layers (the caller adds them once).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(generate))
}

/// The function's router as deployed: its routes, the common layers, and its state.
pub fn router(state: AppState) -> Router {
    shared::http::deployed(routes(), state)
}
