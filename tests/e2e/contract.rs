//! The API contract: the OpenAPI document generated from the routers, the committed copy in
//! `infra/openapi.json`, the served copy, the routes the gateway serves, the SAM template, the
//! routes table (`functions/README.md`), and the Swagger UI page, all agree.

use std::collections::BTreeSet;

use e2e_tests::{TestApp, workspace_root};
use http::{Method, StatusCode};
use serde_json::Value;

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

fn generated() -> Value {
    serde_json::to_value(local_gateway::gateway::openapi()).unwrap()
}

/// `(METHOD, path)` of every operation in a document.
fn operations(document: &Value) -> BTreeSet<(String, String)> {
    document["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            METHODS
                .iter()
                .filter(|m| item.get(**m).is_some())
                .map(move |m| (m.to_uppercase(), path.clone()))
        })
        .collect()
}

fn template_operations() -> BTreeSet<(String, String)> {
    let template = std::fs::read_to_string(workspace_root().join("infra/template.yaml")).unwrap();
    let mut routes = BTreeSet::new();
    let mut path = None;
    for line in template.lines().map(str::trim) {
        if let Some(p) = line.strip_prefix("Path: ") {
            path = Some(p.to_owned());
        } else if let Some(m) = line.strip_prefix("Method: ") {
            routes.insert((m.to_owned(), path.take().unwrap()));
        }
    }
    routes
}

#[test]
fn the_committed_document_is_the_one_the_code_generates() {
    let committed: Value = serde_json::from_str(
        &std::fs::read_to_string(workspace_root().join("infra/openapi.json")).unwrap(),
    )
    .unwrap();
    assert!(
        committed == generated(),
        "infra/openapi.json is stale: run `cargo run -q -- openapi > infra/openapi.json`"
    );
}

#[tokio::test]
async fn the_gateway_serves_the_generated_document() {
    let app = TestApp::spawn().await;

    let served = app.get("/api/openapi.json").await;

    assert_eq!(served.status, StatusCode::OK);
    assert_eq!(served.content_type(), "application/json");
    let served = served.value();
    assert_eq!(served, generated());
    assert_eq!(served["openapi"], "3.1.0");
}

#[tokio::test]
async fn every_operation_in_the_document_is_routed_and_every_deployed_route_is_documented() {
    let app = TestApp::spawn().await;
    let documented = operations(&generated());
    assert!(documented.len() >= 35, "{documented:?}");

    for (method, path) in &documented {
        let concrete = path
            .replace("{id}", "7d6f0d2e-3f9a-4c7e-9a51-2b8f1c9e4a10")
            .replace("{masterclass_id}", "2f0c6a3e-8d4b-4c1a-9e7f-5b6d7c8e9f01")
            .replace("{kind}", "PRE");
        let response = app
            .request(method.parse::<Method>().unwrap(), &concrete, &[], None)
            .await;
        let unrouted = response.status == StatusCode::METHOD_NOT_ALLOWED
            || (response.status == StatusCode::NOT_FOUND
                && response.value()["detail"] == "route not found");
        assert!(!unrouted, "{method} {path} is documented but not served");
    }
    // The template is what API Gateway routes; its own test checks the gateway serves it all.
    assert_eq!(
        documented,
        template_operations(),
        "the document and infra/template.yaml differ"
    );
}

#[test]
fn the_readme_routes_table_names_every_documented_path() {
    let readme = std::fs::read_to_string(workspace_root().join("functions/README.md")).unwrap();
    for (_, path) in operations(&generated()) {
        let shown = path.replace("{kind}", "{PRE\\|POST}");
        assert!(
            readme.contains(&format!("`{shown}")),
            "functions/README.md (the routes table) does not list {path}"
        );
    }
}

#[test]
fn every_operation_documents_its_security_errors_and_a_success() {
    let document = generated();
    for (method, path) in operations(&document) {
        let operation = &document["paths"][&path][method.to_lowercase()];
        let responses = operation["responses"].as_object().unwrap();
        // A success is an answer, or a redirect to it (the handout's 302).
        assert!(
            responses
                .keys()
                .any(|s| s.starts_with('2') || s.starts_with('3')),
            "{method} {path}: no success"
        );
        for status in ["400", "404", "422", "500"] {
            let problem = &responses[status]["content"]["application/problem+json"]["schema"];
            assert_eq!(
                problem["$ref"], "#/components/schemas/Problem",
                "{method} {path} {status}"
            );
        }
        if operation["security"]
            .as_array()
            .is_some_and(|s| !s.iter().any(|r| r.as_object().unwrap().is_empty()))
        {
            assert!(
                responses.contains_key("401"),
                "{method} {path}: secured without a 401"
            );
        }
    }
}

/// Swagger UI, loaded by a real browser, lists the routes. Needs Chromium (`apt-get install
/// chromium`); CI installs it, and without it the test fails under CI and is skipped elsewhere.
#[tokio::test]
async fn the_docs_page_lists_the_routes_in_a_headless_browser() {
    let Some(chromium) = e2e_tests::chromium() else {
        return;
    };
    let app = TestApp::spawn().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/api/docs", listener.local_addr().unwrap());
    let router = local_gateway::gateway::router(app.state.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    let profile = tempfile::tempdir().unwrap();

    let output = tokio::process::Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            &format!("--user-data-dir={}", profile.path().display()),
            "--virtual-time-budget=20000",
            "--dump-dom",
            &url,
        ])
        .output()
        .await
        .expect("chromium runs");

    let dom = String::from_utf8_lossy(&output.stdout);
    assert!(
        dom.contains("Masterclass platform API"),
        "the page did not render: {}",
        &dom[..dom.len().min(2000)]
    );
    for path in [
        "/api/generate-questions",
        "/api/inscriptions",
        "/api/tests/{kind}",
        "/api/webhooks/whapi",
    ] {
        assert!(dom.contains(path), "{path} is not listed on the docs page");
    }
    let listed = dom.matches("opblock-summary-path").count();
    assert!(listed >= 35, "only {listed} operations listed");
}

#[test]
fn operation_ids_are_unique() {
    let document = generated();
    let mut seen = BTreeSet::new();
    for (method, path) in operations(&document) {
        let id = document["paths"][&path][method.to_lowercase()]["operationId"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(seen.insert(id.clone()), "operationId {id} twice");
    }
}

/// Follows `$ref`s of the generated document to the schema they name.
fn resolved<'a>(document: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(reference) => {
            let name = reference.rsplit('/').next().unwrap();
            resolved(document, &document["components"]["schemas"][name])
        }
        None => schema,
    }
}

/// The webhook's body is described field by field where the platform reads it: each incoming
/// message's id, sender, text and time, and each status's message id and state.
#[test]
fn the_webhook_body_describes_the_fields_the_platform_reads() {
    let document = generated();
    let body = resolved(
        &document,
        &document["paths"]["/api/webhooks/whapi"]["post"]["requestBody"]["content"]["application/json"]
            ["schema"],
    );
    let properties = |schema: &Value| -> BTreeSet<String> {
        resolved(&document, schema)["properties"]
            .as_object()
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default()
    };
    let message = &body["properties"]["messages"]["items"];
    assert_eq!(
        properties(message),
        BTreeSet::from(["id", "from_me", "from", "chat_id", "text", "timestamp"].map(String::from)),
        "{body}"
    );
    let text = &resolved(&document, message)["properties"]["text"];
    let text = text
        .get("oneOf")
        .and_then(|o| o.as_array())
        .and_then(|o| o.iter().find(|s| s["type"] != "null"))
        .unwrap_or(text);
    assert_eq!(
        properties(text),
        BTreeSet::from(["body".to_owned()]),
        "{body}"
    );
    assert_eq!(
        properties(&body["properties"]["statuses"]["items"]),
        BTreeSet::from(["id".to_owned(), "status".to_owned()]),
        "{body}"
    );
}
