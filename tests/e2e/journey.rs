//! The student journey: register, PRE test, attend, POST test, progress.

use e2e_tests::{TestApp, answers, registration};
use http::{Method, StatusCode};
use serde_json::{Value, json};

async fn count_journey_rows(app: &TestApp) -> [i64; 5] {
    [
        app.count("profiles").await,
        app.count("inscriptions").await,
        app.count("inscription_tokens").await,
        app.count("outbox_messages").await,
        app.count("test_attempts").await,
    ]
}

#[tokio::test]
async fn a_student_registers_takes_both_tests_and_sees_the_gain() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let id = app.open_masterclass(&admin, "Créer son entreprise").await;
    let bank = app.bank(&admin, &id, 12, true).await;

    let registered = app.register(&id, "+241 06 61 23 45", "Awa Ndong").await;
    assert_eq!(
        registered.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&registered.body)
    );
    let student = app
        .http
        .with_bearer(registered.value()["access_token"].as_str().unwrap());
    let pre_paper = student.get("/api/tests/PRE").await.value();
    let pre = student
        .post_json("/api/tests/PRE", &answers(&pre_paper, &bank, 4))
        .await;
    let too_early = student.get("/api/tests/POST").await.value();
    let refused = student
        .post_json("/api/tests/POST", &answers(&too_early, &bank, 9))
        .await;
    let opened = admin
        .send_json(
            Method::PUT,
            &format!("/api/admin/masterclasses/{id}/post-test"),
            &json!({ "open": true }),
            &[],
        )
        .await;
    let post_paper = student.get("/api/tests/POST").await.value();
    let post = student
        .post_json("/api/tests/POST", &answers(&post_paper, &bank, 9))
        .await;
    let me = student.get("/api/me").await.value();

    assert_eq!(registered.value()["whatsapp_number"], "+24106612345");
    // Dates go back out as they came in: YYYY-MM-DD.
    assert_eq!(
        me["date_of_birth"],
        registration(&id, "+24106612345", "x")["date_of_birth"]
    );
    let consent = app
        .db()
        .await
        .query_one(
            "select consent_at is not null and consent_at <= now(), consent_version from profiles",
            &[],
        )
        .await
        .unwrap();
    assert!(
        consent.get::<_, bool>(0),
        "when the student consented is recorded"
    );
    assert_eq!(
        consent.get::<_, String>(1),
        "2026-11",
        "and to which privacy notice"
    );
    assert_eq!(
        pre.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&pre.body)
    );
    assert_eq!(pre.value()["score"], 4);
    assert_eq!(pre.value()["max_score"], 10);
    refused.assert_problem(StatusCode::CONFLICT, "post_test_not_open");
    assert_eq!(opened.status, StatusCode::OK);
    assert_eq!(post.value()["score"], 9);
    assert_eq!(post.value()["pre_score"], 4);
    assert_eq!(post.value()["gain"], 5);
    assert_eq!(me["tests"]["pre"]["score"], 4);
    assert_eq!(me["tests"]["post"]["score"], 9);
    assert_eq!(me["tests"]["post"]["gain"], 5);
    let messages: Vec<(String, String)> = app
        .db()
        .await
        .query(
            "select message_type, body from outbox_messages order by created_at",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let kinds: Vec<&str> = messages.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "registration_confirmed",
            "pre_test_result",
            "post_test_result"
        ]
    );
    assert!(
        messages[0].1.starts_with(
            "Bonjour Awa, votre inscription à la masterclass « Créer son entreprise »"
        ),
        "{}",
        messages[0].1
    );
    assert!(
        messages[2]
            .1
            .contains("9/10 (test de début : 4/10, progression : +5)"),
        "{}",
        messages[2].1
    );
}

#[tokio::test]
async fn the_paper_is_the_same_for_pre_and_post_and_never_shows_an_answer() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let id = app.open_masterclass(&admin, "Atelier").await;
    app.bank(&admin, &id, 15, true).await;
    let token = app.register(&id, "+24106612345", "Awa Ndong").await.value()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let student = app.http.with_bearer(&token);

    let pre = student.get("/api/tests/PRE").await;
    let post = student.get("/api/tests/POST").await;

    assert_eq!(pre.status, StatusCode::OK);
    let (pre, post) = (pre.value(), post.value());
    assert_eq!(pre["questions"].as_array().unwrap().len(), 10);
    assert_eq!(pre["questions"], post["questions"]);
    let text = pre.to_string();
    assert!(!text.contains("correct"), "{text}");
    for question in pre["questions"].as_array().unwrap() {
        let mut keys: Vec<&str> = question["choices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["key"].as_str().unwrap())
            .collect();
        keys.sort();
        assert_eq!(keys, ["A", "B", "C", "D"]);
    }
}

#[tokio::test]
async fn each_student_sees_the_choices_in_their_own_order() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let id = app.open_masterclass(&admin, "Atelier").await;
    app.bank(&admin, &id, 10, true).await;
    let first = app.register(&id, "+24106612345", "Awa Ndong").await.value();
    let second = app
        .register(&id, "+24107612345", "Paul Obiang")
        .await
        .value();

    let order = |token: &str| {
        let student = app.http.with_bearer(token);
        async move {
            let paper = student.get("/api/tests/PRE").await.value();
            let mut orders: Vec<(String, String)> = paper["questions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|q| {
                    (
                        q["id"].as_str().unwrap().to_owned(),
                        q["choices"].to_string(),
                    )
                })
                .collect();
            orders.sort();
            orders
        }
    };
    let a = order(first["access_token"].as_str().unwrap()).await;
    let b = order(second["access_token"].as_str().unwrap()).await;

    assert_eq!(
        a.iter().map(|(id, _)| id).collect::<Vec<_>>(),
        b.iter().map(|(id, _)| id).collect::<Vec<_>>()
    );
    assert_ne!(a, b, "ten questions in the same order for two students");
}

#[tokio::test]
async fn fewer_than_ten_approved_questions_is_a_clear_409() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let id = app.open_masterclass(&admin, "Atelier").await;
    app.bank(&admin, &id, 9, true).await;
    app.bank(&admin, &id, 5, false).await;
    let token = app.register(&id, "+24106612345", "Awa Ndong").await.value()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();

    let response = app.http.with_bearer(&token).get("/api/tests/PRE").await;

    let body = response.assert_problem(StatusCode::CONFLICT, "not_enough_questions");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("10 approved questions"),
        "{body}"
    );
    assert_eq!(app.count("test_papers").await, 0);
}

#[tokio::test]
async fn every_bad_registration_field_is_named_and_nothing_is_written() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let id = app.open_masterclass(&admin, "Atelier").await;
    let cases = [
        (
            json!({ "masterclass_id": id, "full_name": "A", "date_of_birth": "2001-02-30", "whatsapp_number": "123", "consent": false }),
            vec!["consent", "date_of_birth", "full_name", "whatsapp_number"],
        ),
        (
            json!({}),
            vec![
                "consent",
                "date_of_birth",
                "full_name",
                "masterclass_id",
                "whatsapp_number",
            ],
        ),
        (
            json!({ "masterclass_id": id, "full_name": "Awa", "date_of_birth": "2022-01-01", "whatsapp_number": "+24106612345", "consent": true }),
            vec!["date_of_birth"],
        ),
    ];

    for (body, fields) in cases {
        let response = app.post_json("/api/inscriptions", &body).await;
        response.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(response.invalid_fields(), fields, "{body}");
    }
    let mut unknown = registration(&id, "+24106612345", "Awa Ndong");
    unknown["nickname"] = json!("awa");
    app.post_json("/api/inscriptions", &unknown)
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(count_journey_rows(&app).await, [0; 5]);
}

#[tokio::test]
async fn one_person_registers_once_per_masterclass_whatever_the_number_format() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let id = app.open_masterclass(&admin, "Atelier").await;
    let other = app.open_masterclass(&admin, "Un autre atelier").await;
    let first = app
        .register(&id, "+241 06 61 23 45", "Awa Ndong")
        .await
        .value();
    let before = count_journey_rows(&app).await;

    let again = app.register(&id, "06 61 23 45", "Awa N.").await;
    let elsewhere = app.register(&other, "06612345", "Awa Ndong").await;

    let body = again.assert_problem(StatusCode::CONFLICT, "already_registered");
    assert_eq!(body["existing_inscription_id"], first["inscription_id"]);
    assert_eq!(
        elsewhere.status,
        StatusCode::CREATED,
        "the same person may join another masterclass"
    );
    assert_eq!(
        app.count("profiles").await,
        before[0],
        "one profile per person"
    );
    assert_eq!(app.count("inscriptions").await, before[1] + 1);
}

#[tokio::test]
async fn registration_is_refused_for_a_started_or_unpublished_masterclass() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let started = app.masterclass(&admin, "Déjà commencée", true).await; // 2026-12-05... see below
    app.db()
        .await
        .execute(
            "update masterclasses set starts_at = now() - interval '1 hour', ends_at = now() + interval '2 hours' where id = $1::text::uuid",
            &[&started],
        )
        .await
        .unwrap();
    let draft = app.open_masterclass(&admin, "Brouillon").await;
    admin
        .patch_json(
            &format!("/api/masterclasses/{draft}"),
            &json!({ "published": false }),
        )
        .await;

    let closed = app.register(&started, "+24106612345", "Awa Ndong").await;
    let unpublished = app.register(&draft, "+24106612345", "Awa Ndong").await;

    closed.assert_problem(StatusCode::CONFLICT, "registration_closed");
    unpublished.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(unpublished.invalid_fields(), ["masterclass_id"]);
    assert_eq!(count_journey_rows(&app).await, [0; 5]);
}

#[tokio::test]
async fn a_retried_registration_returns_the_same_inscription_with_a_fresh_token() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let id = app.open_masterclass(&admin, "Atelier").await;
    let body = registration(&id, "+24106612345", "Awa Ndong");
    let key = [("idempotency-key", "register-awa-1")];

    let first = app
        .send_json(Method::POST, "/api/inscriptions", &body, &key)
        .await;
    let retry = app
        .send_json(Method::POST, "/api/inscriptions", &body, &key)
        .await;
    let mut changed = body.clone();
    changed["full_name"] = json!("Awa Ndong-Mba");
    let reused = app
        .send_json(Method::POST, "/api/inscriptions", &changed, &key)
        .await;

    assert_eq!(first.status, StatusCode::CREATED);
    assert_eq!(retry.status, StatusCode::CREATED);
    assert_eq!(
        first.value()["inscription_id"],
        retry.value()["inscription_id"]
    );
    reused.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused");
    assert_eq!(app.count("inscriptions").await, 1);
    assert_eq!(
        app.count("outbox_messages").await,
        1,
        "one confirmation, not two"
    );
    let old = app
        .http
        .with_bearer(first.value()["access_token"].as_str().unwrap());
    let new = app
        .http
        .with_bearer(retry.value()["access_token"].as_str().unwrap());
    old.get("/api/me")
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    assert_eq!(new.get("/api/me").await.status, StatusCode::OK);
    let stored = app
        .db()
        .await
        .query_one("select response_body::text from idempotency_keys", &[])
        .await
        .unwrap();
    assert!(
        !stored.get::<_, String>(0).contains("mcs_"),
        "no token is stored in clear"
    );
}

#[tokio::test]
async fn registering_with_pre_test_answers_scores_them_in_the_same_transaction() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let id = app.open_masterclass(&admin, "Atelier").await;
    let bank = app.bank(&admin, &id, 10, true).await;
    // Every approved question is on every paper when the bank holds exactly ten.
    let all_right: serde_json::Map<String, Value> = bank
        .iter()
        .map(|(q, c)| (q.to_string(), Value::String(c.clone())))
        .collect();
    let mut missing_one = all_right.clone();
    missing_one.remove(&bank[0].0.to_string());

    let mut bad_letter = all_right.clone();
    bad_letter.insert(bank[1].0.to_string(), Value::String("E".into()));

    let mut bad = registration(&id, "+24106612345", "Awa Ndong");
    bad["pre_test"] = Value::Object(missing_one);
    let refused = app.post_json("/api/inscriptions", &bad).await;
    bad["pre_test"] = Value::Object(bad_letter);
    let refused_letter = app.post_json("/api/inscriptions", &bad).await;
    let after_refusal = count_journey_rows(&app).await;
    let mut good = registration(&id, "+24106612345", "Awa Ndong");
    good["pre_test"] = Value::Object(all_right);
    let accepted = app.post_json("/api/inscriptions", &good).await;

    refused.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(
        refused.invalid_fields(),
        [format!("pre_test.{}", bank[0].0)]
    );
    // A bad letter is found by parsing, a missing answer against the paper: one path shape.
    refused_letter.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(
        refused_letter.invalid_fields(),
        [format!("pre_test.{}", bank[1].0)]
    );
    assert_eq!(
        after_refusal, [0; 5],
        "nothing of a refused registration remains"
    );
    assert_eq!(
        accepted.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&accepted.body)
    );
    assert_eq!(accepted.value()["pre_test"]["score"], 10);
    assert_eq!(app.count("outbox_messages").await, 2);
}

#[tokio::test]
async fn a_crash_after_the_inscription_insert_leaves_nothing_behind() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let id = app.open_masterclass(&admin, "Atelier").await;
    let db = app.db().await;
    db.batch_execute(
        "create function crash() returns trigger language plpgsql as $$
         begin raise exception 'injected crash after the inscription insert'; end $$;
         create trigger crash after insert on inscriptions for each row execute function crash();",
    )
    .await
    .unwrap();

    let crashed = app.register(&id, "+24106612345", "Awa Ndong").await;
    let after_crash = count_journey_rows(&app).await;
    db.batch_execute("drop trigger crash on inscriptions")
        .await
        .unwrap();
    let recovered = app.register(&id, "+24106612345", "Awa Ndong").await;

    crashed.assert_problem(StatusCode::INTERNAL_SERVER_ERROR, "internal");
    assert!(
        !String::from_utf8_lossy(&crashed.body).contains("injected"),
        "no internals leak"
    );
    assert_eq!(after_crash, [0; 5]);
    assert_eq!(recovered.status, StatusCode::CREATED);
    let orphans: i64 = db
        .query_one(
            "select count(*) from inscriptions i where not exists (
                 select 1 from outbox_messages o where o.inscription_id = i.id and o.message_type = 'registration_confirmed')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        orphans, 0,
        "an inscription always has its confirmation queued"
    );
    assert_eq!(app.count("outbox_messages").await, 1);
}
