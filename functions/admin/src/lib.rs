//! The staff dashboard: students (list, CSV, one student's record, attendance in bulk),
//! statistics with item analysis and their chart, and the audit trail. Tutors see only their
//! masterclasses' students and figures (row-level security); the audit trail is for admins.
//!
//! | route | who |
//! |---|---|
//! | `GET /api/admin/students?masterclass_id=&attended=&registered_from=&registered_to=&has_pre=&has_post=&q=&sort=&order=&limit=&cursor=` | staff |
//! | `GET /api/admin/students.csv?` (the same filters) | staff |
//! | `GET /api/admin/students/{id}` | staff |
//! | `POST /api/admin/inscriptions/attendance` | staff |
//! | `GET /api/admin/stats` | staff |
//! | `GET /api/admin/masterclasses/{id}/stats` | staff of the masterclass |
//! | `GET /api/admin/masterclasses/{id}/stats.svg` | staff of the masterclass |
//! | `GET /api/admin/audit?actor=&action=&entity=&entity_id=&from=&to=&limit=&cursor=` | admins |
//! | `GET /api/admin/students/{id}/export` | admins: everything held about the person |
//! | `DELETE /api/admin/students/{id}` | admins: erase the person (idempotent) |
//! | `POST /api/admin/students/{id}/chat-test/reset` | admins: end a test in progress in the WhatsApp chat |
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
    body::{Body, Bytes},
    extract::State,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use shared::{
    AppState, Result, db,
    http::{Admin, Json, Path, Query, Staff},
    model::students::{StudentFilter, StudentKey},
    services::{
        dashboard::{
            self as service, AuditPage, AuditQuery, BulkAttendance, BulkAttendanceDone, CsvExport,
            StudentPage, StudentQuery, StudentRecord,
        },
        privacy::{self, Erased, Export},
        stats::{self, MasterclassStats, Overview},
    },
};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

#[utoipa::path(
get, operation_id = "admin_students", path = "/api/admin/students", tag = "dashboard",
    summary = "The students of the masterclasses the caller staffs: filtered, searched, keyset-paged",
    security(("staff_jwt" = [])),
    params(StudentQuery),
    responses((status = 200, description = "A page of students", body = StudentPage))
)]
async fn students(
    State(state): State<AppState>,
    staff: Staff,
    Query(query): Query<StudentQuery>,
) -> Result<Json<StudentPage>> {
    db::transact(&state.db, &staff.caller(), async |tx| {
        Ok(Json(service::list(tx, &state.cursors, &query).await?))
    })
    .await
}

#[utoipa::path(
get, operation_id = "admin_students_csv", path = "/api/admin/students.csv", tag = "dashboard",
    summary = "The same students as CSV (UTF-8 with BOM), streamed whatever the size",
    security(("staff_jwt" = [])),
    params(StudentQuery),
    responses(
        (status = 200, description = "One line per student and masterclass (streamed)", content_type = "text/csv", body = String),
        (status = 303, description = "Where exports go through the store (a Lambda): a presigned link to the file")
    )
)]
async fn students_csv(
    State(state): State<AppState>,
    staff: Staff,
    Query(query): Query<StudentQuery>,
) -> Result<Response> {
    let filter = StudentFilter::parse(&query)?;
    // Paging does not apply to the file, but a bad `limit` or `cursor` is still a 422.
    shared::domain::paging::Keyset::<StudentKey>::parse(
        &state.cursors,
        query.limit,
        query.cursor.as_deref(),
    )?;
    let caller = staff.caller();
    // The export is audited before anything is sent, in its own transaction: an export cut
    // short has still shown some data.
    db::transact(&state.db, &caller, async |tx| {
        db::audit::record(
            tx,
            "students.exported",
            "students",
            "",
            &serde_json::to_value(&query).unwrap_or_default(),
        )
        .await
    })
    .await?;
    if state.config.uploads.exports_via_storage {
        return export_to_storage(&state, &caller, filter).await;
    }
    // One batch is written while the previous one is sent: the channel holds at most two, so
    // memory stays bounded however many students there are.
    let (sender, receiver) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(2);
    tokio::spawn(async move {
        let mut export = CsvExport::new(filter);
        let outcome = db::transact_snapshot(&state.db, &caller, async |tx| {
            while let Some(chunk) = export.next_chunk(tx).await? {
                if sender.send(Ok(Bytes::from(chunk))).await.is_err() {
                    break; // the client went away
                }
            }
            Ok(())
        })
        .await;
        match outcome {
            Ok(()) => tracing::info!(count = export.count, "students exported as CSV"),
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "the students CSV was cut short");
                let _ = sender
                    .send(Err(std::io::Error::other("the export failed")))
                    .await;
            }
        }
    });
    let stream = futures::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|chunk| (chunk, receiver))
    });
    let mut response = Body::from_stream(stream).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"students.csv\""),
    );
    Ok(response)
}

/// The export written to the store in parts (bounded memory as well), then a 303 to a
/// presigned link: what a Lambda behind API Gateway answers, whose answers are buffered and
/// capped at 6 MB. The object expires with the bucket's `exports/` lifecycle rule.
async fn export_to_storage(
    state: &AppState,
    caller: &shared::auth::Caller,
    filter: StudentFilter,
) -> Result<Response> {
    let key = format!("exports/{}/students.csv", uuid::Uuid::new_v4());
    let mut upload = state.storage.upload(&key, "text/csv; charset=utf-8");
    let mut export = CsvExport::new(filter);
    db::transact_snapshot(&state.db, caller, async |tx| {
        while let Some(chunk) = export.next_chunk(tx).await? {
            upload.write(&chunk).await?;
        }
        Ok(())
    })
    .await?;
    upload.finish().await?;
    let link = state
        .storage
        .download_link(&key, state.config.uploads.presign_ttl)
        .await?;
    tracing::info!(
        count = export.count,
        key,
        "students exported as CSV to the store"
    );
    Ok((
        axum::http::StatusCode::SEE_OTHER,
        [(header::LOCATION, link.url)],
    )
        .into_response())
}

#[utoipa::path(
get, operation_id = "admin_student", path = "/api/admin/students/{id}", tag = "dashboard",
    summary = "One student's whole record: profile, consent, inscriptions with tests and answers, messages, audit trail",
    security(("staff_jwt" = [])),
    params(("id" = Uuid, Path, description = "The student (`student_id` of the list)")),
    responses((status = 200, description = "The record", body = StudentRecord))
)]
async fn student(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<Uuid>,
) -> Result<Json<StudentRecord>> {
    db::transact(&state.db, &staff.caller(), async |tx| {
        Ok(Json(service::record(tx, id).await?))
    })
    .await
}

#[utoipa::path(
post, operation_id = "admin_bulk_attendance", path = "/api/admin/inscriptions/attendance", tag = "dashboard",
    summary = "Validate or unvalidate the attendance of many inscriptions: all or nothing",
    security(("staff_jwt" = [])),
    request_body = BulkAttendance,
    responses((status = 200, description = "Every inscription changed", body = BulkAttendanceDone))
)]
async fn bulk_attendance(
    State(state): State<AppState>,
    staff: Staff,
    Json(change): Json<BulkAttendance>,
) -> Result<Json<BulkAttendanceDone>> {
    db::transact(&state.db, &staff.caller(), async |tx| {
        Ok(Json(
            service::set_attendance(tx, staff.0.id, &change).await?,
        ))
    })
    .await
}

#[utoipa::path(
get, operation_id = "admin_stats", path = "/api/admin/stats", tag = "dashboard",
    summary = "The headline figures of every masterclass the caller staffs",
    security(("staff_jwt" = [])),
    responses((status = 200, description = "One row per masterclass", body = Overview))
)]
async fn overview(State(state): State<AppState>, staff: Staff) -> Result<Json<Overview>> {
    db::transact(&state.db, &staff.caller(), async |tx| {
        Ok(Json(stats::overview(tx).await?))
    })
    .await
}

#[utoipa::path(
get, operation_id = "admin_masterclass_stats", path = "/api/admin/masterclasses/{id}/stats", tag = "dashboard",
    summary = "What a masterclass achieved, and the item analysis of its questions",
    security(("staff_jwt" = [])),
    params(("id" = Uuid, Path, description = "The masterclass")),
    responses((status = 200, description = "The statistics", body = MasterclassStats))
)]
async fn masterclass_stats(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<Uuid>,
) -> Result<Json<MasterclassStats>> {
    db::transact(&state.db, &staff.caller(), async |tx| {
        Ok(Json(stats::masterclass(tx, id).await?))
    })
    .await
}

#[utoipa::path(
get, operation_id = "admin_masterclass_chart", path = "/api/admin/masterclasses/{id}/stats.svg", tag = "dashboard",
    summary = "The statistics as a chart: score distributions and success per question, PRE and POST",
    security(("staff_jwt" = [])),
    params(("id" = Uuid, Path, description = "The masterclass")),
    responses((status = 200, description = "An SVG image", content_type = "image/svg+xml", body = String))
)]
async fn masterclass_chart(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<Uuid>,
) -> Result<Response> {
    let figures = db::transact(&state.db, &staff.caller(), async |tx| {
        stats::masterclass(tx, id).await
    })
    .await?;
    let svg = stats::chart(&figures)?;
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("image/svg+xml"),
        )],
        svg,
    )
        .into_response())
}

#[utoipa::path(
get, operation_id = "admin_audit", path = "/api/admin/audit", tag = "dashboard",
    summary = "The audit trail, newest first (admins)",
    security(("staff_jwt" = [])),
    params(AuditQuery),
    responses((status = 200, description = "A page of entries", body = AuditPage))
)]
async fn audit(
    State(state): State<AppState>,
    admin: Admin,
    Query(query): Query<AuditQuery>,
) -> Result<Json<AuditPage>> {
    db::transact(&state.db, &admin.caller(), async |tx| {
        Ok(Json(service::audit(tx, &state.cursors, &query).await?))
    })
    .await
}

#[utoipa::path(
get, operation_id = "admin_student_export", path = "/api/admin/students/{id}/export", tag = "personal data",
    summary = "Everything held about a student, as one JSON document (a data subject's access request)",
    security(("staff_jwt" = [])),
    params(("id" = Uuid, Path, description = "The student")),
    responses((status = 200, description = "The export (schema_version 1)", body = Export))
)]
async fn student_export(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<Uuid>,
) -> Result<Json<Export>> {
    db::transact(&state.db, &admin.caller(), async |tx| {
        Ok(Json(privacy::export_student(tx, id).await?))
    })
    .await
}

#[utoipa::path(
delete, operation_id = "admin_student_erase", path = "/api/admin/students/{id}", tag = "personal data",
    summary = "Erase a student: every registration, message and trace of the person",
    description = "Idempotent: a second call answers as the first. Scores stay counted in the statistics, without a person behind them.",
    security(("staff_jwt" = [])),
    params(("id" = Uuid, Path, description = "The student")),
    responses((status = 200, description = "Erased", body = Erased))
)]
async fn student_erase(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<Uuid>,
) -> Result<Json<Erased>> {
    Ok(Json(
        privacy::erase_student(&state, &admin.caller(), id).await?,
    ))
}

#[utoipa::path(
post, operation_id = "admin_student_chat_reset", path = "/api/admin/students/{id}/chat-test/reset", tag = "dashboard",
    summary = "End a student's test in progress in the WhatsApp chat (one stuck, or to start afresh)",
    description = "The answers given so far are kept; the student is told, and `TEST` resumes. \
                   Idempotent: with no test in progress, `reset` is null.",
    security(("staff_jwt" = [])),
    params(("id" = Uuid, Path, description = "The student")),
    responses((status = 200, description = "The conversation ended, if one was in progress", body = ChatReset))
)]
async fn student_chat_reset(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<Uuid>,
) -> Result<Json<ChatReset>> {
    db::transact(&state.db, &admin.caller(), async |tx| {
        Ok(Json(ChatReset {
            reset: shared::messaging::chat::reset(tx, id).await?,
        }))
    })
    .await
}

/// `POST /api/admin/students/{id}/chat-test/reset`.
#[derive(Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ChatReset {
    /// The conversation ended (`chat_tests[].id` of the record), or null if none was open.
    pub reset: Option<Uuid>,
}

/// The function's routes, without the common layers (the caller adds them once).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(students))
        .routes(routes!(students_csv))
        .routes(routes!(student, student_erase))
        .routes(routes!(student_export))
        .routes(routes!(student_chat_reset))
        .routes(routes!(bulk_attendance))
        .routes(routes!(overview))
        .routes(routes!(masterclass_stats))
        .routes(routes!(masterclass_chart))
        .routes(routes!(audit))
}

/// The function's router as deployed: its routes, the common layers, and its state.
pub fn router(state: AppState) -> Router {
    shared::http::deployed(routes(), state)
}
