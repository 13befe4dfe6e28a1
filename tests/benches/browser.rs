//! The browser side of sync against its raw limits, in one run (`shared/client/test/bench.mjs`
//! in headless Chromium, against this platform on a port):
//!
//! - **First sync**: a fresh browser opens the desk page of an account holding `RECORDS`
//!   documents (10,000 by default) and pulls them all into IndexedDB through the package,
//!   beside the raw pull of the same records (the same pages of 1,000, by an HTTP client, JSON
//!   read and dropped). Target: ≤ 10 s.
//! - **Drain**: `EDITS` documents (1,000) edited offline, then the time from reconnecting until
//!   the server has confirmed every one, beside the raw push of the same 1,000 updates (pushes of
//!   500 by an HTTP client). Target: ≤ 5 s.
//!
//! `cargo bench -p e2e-tests --bench browser` (needs chromium and `npm ci` in shared/client).

use std::time::Instant;

use e2e_tests::{TestApp, bench::env_or, device::Device};
use serde_json::{Value, json};
use uuid::Uuid;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_env_filter("warn").init();
    let records = env_or("RECORDS", 10_000);
    let edits = env_or("EDITS", 1_000).min(records);
    let (Some(chromium), Some(package)) = (e2e_tests::chromium(), e2e_tests::browser_package())
    else {
        return Ok(());
    };
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let base = e2e_tests::serve(&app).await;

    let mut seed = Device::new(admin.http.clone(), 0);
    let ids: Vec<Uuid> = (0..records).map(|_| Uuid::new_v4()).collect();
    for (i, id) in ids.iter().enumerate() {
        seed.mutate(
            "documents",
            *id,
            "create",
            json!({"key": format!("note-{i}"), "value": {"texte": "Bonjour", "n": i}}),
        );
    }
    seed.push_all(500).await;

    // The raw pull: the same pages, read by an HTTP client.
    let client = reqwest::Client::new();
    let auth = format!("Bearer {}", admin.token);
    let started = Instant::now();
    let mut cursor: Option<String> = None;
    let mut pulled = 0;
    loop {
        let mut query = vec![
            ("collections", "documents".to_owned()),
            ("limit", "1000".into()),
        ];
        query.extend(cursor.take().map(|c| ("cursor", c)));
        let url = reqwest::Url::parse_with_params(&format!("{base}/api/sync/pull"), &query)?;
        let page: Value = client
            .get(url)
            .header("authorization", &auth)
            .send()
            .await?
            .json()
            .await?;
        pulled += page["changes"].as_array().map_or(0, Vec::len);
        cursor = page["next_cursor"].as_str().map(str::to_owned);
        if page["has_more"] != json!(true) {
            break;
        }
    }
    let raw_pull = started.elapsed();
    anyhow::ensure!(pulled >= records, "pulled {pulled} of {records}");

    let session = json!({
        "token": admin.token,
        "user": {"id": admin.id, "email": admin.email, "full_name": "Admin Test", "role": "admin"},
    });
    let setup = json!({
        "base": base, "chromium": e2e_tests::which(chromium), "account": session,
        "records": records, "edits": edits,
    });
    let output = tokio::process::Command::new("node")
        .arg("test/bench.mjs")
        .current_dir(&package)
        .env("SETUP", setup.to_string())
        .output()
        .await?;
    anyhow::ensure!(
        output.status.success(),
        "bench.mjs failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let browser: Value = serde_json::from_slice(
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .last()
            .unwrap_or_default()
            .as_bytes(),
    )?;

    // The raw push: the same number of updates, by an HTTP client through the same route.
    let mut device = Device::new(admin.http.clone(), 0);
    for id in ids.iter().take(edits) {
        device.mutate("documents", *id, "update", json!({"value": {"raw": true}}));
    }
    let started = Instant::now();
    for batch in device.queue.chunks(500) {
        // Each batch as a new client's first push, numbered from 1.
        let mut mutations = batch.to_vec();
        for (i, m) in mutations.iter_mut().enumerate() {
            m["mutation_id"] = json!(i + 1);
        }
        let answer = client
            .post(format!("{base}/api/sync/push"))
            .header("authorization", &auth)
            .json(&json!({"client_id": Uuid::new_v4(), "mutations": mutations}))
            .send()
            .await?;
        anyhow::ensure!(
            answer.status().is_success(),
            "raw push: {}",
            answer.status()
        );
    }
    let raw_push = started.elapsed();

    let ms = |key: &str| browser[key].as_f64().unwrap_or(f64::NAN);
    println!(
        "browser sync ({records} documents, {edits} offline edits; 2 cores, release build of the stack)"
    );
    println!("what                               browser      raw HTTP     browser÷raw   target");
    println!(
        "first sync of {records:>6} records     {:>8.0} ms  {:>8.0} ms  {:>9.1}      ≤ 10,000 ms",
        ms("first_sync_ms"),
        raw_pull.as_secs_f64() * 1000.0,
        ms("first_sync_ms") / (raw_pull.as_secs_f64() * 1000.0)
    );
    println!(
        "drain of {edits:>6} offline edits       {:>8.0} ms  {:>8.0} ms  {:>9.1}      ≤ 5,000 ms",
        ms("drain_ms"),
        raw_push.as_secs_f64() * 1000.0,
        ms("drain_ms") / (raw_push.as_secs_f64() * 1000.0)
    );
    Ok(())
}
