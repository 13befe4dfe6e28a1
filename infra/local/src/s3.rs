//! An embedded S3-compatible server (s3s-fs): objects are files under a directory, and requests
//! are authenticated with SigV4 (headers or presigned URLs) exactly as AWS does.

use std::{net::SocketAddr, path::Path};

use anyhow::Context;
use hyper_util::rt::TokioIo;
use s3s::{auth::SimpleAuth, service::S3ServiceBuilder};
use tokio::net::TcpListener;

/// The local stack's fixed credentials (not secret: the store only listens on loopback).
pub const LOCAL_ACCESS_KEY: &str = "masterclass-local";
pub const LOCAL_SECRET_KEY: &str = "masterclass-local-secret";

/// A running server. Dropping it stops it and closes its open connections.
pub struct EmbeddedS3 {
    addr: SocketAddr,
    stop: tokio::sync::watch::Sender<bool>,
}

impl EmbeddedS3 {
    /// Serves the directory `root` on `127.0.0.1:port` (0 picks a free port).
    pub async fn start(root: &Path, port: u16) -> anyhow::Result<Self> {
        std::fs::create_dir_all(root).with_context(|| format!("creating {}", root.display()))?;
        let fs = s3s_fs::FileSystem::new(root).map_err(|e| {
            anyhow::anyhow!("opening the object directory {}: {e:?}", root.display())
        })?;
        let mut builder = S3ServiceBuilder::new(fs);
        builder.set_auth(SimpleAuth::from_single(LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY));
        let service = builder.build();
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .context("binding the S3 port")?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let mut accepting = stopped.clone();
        tokio::spawn(async move {
            loop {
                let socket = tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok((socket, _)) => socket,
                        Err(_) => continue,
                    },
                    _ = accepting.changed() => return,
                };
                let service = service.clone();
                let mut stopped = stopped.clone();
                tokio::spawn(async move {
                    let connection = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(socket), service);
                    tokio::select! {
                        result = connection => {
                            if let Err(e) = result {
                                tracing::debug!(error = %e, "s3 connection ended with an error");
                            }
                        }
                        // Dropping the connection closes its socket, keep-alive or not.
                        _ = stopped.changed() => {}
                    }
                });
            }
        });
        Ok(Self { addr, stop })
    }

    /// The endpoint URL to give aws-sdk-s3 (`S3_ENDPOINT`).
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for EmbeddedS3 {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}
