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
