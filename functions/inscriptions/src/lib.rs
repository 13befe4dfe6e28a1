//! `/api/me` and `/api/admin/inscriptions`: a student's own record, and staff's handling of
//! inscriptions. (Registration and attendance arrive with the student-journey work.)
//!
//! | route | who |
//! |---|---|
//! | `GET /api/me` | student (access token) |
//! | `DELETE /api/me/token` | student: revokes their access token |
//! | `POST /api/admin/inscriptions/{id}/token` | staff of the masterclass: issues a new access token |

use axum::{
    Router,
    extract::State,
    http::StatusCode,
    routing::{delete, get, post},
};
use shared::{
    AppState, Result, db,
    http::{Json, Path, Staff, Student},
    services::students::{self as service, IssuedAccess, Me},
};
use uuid::Uuid;

async fn me(State(state): State<AppState>, student: Student) -> Result<Json<Me>> {
    let mut client = state.db.get().await?;
    let tx = db::begin_as(&mut client, &student.caller()).await?;
    let me = service::me(&state, &tx, &student.0).await?;
    tx.commit().await?;
    Ok(Json(me))
}

async fn revoke_own_token(State(state): State<AppState>, student: Student) -> Result<StatusCode> {
    let mut client = state.db.get().await?;
    let tx = db::begin_as(&mut client, &student.caller()).await?;
    service::revoke_tokens(&tx, student.0.inscription_id).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn issue_token(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<Uuid>,
) -> Result<(StatusCode, Json<IssuedAccess>)> {
    let mut client = state.db.get().await?;
    let tx = db::begin_as(&mut client, &staff.caller()).await?;
    let issued = service::issue_token(&tx, id).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(issued)))
}

/// The function's routes, without the common layers (the caller adds them once).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/me", get(me))
        .route("/api/me/token", delete(revoke_own_token))
        .route("/api/admin/inscriptions/{id}/token", post(issue_token))
}

/// The function's router as deployed: its routes, the common layers, and its state.
pub fn router(state: AppState) -> Router {
    shared::http::with_common_layers(routes().with_state(state))
}
