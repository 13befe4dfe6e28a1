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
