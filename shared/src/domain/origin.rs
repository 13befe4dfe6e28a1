//! Where the client reached this API, for links in answers that point back at it (a handout's
//! `download_url`).
//!
//! The origin is `scheme://host` from the request: the `Host` header (or the URI's authority,
//! which HTTP/2 and `lambda_http` fill in), and `X-Forwarded-Proto` for the scheme (API Gateway
//! sets it to `https`; the local gateway serves `http`). Links are built per request rather
//! than from a configured address because the same records are served by the cloud and by a
//! venue server, each under its own name, and a Lambda cannot be told its API's address without
//! a cycle in the template. A client that sends a false `Host` only gets false links back
//! itself: API Gateway routes on the host, and nothing caches answers between clients. A
//! request with no host at all (an in-process test) gets links as paths.
//!
//! The origin has no path: the API is served at the root of its host (the template's HTTP API
//! uses the `$default` stage). Behind a named stage or a custom domain's base path, links would
//! need that prefix too. (`http::origin` makes it an extractor.) A venue server behind a reverse proxy must pass the client's `Host`
//! through (nginx: `proxy_set_header Host $host;`), or its links name the upstream.

use http::{HeaderMap, Uri, header, uri::Authority};

/// `scheme://host` of the request, or nothing when it named no host.
#[derive(Debug, Clone)]
pub struct Origin(Option<String>);

impl Origin {
    /// The origin of a request with these `headers` and `uri`.
    pub fn of(headers: &HeaderMap, uri: &Uri) -> Self {
        let host = headers
            .get(header::HOST)
            .and_then(|value| value.to_str().ok())
            .and_then(|host| host.parse::<Authority>().ok())
            .or_else(|| uri.authority().cloned())
            // A host, never credentials (`user@host` parses as an authority too).
            .filter(|authority| !authority.as_str().contains('@'));
        // A chain of proxies may list one scheme each: the first is the client's.
        let scheme = match headers
            .get("x-forwarded-proto")
            .and_then(|value| value.to_str().ok())
            .and_then(|protos| protos.split(',').next())
            .map(str::trim)
        {
            Some(proto) if proto.eq_ignore_ascii_case("https") => "https",
            Some(proto) if proto.eq_ignore_ascii_case("http") => "http",
            _ => uri.scheme_str().filter(|s| *s == "https").unwrap_or("http"),
        };
        Self(host.map(|host| format!("{scheme}://{host}")))
    }

    /// `path` (which starts with `/`) on this origin: a full URL, or the path alone when the
    /// request named no host.
    pub fn url(&self, path: &str) -> String {
        match &self.0 {
            Some(origin) => format!("{origin}{path}"),
            None => path.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(headers: &[(&str, &str)], uri: &str) -> Origin {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.insert(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        Origin::of(&map, &uri.parse().unwrap())
    }

    #[test]
    fn the_host_header_and_the_forwarded_scheme_make_the_origin() {
        let behind_gateway = origin(
            &[("host", "api.example.ga"), ("x-forwarded-proto", "https")],
            "/api/masterclasses",
        );
        assert_eq!(
            behind_gateway.url("/api/masterclasses/1/pdf"),
            "https://api.example.ga/api/masterclasses/1/pdf"
        );
        let venue = origin(&[("host", "10.0.0.2:3000")], "/api/masterclasses");
        assert_eq!(venue.url("/x"), "http://10.0.0.2:3000/x");
    }

    #[test]
    fn the_uri_stands_in_for_a_missing_host_and_nothing_gives_a_path() {
        let lambda = origin(&[], "https://abc.execute-api.aws/api/masterclasses");
        assert_eq!(lambda.url("/x"), "https://abc.execute-api.aws/x");
        assert_eq!(origin(&[], "/api/masterclasses").url("/x"), "/x");
    }

    #[test]
    fn a_host_that_is_not_one_gives_a_path() {
        for host in ["evil.example/../x", "user@evil.example", "a b", ""] {
            assert_eq!(
                origin(&[("host", host)], "/api").url("/x"),
                "/x",
                "{host:?}"
            );
        }
        let odd_scheme = origin(&[("host", "h"), ("x-forwarded-proto", "gopher")], "/");
        assert_eq!(odd_scheme.url("/x"), "http://h/x");
    }

    #[test]
    fn the_first_of_a_chain_of_schemes_and_bracketed_ipv6_hosts_are_kept() {
        for chain in ["https,http", "https, http", "HTTPS"] {
            let behind_proxies = origin(&[("host", "h"), ("x-forwarded-proto", chain)], "/");
            assert_eq!(behind_proxies.url("/x"), "https://h/x", "{chain:?}");
        }
        let ipv6 = origin(&[("host", "[::1]:3000")], "/");
        assert_eq!(ipv6.url("/x"), "http://[::1]:3000/x");
    }
}
