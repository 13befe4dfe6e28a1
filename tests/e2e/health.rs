use e2e_tests::{TestApp, config_for};
use http::StatusCode;

#[tokio::test]
async fn health_reports_the_database_and_the_store_as_reachable() {
    let app = TestApp::spawn().await;

    let response = app.get("/api/health").await;

    assert_eq!(response.status, StatusCode::OK);
    let body = response.value();
    assert_eq!(body["database"], "ok");
    assert_eq!(body["storage"], "ok");
}

#[tokio::test]
async fn health_is_a_503_problem_when_the_object_store_is_down() {
    let app = TestApp::spawn().await;
    let TestApp { state, s3, .. } = app;
    drop(s3); // the store stops, and closes its open connections

    let router = health::router(state);
    let app = e2e_tests::InProcess::new(router);
    let response = app.get("/api/health").await;

    response.assert_problem(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
}

#[tokio::test]
async fn a_database_outage_is_a_503_problem_not_a_500() {
    let app = TestApp::spawn().await;
    // A port where nothing listens.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = config_for(
        &format!("postgres://postgres@127.0.0.1:{closed}/nothing"),
        &app.s3.endpoint(),
    );
    let state = shared::AppState::new(config).await.unwrap();
    let app = e2e_tests::InProcess::new(masterclasses::router(state));

    let response = app.get("/api/masterclasses").await;

    let body = response.assert_problem(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    assert!(response.headers.contains_key("retry-after"));
    assert!(
        !body.to_string().contains("127.0.0.1"),
        "no infrastructure detail leaks: {body}"
    );
}
