//! `/api/tests`: the PRE and POST tests a student takes, scored on the server; and staff's
//! opening of the POST test.
//!
//! | route | who |
//! |---|---|
//! | `GET /api/tests/{PRE|POST}` | student: their paper (never the answers) and, once submitted, the result |
//! | `POST /api/tests/{PRE|POST}` | student: submit answers (`Idempotency-Key`) |
//! | `PUT /api/admin/masterclasses/{id}/post-test` | staff of the masterclass: open the POST test early |

use std::collections::BTreeMap;

use axum::{
    Router,
    extract::State,
    http::StatusCode,
    response::Response,
    routing::{get, put},
};
use serde::{Deserialize, Serialize};
use shared::{
    AppState, Error, Result, db,
    domain::test::{Answers, TestKind},
    http::{Json, Path, Staff, Student},
    idempotency::{self, MaybeIdempotencyKey},
    services::tests::{self as service, Paper},
};
use time::OffsetDateTime;
use uuid::Uuid;

/// `POST /api/tests/{kind}`.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Submission {
    /// `{ "<question id>": "A" | "B" | "C" | "D" }`, one per question of the paper.
    pub answers: BTreeMap<String, String>,
}

/// `PUT /api/admin/masterclasses/{id}/post-test`.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PostTestWindow {
    pub open: bool,
}

fn kind(raw: &str) -> Result<TestKind> {
    TestKind::parse(raw).ok_or(Error::NotFound("test (use PRE or POST)"))
}

async fn paper(
    State(state): State<AppState>,
    student: Student,
    Path(raw): Path<String>,
) -> Result<Json<Paper>> {
    let kind = kind(&raw)?;
    db::transact(&state.db, &student.caller(), async |tx| {
        let paper = service::paper(tx, &student.0, kind).await?;
        Ok(Json(paper))
    })
    .await
}

async fn submit(
    State(state): State<AppState>,
    student: Student,
    key: MaybeIdempotencyKey,
    Path(raw): Path<String>,
    Json(submission): Json<Submission>,
) -> Result<Response> {
    let kind = kind(&raw)?;
    let answers = Answers::parse(&submission.answers).map_err(Error::Validation)?;
    db::transact(&state.db, &student.caller(), async |tx| {
        let scope = format!("tests.submit.{}", kind.as_str());
        let response = idempotency::once(
            tx,
            &key,
            &scope,
            &submission,
            StatusCode::CREATED,
            async || {
                service::submit(tx, &student.0, kind, &answers, OffsetDateTime::now_utc()).await
            },
        )
        .await?;
        Ok(response)
    })
    .await
}

async fn open_post_test(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<Uuid>,
    Json(window): Json<PostTestWindow>,
) -> Result<Json<PostTestWindow>> {
    db::transact(&state.db, &staff.caller(), async |tx| {
        service::set_post_open(tx, id, staff.0.id, window.open).await?;
        Ok(Json(window))
    })
    .await
}

/// The function's routes, without the common layers (the caller adds them once).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/tests/{kind}", get(paper).post(submit))
        .route(
            "/api/admin/masterclasses/{id}/post-test",
            put(open_post_test),
        )
}

/// The function's router as deployed: its routes, the common layers, and its state.
pub fn router(state: AppState) -> Router {
    shared::http::with_common_layers(routes().with_state(state))
}
