//! `cargo run` and its commands: serve (the default), `migrate`, `openapi`, `create-admin`,
//! `backup`, `restore`, `sample`.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
};

use anyhow::{Context, bail};
use shared::AppState;

use crate::{
    gateway::{openapi, router},
    s3, schedules,
    stack::{Stack, migrate_as_owner},
};

/// Options of `cargo run`.
#[derive(Debug, clap::Parser)]
#[command(
    name = "gateway",
    about = "Runs the whole masterclass platform locally"
)]
pub struct Options {
    /// Port to listen on (127.0.0.1).
    #[arg(long, env = "PORT", default_value_t = 3000)]
    pub port: u16,
    /// Where the embedded Postgres and S3 keep their data.
    #[arg(long, env = "LOCAL_DATA_DIR", default_value = ".local")]
    pub data_dir: PathBuf,
    /// The deployment to sync with (a venue server's cloud): its base URL. Needs
    /// --remote-secret; syncs every 30 s and on `POST /api/sync/run`.
    #[arg(long, env = "SYNC_REMOTE_URL", requires = "remote_secret")]
    pub remote: Option<String>,
    /// The secret of a sync peer created on the remote (`POST /api/sync/peers` there).
    #[arg(long, env = "SYNC_REMOTE_SECRET", hide_env_values = true)]
    pub remote_secret: Option<String>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Serve the platform (the default).
    Serve,
    /// Apply pending migrations to DATABASE_MIGRATION_URL (or DATABASE_URL) and exit: the
    /// deploy step when functions do not migrate at cold start.
    Migrate,
    /// Print the OpenAPI 3.1 document (`cargo run -- openapi > openapi.json`).
    Openapi,
    /// Create an admin account. The password comes from ADMIN_PASSWORD or a prompt.
    CreateAdmin {
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "Administrateur")]
        name: String,
    },
    /// Take a backup now (what the daily `backup` function does): retention, a snapshot of every
    /// table to the object store, old backups pruned. Prints the report.
    Backup,
    /// Restore the backup under PREFIX (e.g. `backups/20261201T120000Z/`) into an empty
    /// database. Needed: the target, as --target or else DATABASE_MIGRATION_URL (DATABASE_URL
    /// stands in for it only when neither is given, and must then be an owner's URL), and the
    /// store holding the backup (S3_*, BACKUP_BUCKET; the local stack's store when unset).
    /// DATABASE_URL is otherwise not needed: without it the command starts the embedded
    /// Postgres for its own state and reads nothing from it.
    Restore {
        prefix: String,
        /// The owner's URL of the empty database to restore into (over DATABASE_MIGRATION_URL).
        #[arg(long)]
        target: Option<String>,
    },
    /// Print a sample event of `events/` ready to invoke against this local platform: fresh
    /// rows for the ids it names, tokens and webhook secret of this platform.
    Sample {
        /// The sample, e.g. `events/masterclasses/get.json`.
        file: PathBuf,
    },
}

/// `cargo run [serve]`, `cargo run -- migrate` and `cargo run -- create-admin`.
pub async fn run(options: Options) -> anyhow::Result<()> {
    match options.command {
        None | Some(Command::Serve) => {
            let remote: Vec<(&'static str, String)> = match (options.remote, options.remote_secret)
            {
                (Some(url), Some(secret)) => {
                    vec![("SYNC_REMOTE_URL", url), ("SYNC_REMOTE_SECRET", secret)]
                }
                _ => Vec::new(),
            };
            serve(&options.data_dir, options.port, remote).await
        }
        Some(Command::Migrate) => migrate_only().await,
        Some(Command::Backup) => {
            let stack = Stack::start(&options.data_dir).await?;
            let report = shared::services::backup::run(&stack.state).await;
            stack.stop()?;
            println!("{}", serde_json::to_string_pretty(&report?)?);
            Ok(())
        }
        Some(Command::Restore { prefix, target }) => {
            let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
            let target = target
                .or_else(|| env("DATABASE_MIGRATION_URL"))
                .or_else(|| env("DATABASE_URL"))
                .context(
                    "name the empty database to restore into: --target <owner URL> (or \
                     DATABASE_MIGRATION_URL; DATABASE_URL only when it is an owner's URL)",
                )?;
            // The store is the local stack's (or the configured one's); the database is the target.
            let stack = Stack::start(&options.data_dir).await?;
            let store = shared::services::backup::store(&stack.state).await;
            let pool = shared::db::connect(
                &shared::secret::Secret::new(target),
                &stack.state.config.database,
            )?;
            let report = shared::services::backup::restore(&store, &prefix, &pool).await;
            stack.stop()?;
            println!("{}", serde_json::to_string_pretty(&report?)?);
            Ok(())
        }
        Some(Command::Openapi) => {
            println!("{}", openapi().to_pretty_json()?);
            Ok(())
        }
        Some(Command::Sample { file }) => {
            let sample: serde_json::Value = serde_json::from_str(
                &std::fs::read_to_string(&file)
                    .with_context(|| format!("reading {}", file.display()))?,
            )
            .with_context(|| format!("{} is not JSON", file.display()))?;
            let stack = Stack::start(&options.data_dir).await?;
            let fixture = crate::samples::Fixture::create(&stack.state).await;
            stack.stop()?;
            println!(
                "{}",
                serde_json::to_string_pretty(&fixture?.apply(&sample))?
            );
            Ok(())
        }
        Some(Command::CreateAdmin { email, name }) => {
            let password = match std::env::var("ADMIN_PASSWORD")
                .ok()
                .filter(|p| !p.is_empty())
            {
                Some(password) => password,
                None => tokio::task::block_in_place(|| {
                    rpassword::prompt_password("Password for the new admin: ")
                })
                .context("reading the password")?,
            };
            let stack = Stack::start(&options.data_dir).await?;
            let result =
                shared::services::staff::create_admin(&stack.state, &email, &name, &password).await;
            stack.stop()?;
            match result {
                Ok(admin) => {
                    println!("Admin {} created ({}).", admin.email, admin.id);
                    Ok(())
                }
                Err(shared::Error::Validation(errors)) => {
                    let list: Vec<String> = errors
                        .iter()
                        .map(|e| format!("{}: {}", e.field, e.message))
                        .collect();
                    bail!("invalid: {}", list.join("; "))
                }
                Err(e) => bail!("{e}"),
            }
        }
    }
}

async fn migrate_only() -> anyhow::Result<()> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let url = env("DATABASE_MIGRATION_URL")
        .or_else(|| env("DATABASE_URL"))
        .context("set DATABASE_MIGRATION_URL (the owner of the tables) or DATABASE_URL")?;
    let applied = migrate_as_owner(url, env("DATABASE_CA_CERT").map(PathBuf::from)).await?;
    println!(
        "{applied} migration(s) applied; the schema is at version {}.",
        shared::db::MIGRATIONS.len()
    );
    Ok(())
}

async fn serve(
    data_dir: &Path,
    port: u16,
    settings: Vec<(&'static str, String)>,
) -> anyhow::Result<()> {
    let stack = Stack::start_with(data_dir, settings).await?;
    let bootstrap = bootstrap_admin(&stack.state).await?;
    let timers = schedules::spawn(&stack.state, schedules::jobs(&stack.state));
    let env_file = data_dir.join("lambda.env");
    let lines: String = stack
        .env
        .iter()
        .map(|(name, value)| format!("{name}={value}\n"))
        .collect();
    std::fs::write(&env_file, lines).with_context(|| format!("writing {}", env_file.display()))?;

    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr} (set PORT or --port to use another port)"))?;
    let questions = match stack.state.generator.default_provider() {
        shared::ai::ProviderKind::OpenAi => {
            format!("OpenAI ({})", stack.state.config.ai.openai_model)
        }
        shared::ai::ProviderKind::Offline => {
            "offline generator (set OPENAI_API_KEY for OpenAI)".into()
        }
    };
    print_banner(
        &listener.local_addr()?,
        stack.object_store.as_ref(),
        bootstrap.as_deref(),
        &questions,
    );
    // With the peer address: the limits per source address count it (`SourceIp`).
    axum::serve(
        listener,
        router(stack.state.clone()).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
    .context("serving")?;

    for timer in timers {
        timer.abort();
    }
    stack.stop()
}

/// With `BOOTSTRAP_ADMIN_EMAIL` and `BOOTSTRAP_ADMIN_PASSWORD` set, makes sure that admin exists.
/// Returns the e-mail when there is one to sign in with.
async fn bootstrap_admin(state: &AppState) -> anyhow::Result<Option<String>> {
    let email = std::env::var("BOOTSTRAP_ADMIN_EMAIL")
        .ok()
        .filter(|e| !e.is_empty());
    let password = std::env::var("BOOTSTRAP_ADMIN_PASSWORD")
        .ok()
        .filter(|p| !p.is_empty());
    let (Some(email), Some(password)) = (email, password) else {
        return Ok(None);
    };
    match shared::services::staff::create_admin(state, &email, "Administrateur", &password).await {
        Ok(_) => tracing::info!("bootstrap admin created"),
        Err(shared::Error::Conflict { .. }) => {}
        Err(e) => bail!("creating the bootstrap admin: {e}"),
    }
    Ok(Some(email))
}

fn print_banner(
    addr: &SocketAddr,
    store: Option<&s3::EmbeddedS3>,
    admin: Option<&str>,
    questions: &str,
) {
    println!();
    println!("  Masterclass platform running at http://{addr}");
    println!("    health:        http://{addr}/api/health");
    println!("    masterclasses: http://{addr}/api/masterclasses");
    println!("    API docs:      http://{addr}/api/docs (document: /api/openapi.json)");
    if let Some(store) = store {
        println!(
            "    object store:  {} (embedded, files under .local/s3)",
            store.endpoint()
        );
    }
    println!("    questions:     {questions}");
    println!(
        "    WhatsApp:      {}",
        if std::env::var_os("WHAPI_TOKEN").is_some() {
            "Whapi.Cloud"
        } else {
            "logged, not sent"
        }
    );
    println!();
    match admin {
        Some(email) => {
            println!("  Staff token:");
            println!(
                "    curl -s -X POST http://{addr}/api/auth/token -H 'content-type: application/json' \\\n      -d '{{\"email\":\"{email}\",\"password\":\"'\"$BOOTSTRAP_ADMIN_PASSWORD\"'\"}}'"
            );
        }
        None => {
            println!("  No bootstrap admin. Create one, then ask for a token:");
            println!("    cargo run -- create-admin --email admin@example.ga");
            println!(
                "    (or set BOOTSTRAP_ADMIN_EMAIL and BOOTSTRAP_ADMIN_PASSWORD before cargo run)"
            );
            println!(
                "    curl -s -X POST http://{addr}/api/auth/token -H 'content-type: application/json' \\"
            );
            println!("      -d '{{\"email\":\"admin@example.ga\",\"password\":\"...\"}}'");
        }
    }
    println!("  Sample events for the function binaries (cargo lambda): see events/README.md.");
    println!("  Ctrl-C stops everything.");
    println!();
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing the SIGTERM handler");
    tokio::select! {
        _ = ctrl_c => {},
        _ = term.recv() => {},
    }
    tracing::info!("shutting down");
}
