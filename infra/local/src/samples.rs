//! The samples in `events/` made runnable against a local platform.
//!
//! A sample names its rows by placeholder ids (the masterclass `7d6f0d2e-...`, the tutor
//! `5c1e9b2a-...`) and carries placeholder credentials (a staff JWT signed with a sample secret,
//! a student token that was never issued, a live channel ticket never sealed here, a sample
//! webhook secret). [`Fixture::create`] makes,
//! through the platform's own routes, a fresh row for every placeholder (so each sample answers
//! the same whatever ran before it), and [`Fixture::apply`] rewrites a sample to name those rows
//! and carry real credentials. `cargo run -- sample <file>` prints a sample so rewritten, and the
//! end-to-end suite feeds every sample, rewritten the same way, to its function binary and checks
//! the status `events/README.md` documents for it.
//!
//! Rows are made through the API as a client would where a route exists (the first admin, a
//! dead message and the handouts' bytes are put in place directly), one `api.expect` a call
//! (status, method, path, caller, body).

use anyhow::{Context, bail};
use axum::{Router, body::Body};
use http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use shared::AppState;
use tower::ServiceExt;
use uuid::Uuid;

/// The published masterclass the samples work on: a tutor assigned, a confirmed handout, ten
/// approved questions, one student registered, the POST test open.
pub const MASTERCLASS: &str = "7d6f0d2e-3f9a-4c7e-9a51-2b8f1c9e4a10";
/// An empty draft masterclass, for the sample that deletes one.
pub const DRAFT_MASTERCLASS: &str = "2f4e6a8c-1b3d-4f5a-9c7e-0d2b4c6e8a1f";
/// A tutor account, assigned to [`MASTERCLASS`].
pub const TUTOR: &str = "5c1e9b2a-7f3d-4e8a-b6c0-1d2e3f4a5b6c";
/// The student's inscription in [`MASTERCLASS`].
pub const INSCRIPTION: &str = "4a5b6c7d-8e9f-4a0b-9c1d-2e3f4a5b6c7d";
/// A draft question of [`MASTERCLASS`] (on no test paper, so it may be replaced or deleted).
pub const QUESTION: &str = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d";
/// A message to the student that the provider refused for good (`dead`), for the retry sample.
pub const DEAD_MESSAGE: &str = "3e2d1c0b-9a8f-4e7d-8c6b-5a4f3e2d1c0b";
/// The handout key of the sample that confirms an upload (its file name part).
pub const UPLOADED_HANDOUT: &str = "0b9a3f52-6c1d-4d7e-8f20-5a4b3c2d1e0f";

/// The sample admin, whose e-mail and password `events/auth/token.json` sends.
pub const ADMIN_EMAIL: &str = "exemple@example.ga";
pub const ADMIN_PASSWORD: &str = "un mot de passe assez long";

/// The `n`th question of the test paper as the POST sample names it.
fn paper_placeholder(n: usize) -> String {
    format!("{n:08x}-5e4f-4a3b-8c2d-1e0f9a8b7c6d")
}

/// Fresh rows for every placeholder of the samples, and the credentials to put in them.
#[derive(Debug, Clone)]
pub struct Fixture {
    /// Placeholder id → the id of the row made for it.
    ids: Vec<(String, String)>,
    pub admin_token: String,
    pub student_token: String,
    pub webhook_secret: Option<String>,
    /// A live channel ticket of the sample admin (valid a minute from its making).
    pub ticket: String,
}

impl Fixture {
    /// Makes the rows, through the routes of `router` (the local gateway's) where a route exists.
    pub async fn create(state: &AppState) -> anyhow::Result<Self> {
        let api = Api(crate::gateway::router(state.clone()));
        let admin_token = admin_token(state, &api).await?;
        let staff = Some(admin_token.as_str());
        let mut ids = Vec::new();

        let tutor = api
            .expect(
                StatusCode::CREATED,
                Method::POST,
                "/api/admin/users",
                staff,
                json!({
                    "email": format!("tuteur-{}@example.ga", short_id()),
                    "full_name": "Tuteur Exemple",
                    "password": ADMIN_PASSWORD,
                }),
            )
            .await?;
        ids.push((TUTOR.to_owned(), id_of(&tutor)?));

        let starts = time::OffsetDateTime::now_utc() + time::Duration::days(2);
        let masterclass = |title: &str, published: bool| {
            json!({
                "title": title,
                "starts_at": rfc3339(starts),
                "ends_at": rfc3339(starts + time::Duration::hours(3)),
                "published": published,
            })
        };
        let created = api
            .expect(
                StatusCode::CREATED,
                Method::POST,
                "/api/masterclasses",
                staff,
                masterclass("Exemple : créer son entreprise", true),
            )
            .await?;
        let masterclass_id = id_of(&created)?;
        ids.push((MASTERCLASS.to_owned(), masterclass_id.clone()));
        let draft = api
            .expect(
                StatusCode::CREATED,
                Method::POST,
                "/api/masterclasses",
                staff,
                masterclass("Exemple : un brouillon à supprimer", false),
            )
            .await?;
        ids.push((DRAFT_MASTERCLASS.to_owned(), id_of(&draft)?));

        api.expect(
            StatusCode::OK,
            Method::PUT,
            &format!(
                "/api/admin/users/{}/masterclasses/{masterclass_id}",
                id_of(&tutor)?
            ),
            staff,
            Value::Null,
        )
        .await?;

        // The handout, uploaded as a browser would (ticket, PUT to the store, confirm), and the
        // object the confirm sample names, already in the store.
        let ticket = api
            .expect(
                StatusCode::CREATED,
                Method::POST,
                &format!("/api/masterclasses/{masterclass_id}/pdf"),
                staff,
                json!({}),
            )
            .await?;
        let key = ticket["key"].as_str().context("a key in the ticket")?;
        let handout = crate::pdfs::french_handout(3);
        state
            .storage
            .put(key, handout.clone(), "application/pdf")
            .await?;
        api.expect(
            StatusCode::OK,
            Method::POST,
            &format!("/api/masterclasses/{masterclass_id}/pdf/confirm"),
            staff,
            json!({ "key": key }),
        )
        .await?;
        state
            .storage
            .put(
                &format!("masterclasses/{masterclass_id}/handouts/{UPLOADED_HANDOUT}.pdf"),
                handout,
                "application/pdf",
            )
            .await?;

        for i in 0..10 {
            api.expect(
                StatusCode::CREATED,
                Method::POST,
                "/api/admin/questions",
                staff,
                question(&masterclass_id, i, "approved"),
            )
            .await?;
        }
        let draft_question = api
            .expect(
                StatusCode::CREATED,
                Method::POST,
                "/api/admin/questions",
                staff,
                question(&masterclass_id, 10, "draft"),
            )
            .await?;
        ids.push((QUESTION.to_owned(), id_of(&draft_question)?));

        // A student of its own number: the registration sample registers another one.
        let number = format!("+24107{:06}", Uuid::new_v4().as_u128() % 1_000_000);
        let registered = api
            .expect(
                StatusCode::CREATED,
                Method::POST,
                "/api/inscriptions",
                None,
                json!({
                    "masterclass_id": masterclass_id,
                    "full_name": "Paul Obiang",
                    "date_of_birth": "1999-09-30",
                    "whatsapp_number": number,
                    "consent": true,
                }),
            )
            .await?;
        let inscription = registered["inscription_id"]
            .as_str()
            .context("an inscription id in the registration")?
            .to_owned();
        let student_token = registered["access_token"]
            .as_str()
            .context("an access token in the registration")?
            .to_owned();
        ids.push((INSCRIPTION.to_owned(), inscription.clone()));

        api.expect(
            StatusCode::OK,
            Method::PUT,
            &format!("/api/admin/masterclasses/{masterclass_id}/post-test"),
            staff,
            json!({ "open": true }),
        )
        .await?;
        let paper = api
            .expect(
                StatusCode::OK,
                Method::GET,
                "/api/tests/POST",
                Some(&student_token),
                Value::Null,
            )
            .await?;
        for (n, question) in paper["questions"]
            .as_array()
            .context("questions in the paper")?
            .iter()
            .enumerate()
        {
            ids.push((paper_placeholder(n), id_of(question)?));
        }

        let sent = api
            .expect(
                StatusCode::ACCEPTED,
                Method::POST,
                "/api/send-whatsapp",
                staff,
                json!({ "to": inscription, "messageType": "reminder", "data": {} }),
            )
            .await?;
        let message = id_of(&sent)?;
        give_up_on(state, &message).await?;
        ids.push((DEAD_MESSAGE.to_owned(), message));

        let ticket = api
            .expect(
                StatusCode::OK,
                Method::POST,
                "/api/sync/stream/ticket",
                staff,
                Value::Null,
            )
            .await?;
        let ticket = ticket["url"]
            .as_str()
            .and_then(|url| url.split_once("?ticket="))
            .context("a ticket in the live channel's URL")?
            .1
            .to_owned();

        Ok(Self {
            ids,
            ticket,
            admin_token,
            student_token,
            webhook_secret: state
                .config
                .messaging
                .webhook_secret
                .as_ref()
                .map(|s| s.expose().to_owned()),
        })
    }

    /// `event` naming the fixture's rows and carrying its credentials.
    pub fn apply(&self, event: &Value) -> Value {
        let mut text = event.to_string();
        for (placeholder, id) in &self.ids {
            text = text.replace(placeholder, id);
        }
        let mut event: Value = serde_json::from_str(&text).expect("still JSON");
        // A WebSocket API's `$connect` carries the ticket in its query string.
        if event["queryStringParameters"]["ticket"].is_string() {
            event["queryStringParameters"]["ticket"] = Value::String(self.ticket.clone());
            event["multiValueQueryStringParameters"]["ticket"] = json!([self.ticket]);
        }
        let headers = &mut event["headers"];
        if let Some(secret) = &self.webhook_secret
            && headers["x-webhook-secret"].is_string()
        {
            headers["x-webhook-secret"] = Value::String(secret.clone());
        }
        if let Some(auth) = headers["authorization"].as_str() {
            let token = if auth.starts_with("Bearer mcs_") {
                &self.student_token
            } else {
                &self.admin_token
            };
            headers["authorization"] = Value::String(format!("Bearer {token}"));
        }
        event
    }
}

/// The sample admin's token; the account is made on first use.
async fn admin_token(state: &AppState, api: &Api) -> anyhow::Result<String> {
    match shared::services::staff::create_admin(state, ADMIN_EMAIL, "Admin Exemple", ADMIN_PASSWORD)
        .await
    {
        Ok(_) | Err(shared::Error::Conflict { .. }) => {}
        Err(e) => bail!("creating the sample admin {ADMIN_EMAIL}: {e}"),
    }
    let token = api
        .expect(
            StatusCode::OK,
            Method::POST,
            "/api/auth/token",
            None,
            json!({ "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD }),
        )
        .await
        .with_context(|| {
            format!("signing in as {ADMIN_EMAIL} (was its password changed from the samples'?)")
        })?;
    Ok(token["access_token"]
        .as_str()
        .context("an access token")?
        .to_owned())
}

/// Marks message `id` as refused for good by the provider, as the dispatcher does after its
/// last attempt. (No route does this, and the local stack's provider never refuses.)
async fn give_up_on(state: &AppState, id: &str) -> anyhow::Result<()> {
    let id: Uuid = id.parse()?;
    let mut client = state.db.get().await?;
    let tx = shared::db::begin_as(&mut client, &shared::auth::Caller::System).await?;
    let updated =
        shared::db::outbox::give_up(&tx, id, "sample: the provider refused the number").await?;
    tx.commit().await?;
    if updated != 1 {
        bail!("message {id} does not exist");
    }
    Ok(())
}

fn question(masterclass: &str, i: usize, status: &str) -> Value {
    let correct = ["A", "B", "C", "D"][i % 4];
    json!({
        "masterclass_id": masterclass,
        "text": format!("Question d'exemple {} : quel est le bon choix ?", i + 1),
        "choices": [format!("Choix A{i}"), format!("Choix B{i}"), format!("Choix C{i}"), format!("Choix D{i}")],
        "correct": correct,
        "status": status,
    })
}

fn id_of(value: &Value) -> anyhow::Result<String> {
    Ok(value["id"]
        .as_str()
        .with_context(|| format!("an id in {value}"))?
        .to_owned())
}

fn short_id() -> String {
    Uuid::new_v4().simple().to_string()[..12].to_owned()
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .expect("a formattable time")
}

/// The gateway's routes, called in process.
struct Api(Router);

impl Api {
    /// Calls `method path` and returns the JSON answer, or an error unless it is `status`.
    async fn expect(
        &self,
        status: StatusCode,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Value,
    ) -> anyhow::Result<Value> {
        let mut request = Request::builder().method(method.clone()).uri(path);
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let request = if body.is_null() {
            request.body(Body::empty())?
        } else {
            request
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_string()))?
        };
        let response = self.0.clone().oneshot(request).await?;
        let answered = response.status();
        let bytes = response.into_body().collect().await?.to_bytes();
        if answered != status {
            bail!(
                "{method} {path} answered {answered}, not {status}: {}",
                String::from_utf8_lossy(&bytes)
            );
        }
        Ok(serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }
}
