//! A real pgbouncer in transaction mode (what Supabase's pooler and RDS Proxy do) in front of a
//! test server: every transaction may land on any of a few server connections, so a statement
//! that outlives its transaction, or is parsed on one connection and run on another, shows.
//!
//! pgbouncer comes from Debian's package (`apt-get install pgbouncer`; `.ci/run` installs it).
//! It refuses to run as root, so as root it runs as the `postgres` account, like the cluster.

use std::{
    fs,
    net::TcpListener,
    path::PathBuf,
    process::{Child, ChildStdin},
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use local_gateway::postgres::{give_to_owner, shell_quote, spawn_watched};

/// A running pgbouncer; dropping it (or this process ending) stops it.
pub struct PgBouncer {
    pub port: u16,
    child: Child,
    /// The watchdog's pipe: closing it stops pgbouncer.
    stdin: Option<ChildStdin>,
    _dir: tempfile::TempDir,
}

/// The pgbouncer binary, if installed.
pub fn binary() -> Option<PathBuf> {
    [
        "/usr/sbin/pgbouncer",
        "/usr/bin/pgbouncer",
        "/usr/local/bin/pgbouncer",
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|p| p.is_file())
}

impl PgBouncer {
    /// Starts pgbouncer on a free loopback port in front of the server at `server_port`, with
    /// `server_connections` server connections per database and user.
    pub fn start(server_port: u16, server_connections: u32) -> anyhow::Result<Self> {
        let binary = binary().context("pgbouncer is not installed (apt-get install pgbouncer)")?;
        let dir = tempfile::tempdir()?;
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let users = dir.path().join("users.txt");
        fs::write(&users, "\"postgres\" \"\"\n\"masterclass_fn\" \"\"\n")?;
        let config = dir.path().join("pgbouncer.ini");
        fs::write(
            &config,
            format!(
                "[databases]\n\
                 * = host=127.0.0.1 port={server_port}\n\
                 [pgbouncer]\n\
                 listen_addr = 127.0.0.1\n\
                 listen_port = {port}\n\
                 unix_socket_dir =\n\
                 auth_type = trust\n\
                 auth_file = {users}\n\
                 pool_mode = transaction\n\
                 default_pool_size = {server_connections}\n\
                 min_pool_size = 0\n\
                 reserve_pool_size = 0\n\
                 max_client_conn = 500\n\
                 server_reset_query =\n\
                 ignore_startup_parameters = extra_float_digits,options\n\
                 logfile = {log}\n",
                users = users.display(),
                log = dir.path().join("pgbouncer.log").display(),
            ),
        )?;
        // As the cluster's owner (pgbouncer refuses root), under the cluster's watchdog.
        give_to_owner(dir.path())?;
        let (child, stdin) = spawn_watched(&format!(
            "{} {}",
            shell_quote(&binary),
            shell_quote(&config)
        ))
        .context("starting pgbouncer")?;
        let mut bouncer = Self {
            port,
            child,
            stdin,
            _dir: dir,
        };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = bouncer.child.try_wait()? {
                bail!("pgbouncer exited at start-up ({status})");
            }
            if started.elapsed() > Duration::from_secs(20) {
                bail!("pgbouncer did not listen within 20 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(bouncer)
    }

    /// `url` (a URL of the server behind) with pgbouncer's port in place of the server's.
    pub fn route(&self, url: &str) -> String {
        let (before, after) = url.rsplit_once(':').expect("a URL with a port");
        let rest = after.split_once('/').map_or("", |(_, rest)| rest);
        format!("{before}:{}/{rest}", self.port)
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

/// A platform whose functions reach the suite's server only through a pgbouncer of
/// `server_connections` in transaction mode, with `configure` applied; `None` (a note printed)
/// when pgbouncer is not installed outside CI. Keep the pgbouncer as long as the platform.
pub async fn platform(
    server_connections: u32,
    configure: impl FnOnce(&mut shared::Config),
) -> Option<(PgBouncer, crate::TestApp)> {
    if binary().is_none() && std::env::var_os("CI").is_none() {
        eprintln!("skipped: pgbouncer is not installed (apt-get install pgbouncer)");
        return None;
    }
    let server = crate::TestApp::shared_server();
    let server_port: u16 = server.rsplit_once(':')?.1.parse().ok()?;
    let bouncer =
        tokio::task::spawn_blocking(move || PgBouncer::start(server_port, server_connections))
            .await
            .expect("the thread starting pgbouncer")
            .expect("starting pgbouncer");
    let app = crate::TestApp::spawn_on(
        server,
        Some(crate::template_name()),
        |url| bouncer.route(url),
        configure,
    )
    .await;
    assert!(app.database_url.contains(&bouncer.port.to_string()));
    Some((bouncer, app))
}
