//! "Pull now" pokes to frontends' webhook URLs (`SYNC_POKE_URLS`).
//!
//! A push that changed data queues one poke per URL in its own transaction; the scheduled run
//! ([`deliver`], from the dispatcher) sends them, never the push. Pokes due for one URL go as one
//! request (their collections merged). The body names collections only:
//! `{"type": "sync.poke", "collections": ["questions"], "sent_at": "<RFC 3339>"}`. Headers:
//! `x-sync-timestamp: <Unix seconds>` and `x-sync-signature: sha256=<hex>`, the HMAC-SHA256 with
//! `SYNC_POKE_SECRET` of `<timestamp>.<body>`; a receiver recomputes it and refuses a timestamp
//! older than a few minutes. Delivery is at least once (a hint: pulling twice is harmless); a
//! failed poke is tried again after 5 s, 10 s, 20 s... up to an hour, at most [`MAX_ATTEMPTS`]
//! times. Pokes delivered or given up more than a day ago are forgotten by the same run.

use std::{collections::BTreeMap, time::Duration};

use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;
use time::OffsetDateTime;

use crate::{AppState, auth::Caller, db, error::Result};

/// Tries per poke before it is given up.
pub const MAX_ATTEMPTS: i32 = 8;

/// `sha256=<hex>` of `<timestamp>.<body>` under `secret`.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// What one run did.
#[derive(Debug, Default, serde::Serialize)]
pub struct Report {
    pub delivered: usize,
    pub failed: usize,
}

/// Sends the pokes that are due.
pub async fn deliver(state: &AppState) -> Result<Report> {
    let mut report = Report::default();
    let Some(secret) = &state.config.sync.poke_secret else {
        return Ok(report);
    };
    let due = db::transact(&state.db, &Caller::System, async |tx| {
        db::sync::purge_pokes(tx, MAX_ATTEMPTS).await?;
        db::sync::due_pokes(tx, MAX_ATTEMPTS, 500).await
    })
    .await?;
    if due.is_empty() {
        return Ok(report);
    }
    let mut by_url: BTreeMap<&str, Vec<&db::sync::DuePoke>> = BTreeMap::new();
    for poke in &due {
        by_url.entry(&poke.url).or_default().push(poke);
    }
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .map_err(anyhow::Error::from)?;
    for (url, pokes) in by_url {
        let mut collections: Vec<&str> = pokes
            .iter()
            .flat_map(|p| p.collections.iter().map(String::as_str))
            .collect();
        collections.sort_unstable();
        collections.dedup();
        let now = OffsetDateTime::now_utc();
        let body = serde_json::to_vec(&json!({
            "type": "sync.poke",
            "collections": collections,
            "sent_at": now.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        }))
        .map_err(anyhow::Error::from)?;
        let timestamp = now.unix_timestamp();
        let sent = client
            .post(url)
            .header("content-type", "application/json")
            .header("x-sync-timestamp", timestamp.to_string())
            .header(
                "x-sync-signature",
                signature(secret.expose(), timestamp, &body),
            )
            .body(body)
            .send()
            .await;
        let error = match sent {
            Ok(answer) if answer.status().is_success() => None,
            Ok(answer) => Some(format!("answered {}", answer.status())),
            Err(e) => Some(format!("not reached: {e}")),
        };
        let ids: Vec<i64> = pokes.iter().map(|p| p.id).collect();
        let tries = pokes.iter().map(|p| p.attempts).max().unwrap_or(0);
        let retry_in = (5.0 * 2f64.powi(tries)).min(3600.0);
        if let Some(error) = &error {
            tracing::warn!(url, error, tries = tries + 1, "sync poke not delivered");
            report.failed += ids.len();
        } else {
            report.delivered += ids.len();
        }
        db::transact(&state.db, &Caller::System, async |tx| {
            db::sync::poke_outcome(tx, &ids, error.as_deref(), retry_in).await
        })
        .await?;
    }
    Ok(report)
}
