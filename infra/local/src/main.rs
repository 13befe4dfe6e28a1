//! `cargo run`: the whole platform on 127.0.0.1:3000 with embedded Postgres and S3.

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    shared::telemetry::init();
    local_gateway::cli::run(local_gateway::cli::Options::parse()).await
}
