//! The state every handler receives: built once per process (per Lambda instance), then cloned.

use std::sync::Arc;

use anyhow::Context;

use crate::{
    Config, ai,
    auth::jwt,
    db,
    domain::paging::CursorKey,
    messaging::provider::{self, Provider},
    storage::Storage,
    sync,
};

/// Shared clients and configuration. Cloning is cheap (handles and an `Arc`).
#[derive(Clone)]
pub struct AppState {
    pub db: db::Pool,
    pub storage: Storage,
    pub config: Arc<Config>,
    /// Staff token signing and verification keys.
    pub keys: Arc<jwt::Keys>,
    /// The key listing cursors are sealed with.
    pub cursors: Arc<CursorKey>,
    /// The key the live channel's tickets are sealed with.
    pub tickets: Arc<CursorKey>,
    /// API Gateway's WebSocket connections, with `LIVE_MANAGEMENT_URL`: every successful write
    /// request fans its changes out to them.
    pub live: Option<sync::live::ApiGateway>,
    /// Told after every successful write request: the local gateway's live hub, when this
    /// process serves one (set by the gateway's router).
    pub writes: Option<sync::live::Wake>,
    /// Where WhatsApp messages go: Whapi with `WHAPI_TOKEN`, the log otherwise.
    pub messenger: Arc<dyn Provider>,
    /// Question generation: OpenAI with `OPENAI_API_KEY`, the offline generator always.
    pub generator: Arc<ai::Generator>,
}

impl AppState {
    /// Reads the environment, builds the pool and the S3 client, and applies migrations when
    /// `RUN_MIGRATIONS` allows it.
    pub async fn from_env() -> anyhow::Result<Self> {
        Self::new(Config::from_env()?).await
    }

    pub async fn new(config: Config) -> anyhow::Result<Self> {
        let db = db::connect(&config.database.url, &config.database)?;
        if config.database.run_migrations {
            match &config.database.migration_url {
                Some(url) => {
                    let owner = db::connect(url, &config.database)?;
                    db::migrate(&owner)
                        .await
                        .context("applying database migrations")?;
                    owner.close();
                }
                None => {
                    db::migrate(&db)
                        .await
                        .context("applying database migrations")?;
                }
            }
        }
        let storage = Storage::new(&config.s3).await;
        Ok(Self {
            db,
            storage,
            keys: Arc::new(jwt::Keys::new(&config.auth)),
            cursors: Arc::new(CursorKey::derive(
                config.auth.jwt_secret.expose().as_bytes(),
            )),
            tickets: Arc::new(CursorKey::derive_for(
                config.auth.jwt_secret.expose().as_bytes(),
                sync::live::TICKET_LABEL,
            )),
            live: sync::live::ApiGateway::new(&config.live, &config.s3.region).await,
            writes: None,
            messenger: Arc::from(provider::from_config(&config.messaging)),
            generator: Arc::new(ai::Generator::from_config(&config.ai)),
            config: Arc::new(config),
        })
    }
}
