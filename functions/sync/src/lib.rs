//! `/api/sync`: offline sync for devices (see `shared::sync` for the protocol), and between
//! instances (a venue server and its cloud, `shared::sync::peer`).
//!
//! | route | who |
//! |---|---|
//! | `POST /api/sync/push` | staff, student or sync peer (exactly once per `client_id` and `mutation_id`) |
//! | `GET /api/sync/pull?cursor=&collections=&limit=` | staff, student or sync peer (row-level security decides what) |
//! | `POST /api/sync/peers`, `GET /api/sync/peers`, `DELETE /api/sync/peers/{id}` | admin (on the remote) |
//! | `POST /api/sync/run`, `GET /api/sync/runs` | admin (on the instance that has a remote) |
//! | `POST /api/sync/objects` | sync peer (links to copy handouts both ways) |
//! | `POST /api/sync/stream/ticket` | staff or student (a ticket for the live channel, `shared::sync::live`) |
//!
//! Every handler here has one shape, the same in every function crate: a `#[utoipa::path]` that
//! states the route's contract (the OpenAPI document is built from it), extractors that parse and
//! authenticate, then one service call, most often in one transaction as the caller. So handlers
//! read alike line for line, here and across crates. What
//! differs between two of them (the path, the role, the statuses, the service) is all each one
//! says; a macro over the shape would hide the contract the attribute states, and the rules are
//! in `shared` already.

use axum::{Router, extract::State, http::StatusCode};
use serde::Deserialize;
use shared::{
    AppState, Result,
    http::{Admin, Json, Member, Origin, Path, Peer, Query},
    model::sync::peers::{PeerView, RunView},
    sync::{
        self, PullQuery, PullResponse, PushRequest, PushResponse,
        live::{self, StreamTicket},
        peer::{self, CreatedPeer, ObjectsRequest, ObjectsResponse, PeerDraft, PeerName},
    },
};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

#[utoipa::path(
    post, operation_id = "sync_push", path = "/api/sync/push", tag = "sync",
    summary = "Apply a device's queued mutations, each exactly once",
    security(("staff_jwt" = []), ("student_token" = []), ("sync_peer" = [])),
    request_body = PushRequest,
    responses(
        (status = 200, description = "What became of each mutation; every `applied` one is durable", body = PushResponse),
        (status = 403, description = "The client id belongs to someone else", content_type = "application/problem+json", body = shared::http::openapi::Problem),
        (status = 409, description = "`mutation_gap`: a mutation id skips the next expected one; nothing was applied", content_type = "application/problem+json", body = shared::http::openapi::Problem),
        (status = 413, description = "More than 500 mutations, or a body over 256 KiB", content_type = "application/problem+json", body = shared::http::openapi::Problem)
    )
)]
async fn push(
    State(state): State<AppState>,
    Member(caller): Member,
    Json(request): Json<PushRequest>,
) -> Result<Json<PushResponse>> {
    Ok(Json(sync::push(&state, &caller, &request).await?))
}

#[utoipa::path(
    get, operation_id = "sync_pull", path = "/api/sync/pull", tag = "sync",
    summary = "Every change the caller may see since a cursor, paged",
    security(("staff_jwt" = []), ("student_token" = []), ("sync_peer" = [])),
    params(PullQuery),
    responses(
        (status = 200, description = "A page of changes, oldest first", body = PullResponse),
        (status = 403, description = "A collection the caller may not read", content_type = "application/problem+json", body = shared::http::openapi::Problem)
    )
)]
async fn pull(
    State(state): State<AppState>,
    Member(caller): Member,
    Query(query): Query<PullQuery>,
) -> Result<Json<PullResponse>> {
    Ok(Json(sync::pull(&state, &caller, &query).await?))
}

#[utoipa::path(
    post, operation_id = "sync_peers_create", path = "/api/sync/peers", tag = "sync",
    summary = "Create a sync peer (another instance allowed to sync with this one); its secret is shown once",
    security(("staff_jwt" = [])),
    request_body = PeerDraft,
    responses(
        (status = 201, description = "The peer, with its secret (only its hash is kept)", body = CreatedPeer),
        (status = 403, description = "Not an admin", content_type = "application/problem+json", body = shared::http::openapi::Problem),
        (status = 422, description = "A name of 1 to 100 characters is needed", content_type = "application/problem+json", body = shared::http::openapi::Problem)
    )
)]
async fn create_peer(
    State(state): State<AppState>,
    admin: Admin,
    Json(draft): Json<PeerDraft>,
) -> Result<(StatusCode, Json<CreatedPeer>)> {
    let name = PeerName::parse(&draft)?;
    let created = peer::create_peer(&state, &admin.caller(), &name).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

#[utoipa::path(
    get, operation_id = "sync_peers_list", path = "/api/sync/peers", tag = "sync",
    summary = "The sync peers, revoked ones included",
    security(("staff_jwt" = [])),
    responses(
        (status = 200, description = "Every peer, oldest first", body = Vec<PeerView>),
        (status = 403, description = "Not an admin", content_type = "application/problem+json", body = shared::http::openapi::Problem)
    )
)]
async fn list_peers(State(state): State<AppState>, admin: Admin) -> Result<Json<Vec<PeerView>>> {
    Ok(Json(peer::peers(&state, &admin.caller()).await?))
}

#[utoipa::path(
    delete, operation_id = "sync_peers_revoke", path = "/api/sync/peers/{id}", tag = "sync",
    summary = "Revoke a sync peer: its secret stops working at once",
    security(("staff_jwt" = [])),
    params(("id" = Uuid, Path, description = "The peer")),
    responses(
        (status = 200, description = "The peer, revoked", body = PeerView),
        (status = 403, description = "Not an admin", content_type = "application/problem+json", body = shared::http::openapi::Problem),
        (status = 404, description = "No such peer", content_type = "application/problem+json", body = shared::http::openapi::Problem)
    )
)]
async fn revoke_peer(
    State(state): State<AppState>,
    admin: Admin,
    Path(id): Path<Uuid>,
) -> Result<Json<PeerView>> {
    Ok(Json(peer::revoke_peer(&state, &admin.caller(), id).await?))
}

#[utoipa::path(
    post, operation_id = "sync_run", path = "/api/sync/run", tag = "sync",
    summary = "Sync with the remote now (push local changes, pull the remote's), and report",
    security(("staff_jwt" = [])),
    responses(
        (status = 200, description = "The run's report: `succeeded`, or `failed` with its errors (the next run resumes)", body = RunView),
        (status = 403, description = "Not an admin", content_type = "application/problem+json", body = shared::http::openapi::Problem),
        (status = 409, description = "`no_remote`: this deployment has none; `sync_running`: a run is under way", content_type = "application/problem+json", body = shared::http::openapi::Problem)
    )
)]
async fn run(State(state): State<AppState>, admin: Admin) -> Result<Json<RunView>> {
    Ok(Json(peer::run_requested(&state, &admin.caller()).await?))
}

/// `GET /api/sync/runs` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct RunsQuery {
    /// How many (1–200, default 50).
    limit: Option<i64>,
}

#[utoipa::path(
    get, operation_id = "sync_runs", path = "/api/sync/runs", tag = "sync",
    summary = "The latest sync runs with the remote, newest first",
    security(("staff_jwt" = [])),
    params(RunsQuery),
    responses(
        (status = 200, description = "Run reports", body = Vec<RunView>),
        (status = 403, description = "Not an admin", content_type = "application/problem+json", body = shared::http::openapi::Problem),
        (status = 422, description = "A limit out of range", content_type = "application/problem+json", body = shared::http::openapi::Problem)
    )
)]
async fn runs(
    State(state): State<AppState>,
    admin: Admin,
    Query(query): Query<RunsQuery>,
) -> Result<Json<Vec<RunView>>> {
    let limit = query.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(shared::Error::field("limit", "must be between 1 and 200"));
    }
    Ok(Json(peer::runs(&state, &admin.caller(), limit).await?))
}

#[utoipa::path(
    post, operation_id = "sync_objects", path = "/api/sync/objects", tag = "sync",
    summary = "Links to copy the objects synced records refer to (handouts), for a sync peer",
    security(("sync_peer" = [])),
    request_body = ObjectsRequest,
    responses(
        (status = 200, description = "A presigned GET per object to download (none when absent here), a presigned PUT per object to upload (none when already here)", body = ObjectsResponse),
        (status = 403, description = "Not a sync peer", content_type = "application/problem+json", body = shared::http::openapi::Problem),
        (status = 413, description = "More than 100 objects one way", content_type = "application/problem+json", body = shared::http::openapi::Problem),
        (status = 422, description = "A key that is not a synced record's object, or an upload out of limits", content_type = "application/problem+json", body = shared::http::openapi::Problem)
    )
)]
async fn objects(
    State(state): State<AppState>,
    _peer: Peer,
    Json(request): Json<ObjectsRequest>,
) -> Result<Json<ObjectsResponse>> {
    Ok(Json(peer::object_links(&state, &request).await?))
}

#[utoipa::path(
    post, operation_id = "sync_stream_ticket", path = "/api/sync/stream/ticket", tag = "sync",
    summary = "A ticket for the live channel: a WebSocket that says \"pull now\" when what the caller sees changed",
    description = "Open `url` as a WebSocket within a minute (the ticket is in its query string, since a browser cannot set headers on one). Each message is `{\"type\": \"sync.poke\", \"collections\": [...]}`: pull those collections. Pull everything on every (re)connect, and take a new ticket for each.",
    security(("staff_jwt" = []), ("student_token" = [])),
    responses(
        (status = 200, description = "The live endpoint's URL with the ticket, and when the ticket expires", body = StreamTicket),
        (status = 403, description = "A sync peer: the live channel is for browsers", content_type = "application/problem+json", body = shared::http::openapi::Problem)
    )
)]
async fn stream_ticket(
    State(state): State<AppState>,
    Member(caller): Member,
    origin: Origin,
) -> Result<Json<StreamTicket>> {
    Ok(Json(live::ticket(
        &state,
        &caller,
        &origin.url(live::PATH),
    )?))
}

/// The function's routes, without the common layers (the caller adds them once).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(push))
        .routes(routes!(pull))
        .routes(routes!(create_peer, list_peers))
        .routes(routes!(revoke_peer))
        .routes(routes!(run))
        .routes(routes!(runs))
        .routes(routes!(objects))
        .routes(routes!(stream_ticket))
}

/// The function's router as deployed: its routes, the common layers, and its state.
pub fn router(state: AppState) -> Router {
    shared::http::deployed(routes(), state)
}
