//! Backing up and restoring 100,000 students with their tests: time, bytes and the process's
//! peak memory for each, against `pg_dump -Fc` of the same database in the same run (the raw
//! limit: Postgres's own dump, no object store, no consistency through the app role).
//!
//! `cargo bench -p e2e-tests --bench backup` (env: `STUDENTS`, default 100000).

use std::time::Instant;

use e2e_tests::{TestApp, bench::env_or};
use shared::services::backup;

/// The process's peak resident memory (VmHWM), in MiB.
fn peak_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

/// Resets the peak to the current resident size (Linux: `5` to `/proc/self/clear_refs`).
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_env_filter("warn").init();
    let students = env_or("STUDENTS", 100_000);
    let app = TestApp::spawn().await;
    let seeding = Instant::now();
    e2e_tests::bench::seed_students(&app.db().await, students, 200).await?;
    let rows: i64 = app
        .db()
        .await
        .query_one(
            "select (select count(*) from inscriptions) + (select count(*) from profiles)
                  + (select count(*) from test_attempts) + (select count(*) from consent_events)",
            &[],
        )
        .await?
        .get(0);
    println!(
        "backup: {students} students seeded in {:.1} s ({rows} rows in the main tables)",
        seeding.elapsed().as_secs_f64()
    );

    let store = backup::store(&app.state).await;
    reset_peak();
    let base = peak_mib();
    let started = Instant::now();
    let (prefix, manifest) = backup::take(&app.state, &store).await?;
    let backup_secs = started.elapsed().as_secs_f64();
    let backup_peak = peak_mib() - base;
    let bytes: u64 = manifest.tables.iter().map(|t| t.bytes).sum();
    let backed_rows: u64 = manifest.tables.iter().map(|t| t.rows).sum();

    let dump = tempfile::NamedTempFile::new()?;
    let started = Instant::now();
    let status = std::process::Command::new(local_gateway::postgres::find_tool("pg_dump")?)
        .args(["-Fc", "-Z", "1", "-f"])
        .arg(dump.path())
        .arg(&app.owner_url)
        .status()?;
    anyhow::ensure!(status.success(), "pg_dump failed");
    let dump_secs = started.elapsed().as_secs_f64();
    let dump_bytes = std::fs::metadata(dump.path())?.len();

    let target = TestApp::spawn().await;
    let pool = shared::db::connect(
        &shared::secret::Secret::new(target.owner_url.clone()),
        &target.state.config.database,
    )?;
    reset_peak();
    let base = peak_mib();
    let started = Instant::now();
    let restored = backup::restore(&store, &prefix, &pool).await?;
    let restore_secs = started.elapsed().as_secs_f64();
    let restore_peak = peak_mib() - base;
    anyhow::ensure!(
        restored.rows == backed_rows,
        "restored {} of {backed_rows} rows",
        restored.rows
    );

    let mib = |b: u64| b as f64 / 1024.0 / 1024.0;
    println!(
        "{:<28} {:>9} {:>11} {:>12}",
        "", "time s", "size MiB", "peak MiB"
    );
    println!(
        "{:<28} {backup_secs:>9.1} {:>11.1} {backup_peak:>12.1}",
        format!("backup ({backed_rows} rows)"),
        mib(bytes)
    );
    println!(
        "{:<28} {restore_secs:>9.1} {:>11} {restore_peak:>12.1}",
        "restore (verify + insert)", "-"
    );
    println!(
        "{:<28} {dump_secs:>9.1} {:>11.1} {:>12}",
        "pg_dump -Fc -Z1 (raw)",
        mib(dump_bytes),
        "-"
    );
    println!(
        "backup time ÷ pg_dump: {:.2}; peak memory is the process's growth over the run (VmHWM)",
        backup_secs / dump_secs
    );
    Ok(())
}
