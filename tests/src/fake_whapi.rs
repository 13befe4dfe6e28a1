//! A local stand-in for Whapi.Cloud speaking its wire format: `POST /messages/text` with a bearer
//! token and `{to, body}`, answering `{sent, message: {id, ...}}`. It can fail the next N sends
//! with a 500, hang past the client's timeout, or reject given numbers as a 400.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Json, Router,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::IntoResponse,
    routing::post,
};
use serde_json::{Value, json};

pub const TOKEN: &str = "fake-whapi-token";

#[derive(Default)]
struct Inner {
    fail_next: usize,
    hang_next: usize,
    reject: HashSet<String>,
    delay: Duration,
    /// Successful sends: (chat id, body).
    delivered: Vec<(String, String)>,
    calls: usize,
}

/// A running fake.
#[derive(Clone)]
pub struct FakeWhapi {
    inner: Arc<Mutex<Inner>>,
    pub url: String,
}

async fn send(
    State(fake): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> impl IntoResponse {
    if headers.get("authorization").and_then(|v| v.to_str().ok())
        != Some(&format!("Bearer {TOKEN}"))
    {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({ "error": { "code": 401, "message": "Unauthorized" } })),
        );
    }
    let to = body["to"].as_str().unwrap_or_default().to_owned();
    let text = body["body"].as_str().unwrap_or_default().to_owned();
    let (hang, fail, reject, delay) = {
        let mut inner = fake.lock().unwrap();
        inner.calls += 1;
        let hang = inner.hang_next > 0;
        inner.hang_next = inner.hang_next.saturating_sub(1);
        let fail = !hang && inner.fail_next > 0;
        if fail {
            inner.fail_next -= 1;
        }
        (hang, fail, inner.reject.contains(&to), inner.delay)
    };
    if hang {
        tokio::time::sleep(Duration::from_secs(12)).await;
    }
    tokio::time::sleep(delay).await;
    if fail {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({ "error": { "code": 500, "message": "Internal error" } })),
        );
    }
    if reject || !to.ends_with("@s.whatsapp.net") {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": { "code": 400, "message": "Invalid recipient" } })),
        );
    }
    let id = format!("wamid-{}", uuid::Uuid::new_v4().simple());
    fake.lock()
        .unwrap()
        .delivered
        .push((to.clone(), text.clone()));
    (
        StatusCode::OK,
        Json(json!({
            "sent": true,
            "message": { "id": id, "from_me": true, "type": "text", "chat_id": to, "status": "pending",
                         "text": { "body": text }, "timestamp": 1795253400 }
        })),
    )
}

impl FakeWhapi {
    pub async fn start() -> Self {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let app = Router::new()
            .route("/messages/text", post(send))
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

    /// The next `n` sends hang past the client's timeout.
    pub fn hang_next(&self, n: usize) {
        self.inner.lock().unwrap().hang_next = n;
    }

    /// Sends to this E.164 number are refused as an invalid recipient.
    pub fn reject(&self, e164: &str) {
        self.inner
            .lock()
            .unwrap()
            .reject
            .insert(format!("{}@s.whatsapp.net", e164.trim_start_matches('+')));
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
        config.messaging.webhook_secret = Some(shared::config::Secret::new(WEBHOOK_SECRET));
    }
}

/// The webhook secret of platforms configured by [`FakeWhapi::configure`].
pub const WEBHOOK_SECRET: &str = "fake-webhook-secret";
