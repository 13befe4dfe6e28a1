//! The API's contract on the local gateway: the OpenAPI 3.1 document at `/api/openapi.json`
//! and Swagger UI at `/api/docs`, served from files vendored in `infra/local/docs/` (the
//! `swagger-ui-dist` npm package; no CDN).
//!
//! The document is built from the same `OpenApiRouter`s the gateway serves, so a route and its
//! description cannot drift apart; these two routes are the only ones it does not describe.

use axum::{
    Router,
    body::Bytes,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use shared::AppState;

/// The two routes this module serves, which the document leaves out.
pub const ROUTES: [&str; 2] = ["/api/openapi.json", "/api/docs"];

const FILES: [(&str, &str, &[u8]); 6] = [
    (
        "",
        "text/html; charset=utf-8",
        include_bytes!("../docs/index.html"),
    ),
    (
        "init.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../docs/init.js"),
    ),
    (
        "swagger-ui.css",
        "text/css; charset=utf-8",
        include_bytes!("../docs/swagger-ui/swagger-ui.css"),
    ),
    (
        "swagger-ui-bundle.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../docs/swagger-ui/swagger-ui-bundle.js"),
    ),
    (
        "favicon-32x32.png",
        "image/png",
        include_bytes!("../docs/swagger-ui/favicon-32x32.png"),
    ),
    (
        "LICENSE",
        "text/plain; charset=utf-8",
        include_bytes!("../docs/swagger-ui/LICENSE"),
    ),
];

/// `GET /api/openapi.json` and `GET /api/docs[/{file}]`.
pub fn routes(document: &utoipa::openapi::OpenApi) -> Router<AppState> {
    // Serialised once; each answer shares the bytes.
    let json = Bytes::from(document.to_pretty_json().expect("the document serialises"));
    Router::new()
        .route(
            "/api/openapi.json",
            get(move || async move { ([(header::CONTENT_TYPE, "application/json")], json) }),
        )
        .route("/api/docs", get(|| async { file("") }))
        .route("/api/docs/", get(|| async { file("") }))
        .route(
            "/api/docs/{file}",
            get(
                |axum::extract::Path(name): axum::extract::Path<String>| async move { file(&name) },
            ),
        )
}

fn file(name: &str) -> Response {
    match FILES.iter().find(|(n, ..)| *n == name) {
        Some((_, content_type, bytes)) => {
            let mut response = (StatusCode::OK, *bytes).into_response();
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            response
        }
        None => shared::Error::NotFound("file").into_response(),
    }
}
