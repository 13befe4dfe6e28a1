//! Embedded SQL migrations, applied in order at start-up.
//!
//! Each file in `shared/migrations/` is compiled into the binary. [`migrate`] takes a
//! transaction-scoped advisory lock, so many Lambda instances starting at once apply each
//! migration exactly once, and records what it applied in `schema_migrations` with the SHA-256
//! of its text. A migration that was applied is never edited: add a new one. A database that
//! applied a migration whose text has changed since refuses to start ([`migrate`] fails naming
//! it), rather than run with a schema its code does not describe.
//!
//! Migrations a database applied before digests were recorded are stamped with the text of the
//! first build that records them. Edits made before that:
//! 0002, 0003 and 0005 gained the `grant`/`revoke create` around their `alter function ...
//! owner`, without which they failed for an owner that is not a superuser (where they had
//! applied, nothing changes); 0015 gained `student_search_ids` the same afternoon it was written,
//! before any database outside development had applied it.

use anyhow::Context;
use deadpool_postgres::Pool;

use super::{Db, p};

/// One migration: its number, its name and its SQL.
pub struct Migration {
    pub version: i32,
    pub name: &'static str,
    pub sql: &'static str,
}

impl Migration {
    /// The SHA-256 of its text, in hex (recorded when applied, compared at every start).
    pub fn sha256(&self) -> String {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(self.sql.as_bytes()))
    }
}

macro_rules! migration {
    ($version:literal, $name:literal) => {
        Migration {
            version: $version,
            name: $name,
            sql: include_str!(concat!("../../migrations/", $name, ".sql")),
        }
    };
}

/// Every migration, oldest first. What they add up to is `shared/schema.sql` (generated, and
/// checked by a test).
///
/// An applied migration is never edited ([`migrate`] refuses a changed digest), so a later one
/// that changes a function restates it whole (`create or replace` takes the entire body). The
/// last one is in force:
/// - `register_inscription`: 0009; 0010 (its own checks, definer writes); 0011 replaces it with
///   a signature that takes the client's id (sync); 0014 restates that one for the partial
///   unique index (a deleted registration no longer blocks a new one);
/// - `register_profile`: 0006; 0016 (consent recorded with the profile);
/// - `sync_touch`: 0011; 0012 (pokes); 0014 (replication keeps the clocks and source it is
///   given); 0018 (a clock-only change is a change; REST writes never lower a clock);
///   `sync_touch_key`: 0011; 0012; 0018;
/// - row-level security: 0007 rewrites every table's policies, one `drop policy` and
///   `create policy` per table, so each is evaluated once per query;
/// - `inscription_scores` (0015): the backfill and the refresh function run the same select.
///
/// The rest are per-table shapes written out in full on purpose, each table readable on its
/// own: `created_at`/`updated_at` columns, `enable` and `force row level security`, the admin and
/// staff policy pair, a trigger function's `return`.
pub const MIGRATIONS: &[Migration] = &[
    migration!(1, "0001_foundation"),
    migration!(2, "0002_auth"),
    migration!(3, "0003_journey"),
    migration!(4, "0004_messaging"),
    migration!(5, "0005_housekeeping"),
    migration!(6, "0006_registrations_and_delivery"),
    migration!(7, "0007_rls_once_per_query"),
    migration!(8, "0008_registrar_by_number"),
    migration!(9, "0009_register_inscription"),
    migration!(10, "0010_register_inscription_checks"),
    migration!(11, "0011_sync"),
    migration!(12, "0012_sync_pokes"),
    migration!(13, "0013_sync_hidden_masterclasses"),
    migration!(14, "0014_instance_sync"),
    migration!(15, "0015_dashboard"),
    migration!(16, "0016_personal_data"),
    migration!(17, "0017_chat_tests"),
    migration!(18, "0018_sync_clocks_and_fates"),
    migration!(19, "0019_privacy_fixes"),
    migration!(20, "0020_limits"),
    migration!(21, "0021_live_channel"),
];

/// Any 64-bit number unique to this purpose.
const MIGRATION_LOCK: i64 = 0x6d61_7374_6572_636c; // "mastercl"

/// Applies the migrations not yet applied. Returns how many it applied.
pub async fn migrate(pool: &Pool) -> anyhow::Result<usize> {
    let mut client = pool.get().await.context("connecting to apply migrations")?;
    let tx = client.transaction().await?;
    tx.exec("select pg_advisory_xact_lock($1)", &[p(&MIGRATION_LOCK)])
        .await
        .context("taking the migration lock")?;
    tx.batch_execute("set local client_min_messages = warning")
        .await?;
    // `alter table ... if not exists` would take an exclusive lock on every start, and wait
    // behind any open reader of the table (a backup's snapshot reads it for its schema
    // version): the column is added only where it is missing.
    tx.batch_execute(
        "create table if not exists schema_migrations (
             version integer primary key,
             name text not null,
             applied_at timestamptz not null default now()
         );
         do $$ begin
             if not exists (select 1 from information_schema.columns
                            where table_schema = current_schema()
                              and table_name = 'schema_migrations' and column_name = 'sha256') then
                 alter table schema_migrations add column sha256 text;
             end if;
         end $$",
    )
    .await
    .context("creating schema_migrations")?;
    let applied: Vec<(i32, Option<String>)> = tx
        .all("select version, sha256 from schema_migrations", &[])
        .await?
        .iter()
        .map(|row| (row.get("version"), row.get("sha256")))
        .collect();
    for (version, recorded) in &applied {
        let Some(migration) = MIGRATIONS.iter().find(|m| m.version == *version) else {
            continue;
        };
        let digest = migration.sha256();
        match recorded {
            Some(recorded) if *recorded != digest => anyhow::bail!(
                "migration {} was edited after this database applied it (SHA-256 then {recorded}, \
                 now {digest}): restore its text and put the change in a new migration",
                migration.name
            ),
            Some(_) => {}
            // Applied before digests were recorded: stamped with today's text, so an edit from
            // now on is caught here too (the transaction rolls back if another one fails).
            None => {
                tx.exec(
                    "update schema_migrations set sha256 = $2 where version = $1",
                    &[p(version), p(&digest)],
                )
                .await?;
            }
        }
    }
    let mut count = 0;
    for migration in MIGRATIONS
        .iter()
        .filter(|m| !applied.iter().any(|(version, _)| *version == m.version))
    {
        tx.batch_execute(migration.sql)
            .await
            .with_context(|| format!("applying migration {}", migration.name))?;
        tx.exec(
            "insert into schema_migrations (version, name, sha256) values ($1, $2, $3)",
            &[
                p(&migration.version),
                p(&migration.name),
                p(&migration.sha256()),
            ],
        )
        .await?;
        tracing::info!(migration = migration.name, "applied migration");
        count += 1;
    }
    tx.commit().await.context("committing migrations")?;
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::MIGRATIONS;

    #[test]
    fn every_file_in_the_migrations_folder_is_listed_once_in_order() {
        let folder = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations");
        let mut files: Vec<String> = std::fs::read_dir(folder)
            .expect("the migrations folder")
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter_map(|name| name.strip_suffix(".sql").map(str::to_owned))
            .collect();
        files.sort();
        let listed: Vec<String> = MIGRATIONS.iter().map(|m| m.name.to_owned()).collect();
        assert_eq!(
            listed, files,
            "a migration file that never runs, or one listed twice"
        );
        for (i, migration) in MIGRATIONS.iter().enumerate() {
            assert_eq!(migration.version as usize, i + 1, "{}", migration.name);
            assert!(
                migration
                    .name
                    .starts_with(&format!("{:04}_", migration.version)),
                "{}",
                migration.name
            );
        }
    }
}
