//! How the crate's [`Error`] is answered over HTTP: RFC 9457 `application/problem+json`.
//!
//! The body carries the error's stable `code` (and `type`, a URI built from it) so clients can
//! branch on it; 5xx bodies are generic and the cause chain goes to the log with the request id.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, header};
use serde::Serialize;

use super::PROBLEM_JSON;
use crate::{
    error::{Error, FieldError, caused_by_unavailability},
    telemetry::current_request_id,
};

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    code: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    errors: &'a [FieldError],
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<String>,
    /// For `already_registered`: the existing inscription.
    #[serde(skip_serializing_if = "Option::is_none")]
    existing_inscription_id: Option<uuid::Uuid>,
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        // However it was wrapped, an outage is a 503, not a 500.
        let this = match self {
            Self::Internal(e) if caused_by_unavailability(&e) => Self::Unavailable(e),
            other => other,
        };
        let status = this.status();
        let request_id = current_request_id();
        if status.is_server_error() {
            // `{:#}` prints anyhow's whole context chain on one line.
            let cause = match &this {
                Self::Internal(e) | Self::Unavailable(e) => format!("{e:#}"),
                other => other.to_string(),
            };
            tracing::error!(status = status.as_u16(), request_id, error = %cause, "request failed");
        } else {
            tracing::info!(
                status = status.as_u16(),
                code = this.code(),
                "request rejected"
            );
        }
        let errors = match &this {
            Self::Validation(errors) => errors.as_slice(),
            _ => &[],
        };
        let problem = Problem {
            kind: format!("/problems/{}", this.code().replace('_', "-")),
            title: status.canonical_reason().unwrap_or("Error"),
            status: status.as_u16(),
            code: this.code(),
            detail: this.detail(),
            errors,
            request_id,
            existing_inscription_id: match &this {
                Self::AlreadyRegistered(id) => Some(*id),
                _ => None,
            },
        };
        let body = serde_json::to_vec(&problem).unwrap_or_else(|_| b"{}".to_vec());
        let mut response = (status, body).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Self::Unauthorized = this {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        let retry_after = match this {
            Self::Unavailable(_) => Some(2),
            Self::BadGateway { retry_after, .. } => retry_after,
            Self::TooManyRequests { retry_after, .. } => Some(retry_after.max(1)),
            _ => None,
        };
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}
