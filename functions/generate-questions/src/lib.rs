//! `/api/generate-questions`: draft questions for a masterclass's bank, written from its PDF
//! handout by OpenAI or by the offline generator (staff; tutors only for the masterclasses
//! they are assigned to, enforced by row-level security).
//!
//! | route | who |
//! |---|---|
//! | `POST /api/generate-questions` | staff (`Idempotency-Key`) |

use axum::{Router, extract::State, response::Response, routing::post};
use shared::{
    AppState, Result,
    http::{Json, Staff},
    idempotency::MaybeIdempotencyKey,
    services::generation::{self as service, GenerationDraft, GenerationOrder},
};

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
pub fn routes() -> Router<AppState> {
    Router::new().route("/api/generate-questions", post(generate))
}

/// The function's router as deployed: its routes, the common layers, and its state.
pub fn router(state: AppState) -> Router {
    shared::http::with_common_layers(routes().with_state(state))
}
