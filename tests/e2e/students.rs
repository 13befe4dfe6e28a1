//! Students' access tokens: shown once, stored as a hash, revocable.

use e2e_tests::TestApp;
use http::{Method, StatusCode};
use sha2::{Digest, Sha256};

#[tokio::test]
async fn a_student_reads_their_own_record_with_their_token() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let id = app.masterclass(&admin, "Créer son entreprise", true).await;
    let student = app.student(&id, "Awa Ndong-Mba").await;

    let me = student.get("/api/me").await;

    assert_eq!(
        me.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&me.body)
    );
    let me = me.value();
    assert_eq!(me["inscription_id"], student.inscription_id.to_string());
    assert_eq!(me["full_name"], "Awa Ndong-Mba");
    assert_eq!(me["masterclass"]["title"], "Créer son entreprise");
}

#[tokio::test]
async fn only_the_hash_of_a_token_is_stored() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let id = app.masterclass(&admin, "Atelier", true).await;
    let student = app.student(&id, "Awa Ndong").await;

    let stored: Vec<u8> = app
        .db()
        .await
        .query_one(
            "select token_hash from inscription_tokens where inscription_id = $1",
            &[&student.inscription_id],
        )
        .await
        .unwrap()
        .get(0);

    assert_eq!(stored, Sha256::digest(student.token.as_bytes()).to_vec());
    assert!(!String::from_utf8_lossy(&stored).contains(&student.token[4..]));
}

#[tokio::test]
async fn a_student_can_revoke_their_token() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let id = app.masterclass(&admin, "Atelier", true).await;
    let student = app.student(&id, "Awa Ndong").await;

    let revoked = student
        .request(Method::DELETE, "/api/me/token", &[], None)
        .await;

    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    student
        .get("/api/me")
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
}

#[tokio::test]
async fn staff_of_the_masterclass_reissue_a_lost_token_and_the_old_one_dies() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let mine = app.masterclass(&admin, "La mienne", true).await;
    let other = app.masterclass(&admin, "Une autre", true).await;
    let tutor = app.tutor(&admin, &[&mine]).await;
    let outsider = app.tutor(&admin, &[&other]).await;
    let student = app.student(&mine, "Awa Ndong").await;
    let path = format!("/api/admin/inscriptions/{}/token", student.inscription_id);

    let by_outsider = outsider.post_json(&path, &serde_json::json!({})).await;
    let reissued = tutor.request(Method::POST, &path, &[], None).await;

    by_outsider.assert_problem(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(
        reissued.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&reissued.body)
    );
    let token = reissued.value()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    student
        .get("/api/me")
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    let me = app
        .request(
            Method::GET,
            "/api/me",
            &[("authorization", &format!("Bearer {token}"))],
            None,
        )
        .await;
    assert_eq!(me.status, StatusCode::OK);
}
