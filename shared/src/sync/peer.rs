//! Instance sync: a venue server (the platform started with `cargo run` on a laptop) works
//! alone, and whenever the link is up exchanges changes with its *remote* (the cloud), through
//! the devices' protocol, acting as a device of the remote.
//!
//! **Who.** An admin of the remote creates a sync peer (`POST /api/sync/peers`) and is shown
//! its secret once; the venue is given the remote's URL and that secret (`SYNC_REMOTE_URL`,
//! `SYNC_REMOTE_SECRET`, or `cargo run -- --remote URL --remote-secret S`). A request with the
//! secret acts as [`Caller::Peer`]: replication, which reads and writes every synced row.
//!
//! **A run** ([`run`]), by the schedule (`sync-peer`, every few minutes; every 30 s in the
//! local gateway) or by an admin (`POST /api/sync/run`):
//! 1. takes the remote for itself (a lease in `sync_remotes`, so two runs never overlap and a
//!    crashed one frees it when the lease ends), and records the run;
//! 2. tries again the received records still parked (see [`replica`]);
//! 3. **scans** the local changes since its last scan (the same stream and horizon as a pull,
//!    leaving out what came from the remote, one collection after the other so that what others
//!    refer to goes first) and queues each as a mutation with the next number, in the
//!    transaction that moves the scan: a change is queued once;
//! 4. **pushes** the queue in batches of 500 with its own `client_id`; the remote applies each
//!    mutation once (its `last_mutation_id`), so a push repeated after any failure (the answer
//!    lost after the remote committed, a timeout) applies nothing twice; what the remote
//!    acknowledges leaves the queue;
//! 5. **pulls** the remote's changes from the stored cursor, and applies each page with the new
//!    cursor in one transaction, so a page is applied once;
//! 6. copies the objects the exchanged records refer to (handouts, photos) through presigned
//!    links of `POST /api/sync/objects`. The remote gives an upload link only for an object it
//!    does not have, and that link puts the bytes aside ([`STAGING`]); they take their key only
//!    once the peer hands them in and the remote has checked them (size, kind by first bytes),
//!    so a peer can neither replace an object nor make a record point at unchecked bytes;
//! 7. records what it did (pushed, pulled, rejected, errors, next cursor) and frees the remote.
//!
//! Any failure ends the run, recorded as `failed` with its error; the next run resumes from the
//! stored queue and cursors. Records travel whole, with the clock of each field, and are merged
//! per field on arrival, the same way on both sides ([`replica`]).
//!
//! **Messages.** The instance that queued a message sends it: a confirmation queued at the venue
//! is sent by the venue's dispatcher (when the link is up), and is never queued again by the
//! cloud, which receives the inscription by replication, not by registration. Reminders are
//! queued by each instance for the inscriptions it registered itself.

use std::{collections::BTreeMap, time::Duration};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{
    Collection, Mutation, MutationResult, MutationStatus, Op, PullResponse, PushRequest,
    PushResponse, clocks_from_json, replica,
};
use crate::model::sync::peers::{PeerView, RunView};
use crate::{
    AppState,
    auth::{Caller, peer as secret},
    config::RemoteConfig,
    db,
    domain::Length,
    error::{Error, FieldError, Result},
    services::photos,
    storage::STAGING,
};

/// Mutations per push and changes per pull page, at most.
pub const BATCH: i64 = 500;
/// A push's body, at most: under the request body limit every route has (256 KiB), with room
/// for the envelope. Whole records are ~0.5 KiB, so a push carries a few hundred.
pub const MAX_PUSH_BYTES: usize = 200 * 1024;
/// How long a run holds the remote before another may take it (a crashed run's lease ends).
pub const LEASE: Duration = Duration::from_secs(15 * 60);

/// `POST /api/sync/peers`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"name": "Lycée d'Akébé, salle 3"}))]
pub struct PeerDraft {
    /// What the peer is (a venue, a laptop): 1 to 100 characters.
    pub name: Option<String>,
}

/// A peer just created, with its secret: shown this once.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CreatedPeer {
    #[serde(flatten)]
    pub peer: PeerView,
    /// Give it to the venue as `SYNC_REMOTE_SECRET`. Only its hash is kept.
    #[schema(example = "msp_3q2-7wEJc1eGkq0Yp7iVtJH4m0B8vFv1y9hQ2aZk1xU")]
    pub secret: String,
}

/// A peer's name, parsed.
pub struct PeerName(String);

impl PeerName {
    pub const LENGTH: Length = Length { min: 1, max: 100 };

    pub fn parse(draft: &PeerDraft) -> Result<Self> {
        let name = draft.name.as_deref().map(str::trim).unwrap_or_default();
        let n = name.chars().count();
        if !(Self::LENGTH.min..=Self::LENGTH.max).contains(&n) {
            return Err(Error::Validation(vec![FieldError::new(
                "name",
                format!(
                    "must be {} to {} characters",
                    Self::LENGTH.min,
                    Self::LENGTH.max
                ),
            )]));
        }
        Ok(Self(name.to_owned()))
    }
}

/// What started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Schedule,
    Manual,
}

impl Trigger {
    fn as_str(self) -> &'static str {
        match self {
            Self::Schedule => "schedule",
            Self::Manual => "manual",
        }
    }
}

/// Creates a peer; the answer carries its secret, once.
pub async fn create_peer(state: &AppState, admin: &Caller, name: &PeerName) -> Result<CreatedPeer> {
    let Caller::Staff(staff) = admin else {
        return Err(Error::Forbidden);
    };
    let secret = secret::generate();
    let hash = secret::hash(&secret);
    let peer = db::transact(&state.db, admin, async |tx| {
        let peer = db::peers::create(tx, &name.0, &hash, staff.id).await?;
        crate::services::audit(
            tx,
            "sync_peer.created",
            "sync_peer",
            peer.id,
            serde_json::json!({ "name": name.0 }),
        )
        .await?;
        Ok(peer)
    })
    .await?;
    tracing::info!(peer = %peer.id, "sync peer created");
    Ok(CreatedPeer { peer, secret })
}

pub async fn peers(state: &AppState, admin: &Caller) -> Result<Vec<PeerView>> {
    db::transact(&state.db, admin, async |tx| db::peers::list(tx).await).await
}

/// Revokes a peer: its secret stops working at once.
pub async fn revoke_peer(state: &AppState, admin: &Caller, id: Uuid) -> Result<PeerView> {
    db::transact(&state.db, admin, async |tx| {
        let revoked = db::peers::revoke(tx, id).await?;
        if revoked.is_some() {
            crate::services::audit(
                tx,
                "sync_peer.revoked",
                "sync_peer",
                id,
                serde_json::json!({}),
            )
            .await?;
        }
        Ok(revoked)
    })
    .await?
    .ok_or(Error::NotFound("sync peer"))
}

/// The latest runs, newest first.
pub async fn runs(state: &AppState, admin: &Caller, limit: i64) -> Result<Vec<RunView>> {
    db::transact(&state.db, admin, async |tx| {
        db::peers::runs(tx, limit).await
    })
    .await
}

/// Applies one mutation of a peer's push (on the remote): the whole record with its clocks,
/// merged as [`replica`] says. Its result, and whether it changed data.
pub async fn receive(
    tx: &db::Transaction<'_>,
    peer: Uuid,
    mutation: &Mutation,
) -> Result<(MutationResult, bool)> {
    let parsed = (|| {
        let collection = Collection::parse(&mutation.collection)
            .filter(|c| Collection::REPLICATED.contains(c))
            .ok_or(Error::Unprocessable {
                code: "unknown_collection",
                detail: format!("instances do not exchange {:?}", mutation.collection),
            })?;
        if mutation.op == Op::Delete {
            return Err(Error::field(
                "op",
                "a peer sends whole records (create or update); a delete is `deleted_at`",
            ));
        }
        let raw = mutation
            .clocks
            .as_ref()
            .ok_or_else(|| Error::field("clocks", "a peer sends the clock of each field"))?;
        let mut clocks = super::merge::Clocks::new();
        for (field, clock) in raw {
            let clock = clock
                .parse()
                .map_err(|e: String| Error::field(format!("clocks.{field}"), e))?;
            clocks.insert(field.clone(), clock);
        }
        Ok((collection, clocks))
    })();
    let (collection, clocks) = match parsed {
        Ok(parsed) => parsed,
        Err(error) => return Ok((super::apply::rejected(mutation, error)?, false)),
    };
    let received = replica::Received {
        collection,
        id: mutation.record_id,
        fields: &mutation.fields,
        clocks: &clocks,
        source: peer,
    };
    let applied = replica::apply(tx, received).await?;
    let did = matches!(
        applied,
        replica::Applied::Inserted | replica::Applied::Merged
    );
    Ok((
        MutationResult {
            mutation_id: mutation.mutation_id,
            status: MutationStatus::Applied,
            reason: None,
            detail: None,
            errors: Vec::new(),
            record: None,
        },
        did,
    ))
}

/// One run against the configured remote; see the module doc. A run that failed is reported
/// (`status: failed`), not an error; `Err` is for no remote configured, another run holding
/// the remote when an admin asked, or the local database unavailable.
fn sync_running() -> Error {
    Error::Conflict {
        code: "sync_running",
        detail: "a sync run is under way; see GET /api/sync/runs".into(),
    }
}

/// `POST /api/sync/run`: a run now, for `admin`, audited once it has run (a request refused
/// because there is no remote or a run holds it writes nothing).
pub async fn run_requested(state: &AppState, admin: &Caller) -> Result<RunView> {
    let report = run(state, Trigger::Manual).await?;
    db::transact(&state.db, admin, async |tx| {
        crate::services::audit(
            tx,
            "sync.run_requested",
            "sync_run",
            report.id,
            json!({ "status": report.status }),
        )
        .await
    })
    .await?;
    Ok(report)
}

pub async fn run(state: &AppState, trigger: Trigger) -> Result<RunView> {
    let config = state.config.sync.remote.as_ref().ok_or(Error::Conflict {
        code: "no_remote",
        detail: "this deployment has no remote: set SYNC_REMOTE_URL and SYNC_REMOTE_SECRET".into(),
    })?;
    let id = Uuid::new_v4();
    let leased = db::transact(&state.db, &Caller::System, async |tx| {
        db::peers::start_run(tx, id, &config.url, trigger.as_str()).await?;
        let leased = db::peers::lease(tx, &config.url, id, LEASE.as_secs_f64()).await?;
        // An admin's request that finds a run under way is refused with nothing written; a
        // scheduled one records that it was skipped.
        if leased.is_none() && matches!(trigger, Trigger::Manual) {
            return Err(sync_running());
        }
        Ok(leased)
    })
    .await?;
    let mut report = RunView {
        id,
        remote_url: config.url.clone(),
        trigger: trigger.as_str().into(),
        status: "succeeded".into(),
        started_at: OffsetDateTime::now_utc(),
        finished_at: None,
        pushed: 0,
        pulled: 0,
        rejected: 0,
        objects: 0,
        errors: json!([]),
        next_cursor: None,
    };
    let Some(remote) = leased else {
        report.status = "skipped".into();
        report.errors = json!(["another run holds the remote"]);
        let report = db::transact(&state.db, &Caller::System, async |tx| {
            db::peers::finish_run(tx, &report).await
        })
        .await?;
        return match trigger {
            Trigger::Manual => Err(sync_running()),
            Trigger::Schedule => Ok(report),
        };
    };
    report.next_cursor = remote.pull_cursor.clone();
    let mut errors: Vec<String> = Vec::new();
    // Boxed: the run's future nests every step's, deeper than the compiler's layout limit.
    let exchanged = Box::pin(exchange(state, config, &remote, &mut report, &mut errors)).await;
    if let Err(error) = exchanged {
        let error = match error {
            Error::Unavailable(e) | Error::Internal(e) => format!("{e:#}"),
            other => other.to_string(),
        };
        tracing::warn!(run = %id, error, "sync run failed");
        report.status = "failed".into();
        errors.push(error);
    }
    errors.truncate(50);
    report.errors = json!(errors);
    let finished = db::transact(&state.db, &Caller::System, async |tx| {
        db::peers::release(tx, remote.id, id).await?;
        db::peers::finish_run(tx, &report).await
    })
    .await?;
    tracing::info!(run = %id, status = finished.status, pushed = finished.pushed,
                   pulled = finished.pulled, rejected = finished.rejected, "sync run");
    Ok(finished)
}

/// Steps 2 to 6 of a run.
async fn exchange(
    state: &AppState,
    config: &RemoteConfig,
    remote: &db::peers::Remote,
    report: &mut RunView,
    errors: &mut Vec<String>,
) -> Result<()> {
    let me = Caller::Peer(remote.id);
    db::transact(&state.db, &me, async |tx| {
        db::replica::replicating(tx).await?;
        replica::retry_parked(tx, None).await
    })
    .await?;
    scan(state, remote).await?;
    let client = reqwest::Client::builder()
        .timeout(config.timeout)
        .build()
        .map_err(anyhow::Error::from)?;
    // Push.
    loop {
        let queued = db::transact(&state.db, &Caller::System, async |tx| {
            db::peers::queued(tx, remote.id, BATCH).await
        })
        .await?;
        if queued.is_empty() {
            break;
        }
        let now = super::millis(OffsetDateTime::now_utc());
        let mut bytes = 0;
        let request = PushRequest {
            client_id: remote.client_id,
            mutations: queued
                .into_iter()
                .take_while(|q| {
                    bytes += q.size;
                    bytes <= MAX_PUSH_BYTES || bytes == q.size
                })
                .map(|q| Mutation {
                    mutation_id: q.mutation_id,
                    collection: q.collection,
                    record_id: q.record_id,
                    op: Op::Create,
                    fields: q.fields,
                    hlc: super::Hlc::server(now).to_string(),
                    clocks: Some(
                        clocks_from_json(&q.clocks)
                            .into_iter()
                            .map(|(f, c)| (f, c.to_string()))
                            .collect::<BTreeMap<_, _>>(),
                    ),
                })
                .collect(),
        };
        // One `call` a protocol step (push, pull), each the request and what it was doing.
        let answer: PushResponse = call(
            client
                .post(format!("{}/api/sync/push", config.url))
                .bearer_auth(config.secret.expose())
                .json(&request),
            "pushing to the remote",
        )
        .await?;
        for result in answer
            .results
            .iter()
            .filter(|r| r.status == MutationStatus::Rejected)
        {
            report.rejected += 1;
            errors.push(format!(
                "mutation {} refused by the remote: {} {}",
                result.mutation_id,
                result.reason.as_deref().unwrap_or_default(),
                result.detail.as_deref().unwrap_or_default()
            ));
        }
        report.pushed += answer
            .results
            .iter()
            .filter(|r| r.status != MutationStatus::Rejected)
            .count() as i32;
        let last = answer.last_mutation_id;
        db::transact(&state.db, &Caller::System, async |tx| {
            db::peers::acknowledge(tx, remote.id, last).await
        })
        .await?;
        if last < request.mutations.last().map_or(0, |m| m.mutation_id) {
            return Err(Error::Internal(anyhow::anyhow!(
                "the remote acknowledged up to mutation {last} only"
            )));
        }
    }
    // Pull.
    let collections: Vec<&str> = Collection::REPLICATED.iter().map(|c| c.name()).collect();
    let collections = collections.join(",");
    let mut cursor = report.next_cursor.clone();
    loop {
        let mut query = vec![
            ("collections", collections.clone()),
            ("limit", BATCH.to_string()),
        ];
        if let Some(cursor) = &cursor {
            query.push(("cursor", cursor.clone()));
        }
        let page: PullResponse = call(
            client
                .get(format!("{}/api/sync/pull", config.url))
                .bearer_auth(config.secret.expose())
                .query(&query),
            "pulling from the remote",
        )
        .await?;
        let applied = db::transact(&state.db, &me, async |tx| {
            db::replica::replicating(tx).await?;
            let mut applied = 0;
            for change in &page.changes {
                let (Some(Value::Object(fields)), Some(clocks)) = (&change.fields, &change.clocks)
                else {
                    continue;
                };
                let clocks = clocks_from_json(clocks);
                let received = replica::Received {
                    collection: change.collection,
                    id: change.id,
                    fields,
                    clocks: &clocks,
                    source: remote.id,
                };
                replica::apply(tx, received).await?;
                applied += 1;
            }
            let keys: Vec<String> = page
                .changes
                .iter()
                .filter_map(|c| referenced(c.collection, c.fields.as_ref()?))
                .collect();
            db::peers::note_objects(tx, remote.id, DOWN, &keys).await?;
            let arrived: Vec<Uuid> = page.changes.iter().map(|c| c.id).collect();
            replica::retry_parked(tx, Some(&arrived)).await?;
            let inscriptions: Vec<Uuid> = page
                .changes
                .iter()
                .filter(|c| c.collection == Collection::Inscriptions)
                .map(|c| c.id)
                .collect();
            replica::erase_objects(state, tx, &inscriptions).await?;
            db::peers::pulled_to(tx, remote.id, &page.next_cursor).await?;
            Ok(applied)
        })
        .await?;
        report.pulled += applied;
        cursor = Some(page.next_cursor.clone());
        report.next_cursor = cursor.clone();
        if !page.has_more {
            break;
        }
    }
    copy_objects(state, config, &client, remote, report, errors).await
}

/// Directions of an object copy (`sync_objects.direction`).
const UP: &str = "up";
const DOWN: &str = "down";
/// Objects per `POST /api/sync/objects`.
pub const MAX_OBJECTS: usize = 100;

/// The object a record refers to, if any: a masterclass's handout, a student's photo.
fn referenced(collection: Collection, fields: &Value) -> Option<String> {
    let field = match collection {
        Collection::Masterclasses => "pdf_key",
        Collection::Inscriptions => "photo_key",
        _ => return None,
    };
    fields.get(field)?.as_str().map(str::to_owned)
}

/// The content type of an object records refer to, by its key.
fn content_type(key: &str) -> &'static str {
    photos::content_type_of(key).unwrap_or("application/pdf")
}

/// Step 6 of a run: copies the objects noted in both directions (see the module doc). A copy
/// that fails is recorded and tried again by the next run; the others go on.
async fn copy_objects(
    state: &AppState,
    config: &RemoteConfig,
    client: &reqwest::Client,
    remote: &db::peers::Remote,
    report: &mut RunView,
    errors: &mut Vec<String>,
) -> Result<()> {
    for direction in [DOWN, UP] {
        let pending = db::transact(&state.db, &Caller::System, async |tx| {
            db::peers::pending_objects(tx, remote.id, direction, MAX_OBJECTS as i64).await
        })
        .await?;
        if pending.is_empty() {
            continue;
        }
        let mut request = ObjectsRequest::default();
        for key in &pending {
            if direction == DOWN {
                request.download.push(key.clone());
            } else if let Some(size) = state.storage.size(key).await? {
                request.upload.push(ObjectUpload {
                    key: key.clone(),
                    size: size as i64,
                    content_type: content_type(key).into(),
                });
            } else {
                // Gone here since (a handout replaced): nothing to copy.
                db::transact(&state.db, &Caller::System, async |tx| {
                    db::peers::object_copied(tx, remote.id, direction, key, None).await
                })
                .await?;
            }
        }
        if request.download.is_empty() && request.upload.is_empty() {
            continue;
        }
        let links: ObjectsResponse = call(
            client
                .post(format!("{}/api/sync/objects", config.url))
                .bearer_auth(config.secret.expose())
                .json(&request),
            "asking the remote for object links",
        )
        .await?;
        let mut outcomes = Vec::new();
        for link in links.download.iter().chain(&links.upload) {
            let outcome = match (&link.url, direction) {
                // Absent there (deleted since), or already there: nothing to copy.
                (None, _) => Ok(false),
                (Some(url), DOWN) => download(state, client, &link.key, url).await.map(|()| true),
                (Some(url), _) => upload(state, client, link, url).await.map(|()| true),
            };
            outcomes.push((link.key.clone(), outcome));
        }
        // What was uploaded takes its key on the remote only once handed in and checked there.
        let handed_in: Vec<String> = outcomes
            .iter()
            .filter(|(_, outcome)| direction == UP && matches!(outcome, Ok(true)))
            .map(|(key, _)| key.clone())
            .collect();
        if !handed_in.is_empty() {
            let checked: ObjectsResponse = call(
                client
                    .post(format!("{}/api/sync/objects", config.url))
                    .bearer_auth(config.secret.expose())
                    .json(&ObjectsRequest {
                        uploaded: handed_in,
                        ..ObjectsRequest::default()
                    }),
                "handing uploaded objects in to the remote",
            )
            .await?;
            for check in checked.uploaded {
                if check.status == UploadStatus::Stored {
                    continue;
                }
                let refused = anyhow::anyhow!(
                    "the remote did not take it ({:?}{})",
                    check.status,
                    check.detail.map(|d| format!(": {d}")).unwrap_or_default()
                );
                if let Some((_, outcome)) = outcomes.iter_mut().find(|(key, _)| *key == check.key) {
                    *outcome = Err(refused);
                }
            }
        }
        for (key, outcome) in outcomes {
            let error = outcome.as_ref().err().map(|e| format!("{key}: {e:#}"));
            if let Ok(true) = outcome {
                report.objects += 1;
            }
            if let Some(error) = &error {
                errors.push(error.clone());
            }
            db::transact(&state.db, &Caller::System, async |tx| {
                db::peers::object_copied(tx, remote.id, direction, &key, error.as_deref()).await
            })
            .await?;
        }
    }
    Ok(())
}

async fn download(
    state: &AppState,
    client: &reqwest::Client,
    key: &str,
    url: &str,
) -> anyhow::Result<()> {
    let answer = client.get(url).send().await?.error_for_status()?;
    let content_type = answer
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream")
        .to_owned();
    let bytes = answer.bytes().await?;
    state.storage.put(key, bytes.to_vec(), &content_type).await
}

async fn upload(
    state: &AppState,
    client: &reqwest::Client,
    link: &ObjectLink,
    url: &str,
) -> anyhow::Result<()> {
    let bytes = state.storage.get(&link.key).await?;
    let mut put = client.put(url).body(bytes);
    for (name, value) in &link.headers {
        put = put.header(name, value);
    }
    put.send().await?.error_for_status()?;
    Ok(())
}

/// `POST /api/sync/objects` (a peer, on the remote): links to download objects from this
/// instance's store and to upload objects into it, for records the peer exchanged.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ObjectsRequest {
    /// Keys to download (at most 100).
    #[serde(default)]
    pub download: Vec<String>,
    /// Objects to upload (at most 100).
    #[serde(default)]
    pub upload: Vec<ObjectUpload>,
    /// Keys uploaded through the links of an earlier answer, handed in to be checked and put
    /// in place (at most 100).
    #[serde(default)]
    pub uploaded: Vec<String>,
}

/// An object a peer has and means to upload.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ObjectUpload {
    pub key: String,
    /// Bytes (signed into the upload link, so no other size is accepted).
    pub size: i64,
    /// `application/pdf` for a handout; a photo's by its extension (`image/jpeg`, ...).
    pub content_type: String,
}

/// A presigned request for one object; no `url` when there is nothing to do (a download of an
/// object this instance does not have, an upload of one it has). An upload link puts the bytes
/// aside, not under the key: they take the key once handed in (`uploaded`) and checked.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ObjectLink {
    pub key: String,
    pub url: Option<String>,
    pub method: String,
    /// Headers to send as they are (signed).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ObjectsResponse {
    pub download: Vec<ObjectLink>,
    pub upload: Vec<ObjectLink>,
    /// What became of each object handed in, in the request's order.
    #[serde(default)]
    pub uploaded: Vec<UploadChecked>,
}

/// An uploaded object, checked.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UploadChecked {
    pub key: String,
    /// `stored`: under its key now (or already was); `refused`: not what its key says (size or
    /// kind), deleted; `missing`: nothing was uploaded for it.
    pub status: UploadStatus,
    /// Why it was refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UploadStatus {
    Stored,
    Refused,
    Missing,
}

/// Where a peer's upload for `key` waits to be checked: no record refers to it there.
fn staged(key: &str) -> String {
    format!("{STAGING}{key}")
}

/// The largest object `key` may be, and the bytes it must start with.
fn limits(state: &AppState, key: &str) -> (u64, &'static [u8]) {
    if photos::is_photo_key(key) {
        (
            state.config.uploads.photo_max_bytes,
            photos::magic_of(content_type(key)).unwrap_or_default(),
        )
    } else {
        (
            state.config.uploads.pdf_max_bytes,
            crate::services::masterclasses::PDF_MAGIC,
        )
    }
}

/// Checks the object a peer uploaded for `key` and puts it under `key` if it is what the key
/// says (size within the limit, the kind's first bytes); what it refuses is deleted. An object
/// already under `key` is never replaced.
async fn check_upload(state: &AppState, key: &str) -> Result<UploadChecked> {
    let aside = staged(key);
    let answer = |status, detail| UploadChecked {
        key: key.to_owned(),
        status,
        detail,
    };
    let Some(size) = state.storage.size(&aside).await? else {
        let here = state.storage.size(key).await?.is_some();
        return Ok(answer(
            if here {
                UploadStatus::Stored
            } else {
                UploadStatus::Missing
            },
            None,
        ));
    };
    if state.storage.size(key).await?.is_some() {
        state.storage.delete(&aside).await?;
        return Ok(answer(UploadStatus::Stored, None));
    }
    let (max_bytes, magic) = limits(state, key);
    let refusal = if size == 0 || size > max_bytes {
        Some(format!("{size} bytes; the limit is {max_bytes}"))
    } else if state
        .storage
        .read_prefix(&aside, magic.len() as u64)
        .await?
        != magic
    {
        Some(format!("not a {} file", content_type(key)))
    } else {
        None
    };
    if refusal.is_none() {
        state.storage.copy(&aside, key).await?;
    }
    state.storage.delete(&aside).await?;
    tracing::info!(
        key,
        size,
        refused = refusal.is_some(),
        "a peer's upload checked"
    );
    Ok(match refusal {
        None => answer(UploadStatus::Stored, None),
        Some(detail) => answer(UploadStatus::Refused, Some(detail)),
    })
}

/// Is `key` one of the objects records refer to (a handout, a photo), well formed?
fn object_key(field: String, key: &str) -> Result<()> {
    let parts: Vec<&str> = key.split('/').collect();
    let handout = matches!(
        parts.as_slice(),
        ["masterclasses", id, "handouts", name]
            if Uuid::parse_str(id).is_ok()
                && name.strip_suffix(".pdf").is_some_and(|stem| Uuid::parse_str(stem).is_ok())
    );
    if handout || photos::is_photo_key(key) {
        Ok(())
    } else {
        Err(Error::field(
            field,
            "is not the key of an object a synced record refers to",
        ))
    }
}

/// Answers a peer's [`ObjectsRequest`].
pub async fn object_links(state: &AppState, request: &ObjectsRequest) -> Result<ObjectsResponse> {
    if request.download.len() > MAX_OBJECTS
        || request.upload.len() > MAX_OBJECTS
        || request.uploaded.len() > MAX_OBJECTS
    {
        return Err(Error::PayloadTooLarge(format!(
            "at most {MAX_OBJECTS} objects each way per request"
        )));
    }
    let mut problems = Vec::new();
    for (i, key) in request.download.iter().enumerate() {
        if let Err(Error::Validation(mut e)) = object_key(format!("download[{i}]"), key) {
            problems.append(&mut e);
        }
    }
    for (i, key) in request.uploaded.iter().enumerate() {
        if let Err(Error::Validation(mut e)) = object_key(format!("uploaded[{i}]"), key) {
            problems.append(&mut e);
        }
    }
    for (i, object) in request.upload.iter().enumerate() {
        let (max_bytes, _) = limits(state, &object.key);
        if let Err(Error::Validation(mut e)) = object_key(format!("upload[{i}].key"), &object.key) {
            problems.append(&mut e);
        }
        if object.size < 1 || object.size as u64 > max_bytes {
            problems.push(FieldError::new(
                format!("upload[{i}].size"),
                format!("must be between 1 and {max_bytes}"),
            ));
        }
        if object.content_type != content_type(&object.key) {
            problems.push(FieldError::new(
                format!("upload[{i}].content_type"),
                format!("must be {} for this key", content_type(&object.key)),
            ));
        }
    }
    if !problems.is_empty() {
        return Err(Error::Validation(problems));
    }
    let ttl = state.config.uploads.presign_ttl;
    let mut response = ObjectsResponse::default();
    for key in &request.download {
        let url = match state.storage.size(key).await? {
            Some(_) => Some(state.storage.download_link(key, ttl).await?.url),
            None => None,
        };
        response.download.push(ObjectLink {
            key: key.clone(),
            url,
            method: "GET".into(),
            headers: BTreeMap::new(),
        });
    }
    for key in &request.uploaded {
        response.uploaded.push(check_upload(state, key).await?);
    }
    for object in &request.upload {
        // An object here is never replaced, whatever its size: keys are never reused.
        let link = match state.storage.size(&object.key).await? {
            Some(_) => ObjectLink {
                key: object.key.clone(),
                url: None,
                method: "PUT".into(),
                headers: BTreeMap::new(),
            },
            None => {
                let put = state
                    .storage
                    .presign_put(
                        &staged(&object.key),
                        &object.content_type,
                        Some(object.size as u64),
                        ttl,
                    )
                    .await?;
                ObjectLink {
                    key: object.key.clone(),
                    url: Some(put.url),
                    method: put.method,
                    headers: put.headers,
                }
            }
        };
        response.upload.push(link);
    }
    Ok(response)
}

/// Queues the local changes made since the last scan (see the module doc, step 3).
async fn scan(state: &AppState, remote: &db::peers::Remote) -> Result<()> {
    // As the peer, so that what came from the remote is left out as it is for a peer's pull.
    // One horizon for the whole scan, and one collection after the other in the order of
    // `REPLICATED`, so that a masterclass is queued before its questions and inscriptions and
    // an inscription before its attempts (the remote would otherwise park them until their
    // parents arrive: a venue day wrote 4,000 attempts before re-writing their inscriptions).
    let me = Caller::Peer(remote.id);
    let horizon = db::transact(&state.db, &me, async |tx| db::sync::horizon(tx).await).await?;
    for collection in Collection::REPLICATED {
        let mut at = remote.scan.get(&collection).copied().unwrap_or((0, 0));
        loop {
            let (more, next) = db::transact(&state.db, &me, async |tx| {
                let mut rows =
                    db::replica::changes(tx, &[collection], at, horizon, BATCH + 1).await?;
                let more = rows.len() as i64 > BATCH;
                rows.truncate(BATCH as usize);
                let next = match (more, rows.last()) {
                    (true, Some(last)) => (last.xid, last.version),
                    _ if horizon > at.0 => (horizon, 0),
                    _ => at,
                };
                if rows.is_empty() && next == at {
                    return Ok((false, at));
                }
                let changes: Vec<(Collection, Uuid, Value, Value)> = rows
                    .into_iter()
                    .map(|row| {
                        let change = row.change;
                        (
                            change.collection,
                            change.id,
                            change.fields.unwrap_or_else(|| Value::Object(Map::new())),
                            change.clocks.unwrap_or_else(|| json!({})),
                        )
                    })
                    .collect();
                let keys: Vec<String> = changes
                    .iter()
                    .filter_map(|(collection, _, fields, _)| referenced(*collection, fields))
                    .collect();
                db::peers::enqueue(tx, remote.id, &changes, collection, next).await?;
                db::peers::note_objects(tx, remote.id, UP, &keys).await?;
                Ok((more, next))
            })
            .await?;
            at = next;
            if !more {
                break;
            }
        }
    }
    Ok(())
}

/// Sends `request` and reads its JSON answer; anything but a 2xx is an error naming the step.
async fn call<T: serde::de::DeserializeOwned>(
    request: reqwest::RequestBuilder,
    doing: &str,
) -> Result<T> {
    let answer = request
        .send()
        .await
        .map_err(|e| Error::Unavailable(anyhow::anyhow!("{doing}: not reached: {e}")))?;
    let status = answer.status();
    if !status.is_success() {
        let body = answer.text().await.unwrap_or_default();
        let body: String = body.chars().take(500).collect();
        return Err(Error::Unavailable(anyhow::anyhow!(
            "{doing}: the remote answered {status}: {body}"
        )));
    }
    answer
        .json()
        .await
        .map_err(|e| Error::Unavailable(anyhow::anyhow!("{doing}: unreadable answer: {e}")))
}
