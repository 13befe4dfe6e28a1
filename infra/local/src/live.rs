//! The live channel of the local gateway: `GET /api/sync/stream?ticket=` as a WebSocket, and
//! the hub that tells its sockets "pull now" (see `shared::sync::live` for the channel).
//!
//! A request with a missing, altered or expired ticket is a 401 problem+json, before any
//! upgrade. A socket is recorded in Postgres (endpoint: this hub's id) before the upgrade is
//! answered, so every change committed after the browser sees the socket open reaches it. The
//! server sends text messages only (`{"type":"sync.poke","collections":[...]}`) and a ping every
//! [`PING_EVERY`]; it reads nothing but the close.
//!
//! The hub starts with its first socket: a task that drains the recorded changes when Postgres
//! notifies a commit (`LISTEN` on a connection of its own), when a write request of this process
//! succeeded, and every [`POLL_EVERY`] anyway, since a transaction-mode pooler (pgbouncer, which
//! the suite uses) does not keep a `LISTEN`, and a job's write is no request. It refreshes its
//! sockets' rows every [`SEEN_EVERY`], so they are not taken for stale, and ends with the router
//! that made it.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, Weak, atomic::AtomicBool, atomic::Ordering},
    time::Duration,
};

use axum::{
    Router,
    extract::{
        State,
        ws::{Message, WebSocket, WebSocketUpgrade, rejection::WebSocketUpgradeRejection},
    },
    response::{IntoResponse, Response},
    routing::get,
};
use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use shared::{
    AppState, Error,
    auth::Caller,
    db,
    http::Query,
    sync::live::{self, Listener},
};
use tokio::sync::{Notify, mpsc};

/// How often a socket is pinged (browsers and proxies close a silent one).
pub const PING_EVERY: Duration = Duration::from_secs(25);

/// How often the hub drains whatever Postgres did not notify.
pub const POLL_EVERY: Duration = Duration::from_millis(500);

/// How often the hub marks its sockets as still open.
const SEEN_EVERY: Duration = Duration::from_secs(60);

/// How long the hub waits before it tries `LISTEN` again after a failure (it polls meanwhile).
const LISTEN_RETRY: Duration = Duration::from_secs(30);

/// Changes one drain takes at most.
const DRAIN_BATCH: i32 = 1000;

/// Pokes waiting to be written to one socket; more are dropped (the socket is behind, and one
/// poke is as good as many).
const QUEUED_PER_SOCKET: usize = 8;

/// The local gateway's live sockets and the task that pokes them.
pub struct Hub {
    /// This process's endpoint id in `live_connections`.
    endpoint: String,
    state: AppState,
    sockets: Mutex<HashMap<String, mpsc::Sender<String>>>,
    /// Told after each successful write request of this process.
    wake: live::Wake,
    started: AtomicBool,
    /// The last drain failed (the database is down): said once, not at every poll.
    failing: AtomicBool,
}

impl Hub {
    /// A hub for `state`'s database; nothing runs until a socket opens.
    pub fn new(state: AppState) -> Arc<Self> {
        Arc::new(Self {
            endpoint: format!("local:{}", uuid::Uuid::new_v4()),
            state,
            sockets: Mutex::default(),
            wake: Arc::new(Notify::new()),
            started: AtomicBool::new(false),
            failing: AtomicBool::new(false),
        })
    }

    /// What a write request tells the hub (goes in `AppState::writes`).
    pub fn wake(&self) -> live::Wake {
        self.wake.clone()
    }

    fn start(self: &Arc<Self>) {
        if !self.started.swap(true, Ordering::SeqCst) {
            tokio::spawn(run(Arc::downgrade(self)));
        }
    }

    fn has_sockets(&self) -> bool {
        !self.sockets.lock().expect("not poisoned").is_empty()
    }

    /// Drains the changes committed so far and hands each poke to its socket.
    async fn drain(&self) {
        for _ in 0..10 {
            let pokes = db::transact(&self.state.db, &Caller::System, async |tx| {
                db::live::drain(tx, &self.endpoint, DRAIN_BATCH).await
            })
            .await;
            let pokes = match pokes {
                Err(e) => {
                    if !self.failing.swap(true, Ordering::SeqCst) {
                        tracing::warn!(error = ?e, "draining live changes failed; trying again at each poll");
                    }
                    return;
                }
                Ok(pokes) => {
                    if self.failing.swap(false, Ordering::SeqCst) {
                        tracing::info!("draining live changes again");
                    }
                    if pokes.is_empty() {
                        return;
                    }
                    pokes
                }
            };
            let sockets = self.sockets.lock().expect("not poisoned");
            for poke in pokes {
                if let Some(socket) = sockets.get(&poke.connection_id) {
                    let _ = socket.try_send(live::message(&poke.collections));
                }
            }
        }
    }

    /// Serves one upgraded socket, recorded as `id`, until either side closes it.
    async fn serve(self: Arc<Self>, socket: WebSocket, id: String) {
        let (sender, mut pokes) = mpsc::channel(QUEUED_PER_SOCKET);
        self.sockets
            .lock()
            .expect("not poisoned")
            .insert(id.clone(), sender);
        self.start();
        let (mut sink, mut incoming) = socket.split();
        let mut ping =
            tokio::time::interval_at(tokio::time::Instant::now() + PING_EVERY, PING_EVERY);
        loop {
            tokio::select! {
                poke = pokes.recv() => match poke {
                    Some(text) => if sink.send(Message::Text(text.into())).await.is_err() { break },
                    None => break,
                },
                _ = ping.tick() => if sink.send(Message::Ping(Default::default())).await.is_err() { break },
                message = incoming.next() => match message {
                    None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break,
                    Some(Ok(_)) => {}
                },
            }
        }
        self.sockets.lock().expect("not poisoned").remove(&id);
        forget(&self.state, id).await;
    }
}

async fn forget(state: &AppState, id: String) {
    if let Err(e) = live::disconnect(state, &[id]).await {
        tracing::warn!(error = ?e, "forgetting a live socket failed");
    }
}

/// The hub's task: drains on a notification, a write, or the poll, while its router lives.
async fn run(hub: Weak<Hub>) {
    let Some((state, wake, endpoint)) = hub
        .upgrade()
        .map(|h| (h.state.clone(), h.wake.clone(), h.endpoint.clone()))
    else {
        return;
    };
    let mut notifications: Option<db::live::Notifications> = None;
    let mut listen_at = tokio::time::Instant::now();
    let mut poll = tokio::time::interval(POLL_EVERY);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut seen = tokio::time::interval(SEEN_EVERY);
    loop {
        if notifications.is_none() && tokio::time::Instant::now() >= listen_at {
            listen_at = tokio::time::Instant::now() + LISTEN_RETRY;
            notifications = db::live::listen(&state.config.database.url, &state.config.database)
                .await
                .inspect_err(|e| tracing::warn!(error = %format!("{e:#}"), "not listening for live changes; polling"))
                .ok();
        }
        tokio::select! {
            received = async {
                match &mut notifications {
                    Some(listening) => listening.recv().await,
                    None => std::future::pending().await,
                }
            } => if received.is_none() { notifications = None },
            () = wake.notified() => {}
            _ = poll.tick() => {}
            _ = seen.tick() => {
                let refreshed = db::transact(&state.db, &Caller::System, async |tx| {
                    db::live::seen(tx, &endpoint).await
                })
                .await;
                if let Err(e) = refreshed {
                    tracing::warn!(error = ?e, "refreshing the live sockets failed");
                }
            }
        }
        let Some(hub) = hub.upgrade() else {
            return;
        };
        if hub.has_sockets() {
            hub.drain().await;
        }
    }
}

#[derive(Debug, Deserialize)]
struct StreamQuery {
    ticket: Option<String>,
}

/// `GET /api/sync/stream?ticket=`: a WebSocket for the ticket's caller.
async fn stream(
    State((state, hub)): State<(AppState, Arc<Hub>)>,
    Query(query): Query<StreamQuery>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, Error> {
    let listener: Listener = query
        .ticket
        .as_deref()
        .and_then(|t| live::open_ticket(&state.tickets, t, time::OffsetDateTime::now_utc()))
        .ok_or(Error::Unauthorized)?;
    let upgrade =
        upgrade.map_err(|e| Error::BadRequest(format!("not a WebSocket handshake: {e}")))?;
    let id = uuid::Uuid::new_v4().to_string();
    live::connect(&state, &id, &hub.endpoint, listener).await?;
    let failed = (state.clone(), id.clone());
    Ok(upgrade
        .on_failed_upgrade(move |_| {
            tokio::spawn(async move { forget(&failed.0, failed.1).await });
        })
        .on_upgrade(move |socket| hub.serve(socket, id))
        .into_response())
}

/// The live endpoint's route, served by `hub`.
pub fn routes(state: AppState, hub: Arc<Hub>) -> Router {
    Router::new()
        .route(live::PATH, get(stream))
        .with_state((state, hub))
}
