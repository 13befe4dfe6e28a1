//! The question bank: staff of a masterclass manage its questions; used questions are frozen.

use e2e_tests::{TestApp, answers};
use http::{Method, StatusCode};
use serde_json::{Value, json};

fn question(masterclass: &str) -> Value {
    json!({
        "masterclass_id": masterclass,
        "text": "Quel document fixe les règles d'une SARL ?",
        "choices": ["Les statuts", "Le bail", "La facture", "Le devis"],
        "correct": "A",
        "source_excerpt": "Les statuts fixent les règles de la société.",
    })
}

#[tokio::test]
async fn a_tutor_manages_the_bank_of_their_own_masterclass_only() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let mine = app.open_masterclass(&admin, "La mienne").await;
    let other = app.open_masterclass(&admin, "Une autre").await;
    let tutor = app.tutor(&admin, &[&mine]).await;
    app.bank(&admin, &other, 3, true).await;

    let created = tutor
        .post_json("/api/admin/questions", &question(&mine))
        .await;
    let elsewhere = tutor
        .post_json("/api/admin/questions", &question(&other))
        .await;
    let listed = tutor.get("/api/admin/questions").await.value();
    let anonymous = app.get("/api/admin/questions").await;

    assert_eq!(
        created.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&created.body)
    );
    let created = created.value();
    assert_eq!(created["status"], "draft");
    assert_eq!(created["correct"], "A");
    assert_eq!(created["used"], false);
    elsewhere.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(listed["items"].as_array().unwrap().len(), 1, "{listed}");
    anonymous.assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    let other_question = admin
        .get(&format!("/api/admin/questions?masterclass_id={other}"))
        .await
        .value()["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    tutor
        .get(&format!("/api/admin/questions/{other_question}"))
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn bad_questions_are_refused_field_by_field_and_nothing_is_written() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let id = app.open_masterclass(&admin, "Atelier").await;

    let response = admin
        .post_json(
            "/api/admin/questions",
            &json!({ "masterclass_id": id, "text": "?", "choices": ["Oui", "oui ", "Non", "Peut-être"], "correct": "E", "status": "live" }),
        )
        .await;
    let three = admin
        .post_json("/api/admin/questions", &json!({ "masterclass_id": id, "text": "Une question ?", "choices": ["A", "B", "C"], "correct": "A" }))
        .await;

    response.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(
        response.invalid_fields(),
        ["choices", "correct", "status", "text"]
    );
    assert_eq!(three.invalid_fields(), ["choices"]);
    assert_eq!(app.count("questions").await, 0);
}

#[tokio::test]
async fn an_unused_question_can_change_and_be_deleted() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let id = app.open_masterclass(&admin, "Atelier").await;
    let created = admin
        .post_json("/api/admin/questions", &question(&id))
        .await
        .value();
    let path = format!("/api/admin/questions/{}", created["id"].as_str().unwrap());
    let mut changed = question(&id);
    changed["correct"] = json!("B");
    changed["status"] = json!("approved");

    let replaced = admin.send_json(Method::PUT, &path, &changed, &[]).await;
    let deleted = admin.delete(&path).await;
    let after = admin.get(&path).await;

    assert_eq!(replaced.value()["correct"], "B");
    assert_eq!(replaced.value()["status"], "approved");
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    after.assert_problem(StatusCode::NOT_FOUND, "not_found");
    // A tombstone, so that synced devices hear of the delete.
    assert_eq!(app.count("questions where deleted_at is null").await, 0);
    assert_eq!(app.count("questions where deleted_at is not null").await, 1);
}

#[tokio::test]
async fn a_used_question_keeps_its_answer_and_is_archived_instead_of_deleted() {
    let app = TestApp::spawn().await;
    let e2e_tests::Classroom {
        admin,
        bank,
        student,
        ..
    } = app.classroom().await;
    let paper = student.get("/api/tests/PRE").await.value();
    student
        .post_json("/api/tests/PRE", &answers(&paper, &bank, 7))
        .await;
    let (question_id, correct) = &bank[0];
    let path = format!("/api/admin/questions/{question_id}");
    let current = admin.get(&path).await.value();
    let mut new_answer = current.clone();
    for field in ["id", "used", "provenance", "created_at", "updated_at"] {
        new_answer.as_object_mut().unwrap().remove(field);
    }
    new_answer["correct"] = json!(if correct == "A" { "B" } else { "A" });
    let mut new_text = new_answer.clone();
    new_answer["text"] = json!("Une autre formulation ?");
    new_text["correct"] = json!(correct);
    new_text["text"] = json!("Une formulation corrigée ?");

    let refused = admin.send_json(Method::PUT, &path, &new_answer, &[]).await;
    let reworded = admin.send_json(Method::PUT, &path, &new_text, &[]).await;
    let archived = admin.delete(&path).await;
    let direct = app
        .db()
        .await
        .execute(
            "update question_keys set correct = 'D' where question_id = $1 and correct <> 'D'",
            &[question_id],
        )
        .await;

    assert_eq!(current["used"], true);
    refused.assert_problem(StatusCode::CONFLICT, "question_in_use");
    assert_eq!(
        reworded.status,
        StatusCode::OK,
        "a typo in the text may be fixed"
    );
    assert_eq!(archived.status, StatusCode::OK);
    assert_eq!(archived.value()["status"], "archived");
    assert!(direct.is_err(), "the database freezes a used key too");
    assert_eq!(
        student.get("/api/me").await.value()["tests"]["pre"]["score"],
        7
    );
}
