//! The local stack: what `cargo run` starts besides the router. The embedded Postgres and S3
//! when `DATABASE_URL` and `S3_ENDPOINT` are unset, the migrations, the local secrets, and the
//! platform's state built from all of it.

use std::path::{Path, PathBuf};

use anyhow::Context;
use shared::{AppState, Config};

use crate::{
    postgres::{self, EmbeddedPostgres},
    s3,
};

/// The running local stack: state plus the embedded servers it started.
pub struct Stack {
    pub state: AppState,
    /// What the stack set for itself (database, store, secrets): a function run beside it
    /// (under `cargo lambda watch`) needs the same.
    pub env: Vec<(String, String)>,
    postgres: Option<EmbeddedPostgres>,
    pub(crate) object_store: Option<s3::EmbeddedS3>,
}

impl Stack {
    /// Starts what is not configured (Postgres, S3), migrates, and builds the state.
    pub async fn start(data_dir: &Path) -> anyhow::Result<Self> {
        Self::start_with(data_dir, Vec::new()).await
    }

    /// Like [`start`](Self::start), with `settings` (from command-line flags) over the
    /// environment.
    pub async fn start_with(
        data_dir: &Path,
        settings: Vec<(&'static str, String)>,
    ) -> anyhow::Result<Self> {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let mut overrides: Vec<(&str, String)> = settings;

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
pub(crate) async fn migrate_as_owner(
    url: String,
    ca_cert: Option<PathBuf>,
) -> anyhow::Result<usize> {
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
fn local_secret(data_dir: &Path, name: &str) -> anyhow::Result<String> {
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
