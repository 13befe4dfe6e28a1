//! Offline sync for devices: a batched push of mutations applied exactly once, and a pull of
//! every change since a cursor that never skips one.
//!
//! - **Push** (`POST /api/sync/push`): a device sends its queued mutations, numbered 1, 2, 3...
//!   per `client_id`. In one transaction each new mutation is applied in a savepoint of its own
//!   (one bad mutation never blocks the others), and the last mutation id is recorded with their
//!   effects: a batch retried whole or in part is applied once, and what is at or below the
//!   recorded id answers `duplicate`. A mutation id past the next expected one is a gap: the
//!   push is refused (409 `mutation_gap`) with nothing applied, and the client renumbers its queue
//!   from `last_mutation_id + 1` (an empty push tells it that number). Consecutive document
//!   creates are written together (see `Run`), with the same answers.
//! - **Pull** (`GET /api/sync/pull`): see [`cursor`] for why it never skips, and [`db::sync`] for
//!   the horizon that makes it so.
//! - **Merge**: per field, the newer hybrid logical clock wins ([`merge`], [`hlc`]).
//! - **Pokes** ([`poke`]): after a push that changed data, a signed "pull now" to each
//!   configured URL, sent by the scheduled run.
//! - **Collections** ([`Collection`]) declare what a client may write; row-level security still
//!   decides what it may read and change.
//!
//! The protocol's types are flat structs and text enums whose fields are the wire format.

pub mod apply;
pub mod cursor;
pub mod hlc;
pub mod merge;
pub mod peer;
pub mod poke;
pub mod replica;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{
    AppState,
    auth::{Caller, Role},
    db,
    http::{Error, FieldError, Result},
};
pub use cursor::Cursor;
pub use hlc::{Clock, Hlc};

/// The most mutations one push may carry (a larger batch is a 413).
pub const MAX_MUTATIONS: usize = 500;
/// Changes per pull page when the client does not say, and at most.
pub const DEFAULT_PULL_LIMIT: i64 = 500;
pub const MAX_PULL_LIMIT: i64 = 1000;
/// The largest `value` of a document, in bytes of JSON.
pub const MAX_DOCUMENT_BYTES: usize = 64 * 1024;

/// What devices sync.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Collection {
    /// The catalogue (read-only for devices).
    Masterclasses,
    /// Registrations with the student's details: created at a desk, attendance by staff.
    Inscriptions,
    /// The question bank (staff).
    Questions,
    /// Per-user JSON documents: what used to live in a browser's local storage. Private.
    Documents,
    /// Test results, with their answers: between instances only (`sync::peer`); a device's
    /// push or pull of it is `forbidden`.
    Attempts,
}

impl Collection {
    pub const ALL: [Self; 5] = [
        Self::Masterclasses,
        Self::Inscriptions,
        Self::Questions,
        Self::Documents,
        Self::Attempts,
    ];

    /// What instances exchange. (Documents stay on the instance they were written on: their
    /// owners are accounts and profiles, which each instance numbers for itself.)
    pub const REPLICATED: [Self; 4] = [
        Self::Masterclasses,
        Self::Questions,
        Self::Inscriptions,
        Self::Attempts,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Masterclasses => "masterclasses",
            Self::Inscriptions => "inscriptions",
            Self::Questions => "questions",
            Self::Documents => "documents",
            Self::Attempts => "attempts",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == raw)
    }

    /// Fields a client may change in an update (and send with a create).
    pub fn writable(self) -> &'static [&'static str] {
        match self {
            Self::Masterclasses | Self::Attempts => &[],
            Self::Inscriptions => &["attended"],
            Self::Questions => &[
                "text",
                "choice_a",
                "choice_b",
                "choice_c",
                "choice_d",
                "correct",
                "status",
                "source_excerpt",
            ],
            Self::Documents => &["key", "value"],
        }
    }

    /// The writable fields `fields` carries, in the collection's order.
    pub fn sent(self, fields: &Map<String, Value>) -> impl Iterator<Item = &'static str> {
        self.writable()
            .iter()
            .copied()
            .filter(|f| fields.contains_key(*f))
    }

    /// Fields sent with a create only: they say what the record is and never change.
    pub fn create_only(self) -> &'static [&'static str] {
        match self {
            Self::Masterclasses | Self::Documents | Self::Attempts => &[],
            Self::Inscriptions => &[
                "masterclass_id",
                "full_name",
                "date_of_birth",
                "whatsapp_number",
                "consent",
            ],
            Self::Questions => &["masterclass_id"],
        }
    }

    /// Fields the server computes and pulls carry: never written by a client.
    pub fn server_owned(self) -> &'static [&'static str] {
        match self {
            Self::Masterclasses => &[
                "title",
                "description",
                "starts_at",
                "ends_at",
                "published",
                "has_handout",
            ],
            Self::Inscriptions => &["attendance_validated_at", "registered_at"],
            Self::Questions => &["used"],
            Self::Documents | Self::Attempts => &[],
        }
    }

    /// May `caller` pull this collection? (Row-level security then decides which rows.)
    pub fn readable_by(self, caller: &Caller) -> bool {
        if let Caller::Peer(_) = caller {
            return Self::REPLICATED.contains(&self);
        }
        match self {
            Self::Attempts => false,
            Self::Questions => caller.is_staff(),
            _ => matches!(
                caller,
                Caller::Staff(_) | Caller::Student(_) | Caller::System
            ),
        }
    }
}

/// One queued change of a device.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Mutation {
    /// Per client, 1, 2, 3... with no gap.
    #[schema(minimum = 1, example = 1)]
    pub mutation_id: i64,
    /// `inscriptions`, `questions` or `documents` (`masterclasses` and `attempts` are read-only
    /// for devices: `forbidden`; a name that is no collection is `unknown_collection`).
    #[schema(example = "documents")]
    pub collection: String,
    /// The record, with an id the device made (a UUID).
    pub record_id: Uuid,
    pub op: Op,
    /// For `create`: the record's fields; for `update`: only the changed ones; for `delete`:
    /// nothing.
    #[serde(default)]
    #[schema(value_type = Object, example = json!({"key": "settings", "value": {"langue": "fr"}}))]
    pub fields: Map<String, Value>,
    /// The device's hybrid logical clock when the change was made:
    /// `<13-digit ms>-<5-digit counter>-<node>`.
    #[schema(example = "1795430400000-00000-3f0c8a4e9b1d4c2a")]
    pub hlc: String,
    /// From a sync peer only (another instance of the platform): the clock of each field's last
    /// write, as its pull gives them; `fields` is then the whole record. A device sends `hlc`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<BTreeMap<String, String>>)]
    pub clocks: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    Create,
    Update,
    Delete,
}

/// `POST /api/sync/push`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({
    "client_id": "3f0c8a4e-9b1d-4c2a-a1d2-e3f405060708",
    "mutations": [
        {"mutation_id": 1, "collection": "documents", "record_id": "6b1e2c3d-4f5a-4b6c-8d7e-9f0a1b2c3d4e",
         "op": "create", "fields": {"key": "brouillon", "value": {"texte": "Bonjour"}},
         "hlc": "1795430400000-00000-3f0c8a4e9b1d4c2a"},
        {"mutation_id": 2, "collection": "documents", "record_id": "6b1e2c3d-4f5a-4b6c-8d7e-9f0a1b2c3d4e",
         "op": "update", "fields": {"value": {"texte": "Bonjour à tous"}},
         "hlc": "1795430400512-00000-3f0c8a4e9b1d4c2a"},
        {"mutation_id": 3, "collection": "inscriptions", "record_id": "0d9c8b7a-6f5e-4d3c-9b2a-1f0e9d8c7b6a",
         "op": "update", "fields": {"attended": true},
         "hlc": "1795430401000-00003-3f0c8a4e9b1d4c2a"}
    ]
}))]
pub struct PushRequest {
    /// The device (a UUID it made once and keeps).
    pub client_id: Uuid,
    #[schema(max_items = 500)]
    pub mutations: Vec<Mutation>,
}

/// What became of one mutation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MutationResult {
    pub mutation_id: i64,
    pub status: MutationStatus,
    /// Why it was rejected: `validation`, `forbidden`, `unknown_collection` or `conflict`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// For `conflict`: the rule broken (`already_registered`, `question_used`, `unknown_record`,
    /// `already_exists`, ...); otherwise a sentence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<crate::http::openapi::ProblemField>)]
    pub errors: Vec<FieldError>,
    /// The record as the server holds it once this push is applied, whatever the mutation's
    /// fate: an `upsert` with every field and its clock, or a `delete` (with its clocks when the
    /// record was deleted or archived, without when it does not exist or is not the caller's to
    /// see). A device sets its copy to it when nothing newer is queued for the record. Absent
    /// for a collection that does not exist, and in a sync peer's answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<Change>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MutationStatus {
    /// Applied now, and durable.
    Applied,
    /// Applied before (at or below `last_mutation_id`): nothing done. (A mutation that was
    /// rejected is answered `rejected` again when resent, with the same reason.)
    Duplicate,
    /// Not applied, and never will be: drop it from the queue and show the reason.
    Rejected,
}

/// The answer to a push.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PushResponse {
    pub results: Vec<MutationResult>,
    /// Mutations applied by this push.
    pub synced_count: usize,
    /// Mutations rejected by this push.
    pub error_count: usize,
    /// The last mutation of this client the server has (applied or rejected).
    pub last_mutation_id: i64,
    /// The server's clock: fold it into the device's clock.
    #[schema(value_type = String, example = "1795430402000-00000-server")]
    pub server_hlc: Hlc,
}

/// `GET /api/sync/pull` query.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PullQuery {
    /// `next_cursor` of the previous page; none for the first pull.
    pub cursor: Option<String>,
    /// Comma-separated; every collection the caller may read when absent.
    pub collections: Option<String>,
    /// Changes per page (1–1000, default 500).
    pub limit: Option<i64>,
}

/// One record as it is now, or gone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Change {
    pub collection: Collection,
    pub id: Uuid,
    /// `upsert` (store `fields` under `id`) or `delete` (drop the record: deleted, archived, or
    /// no longer yours to see).
    pub op: ChangeOp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub fields: Option<Value>,
    /// The clock of each field's last write (field name to HLC; `_deleted`, the delete's clock,
    /// when the record was deleted), so that a device holding edits it has not pushed yet can
    /// merge the server's version field by field, by the rule the server applies. Absent from
    /// the `delete` of a record the caller may no longer see.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<BTreeMap<String, String>>, example = json!({"key": "1795430400000-00000-3f0c8a4e9b1d4c2a", "value": "1795430400512-00000-3f0c8a4e9b1d4c2a"}))]
    pub clocks: Option<Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ChangeOp {
    Upsert,
    Delete,
}

/// A page of changes.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PullResponse {
    pub changes: Vec<Change>,
    /// Masterclasses the caller no longer staffs. Apply them before `changes`: drop each of
    /// these masterclasses with every inscription and question of it. A dropped masterclass
    /// the caller still sees (a published one) is among this page's `changes` again, as an
    /// upsert.
    pub drops: Vec<Uuid>,
    pub next_cursor: String,
    /// Pull again at once with `next_cursor`.
    pub has_more: bool,
    #[schema(value_type = String, example = "1795430402000-00000-server")]
    pub server_hlc: Hlc,
}

/// Milliseconds since the Unix epoch.
pub fn millis(at: OffsetDateTime) -> u64 {
    u64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
}

/// Applies a device's batch; see the module doc.
pub async fn push(
    state: &AppState,
    caller: &Caller,
    request: &PushRequest,
) -> Result<PushResponse> {
    if request.mutations.len() > MAX_MUTATIONS {
        return Err(Error::PayloadTooLarge(format!(
            "a push carries at most {MAX_MUTATIONS} mutations; send the rest in the next one"
        )));
    }
    let below_one: Vec<FieldError> = request
        .mutations
        .iter()
        .enumerate()
        .filter(|(_, m)| m.mutation_id < 1)
        .map(|(i, _)| FieldError::new(format!("mutations[{i}].mutation_id"), "must be at least 1"))
        .collect();
    if !below_one.is_empty() {
        return Err(Error::Validation(below_one));
    }
    let now = OffsetDateTime::now_utc();
    let ctx = apply::Context { state, caller, now };
    let peer = match caller {
        Caller::Peer(id) => Some(*id),
        _ => None,
    };
    let response = db::transact(&state.db, caller, async |tx| {
        match peer {
            Some(_) => db::replica::replicating(tx).await?,
            None => db::sync::applying(tx).await?,
        }
        let last = db::sync::claim_client(tx, request.client_id)
            .await?
            .ok_or(Error::Forbidden)?;
        let mut next = last + 1;
        let resent: Vec<i64> = request
            .mutations
            .iter()
            .map(|m| m.mutation_id)
            .filter(|id| *id <= last)
            .collect();
        let rejected_before: BTreeMap<i64, MutationResult> = if resent.is_empty() {
            BTreeMap::new()
        } else {
            db::sync::rejections(tx, request.client_id, &resent)
                .await?
                .into_iter()
                .map(|r| (r.mutation_id, MutationResult::from(r)))
                .collect()
        };
        let mut results = Vec::with_capacity(request.mutations.len());
        let mut changed: Vec<&str> = Vec::new();
        let mut run = Run::default();
        for mutation in &request.mutations {
            if mutation.mutation_id < next {
                results.push(
                    rejected_before
                        .get(&mutation.mutation_id)
                        .cloned()
                        .unwrap_or_else(|| MutationResult::of(mutation, MutationStatus::Duplicate)),
                );
                continue;
            }
            if mutation.mutation_id > next {
                return Err(Error::Conflict {
                    code: "mutation_gap",
                    detail: format!(
                        "mutation {} came before mutation {next}; nothing of this push was applied: \
                         resend from mutation {next} (last_mutation_id is {})",
                        mutation.mutation_id,
                        next - 1
                    ),
                });
            }
            next += 1;
            if let Some(peer) = peer {
                let (result, did) = peer::receive(tx, peer, mutation).await?;
                if did {
                    note_changed(&mut changed, &mutation.collection);
                }
                results.push(result);
                continue;
            }
            if let Some(document) = apply::new_document(&ctx, mutation)
                .filter(|d| !run.documents.iter().any(|r| r.id == d.id))
            {
                run.pending.push((results.len(), mutation));
                run.documents.push(document);
                results.push(MutationResult::of(mutation, MutationStatus::Applied));
                continue;
            }
            run.flush(&ctx, tx, &mut results, &mut changed).await?;
            let (result, did) = apply_one(&ctx, tx, mutation).await?;
            if did {
                note_changed(&mut changed, &mutation.collection);
            }
            results.push(result);
        }
        run.flush(&ctx, tx, &mut results, &mut changed).await?;
        repeat_fates_within(&mut results, last);
        let rejected_now: Vec<db::sync::Rejection> = results
            .iter()
            .filter(|r| r.mutation_id > last && r.status == MutationStatus::Rejected)
            .map(db::sync::Rejection::from)
            .collect();
        db::sync::record_rejections(tx, request.client_id, &rejected_now).await?;
        if peer.is_none() {
            attach_records(tx, caller, &request.mutations, &mut results).await?;
        }
        if peer.is_some() {
            let arrived: Vec<Uuid> = request.mutations.iter().map(|m| m.record_id).collect();
            replica::retry_parked(tx, Some(&arrived)).await?;
            let inscriptions: Vec<Uuid> = request
                .mutations
                .iter()
                .filter(|m| m.collection == Collection::Inscriptions.name())
                .map(|m| m.record_id)
                .collect();
            replica::erase_objects(state, tx, &inscriptions).await?;
        }
        if next - 1 > last {
            db::sync::record_client(tx, request.client_id, next - 1).await?;
        }
        let urls = &state.config.sync.poke_urls;
        if !changed.is_empty() && !urls.is_empty() {
            db::sync::queue_pokes(tx, urls, &changed).await?;
        }
        Ok(PushResponse {
            synced_count: results
                .iter()
                .filter(|r| r.status == MutationStatus::Applied)
                .count(),
            error_count: results
                .iter()
                .filter(|r| r.status == MutationStatus::Rejected)
                .count(),
            results,
            last_mutation_id: next - 1,
            server_hlc: Hlc::server(millis(now)),
        })
    })
    .await?;
    tracing::info!(client_id = %request.client_id, applied = response.synced_count,
                   rejected = response.error_count, last = response.last_mutation_id, "sync push");
    Ok(response)
}

/// Gives each result the record its mutation names as it now is (see
/// [`MutationResult::record`]): one query per collection the push names.
async fn attach_records(
    tx: &db::Transaction<'_>,
    caller: &Caller,
    mutations: &[Mutation],
    results: &mut [MutationResult],
) -> Result<()> {
    let mut wanted: BTreeMap<Collection, Vec<Uuid>> = BTreeMap::new();
    for mutation in mutations {
        // A collection the caller may not pull is not read back either: its records are
        // answered as not the caller's to see.
        if let Some(collection) =
            Collection::parse(&mutation.collection).filter(|c| c.readable_by(caller))
        {
            wanted
                .entry(collection)
                .or_default()
                .push(mutation.record_id);
        }
    }
    let mut now: BTreeMap<(Collection, Uuid), Change> = BTreeMap::new();
    for (collection, mut ids) in wanted {
        ids.sort();
        ids.dedup();
        for change in db::sync::current(tx, collection, &ids).await? {
            now.insert((collection, change.id), change);
        }
    }
    for (mutation, result) in mutations.iter().zip(results.iter_mut()) {
        let Some(collection) = Collection::parse(&mutation.collection) else {
            continue;
        };
        result.record = Some(
            now.get(&(collection, mutation.record_id))
                .cloned()
                .unwrap_or(Change {
                    collection,
                    id: mutation.record_id,
                    op: ChangeOp::Delete,
                    fields: None,
                    clocks: None,
                }),
        );
    }
    Ok(())
}

/// A mutation sent twice in one batch is answered the second time as it was the first
/// (applied, or rejected with its reason), like a mutation resent in a later push.
fn repeat_fates_within(results: &mut [MutationResult], last: i64) {
    for i in 0..results.len() {
        if results[i].mutation_id > last
            && results[i].status == MutationStatus::Duplicate
            && let Some(first) = results[..i]
                .iter()
                .find(|r| r.mutation_id == results[i].mutation_id)
                .filter(|r| r.status == MutationStatus::Rejected)
                .cloned()
        {
            results[i] = first;
        }
    }
}

/// Adds `collection` to those a push changed (named once each in its pokes).
fn note_changed<'m>(changed: &mut Vec<&'m str>, collection: &'m str) {
    if !changed.contains(&collection) {
        changed.push(collection);
    }
}

/// Applies `mutation` in a savepoint of its own: its result, and whether it changed data.
async fn apply_one(
    ctx: &apply::Context<'_>,
    tx: &db::Transaction<'_>,
    mutation: &Mutation,
) -> Result<(MutationResult, bool)> {
    db::sync::savepoint(tx).await?;
    match apply::apply(ctx, tx, mutation).await {
        Ok(did) => {
            db::sync::release(tx).await?;
            Ok((MutationResult::of(mutation, MutationStatus::Applied), did))
        }
        Err(error) => {
            db::sync::rollback(tx).await?;
            Ok((apply::rejected(mutation, error)?, false))
        }
    }
}

/// Consecutive document creates of a push, written in one statement: a device's first sync
/// of what its local storage held is thousands of them, and one round trip and savepoint per
/// row would cost most of the push (see the sync benchmark). They touch distinct new records,
/// so writing them together is writing them in order.
#[derive(Default)]
struct Run<'m> {
    documents: Vec<db::sync::NewDocument>,
    /// Each document's mutation and place in the results (answered `applied` in advance).
    pending: Vec<(usize, &'m Mutation)>,
}

impl<'m> Run<'m> {
    /// Writes the run. When the statement fails (a key taken, a policy) or meets a record that
    /// already exists, nothing of it stays and each mutation goes through [`apply_one`], which
    /// answers for it exactly as if no run had been tried.
    async fn flush(
        &mut self,
        ctx: &apply::Context<'_>,
        tx: &db::Transaction<'_>,
        results: &mut [MutationResult],
        changed: &mut Vec<&'m str>,
    ) -> Result<()> {
        if self.documents.is_empty() {
            return Ok(());
        }
        let documents = std::mem::take(&mut self.documents);
        let pending = std::mem::take(&mut self.pending);
        db::sync::savepoint(tx).await?;
        let written = db::sync::insert_documents(tx, &documents).await;
        if matches!(written, Ok(n) if n == documents.len() as u64) {
            db::sync::release(tx).await?;
            note_changed(changed, Collection::Documents.name());
            return Ok(());
        }
        if let Err(error @ Error::Unavailable(_)) = written {
            return Err(error);
        }
        db::sync::rollback(tx).await?;
        for (index, mutation) in pending {
            let (result, did) = apply_one(ctx, tx, mutation).await?;
            if did {
                note_changed(changed, &mutation.collection);
            }
            results[index] = result;
        }
        Ok(())
    }
}

impl From<db::sync::Rejection> for MutationResult {
    fn from(kept: db::sync::Rejection) -> Self {
        Self {
            mutation_id: kept.mutation_id,
            status: MutationStatus::Rejected,
            reason: Some(kept.reason),
            detail: kept.detail,
            errors: serde_json::from_value(kept.errors).unwrap_or_default(),
            record: None,
        }
    }
}

impl From<&MutationResult> for db::sync::Rejection {
    fn from(result: &MutationResult) -> Self {
        Self {
            mutation_id: result.mutation_id,
            reason: result.reason.clone().unwrap_or_else(|| "validation".into()),
            detail: result.detail.clone(),
            errors: serde_json::to_value(&result.errors).unwrap_or_else(|_| json!([])),
        }
    }
}

impl MutationResult {
    fn of(mutation: &Mutation, status: MutationStatus) -> Self {
        Self {
            mutation_id: mutation.mutation_id,
            status,
            reason: None,
            detail: None,
            errors: Vec::new(),
            record: None,
        }
    }
}

/// The collections a pull asked for (all the caller may read when none).
fn collections(caller: &Caller, raw: Option<&str>) -> Result<Vec<Collection>> {
    let Some(raw) = raw.filter(|r| !r.trim().is_empty()) else {
        return Ok(Collection::ALL
            .into_iter()
            .filter(|c| c.readable_by(caller))
            .collect());
    };
    let mut wanted = Vec::new();
    for name in raw.split(',').map(str::trim) {
        let collection = Collection::parse(name).ok_or_else(|| {
            Error::field(
                "collections",
                format!(
                    "{name:?} is not one of masterclasses, inscriptions, questions, documents \
                     (attempts: sync peers only)"
                ),
            )
        })?;
        if !collection.readable_by(caller) {
            return Err(Error::Forbidden);
        }
        wanted.push(collection);
    }
    wanted.sort();
    wanted.dedup();
    Ok(wanted)
}

/// One page of changes since `query.cursor`; see [`cursor`].
pub async fn pull(state: &AppState, caller: &Caller, query: &PullQuery) -> Result<PullResponse> {
    let wanted = collections(caller, query.collections.as_deref())?;
    let limit = query.limit.unwrap_or(DEFAULT_PULL_LIMIT);
    if !(1..=MAX_PULL_LIMIT).contains(&limit) {
        return Err(Error::field(
            "limit",
            format!("must be between 1 and {MAX_PULL_LIMIT}"),
        ));
    }
    let given = query.cursor.as_deref().map(Cursor::decode).transpose()?;
    let tutor = matches!(caller, Caller::Staff(s) if s.role == Role::Tuteur);
    let now = OffsetDateTime::now_utc();
    db::transact(&state.db, caller, async |tx| {
        let scope = if tutor {
            Some(db::sync::scope(tx).await?)
        } else {
            None
        };
        let (from, drops) = match given {
            None => (Cursor::start(wanted.clone(), scope.clone()), Vec::new()),
            Some(cursor) => {
                let drops = match (&cursor.scope, &scope) {
                    // Made for a caller who saw every masterclass (an admin since made a
                    // tutor): everything outside the new scope goes.
                    (None, Some(now)) => db::sync::masterclass_ids(tx)
                        .await?
                        .into_iter()
                        .filter(|id| !now.contains(id))
                        .collect(),
                    _ => cursor.lost(scope.as_deref()),
                };
                let grown = match (&cursor.scope, &scope) {
                    (Some(before), Some(now)) => now.iter().any(|id| !before.contains(id)),
                    (before, now) => before.is_some() != now.is_some(),
                };
                if grown || cursor.collections != wanted {
                    (Cursor::start(wanted.clone(), scope.clone()), drops)
                } else {
                    (
                        Cursor {
                            scope: scope.clone(),
                            ..cursor
                        },
                        drops,
                    )
                }
            }
        };
        let horizon = db::sync::horizon(tx).await?;
        let after = (from.xid, from.version);
        let mut rows = match caller {
            Caller::Peer(_) => db::replica::changes(tx, &wanted, after, horizon, limit + 1).await?,
            _ => db::sync::changes(tx, &wanted, after, horizon, limit + 1).await?,
        };
        let has_more = rows.len() as i64 > limit;
        rows.truncate(limit as usize);
        let next = match (has_more, rows.last()) {
            (true, Some(last)) => Cursor {
                xid: last.xid,
                version: last.version,
                ..from
            },
            _ if horizon > from.xid => Cursor {
                xid: horizon,
                version: 0,
                ..from
            },
            _ => from,
        };
        // A dropped masterclass the caller still sees (a published one) comes again at once:
        // the device dropped it with its inscriptions and questions, and it is still theirs.
        let again = if !drops.is_empty() && wanted.contains(&Collection::Masterclasses) {
            db::sync::visible_masterclasses(tx, &drops).await?
        } else {
            Vec::new()
        };
        Ok(PullResponse {
            changes: again
                .into_iter()
                .chain(rows.into_iter().map(|row| row.change))
                .collect(),
            drops,
            next_cursor: next.encode(),
            has_more,
            server_hlc: Hlc::server(millis(now)),
        })
    })
    .await
}

/// A record's clocks as stored in `field_clocks` (unreadable entries are left out: they lose).
pub fn clocks_from_json(value: &Value) -> merge::Clocks {
    value
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(field, clock)| Some((field.clone(), clock.as_str()?.parse().ok()?)))
        .collect()
}

/// `field_clocks` as stored.
pub fn clocks_to_json(clocks: &merge::Clocks) -> Value {
    Value::Object(
        clocks
            .iter()
            .map(|(field, clock)| (field.clone(), json!(clock.to_string())))
            .collect(),
    )
}

/// The fields of a record as pulled, keyed by name.
pub type Fields = BTreeMap<String, Value>;
