//! `GET /api/admin/students` at scale, against its own SQL in the same run: 100,000 students over
//! 200 masterclasses (70 % with a PRE test, 50 % with a POST test), then for each query shape a
//! fixed time of requests at 50 concurrent connections through the local stack over HTTP (wrk,
//! in its own process as pgbench is), and
//! the same time of pgbench running the handler's transaction (the app role, the admin's claims,
//! JIT off, then `db::students::page_sql` with the same parameters) at the same concurrency.
//! Prints both throughputs, p50/p99 and the ratio. Targets: the stack ≥ 0.7 of pgbench, and p99
//! under 15 ms for the plain filtered page.
//!
//! `cargo bench -p e2e-tests --bench students` (env: `STUDENTS`, default 100000; `SECONDS` per
//! run, default 10; `CONCURRENCY`, default 50).

use std::time::Instant;

use e2e_tests::{
    TestApp,
    bench::{as_app, bind, env_or, pgbench_for, wrk},
};
use shared::model::students::StudentSort;

const MASTERCLASSES: usize = 200;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_env_filter("warn").init();
    let students = env_or("STUDENTS", 100_000);
    let seconds = env_or("SECONDS", 10);
    let concurrency = env_or("CONCURRENCY", 50);
    let app = TestApp::spawn_with(|config| config.database.pool_size = concurrency).await;
    let admin = app.admin().await;

    let seeding = Instant::now();
    let db = app.db().await;
    e2e_tests::bench::seed_students(&db, students, MASTERCLASSES).await?;
    let masterclass: uuid::Uuid = db
        .query_one(
            "select id from masterclasses where title = 'Masterclass 17'",
            &[],
        )
        .await?
        .get(0);
    println!(
        "students: {students} students over {MASTERCLASSES} masterclasses seeded in {:.1} s; \
         {seconds} s per run at concurrency {concurrency}",
        seeding.elapsed().as_secs_f64()
    );

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}/api/admin/students", listener.local_addr()?);
    let router = local_gateway::gateway::router(app.state.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });

    let claims = serde_json::json!({ "role": "admin", "sub": admin.id, "email": admin.email });
    let null = ["null::timestamptz", "null::text", "null::uuid"];
    // (name, query string, SQL parameters $1..$8)
    let shapes: Vec<(&str, String, [String; 8])> = vec![
        (
            "filtered page (masterclass, has PRE)",
            format!("masterclass_id={masterclass}&has_pre=true&limit=50"),
            [
                format!("'{masterclass}'::uuid"),
                "null::boolean".into(),
                "null::timestamptz".into(),
                "null::timestamptz".into(),
                "true".into(),
                "null::boolean".into(),
                "null::text".into(),
                "51".into(),
            ],
        ),
        (
            "search by name (\"eloise mba\")",
            "q=eloise%20mba&limit=50".into(),
            [
                "null::uuid".into(),
                "null::boolean".into(),
                "null::timestamptz".into(),
                "null::timestamptz".into(),
                "null::boolean".into(),
                "null::boolean".into(),
                "'eloise mba'".into(),
                "51".into(),
            ],
        ),
        (
            "search by number (\"06000 12\")",
            "q=06000%2012&limit=50".into(),
            [
                "null::uuid".into(),
                "null::boolean".into(),
                "null::timestamptz".into(),
                "null::timestamptz".into(),
                "null::boolean".into(),
                "null::boolean".into(),
                "'06000 12'".into(),
                "51".into(),
            ],
        ),
    ];
    println!(
        "{:<40} {:>9} {:>8} {:>8} {:>10} {:>8} {:>8} {:>7}",
        "query", "stack/s", "p50 ms", "p99 ms", "pgbench/s", "p50 ms", "p99 ms", "ratio"
    );
    for (name, query, parameters) in shapes {
        let url = format!("{base}?{query}");
        let check: serde_json::Value = reqwest::Client::new()
            .get(&url)
            .bearer_auth(&admin.token)
            .send()
            .await?
            .json()
            .await?;
        let items = check["items"].as_array().map_or(0, Vec::len);
        anyhow::ensure!(items > 0, "{name}: nothing listed: {check}");
        let mut all: Vec<&str> = parameters.iter().map(String::as_str).collect();
        all.extend(null);
        let sql = bind(
            &shared::db::students::page_sql(StudentSort::Registered, true),
            &all,
        );
        let script = as_app(&format!("'{claims}'"), &format!("{sql};"));
        let stack = {
            let (url, auth) = (
                url.clone(),
                format!("Authorization: Bearer {}", admin.token),
            );
            tokio::task::spawn_blocking(move || wrk(&url, &[&auth], seconds, concurrency)).await??
        };
        let raw = pgbench_for(&script, &app.owner_url, seconds, concurrency)?;
        println!(
            "{name:<40} {:>9.0} {:>8.2} {:>8.2} {:>10.0} {:>8.2} {:>8.2} {:>7.2}",
            stack.per_second,
            stack.p50,
            stack.p99,
            raw.per_second,
            raw.p50,
            raw.p99,
            stack.per_second / raw.per_second
        );
    }
    println!("targets: stack ÷ pgbench ≥ 0.7; p99 < 15 ms for the filtered page");
    Ok(())
}
