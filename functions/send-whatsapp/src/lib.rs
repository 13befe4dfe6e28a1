//! `/api/send-whatsapp` and `/api/admin/messages`: messages staff send, and the outbox as staff
//! see it (with the retry of dead messages).
//!
//! | route | who |
//! |---|---|
//! | `POST /api/send-whatsapp` | staff (`custom` texts: admins); `Idempotency-Key` |
//! | `GET /api/admin/messages?status=&inscription_id=&limit=&cursor=` | staff (their masterclasses) |
//! | `POST /api/admin/messages/{id}/retry` | staff: re-queue a dead or failed message |
//!
//! Every handler here has one shape, the same in every function crate: a `#[utoipa::path]` that
//! states the route's contract (the OpenAPI document is built from it), extractors that parse and
//! authenticate, then one service call, most often in one transaction as the caller. So handlers
//! read alike line for line, here and across crates. What
//! differs between two of them (the path, the role, the statuses, the service) is all each one
//! says; a macro over the shape would hide the contract the attribute states, and the rules are
//! in `shared` already.

use axum::{Router, extract::State, http::StatusCode, response::Response};
use shared::messaging::admin::Queued;
use shared::{
    AppState, Result, db,
    http::{Json, Path, Query, Staff},
    idempotency::{self, MaybeIdempotencyKey},
    messaging::admin::{self as service, MessageFilter, MessagePage, SendRequest},
    model::outbox::MessageView,
};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

#[utoipa::path(
post, operation_id = "send_whatsapp_send", path = "/api/send-whatsapp", tag = "messages",
    summary = "Queue a WhatsApp message (custom texts: admins only)",
    security(("staff_jwt" = [])),
    params(shared::idempotency::IdempotencyKeyHeader),
    request_body = SendRequest,
    responses((status = 202, description = "Queued", body = Queued))
)]
async fn send(
    State(state): State<AppState>,
    staff: Staff,
    key: MaybeIdempotencyKey,
    Json(request): Json<SendRequest>,
) -> Result<Response> {
    db::transact(&state.db, &staff.caller(), async |tx| {
        let response = idempotency::once(
            tx,
            &key,
            "messages.send",
            &request,
            StatusCode::ACCEPTED,
            async || service::send(tx, &staff.0, &request).await,
        )
        .await?;
        Ok(response)
    })
    .await
}

#[utoipa::path(
get, operation_id = "send_whatsapp_list", path = "/api/admin/messages", tag = "messages",
    summary = "The outbox, newest first",
    security(("staff_jwt" = [])),
    params(MessageFilter),
    responses((status = 200, description = "A page of messages", body = MessagePage))
)]
async fn list(
    State(state): State<AppState>,
    staff: Staff,
    Query(filter): Query<MessageFilter>,
) -> Result<Json<MessagePage>> {
    db::transact(&state.db, &staff.caller(), async |tx| {
        let page = service::list(tx, &state.cursors, &filter).await?;
        Ok(Json(page))
    })
    .await
}

#[utoipa::path(
post, operation_id = "send_whatsapp_retry", path = "/api/admin/messages/{id}/retry", tag = "messages",
    summary = "Re-queue a dead, failed, in_doubt or held message (a held one is then sent past its recipient's daily limit)",
    security(("staff_jwt" = [])),
    params(("id" = Uuid, Path, description = "The message")),
    responses(
        (status = 200, description = "Queued again", body = MessageView),
        (status = 409, description = "The message is not dead, failed, in_doubt or held", content_type = "application/problem+json", body = shared::http::openapi::Problem)
    )
)]
async fn retry(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<Uuid>,
) -> Result<Json<MessageView>> {
    db::transact(&state.db, &staff.caller(), async |tx| {
        let message = service::retry(tx, id).await?;
        Ok(Json(message))
    })
    .await
}

/// The function's routes, without the common layers (the caller adds them once).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(send))
        .routes(routes!(list))
        .routes(routes!(retry))
}

/// The function's router as deployed: its routes, the common layers, and its state.
pub fn router(state: AppState) -> Router {
    shared::http::deployed(routes(), state)
}
