//! Queries of instance sync's bookkeeping: on the remote, the peers allowed to sync
//! (`sync_peers`); on the local side, its remote and where it stands (`sync_remotes`), the
//! changes queued for it (`sync_queue`), and the runs (`sync_runs`); on both, records received
//! that do not fit yet (`sync_parked`).
//!
//! Each query is a small function: its SQL, typed parameters, `failed(...)` naming the work and
//! the row, the answer read by column name. One function a query, so that "where is the SQL for
//! X?" has one answer.

use serde_json::{Map, Value};
use tokio_postgres::Row;
use uuid::Uuid;

use super::{
    Db, p,
    row::{FromRow, all, failed},
};
use crate::{
    error::Result,
    model::sync::{
        Collection, clocks_from_json, clocks_to_json,
        merge::Clocks,
        peers::{PeerView, RunView},
    },
};

const PEER: &str = "id, name, created_at, revoked_at, last_seen_at";

/// Creates a peer known by `secret_hash`, made by admin `by`.
pub async fn create(db: &impl Db, name: &str, secret_hash: &[u8], by: Uuid) -> Result<PeerView> {
    let row = db
        .one(
            &format!(
                "insert into sync_peers (name, secret_hash, created_by) values ($1, $2, $3)
                 returning {PEER}"
            ),
            &[p(&name), p(&secret_hash), p(&by)],
        )
        .await
        .map_err(failed("creating a sync peer"))?;
    PeerView::from_row(&row)
}

pub async fn list(db: &impl Db) -> Result<Vec<PeerView>> {
    let rows = db
        .all(
            &format!("select {PEER} from sync_peers order by created_at, id"),
            &[],
        )
        .await
        .map_err(failed("listing sync peers"))?;
    all(&rows)
}

/// Revokes peer `id` (its secret stops working at once); `None` if there is no such peer.
pub async fn revoke(db: &impl Db, id: Uuid) -> Result<Option<PeerView>> {
    let row = db
        .opt(
            &format!(
                "update sync_peers set revoked_at = coalesce(revoked_at, now()) where id = $1
                 returning {PEER}"
            ),
            &[p(&id)],
        )
        .await
        .map_err(failed(format!("revoking sync peer {id}")))?;
    row.as_ref().map(PeerView::from_row).transpose()
}

/// The peer a presented secret belongs to, if any and not revoked (outside a transaction,
/// before the caller is known).
pub async fn session(db: &tokio_postgres::Client, secret_hash: &[u8]) -> Result<Option<Uuid>> {
    let row = db
        .one("select auth_sync_peer($1) as id", &[p(&secret_hash)])
        .await
        .map_err(failed("checking a sync peer's secret"))?;
    Ok(row.try_get("id")?)
}

/// Where the local side stands with its remote.
#[derive(Debug, Clone)]
pub struct Remote {
    pub id: Uuid,
    pub client_id: Uuid,
    /// Per collection, where the scan of local changes stands.
    pub scan: std::collections::BTreeMap<Collection, (u64, i64)>,
    pub pull_cursor: Option<String>,
    pub next_mutation_id: i64,
    pub acknowledged: i64,
}

impl FromRow for Remote {
    fn from_row(row: &Row) -> Result<Self> {
        let scan: Value = row.try_get("scan")?;
        let scan = Collection::REPLICATED
            .into_iter()
            .filter_map(|c| {
                let at = scan.get(c.name())?;
                let xid = at.get(0)?.as_str()?.parse().ok()?;
                let version = at.get(1)?.as_str()?.parse().ok()?;
                Some((c, (xid, version)))
            })
            .collect();
        Ok(Self {
            id: row.try_get("id")?,
            client_id: row.try_get("client_id")?,
            scan,
            pull_cursor: row.try_get("pull_cursor")?,
            next_mutation_id: row.try_get("next_mutation_id")?,
            acknowledged: row.try_get("acknowledged")?,
        })
    }
}

const REMOTE: &str = "id, client_id, scan, pull_cursor, \
                      next_mutation_id, acknowledged";

/// Takes the remote at `url` for run `run` for `lease_secs` (created on first use); `None` when
/// another run holds it.
pub async fn lease(db: &impl Db, url: &str, run: Uuid, lease_secs: f64) -> Result<Option<Remote>> {
    db.exec(
        "insert into sync_remotes (url) values ($1) on conflict (url) do nothing",
        &[p(&url)],
    )
    .await
    .map_err(failed("recording the sync remote"))?;
    let row = db
        .opt(
            &format!(
                "update sync_remotes set leased_until = now() + make_interval(secs => $3),
                     leased_by = $2
                 where url = $1 and (leased_until is null or leased_until < now() or leased_by = $2)
                 returning {REMOTE}"
            ),
            &[p(&url), p(&run), p(&lease_secs)],
        )
        .await
        .map_err(failed("taking the sync remote for a run"))?;
    row.as_ref().map(Remote::from_row).transpose()
}

/// Frees the remote held by run `run`.
pub async fn release(db: &impl Db, remote: Uuid, run: Uuid) -> Result<()> {
    db.exec(
        "update sync_remotes set leased_until = null, leased_by = null
         where id = $1 and leased_by = $2",
        &[p(&remote), p(&run)],
    )
    .await
    .map_err(failed("freeing the sync remote"))?;
    Ok(())
}

/// One change queued for the remote.
#[derive(Debug, Clone)]
pub struct Queued {
    pub mutation_id: i64,
    pub collection: String,
    pub record_id: Uuid,
    pub fields: Map<String, Value>,
    pub clocks: Value,
    /// Bytes of its fields and clocks as JSON, about what it weighs in a push.
    pub size: usize,
}

/// Queues `changes` (of `collection`) for remote `remote`, numbered from its next mutation id,
/// and moves the collection's scan to `scanned`; in the caller's transaction, so a change is
/// queued exactly once.
pub async fn enqueue(
    db: &impl Db,
    remote: Uuid,
    changes: &[(Collection, Uuid, Value, Value)],
    collection: Collection,
    scanned: (u64, i64),
) -> Result<()> {
    let collections: Vec<&str> = changes.iter().map(|c| c.0.name()).collect();
    let ids: Vec<Uuid> = changes.iter().map(|c| c.1).collect();
    let fields: Vec<&Value> = changes.iter().map(|c| &c.2).collect();
    let clocks: Vec<&Value> = changes.iter().map(|c| &c.3).collect();
    db.exec(
        "with r as (select next_mutation_id from sync_remotes where id = $1)
         insert into sync_queue (remote_id, mutation_id, collection, record_id, fields, clocks)
         select $1, r.next_mutation_id + c.n - 1, c.collection, c.id, c.fields, c.clocks
         from r, unnest($2::text[], $3::uuid[], $4::jsonb[], $5::jsonb[])
              with ordinality as c (collection, id, fields, clocks, n)",
        &[p(&remote), p(&collections), p(&ids), p(&fields), p(&clocks)],
    )
    .await
    .map_err(failed("queueing changes for the remote"))?;
    db.exec(
        "update sync_remotes set next_mutation_id = next_mutation_id + $2,
             scan = jsonb_set(scan, array[$3], jsonb_build_array($4::text, $5::text))
         where id = $1",
        &[
            p(&remote),
            p(&(changes.len() as i64)),
            p(&collection.name()),
            p(&scanned.0.to_string()),
            p(&scanned.1.to_string()),
        ],
    )
    .await
    .map_err(failed("moving the scan of local changes"))?;
    Ok(())
}

/// The oldest `limit` queued changes the remote has not acknowledged.
pub async fn queued(db: &impl Db, remote: Uuid, limit: i64) -> Result<Vec<Queued>> {
    let rows = db
        .all(
            "select q.mutation_id, q.collection, q.record_id, q.fields, q.clocks,
                    octet_length(q.fields::text) + octet_length(q.clocks::text) + 200 as size
             from sync_queue q join sync_remotes r on r.id = q.remote_id
             where q.remote_id = $1 and q.mutation_id > r.acknowledged
             order by q.mutation_id limit $2",
            &[p(&remote), p(&limit)],
        )
        .await
        .map_err(failed("reading changes queued for the remote"))?;
    rows.iter()
        .map(|r| {
            let fields: Value = r.try_get("fields")?;
            Ok(Queued {
                mutation_id: r.try_get("mutation_id")?,
                collection: r.try_get("collection")?,
                record_id: r.try_get("record_id")?,
                fields: match fields {
                    Value::Object(map) => map,
                    _ => Map::new(),
                },
                clocks: r.try_get("clocks")?,
                size: usize::try_from(r.try_get::<_, i32>("size")?).unwrap_or(0),
            })
        })
        .collect()
}

/// Records that the remote has every mutation up to `last`, and forgets them.
pub async fn acknowledge(db: &impl Db, remote: Uuid, last: i64) -> Result<()> {
    db.exec(
        "update sync_remotes set acknowledged = greatest(acknowledged, $2) where id = $1",
        &[p(&remote), p(&last)],
    )
    .await
    .map_err(failed("recording what the remote acknowledged"))?;
    db.exec(
        "delete from sync_queue where remote_id = $1 and mutation_id <= $2",
        &[p(&remote), p(&last)],
    )
    .await
    .map_err(failed("forgetting acknowledged changes"))?;
    Ok(())
}

/// Stores the remote's pull cursor (with the changes it brought, in one transaction).
pub async fn pulled_to(db: &impl Db, remote: Uuid, cursor: &str) -> Result<()> {
    db.exec(
        "update sync_remotes set pull_cursor = $2 where id = $1",
        &[p(&remote), p(&cursor)],
    )
    .await
    .map_err(failed("storing the remote's pull cursor"))?;
    Ok(())
}

/// A received record set aside.
pub struct Parked {
    pub collection: Collection,
    pub id: Uuid,
    pub fields: Map<String, Value>,
    pub clocks: Clocks,
    pub source: Uuid,
}

/// Sets a received record aside, to be tried again when one of `waiting_for` arrives.
pub async fn park(db: &impl Db, parked: &Parked, waiting_for: &[Uuid], error: &str) -> Result<()> {
    let (collection, id) = (parked.collection, parked.id);
    db.exec(
        "insert into sync_parked (collection, record_id, fields, clocks, source, waiting_for,
                                  last_error)
         values ($1, $2, $3, $4, $5, $6, $7)
         on conflict (collection, record_id) do update
         set fields = excluded.fields, clocks = excluded.clocks, source = excluded.source,
             waiting_for = excluded.waiting_for, last_error = excluded.last_error",
        &[
            p(&collection.name()),
            p(&id),
            p(&Value::Object(parked.fields.clone())),
            p(&clocks_to_json(&parked.clocks)),
            p(&parked.source),
            p(&waiting_for),
            p(&error),
        ],
    )
    .await
    .map_err(failed(format!("parking {} {id}", collection.name())))?;
    Ok(())
}

pub async fn unpark(db: &impl Db, collection: Collection, id: Uuid) -> Result<()> {
    db.exec(
        "delete from sync_parked where collection = $1 and record_id = $2",
        &[p(&collection.name()), p(&id)],
    )
    .await
    .map_err(failed(format!("unparking {} {id}", collection.name())))?;
    Ok(())
}

/// The parked records waiting for one of `arrived` (every one when `None`), oldest first.
pub async fn parked(db: &impl Db, arrived: Option<&[Uuid]>) -> Result<Vec<Parked>> {
    let rows = db
        .all(
            "select collection, record_id, fields, clocks, source from sync_parked
             where $1::uuid[] is null or waiting_for && $1
             order by parked_at, collection, record_id",
            &[p(&arrived)],
        )
        .await
        .map_err(failed("reading parked records"))?;
    rows.iter()
        .map(|r| {
            let name: String = r.try_get("collection")?;
            let fields: Value = r.try_get("fields")?;
            let clocks: Value = r.try_get("clocks")?;
            Ok(Parked {
                collection: Collection::parse(&name)
                    .ok_or_else(|| anyhow::anyhow!("parked collection {name:?}"))?,
                id: r.try_get("record_id")?,
                fields: match fields {
                    Value::Object(map) => map,
                    _ => Map::new(),
                },
                clocks: clocks_from_json(&clocks),
                source: r.try_get("source")?,
            })
        })
        .collect()
}

const RUN: &str = "id, remote_url, trigger, status, started_at, finished_at, pushed, pulled, \
                   rejected, objects, errors, next_cursor";

/// Records a run starting now.
pub async fn start_run(db: &impl Db, id: Uuid, url: &str, trigger: &str) -> Result<()> {
    db.exec(
        "insert into sync_runs (id, remote_url, trigger) values ($1, $2, $3)",
        &[p(&id), p(&url), p(&trigger)],
    )
    .await
    .map_err(failed("recording a sync run"))?;
    Ok(())
}

/// Records how run `run.id` ended.
pub async fn finish_run(db: &impl Db, run: &RunView) -> Result<RunView> {
    let row = db
        .one(
            &format!(
                "update sync_runs set status = $2, finished_at = now(), pushed = $3, pulled = $4,
                     rejected = $5, errors = $6, next_cursor = $7, objects = $8
                 where id = $1 returning {RUN}"
            ),
            &[
                p(&run.id),
                p(&run.status),
                p(&run.pushed),
                p(&run.pulled),
                p(&run.rejected),
                p(&run.errors),
                p(&run.next_cursor),
                p(&run.objects),
            ],
        )
        .await
        .map_err(failed(format!("recording the end of sync run {}", run.id)))?;
    RunView::from_row(&row)
}

/// The latest `limit` runs, newest first.
pub async fn runs(db: &impl Db, limit: i64) -> Result<Vec<RunView>> {
    let rows = db
        .all(
            &format!("select {RUN} from sync_runs order by started_at desc, id limit $1"),
            &[p(&limit)],
        )
        .await
        .map_err(failed("listing sync runs"))?;
    all(&rows)
}

/// Notes `keys` to copy in `direction` (`up` or `down`) with remote `remote`, unless noted
/// already.
pub async fn note_objects(
    db: &impl Db,
    remote: Uuid,
    direction: &str,
    keys: &[String],
) -> Result<()> {
    if keys.is_empty() {
        return Ok(());
    }
    db.exec(
        "insert into sync_objects (remote_id, direction, key)
         select $1, $2, unnest($3::text[])
         on conflict (remote_id, direction, key) do nothing",
        &[p(&remote), p(&direction), p(&keys)],
    )
    .await
    .map_err(failed("noting objects to copy"))?;
    Ok(())
}

/// Up to `limit` objects still to copy in `direction`, oldest first.
pub async fn pending_objects(
    db: &impl Db,
    remote: Uuid,
    direction: &str,
    limit: i64,
) -> Result<Vec<String>> {
    let rows = db
        .all(
            "select key from sync_objects
             where remote_id = $1 and direction = $2 and copied_at is null
             order by noted_at, key limit $3",
            &[p(&remote), p(&direction), p(&limit)],
        )
        .await
        .map_err(failed("reading objects to copy"))?;
    rows.iter().map(|r| Ok(r.try_get("key")?)).collect()
}

/// Records a copy of `key`: done, or failed with `error` (tried again by the next run).
pub async fn object_copied(
    db: &impl Db,
    remote: Uuid,
    direction: &str,
    key: &str,
    error: Option<&str>,
) -> Result<()> {
    db.exec(
        "update sync_objects set attempts = attempts + 1, last_error = $4,
             copied_at = case when $4::text is null then now() end
         where remote_id = $1 and direction = $2 and key = $3",
        &[p(&remote), p(&direction), p(&key), p(&error)],
    )
    .await
    .map_err(failed(format!("recording the copy of {key}")))?;
    Ok(())
}
