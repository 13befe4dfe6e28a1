//! Offline sync against its raw limits, in one run:
//!
//! - **Push**: 10,000 document creates in batches of 500 from one device through the local
//!   gateway's router (JSON, auth, RLS, a savepoint and a merge per mutation, the client's
//!   position), against a plain multi-row `INSERT` of the same rows into the same table, in
//!   statements of 500 rows, as the superuser. Target: push ≥ 0.3 of the INSERT.
//! - **Pull**: 100,000 changes pulled in pages of 1,000 by a fresh device, in rows per second,
//!   with the process's resident memory after 10,000 and after 100,000 rows: a pull pages, so
//!   memory must not grow with the number of changes.
//!
//! `cargo bench -p e2e-tests --bench sync` (env: `MUTATIONS`, default 10000; `CHANGES`, default
//! 100000; `ROUNDS`, default 3).

use std::time::Instant;

use e2e_tests::{
    TestApp,
    bench::{env_or, median},
    device::Device,
};
use serde_json::json;
use shared::sync::PullResponse;
use uuid::Uuid;

const BATCH: usize = 500;
const PAGE: usize = 1000;

/// The process's resident memory now and at its peak, in MiB (Linux).
fn memory() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_env_filter("warn").init();
    let mutations = env_or("MUTATIONS", 10_000);
    let changes = env_or("CHANGES", 100_000);
    let rounds = env_or("ROUNDS", 3).max(1);
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let db = app.db().await;

    let (mut pushed, mut inserted) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        // Through the API: one device, its queue sent 500 at a time.
        let mut device = Device::new(admin.http.clone(), 0);
        for i in 0..mutations {
            device.mutate(
                "documents",
                Uuid::new_v4(),
                "create",
                json!({"key": format!("push-{round}-{i}"), "value": {"n": i, "texte": "réglages"}}),
            );
        }
        let started = Instant::now();
        let applied = device.push_all(BATCH).await;
        pushed.push(mutations as f64 / started.elapsed().as_secs_f64());
        assert_eq!(applied.len(), mutations, "every create applied");

        // The raw limit: the same rows, 500 per INSERT.
        let owner = admin.id;
        let started = Instant::now();
        for batch in 0..mutations.div_ceil(BATCH) {
            let rows: Vec<String> = (batch * BATCH..((batch + 1) * BATCH).min(mutations))
                .map(|i| {
                    format!(
                        "('{}', '{owner}', 'raw-{round}-{i}', '{{\"n\": {i}, \"texte\": \"réglages\"}}', \
                         '{{\"key\": \"0000000000000-00000-x\", \"value\": \"0000000000000-00000-x\"}}')",
                        Uuid::new_v4()
                    )
                })
                .collect();
            db.batch_execute(&format!(
                "insert into documents (id, owner_id, key, value, field_clocks) values {}",
                rows.join(", ")
            ))
            .await?;
        }
        inserted.push(mutations as f64 / started.elapsed().as_secs_f64());
    }
    let (push, insert) = (median(pushed), median(inserted));

    // Pull: every document of the owner, through the API, pages of 1,000.
    db.batch_execute(&format!(
        "insert into documents (id, owner_id, key, value)
         select gen_random_uuid(), '{}', 'pull-' || i, jsonb_build_object('n', i, 'texte', 'réglages')
         from generate_series(1, {}) i;
         analyze documents;",
        admin.id,
        changes.saturating_sub(2 * rounds * mutations)
    ))
    .await?;
    let total: i64 = db
        .query_one("select count(*) from documents", &[])
        .await?
        .get(0);
    let mut cursor: Option<String> = None;
    let mut received = 0_usize;
    let mut at_ten_thousand = None;
    let before = memory();
    let started = Instant::now();
    loop {
        let mut path = format!("/api/sync/pull?collections=documents&limit={PAGE}");
        if let Some(cursor) = &cursor {
            path.push_str(&format!("&cursor={cursor}"));
        }
        let page: PullResponse = admin.get(&path).await.json();
        received += page.changes.len();
        cursor = Some(page.next_cursor);
        if at_ten_thousand.is_none() && received >= 10_000 {
            at_ten_thousand = Some(memory());
        }
        if !page.has_more {
            break;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let after = memory();
    assert_eq!(received as i64, total, "every document pulled once");
    let ten = at_ten_thousand.unwrap_or(after);

    println!();
    println!("| Measure | Result | Limit | Ratio | Target |");
    println!("|---|---|---|---|---|");
    println!(
        "| Push, {mutations} document creates in batches of {BATCH} (median of {rounds}) | {push:.0} mutations/s | plain multi-row INSERT {insert:.0} rows/s | {:.2} | ≥ 0.30 |",
        push / insert
    );
    println!(
        "| Pull, {received} changes in pages of {PAGE} | {:.0} rows/s | | | pages: memory flat |",
        received as f64 / elapsed
    );
    println!(
        "| Resident memory (MiB): before the pull, after 10,000 rows, after {received} | {:.0} → {:.0} → {:.0} (peak {:.0}) | | | no growth with changes |",
        before.0, ten.0, after.0, after.1
    );
    Ok(())
}
