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

/// The local gateway answers CORS as the deployed HTTP API does (the template's
/// `CorsConfiguration`), so a web app served from another origin works against `cargo run`: a
/// preflight is answered (not a 405), and answers expose the request id and `Retry-After`.
#[tokio::test]
async fn a_browser_on_another_origin_is_answered_as_the_deployed_api_answers_it() {
    let app = TestApp::spawn().await;
    let only =
        TestApp::spawn_with(|c| c.allowed_origins = vec!["https://desk.example.ga".into()]).await;
    let preflight = [
        ("origin", "http://localhost:5173"),
        ("access-control-request-method", "POST"),
        (
            "access-control-request-headers",
            "authorization,content-type,idempotency-key",
        ),
    ];

    let asked = app
        .request(http::Method::OPTIONS, "/api/sync/push", &preflight, None)
        .await;
    let read = app
        .request(
            http::Method::GET,
            "/api/masterclasses",
            &[("origin", "http://localhost:5173")],
            None,
        )
        .await;
    let elsewhere = only
        .request(
            http::Method::GET,
            "/api/masterclasses",
            &[("origin", "http://localhost:5173")],
            None,
        )
        .await;
    let listed = only
        .request(
            http::Method::GET,
            "/api/masterclasses",
            &[("origin", "https://desk.example.ga")],
            None,
        )
        .await;

    let header = |r: &e2e_tests::TestResponse, name: &str| {
        r.headers.get(name).map(|v| v.to_str().unwrap().to_owned())
    };
    assert!(asked.status.is_success(), "{}", asked.status);
    assert_eq!(
        header(&asked, "access-control-allow-origin").as_deref(),
        Some("*")
    );
    let methods = header(&asked, "access-control-allow-methods").unwrap();
    assert!(
        methods.contains("POST") && methods.contains("DELETE"),
        "{methods}"
    );
    let allowed = header(&asked, "access-control-allow-headers").unwrap();
    assert!(
        allowed.contains("idempotency-key") && allowed.contains("authorization"),
        "{allowed}"
    );
    assert_eq!(
        header(&asked, "access-control-max-age").as_deref(),
        Some("600")
    );
    assert_eq!(read.status, StatusCode::OK);
    let exposed = header(&read, "access-control-expose-headers").unwrap();
    assert!(
        exposed.contains("x-request-id") && exposed.contains("retry-after"),
        "{exposed}"
    );
    assert_eq!(header(&elsewhere, "access-control-allow-origin"), None);
    assert_eq!(
        header(&listed, "access-control-allow-origin").as_deref(),
        Some("https://desk.example.ga")
    );
}
