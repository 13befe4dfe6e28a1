//! A local stand-in for API Gateway's management API of a WebSocket API, speaking its wire
//! format: `POST /<stage>/@connections/{connectionId}` with the message as the raw body, signed
//! with SigV4 for `execute-api`; 200 with an empty body when delivered, and 410 with
//! `x-amzn-ErrorType: GoneException` for a connection the test marked gone (as API Gateway
//! answers for a closed one), and 500 `InternalServerErrorException` for one it marked failing.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
};

use axum::{
    Router,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
};

/// The stage the fake's URL names, as the template's `LiveStage`.
pub const STAGE: &str = "live";

/// Static keys the functions sign with against the fake.
pub const ACCESS_KEY_ID: &str = "AKIDFAKEAPIGW";
pub const SECRET_ACCESS_KEY: &str = "fake-apigw-secret";

#[derive(Default)]
struct Inner {
    gone: HashSet<String>,
    failing: HashSet<String>,
    /// Delivered posts: (connection id, body).
    delivered: Vec<(String, String)>,
    /// Every post, delivered or not: connection ids in order.
    posted: Vec<String>,
    /// Posts without a SigV4 signature for `execute-api`.
    unsigned: usize,
}

/// A running fake.
#[derive(Clone)]
pub struct FakeApiGateway {
    inner: Arc<Mutex<Inner>>,
    /// The management endpoint: `http://127.0.0.1:<port>/live`.
    pub url: String,
}

async fn post_to_connection(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let signed = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.starts_with("AWS4-HMAC-SHA256 ") && v.contains("/execute-api/aws4_request")
        });
    let mut inner = inner.lock().unwrap();
    inner.posted.push(id.clone());
    if !signed {
        inner.unsigned += 1;
    }
    if inner.gone.contains(&id) {
        return (
            StatusCode::GONE,
            [
                ("x-amzn-errortype", "GoneException"),
                ("content-type", "application/json"),
            ],
            r#"{"message":null}"#,
        )
            .into_response();
    }
    if inner.failing.contains(&id) {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            [
                ("x-amzn-errortype", "InternalServerErrorException"),
                ("content-type", "application/json"),
            ],
            r#"{"message":"Internal server error"}"#,
        )
            .into_response();
    }
    inner
        .delivered
        .push((id, String::from_utf8_lossy(&body).into_owned()));
    StatusCode::OK.into_response()
}

impl FakeApiGateway {
    pub async fn start() -> Self {
        let inner: Arc<Mutex<Inner>> = Arc::default();
        let app = Router::new()
            .route(
                &format!("/{STAGE}/@connections/{{id}}"),
                post(post_to_connection),
            )
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/{STAGE}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { inner, url }
    }

    /// The configuration a function fanning out to this fake runs with.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("LIVE_MANAGEMENT_URL", self.url.clone()),
            ("LIVE_MANAGEMENT_ACCESS_KEY_ID", ACCESS_KEY_ID.into()),
            (
                "LIVE_MANAGEMENT_SECRET_ACCESS_KEY",
                SECRET_ACCESS_KEY.into(),
            ),
        ]
    }

    /// From now on, posts to `id` answer 410 Gone.
    pub fn close(&self, id: &str) {
        self.inner.lock().unwrap().gone.insert(id.to_owned());
    }

    /// From now on, posts to `id` answer 500 (API Gateway failing, not the connection).
    pub fn fail(&self, id: &str) {
        self.inner.lock().unwrap().failing.insert(id.to_owned());
    }

    /// Takes the delivered posts so far: (connection id, body), in order.
    pub fn take_delivered(&self) -> Vec<(String, String)> {
        std::mem::take(&mut self.inner.lock().unwrap().delivered)
    }

    /// Every connection id posted to so far, delivered or not.
    pub fn posted(&self) -> Vec<String> {
        self.inner.lock().unwrap().posted.clone()
    }

    /// Posts that carried no SigV4 signature for `execute-api`.
    pub fn unsigned(&self) -> usize {
        self.inner.lock().unwrap().unsigned
    }
}
