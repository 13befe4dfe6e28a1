//! `/api/masterclasses`: the course catalogue and each masterclass's PDF handout.
//!
//! | route | who |
//! |---|---|
//! | `GET /api/masterclasses`, `GET /api/masterclasses/{id}` | anyone: published ones; staff also the drafts they staff |
//! | `POST /api/masterclasses`, `PATCH`/`DELETE /api/masterclasses/{id}` | admin |
//! | `POST /api/masterclasses/{id}/pdf`, `POST /api/masterclasses/{id}/pdf/confirm` | admin |
//!
//! Handlers parse the request into domain types, open one transaction as the caller (so
//! Postgres row-level security applies), call `shared::services::masterclasses`, and commit.

use axum::{
    Router,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use shared::{
    AppState, Result,
    auth::Caller,
    db,
    domain::{MasterclassDraft, MasterclassPatch, NewMasterclass, Paging, paging::PagingQuery},
    http::{Admin, Json, Path, Query},
    idempotency::{self, MaybeIdempotencyKey},
    services::masterclasses::{
        self as service, MasterclassPage, MasterclassView, PdfConfirmRequest, PdfUploadRequest,
        PdfUploadTicket,
    },
};
use uuid::Uuid;

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<PagingQuery>,
) -> Result<Json<MasterclassPage>> {
    let paging = Paging::parse(&query)?;
    db::transact(&state.db, &caller, async |tx| {
        let page = service::list(&state, tx, !caller.is_staff(), paging).await?;
        Ok(Json(page))
    })
    .await
}

async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<Json<MasterclassView>> {
    db::transact(&state.db, &caller, async |tx| {
        let found = service::get(&state, tx, id, !caller.is_staff()).await?;
        Ok(Json(found))
    })
    .await
}

async fn create(
    State(state): State<AppState>,
    admin: Admin,
    key: MaybeIdempotencyKey,
    Json(draft): Json<MasterclassDraft>,
) -> Result<Response> {
    let new = NewMasterclass::parse(&draft)?;
    db::transact(&state.db, &admin.caller(), async |tx| {
        let response = idempotency::once(
            tx,
            &key,
            "masterclasses.create",
            &draft,
            StatusCode::CREATED,
            async || service::create(&state, tx, &new).await,
        )
        .await?;
        Ok(response)
    })
    .await
}

async fn update(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<Uuid>,
    Json(draft): Json<MasterclassDraft>,
) -> Result<Json<MasterclassView>> {
    let patch = MasterclassPatch::parse(&draft)?;
    db::transact(&state.db, &admin.caller(), async |tx| {
        let updated = service::update(&state, tx, id, &patch).await?;
        Ok(Json(updated))
    })
    .await
}

async fn delete(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<Uuid>,
) -> Result<StatusCode> {
    db::transact(&state.db, &admin.caller(), async |tx| {
        service::delete(tx, id).await?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

async fn start_pdf_upload(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<Uuid>,
    body: Option<Json<PdfUploadRequest>>,
) -> Result<(StatusCode, Json<PdfUploadTicket>)> {
    let request = body.map(|Json(r)| r).unwrap_or_default();
    db::transact(&state.db, &admin.caller(), async |tx| {
        let ticket = service::start_pdf_upload(&state, tx, id, &request).await?;
        Ok((StatusCode::CREATED, Json(ticket)))
    })
    .await
}

async fn confirm_pdf(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<Uuid>,
    Json(request): Json<PdfConfirmRequest>,
) -> Result<Response> {
    let (view, replaced) = db::transact(&state.db, &admin.caller(), async |tx| {
        service::confirm_pdf(&state, tx, id, &request).await
    })
    .await?;
    if let Some(old) = replaced {
        // The new handout is committed; losing the old object now only leaves garbage behind.
        if let Err(e) = state.storage.delete(&old).await {
            tracing::warn!(error = %format!("{e:#}"), "could not delete a replaced handout");
        }
    }
    Ok(Json(view).into_response())
}

/// The function's routes, without the common layers (the caller adds them once).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/masterclasses", get(list).post(create))
        .route(
            "/api/masterclasses/{id}",
            get(get_one).patch(update).delete(delete),
        )
        .route("/api/masterclasses/{id}/pdf", post(start_pdf_upload))
        .route("/api/masterclasses/{id}/pdf/confirm", post(confirm_pdf))
}

/// The function's router as deployed: its routes, the common layers, and its state.
pub fn router(state: AppState) -> Router {
    shared::http::with_common_layers(routes().with_state(state))
}
