//! A local stand-in for Whapi.Cloud speaking its wire format: `POST /messages/text` with a bearer
//! token and `{to, body}`, answering `{sent, message: {id, ...}}`, and `GET
//! /messages/list/{chat_id}` listing what it sent. It can fail the next N sends with a 500,
//! take a send and answer only after the client's timeout (a slow provider that did deliver),
//! lose a send without ever answering, reject given numbers as a 400, or refuse every listing.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Json, Router,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::IntoResponse,
    routing::{get, post},
};
use serde_json::{Value, json};

pub const TOKEN: &str = "fake-whapi-token";

#[derive(Default)]
struct Inner {
    fail_next: usize,
    hang_next: usize,
    lose_next: usize,
    reject: HashSet<String>,
    delay: Duration,
    /// What `GET /messages/list` answers instead of a listing, when set.
    list_refusal: Option<StatusCode>,
    /// Successful sends: (chat id, body).
    delivered: Vec<(String, String)>,
    /// The same, as listed by `GET /messages/list`: (id, chat id, body, unix time).
    listed: Vec<(String, String, String, i64)>,
    calls: usize,
}

/// A running fake.
#[derive(Clone)]
pub struct FakeWhapi {
    inner: Arc<Mutex<Inner>>,
    pub url: String,
}

/// Whapi's 401 for a request without our bearer token.
fn authorized(headers: &HeaderMap) -> Result<(), (StatusCode, Json<Value>)> {
    if headers.get("authorization").and_then(|v| v.to_str().ok())
        == Some(&format!("Bearer {TOKEN}"))
    {
        return Ok(());
    }
    Err((
        StatusCode::UNAUTHORIZED,
        Json(json!({ "error": { "code": 401, "message": "Unauthorized" } })),
    ))
}

async fn send(
    State(fake): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> impl IntoResponse {
    if let Err(refused) = authorized(&headers) {
        return refused;
    }
    let to = body["to"].as_str().unwrap_or_default().to_owned();
    let text = body["body"].as_str().unwrap_or_default().to_owned();
    let (hang, lose, fail, reject, delay) = {
        let mut inner = fake.lock().unwrap();
        inner.calls += 1;
        let hang = inner.hang_next > 0;
        inner.hang_next = inner.hang_next.saturating_sub(1);
        let lose = !hang && inner.lose_next > 0;
        inner.lose_next -= usize::from(lose);
        let fail = !hang && !lose && inner.fail_next > 0;
        inner.fail_next -= usize::from(fail);
        (hang, lose, fail, inner.reject.contains(&to), inner.delay)
    };
    if lose {
        // Taken, never sent, never answered.
        tokio::time::sleep(Duration::from_secs(60)).await;
    }
    if fail {
        tokio::time::sleep(delay).await;
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({ "error": { "code": 500, "message": "Internal error" } })),
        );
    }
    if reject || !to.ends_with("@s.whatsapp.net") {
        tokio::time::sleep(delay).await;
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": { "code": 400, "message": "Invalid recipient" } })),
        );
    }
    // Sent as soon as it is taken, whether or not the answer reaches the client.
    let id = format!("wamid-{}", uuid::Uuid::new_v4().simple());
    {
        let mut inner = fake.lock().unwrap();
        inner.delivered.push((to.clone(), text.clone()));
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        inner
            .listed
            .push((id.clone(), to.clone(), text.clone(), now));
    }
    if hang {
        tokio::time::sleep(Duration::from_secs(12)).await;
    }
    tokio::time::sleep(delay).await;
    (
        StatusCode::OK,
        Json(json!({
            "sent": true,
            "message": { "id": id, "from_me": true, "type": "text", "chat_id": to, "status": "pending",
                         "text": { "body": text }, "timestamp": 1795253400 }
        })),
    )
}

/// `GET /messages/list/{chat_id}?time_from=&count=`: the messages sent to a chat, newest first.
async fn list(
    State(fake): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    Path(chat): Path<String>,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> impl IntoResponse {
    if let Err(refused) = authorized(&headers) {
        return refused;
    }
    let from: i64 = query
        .get("time_from")
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    let count: usize = query
        .get("count")
        .and_then(|c| c.parse().ok())
        .unwrap_or(100);
    let inner = fake.lock().unwrap();
    if let Some(status) = inner.list_refusal {
        return (
            status,
            Json(json!({ "error": { "code": status.as_u16(), "message": "Not found" } })),
        );
    }
    let messages: Vec<Value> = inner
        .listed
        .iter()
        .rev()
        .filter(|(_, to, _, at)| *to == chat && *at >= from)
        .take(count)
        .map(|(id, to, body, at)| {
            json!({ "id": id, "from_me": true, "type": "text", "chat_id": to, "timestamp": at,
                    "source": "api", "text": { "body": body } })
        })
        .collect();
    let total = messages.len();
    (
        StatusCode::OK,
        Json(json!({ "messages": messages, "count": total, "total": total })),
    )
}

impl FakeWhapi {
    pub async fn start() -> Self {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let app = Router::new()
            .route("/messages/text", post(send))
            .route("/messages/list/{chat_id}", get(list))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { inner, url }
    }

    /// The next `n` sends answer 500.
    pub fn fail_next(&self, n: usize) {
        self.inner.lock().unwrap().fail_next = n;
    }

    /// The next `n` sends are sent at once but answered only past the client's timeout.
    pub fn hang_next(&self, n: usize) {
        self.inner.lock().unwrap().hang_next = n;
    }

    /// The next `n` sends are taken and lost: never sent, never answered.
    pub fn lose_next(&self, n: usize) {
        self.inner.lock().unwrap().lose_next = n;
    }

    /// Sends to this E.164 number are refused as an invalid recipient.
    pub fn reject(&self, e164: &str) {
        self.inner
            .lock()
            .unwrap()
            .reject
            .insert(format!("{}@s.whatsapp.net", e164.trim_start_matches('+')));
    }

    /// Every listing of a chat's messages answers `status` (404, 401, ...) from now on.
    pub fn refuse_lists(&self, status: StatusCode) {
        self.inner.lock().unwrap().list_refusal = Some(status);
    }

    /// Every answer waits this long (to widen race windows).
    pub fn delay(&self, delay: Duration) {
        self.inner.lock().unwrap().delay = delay;
    }

    /// Successful sends, as (chat id, body).
    pub fn delivered(&self) -> Vec<(String, String)> {
        self.inner.lock().unwrap().delivered.clone()
    }

    pub fn calls(&self) -> usize {
        self.inner.lock().unwrap().calls
    }

    /// Configures a platform to send through this fake, quickly and without waiting to retry.
    pub fn configure(&self, config: &mut shared::Config) {
        config.messaging.whapi_token = Some(shared::config::Secret::new(TOKEN));
        config.messaging.whapi_base_url = self.url.clone();
        config.messaging.per_second = 1000;
        config.messaging.retry_base = Duration::ZERO;
        config.messaging.doubt_settle = Duration::ZERO;
        config.messaging.send_timeout = Duration::from_secs(1);
        config.messaging.webhook_secret = Some(shared::config::Secret::new(WEBHOOK_SECRET));
    }
}

/// The webhook secret of platforms configured by [`FakeWhapi::configure`].
pub const WEBHOOK_SECRET: &str = "fake-webhook-secret";
