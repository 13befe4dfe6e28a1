//! The local gateway's router: every function's routes on one server, under the same paths as
//! API Gateway routes them in AWS, plus the OpenAPI document and its viewer.

use axum::Router;
use shared::AppState;
use utoipa_axum::router::OpenApiRouter;

use crate::{desk, docs, live};

/// Every function's routes with their descriptions, merged.
fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(admin::routes())
        .merge(auth::routes())
        .merge(health::routes())
        .merge(inscriptions::routes())
        .merge(masterclasses::routes())
        .merge(questions::routes())
        .merge(generate_questions::routes())
        .merge(send_whatsapp::routes())
        .merge(sync::routes())
        .merge(webhooks::routes())
        .merge(exams::routes())
}

/// The OpenAPI 3.1 document of every route the gateway (and so the deployed API) serves.
pub fn openapi() -> utoipa::openapi::OpenApi {
    shared::http::openapi::complete(api().into_openapi())
}

/// Every function's routes, merged, plus the document and its viewer, the live channel's
/// WebSocket (with its hub, which starts with the first socket) and the desk page, with the
/// common layers once on the outside, and CORS answered as the deployed API answers it.
pub fn router(state: AppState) -> Router {
    let cors = shared::http::cors(&state.config.allowed_origins);
    let hub = live::Hub::new(state.clone());
    let state = AppState {
        writes: Some(hub.wake()),
        ..state
    };
    let (routes, document) = api().split_for_parts();
    let routes = routes
        .merge(docs::routes(&shared::http::openapi::complete(document)))
        .merge(desk::routes())
        .with_state(state.clone())
        .merge(live::routes(state.clone(), hub));
    shared::http::with_common_layers(routes, state).layer(cors)
}
