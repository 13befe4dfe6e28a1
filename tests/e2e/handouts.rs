use e2e_tests::{InProcess, StaffSession, TestApp, TestResponse, testdata};
use http::StatusCode;
use serde_json::{Value, json};

const PDF: &str = "pdfs/fr-masterclass-entreprise.pdf";

async fn masterclass(admin: &StaffSession) -> String {
    let response = admin
        .post_json(
            "/api/masterclasses",
            &json!({
                "title": "Créer son entreprise",
                "starts_at": "2026-12-05T09:00:00+01:00",
                "ends_at": "2026-12-05T13:00:00+01:00",
                "published": true,
            }),
        )
        .await;
    assert_eq!(response.status, StatusCode::CREATED);
    response.value()["id"].as_str().unwrap().to_owned()
}

/// Asks for an upload ticket and performs the upload with a real HTTP PUT, as a browser would.
async fn upload(admin: &StaffSession, id: &str, bytes: Vec<u8>) -> (Value, reqwest::StatusCode) {
    let ticket = admin
        .post_json(
            &format!("/api/masterclasses/{id}/pdf"),
            &json!({ "size": bytes.len() }),
        )
        .await;
    assert_eq!(
        ticket.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&ticket.body)
    );
    let ticket = ticket.value();
    let mut put = reqwest::Client::new()
        .put(ticket["url"].as_str().unwrap())
        .body(bytes);
    for (name, value) in ticket["headers"].as_object().unwrap() {
        put = put.header(name, value.as_str().unwrap());
    }
    let status = put.send().await.expect("the store answers").status();
    (ticket, status)
}

async fn confirm(admin: &StaffSession, id: &str, key: &str) -> e2e_tests::TestResponse {
    admin
        .post_json(
            &format!("/api/masterclasses/{id}/pdf/confirm"),
            &json!({ "key": key }),
        )
        .await
}

/// The signed link a handout's `download_url` redirects `client` to. In-process requests name
/// no host, so the URL is a path here.
async fn follow(client: &InProcess, download_url: &str) -> String {
    let redirect = client.get(download_url).await;
    assert_eq!(
        redirect.status,
        StatusCode::FOUND,
        "{download_url}: {}",
        String::from_utf8_lossy(&redirect.body)
    );
    assert_eq!(redirect.headers["cache-control"], "no-store");
    location(&redirect)
}

async fn unpublish(admin: &StaffSession, id: &str) {
    let unpublished = admin
        .patch_json(
            &format!("/api/masterclasses/{id}"),
            &json!({ "published": false }),
        )
        .await;
    assert_eq!(unpublished.status, StatusCode::OK);
}

/// A platform whose signed links live `link_life`, an admin, and a published masterclass with
/// a handout.
async fn with_handout(link_life: std::time::Duration) -> (TestApp, StaffSession, String) {
    let app = TestApp::spawn_with(|config| config.uploads.presign_ttl = link_life).await;
    let admin = app.admin().await;
    let id = masterclass(&admin).await;
    app.handout(&admin, &id, testdata(PDF).unwrap()).await;
    (app, admin, id)
}

/// The file at a signed `link`, which must be a PDF.
async fn download(link: &str) -> Vec<u8> {
    let answer = reqwest::get(link).await.unwrap();
    assert!(answer.status().is_success(), "{link}: {}", answer.status());
    let bytes = answer.bytes().await.unwrap().to_vec();
    assert!(bytes.starts_with(b"%PDF-"), "{link}: not a PDF");
    bytes
}

fn location(response: &TestResponse) -> String {
    response.headers["location"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_real_pdf_goes_up_by_presigned_url_and_comes_back_by_download_link() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let id = masterclass(&admin).await;
    let pdf = testdata(PDF).unwrap();

    let (ticket, put_status) = upload(&admin, &id, pdf.clone()).await;
    let confirmed = confirm(&admin, &id, ticket["key"].as_str().unwrap()).await;

    assert!(put_status.is_success(), "upload answered {put_status}");
    assert_eq!(
        confirmed.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&confirmed.body)
    );
    assert_eq!(confirmed.value()["pdf"]["size"], pdf.len());
    let shown = app.get(&format!("/api/masterclasses/{id}")).await.value();
    let url = shown["pdf"]["download_url"]
        .as_str()
        .expect("a download link");
    assert_eq!(url, format!("/api/masterclasses/{id}/pdf"));
    assert_eq!(download(&follow(&app, url).await).await, pdf);
}

#[tokio::test]
async fn a_handout_link_is_on_the_host_the_client_called_and_never_changes() {
    let (app, _, id) = with_handout(std::time::Duration::from_secs(2)).await;
    let page = async |headers: &[(&str, &str)]| {
        app.request(http::Method::GET, "/api/masterclasses", headers, None)
            .await
            .value()["items"][0]["pdf"]["download_url"]
            .clone()
    };

    let behind_gateway = page(&[("host", "api.example.ga"), ("x-forwarded-proto", "https")]).await;
    let venue = page(&[("host", "192.168.1.20:3000")]).await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let later = page(&[("host", "api.example.ga"), ("x-forwarded-proto", "https")]).await;

    let path = format!("/api/masterclasses/{id}/pdf");
    assert_eq!(behind_gateway, format!("https://api.example.ga{path}"));
    assert_eq!(venue, format!("http://192.168.1.20:3000{path}"));
    assert_eq!(
        later, behind_gateway,
        "past the signed links' life, the same URL"
    );
    // And it still downloads: the redirect signs a new link.
    download(&follow(&app, &path).await).await;
}

#[tokio::test]
async fn a_draft_handout_is_for_staff_and_a_missing_one_is_a_404() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let draft = masterclass(&admin).await;
    unpublish(&admin, &draft).await;
    app.handout(&admin, &draft, testdata(PDF).unwrap()).await;
    let without = masterclass(&admin).await;
    let other = app.open_masterclass(&admin, "Ailleurs").await;
    let outsider = app.tutor(&admin, &[&other]).await;
    let published = app.open_masterclass(&admin, "Publiée").await;
    app.handout(&admin, &published, testdata(PDF).unwrap())
        .await;
    let student = app.student(&published, "Awa Ndong").await;

    let anonymous = app.get(&format!("/api/masterclasses/{draft}/pdf")).await;
    let unassigned = outsider
        .get(&format!("/api/masterclasses/{draft}/pdf"))
        .await;
    let staffed = follow(&admin, &format!("/api/masterclasses/{draft}/pdf")).await;
    let none = admin
        .get(&format!("/api/masterclasses/{without}/pdf"))
        .await;
    let unknown = app
        .get(&format!("/api/masterclasses/{}/pdf", uuid::Uuid::new_v4()))
        .await;
    let malformed = app.get("/api/masterclasses/not-an-id/pdf").await;
    let as_student = follow(&student, &format!("/api/masterclasses/{published}/pdf")).await;

    anonymous.assert_problem(StatusCode::NOT_FOUND, "not_found");
    unassigned.assert_problem(StatusCode::NOT_FOUND, "not_found");
    none.assert_problem(StatusCode::NOT_FOUND, "not_found");
    unknown.assert_problem(StatusCode::NOT_FOUND, "not_found");
    malformed.assert_problem(StatusCode::NOT_FOUND, "not_found");
    for link in [staffed, as_student] {
        download(&link).await;
    }
}

#[tokio::test]
async fn the_store_refuses_an_upload_of_another_size_than_signed() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let id = masterclass(&admin).await;
    let ticket = admin
        .post_json(
            &format!("/api/masterclasses/{id}/pdf"),
            &json!({ "size": 10 }),
        )
        .await
        .value();

    let mut put = reqwest::Client::new()
        .put(ticket["url"].as_str().unwrap())
        .body(b"%PDF-1.7 and much more than ten bytes".to_vec());
    for (name, value) in ticket["headers"].as_object().unwrap() {
        if name != "content-length" {
            put = put.header(name, value.as_str().unwrap());
        }
    }
    let status = put.send().await.unwrap().status();

    assert!(status.is_client_error(), "the store accepted it: {status}");
}

#[tokio::test]
async fn confirming_a_file_that_is_not_a_pdf_is_refused_and_the_file_removed() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let id = masterclass(&admin).await;
    let (ticket, put_status) = upload(&admin, &id, b"MZ\x90\x00 this is no PDF".to_vec()).await;
    let key = ticket["key"].as_str().unwrap();
    assert!(put_status.is_success());

    let response = confirm(&admin, &id, key).await;

    response.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(response.invalid_fields(), ["key"]);
    assert_eq!(app.state.storage.size(key).await.unwrap(), None);
    assert_eq!(
        app.get(&format!("/api/masterclasses/{id}")).await.value()["pdf"],
        Value::Null
    );
}

#[tokio::test]
async fn confirming_before_anything_was_uploaded_is_refused() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let id = masterclass(&admin).await;
    let ticket = admin
        .post_json(&format!("/api/masterclasses/{id}/pdf"), &json!({}))
        .await
        .value();

    let response = confirm(&admin, &id, ticket["key"].as_str().unwrap()).await;

    response.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "pdf_not_uploaded");
    assert_eq!(
        app.get(&format!("/api/masterclasses/{id}")).await.value()["pdf"],
        Value::Null
    );
}

#[tokio::test]
async fn a_key_issued_for_another_masterclass_cannot_be_confirmed() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let mine = masterclass(&admin).await;
    let other = masterclass(&admin).await;
    let (ticket, _) = upload(&admin, &other, testdata(PDF).unwrap()).await;

    let stolen = confirm(&admin, &mine, ticket["key"].as_str().unwrap()).await;
    let invented = confirm(&admin, &mine, "../../etc/passwd").await;

    stolen.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    invented.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
}

#[tokio::test]
async fn a_new_handout_replaces_the_old_one_and_the_old_object_is_deleted() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let id = masterclass(&admin).await;
    let (first, _) = upload(&admin, &id, testdata(PDF).unwrap()).await;
    let first_key = first["key"].as_str().unwrap();
    assert_eq!(confirm(&admin, &id, first_key).await.status, StatusCode::OK);
    let second_pdf = testdata("pdfs/libtasn1.pdf").unwrap();

    let (second, _) = upload(&admin, &id, second_pdf.clone()).await;
    let confirmed = confirm(&admin, &id, second["key"].as_str().unwrap()).await;

    assert_eq!(confirmed.status, StatusCode::OK);
    assert_eq!(confirmed.value()["pdf"]["size"], second_pdf.len());
    assert_eq!(app.state.storage.size(first_key).await.unwrap(), None);
}

#[tokio::test]
async fn handouts_over_the_limit_are_refused_at_both_steps() {
    let app = TestApp::spawn_with(|config| config.uploads.pdf_max_bytes = 1024).await;
    let admin = app.admin().await;
    let id = masterclass(&admin).await;

    let declared = admin
        .post_json(
            &format!("/api/masterclasses/{id}/pdf"),
            &json!({ "size": 4096 }),
        )
        .await;
    // A client that does not declare the size is caught when it confirms.
    let ticket = admin
        .post_json(&format!("/api/masterclasses/{id}/pdf"), &json!({}))
        .await
        .value();
    let key = ticket["key"].as_str().unwrap();
    app.state
        .storage
        .put(key, testdata(PDF).unwrap(), "application/pdf")
        .await
        .unwrap();
    let confirmed = confirm(&admin, &id, key).await;

    declared.assert_problem(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    confirmed.assert_problem(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    assert_eq!(app.state.storage.size(key).await.unwrap(), None);
}

#[tokio::test]
async fn an_upload_for_an_unknown_masterclass_is_a_404() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;

    let response = admin
        .post_json(
            "/api/masterclasses/7d6f0d2e-3f9a-4c7e-9a51-2b8f1c9e4a10/pdf",
            &json!({ "size": 100 }),
        )
        .await;

    response.assert_problem(StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn a_declared_size_outside_a_positive_int64_is_refused() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let id = masterclass(&admin).await;

    for size in [
        json!(0),
        json!(-1),
        json!(9_223_372_036_854_775_808u64),
        json!("big"),
    ] {
        let response = admin
            .post_json(
                &format!("/api/masterclasses/{id}/pdf"),
                &json!({ "size": size }),
            )
            .await;

        assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY, "{size}");
        assert_eq!(response.content_type(), "application/problem+json");
    }
    let too_large = admin
        .post_json(
            &format!("/api/masterclasses/{id}/pdf"),
            &json!({ "size": i64::MAX }),
        )
        .await;
    too_large.assert_problem(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
}

#[tokio::test]
async fn a_download_link_is_handed_out_again_while_more_than_half_its_life_remains() {
    let (app, admin, id) = with_handout(std::time::Duration::from_secs(4)).await;
    let path = format!("/api/masterclasses/{id}/pdf");

    let first = follow(&app, &path).await;
    let again = follow(&admin, &path).await;
    tokio::time::sleep(std::time::Duration::from_millis(2200)).await;
    let later = follow(&app, &path).await;

    assert_eq!(first, again, "a fresh link is handed out as it is");
    assert_ne!(later, first, "past half its life, a new link");
    for url in [first, later] {
        download(&url).await;
    }
}

#[tokio::test]
async fn a_student_still_downloads_the_handout_of_their_masterclass_once_it_is_unpublished() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let id = app.open_masterclass(&admin, "Créer son entreprise").await;
    app.handout(&admin, &id, testdata(PDF).unwrap()).await;
    let student = app.student(&id, "Awa Ndong").await;
    unpublish(&admin, &id).await;

    let me = student.get("/api/me").await.value();
    let url = me["masterclass"]["pdf"]["download_url"]
        .as_str()
        .expect("the student's masterclass shows its handout");
    let signed = follow(&student, url).await;
    let anonymous = app.get(url).await;

    download(&signed).await;
    anonymous.assert_problem(StatusCode::NOT_FOUND, "not_found");
}
