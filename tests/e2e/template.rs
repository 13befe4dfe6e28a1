//! The SAM template and the routers agree: every route the template sends to a function is one
//! the function serves.

use e2e_tests::{TestApp, workspace_root};
use http::{Method, StatusCode};

/// `(method, path)` of every HttpApi event in infra/template.yaml.
fn template_routes() -> Vec<(Method, String)> {
    let template = std::fs::read_to_string(workspace_root().join("infra/template.yaml")).unwrap();
    let mut routes = Vec::new();
    let mut path = None;
    for line in template.lines().map(str::trim) {
        if let Some(p) = line.strip_prefix("Path: ") {
            path = Some(p.to_owned());
        } else if let Some(m) = line.strip_prefix("Method: ") {
            let p = path.take().expect("a Method follows its Path");
            routes.push((m.parse().unwrap(), p));
        }
    }
    routes
}

#[tokio::test]
async fn every_route_in_the_sam_template_is_served_by_the_gateway() {
    let app = TestApp::spawn().await;
    let routes = template_routes();
    assert!(routes.len() >= 20, "{routes:?}");

    for (method, path) in routes {
        let concrete = path.replace("{id}", "7d6f0d2e-3f9a-4c7e-9a51-2b8f1c9e4a10");
        let response = app.request(method.clone(), &concrete, &[], None).await;
        let unrouted = response.status == StatusCode::METHOD_NOT_ALLOWED
            || (response.status == StatusCode::NOT_FOUND
                && response.value()["detail"] == "route not found");
        assert!(
            !unrouted,
            "{method} {path} is in the template but no function serves it"
        );
    }
}

/// The route keys of the HttpApi's `RouteSettings` (its per-route throttling).
fn throttled_routes() -> Vec<String> {
    let template = std::fs::read_to_string(workspace_root().join("infra/template.yaml")).unwrap();
    let mut keys = Vec::new();
    let mut inside = false;
    for line in template.lines() {
        let trimmed = line.trim();
        if trimmed == "RouteSettings:" {
            inside = true;
        } else if inside && line.starts_with("        \"") {
            keys.push(trimmed.trim_end_matches(':').trim_matches('"').to_owned());
        } else if inside && !line.starts_with("         ") && !trimmed.is_empty() {
            inside = false;
        }
    }
    keys
}

/// A stage whose `RouteSettings` names a route the API lacks fails to deploy ("Unable to find
/// Route by key"), and a renamed route would lose its throttle: every key is a template route.
#[test]
fn every_throttled_route_is_a_route_of_the_template() {
    let routes: Vec<String> = template_routes()
        .into_iter()
        .map(|(method, path)| format!("{method} {path}"))
        .collect();
    let throttled = throttled_routes();
    assert!(
        throttled.contains(&"POST /api/inscriptions".to_owned()),
        "{throttled:?}"
    );
    for key in &throttled {
        assert!(routes.contains(key), "{key} is throttled but not a route");
    }
}
