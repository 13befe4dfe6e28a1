//! `/api/admin/questions`: the question bank of each masterclass (staff; tutors only for the
//! masterclasses they are assigned to, enforced by row-level security).
//!
//! | route | who |
//! |---|---|
//! | `GET /api/admin/questions?masterclass_id=&status=&limit=&cursor=` | staff |
//! | `POST /api/admin/questions` | staff (`Idempotency-Key`) |
//! | `GET`/`PUT`/`DELETE /api/admin/questions/{id}` | staff (DELETE archives a used question) |
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
    domain::exam::{NewQuestion, QuestionDraft},
    http::{Json, Path, Query, Staff},
    idempotency::{self, MaybeIdempotencyKey},
    services::questions::{self as service, QuestionFilter, QuestionPage, QuestionView, Removed},
};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

#[utoipa::path(
get, operation_id = "questions_list", path = "/api/admin/questions", tag = "questions",
    summary = "The question bank of the masterclasses the caller staffs",
    security(("staff_jwt" = [])),
    params(QuestionFilter),
    responses((status = 200, description = "A page of questions, newest first", body = QuestionPage))
)]
async fn list(
    State(state): State<AppState>,
    staff: Staff,
    Query(filter): Query<QuestionFilter>,
) -> Result<Json<QuestionPage>> {
    db::transact(&state.db, &staff.caller(), async |tx| {
        let questions = service::list(tx, &state.cursors, &filter).await?;
        Ok(Json(questions))
    })
    .await
}

#[utoipa::path(
post, operation_id = "questions_create", path = "/api/admin/questions", tag = "questions",
    summary = "Add a question (draft unless `status` says otherwise)",
    security(("staff_jwt" = [])),
    params(shared::idempotency::IdempotencyKeyHeader),
    request_body = QuestionDraft,
    responses((status = 201, description = "The question", body = QuestionView))
)]
async fn create(
    State(state): State<AppState>,
    staff: Staff,
    key: MaybeIdempotencyKey,
    Json(draft): Json<QuestionDraft>,
) -> Result<Response> {
    let new = NewQuestion::parse(&draft)?;
    db::transact(&state.db, &staff.caller(), async |tx| {
        let response = idempotency::once(
            tx,
            &key,
            "questions.create",
            &draft,
            StatusCode::CREATED,
            async || service::create_by_staff(tx, staff.0.id, &new).await,
        )
        .await?;
        Ok(response)
    })
    .await
}

#[utoipa::path(
get, operation_id = "questions_get_one", path = "/api/admin/questions/{id}", tag = "questions",
    summary = "One question with its answer",
    security(("staff_jwt" = [])),
    params(("id" = Uuid, Path, description = "The question")),
    responses((status = 200, description = "The question", body = QuestionView))
)]
async fn get_one(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<Uuid>,
) -> Result<Json<QuestionView>> {
    db::transact(&state.db, &staff.caller(), async |tx| {
        let question = service::get(tx, id).await?;
        Ok(Json(question))
    })
    .await
}

#[utoipa::path(
put, operation_id = "questions_replace", path = "/api/admin/questions/{id}", tag = "questions",
    summary = "Replace a question (a used question keeps its choices and answer)",
    security(("staff_jwt" = [])),
    params(("id" = Uuid, Path, description = "The question")),
    request_body = QuestionDraft,
    responses(
        (status = 200, description = "The question", body = QuestionView),
        (status = 409, description = "The question was used in a submitted test: its choices and answer are frozen", content_type = "application/problem+json", body = shared::http::openapi::Problem)
    )
)]
async fn replace(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<Uuid>,
    Json(draft): Json<QuestionDraft>,
) -> Result<Json<QuestionView>> {
    let new = NewQuestion::parse(&draft)?;
    db::transact(&state.db, &staff.caller(), async |tx| {
        let question = service::replace(tx, id, &new).await?;
        Ok(Json(question))
    })
    .await
}

#[utoipa::path(
delete, operation_id = "questions_delete", path = "/api/admin/questions/{id}", tag = "questions",
    summary = "Delete a question, or archive it if a submitted test used it",
    security(("staff_jwt" = [])),
    params(("id" = Uuid, Path, description = "The question")),
    responses(
        (status = 200, description = "Archived (it was used)", body = QuestionView),
        (status = 204, description = "Deleted")
    )
)]
async fn delete(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<Uuid>,
) -> Result<Response> {
    db::transact(&state.db, &staff.caller(), async |tx| {
        let (removed, question) = service::delete(tx, id).await?;
        Ok(match removed {
            Removed::Deleted => StatusCode::NO_CONTENT.into_response(),
            Removed::Archived => Json(question).into_response(),
        })
    })
    .await
}

/// The function's routes, without the common layers (the caller adds them once).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get_one, replace, delete))
}

/// The function's router as deployed: its routes, the common layers, and its state.
pub fn router(state: AppState) -> Router {
    shared::http::deployed(routes(), state)
}
