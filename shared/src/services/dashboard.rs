//! The staff dashboard's students: the list (filters, accent- and spacing-insensitive search on
//! name and number, keyset paging), the CSV of the same list, one student's whole record, and
//! attendance in bulk. Row-level security scopes every query to what the caller staffs.
//!
//! Service functions share a shape across `services/`: look the record
//! up (a 404 when the caller may not see it), change it through `db`, log it, and `audit` it in
//! the same transaction, one statement a step so that the order reads as the rule. Request and
//! answer types are flat structs whose fields are the contract (an optional filter a field, a
//! timestamp with its `rfc3339` attribute), so two of them read alike. What differs (the record,
//! the rule, the audit action, the fields) is the content of each.

use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime, UtcOffset};
use uuid::Uuid;

use crate::model::{
    audit::{AuditEntry, AuditFilter},
    students::{StudentFilter, StudentKey, StudentRow, StudentSort},
};
use crate::{
    db::{self, Transaction},
    domain::paging::{CursorKey, Keyset, micros_of},
    error::{Error, FieldError, Result},
    model::students::InscriptionView,
};

// `YYYY-MM-DD`, as the API takes dates.
time::serde::format_description!(iso_date, Date, "[year]-[month]-[day]");

/// Gabon's time (West Africa Time, no daylight saving): the days of the date filters.
const GABON: UtcOffset = time::macros::offset!(+1);

/// Longest search text accepted.
const SEARCH_MAX_CHARS: usize = 100;

/// `GET /api/admin/students` (and `.csv`): raw query parameters.
#[derive(Debug, Default, Clone, Deserialize, Serialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StudentQuery {
    pub masterclass_id: Option<Uuid>,
    pub attended: Option<bool>,
    /// First day of registration, `YYYY-MM-DD` (Gabon time), included.
    pub registered_from: Option<String>,
    /// Last day of registration, `YYYY-MM-DD` (Gabon time), included.
    pub registered_to: Option<String>,
    pub has_pre: Option<bool>,
    pub has_post: Option<bool>,
    /// Part of the name or of the number: accents, case, spaces and punctuation ignored
    /// ("eloise" finds "Éloïse", "066 12" finds "+24106612345"). 2 to 100 characters.
    pub q: Option<String>,
    /// `registered` (default: newest first) or `name` (default: A to Z).
    pub sort: Option<String>,
    /// `asc` or `desc` (default: as `sort` says).
    pub order: Option<String>,
    /// Students per page, 1 to 200 (default 50). Not used by the CSV.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page. Not used by the CSV.
    pub cursor: Option<String>,
}

/// A day of a date filter: `YYYY-MM-DD`, years 2000 to 2100 (what the platform can hold).
fn day(field: &str, value: Option<&str>, errors: &mut Vec<FieldError>) -> Option<Date> {
    let value = value?.trim();
    match Date::parse(
        value,
        time::macros::format_description!("[year]-[month]-[day]"),
    ) {
        Ok(date) if (2000..=2100).contains(&date.year()) => Some(date),
        Ok(_) => {
            errors.push(FieldError::new(field, "must be between 2000 and 2100"));
            None
        }
        Err(_) => {
            errors.push(FieldError::new(field, "must be a date, YYYY-MM-DD"));
            None
        }
    }
}

/// Free text of a filter: no control characters (Postgres refuses NUL in text).
fn printable(field: &str, value: &str, errors: &mut Vec<FieldError>) {
    if value.chars().any(char::is_control) {
        errors.push(FieldError::new(
            field,
            "must not contain control characters",
        ));
    }
}

impl StudentFilter {
    pub fn parse(query: &StudentQuery) -> Result<Self> {
        let mut errors = Vec::new();
        let from = day(
            "registered_from",
            query.registered_from.as_deref(),
            &mut errors,
        );
        let to = day("registered_to", query.registered_to.as_deref(), &mut errors);
        if let (Some(from), Some(to)) = (from, to)
            && to < from
        {
            errors.push(FieldError::new(
                "registered_to",
                "must not be before registered_from",
            ));
        }
        let search = query
            .q
            .as_deref()
            .map(str::trim)
            .filter(|q| !q.is_empty())
            .map(str::to_owned);
        if let Some(q) = &search {
            printable("q", q, &mut errors);
            let meaningful = q.chars().filter(|c| c.is_alphanumeric()).count();
            if q.chars().count() > SEARCH_MAX_CHARS {
                errors.push(FieldError::new(
                    "q",
                    format!("must be at most {SEARCH_MAX_CHARS} characters"),
                ));
            } else if meaningful < 2 {
                errors.push(FieldError::new(
                    "q",
                    "must have at least 2 letters or digits",
                ));
            }
        }
        let sort = match query.sort.as_deref() {
            None | Some("registered") => StudentSort::Registered,
            Some("name") => StudentSort::Name,
            Some(_) => {
                errors.push(FieldError::new("sort", "must be registered or name"));
                StudentSort::Registered
            }
        };
        let descending = match query.order.as_deref() {
            None => sort == StudentSort::Registered,
            Some("desc") => true,
            Some("asc") => false,
            Some(_) => {
                errors.push(FieldError::new("order", "must be asc or desc"));
                false
            }
        };
        if !errors.is_empty() {
            return Err(Error::Validation(errors));
        }
        let midnight = |date: Date| date.midnight().assume_offset(GABON);
        Ok(Self {
            masterclass_id: query.masterclass_id,
            attended: query.attended,
            registered_from: from.map(midnight),
            registered_before: to.and_then(|to| to.next_day()).map(midnight),
            has_pre: query.has_pre,
            has_post: query.has_post,
            search,
            sort,
            descending,
        })
    }

    fn key_of(&self, row: &StudentRow) -> StudentKey {
        let registered = self.sort == StudentSort::Registered;
        StudentKey {
            sort: self.sort,
            descending: self.descending,
            at: registered.then(|| micros_of(row.registered_at)),
            name: (!registered).then(|| row.name_key.clone()),
            id: row.inscription_id,
        }
    }
}

/// A page of students.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StudentPage {
    pub items: Vec<StudentRow>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// A page of the students the caller staffs.
pub async fn list(
    tx: &Transaction<'_>,
    cursors: &CursorKey,
    query: &StudentQuery,
) -> Result<StudentPage> {
    let filter = StudentFilter::parse(query)?;
    let keyset: Keyset<StudentKey> = Keyset::parse(cursors, query.limit, query.cursor.as_deref())?;
    if let Some(after) = &keyset.after
        && (after.sort != filter.sort
            || after.descending != filter.descending
            || (after.sort == StudentSort::Registered) != after.at.is_some()
            || (after.sort == StudentSort::Name) != after.name.is_some()
            || after.name.as_deref().is_some_and(|n| n.contains('\0')))
    {
        return Err(Error::field(
            "cursor",
            "was given for another sort or order than this request's",
        ));
    }
    let rows = db::students::page(tx, &filter, keyset.after.as_ref(), keyset.fetch()).await?;
    let (items, next_cursor) = keyset.page(rows, |row| filter.key_of(row));
    Ok(StudentPage { items, next_cursor })
}

/// Rows fetched per query while writing the CSV.
const EXPORT_BATCH: i64 = 500;

/// Every student matching a filter as CSV, one chunk of [`EXPORT_BATCH`] rows at a time walked
/// by keyset (the BOM and header lead the first): the caller reads the next chunk only when it
/// has sent the previous one, so memory holds a batch or two whatever the size. Read in one
/// snapshot transaction (`db::transact_snapshot`), the export is one consistent state.
pub struct CsvExport {
    filter: StudentFilter,
    after: Option<StudentKey>,
    started: bool,
    done: bool,
    /// Students written so far.
    pub count: u64,
}

impl CsvExport {
    pub fn new(filter: StudentFilter) -> Self {
        Self {
            filter,
            after: None,
            started: false,
            done: false,
            count: 0,
        }
    }

    /// The next chunk of the file, or `None` once it is all written.
    pub async fn next_chunk(&mut self, tx: &Transaction<'_>) -> Result<Option<Vec<u8>>> {
        if self.done {
            return Ok(None);
        }
        let rows = db::students::page(tx, &self.filter, self.after.as_ref(), EXPORT_BATCH).await?;
        self.done = (rows.len() as i64) < EXPORT_BATCH;
        self.after = rows.last().map(|row| self.filter.key_of(row));
        self.count += rows.len() as u64;
        let mut chunk = Vec::new();
        if !self.started {
            chunk.extend_from_slice(UTF8_BOM);
        }
        chunk.extend(csv_lines(&rows, !self.started)?);
        self.started = true;
        Ok(Some(chunk))
    }
}

/// The CSV's header and one line per student: UTF-8, comma-separated, quoted as RFC 4180 says.
pub const CSV_HEADER: [&str; 12] = [
    "inscription_id",
    "student_id",
    "full_name",
    "whatsapp_number",
    "masterclass_id",
    "masterclass_title",
    "attended",
    "registered_at",
    "pre_score",
    "post_score",
    "max_score",
    "gain",
];

/// The byte-order mark that makes spreadsheets read the CSV as UTF-8 (accents intact).
pub const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// `rows` as CSV lines (with the header first when `header`).
pub fn csv_lines(rows: &[StudentRow], header: bool) -> Result<Vec<u8>> {
    let mut out = csv::Writer::from_writer(Vec::with_capacity(rows.len() * 160));
    let failed = |e: csv::Error| Error::Internal(anyhow::anyhow!("writing CSV: {e}"));
    if header {
        out.write_record(CSV_HEADER).map_err(failed)?;
    }
    let number = |n: Option<i32>| n.map(|n| n.to_string()).unwrap_or_default();
    for row in rows {
        let registered = row
            .registered_at
            .format(&time::format_description::well_known::Rfc3339)
            .map_err(|e| Error::Internal(e.into()))?;
        out.write_record([
            row.inscription_id.to_string().as_str(),
            &row.student_id.to_string(),
            &row.full_name,
            &row.whatsapp_number,
            &row.masterclass_id.to_string(),
            &row.masterclass_title,
            if row.attended { "true" } else { "false" },
            &registered,
            &number(row.pre_score),
            &number(row.post_score),
            &number(row.max_score),
            &number(row.gain),
        ])
        .map_err(failed)?;
    }
    out.into_inner()
        .map_err(|e| Error::Internal(anyhow::anyhow!("writing CSV: {e}")))
}

/// `POST /api/admin/inscriptions/attendance`: many inscriptions at once, all or nothing.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkAttendance {
    /// 1 to 500 inscriptions, no repeats.
    pub inscription_ids: Vec<Uuid>,
    pub attended: bool,
}

/// The inscriptions changed by a bulk attendance.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BulkAttendanceDone {
    pub changed: Vec<InscriptionView>,
}

/// Most inscriptions one bulk attendance may change.
pub const BULK_MAX: usize = 500;

/// Validates (or unvalidates) every inscription of `change`, or none, and audits each.
pub async fn set_attendance(
    tx: &Transaction<'_>,
    staff_id: Uuid,
    change: &BulkAttendance,
) -> Result<BulkAttendanceDone> {
    let ids = &change.inscription_ids;
    if ids.is_empty() || ids.len() > BULK_MAX {
        return Err(Error::field(
            "inscription_ids",
            format!("must list 1 to {BULK_MAX} inscriptions"),
        ));
    }
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    if unique.len() != ids.len() {
        return Err(Error::field(
            "inscription_ids",
            "must not list an inscription twice",
        ));
    }
    let changed = db::students::set_attendance(tx, ids, change.attended, staff_id).await?;
    let ids: Vec<String> = changed.iter().map(|view| view.id.to_string()).collect();
    db::audit::record_many(
        tx,
        "inscription.attendance",
        "inscription",
        &ids,
        &serde_json::json!({ "attended": change.attended, "bulk": true }),
    )
    .await?;
    tracing::info!(
        count = changed.len(),
        attended = change.attended,
        "attendance changed in bulk"
    );
    Ok(BulkAttendanceDone { changed })
}

/// One student's whole record (`GET /api/admin/students/{id}`).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StudentRecord {
    pub id: Uuid,
    pub profile: StudentProfile,
    pub consent: ConsentRecord,
    pub inscriptions: Vec<RecordInscription>,
    /// WhatsApp messages to the student, with their delivery statuses.
    pub messages: Vec<RecordMessage>,
    /// Messages the student sent.
    pub incoming: Vec<RecordIncoming>,
    /// What staff and the platform did about the student (admins only; empty for tutors).
    pub audit: Vec<AuditEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StudentProfile {
    pub full_name: String,
    #[serde(with = "iso_date::option")]
    pub date_of_birth: Option<Date>,
    pub whatsapp_number: String,
    #[serde(with = "crate::rfc3339")]
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConsentRecord {
    #[serde(with = "crate::rfc3339::option")]
    pub consent_at: Option<OffsetDateTime>,
    pub consent_version: Option<String>,
    /// When the number sent STOP (null once it sent START again).
    #[serde(with = "crate::rfc3339::option")]
    pub opted_out_at: Option<OffsetDateTime>,
    /// The consent given with each registration.
    pub registrations: Vec<RegistrationConsent>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RegistrationConsent {
    pub inscription_id: Uuid,
    #[serde(with = "crate::rfc3339")]
    pub consent_at: OffsetDateTime,
    pub consent_version: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RecordInscription {
    pub id: Uuid,
    pub masterclass_id: Uuid,
    pub masterclass_title: String,
    #[serde(with = "crate::rfc3339")]
    pub starts_at: OffsetDateTime,
    pub full_name: String,
    #[serde(with = "iso_date::option")]
    pub date_of_birth: Option<Date>,
    pub whatsapp_number: String,
    pub attended: bool,
    #[serde(with = "crate::rfc3339::option")]
    pub attendance_validated_at: Option<OffsetDateTime>,
    #[serde(with = "crate::rfc3339")]
    pub registered_at: OffsetDateTime,
    /// Set when two registrations of the person met through sync: the one kept.
    pub merged_into: Option<Uuid>,
    #[serde(with = "crate::rfc3339::option")]
    pub deleted_at: Option<OffsetDateTime>,
    pub tests: Vec<RecordTest>,
    /// Tests taken (or being taken) in the WhatsApp chat, newest first; one open at most.
    pub chat_tests: Vec<RecordChatTest>,
    /// Answers given to a test not yet submitted (in the chat or on the web).
    pub draft_answers: Vec<RecordDraft>,
}

/// How a conversation stands, for staff.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RecordChatTest {
    pub id: Uuid,
    pub kind: crate::domain::exam::ExamKind,
    #[serde(with = "crate::rfc3339")]
    pub started_at: OffsetDateTime,
    #[serde(with = "crate::rfc3339")]
    pub active_at: OffsetDateTime,
    #[serde(with = "crate::rfc3339::option")]
    pub ended_at: Option<OffsetDateTime>,
    /// `submitted`, `expired`, `reset`, `closed` (the window closed or the test was taken
    /// elsewhere) or `stopped` (the student sent STOP); none while open.
    pub ended_reason: Option<String>,
    pub replies: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RecordDraft {
    /// PRE or POST.
    pub kind: String,
    pub question_id: Uuid,
    pub choice: String,
    #[serde(with = "crate::rfc3339")]
    pub answered_at: OffsetDateTime,
    /// `web` or `chat`.
    pub channel: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RecordTest {
    pub id: Uuid,
    /// PRE or POST.
    pub kind: String,
    pub score: Option<i32>,
    pub max_score: i32,
    #[serde(with = "crate::rfc3339")]
    pub submitted_at: OffsetDateTime,
    /// Not counted: another attempt of the same kind was submitted first (sync).
    pub superseded: bool,
    /// Where it was answered: `web` or `chat` (WhatsApp).
    pub channel: crate::domain::exam::Channel,
    pub answers: Vec<RecordAnswer>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RecordAnswer {
    pub question_id: Uuid,
    pub text: String,
    pub choice: String,
    pub correct_choice: Option<String>,
    pub correct: Option<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RecordMessage {
    pub id: Uuid,
    pub inscription_id: Option<Uuid>,
    pub message_type: String,
    pub to_number: String,
    pub body: String,
    pub status: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    #[serde(with = "crate::rfc3339::option")]
    pub status_at: Option<OffsetDateTime>,
    #[serde(with = "crate::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "crate::rfc3339::option")]
    pub sent_at: Option<OffsetDateTime>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RecordIncoming {
    pub id: Uuid,
    pub body: Option<String>,
    #[serde(with = "crate::rfc3339")]
    pub received_at: OffsetDateTime,
}

/// One student's whole record as the caller may see it.
pub async fn record(tx: &Transaction<'_>, student_id: Uuid) -> Result<StudentRecord> {
    let json = db::students::record(tx, student_id, None)
        .await?
        .ok_or(Error::NotFound("student"))?;
    serde_json::from_value(json).map_err(|e| {
        Error::Internal(anyhow::anyhow!(
            "reading student {student_id}'s record: {e}"
        ))
    })
}

/// `GET /api/admin/audit`: raw query parameters.
#[derive(Debug, Default, Clone, Deserialize, Serialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// The actor's id (a staff account's, `system`'s is empty).
    pub actor: Option<String>,
    /// An action, e.g. `inscription.attendance`.
    pub action: Option<String>,
    /// The kind of record acted on, e.g. `inscription`.
    pub entity: Option<String>,
    /// The record acted on (with `entity`).
    pub entity_id: Option<String>,
    /// First day, `YYYY-MM-DD` (Gabon time), included.
    pub from: Option<String>,
    /// Last day, `YYYY-MM-DD` (Gabon time), included.
    pub to: Option<String>,
    /// Entries per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl AuditFilter {
    pub fn parse(query: &AuditQuery) -> Result<Self> {
        let mut errors = Vec::new();
        let from = day("from", query.from.as_deref(), &mut errors);
        let to = day("to", query.to.as_deref(), &mut errors);
        let text = |field: &str, value: &Option<String>, errors: &mut Vec<FieldError>| {
            let value = value.as_deref().map(str::trim).filter(|v| !v.is_empty())?;
            if value.chars().count() > 200 {
                errors.push(FieldError::new(field, "must be at most 200 characters"));
            }
            printable(field, value, errors);
            Some(value.to_owned())
        };
        let filter = Self {
            actor: text("actor", &query.actor, &mut errors),
            action: text("action", &query.action, &mut errors),
            entity: text("entity", &query.entity, &mut errors),
            entity_id: text("entity_id", &query.entity_id, &mut errors),
            from: from.map(|d| d.midnight().assume_offset(GABON)),
            before: to
                .and_then(|d| d.next_day())
                .map(|d| d.midnight().assume_offset(GABON)),
        };
        if errors.is_empty() {
            Ok(filter)
        } else {
            Err(Error::Validation(errors))
        }
    }
}

/// A page of the audit trail, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditPage {
    pub items: Vec<AuditEntry>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// A page of the audit trail (RLS: admins only; the route asks for an admin too).
pub async fn audit(
    tx: &Transaction<'_>,
    cursors: &CursorKey,
    query: &AuditQuery,
) -> Result<AuditPage> {
    let filter = AuditFilter::parse(query)?;
    let keyset: Keyset<i64> = Keyset::parse(cursors, query.limit, query.cursor.as_deref())?;
    let rows = db::audit::page(tx, &filter, keyset.after, keyset.fetch()).await?;
    let (items, next_cursor) = keyset.page(rows, |entry| entry.id);
    Ok(AuditPage { items, next_cursor })
}
