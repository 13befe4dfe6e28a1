//! `POST /api/sync/push`: a device's batch applied exactly once, each mutation in a savepoint of
//! its own, with each mutation's fate and the record as the server then holds it.

use std::collections::BTreeMap;

use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{
    Change, ChangeOp, Collection, Hlc, MAX_MUTATIONS, Mutation, MutationResult, MutationStatus,
    PushRequest, PushResponse, apply, millis, peer, replica,
};
use crate::{
    AppState,
    auth::Caller,
    db,
    error::{Error, FieldError, Result},
};

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
        let mut batch = DocumentBatch::default();
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
                .filter(|d| !batch.documents.iter().any(|r| r.id == d.id))
            {
                batch.pending.push((results.len(), mutation));
                batch.documents.push(document);
                results.push(MutationResult::of(mutation, MutationStatus::Applied));
                continue;
            }
            batch.flush(&ctx, tx, &mut results, &mut changed).await?;
            let (result, did) = apply_one(&ctx, tx, mutation).await?;
            if did {
                note_changed(&mut changed, &mutation.collection);
            }
            results.push(result);
        }
        batch.flush(&ctx, tx, &mut results, &mut changed).await?;
        repeat_fates_within(&mut results, last);
        let rejected_now: Vec<db::sync::Rejection> = results
            .iter()
            .filter(|r| r.mutation_id > last && r.status == MutationStatus::Rejected)
            .map(db::sync::Rejection::from)
            .collect();
        db::sync::record_rejections(tx, request.client_id, &rejected_now).await?;
        if peer.is_none() {
            attach_records(tx, caller, &request.mutations, &mut results).await?;
        } else {
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
    db::savepoint(tx, super::MUTATION_SAVEPOINT).await?;
    match apply::apply(ctx, tx, mutation).await {
        Ok(did) => {
            db::release(tx, super::MUTATION_SAVEPOINT).await?;
            Ok((MutationResult::of(mutation, MutationStatus::Applied), did))
        }
        Err(error) => {
            db::rollback_to(tx, super::MUTATION_SAVEPOINT).await?;
            Ok((apply::rejected(mutation, error)?, false))
        }
    }
}

/// Consecutive document creates of a push, written in one statement: a device's first sync
/// of what its local storage held is thousands of them, and one round trip and savepoint per
/// row would cost most of the push (see the sync benchmark). They touch distinct new records,
/// so writing them together is writing them in order.
#[derive(Default)]
struct DocumentBatch<'m> {
    documents: Vec<db::sync::NewDocument>,
    /// Each document's mutation and place in the results (answered `applied` in advance).
    pending: Vec<(usize, &'m Mutation)>,
}

impl<'m> DocumentBatch<'m> {
    /// Writes the batch. When the statement fails (a key taken, a policy) or meets a record that
    /// already exists, nothing of it stays and each mutation goes through [`apply_one`], which
    /// answers for it exactly as if no batch had been tried.
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
        db::savepoint(tx, super::MUTATION_SAVEPOINT).await?;
        let written = db::sync::insert_documents(tx, &documents).await;
        if matches!(written, Ok(n) if n == documents.len() as u64) {
            db::release(tx, super::MUTATION_SAVEPOINT).await?;
            note_changed(changed, Collection::Documents.name());
            return Ok(());
        }
        if let Err(error @ Error::Unavailable(_)) = written {
            return Err(error);
        }
        db::rollback_to(tx, super::MUTATION_SAVEPOINT).await?;
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
