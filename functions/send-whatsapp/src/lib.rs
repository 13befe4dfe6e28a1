//! `/api/send-whatsapp` and `/api/admin/messages`: messages staff send, and the outbox as staff
//! see it (with the retry of dead messages).
//!
//! | route | who |
//! |---|---|
//! | `POST /api/send-whatsapp` | staff (`custom` texts: admins); `Idempotency-Key` |
//! | `GET /api/admin/messages?status=&inscription_id=&limit=&offset=` | staff (their masterclasses) |
//! | `POST /api/admin/messages/{id}/retry` | staff: re-queue a dead or failed message |

use axum::{
    Router,
    extract::State,
    http::StatusCode,
    response::Response,
    routing::{get, post},
};
use shared::{
    AppState, Result, db,
    http::{Json, Path, Query, Staff},
    idempotency::{self, MaybeIdempotencyKey},
    messaging::staff::{self as service, MessageFilter, MessagePage, MessageView, SendRequest},
};
use uuid::Uuid;

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

async fn list(
    State(state): State<AppState>,
    staff: Staff,
    Query(filter): Query<MessageFilter>,
) -> Result<Json<MessagePage>> {
    db::transact(&state.db, &staff.caller(), async |tx| {
        let page = service::list(tx, &filter).await?;
        Ok(Json(page))
    })
    .await
}

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
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/send-whatsapp", post(send))
        .route("/api/admin/messages", get(list))
        .route("/api/admin/messages/{id}/retry", post(retry))
}

/// The function's router as deployed: its routes, the common layers, and its state.
pub fn router(state: AppState) -> Router {
    shared::http::with_common_layers(routes().with_state(state))
}
