//! `/api/webhooks/whapi`: delivery statuses and incoming messages from Whapi.Cloud.
//!
//! Authenticated by the `x-webhook-secret` header (configure it as a custom header of the
//! webhook in Whapi's settings), compared in constant time: wrong or missing is a 401 and
//! nothing is stored. Bodies are bounded by the common 256 KiB limit.

use axum::{Router, extract::State, http::HeaderMap};
use serde_json::Value;
use shared::{
    AppState, Error, Result,
    http::Json,
    messaging::{
        chat,
        webhook::{self, Handled, WhapiEvent},
    },
};
use subtle::ConstantTimeEq;
use utoipa_axum::{router::OpenApiRouter, routes};

/// The header carrying the shared secret.
pub const SECRET_HEADER: &str = "x-webhook-secret";

fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<()> {
    let expected = state
        .config
        .messaging
        .webhook_secret
        .as_ref()
        .ok_or_else(|| {
            tracing::warn!("a webhook call arrived but WHAPI_WEBHOOK_SECRET is not set: refused");
            Error::Unauthorized
        })?;
    let given = headers
        .get(SECRET_HEADER)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if bool::from(given.ct_eq(expected.expose().as_bytes())) {
        Ok(())
    } else {
        Err(Error::Unauthorized)
    }
}

#[utoipa::path(
post, operation_id = "webhooks_whapi", path = "/api/webhooks/whapi", tag = "messages",
    summary = "Delivery statuses and incoming messages from Whapi.Cloud",
    security(("webhook_secret" = [])),
    request_body(content = WhapiEvent, description = "Whapi's webhook payload: `statuses[]` and/or `messages[]` (the fields the platform reads; others are accepted and kept)"),
    responses((status = 200, description = "What the call changed", body = Handled))
)]
async fn whapi(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(payload): Json<Value>,
) -> Result<Json<Handled>> {
    authenticate(&state, &headers)?;
    let handled = webhook::handle(&state, payload).await?;
    chat::send_now(&state, &handled.chatting).await;
    Ok(Json(handled))
}

/// The function's routes, without the common layers (the caller adds them once).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(whapi))
}

/// The function's router as deployed: its routes, the common layers, and its state.
pub fn router(state: AppState) -> Router {
    shared::http::deployed(routes(), state)
}
