//! Schema-driven fuzzing of the whole API with schemathesis, as an admin, a tutor, a student
//! and anonymously.
//!
//! Starts a throwaway platform (the test harness: its own Postgres and S3), serves the gateway
//! over HTTP, arranges a masterclass with a handout, a question bank, a tutor and a student,
//! then runs schemathesis against `/api/openapi.json` once per caller and mode:
//!
//! - `positive` (data valid per the document) and `negative` (data the document forbids), with
//!   the checks: no 5xx, status codes, content types, headers and bodies as documented, and
//!   invalid data rejected with a 4xx;
//! - after each negative run, up to 150 of its write requests that were refused (4xx) are
//!   replayed one at a time with a fingerprint of every table around each: a request refused
//!   as invalid must change nothing.
//!
//! `cargo run -p e2e-tests --example contract_fuzz` (needs `pip install schemathesis`; env:
//! `FUZZ_EXAMPLES` per operation, default 15; `FUZZ_SECONDS` per run, default 30). Exits
//! non-zero on any failure and prints the totals.

use std::time::Instant;

use e2e_tests::{TestApp, pdfs};

const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
                      response_headers_conformance,response_schema_conformance,negative_data_rejection";

/// A fingerprint of every table's rows (a token's `last_used_at` aside: using a token is not a
/// change of data).
async fn fingerprint(app: &TestApp) -> Vec<(String, String)> {
    let db = app.db().await;
    let tables: Vec<String> = db
        .query(
            "select table_name::text from information_schema.tables
             where table_schema = 'public' and table_type = 'BASE TABLE' order by 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut prints = Vec::new();
    for table in tables {
        let row = db
            .query_one(
                &format!(
                    "select coalesce(md5(string_agg(j::text, ',' order by j::text)), '') from
                     (select to_jsonb(t) - 'last_used_at' as j from {table} t) s"
                ),
                &[],
            )
            .await
            .unwrap();
        prints.push((table, row.get(0)));
    }
    prints
}

/// Replays up to `limit` of the run's write requests that were refused with a 4xx, one at a
/// time with a fingerprint of the database around each: a refused request must change
/// nothing. Returns the offenders.
async fn replay_refused(
    app: &TestApp,
    base: &str,
    token: Option<&str>,
    har: &std::path::Path,
    limit: usize,
) -> anyhow::Result<(usize, Vec<String>)> {
    let har: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(har)?)?;
    let refused: Vec<&serde_json::Value> = har["log"]["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| {
            let status = e["response"]["status"].as_u64().unwrap_or_default();
            let method = e["request"]["method"].as_str().unwrap_or_default();
            (400..500).contains(&status) && method != "GET"
        })
        .collect();
    let step = (refused.len() / limit.max(1)).max(1);
    let client = reqwest::Client::new();
    let mut replayed = 0;
    let mut offenders = Vec::new();
    for entry in refused.into_iter().step_by(step).take(limit) {
        let request = &entry["request"];
        let url = request["url"].as_str().unwrap_or_default();
        let path = url.splitn(4, '/').nth(3).unwrap_or_default();
        let method: reqwest::Method = request["method"].as_str().unwrap_or("GET").parse()?;
        let mut call = client.request(method.clone(), format!("{base}/{path}"));
        for header in request["headers"].as_array().into_iter().flatten() {
            let name = header["name"]
                .as_str()
                .unwrap_or_default()
                .to_ascii_lowercase();
            let value = header["value"].as_str().unwrap_or_default();
            match name.as_str() {
                "authorization" | "host" | "content-length" => {}
                "idempotency-key" if value == "[Filtered]" => {
                    call = call.header("idempotency-key", "replayed-key");
                }
                _ => call = call.header(name, value),
            }
        }
        if let Some(token) = token {
            call = call.bearer_auth(token);
        }
        if let Some(text) = request["postData"]["text"].as_str() {
            call = call.body(text.to_owned());
        }
        let before = fingerprint(app).await;
        let status = call.send().await?.status();
        let after = fingerprint(app).await;
        replayed += 1;
        if status.is_client_error() && before != after {
            offenders.push(format!("{status} {method} /{path} changed the database"));
        }
    }
    Ok((replayed, offenders))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_env_filter("error").init();
    let examples = std::env::var("FUZZ_EXAMPLES").unwrap_or_else(|_| "15".into());
    let seconds = std::env::var("FUZZ_SECONDS").unwrap_or_else(|_| "30".into());

    // Arrange a platform with something to find.
    let app = TestApp::spawn().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let router = local_gateway::gateway::router(app.state.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    let admin = app.admin().await;
    let masterclass = app.open_masterclass(&admin, "Créer son entreprise").await;
    app.handout(&admin, &masterclass, pdfs::french_handout(2))
        .await;
    app.bank(&admin, &masterclass, 12, true).await;
    let tutor = app.tutor(&admin, &[&masterclass]).await;
    let student = app.student(&masterclass, "Awa Ndong").await;

    // Operations that end the caller's own session (a password reset, a role change, a revoked
    // token) run last for that caller, and callers whose tokens an admin can revoke go first.
    let callers = [
        ("anonymous", None, vec![]),
        (
            "student",
            Some(student.token.clone()),
            vec!["inscriptions_revoke_own_token", "inscriptions_erase_own"],
        ),
        ("tutor", Some(tutor.token.clone()), vec![]),
        (
            "admin",
            Some(admin.token.clone()),
            vec!["auth_reset_password", "auth_update"],
        ),
    ];
    let reports = tempfile::tempdir()?;
    // A body over the size limit (a push of more mutations than allowed, say) is refused with
    // 413 before anything reads it: a rejection of invalid data like the default list's.
    let config = reports.path().join("schemathesis.toml");
    std::fs::write(
        &config,
        "[checks.negative_data_rejection]\nexpected-statuses = [\"400\", \"401\", \"403\", \
         \"404\", \"405\", \"406\", \"409\", \"413\", \"415\", \"422\", \"428\", \"429\"]\n",
    )?;
    let mut failures = Vec::new();
    let mut runs = 0usize;
    let started = Instant::now();
    println!("schemathesis against {base}/api/openapi.json, {examples} examples per operation");
    let only = std::env::var("FUZZ_CALLERS").ok();
    for (caller, token, last) in &callers {
        if only
            .as_deref()
            .is_some_and(|o| !o.split(',').any(|c| c == *caller))
        {
            continue;
        }
        let mut planned: Vec<(&str, &str, Vec<&str>)> = Vec::new();
        for group in ["rest", "last"] {
            if group == "last" && last.is_empty() {
                continue;
            }
            for mode in ["positive", "negative"] {
                let flag = if group == "rest" {
                    "--exclude-operation-id"
                } else {
                    "--include-operation-id"
                };
                let mut args = Vec::new();
                for id in last {
                    args.extend([flag, *id]);
                }
                planned.push((group, mode, args));
            }
        }
        for (group, mode, filters) in planned {
            if std::env::var("FUZZ_MODES").is_ok_and(|m| !m.split(',').any(|x| x == mode)) {
                continue;
            }
            let mut command = std::process::Command::new("schemathesis");
            command.args([
                "--config-file",
                &config.display().to_string(),
                "run",
                &format!("{base}/api/openapi.json"),
                "--url",
                &base,
                "--mode",
                mode,
                "--checks",
                CHECKS,
                "--max-examples",
                &examples,
                "--max-time",
                &seconds,
                "--seed",
                "20261121",
                "--generation-with-security-parameters",
                "false",
                "--generation-allow-x00",
                "true",
                "--suppress-health-check",
                "all",
                "--continue-on-failure",
                "--output-truncate",
                "true",
                "--no-color",
            ]);
            command.args(&filters);
            let har = reports.path().join(format!("{caller}-{mode}-{group}.har"));
            command.args([
                "--report",
                "har",
                "--report-har-path",
                &har.display().to_string(),
            ]);
            if mode == "negative" {
                // The examples phase sends the document's (valid) examples and the stateful phase
                // chains valid calls to reach its targets; negative runs keep to the phases whose
                // every request carries invalid data.
                command.args(["--phases", "coverage,fuzzing"]);
            }
            if let Ok(extra) = std::env::var("FUZZ_ARGS") {
                command.args(extra.split_whitespace());
            }
            if let Some(token) = token {
                command.args(["-H", &format!("Authorization: Bearer {token}")]);
            }
            println!("\n===== {caller}, {mode}, {group} =====");
            let status = command.status()?;
            runs += 1;
            if let Some(token) = token {
                let me = if *caller == "student" {
                    "/api/me"
                } else {
                    "/api/auth/me"
                };
                let check = reqwest::Client::new()
                    .get(format!("{base}{me}"))
                    .bearer_auth(token)
                    .send()
                    .await?;
                println!("{caller}'s token after the run: {}", check.status());
            }
            if !status.success() {
                failures.push(format!(
                    "{caller}/{mode}/{group}: schemathesis found failures"
                ));
            }
            if mode == "negative" {
                let (replayed, offenders) =
                    replay_refused(&app, &base, token.as_deref(), &har, 150).await?;
                println!(
                    "{replayed} refused write requests replayed one by one: {} changed the database",
                    offenders.len()
                );
                for offender in &offenders {
                    println!("  {offender}");
                }
                if !offenders.is_empty() {
                    failures.push(format!("{caller}/{mode}/{group}: {offenders:?}"));
                }
            }
        }
    }
    println!(
        "\n===== totals: {runs} runs (4 callers, 2 modes) in {:.0} s; {} failing run(s) =====",
        started.elapsed().as_secs_f64(),
        failures.len()
    );
    for failure in &failures {
        println!("  {failure}");
    }
    anyhow::ensure!(failures.is_empty(), "the contract fuzzing found failures");
    Ok(())
}
