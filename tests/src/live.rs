//! The live channel as a browser meets it: the gateway's router served on a real port, a ticket
//! from `POST /api/sync/stream/ticket`, and a real WebSocket client (tokio-tungstenite) reading
//! the pokes.

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use futures::StreamExt;
use serde_json::Value;
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream,
    tungstenite::{self, Message},
};

use crate::InProcess;

/// A router served on a loopback port until dropped.
pub struct Served {
    pub addr: SocketAddr,
    server: tokio::task::JoinHandle<()>,
}

impl Served {
    /// Serves `http`'s router (the same one, hub included) as `cargo run` does.
    pub async fn start(http: &InProcess) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = http.router();
        let server = tokio::spawn(async move {
            let _ = axum::serve(
                listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await;
        });
        Self { addr, server }
    }

    /// A URL of this server.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// A ticket for the bearer of `token`, asked over HTTP as a browser would: the answer's body.
    pub async fn ticket(&self, token: &str) -> Value {
        let answer = reqwest::Client::new()
            .post(self.url("/api/sync/stream/ticket"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200, "{:?}", answer.text().await);
        answer.json().await.unwrap()
    }

    /// Opens the live channel as the bearer of `token`: a ticket, then its `url`; then lets pass
    /// the pokes of changes made just before it opened. (A connection hears of every transaction
    /// that had not ended before the oldest one still running on the server when it was
    /// recorded, as a pull's horizon is drawn, and the suite's other tests keep transactions
    /// running: such a poke is a harmless hint to pull again, but these tests count pokes.)
    pub async fn open(&self, token: &str) -> LiveSocket {
        let ticket = self.ticket(token).await;
        let mut socket = LiveSocket::connect(ticket["url"].as_str().unwrap())
            .await
            .expect("the live channel opens");
        while socket.poke(Duration::from_millis(250)).await.is_some() {}
        socket
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// An open live channel.
pub struct LiveSocket {
    socket: WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>,
}

impl LiveSocket {
    /// Opens `url`; a refusal is the server's HTTP answer (status and body).
    pub async fn connect(url: &str) -> Result<Self, (u16, String, String)> {
        match tokio_tungstenite::connect_async(url).await {
            Ok((socket, _)) => Ok(Self { socket }),
            Err(tungstenite::Error::Http(response)) => {
                let content_type = response
                    .headers()
                    .get(http::header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                let body = String::from_utf8_lossy(response.body().as_deref().unwrap_or_default())
                    .into_owned();
                Err((response.status().as_u16(), content_type, body))
            }
            Err(e) => panic!("connecting to {url}: {e}"),
        }
    }

    /// The collections of the next poke within `within`, and how long it took; `None` if none
    /// came. Pings are answered on the way.
    pub async fn poke(&mut self, within: Duration) -> Option<(Vec<String>, Duration)> {
        let start = Instant::now();
        let deadline = start + within;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            let message = tokio::time::timeout(left, self.socket.next())
                .await
                .ok()??;
            match message.expect("the live channel stays readable") {
                Message::Text(text) => {
                    let poke: Value = serde_json::from_str(&text).expect("a poke is JSON");
                    assert_eq!(poke["type"], "sync.poke", "{poke}");
                    assert_eq!(
                        poke.as_object().unwrap().len(),
                        2,
                        "collections only: {poke}"
                    );
                    let collections = poke["collections"]
                        .as_array()
                        .expect("collections")
                        .iter()
                        .map(|c| c.as_str().unwrap().to_owned())
                        .collect();
                    return Some((collections, start.elapsed()));
                }
                Message::Close(_) => return None,
                _ => {}
            }
        }
    }

    /// Asserts that no poke comes within `within`.
    pub async fn silent(&mut self, within: Duration) {
        if let Some((collections, _)) = self.poke(within).await {
            panic!("a poke of {collections:?} reached a socket that may not see the change");
        }
    }

    /// Closes the socket as a browser closing its tab would.
    pub async fn close(mut self) {
        let _ = self.socket.close(None).await;
    }
}
