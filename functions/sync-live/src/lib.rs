//! `sync-live`: the `$connect` and `$disconnect` routes of the live channel's WebSocket API (see
//! `shared::sync::live`).
//!
//! | route | what |
//! |---|---|
//! | `$connect` (`wss://.../live?ticket=`) | opens the ticket (sealed, a minute's life, from `POST /api/sync/stream/ticket`) and records the connection with its caller; a missing, altered or expired ticket is a 401 and no connection |
//! | `$disconnect` | forgets the connection |
//!
//! Pokes go the other way: the function that committed a write posts them through the
//! management API (`shared::sync::live::fan_out`). The channel carries nothing from the browser:
//! the API has no other route, so API Gateway refuses any message a client sends.

use aws_lambda_events::apigw::ApiGatewayProxyResponse;
use shared::{AppState, sync::live};
use time::OffsetDateTime;

/// An event of the WebSocket API.
pub type Event = aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest;

/// API Gateway's answer to `$connect` (any status but 2xx refuses the connection) or
/// `$disconnect` (ignored).
pub type Answer = ApiGatewayProxyResponse;

fn status(code: i64) -> Answer {
    let mut answer = Answer::default();
    answer.status_code = code;
    answer
}

/// Handles one event: `$connect` records the connection of a valid ticket, `$disconnect`
/// forgets it. A database failure is a 500 (the browser reconnects with a new ticket).
pub async fn handle(state: &AppState, event: Event) -> Result<Answer, lambda_runtime::Error> {
    let context = &event.request_context;
    let Some(connection_id) = context.connection_id.as_deref() else {
        return Ok(status(400));
    };
    let done = match context.route_key.as_deref() {
        Some("$connect") => {
            let listener = event
                .query_string_parameters
                .first("ticket")
                .and_then(|ticket| {
                    live::open_ticket(&state.tickets, ticket, OffsetDateTime::now_utc())
                });
            let Some(listener) = listener else {
                tracing::info!(connection_id, "live connection refused: no valid ticket");
                return Ok(status(401));
            };
            live::connect(state, connection_id, live::APIGW, listener).await
        }
        Some("$disconnect") => live::disconnect(state, &[connection_id.to_owned()]).await,
        _ => return Ok(status(404)),
    };
    match done {
        Ok(()) => Ok(status(200)),
        Err(e) => {
            tracing::error!(connection_id, error = ?e, "live connection not recorded");
            Ok(status(500))
        }
    }
}
