//! HTTP plumbing shared by every function: the crate's [`Error`](crate::Error) rendered as
//! problem+json, extractors that turn rejections into it, request ids, and the layers every
//! router is wrapped in.

pub mod auth;
mod error;
mod extract;
mod layers;
pub mod openapi;
mod origin;
mod source;

pub use auth::{Admin, Member, Peer, Staff, Student, StudentOrErased};
pub use extract::{Json, Path, Query};
pub use layers::{REQUEST_ID_HEADER, cors, deployed, with_common_layers};
pub use origin::Origin;
pub use source::SourceIp;

/// The problem+json media type (RFC 9457).
pub const PROBLEM_JSON: &str = "application/problem+json";
