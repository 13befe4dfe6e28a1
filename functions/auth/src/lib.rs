//! `/api/auth` and `/api/admin/users`: staff sign-in and the admin's management of accounts.
//!
//! | route | who |
//! |---|---|
//! | `POST /api/auth/token` | anyone (e-mail and password) |
//! | `GET /api/auth/me` | staff |
//! | `GET`/`POST /api/admin/users`, `GET`/`PATCH /api/admin/users/{id}` | admin |
//! | `POST /api/admin/users/{id}/password` | admin |
//! | `PUT`/`DELETE /api/admin/users/{id}/masterclasses/{masterclass_id}` | admin |
//!
//! Every handler here has one shape, the same in every function crate: a `#[utoipa::path]` that
//! states the route's contract (the OpenAPI document is built from it), extractors that parse and
//! authenticate, then one service call, most often in one transaction as the caller. So handlers
//! read alike line for line, here and across crates. What
//! differs between two of them (the path, the role, the statuses, the service) is all each one
//! says; a macro over the shape would hide the contract the attribute states, and the rules are
//! in `shared` already.

use axum::{Router, extract::State, http::StatusCode, response::Response};
use shared::{
    AppState, Error, Result,
    auth::password::Password,
    db,
    domain::staff::{
        Credentials, NewStaff, PasswordReset, StaffDraft, StaffPatch, StaffPatchDraft,
    },
    http::{Admin, Json, Path, SourceIp, Staff},
    idempotency::{self, MaybeIdempotencyKey},
    services::staff::{self as service, SignedIn, StaffView},
};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

#[utoipa::path(
post, operation_id = "auth_sign_in", path = "/api/auth/token", tag = "staff",
    summary = "Sign in with e-mail and password: a staff JWT",
    request_body = Credentials,
    responses(
        (status = 200, description = "The token and the account", body = SignedIn),
        (status = 401, description = "Wrong e-mail or password, or a locked or inactive account", content_type = "application/problem+json", body = shared::http::openapi::Problem),
        (status = 429, description = "Too many failed sign-ins from this address, or to this account from this address (`rate_limited`); `Retry-After` says when the window ends", content_type = "application/problem+json", body = shared::http::openapi::Problem)
    )
)]
async fn sign_in(
    State(state): State<AppState>,
    SourceIp(source): SourceIp,
    Json(credentials): Json<Credentials>,
) -> Result<Json<SignedIn>> {
    Ok(Json(service::sign_in(&state, &credentials, source).await?))
}

#[utoipa::path(
get, operation_id = "auth_me", path = "/api/auth/me", tag = "staff",
    summary = "The signed-in staff account",
    security(("staff_jwt" = [])),
    responses((status = 200, description = "The account", body = StaffView))
)]
async fn me(State(state): State<AppState>, staff: Staff) -> Result<Json<StaffView>> {
    db::transact(&state.db, &staff.caller(), async |tx| {
        service::get(tx, staff.0.id).await
    })
    .await
    .map(Json)
}

#[utoipa::path(
get, operation_id = "auth_list", path = "/api/admin/users", tag = "staff",
    summary = "Every staff account",
    security(("staff_jwt" = [])),
    responses((status = 200, description = "The accounts", body = Vec<StaffView>))
)]
async fn list(State(state): State<AppState>, admin: Admin) -> Result<Json<Vec<StaffView>>> {
    db::transact(&state.db, &admin.caller(), async |tx| {
        let accounts = service::list(tx).await?;
        Ok(Json(accounts))
    })
    .await
}

#[utoipa::path(
post, operation_id = "auth_create", path = "/api/admin/users", tag = "staff",
    summary = "Create a staff account",
    security(("staff_jwt" = [])),
    params(shared::idempotency::IdempotencyKeyHeader),
    request_body = StaffDraft,
    responses(
        (status = 201, description = "The account", body = StaffView),
        (status = 409, description = "The e-mail address is taken", content_type = "application/problem+json", body = shared::http::openapi::Problem)
    )
)]
async fn create(
    State(state): State<AppState>,
    admin: Admin,
    key: MaybeIdempotencyKey,
    Json(draft): Json<StaffDraft>,
) -> Result<Response> {
    let new = NewStaff::parse(&draft)?;
    db::transact(&state.db, &admin.caller(), async |tx| {
        // The fingerprint leaves the password out: it is hashed with a fresh salt each time anyway.
        let fingerprint = (&draft.email, &draft.full_name, &draft.role);
        let response = idempotency::once(
            tx,
            &key,
            "staff.create",
            &fingerprint,
            StatusCode::CREATED,
            async || service::create(tx, &new).await,
        )
        .await?;
        Ok(response)
    })
    .await
}

#[utoipa::path(
get, operation_id = "auth_get_one", path = "/api/admin/users/{id}", tag = "staff",
    summary = "One staff account",
    security(("staff_jwt" = [])),
    params(("id" = Uuid, Path, description = "The account")),
    responses((status = 200, description = "The account", body = StaffView))
)]
async fn get_one(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<Uuid>,
) -> Result<Json<StaffView>> {
    db::transact(&state.db, &admin.caller(), async |tx| {
        let view = service::get(tx, id).await?;
        Ok(Json(view))
    })
    .await
}

#[utoipa::path(
patch, operation_id = "auth_update", path = "/api/admin/users/{id}", tag = "staff",
    summary = "Rename, change the role, (de)activate",
    security(("staff_jwt" = [])),
    params(("id" = Uuid, Path, description = "The account")),
    request_body = StaffPatchDraft,
    responses(
        (status = 200, description = "The account", body = StaffView),
        (status = 409, description = "The change would leave no active admin", content_type = "application/problem+json", body = shared::http::openapi::Problem)
    )
)]
async fn update(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<Uuid>,
    Json(draft): Json<StaffPatchDraft>,
) -> Result<Json<StaffView>> {
    let patch = StaffPatch::parse(&draft)?;
    db::transact(&state.db, &admin.caller(), async |tx| {
        let view = service::update(tx, &admin.0, id, &patch).await?;
        Ok(Json(view))
    })
    .await
}

#[utoipa::path(
post, operation_id = "auth_reset_password", path = "/api/admin/users/{id}/password", tag = "staff",
    summary = "Set a new password (earlier tokens stop working)",
    security(("staff_jwt" = [])),
    params(("id" = Uuid, Path, description = "The account")),
    request_body = PasswordReset,
    responses((status = 204, description = "Changed"))
)]
async fn reset_password(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<Uuid>,
    Json(body): Json<PasswordReset>,
) -> Result<StatusCode> {
    let password = Password::parse(&body.password).map_err(|m| Error::field("password", m))?;
    db::transact(&state.db, &admin.caller(), async |tx| {
        service::reset_password(tx, id, &password).await?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

#[utoipa::path(
put, operation_id = "auth_assign", path = "/api/admin/users/{id}/masterclasses/{masterclass_id}", tag = "staff",
    summary = "Assign a tutor to a masterclass",
    security(("staff_jwt" = [])),
    params(("id" = Uuid, Path, description = "The tutor"), ("masterclass_id" = Uuid, Path, description = "The masterclass")),
    responses(
        (status = 200, description = "The tutor", body = StaffView),
        (status = 409, description = "Only tutors are assigned", content_type = "application/problem+json", body = shared::http::openapi::Problem)
    )
)]
async fn assign(
    State(state): State<AppState>,
    admin: Admin,
    Path((id, masterclass_id)): Path<(Uuid, Uuid)>,
) -> Result<Json<StaffView>> {
    db::transact(&state.db, &admin.caller(), async |tx| {
        let view = service::assign(tx, id, masterclass_id).await?;
        Ok(Json(view))
    })
    .await
}

#[utoipa::path(
delete, operation_id = "auth_unassign", path = "/api/admin/users/{id}/masterclasses/{masterclass_id}", tag = "staff",
    summary = "Unassign a tutor from a masterclass",
    security(("staff_jwt" = [])),
    params(("id" = Uuid, Path, description = "The tutor"), ("masterclass_id" = Uuid, Path, description = "The masterclass")),
    responses((status = 200, description = "The tutor", body = StaffView))
)]
async fn unassign(
    State(state): State<AppState>,
    admin: Admin,
    Path((id, masterclass_id)): Path<(Uuid, Uuid)>,
) -> Result<Json<StaffView>> {
    db::transact(&state.db, &admin.caller(), async |tx| {
        let view = service::unassign(tx, id, masterclass_id).await?;
        Ok(Json(view))
    })
    .await
}

/// The function's routes, without the common layers (the caller adds them once).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(sign_in))
        .routes(routes!(me))
        .routes(routes!(list, create))
        .routes(routes!(get_one, update))
        .routes(routes!(reset_password))
        .routes(routes!(assign, unassign))
}

/// The function's router as deployed: its routes, the common layers, and its state.
pub fn router(state: AppState) -> Router {
    shared::http::deployed(routes(), state)
}
