//! The local gateway: every function's routes on one server, as API Gateway routes them in AWS.

use std::{net::SocketAddr, path::PathBuf};

use anyhow::Context;
use axum::Router;
use shared::{AppState, Config};

use crate::{postgres::EmbeddedPostgres, s3, schedules};

/// Every function's routes, merged, with the common layers once on the outside.
pub fn router(state: AppState) -> Router {
    let routes = Router::new()
        .merge(health::routes())
        .merge(masterclasses::routes());
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
}

/// Starts the local stack and serves until Ctrl-C or SIGTERM.
pub async fn run(options: Options) -> anyhow::Result<()> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let mut overrides: Vec<(&str, String)> = Vec::new();

    let mut postgres = None;
    if env("DATABASE_URL").is_none() {
        let pg =
            tokio::task::block_in_place(|| EmbeddedPostgres::start(&options.data_dir.join("pg")))
                .context("starting the embedded Postgres (or set DATABASE_URL)")?;
        pg.ensure_database("masterclass").await?;
        overrides.push(("DATABASE_URL", pg.url("masterclass")));
        tracing::info!(port = pg.port(), "embedded Postgres is running");
        postgres = Some(pg);
    }

    let mut object_store = None;
    if env("S3_ENDPOINT").is_none() {
        let store = s3::EmbeddedS3::start(&options.data_dir.join("s3"), 0).await?;
        overrides.extend([
            ("S3_ENDPOINT", store.endpoint()),
            ("S3_ACCESS_KEY_ID", s3::LOCAL_ACCESS_KEY.into()),
            ("S3_SECRET_ACCESS_KEY", s3::LOCAL_SECRET_KEY.into()),
        ]);
        object_store = Some(store);
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
    let timers = schedules::spawn(&state, schedules::jobs());

    let addr = SocketAddr::from(([127, 0, 0, 1], options.port));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr} (set PORT or --port to use another port)"))?;
    print_banner(&listener.local_addr()?, object_store.as_ref());
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("serving")?;

    for timer in timers {
        timer.abort();
    }
    drop(object_store);
    if let Some(mut pg) = postgres {
        tracing::info!("stopping the embedded Postgres");
        tokio::task::block_in_place(|| pg.stop())?;
    }
    Ok(())
}

fn print_banner(addr: &SocketAddr, store: Option<&s3::EmbeddedS3>) {
    println!();
    println!("  Masterclass platform running at http://{addr}");
    println!("    health:        http://{addr}/api/health");
    println!("    masterclasses: http://{addr}/api/masterclasses");
    if let Some(store) = store {
        println!(
            "    object store:  {} (embedded, files under .local/s3)",
            store.endpoint()
        );
    }
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
