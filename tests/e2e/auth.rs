//! Staff sign-in and tokens: every bad token is a 401 before the handler runs.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use e2e_tests::{JWT_SECRET, PASSWORD, TestApp};
use http::{Method, StatusCode};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{Value, json};

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn sign(claims: &Value, secret: &str, algorithm: Algorithm) -> String {
    jsonwebtoken::encode(
        &Header::new(algorithm),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

fn claims_for(sub: &uuid::Uuid) -> Value {
    json!({ "sub": sub, "role": "admin", "email": "x@example.ga", "iat": now(), "exp": now() + 600, "aud": "authenticated" })
}

#[tokio::test]
async fn signing_in_returns_a_supabase_compatible_token() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;

    let response = app.sign_in(&admin.email, PASSWORD).await;

    assert_eq!(response.status, StatusCode::OK);
    let body = response.value();
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["user"]["role"], "admin");
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_audience(&["authenticated"]);
    let claims = jsonwebtoken::decode::<Value>(
        body["access_token"].as_str().unwrap(),
        &DecodingKey::from_secret(JWT_SECRET.as_bytes()),
        &validation,
    )
    .expect("the token verifies with the platform's secret")
    .claims;
    assert_eq!(claims["sub"], admin.id.to_string());
    assert_eq!(claims["role"], "admin");
    assert_eq!(claims["email"], admin.email);
    assert_eq!(claims["aud"], "authenticated");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        3600
    );
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_email_get_the_same_answer() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;

    let wrong_password = app.sign_in(&admin.email, "pas le bon mot de passe").await;
    let unknown_email = app.sign_in("personne@example.ga", PASSWORD).await;

    let strip = |r: &e2e_tests::TestResponse| {
        let mut body = r.assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
        body.as_object_mut().unwrap().remove("request_id");
        (body, r.headers.get("www-authenticate").cloned())
    };
    assert_eq!(strip(&wrong_password), strip(&unknown_email));
}

#[tokio::test]
async fn malformed_credentials_are_a_4xx_problem() {
    let app = TestApp::spawn().await;

    let missing = app
        .post_json("/api/auth/token", &json!({ "email": "a@example.ga" }))
        .await;
    let not_json = app
        .request(
            Method::POST,
            "/api/auth/token",
            &[],
            Some(b"email=a".to_vec()),
        )
        .await;

    missing.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    not_json.assert_problem(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
}

/// Five wrong passwords from one address refuse that address for the account (429) until the
/// window ends; other addresses are not refused (`limits::a_stranger_guessing_passwords_...`).
#[tokio::test]
async fn repeated_failures_refuse_that_address_for_the_account_for_a_while() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;

    for _ in 0..5 {
        app.sign_in(&admin.email, "pas le bon mot de passe")
            .await
            .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    }
    let refused = app.sign_in(&admin.email, PASSWORD).await;
    app.db()
        .await
        .execute(
            "update limit_hits set window_end = now() - interval '1 second'",
            &[],
        )
        .await
        .unwrap();
    let after_the_window = app.sign_in(&admin.email, PASSWORD).await;

    refused.assert_problem(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    assert!(refused.headers.contains_key("retry-after"));
    assert_eq!(after_the_window.status, StatusCode::OK);
}

#[tokio::test]
async fn stored_password_hashes_use_the_production_argon2id_parameters() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;

    let hash: String = app
        .db()
        .await
        .query_one(
            "select password_hash from staff_users where id = $1",
            &[&admin.id],
        )
        .await
        .unwrap()
        .get(0);

    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
}

#[tokio::test]
async fn every_bad_token_is_refused_before_the_handler_runs() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let id = admin.id;
    let mut expired = claims_for(&id);
    expired["iat"] = json!(now() - 7200);
    expired["exp"] = json!(now() - 3600);
    let mut wrong_audience = claims_for(&id);
    wrong_audience["aud"] = json!("someone-else");
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims_for(&id).to_string());
    let alg_none = format!("{header}.{payload}.");
    let cases = [
        ("no header", None),
        ("another scheme", Some("Basic YWRtaW46YWRtaW4=".to_owned())),
        ("an empty bearer", Some("Bearer ".to_owned())),
        ("garbage", Some("Bearer not.a.token".to_owned())),
        (
            "expired",
            Some(format!(
                "Bearer {}",
                sign(&expired, JWT_SECRET, Algorithm::HS256)
            )),
        ),
        (
            "another secret",
            Some(format!(
                "Bearer {}",
                sign(
                    &claims_for(&id),
                    "another-secret-another-secret-another",
                    Algorithm::HS256
                )
            )),
        ),
        ("alg none", Some(format!("Bearer {alg_none}"))),
        (
            "wrong audience",
            Some(format!(
                "Bearer {}",
                sign(&wrong_audience, JWT_SECRET, Algorithm::HS256)
            )),
        ),
        (
            "another algorithm",
            Some(format!(
                "Bearer {}",
                sign(&claims_for(&id), JWT_SECRET, Algorithm::HS384)
            )),
        ),
        (
            "an unknown account",
            Some(format!(
                "Bearer {}",
                sign(
                    &claims_for(&uuid::Uuid::new_v4()),
                    JWT_SECRET,
                    Algorithm::HS256
                )
            )),
        ),
        (
            "an unknown student token",
            Some("Bearer mcs_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".to_owned()),
        ),
    ];

    for (what, authorization) in cases {
        let headers: Vec<(&str, &str)> = authorization
            .iter()
            .map(|a| ("authorization", a.as_str()))
            .collect();
        let me = app
            .request(Method::GET, "/api/auth/me", &headers, None)
            .await;
        let mut with_body = headers.clone();
        with_body.push(("content-type", "application/json"));
        let create = app
            .request(
                Method::POST,
                "/api/masterclasses",
                &with_body,
                Some(br#"{"title":"Intrusion","starts_at":"2026-12-05T09:00:00Z","ends_at":"2026-12-05T10:00:00Z"}"#.to_vec()),
            )
            .await;

        assert_eq!(
            me.status,
            StatusCode::UNAUTHORIZED,
            "{what}: {}",
            String::from_utf8_lossy(&me.body)
        );
        assert_eq!(create.status, StatusCode::UNAUTHORIZED, "{what}");
        assert_eq!(me.headers.get("www-authenticate").unwrap(), "Bearer");
    }
    assert_eq!(app.count("masterclasses").await, 0);
}

#[tokio::test]
async fn a_valid_token_of_the_wrong_kind_is_forbidden() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let id = app.masterclass(&admin, "Rôles", true).await;
    let tutor = app.tutor(&admin, &[&id]).await;
    let student = app.student(&id, "Awa Ndong").await;

    tutor
        .get("/api/admin/users")
        .await
        .assert_problem(StatusCode::FORBIDDEN, "forbidden");
    student
        .get("/api/auth/me")
        .await
        .assert_problem(StatusCode::FORBIDDEN, "forbidden");
    student
        .get("/api/admin/users")
        .await
        .assert_problem(StatusCode::FORBIDDEN, "forbidden");
    admin
        .get("/api/me")
        .await
        .assert_problem(StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(tutor.get("/api/auth/me").await.value()["role"], "tuteur");
}

#[tokio::test]
async fn a_deactivated_account_is_refused_at_once_and_its_old_tokens_stay_dead() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let tutor = app.tutor(&admin, &[]).await;
    let path = format!("/api/admin/users/{}", tutor.id);

    let deactivated = admin.patch_json(&path, &json!({ "active": false })).await;
    let while_inactive = tutor.get("/api/auth/me").await;
    let sign_in_while_inactive = app.sign_in(&tutor.email, PASSWORD).await;
    admin.patch_json(&path, &json!({ "active": true })).await;
    let old_token_after_reactivation = tutor.get("/api/auth/me").await;
    let fresh = app.sign_in(&tutor.email, PASSWORD).await;

    assert_eq!(deactivated.status, StatusCode::OK);
    assert_eq!(deactivated.value()["active"], false);
    while_inactive.assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    sign_in_while_inactive.assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    old_token_after_reactivation.assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    assert_eq!(fresh.status, StatusCode::OK);
}

#[tokio::test]
async fn a_password_reset_revokes_tokens_and_the_new_password_works() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let tutor = app.tutor(&admin, &[]).await;
    let path = format!("/api/admin/users/{}/password", tutor.id);

    let too_short = admin
        .post_json(&path, &json!({ "password": "court" }))
        .await;
    let reset = admin
        .post_json(
            &path,
            &json!({ "password": "un tout nouveau mot de passe" }),
        )
        .await;

    too_short.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(reset.status, StatusCode::NO_CONTENT);
    tutor
        .get("/api/auth/me")
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    app.sign_in(&tutor.email, PASSWORD)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    assert_eq!(
        app.sign_in(&tutor.email, "un tout nouveau mot de passe")
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_supabase_token_for_a_known_account_is_accepted_with_that_accounts_role() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let tutor = app.tutor(&admin, &[]).await;
    // What Supabase Auth signs: its own role name, no `ver`, extra claims.
    let claims = json!({
        "sub": tutor.id, "role": "authenticated", "aud": "authenticated", "email": tutor.email,
        "iat": now(), "exp": now() + 600, "iss": "https://abcd.supabase.co/auth/v1",
        "app_metadata": { "provider": "email" }, "session_id": uuid::Uuid::new_v4(),
    });
    let token = sign(&claims, JWT_SECRET, Algorithm::HS256);

    let me = app
        .request(
            Method::GET,
            "/api/auth/me",
            &[("authorization", &format!("Bearer {token}"))],
            None,
        )
        .await;
    let admin_route = app
        .request(
            Method::GET,
            "/api/admin/users",
            &[("authorization", &format!("Bearer {token}"))],
            None,
        )
        .await;

    assert_eq!(
        me.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&me.body)
    );
    assert_eq!(me.value()["role"], "tuteur");
    admin_route.assert_problem(StatusCode::FORBIDDEN, "forbidden");
}
