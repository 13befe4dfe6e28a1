//! `/api/admin/questions`: the question bank of each masterclass (staff; tutors only for the
//! masterclasses they are assigned to, enforced by row-level security).
//!
//! | route | who |
//! |---|---|
//! | `GET /api/admin/questions?masterclass_id=&status=` | staff |
//! | `POST /api/admin/questions` | staff (`Idempotency-Key`) |
//! | `GET`/`PUT`/`DELETE /api/admin/questions/{id}` | staff (DELETE archives a used question) |

use axum::{
    Router,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::get,
};
use shared::{
    AppState, Result, db,
    domain::test::{NewQuestion, QuestionDraft},
    http::{Json, Path, Query, Staff},
    idempotency::{self, MaybeIdempotencyKey},
    services::questions::{self as service, QuestionFilter, QuestionView, Removed},
};
use uuid::Uuid;

async fn list(
    State(state): State<AppState>,
    staff: Staff,
    Query(filter): Query<QuestionFilter>,
) -> Result<Json<Vec<QuestionView>>> {
    db::transact(&state.db, &staff.caller(), async |tx| {
        let questions = service::list(tx, &filter).await?;
        Ok(Json(questions))
    })
    .await
}

async fn create(
    State(state): State<AppState>,
    staff: Staff,
    key: MaybeIdempotencyKey,
    Json(draft): Json<QuestionDraft>,
) -> Result<Response> {
    let new = NewQuestion::parse(&draft)?;
    db::transact(&state.db, &staff.caller(), async |tx| {
        let provenance = serde_json::json!({ "source": "staff" });
        let response = idempotency::once(
            tx,
            &key,
            "questions.create",
            &draft,
            StatusCode::CREATED,
            async || service::create(tx, staff.0.id, &new, provenance).await,
        )
        .await?;
        Ok(response)
    })
    .await
}

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
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/admin/questions", get(list).post(create))
        .route(
            "/api/admin/questions/{id}",
            get(get_one).put(replace).delete(delete),
        )
}

/// The function's router as deployed: its routes, the common layers, and its state.
pub fn router(state: AppState) -> Router {
    shared::http::with_common_layers(routes().with_state(state))
}
