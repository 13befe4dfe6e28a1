//! Queries of offline sync: each device's last applied mutation, the stream of changes, the
//! per-field clocks of synced rows, and the `documents` collection.
//!
//! **The horizon.** A pull hands out only rows whose writing transaction (`sync_xid`) is below
//! `pg_snapshot_xmin(pg_current_snapshot())`: every transaction below it has committed or
//! aborted, and any transaction still to commit has a larger id, so once a cursor passes a
//! position nothing can appear behind it (migration 0011 says more). Rows are read in
//! (`sync_xid`, `row_version`) order, which each synced table indexes.
//!
//! Each query is a small function: its SQL, typed parameters, `failed(...)` naming the work and
//! the row, the answer read by column name. One function a query, so that "where is the SQL for
//! X?" has one answer.

use serde_json::{Map, Value};
use tokio_postgres::Row;
use uuid::Uuid;

use super::{Db, Transaction, p, row::failed};
use crate::{
    error::Result,
    model::sync::{
        Change, ChangeOp, Collection, Fields, clocks_from_json, clocks_to_json, merge::Clocks,
    },
};

/// Marks the rest of the transaction as applying pushed mutations: writes keep the clocks they
/// are given instead of being stamped with the server's (see `sync_touch`).
pub async fn applying(db: &Transaction<'_>) -> Result<()> {
    db.all("select set_config('sync.applying', 'on', true)", &[])
        .await
        .map_err(failed("marking a sync push"))?;
    Ok(())
}

/// The last mutation id recorded for `client_id`, locked until the transaction ends (pushes of
/// one client apply one after the other). A new client is registered to the caller; `None`
/// when the id belongs to someone else.
pub async fn claim_client(db: &impl Db, client_id: Uuid) -> Result<Option<i64>> {
    let doing = || format!("claiming sync client {client_id}");
    db.exec(
        "insert into sync_clients (client_id, owner_id) values ($1, auth_uid())
         on conflict (client_id) do nothing",
        &[p(&client_id)],
    )
    .await
    .map_err(failed(doing()))?;
    let row = db
        .opt(
            "select last_mutation_id from sync_clients where client_id = $1 for update",
            &[p(&client_id)],
        )
        .await
        .map_err(failed(doing()))?;
    Ok(row.map(|r| r.try_get("last_mutation_id")).transpose()?)
}

/// Records that `client_id`'s mutations up to `last` were applied.
pub async fn record_client(db: &impl Db, client_id: Uuid, last: i64) -> Result<()> {
    db.exec(
        "update sync_clients set last_mutation_id = $2, updated_at = now() where client_id = $1",
        &[p(&client_id), p(&last)],
    )
    .await
    .map_err(failed(format!(
        "recording the position of sync client {client_id}"
    )))?;
    Ok(())
}

/// A rejection kept for a client's mutation, answered again when the mutation is resent.
#[derive(postgres_from_row::FromRow)]
pub struct Rejection {
    pub mutation_id: i64,
    pub reason: String,
    pub detail: Option<String>,
    pub errors: Value,
}

/// The rejections recorded for `client_id`'s mutations `ids` (those not rejected are absent).
pub async fn rejections(db: &impl Db, client_id: Uuid, ids: &[i64]) -> Result<Vec<Rejection>> {
    let rows = db
        .all(
            "select mutation_id, reason, detail, errors from sync_rejections
             where client_id = $1 and mutation_id = any($2)",
            &[p(&client_id), p(&ids)],
        )
        .await
        .map_err(failed(format!(
            "reading the rejected mutations of sync client {client_id}"
        )))?;
    super::row::all(&rows)
}

/// Keeps `rejections` of `client_id`'s mutations (each mutation is rejected once).
pub async fn record_rejections(
    db: &impl Db,
    client_id: Uuid,
    rejections: &[Rejection],
) -> Result<()> {
    if rejections.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = rejections.iter().map(|r| r.mutation_id).collect();
    let reasons: Vec<&str> = rejections.iter().map(|r| r.reason.as_str()).collect();
    let details: Vec<Option<&str>> = rejections.iter().map(|r| r.detail.as_deref()).collect();
    let errors: Vec<&Value> = rejections.iter().map(|r| &r.errors).collect();
    db.exec(
        "insert into sync_rejections (client_id, mutation_id, reason, detail, errors)
         select $1, * from unnest($2::bigint[], $3::text[], $4::text[], $5::jsonb[])
         on conflict do nothing",
        &[p(&client_id), p(&ids), p(&reasons), p(&details), p(&errors)],
    )
    .await
    .map_err(failed(format!(
        "keeping the rejected mutations of sync client {client_id}"
    )))?;
    Ok(())
}

/// Does record `id` of `collection` exist, whether or not the caller may see it? (Staff's
/// collections only: a document's existence is its owner's business, and answers `false`.)
pub async fn exists(db: &impl Db, collection: Collection, id: Uuid) -> Result<bool> {
    let row = db
        .all(
            "select sync_record_exists($1, $2) as found",
            &[p(&collection.name()), p(&id)],
        )
        .await
        .map_err(failed(format!(
            "checking whether {} {id} exists",
            collection.name()
        )))?;
    Ok(row[0].try_get("found")?)
}

/// Every masterclass's id, deleted ones included, whoever may see them (ids only).
pub async fn masterclass_ids(db: &impl Db) -> Result<Vec<Uuid>> {
    let rows = db
        .all("select id from sync_masterclass_ids() as id", &[])
        .await
        .map_err(failed("listing every masterclass"))?;
    Ok(rows
        .iter()
        .map(|r| r.try_get("id"))
        .collect::<std::result::Result<_, _>>()?)
}

/// Transactions below this id have all finished (see the module doc).
pub async fn horizon(db: &Transaction<'_>) -> Result<u64> {
    let row = db
        .all(
            "select pg_snapshot_xmin(pg_current_snapshot())::text as horizon",
            &[],
        )
        .await
        .map_err(failed("reading the sync horizon"))?;
    let raw: String = row[0].try_get("horizon")?;
    Ok(raw.parse().map_err(anyhow::Error::from)?)
}

/// The masterclasses the caller is assigned to as a tutor, in order.
pub async fn scope(db: &Transaction<'_>) -> Result<Vec<Uuid>> {
    let row = db
        .all(
            "select array(select auth_tutored() order by 1) as scope",
            &[],
        )
        .await
        .map_err(failed("reading the caller's masterclasses"))?;
    Ok(row[0].try_get("scope")?)
}

/// How a collection's rows are read: the tables, a record's fields as pulled (one JSON
/// object), and when a record counts as gone for devices.
struct Source {
    table: &'static str,
    from: &'static str,
    fields: &'static str,
    gone: &'static str,
}

fn source(collection: Collection) -> Source {
    match collection {
        Collection::Masterclasses => Source {
            table: "masterclasses",
            from: "masterclasses t",
            fields: "jsonb_build_object('title', t.title, 'description', t.description,
                     'starts_at', t.starts_at, 'ends_at', t.ends_at, 'published', t.published,
                     'has_handout', t.pdf_key is not null)",
            gone: "t.deleted_at is not null",
        },
        Collection::Inscriptions => Source {
            table: "inscriptions",
            from: "inscriptions t",
            fields:
                "jsonb_build_object('masterclass_id', t.masterclass_id, 'full_name', t.full_name,
                     'date_of_birth', t.date_of_birth, 'whatsapp_number', t.whatsapp_number,
                     'attended', t.attended, 'attendance_validated_at', t.attendance_validated_at,
                     'registered_at', t.created_at)",
            gone: "t.deleted_at is not null",
        },
        Collection::Questions => Source {
            table: "questions",
            from: "questions t left join question_keys k on k.question_id = t.id",
            fields: "jsonb_build_object('masterclass_id', t.masterclass_id, 'text', t.text,
                     'choice_a', t.choice_a, 'choice_b', t.choice_b, 'choice_c', t.choice_c,
                     'choice_d', t.choice_d, 'correct', k.correct, 'status', t.status,
                     'source_excerpt', t.source_excerpt,
                     'used', exists (select 1 from test_answers a where a.question_id = t.id))",
            gone: "t.deleted_at is not null or t.status = 'archived'",
        },
        Collection::Documents => Source {
            table: "documents",
            from: "documents t",
            fields: "jsonb_build_object('key', t.key, 'value', t.value)",
            gone: "t.deleted_at is not null",
        },
        // Never pulled by devices (see `Collection::readable_by`); a row as instances see it.
        Collection::Attempts => Source {
            table: "test_attempts",
            from: "test_attempts t",
            fields: "jsonb_build_object('inscription_id', t.inscription_id, 'kind', t.kind,
                     'score', t.score, 'max_score', t.max_score, 'submitted_at', t.submitted_at)",
            gone: "t.deleted_at is not null",
        },
    }
}

/// Records `ids` of `collection` as the caller now sees them: an upsert with fields and clocks,
/// or a delete (with its clocks) for a record deleted or archived. Ids the caller cannot see, or
/// that do not exist, are absent. (A push's answers, and the dropped masterclasses a pull sends
/// again.)
pub async fn current(db: &impl Db, collection: Collection, ids: &[Uuid]) -> Result<Vec<Change>> {
    let s = source(collection);
    let rows = db
        .all(
            &format!(
                "select t.id, ({gone}) as gone, case when ({gone}) then null else {fields} end as fields,
                        t.field_clocks as clocks
                 from {from} where t.id = any($1)",
                gone = s.gone,
                fields = s.fields,
                from = s.from,
            ),
            &[p(&ids)],
        )
        .await
        .map_err(failed(format!(
            "reading {} as they now are",
            collection.name()
        )))?;
    rows.iter().map(|row| change(row, collection)).collect()
}

/// A record of `collection` as a row with `id, gone, fields, clocks` shows it.
fn change(row: &Row, collection: Collection) -> Result<Change> {
    let gone: bool = row.try_get("gone")?;
    Ok(Change {
        collection,
        id: row.try_get("id")?,
        op: if gone {
            ChangeOp::Delete
        } else {
            ChangeOp::Upsert
        },
        fields: row.try_get("fields")?,
        clocks: row.try_get("clocks")?,
    })
}

/// A change with its position in the stream.
pub struct Positioned {
    pub xid: u64,
    pub version: i64,
    pub change: Change,
}

/// The SQL of a page of changes: `$1` the cursor's transaction id (text), `$2` its version,
/// `$3` the horizon (text), `$4` the page size. Public for the benchmark.
pub fn changes_sql(collections: &[Collection]) -> String {
    let branches: Vec<String> = collections
        .iter()
        .map(|&collection| {
            let s = source(collection);
            let own = if collection == Collection::Documents {
                "t.owner_id = (select auth_uid()) and "
            } else {
                ""
            };
            format!(
                "(select '{name}' as collection, t.id, t.sync_xid as x, t.row_version as v,
                         ({gone}) as gone, case when ({gone}) then null else {fields} end as fields,
                         t.field_clocks as clocks
                  from {from}
                  where {own}(t.sync_xid, t.row_version) > ($1::text::xid8, $2)
                    and t.sync_xid < $3::text::xid8
                  order by t.sync_xid, t.row_version limit $4)",
                name = collection.name(),
                gone = s.gone,
                fields = s.fields,
                from = s.from,
            )
        })
        .chain(collections.contains(&Collection::Masterclasses).then(|| {
            // Those no longer public that the caller cannot see: gone for their devices
            // (migration 0013).
            "(select 'masterclasses' as collection, h.id, h.x, h.v, true as gone, null::jsonb, null::jsonb
              from sync_hidden_masterclasses($1::text::xid8, $2, $3::text::xid8) h
              where not exists (select 1 from masterclasses m where m.id = h.id)
              order by h.x, h.v limit $4)"
                .to_owned()
        }))
        .collect();
    stream_sql(&branches)
}

/// One page of the change stream from its `branches` (one per collection, each already in
/// stream order and limited to `$4`): merged in stream order, `$4` at most, with the columns
/// [`page`] reads. Devices' pulls and instances' alike.
pub(super) fn stream_sql(branches: &[String]) -> String {
    format!(
        "select collection, id, x::text as xid, v, gone, fields, clocks from ({}) c
         order by x, v limit $4",
        branches.join(" union all ")
    )
}

/// Up to `limit` changes of `collections` after position `after` and below `horizon`, that
/// the caller may see (row-level security), in stream order.
pub async fn changes(
    db: &Transaction<'_>,
    collections: &[Collection],
    after: (u64, i64),
    horizon: u64,
    limit: i64,
) -> Result<Vec<Positioned>> {
    page(
        db,
        &changes_sql(collections),
        after,
        horizon,
        limit,
        "reading changes to pull",
    )
    .await
}

/// Runs a page query of the change stream (`$1` to `$4` as in [`changes_sql`]; columns
/// `collection, id, xid, v, gone, fields, clocks`) and reads its rows: devices' pulls and
/// instances' ([`super::replica::changes`]) alike.
pub(super) async fn page(
    db: &Transaction<'_>,
    sql: &str,
    after: (u64, i64),
    horizon: u64,
    limit: i64,
    doing: &'static str,
) -> Result<Vec<Positioned>> {
    let rows = db
        .all(
            sql,
            &[
                p(&after.0.to_string()),
                p(&after.1),
                p(&horizon.to_string()),
                p(&limit),
            ],
        )
        .await
        .map_err(failed(doing))?;
    rows.iter()
        .map(|row| {
            let name: String = row.try_get("collection")?;
            let xid: String = row.try_get("xid")?;
            let collection =
                Collection::parse(&name).ok_or_else(|| anyhow::anyhow!("collection {name:?}"))?;
            Ok(Positioned {
                xid: xid.parse().map_err(anyhow::Error::from)?,
                version: row.try_get("v")?,
                change: change(row, collection)?,
            })
        })
        .collect()
}

/// A synced record as the merge sees it.
pub struct Stored {
    /// Its fields as a pull shows them.
    pub fields: Fields,
    pub clocks: Clocks,
    /// `deleted_at` is set.
    pub deleted: bool,
}

/// Record `id` of `collection`, locked for the rest of the transaction, if the caller may see
/// it (tombstones included).
pub async fn load(db: &impl Db, collection: Collection, id: Uuid) -> Result<Option<Stored>> {
    let s = source(collection);
    let row = db
        .opt(
            &format!(
                "select {fields} as fields, t.field_clocks, t.deleted_at is not null as deleted
                 from {from} where t.id = $1 for update of t",
                fields = s.fields,
                from = s.from
            ),
            &[p(&id)],
        )
        .await
        .map_err(failed(format!(
            "reading {} {id} to merge",
            collection.name()
        )))?;
    let Some(row) = row else { return Ok(None) };
    let (fields, clocks) = fields_and_clocks(&row)?;
    Ok(Some(Stored {
        fields: fields.into_iter().collect(),
        clocks,
        deleted: row.try_get("deleted")?,
    }))
}

/// A synced record's `fields` (a JSON object built by the select) and `field_clocks`, as the
/// device merge and the instance replication both load them.
pub(crate) fn fields_and_clocks(row: &Row) -> Result<(Map<String, Value>, Clocks)> {
    let fields = match row.try_get("fields")? {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    let clocks: Value = row.try_get("field_clocks")?;
    Ok((fields, clocks_from_json(&clocks)))
}

/// Stores the merged clocks of record `id`, and deletes (`Some(true)`) or revives
/// (`Some(false)`) it.
pub async fn write_clocks(
    db: &impl Db,
    collection: Collection,
    id: Uuid,
    clocks: &Clocks,
    deleted: Option<bool>,
) -> Result<()> {
    db.exec(
        &format!(
            "update {} set field_clocks = $2,
                 deleted_at = case when $3::boolean is null then deleted_at
                                   when $3 then coalesce(deleted_at, now()) end
             where id = $1",
            source(collection).table
        ),
        &[p(&id), p(&clocks_to_json(clocks)), p(&deleted)],
    )
    .await
    .map_err(failed(format!("merging {} {id}", collection.name())))?;
    Ok(())
}

/// A document of the caller's to create.
pub struct NewDocument {
    pub id: Uuid,
    pub key: String,
    pub value: Value,
    pub clocks: Clocks,
}

/// Creates `documents` in one statement, skipping any whose id exists; returns how many it
/// created.
pub async fn insert_documents(db: &impl Db, documents: &[NewDocument]) -> Result<u64> {
    let ids: Vec<Uuid> = documents.iter().map(|d| d.id).collect();
    let keys: Vec<&str> = documents.iter().map(|d| d.key.as_str()).collect();
    let values: Vec<&Value> = documents.iter().map(|d| &d.value).collect();
    let clocks: Vec<Value> = documents
        .iter()
        .map(|d| clocks_to_json(&d.clocks))
        .collect();
    let doing = match documents {
        [one] => format!("creating document {}", one.id),
        many => format!("creating {} documents", many.len()),
    };
    db.exec(
        "insert into documents (id, key, value, field_clocks)
         select * from unnest($1::uuid[], $2::text[], $3::jsonb[], $4::jsonb[])
         on conflict (id) do nothing",
        &[p(&ids), p(&keys), p(&values), p(&clocks)],
    )
    .await
    .map_err(failed(doing))
}

/// Rewrites document `id`'s key and value.
pub async fn update_document(db: &impl Db, id: Uuid, key: &str, value: &Value) -> Result<()> {
    db.exec(
        "update documents set key = $2, value = $3 where id = $1",
        &[p(&id), p(&key), p(value)],
    )
    .await
    .map_err(failed(format!("updating document {id}")))?;
    Ok(())
}

/// Queues a poke naming `collections` for each of `urls`.
pub async fn queue_pokes(db: &impl Db, urls: &[String], collections: &[&str]) -> Result<()> {
    db.exec(
        "insert into sync_pokes (url, collections) select unnest($1::text[]), $2::text[]",
        &[p(&urls), p(&collections)],
    )
    .await
    .map_err(failed("queueing sync pokes"))?;
    Ok(())
}

/// Forgets pokes delivered, or given up after `max_attempts`, more than a day ago.
pub async fn purge_pokes(db: &impl Db, max_attempts: i32) -> Result<u64> {
    db.exec(
        "delete from sync_pokes
         where coalesce(delivered_at, case when attempts >= $1 then next_attempt_at end)
               < now() - interval '1 day'",
        &[p(&max_attempts)],
    )
    .await
    .map_err(failed("forgetting old sync pokes"))
}

/// A poke due for delivery.
pub struct DuePoke {
    pub id: i64,
    pub url: String,
    pub collections: Vec<String>,
    pub attempts: i32,
}

/// Pokes due now, oldest first (at most `limit`), that have not used up `max_attempts`.
pub async fn due_pokes(db: &impl Db, max_attempts: i32, limit: i64) -> Result<Vec<DuePoke>> {
    let rows = db
        .all(
            "select id, url, collections, attempts from sync_pokes
             where delivered_at is null and attempts < $1 and next_attempt_at <= now()
             order by id limit $2",
            &[p(&max_attempts), p(&limit)],
        )
        .await
        .map_err(failed("reading due sync pokes"))?;
    rows.iter()
        .map(|r| {
            Ok(DuePoke {
                id: r.try_get("id")?,
                url: r.try_get("url")?,
                collections: r.try_get("collections")?,
                attempts: r.try_get("attempts")?,
            })
        })
        .collect()
}

/// Records the outcome of sending pokes `ids`: delivered, or failed with `error` and tried again
/// after `retry_in_secs`.
pub async fn poke_outcome(
    db: &impl Db,
    ids: &[i64],
    error: Option<&str>,
    retry_in_secs: f64,
) -> Result<()> {
    db.exec(
        "update sync_pokes set attempts = attempts + 1,
             delivered_at = case when $2::text is null then now() end,
             last_error = $2,
             next_attempt_at = now() + make_interval(secs => $3)
         where id = any($1)",
        &[p(&ids), p(&error), p(&retry_in_secs)],
    )
    .await
    .map_err(failed("recording a sync poke's delivery"))?;
    Ok(())
}
