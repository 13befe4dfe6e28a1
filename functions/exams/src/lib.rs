//! `/api/tests`: the PRE and POST exams (the students' "tests") a student takes, scored on the server; and staff's
//! opening of the POST test.
//!
//! | route | who |
//! |---|---|
//! | `GET /api/tests/{PRE|POST}` | student: their paper (never the answers) and, once submitted, the result |
//! | `POST /api/tests/{PRE|POST}` | student: submit answers (`Idempotency-Key`) |
//! | `PUT /api/tests/{PRE|POST}/draft` | student: keep some answers before submitting (finish in the chat or on another device) |
//! | `PUT /api/admin/masterclasses/{id}/post-test` | staff of the masterclass: open the POST test early |
//!
//! Every handler here has one shape, the same in every function crate: a `#[utoipa::path]` that
//! states the route's contract (the OpenAPI document is built from it), extractors that parse and
//! authenticate, then one service call, most often in one transaction as the caller. So handlers
//! read alike line for line, here and across crates. What
//! differs between two of them (the path, the role, the statuses, the service) is all each one
//! says; a macro over the shape would hide the contract the attribute states, and the rules are
//! in `shared` already.

use shared::services::exams::Attempt;
use std::collections::BTreeMap;
use utoipa_axum::{router::OpenApiRouter, routes};

use axum::{Router, extract::State, http::StatusCode, response::Response};
use serde::{Deserialize, Serialize};
use shared::{
    AppState, Error, Result, db,
    domain::exam::{Answers, Channel, ExamKind},
    http::{Json, Path, Staff, Student},
    idempotency::{self, MaybeIdempotencyKey},
    services::exams::{self as service, Paper},
};
use time::OffsetDateTime;
use uuid::Uuid;

/// `POST /api/tests/{kind}`.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Submission {
    /// `{ "<question id>": "A" | "B" | "C" | "D" }`, one per question of the paper.
    #[schema(value_type = BTreeMap<String, shared::domain::exam::Choice>)]
    pub answers: BTreeMap<String, String>,
}

/// `PUT /api/tests/{kind}/draft`: some answers, and the draft as it then stands.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Draft {
    /// `{ "<question id>": "A" | "B" | "C" | "D" }`, for any questions of the paper.
    #[schema(value_type = BTreeMap<String, shared::domain::exam::Choice>)]
    pub answers: BTreeMap<String, String>,
}

/// `PUT /api/admin/masterclasses/{id}/post-test`.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostTestWindow {
    pub open: bool,
}

fn kind(raw: &str) -> Result<ExamKind> {
    ExamKind::parse(raw).ok_or(Error::NotFound("test (use PRE or POST)"))
}

#[utoipa::path(
get, operation_id = "tests_paper", path = "/api/tests/{kind}", tag = "tests",
    summary = "The student's paper (never the answers) and, once submitted, the result",
    security(("student_token" = [])),
    params(("kind" = ExamKind, Path, description = "PRE or POST")),
    responses(
        (status = 200, description = "The paper", body = Paper),
        (status = 409, description = "The test is not open (window, or no bank yet)", content_type = "application/problem+json", body = shared::http::openapi::Problem)
    )
)]
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

#[utoipa::path(
post, operation_id = "tests_submit", path = "/api/tests/{kind}", tag = "tests",
    summary = "Submit answers; scored on the server",
    security(("student_token" = [])),
    params(("kind" = ExamKind, Path, description = "PRE or POST"), shared::idempotency::IdempotencyKeyHeader),
    request_body = Submission,
    responses(
        (status = 201, description = "The score", body = Attempt),
        (status = 409, description = "Already submitted, or the test is not open", content_type = "application/problem+json", body = shared::http::openapi::Problem)
    )
)]
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
                service::submit(
                    tx,
                    &student.0,
                    kind,
                    &answers,
                    OffsetDateTime::now_utc(),
                    Channel::Web,
                )
                .await
            },
        )
        .await?;
        Ok(response)
    })
    .await
}

#[utoipa::path(
put, operation_id = "tests_save_draft", path = "/api/tests/{kind}/draft", tag = "tests",
    summary = "Keep some answers before submitting; the answers given in the WhatsApp chat are there too",
    description = "Each answer replaces an earlier one to its question. The paper (`GET`) shows the draft; \
                   submitting (here or by finishing in the chat) drops it.",
    security(("student_token" = [])),
    params(("kind" = ExamKind, Path, description = "PRE or POST")),
    request_body = Draft,
    responses(
        (status = 200, description = "The draft as it now stands", body = Draft),
        (status = 409, description = "Already submitted, or the test is not open", content_type = "application/problem+json", body = shared::http::openapi::Problem)
    )
)]
async fn save_draft(
    State(state): State<AppState>,
    student: Student,
    Path(raw): Path<String>,
    Json(draft): Json<Draft>,
) -> Result<Json<Draft>> {
    let kind = kind(&raw)?;
    let answers = Answers::parse(&draft.answers).map_err(Error::Validation)?;
    db::transact(&state.db, &student.caller(), async |tx| {
        let saved =
            service::save_draft(tx, &student.0, kind, &answers, OffsetDateTime::now_utc()).await?;
        Ok(Json(Draft {
            answers: saved
                .into_iter()
                .map(|(id, choice)| (id.to_string(), choice.as_str().to_owned()))
                .collect(),
        }))
    })
    .await
}

#[utoipa::path(
put, operation_id = "tests_open_post_test", path = "/api/admin/masterclasses/{id}/post-test", tag = "tests",
    summary = "Open (or close) the POST test before the masterclass starts",
    security(("staff_jwt" = [])),
    params(("id" = Uuid, Path, description = "The masterclass")),
    request_body = PostTestWindow,
    responses((status = 200, description = "The window as set", body = PostTestWindow))
)]
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
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(paper, submit))
        .routes(routes!(save_draft))
        .routes(routes!(open_post_test))
}

/// The function's router as deployed: its routes, the common layers, and its state.
pub fn router(state: AppState) -> Router {
    shared::http::deployed(routes(), state)
}
