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

/// Runs `script` with pgbench as `url`'s user: `total` transactions over `concurrency`
/// clients. Returns transactions per second.
pub fn pgbench(script: &str, url: &str, total: usize, concurrency: usize) -> anyhow::Result<f64> {
    let file = tempfile::NamedTempFile::new()?;
    std::fs::write(file.path(), script)?;
    let output = std::process::Command::new(local_gateway::postgres::find_tool("pgbench")?)
        .args(["-n", "-M", "extended"])
        // PGBENCH_REPORT=1: pgbench's per-statement latencies too, printed with its report.
        .args(std::env::var_os("PGBENCH_REPORT").map(|_| "-r"))
        .arg("-c")
        .arg(concurrency.to_string())
        .args(["-j", "2", "-t"])
        .arg(total.div_ceil(concurrency).to_string())
        .arg("-f")
        .arg(file.path())
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
    report
        .lines()
        .find_map(|line| {
            line.strip_prefix("tps = ")?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .ok_or_else(|| anyhow::anyhow!("no tps in pgbench's report: {report}"))
}

/// The middle value (the upper one of an even count).
pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}
