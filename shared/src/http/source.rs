//! The address a request came from, for the limits that count per source.
//!
//! Behind API Gateway (HTTP API) it is `requestContext.http.sourceIp`, which the gateway sets
//! from the connection it accepted, so a client cannot choose it. Locally it is the peer of the
//! TCP connection (the local gateway serves with connect info). `X-Forwarded-For` is never
//! read: anyone can write it, and neither deployment puts a proxy of ours in front that would
//! need it.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use http::request::Parts;
use lambda_http::request::RequestContext;

use super::Error;

/// The source address of the request, if the server knows one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceIp(pub Option<IpAddr>);

impl SourceIp {
    /// The source address of a request with these parts.
    pub fn of(parts: &Parts) -> Self {
        if let Some(RequestContext::ApiGatewayV2(context)) = parts.extensions.get() {
            return Self(
                context
                    .http
                    .source_ip
                    .as_deref()
                    .and_then(|ip| ip.parse().ok()),
            );
        }
        Self(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(peer)| peer.ip().to_canonical()),
        )
    }
}

impl<S: Send + Sync> FromRequestParts<S> for SourceIp {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Error> {
        Ok(Self::of(parts))
    }
}
