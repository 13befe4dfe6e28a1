//! What the benchmarks share: their knobs from the environment, pgbench runs on the test
//! database (the limit each benchmark prints itself against), and medians over rounds.

/// A pgbench transaction as the handlers open theirs (`db::begin_as`): the app role, the claims
/// (`claims`: an SQL expression, so a script may build them from its variables), JIT off; then
/// `statements`.
pub fn as_app(claims: &str, statements: &str) -> String {
    format!(
        "BEGIN;\n\
         SELECT set_config('role', 'masterclass_app', true), set_config('request.jwt.claims', {claims}, true), set_config('jit', 'off', true);\n\
         {statements}\n\
         COMMIT;\n"
    )
}

/// `name` from the environment as a number, or `default`.
pub fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `sql` on one line with its parameters written in (pgbench scripts are line based).
pub fn bind(sql: &str, parameters: &[&str]) -> String {
    let mut sql = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    // Highest first, so `$1` never eats the start of `$10`.
    for (i, value) in parameters.iter().enumerate().rev() {
        sql = sql.replace(&format!("${}", i + 1), value);
    }
    sql
}

/// Runs `script` with pgbench as `url`'s user: `total` transactions over `concurrency`
/// clients. Returns transactions per second.
pub fn pgbench(script: &str, url: &str, total: usize, concurrency: usize) -> anyhow::Result<f64> {
    let per_client = total.div_ceil(concurrency).to_string();
    Ok(run_pgbench(script, url, concurrency, &["-t", &per_client])?.0)
}

/// pgbench on `script` over `concurrency` clients (`-j 2`, extended protocol) with `extra`
/// arguments, in a folder of its own (where `-l` writes its logs): its tps, and the folder.
fn run_pgbench(
    script: &str,
    url: &str,
    concurrency: usize,
    extra: &[&str],
) -> anyhow::Result<(f64, tempfile::TempDir)> {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("script.sql");
    std::fs::write(&file, script)?;
    let output = std::process::Command::new(local_gateway::postgres::find_tool("pgbench")?)
        .current_dir(dir.path())
        .args(["-n", "-M", "extended", "-j", "2"])
        // PGBENCH_REPORT=1: pgbench's per-statement latencies too, printed with its report.
        .args(std::env::var_os("PGBENCH_REPORT").map(|_| "-r"))
        .arg("-c")
        .arg(concurrency.to_string())
        .args(extra)
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
    if std::env::var_os("PGBENCH_REPORT").is_some() {
        println!("{report}");
    }
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
    Ok((tps, dir))
}

/// The value at fraction `p` (0 to 1) of `sorted`, nearest rank; NaN when empty.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// The middle value (the upper one of an even count).
pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// `students` students over `masterclasses` published masterclasses, straight in the database
/// (as the owner): names from a list of Gabonese first and last names with a number, numbers
/// `+2410600...`, a third attended, 70 % with a scored PRE test and 50 % with a POST test out of
/// 10, registered over the last twelve days; then `vacuum analyze`.
pub async fn seed_students(
    db: &tokio_postgres::Client,
    students: usize,
    masterclasses: usize,
) -> anyhow::Result<()> {
    db.batch_execute(&format!(
        "insert into masterclasses (title, description, starts_at, ends_at, published)
         select 'Masterclass ' || m, 'Bench', now() - (m || ' days')::interval,
                now() - (m || ' days')::interval + interval '3 hours', true
         from generate_series(1, {masterclasses}) m;
         create temporary table bench_names as
         select row_number() over () as n, f || ' ' || l as name
         from unnest(array['Éloïse', 'Jean-Pierre', 'Awa', 'Noël', 'Chloé', 'Ismaël', 'Grâce', 'Yann',
                           'Mireille', 'Arsène', 'Patience', 'Hervé']) f,
              unnest(array['Mba Nze', 'Ndong', 'Obiang', 'Mouélé', 'Ekomié', 'Nguéma', 'Ondo',
                           'Essono', 'Bongo', 'Mintsa']) l;
         create temporary table bench_mc as
         select row_number() over (order by id) - 1 as k, id from masterclasses;
         insert into profiles (full_name, whatsapp_number, consent_at)
         select (select name from bench_names where n = 1 + i % 120) || ' ' || i,
                '+2410' || (6000000 + i)::text, now()
         from generate_series(1, {students}) i;
         insert into inscriptions (masterclass_id, profile_id, full_name, whatsapp_number, consent_at,
                                   attended, created_at)
         select mc.id, p.id, p.full_name, p.whatsapp_number, p.consent_at,
                (hashtext(p.id::text) % 3 = 0), now() - ((hashtext(p.whatsapp_number) & 1048575) || ' seconds')::interval
         from profiles p
         join bench_mc mc on mc.k = (substr(p.whatsapp_number, 6)::bigint % {masterclasses});
         insert into test_attempts (inscription_id, kind, score, max_score)
         select id, 'PRE', abs(hashtext(id::text)) % 11, 10 from inscriptions where abs(hashtext(id::text)) % 10 < 7;
         insert into test_attempts (inscription_id, kind, score, max_score)
         select id, 'POST', abs(hashtext(id::text || 'post')) % 11, 10 from inscriptions where abs(hashtext(id::text)) % 10 < 5;"
    ))
    .await?;
    db.batch_execute("vacuum analyze").await?;
    Ok(())
}

/// What a load run measured: requests (or transactions) per second, and latency percentiles
/// in milliseconds.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    pub per_second: f64,
    pub p50: f64,
    pub p99: f64,
}

/// Loads `url` with `wrk` for `seconds` over `concurrency` keep-alive connections (2 threads,
/// as pgbench's `-j 2`, or 1 for a single connection), with `headers` on every request. `wrk` is to HTTP what pgbench is to
/// SQL: a C load generator in its own process, so the stack is measured against its SQL with
/// clients of the same weight (an HTTP client in the benchmark's own process shares its
/// runtime and cores with the server it measures). Fails if any answer was not a 2xx or 3xx.
/// Debian: `apt-get install wrk`.
pub fn wrk(
    url: &str,
    headers: &[&str],
    seconds: usize,
    concurrency: usize,
) -> anyhow::Result<Load> {
    let mut command = std::process::Command::new("wrk");
    command
        .args(["--latency", "-t"])
        // wrk wants at least one connection per thread.
        .arg(concurrency.clamp(1, 2).to_string())
        .arg("-c")
        .arg(concurrency.to_string())
        .arg("-d")
        .arg(format!("{seconds}s"));
    for header in headers {
        command.arg("-H").arg(header);
    }
    let output = command
        .arg(url)
        .output()
        .map_err(|e| anyhow::anyhow!("running wrk (apt-get install wrk): {e}"))?;
    let report = String::from_utf8_lossy(&output.stdout);
    anyhow::ensure!(
        output.status.success() && !report.contains("Non-2xx") && !report.contains("Socket errors"),
        "wrk failed or saw errors: {report}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let field = |prefix: &str| {
        report
            .lines()
            .find_map(|line| line.trim().strip_prefix(prefix).map(str::trim))
            .ok_or_else(|| anyhow::anyhow!("no '{prefix}' in wrk's report: {report}"))
    };
    let per_second = field("Requests/sec:")?.parse()?;
    Ok(Load {
        per_second,
        p50: wrk_ms(field("50%")?)?,
        p99: wrk_ms(field("99%")?)?,
    })
}

/// A duration as wrk prints it (`812.00us`, `1.23ms`, `2.01s`) in milliseconds.
fn wrk_ms(text: &str) -> anyhow::Result<f64> {
    let (number, factor) = if let Some(n) = text.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = text.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1000.0)
    } else {
        anyhow::bail!("a duration wrk printed: {text}")
    };
    Ok(number.parse::<f64>()? * factor)
}

/// Runs `script` with pgbench for `seconds` over `concurrency` clients (`-j 2`), as `url`'s
/// user: transactions per second, and p50/p99 from its per-transaction log.
pub fn pgbench_for(
    script: &str,
    url: &str,
    seconds: usize,
    concurrency: usize,
) -> anyhow::Result<Load> {
    let seconds = seconds.to_string();
    let (per_second, dir) = run_pgbench(
        script,
        url,
        concurrency,
        &["-T", &seconds, "-l", "--log-prefix=tx"],
    )?;
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
    Ok(Load {
        per_second,
        p50: percentile(&latencies, 0.5),
        p99: percentile(&latencies, 0.99),
    })
}
