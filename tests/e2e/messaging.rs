//! WhatsApp delivery: exactly once, through outages, races and crashes; statuses and STOP from
//! the provider's webhooks; what staff send and see.

use std::time::Duration;

use e2e_tests::{
    TestApp,
    fake_whapi::{FakeWhapi, WEBHOOK_SECRET},
};
use http::{Method, StatusCode};
use serde_json::{Value, json};
use shared::messaging::{dispatch, reminders};

async fn platform() -> (TestApp, FakeWhapi) {
    let fake = FakeWhapi::start().await;
    let app = TestApp::spawn_with(|config| fake.configure(config)).await;
    (app, fake)
}

/// Registers `n` students (each queues a confirmation); returns their numbers.
async fn registrations(app: &TestApp, n: usize) -> Vec<String> {
    let admin = app.admin().await;
    let id = app.open_masterclass(&admin, "Atelier").await;
    let mut numbers = Vec::new();
    for i in 0..n {
        let number = format!("+2410{}", 6_100_000 + i);
        let response = app.register(&id, &number, "Awa Ndong").await;
        assert_eq!(
            response.status,
            StatusCode::CREATED,
            "{}",
            String::from_utf8_lossy(&response.body)
        );
        numbers.push(number);
    }
    numbers
}

async fn statuses(app: &TestApp) -> Vec<String> {
    app.db()
        .await
        .query("select status from outbox_messages order by to_number", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

async fn drain(app: &TestApp) {
    e2e_tests::drain(app).await
}

fn delivered_once_each(fake: &FakeWhapi, numbers: &[String]) {
    let delivered = fake.delivered();
    for number in numbers {
        let chat = format!("{}@s.whatsapp.net", number.trim_start_matches('+'));
        let count = delivered.iter().filter(|(to, _)| *to == chat).count();
        assert_eq!(count, 1, "{number} got {count} messages");
    }
    assert_eq!(delivered.len(), numbers.len());
}

#[tokio::test]
async fn messages_are_delivered_exactly_once_through_a_provider_outage() {
    let (app, fake) = platform().await;
    let numbers = registrations(&app, 5).await;
    fake.fail_next(12);

    drain(&app).await;

    delivered_once_each(&fake, &numbers);
    assert!(statuses(&app).await.iter().all(|s| s == "sent"));
    let retried: i64 = app
        .db()
        .await
        .query_one(
            "select count(*) from outbox_messages where attempts > 1",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(retried > 0, "the outage caused retries");
    assert!(
        fake.delivered()[0]
            .1
            .starts_with("Bonjour Awa, votre inscription"),
        "{:?}",
        fake.delivered()[0]
    );
}

#[tokio::test]
async fn two_dispatchers_racing_never_send_a_message_twice() {
    let (app, fake) = platform().await;
    let numbers = registrations(&app, 12).await;
    fake.delay(Duration::from_millis(20));

    let (a, b) = tokio::join!(
        dispatch::run(&app.state, app.state.messenger.as_ref()),
        dispatch::run(&app.state, app.state.messenger.as_ref()),
    );
    drain(&app).await;

    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.claimed + b.claimed, 12, "{a:?} {b:?}");
    delivered_once_each(&fake, &numbers);
}

/// Every outbox row's (status, attempts), in the order of their numbers.
async fn states(app: &TestApp) -> Vec<(String, i32)> {
    app.db()
        .await
        .query(
            "select status, attempts from outbox_messages order by to_number",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

#[tokio::test]
async fn a_crash_between_sending_and_recording_never_causes_a_second_send() {
    let (app, fake) = platform().await;
    let numbers = registrations(&app, 3).await;
    // A dispatcher claims and sends, then dies before recording anything.
    let deadline = time::OffsetDateTime::now_utc() + Duration::from_secs(30);
    let claim_id = uuid::Uuid::new_v4();
    let (claimed, _) = dispatch::claim(&app.state, claim_id, 10, deadline)
        .await
        .unwrap();
    for message in &claimed {
        dispatch::start_sending(&app.state, claim_id, message.id)
            .await
            .unwrap()
            .expect("the claim holds");
        app.state
            .messenger
            .send(&message.to_number, &message.body)
            .await
            .unwrap();
    }
    // Its deadline passes.
    app.db()
        .await
        .execute(
            "update outbox_messages set claim_expires_at = now() - interval '1 second'",
            &[],
        )
        .await
        .unwrap();

    let report = dispatch::run(&app.state, app.state.messenger.as_ref())
        .await
        .unwrap();

    assert_eq!(report.orphaned, 3, "{report:?}");
    assert_eq!(report.confirmed, 3, "the provider had them: {report:?}");
    delivered_once_each(&fake, &numbers);
    let listed: Vec<String> = app
        .db()
        .await
        .query(
            "select provider_message_id from outbox_messages where status = 'sent'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(listed.len(), 3);
    assert!(
        listed.iter().all(|id| id.starts_with("wamid-")),
        "{listed:?}"
    );
}

#[tokio::test]
async fn a_dispatcher_killed_mid_batch_hands_back_what_it_never_started() {
    let (app, fake) = platform().await;
    let numbers = registrations(&app, 10).await;
    fake.delay(Duration::from_millis(400));
    // A run with six seconds to live, killed (as Lambda kills at its timeout) during its third
    // send.
    let deadline = time::OffsetDateTime::now_utc() + Duration::from_secs(6);
    let run = {
        let state = app.state.clone();
        tokio::spawn(async move {
            dispatch::run_until(&state, state.messenger.as_ref(), deadline).await
        })
    };
    // Killed once two are sent and the third is on the wire (each send takes 400 ms), watched
    // rather than timed: under CI load the run may start late.
    let waiting = tokio::time::Instant::now();
    loop {
        let now = states(&app).await;
        let count = |status: &str| now.iter().filter(|(s, _)| s == status).count();
        if count("sent") == 2 && count("sending") == 1 {
            break;
        }
        assert!(count("sent") <= 2, "the kill missed its moment: {now:?}");
        assert!(
            waiting.elapsed() < Duration::from_secs(5),
            "the run never reached its third send: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    run.abort();
    let _ = run.await;
    let after_kill = states(&app).await;
    tokio::time::sleep_until(
        tokio::time::Instant::now()
            + (deadline - time::OffsetDateTime::now_utc()).unsigned_abs()
            + Duration::from_millis(100),
    )
    .await;
    fake.delay(Duration::ZERO);

    let next = dispatch::run(&app.state, app.state.messenger.as_ref())
        .await
        .unwrap();

    let count = |status: &str| after_kill.iter().filter(|(s, _)| s == status).count();
    assert_eq!(count("sent"), 2, "{after_kill:?}");
    assert_eq!(count("sending"), 1, "{after_kill:?}");
    assert_eq!(count("claimed"), 7, "{after_kill:?}");
    assert!(
        after_kill
            .iter()
            .all(|(s, attempts)| (s == "claimed") == (*attempts == 0)),
        "an attempt is counted only when its send starts: {after_kill:?}"
    );
    assert_eq!(next.released, 7, "{next:?}");
    assert_eq!(next.orphaned, 1, "{next:?}");
    assert_eq!(next.confirmed, 1, "{next:?}");
    assert_eq!(next.sent, 7, "{next:?}");
    delivered_once_each(&fake, &numbers);
    assert!(
        states(&app)
            .await
            .iter()
            .all(|(s, attempts)| s == "sent" && *attempts == 1)
    );
}

#[tokio::test]
async fn a_run_claims_only_what_it_can_send_before_its_deadline() {
    let fake = FakeWhapi::start().await;
    let app = TestApp::spawn_with(|config| {
        fake.configure(config);
        config.messaging.per_second = 2;
    })
    .await;
    registrations(&app, 10).await;
    // 1 s per send at most and 2 s kept for recording: in 4 s, a window of 1 s at 2 per second.
    let deadline = time::OffsetDateTime::now_utc() + Duration::from_secs(4);

    let report = dispatch::run_until(&app.state, app.state.messenger.as_ref(), deadline)
        .await
        .unwrap();

    assert!(
        (2..=3).contains(&report.claimed),
        "claimed {}: {report:?}",
        report.claimed
    );
    assert_eq!(report.sent + report.released as usize, report.claimed);
    let queued = states(&app)
        .await
        .iter()
        .filter(|(s, attempts)| s == "queued" && *attempts == 0)
        .count();
    assert_eq!(queued, 10 - report.sent);
}

#[tokio::test]
async fn a_rejected_number_fails_at_once_and_an_endless_outage_ends_dead_then_staff_retry() {
    let fake = FakeWhapi::start().await;
    let app = TestApp::spawn_with(|config| {
        fake.configure(config);
        config.messaging.max_attempts = 3;
    })
    .await;
    let numbers = registrations(&app, 2).await;
    fake.reject(&numbers[0]);
    fake.fail_next(1000);

    drain(&app).await;
    let calls_during_outage = fake.calls();
    let admin = app.admin().await;
    let dead = admin.get("/api/admin/messages?status=dead").await.value();

    assert_eq!(dead["items"].as_array().unwrap().len(), 2, "{dead}");
    assert_eq!(calls_during_outage, 6, "two messages, three attempts each");
    assert!(
        dead["items"][0]["last_error"]
            .as_str()
            .unwrap()
            .contains("gave up after 3 attempts")
    );
    fake.fail_next(0);
    for item in dead["items"].as_array().unwrap() {
        let id = item["id"].as_str().unwrap();
        let retried = admin
            .request(
                Method::POST,
                &format!("/api/admin/messages/{id}/retry"),
                &[],
                None,
            )
            .await;
        assert_eq!(retried.value()["status"], "queued");
    }
    let id = dead["items"][0]["id"].as_str().unwrap();
    let again = admin
        .request(
            Method::POST,
            &format!("/api/admin/messages/{id}/retry"),
            &[],
            None,
        )
        .await;
    again.assert_problem(StatusCode::CONFLICT, "not_retryable");
    drain(&app).await;
    // Once the provider answers: the rejected number fails for good, the other is sent.
    assert_eq!(statuses(&app).await, ["failed", "sent"]);
    delivered_once_each(&fake, &numbers[1..]);
}

#[tokio::test]
async fn a_permanent_refusal_is_failed_without_retrying() {
    let (app, fake) = platform().await;
    let numbers = registrations(&app, 1).await;
    fake.reject(&numbers[0]);

    drain(&app).await;

    assert_eq!(statuses(&app).await, ["failed"]);
    assert_eq!(fake.calls(), 1);
}

#[tokio::test]
async fn a_send_that_times_out_is_asked_about_and_never_sent_twice() {
    let (app, fake) = platform().await;
    let numbers = registrations(&app, 1).await;
    // The provider sends it, but answers after the client gave up.
    fake.hang_next(1);

    let first = dispatch::run(&app.state, app.state.messenger.as_ref())
        .await
        .unwrap();
    let after_timeout = states(&app).await;
    let second = dispatch::run(&app.state, app.state.messenger.as_ref())
        .await
        .unwrap();
    drain(&app).await;

    assert_eq!(first.in_doubt, 1, "{first:?}");
    assert_eq!(
        first.retried, 0,
        "a timeout is not retried blindly: {first:?}"
    );
    assert_eq!(after_timeout, [("in_doubt".to_owned(), 1)]);
    assert_eq!(second.confirmed, 1, "{second:?}");
    assert_eq!(fake.calls(), 1, "asked, not resent");
    delivered_once_each(&fake, &numbers);
    assert_eq!(statuses(&app).await, ["sent"]);
}

#[tokio::test]
async fn a_send_lost_in_a_timeout_is_sent_again_once_and_a_second_loss_goes_to_staff() {
    let (app, fake) = platform().await;
    let numbers = registrations(&app, 2).await;
    // Three sends are lost: both messages' first ones, then one of the two sent again.
    fake.lose_next(3);

    let mut reports = Vec::new();
    for _ in 0..4 {
        reports.push(
            dispatch::run(&app.state, app.state.messenger.as_ref())
                .await
                .unwrap(),
        );
    }

    let resent: usize = reports.iter().map(|r| r.resent).sum();
    let dead: usize = reports.iter().map(|r| r.dead).sum();
    assert_eq!(resent, 2, "{reports:?}");
    assert_eq!(dead, 1, "{reports:?}");
    assert_eq!(fake.calls(), 4, "two messages, at most two sends each");
    assert_eq!(fake.delivered().len(), 1, "{:?}", fake.delivered());
    let admin = app.admin().await;
    let dead = admin.get("/api/admin/messages?status=dead").await.value();
    assert_eq!(dead["items"].as_array().unwrap().len(), 1, "{dead}");
    assert!(
        dead["items"][0]["last_error"]
            .as_str()
            .unwrap()
            .contains("outcome unknown twice"),
        "{dead}"
    );
    let delivered_to = &fake.delivered()[0].0;
    assert!(
        numbers
            .iter()
            .any(|n| delivered_to.starts_with(n.trim_start_matches('+'))),
        "{delivered_to}"
    );
}

/// A send of unknown outcome whose lookup the provider keeps refusing (a 404 for the chat, a
/// 401) is asked about a bounded number of times, then goes to staff as `dead` with the reason,
/// never sent again.
#[tokio::test]
async fn a_message_whose_lookup_keeps_failing_goes_dead_after_the_bounded_lookups() {
    let fake = FakeWhapi::start().await;
    let lookups = 3;
    let app = TestApp::spawn_with(|config| {
        fake.configure(config);
        config.messaging.max_lookups = lookups;
    })
    .await;
    registrations(&app, 1).await;
    fake.hang_next(1);
    dispatch::run(&app.state, app.state.messenger.as_ref())
        .await
        .unwrap();
    assert_eq!(states(&app).await, [("in_doubt".to_owned(), 1)]);
    fake.refuse_lists(StatusCode::NOT_FOUND);

    for _ in 1..lookups {
        dispatch::run(&app.state, app.state.messenger.as_ref())
            .await
            .unwrap();
    }
    assert_eq!(
        states(&app).await,
        [("in_doubt".to_owned(), 1)],
        "dead before its last lookup"
    );
    let last = dispatch::run(&app.state, app.state.messenger.as_ref())
        .await
        .unwrap();

    assert_eq!(last.dead, 1, "{last:?}");
    assert_eq!(states(&app).await, [("dead".to_owned(), 1)]);
    assert_eq!(fake.calls(), 1, "never sent again");
    let admin = app.admin().await;
    let dead = admin.get("/api/admin/messages?status=dead").await.value();
    let reason = dead["items"][0]["last_error"].as_str().unwrap_or_default();
    assert!(
        reason.contains("404") && reason.contains(&lookups.to_string()),
        "{dead}"
    );
}

async fn webhook(app: &TestApp, secret: Option<&str>, body: &Value) -> e2e_tests::TestResponse {
    let headers: Vec<(&str, &str)> = secret.iter().map(|s| ("x-webhook-secret", *s)).collect();
    app.send_json(Method::POST, "/api/webhooks/whapi", body, &headers)
        .await
}

#[tokio::test]
async fn a_webhook_without_the_right_secret_is_refused_and_stores_nothing() {
    let (app, _fake) = platform().await;
    let body = json!({ "messages": [{ "id": "in-1", "from_me": false, "from": "24106612345", "text": { "body": "STOP" } }] });

    webhook(&app, None, &body)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    webhook(&app, Some("wrong"), &body)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    assert_eq!(app.count("incoming_messages").await, 0);
}

#[tokio::test]
async fn statuses_replayed_out_of_order_end_on_the_furthest_one() {
    let (app, _fake) = platform().await;
    registrations(&app, 1).await;
    drain(&app).await;
    let id: String = app
        .db()
        .await
        .query_one("select provider_message_id from outbox_messages", &[])
        .await
        .unwrap()
        .get(0);
    let status = |s: &str| json!({ "statuses": [{ "id": id, "code": 3, "status": s, "recipient_id": "24106100000", "timestamp": "1795253400" }] });

    for s in ["read", "delivered", "sent", "failed", "read", "pending"] {
        let response = webhook(&app, Some(WEBHOOK_SECRET), &status(s)).await;
        assert_eq!(
            response.status,
            StatusCode::OK,
            "{s}: {}",
            String::from_utf8_lossy(&response.body)
        );
    }
    let unknown = webhook(
        &app,
        Some(WEBHOOK_SECRET),
        &json!({ "statuses": [{ "id": "not-ours", "status": "read" }] }),
    )
    .await;

    assert_eq!(statuses(&app).await, ["read"]);
    assert_eq!(unknown.status, StatusCode::OK);
    assert_eq!(unknown.value()["statuses_unknown"], 1);
    assert_eq!(app.count("webhook_events").await, 1);
}

#[tokio::test]
async fn a_student_who_replies_stop_is_not_messaged_again() {
    let (app, fake) = platform().await;
    let admin = app.admin().await;
    let id = app.open_masterclass(&admin, "Atelier").await;
    let registered = app.register(&id, "+24106612345", "Awa Ndong").await.value();
    let stop = json!({ "messages": [
        { "id": "in-1", "from_me": false, "type": "text", "chat_id": "24106612345@s.whatsapp.net", "from": "24106612345", "text": { "body": "Arrêt" } },
        { "id": "out-1", "from_me": true, "type": "text", "chat_id": "24106612345@s.whatsapp.net", "text": { "body": "STOP" } }
    ]});

    // A dispatcher run has claimed the confirmation, not started it, when STOP arrives.
    let run = uuid::Uuid::new_v4();
    let deadline = time::OffsetDateTime::now_utc() + time::Duration::minutes(1);
    let (claimed, _) = dispatch::claim(&app.state, run, 10, deadline)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);

    let first = webhook(&app, Some(WEBHOOK_SECRET), &stop).await;
    let replay = webhook(&app, Some(WEBHOOK_SECRET), &stop).await;
    let started = dispatch::start_sending(&app.state, run, claimed[0].id)
        .await
        .unwrap();
    drain(&app).await;
    let sent = admin
        .post_json(
            "/api/send-whatsapp",
            &json!({ "to": registered["inscription_id"], "messageType": "reminder" }),
        )
        .await;

    assert_eq!(first.value()["opted_out"], 1);
    assert_eq!(
        first.value()["messages_stored"],
        1,
        "our own messages (from_me) are skipped"
    );
    assert_eq!(replay.value()["messages_stored"], 0);
    assert_eq!(
        started, None,
        "the run that claimed the confirmation before STOP may not send it"
    );
    assert!(
        fake.delivered().is_empty(),
        "the claimed confirmation was suppressed"
    );
    assert_eq!(
        statuses(&app).await,
        ["suppressed", "suppressed"],
        "the confirmation and the reminder"
    );
    assert_eq!(sent.status, StatusCode::ACCEPTED);
    assert_eq!(sent.value()["status"], "suppressed");
}

/// The owner's profile as stored: (name, date of birth, opted out).
async fn profile_of(app: &TestApp, number: &str) -> (String, String, bool) {
    let row = app
        .db()
        .await
        .query_one(
            "select full_name, date_of_birth::text, opted_out_at is not null from profiles where whatsapp_number = $1",
            &[&number],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1), row.get(2))
}

#[tokio::test]
async fn registering_someone_elses_number_reveals_nothing_of_them_and_keeps_their_stop() {
    // Arrange: the owner of a number registers, then replies STOP.
    let (app, fake) = platform().await;
    let admin = app.admin().await;
    let first = app.open_masterclass(&admin, "Atelier").await;
    let second = app.open_masterclass(&admin, "Un autre atelier").await;
    let owner = json!({ "masterclass_id": first, "full_name": "Awa Ndong", "date_of_birth": "1999-03-14",
                        "whatsapp_number": "+241 06 61 23 45", "consent": true });
    assert_eq!(
        app.post_json("/api/inscriptions", &owner).await.status,
        StatusCode::CREATED
    );
    let stop = json!({ "messages": [{ "id": "in-stop", "from_me": false, "type": "text",
                                      "chat_id": "24106612345@s.whatsapp.net", "from": "24106612345",
                                      "text": { "body": "STOP" } }] });
    webhook(&app, Some(WEBHOOK_SECRET), &stop).await;

    // Act: someone else registers the same number, written another way, for another class.
    let intruder = json!({ "masterclass_id": second, "full_name": "Intrus Inconnu", "date_of_birth": "2004-07-01",
                           "whatsapp_number": "06 61 23 45", "consent": true });
    let registered = app.post_json("/api/inscriptions", &intruder).await;
    let token = registered.value()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let me = app.with_bearer(&token).get("/api/me").await;
    drain(&app).await;

    // Assert: the answers show what the intruder sent, nothing of the owner.
    assert_eq!(registered.status, StatusCode::CREATED);
    assert_eq!(registered.value()["full_name"], "Intrus Inconnu");
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.value()["full_name"], "Intrus Inconnu");
    assert_eq!(me.value()["date_of_birth"], "2004-07-01");
    for answer in [&registered, &me] {
        let text = String::from_utf8_lossy(&answer.body);
        for secret in ["Awa Ndong", "Ndong", "1999-03-14"] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
    }
    // The profile is untouched, still opted out, and nothing was sent to the number.
    assert_eq!(
        profile_of(&app, "+24106612345").await,
        ("Awa Ndong".to_owned(), "1999-03-14".to_owned(), true)
    );
    assert!(fake.delivered().is_empty(), "{:?}", fake.delivered());
    assert_eq!(statuses(&app).await, ["suppressed", "suppressed"]);
    // Row-level security: neither a student nor the registrar reads any profile row.
    let inscription_id: uuid::Uuid = registered.value()["inscription_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let (profile_id, masterclass_id): (uuid::Uuid, uuid::Uuid) = {
        let row = app
            .db()
            .await
            .query_one(
                "select profile_id, masterclass_id from inscriptions where id = $1",
                &[&inscription_id],
            )
            .await
            .unwrap();
        (row.get(0), row.get(1))
    };
    let student = shared::auth::Caller::Student(shared::auth::StudentIdentity {
        inscription_id,
        profile_id,
        masterclass_id,
    });
    let registrar = shared::auth::Caller::Registrar {
        whatsapp_number: "+24106612345".into(),
    };
    for caller in [student, registrar] {
        let visible: i64 = shared::db::transact(&app.state.db, &caller, async |tx| {
            Ok(tx
                .query_one("select count(*) from profiles", &[])
                .await?
                .get(0))
        })
        .await
        .unwrap();
        assert_eq!(visible, 0, "{caller:?} reads profiles");
    }
}

#[tokio::test]
async fn only_the_numbers_own_start_reply_lifts_its_stop() {
    let (app, fake) = platform().await;
    let admin = app.admin().await;
    let first = app.open_masterclass(&admin, "Atelier").await;
    let second = app.open_masterclass(&admin, "Un autre atelier").await;
    app.register(&first, "+24106612345", "Awa Ndong").await;
    let reply = |id: &str, body: &str| {
        json!({ "messages": [{ "id": id, "from_me": false, "type": "text", "chat_id": "24106612345@s.whatsapp.net",
                               "from": "24106612345", "text": { "body": body } }] })
    };
    webhook(&app, Some(WEBHOOK_SECRET), &reply("in-1", "Stop")).await;
    app.register(&second, "06 61 23 45", "Awa Ndong").await;
    let opted_out_after_registering = profile_of(&app, "+24106612345").await.2;
    drain(&app).await;

    let start = webhook(&app, Some(WEBHOOK_SECRET), &reply("in-2", "Reprendre")).await;
    // A STOP delivered again by the provider, late, does not undo the START.
    let late_replay = webhook(&app, Some(WEBHOOK_SECRET), &reply("in-1", "Stop")).await;
    let sent = admin
        .post_json(
            "/api/send-whatsapp",
            &json!({ "to": "+24106612345", "messageType": "custom", "data": { "text": "Bienvenue de retour" } }),
        )
        .await;
    drain(&app).await;

    assert!(opted_out_after_registering, "a registration lifts no STOP");
    assert_eq!(start.value()["opted_in"], 1);
    assert_eq!(late_replay.value()["opted_out"], 0);
    assert!(!profile_of(&app, "+24106612345").await.2);
    assert_eq!(sent.status, StatusCode::ACCEPTED, "{}", sent.value());
    assert_eq!(
        fake.delivered().len(),
        1,
        "only what was sent after START: {:?}",
        fake.delivered()
    );
}

#[tokio::test]
async fn staff_send_checked_messages_and_tutors_only_to_their_students() {
    let (app, _fake) = platform().await;
    let admin = app.admin().await;
    let mine = app.open_masterclass(&admin, "La mienne").await;
    let other = app.open_masterclass(&admin, "Une autre").await;
    let tutor = app.tutor(&admin, &[&mine]).await;
    let my_student = app
        .register(&mine, "+24106612345", "Awa Ndong")
        .await
        .value();
    let other_student = app
        .register(&other, "+24107612345", "Paul Obiang")
        .await
        .value();
    let before = app.count("outbox_messages").await;
    let key = [("idempotency-key", "invite-1")];
    let invite =
        json!({ "to": my_student["inscription_id"], "messageType": "post_test_invitation" });

    let queued = tutor
        .send_json(Method::POST, "/api/send-whatsapp", &invite, &key)
        .await;
    let replay = tutor
        .send_json(Method::POST, "/api/send-whatsapp", &invite, &key)
        .await;
    let missing = admin
        .post_json("/api/send-whatsapp", &json!({ "to": "+24106612345", "messageType": "pre_test_result", "data": { "score": 5 } }))
        .await;
    let custom_by_tutor = tutor
        .post_json("/api/send-whatsapp", &json!({ "to": my_student["inscription_id"], "messageType": "custom", "data": { "text": "Salut" } }))
        .await;
    let custom_by_admin = admin
        .post_json("/api/send-whatsapp", &json!({ "to": "+33612345678", "messageType": "custom", "data": { "text": "Bonjour depuis Libreville" } }))
        .await;
    let elsewhere = tutor
        .post_json(
            "/api/send-whatsapp",
            &json!({ "to": other_student["inscription_id"], "messageType": "reminder" }),
        )
        .await;
    let unknown_type = admin
        .post_json(
            "/api/send-whatsapp",
            &json!({ "to": "+24106612345", "messageType": "spam" }),
        )
        .await;

    assert_eq!(queued.status, StatusCode::ACCEPTED);
    assert_eq!(queued.value()["status"], "queued");
    assert_eq!(replay.value()["id"], queued.value()["id"]);
    let names = missing.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert!(names.to_string().contains("data.masterclass"), "{names}");
    custom_by_tutor.assert_problem(StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(custom_by_admin.status, StatusCode::ACCEPTED);
    elsewhere.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    unknown_type.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(app.count("outbox_messages").await, before + 2);
    let body: String = app
        .db()
        .await
        .query_one(
            "select body from outbox_messages where message_type = 'post_test_invitation'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(
        body.starts_with("Bonjour Awa, la masterclass « La mienne » est terminée"),
        "{body}"
    );
}

#[tokio::test]
async fn reminders_and_post_test_invitations_are_queued_once_per_student() {
    let (app, _fake) = platform().await;
    let admin = app.admin().await;
    let soon = app.open_masterclass(&admin, "Bientôt").await;
    let ended = app.open_masterclass(&admin, "Terminée").await;
    for (masterclass, base) in [(&soon, 6_200_000), (&ended, 6_300_000)] {
        for i in 0..2 {
            app.register(masterclass, &format!("+2410{}", base + i), "Awa Ndong")
                .await;
        }
    }
    let db = app.db().await;
    db.execute("update masterclasses set starts_at = now() + interval '2 hours', ends_at = now() + interval '5 hours' where id = $1::text::uuid", &[&soon])
        .await
        .unwrap();
    db.execute("update masterclasses set starts_at = now() - interval '5 hours', ends_at = now() - interval '1 hour' where id = $1::text::uuid", &[&ended])
        .await
        .unwrap();

    let first = reminders::queue_due(&app.state).await.unwrap();
    let second = reminders::queue_due(&app.state).await.unwrap();

    assert_eq!(first, 4);
    assert_eq!(second, 0);
    let kinds: Vec<String> = db
        .query("select message_type from outbox_messages where message_type in ('reminder', 'post_test_invitation') order by 1", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        kinds,
        [
            "post_test_invitation",
            "post_test_invitation",
            "reminder",
            "reminder"
        ]
    );
}

#[tokio::test]
async fn without_a_token_the_local_stack_logs_messages_and_marks_them_sent() {
    let app = TestApp::spawn().await;
    registrations(&app, 1).await;

    let report = dispatch::run(&app.state, app.state.messenger.as_ref())
        .await
        .unwrap();

    assert_eq!(app.state.messenger.name(), "log");
    assert_eq!(report.sent, 1);
    let id: String = app
        .db()
        .await
        .query_one("select provider_message_id from outbox_messages", &[])
        .await
        .unwrap()
        .get(0);
    assert!(id.starts_with("log-"), "{id}");
}

#[tokio::test]
async fn the_scheduled_run_drops_idempotency_answers_older_than_a_day() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    for key in ["old", "new"] {
        let body = json!({ "title": format!("Atelier {key}"), "starts_at": "2026-12-05T09:00:00Z", "ends_at": "2026-12-05T10:00:00Z" });
        admin
            .send_json(
                Method::POST,
                "/api/masterclasses",
                &body,
                &[("idempotency-key", key)],
            )
            .await;
    }
    app.db().await.execute("update idempotency_keys set created_at = now() - interval '25 hours' where key = 'old'", &[]).await.unwrap();

    let deadline = time::OffsetDateTime::now_utc() + Duration::from_secs(30);
    let report = dispatcher::run(&app.state, deadline).await.unwrap();

    assert_eq!(report["idempotency_keys_purged"], 1);
    let left: Vec<String> = app
        .db()
        .await
        .query("select key from idempotency_keys", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(left, ["new"]);
}

#[tokio::test]
async fn reminders_are_queued_in_one_pass_among_tens_of_thousands_of_rows() {
    // Arrange: 2,000 students of a masterclass starting soon and 2,000 of one that just ended
    // (all due), beside 30,000 inscriptions in masterclasses that are not due and 35,000 outbox
    // rows, 1,000 of them reminders already queued for the masterclass starting soon.
    let app = TestApp::spawn().await;
    let db = app.db().await;
    db.batch_execute(
        "insert into masterclasses (title, starts_at, ends_at, published)
         select 'Masterclass ' || g,
                case g when 1 then now() + interval '2 hours' when 2 then now() - interval '5 hours'
                       else now() + make_interval(days => 10 + g) end,
                case g when 1 then now() + interval '5 hours' when 2 then now() - interval '1 hour'
                       else now() + make_interval(days => 10 + g, hours => 3) end,
                true
         from generate_series(1, 32) g;
         insert into profiles (full_name, whatsapp_number)
         select 'Élève ' || g, '+24106' || lpad(g::text, 6, '0') from generate_series(1, 34000) g;
         insert into inscriptions (masterclass_id, profile_id, full_name, whatsapp_number, consent_at)
         select m.id, p.id, p.full_name, p.whatsapp_number, now()
         from (select id, full_name, whatsapp_number, row_number() over (order by whatsapp_number) - 1 as n from profiles) p
         join (select id, split_part(title, ' ', 2)::int as k from masterclasses) m
           on m.k = case when p.n < 2000 then 1 when p.n < 4000 then 2 else 3 + (p.n % 30) end;
         insert into outbox_messages (inscription_id, to_number, message_type, data, body, dedupe_key, status)
         select i.id, i.whatsapp_number, 'reminder', '{}', 'Déjà envoyé', 'reminder:' || i.id, 'sent'
         from inscriptions i join masterclasses m on m.id = i.masterclass_id
         where m.title = 'Masterclass 1' order by i.whatsapp_number limit 1000;
         insert into outbox_messages (inscription_id, to_number, message_type, data, body, dedupe_key, status)
         select i.id, i.whatsapp_number, 'custom', '{}', 'Ancien message', 'old:' || i.id || ':' || k, 'sent'
         from inscriptions i join masterclasses m on m.id = i.masterclass_id, generate_series(1, 2) k
         where m.title not in ('Masterclass 1', 'Masterclass 2')
         limit 34000;
         analyze;",
    )
    .await
    .unwrap();
    let titles: Vec<String> = db
        .query(
            "select m.title from masterclasses m join inscriptions i on i.masterclass_id = m.id
             where m.title in ('Masterclass 1', 'Masterclass 2') group by 1 order by 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(titles, ["Masterclass 1", "Masterclass 2"]);

    // Act
    let started = std::time::Instant::now();
    let first = reminders::queue_due(&app.state).await.unwrap();
    let took = started.elapsed();
    let second = reminders::queue_due(&app.state).await.unwrap();

    // Assert: 1,000 reminders still due, 2,000 invitations; nothing twice. The dispatcher that
    // runs this has 60 s in all (its Lambda timeout), and its sends need most of them: queueing
    // gets 5 s. (It took 7 s here before: one insert per message, and 1.7 s of JIT compilation
    // for the candidate query.)
    println!(
        "queued {first} scheduled messages among {} inscriptions and {} outbox rows in {took:?}",
        app.count("inscriptions").await,
        app.count("outbox_messages").await - i64::try_from(first).unwrap()
    );
    assert_eq!(first, 3000);
    assert_eq!(second, 0);
    assert!(
        took < std::time::Duration::from_secs(5),
        "queueing took {took:?}, more than its 5 s of the dispatcher's 60 s"
    );
    let (reminders, invitations): (i64, i64) = {
        let row = db
            .query_one(
                "select count(*) filter (where message_type = 'reminder' and status = 'queued'),
                        count(*) filter (where message_type = 'post_test_invitation')
                 from outbox_messages",
                &[],
            )
            .await
            .unwrap();
        (row.get(0), row.get(1))
    };
    assert_eq!((reminders, invitations), (1000, 2000));
}
