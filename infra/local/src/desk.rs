//! The registration desk page at `/desk`: the sync package's example app (`shared/client/desk/`),
//! served from its committed build (`shared/client/dist/desk/`, `npm run build` writes it; a test
//! fails when it is stale). In AWS the page would be a static site (S3 and CloudFront) calling
//! the API; it needs nothing of the gateway but the routes every deployment serves.

use axum::{
    Router,
    http::{HeaderName, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use shared::AppState;

/// The page's paths (`/desk` is its service worker's scope too).
pub const ROUTES: [&str; 4] = ["/desk", "/desk/desk.js", "/desk/desk.css", "/desk/sw.js"];

const FILES: [(&str, &str, &[u8]); 4] = [
    (
        "/desk",
        "text/html; charset=utf-8",
        include_bytes!("../../../shared/client/dist/desk/index.html"),
    ),
    (
        "/desk/desk.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../../shared/client/dist/desk/desk.js"),
    ),
    (
        "/desk/desk.css",
        "text/css; charset=utf-8",
        include_bytes!("../../../shared/client/dist/desk/desk.css"),
    ),
    (
        "/desk/sw.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../../shared/client/dist/desk/sw.js"),
    ),
];

pub fn routes() -> Router<AppState> {
    let mut router = Router::new().route("/desk/", get(|| async { file("/desk") }));
    for path in ROUTES {
        router = router.route(path, get(move || async move { file(path) }));
    }
    router
}

fn file(path: &str) -> Response {
    let Some((_, content_type, bytes)) = FILES.iter().find(|(p, ..)| *p == path) else {
        return shared::Error::NotFound("file").into_response();
    };
    let mut response = (StatusCode::OK, *bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // The service worker decides what is cached; the browser's own cache must not keep an
    // old page behind it.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if path == "/desk/sw.js" {
        headers.insert(
            HeaderName::from_static("service-worker-allowed"),
            HeaderValue::from_static("/desk"),
        );
    }
    response
}
