//! Staff account management by admins.

use e2e_tests::{PASSWORD, TestApp};
use http::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn an_admin_creates_a_tutor_who_can_then_sign_in() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;

    let created = admin
        .post_json(
            "/api/admin/users",
            &json!({ "email": "Jean.Mba@Example.GA", "full_name": " Jean Mba ", "password": PASSWORD }),
        )
        .await;

    assert_eq!(created.status, StatusCode::CREATED);
    let body = created.value();
    assert_eq!(body["email"], "jean.mba@example.ga");
    assert_eq!(body["full_name"], "Jean Mba");
    assert_eq!(body["role"], "tuteur");
    assert!(body.get("password_hash").is_none());
    assert_eq!(
        app.sign_in("jean.mba@example.ga", PASSWORD).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn an_e_mail_holds_one_account_whatever_its_case() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let body =
        |email: &str| json!({ "email": email, "full_name": "Jean Mba", "password": PASSWORD });
    admin
        .post_json("/api/admin/users", &body("jean@example.ga"))
        .await;

    let again = admin
        .post_json("/api/admin/users", &body("JEAN@example.ga"))
        .await;

    again.assert_problem(StatusCode::CONFLICT, "email_taken");
    assert_eq!(app.count("staff_users").await, 2);
}

#[tokio::test]
async fn bad_account_fields_are_named_and_nothing_is_written() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;

    let response = admin
        .post_json(
            "/api/admin/users",
            &json!({ "email": "jean", "role": "root", "password": "court" }),
        )
        .await;

    response.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(
        response.invalid_fields(),
        ["email", "full_name", "password", "role"]
    );
    assert_eq!(app.count("staff_users").await, 1);
}

#[tokio::test]
async fn only_admins_manage_accounts() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let tutor = app.tutor(&admin, &[]).await;
    let body = json!({ "email": "x@example.ga", "full_name": "X", "password": PASSWORD });

    app.get("/api/admin/users")
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    tutor
        .get("/api/admin/users")
        .await
        .assert_problem(StatusCode::FORBIDDEN, "forbidden");
    tutor
        .post_json("/api/admin/users", &body)
        .await
        .assert_problem(StatusCode::FORBIDDEN, "forbidden");
    tutor
        .patch_json(
            &format!("/api/admin/users/{}", tutor.id),
            &json!({ "role": "admin" }),
        )
        .await
        .assert_problem(StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(
        admin
            .get("/api/admin/users")
            .await
            .value()
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn assigning_a_tutor_opens_that_masterclass_to_them_and_unassigning_closes_it() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let draft = app.masterclass(&admin, "Brouillon", false).await;
    let tutor = app.tutor(&admin, &[]).await;
    let assignment = format!("/api/admin/users/{}/masterclasses/{draft}", tutor.id);
    let masterclass = format!("/api/masterclasses/{draft}");

    let before = tutor.get(&masterclass).await;
    let assigned = admin.request(Method::PUT, &assignment, &[], None).await;
    let again = admin.request(Method::PUT, &assignment, &[], None).await;
    let during = tutor.get(&masterclass).await;
    let unassigned = admin.request(Method::DELETE, &assignment, &[], None).await;
    let after = tutor.get(&masterclass).await;

    before.assert_problem(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(assigned.value()["masterclass_ids"], json!([draft]));
    assert_eq!(
        again.value()["masterclass_ids"],
        json!([draft]),
        "assigning twice is harmless"
    );
    assert_eq!(during.status, StatusCode::OK);
    assert_eq!(unassigned.value()["masterclass_ids"], json!([]));
    after.assert_problem(StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn assignments_are_for_tutors_and_existing_masterclasses() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let other_admin = app.admin().await;
    let id = app.masterclass(&admin, "Atelier", true).await;
    let tutor = app.tutor(&admin, &[]).await;

    let to_admin = admin
        .request(
            Method::PUT,
            &format!("/api/admin/users/{}/masterclasses/{id}", other_admin.id),
            &[],
            None,
        )
        .await;
    let to_nothing = admin
        .request(
            Method::PUT,
            &format!(
                "/api/admin/users/{}/masterclasses/{}",
                tutor.id,
                uuid::Uuid::new_v4()
            ),
            &[],
            None,
        )
        .await;

    to_admin.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "not_a_tutor");
    to_nothing.assert_problem(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(app.count("masterclass_tutors").await, 0);
}

#[tokio::test]
async fn an_admin_cannot_deactivate_or_demote_themself() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let path = format!("/api/admin/users/{}", admin.id);

    admin
        .patch_json(&path, &json!({ "active": false }))
        .await
        .assert_problem(StatusCode::CONFLICT, "cannot_lock_out_self");
    admin
        .patch_json(&path, &json!({ "role": "tuteur" }))
        .await
        .assert_problem(StatusCode::CONFLICT, "cannot_lock_out_self");
    admin
        .patch_json(&path, &json!({}))
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(admin.get("/api/auth/me").await.value()["active"], true);
}
