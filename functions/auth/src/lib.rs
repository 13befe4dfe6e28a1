//! `/api/auth` and `/api/admin/users`: staff sign-in and the admin's management of accounts.
//!
//! | route | who |
//! |---|---|
//! | `POST /api/auth/token` | anyone (e-mail and password) |
//! | `GET /api/auth/me` | staff |
//! | `GET`/`POST /api/admin/users`, `GET`/`PATCH /api/admin/users/{id}` | admin |
//! | `POST /api/admin/users/{id}/password` | admin |
//! | `PUT`/`DELETE /api/admin/users/{id}/masterclasses/{masterclass_id}` | admin |

use axum::{
    Router,
    extract::State,
    http::StatusCode,
    response::Response,
    routing::{get, post, put},
};
use shared::{
    AppState, Error, Result,
    auth::password::Password,
    db,
    domain::staff::{
        Credentials, NewStaff, PasswordReset, StaffDraft, StaffPatch, StaffPatchDraft,
    },
    http::{Admin, Json, Path, Staff},
    idempotency::{self, MaybeIdempotencyKey},
    services::staff::{self as service, SignedIn, StaffView},
};
use uuid::Uuid;

async fn sign_in(
    State(state): State<AppState>,
    Json(credentials): Json<Credentials>,
) -> Result<Json<SignedIn>> {
    Ok(Json(service::sign_in(&state, &credentials).await?))
}

async fn me(State(state): State<AppState>, staff: Staff) -> Result<Json<StaffView>> {
    db::transact(&state.db, &staff.caller(), async |tx| {
        service::get(tx, staff.0.id).await
    })
    .await
    .map(Json)
}

async fn list(State(state): State<AppState>, admin: Admin) -> Result<Json<Vec<StaffView>>> {
    db::transact(&state.db, &admin.caller(), async |tx| {
        let accounts = service::list(tx).await?;
        Ok(Json(accounts))
    })
    .await
}

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
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/auth/token", post(sign_in))
        .route("/api/auth/me", get(me))
        .route("/api/admin/users", get(list).post(create))
        .route("/api/admin/users/{id}", get(get_one).patch(update))
        .route("/api/admin/users/{id}/password", post(reset_password))
        .route(
            "/api/admin/users/{id}/masterclasses/{masterclass_id}",
            put(assign).delete(unassign),
        )
}

/// The function's router as deployed: its routes, the common layers, and its state.
pub fn router(state: AppState) -> Router {
    shared::http::with_common_layers(routes().with_state(state))
}
