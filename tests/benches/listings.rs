//! The two listings the data-layer issue set targets for, each against its limit in the same
//! run, interleaved round by round:
//!
//! - **`GET /api/masterclasses?limit=50`**, anonymous, a full page of 50 published masterclasses
//!   each with a handout (so every item carries a download link), through the local stack over
//!   HTTP (wrk, a C load generator in its own process as pgbench is); against pgbench running
//!   the handler's own transaction (the anonymous claims, then `db::masterclasses::list_sql`) as
//!   the app role, for the same time at the same concurrency. Target: the stack ≥ 0.8 of its
//!   SQL.
//! - **The staff question listing's SQL** (`db::questions::list_sql`) over a bank of 2,000
//!   questions: pgbench as a tutor of the masterclass under row-level security against pgbench
//!   running the same SQL as the superuser (no RLS). Target: RLS costs less than 2×, i.e. the
//!   RLS rate ≥ 0.5 of the owner's.
//!
//! `cargo bench -p e2e-tests --bench listings` (env: `SECONDS` of each page run, default 5;
//! `REQUESTS`, a tenth of which are the question listings per round, default 2000; `ROUNDS`, default 3;
//! `CONCURRENCY`, default 8; `PGBENCH_REPORT=1` prints pgbench's reports).

use e2e_tests::{
    TestApp,
    bench::{as_app, bind, env_or, median, pgbench, pgbench_for, wrk},
    pdfs,
};

/// How many masterclasses the page shows (the page asked for is 50; ten more lie beyond it).
const MASTERCLASSES: usize = 60;
/// The question bank's size, as in the issue's measurement.
const QUESTIONS: i64 = 2000;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_env_filter("warn").init();
    let seconds = env_or("SECONDS", 5);
    // The question listing is heavier: a tenth of `REQUESTS`.
    let heavy = (env_or("REQUESTS", 2000) / 10).max(1);
    let rounds = env_or("ROUNDS", 3).max(1);
    let concurrency = env_or("CONCURRENCY", 8);
    let app = TestApp::spawn_with(|config| config.database.pool_size = concurrency).await;
    let admin = app.admin().await;

    // A page of masterclasses, every one with a handout.
    let handout = pdfs::french_handout(2);
    let mut masterclasses = Vec::new();
    for i in 0..MASTERCLASSES {
        let id = app
            .open_masterclass(&admin, &format!("Masterclass {i}"))
            .await;
        app.handout(&admin, &id, handout.clone()).await;
        masterclasses.push(id);
    }
    // A bank of 2,000 questions in the first, and a tutor who staffs it.
    let bank = &masterclasses[0];
    let tutor = app.tutor(&admin, &[bank]).await;
    app.db()
        .await
        .batch_execute(&format!(
            "insert into questions (masterclass_id, text, choice_a, choice_b, choice_c, choice_d, status)
             select '{bank}', 'Question ' || i || ' : quel est le bon choix ?',
                    'Choix A' || i, 'Choix B' || i, 'Choix C' || i, 'Choix D' || i, 'approved'
             from generate_series(1, {QUESTIONS}) i;
             insert into question_keys (question_id, correct)
             select id, 'A' from questions where masterclass_id = '{bank}';
             analyze;"
        ))
        .await?;

    // The endpoint over real HTTP, and the SQL it runs.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!(
        "http://{}/api/masterclasses?limit=50",
        listener.local_addr()?
    );
    let router = local_gateway::gateway::router(app.state.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    let client = reqwest::Client::new();
    let body = client.get(&url).send().await?.bytes().await?;
    let first: serde_json::Value = serde_json::from_slice(&body)?;
    let items = first["items"].as_array().map_or(0, Vec::len);
    let linked = first["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|item| item["pdf"]["download_url"].is_string())
        .count();
    anyhow::ensure!(
        items == 50 && linked == 50,
        "the page holds {items} items, {linked} with a download link: {first}"
    );
    let page_sql = as_app(
        r#"'{"role": "anon"}'"#,
        &format!(
            "{};",
            bind(&shared::db::masterclasses::list_sql(), &["true", "50", "0"])
        ),
    );
    let questions_sql = bind(
        &shared::db::questions::list_sql(),
        &[
            &format!("'{bank}'::uuid"),
            "null::text",
            "null::timestamptz",
            "null::uuid",
            "1000",
        ],
    );
    let tutor_claims =
        serde_json::json!({ "role": "tutor", "sub": tutor.id, "email": tutor.email });
    let questions_rls = as_app(&format!("'{tutor_claims}'"), &format!("{questions_sql};"));
    let questions_owner = format!("BEGIN;\n{questions_sql};\nCOMMIT;\n");
    let listed: i64 = app
        .db()
        .await
        .query_one(
            &format!("select count(*) from ({}) listed", questions_sql),
            &[],
        )
        .await?
        .get(0);
    anyhow::ensure!(
        listed == 1000,
        "the listing returns {listed} rows, 1000 expected"
    );

    println!(
        "listings: pages {seconds} s and {heavy} question listings per round, {rounds} rounds, \
         concurrency {concurrency}; {MASTERCLASSES} masterclasses with handouts, {QUESTIONS} questions; \
         the page is {} bytes",
        body.len()
    );
    println!(
        "round   page stack/s   page SQL/s   stack÷SQL   questions RLS/s   questions owner/s   RLS÷owner"
    );
    let mut rates: [Vec<f64>; 4] = Default::default();
    for round in 1..=rounds {
        let stack = {
            let url = url.clone();
            tokio::task::spawn_blocking(move || wrk(&url, &[], seconds, concurrency)).await??
        }
        .per_second;
        let page = pgbench_for(&page_sql, &app.owner_url, seconds, concurrency)?.per_second;
        let rls = pgbench(&questions_rls, &app.owner_url, heavy, concurrency)?;
        let owner = pgbench(&questions_owner, &app.owner_url, heavy, concurrency)?;
        println!(
            "{round:>5} {stack:>14.1} {page:>12.1} {:>11.2} {rls:>17.1} {owner:>19.1} {:>11.2}",
            stack / page,
            rls / owner
        );
        for (all, rate) in rates.iter_mut().zip([stack, page, rls, owner]) {
            all.push(rate);
        }
    }
    let [stack, page, rls, owner] = rates.map(median);
    println!(
        "median {stack:>13.1} {page:>12.1} {:>11.2} {rls:>17.1} {owner:>19.1} {:>11.2}",
        stack / page,
        rls / owner
    );
    println!("targets: page stack ÷ SQL ≥ 0.8; questions RLS ÷ owner ≥ 0.5 (RLS within 2×)");
    Ok(())
}
