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

use crate::error::Error;

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

#[cfg(test)]
mod tests {
    use super::*;

    fn parts_of(request: http::Request<impl Sized>) -> Parts {
        request.into_parts().0
    }

    #[test]
    fn behind_api_gateway_the_source_is_the_request_contexts_source_ip() {
        let event = include_str!("../../../events/inscriptions/register.json");
        let sent: serde_json::Value = serde_json::from_str(event).unwrap();
        let request = lambda_http::request::from_str(event).unwrap();
        let mut parts = parts_of(request);
        // A header a client may write is not the source.
        parts
            .headers
            .insert("x-forwarded-for", "192.0.2.1".parse().unwrap());

        let source = SourceIp::of(&parts);

        let expected: IpAddr = sent["requestContext"]["http"]["sourceIp"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(source, SourceIp(Some(expected)));
    }

    #[test]
    fn locally_the_source_is_the_connections_peer_as_ipv4_when_mapped() {
        let peer: SocketAddr = "[::ffff:198.51.100.7]:4242".parse().unwrap();
        let mut request = http::Request::new(());
        request.extensions_mut().insert(ConnectInfo(peer));
        request
            .headers_mut()
            .insert("x-forwarded-for", "192.0.2.1".parse().unwrap());

        let source = SourceIp::of(&parts_of(request));

        assert_eq!(source, SourceIp(Some("198.51.100.7".parse().unwrap())));
        assert_eq!(
            SourceIp::of(&parts_of(http::Request::new(()))),
            SourceIp(None)
        );
    }
}
