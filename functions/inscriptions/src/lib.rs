//! `/api/inscriptions`, `/api/me` and `/api/admin/inscriptions`: registration, a student's own
//! record, and staff's handling of inscriptions.
//!
//! | route | who |
//! |---|---|
//! | `POST /api/inscriptions` | anyone (registration; `Idempotency-Key`) |
//! | `GET /api/me` | student (access token) |
//! | `DELETE /api/me/token` | student: revokes their access token |
//! | `PATCH /api/admin/inscriptions/{id}` | staff of the masterclass: attendance |
//! | `POST /api/admin/inscriptions/{id}/token` | staff of the masterclass: issues a new access token |
//! | `POST /api/admin/inscriptions/{id}/photo`, `.../photo/confirm`, `GET .../photo` | staff of the masterclass: the student's photo taken at the desk |
//! | `GET /api/me/photo` | student: their own photo |
//! | `GET /api/me/export` | student: everything held about their registration |
//! | `POST /api/me/consent` | student: withdraw consent (messages stop) or give it again |
//! | `DELETE /api/me` | student: erase their registration (idempotent) |
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
    http::StatusCode,
    response::{IntoResponse, Response},
};
use shared::{
    AppState, Result, db,
    domain::student::{Registration, RegistrationDraft},
    http::{Json, Origin, Path, SourceIp, Staff, Student, StudentOrErased},
    idempotency::MaybeIdempotencyKey,
    model::students::InscriptionView,
    services::{
        masterclasses::UploadTicket,
        photos::{self, PhotoConfirmRequest, PhotoUploadRequest, PhotoView},
        privacy::{self, ConsentChange, ConsentState, Erased, Export},
        registration::{self, Registered},
        students::{self as service, AttendanceChange, IssuedAccess, Me},
    },
};
use time::OffsetDateTime;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

#[utoipa::path(
post, operation_id = "inscriptions_register", path = "/api/inscriptions", tag = "inscriptions",
    summary = "Register for a masterclass (answers the student's access token, once)",
    params(shared::idempotency::IdempotencyKeyHeader),
    request_body = RegistrationDraft,
    responses(
        (status = 201, description = "Registered; `access_token` is shown only here", body = Registered),
        (status = 409, description = "This number is already registered (`existing_inscription_id`), or registration is closed", content_type = "application/problem+json", body = shared::http::openapi::Problem),
        (status = 410, description = "This `Idempotency-Key`'s registration was erased since (`erased`): a retry does not register the person again", content_type = "application/problem+json", body = shared::http::openapi::Problem),
        (status = 429, description = "Too many registrations from this address or of this number (`rate_limited`); `Retry-After` says when the window ends", content_type = "application/problem+json", body = shared::http::openapi::Problem)
    )
)]
async fn register(
    State(state): State<AppState>,
    SourceIp(source): SourceIp,
    key: MaybeIdempotencyKey,
    Json(draft): Json<RegistrationDraft>,
) -> Result<Response> {
    let now = OffsetDateTime::now_utc();
    let registration = Registration::parse(&draft, now)?;
    let (status, registered) = db::transact(
        &state.db,
        &registration::caller(&registration),
        async |tx| {
            registration::register_once(&state, tx, &key, &draft, &registration, source, now).await
        },
    )
    .await?;
    Ok((status, Json(registered)).into_response())
}

#[utoipa::path(
get, operation_id = "inscriptions_me", path = "/api/me", tag = "inscriptions",
    summary = "The student's own record: profile, masterclass, scores",
    security(("student_token" = [])),
    responses((status = 200, description = "The record", body = Me))
)]
async fn me(State(state): State<AppState>, origin: Origin, student: Student) -> Result<Json<Me>> {
    db::transact(&state.db, &student.caller(), async |tx| {
        let me = service::me(&origin, tx, &student.0).await?;
        Ok(Json(me))
    })
    .await
}

#[utoipa::path(
delete, operation_id = "inscriptions_revoke_own_token", path = "/api/me/token", tag = "inscriptions",
    summary = "Revoke the student's access token",
    security(("student_token" = [])),
    responses((status = 204, description = "Revoked"))
)]
async fn revoke_own_token(State(state): State<AppState>, student: Student) -> Result<StatusCode> {
    db::transact(&state.db, &student.caller(), async |tx| {
        service::revoke_tokens(tx, student.0.inscription_id).await?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

#[utoipa::path(
patch, operation_id = "inscriptions_set_attendance", path = "/api/admin/inscriptions/{id}", tag = "inscriptions",
    summary = "Record attendance",
    security(("staff_jwt" = [])),
    params(("id" = Uuid, Path, description = "The inscription")),
    request_body = AttendanceChange,
    responses((status = 200, description = "The inscription", body = InscriptionView))
)]
async fn set_attendance(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<Uuid>,
    Json(change): Json<AttendanceChange>,
) -> Result<Json<InscriptionView>> {
    db::transact(&state.db, &staff.caller(), async |tx| {
        let view = service::set_attendance(tx, staff.0.id, id, change.attended).await?;
        Ok(Json(view))
    })
    .await
}

#[utoipa::path(
post, operation_id = "inscriptions_issue_token", path = "/api/admin/inscriptions/{id}/token", tag = "inscriptions",
    summary = "Issue a new access token (the old ones are revoked)",
    security(("staff_jwt" = [])),
    params(("id" = Uuid, Path, description = "The inscription")),
    responses((status = 201, description = "The new token, shown once", body = IssuedAccess))
)]
async fn issue_token(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<Uuid>,
) -> Result<(StatusCode, Json<IssuedAccess>)> {
    db::transact(&state.db, &staff.caller(), async |tx| {
        let issued = service::issue_token(tx, id).await?;
        Ok((StatusCode::CREATED, Json(issued)))
    })
    .await
}

#[utoipa::path(
post, operation_id = "inscriptions_photo_upload", path = "/api/admin/inscriptions/{id}/photo", tag = "inscriptions",
    summary = "A presigned upload for the student's photo taken at the desk",
    security(("staff_jwt" = [])),
    params(("id" = Uuid, Path, description = "The inscription")),
    request_body = PhotoUploadRequest,
    responses(
        (status = 201, description = "PUT the image to `url` with `headers`, then confirm with `key`", body = UploadTicket),
        (status = 404, description = "No such inscription, or not one of the caller's masterclasses", content_type = "application/problem+json", body = shared::http::openapi::Problem),
        (status = 413, description = "Larger than the photo limit", content_type = "application/problem+json", body = shared::http::openapi::Problem),
        (status = 422, description = "A content type other than image/jpeg, image/png, image/webp", content_type = "application/problem+json", body = shared::http::openapi::Problem)
    )
)]
async fn start_photo_upload(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<Uuid>,
    Json(request): Json<PhotoUploadRequest>,
) -> Result<(StatusCode, Json<UploadTicket>)> {
    db::transact(&state.db, &staff.caller(), async |tx| {
        let ticket = photos::start_upload(&state, tx, id, &request).await?;
        Ok((StatusCode::CREATED, Json(ticket)))
    })
    .await
}

#[utoipa::path(
post, operation_id = "inscriptions_photo_confirm", path = "/api/admin/inscriptions/{id}/photo/confirm", tag = "inscriptions",
    summary = "Check the uploaded photo and attach it to the inscription",
    security(("staff_jwt" = [])),
    params(("id" = Uuid, Path, description = "The inscription")),
    request_body = PhotoConfirmRequest,
    responses(
        (status = 200, description = "The photo, with a short-lived link", body = PhotoView),
        (status = 404, description = "No such inscription, or not one of the caller's masterclasses", content_type = "application/problem+json", body = shared::http::openapi::Problem),
        (status = 413, description = "The uploaded file is larger than the limit (it was deleted)", content_type = "application/problem+json", body = shared::http::openapi::Problem),
        (status = 422, description = "Not a key issued for this inscription, nothing uploaded yet (`photo_not_uploaded`), or not an image of its kind (deleted)", content_type = "application/problem+json", body = shared::http::openapi::Problem)
    )
)]
async fn confirm_photo(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<Uuid>,
    Json(request): Json<PhotoConfirmRequest>,
) -> Result<Json<PhotoView>> {
    db::transact(&state.db, &staff.caller(), async |tx| {
        Ok(Json(photos::confirm(&state, tx, id, &request).await?))
    })
    .await
}

#[utoipa::path(
get, operation_id = "inscriptions_photo", path = "/api/admin/inscriptions/{id}/photo", tag = "inscriptions",
    summary = "A short-lived link to the student's photo",
    security(("staff_jwt" = [])),
    params(("id" = Uuid, Path, description = "The inscription")),
    responses(
        (status = 200, description = "The photo", body = PhotoView),
        (status = 404, description = "No such inscription for the caller, or no photo", content_type = "application/problem+json", body = shared::http::openapi::Problem)
    )
)]
async fn photo(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<Uuid>,
) -> Result<Json<PhotoView>> {
    db::transact(&state.db, &staff.caller(), async |tx| {
        Ok(Json(photos::get(&state, tx, id).await?))
    })
    .await
}

#[utoipa::path(
get, operation_id = "inscriptions_own_photo", path = "/api/me/photo", tag = "inscriptions",
    summary = "A short-lived link to the student's own photo",
    security(("student_token" = [])),
    responses(
        (status = 200, description = "The photo", body = PhotoView),
        (status = 404, description = "No photo", content_type = "application/problem+json", body = shared::http::openapi::Problem)
    )
)]
async fn own_photo(State(state): State<AppState>, student: Student) -> Result<Json<PhotoView>> {
    db::transact(&state.db, &student.caller(), async |tx| {
        Ok(Json(
            photos::get(&state, tx, student.0.inscription_id).await?,
        ))
    })
    .await
}

#[utoipa::path(
get, operation_id = "inscriptions_export_own", path = "/api/me/export", tag = "personal data",
    summary = "Everything held about the student's registration, as one JSON document",
    security(("student_token" = [])),
    responses((status = 200, description = "The export (schema_version 1)", body = Export))
)]
async fn export_own(State(state): State<AppState>, student: Student) -> Result<Json<Export>> {
    Ok(Json(privacy::export_own(&state, &student.0).await?))
}

#[utoipa::path(
post, operation_id = "inscriptions_consent", path = "/api/me/consent", tag = "personal data",
    summary = "Withdraw consent (messages stop at once) or give it again",
    security(("student_token" = [])),
    request_body = ConsentChange,
    responses((status = 200, description = "Where consent stands, with its history", body = ConsentState))
)]
async fn consent(
    State(state): State<AppState>,
    student: Student,
    Json(change): Json<ConsentChange>,
) -> Result<Json<ConsentState>> {
    Ok(Json(
        privacy::set_consent(&state, &student.0, &change).await?,
    ))
}

#[utoipa::path(
delete, operation_id = "inscriptions_erase_own", path = "/api/me", tag = "personal data",
    summary = "Erase the student's registration (and their profile with their last one)",
    description = "Idempotent: repeated with the same (now revoked) token, it answers as the first time.",
    security(("student_token" = [])),
    responses((status = 200, description = "Erased", body = Erased))
)]
async fn erase_own(State(state): State<AppState>, caller: StudentOrErased) -> Result<Json<Erased>> {
    match caller {
        StudentOrErased::Erased(erased) => Ok(Json(erased)),
        StudentOrErased::Student(student) => Ok(Json(privacy::erase_own(&state, &student).await?)),
    }
}

/// The function's routes, without the common layers (the caller adds them once).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(me, erase_own))
        .routes(routes!(export_own))
        .routes(routes!(consent))
        .routes(routes!(revoke_own_token))
        .routes(routes!(set_attendance))
        .routes(routes!(issue_token))
        .routes(routes!(start_photo_upload, photo))
        .routes(routes!(confirm_photo))
        .routes(routes!(own_photo))
}

/// The function's router as deployed: its routes, the common layers, and its state.
pub fn router(state: AppState) -> Router {
    shared::http::deployed(routes(), state)
}
