//! Message providers behind one small trait: Whapi.Cloud in production, a log in the local stack.
//! Meta's WhatsApp Cloud API would be a third implementation.

use std::{future::Future, pin::Pin, time::Duration};

use serde_json::json;

use crate::config::{MessagingConfig, Secret};

/// How a send failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// Worth retrying (provider down, rate limited, timeout), after `retry_after` if it said.
    Transient {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// Retrying cannot help (the number is not on WhatsApp, the request is refused as invalid).
    Permanent { reason: String },
}

type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<String, SendError>> + Send + 'a>>;

/// Sends one text message; returns the provider's message id.
pub trait Provider: Send + Sync {
    fn name(&self) -> &'static str;
    fn send<'a>(&'a self, to_e164: &'a str, body: &'a str) -> SendFuture<'a>;
}

/// Whapi.Cloud: `POST {base}/messages/text` with a bearer token and `{to, body}`.
pub struct Whapi {
    client: reqwest::Client,
    base_url: String,
    token: Secret,
}

impl Whapi {
    pub fn new(base_url: &str, token: Secret) -> Self {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(5))
            .build()
            .expect("an HTTP client");
        Self {
            client,
            base_url: base_url.trim_end_matches('/').to_owned(),
            token,
        }
    }
}

impl Provider for Whapi {
    fn name(&self) -> &'static str {
        "whapi"
    }

    fn send<'a>(&'a self, to_e164: &'a str, body: &'a str) -> SendFuture<'a> {
        Box::pin(async move {
            let to = format!("{}@s.whatsapp.net", to_e164.trim_start_matches('+'));
            let response = self
                .client
                .post(format!("{}/messages/text", self.base_url))
                .bearer_auth(self.token.expose())
                .json(&json!({ "to": to, "body": body }))
                .send()
                .await
                .map_err(|e| SendError::Transient {
                    reason: format!("whapi unreachable: {e}"),
                    retry_after: None,
                })?;
            let status = response.status();
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
                .map(Duration::from_secs);
            let text = response.text().await.unwrap_or_default();
            if status.is_success() {
                let value: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
                return value["message"]["id"]
                    .as_str()
                    .or_else(|| value["id"].as_str())
                    .map(str::to_owned)
                    .ok_or_else(|| SendError::Transient {
                        reason: format!("whapi answered {status} without a message id"),
                        retry_after: None,
                    });
            }
            let reason = format!(
                "whapi answered {status}: {}",
                text.chars().take(300).collect::<String>()
            );
            if status.as_u16() == 429 || status.is_server_error() || status.as_u16() == 408 {
                Err(SendError::Transient {
                    reason,
                    retry_after,
                })
            } else if status.as_u16() == 401 || status.as_u16() == 403 {
                // Our token is wrong: an outage on our side, not the student's number.
                Err(SendError::Transient {
                    reason,
                    retry_after: None,
                })
            } else {
                Err(SendError::Permanent { reason })
            }
        })
    }
}

/// The local stack's provider: the message goes to the log and counts as sent.
pub struct Log;

impl Provider for Log {
    fn name(&self) -> &'static str {
        "log"
    }

    fn send<'a>(&'a self, to_e164: &'a str, body: &'a str) -> SendFuture<'a> {
        Box::pin(async move {
            let masked = format!(
                "{}{}",
                "*".repeat(to_e164.len().saturating_sub(3)),
                &to_e164[to_e164.len().saturating_sub(3)..]
            );
            tracing::info!(to = %masked, body, "WhatsApp message (log provider, not sent)");
            Ok(format!("log-{}", uuid::Uuid::new_v4()))
        })
    }
}

/// Whapi when `WHAPI_TOKEN` is set, the log otherwise.
pub fn from_config(config: &MessagingConfig) -> Box<dyn Provider> {
    match &config.whapi_token {
        Some(token) => Box::new(Whapi::new(&config.whapi_base_url, token.clone())),
        None => Box::new(Log),
    }
}
