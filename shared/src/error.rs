//! The crate's one error type, on the bottom floor: every layer returns it, and it imports
//! nothing else of the crate.
//!
//! Each variant's doc comment names its status. Clients branch on a stable `code`; how an error
//! is rendered as RFC 9457 `application/problem+json` (its `type`, the request id, a generic body
//! for a 5xx while the cause chain goes to the log) is the web layer's part, in `http`.

use http::StatusCode;
use serde::{Deserialize, Serialize};

/// Result alias used by every handler and service.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One field that failed to parse, named by its JSON path (`title`, `answers[3].choice`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 400: the request could not be read at all (malformed JSON, bad query string).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// 422: the request was read but one or more fields are invalid.
    #[error("invalid fields: {0:?}")]
    Validation(Vec<FieldError>),
    /// 422: a rule about the request as a whole was broken (not tied to one field).
    #[error("{code}: {detail}")]
    Unprocessable { code: &'static str, detail: String },
    /// 401: no valid credentials.
    #[error("unauthorized")]
    Unauthorized,
    /// 403: valid credentials without the right role.
    #[error("forbidden")]
    Forbidden,
    /// 404: nothing here (or nothing this caller may see).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// 405: the path exists but not with this method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 409: the request conflicts with the current state.
    #[error("{code}: {detail}")]
    Conflict { code: &'static str, detail: String },
    /// 409: this person is already registered for this masterclass; names the inscription.
    #[error("already registered as inscription {0}")]
    AlreadyRegistered(uuid::Uuid),
    /// 410: what the request would act on was erased (a retried registration of a person
    /// erased since).
    #[error("{code}: {detail}")]
    Gone { code: &'static str, detail: String },
    /// 413: the body or uploaded object is larger than allowed.
    #[error("payload too large: {0}")]
    PayloadTooLarge(String),
    /// 415: the body is not JSON.
    #[error("unsupported media type")]
    UnsupportedMediaType,
    /// 429: a limit was reached (registrations from an address or for a number, sign-in
    /// failures); `retry_after` (seconds) says when the window that holds it ends.
    #[error("rate limited: {detail}")]
    TooManyRequests { detail: String, retry_after: u32 },
    /// 502: an outside provider (the AI model) failed or answered unusably; `retry_after`
    /// (seconds) says when trying again may help, `None` that it will not by itself.
    #[error("{code}: {detail}")]
    BadGateway {
        code: &'static str,
        detail: String,
        retry_after: Option<u32>,
    },
    /// 503: a dependency (database pool) is saturated or down; safe to retry.
    #[error("service unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// 500: a bug or an infrastructure failure. Logged in full, answered generically. (An
    /// error whose cause is the database being unreachable, restarting or shutting down is
    /// answered as [`Error::Unavailable`] instead, wherever it was wrapped.)
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// Is this database error the server being unavailable rather than a bug: the connection lost
/// or refused (SQLSTATE class 08, a closed connection, an I/O error), or the server shutting
/// down, crashed or starting up (57P01–57P03), or out of connection slots (53300)?
pub fn is_unavailability(err: &tokio_postgres::Error) -> bool {
    use std::error::Error as _;
    if err.is_closed() {
        return true;
    }
    match err.code() {
        Some(code) => {
            let code = code.code();
            code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "53300")
        }
        // No server answer at all: the socket failed, or the server closed it.
        None => {
            err.as_db_error().is_none() && err.source().is_some_and(|s| s.is::<std::io::Error>())
        }
    }
}

/// Does `err`'s cause chain hold a database error that is unavailability (see
/// [`is_unavailability`]) or a pool that could not connect?
pub(crate) fn caused_by_unavailability(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<tokio_postgres::Error>()
            .is_some_and(is_unavailability)
            || cause
                .downcast_ref::<deadpool_postgres::PoolError>()
                .is_some_and(pool_unavailability)
    })
}

impl Error {
    /// A 422 for a single field.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Validation(_) | Self::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict { .. } | Self::AlreadyRegistered(_) => StatusCode::CONFLICT,
            Self::Gone { .. } => StatusCode::GONE,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::BadGateway { .. } => StatusCode::BAD_GATEWAY,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable machine-readable code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "bad_request",
            Self::Validation(_) => "validation_failed",
            Self::Unprocessable { code, .. }
            | Self::Conflict { code, .. }
            | Self::Gone { code, .. }
            | Self::BadGateway { code, .. } => code,
            Self::TooManyRequests { .. } => "rate_limited",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::AlreadyRegistered(_) => "already_registered",
            Self::PayloadTooLarge(_) => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::Unavailable(_) => "unavailable",
            Self::Internal(_) => "internal",
        }
    }

    /// What the problem body says in `detail`, if anything (never a 5xx's cause).
    pub fn detail(&self) -> Option<String> {
        match self {
            Self::BadRequest(d) | Self::PayloadTooLarge(d) => Some(d.clone()),
            Self::Unprocessable { detail, .. }
            | Self::Conflict { detail, .. }
            | Self::Gone { detail, .. }
            | Self::TooManyRequests { detail, .. }
            | Self::BadGateway { detail, .. } => Some(detail.clone()),
            Self::Validation(_) => Some("one or more fields are invalid".into()),
            Self::AlreadyRegistered(_) => Some(
                "this WhatsApp number is already registered for this masterclass; \
                 use the access token you received then (staff can issue a new one)"
                    .into(),
            ),
            Self::NotFound(what) => Some(format!("{what} not found")),
            Self::UnsupportedMediaType => {
                Some("send the body as JSON with Content-Type: application/json".into())
            }
            Self::Unavailable(_) => Some("a dependency is busy; retry shortly".into()),
            Self::Unauthorized | Self::Forbidden | Self::MethodNotAllowed | Self::Internal(_) => {
                None
            }
        }
    }
}

impl Error {
    /// Whether this error is the database being unavailable (a 503 with `Retry-After`, and a
    /// transaction not yet begun may be tried once more on a fresh connection).
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Unavailable(_) => true,
            Self::Internal(e) => caused_by_unavailability(e),
            _ => false,
        }
    }
}

/// A pool that could not hand out a connection: an outage (nothing to connect to, a timeout, a
/// server shutting down or starting up), unless the server refused the session for a reason of
/// its own (a bad role: our bug).
fn pool_unavailability(err: &deadpool_postgres::PoolError) -> bool {
    match err {
        deadpool_postgres::PoolError::Backend(e) => pool_unavailability_of(e),
        _ => true,
    }
}

fn pool_unavailability_of(err: &tokio_postgres::Error) -> bool {
    err.as_db_error().is_none() || is_unavailability(err)
}

/// Maps the database errors a request can cause to 4xx, by constraint name, in one place.
/// Everything else is an internal error with its context.
pub fn on_constraint(
    err: tokio_postgres::Error,
    context: impl std::fmt::Display + Send + Sync + 'static,
) -> Error {
    use tokio_postgres::error::SqlState;
    if let Some(db) = err.as_db_error() {
        let constraint = db.constraint().unwrap_or_default();
        let code = db.code();
        if *code == SqlState::UNIQUE_VIOLATION {
            return Error::Conflict {
                code: "already_exists",
                detail: format!(
                    "{context}: a record with the same key already exists ({constraint})"
                ),
            };
        }
        if *code == SqlState::CHECK_VIOLATION {
            return Error::Unprocessable {
                code: "constraint_violated",
                detail: format!("{context}: the values break the rule {constraint}"),
            };
        }
        if *code == SqlState::FOREIGN_KEY_VIOLATION {
            return Error::Conflict {
                code: "referenced_record",
                detail: format!(
                    "{context}: a related record is missing or still in use ({constraint})"
                ),
            };
        }
    }
    if is_unavailability(&err) {
        return Error::Unavailable(anyhow::Error::new(err).context(context));
    }
    Error::Internal(anyhow::Error::new(err).context(context))
}

impl From<tokio_postgres::Error> for Error {
    fn from(err: tokio_postgres::Error) -> Self {
        on_constraint(err, "database query")
    }
}

impl From<deadpool_postgres::PoolError> for Error {
    fn from(err: deadpool_postgres::PoolError) -> Self {
        match err {
            deadpool_postgres::PoolError::Backend(e) if !pool_unavailability_of(&e) => {
                Self::from(e)
            }
            other => {
                Self::Unavailable(anyhow::Error::new(other).context("connecting to the database"))
            }
        }
    }
}
