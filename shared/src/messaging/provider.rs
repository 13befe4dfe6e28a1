//! Message providers behind one small trait: Whapi.Cloud in production, a log in the local stack.
//! Meta's WhatsApp Cloud API would be a third implementation.
//!
//! A send ends in one of three ways: the provider has the message (its id), it certainly does
//! not ([`SendError::Transient`] or [`SendError::Permanent`]), or nobody knows
//! ([`SendError::Unknown`]: the request was written but no answer came back in time). Whapi has
//! no idempotency key, so an unknown outcome is never simply resent: the dispatcher asks the
//! provider ([`Provider::find`]) whether it has the message first.

use std::{future::Future, pin::Pin, time::Duration};

use serde_json::json;
use time::OffsetDateTime;

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
    /// The request may have reached the provider and been sent: a timeout or a broken
    /// connection after it was written, a gateway timeout, a success without a message id.
    Unknown { reason: String },
}

type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<String, SendError>> + Send + 'a>>;
type FindFuture<'a> = Pin<Box<dyn Future<Output = Result<Option<String>, String>> + Send + 'a>>;

/// Sends one text message; returns the provider's message id.
pub trait Provider: Send + Sync {
    fn name(&self) -> &'static str;
    fn send<'a>(&'a self, to_e164: &'a str, body: &'a str) -> SendFuture<'a>;
    /// The id of a message with this `body` that the provider sent to `to_e164` at `since` or
    /// later, if it has one: how a send of unknown outcome is settled. An error means the
    /// provider could not be asked.
    fn find<'a>(&'a self, to_e164: &'a str, body: &'a str, since: OffsetDateTime)
    -> FindFuture<'a>;
}

/// Whapi's chat id of a number.
fn chat_id(to_e164: &str) -> String {
    format!("{}@s.whatsapp.net", to_e164.trim_start_matches('+'))
}

/// Whapi.Cloud: `POST {base}/messages/text` with a bearer token and `{to, body}`.
pub struct Whapi {
    client: reqwest::Client,
    base_url: String,
    token: Secret,
}

impl Whapi {
    /// `timeout` bounds each HTTP call, connection included.
    pub fn new(base_url: &str, token: Secret, timeout: Duration) -> Self {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
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
            let response = self
                .client
                .post(format!("{}/messages/text", self.base_url))
                .bearer_auth(self.token.expose())
                .json(&json!({ "to": chat_id(to_e164), "body": body }))
                .send()
                .await
                .map_err(|e| {
                    if e.is_connect() {
                        // No connection, so the request was never written.
                        SendError::Transient {
                            reason: format!("whapi unreachable: {e}"),
                            retry_after: None,
                        }
                    } else {
                        SendError::Unknown {
                            reason: format!("no answer from whapi: {e}"),
                        }
                    }
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
                // Accepted: whatever the body says, the message may well be on its way.
                let value: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
                return value["message"]["id"]
                    .as_str()
                    .or_else(|| value["id"].as_str())
                    .map(str::to_owned)
                    .ok_or_else(|| SendError::Unknown {
                        reason: format!("whapi answered {status} without a message id"),
                    });
            }
            let reason = format!(
                "whapi answered {status}: {}",
                text.chars().take(300).collect::<String>()
            );
            if status.as_u16() == 504 {
                // A gateway in front of Whapi gave up waiting: Whapi may have sent it.
                Err(SendError::Unknown { reason })
            } else if status.as_u16() == 429 || status.is_server_error() || status.as_u16() == 408 {
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

    /// `GET {base}/messages/list/{chat_id}?time_from=&count=`: the chat's recent messages,
    /// searched for one of ours (`from_me`) with the same text.
    fn find<'a>(
        &'a self,
        to_e164: &'a str,
        body: &'a str,
        since: OffsetDateTime,
    ) -> FindFuture<'a> {
        Box::pin(async move {
            let chat = chat_id(to_e164);
            let response = self
                .client
                .get(format!("{}/messages/list/{chat}", self.base_url))
                .bearer_auth(self.token.expose())
                .query(&[
                    ("time_from", since.unix_timestamp().to_string()),
                    ("count", "100".to_owned()),
                ])
                .send()
                .await
                .map_err(|e| format!("asking whapi for the chat's messages: {e}"))?;
            let status = response.status();
            if !status.is_success() {
                return Err(format!("whapi answered {status} to the chat's messages"));
            }
            let listing: serde_json::Value = response
                .json()
                .await
                .map_err(|e| format!("reading whapi's list of messages: {e}"))?;
            Ok(listing["messages"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|m| {
                    m["from_me"].as_bool().unwrap_or(true)
                        && m["text"]["body"].as_str() == Some(body)
                        && m["timestamp"]
                            .as_i64()
                            .is_none_or(|t| t >= since.unix_timestamp())
                })
                .and_then(|m| m["id"].as_str())
                .map(str::to_owned))
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

    /// The log never leaves an outcome unknown; nothing is ever found.
    fn find<'a>(&'a self, _: &'a str, _: &'a str, _: OffsetDateTime) -> FindFuture<'a> {
        Box::pin(async { Ok(None) })
    }
}

/// Whapi when `WHAPI_TOKEN` is set, the log otherwise.
pub fn from_config(config: &MessagingConfig) -> Box<dyn Provider> {
    match &config.whapi_token {
        Some(token) => Box::new(Whapi::new(
            &config.whapi_base_url,
            token.clone(),
            config.send_timeout,
        )),
        None => Box::new(Log),
    }
}
