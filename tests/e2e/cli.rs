//! The operator commands of the gateway binary (`cargo run -- ...`).

use e2e_tests::{TestApp, lambda::build_binary};
use http::StatusCode;

// Multi-threaded: the command runs while this test's S3 server keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_admin_makes_an_admin_who_can_sign_in() {
    let app = TestApp::spawn().await;
    let gateway = tokio::task::spawn_blocking(|| build_binary("local-gateway", "gateway"))
        .await
        .unwrap()
        .unwrap();
    let data_dir = tempfile::tempdir().unwrap();
    let run = |email: &'static str, password: &'static str| {
        std::process::Command::new(&gateway)
            .args([
                "--data-dir",
                data_dir.path().to_str().unwrap(),
                "create-admin",
                "--email",
                email,
                "--name",
                "Première Admin",
            ])
            .env("DATABASE_URL", &app.database_url)
            .env("RUN_MIGRATIONS", "false")
            .env("S3_ENDPOINT", app.s3.endpoint())
            .env("S3_ACCESS_KEY_ID", local_gateway::s3::LOCAL_ACCESS_KEY)
            .env("S3_SECRET_ACCESS_KEY", local_gateway::s3::LOCAL_SECRET_KEY)
            .env("JWT_SECRET", e2e_tests::JWT_SECRET)
            .env("ADMIN_PASSWORD", password)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    };

    let created =
        tokio::task::block_in_place(|| run("premiere@example.ga", "un mot de passe assez long"));
    let weak = tokio::task::block_in_place(|| run("faible@example.ga", "court"));

    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    assert!(!weak.status.success());
    assert!(
        String::from_utf8_lossy(&weak.stderr).contains("password"),
        "{}",
        String::from_utf8_lossy(&weak.stderr)
    );
    let signed_in = app
        .sign_in("premiere@example.ga", "un mot de passe assez long")
        .await;
    assert_eq!(signed_in.status, StatusCode::OK);
    assert_eq!(signed_in.value()["user"]["role"], "admin");
    assert_eq!(signed_in.value()["user"]["full_name"], "Première Admin");
    assert_eq!(app.count("staff_users").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_brings_an_empty_database_up_to_date_and_is_then_a_no_op() {
    let app = TestApp::spawn().await;
    let gateway = tokio::task::spawn_blocking(|| build_binary("local-gateway", "gateway"))
        .await
        .unwrap()
        .unwrap();
    let name = format!("empty_{}", uuid::Uuid::new_v4().simple());
    app.db()
        .await
        .batch_execute(&format!("create database {name}"))
        .await
        .unwrap();
    let url = format!("{}/{name}", app.owner_url.rsplit_once('/').unwrap().0);
    let run = || {
        std::process::Command::new(&gateway)
            .arg("migrate")
            .env("DATABASE_MIGRATION_URL", &url)
            .env_remove("DATABASE_URL")
            .output()
            .unwrap()
    };

    let first = tokio::task::block_in_place(run);
    let second = tokio::task::block_in_place(run);

    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let expected = format!("{} migration(s) applied", shared::db::MIGRATIONS.len());
    assert!(
        String::from_utf8_lossy(&first.stdout).contains(&expected),
        "{}",
        String::from_utf8_lossy(&first.stdout)
    );
    assert!(String::from_utf8_lossy(&second.stdout).contains("0 migration(s) applied"));
}

/// `cargo run` (the gateway with its own embedded cluster and store) in a data directory of its
/// own, up and answering.
struct RunningGateway {
    binary: std::path::PathBuf,
    data_dir: tempfile::TempDir,
    port: u16,
    server: std::process::Child,
}

impl RunningGateway {
    async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// `cargo run -- <args>`.
    async fn start_with(args: &[&str]) -> Self {
        let binary = tokio::task::spawn_blocking(|| build_binary("local-gateway", "gateway"))
            .await
            .unwrap()
            .unwrap();
        let data_dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut gateway = Self {
            server: std::process::Command::new("true").spawn().unwrap(),
            binary,
            data_dir,
            port,
        };
        gateway.server = gateway
            .command()
            .args(["--port", &port.to_string()])
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let health = gateway.url("/api/health");
        let started = std::time::Instant::now();
        while !reqwest::get(&health)
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(240),
                "the gateway did not start"
            );
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        gateway
    }

    /// The gateway binary as a user runs it here: no service configured, this data directory.
    fn command(&self) -> std::process::Command {
        let mut command = std::process::Command::new(&self.binary);
        for name in [
            "DATABASE_URL",
            "S3_ENDPOINT",
            "JWT_SECRET",
            "WHAPI_TOKEN",
            "WHAPI_WEBHOOK_SECRET",
            "SYNC_REMOTE_URL",
            "SYNC_REMOTE_SECRET",
        ] {
            command.env_remove(name);
        }
        command.args(["--data-dir", self.data_dir.path().to_str().unwrap()]);
        command
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for RunningGateway {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_admin_beside_a_running_gateway_uses_its_database() {
    // Arrange: `cargo run` is up.
    let gateway = RunningGateway::start().await;

    // Act: the command its banner prints, while it runs.
    let began = std::time::Instant::now();
    let created = tokio::task::block_in_place(|| {
        gateway
            .command()
            .args(["create-admin", "--email", "banner@example.ga"])
            .env("ADMIN_PASSWORD", "un mot de passe assez long")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    });
    let took = began.elapsed();
    let signed_in = reqwest::Client::new()
        .post(gateway.url("/api/auth/token"))
        .json(&serde_json::json!({ "email": "banner@example.ga", "password": "un mot de passe assez long" }))
        .send()
        .await
        .unwrap()
        .status();

    // Assert
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    assert!(took < std::time::Duration::from_secs(30), "took {took:?}");
    assert_eq!(
        signed_in.as_u16(),
        200,
        "the running gateway sees the admin"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sample_printed_by_the_gateway_is_answered_by_its_function_beside_it() {
    // Arrange: `cargo run` is up; a function binary runs with the environment it wrote, as
    // `cargo lambda watch --env-file .local/lambda.env` runs it.
    let gateway = RunningGateway::start().await;
    let env_file = std::fs::read_to_string(gateway.data_dir.path().join("lambda.env")).unwrap();
    let env: Vec<(&str, String)> = env_file
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(name, value)| (name, value.to_owned()))
        .collect();
    let sample = |file: &str| {
        let printed = tokio::task::block_in_place(|| {
            gateway
                .command()
                .args([
                    "sample",
                    e2e_tests::workspace_root().join(file).to_str().unwrap(),
                ])
                .stdin(std::process::Stdio::null())
                .output()
                .unwrap()
        });
        assert!(
            printed.status.success(),
            "{}",
            String::from_utf8_lossy(&printed.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&printed.stdout).unwrap()
    };
    let get = sample("events/masterclasses/get.json");
    let update = sample("events/masterclasses/update.json");
    let status = sample("events/webhooks/whapi-statuses.json");
    let masterclasses =
        tokio::task::spawn_blocking(|| build_binary("masterclasses", "masterclasses"))
            .await
            .unwrap()
            .unwrap();
    let webhooks = tokio::task::spawn_blocking(|| build_binary("webhooks", "webhooks"))
        .await
        .unwrap()
        .unwrap();
    let mut masterclasses =
        e2e_tests::lambda::Runtime::start(&masterclasses, "masterclasses", &env)
            .await
            .unwrap();
    let mut webhooks = e2e_tests::lambda::Runtime::start(&webhooks, "webhooks", &env)
        .await
        .unwrap();

    // Act
    let got = answered(&mut masterclasses, &get).await;
    let updated = answered(&mut masterclasses, &update).await;
    let delivered = answered(&mut webhooks, &status).await;

    // Assert: the sample names a masterclass that exists, with a token this platform accepts.
    assert_eq!(got["statusCode"], 200, "{got}");
    let body: serde_json::Value = serde_json::from_str(got["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["id"], get["pathParameters"]["id"]);
    assert_ne!(body["id"], "7d6f0d2e-3f9a-4c7e-9a51-2b8f1c9e4a10");
    assert_eq!(updated["statusCode"], 200, "{updated}");
    assert_eq!(delivered["statusCode"], 200, "{delivered}");
    // And the gateway serves what the function wrote (each sample has rows of its own).
    let seen = reqwest::get(gateway.url(&format!(
        "/api/masterclasses/{}",
        update["pathParameters"]["id"].as_str().unwrap()
    )))
    .await
    .expect("the gateway answers");
    let status = seen.status();
    let seen = seen.text().await.unwrap();
    assert_eq!(status, 200, "{seen}");
    let seen: serde_json::Value = serde_json::from_str(&seen).unwrap();
    assert_eq!(seen["title"], "Créer son entreprise : les bases");
}

/// The function's answer to `event`, asked again (as a client honouring `Retry-After` does)
/// while it is a 503: on a loaded machine the first connection of a cold function may time out.
async fn answered(
    function: &mut e2e_tests::lambda::Runtime,
    event: &serde_json::Value,
) -> serde_json::Value {
    for _ in 0..10 {
        let answer = function
            .invoke(event.clone())
            .await
            .expect("the function runs")
            .unwrap_or_else(|e| panic!("the function failed: {e}"));
        if answer["statusCode"] != 503 {
            return answer;
        }
        eprintln!("503 from the function, asking again: {answer}");
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    }
    panic!("the function answered 503 ten times");
}

/// An admin made with `create-admin` beside `gateway`, signed in: their token.
async fn admin_of(gateway: &RunningGateway) -> String {
    let created = tokio::task::block_in_place(|| {
        gateway
            .command()
            .args(["create-admin", "--email", "chef@example.ga"])
            .env("ADMIN_PASSWORD", "un mot de passe assez long")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    });
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let signed_in: serde_json::Value = reqwest::Client::new()
        .post(gateway.url("/api/auth/token"))
        .json(&serde_json::json!({ "email": "chef@example.ga", "password": "un mot de passe assez long" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    signed_in["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cargo_run_with_a_remote_is_a_venue_server_that_catches_up_by_itself() {
    // Arrange: a "cloud" (`cargo run`), its admin, a masterclass, and a sync peer for the venue.
    let cloud = RunningGateway::start().await;
    let token = admin_of(&cloud).await;
    let client = reqwest::Client::new();
    let starts = time::OffsetDateTime::now_utc() + time::Duration::days(3);
    let format = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    let masterclass: serde_json::Value = client
        .post(cloud.url("/api/masterclasses"))
        .bearer_auth(&token)
        .json(
            &serde_json::json!({"title": "Atelier au lycée", "published": true,
            "starts_at": format(starts), "ends_at": format(starts + time::Duration::hours(2))}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let peer: serde_json::Value = client
        .post(cloud.url("/api/sync/peers"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"name": "Salle 3"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    // Act: `cargo run -- --remote URL --remote-secret S`, and nothing else.
    let venue = RunningGateway::start_with(&[
        "--remote",
        &cloud.url(""),
        "--remote-secret",
        peer["secret"].as_str().unwrap(),
    ])
    .await;

    // Assert: its timer syncs at once; the cloud's masterclass is served by the venue.
    let path = format!("/api/masterclasses/{}", masterclass["id"].as_str().unwrap());
    let started = std::time::Instant::now();
    loop {
        let answer = reqwest::get(venue.url(&path)).await.unwrap();
        if answer.status().is_success() {
            let body: serde_json::Value = answer.json().await.unwrap();
            assert_eq!(body["title"], "Atelier au lycée");
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "the venue did not catch up"
        );
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    // Without the secret, the flag is refused before anything starts.
    let refused = tokio::task::block_in_place(|| {
        venue
            .command()
            .args(["--remote", "http://127.0.0.1:9"])
            .output()
            .unwrap()
    });
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("--remote-secret"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}

/// `restore` needs the target and the store only: with `--target`, and neither `DATABASE_URL`
/// nor `DATABASE_MIGRATION_URL` set, it restores; it says a tampered manifest is tampered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_needs_only_its_target_and_the_store_and_names_a_tampered_manifest() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let masterclass = app.masterclass(&admin, "Sauvegardée", true).await;
    app.student(&masterclass, "Awa Ndong").await;
    let report = shared::services::backup::run(&app.state).await.unwrap();
    let store = shared::services::backup::store(&app.state).await;
    let manifest_key = format!("{}manifest.json", report.prefix);
    let manifest = store.get(&manifest_key).await.unwrap();
    let target = TestApp::spawn().await;
    let gateway = tokio::task::spawn_blocking(|| build_binary("local-gateway", "gateway"))
        .await
        .unwrap()
        .unwrap();
    let data_dir = tempfile::tempdir().unwrap();
    let restore = || {
        std::process::Command::new(&gateway)
            .args(["--data-dir", data_dir.path().to_str().unwrap(), "restore"])
            .args([
                report.prefix.as_str(),
                "--target",
                target.owner_url.as_str(),
            ])
            .env_remove("DATABASE_URL")
            .env_remove("DATABASE_MIGRATION_URL")
            .env("S3_ENDPOINT", app.s3.endpoint())
            .env("S3_ACCESS_KEY_ID", local_gateway::s3::LOCAL_ACCESS_KEY)
            .env("S3_SECRET_ACCESS_KEY", local_gateway::s3::LOCAL_SECRET_KEY)
            .env("S3_BUCKET", "e2e-bucket")
            .output()
            .unwrap()
    };

    let mut edited = manifest.clone();
    let at = edited.len() / 2;
    edited[at] = if edited[at] == b'1' { b'2' } else { b'1' };
    store
        .put(&manifest_key, edited, "application/json")
        .await
        .unwrap();
    let refused = tokio::task::block_in_place(restore);
    let said = String::from_utf8_lossy(&refused.stderr).into_owned();
    assert!(!refused.status.success());
    assert!(
        said.contains("tampered") && !said.contains("no manifest"),
        "{said}"
    );
    assert_eq!(target.count("inscriptions").await, 0);

    store
        .put(&manifest_key, manifest, "application/json")
        .await
        .unwrap();
    let restored = tokio::task::block_in_place(restore);
    assert!(
        restored.status.success(),
        "{}",
        String::from_utf8_lossy(&restored.stderr)
    );
    assert_eq!(target.count("inscriptions").await, 1);
}
