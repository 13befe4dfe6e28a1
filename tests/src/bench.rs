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
