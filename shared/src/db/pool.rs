//! Building the connection pool once per process.

use std::{fs, time::Duration};

use anyhow::Context;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::config::SslMode;

use super::Db;
use crate::config::{DatabaseConfig, Secret};

/// Builds a pool for `url`. TLS (rustls, webpki roots plus `DATABASE_CA_CERT`) is used when the
/// URL asks for it with `sslmode=require` or stricter; a local socket or loopback URL needs none.
pub fn connect(url: &Secret, config: &DatabaseConfig) -> anyhow::Result<Pool> {
    let pg: tokio_postgres::Config = url
        .expose()
        .parse()
        .context("DATABASE_URL is not a valid Postgres URL")?;
    let manager_config = ManagerConfig {
        recycling_method: RecyclingMethod::Fast,
    };
    let manager = match tls_for(&pg, config)? {
        None => Manager::from_config(pg, tokio_postgres::NoTls, manager_config),
        Some(tls) => Manager::from_config(pg, tls, manager_config),
    };
    Pool::builder(manager)
        .max_size(config.pool_size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(Duration::from_secs(5)))
        .create_timeout(Some(Duration::from_secs(10)))
        .build()
        .context("building the database pool")
}

/// The TLS a connection to `pg` uses: none unless its URL demands it (`sslmode=require` or
/// stricter; `prefer` is libpq's default, and we only turn TLS on when it is demanded).
pub(super) fn tls_for(
    pg: &tokio_postgres::Config,
    config: &DatabaseConfig,
) -> anyhow::Result<Option<tokio_postgres_rustls::MakeRustlsConnect>> {
    if pg.get_ssl_mode() == SslMode::Disable || pg.get_ssl_mode() == SslMode::Prefer {
        Ok(None)
    } else {
        tls_connector(config).map(Some)
    }
}

fn tls_connector(
    config: &DatabaseConfig,
) -> anyhow::Result<tokio_postgres_rustls::MakeRustlsConnect> {
    use rustls::pki_types::{CertificateDer, pem::PemObject};
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = &config.ca_cert {
        let pem = fs::read(path)
            .with_context(|| format!("reading DATABASE_CA_CERT {}", path.display()))?;
        for cert in CertificateDer::pem_slice_iter(&pem) {
            roots
                .add(cert.context("parsing DATABASE_CA_CERT")?)
                .context("adding DATABASE_CA_CERT to the trust store")?;
        }
    }
    let tls = rustls::ClientConfig::builder_with_provider(
        rustls::crypto::aws_lc_rs::default_provider().into(),
    )
    .with_safe_default_protocol_versions()
    .context("configuring TLS")?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(tls))
}

/// Does the database answer? `select 1` outside a transaction, as an unnamed statement: parsed and
/// run in one round trip, which a transaction-mode pooler keeps on one server connection (a named
/// one could be parsed on one and run, or collide, on another). Any failure is unavailability.
pub async fn ping(pool: &Pool) -> crate::error::Result<()> {
    let client = pool.get().await?;
    client.all("select 1", &[]).await.map_err(|e| {
        crate::error::Error::Unavailable(anyhow::Error::new(e).context("database health check"))
    })?;
    Ok(())
}
