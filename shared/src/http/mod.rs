//! HTTP plumbing shared by every function: the one error type, extractors that turn rejections
//! into problem+json, request ids, and the layers every router is wrapped in.

pub mod auth;
mod error;
mod extract;
mod layers;
pub mod openapi;
mod origin;
pub mod rfc3339;
mod source;

pub use auth::{Admin, Member, Peer, Staff, Student, StudentOrErased};
pub use error::{Error, FieldError, Result, on_constraint};
pub use extract::{Json, Path, Query};
pub use layers::{REQUEST_ID_HEADER, cors, current_request_id, deployed, with_common_layers};
pub use origin::Origin;
pub use source::SourceIp;

/// The problem+json media type (RFC 9457).
pub const PROBLEM_JSON: &str = "application/problem+json";
