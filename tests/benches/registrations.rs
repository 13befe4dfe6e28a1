//! Registrations per second through the whole local stack (HTTP, validation, the RLS
//! transaction: profile, inscription, token, outbox message, audit entry), against two pgbench
//! runs on the same database in the same run, interleaved round by round so that neither gets a
//! warmer cache or an emptier table:
//!
//! - **raw limit**: the minimal statements a registration needs, as the table owner (no RLS, no
//!   lookups): what Postgres itself can do;
//! - **handler's SQL under RLS**: the statements the handler sends, in its order, as the app
//!   role with the registrar's claims: what is left once the database's own work is counted,
//!   so the gap to the stack is the cost of Rust, HTTP and the round trips.
//!
//! `cargo bench -p e2e-tests --bench registrations` (env: `REGISTRATIONS` per round, default
//! 1000; `ROUNDS`, default 3; `CONCURRENCY`, default 8; `PGBENCH_REPORT=1` prints pgbench's
//! reports with per-statement latencies). Prints every round and the medians.

use std::{sync::Arc, time::Instant};

use e2e_tests::{
    TestApp,
    bench::{as_app, env_or, median, pgbench},
    registration,
};

/// The minimal statements of a registration, as the owner.
fn raw_script(masterclass: &str) -> String {
    format!(
        r#"\set n random(1, 999999999)
BEGIN;
INSERT INTO profiles (full_name, date_of_birth, whatsapp_number, consent_at, consent_version) VALUES ('Awa Ndong', '2001-04-12', '+2417' || lpad(:n::text, 9, '0'), now(), '2026-11') RETURNING id AS profile_id \gset
INSERT INTO inscriptions (masterclass_id, profile_id, full_name, date_of_birth, whatsapp_number, consent_at, consent_version) VALUES ('{masterclass}', :profile_id, 'Awa Ndong', '2001-04-12', '+2417' || lpad(:n::text, 9, '0'), now(), '2026-11') RETURNING id AS inscription_id \gset
INSERT INTO inscription_tokens (inscription_id, token_hash) VALUES (:inscription_id, sha256(gen_random_uuid()::text::bytea));
INSERT INTO outbox_messages (inscription_id, profile_id, to_number, message_type, data, body, dedupe_key) VALUES (:inscription_id, :profile_id, '+2417' || lpad(:n::text, 9, '0'), 'registration_confirmed', '{{}}', 'Bonjour Awa, votre inscription est confirmée.', 'registration_confirmed:' || :inscription_id);
INSERT INTO audit_log (action, entity, entity_id) VALUES ('inscription.created', 'inscription', :inscription_id);
COMMIT;
"#
    )
}

/// The statements the registration handler sends, in its order, as the app role with the
/// registrar's claims (see `services::registration::register`): claims, the masterclass, then
/// `register_inscription`, which does the writes.
fn handler_script(masterclass: &str) -> String {
    let claims =
        r#"'{"role":"registrar","whatsapp_number":"+2418' || lpad(:n::text, 9, '0') || '"}'"#;
    let statements = format!(
        "SELECT id, title, description, starts_at, ends_at, published, pdf_key, pdf_size, pdf_uploaded_at, created_at, updated_at FROM masterclasses WHERE id = '{masterclass}' AND deleted_at IS NULL AND (published OR NOT true);\n\
         SELECT inscription_id, profile_id, registered_at, existing FROM register_inscription(null, '{masterclass}', 'Awa Ndong', '2001-04-12', '+2418' || lpad(:n::text, 9, '0'), now(), '2026-11', sha256(gen_random_uuid()::text::bytea), 'registration_confirmed', '{{}}', 'Bonjour Awa, votre inscription est confirmée.');"
    );
    format!(
        "\\set n random(1, 999999999)\n{}",
        as_app(claims, &statements)
    )
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    // Quiet: only the numbers (TestApp's own subscriber then finds one installed).
    tracing_subscriber::fmt().with_env_filter("warn").init();
    let per_round = env_or("REGISTRATIONS", 1000);
    let rounds = env_or("ROUNDS", 3).max(1);
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

    println!("registrations: {per_round} per round, {rounds} rounds, concurrency {concurrency}");
    println!("round   stack/s   raw limit/s   handler SQL under RLS/s   stack÷raw   stack÷RLS SQL");
    let (mut stack_rates, mut raw_rates, mut rls_rates) = (Vec::new(), Vec::new(), Vec::new());
    for round in 1..=rounds {
        let started = Instant::now();
        let end = round * per_round;
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
                        if i >= end {
                            break;
                        }
                        let number = format!("+24106{:06}", i);
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
        // The counter overshoots by one per worker; the next round starts where this one ended.
        next.store(end, std::sync::atomic::Ordering::Relaxed);
        let stack = per_round as f64 / started.elapsed().as_secs_f64();
        let raw = pgbench(
            &raw_script(&masterclass),
            &app.owner_url,
            per_round,
            concurrency,
        )?;
        let rls = pgbench(
            &handler_script(&masterclass),
            &app.owner_url,
            per_round,
            concurrency,
        )?;
        println!(
            "{round:>5} {stack:>9.1} {raw:>13.1} {rls:>25.1} {:>11.2} {:>15.2}",
            stack / raw,
            stack / rls
        );
        stack_rates.push(stack);
        raw_rates.push(raw);
        rls_rates.push(rls);
    }
    let inscriptions = app.count("inscriptions").await;
    let expected = (per_round * rounds * 3) as i64;
    anyhow::ensure!(
        inscriptions >= expected - (2 * concurrency * rounds) as i64,
        "{inscriptions} inscriptions, about {expected} expected"
    );
    let (stack, raw, rls) = (median(stack_rates), median(raw_rates), median(rls_rates));
    println!(
        "median {stack:>8.1} {raw:>13.1} {rls:>25.1} {:>11.2} {:>15.2}",
        stack / raw,
        stack / rls
    );
    println!("target: stack ÷ raw limit ≥ 0.5");
    Ok(())
}
