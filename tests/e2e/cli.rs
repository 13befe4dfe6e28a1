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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_admin_beside_a_running_gateway_uses_its_database() {
    // Arrange: `cargo run` (the gateway with its own embedded cluster) is up.
    let gateway = tokio::task::spawn_blocking(|| build_binary("local-gateway", "gateway"))
        .await
        .unwrap()
        .unwrap();
    let data_dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let clean_env = |command: &mut std::process::Command| {
        for name in ["DATABASE_URL", "S3_ENDPOINT", "JWT_SECRET", "WHAPI_TOKEN"] {
            command.env_remove(name);
        }
        command.args(["--data-dir", data_dir.path().to_str().unwrap()]);
    };
    let mut serve = std::process::Command::new(&gateway);
    clean_env(&mut serve);
    let mut server = serve
        .args(["--port", &port.to_string()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let health = format!("http://127.0.0.1:{port}/api/health");
    let started = std::time::Instant::now();
    while !reqwest::get(&health)
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(90),
            "the gateway did not start"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }

    // Act: the command its banner prints, while it runs.
    let mut create = std::process::Command::new(&gateway);
    clean_env(&mut create);
    let began = std::time::Instant::now();
    let created = tokio::task::block_in_place(|| {
        create
            .args(["create-admin", "--email", "banner@example.ga"])
            .env("ADMIN_PASSWORD", "un mot de passe assez long")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    });
    let took = began.elapsed();
    let signed_in = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/api/auth/token"))
        .json(&serde_json::json!({ "email": "banner@example.ga", "password": "un mot de passe assez long" }))
        .send()
        .await
        .unwrap()
        .status();
    let _ = server.kill();
    let _ = server.wait();

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
