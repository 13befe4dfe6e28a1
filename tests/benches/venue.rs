//! A venue day synced to an empty cloud, in one run: 2,000 registrations, 4,000 test results
//! (PRE and POST, ten answers each) and 2,000 attendance marks written at the venue, then one
//! venue server catching up with a cloud that has only the catalogue, through HTTP (the cloud's
//! router served on a port, as in the instance sync tests). Printed: the time until a run finds
//! nothing left, the requests made, the bytes sent and received; beside it, the raw limit: the
//! same rows written into an empty database as the owner with one `INSERT ... SELECT` per table.
//!
//! `cargo bench -p e2e-tests --bench venue` (env: `STUDENTS`, default 2000).

use std::time::Instant;

use e2e_tests::{TestApp, bench::env_or, peers::Pair};

/// `students` inscriptions of `masterclass` with their PRE and POST attempts (ten answers
/// each, on the masterclass's questions) and attendance, as the venue's desk and students
/// wrote them (straight into its database: the benchmark measures the sync, not the desk).
async fn venue_day(app: &TestApp, masterclass: &str, students: i64) {
    let db = app.db().await;
    db.execute(
        "with p as (
             insert into profiles (full_name, whatsapp_number, consent_at, consent_version)
             select 'Élève ' || g, '+2410880' || lpad(g::text, 4, '0'), now(), 'v1'
             from generate_series(1, $2::bigint) g
             returning id, full_name, whatsapp_number)
         insert into inscriptions (masterclass_id, profile_id, full_name, whatsapp_number,
                                   consent_at, consent_version)
         select $1::text::uuid, id, full_name, whatsapp_number, now(), 'v1' from p",
        &[&masterclass, &students],
    )
    .await
    .unwrap();
    db.batch_execute(
        "insert into test_attempts (inscription_id, kind, score, max_score)
         select i.id, k, (random() * 10)::int, 10 from inscriptions i, unnest(array['PRE', 'POST']) k;
         insert into test_answers (attempt_id, question_id, choice, correct)
         select a.id, q.id, 'A', k.correct = 'A'
         from test_attempts a, questions q join question_keys k on k.question_id = q.id;
         update inscriptions set attended = true, attendance_validated_at = now();",
    )
    .await
    .unwrap();
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()))
        .init();
    let students = env_or("STUDENTS", 2000) as i64;
    let pair = Pair::start().await;
    let masterclass = pair
        .cloud
        .open_masterclass(&pair.cloud_admin, "Journée au lycée")
        .await;
    pair.cloud
        .bank(&pair.cloud_admin, &masterclass, 10, true)
        .await;
    assert_eq!(pair.sync().await["status"], "succeeded");
    venue_day(&pair.venue, &masterclass, students).await;
    let before = pair.proxy.seen().len();

    let started = Instant::now();
    let reports = pair.settle(10).await;
    let took = started.elapsed().as_secs_f64();
    let seen = &pair.proxy.seen()[before..];
    let sent: usize = seen.iter().map(|s| s.1).sum();
    let received: usize = seen.iter().map(|s| s.2).sum();
    let pushes = seen.iter().filter(|s| s.0.ends_with("/push")).count();
    let pulls = seen.iter().filter(|s| s.0.ends_with("/pull")).count();
    if std::env::var("SCANS").is_ok() {
        for app in [&pair.cloud, &pair.venue] {
            for row in app
                .db()
                .await
                .query(
                    "select relname::text, seq_scan, seq_tup_read, idx_scan from pg_stat_user_tables
                     order by seq_tup_read desc limit 6",
                    &[],
                )
                .await?
            {
                println!(
                    "{}: {} seq scans, {} rows read, {:?} index scans",
                    row.get::<_, String>(0),
                    row.get::<_, i64>(1),
                    row.get::<_, i64>(2),
                    row.get::<_, Option<i64>>(3)
                );
            }
        }
    }
    assert_eq!(pair.cloud.count("inscriptions").await, students);
    assert_eq!(pair.cloud.count("test_attempts").await, 2 * students);
    assert_eq!(pair.cloud.count("test_answers").await, 20 * students);

    // The raw limit: the same rows into an empty copy of the schema, as the owner.
    let raw = TestApp::spawn().await;
    let admin = raw.admin().await;
    let raw_masterclass = raw.open_masterclass(&admin, "Journée au lycée").await;
    raw.bank(&admin, &raw_masterclass, 10, true).await;
    let started = Instant::now();
    venue_day(&raw, &raw_masterclass, students).await;
    let raw_took = started.elapsed().as_secs_f64();

    let rows = 2 * students + 20 * students;
    println!();
    println!(
        "Venue day: {students} registrations, {} test results ({} answers), {students} attendance marks",
        2 * students,
        20 * students
    );
    println!();
    println!("| Measure | Result |");
    println!("|---|---|");
    println!(
        "| Sync to an empty cloud | {took:.1} s over {} runs ({:.0} records/s) |",
        reports.len(),
        (3 * students) as f64 / took
    );
    println!(
        "| Requests | {} ({pushes} pushes, {pulls} pulls) |",
        seen.len()
    );
    println!(
        "| Bytes sent / received | {:.1} MiB / {:.2} MiB |",
        sent as f64 / 1048576.0,
        received as f64 / 1048576.0
    );
    println!(
        "| Raw limit: the same {rows} rows by INSERT ... SELECT as the owner | {raw_took:.2} s |"
    );
    println!("| Ratio (raw / sync) | {:.3} |", raw_took / took);
    Ok(())
}
