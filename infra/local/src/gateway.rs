//! The local gateway: every function's routes on one server, as API Gateway routes them in AWS,
//! and the operator commands (`create-admin`).

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
};

use anyhow::{Context, bail};
use axum::Router;
use shared::{AppState, Config};

use utoipa_axum::router::OpenApiRouter;

use crate::{
    docs,
    postgres::{self, EmbeddedPostgres},
    s3, schedules,
};

/// Every function's routes with their descriptions, merged.
fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(auth::routes())
        .merge(health::routes())
        .merge(inscriptions::routes())
        .merge(masterclasses::routes())
        .merge(questions::routes())
        .merge(generate_questions::routes())
        .merge(send_whatsapp::routes())
        .merge(webhooks::routes())
        .merge(tests::routes())
}

/// The OpenAPI 3.1 document of every route the gateway (and so the deployed API) serves.
pub fn openapi() -> utoipa::openapi::OpenApi {
    shared::http::openapi::complete(api().into_openapi())
}

/// Every function's routes, merged, plus the document and its viewer, with the common layers
/// once on the outside.
pub fn router(state: AppState) -> Router {
    let (routes, document) = api().split_for_parts();
    let routes = routes.merge(docs::routes(&shared::http::openapi::complete(document)));
    shared::http::with_common_layers(routes.with_state(state))
}

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
    /// Print a sample event of `events/` ready to invoke against this local platform: fresh
    /// rows for the ids it names, tokens and webhook secret of this platform.
    Sample {
        /// The sample, e.g. `events/masterclasses/get.json`.
        file: PathBuf,
    },
}

/// The running local stack: state plus the embedded servers it started.
pub struct Stack {
    pub state: AppState,
    /// What the stack set for itself (database, store, secrets): a function run beside it
    /// (under `cargo lambda watch`) needs the same.
    pub env: Vec<(String, String)>,
    postgres: Option<EmbeddedPostgres>,
    object_store: Option<s3::EmbeddedS3>,
}

impl Stack {
    /// Starts what is not configured (Postgres, S3), migrates, and builds the state.
    pub async fn start(data_dir: &Path) -> anyhow::Result<Self> {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let mut overrides: Vec<(&str, String)> = Vec::new();

        let mut postgres = None;
        let cluster = data_dir.join("pg");
        if let Some(port) = env("DATABASE_URL")
            .is_none()
            .then(|| postgres::running_port(&cluster))
            .flatten()
        {
            // A gateway is running on this cluster (`create-admin` beside `cargo run`): use it.
            tracing::info!(port, "using the embedded Postgres already running");
            overrides.push((
                "DATABASE_URL",
                format!(
                    "postgres://{}@127.0.0.1:{port}/masterclass",
                    postgres::APP_LOGIN
                ),
            ));
            overrides.push(("RUN_MIGRATIONS", "false".into()));
        } else if env("DATABASE_URL").is_none() {
            let pg = tokio::task::block_in_place(|| EmbeddedPostgres::start(&cluster))
                .context("starting the embedded Postgres (or set DATABASE_URL)")?;
            pg.ensure_database("masterclass").await?;
            let owner_url = pg.url("masterclass");
            // Migrate as the owner, then let the functions in as a role that owns nothing.
            migrate_as_owner(owner_url.clone(), None).await?;
            postgres::ensure_app_login(&owner_url).await?;
            overrides.push((
                "DATABASE_URL",
                postgres::with_user(&owner_url, postgres::APP_LOGIN),
            ));
            overrides.push(("RUN_MIGRATIONS", "false".into()));
            tracing::info!(port = pg.port(), "embedded Postgres is running");
            postgres = Some(pg);
        }

        let mut object_store = None;
        if env("S3_ENDPOINT").is_none() {
            let store = s3::EmbeddedS3::start(&data_dir.join("s3"), 0).await?;
            overrides.extend([
                ("S3_ENDPOINT", store.endpoint()),
                ("S3_ACCESS_KEY_ID", s3::LOCAL_ACCESS_KEY.into()),
                ("S3_SECRET_ACCESS_KEY", s3::LOCAL_SECRET_KEY.into()),
            ]);
            object_store = Some(store);
        }

        if env("JWT_SECRET").is_none() {
            overrides.push(("JWT_SECRET", local_secret(data_dir, "jwt-secret")?));
        }
        if env("WHAPI_WEBHOOK_SECRET").is_none() {
            overrides.push((
                "WHAPI_WEBHOOK_SECRET",
                local_secret(data_dir, "webhook-secret")?,
            ));
        }

        let config = Config::from_lookup(|name| {
            overrides
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.clone())
                .or_else(|| env(name))
        })?;
        let state = AppState::new(config).await?;
        if object_store.is_some() {
            state.storage.ensure_bucket().await?;
        }
        Ok(Self {
            state,
            env: overrides
                .into_iter()
                .map(|(name, value)| (name.to_owned(), value))
                .collect(),
            postgres,
            object_store,
        })
    }

    /// Stops the embedded servers, Postgres cleanly.
    pub fn stop(mut self) -> anyhow::Result<()> {
        drop(self.object_store.take());
        if let Some(mut pg) = self.postgres.take() {
            tracing::info!("stopping the embedded Postgres");
            tokio::task::block_in_place(|| pg.stop())?;
        }
        Ok(())
    }
}

/// Applies the pending migrations as the owner at `url`; returns how many it applied.
async fn migrate_as_owner(url: String, ca_cert: Option<PathBuf>) -> anyhow::Result<usize> {
    let config = shared::config::DatabaseConfig {
        url: shared::config::Secret::new(url),
        pool_size: 1,
        ca_cert,
        run_migrations: true,
        migration_url: None,
    };
    let owner = shared::db::connect(&config.url, &config)?;
    let applied = shared::db::migrate(&owner)
        .await
        .context("applying migrations")?;
    owner.close();
    Ok(applied)
}

/// A secret of the local stack (`jwt-secret`, `webhook-secret`): made once, kept in `.local/`
/// so tokens and webhook settings survive a restart. (Outside the local stack JWT_SECRET must be
/// set; there is no default.)
pub fn local_secret(data_dir: &Path, name: &str) -> anyhow::Result<String> {
    let path = data_dir.join(name);
    if let Ok(secret) = std::fs::read_to_string(&path)
        && secret.trim().len() >= 32
    {
        return Ok(secret.trim().to_owned());
    }
    let secret = {
        use base64::Engine;
        use rand::RngCore;
        let mut bytes = [0u8; 48];
        rand::rng().fill_bytes(&mut bytes);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    };
    std::fs::create_dir_all(data_dir)?;
    std::fs::write(&path, &secret).with_context(|| format!("writing {}", path.display()))?;
    Ok(secret)
}

/// `cargo run [serve]`, `cargo run -- migrate` and `cargo run -- create-admin`.
pub async fn run(options: Options) -> anyhow::Result<()> {
    match options.command {
        None | Some(Command::Serve) => serve(&options.data_dir, options.port).await,
        Some(Command::Migrate) => migrate_only().await,
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

async fn serve(data_dir: &Path, port: u16) -> anyhow::Result<()> {
    let stack = Stack::start(data_dir).await?;
    let bootstrap = bootstrap_admin(&stack.state).await?;
    let timers = schedules::spawn(&stack.state, schedules::jobs());
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
    axum::serve(listener, router(stack.state.clone()))
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
