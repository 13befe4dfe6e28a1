//! The rules of submitting a test.

use e2e_tests::{TestApp, answers};
use http::{Method, StatusCode};
use serde_json::{Value, json};
use shared::auth::{Caller, StudentIdentity};

#[tokio::test]
async fn one_attempt_per_test_and_a_replay_returns_the_first_answer() {
    let app = TestApp::spawn().await;
    let e2e_tests::Classroom { bank, student, .. } = app.classroom().await;
    let paper = student.get("/api/tests/PRE").await.value();
    let key = [("idempotency-key", "pre-1")];

    let first = student
        .send_json(
            Method::POST,
            "/api/tests/PRE",
            &answers(&paper, &bank, 6),
            &key,
        )
        .await;
    let replay = student
        .send_json(
            Method::POST,
            "/api/tests/PRE",
            &answers(&paper, &bank, 6),
            &key,
        )
        .await;
    let second = student
        .post_json("/api/tests/PRE", &answers(&paper, &bank, 10))
        .await;

    assert_eq!(first.status, StatusCode::CREATED);
    assert_eq!(replay.status, StatusCode::CREATED);
    assert_eq!(first.value(), replay.value());
    second.assert_problem(StatusCode::CONFLICT, "already_submitted");
    assert_eq!(app.count("test_attempts").await, 1);
    assert_eq!(
        student.get("/api/me").await.value()["tests"]["pre"]["score"],
        6
    );
}

#[tokio::test]
async fn answers_must_cover_exactly_the_paper_with_letters_a_to_d() {
    let app = TestApp::spawn().await;
    let e2e_tests::Classroom { bank, student, .. } = app.classroom().await;
    let paper = student.get("/api/tests/PRE").await.value();
    let good = answers(&paper, &bank, 10);
    let first_id = paper["questions"][0]["id"].as_str().unwrap().to_owned();

    let mut missing = good.clone();
    missing["answers"]
        .as_object_mut()
        .unwrap()
        .remove(&first_id);
    let mut unknown = good.clone();
    unknown["answers"][uuid::Uuid::new_v4().to_string()] = json!("A");
    let mut out_of_range = good.clone();
    out_of_range["answers"][&first_id] = json!("E");
    let cases: [(&str, Value); 4] = [
        ("missing", missing),
        ("unknown", unknown),
        ("out of range", out_of_range),
        ("not an object", json!({ "answers": ["A", "B"] })),
    ];

    for (what, body) in cases {
        let response = student.post_json("/api/tests/PRE", &body).await;
        response.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert!(!response.invalid_fields().is_empty(), "{what}");
    }
    student
        .post_json("/api/tests/MIDTERM", &good)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(app.count("test_attempts").await, 0);
    assert_eq!(app.count("test_answers").await, 0);
    assert_eq!(
        app.count("outbox_messages").await,
        1,
        "only the registration confirmation"
    );
}

#[tokio::test]
async fn the_pre_test_closes_when_the_masterclass_ends_and_post_opens_when_it_starts() {
    let app = TestApp::spawn().await;
    let e2e_tests::Classroom {
        masterclass: id,
        bank,
        student,
        ..
    } = app.classroom().await;
    let paper = student.get("/api/tests/PRE").await.value();
    let db = app.db().await;
    let set_schedule = |starts: &'static str, ends: &'static str| {
        let db = &db;
        let id = id.clone();
        async move {
            db.execute(
                &format!("update masterclasses set starts_at = now() + interval '{starts}', ends_at = now() + interval '{ends}' where id = $1::text::uuid"),
                &[&id],
            )
            .await
            .unwrap();
        }
    };

    let post_before_start = student
        .post_json("/api/tests/POST", &answers(&paper, &bank, 5))
        .await;
    set_schedule("-3 hours", "-1 hour").await;
    let pre_after_end = student
        .post_json("/api/tests/PRE", &answers(&paper, &bank, 5))
        .await;
    let post_after_start = student
        .post_json("/api/tests/POST", &answers(&paper, &bank, 5))
        .await;

    post_before_start.assert_problem(StatusCode::CONFLICT, "post_test_not_open");
    pre_after_end.assert_problem(StatusCode::CONFLICT, "pre_test_closed");
    assert_eq!(post_after_start.status, StatusCode::CREATED);
    let post = post_after_start.value();
    assert_eq!(post["score"], 5);
    assert!(post.get("gain").is_none(), "no PRE, no gain: {post}");
}

#[tokio::test]
async fn a_student_can_never_read_an_answer_key_even_with_a_raw_query() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let id = app.open_masterclass(&admin, "Atelier").await;
    let bank = app.bank(&admin, &id, 10, true).await;
    let registered = app.register(&id, "+24106612345", "Awa Ndong").await.value();
    let student = app
        .http
        .with_bearer(registered["access_token"].as_str().unwrap());
    let paper = student.get("/api/tests/PRE").await.value();
    student
        .post_json("/api/tests/PRE", &answers(&paper, &bank, 3))
        .await;
    let (profile_id, inscription_id): (uuid::Uuid, uuid::Uuid) = {
        let row = app
            .db()
            .await
            .query_one("select profile_id, id from inscriptions", &[])
            .await
            .unwrap();
        (row.get(0), row.get(1))
    };
    let caller = Caller::Student(StudentIdentity {
        inscription_id,
        profile_id,
        masterclass_id: id.parse().unwrap(),
    });
    let mut client = app.state.db.get().await.unwrap();
    let tx = shared::db::begin_as(&mut client, &caller).await.unwrap();

    let keys: i64 = tx
        .query_one("select count(*) from question_keys", &[])
        .await
        .unwrap()
        .get(0);
    let marked: i64 = tx
        .query_one("select count(*) from test_answers", &[])
        .await
        .unwrap()
        .get(0);
    let visible_questions: i64 = tx
        .query_one("select count(*) from questions", &[])
        .await
        .unwrap()
        .get(0);
    let rescore = tx
        .query_one("select score_test_attempt(id) from test_attempts", &[])
        .await;

    assert_eq!(keys, 0);
    assert_eq!(
        marked, 0,
        "a student cannot read back which answers were right"
    );
    assert_eq!(
        visible_questions, 10,
        "only the questions of their own paper"
    );
    assert!(rescore.is_err(), "an attempt is scored once");
}

#[tokio::test]
async fn staff_validate_attendance_of_their_own_masterclass_only() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let mine = app.open_masterclass(&admin, "La mienne").await;
    let other = app.open_masterclass(&admin, "Une autre").await;
    let tutor = app.tutor(&admin, &[&mine]).await;
    let outsider = app.tutor(&admin, &[&other]).await;
    let registered = app
        .register(&mine, "+24106612345", "Awa Ndong")
        .await
        .value();
    let path = format!(
        "/api/admin/inscriptions/{}",
        registered["inscription_id"].as_str().unwrap()
    );
    let student = app
        .http
        .with_bearer(registered["access_token"].as_str().unwrap());

    let by_outsider = outsider
        .patch_json(&path, &json!({ "attended": true }))
        .await;
    let by_student = student
        .patch_json(&path, &json!({ "attended": true }))
        .await;
    let validated = tutor.patch_json(&path, &json!({ "attended": true })).await;
    let bad = tutor.patch_json(&path, &json!({ "attended": "oui" })).await;

    by_outsider.assert_problem(StatusCode::NOT_FOUND, "not_found");
    by_student.assert_problem(StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(validated.status, StatusCode::OK);
    assert_eq!(validated.value()["attended"], true);
    assert!(validated.value()["attendance_validated_at"].is_string());
    bad.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(student.get("/api/me").await.value()["attended"], true);
}
