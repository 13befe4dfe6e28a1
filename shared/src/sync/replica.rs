//! Applying a record received from another instance: the same on both sides (the remote
//! applying a peer's push, the local side applying what it pulled), so that both end alike.
//!
//! - **Merge**, per field, by clock ([`merge_record`]): a field takes the incoming value when
//!   its clock is newer than ours; on equal clocks with different values (two servers writing in
//!   the same millisecond) the larger value, as JSON text, wins on both sides. Fields without a
//!   clock on either side were set at creation and never change. Fields each side computes for
//!   itself ([`db::replica::Shape::derived`]: who won a merge) are not merged.
//! - **No echo**: the record is marked as coming from the sender only when the merged record is
//!   exactly what it sent; otherwise it is ours and goes back, so the sender learns our newer
//!   fields.
//! - **What travels with a record**: a question's key; an inscription's paper (taken if it has
//!   none here) and its access tokens' hashes with whether each is revoked (so the student's
//!   link opens it on either side, and a revocation on one side holds on both); an attempt's
//!   answers.
//! - **People**: an inscription finds its profile by WhatsApp number, and after any inscription
//!   or attempt arrives the person's inscriptions are settled (see migration 0014,
//!   `sync_settle_inscriptions`): the first registration survives, the other's attempts,
//!   tokens and messages follow it.
//! - **Parking**: a record that cannot be written yet (its masterclass, inscription or question
//!   has not arrived, or a rule of the schema refuses it) is kept in `sync_parked` with the ids
//!   it refers to, and tried again when one of them arrives (and at the start of every run);
//!   nothing received is dropped.
//! - **Erasure**: an inscription that arrives erased has its photos deleted from this
//!   instance's store too ([`erase_objects`]).

use serde_json::{Map, Value};
use uuid::Uuid;

use super::{
    Collection,
    merge::{self, Clocks},
};
use crate::{
    AppState,
    db::{self, Transaction, replica::shape},
    error::{Error, Result},
    services,
};

/// Deletes the stored objects (photos) of the inscriptions among `ids` that are erased here
/// once received: an erasure made on the other side reaches this instance's store as well as
/// its rows. Called in the transaction that applied them, so a store that fails makes the whole
/// page or push fail, to be received again.
pub async fn erase_objects(state: &AppState, tx: &Transaction<'_>, ids: &[Uuid]) -> Result<()> {
    let erased = db::replica::erased_among(tx, ids).await?;
    if !erased.is_empty() {
        let deleted = services::privacy::delete_photos(state, &erased).await?;
        tracing::info!(
            inscriptions = erased.len(),
            deleted,
            "objects of a received erasure deleted"
        );
    }
    Ok(())
}

/// What became of a received record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Inserted,
    Merged,
    /// Ours already, or ours is newer in every field.
    Unchanged,
    /// Kept aside until what it refers to arrives.
    Parked,
}

/// The outcome of merging a received record into ours.
#[derive(Debug, Clone, PartialEq)]
pub struct Merged {
    /// Fields whose incoming value wins.
    pub take: Vec<String>,
    pub clocks: Clocks,
    /// `Some(true)` to delete the record, `Some(false)` to bring it back.
    pub deleted: Option<bool>,
    /// Ours, after the merge, is exactly what was sent.
    pub same: bool,
}

/// The column that says a record is deleted; its clock is [`merge::DELETED`].
const DELETED_AT: &str = "deleted_at";

/// Merges `incoming` (with its clocks) into `stored`; see the module doc. Whether the record is
/// deleted follows the delete rule of devices ([`merge::alive`]) unless `deleted_at` is
/// `derived`.
pub fn merge_record(
    stored: &Map<String, Value>,
    stored_clocks: &Clocks,
    incoming: &Map<String, Value>,
    incoming_clocks: &Clocks,
    derived: &[&str],
) -> Merged {
    let mut take = Vec::new();
    let mut same = true;
    for (field, value) in incoming {
        if derived.contains(&field.as_str()) || field == DELETED_AT {
            continue;
        }
        let ours = stored.get(field).unwrap_or(&Value::Null);
        if ours == value {
            continue;
        }
        let wins = match (incoming_clocks.get(field), stored_clocks.get(field)) {
            (Some(theirs), Some(mine)) if theirs == mine => *value.to_string() > *ours.to_string(),
            (Some(theirs), mine) => mine.is_none_or(|m| theirs > m),
            (None, _) => false,
        };
        if wins {
            take.push(field.clone());
        } else {
            same = false;
        }
    }
    let mut clocks = stored_clocks.clone();
    for (field, clock) in incoming_clocks {
        if clocks.get(field).is_none_or(|mine| clock > mine) {
            clocks.insert(field.clone(), clock.clone());
        }
    }
    let mut deleted = None;
    if incoming.contains_key(DELETED_AT) && !derived.contains(&DELETED_AT) {
        let gone = !merge::alive(&clocks);
        let was_gone = !stored.get(DELETED_AT).unwrap_or(&Value::Null).is_null();
        let sent_gone = !incoming[DELETED_AT].is_null();
        if gone != was_gone {
            deleted = Some(gone);
        }
        same = same && gone == sent_gone;
    }
    // A newer clock of ours, even for a value the sender has too, means the sender is behind.
    let same = same && clocks == *incoming_clocks;
    Merged {
        take,
        clocks,
        deleted,
        same,
    }
}

/// A record received from another instance, as [`apply`] takes it.
#[derive(Debug, Clone, Copy)]
pub struct Received<'a> {
    pub collection: Collection,
    pub id: Uuid,
    pub fields: &'a Map<String, Value>,
    pub clocks: &'a Clocks,
    /// The instance it came from.
    pub source: Uuid,
}

/// Applies one received record in a savepoint of its own. A record that does not fit yet is
/// parked (see the module doc).
pub async fn apply(tx: &Transaction<'_>, record: Received<'_>) -> Result<Applied> {
    apply_as(tx, record, false).await
}

/// [`apply`], for a record that was parked (`parked`: taken out of `sync_parked` if it fits).
async fn apply_as(tx: &Transaction<'_>, record: Received<'_>, parked: bool) -> Result<Applied> {
    let Received { collection, id, .. } = record;
    db::savepoint(tx, super::MUTATION_SAVEPOINT).await?;
    match write(tx, record).await {
        Ok(applied) => {
            db::release(tx, super::MUTATION_SAVEPOINT).await?;
            if parked {
                db::peers::unpark(tx, collection, id).await?;
            }
            Ok(applied)
        }
        Err(error @ (Error::Conflict { .. } | Error::Unprocessable { .. })) => {
            db::rollback_to(tx, super::MUTATION_SAVEPOINT).await?;
            tracing::info!(collection = collection.name(), %id, error = %error, "parked a received record");
            let parked = db::peers::Parked {
                collection,
                id,
                fields: record.fields.clone(),
                clocks: record.clocks.clone(),
                source: record.source,
            };
            let waits_for = references(collection, record.fields);
            db::peers::park(tx, &parked, &waits_for, &error.to_string()).await?;
            Ok(Applied::Parked)
        }
        Err(error) => Err(error),
    }
}

/// The records `fields` refers to: what a parked record waits for.
fn references(collection: Collection, fields: &Map<String, Value>) -> Vec<Uuid> {
    let id = |name: &str| fields.get(name)?.as_str()?.parse::<Uuid>().ok();
    match collection {
        Collection::Masterclasses | Collection::Documents => Vec::new(),
        Collection::Questions | Collection::Inscriptions => {
            id("masterclass_id").into_iter().collect()
        }
        Collection::Attempts => id("inscription_id")
            .into_iter()
            .chain(
                fields
                    .get("answers")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|a| a.get("question_id")?.as_str()?.parse().ok()),
            )
            .collect(),
    }
}

/// Tries again the parked records waiting for one of `arrived` (every parked record when
/// `None`), then those waiting for what that let in, and so on; returns how many now fit.
pub async fn retry_parked(tx: &Transaction<'_>, arrived: Option<&[Uuid]>) -> Result<usize> {
    let mut fitted = 0;
    let mut arrived: Option<Vec<Uuid>> = arrived.map(<[Uuid]>::to_vec);
    loop {
        let parked = db::peers::parked(tx, arrived.as_deref()).await?;
        let mut now = Vec::new();
        for record in &parked {
            let received = Received {
                collection: record.collection,
                id: record.id,
                fields: &record.fields,
                clocks: &record.clocks,
                source: record.source,
            };
            let applied = apply_as(tx, received, true).await?;
            if applied != Applied::Parked {
                fitted += 1;
                now.push(record.id);
            }
        }
        if now.is_empty() {
            return Ok(fitted);
        }
        arrived = Some(now);
    }
}

async fn write(tx: &Transaction<'_>, record: Received<'_>) -> Result<Applied> {
    let Received {
        collection,
        id,
        fields,
        clocks,
        source,
    } = record;
    let s = shape(collection);
    // The shape's columns that `fields` carries.
    let present = |fields: &Map<String, Value>| -> Vec<&str> {
        s.columns
            .iter()
            .copied()
            .filter(|c| fields.contains_key(*c))
            .collect()
    };
    let columns = present(fields);
    let applied = match db::replica::load(tx, collection, id).await? {
        None => {
            let profile = match collection {
                Collection::Inscriptions => Some(db::replica::profile(tx, fields).await?),
                _ => None,
            };
            // Who won a merge is settled here, not copied: an inscription arrives deleted and
            // settling revives the person's first, an attempt arrives superseded and settling
            // counts the person's first of each kind.
            let mut fields = fields.clone();
            match collection {
                Collection::Inscriptions => {
                    fields.insert("merged_into".into(), Value::Null);
                    fields.insert("deleted_at".into(), Value::String(now_rfc3339()));
                }
                Collection::Attempts => {
                    fields.insert("superseded".into(), Value::Bool(true));
                }
                _ => {}
            }
            let write = db::replica::Write {
                columns: &present(&fields),
                fields: &fields,
                clocks,
                source: Some(source),
            };
            db::replica::insert(tx, collection, id, &write, profile).await?;
            Applied::Inserted
        }
        Some(stored) => {
            let merged = merge_record(&stored.fields, &stored.clocks, fields, clocks, s.derived);
            let take: Vec<&str> = columns
                .iter()
                .copied()
                .filter(|c| merged.take.iter().any(|t| t == c))
                .collect();
            let source_after = merged.same.then_some(source);
            let extras_changed = merged.take.iter().any(|t| !s.columns.contains(&t.as_str()));
            let unchanged = take.is_empty() && !extras_changed && merged.deleted.is_none();
            // Nothing to write when no field, clock or source moved; what travels with the
            // record (tokens revoked there, a key) is still applied below.
            if !unchanged || merged.clocks != stored.clocks || source_after != stored.source {
                let write = db::replica::Write {
                    columns: &take,
                    fields,
                    clocks: &merged.clocks,
                    source: source_after,
                };
                db::replica::update(tx, collection, id, &write, merged.deleted).await?;
            }
            if unchanged {
                Applied::Unchanged
            } else {
                Applied::Merged
            }
        }
    };
    extras(tx, collection, id, fields, applied).await?;
    Ok(applied)
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// What travels with a record: a question's key, an inscription's paper, an attempt's answers;
/// then the person's inscriptions settled.
async fn extras(
    tx: &Transaction<'_>,
    collection: Collection,
    id: Uuid,
    fields: &Map<String, Value>,
    applied: Applied,
) -> Result<()> {
    match collection {
        Collection::Questions => {
            if let Some(Value::String(correct)) = fields.get("correct") {
                db::replica::question_key(tx, id, correct).await?;
            }
        }
        Collection::Inscriptions => {
            if let Some(paper) = fields.get("paper").filter(|p| !p.is_null()) {
                let ids: Vec<Uuid> = serde_json::from_value(paper.clone())
                    .map_err(|e| Error::field("fields.paper", e.to_string()))?;
                db::replica::paper(tx, id, &ids).await?;
            }
            if let Some(tokens) = fields.get("tokens").filter(|t| t.is_array()) {
                let tokens: Vec<(String, bool)> = serde_json::from_value(tokens.clone())
                    .map_err(|e| Error::field("fields.tokens", e.to_string()))?;
                db::replica::tokens(tx, id, &tokens).await?;
            }
            if let Some((masterclass, profile)) = db::replica::person(tx, id).await? {
                db::replica::settle(tx, masterclass, profile).await?;
            }
        }
        Collection::Attempts if applied == Applied::Inserted => {
            if let Some(answers) = fields.get("answers").filter(|a| a.is_array()) {
                db::replica::answers(tx, id, answers).await?;
            }
            if let Some((masterclass, profile)) = db::replica::attempt_person(tx, id).await? {
                db::replica::settle(tx, masterclass, profile).await?;
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng, rngs::StdRng, seq::SliceRandom};
    use serde_json::json;

    use super::*;
    use crate::sync::Hlc;

    fn clock(ms: u64, node: &str) -> Hlc {
        Hlc::new(ms, 0, node).unwrap()
    }

    /// A record's state as a replica holds it.
    #[derive(Clone, Debug, PartialEq)]
    struct Replica {
        fields: Map<String, Value>,
        clocks: Clocks,
    }

    impl Replica {
        fn receive(&mut self, other: &Replica) {
            let m = merge_record(
                &self.fields,
                &self.clocks,
                &other.fields,
                &other.clocks,
                &[],
            );
            for f in &m.take {
                self.fields.insert(f.clone(), other.fields[f].clone());
            }
            self.clocks = m.clocks;
        }
    }

    #[test]
    fn replicas_that_exchange_states_in_any_order_end_alike() {
        let seed: u64 = rand::rng().random();
        println!("seed {seed}");
        let mut rng = StdRng::seed_from_u64(seed);
        for _ in 0..200 {
            let base = Replica {
                fields: json!({"a": 0, "b": 0, "c": 0}).as_object().unwrap().clone(),
                clocks: Clocks::new(),
            };
            let mut replicas = [base.clone(), base.clone(), base];
            // Each replica edits fields at clocks that may collide across replicas.
            for (n, replica) in replicas.iter_mut().enumerate() {
                for _ in 0..rng.random_range(0..4) {
                    let field = ["a", "b", "c"][rng.random_range(0..3)];
                    let at = clock(rng.random_range(1..6), ["s1", "s2", "s3"][n]);
                    let at = if rng.random_bool(0.2) {
                        clock(at.wall_ms(), "server")
                    } else {
                        at
                    };
                    replica
                        .fields
                        .insert(field.into(), json!(rng.random_range(0..100)));
                    replica.clocks.insert(field.into(), at);
                }
            }
            // Random exchanges, then everyone hears from everyone twice.
            let mut pairs: Vec<(usize, usize)> = (0..3)
                .flat_map(|i| (0..3).map(move |j| (i, j)))
                .filter(|(i, j)| i != j)
                .collect();
            for _ in 0..2 {
                pairs.shuffle(&mut rng);
                for &(from, to) in &pairs {
                    let sent = replicas[from].clone();
                    replicas[to].receive(&sent);
                }
            }
            assert_eq!(replicas[0], replicas[1], "seed {seed}");
            assert_eq!(replicas[1], replicas[2], "seed {seed}");
        }
    }

    #[test]
    fn a_record_is_the_sender_s_only_when_nothing_of_ours_won() {
        let fields = |a: i64, b: i64| json!({"a": a, "b": b}).as_object().unwrap().clone();
        let clocks = |a: u64, b: u64| {
            Clocks::from([("a".into(), clock(a, "x")), ("b".into(), clock(b, "x"))])
        };
        let theirs_newer = merge_record(
            &fields(1, 1),
            &clocks(1, 1),
            &fields(2, 2),
            &clocks(2, 2),
            &[],
        );
        assert_eq!(theirs_newer.take, vec!["a", "b"]);
        assert!(theirs_newer.same);
        let ours_newer_b = merge_record(
            &fields(1, 3),
            &clocks(1, 3),
            &fields(2, 2),
            &clocks(2, 2),
            &[],
        );
        assert_eq!(ours_newer_b.take, vec!["a"]);
        assert!(!ours_newer_b.same);
        let derived_ignored = merge_record(
            &fields(1, 1),
            &clocks(1, 1),
            &fields(1, 9),
            &clocks(1, 1),
            &["b"],
        );
        assert!(derived_ignored.take.is_empty());
        assert!(derived_ignored.same);
    }
}
