//! `/api/masterclasses`: the course catalogue and each masterclass's PDF handout.
//!
//! | route | who |
//! |---|---|
//! | `GET /api/masterclasses`, `GET /api/masterclasses/{id}` | anyone: published ones; staff also the drafts they staff |
//! | `POST /api/masterclasses`, `PATCH`/`DELETE /api/masterclasses/{id}` | admin |
//! | `GET /api/masterclasses/{id}/pdf` (a redirect to the handout) | as `GET /api/masterclasses/{id}`; a student also their own masterclass's once unpublished |
//! | `POST /api/masterclasses/{id}/pdf`, `POST /api/masterclasses/{id}/pdf/confirm` | admin |
//!
//! Handlers parse the request into domain types, open one transaction as the caller (so
//! Postgres row-level security applies), call `shared::services::masterclasses`, and commit.
//!
//! Every handler here has one shape, the same in every function crate: a `#[utoipa::path]` that
//! states the route's contract (the OpenAPI document is built from it), extractors that parse and
//! authenticate, then one service call, most often in one transaction as the caller. So handlers
//! read alike line for line, here and across crates. What
//! differs between two of them (the path, the role, the statuses, the service) is all each one
//! says; a macro over the shape would hide the contract the attribute states, and the rules are
//! in `shared` already.

use axum::{
    Router,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use shared::{
    AppState, Result,
    auth::Caller,
    db,
    domain::{MasterclassDraft, MasterclassPatch, NewMasterclass, Paging, paging::PagingQuery},
    http::{Admin, Json, Origin, Path, Query},
    idempotency::{self, MaybeIdempotencyKey},
    services::masterclasses::{
        self as service, MasterclassPage, MasterclassView, PdfConfirmRequest, PdfUploadRequest,
        UploadTicket,
    },
};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

#[utoipa::path(
get, operation_id = "masterclasses_list", path = "/api/masterclasses", tag = "masterclasses",
    summary = "Masterclasses by start date (anonymous: published ones)",
    security((), ("staff_jwt" = []), ("student_token" = [])),
    params(PagingQuery),
    responses((status = 200, description = "A page", body = MasterclassPage))
)]
async fn list(
    State(state): State<AppState>,
    origin: Origin,
    caller: Caller,
    Query(query): Query<PagingQuery>,
) -> Result<Json<MasterclassPage>> {
    let paging = Paging::parse(&query)?;
    db::transact(&state.db, &caller, async |tx| {
        let page = service::list(&origin, tx, !caller.is_staff(), paging).await?;
        Ok(Json(page))
    })
    .await
}

#[utoipa::path(
get, operation_id = "masterclasses_get_one", path = "/api/masterclasses/{id}", tag = "masterclasses",
    summary = "One masterclass, with its handout's link",
    security((), ("staff_jwt" = []), ("student_token" = [])),
    params(("id" = Uuid, Path, description = "The masterclass")),
    responses((status = 200, description = "The masterclass", body = MasterclassView))
)]
async fn get_one(
    State(state): State<AppState>,
    origin: Origin,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<Json<MasterclassView>> {
    db::transact(&state.db, &caller, async |tx| {
        let found = service::get(&origin, tx, id, !caller.is_staff()).await?;
        Ok(Json(found))
    })
    .await
}

#[utoipa::path(
get, operation_id = "masterclasses_download_pdf", path = "/api/masterclasses/{id}/pdf", tag = "masterclasses",
    summary = "The handout: a redirect to a short-lived signed link to the file",
    description = "The `pdf.download_url` of a masterclass. Follow the redirect at once: the \
        signed link lives at least half of `PRESIGN_TTL_SECS` (a link is handed out again while \
        that much remains), while this URL never expires. A student may follow it for their own \
        masterclass even once it is unpublished.",
    security((), ("staff_jwt" = []), ("student_token" = [])),
    params(("id" = Uuid, Path, description = "The masterclass")),
    responses(
        (status = 302, description = "The signed link, in `Location`",
            headers(
                ("Location" = String, description = "The file, signed for a short while"),
                ("Cache-Control" = String, description = "`no-store`: ask again next time")
            )),
        (status = 404, description = "No such masterclass visible to the caller, or no handout",
            body = shared::http::openapi::Problem, content_type = "application/problem+json")
    )
)]
async fn download_pdf(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<Response> {
    let link = service::handout_link(&state, &caller, id).await?;
    Ok((
        StatusCode::FOUND,
        [
            (header::LOCATION, link.url.as_str()),
            (header::CACHE_CONTROL, "no-store"),
        ],
    )
        .into_response())
}

#[utoipa::path(
post, operation_id = "masterclasses_create", path = "/api/masterclasses", tag = "masterclasses",
    summary = "Create a masterclass",
    security(("staff_jwt" = [])),
    params(shared::idempotency::IdempotencyKeyHeader),
    request_body = MasterclassDraft,
    responses((status = 201, description = "The masterclass", body = MasterclassView))
)]
async fn create(
    State(state): State<AppState>,
    origin: Origin,
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
            async || service::create(&origin, tx, &new).await,
        )
        .await?;
        Ok(response)
    })
    .await
}

#[utoipa::path(
patch, operation_id = "masterclasses_update", path = "/api/masterclasses/{id}", tag = "masterclasses",
    summary = "Change some fields (publishing is `{\"published\": true}`)",
    security(("staff_jwt" = [])),
    params(("id" = Uuid, Path, description = "The masterclass")),
    request_body = MasterclassDraft,
    responses((status = 200, description = "The masterclass", body = MasterclassView))
)]
async fn update(
    State(state): State<AppState>,
    origin: Origin,
    admin: Admin,
    Path(id): Path<Uuid>,
    Json(draft): Json<MasterclassDraft>,
) -> Result<Json<MasterclassView>> {
    let patch = MasterclassPatch::parse(&draft)?;
    db::transact(&state.db, &admin.caller(), async |tx| {
        let updated = service::update(&origin, tx, id, &patch).await?;
        Ok(Json(updated))
    })
    .await
}

#[utoipa::path(
delete, operation_id = "masterclasses_delete", path = "/api/masterclasses/{id}", tag = "masterclasses",
    summary = "Delete (a tombstone, for sync)",
    security(("staff_jwt" = [])),
    params(("id" = Uuid, Path, description = "The masterclass")),
    responses((status = 204, description = "Deleted"))
)]
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

#[utoipa::path(
post, operation_id = "masterclasses_start_pdf_upload", path = "/api/masterclasses/{id}/pdf", tag = "masterclasses",
    summary = "A presigned URL to upload the PDF handout to",
    security(("staff_jwt" = [])),
    params(("id" = Uuid, Path, description = "The masterclass")),
    request_body(content = Option<PdfUploadRequest>, description = "Optional: the file's size, signed into the URL"),
    responses((status = 201, description = "Where and how to PUT the file", body = UploadTicket))
)]
async fn start_pdf_upload(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<Uuid>,
    body: Option<Json<PdfUploadRequest>>,
) -> Result<(StatusCode, Json<UploadTicket>)> {
    let request = body.map(|Json(r)| r).unwrap_or_default();
    db::transact(&state.db, &admin.caller(), async |tx| {
        let ticket = service::start_pdf_upload(&state, tx, id, &request).await?;
        Ok((StatusCode::CREATED, Json(ticket)))
    })
    .await
}

#[utoipa::path(
post, operation_id = "masterclasses_confirm_pdf", path = "/api/masterclasses/{id}/pdf/confirm", tag = "masterclasses",
    summary = "Check the uploaded file and make it the handout",
    security(("staff_jwt" = [])),
    params(("id" = Uuid, Path, description = "The masterclass")),
    request_body = PdfConfirmRequest,
    responses((status = 200, description = "The masterclass with its handout", body = MasterclassView))
)]
async fn confirm_pdf(
    State(state): State<AppState>,
    origin: Origin,
    admin: Admin,
    Path(id): Path<Uuid>,
    Json(request): Json<PdfConfirmRequest>,
) -> Result<Response> {
    let view = service::confirm_pdf_as(&state, &origin, &admin.caller(), id, &request).await?;
    Ok(Json(view).into_response())
}

/// The function's routes, without the common layers (the caller adds them once).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get_one, update, delete))
        .routes(routes!(download_pdf, start_pdf_upload))
        .routes(routes!(confirm_pdf))
}

/// The function's router as deployed: its routes, the common layers, and its state.
pub fn router(state: AppState) -> Router {
    shared::http::deployed(routes(), state)
}
