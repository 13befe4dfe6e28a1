//! `GET /api/admin/students` at scale, against its own SQL in the same run: 100,000 students over
//! 200 masterclasses (70 % with a PRE test, 50 % with a POST test), then for each query shape a
//! fixed time of requests at 50 concurrent connections through the local stack over HTTP, and
//! the same time of pgbench running the handler's transaction (the app role, the admin's claims,
//! JIT off, then `db::students::page_sql` with the same parameters) at the same concurrency.
//! Prints both throughputs, p50/p99 and the ratio. Targets: the stack ≥ 0.7 of pgbench, and p99
//! under 15 ms for the plain filtered page.
//!
//! `cargo bench -p e2e-tests --bench students` (env: `STUDENTS`, default 100000; `SECONDS` per
//! run, default 10; `CONCURRENCY`, default 50).

use std::time::{Duration, Instant};

use e2e_tests::{
    TestApp,
    bench::{as_app, env_or, percentile},
};
use shared::services::dashboard::StudentSort;

const MASTERCLASSES: usize = 200;

/// `sql` on one line with its parameters written in (pgbench scripts are line based).
fn bind(sql: &str, parameters: &[&str]) -> String {
    let mut sql = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    for (i, value) in parameters.iter().enumerate().rev() {
        sql = sql.replace(&format!("${}", i + 1), value);
    }
    sql
}

/// pgbench running `script` for `seconds` over `concurrency` clients: transactions per second
/// and every transaction's latency in milliseconds (from its per-transaction log).
fn pgbench_timed(
    script: &str,
    url: &str,
    seconds: usize,
    concurrency: usize,
) -> anyhow::Result<(f64, Vec<f64>)> {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("script.sql");
    std::fs::write(&file, script)?;
    let output = std::process::Command::new(local_gateway::postgres::find_tool("pgbench")?)
        .current_dir(dir.path())
        .args(["-n", "-M", "extended", "-j", "2", "-l", "--log-prefix=tx"])
        .arg("-c")
        .arg(concurrency.to_string())
        .arg("-T")
        .arg(seconds.to_string())
        .arg("-f")
        .arg(&file)
        .arg(url)
        .output()?;
    let report = String::from_utf8_lossy(&output.stdout);
    anyhow::ensure!(
        output.status.success() && !report.contains("aborted"),
        "pgbench failed: {report}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let tps = report
        .lines()
        .find_map(|line| {
            line.strip_prefix("tps = ")?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .ok_or_else(|| anyhow::anyhow!("no tps in pgbench's report: {report}"))?;
    let mut latencies = Vec::new();
    for entry in std::fs::read_dir(dir.path())?.flatten() {
        if entry.file_name().to_string_lossy().starts_with("tx.") {
            for line in std::fs::read_to_string(entry.path())?.lines() {
                // client_id transaction_no time_us script_no time_epoch time_us
                if let Some(us) = line
                    .split_whitespace()
                    .nth(2)
                    .and_then(|v| v.parse::<f64>().ok())
                {
                    latencies.push(us / 1000.0);
                }
            }
        }
    }
    latencies.sort_by(f64::total_cmp);
    Ok((tps, latencies))
}

/// Requests to `url` for `seconds` over `concurrency` connections: requests per second and
/// every request's latency in milliseconds.
async fn load(
    url: &str,
    token: &str,
    seconds: usize,
    concurrency: usize,
) -> anyhow::Result<(f64, Vec<f64>)> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    let until = Instant::now() + Duration::from_secs(seconds as u64);
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, url, token) = (client.clone(), url.to_owned(), token.to_owned());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while Instant::now() < until {
                    let sent = Instant::now();
                    let response = client.get(&url).bearer_auth(&token).send().await?;
                    anyhow::ensure!(response.status() == 200, "{}", response.status());
                    response.bytes().await?;
                    latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
                }
                anyhow::Ok(latencies)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for worker in workers {
        latencies.extend(worker.await??);
    }
    let rate = latencies.len() as f64 / started.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    Ok((rate, latencies))
}

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
        let (stack, stack_latencies) = load(&url, &admin.token, seconds, concurrency).await?;
        let (raw, raw_latencies) = pgbench_timed(&script, &app.owner_url, seconds, concurrency)?;
        println!(
            "{name:<40} {stack:>9.0} {:>8.2} {:>8.2} {raw:>10.0} {:>8.2} {:>8.2} {:>7.2}",
            percentile(&stack_latencies, 0.5),
            percentile(&stack_latencies, 0.99),
            percentile(&raw_latencies, 0.5),
            percentile(&raw_latencies, 0.99),
            stack / raw
        );
    }
    println!("targets: stack ÷ pgbench ≥ 0.7; p99 < 15 ms for the filtered page");
    Ok(())
}
