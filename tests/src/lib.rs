//! The end-to-end test harness.
//!
//! - One throwaway Postgres cluster per test run (or the server at `TEST_DATABASE_URL`), with a
//!   migrated template database; each test gets a fresh database cloned from it (fast).
//! - One embedded S3 endpoint per test, storing objects in a temporary directory.
//! - [`TestApp`]: the gateway router built on those, driven in-process with typed helpers.
//! - [`lambda`]: a Lambda Runtime API emulator that drives a real function binary.
//! - [`live`]: the router served on a real port and a WebSocket client, for the live channel;
//!   [`fake_apigw`]: API Gateway's management API, for its AWS side.

pub mod bench;
pub mod device;
pub mod fake_apigw;
pub mod fake_openai;
pub mod fake_whapi;
pub mod lambda;
pub mod live;
pub mod peers;
pub use local_gateway::pdfs;
pub mod pgbouncer;

use std::{path::PathBuf, sync::OnceLock};

use anyhow::Context;
use axum::{Router, body::Body};
use http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use local_gateway::{
    postgres::EmbeddedPostgres,
    s3::{self, EmbeddedS3},
};
use serde::de::DeserializeOwned;
use serde_json::Value;
use shared::{AppState, Config};
use tower::ServiceExt;

/// The Postgres server shared by every test of this run.
struct Cluster {
    /// Kept alive for the whole run; the watchdog stops it when the process exits.
    _server: Option<EmbeddedPostgres>,
    /// `postgres://.../` without a database name.
    base_url: String,
    template: String,
}

static CLUSTER: OnceLock<Cluster> = OnceLock::new();

fn cluster() -> &'static Cluster {
    CLUSTER.get_or_init(|| {
        // Initialised on a thread of its own, with a runtime of its own, so nothing it creates
        // is tied to the runtime of whichever test happened to come first.
        std::thread::spawn(|| start_cluster().expect("starting the test Postgres"))
            .join()
            .expect("the thread starting Postgres panicked")
    })
}

fn start_cluster() -> anyhow::Result<Cluster> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (server, base_url) = match std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
    {
        Some(url) => (
            None,
            url.trim_end_matches('/')
                .rsplit_once('/')
                .map(|(base, _)| base.to_owned())
                .unwrap_or(url),
        ),
        None => {
            let dir =
                std::env::temp_dir().join(format!("masterclass-e2e-pg-{}", std::process::id()));
            remove_stale_clusters();
            let server = EmbeddedPostgres::start_with(
                &dir,
                &[
                    ("fsync", "off"),
                    ("synchronous_commit", "off"),
                    ("full_page_writes", "off"),
                ],
            )?;
            let base = format!("postgres://postgres@127.0.0.1:{}", server.port());
            (Some(server), base)
        }
    };
    let template = format!("e2e_template_{}", std::process::id());
    runtime.block_on(async {
        local_gateway::postgres::create_database_if_missing(
            &format!("{base_url}/postgres"),
            &template,
            None,
        )
        .await?;
        let config = config_for(&format!("{base_url}/{template}"), "http://unused").database;
        let pool = shared::db::connect(&config.url, &config)?;
        shared::db::migrate(&pool).await?;
        pool.close();
        local_gateway::postgres::ensure_app_login(&format!("{base_url}/postgres")).await?;
        anyhow::Ok(())
    })?;
    Ok(Cluster {
        _server: server,
        base_url,
        template,
    })
}

/// Clusters of earlier runs whose process is gone (the watchdog stopped their server).
fn remove_stale_clusters() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(pid) = name.strip_prefix("masterclass-e2e-pg-")
            && !PathBuf::from(format!("/proc/{pid}")).exists()
        {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// The HS256 secret of the test platform (tests sign their own bad tokens with it).
pub const JWT_SECRET: &str = "e2e-secret-e2e-secret-e2e-secret-e2e-secret";

/// The configuration the tests run with: a database URL, an S3 endpoint, the local keys, and
/// limits generous enough for a suite that registers many students from one address.
pub fn config_for(database_url: &str, s3_endpoint: &str) -> Config {
    config_with(database_url, s3_endpoint, &[])
}

/// [`config_for`] with some variables set otherwise (`extra` wins over the suite's values).
pub fn config_with(database_url: &str, s3_endpoint: &str, extra: &[(&str, &str)]) -> Config {
    let pairs = [
        ("DATABASE_URL", database_url.to_owned()),
        ("DATABASE_POOL_SIZE", "4".into()),
        ("RUN_MIGRATIONS", "false".into()),
        ("S3_ENDPOINT", s3_endpoint.to_owned()),
        ("S3_ACCESS_KEY_ID", s3::LOCAL_ACCESS_KEY.into()),
        ("S3_SECRET_ACCESS_KEY", s3::LOCAL_SECRET_KEY.into()),
        ("S3_BUCKET", "e2e-bucket".into()),
        ("JWT_SECRET", JWT_SECRET.into()),
        ("REGISTRATIONS_PER_SOURCE_PER_HOUR", "100000".into()),
        ("REGISTRATIONS_PER_NUMBER_PER_DAY", "100000".into()),
        ("MESSAGES_PER_RECIPIENT_PER_DAY", "100000".into()),
        ("LOGIN_FAILURES_PER_SOURCE", "100000".into()),
        ("LOGIN_FAILURES_PER_ACCOUNT", "100000".into()),
    ];
    Config::from_lookup(|name| {
        extra
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
            .or_else(|| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.clone())
            })
    })
    .expect("the test configuration is valid")
}

/// A fresh platform for one test: its own database and its own object store.
pub struct TestApp {
    pub state: AppState,
    /// The superuser's URL of this test's database, to arrange and inspect data past RLS.
    pub owner_url: String,
    /// The gateway router, with the request helpers of [`InProcess`] (reached through `Deref`).
    pub http: InProcess,
    pub database_url: String,
    pub s3: EmbeddedS3,
    _s3_dir: tempfile::TempDir,
}

/// A response, read whole.
#[derive(Debug)]
pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl TestResponse {
    pub fn json<T: DeserializeOwned>(&self) -> T {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not the expected JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn value(&self) -> Value {
        self.json()
    }

    pub fn content_type(&self) -> &str {
        self.headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// Asserts a problem+json answer with this status and code, and returns the body.
    #[track_caller]
    pub fn assert_problem(&self, status: StatusCode, code: &str) -> Value {
        assert_eq!(
            self.status,
            status,
            "body: {}",
            String::from_utf8_lossy(&self.body)
        );
        assert_eq!(self.content_type(), "application/problem+json");
        let body = self.value();
        assert_eq!(body["code"], code, "body: {body}");
        assert_eq!(body["status"], status.as_u16());
        body
    }

    /// The `field` names of a validation problem, sorted.
    pub fn invalid_fields(&self) -> Vec<String> {
        let mut fields: Vec<String> = self.value()["errors"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e["field"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        fields.sort();
        fields
    }
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// Like [`spawn`](Self::spawn), with a change to the configuration (a smaller limit, say).
    pub async fn spawn_with(configure: impl FnOnce(&mut Config)) -> Self {
        Self::spawn_with_env(&[], configure).await
    }

    /// Like [`spawn_with`](Self::spawn_with), with variables of the environment set otherwise
    /// (`LOGIN_FAILURES_PER_SOURCE=3`, say) before the configuration is read.
    pub async fn spawn_with_env(env: &[(&str, &str)], configure: impl FnOnce(&mut Config)) -> Self {
        let cluster = cluster();
        Self::spawn_on_env(
            &cluster.base_url,
            Some(&cluster.template),
            |url| url.to_owned(),
            env,
            configure,
        )
        .await
    }

    /// A platform on the server at `base_url` (`postgres://postgres@host:port`): its database
    /// is a copy of `template`, or migrated from empty without one; the functions reach it
    /// through `route` (a pooler's address in place of the server's, say).
    pub async fn spawn_on(
        base_url: &str,
        template: Option<&str>,
        route: impl FnOnce(&str) -> String,
        configure: impl FnOnce(&mut Config),
    ) -> Self {
        Self::spawn_on_env(base_url, template, route, &[], configure).await
    }

    async fn spawn_on_env(
        base_url: &str,
        template: Option<&str>,
        route: impl FnOnce(&str) -> String,
        env: &[(&str, &str)],
        configure: impl FnOnce(&mut Config),
    ) -> Self {
        // Logs go through the test writer: shown for failing tests only.
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .with_env_filter(
                std::env::var("RUST_LOG").unwrap_or_else(|_| "warn,shared=info".into()),
            )
            .try_init();
        let database = format!("e2e_{}", uuid::Uuid::new_v4().simple());
        local_gateway::postgres::create_database_if_missing(
            &format!("{base_url}/postgres"),
            &database,
            template,
        )
        .await
        .expect("creating the test database");
        let owner_url = format!("{base_url}/{database}");
        if template.is_none() {
            let config = config_for(&owner_url, "http://unused").database;
            let pool = shared::db::connect(&config.url, &config).expect("a pool");
            shared::db::migrate(&pool).await.expect("migrating");
            pool.close();
            local_gateway::postgres::ensure_app_login(&format!("{base_url}/postgres"))
                .await
                .expect("creating the functions' login");
        }
        // The functions connect as the unprivileged login, as they do in the local stack.
        let database_url = route(&local_gateway::postgres::with_user(
            &owner_url,
            local_gateway::postgres::APP_LOGIN,
        ));
        let s3_dir = tempfile::tempdir().expect("a temporary directory");
        let s3 = EmbeddedS3::start(s3_dir.path(), 0)
            .await
            .expect("starting S3");
        let mut config = config_with(&database_url, &s3.endpoint(), env);
        configure(&mut config);
        let state = AppState::new(config).await.expect("building the state");
        state
            .storage
            .ensure_bucket()
            .await
            .expect("creating the bucket");
        let http = InProcess::new(local_gateway::gateway::router(state.clone()));
        Self {
            state,
            owner_url,
            http,
            database_url,
            s3,
            _s3_dir: s3_dir,
        }
    }

    /// The base URL (`postgres://postgres@host:port`) of the server every test shares.
    pub fn shared_server() -> &'static str {
        &cluster().base_url
    }
}

/// The migrated template database every test's database is copied from.
pub fn template_name() -> &'static str {
    &cluster().template
}

impl TestApp {
    /// A direct connection to this test's database, to arrange data and check what was written.
    pub async fn db(&self) -> tokio_postgres::Client {
        let (client, connection) = tokio_postgres::connect(&self.owner_url, tokio_postgres::NoTls)
            .await
            .expect("connecting to the test database");
        tokio::spawn(connection);
        client
    }

    /// Counts the rows of `table` (a fixed name from the test, never input).
    pub async fn count(&self, table: &str) -> i64 {
        self.db()
            .await
            .query_one(&format!("select count(*) from {table}"), &[])
            .await
            .unwrap()
            .get(0)
    }
}

impl std::ops::Deref for TestApp {
    type Target = InProcess;

    fn deref(&self) -> &InProcess {
        &self.http
    }
}

/// A router driven in-process (tower `oneshot`), with typed request helpers, optionally as a
/// signed-in caller, from a peer address (127.0.0.1 unless [`from`](Self::from) says otherwise).
#[derive(Clone)]
pub struct InProcess {
    router: Router,
    bearer: Option<String>,
    peer: std::net::SocketAddr,
}

impl InProcess {
    pub fn new(router: Router) -> Self {
        Self {
            router,
            bearer: None,
            peer: std::net::SocketAddr::from(([127, 0, 0, 1], 50_000)),
        }
    }

    /// The same router, with requests coming from `ip` (the peer address a server would see).
    pub fn from(&self, ip: &str) -> Self {
        Self {
            peer: std::net::SocketAddr::new(ip.parse().expect("an IP address"), 50_000),
            ..self.clone()
        }
    }

    /// The router itself (to serve it on a port).
    pub fn router(&self) -> Router {
        self.router.clone()
    }

    /// The same router, with `Authorization: Bearer <token>` on every request.
    pub fn with_bearer(&self, token: &str) -> Self {
        Self {
            bearer: Some(format!("Bearer {token}")),
            ..self.clone()
        }
    }

    /// Sends a request through the gateway router, in-process.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> TestResponse {
        let mut builder = Request::builder().method(method).uri(path);
        if let Some(bearer) = &self.bearer {
            builder = builder.header(header::AUTHORIZATION, bearer);
        }
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let mut request = builder
            .body(body.map(Body::from).unwrap_or_else(Body::empty))
            .unwrap();
        request
            .extensions_mut()
            .insert(axum::extract::ConnectInfo(self.peer));
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("the router is infallible");
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .expect("reading the body")
            .to_bytes()
            .to_vec();
        TestResponse {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> TestResponse {
        self.request(Method::GET, path, &[], None).await
    }

    pub async fn delete(&self, path: &str) -> TestResponse {
        self.request(Method::DELETE, path, &[], None).await
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> TestResponse {
        self.send_json(Method::POST, path, body, &[]).await
    }

    pub async fn patch_json(&self, path: &str, body: &Value) -> TestResponse {
        self.send_json(Method::PATCH, path, body, &[]).await
    }

    pub async fn send_json(
        &self,
        method: Method,
        path: &str,
        body: &Value,
        headers: &[(&str, &str)],
    ) -> TestResponse {
        let mut all = vec![("content-type", "application/json")];
        all.extend_from_slice(headers);
        self.request(method, path, &all, Some(serde_json::to_vec(body).unwrap()))
            .await
    }
}

/// The workspace root (for `events/` and `../shared/testdata`).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// A file from the team's test data beside the repository (`../shared/testdata/...`).
pub fn testdata(relative: &str) -> anyhow::Result<Vec<u8>> {
    let path = workspace_root().join("../shared/testdata").join(relative);
    std::fs::read(&path).with_context(|| format!("reading {}", path.display()))
}

/// A signed-in staff member: their account and a client that sends their token.
pub struct StaffSession {
    pub id: uuid::Uuid,
    pub email: String,
    pub token: String,
    pub http: InProcess,
}

impl std::ops::Deref for StaffSession {
    type Target = InProcess;

    fn deref(&self) -> &InProcess {
        &self.http
    }
}

/// A student with an inscription and an access token.
pub struct StudentSession {
    pub inscription_id: uuid::Uuid,
    pub profile_id: uuid::Uuid,
    pub token: String,
    pub http: InProcess,
}

impl std::ops::Deref for StudentSession {
    type Target = InProcess;

    fn deref(&self) -> &InProcess {
        &self.http
    }
}

/// The password every test account gets.
pub const PASSWORD: &str = "un mot de passe assez long";

impl TestApp {
    /// Signs in through `POST /api/auth/token` and returns the token.
    pub async fn sign_in(&self, email: &str, password: &str) -> TestResponse {
        self.post_json(
            "/api/auth/token",
            &serde_json::json!({ "email": email, "password": password }),
        )
        .await
    }

    async fn session(&self, id: uuid::Uuid, email: String) -> StaffSession {
        let response = self.sign_in(&email, PASSWORD).await;
        assert_eq!(
            response.status,
            StatusCode::OK,
            "signing in: {}",
            String::from_utf8_lossy(&response.body)
        );
        let token = response.value()["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        StaffSession {
            id,
            email,

            http: self.http.with_bearer(&token),
            token,
        }
    }

    /// A new admin account (as `create-admin` makes them), signed in.
    pub async fn admin(&self) -> StaffSession {
        let email = format!("admin-{}@example.ga", uuid::Uuid::new_v4().simple());
        let account =
            shared::services::staff::create_admin(&self.state, &email, "Admin Test", PASSWORD)
                .await
                .expect("creating an admin");
        self.session(account.id, email).await
    }

    /// A new tutor account created by `admin` through the API, assigned to `masterclasses`,
    /// signed in.
    pub async fn tutor(&self, admin: &StaffSession, masterclasses: &[&str]) -> StaffSession {
        let email = format!("tuteur-{}@example.ga", uuid::Uuid::new_v4().simple());
        let created = admin
            .post_json(
                "/api/admin/users",
                &serde_json::json!({ "email": email, "full_name": "Tuteur Test", "password": PASSWORD }),
            )
            .await;
        assert_eq!(
            created.status,
            StatusCode::CREATED,
            "{}",
            String::from_utf8_lossy(&created.body)
        );
        let id: uuid::Uuid = created.value()["id"].as_str().unwrap().parse().unwrap();
        for masterclass in masterclasses {
            let assigned = admin
                .request(
                    Method::PUT,
                    &format!("/api/admin/users/{id}/masterclasses/{masterclass}"),
                    &[],
                    None,
                )
                .await;
            assert_eq!(
                assigned.status,
                StatusCode::OK,
                "{}",
                String::from_utf8_lossy(&assigned.body)
            );
        }
        self.session(id, email).await
    }

    /// A masterclass created by `admin` (a draft unless `published`); returns its id.
    pub async fn masterclass(&self, admin: &StaffSession, title: &str, published: bool) -> String {
        let response = admin
            .post_json(
                "/api/masterclasses",
                &serde_json::json!({
                    "title": title,
                    "starts_at": "2026-12-05T09:00:00+01:00",
                    "ends_at": "2026-12-05T13:00:00+01:00",
                    "published": published,
                }),
            )
            .await;
        assert_eq!(
            response.status,
            StatusCode::CREATED,
            "{}",
            String::from_utf8_lossy(&response.body)
        );
        response.value()["id"].as_str().unwrap().to_owned()
    }

    /// A student inscribed in `masterclass` (arranged directly in the database until the
    /// registration route exists), with an access token issued by the platform.
    pub async fn student(&self, masterclass: &str, full_name: &str) -> StudentSession {
        let db = self.db().await;
        let number = format!(
            "+2410{}",
            1_000_000 + (uuid::Uuid::new_v4().as_u128() % 8_999_999)
        );
        let profile_id: uuid::Uuid = db
            .query_one(
                "insert into profiles (full_name, whatsapp_number, date_of_birth, consent_at, consent_version)
                 values ($1, $2, '2001-04-12', now(), 'v1') returning id",
                &[&full_name, &number],
            )
            .await
            .unwrap()
            .get(0);
        let masterclass_id: uuid::Uuid = masterclass.parse().unwrap();
        let inscription_id: uuid::Uuid = db
            .query_one(
                "insert into inscriptions (masterclass_id, profile_id, full_name, date_of_birth, whatsapp_number, consent_at)
                 values ($1, $2, $3, '2001-04-12', $4, now()) returning id",
                &[&masterclass_id, &profile_id, &full_name, &number],
            )
            .await
            .unwrap()
            .get(0);
        let mut client = self.state.db.get().await.unwrap();
        let tx = shared::db::begin_as(&mut client, &shared::auth::Caller::System)
            .await
            .unwrap();
        let issued = shared::services::students::issue_token(&tx, inscription_id)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        StudentSession {
            inscription_id,
            profile_id,
            http: self.http.with_bearer(&issued.access_token),
            token: issued.access_token,
        }
    }
}

/// The questions of a bank made by [`TestApp::bank`]: id and correct letter.
pub type Bank = Vec<(uuid::Uuid, String)>;

impl TestApp {
    /// `count` questions for `masterclass`, written through the API by `staff`, approved unless
    /// `approved` is false. Correct letters rotate A, B, C, D.
    pub async fn bank(
        &self,
        staff: &StaffSession,
        masterclass: &str,
        count: usize,
        approved: bool,
    ) -> Bank {
        let mut bank = Vec::with_capacity(count);
        for i in 0..count {
            let correct = ["A", "B", "C", "D"][i % 4];
            let response = staff
                .post_json(
                    "/api/admin/questions",
                    &serde_json::json!({
                        "masterclass_id": masterclass,
                        "text": format!("Question {i} : quel est le bon choix ?"),
                        "choices": [format!("Choix A{i}"), format!("Choix B{i}"), format!("Choix C{i}"), format!("Choix D{i}")],
                        "correct": correct,
                        "status": if approved { "approved" } else { "draft" },
                    }),
                )
                .await;
            assert_eq!(
                response.status,
                StatusCode::CREATED,
                "{}",
                String::from_utf8_lossy(&response.body)
            );
            bank.push((
                response.value()["id"].as_str().unwrap().parse().unwrap(),
                correct.to_owned(),
            ));
        }
        bank
    }

    /// A published masterclass starting in two days, for registrations.
    pub async fn open_masterclass(&self, admin: &StaffSession, title: &str) -> String {
        let starts = time::OffsetDateTime::now_utc() + time::Duration::days(2);
        let fmt = |t: time::OffsetDateTime| {
            t.format(&time::format_description::well_known::Rfc3339)
                .unwrap()
        };
        let response = admin
            .post_json(
                "/api/masterclasses",
                &serde_json::json!({
                    "title": title,
                    "starts_at": fmt(starts),
                    "ends_at": fmt(starts + time::Duration::hours(3)),
                    "published": true,
                }),
            )
            .await;
        assert_eq!(
            response.status,
            StatusCode::CREATED,
            "{}",
            String::from_utf8_lossy(&response.body)
        );
        response.value()["id"].as_str().unwrap().to_owned()
    }

    /// Uploads `pdf` as the handout of `masterclass` (straight into the store, then confirmed
    /// through the API as a browser's upload would be).
    pub async fn handout(&self, admin: &StaffSession, masterclass: &str, pdf: Vec<u8>) {
        let ticket = admin
            .post_json(
                &format!("/api/masterclasses/{masterclass}/pdf"),
                &serde_json::json!({}),
            )
            .await;
        assert_eq!(
            ticket.status,
            StatusCode::CREATED,
            "{}",
            String::from_utf8_lossy(&ticket.body)
        );
        let key = ticket.value()["key"].as_str().unwrap().to_owned();
        self.state
            .storage
            .put(&key, pdf, "application/pdf")
            .await
            .unwrap();
        let confirmed = admin
            .post_json(
                &format!("/api/masterclasses/{masterclass}/pdf/confirm"),
                &serde_json::json!({ "key": key }),
            )
            .await;
        assert_eq!(
            confirmed.status,
            StatusCode::OK,
            "{}",
            String::from_utf8_lossy(&confirmed.body)
        );
    }

    /// `POST /api/inscriptions` with a valid body for `number`.
    pub async fn register(&self, masterclass: &str, number: &str, full_name: &str) -> TestResponse {
        self.post_json(
            "/api/inscriptions",
            &registration(masterclass, number, full_name),
        )
        .await
    }
}

/// PUTs `bytes` through a presigned link as the platform hands them out (`{url, headers}`: an
/// upload ticket or a sync peer's upload link), and checks the store took them.
pub async fn put_presigned(link: &Value, bytes: Vec<u8>) {
    let mut put = reqwest::Client::new()
        .put(link["url"].as_str().expect("an upload link"))
        .body(bytes);
    for (name, value) in link["headers"].as_object().expect("signed headers") {
        put = put.header(name, value.as_str().unwrap());
    }
    let answer = put.send().await.unwrap();
    assert!(answer.status().is_success(), "{}", answer.status());
}

/// A valid registration body.
pub fn registration(masterclass: &str, number: &str, full_name: &str) -> Value {
    serde_json::json!({
        "masterclass_id": masterclass,
        "full_name": full_name,
        "date_of_birth": "2001-04-12",
        "whatsapp_number": number,
        "consent": true,
    })
}

/// Answers to `paper` (a `GET /api/tests/...` body): right for the first `right` questions,
/// wrong for the others, using the bank's keys.
pub fn answers(paper: &Value, bank: &Bank, right: usize) -> Value {
    let mut answers = serde_json::Map::new();
    for (i, question) in paper["questions"]
        .as_array()
        .expect("a paper")
        .iter()
        .enumerate()
    {
        let id = question["id"].as_str().unwrap();
        let correct = &bank
            .iter()
            .find(|(q, _)| q.to_string() == id)
            .expect("a question of the bank")
            .1;
        let wrong = ["A", "B", "C", "D"]
            .into_iter()
            .find(|c| c != correct)
            .unwrap();
        answers.insert(
            id.to_owned(),
            Value::String(if i < right {
                correct.clone()
            } else {
                wrong.to_owned()
            }),
        );
    }
    serde_json::json!({ "answers": answers })
}

/// A registered student ready for tests: the admin, the masterclass, its bank of ten approved
/// questions, and a client that carries the student's access token.
pub struct Classroom {
    pub admin: StaffSession,
    pub masterclass: String,
    pub bank: Bank,
    pub student: InProcess,
}

impl TestApp {
    /// An open masterclass with ten approved questions and one registered student.
    pub async fn classroom(&self) -> Classroom {
        let admin = self.admin().await;
        let masterclass = self.open_masterclass(&admin, "Atelier").await;
        let bank = self.bank(&admin, &masterclass, 10, true).await;
        let registered = self
            .register(&masterclass, "+24106612345", "Awa Ndong")
            .await;
        assert_eq!(
            registered.status,
            StatusCode::CREATED,
            "{}",
            String::from_utf8_lossy(&registered.body)
        );
        let student = self
            .http
            .with_bearer(registered.value()["access_token"].as_str().unwrap());
        Classroom {
            admin,
            masterclass,
            bank,
            student,
        }
    }
}

/// The headless browser of this machine, if any (`apt-get install chromium`). CI must have one:
/// without it a browser test fails under CI and is skipped elsewhere (`None`, with a note).
pub fn chromium() -> Option<&'static str> {
    let found = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| {
            std::process::Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have chromium for the browser tests"
        );
        eprintln!("skipped: no chromium on this machine (apt-get install chromium)");
    }
    found
}

/// The full path of `binary` on this machine's `PATH` (Playwright wants one for the browser).
pub fn which(binary: &str) -> String {
    let found = std::process::Command::new("sh")
        .args(["-c", &format!("command -v {binary}")])
        .output()
        .expect("sh runs");
    String::from_utf8_lossy(&found.stdout).trim().to_owned()
}

/// The browser package's folder (`shared/client`) when Node and its npm packages are there
/// (`npm ci` in it; `.ci/run` does). CI must have them: without, a browser test fails under CI
/// and is skipped elsewhere (`None`, with a note).
pub fn browser_package() -> Option<PathBuf> {
    let package = workspace_root().join("shared/client");
    let node = std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let installed = package.join("node_modules/playwright-core").is_dir()
        && package.join("node_modules/rxdb").is_dir();
    if node && installed {
        return Some(package);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI must have node and the browser package's npm packages (npm ci in shared/client)"
    );
    eprintln!("skipped: no node, or no `npm ci` in shared/client");
    None
}

/// Serves `app`'s gateway on a port of this machine, as `cargo run` does; returns its base URL
/// (`http://127.0.0.1:<port>`).
pub async fn serve(app: &TestApp) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let url = format!("http://{}", listener.local_addr().expect("an address"));
    let router = local_gateway::gateway::router(app.state.clone())
        .into_make_service_with_connect_info::<std::net::SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, router).await });
    url
}

/// Runs the dispatcher until nothing is queued (panics after 20 runs).
pub async fn drain(app: &TestApp) {
    for _ in 0..20 {
        shared::messaging::dispatch::run(&app.state, app.state.messenger.as_ref())
            .await
            .unwrap();
        let queued: i64 = app
            .db()
            .await
            .query_one(
                "select count(*) from outbox_messages where status = 'queued'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if queued == 0 {
            return;
        }
    }
    panic!("the queue did not drain");
}
