//! The live channel: a WebSocket an open browser holds, over which the server says "pull now"
//! (`{"type": "sync.poke", "collections": ["inscriptions"]}`, never data) within a second of a
//! commit that changes what its caller may see.
//!
//! - **Tickets.** A browser cannot set an `Authorization` header on a WebSocket, so it first
//!   asks `POST /api/sync/stream/ticket` with its own credentials ([`ticket`]) and opens the
//!   `url` it gets, whose query string carries the ticket: the caller (a staff account, or a
//!   student's inscription, profile and masterclass) and an expiry [`TICKET_LIFETIME`] ahead,
//!   sealed with AES-256-GCM under a key derived from `JWT_SECRET` for this use alone
//!   ([`CursorKey::derive_for`] with [`TICKET_LABEL`]). Stateless: any instance opens any ticket
//!   ([`open_ticket`]), none stores one.
//! - **Connections** are rows of Postgres (`db::live`), whoever holds the socket: the local
//!   gateway's hub (its own endpoint id), or API Gateway's WebSocket API (endpoint [`APIGW`],
//!   recorded by the `sync-live` function at `$connect`, forgotten at `$disconnect`).
//! - **Changes** are recorded by triggers in the writing transaction, whatever the write path,
//!   and drained after commit by one SQL function that decides the recipients for everyone.
//! - **Fan-out.** Locally, the gateway's hub drains when Postgres notifies a commit (and polls,
//!   for a pooler that drops `LISTEN`). In AWS, every function drains after a successful write
//!   request, before its answer leaves ([`after_write`]: a Lambda cannot work after it
//!   answers), and posts each poke to its connection through the management API
//!   ([`ApiGateway`], `PostToConnection`); a connection gone (410) is forgotten. The dispatcher
//!   drains what is left each minute (a function that died between its commit and its drain),
//!   and drops what nobody drained ([`housekeeping`]).

use std::{sync::Arc, time::Duration};

use aws_sdk_apigatewaymanagement::{
    Client, error::SdkError, operation::post_to_connection::PostToConnectionError, primitives::Blob,
};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{
    AppState,
    auth::{Caller, StudentIdentity},
    config::LiveConfig,
    db,
    domain::paging::CursorKey,
    error::{Error, Result},
};

/// What the ticket key is derived for (see [`CursorKey::derive_for`]).
pub const TICKET_LABEL: &[u8] = b"masterclass live tickets v1";

/// How long a ticket opens a connection (a connection opened in time stays open).
pub const TICKET_LIFETIME: Duration = Duration::from_secs(60);

/// The endpoint of API Gateway's connections: any function delivers to them.
pub const APIGW: &str = "apigw";

/// The local gateway's live endpoint.
pub const PATH: &str = "/api/sync/stream";

/// Changes one drain takes at most.
const DRAIN_BATCH: i32 = 1000;

/// Drains one fan-out runs at most (more waits for the next write or the dispatcher).
const DRAIN_ROUNDS: usize = 10;

/// Posts to API Gateway in flight at once.
const CONCURRENT_POSTS: usize = 32;

/// Changes and kept pokes nobody drained are dropped after this.
pub const UNDRAINED_AFTER: Duration = Duration::from_secs(10 * 60);

/// A connection unseen this long is gone (API Gateway ends every connection after 2 hours).
pub const STALE_AFTER: Duration = Duration::from_secs(2 * 60 * 60);

/// Wakes the local hub after a write in this process (see [`after_write`]).
pub type Wake = Arc<tokio::sync::Notify>;

/// Who a live connection listens as: the caller its ticket was issued to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "k", rename_all = "lowercase")]
pub enum Listener {
    Staff {
        id: Uuid,
    },
    Student {
        inscription: Uuid,
        profile: Uuid,
        masterclass: Uuid,
    },
}

impl Listener {
    /// The listener a caller may be: staff and students only (not a sync peer, not anonymous).
    pub fn of(caller: &Caller) -> Option<Self> {
        match caller {
            Caller::Staff(staff) => Some(Self::Staff { id: staff.id }),
            Caller::Student(student) => Some(Self::Student {
                inscription: student.inscription_id,
                profile: student.profile_id,
                masterclass: student.masterclass_id,
            }),
            _ => None,
        }
    }
}

/// What a ticket seals.
#[derive(Serialize, Deserialize)]
struct TicketBody {
    #[serde(rename = "l")]
    listener: Listener,
    /// Expiry, Unix seconds.
    #[serde(rename = "e")]
    expires: i64,
}

/// A ticket for `listener`, valid until `expires`.
pub fn seal_ticket(key: &CursorKey, listener: Listener, expires: OffsetDateTime) -> String {
    key.seal(&TicketBody {
        listener,
        expires: expires.unix_timestamp(),
    })
}

/// The listener of `raw`, if this deployment sealed it and it has not expired at `now`.
pub fn open_ticket(key: &CursorKey, raw: &str, now: OffsetDateTime) -> Option<Listener> {
    let body: TicketBody = key.open(raw)?;
    (now.unix_timestamp() < body.expires).then_some(body.listener)
}

/// `POST /api/sync/stream/ticket`'s answer.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StreamTicket {
    /// The live endpoint with the ticket in its query string: open it as a WebSocket, as it is.
    #[schema(example = "wss://abc123def4.execute-api.eu-west-3.amazonaws.com/live?ticket=q1Z...")]
    pub url: String,
    /// When the ticket stops opening connections (about a minute; a connection opened before
    /// stays open). Every reconnect takes a new ticket.
    #[serde(with = "crate::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// A ticket for `caller` (403 for anyone but staff and students), pointing at `LIVE_URL`, or at
/// `here` (the local endpoint's `http(s)://` URL on the host the request reached) as `ws(s)://`.
pub fn ticket(state: &AppState, caller: &Caller, here: &str) -> Result<StreamTicket> {
    let listener = Listener::of(caller).ok_or(Error::Forbidden)?;
    let expires_at = OffsetDateTime::now_utc() + TICKET_LIFETIME;
    let sealed = seal_ticket(&state.tickets, listener, expires_at);
    let endpoint = match &state.config.live.url {
        Some(url) => url.clone(),
        None => here
            .strip_prefix("https://")
            .map(|rest| format!("wss://{rest}"))
            .or_else(|| {
                here.strip_prefix("http://")
                    .map(|rest| format!("ws://{rest}"))
            })
            .unwrap_or_else(|| here.to_owned()),
    };
    Ok(StreamTicket {
        url: format!("{endpoint}?ticket={sealed}"),
        expires_at,
    })
}

/// A poke as it travels: `{"type": "sync.poke", "collections": [...]}`.
#[derive(Serialize)]
struct PokeMessage<'a> {
    r#type: &'static str,
    collections: &'a [String],
}

/// The text of a poke naming `collections`.
pub fn message(collections: &[String]) -> String {
    serde_json::to_string(&PokeMessage {
        r#type: "sync.poke",
        collections,
    })
    .expect("a poke serialises")
}

/// Records connection `id`, delivered by `endpoint`, listening as `listener`.
pub async fn connect(state: &AppState, id: &str, endpoint: &str, listener: Listener) -> Result<()> {
    let (staff, student) = match listener {
        Listener::Staff { id } => (Some(id), None),
        Listener::Student {
            inscription,
            profile,
            masterclass,
        } => (
            None,
            Some(StudentIdentity {
                inscription_id: inscription,
                profile_id: profile,
                masterclass_id: masterclass,
            }),
        ),
    };
    db::transact(&state.db, &Caller::System, async |tx| {
        db::live::connect(tx, id, endpoint, staff, student).await
    })
    .await
}

/// Forgets connections `ids`.
pub async fn disconnect(state: &AppState, ids: &[String]) -> Result<()> {
    db::transact(&state.db, &Caller::System, async |tx| {
        db::live::disconnect(tx, ids).await
    })
    .await?;
    Ok(())
}

/// API Gateway's management API for the WebSocket API's connections (`PostToConnection`),
/// built once per process when `LIVE_MANAGEMENT_URL` is set.
#[derive(Clone, Debug)]
pub struct ApiGateway {
    client: Client,
}

/// What became of one post.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    Sent,
    /// The connection is closed (410 `GoneException`).
    Gone,
}

impl ApiGateway {
    /// The client of `config`'s management endpoint in `region`, if one is configured.
    pub async fn new(config: &LiveConfig, region: &str) -> Option<Self> {
        let url = config.management_url.as_ref()?;
        let shared = crate::aws::sdk_config(region, config.static_credentials.as_ref()).await;
        let conf = aws_sdk_apigatewaymanagement::config::Builder::from(&shared)
            .endpoint_url(url)
            // A post holds a write's answer back: a stalled endpoint must not hold it long.
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .operation_timeout(Duration::from_secs(3))
                    .build(),
            )
            .build();
        Some(Self {
            client: Client::from_conf(conf),
        })
    }

    /// Sends `body` to connection `id` as one text message.
    pub async fn post(&self, id: &str, body: &str) -> anyhow::Result<Delivery> {
        let sent = self
            .client
            .post_to_connection()
            .connection_id(id)
            .data(Blob::new(body.as_bytes()))
            .send()
            .await;
        match sent {
            Ok(_) => Ok(Delivery::Sent),
            Err(SdkError::ServiceError(e))
                if matches!(e.err(), PostToConnectionError::GoneException(_))
                    || e.raw().status().as_u16() == 410 =>
            {
                Ok(Delivery::Gone)
            }
            Err(e) => {
                Err(anyhow::Error::new(e).context(format!("posting a poke to connection {id}")))
            }
        }
    }
}

/// What one fan-out to API Gateway did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Pokes posted.
    pub sent: usize,
    /// Connections found closed, and forgotten.
    pub gone: usize,
    /// Posts that failed otherwise (the poke is dropped: a client pulls on every reconnect).
    pub failed: usize,
}

/// Drains the recorded changes for API Gateway's connections and posts each poke; forgets the
/// connections found gone. Nothing to do without `LIVE_MANAGEMENT_URL`.
pub async fn fan_out(state: &AppState) -> Result<Report> {
    let mut report = Report::default();
    let Some(api) = &state.live else {
        return Ok(report);
    };
    for _ in 0..DRAIN_ROUNDS {
        let pokes = db::transact(&state.db, &Caller::System, async |tx| {
            db::live::drain(tx, APIGW, DRAIN_BATCH).await
        })
        .await?;
        if pokes.is_empty() {
            break;
        }
        let outcomes: Vec<(String, anyhow::Result<Delivery>)> = futures::stream::iter(pokes)
            .map(|poke| async move {
                let outcome = api
                    .post(&poke.connection_id, &message(&poke.collections))
                    .await;
                (poke.connection_id, outcome)
            })
            .buffer_unordered(CONCURRENT_POSTS)
            .collect()
            .await;
        let mut gone = Vec::new();
        for (id, outcome) in outcomes {
            match outcome {
                Ok(Delivery::Sent) => report.sent += 1,
                Ok(Delivery::Gone) => gone.push(id),
                Err(e) => {
                    tracing::warn!(connection_id = %id, error = %format!("{e:#}"), "live poke not delivered");
                    report.failed += 1;
                }
            }
        }
        if !gone.is_empty() {
            report.gone += gone.len();
            disconnect(state, &gone).await?;
        }
    }
    Ok(report)
}

/// After a write request succeeded (its transaction committed): wake the local hub, if this
/// process has one, and fan out to API Gateway, if configured. A failure is logged, never the
/// request's: the write stands, and the dispatcher drains what is left.
pub async fn after_write(state: &AppState) {
    if let Some(wake) = &state.writes {
        wake.notify_one();
    }
    if state.live.is_some()
        && let Err(e) = fan_out(state).await
    {
        tracing::warn!(error = %format!("{e:?}"), "live fan-out after a write failed");
    }
}

/// The scheduled run's part: fan out what is left, then drop what nobody drained and the
/// connections that never said goodbye.
pub async fn housekeeping(state: &AppState) -> Result<(Report, i64)> {
    let report = fan_out(state).await?;
    let dropped = db::transact(&state.db, &Caller::System, async |tx| {
        db::live::housekeeping(tx, UNDRAINED_AFTER, STALE_AFTER).await
    })
    .await?;
    Ok((report, dropped))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ticket_opens_with_its_key_until_it_expires_and_hides_who_it_is_for() {
        let key = CursorKey::derive_for(b"a secret of at least thirty-two bytes", TICKET_LABEL);
        let listener = Listener::Staff {
            id: Uuid::from_u128(7),
        };
        let now = OffsetDateTime::now_utc();
        let ticket = seal_ticket(&key, listener, now + TICKET_LIFETIME);
        assert_eq!(open_ticket(&key, &ticket, now), Some(listener));
        assert_eq!(open_ticket(&key, &ticket, now + TICKET_LIFETIME), None);
        assert!(!ticket.contains(&Uuid::from_u128(7).to_string()));
        let cursors = CursorKey::derive(b"a secret of at least thirty-two bytes");
        assert_eq!(
            open_ticket(&cursors, &ticket, now),
            None,
            "a key of its own"
        );
        let mut altered = ticket.into_bytes();
        let last = altered.len() - 1;
        altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(
            open_ticket(&key, &String::from_utf8(altered).unwrap(), now),
            None
        );
    }

    #[test]
    fn a_poke_names_collections_only() {
        assert_eq!(
            message(&["inscriptions".into(), "questions".into()]),
            r#"{"type":"sync.poke","collections":["inscriptions","questions"]}"#
        );
    }
}
