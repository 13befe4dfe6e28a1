//! Queries of backups and restores: the tables and their order, reading a table through a
//! cursor in the backup's snapshot, writing rows back, sequences, and the runs' records.
//!
//! Table names come from the catalog, never from a request, and are quoted as identifiers.
//!
//! Each query is a small function: its SQL, typed parameters, `failed(...)` naming the work and
//! the row, the answer read by column name. One function a query, so that "where is the SQL for
//! X?" has one answer.

use std::collections::{BTreeMap, BTreeSet};

use time::OffsetDateTime;
use uuid::Uuid;

use super::{Db, p, row::failed};
use crate::error::Result;

/// `name` as a quoted SQL identifier.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Every table of the schema but `schema_migrations` (which migrations fill), parents before
/// the tables that refer to them (so a restore inserts them in this order), ties by name.
pub async fn tables(db: &impl Db) -> Result<Vec<String>> {
    let names: Vec<String> = db
        .all(
            "select c.relname::text as name from pg_class c
             where c.relnamespace = 'public'::regnamespace and c.relkind = 'r'
               and c.relname <> 'schema_migrations'
             order by c.relname",
            &[],
        )
        .await
        .map_err(failed("listing the tables"))?
        .iter()
        .map(|row| row.try_get("name"))
        .collect::<std::result::Result<_, _>>()?;
    let edges = db
        .all(
            "select c.conrelid::regclass::text as child, c.confrelid::regclass::text as parent
             from pg_constraint c
             where c.contype = 'f' and c.connamespace = 'public'::regnamespace
               and c.conrelid <> c.confrelid",
            &[],
        )
        .await
        .map_err(failed("reading the foreign keys"))?;
    let mut parents: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for edge in &edges {
        let child: String = edge.try_get("child")?;
        let parent: String = edge.try_get("parent")?;
        parents
            .entry(child.trim_matches('"').to_owned())
            .or_default()
            .insert(parent.trim_matches('"').to_owned());
    }
    let mut ordered = Vec::with_capacity(names.len());
    let mut placed = BTreeSet::new();
    while ordered.len() < names.len() {
        let before = ordered.len();
        for name in &names {
            if !placed.contains(name)
                && parents
                    .get(name)
                    .is_none_or(|ps| ps.iter().all(|p| placed.contains(p) || !names.contains(p)))
            {
                placed.insert(name.clone());
                ordered.push(name.clone());
            }
        }
        if ordered.len() == before {
            // A cycle between tables (none today): the rest in name order; a restore would
            // then fail on a key, with nothing committed.
            ordered.extend(names.iter().filter(|n| !placed.contains(*n)).cloned());
        }
    }
    Ok(ordered)
}

/// The tables with row-level security and no `<table>_backup` policy: a backup would read
/// nothing of them (and say so in its manifest).
pub async fn without_backup_policy(db: &impl Db) -> Result<Vec<String>> {
    let rows = db
        .all(
            "select c.relname::text as name from pg_class c
             where c.relnamespace = 'public'::regnamespace and c.relkind = 'r' and c.relrowsecurity
               and not exists (select 1 from pg_policies p where p.schemaname = 'public'
                               and p.tablename = c.relname and p.policyname = c.relname || '_backup')
             order by 1",
            &[],
        )
        .await
        .map_err(failed("checking the backup policies"))?;
    rows.iter().map(|row| Ok(row.try_get("name")?)).collect()
}

/// The latest migration applied: the schema a backup was taken from.
pub async fn schema_version(db: &impl Db) -> Result<i64> {
    let row = db
        .one(
            "select coalesce(max(version), 0)::bigint as version from schema_migrations",
            &[],
        )
        .await
        .map_err(failed("reading the schema version"))?;
    Ok(row.try_get("version")?)
}

/// Every sequence of the schema and its last value (`None` before its first use).
pub async fn sequences(db: &impl Db) -> Result<BTreeMap<String, Option<i64>>> {
    let rows = db
        .all(
            "select sequencename::text as name, last_value from pg_sequences
             where schemaname = 'public' order by 1",
            &[],
        )
        .await
        .map_err(failed("reading the sequences"))?;
    rows.iter()
        .map(|row| Ok((row.try_get("name")?, row.try_get("last_value")?)))
        .collect()
}

/// Opens a cursor over every row of `table` as JSON text, in the transaction's snapshot.
pub async fn open_cursor(db: &impl Db, table: &str) -> Result<()> {
    db.exec(
        &format!(
            "declare backup_rows no scroll cursor for select row_to_json(t)::text as line from {} t",
            ident(table)
        ),
        &[],
    )
    .await
    .map_err(failed(format!("reading table {table}")))?;
    Ok(())
}

/// The next `n` rows of the open cursor (fewer at the end).
pub async fn fetch(db: &impl Db, n: i64) -> Result<Vec<String>> {
    let rows = db
        .all(&format!("fetch {n} from backup_rows"), &[])
        .await
        .map_err(failed("reading rows for the backup"))?;
    rows.iter().map(|row| Ok(row.try_get("line")?)).collect()
}

pub async fn close_cursor(db: &impl Db) -> Result<()> {
    db.exec("close backup_rows", &[])
        .await
        .map_err(failed("closing the backup cursor"))?;
    Ok(())
}

/// Rows in `table`.
pub async fn count(db: &impl Db, table: &str) -> Result<i64> {
    let row = db
        .one(&format!("select count(*) as n from {}", ident(table)), &[])
        .await
        .map_err(failed(format!("counting the rows of {table}")))?;
    Ok(row.try_get("n")?)
}

/// Inserts `lines` (JSON objects, one row each, as `row_to_json` wrote them) into `table`,
/// identity values included.
pub async fn insert_rows(db: &impl Db, table: &str, lines: &[String]) -> Result<u64> {
    let array = format!("[{}]", lines.join(","));
    db.exec(
        &format!(
            "insert into {t} overriding system value
             select * from json_populate_recordset(null::{t}, $1::json)",
            t = ident(table)
        ),
        &[p(&array)],
    )
    .await
    .map_err(failed(format!("restoring rows of {table}")))
}

/// Marks the transaction as a restore: triggers that would write rows of their own (the consent
/// history of a new registration) stand aside, since the backup brings those rows.
pub async fn restoring(db: &impl Db) -> Result<()> {
    db.exec(
        "select set_config('masterclass.restoring', 'on', true)",
        &[],
    )
    .await
    .map_err(failed("marking the restore"))?;
    Ok(())
}

/// Whether `table`'s row-level security is forced (on the owner too).
pub async fn forced(db: &impl Db, table: &str) -> Result<bool> {
    let row = db
        .one(
            "select relforcerowsecurity as forced from pg_class
             where relnamespace = 'public'::regnamespace and relname = $1",
            &[p(&table)],
        )
        .await
        .map_err(failed(format!("reading the security of {table}")))?;
    Ok(row.try_get("forced")?)
}

/// Forces (or stops forcing) `table`'s row-level security on its owner: a restore writes as the
/// owner, past the policies, and forces them again before it commits.
pub async fn force(db: &impl Db, table: &str, on: bool) -> Result<()> {
    db.exec(
        &format!(
            "alter table {} {} force row level security",
            ident(table),
            if on { "" } else { "no" }
        ),
        &[],
    )
    .await
    .map_err(failed(format!("changing the security of {table}")))?;
    Ok(())
}

/// Sets sequence `name` where the backup found it.
pub async fn set_sequence(db: &impl Db, name: &str, value: i64) -> Result<()> {
    db.exec(
        "select setval(format('public.%I', $1::text)::regclass, $2, true)",
        &[p(&name), p(&value)],
    )
    .await
    .map_err(failed(format!("setting sequence {name}")))?;
    Ok(())
}

/// Records the start of a backup; returns its id.
pub async fn start_run(db: &impl Db) -> Result<Uuid> {
    let row = db
        .one("insert into backup_runs default values returning id", &[])
        .await
        .map_err(failed("recording a backup run"))?;
    Ok(row.try_get("id")?)
}

/// What a finished backup run did.
pub struct RunOutcome<'a> {
    pub prefix: Option<&'a str>,
    pub succeeded: bool,
    pub tables: i32,
    pub rows: i64,
    pub bytes: i64,
    pub erased: i32,
    pub error: Option<&'a str>,
}

pub async fn finish_run(db: &impl Db, id: Uuid, outcome: &RunOutcome<'_>) -> Result<()> {
    db.exec(
        "update backup_runs set finished_at = now(), prefix = $2,
             status = case when $3 then 'succeeded' else 'failed' end,
             tables = $4, rows = $5, bytes = $6, erased = $7, error = $8
         where id = $1",
        &[
            p(&id),
            p(&outcome.prefix),
            p(&outcome.succeeded),
            p(&outcome.tables),
            p(&outcome.rows),
            p(&outcome.bytes),
            p(&outcome.erased),
            p(&outcome.error),
        ],
    )
    .await
    .map_err(failed(format!("recording the end of backup run {id}")))?;
    Ok(())
}

/// When the snapshot was taken (the transaction's start).
pub async fn now(db: &impl Db) -> Result<OffsetDateTime> {
    let row = db
        .one("select now() as now", &[])
        .await
        .map_err(failed("reading the time"))?;
    Ok(row.try_get("now")?)
}
