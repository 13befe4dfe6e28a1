use e2e_tests::{StaffSession, TestApp};
use http::{Method, StatusCode};
use serde_json::{Value, json};

fn draft(title: &str) -> Value {
    json!({
        "title": title,
        "description": "Statuts, fiscalité et premiers clients.",
        "starts_at": "2026-12-05T09:00:00+01:00",
        "ends_at": "2026-12-05T13:00:00+01:00",
    })
}

async fn create(admin: &StaffSession, body: Value) -> Value {
    let response = admin.post_json("/api/masterclasses", &body).await;
    assert_eq!(
        response.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    response.value()
}

async fn create_published(admin: &StaffSession, title: &str) -> Value {
    let mut body = draft(title);
    body["published"] = json!(true);
    create(admin, body).await
}

#[tokio::test]
async fn an_admin_creates_a_masterclass_and_its_accents_are_kept() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;

    let created = create(&admin, draft("  Créer son entreprise à Libreville  ")).await;

    assert_eq!(created["title"], "Créer son entreprise à Libreville");
    assert_eq!(created["published"], false);
    assert_eq!(created["starts_at"], "2026-12-05T08:00:00Z");
    let stored: String = app
        .db()
        .await
        .query_one(
            "select title from masterclasses where id = $1::text::uuid",
            &[&created["id"].as_str().unwrap()],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored, "Créer son entreprise à Libreville");
}

#[tokio::test]
async fn every_bad_field_is_named_and_nothing_is_written() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let body = json!({ "title": "x", "starts_at": "le 5 décembre", "ends_at": "2026-12-05T13:00:00+01:00" });

    let response = admin.post_json("/api/masterclasses", &body).await;

    response.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(response.invalid_fields(), ["starts_at", "title"]);
    assert_eq!(app.count("masterclasses").await, 0);
}

#[tokio::test]
async fn a_masterclass_that_ends_before_it_starts_is_refused() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let mut body = draft("Comptabilité");
    body["ends_at"] = json!("2026-12-05T08:00:00+01:00");

    let response = admin.post_json("/api/masterclasses", &body).await;

    response.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(response.invalid_fields(), ["ends_at"]);
    assert_eq!(app.count("masterclasses").await, 0);
}

#[tokio::test]
async fn an_unknown_or_mistyped_field_is_named() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let mut body = draft("Marketing digital");
    body["titel"] = json!("typo");

    let unknown = admin.post_json("/api/masterclasses", &body).await;
    let mistyped = admin
        .post_json("/api/masterclasses", &json!({ "title": 42 }))
        .await;

    unknown.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert!(
        unknown.value()["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("titel")
    );
    mistyped.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(mistyped.invalid_fields(), ["title"]);
    assert_eq!(app.count("masterclasses").await, 0);
}

#[tokio::test]
async fn unreadable_bodies_get_4xx_problems_and_change_nothing() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;

    let malformed = admin
        .request(
            Method::POST,
            "/api/masterclasses",
            &[("content-type", "application/json")],
            Some(b"{\"title\": ".to_vec()),
        )
        .await;
    let not_json = admin
        .request(
            Method::POST,
            "/api/masterclasses",
            &[("content-type", "text/plain")],
            Some(b"title=x".to_vec()),
        )
        .await;
    let huge = admin
        .post_json(
            "/api/masterclasses",
            &json!({ "title": "x".repeat(300 * 1024) }),
        )
        .await;

    malformed.assert_problem(StatusCode::BAD_REQUEST, "bad_request");
    not_json.assert_problem(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
    huge.assert_problem(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    assert_eq!(app.count("masterclasses").await, 0);
}

#[tokio::test]
async fn the_public_listing_shows_published_masterclasses_page_by_page() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    create(&admin, draft("Brouillon caché")).await;
    for title in ["Atelier un", "Atelier deux", "Atelier trois"] {
        create_published(&admin, title).await;
    }

    let first = app.get("/api/masterclasses?limit=2").await.value();
    let second = app.get("/api/masterclasses?limit=2&offset=2").await.value();
    let past_the_end = app
        .get("/api/masterclasses?limit=2&offset=10")
        .await
        .value();

    assert_eq!(first["total"], 3);
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    assert_eq!(second["items"].as_array().unwrap().len(), 1);
    assert_eq!(past_the_end["total"], 3);
    let titles: Vec<&str> = [&first, &second]
        .iter()
        .flat_map(|page| page["items"].as_array().unwrap())
        .map(|m| m["title"].as_str().unwrap())
        .collect();
    assert!(!titles.contains(&"Brouillon caché"), "{titles:?}");
}

#[tokio::test]
async fn bad_paging_parameters_are_refused() {
    let app = TestApp::spawn().await;

    app.get("/api/masterclasses?limit=0")
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    app.get("/api/masterclasses?limit=1000")
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    app.get("/api/masterclasses?offset=-1")
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    app.get("/api/masterclasses?limit=lots")
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "bad_request");
}

#[tokio::test]
async fn a_draft_is_hidden_from_the_public_until_it_is_published() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let created = create(&admin, draft("Gestion de projet")).await;
    let path = format!("/api/masterclasses/{}", created["id"].as_str().unwrap());

    let before = app.get(&path).await;
    let published = admin.patch_json(&path, &json!({ "published": true })).await;
    let after = app.get(&path).await;

    before.assert_problem(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(published.status, StatusCode::OK);
    assert_eq!(after.status, StatusCode::OK);
    assert_eq!(after.value()["title"], "Gestion de projet");
}

#[tokio::test]
async fn an_update_may_not_leave_the_schedule_inverted() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let created = create_published(&admin, "Gestion de projet").await;
    let path = format!("/api/masterclasses/{}", created["id"].as_str().unwrap());

    // Moving only the start past the stored end breaks the schedule.
    let response = admin
        .patch_json(&path, &json!({ "starts_at": "2026-12-06T09:00:00+01:00" }))
        .await;
    let empty = admin.patch_json(&path, &json!({})).await;

    response.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(response.invalid_fields(), ["ends_at"]);
    empty.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(
        app.get(&path).await.value()["starts_at"],
        created["starts_at"]
    );
}

#[tokio::test]
async fn a_deleted_masterclass_is_a_tombstone_invisible_to_everyone() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let created = create_published(&admin, "Éphémère").await;
    let id = created["id"].as_str().unwrap();
    let path = format!("/api/masterclasses/{id}");

    let deleted = admin.delete(&path).await;
    let again = admin.delete(&path).await;

    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    again.assert_problem(StatusCode::NOT_FOUND, "not_found");
    app.get(&path)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
    admin
        .patch_json(&path, &json!({ "title": "Revenant" }))
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(app.get("/api/masterclasses").await.value()["total"], 0);
    // The row stays, marked, so offline devices learn of the deletion when they sync.
    let tombstone: bool = app
        .db()
        .await
        .query_one(
            "select deleted_at is not null from masterclasses where id = $1::text::uuid",
            &[&id],
        )
        .await
        .unwrap()
        .get(0);
    assert!(tombstone);
}

#[tokio::test]
async fn every_write_moves_the_row_version_forward_for_sync() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let created = create_published(&admin, "Versionnée").await;
    let id = created["id"].as_str().unwrap();
    let version = || async {
        app.db()
            .await
            .query_one(
                "select row_version from masterclasses where id = $1::text::uuid",
                &[&id],
            )
            .await
            .unwrap()
            .get::<_, i64>(0)
    };
    let v1 = version().await;

    admin
        .patch_json(
            &format!("/api/masterclasses/{id}"),
            &json!({ "title": "Versionnée deux" }),
        )
        .await;
    let v2 = version().await;
    admin.delete(&format!("/api/masterclasses/{id}")).await;
    let v3 = version().await;

    assert!(v1 < v2 && v2 < v3, "{v1} {v2} {v3}");
}

#[tokio::test]
async fn malformed_ids_and_unknown_routes_are_problems_too() {
    let app = TestApp::spawn().await;

    app.get("/api/masterclasses/not-a-uuid")
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
    app.get("/api/masterclasses/7d6f0d2e-3f9a-4c7e-9a51-2b8f1c9e4a10")
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
    app.get("/api/nowhere")
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
    app.request(Method::PUT, "/api/masterclasses", &[], None)
        .await
        .assert_problem(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
}

#[tokio::test]
async fn a_retried_create_with_the_same_key_returns_the_first_answer() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let key = [("idempotency-key", "create-42")];
    let body = draft("Atelier idempotent");

    let first = admin
        .send_json(Method::POST, "/api/masterclasses", &body, &key)
        .await;
    let retry = admin
        .send_json(Method::POST, "/api/masterclasses", &body, &key)
        .await;

    assert_eq!(first.status, StatusCode::CREATED);
    assert_eq!(retry.status, StatusCode::CREATED);
    assert_eq!(first.value()["id"], retry.value()["id"]);
    assert_eq!(app.count("masterclasses").await, 1);
}

#[tokio::test]
async fn the_same_key_with_another_body_is_refused() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let key = [("idempotency-key", "create-43")];
    admin
        .send_json(Method::POST, "/api/masterclasses", &draft("Premier"), &key)
        .await;

    let reused = admin
        .send_json(Method::POST, "/api/masterclasses", &draft("Second"), &key)
        .await;
    let bad_key = admin
        .send_json(
            Method::POST,
            "/api/masterclasses",
            &draft("Troisième"),
            &[("idempotency-key", "")],
        )
        .await;

    reused.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused");
    bad_key.assert_problem(StatusCode::BAD_REQUEST, "bad_request");
    assert_eq!(app.count("masterclasses").await, 1);
}

#[tokio::test]
async fn concurrent_retries_with_one_key_create_one_masterclass() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let key = [("idempotency-key", "race-1")];
    let body = draft("Course");

    let (a, b, c) = tokio::join!(
        admin.send_json(Method::POST, "/api/masterclasses", &body, &key),
        admin.send_json(Method::POST, "/api/masterclasses", &body, &key),
        admin.send_json(Method::POST, "/api/masterclasses", &body, &key),
    );

    for response in [&a, &b, &c] {
        assert_eq!(response.status, StatusCode::CREATED);
        assert_eq!(response.value()["id"], a.value()["id"]);
    }
    assert_eq!(app.count("masterclasses").await, 1);
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_problems_repeat_it() {
    let app = TestApp::spawn().await;

    let generated = app.get("/api/masterclasses").await;
    let given = app
        .request(
            Method::GET,
            "/api/nowhere",
            &[("x-request-id", "trace-me-123")],
            None,
        )
        .await;

    let id = generated
        .headers
        .get("x-request-id")
        .expect("a request id")
        .to_str()
        .unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
    assert_eq!(given.headers.get("x-request-id").unwrap(), "trace-me-123");
    assert_eq!(given.value()["request_id"], "trace-me-123");
}

#[tokio::test]
async fn only_an_admin_may_create_change_or_delete_masterclasses() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let id = app.masterclass(&admin, "Réservée aux admins", true).await;
    let tutor = app.tutor(&admin, &[&id]).await;
    let path = format!("/api/masterclasses/{id}");

    let anonymous = app.post_json("/api/masterclasses", &draft("Anonyme")).await;
    let by_tutor = tutor
        .post_json("/api/masterclasses", &draft("Par un tuteur"))
        .await;
    let tutor_patch = tutor.patch_json(&path, &json!({ "title": "Changé" })).await;
    let tutor_delete = tutor.delete(&path).await;
    let tutor_upload = tutor.post_json(&format!("{path}/pdf"), &json!({})).await;

    anonymous.assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    by_tutor.assert_problem(StatusCode::FORBIDDEN, "forbidden");
    tutor_patch.assert_problem(StatusCode::FORBIDDEN, "forbidden");
    tutor_delete.assert_problem(StatusCode::FORBIDDEN, "forbidden");
    tutor_upload.assert_problem(StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(app.count("masterclasses").await, 1);
    assert_eq!(app.get(&path).await.value()["title"], "Réservée aux admins");
}

#[tokio::test]
async fn staff_see_the_drafts_they_staff_and_the_public_does_not() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let mine = app.masterclass(&admin, "Brouillon du tuteur", false).await;
    let other = app.masterclass(&admin, "Brouillon d'un autre", false).await;
    let tutor = app.tutor(&admin, &[&mine]).await;

    let public = app.get("/api/masterclasses").await.value();
    let tutors = tutor.get("/api/masterclasses").await.value();
    let admins = admin.get("/api/masterclasses").await.value();

    assert_eq!(public["total"], 0);
    assert_eq!(tutors["total"], 1);
    assert_eq!(tutors["items"][0]["id"], mine.as_str());
    assert_eq!(admins["total"], 2);
    tutor
        .get(&format!("/api/masterclasses/{other}"))
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn a_nul_character_anywhere_in_a_body_is_a_422_on_every_route() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let body = |route: &str| match route {
        "/api/send-whatsapp" => {
            r#"{"to":"+33612345678","messageType":"custom","data":{"text":"Bonjour\u0000"}}"#
        }
        _ => {
            r#"{"title":"Atelier\u0000","starts_at":"2026-12-05T09:00:00Z","ends_at":"2026-12-05T10:00:00Z"}"#
        }
    };

    for route in ["/api/send-whatsapp", "/api/masterclasses"] {
        let response = admin
            .request(
                Method::POST,
                route,
                &[("content-type", "application/json")],
                Some(body(route).as_bytes().to_vec()),
            )
            .await;
        response.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(response.invalid_fields(), ["body"], "{route}");
    }
    let charset = admin
        .request(
            Method::POST,
            "/api/masterclasses",
            &[("content-type", "application/json; charset=utf-8")],
            Some(serde_json::to_vec(&draft("Avec un charset")).unwrap()),
        )
        .await;
    assert_eq!(
        charset.status,
        StatusCode::CREATED,
        "a charset parameter is fine"
    );
    assert_eq!(app.count("outbox_messages").await, 0);
    assert_eq!(app.count("masterclasses").await, 1);
}
