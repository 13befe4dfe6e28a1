//! The layers every router is wrapped in: a request id on every request and response, a trace
//! span per request, a body size limit, problem+json answers for unknown paths and methods, and
//! the live channel's fan-out after a successful write (`sync::live::after_write`); and the CORS
//! answers of the local gateway ([`cors`]).

use axum::{
    Router,
    extract::{DefaultBodyLimit, State},
    middleware::Next,
    response::Response,
};
use http::{HeaderName, Method, Request};
use tower_http::{
    cors::{AllowOrigin, CorsLayer},
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    trace::TraceLayer,
};

use crate::{error::Error, telemetry::with_request_id};

/// The header carrying the request id (set by us when the caller or API Gateway did not).
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Bodies above this are refused with 413 before any handler reads them.
const MAX_BODY_BYTES: usize = 256 * 1024;

async fn scope_request_id(req: Request<axum::body::Body>, next: Next) -> Response {
    let id = req
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    with_request_id(id, next.run(req)).await
}

/// A request that may have written (any method but GET, HEAD and OPTIONS) and succeeded has
/// committed by the time its answer is made: its changes are fanned out before the answer
/// leaves, since a Lambda does nothing once it has answered.
async fn live_after_write(
    State(state): State<crate::AppState>,
    req: Request<axum::body::Body>,
    next: Next,
) -> Response {
    let writes = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let response = next.run(req).await;
    if writes && response.status().is_success() {
        crate::sync::live::after_write(&state).await;
    }
    response
}

async fn not_found() -> Error {
    Error::NotFound("route")
}

async fn method_not_allowed() -> Error {
    Error::MethodNotAllowed
}

/// A function's router as deployed: its `routes` (their descriptions dropped: the document is
/// the gateway's), the common layers, and its state.
pub fn deployed(
    routes: utoipa_axum::router::OpenApiRouter<crate::AppState>,
    state: crate::AppState,
) -> Router {
    let (routes, _) = routes.split_for_parts();
    with_common_layers(routes.with_state(state.clone()), state)
}

/// Wraps a function's router (served with `state`) with the platform's common layers. Every
/// function crate and the local gateway call this exactly once on their outermost router.
pub fn with_common_layers(router: Router, state: crate::AppState) -> Router {
    let header = HeaderName::from_static(REQUEST_ID_HEADER);
    router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(state, live_after_write))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(scope_request_id))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &Request<axum::body::Body>| {
                let id = req
                    .headers()
                    .get(REQUEST_ID_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
            }),
        )
        .layer(PropagateRequestIdLayer::new(header.clone()))
        .layer(SetRequestIdLayer::new(header, MakeRequestUuid))
}

/// CORS as the deployed HTTP API answers it (`CorsConfiguration` in `infra/template.yaml`): the
/// same methods, request and exposed headers and preflight lifetime, for `origins` (`*` for any).
/// API Gateway answers CORS before a function runs, so only the local gateway wears this layer.
pub fn cors(origins: &[String]) -> CorsLayer {
    use http::{HeaderValue, Method, header};
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(
            origins
                .iter()
                .filter_map(|o| HeaderValue::from_str(o).ok())
                .collect::<Vec<_>>(),
        )
    };
    CorsLayer::new()
        .allow_origin(allow)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static("idempotency-key"),
            HeaderName::from_static(REQUEST_ID_HEADER),
        ])
        .expose_headers([
            HeaderName::from_static(REQUEST_ID_HEADER),
            header::RETRY_AFTER,
        ])
        .max_age(std::time::Duration::from_secs(600))
}
