//! A Lambda Runtime API emulator, to drive a real function binary as AWS would.
//!
//! The function binary is started with `AWS_LAMBDA_RUNTIME_API` pointing here; it long-polls
//! `GET /2018-06-01/runtime/invocation/next`, gets each event we [`invoke`](Runtime::invoke), and
//! posts its answer to `/invocation/{id}/response` (or `/error`). This is the protocol of the
//! real service, so the test exercises the binary's `main`, lambda_http's event decoding, and
//! the response encoding that API Gateway reads.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    process::Stdio,
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use anyhow::{Context, bail};
use axum::{
    Router,
    body::Bytes,
    extract::{Path as UrlPath, State},
    http::{HeaderMap, HeaderValue},
    routing::{get, post},
};
use serde_json::Value;
use tokio::{
    process::{Child, Command},
    sync::{Mutex, mpsc, oneshot},
};

type Pending = Arc<Mutex<HashMap<String, oneshot::Sender<Result<Value, Value>>>>>;

#[derive(Clone)]
struct Emulator {
    events: Arc<Mutex<mpsc::Receiver<(String, Value)>>>,
    pending: Pending,
}

/// A function binary running against the emulator.
pub struct Runtime {
    sender: mpsc::Sender<(String, Value)>,
    pending: Pending,
    child: Child,
    server: tokio::task::JoinHandle<()>,
}

async fn next(State(emulator): State<Emulator>) -> (HeaderMap, String) {
    let (id, event) = emulator
        .events
        .lock()
        .await
        .recv()
        .await
        .expect("the test holds the sender");
    let deadline = SystemTime::now().duration_since(UNIX_EPOCH).unwrap() + Duration::from_secs(30);
    let mut headers = HeaderMap::new();
    headers.insert(
        "lambda-runtime-aws-request-id",
        HeaderValue::from_str(&id).unwrap(),
    );
    headers.insert(
        "lambda-runtime-deadline-ms",
        HeaderValue::from_str(&deadline.as_millis().to_string()).unwrap(),
    );
    headers.insert(
        "lambda-runtime-invoked-function-arn",
        HeaderValue::from_static("arn:aws:lambda:eu-west-3:123456789012:function:e2e"),
    );
    headers.insert(
        "lambda-runtime-trace-id",
        HeaderValue::from_static("Root=1-00000000-000000000000000000000000"),
    );
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    (headers, event.to_string())
}

/// Hands the function's answer to the waiting invocation: `Ok` from `/response`, `Err` from
/// `/error`.
async fn deliver(emulator: &Emulator, id: &str, body: &[u8], ok: bool) -> &'static str {
    let value = serde_json::from_slice(body).unwrap_or(Value::Null);
    if let Some(tx) = emulator.pending.lock().await.remove(id) {
        let _ = tx.send(if ok { Ok(value) } else { Err(value) });
    }
    "{}"
}

async fn respond(
    State(emulator): State<Emulator>,
    UrlPath(id): UrlPath<String>,
    body: Bytes,
) -> &'static str {
    deliver(&emulator, &id, &body, true).await
}

async fn fail(
    State(emulator): State<Emulator>,
    UrlPath(id): UrlPath<String>,
    body: Bytes,
) -> &'static str {
    deliver(&emulator, &id, &body, false).await
}

async fn init_error(body: Bytes) -> &'static str {
    eprintln!("function init error: {}", String::from_utf8_lossy(&body));
    "{}"
}

/// Every binary of the workspace, built once per test run by one `cargo build --workspace
/// --bins` (`cargo test` builds none of the other packages' binaries). Building them together
/// selects the same packages as the test build, so cargo reuses its artifacts and only links.
static BINARIES: std::sync::OnceLock<Result<HashMap<String, PathBuf>, String>> =
    std::sync::OnceLock::new();

fn build_all() -> Result<HashMap<String, PathBuf>, String> {
    let root = crate::workspace_root();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = std::process::Command::new(cargo)
        .current_dir(&root)
        .args([
            "build",
            "--quiet",
            "--workspace",
            "--bins",
            "--message-format",
            "json",
        ])
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("running cargo build: {e}"))?;
    if !output.status.success() {
        return Err("cargo build --workspace --bins failed".into());
    }
    // cargo's JSON messages name each executable it produced, wherever the target dir is.
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact")
        .filter_map(|m| {
            let path = m["executable"].as_str()?;
            Some((
                m["target"]["name"].as_str()?.to_owned(),
                PathBuf::from(path),
            ))
        })
        .collect())
}

/// The path of the workspace binary `name` (package `package`), built on first use.
pub fn build_binary(package: &str, name: &str) -> anyhow::Result<PathBuf> {
    let binaries = BINARIES
        .get_or_init(build_all)
        .as_ref()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    binaries
        .get(name)
        .cloned()
        .with_context(|| format!("no binary {name} in package {package}"))
}

impl Runtime {
    /// Starts the emulator and the function binary at `binary` with the environment `env`.
    pub async fn start(
        binary: &Path,
        function_name: &str,
        env: &[(&str, String)],
    ) -> anyhow::Result<Self> {
        let (sender, receiver) = mpsc::channel(16);
        let pending: Pending = Arc::default();
        let emulator = Emulator {
            events: Arc::new(Mutex::new(receiver)),
            pending: pending.clone(),
        };
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(respond),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(fail))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(emulator);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let mut command = Command::new(binary);
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", function_name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env(
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{function_name}"),
            )
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "2026/11/21/[$LATEST]e2e")
            .env("RUST_LOG", "warn")
            .kill_on_drop(true)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        for (name, value) in env {
            command.env(name, value);
        }
        let child = command
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        Ok(Self {
            sender,
            pending,
            child,
            server,
        })
    }

    /// Sends one event and waits for the function's answer (`Err` for a function error).
    pub async fn invoke(&mut self, event: Value) -> anyhow::Result<Result<Value, Value>> {
        let id = uuid::Uuid::new_v4().to_string();
        let (tx, rx) = oneshot::channel();
        self.pending.lock().await.insert(id.clone(), tx);
        self.sender
            .send((id, event))
            .await
            .context("queueing the event")?;
        tokio::select! {
            answer = rx => Ok(answer.context("the emulator dropped the invocation")?),
            status = self.child.wait() => bail!("the function exited before answering: {status:?}"),
            () = tokio::time::sleep(Duration::from_secs(60)) => bail!("the function did not answer within 60 s"),
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        self.server.abort();
    }
}
