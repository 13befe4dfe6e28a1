//! Queries of the live channel (migration 0021): open connections, the changes the synced
//! tables' triggers record in the writing transaction, and the drain that turns them into pokes
//! for the connections whose caller may see them. Every call is one statement of a definer
//! function, safe behind a transaction-mode pooler; [`listen`] is the one thing that needs a
//! connection of its own.

use std::time::Duration;

use anyhow::Context;
use futures::StreamExt;
use tokio::sync::mpsc;
use uuid::Uuid;

use super::{Db, p, row::failed};
use crate::{
    auth::StudentIdentity,
    config::{DatabaseConfig, Secret},
    error::Result,
};

/// The channel the recording triggers notify at commit.
pub const CHANNEL: &str = "live_changes";

/// Records connection `id`, delivered by `endpoint`, of a staff account or a student.
pub async fn connect(
    db: &impl Db,
    id: &str,
    endpoint: &str,
    staff: Option<Uuid>,
    student: Option<StudentIdentity>,
) -> Result<()> {
    db.exec(
        "select live_connect($1, $2, $3, $4, $5, $6)",
        &[
            p(&id),
            p(&endpoint),
            p(&staff),
            p(&student.map(|s| s.inscription_id)),
            p(&student.map(|s| s.profile_id)),
            p(&student.map(|s| s.masterclass_id)),
        ],
    )
    .await
    .map_err(failed(format!("recording live connection {id}")))?;
    Ok(())
}

/// Forgets connections `ids` (closed, or gone) and the pokes waiting for them.
pub async fn disconnect(db: &impl Db, ids: &[String]) -> Result<i64> {
    let row = db
        .one("select live_disconnect($1) as gone", &[p(&ids)])
        .await
        .map_err(failed("forgetting live connections"))?;
    Ok(row.try_get("gone")?)
}

/// The connections of `endpoint` are still open.
pub async fn seen(db: &impl Db, endpoint: &str) -> Result<()> {
    db.exec("select live_seen($1)", &[p(&endpoint)])
        .await
        .map_err(failed(format!(
            "refreshing the live connections of {endpoint}"
        )))?;
    Ok(())
}

/// A poke due to one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Poke {
    pub connection_id: String,
    /// Sorted, each once.
    pub collections: Vec<String>,
}

/// Takes up to `limit` recorded changes and answers the pokes due to `endpoint`'s connections
/// (pokes due to other endpoints' are kept for them). Run after the writes committed.
pub async fn drain(db: &impl Db, endpoint: &str, limit: i32) -> Result<Vec<Poke>> {
    let rows = db
        .all(
            "select connection_id, collections from live_drain($1, $2)",
            &[p(&endpoint), p(&limit)],
        )
        .await
        .map_err(failed(format!("draining live changes for {endpoint}")))?;
    rows.iter()
        .map(|r| {
            Ok(Poke {
                connection_id: r.try_get("connection_id")?,
                collections: r.try_get("collections")?,
            })
        })
        .collect()
}

/// Drops changes and kept pokes older than `changes`, and connections unseen for `connections`.
pub async fn housekeeping(db: &impl Db, changes: Duration, connections: Duration) -> Result<i64> {
    let row = db
        .one(
            "select live_housekeeping(make_interval(secs => $1), make_interval(secs => $2)) as dropped",
            &[p(&changes.as_secs_f64()), p(&connections.as_secs_f64())],
        )
        .await
        .map_err(failed("dropping old live changes and connections"))?;
    Ok(row.try_get("dropped")?)
}

/// Notifications of [`CHANNEL`] on a connection of their own: each `recv` is one or more commits
/// that recorded changes. Behind a transaction-mode pooler a `LISTEN` is not kept, and nothing
/// arrives: whoever listens also polls.
pub struct Notifications {
    _client: tokio_postgres::Client,
    received: mpsc::Receiver<()>,
}

impl Notifications {
    /// The next notification; `None` once the connection is lost.
    pub async fn recv(&mut self) -> Option<()> {
        self.received.recv().await
    }
}

/// Opens a connection to `url` (TLS as the pool would) that listens on [`CHANNEL`].
pub async fn listen(url: &Secret, config: &DatabaseConfig) -> anyhow::Result<Notifications> {
    let pg: tokio_postgres::Config = url
        .expose()
        .parse()
        .context("DATABASE_URL is not a valid Postgres URL")?;
    // One pending wake-up is enough: a drain takes whatever committed before it.
    let (sender, received) = mpsc::channel(1);
    let client = match super::pool::tls_for(&pg, config)? {
        None => {
            let (client, connection) = pg.connect(tokio_postgres::NoTls).await?;
            tokio::spawn(forward(connection, sender));
            client
        }
        Some(tls) => {
            let (client, connection) = pg.connect(tls).await?;
            tokio::spawn(forward(connection, sender));
            client
        }
    };
    client
        .batch_execute(&format!("listen {CHANNEL}"))
        .await
        .context("listening for live changes")?;
    Ok(Notifications {
        _client: client,
        received,
    })
}

/// Drives `connection`, passing each notification on, until it or the receiver ends.
async fn forward<S, T>(mut connection: tokio_postgres::Connection<S, T>, sender: mpsc::Sender<()>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
    while let Some(message) = messages.next().await {
        match message {
            Ok(tokio_postgres::AsyncMessage::Notification(_)) => {
                if let Err(mpsc::error::TrySendError::Closed(())) = sender.try_send(()) {
                    return;
                }
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "the live changes listener lost its connection");
                return;
            }
        }
    }
}
