//! Extractors that behave like axum's but answer rejections with problem+json.
//!
//! Handlers use these instead of `axum::Json`, `axum::extract::Path` and `Query` so that no bad
//! request ever gets a plain-text body.

use axum::{
    body::Bytes,
    extract::{
        FromRequest, FromRequestParts, OptionalFromRequest, Request, rejection::JsonRejection,
    },
    response::{IntoResponse, Response},
};
use http::request::Parts;
use serde::{Serialize, de::DeserializeOwned};

use crate::error::{Error, FieldError};

/// A JSON body (request) or JSON response.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| {
                let essence = ct
                    .split(';')
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_ascii_lowercase();
                essence == "application/json" || essence.ends_with("+json")
            });
        if !is_json {
            return Err(Error::UnsupportedMediaType);
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == http::StatusCode::PAYLOAD_TOO_LARGE {
                Error::PayloadTooLarge("the request body is too large".into())
            } else {
                Error::BadRequest(e.body_text())
            }
        })?;
        // JSON can carry NUL only as this escape, and Postgres stores NUL in neither text nor
        // jsonb: refuse it here, once, for every route.
        if bytes.windows(6).any(|w| w == br"\u0000") {
            return Err(Error::field(
                "body",
                "text must not contain NUL characters (\\u0000)",
            ));
        }
        match axum::Json::<T>::from_bytes(&bytes) {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

/// An optional JSON body: no body at all is `None`; a body must be valid JSON.
impl<T, S> OptionalFromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Option<Self>, Self::Rejection> {
        if req.headers().contains_key(http::header::CONTENT_TYPE) {
            return <Self as FromRequest<S>>::from_request(req, state)
                .await
                .map(Some);
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| Error::BadRequest(e.body_text()))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            Ok(None)
        } else {
            Err(Error::UnsupportedMediaType)
        }
    }
}

/// A body that is JSON but not of the expected shape names its field (422); one that is not
/// JSON at all is a 400. (Content type and size are checked before parsing.)
fn json_rejection(rejection: JsonRejection) -> Error {
    match rejection {
        JsonRejection::JsonDataError(e) => {
            // serde's message names the path (`title: invalid type ...`); keep the field apart.
            let text = std::error::Error::source(&e)
                .map(ToString::to_string)
                .unwrap_or_else(|| e.body_text());
            match text.split_once(": ") {
                Some((path, message)) if !path.contains(' ') => {
                    Error::Validation(vec![FieldError::new(path, message)])
                }
                _ => Error::Validation(vec![FieldError::new("body", text)]),
            }
        }
        other => Error::BadRequest(other.body_text()),
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        // Into a `Vec` (whose writes are a plain extend), not through axum's `BytesMut` writer:
        // serde_json writes many small pieces, and at the size-optimised release profile each
        // went through a chain of calls (7 % of a page of masterclasses, by perf).
        let mut body = Vec::with_capacity(4096);
        match serde_json::to_writer(&mut body, &self.0) {
            Ok(()) => (
                [(
                    http::header::CONTENT_TYPE,
                    http::HeaderValue::from_static("application/json"),
                )],
                body,
            )
                .into_response(),
            Err(e) => Error::Internal(anyhow::Error::new(e).context("writing a JSON answer"))
                .into_response(),
        }
    }
}

/// Path parameters; a malformed one (say, not a UUID) is a 404, as no such resource exists.
#[derive(Debug)]
pub struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| Self(v))
            .map_err(|_| Error::NotFound("resource"))
    }
}

/// Query parameters; a malformed one is a 400 naming the problem. (Like [`Json`] and [`Path`],
/// axum's extractor wrapped so that its rejection is the platform's problem+json.)
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(v)| Self(v))
            .map_err(|e| Error::BadRequest(e.body_text()))
    }
}
