//! Registrations per second through the whole local stack (HTTP, validation, RLS transaction,
//! profile + inscription + token + outbox + audit), compared in the same run with pgbench running
//! the same INSERT statements straight against Postgres. Prints both and the ratio.
//!
//! `cargo bench -p e2e-tests --bench registrations` (env: `REGISTRATIONS`, default 2000;
//! `CONCURRENCY`, default 8).

use std::{sync::Arc, time::Instant};

use e2e_tests::{TestApp, registration};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    // Quiet: only the numbers (TestApp's own subscriber then finds one installed).
    tracing_subscriber::fmt().with_env_filter("warn").init();
    let total = env_or("REGISTRATIONS", 2000);
    let concurrency = env_or("CONCURRENCY", 8);
    let app = TestApp::spawn_with(|config| config.database.pool_size = concurrency).await;
    let admin = app.admin().await;
    let masterclass = app.open_masterclass(&admin, "Banc d'essai").await;

    // The local stack, over real HTTP.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/api/inscriptions", listener.local_addr()?);
    let router = local_gateway::gateway::router(app.state.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    let client = reqwest::Client::new();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, url, next, masterclass) = (
                client.clone(),
                url.clone(),
                next.clone(),
                masterclass.clone(),
            );
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= total {
                        break;
                    }
                    let number = format!("+2410{}", 6_000_000 + i);
                    let response = client
                        .post(&url)
                        .json(&registration(&masterclass, &number, "Awa Ndong"))
                        .send()
                        .await?;
                    anyhow::ensure!(
                        response.status() == 201,
                        "registration {i} answered {}",
                        response.status()
                    );
                }
                anyhow::Ok(())
            })
        })
        .collect();
    for worker in workers {
        worker.await??;
    }
    let stack_rate = total as f64 / started.elapsed().as_secs_f64();
    let inscriptions = app.count("inscriptions").await;
    anyhow::ensure!(
        inscriptions == total as i64,
        "{inscriptions} inscriptions for {total} registrations"
    );

    // The same statements, straight to Postgres, with pgbench.
    let script = tempfile::NamedTempFile::new()?;
    std::fs::write(
        script.path(),
        format!(
            r#"\set n random(1, 999999999)
BEGIN;
INSERT INTO profiles (full_name, date_of_birth, whatsapp_number, consent_at, consent_version) VALUES ('Awa Ndong', '2001-04-12', '+2417' || lpad(:n::text, 9, '0'), now(), '2026-11') ON CONFLICT (whatsapp_number) DO UPDATE SET consent_at = excluded.consent_at RETURNING id AS profile_id \gset
INSERT INTO inscriptions (masterclass_id, profile_id) VALUES ('{masterclass}', :profile_id) RETURNING id AS inscription_id \gset
INSERT INTO inscription_tokens (inscription_id, token_hash) VALUES (:inscription_id, sha256(gen_random_uuid()::text::bytea));
INSERT INTO outbox_messages (inscription_id, profile_id, to_number, message_type, data, body, dedupe_key) VALUES (:inscription_id, :profile_id, '+24106612345', 'registration_confirmed', '{{}}', 'Bonjour Awa, votre inscription est confirmée.', 'registration_confirmed:' || :inscription_id);
INSERT INTO audit_log (action, entity, entity_id) VALUES ('inscription.created', 'inscription', :inscription_id);
COMMIT;
"#
        ),
    )?;
    let pgbench = local_gateway::postgres::find_tool("pgbench")?;
    let per_client = total.div_ceil(concurrency);
    let output = std::process::Command::new(pgbench)
        .args([
            "-n",
            "-M",
            "extended",
            "-c",
            &concurrency.to_string(),
            "-j",
            "2",
            "-t",
            &per_client.to_string(),
            "-f",
        ])
        .arg(script.path())
        .arg(&app.owner_url)
        .output()?;
    let report = String::from_utf8_lossy(&output.stdout);
    anyhow::ensure!(
        output.status.success(),
        "pgbench failed: {report}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let pg_rate: f64 = report
        .lines()
        .find_map(|line| {
            line.strip_prefix("tps = ")?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .ok_or_else(|| anyhow::anyhow!("no tps in pgbench's report: {report}"))?;

    println!("registrations: {total}, concurrency: {concurrency}");
    println!(
        "local stack (HTTP + validation + RLS transaction): {stack_rate:>9.1} registrations/s"
    );
    println!("pgbench, same INSERTs straight to Postgres:        {pg_rate:>9.1} registrations/s");
    println!(
        "ratio stack / pgbench:                             {:>9.2}",
        stack_rate / pg_rate
    );
    Ok(())
}
