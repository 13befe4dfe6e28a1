//! Limits on the anonymous routes that reach people or cost money: registrations per source
//! address and per WhatsApp number, messages per recipient per day (held for staff, never
//! dropped), sign-in failures per source and per account from a source. Each flood answers 429
//! problem+json with `Retry-After`, leaves nothing over the limit behind, and a normal user in
//! between is served.

use axum::http::{Method, StatusCode, header};
use e2e_tests::{InProcess, PASSWORD, TestApp, TestResponse, fake_whapi::FakeWhapi, registration};
use futures::FutureExt;
use serde_json::json;

/// A stranger's address and a normal user's (documentation ranges, RFC 5737).
const STRANGER: &str = "203.0.113.7";
const NEIGHBOUR: &str = "198.51.100.20";

/// Asserts a 429 problem with a `Retry-After` of at least a second, and returns the seconds.
#[track_caller]
fn assert_limited(response: &TestResponse) -> u64 {
    response.assert_problem(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    let seconds: u64 = response
        .headers
        .get(header::RETRY_AFTER)
        .expect("a Retry-After header")
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After in seconds");
    assert!(seconds >= 1, "Retry-After: {seconds}");
    seconds
}

fn number(i: usize) -> String {
    format!("+2410660{i:04}")
}

async fn register(http: &InProcess, masterclass: &str, number: &str) -> TestResponse {
    http.post_json(
        "/api/inscriptions",
        &registration(masterclass, number, "Nadège Moussavou"),
    )
    .await
}

#[tokio::test]
async fn a_flood_of_registrations_from_one_address_is_refused_past_the_limit() {
    let app = TestApp::spawn_with_env(&[("REGISTRATIONS_PER_SOURCE_PER_HOUR", "3")], |_| {}).await;
    let admin = app.admin().await;
    let masterclass = app.open_masterclass(&admin, "Inondation").await;
    let stranger = app.http.from(STRANGER);
    let messages = app.count("outbox_messages").await;

    let mut answers = Vec::new();
    for i in 0..6 {
        answers.push(register(&stranger, &masterclass, &number(i)).await);
        if i == 3 {
            // A normal user from another address, in the middle of the flood.
            let neighbour = register(&app.http.from(NEIGHBOUR), &masterclass, &number(99)).await;
            assert_eq!(neighbour.status, StatusCode::CREATED);
        }
    }

    for answer in &answers[..3] {
        assert_eq!(answer.status, StatusCode::CREATED);
    }
    for answer in &answers[3..] {
        assert_limited(answer);
    }
    assert_eq!(app.count("inscriptions").await, 4);
    assert_eq!(app.count("outbox_messages").await, messages + 4);
    // A retry of an answered registration (same key) is the saved answer, not a new hit.
    let body = registration(&masterclass, &number(50), "Nadège Moussavou");
    let keyed = app.http.from(NEIGHBOUR);
    let key = [("idempotency-key", "neighbour-1")];
    let first = keyed
        .send_json(Method::POST, "/api/inscriptions", &body, &key)
        .await;
    let again = keyed
        .send_json(Method::POST, "/api/inscriptions", &body, &key)
        .await;
    assert_eq!(first.status, StatusCode::CREATED);
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(
        again.value()["inscription_id"],
        first.value()["inscription_id"]
    );
}

#[tokio::test]
async fn one_number_registered_too_often_is_refused_past_the_limit_whatever_the_address() {
    let app = TestApp::spawn_with_env(&[("REGISTRATIONS_PER_NUMBER_PER_DAY", "2")], |_| {}).await;
    let admin = app.admin().await;
    let mut masterclasses = Vec::new();
    for i in 0..4 {
        masterclasses.push(app.open_masterclass(&admin, &format!("Classe {i}")).await);
    }
    let messages = app.count("outbox_messages").await;
    let target = number(7);

    let mut answers = Vec::new();
    for (i, masterclass) in masterclasses.iter().enumerate() {
        let from = app.http.from(&format!("192.0.2.{}", i + 1));
        answers.push(register(&from, masterclass, &target).await);
    }
    let other = register(&app.http.from(STRANGER), &masterclasses[3], &number(8)).await;

    assert_eq!(answers[0].status, StatusCode::CREATED);
    assert_eq!(answers[1].status, StatusCode::CREATED);
    assert_limited(&answers[2]);
    assert_limited(&answers[3]);
    assert_eq!(other.status, StatusCode::CREATED);
    assert_eq!(app.count("inscriptions").await, 3);
    assert_eq!(app.count("outbox_messages").await, messages + 3);
    // The counters keep neither the number nor a plain hash a guess could match.
    let db = app.db().await;
    let dump: String = db
        .query_one("select string_agg(t::text, ' ') from limit_hits t", &[])
        .await
        .unwrap()
        .get(0);
    assert!(!dump.contains(&target[1..]), "{dump}");
    let guessed: i64 = db
        .query_one(
            "select count(*) from limit_hits where bucket = any(array[
                 sha256(convert_to('registration.number:' || $1::text, 'UTF8')),
                 sha256(convert_to($1::text, 'UTF8')), sha256(convert_to(ltrim($1::text, '+'), 'UTF8'))])",
            &[&target],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(guessed, 0);
}

#[tokio::test]
async fn messages_to_one_recipient_past_the_daily_limit_are_held_for_staff_not_sent() {
    let fake = FakeWhapi::start().await;
    let app = TestApp::spawn_with_env(&[("MESSAGES_PER_RECIPIENT_PER_DAY", "2")], |config| {
        fake.configure(config)
    })
    .await;
    let admin = app.admin().await;
    let target = number(3);
    for i in 0..3 {
        let masterclass = app.open_masterclass(&admin, &format!("Série {i}")).await;
        let from = app.http.from(&format!("192.0.2.{}", i + 1));
        assert_eq!(
            register(&from, &masterclass, &target).await.status,
            StatusCode::CREATED
        );
    }
    let other = app.open_masterclass(&admin, "Autre").await;
    assert_eq!(
        register(&app.http, &other, &number(4)).await.status,
        StatusCode::CREATED
    );

    e2e_tests::drain(&app).await;

    let delivered = fake.delivered();
    let to_target = delivered
        .iter()
        .filter(|(to, _)| to.starts_with(&target[1..]))
        .count();
    assert_eq!(to_target, 2, "delivered: {delivered:?}");
    let to_other = delivered
        .iter()
        .filter(|(to, _)| to.starts_with(&number(4)[1..]))
        .count();
    assert_eq!(to_other, 1, "delivered: {delivered:?}");
    let held = admin.get("/api/admin/messages?status=held").await;
    assert_eq!(
        held.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&held.body)
    );
    let items = held.value()["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0]["to_number"], target);
    assert!(items[0]["last_error"].as_str().unwrap().contains("limit"));

    // Staff who looked at it send it anyway: it goes, past the limit, once.
    let retried = admin
        .post_json(
            &format!(
                "/api/admin/messages/{}/retry",
                items[0]["id"].as_str().unwrap()
            ),
            &json!({}),
        )
        .await;
    assert_eq!(
        retried.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&retried.body)
    );
    e2e_tests::drain(&app).await;
    let to_target = fake
        .delivered()
        .iter()
        .filter(|(to, _)| to.starts_with(&target[1..]))
        .count();
    assert_eq!(to_target, 3);
}

#[tokio::test]
async fn a_stranger_guessing_passwords_is_refused_without_locking_the_staff_member_out() {
    let app = TestApp::spawn_with_env(
        &[
            // A day-long window: a test never straddles one.
            ("LOGIN_LOCKOUT_SECS", "86400"),
            ("LOGIN_MAX_FAILURES", "2"),
            ("LOGIN_FAILURES_PER_SOURCE", "4"),
        ],
        |_| {},
    )
    .await;
    let admin = app.admin().await;
    let stranger = app.http.from(STRANGER);
    let office = app.http.from(NEIGHBOUR);
    let guess = async |http: &InProcess, email: &str| {
        http.post_json(
            "/api/auth/token",
            &json!({ "email": email, "password": "pas le bon mot de passe" }),
        )
        .await
    };

    // Per account from one address: two wrong passwords refuse that address for that account.
    for _ in 0..2 {
        guess(&stranger, &admin.email)
            .await
            .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    }
    let right_from_the_stranger = stranger
        .post_json(
            "/api/auth/token",
            &json!({ "email": admin.email, "password": PASSWORD }),
        )
        .await;
    assert_limited(&right_from_the_stranger);
    let right_from_the_office = app.sign_in(&admin.email, PASSWORD).await;
    assert_eq!(right_from_the_office.status, StatusCode::OK);
    let from_the_office = office
        .post_json(
            "/api/auth/token",
            &json!({ "email": admin.email, "password": PASSWORD }),
        )
        .await;
    assert_eq!(from_the_office.status, StatusCode::OK);

    // Per source: two more failures on other accounts, and the address is refused for all.
    for i in 0..2 {
        guess(&stranger, &format!("inconnu-{i}@example.ga"))
            .await
            .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    }
    assert_limited(&guess(&stranger, "encore-un@example.ga").await);
    assert_limited(&guess(&stranger, &admin.email).await);
    // Meanwhile the staff member signs in from their own address.
    assert_eq!(
        office
            .post_json(
                "/api/auth/token",
                &json!({ "email": admin.email, "password": PASSWORD }),
            )
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_sign_in_clears_its_accounts_failures_from_that_address_not_its_count() {
    let app = TestApp::spawn_with_env(
        &[
            // A day-long window: a test never straddles one.
            ("LOGIN_LOCKOUT_SECS", "86400"),
            ("LOGIN_MAX_FAILURES", "2"),
            ("LOGIN_FAILURES_PER_SOURCE", "3"),
        ],
        |_| {},
    )
    .await;
    let admin = app.admin().await;
    let office = app.http.from(NEIGHBOUR);
    let attempt = async |password: &str| {
        office
            .post_json(
                "/api/auth/token",
                &json!({ "email": admin.email, "password": password }),
            )
            .await
    };

    let first_slip = attempt("une faute de frappe").await;
    let signed_in = attempt(PASSWORD).await;
    let second_slip = attempt("encore une faute").await;
    // Two failures for this account from this address, but a sign-in between: not refused.
    let again = attempt(PASSWORD).await;
    let third_slip = attempt("et une troisième").await;
    // The address's own count is not cleared: three failures from it, now refused, while the
    // account's count from it (one since the last sign-in) is under its limit of two.
    let refused = attempt(PASSWORD).await;

    for slip in [&first_slip, &second_slip, &third_slip] {
        slip.assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    }
    assert_eq!(signed_in.status, StatusCode::OK);
    assert_eq!(again.status, StatusCode::OK);
    assert_limited(&refused);
}

/// Guessing one account's password from many addresses is bounded too: past
/// `LOGIN_FAILURES_PER_ACCOUNT` failures, whatever their addresses, signing in as it is refused
/// until the window ends; no one address reaches that count alone (it is refused first).
#[tokio::test]
async fn guessing_one_account_from_many_addresses_is_bounded() {
    let app = TestApp::spawn_with_env(
        &[
            // A day-long window: a test never straddles one.
            ("LOGIN_LOCKOUT_SECS", "86400"),
            ("LOGIN_MAX_FAILURES", "10"),
            ("LOGIN_FAILURES_PER_SOURCE", "3"),
            ("LOGIN_FAILURES_PER_ACCOUNT", "5"),
        ],
        |_| {},
    )
    .await;
    let admin = app.admin().await;
    let guess = async |from: &str| {
        app.http
            .from(from)
            .post_json(
                "/api/auth/token",
                &json!({ "email": admin.email, "password": "pas le bon mot de passe" }),
            )
            .await
    };

    let mut answers = Vec::new();
    for _ in 0..4 {
        answers.push(guess(STRANGER).await);
    }
    for _ in 0..2 {
        answers.push(guess(NEIGHBOUR).await);
    }
    let third_address = app
        .http
        .from("192.0.2.44")
        .post_json(
            "/api/auth/token",
            &json!({ "email": admin.email, "password": PASSWORD }),
        )
        .await;

    for answer in &answers[..3] {
        answer.assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    }
    assert_limited(&answers[3]);
    answers[4].assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    answers[5].assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    assert_limited(&third_address);
}

#[tokio::test]
async fn concurrent_registrations_from_one_address_never_pass_the_limit() {
    let app = TestApp::spawn_with_env(&[("REGISTRATIONS_PER_SOURCE_PER_HOUR", "3")], |_| {}).await;
    let admin = app.admin().await;
    let masterclass = app.open_masterclass(&admin, "En même temps").await;
    let stranger = app.http.from(STRANGER);

    let numbers: Vec<String> = (0..8).map(number).collect();
    let answers = futures::future::join_all(
        numbers
            .iter()
            .map(|n| register(&stranger, &masterclass, n).map(|r| r.status)),
    )
    .await;

    let created = answers
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let limited = answers
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((created, limited), (3, 5), "{answers:?}");
    assert_eq!(app.count("inscriptions").await, 3);
}

#[tokio::test]
async fn a_held_message_of_an_erased_person_is_suppressed_not_left_for_staff_to_send() {
    let fake = FakeWhapi::start().await;
    let app = TestApp::spawn_with_env(&[("MESSAGES_PER_RECIPIENT_PER_DAY", "1")], |config| {
        fake.configure(config)
    })
    .await;
    let admin = app.admin().await;
    let target = number(5);
    for i in 0..2 {
        let masterclass = app.open_masterclass(&admin, &format!("Série {i}")).await;
        let registered = register(&app.http, &masterclass, &target).await;
        assert_eq!(registered.status, StatusCode::CREATED);
    }
    e2e_tests::drain(&app).await;
    let held = admin.get("/api/admin/messages?status=held").await.value();
    let held = held["items"][0]["id"].as_str().unwrap().to_owned();

    let erased = admin
        .delete(&format!(
            "/api/admin/students/{}",
            app.db()
                .await
                .query_one(
                    "select profile_id from inscriptions where whatsapp_number = $1 limit 1",
                    &[&target],
                )
                .await
                .unwrap()
                .get::<_, uuid::Uuid>(0)
        ))
        .await;

    assert_eq!(erased.status, StatusCode::OK);
    let status: String = app
        .db()
        .await
        .query_one(
            "select status from outbox_messages where id = $1::text::uuid",
            &[&held],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(status, "suppressed");
    admin
        .post_json(&format!("/api/admin/messages/{held}/retry"), &json!({}))
        .await
        .assert_problem(StatusCode::CONFLICT, "not_retryable");
}

/// The counters keep no window that has ended, and an erased key goes when its answer would
/// have: the scheduled run drops both.
#[tokio::test]
async fn the_scheduled_run_drops_ended_windows_and_expired_erased_keys() {
    let app = TestApp::spawn().await;
    app.db()
        .await
        .batch_execute(
            "insert into limit_hits (bucket, window_start, window_end, hits) values
                 (sha256('ended'::bytea), now() - interval '2 hours', now() - interval '1 hour', 3),
                 (sha256('current'::bytea), now() - interval '1 minute', now() + interval '1 hour', 1);
             insert into idempotency_erased (caller, scope, key_hash, created_at) values
                 ('anon', 'inscriptions.create', sha256('old'::bytea), now() - interval '25 hours'),
                 ('anon', 'inscriptions.create', sha256('new'::bytea), now());",
        )
        .await
        .unwrap();

    let deadline = time::OffsetDateTime::now_utc() + std::time::Duration::from_secs(5);
    dispatcher::run(&app.state, deadline).await.unwrap();

    let db = app.db().await;
    let windows = db
        .query_one(
            "select count(*) from limit_hits where bucket = sha256('current'::bytea)",
            &[],
        )
        .await
        .unwrap()
        .get::<_, i64>(0);
    let keys = db
        .query_one(
            "select count(*) from idempotency_erased where key_hash = sha256('new'::bytea)",
            &[],
        )
        .await
        .unwrap()
        .get::<_, i64>(0);
    assert_eq!((windows, keys), (1, 1));
    assert_eq!(app.count("limit_hits").await, 1);
    assert_eq!(app.count("idempotency_erased").await, 1);
}

/// Anyone holds a whole IPv6 /64 (one home, one phone): its addresses are one source.
#[tokio::test]
async fn the_addresses_of_one_ipv6_network_count_as_one_source() {
    let app = TestApp::spawn_with_env(&[("REGISTRATIONS_PER_SOURCE_PER_HOUR", "2")], |_| {}).await;
    let admin = app.admin().await;
    let masterclass = app.open_masterclass(&admin, "Rotation").await;

    let mut answers = Vec::new();
    for (i, ip) in ["2001:db8:7:1::1", "2001:db8:7:1::2", "2001:db8:7:1:ffff::3"]
        .into_iter()
        .enumerate()
    {
        answers.push(register(&app.http.from(ip), &masterclass, &number(i)).await);
    }
    let elsewhere = register(&app.http.from("2001:db8:7:2::1"), &masterclass, &number(9)).await;

    assert_eq!(answers[0].status, StatusCode::CREATED);
    assert_eq!(answers[1].status, StatusCode::CREATED);
    assert_limited(&answers[2]);
    assert_eq!(elsewhere.status, StatusCode::CREATED);
}
