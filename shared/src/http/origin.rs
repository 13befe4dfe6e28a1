//! The request's origin ([`Origin`], a value of the domain) as an extractor.

use axum::{extract::FromRequestParts, http::request::Parts};

pub use crate::domain::origin::Origin;

impl<S: Send + Sync> FromRequestParts<S> for Origin {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self::of(&parts.headers, &parts.uri))
    }
}
