//! Tests taken inside WhatsApp under load: `STUDENTS` students (default 500) all answering at
//! once through the real webhook route over HTTP, each `TEST` then ten letters, every reply
//! waiting for the webhook's answer (by then the next question is queued and handed to the
//! provider: the fake Whapi server), against pgbench running the plain INSERTs a reply needs
//! (the incoming message and the next question in the outbox) at the same concurrency, in one
//! run. A 503 (the pool busy past its wait) is delivered again after its `Retry-After`, as
//! Whapi does, and counted; the latency then includes the wait.
//!
//! `cargo bench -p e2e-tests --bench chat` (env: `STUDENTS`, default 500; `CONNECTIONS`, the
//! database pool, default 20). Prints webhook requests per second, the latency from a reply to
//! its next question queued and sent (p50, p99, max), and the raw INSERT rate.

use std::{sync::Arc, time::Instant};

use e2e_tests::{
    TestApp,
    bench::{env_or, percentile, pgbench},
    fake_whapi::{FakeWhapi, WEBHOOK_SECRET},
};
use serde_json::json;

/// The writes one reply needs at least, as the owner: the message stored, the next question
/// queued.
const RAW_SCRIPT: &str = r#"\set n random(1, 999999999)
BEGIN;
INSERT INTO incoming_messages (provider_message_id, from_number, body, payload) VALUES ('raw-' || :n || '-' || gen_random_uuid(), '+24106000000', 'B', '{}');
INSERT INTO outbox_messages (to_number, message_type, data, body, dedupe_key) VALUES ('+24106000000', 'test_question', '{}', 'Question 2/10 : ...', 'raw:' || gen_random_uuid());
COMMIT;
"#;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_env_filter("error").init();
    let students = env_or("STUDENTS", 500);
    let connections = env_or("CONNECTIONS", 20);
    let fake = FakeWhapi::start().await;
    let app = TestApp::spawn_with(|config| {
        fake.configure(config);
        // Production's pace for the webhook's own short send (a send or two per call).
        config.messaging.per_second = 5;
        config.database.pool_size = connections;
    })
    .await;
    let admin = app.admin().await;
    let masterclass = app.open_masterclass(&admin, "Banc d'essai").await;
    app.bank(&admin, &masterclass, 10, true).await;
    let mut numbers = Vec::with_capacity(students);
    for i in 0..students {
        let number = format!("+24106{i:06}");
        let registered = app.register(&masterclass, &number, "Awa Ndong").await;
        anyhow::ensure!(registered.status == 201, "registering {number}");
        numbers.push(number.trim_start_matches('+').to_owned());
    }
    // The confirmations out of the way (as if sent): the run measures the conversations.
    app.db()
        .await
        .execute(
            "update outbox_messages set status = 'sent', sent_at = now() where status = 'queued'",
            &[],
        )
        .await?;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/api/webhooks/whapi", listener.local_addr()?);
    let router = local_gateway::gateway::router(app.state.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    let client = reqwest::Client::new();
    let latencies = Arc::new(std::sync::Mutex::new(Vec::with_capacity(students * 11)));
    let retries = Arc::new(std::sync::atomic::AtomicUsize::new(0));

    println!(
        "chat tests: {students} students at once, TEST and ten replies each, {connections} database connections"
    );
    let started = Instant::now();
    let workers: Vec<_> = numbers
        .into_iter()
        .enumerate()
        .map(|(s, number)| {
            let (client, url, latencies, retries) = (
                client.clone(),
                url.clone(),
                latencies.clone(),
                retries.clone(),
            );
            tokio::spawn(async move {
                for (n, text) in std::iter::once("TEST")
                    .chain([
                        "A",
                        "b",
                        "C.",
                        "Réponse D",
                        "1",
                        "2\u{FE0F}\u{20E3}",
                        "c",
                        "d",
                        "A",
                        "B",
                    ])
                    .enumerate()
                {
                    let body = json!({ "messages": [{
                        "id": format!("bench-{s}-{n}"), "from_me": false, "type": "text",
                        "from": number, "timestamp": 1_800_000_000 + n, "text": { "body": text }
                    }] });
                    let sent = Instant::now();
                    // As Whapi does: a 503 is delivered again after its `Retry-After`.
                    loop {
                        let response = client
                            .post(&url)
                            .header("x-webhook-secret", WEBHOOK_SECRET)
                            .json(&body)
                            .send()
                            .await?;
                        if response.status() == 503 {
                            let wait = response
                                .headers()
                                .get("retry-after")
                                .and_then(|v| v.to_str().ok()?.parse().ok())
                                .unwrap_or(1);
                            retries.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
                            continue;
                        }
                        anyhow::ensure!(
                            response.status() == 200,
                            "reply {n} of student {s} answered {}",
                            response.status()
                        );
                        break;
                    }
                    latencies
                        .lock()
                        .unwrap()
                        .push(sent.elapsed().as_secs_f64() * 1000.0);
                }
                anyhow::Ok(())
            })
        })
        .collect();
    for worker in workers {
        worker.await??;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let mut latencies = std::mem::take(&mut *latencies.lock().unwrap());
    latencies.sort_by(f64::total_cmp);
    let requests = latencies.len();

    let attempts: i64 = app
        .db()
        .await
        .query_one(
            "select count(*) from test_attempts where channel = 'chat'",
            &[],
        )
        .await?
        .get(0);
    anyhow::ensure!(
        attempts == students as i64,
        "{attempts} tests submitted for {students} students"
    );
    let questions: i64 = app
        .db()
        .await
        .query_one(
            "select count(*) from outbox_messages where message_type = 'test_question'",
            &[],
        )
        .await?
        .get(0);
    anyhow::ensure!(
        questions == (students * 10) as i64,
        "{questions} questions queued for {students} students (ten each expected)"
    );
    let raw = pgbench(RAW_SCRIPT, &app.owner_url, requests, connections)?;
    let rate = requests as f64 / elapsed;
    println!(
        "webhook requests: {requests} in {elapsed:.1} s = {rate:.0}/s ({} answered 503 first, delivered again after Retry-After)",
        retries.load(std::sync::atomic::Ordering::Relaxed)
    );
    println!(
        "reply → next question queued and sent: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        percentile(&latencies, 1.0)
    );
    println!(
        "raw limit (pgbench: the two INSERTs of a reply, {connections} connections): {raw:.0}/s; stack ÷ raw {:.2}",
        rate / raw
    );
    println!(
        "every student's test submitted from the chat ({attempts}), ten questions each ({questions}), {} messages delivered",
        fake.delivered().len()
    );
    Ok(())
}
