//! `POST /api/generate-questions`: text extraction on real and generated PDFs, the offline
//! generator, the validation rules, and the OpenAI provider against a local fake speaking
//! OpenAI's wire format.

use std::{collections::BTreeSet, time::Duration};

use e2e_tests::{
    StaffSession, TestApp, TestResponse,
    fake_openai::{self, Behaviour, FakeOpenAi},
    pdfs, testdata,
};
use http::StatusCode;
use serde_json::{Value, json};
use shared::{
    ai::{pdf, text::fold},
    config::Secret,
};

const REAL: [&str; 3] = [
    "pdfs/fr-masterclass-entreprise.pdf",
    "pdfs/libtasn1.pdf",
    "pdfs/shared-mime-info-spec.pdf",
];

/// An admin and a masterclass whose handout is `pdf`.
async fn with_handout(app: &TestApp, pdf: Vec<u8>) -> (StaffSession, String) {
    let admin = app.admin().await;
    let id = app.masterclass(&admin, "Créer son entreprise", true).await;
    app.handout(&admin, &id, pdf).await;
    (admin, id)
}

async fn generate(staff: &StaffSession, body: Value) -> TestResponse {
    staff.post_json("/api/generate-questions", &body).await
}

async fn extracted(pdf: &[u8]) -> String {
    let limits = pdf::Limits {
        max_bytes: 50 << 20,
        max_pages: 1000,
        time: Duration::from_secs(60),
    };
    pdf::extract(pdf.to_vec(), limits)
        .await
        .expect("the PDF has text")
        .text
}

/// The checks every successful generation must pass, whatever the provider.
fn assert_valid_generation(body: &Value, count: usize, document: &str) {
    let questions = body["questions"].as_array().expect("questions");
    assert_eq!(questions.len(), count, "{body:#}");
    let document = fold(document);
    let mut per_letter = [0usize; 4];
    let mut stems = BTreeSet::new();
    for q in questions {
        assert_eq!(q["status"], "draft");
        let choices: Vec<&str> = q["choices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        assert_eq!(choices.len(), 4);
        let distinct: BTreeSet<String> = choices.iter().map(|c| fold(c)).collect();
        assert_eq!(distinct.len(), 4, "choices repeat: {q:#}");
        assert!(choices.iter().all(|c| !c.trim().is_empty()));
        let letter = ["A", "B", "C", "D"]
            .iter()
            .position(|l| q["correct"] == *l)
            .unwrap();
        per_letter[letter] += 1;
        let excerpt = q["source_excerpt"].as_str().expect("a source excerpt");
        assert!(
            document.contains(&fold(excerpt)),
            "quote not in the document: {excerpt}"
        );
        assert!(
            stems.insert(fold(q["text"].as_str().unwrap())),
            "stem twice: {q:#}"
        );
        assert_eq!(q["provenance"]["generation_id"], body["generation_id"]);
        assert_eq!(q["provenance"]["provider"], body["provider"]);
    }
    let most = count.div_ceil(4);
    assert!(
        per_letter.iter().all(|&n| n <= most),
        "unbalanced letters {per_letter:?}"
    );
}

#[tokio::test]
async fn the_offline_generator_writes_ten_valid_drafts_from_each_real_handout() {
    for path in REAL {
        // Arrange
        let app = TestApp::spawn().await;
        let pdf = testdata(path).unwrap();
        let (admin, id) = with_handout(&app, pdf.clone()).await;

        // Act
        let response = generate(&admin, json!({ "masterclass_id": id })).await;

        // Assert
        assert_eq!(
            response.status,
            StatusCode::CREATED,
            "{path}: {}",
            String::from_utf8_lossy(&response.body)
        );
        let body = response.value();
        assert_eq!(body["provider"], "offline");
        assert_valid_generation(&body, 10, &extracted(&pdf).await);
        for q in body["questions"].as_array().unwrap() {
            eprintln!(
                "{path}: {} | {:?} | {}",
                q["text"], q["choices"], q["correct"]
            );
        }
        let stored = app.db().await.query_one(
            "select count(*) from questions where masterclass_id = $1::text::uuid and status = 'draft'
               and provenance ->> 'generation_id' = $2",
            &[&id, &body["generation_id"].as_str().unwrap()],
        ).await.unwrap().get::<_, i64>(0);
        assert_eq!(stored, 10, "{path}");
    }
}

#[tokio::test]
async fn offline_generation_is_deterministic_for_a_document_and_a_seed() {
    // Arrange
    let app = TestApp::spawn().await;
    let pdf = testdata(REAL[0]).unwrap();
    let admin = app.admin().await;
    let mut ids = Vec::new();
    for title in ["Première", "Deuxième", "Troisième"] {
        let id = app.masterclass(&admin, title, true).await;
        app.handout(&admin, &id, pdf.clone()).await;
        ids.push(id);
    }
    let shape = |body: &Value| -> Vec<(Value, Value, Value)> {
        body["questions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|q| {
                (
                    q["text"].clone(),
                    q["choices"].clone(),
                    q["correct"].clone(),
                )
            })
            .collect()
    };

    // Act
    let first = generate(&admin, json!({ "masterclass_id": ids[0], "seed": 7 }))
        .await
        .value();
    let again = generate(&admin, json!({ "masterclass_id": ids[1], "seed": 7 }))
        .await
        .value();
    let other = generate(&admin, json!({ "masterclass_id": ids[2], "seed": 8 }))
        .await
        .value();

    // Assert
    assert_eq!(shape(&first), shape(&again));
    assert_ne!(shape(&first), shape(&other));
    assert_eq!(first["seed"], 7);
}

#[tokio::test]
async fn a_generated_french_handout_keeps_its_accents_through_extraction_and_generation() {
    // Arrange
    let app = TestApp::spawn().await;
    let pdf = pdfs::french_handout(4);
    let (admin, id) = with_handout(&app, pdf.clone()).await;

    // Act
    let text = extracted(&pdf).await;
    let response = generate(
        &admin,
        json!({ "masterclass_id": id, "count": 8, "language": "fr" }),
    )
    .await;

    // Assert
    for word in [
        "trésorerie",
        "d'affaires",
        "Libreville",
        "bénéfice",
        "Agence nationale de promotion",
    ] {
        assert!(text.contains(word), "{word} missing from: {text}");
    }
    assert_eq!(
        response.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    let body = response.value();
    assert_valid_generation(&body, 8, &text);
    assert!(
        body["questions"][0]["text"]
            .as_str()
            .unwrap()
            .starts_with("Complétez")
    );
    assert_eq!(body["pages"], 4);
}

#[tokio::test]
async fn english_questions_are_written_when_asked() {
    let app = TestApp::spawn().await;
    let (admin, id) = with_handout(&app, testdata(REAL[1]).unwrap()).await;

    let response = generate(
        &admin,
        json!({ "masterclass_id": id, "count": 3, "language": "en" }),
    )
    .await;

    assert_eq!(response.status, StatusCode::CREATED);
    assert!(
        response.value()["questions"][0]["text"]
            .as_str()
            .unwrap()
            .starts_with("Fill in the blank")
    );
}

#[tokio::test]
async fn a_scanned_handout_without_text_is_refused_and_nothing_is_stored() {
    let app = TestApp::spawn().await;
    let (admin, id) = with_handout(&app, pdfs::scanned_handout(3)).await;

    let response = generate(&admin, json!({ "masterclass_id": id })).await;

    let problem = response.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "pdf_has_no_text");
    assert!(
        problem["detail"].as_str().unwrap().contains("scanned"),
        "{problem}"
    );
    assert_eq!(app.count("questions").await, 0);
    assert_eq!(app.count("idempotency_keys").await, 0);
}

#[tokio::test]
async fn a_masterclass_without_a_handout_is_a_conflict() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let id = app.masterclass(&admin, "Sans support", true).await;

    let response = generate(&admin, json!({ "masterclass_id": id })).await;

    response.assert_problem(StatusCode::CONFLICT, "pdf_missing");
}

#[tokio::test]
async fn too_large_and_too_long_handouts_are_refused() {
    let big = TestApp::spawn_with(|c| c.ai.limits.max_bytes = 2_000).await;
    let (admin, id) = with_handout(&big, pdfs::french_handout(6)).await;
    generate(&admin, json!({ "masterclass_id": id }))
        .await
        .assert_problem(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");

    let long = TestApp::spawn_with(|c| c.ai.limits.max_pages = 3).await;
    let (admin, id) = with_handout(&long, pdfs::french_handout(4)).await;
    let problem = generate(&admin, json!({ "masterclass_id": id }))
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "pdf_too_long");
    assert!(
        problem["detail"].as_str().unwrap().contains("4 pages"),
        "{problem}"
    );
    assert_eq!(long.count("questions").await, 0);
}

#[tokio::test]
async fn a_handout_too_short_for_the_count_asked_is_refused_clearly() {
    let app = TestApp::spawn().await;
    let lines: Vec<String> = pdfs::COURSE[..6].iter().map(|s| s.to_string()).collect();
    let (admin, id) = with_handout(&app, pdfs::text_pdf(&[lines])).await;

    let response = generate(&admin, json!({ "masterclass_id": id, "count": 20 })).await;

    response.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "not_enough_material");
    assert_eq!(app.count("questions").await, 0);
}

#[tokio::test]
async fn bad_bodies_are_refused_field_by_field_and_change_nothing() {
    let app = TestApp::spawn().await;
    let (admin, id) = with_handout(&app, pdfs::french_handout(2)).await;
    let cases = [
        (json!({}), vec!["masterclass_id"]),
        (json!({ "masterclass_id": "nope" }), vec!["masterclass_id"]),
        (json!({ "masterclass_id": id, "count": 0 }), vec!["count"]),
        (json!({ "masterclass_id": id, "count": 21 }), vec!["count"]),
        (
            json!({ "masterclass_id": id, "language": "de" }),
            vec!["language"],
        ),
        (
            json!({ "masterclass_id": id, "provider": "claude" }),
            vec!["provider"],
        ),
        // no OPENAI_API_KEY in this test platform
        (
            json!({ "masterclass_id": id, "provider": "openai" }),
            vec!["provider"],
        ),
        (
            json!({ "masterclass_id": uuid::Uuid::new_v4() }),
            vec!["masterclass_id"],
        ),
    ];
    for (body, fields) in cases {
        let response = generate(&admin, body.clone()).await;
        response.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(response.invalid_fields(), fields, "{body}");
    }
    for body in [
        json!({ "masterclass_id": id, "count": "ten" }),
        json!({ "masterclass_id": id, "temperature": 2 }),
    ] {
        let response = generate(&admin, body.clone()).await;
        assert!(
            response.status.is_client_error(),
            "{body}: {}",
            response.status
        );
        assert_eq!(response.content_type(), "application/problem+json");
    }
    assert_eq!(app.count("questions").await, 0);
}

#[tokio::test]
async fn tutors_generate_only_for_their_masterclasses_and_students_not_at_all() {
    // Arrange
    let app = TestApp::spawn().await;
    let (admin, theirs) = with_handout(&app, pdfs::french_handout(2)).await;
    let other = app.masterclass(&admin, "Autre", true).await;
    app.handout(&admin, &other, pdfs::french_handout(2)).await;
    let tutor = app.tutor(&admin, &[&theirs]).await;

    // Act
    let own = generate(&tutor, json!({ "masterclass_id": theirs, "count": 3 })).await;
    let foreign = generate(&tutor, json!({ "masterclass_id": other, "count": 3 })).await;
    let anonymous = app
        .post_json(
            "/api/generate-questions",
            &json!({ "masterclass_id": theirs }),
        )
        .await;

    // Assert
    assert_eq!(own.status, StatusCode::CREATED);
    foreign.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    anonymous.assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    assert_eq!(app.count("questions").await, 3);
}

#[tokio::test]
async fn generating_again_adds_new_drafts_and_never_touches_approved_questions() {
    // Arrange
    let app = TestApp::spawn().await;
    let (admin, id) = with_handout(&app, testdata(REAL[0]).unwrap()).await;
    let first = generate(&admin, json!({ "masterclass_id": id, "count": 5 }))
        .await
        .value();
    let approved = &first["questions"][0];
    let mut body = approved.clone();
    let body = body.as_object_mut().unwrap();
    let approve = json!({
        "masterclass_id": id, "text": body["text"], "choices": body["choices"],
        "correct": body["correct"], "status": "approved", "source_excerpt": body["source_excerpt"],
    });
    let approved = admin
        .send_json(
            http::Method::PUT,
            &format!("/api/admin/questions/{}", approved["id"].as_str().unwrap()),
            &approve,
            &[],
        )
        .await
        .value();

    // Act
    let second = generate(&admin, json!({ "masterclass_id": id, "count": 5 })).await;

    // Assert
    assert_eq!(
        second.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&second.body)
    );
    let second = second.value();
    assert_ne!(second["generation_id"], first["generation_id"]);
    let now = admin
        .get(&format!(
            "/api/admin/questions/{}",
            approved["id"].as_str().unwrap()
        ))
        .await
        .value();
    assert_eq!(now, approved);
    let old: BTreeSet<&str> = first["questions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["text"].as_str().unwrap())
        .collect();
    assert!(
        second["questions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|q| !old.contains(q["text"].as_str().unwrap()))
    );
    assert_eq!(app.count("questions").await, 10);
}

#[tokio::test]
async fn corrupted_pdfs_always_get_an_answer_and_never_a_panic() {
    use rand::{Rng, SeedableRng, rngs::StdRng};
    let limits = pdf::Limits {
        max_bytes: 1 << 22,
        max_pages: 500,
        time: Duration::from_secs(10),
    };
    let originals = [testdata(REAL[0]).unwrap(), pdfs::french_handout(2)];
    let mut rng = StdRng::seed_from_u64(20261121);
    let mut outcomes = std::collections::BTreeMap::<String, usize>::new();
    for round in 0..160 {
        let mut bytes = originals[round % 2].clone();
        match round % 4 {
            0 => bytes.truncate(rng.random_range(0..bytes.len())),
            1 => {
                for _ in 0..rng.random_range(1..40) {
                    let at = rng.random_range(0..bytes.len());
                    bytes[at] = rng.random();
                }
            }
            2 => {
                let at = rng.random_range(0..bytes.len());
                let junk: Vec<u8> = (0..rng.random_range(1..500))
                    .map(|_| rng.random())
                    .collect();
                bytes.splice(at..at, junk);
            }
            _ => {
                let from = rng.random_range(0..bytes.len());
                let to = (from + rng.random_range(1..2000)).min(bytes.len());
                bytes.drain(from..to);
            }
        }
        // Every input gets an answer: text, or a reason.
        let outcome = match pdf::extract(bytes, limits).await {
            Ok(_) => "text".to_string(),
            Err(e) => format!("{e:?}").split('(').next().unwrap().to_owned(),
        };
        *outcomes.entry(outcome).or_default() += 1;
    }
    eprintln!("outcomes of 160 corrupted PDFs: {outcomes:?}");
    assert_eq!(outcomes.values().sum::<usize>(), 160);
}

/// A platform whose OpenAI provider is the local fake (deadline `deadline` seconds).
async fn with_fake_openai(deadline: u64) -> (TestApp, FakeOpenAi) {
    let fake = FakeOpenAi::start().await;
    let url = fake.url.clone();
    let app = TestApp::spawn_with(move |c| {
        c.ai.openai_api_key = Some(Secret::new(fake_openai::KEY));
        c.ai.openai_base_url = url;
        c.ai.deadline = Duration::from_secs(deadline);
    })
    .await;
    (app, fake)
}

#[tokio::test]
async fn with_a_key_openai_writes_the_questions_under_a_strict_json_schema() {
    // Arrange
    let (app, fake) = with_fake_openai(20).await;
    let pdf = pdfs::french_handout(3);
    let (admin, id) = with_handout(&app, pdf.clone()).await;

    // Act
    let response = generate(&admin, json!({ "masterclass_id": id })).await;

    // Assert
    assert_eq!(
        response.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    let body = response.value();
    assert_eq!(body["provider"], "openai");
    assert_eq!(body["model"], fake_openai::MODEL);
    assert_eq!(body["prompt_version"], shared::ai::openai::PROMPT_VERSION);
    assert!(body["usage"]["total_tokens"].as_u64().unwrap() > 1200);
    assert_valid_generation(&body, 10, &extracted(&pdf).await);
    let requests = fake.requests();
    assert_eq!(requests.len(), 1, "a short handout is one request");
    let request = &requests[0];
    assert_eq!(request["model"], "gpt-4o");
    assert_eq!(request["response_format"]["type"], "json_schema");
    assert_eq!(request["response_format"]["json_schema"]["strict"], true);
    assert_eq!(
        request["response_format"]["json_schema"]["schema"]["additionalProperties"],
        false
    );
    assert!(
        request["messages"][1]["content"]
            .as_str()
            .unwrap()
            .contains("trésorerie")
    );
    assert!(
        request["messages"][0]["content"]
            .as_str()
            .unwrap()
            .contains("français")
    );
    let provenance = &body["questions"][0]["provenance"];
    assert!(
        provenance["response_ids"][0]
            .as_str()
            .unwrap()
            .starts_with("chatcmpl-")
    );
}

#[tokio::test]
async fn a_long_handout_is_asked_in_chunks_spread_over_the_document() {
    let (app, fake) = with_fake_openai(20).await;
    let pdf = pdfs::french_handout(40);
    let (admin, id) = with_handout(&app, pdf.clone()).await;

    let response = generate(&admin, json!({ "masterclass_id": id })).await;

    assert_eq!(
        response.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    assert_valid_generation(&response.value(), 10, &extracted(&pdf).await);
    let parts: BTreeSet<String> = fake
        .requests()
        .iter()
        .map(|r| {
            let prompt = r["messages"][1]["content"].as_str().unwrap();
            let part = &prompt[prompt.find("partie ").unwrap()..];
            part.split(' ').take(2).collect::<Vec<_>>().join(" ")
        })
        .collect();
    let prompt = fake.requests()[0]["messages"][1]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    let chunks: usize = prompt
        .split(" sur ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(chunks >= 3, "a 40-page handout is several chunks: {prompt}");
    // every chunk (at most five) was asked, each once
    assert_eq!(parts.len(), chunks.min(5), "{parts:?}");
    assert_eq!(fake.requests().len(), chunks.min(5));
}

#[tokio::test]
async fn a_refusal_is_a_422_and_nothing_is_stored() {
    let (app, fake) = with_fake_openai(20).await;
    fake.always(Behaviour::Refusal);
    let (admin, id) = with_handout(&app, pdfs::french_handout(2)).await;

    let response = generate(&admin, json!({ "masterclass_id": id })).await;

    let problem = response.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "provider_refused");
    assert!(
        problem["detail"].as_str().unwrap().contains("can't help"),
        "{problem}"
    );
    assert_eq!(app.count("questions").await, 0);
}

#[tokio::test]
async fn malformed_truncated_or_unfounded_answers_are_asked_again_then_fail_clearly() {
    for (bad, says) in [
        (Behaviour::Malformed, "not the expected JSON"),
        (Behaviour::Truncated, "cut off"),
        (Behaviour::InventedQuotes, "0 of 10"),
    ] {
        // Arrange
        let (app, fake) = with_fake_openai(20).await;
        fake.always(bad.clone());
        let (admin, id) = with_handout(&app, pdfs::french_handout(2)).await;

        // Act
        let response = generate(&admin, json!({ "masterclass_id": id })).await;

        // Assert
        let problem = response.assert_problem(StatusCode::BAD_GATEWAY, "provider_invalid_output");
        assert!(
            problem["detail"].as_str().unwrap().contains(says),
            "{bad:?}: {problem}"
        );
        assert!(response.headers.contains_key("retry-after"));
        assert_eq!(
            fake.requests().len(),
            shared::ai::MAX_ROUNDS as usize,
            "{bad:?}"
        );
        assert_eq!(app.count("questions").await, 0);
    }
}

#[tokio::test]
async fn a_bad_answer_followed_by_a_good_one_succeeds() {
    let (app, fake) = with_fake_openai(20).await;
    fake.then([Behaviour::Malformed]);
    let (admin, id) = with_handout(&app, pdfs::french_handout(2)).await;

    let response = generate(&admin, json!({ "masterclass_id": id, "count": 6 })).await;

    assert_eq!(response.status, StatusCode::CREATED);
    assert_eq!(response.value()["questions"].as_array().unwrap().len(), 6);
    assert_eq!(fake.requests().len(), 2);
}

#[tokio::test]
async fn too_few_valid_questions_are_topped_up_by_asking_for_the_missing_ones() {
    // Arrange
    let (app, fake) = with_fake_openai(20).await;
    fake.then([Behaviour::OnlyValid(6)]);
    let (admin, id) = with_handout(&app, pdfs::french_handout(3)).await;

    // Act
    let response = generate(&admin, json!({ "masterclass_id": id })).await;

    // Assert
    assert_eq!(
        response.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    assert_eq!(response.value()["questions"].as_array().unwrap().len(), 10);
    let requests = fake.requests();
    assert_eq!(requests.len(), 2);
    let refill = requests[1]["messages"][1]["content"].as_str().unwrap();
    assert!(refill.starts_with("Rédige 4 question"), "{refill}");
    assert!(
        refill.contains("existent déjà"),
        "the refill names what exists: {refill}"
    );
}

#[tokio::test]
async fn too_few_valid_questions_after_every_round_is_a_502_and_stores_nothing() {
    let (app, fake) = with_fake_openai(20).await;
    fake.always(Behaviour::OnlyValid(0));
    fake.then([Behaviour::OnlyValid(6)]);
    let (admin, id) = with_handout(&app, pdfs::french_handout(3)).await;

    let response = generate(&admin, json!({ "masterclass_id": id })).await;

    let problem = response.assert_problem(StatusCode::BAD_GATEWAY, "provider_invalid_output");
    assert!(
        problem["detail"].as_str().unwrap().contains("6 of 10"),
        "{problem}"
    );
    assert_eq!(app.count("questions").await, 0);
}

#[tokio::test]
async fn a_rate_limit_is_waited_out_as_the_provider_asks() {
    let (app, fake) = with_fake_openai(20).await;
    fake.then([Behaviour::RateLimited(1)]);
    let (admin, id) = with_handout(&app, pdfs::french_handout(2)).await;

    let started = std::time::Instant::now();
    let response = generate(&admin, json!({ "masterclass_id": id, "count": 5 })).await;

    assert_eq!(
        response.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    assert_eq!(fake.requests().len(), 2);
    // The retry came after the one second Retry-After asked for, not the 100 ms backoff.
    assert!(started.elapsed() >= Duration::from_secs(1));
}

#[tokio::test]
async fn a_provider_failing_after_retries_is_a_502_with_a_retry_hint() {
    let (app, fake) = with_fake_openai(20).await;
    fake.always(Behaviour::ServerError);
    let (admin, id) = with_handout(&app, pdfs::french_handout(2)).await;

    let response = generate(&admin, json!({ "masterclass_id": id })).await;

    response.assert_problem(StatusCode::BAD_GATEWAY, "provider_unavailable");
    assert_eq!(response.headers["retry-after"], "60");
    assert_eq!(fake.requests().len(), 4, "one attempt and three retries");
    assert_eq!(app.count("questions").await, 0);
}

#[tokio::test]
async fn an_exhausted_quota_is_not_retried() {
    let (app, fake) = with_fake_openai(20).await;
    fake.always(Behaviour::NoQuota);
    let (admin, id) = with_handout(&app, pdfs::french_handout(2)).await;

    let response = generate(&admin, json!({ "masterclass_id": id })).await;

    let problem = response.assert_problem(StatusCode::BAD_GATEWAY, "provider_rejected");
    assert!(
        problem["detail"].as_str().unwrap().contains("quota"),
        "{problem}"
    );
    assert!(!response.headers.contains_key("retry-after"));
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn a_provider_slower_than_the_deadline_is_a_502_and_the_offline_provider_still_works() {
    let (app, fake) = with_fake_openai(1).await;
    fake.always(Behaviour::Slow(Duration::from_secs(3)));
    let (admin, id) = with_handout(&app, pdfs::french_handout(2)).await;

    let slow = generate(&admin, json!({ "masterclass_id": id })).await;
    let offline = generate(
        &admin,
        json!({ "masterclass_id": id, "provider": "offline", "count": 5 }),
    )
    .await;

    slow.assert_problem(StatusCode::BAD_GATEWAY, "provider_timeout");
    assert_eq!(offline.status, StatusCode::CREATED);
    assert_eq!(offline.value()["provider"], "offline");
    assert_eq!(app.count("questions").await, 5);
}

#[tokio::test]
async fn a_replayed_request_returns_the_same_generation_without_asking_the_model_again() {
    let (app, fake) = with_fake_openai(20).await;
    let (admin, id) = with_handout(&app, pdfs::french_handout(2)).await;
    let body = json!({ "masterclass_id": id, "count": 4 });
    let key = [("idempotency-key", "generate-1")];

    let first = admin
        .send_json(http::Method::POST, "/api/generate-questions", &body, &key)
        .await;
    let again = admin
        .send_json(http::Method::POST, "/api/generate-questions", &body, &key)
        .await;
    let other = admin
        .send_json(
            http::Method::POST,
            "/api/generate-questions",
            &json!({ "masterclass_id": id, "count": 5 }),
            &key,
        )
        .await;

    assert_eq!(first.status, StatusCode::CREATED);
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(first.value(), again.value());
    other.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused");
    assert_eq!(fake.requests().len(), 1);
    assert_eq!(app.count("questions").await, 4);
}
