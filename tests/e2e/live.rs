//! The live channel: browsers hear "pull now" within a second of a commit that changes what
//! their caller may see, and nobody hears of a change they may not see. Locally through the
//! gateway's WebSocket on a real port; in AWS's shape through the `sync-live` binary and a fake
//! of API Gateway's management API.

use std::time::{Duration, Instant};

use e2e_tests::{
    TestApp,
    device::Device,
    fake_apigw::FakeApiGateway,
    lambda::{Runtime, build_binary},
    live::{LiveSocket, Served},
};
use http::{Method, StatusCode};
use serde_json::{Value, json};
use shared::sync::live;
use uuid::Uuid;

/// What "within a second" allows, and how long a socket that must hear nothing is watched.
const WITHIN: Duration = Duration::from_secs(1);
const QUIET: Duration = Duration::from_millis(700);

fn all() -> Vec<String> {
    ["documents", "inscriptions", "masterclasses", "questions"]
        .map(str::to_owned)
        .to_vec()
}

fn only(collection: &str) -> Vec<String> {
    vec![collection.to_owned()]
}

/// The next poke of `socket` within a second, with its latency printed.
async fn poked(socket: &mut LiveSocket, what: &str) -> Vec<String> {
    let (collections, took) = socket
        .poke(WITHIN)
        .await
        .unwrap_or_else(|| panic!("{what}: no poke within {WITHIN:?}"));
    eprintln!("{what}: poked with {collections:?} after {took:?}");
    assert!(took < WITHIN, "{what}: {took:?}");
    collections
}

#[tokio::test]
async fn a_push_by_one_device_pokes_another_devices_open_socket_within_a_second() {
    // Arrange
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let masterclass = app.masterclass(&admin, "Atelier en direct", false).await;
    let tutor = app.tutor(&admin, &[&masterclass]).await;
    let served = Served::start(&app).await;
    let mut tutors_tablet = served.open(&tutor.token).await;
    let mut admins_laptop = Device::new(admin.http.clone(), 0);
    admins_laptop.mutate(
        "questions",
        Uuid::new_v4(),
        "create",
        json!({"masterclass_id": masterclass, "text": "Qu'est-ce qu'un bilan ?",
               "choice_a": "Un état", "choice_b": "Un flux", "choice_c": "Un impôt",
               "choice_d": "Un prêt", "correct": "A"}),
    );

    // Act
    let started = Instant::now();
    let (answer, _) = admins_laptop.push(1).await.expect("a push");
    let collections = poked(&mut tutors_tablet, "a device's push").await;
    let latency = started.elapsed();

    // Assert
    assert_eq!(answer.synced_count, 1);
    assert_eq!(collections, only("questions"));
    eprintln!("poke latency, push sent to poke read: {latency:?}");
    assert!(latency < WITHIN, "{latency:?}");
}

#[tokio::test]
async fn a_staff_route_write_pokes_the_masterclass_staff_and_the_student_it_concerns() {
    // Arrange
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let masterclass = app.masterclass(&admin, "Atelier", false).await;
    let tutor = app.tutor(&admin, &[&masterclass]).await;
    let student = app.student(&masterclass, "Awa Ndong").await;
    let classmate = app.student(&masterclass, "Paul Obiang").await;
    let served = Served::start(&app).await;
    let mut tutors = served.open(&tutor.token).await;
    let mut students = served.open(&student.token).await;
    let mut classmates = served.open(&classmate.token).await;

    // Act
    let marked = admin
        .patch_json(
            &format!("/api/admin/inscriptions/{}", student.inscription_id),
            &json!({"attended": true}),
        )
        .await;

    // Assert
    assert_eq!(marked.status, StatusCode::OK);
    assert_eq!(poked(&mut tutors, "the tutor").await, only("inscriptions"));
    assert_eq!(
        poked(&mut students, "the student").await,
        only("inscriptions")
    );
    classmates.silent(QUIET).await;
}

#[tokio::test]
async fn a_tutor_is_poked_only_for_the_masterclasses_they_staff() {
    // Arrange
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let mine = app.masterclass(&admin, "La mienne", false).await;
    let theirs = app.masterclass(&admin, "Celle d'un autre", false).await;
    let me = app.tutor(&admin, &[&mine]).await;
    let other = app.tutor(&admin, &[&theirs]).await;
    let served = Served::start(&app).await;
    let mut my_socket = served.open(&me.token).await;
    let mut their_socket = served.open(&other.token).await;
    let mut admins = served.open(&admin.token).await;

    // Act: a question of their masterclass, then a draft masterclass renamed (theirs).
    app.bank(&admin, &theirs, 1, false).await;
    let their_question = poked(&mut their_socket, "the other tutor").await;
    let admins_question = poked(&mut admins, "the admin").await;
    my_socket.silent(QUIET).await;
    let renamed = admin
        .patch_json(
            &format!("/api/masterclasses/{theirs}"),
            &json!({"title": "Celle d'un autre, renommée"}),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{:?}", renamed.value());
    let their_rename = poked(&mut their_socket, "the other tutor").await;
    my_socket.silent(QUIET).await;
    // Then a change of mine reaches me.
    app.bank(&admin, &mine, 1, false).await;
    let my_question = poked(&mut my_socket, "the tutor").await;

    // Assert
    assert_eq!(their_question, only("questions"));
    assert_eq!(admins_question, only("questions"));
    assert_eq!(their_rename, only("masterclasses"));
    assert_eq!(my_question, only("questions"));
}

#[tokio::test]
async fn a_document_poke_goes_to_its_owner_only() {
    // Arrange
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let masterclass = app.masterclass(&admin, "Atelier", true).await;
    let tutor = app.tutor(&admin, &[&masterclass]).await;
    let student = app.student(&masterclass, "Awa Ndong").await;
    let served = Served::start(&app).await;
    let mut students_other_tab = served.open(&student.token).await;
    let mut admins = served.open(&admin.token).await;
    let mut tutors = served.open(&tutor.token).await;
    let mut phone = Device::new(student.http.clone(), 0);
    phone.mutate(
        "documents",
        Uuid::new_v4(),
        "create",
        json!({"key": "brouillon", "value": {"texte": "Bonjour"}}),
    );

    // Act
    let (answer, _) = phone.push(1).await.expect("a push");

    // Assert
    assert_eq!(answer.synced_count, 1);
    assert_eq!(
        poked(&mut students_other_tab, "the owner").await,
        only("documents")
    );
    admins.silent(QUIET).await;
    tutors.silent(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn an_assignment_pokes_the_tutor_for_every_collection() {
    // Arrange
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let masterclass = app.masterclass(&admin, "Atelier", false).await;
    let tutor = app.tutor(&admin, &[]).await;
    let bystander = app.tutor(&admin, &[]).await;
    let served = Served::start(&app).await;
    let mut tutors = served.open(&tutor.token).await;
    let mut bystanders = served.open(&bystander.token).await;
    let assign = format!("/api/admin/users/{}/masterclasses/{masterclass}", tutor.id);

    // Act
    let assigned = admin.request(Method::PUT, &assign, &[], None).await;
    let on_assignment = poked(&mut tutors, "the assigned tutor").await;
    let unassigned = admin.request(Method::DELETE, &assign, &[], None).await;
    let on_removal = poked(&mut tutors, "the unassigned tutor").await;

    // Assert
    assert_eq!(assigned.status, StatusCode::OK);
    assert_eq!(unassigned.status, StatusCode::OK);
    assert_eq!(on_assignment, all());
    assert_eq!(on_removal, all());
    bystanders.silent(QUIET).await;
}

#[tokio::test]
async fn a_ticket_is_for_signed_in_browsers_and_a_bad_or_expired_one_is_refused_before_the_upgrade()
{
    // Arrange
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let served = Served::start(&app).await;
    let stream = format!("ws://{}{}", served.addr, live::PATH);
    let expired = live::seal_ticket(
        &app.state.tickets,
        live::Listener::Staff { id: admin.id },
        time::OffsetDateTime::now_utc() - time::Duration::seconds(1),
    );
    let cursor_key_ticket = app
        .state
        .cursors
        .seal(&json!({"l": {"k": "staff", "id": admin.id}, "e": i64::MAX}));
    let peer = admin
        .post_json("/api/sync/peers", &json!({"name": "Salle 3"}))
        .await
        .value();

    // Act
    let ticket = served.ticket(&admin.token).await;
    let anonymous = app.post_json("/api/sync/stream/ticket", &Value::Null).await;
    let as_peer = app
        .http
        .with_bearer(peer["secret"].as_str().unwrap())
        .post_json("/api/sync/stream/ticket", &Value::Null)
        .await;
    let mut refused = Vec::new();
    for url in [
        stream.clone(),
        format!("{stream}?ticket="),
        format!("{stream}?ticket=bm90IGEgdGlja2V0"),
        format!("{stream}?ticket={expired}"),
        format!("{stream}?ticket={cursor_key_ticket}"),
    ] {
        refused.push(LiveSocket::connect(&url).await.err());
    }
    let plain_get = reqwest::get(
        ticket["url"]
            .as_str()
            .unwrap()
            .replacen("ws://", "http://", 1),
    )
    .await
    .unwrap();

    // Assert
    let url = ticket["url"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("{stream}?ticket=")),
        "the local endpoint on the host the browser called: {url}"
    );
    let expires: time::OffsetDateTime = time::OffsetDateTime::parse(
        ticket["expires_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let life = expires - time::OffsetDateTime::now_utc();
    assert!(
        life > time::Duration::seconds(50) && life <= time::Duration::seconds(60),
        "{life}"
    );
    anonymous.assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    as_peer.assert_problem(StatusCode::FORBIDDEN, "forbidden");
    for refusal in refused {
        let (status, content_type, body) = refusal.expect("refused");
        assert_eq!(status, 401, "{body}");
        assert_eq!(content_type, "application/problem+json");
        assert_eq!(
            serde_json::from_str::<Value>(&body).unwrap()["code"],
            "unauthorized"
        );
    }
    assert_eq!(
        plain_get.status(),
        400,
        "a valid ticket without a handshake"
    );
    assert_eq!(app.count("live_connections").await, 0, "nothing recorded");
}

#[tokio::test]
async fn a_dropped_connection_is_forgotten_and_the_browser_reconnects_with_a_new_ticket() {
    // Arrange
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let masterclass = app.masterclass(&admin, "Atelier", false).await;
    let served = Served::start(&app).await;
    let first = served.open(&admin.token).await;
    assert_eq!(
        app.count("live_connections").await,
        1,
        "recorded before it opened"
    );

    // Act: the tab closes, then a new one opens with a new ticket.
    first.close().await;
    let forgotten = wait_for(|| async { app.count("live_connections").await == 0 }).await;
    let mut second = served.open(&admin.token).await;
    app.bank(&admin, &masterclass, 1, false).await;

    // Assert
    assert!(forgotten, "a closed socket's row is removed");
    assert_eq!(
        poked(&mut second, "the new socket").await,
        only("questions")
    );
    assert_eq!(app.count("live_connections").await, 1);
}

/// Polls `check` for up to two seconds.
async fn wait_for<F: Future<Output = bool>>(check: impl Fn() -> F) -> bool {
    for _ in 0..40 {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_pgbouncer_a_job_s_write_still_pokes_within_a_second() {
    // Arrange: the gateway reaches Postgres only through pgbouncer in transaction mode, where
    // a LISTEN is not to be relied on: the hub's polling has to find the change if it is lost.
    let Some((_bouncer, app)) = e2e_tests::pgbouncer::platform(2, |_| {}).await else {
        return;
    };
    let admin = app.admin().await;
    let masterclass = app.masterclass(&admin, "Atelier", false).await;
    let served = Served::start(&app).await;
    let mut admins = served.open(&admin.token).await;

    // Act: a write no request of the gateway made (as a job's, or another process's).
    let started = Instant::now();
    app.db()
        .await
        .execute(
            "update masterclasses set description = 'Mise à jour' where id = $1::text::uuid",
            &[&masterclass],
        )
        .await
        .unwrap();
    let collections = poked(&mut admins, "behind pgbouncer").await;

    // Assert
    assert_eq!(collections, only("masterclasses"));
    eprintln!("poke latency behind pgbouncer: {:?}", started.elapsed());
}

#[tokio::test]
async fn a_hub_whose_listener_died_still_pokes_within_a_second_by_polling() {
    // Arrange: the hub listens; then its listening connection is killed (a restart, a pooler
    // that dropped it), and a write no request of the gateway made follows.
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let masterclass = app.masterclass(&admin, "Atelier", false).await;
    let served = Served::start(&app).await;
    let mut admins = served.open(&admin.token).await;
    let db = app.db().await;
    let listener = "select pid from pg_stat_activity
                    where datname = current_database() and query = 'listen live_changes'";
    let listening = wait_for(|| async { !db.query(listener, &[]).await.unwrap().is_empty() }).await;
    let killed = db
        .execute(
            &format!("select pg_terminate_backend(pid) from ({listener}) l"),
            &[],
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Act
    let started = Instant::now();
    db.execute(
        "update masterclasses set description = 'Sans écoute' where id = $1::text::uuid",
        &[&masterclass],
    )
    .await
    .unwrap();
    let collections = poked(&mut admins, "by polling").await;

    // Assert
    assert!(listening, "the hub listens on a connection of its own");
    assert_eq!(killed, 1);
    assert_eq!(collections, only("masterclasses"));
    eprintln!("poke latency by polling: {:?}", started.elapsed());
}

/// The `$connect` event API Gateway sends for `connection_id` with `ticket`.
fn connect_event(connection_id: &str, ticket: Option<&str>) -> Value {
    let mut event: Value = serde_json::from_str(
        &std::fs::read_to_string(e2e_tests::workspace_root().join("events/sync-live/connect.json"))
            .unwrap(),
    )
    .unwrap();
    event["requestContext"]["connectionId"] = json!(connection_id);
    match ticket {
        Some(ticket) => {
            event["queryStringParameters"]["ticket"] = json!(ticket);
            event["multiValueQueryStringParameters"]["ticket"] = json!([ticket]);
        }
        None => {
            event["queryStringParameters"] = Value::Null;
            event["multiValueQueryStringParameters"] = Value::Null;
        }
    }
    event
}

fn disconnect_event(connection_id: &str) -> Value {
    let mut event: Value = serde_json::from_str(
        &std::fs::read_to_string(
            e2e_tests::workspace_root().join("events/sync-live/disconnect.json"),
        )
        .unwrap(),
    )
    .unwrap();
    event["requestContext"]["connectionId"] = json!(connection_id);
    event
}

/// The ticket alone, out of a ticket route's answer.
fn ticket_of(answer: &Value) -> String {
    let url = answer["url"].as_str().unwrap();
    assert!(
        url.starts_with("wss://live.example.org/live?ticket="),
        "{url}"
    );
    url.split_once("?ticket=").unwrap().1.to_owned()
}

#[tokio::test]
async fn api_gateway_connections_get_the_pokes_their_callers_may_see_and_a_gone_one_is_forgotten() {
    // Arrange: a platform that fans out to API Gateway (the fake), and the sync-live binary
    // answering the WebSocket API's $connect and $disconnect.
    let fake = FakeApiGateway::start().await;
    let mut env: Vec<(&str, String)> = fake.env();
    env.push(("LIVE_URL", "wss://live.example.org/live".into()));
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let app = TestApp::spawn_with_env(&env_refs, |_| {}).await;
    let admin = app.admin().await;
    let mine = app.masterclass(&admin, "La mienne", false).await;
    let theirs = app.masterclass(&admin, "Celle d'un autre", false).await;
    let tutor = app.tutor(&admin, &[&mine]).await;
    let other = app.tutor(&admin, &[&theirs]).await;
    let student = app.student(&mine, "Awa Ndong").await;
    let binary = tokio::task::spawn_blocking(|| build_binary("sync-live", "sync-live"))
        .await
        .unwrap()
        .unwrap();
    let function_env = vec![
        ("DATABASE_URL", app.database_url.clone()),
        ("JWT_SECRET", e2e_tests::JWT_SECRET.to_owned()),
        ("RUN_MIGRATIONS", "false".to_owned()),
        ("S3_ENDPOINT", app.s3.endpoint()),
        (
            "S3_ACCESS_KEY_ID",
            local_gateway::s3::LOCAL_ACCESS_KEY.into(),
        ),
        (
            "S3_SECRET_ACCESS_KEY",
            local_gateway::s3::LOCAL_SECRET_KEY.into(),
        ),
    ];
    let mut function = Runtime::start(&binary, "sync-live", &function_env)
        .await
        .unwrap();
    let mut connect = async |id: &str, ticket: Option<&str>| -> i64 {
        let answer = function
            .invoke(connect_event(id, ticket))
            .await
            .unwrap()
            .expect("no function error");
        answer["statusCode"].as_i64().unwrap()
    };
    let mut tickets = Vec::new();
    for caller in [&admin.http, &tutor.http, &other.http, &student.http] {
        let answer = caller
            .post_json("/api/sync/stream/ticket", &Value::Null)
            .await;
        tickets.push(ticket_of(&answer.value()));
    }
    let expired = live::seal_ticket(
        &app.state.tickets,
        live::Listener::Staff { id: admin.id },
        time::OffsetDateTime::now_utc() - time::Duration::seconds(1),
    );
    let statuses = [
        connect("admin=", Some(&tickets[0])).await,
        connect("tutor=", Some(&tickets[1])).await,
        connect("tutor-closed-tab=", Some(&tickets[1])).await,
        connect("other-tutor=", Some(&tickets[2])).await,
        connect("student=", Some(&tickets[3])).await,
        connect("left=", Some(&tickets[3])).await,
        connect("no-ticket=", None).await,
        connect("forged=", Some("bm90IGEgdGlja2V0")).await,
        connect("expired=", Some(&expired)).await,
    ];
    let left = function
        .invoke(disconnect_event("left="))
        .await
        .unwrap()
        .expect("no function error");
    fake.close("tutor-closed-tab=");
    fake.take_delivered();

    // Act: a staff route's write in the tutor's masterclass (fanned out before it answers).
    let marked = admin
        .patch_json(
            &format!("/api/admin/inscriptions/{}", student.inscription_id),
            &json!({"attended": true}),
        )
        .await;
    let delivered = fake.take_delivered();

    // Assert
    assert_eq!(statuses, [200, 200, 200, 200, 200, 200, 401, 401, 401]);
    assert_eq!(left["statusCode"], 200);
    assert_eq!(marked.status, StatusCode::OK);
    let mut to: Vec<&str> = delivered.iter().map(|(id, _)| id.as_str()).collect();
    to.sort();
    assert_eq!(to, ["admin=", "student=", "tutor="], "{delivered:?}");
    for (_, body) in &delivered {
        assert_eq!(
            body,
            r#"{"type":"sync.poke","collections":["inscriptions"]}"#
        );
    }
    assert!(fake.posted().contains(&"tutor-closed-tab=".to_owned()));
    assert!(
        !fake
            .posted()
            .iter()
            .any(|id| id == "other-tutor=" || id == "left=")
    );
    assert_eq!(fake.unsigned(), 0, "every post signed for execute-api");
    let mut remaining: Vec<String> = app
        .db()
        .await
        .query("select id from live_connections order by id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    remaining.sort();
    assert_eq!(
        remaining,
        ["admin=", "other-tutor=", "student=", "tutor="],
        "the gone one and the one that left are forgotten, the refused never recorded"
    );

    // A write whose function died before its fan-out: the dispatcher's run delivers it.
    app.db()
        .await
        .execute(
            "update masterclasses set description = 'Relâche' where id = $1::text::uuid",
            &[&theirs],
        )
        .await
        .unwrap();
    let report = dispatcher::run(
        &app.state,
        time::OffsetDateTime::now_utc() + time::Duration::seconds(20),
    )
    .await
    .unwrap();
    let mut leftovers: Vec<String> = fake
        .take_delivered()
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    leftovers.sort();
    assert_eq!(
        leftovers,
        ["admin=", "other-tutor="],
        "a draft: its staff only; {report}"
    );

    // API Gateway failing (a 500, not a 410) costs that poke, never the write, nor the
    // connection.
    fake.fail("admin=");
    let renamed = admin
        .patch_json(
            &format!("/api/masterclasses/{theirs}"),
            &json!({"title": "Celle d'un autre, encore"}),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK);
    let delivered: Vec<String> = fake
        .take_delivered()
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(delivered, ["other-tutor="]);
    let kept: i64 = app
        .db()
        .await
        .query_one(
            "select count(*) from live_connections where id = 'admin='",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(kept, 1, "a failed post keeps the connection");
}
