//! Tests taken inside WhatsApp: through the real webhook route, with the fake Whapi server as
//! the provider, every accepted form of reply, RETOUR, unclear replies, and webhooks delivered
//! twice, late and out of order; the chat and the web sharing one attempt; expiry and reset.

use std::time::Duration;

use e2e_tests::{
    Classroom, TestApp,
    fake_whapi::{FakeWhapi, WEBHOOK_SECRET},
};
use http::{Method, StatusCode};
use rand::{Rng, SeedableRng, seq::SliceRandom};
use serde_json::{Value, json};
use shared::messaging::chat;

const NUMBER: &str = "24106612345";
/// When the conversations of these tests start (Unix seconds; replies are a second apart).
const T0: i64 = 1_800_000_000;

async fn platform(configure: impl FnOnce(&mut shared::Config)) -> (TestApp, FakeWhapi) {
    let fake = FakeWhapi::start().await;
    let app = TestApp::spawn_with(|config| {
        fake.configure(config);
        configure(config);
    })
    .await;
    (app, fake)
}

/// A student's WhatsApp message as Whapi's webhook carries it.
fn message(id: &str, from: &str, at: i64, body: &str) -> Value {
    json!({
        "id": id, "from_me": false, "type": "text", "chat_id": format!("{from}@s.whatsapp.net"),
        "from": from, "timestamp": at, "source": "mobile", "text": { "body": body }
    })
}

/// One webhook call carrying `messages`; its answer.
async fn deliver(app: &TestApp, messages: &[Value]) -> Value {
    let response = app
        .send_json(
            Method::POST,
            "/api/webhooks/whapi",
            &json!({ "messages": messages, "event": { "type": "messages", "event": "post" } }),
            &[("x-webhook-secret", WEBHOOK_SECRET)],
        )
        .await;
    assert_eq!(
        response.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    response.value()
}

/// The question numbers the chat asked, in order, with each message's text (not those
/// superseded: answered before they went out).
async fn asked(app: &TestApp) -> Vec<(u32, String)> {
    app.db()
        .await
        .query(
            "select (data->>'numero')::int, body from outbox_messages
             where message_type = 'test_question' and status <> 'suppressed' order by created_at, id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get::<_, i32>(0) as u32, r.get(1)))
        .collect()
}

/// The first column of `sql`'s rows, as text.
async fn strings(app: &TestApp, sql: &str) -> Vec<String> {
    app.db()
        .await
        .query(sql, &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

async fn count_of(app: &TestApp, sql: &str) -> i64 {
    app.db().await.query_one(sql, &[]).await.unwrap().get(0)
}

/// The letter shown in the chat for choice `key` of question `index` of `paper` (the chat
/// letters its lines A–D in the paper's order).
fn shown(paper: &Value, index: usize, key: &str) -> char {
    let position = paper["questions"][index]["choices"]
        .as_array()
        .unwrap()
        .iter()
        .position(|c| c["key"] == key)
        .unwrap();
    (b'A' + position as u8) as char
}

/// Every accepted way of writing letter `l` (A–D), the `n`th.
fn form(n: usize, l: char) -> String {
    let lower = l.to_ascii_lowercase();
    let digit = (b'1' + (l as u8 - b'A')) as char;
    match n % 10 {
        0 => l.to_string(),
        1 => lower.to_string(),
        2 => format!("{l}."),
        3 => format!("Réponse {l}"),
        4 => format!("rep: {lower}"),
        5 => format!("({lower})"),
        6 => format!("{digit}\u{FE0F}\u{20E3}"),
        7 => format!("Choix {l}"),
        8 => format!("La réponse est {l}"),
        _ => digit.to_string(),
    }
}

/// The keys the tests answer with: right for the first six questions of `paper`, wrong after.
fn targets(paper: &Value, classroom: &Classroom) -> Vec<String> {
    let right = e2e_tests::answers(paper, &classroom.bank, 6);
    paper["questions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| {
            right["answers"][q["id"].as_str().unwrap()]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

/// The conversation a student has to answer `keys`: TEST, then each answer in another form,
/// one unclear reply before the fourth, and on the sixth a wrong letter, RETOUR, and the right
/// one. (id, sent at, text), in the order sent.
fn conversation(paper: &Value, keys: &[String]) -> Vec<(String, i64, String)> {
    let mut said = vec!["TEST".to_owned()];
    for (i, key) in keys.iter().enumerate() {
        let letter = shown(paper, i, key);
        if i == 3 {
            said.push("je ne sais pas trop".into());
        }
        if i == 5 {
            let other = ['A', 'B', 'C', 'D']
                .into_iter()
                .find(|&l| l != letter)
                .unwrap();
            said.push(other.to_string());
            said.push("RETOUR".into());
        }
        said.push(form(i, letter));
    }
    said.into_iter()
        .enumerate()
        .map(|(n, text)| (format!("wamid.chat-{n}"), T0 + n as i64, text))
        .collect()
}

/// The staff record (`GET /api/admin/students/{id}`) of the classroom's student, the only
/// person registered.
async fn record_of_the_student(app: &TestApp, classroom: &Classroom) -> Value {
    let profile: uuid::Uuid = app
        .db()
        .await
        .query_one("select profile_id from inscriptions limit 1", &[])
        .await
        .unwrap()
        .get(0);
    let record = classroom
        .admin
        .get(&format!("/api/admin/students/{profile}"))
        .await;
    assert_eq!(record.status, StatusCode::OK);
    record.value()
}

async fn paper_of(classroom: &Classroom) -> Value {
    let paper = classroom.student.get("/api/tests/PRE").await;
    assert_eq!(paper.status, StatusCode::OK);
    paper.value()
}

/// The scored PRE attempt of the classroom's student: (score, channel, answers by question).
async fn attempt(app: &TestApp) -> (i32, String, Vec<(String, String)>) {
    let db = app.db().await;
    let row = db
        .query_one(
            "select id, score, channel from test_attempts where kind = 'PRE'
             and inscription_id = (select id from inscriptions where whatsapp_number = '+24106612345')",
            &[],
        )
        .await
        .unwrap();
    let id: uuid::Uuid = row.get(0);
    let answers = db
        .query(
            "select question_id::text, choice from test_answers where attempt_id = $1 order by 1",
            &[&id],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    (row.get(1), row.get(2), answers)
}

#[tokio::test]
async fn a_test_taken_in_the_chat_scores_as_the_web_would_whatever_the_forms_and_redeliveries() {
    // Arrange: a student registered; a second one who will answer the same on the web.
    let (app, fake) = platform(|_| {}).await;
    let classroom = app.classroom().await;
    let paper = paper_of(&classroom).await;
    let keys = targets(&paper, &classroom);
    let said = conversation(&paper, &keys);
    let web = app
        .register(&classroom.masterclass, "+24106699999", "Jean Mba")
        .await;
    let web = app
        .http
        .with_bearer(web.value()["access_token"].as_str().unwrap());
    let web_paper = web.get("/api/tests/PRE").await.value();
    let same: serde_json::Map<String, Value> = paper["questions"]
        .as_array()
        .unwrap()
        .iter()
        .zip(&keys)
        .map(|(q, k)| {
            (
                q["id"].as_str().unwrap().to_owned(),
                Value::from(k.as_str()),
            )
        })
        .collect();
    assert_eq!(
        web_paper["questions"].as_array().unwrap().len(),
        10,
        "the same bank of ten"
    );

    // Act: every message delivered twice (Whapi retries), the second copy in a later call.
    let mut handled = Vec::new();
    for (n, (id, at, text)) in said.iter().enumerate() {
        let this = message(id, NUMBER, *at, text);
        let mut batch = vec![this.clone()];
        if n > 0 {
            let (id, at, text) = &said[n - 1];
            batch.push(message(id, NUMBER, *at, text));
        }
        handled.push(deliver(&app, &batch).await);
    }
    let submitted_on_web = web
        .post_json("/api/tests/PRE", &json!({ "answers": same }))
        .await;

    // Assert: each question asked in turn; again after the unclear reply and around RETOUR.
    let numbers: Vec<u32> = asked(&app).await.into_iter().map(|(n, _)| n).collect();
    assert_eq!(numbers, [1, 2, 3, 4, 4, 5, 6, 7, 6, 7, 8, 9, 10]);
    let texts = asked(&app).await;
    assert!(texts[0].1.contains("répondez") || texts[0].1.contains("Répondez"));
    assert!(texts[0].1.contains("Question 1/10"), "{}", texts[0].1);
    assert!(
        texts[4].1.starts_with("Je n'ai pas compris"),
        "{}",
        texts[4].1
    );
    assert!(
        texts[8].1.contains("votre réponse actuelle est"),
        "{}",
        texts[8].1
    );
    for (n, question) in paper["questions"].as_array().unwrap().iter().enumerate() {
        let (_, text) = texts.iter().find(|(k, _)| *k as usize == n + 1).unwrap();
        assert!(text.contains(question["text"].as_str().unwrap()));
        let first = question["choices"][0]["text"].as_str().unwrap();
        assert!(text.contains(&format!("A. {first}")), "{text}");
        for secret in ["correct", "\"key\""] {
            assert!(!text.contains(secret));
        }
    }
    assert_eq!(
        handled
            .iter()
            .map(|h| h["tests_submitted"].as_u64().unwrap())
            .sum::<u64>(),
        1
    );
    // Each sent at once by the webhook call, exactly once, in order; then the result.
    let chat_id = format!("{NUMBER}@s.whatsapp.net");
    let delivered: Vec<String> = fake
        .delivered()
        .into_iter()
        .filter(|(to, _)| *to == chat_id)
        .map(|(_, body)| body)
        .collect();
    let questions: Vec<&String> = delivered
        .iter()
        .filter(|b| b.contains("Question "))
        .collect();
    assert_eq!(
        questions,
        texts.iter().map(|(_, t)| t).collect::<Vec<_>>(),
        "every question message delivered once, in order"
    );
    assert!(
        delivered.last().unwrap().contains("Votre score : 6/10"),
        "{delivered:?}"
    );
    let (score, channel, answers) = attempt(&app).await;
    assert_eq!(channel, "chat");
    assert_eq!(submitted_on_web.status, StatusCode::CREATED);
    assert_eq!(
        score,
        submitted_on_web.value()["score"].as_i64().unwrap() as i32
    );
    assert_eq!(score, 6);
    let mut expected: Vec<(String, String)> = same
        .iter()
        .map(|(id, k)| (id.clone(), k.as_str().unwrap().to_owned()))
        .collect();
    expected.sort();
    assert_eq!(answers, expected);
    assert_eq!(
        count_of(
            &app,
            "select count(*) from outbox_messages where message_type = 'pre_test_result'"
        )
        .await,
        2,
        "one result for the chat's student, one for the web's"
    );
    assert_eq!(count_of(&app, "select count(*) from test_drafts").await, 0);
    assert_eq!(
        count_of(
            &app,
            "select count(*) from chat_tests where ended_reason = 'submitted'"
        )
        .await,
        1
    );
    // The student's own view says so, as the web route's would.
    let after = classroom.student.get("/api/tests/PRE").await.value();
    assert_eq!(after["submitted"]["score"], 6);
}

/// The same conversation, delivered in a random order, with random repeats, in random batches:
/// the test ends with the same answers and score as in order, each question is asked at least
/// once, never one beyond the next, and every message is sent once.
///
/// What may arrive out of order is what the student sent without waiting for the next question
/// (a reply that answers a question we sent cannot reach us before the reply that made us send
/// it): the replies come in runs of one to three typed ahead, each run in any order, and any
/// message may be delivered again at any later time.
#[tokio::test]
async fn replies_delivered_late_repeated_and_out_of_order_end_as_if_in_order() {
    let seed: u64 = std::env::var("CHAT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::rng().random());
    println!("seed {seed} (CHAT_SEED={seed} replays it)");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    for round in 0..3 {
        let (app, _fake) = platform(|_| {}).await;
        let classroom = app.classroom().await;
        let paper = paper_of(&classroom).await;
        let keys = targets(&paper, &classroom);
        let said = conversation(&paper, &keys);
        let mut deliveries = vec![0];
        let mut next = 1;
        while next < said.len() {
            let run = rng.random_range(1..=3).min(said.len() - next);
            let mut chunk: Vec<usize> = (next..next + run).collect();
            chunk.shuffle(&mut rng);
            for i in chunk {
                deliveries.push(i);
                if rng.random_bool(0.3) {
                    deliveries.push(rng.random_range(0..=i));
                }
            }
            next += run;
        }
        let mut batches: Vec<Vec<Value>> = Vec::new();
        for i in deliveries {
            let (id, at, text) = &said[i];
            let m = message(id, NUMBER, *at, text);
            match batches.last_mut() {
                Some(batch) if rng.random_bool(0.3) => batch.push(m),
                _ => batches.push(vec![m]),
            }
        }
        for batch in &batches {
            deliver(&app, batch).await;
        }

        let (score, channel, answers) = attempt(&app).await;
        let mut expected: Vec<(String, String)> = paper["questions"]
            .as_array()
            .unwrap()
            .iter()
            .zip(&keys)
            .map(|(q, k)| (q["id"].as_str().unwrap().to_owned(), k.clone()))
            .collect();
        expected.sort();
        assert_eq!(answers, expected, "seed {seed}, round {round}");
        assert_eq!((score, channel.as_str()), (6, "chat"), "seed {seed}");
        // Every question was put to the student (some superseded when answered before they
        // went out); duplicates added no message: at most one per distinct reply.
        let queued = strings(
            &app,
            "select n::text from (select distinct (data->>'numero')::int as n from outbox_messages
             where message_type = 'test_question') q order by q.n",
        )
        .await;
        let all: Vec<String> = (1..=10).map(|n: i32| n.to_string()).collect();
        assert_eq!(queued, all, "seed {seed}");
        let prompts = count_of(
            &app,
            "select count(*) from outbox_messages where message_type = 'test_question'",
        )
        .await;
        assert!(
            (prompts as usize) < said.len(),
            "seed {seed}: {prompts} questions queued for {} replies",
            said.len()
        );
        assert_eq!(
            count_of(
                &app,
                "select count(*) from outbox_messages where message_type = 'pre_test_result'"
            )
            .await,
            1,
            "seed {seed}"
        );
        assert_eq!(
            count_of(&app, "select count(*) from test_attempts").await,
            1
        );
    }
}

#[tokio::test]
async fn half_in_the_chat_and_the_rest_on_the_web_is_one_attempt_and_the_reverse_too() {
    let (app, _fake) = platform(|_| {}).await;
    let classroom = app.classroom().await;
    let paper = paper_of(&classroom).await;
    let keys = targets(&paper, &classroom);
    let ids: Vec<String> = paper["questions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["id"].as_str().unwrap().to_owned())
        .collect();

    // Chat first: TEST and five answers.
    let mut said = vec![message("in-0", NUMBER, T0, "quiz")];
    for (i, key) in keys.iter().enumerate().take(5) {
        said.push(message(
            &format!("in-{}", i + 1),
            NUMBER,
            T0 + 1 + i as i64,
            &shown(&paper, i, key).to_string(),
        ));
    }
    deliver(&app, &said).await;
    let on_web = paper_of(&classroom).await;
    let draft = on_web["draft"].as_object().unwrap().clone();
    let held = record_of_the_student(&app, &classroom).await;
    let all: serde_json::Map<String, Value> = ids
        .iter()
        .zip(&keys)
        .map(|(id, k)| (id.clone(), Value::from(k.as_str())))
        .collect();
    let submitted = classroom
        .student
        .post_json("/api/tests/PRE", &json!({ "answers": all }))
        .await;
    let late = deliver(&app, &[message("in-9", NUMBER, T0 + 9, "B")]).await;

    assert_eq!(
        draft.len(),
        5,
        "the chat's answers are on the web: {draft:?}"
    );
    assert_eq!(
        held["inscriptions"][0]["draft_answers"]
            .as_array()
            .unwrap()
            .len(),
        5,
        "the record (and so the export) holds the unsent answers"
    );
    for (id, key) in ids.iter().zip(&keys).take(5) {
        assert_eq!(draft[id], key.as_str());
    }
    assert_eq!(submitted.status, StatusCode::CREATED);
    assert_eq!(late["tests_submitted"], 0);
    assert_eq!(
        count_of(&app, "select count(*) from test_attempts").await,
        1
    );
    let (_, channel, _) = attempt(&app).await;
    assert_eq!(channel, "web");
    let told: String = app
        .db()
        .await
        .query_one(
            "select body from outbox_messages where dedupe_key = 'chat:in-9'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(told.contains("déjà passé"), "{told}");
    assert_eq!(
        count_of(
            &app,
            "select count(*) from chat_tests where ended_at is null"
        )
        .await,
        0
    );

    // The reverse, on POST: four answers kept on the web, the rest in the chat.
    let too_early = deliver(
        &app,
        &[message("post-early", NUMBER, T0 + 50, "test de fin")],
    )
    .await;
    assert_eq!(too_early["test_replies"], 1, "told that it is not open yet");
    let opened = classroom
        .admin
        .send_json(
            Method::PUT,
            &format!(
                "/api/admin/masterclasses/{}/post-test",
                classroom.masterclass
            ),
            &json!({ "open": true }),
            &[],
        )
        .await;
    assert_eq!(opened.status, StatusCode::OK);
    let post_paper = classroom.student.get("/api/tests/POST").await.value();
    let first_four: serde_json::Map<String, Value> = post_paper["questions"]
        .as_array()
        .unwrap()
        .iter()
        .take(4)
        .map(|q| (q["id"].as_str().unwrap().to_owned(), Value::from("A")))
        .collect();
    let saved = classroom
        .student
        .send_json(
            Method::PUT,
            "/api/tests/POST/draft",
            &json!({ "answers": first_four }),
            &[],
        )
        .await;
    assert_eq!(
        saved.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&saved.body)
    );
    assert_eq!(saved.value()["answers"].as_object().unwrap().len(), 4);
    let mut said = vec![message("post-0", NUMBER, T0 + 100, "post")];
    for i in 0..6 {
        said.push(message(
            &format!("post-{}", i + 1),
            NUMBER,
            T0 + 101 + i,
            "D",
        ));
    }
    let handled = deliver(&app, &said).await;
    let again = classroom
        .student
        .post_json("/api/tests/POST", &json!({ "answers": all }))
        .await;

    assert_eq!(handled["tests_submitted"], 1);
    let start: String = app
        .db()
        .await
        .query_one(
            "select body from outbox_messages where dedupe_key like 'chat:%:start'
             order by created_at desc limit 1",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(
        start.contains("Question 5/10"),
        "starts after the web's four: {start}"
    );
    assert!(
        start.contains("Vos 4 réponses déjà données sont gardées"),
        "{start}"
    );
    again.assert_problem(StatusCode::CONFLICT, "already_submitted");
    let channels: Vec<String> = strings(
        &app,
        "select kind || ':' || channel from test_attempts order by kind desc",
    )
    .await;
    assert_eq!(channels, ["PRE:web", "POST:chat"]);
    let record = record_of_the_student(&app, &classroom).await;
    let seen: Vec<String> = record["inscriptions"][0]["tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            format!(
                "{}:{}",
                t["kind"].as_str().unwrap(),
                t["channel"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        seen,
        ["PRE:web", "POST:chat"],
        "staff see where each test was taken"
    );
    let kept_a = count_of(
        &app,
        "select count(*) from test_answers a join test_attempts t on t.id = a.attempt_id
         where t.kind = 'POST' and a.choice = 'A'",
    )
    .await;
    assert!(
        kept_a >= 4,
        "the web's four answers were submitted ({kept_a} A)"
    );
}

#[tokio::test]
async fn a_silent_conversation_is_reminded_then_paused_and_staff_can_reset_one() {
    let (app, _fake) = platform(|config| {
        config.messaging.chat_expires_after = Duration::from_secs(3);
        config.messaging.chat_reminder_before = Duration::from_secs(2);
    })
    .await;
    let classroom = app.classroom().await;
    for (n, text) in ["TEST", "A", "b"].into_iter().enumerate() {
        deliver(
            &app,
            &[message(&format!("s-{n}"), NUMBER, T0 + n as i64, text)],
        )
        .await;
    }

    let none_yet = chat::expire_due(&app.state).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let reminded = chat::expire_due(&app.state).await.unwrap();
    let once = chat::expire_due(&app.state).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let expired = chat::expire_due(&app.state).await.unwrap();
    let drafts = count_of(&app, "select count(*) from test_drafts").await;
    let resumed = deliver(&app, &[message("s-3", NUMBER, T0 + 100, "Test")]).await;

    assert_eq!((none_yet.reminded, none_yet.expired), (0, 0));
    assert_eq!((reminded.reminded, reminded.expired), (1, 0));
    assert_eq!(
        (once.reminded, once.expired),
        (0, 0),
        "one reminder per silence"
    );
    assert_eq!((expired.reminded, expired.expired), (0, 1));
    assert_eq!(drafts, 2, "the answers stay");
    assert_eq!(resumed["test_replies"], 1);
    let (numbers, texts): (Vec<u32>, Vec<String>) = asked(&app).await.into_iter().unzip();
    assert_eq!(numbers, [1, 2, 3, 3]);
    assert!(
        texts[3].contains("Vos 2 réponses déjà données sont gardées"),
        "{}",
        texts[3]
    );
    let notices: Vec<String> = app
        .db()
        .await
        .query(
            "select dedupe_key from outbox_messages where message_type = 'test_chat' order by created_at",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<_, String>(0).split(':').next().unwrap().to_owned())
        .collect();
    assert_eq!(notices, ["chat-reminder", "chat-expired"]);

    // Staff: the record shows the conversation; a tutor may not reset it, an admin may.
    let record = record_of_the_student(&app, &classroom).await;
    let student = record["id"].as_str().unwrap().to_owned();
    let chats = record["inscriptions"][0]["chat_tests"]
        .as_array()
        .unwrap()
        .clone();
    let tutor = app.tutor(&classroom.admin, &[&classroom.masterclass]).await;
    let refused = tutor
        .post_json(
            &format!("/api/admin/students/{student}/chat-test/reset"),
            &json!({}),
        )
        .await;
    let reset = classroom
        .admin
        .post_json(
            &format!("/api/admin/students/{student}/chat-test/reset"),
            &json!({}),
        )
        .await;
    let again = classroom
        .admin
        .post_json(
            &format!("/api/admin/students/{student}/chat-test/reset"),
            &json!({}),
        )
        .await;
    let stop = deliver(
        &app,
        &[
            message("s-4", NUMBER, T0 + 200, "TEST"),
            message("s-5", NUMBER, T0 + 201, "STOP"),
        ],
    )
    .await;

    assert_eq!(chats.len(), 2);
    assert_eq!(chats[0]["ended_reason"], Value::Null);
    assert_eq!(chats[1]["ended_reason"], "expired");
    assert_eq!(chats[1]["replies"], 2);
    refused.assert_problem(StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(reset.status, StatusCode::OK);
    assert_eq!(reset.value()["reset"], chats[0]["id"]);
    assert_eq!(again.value()["reset"], Value::Null);
    assert_eq!(stop["opted_out"], 1);
    let reasons: Vec<String> = strings(
        &app,
        "select ended_reason from chat_tests order by created_at",
    )
    .await;
    assert_eq!(reasons, ["expired", "reset", "stopped"]);
    assert_eq!(
        count_of(
            &app,
            "select count(*) from audit_log where action = 'chat_test.reset'"
        )
        .await,
        1
    );

    // The PRE test's window closes with the masterclass: an open conversation on it is closed,
    // and its unsent answers go.
    deliver(&app, &[message("s-6", NUMBER, T0 + 300, "TEST")]).await;
    app.db()
        .await
        .execute(
            "update masterclasses set starts_at = now() - interval '2 days', ends_at = now() - interval '1 day'",
            &[],
        )
        .await
        .unwrap();
    let closed = chat::expire_due(&app.state).await.unwrap();
    assert_eq!((closed.closed, closed.drafts_dropped), (1, 2));
    assert_eq!(
        count_of(
            &app,
            "select count(*) from chat_tests where ended_at is null"
        )
        .await,
        0
    );

    // Erasing the student leaves no conversation, reply or unsent answer behind.
    let erased = classroom
        .admin
        .delete(&format!("/api/admin/students/{student}"))
        .await;
    assert_eq!(erased.status, StatusCode::OK);
    for table in ["chat_tests", "chat_replies", "test_drafts"] {
        assert_eq!(app.count(table).await, 0, "{table}");
    }
}

#[tokio::test]
async fn test_keywords_open_only_what_is_open_and_say_why_otherwise() {
    let (app, _fake) = platform(|_| {}).await;
    let admin = app.admin().await;
    let masterclass = app.open_masterclass(&admin, "Atelier").await;
    let registered = app
        .register(&masterclass, "+24106612345", "Awa Ndong")
        .await;
    assert_eq!(registered.status, StatusCode::CREATED);

    let stranger = deliver(&app, &[message("k-0", "24106600000", T0, "TEST")]).await;
    let post = deliver(&app, &[message("k-1", NUMBER, T0, "POST")]).await;
    let no_bank = deliver(&app, &[message("k-2", NUMBER, T0 + 1, "test")]).await;
    let hello = deliver(&app, &[message("k-3", NUMBER, T0 + 2, "Bonjour")]).await;

    assert_eq!(
        stranger["test_replies"], 0,
        "a number with no profile is not answered"
    );
    assert_eq!(post["test_replies"], 1);
    assert_eq!(no_bank["test_replies"], 1);
    assert_eq!(
        hello["test_replies"], 0,
        "outside a test, other messages are only stored"
    );
    let bodies: Vec<String> = strings(
        &app,
        "select body from outbox_messages where message_type = 'test_chat' order by created_at",
    )
    .await;
    assert_eq!(bodies.len(), 2, "{bodies:?}");
    assert!(
        bodies[0].starts_with("Aucun test n'est ouvert"),
        "{}",
        bodies[0]
    );
    assert!(bodies[1].contains("pas encore prêt"), "{}", bodies[1]);
    assert_eq!(
        count_of(
            &app,
            "select count(*) from chat_tests where ended_at is null"
        )
        .await,
        0
    );
}

#[tokio::test]
async fn a_draft_with_bad_answers_is_refused_and_keeps_nothing() {
    let (app, _fake) = platform(|_| {}).await;
    let classroom = app.classroom().await;
    let put = |body: Value, kind: &'static str| {
        let student = &classroom.student;
        async move {
            student
                .send_json(Method::PUT, &format!("/api/tests/{kind}/draft"), &body, &[])
                .await
        }
    };

    // Before the paper was shown, no question is the student's (and none is drawn for it).
    let unseen = put(
        json!({ "answers": { uuid::Uuid::new_v4().to_string(): "A" } }),
        "PRE",
    )
    .await;
    let papers_after_unseen = app.count("test_papers").await;
    let paper = paper_of(&classroom).await;
    let first = paper["questions"][0]["id"].as_str().unwrap().to_owned();
    let stranger = put(
        json!({ "answers": { uuid::Uuid::new_v4().to_string(): "A" } }),
        "PRE",
    )
    .await;
    let bad_letter = put(json!({ "answers": { first.clone(): "E" } }), "PRE").await;
    let not_an_id = put(json!({ "answers": { "question-1": "A" } }), "PRE").await;
    let unknown_field = put(json!({ "answers": {}, "extra": 1 }), "PRE").await;
    let bad_kind = put(json!({ "answers": {} }), "MID").await;
    let post_closed = put(json!({ "answers": { first.clone(): "A" } }), "POST").await;
    let kept_nothing = app.count("test_drafts").await;
    let saved = put(json!({ "answers": { first.clone(): "b" } }), "PRE").await;

    unseen.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(papers_after_unseen, 0, "a refused draft draws no paper");
    stranger.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    bad_letter.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(bad_letter.invalid_fields(), [format!("answers.{first}")]);
    not_an_id.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(not_an_id.invalid_fields(), ["answers.question-1"]);
    assert_eq!(unknown_field.status, StatusCode::UNPROCESSABLE_ENTITY);
    bad_kind.assert_problem(StatusCode::NOT_FOUND, "not_found");
    post_closed.assert_problem(StatusCode::CONFLICT, "post_test_not_open");
    assert_eq!(kept_nothing, 0);
    assert_eq!(saved.status, StatusCode::OK);
    assert_eq!(saved.value()["answers"][&first], "B");
}
