//! Applying one pushed mutation to its collection, through the same rules as the REST routes:
//! a desk's registration is [`services::registration::register`], a question goes through
//! [`NewQuestion::parse`] and keeps its choices once used, attendance is
//! `db::inscriptions::set_attendance`. Row-level security decides, as for every request.
//!
//! A mutation naming a field the collection does not know, a server-owned field, or (in an
//! update) a field set at creation only, is rejected as `validation`. A create whose record
//! already exists (a device resending it) merges as an update of its writable fields. An update
//! or delete of a record that does not exist, or that the caller cannot see, is a `conflict`
//! (`unknown_record`).

use serde_json::{Map, Value};
use time::OffsetDateTime;
use tokio_postgres::error::SqlState;

use super::{
    Collection, Fields, MAX_DOCUMENT_BYTES, Mutation, MutationResult, MutationStatus, Op, merge,
    millis,
};
use crate::{
    AppState,
    auth::Caller,
    db::{self, Transaction},
    domain::{
        exam::{NewQuestion, QuestionDraft},
        student::{Registration, RegistrationDraft},
    },
    error::{Error, FieldError, Result},
    services,
};

/// What every mutation of a push shares.
pub struct Context<'a> {
    pub state: &'a AppState,
    pub caller: &'a Caller,
    pub now: OffsetDateTime,
}

/// A mutation whose collection and clock were read ([`checked`]).
struct Checked<'a> {
    collection: Collection,
    mutation: &'a Mutation,
    at: super::Hlc,
}

/// Applies `mutation`; `Ok(true)` when it changed something.
pub async fn apply(ctx: &Context<'_>, tx: &Transaction<'_>, mutation: &Mutation) -> Result<bool> {
    let (collection, at) = checked(ctx, mutation)?;
    if mutation.clocks.is_some() {
        return Err(Error::field(
            "clocks",
            "is sent by sync peers only: a device sends one hlc per mutation",
        ));
    }
    if matches!(collection, Collection::Masterclasses | Collection::Attempts) {
        return Err(Error::Forbidden);
    }
    check_field_names(collection, mutation)?;
    let stored = db::sync::load(tx, collection, mutation.record_id).await?;
    let m = Checked {
        collection,
        mutation,
        at,
    };
    match (mutation.op, stored) {
        (Op::Create | Op::Update, Some(stored)) => update(ctx, tx, &m, stored).await,
        (Op::Delete, Some(stored)) => delete(tx, &m, stored).await,
        (Op::Create, None)
            if collection != Collection::Documents
                && db::sync::exists(tx, collection, mutation.record_id).await? =>
        {
            Err(Error::Forbidden)
        }
        (Op::Create, None) => {
            create(ctx, tx, &m).await?;
            Ok(true)
        }
        (Op::Update | Op::Delete, None) => Err(not_found(tx, collection, mutation).await?),
    }
}

/// What a mutation of a record the caller cannot load meets: `forbidden` when the record exists
/// but is no longer the caller's to see (a tutor taken off its masterclass), `unknown_record`
/// when it never was (or is someone else's document, whose existence is not told).
async fn not_found(
    tx: &Transaction<'_>,
    collection: Collection,
    mutation: &Mutation,
) -> Result<Error> {
    Ok(
        if db::sync::exists(tx, collection, mutation.record_id).await? {
            Error::Forbidden
        } else {
            unknown_record()
        },
    )
}

/// Writing into masterclass `id` at a desk or in the bank needs its staff: `forbidden` for a
/// caller who does not staff a masterclass that exists (one that does not is left to the
/// collection's own rules, which name the field).
async fn ensure_staffs(tx: &Transaction<'_>, id: uuid::Uuid) -> Result<()> {
    if db::masterclasses::staffs(tx, id).await?
        || !db::sync::exists(tx, Collection::Masterclasses, id).await?
    {
        Ok(())
    } else {
        Err(Error::Forbidden)
    }
}

/// The mutation's collection and clock, once both are readable and the clock is within the
/// drift the server accepts.
fn checked(ctx: &Context<'_>, mutation: &Mutation) -> Result<(Collection, super::Hlc)> {
    let collection = Collection::parse(&mutation.collection).ok_or(Error::Unprocessable {
        code: "unknown_collection",
        detail: format!("there is no collection {:?}", mutation.collection),
    })?;
    let at: super::Hlc = mutation
        .hlc
        .parse()
        .map_err(|e: String| Error::field("hlc", e))?;
    if at.node() == super::hlc::SERVER_NODE {
        return Err(Error::field(
            "hlc",
            "names the node `server`, which is the server's own: a device's node is its own id",
        ));
    }
    if !at.within_drift(millis(ctx.now)) {
        return Err(Error::field(
            "hlc",
            "is more than 5 minutes ahead of the server's clock: set the device's wall clock by \
             server_hlc, wait until the server's clock is within 5 minutes of this one, and queue \
             the change again as a new mutation",
        ));
    }
    Ok((collection, at))
}

/// A document create that needs nothing but its insert: valid, with its clocks. Such creates
/// are written many rows to a statement ([`db::sync::insert_documents`]); anything else
/// (`None`: another collection or op, or a mutation [`apply`] will reject) goes one by one.
pub fn new_document(ctx: &Context<'_>, mutation: &Mutation) -> Option<db::sync::NewDocument> {
    if mutation.op != Op::Create {
        return None;
    }
    let (collection, at) = checked(ctx, mutation).ok()?;
    if collection != Collection::Documents || mutation.clocks.is_some() {
        return None;
    }
    check_field_names(collection, mutation).ok()?;
    let fields = &mutation.fields;
    let (_, clocks) = merge::update(&merge::Clocks::new(), collection.sent(fields), &at);
    Some(db::sync::NewDocument {
        id: mutation.record_id,
        key: document_key(fields.get("key")).ok()?,
        value: document_value(fields.get("value")).ok()?,
        clocks,
    })
}

fn unknown_record() -> Error {
    Error::Conflict {
        code: "unknown_record",
        detail: "no such record: never created, rejected when it was, or not yours to see".into(),
    }
}

fn check_field_names(collection: Collection, mutation: &Mutation) -> Result<()> {
    let mut errors = Vec::new();
    for name in mutation.fields.keys() {
        let name = name.as_str();
        let problem = if collection.server_owned().contains(&name) {
            Some("is computed by the server and never written by a device")
        } else if collection.create_only().contains(&name) {
            (mutation.op != Op::Create).then_some("is set when the record is created, never after")
        } else if collection.writable().contains(&name) {
            None
        } else {
            Some("is not a field of this collection")
        };
        if let Some(problem) = problem {
            errors.push(FieldError::new(format!("fields.{name}"), problem));
        }
    }
    if mutation.op == Op::Delete && !mutation.fields.is_empty() {
        errors.push(FieldError::new("fields", "must be empty for a delete"));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Error::Validation(errors))
    }
}

/// A text field of a mutation, if sent (`null` counts as not sent).
fn text(fields: &Map<String, Value>, name: &str) -> Result<Option<String>> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(Error::field(format!("fields.{name}"), "must be a string")),
    }
}

fn staff_id(caller: &Caller) -> Result<uuid::Uuid> {
    match caller {
        Caller::Staff(staff) => Ok(staff.id),
        _ => Err(Error::Forbidden),
    }
}

async fn create(ctx: &Context<'_>, tx: &Transaction<'_>, m: &Checked<'_>) -> Result<()> {
    let Checked {
        collection,
        mutation,
        ref at,
    } = *m;
    let id = mutation.record_id;
    let fields = &mutation.fields;
    let (_, clocks) = merge::update(&merge::Clocks::new(), collection.sent(fields), at);
    match collection {
        Collection::Masterclasses | Collection::Attempts => Err(Error::Forbidden),
        Collection::Questions => {
            let staff = staff_id(ctx.caller)?;
            let new = NewQuestion::parse(&question_draft(&question_fields(fields)?))?;
            ensure_staffs(tx, new.masterclass_id).await?;
            services::questions::create_synced(tx, staff, id, &new).await?;
            db::sync::write_clocks(tx, collection, id, &clocks, None).await
        }
        Collection::Inscriptions => {
            staff_id(ctx.caller)?;
            let draft = RegistrationDraft {
                masterclass_id: text(fields, "masterclass_id")?,
                full_name: text(fields, "full_name")?,
                date_of_birth: text(fields, "date_of_birth")?,
                whatsapp_number: text(fields, "whatsapp_number")?,
                consent: match fields.get("consent") {
                    None | Some(Value::Null) => None,
                    Some(Value::Bool(b)) => Some(*b),
                    Some(_) => return Err(Error::field("fields.consent", "must be true or false")),
                },
                pre_test: None,
            };
            let registration =
                Registration::parse(&draft, ctx.now).map_err(|e| prefixed("fields", e))?;
            ensure_staffs(tx, registration.masterclass_id).await?;
            let registered_at = desk_time(ctx, at);
            services::registration::register_at_desk(
                ctx.state,
                tx,
                ctx.caller,
                id,
                &registration,
                registered_at,
            )
            .await?;
            crate::services::audit(
                tx,
                "inscription.registered_at_desk",
                "inscription",
                id,
                serde_json::json!({
                    "hlc": at.to_string(),
                    "arrived_at": rfc3339(ctx.now),
                    "judged_at": rfc3339(registered_at),
                    "via": "sync",
                }),
            )
            .await?;
            if fields.contains_key("attended") {
                let attended = attended(fields)?;
                set_attendance(ctx, tx, id, attended).await?;
                db::sync::write_clocks(tx, collection, id, &clocks, None).await?;
            }
            Ok(())
        }
        Collection::Documents => {
            let document = db::sync::NewDocument {
                id,
                key: document_key(fields.get("key"))?,
                value: document_value(fields.get("value"))?,
                clocks,
            };
            // The id exists although `load` did not see it: another user's document.
            if db::sync::insert_documents(tx, std::slice::from_ref(&document)).await? == 0 {
                return Err(Error::Conflict {
                    code: "already_exists",
                    detail: format!("record {id} already exists: generate a new id"),
                });
            }
            Ok(())
        }
    }
}

/// When a desk's registration is judged: at its clock, since a desk that registered offline
/// before the masterclass began is on time whenever its push arrives (never later than its
/// arrival). A clock that claims more than the offline window before its arrival
/// (`SYNC_DESK_OFFLINE_HOURS`) is not believed and the registration is judged at its arrival, so
/// a wrong or forged clock cannot register into a masterclass that closed long ago.
fn desk_time(ctx: &Context<'_>, at: &super::Hlc) -> OffsetDateTime {
    let window = ctx.state.config.sync.desk_offline_window;
    let arrived = millis(ctx.now);
    let earliest = arrived.saturating_sub(u64::try_from(window.as_millis()).unwrap_or(u64::MAX));
    if at.wall_ms() < earliest || at.wall_ms() >= arrived {
        return ctx.now;
    }
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(at.wall_ms()) * 1_000_000)
        .unwrap_or(ctx.now)
}

fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn prefixed(prefix: &str, error: Error) -> Error {
    match error {
        Error::Validation(errors) => Error::Validation(
            errors
                .into_iter()
                .map(|e| FieldError::new(format!("{prefix}.{}", e.field), e.message))
                .collect(),
        ),
        other => other,
    }
}

fn attended(fields: &Map<String, Value>) -> Result<bool> {
    fields
        .get("attended")
        .and_then(Value::as_bool)
        .ok_or_else(|| Error::field("fields.attended", "must be true or false"))
}

async fn set_attendance(
    ctx: &Context<'_>,
    tx: &Transaction<'_>,
    id: uuid::Uuid,
    attended: bool,
) -> Result<()> {
    let staff = staff_id(ctx.caller)?;
    db::inscriptions::set_attendance(tx, id, attended, staff)
        .await?
        .ok_or(Error::Forbidden)?;
    crate::services::audit(
        tx,
        "inscription.attendance",
        "inscription",
        id,
        serde_json::json!({ "attended": attended, "via": "sync" }),
    )
    .await
}

fn document_key(raw: Option<&Value>) -> Result<String> {
    match raw {
        Some(Value::String(key)) if (1..=200).contains(&key.chars().count()) => Ok(key.clone()),
        _ => Err(Error::field(
            "fields.key",
            "must be a string of 1 to 200 characters",
        )),
    }
}

fn document_value(raw: Option<&Value>) -> Result<Value> {
    let value = raw.ok_or_else(|| Error::field("fields.value", "is required"))?;
    if serde_json::to_vec(value).map_or(usize::MAX, |v| v.len()) > MAX_DOCUMENT_BYTES {
        return Err(Error::field(
            "fields.value",
            format!("must be at most {MAX_DOCUMENT_BYTES} bytes of JSON"),
        ));
    }
    Ok(value.clone())
}

/// The question fields a create carries, as pulled (flat choices).
fn question_fields(fields: &Map<String, Value>) -> Result<Fields> {
    let mut out = Fields::new();
    for (name, value) in fields {
        if !value.is_string() && !value.is_null() {
            return Err(Error::field(format!("fields.{name}"), "must be a string"));
        }
        out.insert(name.clone(), value.clone());
    }
    Ok(out)
}

/// A question's flat fields as the REST body the bank's rules parse.
fn question_draft(fields: &Fields) -> QuestionDraft {
    let get = |name: &str| fields.get(name).and_then(Value::as_str).map(str::to_owned);
    let choices: Vec<Option<String>> = ["choice_a", "choice_b", "choice_c", "choice_d"]
        .iter()
        .map(|c| get(c))
        .collect();
    QuestionDraft {
        masterclass_id: get("masterclass_id"),
        text: get("text"),
        choices: choices.into_iter().collect(),
        correct: get("correct"),
        status: get("status"),
        source_excerpt: get("source_excerpt"),
    }
}

async fn update(
    ctx: &Context<'_>,
    tx: &Transaction<'_>,
    m: &Checked<'_>,
    stored: db::sync::Stored,
) -> Result<bool> {
    let Checked {
        collection,
        mutation,
        ref at,
    } = *m;
    let (winners, clocks) = merge::update(&stored.clocks, collection.sent(&mutation.fields), at);
    let mut merged = stored.fields.clone();
    for field in &winners {
        merged.insert((*field).to_owned(), mutation.fields[*field].clone());
    }
    let changed: Vec<&str> = winners
        .iter()
        .copied()
        .filter(|f| stored.fields.get(*f) != merged.get(*f))
        .collect();
    let alive = if clocks.contains_key(merge::DELETED) {
        merge::alive_among(&clocks, collection.writable())
    } else {
        !stored.deleted
    };
    if !changed.is_empty() {
        match collection {
            Collection::Masterclasses | Collection::Attempts => return Err(Error::Forbidden),
            Collection::Questions => {
                staff_id(ctx.caller)?;
                let frozen = ["choice_a", "choice_b", "choice_c", "choice_d", "correct"];
                if stored.fields.get("used") == Some(&Value::Bool(true))
                    && changed.iter().any(|f| frozen.contains(f))
                {
                    return Err(Error::Conflict {
                        code: "question_used",
                        detail: "a submitted test used this question: its choices and answer are \
                                 frozen"
                            .into(),
                    });
                }
                let new = NewQuestion::parse(&question_draft(&merged))
                    .map_err(|e| prefixed("fields", e))?;
                db::questions::update(tx, mutation.record_id, &new).await?;
                crate::services::audit(
                    tx,
                    "question.replaced",
                    "question",
                    mutation.record_id,
                    serde_json::json!({ "fields": changed, "via": "sync" }),
                )
                .await?;
            }
            Collection::Inscriptions => {
                set_attendance(ctx, tx, mutation.record_id, attended(&mutation.fields)?).await?;
            }
            Collection::Documents => {
                let key = document_key(merged.get("key"))?;
                let value = document_value(merged.get("value"))?;
                db::sync::update_document(tx, mutation.record_id, &key, &value).await?;
            }
        }
    }
    let revived = alive && stored.deleted;
    if clocks != stored.clocks || revived {
        db::sync::write_clocks(
            tx,
            collection,
            mutation.record_id,
            &clocks,
            revived.then_some(false),
        )
        .await?;
    }
    Ok(!changed.is_empty() || revived)
}

async fn delete(tx: &Transaction<'_>, m: &Checked<'_>, stored: db::sync::Stored) -> Result<bool> {
    let Checked {
        collection,
        mutation,
        ref at,
    } = *m;
    match collection {
        Collection::Masterclasses | Collection::Inscriptions | Collection::Attempts => {
            return Err(Error::Forbidden);
        }
        Collection::Questions if stored.fields.get("used") == Some(&Value::Bool(true)) => {
            return Err(Error::Conflict {
                code: "question_used",
                detail: "a submitted test used this question: archive it (status archived) \
                         instead"
                    .into(),
            });
        }
        Collection::Questions | Collection::Documents => {}
    }
    // As in `update`, the merged clocks are stored when they moved; a delete sets the tombstone
    // where an update may lift it.
    let clocks = merge::delete(&stored.clocks, at);
    let gone = !merge::alive_among(&clocks, collection.writable()) && !stored.deleted;
    if clocks != stored.clocks || gone {
        db::sync::write_clocks(
            tx,
            collection,
            mutation.record_id,
            &clocks,
            gone.then_some(true),
        )
        .await?;
    }
    if gone && collection == Collection::Questions {
        crate::services::audit(
            tx,
            "question.deleted",
            "question",
            mutation.record_id,
            serde_json::json!({ "via": "sync" }),
        )
        .await?;
    }
    Ok(gone)
}

/// A mutation that failed as `error`: its rejection, or the error itself when it is not the
/// mutation's fault (the database unavailable, a bug), which fails the whole push so that
/// nothing of it is acknowledged.
pub fn rejected(mutation: &Mutation, error: Error) -> Result<MutationResult> {
    let (reason, detail, errors) = match error {
        Error::Validation(errors) => ("validation", None, errors),
        Error::Unprocessable {
            code: "unknown_collection",
            detail,
        } => ("unknown_collection", Some(detail), Vec::new()),
        Error::Unprocessable { detail, .. } | Error::BadRequest(detail) => {
            ("validation", Some(detail), Vec::new())
        }
        Error::PayloadTooLarge(detail) => ("validation", Some(detail), Vec::new()),
        Error::Forbidden | Error::Unauthorized | Error::NotFound(_) => {
            ("forbidden", None, Vec::new())
        }
        Error::Conflict { code, detail } => {
            ("conflict", Some(format!("{code}: {detail}")), Vec::new())
        }
        Error::AlreadyRegistered(id) => (
            "conflict",
            Some(format!(
                "already_registered: this number is registered for this masterclass as inscription {id}"
            )),
            Vec::new(),
        ),
        Error::Internal(e) if refused_by_policy(&e) => ("forbidden", None, Vec::new()),
        other => return Err(other),
    };
    Ok(MutationResult {
        mutation_id: mutation.mutation_id,
        status: MutationStatus::Rejected,
        reason: Some(reason.into()),
        detail,
        errors,
        record: None,
    })
}

/// Did row-level security (or a definer function's own check) refuse the write?
fn refused_by_policy(error: &anyhow::Error) -> bool {
    error
        .chain()
        .filter_map(|cause| cause.downcast_ref::<tokio_postgres::Error>())
        .any(|e| e.code() == Some(&SqlState::INSUFFICIENT_PRIVILEGE))
}
