//! Backups of the whole database to the object store, and restores that prove them.
//!
//! A backup reads every table in one read-only `REPEATABLE READ` transaction (one consistent
//! state) as `{"role": "backup"}`, through the app role and its per-table backup policies (so it
//! works through a pooler, as the functions' own login), with a cursor per table; each row is
//! a line of JSON (`row_to_json`), gzip-compressed and uploaded in parts as it comes, so memory
//! holds a batch of rows and one part whatever the size. Under `<prefix><time>/`: one
//! `<table>.ndjson.gz` per table, then `manifest.json` (format, schema version, time, per file its
//! rows, bytes and SHA-256, and the sequences), written last: a folder without one is an
//! unfinished backup. The latest `BACKUP_KEEP` are kept. Each run is recorded in `backup_runs`,
//! and starts by applying the retention period (`RETENTION_DAYS`), so an expired registration is
//! in no new backup.
//!
//! A restore goes into an empty database: it migrates it, refuses a backup without a manifest,
//! a manifest altered since it was written (it carries its own SHA-256), a manifest of another
//! schema version, a file the manifest lists that is missing, a file whose size or digest
//! differs from the manifest (naming it), or a target with rows; then inserts every table (parents first) as the owner in one transaction, sets the
//! sequences, checks every count against the manifest, and only then commits.

use std::{collections::BTreeMap, io::Write};

use anyhow::{Context, bail, ensure};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use tokio::io::AsyncReadExt;

use crate::{
    AppState,
    auth::Caller,
    db::{self, Pool},
    storage::Storage,
};

/// The manifest's `format` (2: the manifest carries its own digest).
pub const FORMAT: &str = "masterclass-backup/2";
/// Rows read per fetch, and written per insert on restore.
const BATCH: i64 = 2000;

/// One table's file in a backup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableFile {
    pub table: String,
    /// The object's name in the backup's folder.
    pub file: String,
    pub rows: u64,
    pub bytes: u64,
    pub sha256: String,
}

/// `manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    /// The latest migration applied when it was taken.
    pub schema_version: i64,
    #[serde(with = "crate::rfc3339")]
    pub taken_at: OffsetDateTime,
    pub tables: Vec<TableFile>,
    /// Each sequence's last value (null before its first use).
    pub sequences: BTreeMap<String, Option<i64>>,
    /// SHA-256 of the manifest's JSON without this field ([`Manifest::digest`]): a manifest
    /// edited since the backup wrote it no longer matches. Not a signature: whoever can write
    /// the store can write a matching one; it tells an altered manifest from a bad data file.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sha256: String,
}

impl Manifest {
    /// The SHA-256 of this manifest's JSON, its own `sha256` left out.
    pub fn digest(&self) -> String {
        let unsealed = Self {
            sha256: String::new(),
            ..self.clone()
        };
        let json = serde_json::to_vec(&unsealed).expect("a manifest serialises");
        hex::encode(Sha256::digest(json))
    }
}

/// What a backup run did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BackupReport {
    /// The backup's folder (`backups/20261201T120000Z/`).
    pub prefix: String,
    pub tables: usize,
    pub rows: u64,
    pub bytes: u64,
    /// Registrations erased by the retention period first.
    pub erased: usize,
    /// Older backups deleted (beyond `BACKUP_KEEP`).
    pub deleted: Vec<String>,
}

/// What a restore did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RestoreReport {
    pub prefix: String,
    pub schema_version: i64,
    pub tables: usize,
    pub rows: u64,
}

/// Where backups go: `BACKUP_BUCKET`, or the platform's own bucket.
pub async fn store(state: &AppState) -> Storage {
    match &state.config.backup.bucket {
        Some(bucket) => {
            let mut config = state.config.s3.clone();
            config.bucket = bucket.clone();
            Storage::new(&config).await
        }
        None => state.storage.clone(),
    }
}

/// The scheduled run: retention, then a backup, recorded; then the old backups pruned.
pub async fn run(state: &AppState) -> anyhow::Result<BackupReport> {
    let id = db::transact(&state.db, &Caller::System, async |tx| {
        db::backup::start_run(tx).await
    })
    .await
    .map_err(|e| anyhow::anyhow!("{e:#}"))?;
    let store = store(state).await;
    let mut erased = 0;
    let taken = async {
        erased = super::privacy::apply_retention(state)
            .await
            .map_err(|e| anyhow::anyhow!("applying the retention period: {e:#}"))?;
        take(state, &store).await
    }
    .await;
    let (prefix, manifest) = match taken {
        Ok(taken) => taken,
        Err(e) => {
            let error = format!("{e:#}");
            let _ = db::transact(&state.db, &Caller::System, async |tx| {
                let outcome = db::backup::RunOutcome {
                    prefix: None,
                    succeeded: false,
                    tables: 0,
                    rows: 0,
                    bytes: 0,
                    erased: erased as i32,
                    error: Some(&error),
                };
                db::backup::finish_run(tx, id, &outcome).await
            })
            .await;
            return Err(e);
        }
    };
    let rows: u64 = manifest.tables.iter().map(|t| t.rows).sum();
    let bytes: u64 = manifest.tables.iter().map(|t| t.bytes).sum();
    db::transact(&state.db, &Caller::System, async |tx| {
        let outcome = db::backup::RunOutcome {
            prefix: Some(&prefix),
            succeeded: true,
            tables: manifest.tables.len() as i32,
            rows: rows as i64,
            bytes: bytes as i64,
            erased: erased as i32,
            error: None,
        };
        db::backup::finish_run(tx, id, &outcome).await
    })
    .await
    .map_err(|e| anyhow::anyhow!("{e:#}"))?;
    let deleted = prune(
        &store,
        &state.config.backup.prefix,
        state.config.backup.keep,
    )
    .await?;
    tracing::info!(
        prefix,
        rows,
        bytes,
        erased,
        pruned = deleted.len(),
        "backup taken"
    );
    Ok(BackupReport {
        prefix,
        tables: manifest.tables.len(),
        rows,
        bytes,
        erased,
        deleted,
    })
}

/// Writes one backup; returns its folder and manifest.
pub async fn take(state: &AppState, store: &Storage) -> anyhow::Result<(String, Manifest)> {
    let mut client = state.db.get().await.context("connecting for the backup")?;
    let tx = db::begin_snapshot_as(&mut client, &Caller::Backup)
        .await
        .map_err(|e| anyhow::anyhow!("{e:#}"))?;
    let fail = |e: crate::error::Error| anyhow::anyhow!("{e:#}");
    let taken_at = db::backup::now(&tx).await.map_err(fail)?;
    let stamp = taken_at
        .format(time::macros::format_description!(
            "[year][month][day]T[hour][minute][second].[subsecond digits:3]Z"
        ))
        .context("naming the backup")?;
    let prefix = format!("{}{stamp}/", state.config.backup.prefix);
    let schema_version = db::backup::schema_version(&tx).await.map_err(fail)?;
    let sequences = db::backup::sequences(&tx).await.map_err(fail)?;
    let unreadable = db::backup::without_backup_policy(&tx).await.map_err(fail)?;
    ensure!(
        unreadable.is_empty(),
        "tables with row-level security but no backup policy (a migration must add `<table>_backup`): {}",
        unreadable.join(", ")
    );
    let mut tables = Vec::new();
    for table in db::backup::tables(&tx).await.map_err(fail)? {
        let file = format!("{table}.ndjson.gz");
        let key = format!("{prefix}{file}");
        let mut upload = store.upload(&key, "application/gzip");
        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut digest = Sha256::new();
        let mut rows = 0u64;
        db::backup::open_cursor(&tx, &table).await.map_err(fail)?;
        loop {
            let batch = db::backup::fetch(&tx, BATCH).await.map_err(fail)?;
            for line in &batch {
                gzip.write_all(line.as_bytes())?;
                gzip.write_all(b"\n")?;
            }
            rows += batch.len() as u64;
            let out = std::mem::take(gzip.get_mut());
            digest.update(&out);
            upload.write(&out).await?;
            if (batch.len() as i64) < BATCH {
                break;
            }
        }
        db::backup::close_cursor(&tx).await.map_err(fail)?;
        let out = gzip.finish()?;
        digest.update(&out);
        upload.write(&out).await?;
        let bytes = upload.finish().await?;
        tables.push(TableFile {
            table,
            file,
            rows,
            bytes,
            sha256: hex::encode(digest.finalize()),
        });
    }
    tx.commit().await.context("ending the backup's snapshot")?;
    let mut manifest = Manifest {
        format: FORMAT.into(),
        schema_version,
        taken_at,
        tables,
        sequences,
        sha256: String::new(),
    };
    manifest.sha256 = manifest.digest();
    store
        .put(
            &format!("{prefix}manifest.json"),
            serde_json::to_vec_pretty(&manifest)?,
            "application/json",
        )
        .await?;
    Ok((prefix, manifest))
}

/// Deletes the backups beyond the latest `keep` complete ones (and unfinished folders older
/// than the latest complete one). Returns the folders deleted.
pub async fn prune(store: &Storage, root: &str, keep: usize) -> anyhow::Result<Vec<String>> {
    let objects = store.list(root).await?;
    let mut folders: BTreeMap<String, (bool, Vec<String>)> = BTreeMap::new();
    for (key, _) in objects {
        let Some(rest) = key.strip_prefix(root) else {
            continue;
        };
        let Some((folder, name)) = rest.split_once('/') else {
            continue;
        };
        let entry = folders
            .entry(format!("{root}{folder}/"))
            .or_insert((false, Vec::new()));
        entry.0 |= name == "manifest.json";
        entry.1.push(key.clone());
    }
    let complete: Vec<&String> = folders
        .iter()
        .filter(|(_, (m, _))| *m)
        .map(|(f, _)| f)
        .collect();
    let kept: Vec<String> = complete
        .iter()
        .rev()
        .take(keep.max(1))
        .map(|f| (*f).clone())
        .collect();
    let newest = kept.first().cloned();
    let mut deleted = Vec::new();
    for (folder, (complete, keys)) in &folders {
        let old_complete = *complete && !kept.contains(folder);
        let stale_unfinished = !*complete && newest.as_ref().is_some_and(|n| folder < n);
        if old_complete || stale_unfinished {
            for key in keys {
                store.delete(key).await?;
            }
            deleted.push(folder.clone());
        }
    }
    Ok(deleted)
}

/// The manifest of the backup under `prefix`: absent (not a backup, or an unfinished one),
/// tampered (unreadable, not a manifest, or not matching its own digest), of another format,
/// or the manifest.
pub async fn manifest(store: &Storage, prefix: &str) -> anyhow::Result<Manifest> {
    let key = format!("{prefix}manifest.json");
    if store.size(&key).await?.is_none() {
        bail!("no manifest at {key}: not a backup, or an unfinished one");
    }
    let bytes = store.get(&key).await.with_context(|| {
        format!("{key} is tampered or corrupted: the store has it but cannot read it whole")
    })?;
    let manifest: Manifest = serde_json::from_slice(&bytes)
        .with_context(|| format!("{key} is tampered: it does not read as a backup manifest"))?;
    ensure!(
        manifest.format == FORMAT,
        "{key}: format {:?}, this build reads {FORMAT:?}",
        manifest.format
    );
    let digest = manifest.digest();
    ensure!(
        manifest.sha256 == digest,
        "{key} is tampered: it was changed after the backup wrote it (its content hashes to \
         {digest}, the digest it carries is {:?})",
        manifest.sha256
    );
    Ok(manifest)
}

/// Reads the object at `key` in chunks, gunzipping them, and hands every complete line to
/// `lines` in batches of [`BATCH`]; returns the compressed size and SHA-256.
async fn read_lines(
    store: &Storage,
    key: &str,
    mut lines: impl AsyncFnMut(Vec<String>) -> anyhow::Result<()>,
) -> anyhow::Result<(u64, String)> {
    let mut reader = store.reader(key).await?;
    let mut gunzip = flate2::write::GzDecoder::new(Vec::new());
    let mut digest = Sha256::new();
    let mut size = 0u64;
    let mut partial = Vec::new();
    let mut batch = Vec::new();
    let mut chunk = vec![0u8; 256 * 1024];
    loop {
        let n = reader
            .read(&mut chunk)
            .await
            .with_context(|| format!("reading {key}"))?;
        if n == 0 {
            break;
        }
        size += n as u64;
        digest.update(&chunk[..n]);
        gunzip
            .write_all(&chunk[..n])
            .with_context(|| format!("{key} is not a valid gzip file"))?;
        partial.extend(std::mem::take(gunzip.get_mut()));
        let mut start = 0;
        while let Some(end) = partial[start..].iter().position(|b| *b == b'\n') {
            let line = std::str::from_utf8(&partial[start..start + end])
                .with_context(|| format!("{key}: a line is not UTF-8"))?;
            batch.push(line.to_owned());
            start += end + 1;
            if batch.len() as i64 == BATCH {
                lines(std::mem::take(&mut batch)).await?;
            }
        }
        partial.drain(..start);
    }
    let rest = gunzip
        .finish()
        .with_context(|| format!("{key} is truncated or corrupt (its gzip stream does not end)"))?;
    partial.extend(rest);
    ensure!(
        partial.is_empty() || partial.ends_with(b"\n"),
        "{key} ends in the middle of a row"
    );
    for line in partial.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let line =
            std::str::from_utf8(line).with_context(|| format!("{key}: a line is not UTF-8"))?;
        batch.push(line.to_owned());
        if batch.len() as i64 == BATCH {
            lines(std::mem::take(&mut batch)).await?;
        }
    }
    if !batch.is_empty() {
        lines(batch).await?;
    }
    Ok((size, hex::encode(digest.finalize())))
}

/// Checks one file against the manifest: its size, digest and rows.
async fn verify(store: &Storage, prefix: &str, file: &TableFile) -> anyhow::Result<()> {
    let key = format!("{prefix}{}", file.file);
    if store.size(&key).await?.is_none() {
        bail!("{key} is missing: the manifest lists it, the store does not have it");
    }
    let mut rows = 0u64;
    let read = read_lines(store, &key, async |lines| {
        rows += lines.len() as u64;
        Ok(())
    })
    .await;
    let (size, sha256) = read.with_context(|| format!("{key} does not match the manifest"))?;
    ensure!(
        size == file.bytes && sha256 == file.sha256,
        "{key} does not match the manifest: {size} bytes with SHA-256 {sha256}, the manifest says {} bytes with {}",
        file.bytes,
        file.sha256
    );
    ensure!(
        rows == file.rows,
        "{key} holds {rows} rows, the manifest says {}",
        file.rows
    );
    Ok(())
}

/// Restores the backup under `prefix` into the empty database of `target` (the owner's
/// connection), as the module's doc describes.
pub async fn restore(
    store: &Storage,
    prefix: &str,
    target: &Pool,
) -> anyhow::Result<RestoreReport> {
    let prefix = if prefix.ends_with('/') {
        prefix.to_owned()
    } else {
        format!("{prefix}/")
    };
    let manifest = manifest(store, &prefix).await?;
    let mut client = target.get().await.context("connecting to the target")?;
    let fail = |e: crate::error::Error| anyhow::anyhow!("{e:#}");
    // A database with tables already must be empty before anything is done to it (migrating
    // a live database is not a restore's business).
    for table in db::backup::tables(&client).await.map_err(fail)? {
        let rows = db::backup::count(&client, &table).await.map_err(fail)?;
        if rows > 0 {
            bail!("the target is not empty: {table} has {rows} rows (restore into a new database)");
        }
    }
    db::migrate(target).await?;
    let version = db::backup::schema_version(&client).await.map_err(fail)?;
    ensure!(
        version == manifest.schema_version,
        "the backup is of schema version {}, the target's is {version}: restore it with the build that took it",
        manifest.schema_version
    );
    let tables = db::backup::tables(&client).await.map_err(fail)?;
    let in_backup: Vec<&str> = manifest.tables.iter().map(|t| t.table.as_str()).collect();
    for table in &tables {
        ensure!(
            in_backup.contains(&table.as_str()),
            "the backup has no file for table {table}"
        );
    }
    for file in &manifest.tables {
        ensure!(
            tables.contains(&file.table),
            "the backup has table {} the target does not",
            file.table
        );
        verify(store, &prefix, file).await?;
    }
    for table in &tables {
        let rows = db::backup::count(&client, table).await.map_err(fail)?;
        if rows > 0 {
            bail!("the target is not empty: {table} has {rows} rows (restore into a new database)");
        }
    }
    let tx = client.transaction().await?;
    db::backup::restoring(&tx).await.map_err(fail)?;
    let mut total = 0u64;
    for table in &tables {
        let file = manifest
            .tables
            .iter()
            .find(|f| &f.table == table)
            .context("a table vanished from the manifest")?;
        let forced = db::backup::forced(&tx, table).await.map_err(fail)?;
        if forced {
            db::backup::force(&tx, table, false).await.map_err(fail)?;
        }
        let key = format!("{prefix}{}", file.file);
        let (size, sha256) = read_lines(store, &key, async |lines| {
            db::backup::insert_rows(&tx, table, &lines)
                .await
                .map_err(fail)?;
            Ok(())
        })
        .await?;
        ensure!(
            size == file.bytes && sha256 == file.sha256,
            "{key} changed while it was restored"
        );
        let rows = db::backup::count(&tx, table).await.map_err(fail)?;
        ensure!(
            rows as u64 == file.rows,
            "{table}: {rows} rows restored, the manifest says {}",
            file.rows
        );
        total += file.rows;
        if forced {
            db::backup::force(&tx, table, true).await.map_err(fail)?;
        }
    }
    for (sequence, value) in &manifest.sequences {
        if let Some(value) = value {
            db::backup::set_sequence(&tx, sequence, *value)
                .await
                .map_err(fail)?;
        }
    }
    tx.commit().await.context("committing the restore")?;
    tracing::info!(prefix, rows = total, "backup restored");
    Ok(RestoreReport {
        prefix,
        schema_version: version,
        tables: tables.len(),
        rows: total,
    })
}
