//! An embedded Postgres cluster run from the installed server binaries.
//!
//! `initdb` creates the cluster once; each start runs `postgres` on a free loopback port. The
//! server is started under a small shell watchdog that holds a pipe from this process: when this
//! process exits, however it exits, the pipe closes and the watchdog shuts the server down, so no
//! cluster outlives the gateway or a test run. Postgres refuses to run as root, so when we are
//! root the cluster is owned and run by the unprivileged `postgres` account (created by Debian's
//! package).

use std::{
    ffi::OsStr,
    fs,
    io::Write,
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, ChildStdin, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context, bail};

/// A running cluster. Dropping it (or exiting) shuts the server down.
pub struct EmbeddedPostgres {
    port: u16,
    data_dir: PathBuf,
    child: Child,
    stdin: Option<ChildStdin>,
}

/// Where the server binaries are: a directory holding `initdb` and `postgres`.
pub fn find_binaries() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("PG_BIN_DIR") {
        return Ok(PathBuf::from(dir));
    }
    let mut candidates: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    // Debian's packages keep the server binaries out of PATH; prefer the newest version.
    let mut versions: Vec<PathBuf> = fs::read_dir("/usr/lib/postgresql")
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.path().join("bin"))
                .collect()
        })
        .unwrap_or_default();
    versions.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(OsStr::to_str)
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    candidates.extend(versions.into_iter().rev());
    candidates
        .into_iter()
        .find(|dir| dir.join("initdb").is_file() && dir.join("postgres").is_file())
        .context(
            "no PostgreSQL server binaries (initdb, postgres) were found in PATH or \
             /usr/lib/postgresql/*/bin: install the server package (Debian/Ubuntu: \
             `apt-get install postgresql`), set PG_BIN_DIR, or set DATABASE_URL to use an \
             existing database instead",
        )
}

/// A client tool of the installed PostgreSQL (`pgbench`, `pg_isready`, ...): beside the server
/// binaries, in Debian's versioned directories, or in `PATH`.
pub fn find_tool(name: &str) -> anyhow::Result<PathBuf> {
    let mut candidates = vec![find_binaries()?];
    if let Ok(entries) = fs::read_dir("/usr/lib/postgresql") {
        candidates.extend(entries.filter_map(|e| e.ok()).map(|e| e.path().join("bin")));
    }
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path));
    }
    candidates
        .into_iter()
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
        .with_context(|| {
            format!("{name} was not found beside the PostgreSQL server binaries or in PATH")
        })
}

fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// A command run as the cluster's owner: ourselves, or `postgres` when we are root.
fn as_owner(program: &Path) -> Command {
    if running_as_root() {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

/// The port of a server already running on the cluster in `data_dir` (a gateway started
/// earlier, still up), read from its `postmaster.pid`, if it answers there.
pub fn running_port(data_dir: &Path) -> Option<u16> {
    let pid_file = fs::read_to_string(data_dir.join("postmaster.pid")).ok()?;
    let mut lines = pid_file.lines();
    let pid = lines.next()?.trim();
    let port: u16 = lines.nth(2)?.trim().parse().ok()?;
    let alive = Path::new("/proc").join(pid).exists();
    (alive && std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()).then_some(port)
}

impl EmbeddedPostgres {
    /// Creates the cluster in `data_dir` if it does not exist yet, and starts it.
    pub fn start(data_dir: &Path) -> anyhow::Result<Self> {
        Self::start_with(data_dir, &[])
    }

    /// Like [`start`](Self::start), with extra server settings (`-c name=value`); the tests
    /// turn durability off for speed with these.
    pub fn start_with(data_dir: &Path, settings: &[(&str, &str)]) -> anyhow::Result<Self> {
        Self::start_on(data_dir, free_port()?, settings)
    }

    /// Like [`start_with`](Self::start_with), on a given port: a server stopped and started
    /// again on its own port is a restart, as its clients see it.
    pub fn start_on(data_dir: &Path, port: u16, settings: &[(&str, &str)]) -> anyhow::Result<Self> {
        let bin = find_binaries()?;
        fs::create_dir_all(data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
        let data_dir = data_dir.canonicalize()?;
        give_to_owner(&data_dir)?;
        if !data_dir.join("PG_VERSION").exists() {
            let output = as_owner(&bin.join("initdb"))
                .arg("-D")
                .arg(&data_dir)
                .args([
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                    "--no-sync",
                ])
                .output()
                .context("running initdb")?;
            if !output.status.success() {
                bail!("initdb failed: {}", String::from_utf8_lossy(&output.stderr));
            }
        }
        // A previous run that was killed may have left its pid file; the server it names is
        // gone (our watchdog stops it), so starting again is safe.
        let log = data_dir.join("server.log");
        let extra: String = settings
            .iter()
            .map(|(k, v)| format!(" -c {k}={v}"))
            .collect();
        let command = format!(
            "{postgres} -D {data} -p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories= \
             -c max_connections=200{extra} >>{log} 2>&1",
            postgres = shell_quote(&bin.join("postgres")),
            data = shell_quote(&data_dir),
            log = shell_quote(&log),
        );
        let (child, stdin) = spawn_watched(&command).context("starting postgres")?;
        let mut server = Self {
            port,
            data_dir,
            child,
            stdin,
        };
        server.wait_ready(&bin, Duration::from_secs(60))?;
        Ok(server)
    }

    fn wait_ready(&mut self, bin: &Path, limit: Duration) -> anyhow::Result<()> {
        let started = Instant::now();
        let isready = find_tool("pg_isready").unwrap_or_else(|_| bin.join("pg_isready"));
        loop {
            if let Some(status) = self.child.try_wait()? {
                let log = fs::read_to_string(self.data_dir.join("server.log")).unwrap_or_default();
                let tail: String = log
                    .lines()
                    .rev()
                    .take(15)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect::<Vec<_>>()
                    .join("\n");
                bail!("postgres exited at start-up ({status}); its log ends with:\n{tail}");
            }
            let ready = if isready.is_file() {
                Command::new(&isready)
                    .args([
                        "-q",
                        "-h",
                        "127.0.0.1",
                        "-p",
                        &self.port.to_string(),
                        "-U",
                        "postgres",
                    ])
                    .status()
                    .is_ok_and(|s| s.success())
            } else {
                std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
            };
            if ready {
                return Ok(());
            }
            if started.elapsed() > limit {
                bail!("postgres did not become ready within {limit:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// A URL for `database` as the `postgres` superuser.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Creates `database` if it does not exist.
    pub async fn ensure_database(&self, database: &str) -> anyhow::Result<()> {
        create_database_if_missing(&self.url("postgres"), database, None).await
    }

    /// Shuts the server down and waits for it (a clean shutdown, so nothing is lost).
    pub fn stop(&mut self) -> anyhow::Result<()> {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.write_all(b"stop\n");
        }
        self.child.wait().context("waiting for postgres to stop")?;
        Ok(())
    }
}

impl Drop for EmbeddedPostgres {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// Runs the shell `command` in the background as the cluster's owner, under a watchdog that
/// stops it (SIGINT, then waits) when the returned pipe closes: when it is dropped, or when this
/// process exits however it exits.
pub fn spawn_watched(command: &str) -> anyhow::Result<(Child, Option<ChildStdin>)> {
    let mut child = as_owner(Path::new("/bin/sh"))
        .arg("-c")
        .arg(format!(
            "{command} & pid=$!; read _ignored; kill -INT $pid; wait $pid"
        ))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()?;
    let stdin = child.stdin.take();
    Ok((child, stdin))
}

/// Gives `dir` to the cluster's owner (the `postgres` account when we are root).
pub fn give_to_owner(dir: &Path) -> anyhow::Result<()> {
    if !running_as_root() {
        return Ok(());
    }
    let status = Command::new("chown")
        .args(["-R", "postgres:postgres"])
        .arg(dir)
        .status()
        .context("running chown")?;
    if !status.success() {
        bail!(
            "could not give {} to the postgres account (is there one? Debian's postgresql package creates it)",
            dir.display()
        );
    }
    Ok(())
}

/// `path` quoted for the shell.
pub fn shell_quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}

/// Creates `database` on the server at `admin_url` unless it exists, optionally as a copy of
/// `template`.
pub async fn create_database_if_missing(
    admin_url: &str,
    database: &str,
    template: Option<&str>,
) -> anyhow::Result<()> {
    let (client, connection) = connect_when_ready(admin_url).await?;
    let driver = tokio::spawn(connection);
    let exists = client
        .query_opt("select 1 from pg_database where datname = $1", &[&database])
        .await?
        .is_some();
    if !exists {
        let template = template
            .map(|t| format!(" template \"{t}\""))
            .unwrap_or_default();
        client
            .batch_execute(&format!("create database \"{database}\"{template}"))
            .await
            .with_context(|| format!("creating database {database}"))?;
    }
    drop(client);
    let _ = driver.await;
    Ok(())
}

/// Connects, waiting out "the database system is starting up" (pg_isready may already answer
/// yes while the server still refuses sessions).
async fn connect_when_ready(
    url: &str,
) -> anyhow::Result<(
    tokio_postgres::Client,
    tokio_postgres::Connection<tokio_postgres::Socket, tokio_postgres::tls::NoTlsStream>,
)> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match tokio_postgres::connect(url, tokio_postgres::NoTls).await {
            Ok(pair) => return Ok(pair),
            Err(e) if Instant::now() < deadline => {
                tracing::debug!(error = %e, "postgres not ready yet");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => {
                return Err(anyhow::Error::new(e).context("connecting to the maintenance database"));
            }
        }
    }
}

/// The login role the functions use locally: a member of `masterclass_app`, owning nothing,
/// without BYPASSRLS.
pub const APP_LOGIN: &str = "masterclass_fn";

/// Creates [`APP_LOGIN`] on the server at `admin_url` if missing (after the migrations, which
/// create `masterclass_app`).
pub async fn ensure_app_login(admin_url: &str) -> anyhow::Result<()> {
    let (client, connection) = connect_when_ready(admin_url).await?;
    let driver = tokio::spawn(connection);
    client
        .batch_execute(&format!(
            "do $$ begin
                 if not exists (select from pg_roles where rolname = '{APP_LOGIN}') then
                     create role {APP_LOGIN} login nobypassrls;
                 end if;
             end $$;
             grant {role} to {APP_LOGIN};",
            role = shared::db::APP_ROLE,
        ))
        .await
        .context("creating the functions' login role")?;
    drop(client);
    let _ = driver.await;
    Ok(())
}

/// `url` with its user replaced by `user` (no password: the local cluster trusts loopback).
pub fn with_user(url: &str, user: &str) -> String {
    match url
        .split_once("://")
        .and_then(|(scheme, rest)| rest.split_once('@').map(|(_, host)| (scheme, host)))
    {
        Some((scheme, host)) => format!("{scheme}://{user}@{host}"),
        None => url.to_owned(),
    }
}
