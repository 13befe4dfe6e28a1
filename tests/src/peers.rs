//! Two platforms that sync: a cloud served on a real port behind a proxy that can fail on
//! purpose, and a venue whose remote is that proxy.

use std::{
    collections::VecDeque,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{Router, body::Body, extract::Request, response::Response};
use http::StatusCode;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::{StaffSession, TestApp};

/// What the proxy does with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answers 503 without passing the request on (the remote down, or stopped mid-request
    /// before it committed).
    Unavailable,
    /// Passes the request on (the remote commits), then breaks the connection as the answer
    /// begins: the answer is lost.
    LoseAnswer,
    /// Never answers, and passes nothing on (a timeout).
    Hang,
}

/// A proxy in front of a platform's router, on a real port.
#[derive(Clone)]
pub struct Proxy {
    pub url: String,
    faults: Arc<Mutex<VecDeque<(String, Fault)>>>,
    seen: Arc<Mutex<Vec<(String, usize, usize)>>>,
    /// Requests being handled by the platform behind.
    in_flight: Arc<AtomicUsize>,
}

impl Proxy {
    pub async fn start(behind: Router) -> Self {
        let faults: Arc<Mutex<VecDeque<(String, Fault)>>> = Arc::default();
        let seen: Arc<Mutex<Vec<(String, usize, usize)>>> = Arc::default();
        let in_flight = Arc::new(AtomicUsize::new(0));
        let (f, s, i) = (faults.clone(), seen.clone(), in_flight.clone());
        let app = Router::new().fallback(move |request: Request| {
            let (behind, faults, seen, in_flight) =
                (behind.clone(), f.clone(), s.clone(), i.clone());
            async move { forward(behind, faults, seen, in_flight, request).await }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            url,
            faults,
            seen,
            in_flight,
        }
    }

    /// Waits until the platform behind has finished every request passed on (one whose caller
    /// gave up included).
    pub async fn idle(&self) {
        while self.in_flight.load(Ordering::SeqCst) > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The next request whose path contains `path` meets `fault`.
    pub fn fault(&self, path: &str, fault: Fault) {
        self.faults
            .lock()
            .unwrap()
            .push_back((path.to_owned(), fault));
    }

    /// Requests that reached the proxy: path, bytes of body sent, bytes of body answered.
    pub fn seen(&self) -> Vec<(String, usize, usize)> {
        self.seen.lock().unwrap().clone()
    }
}

async fn forward(
    behind: Router,
    faults: Arc<Mutex<VecDeque<(String, Fault)>>>,
    seen: Arc<Mutex<Vec<(String, usize, usize)>>>,
    in_flight: Arc<AtomicUsize>,
    request: Request,
) -> Response {
    let path = request.uri().path().to_owned();
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    seen.lock().unwrap().push((path.clone(), bytes.len(), 0));
    let fault = {
        let mut faults = faults.lock().unwrap();
        let at = faults.iter().position(|(p, _)| path.contains(p.as_str()));
        at.and_then(|i| faults.remove(i)).map(|(_, f)| f)
    };
    let request = Request::from_parts(parts, Body::from(bytes));
    match fault {
        Some(Fault::Unavailable) => Response::builder()
            .status(StatusCode::SERVICE_UNAVAILABLE)
            .header("retry-after", "1")
            .body(Body::from("down for maintenance"))
            .unwrap(),
        Some(Fault::Hang) => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            unreachable!()
        }
        Some(Fault::LoseAnswer) => {
            // In a task of its own, so that the caller giving up does not cancel it.
            in_flight.fetch_add(1, Ordering::SeqCst);
            let handle = tokio::spawn(async move {
                let answer = behind.oneshot(request).await.unwrap();
                in_flight.fetch_sub(1, Ordering::SeqCst);
                answer
            });
            let _committed = handle.await;
            // The answer begins, then the connection breaks: the caller never reads it.
            let broken = futures::stream::iter([Err::<Vec<u8>, std::io::Error>(
                std::io::Error::other("connection lost"),
            )]);
            Response::builder()
                .status(StatusCode::OK)
                .header("content-type", "application/json")
                .header("content-length", "4096")
                .body(Body::from_stream(broken))
                .unwrap()
        }
        None => {
            in_flight.fetch_add(1, Ordering::SeqCst);
            let answer = tokio::spawn(async move {
                let answer = behind.oneshot(request).await.unwrap();
                in_flight.fetch_sub(1, Ordering::SeqCst);
                answer
            });
            let (parts, body) = answer.await.unwrap().into_parts();
            let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
            if let Some(last) = seen.lock().unwrap().iter_mut().rev().find(|s| s.0 == path) {
                last.2 = body.len();
            }
            Response::from_parts(parts, Body::from(body))
        }
    }
}

/// A cloud, its admin, a proxy in front of it, and a venue syncing with it through the proxy
/// as a peer the cloud's admin created.
pub struct Pair {
    pub cloud: TestApp,
    pub cloud_admin: StaffSession,
    pub proxy: Proxy,
    pub venue: TestApp,
    pub venue_admin: StaffSession,
}

impl Pair {
    pub async fn start() -> Self {
        let cloud = TestApp::spawn().await;
        let cloud_admin = cloud.admin().await;
        let created = cloud_admin
            .post_json(
                "/api/sync/peers",
                &json!({"name": "Salle des fêtes d'Akanda"}),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.value());
        let secret = created.value()["secret"].as_str().unwrap().to_owned();
        let proxy = Proxy::start(cloud.http.router()).await;
        let url = proxy.url.clone();
        let venue = TestApp::spawn_with(move |config| {
            config.sync.remote = Some(shared::config::RemoteConfig {
                url,
                secret: shared::secret::Secret::new(secret),
                timeout: Duration::from_secs(30),
            });
        })
        .await;
        let venue_admin = venue.admin().await;
        Self {
            cloud,
            cloud_admin,
            proxy,
            venue,
            venue_admin,
        }
    }

    /// One run of the venue, by its admin (`POST /api/sync/run`): the report.
    pub async fn sync(&self) -> Value {
        let answer = self
            .venue_admin
            .post_json("/api/sync/run", &json!({}))
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.value());
        answer.value()
    }

    /// The position (transaction id) every transaction begun on `app`'s server so far is
    /// below. A pull or scan stops at the oldest transaction still running on the server
    /// (other tests' included), so "nothing more" alone can mean "not yet".
    async fn now_xid(app: &TestApp) -> u64 {
        let target: String = app
            .db()
            .await
            .query_one("select pg_snapshot_xmax(pg_current_snapshot())::text", &[])
            .await
            .unwrap()
            .get(0);
        target.parse().unwrap()
    }

    /// Waits until every transaction begun so far on the server has ended, so that the next
    /// run's scan and pull see all that was written before this call.
    pub async fn quiesce(&self) {
        let target = Self::now_xid(&self.venue)
            .await
            .max(Self::now_xid(&self.cloud).await);
        let db = self.venue.db().await;
        loop {
            let xmin: String = db
                .query_one("select pg_snapshot_xmin(pg_current_snapshot())::text", &[])
                .await
                .unwrap()
                .get(0);
            if xmin.parse::<u64>().unwrap() >= target {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Where the venue's scan of its own changes (its least advanced collection) and its pull of
    /// the cloud's stand.
    async fn positions(&self) -> (u64, u64) {
        let row = self
            .venue
            .db()
            .await
            .query_one("select scan, pull_cursor from sync_remotes", &[])
            .await
            .unwrap();
        let scan: Value = row.get(0);
        let scanned = shared::sync::Collection::REPLICATED
            .iter()
            .map(|c| {
                scan.get(c.name())
                    .and_then(|at| at.get(0)?.as_str()?.parse().ok())
                    .unwrap_or(0)
            })
            .min()
            .unwrap_or(0);
        let pull: Option<String> = row.get(1);
        let pulled = pull.map_or(0, |c| shared::sync::Cursor::decode(&c).unwrap().xid);
        (scanned, pulled)
    }

    /// Runs until the venue has pushed every change made on it and pulled every change made on
    /// the cloud before this call (for two minutes at most: other tests' transactions on the
    /// same server hold pulls back while they run); the reports.
    pub async fn sync_through(&self) -> Vec<Value> {
        let (venue, cloud) = (
            Self::now_xid(&self.venue).await,
            Self::now_xid(&self.cloud).await,
        );
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        let mut reports = Vec::new();
        while tokio::time::Instant::now() < deadline {
            let report = self.sync().await;
            let ok = report["status"] == "succeeded";
            reports.push(report);
            let (scanned, pulled) = self.positions().await;
            if ok && scanned >= venue && pulled >= cloud {
                return reports;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("not caught up: {reports:#?}");
    }

    /// Runs until both sides have exchanged everything and a run finds nothing left to do
    /// (after at most `max` rounds of [`sync_through`](Self::sync_through)); the reports.
    pub async fn settle(&self, max: usize) -> Vec<Value> {
        let mut reports = Vec::new();
        for _ in 0..max {
            let round = self.sync_through().await;
            let quiet = round
                .last()
                .is_some_and(|r| r["pushed"] == 0 && r["pulled"] == 0)
                && round.iter().all(|r| r["pushed"] == 0 && r["pulled"] == 0);
            reports.extend(round);
            if quiet {
                return reports;
            }
        }
        panic!("no quiet run after {max} rounds: {reports:#?}");
    }
}
