//! Personal data: export, consent, erasure (nothing of the person left anywhere, statistics
//! unchanged, idempotent), retention; and backups restored row by row, refusing what does not
//! match its manifest.

use std::collections::BTreeMap;
use std::io::Read;

use axum::http::{Method, StatusCode};
use e2e_tests::{
    StaffSession, StudentSession, TestApp,
    fake_whapi::{FakeWhapi, WEBHOOK_SECRET},
};
use serde_json::{Value, json};
use shared::services::backup;
use uuid::Uuid;

/// The person erased in these tests: every form in which their data could be stored.
const NAME: &str = "Séraphine Obiang-Mintsa";
const NUMBER: &str = "+24106612345";
const BIRTH: &str = "1999-07-23";
/// Their data in every form to look for: the name and its parts, the number as E.164, digits,
/// national (0 + subscriber), and the date of birth.
const FORMS: [&str; 7] = [
    NAME,
    "Séraphine",
    "Obiang-Mintsa",
    NUMBER,
    "24106612345",
    "06612345",
    BIRTH,
];

async fn platform() -> (TestApp, FakeWhapi) {
    let fake = FakeWhapi::start().await;
    let app = TestApp::spawn_with(|config| fake.configure(config)).await;
    (app, fake)
}

async fn webhook(app: &TestApp, body: &Value) -> StatusCode {
    app.send_json(
        Method::POST,
        "/api/webhooks/whapi",
        body,
        &[("x-webhook-secret", WEBHOOK_SECRET)],
    )
    .await
    .status
}

async fn drain(app: &TestApp) {
    e2e_tests::drain(app).await
}

/// Registers `name` with `number` (through the API), answers the PRE test with `right` right.
async fn registered(
    app: &TestApp,
    masterclass: &str,
    bank: &e2e_tests::Bank,
    name: &str,
    number: &str,
    birth: &str,
    right: usize,
) -> (StudentSession, Uuid) {
    let response = app
        .post_json(
            "/api/inscriptions",
            &json!({ "masterclass_id": masterclass, "full_name": name, "date_of_birth": birth,
                     "whatsapp_number": number, "consent": true }),
        )
        .await;
    assert_eq!(
        response.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    let token = response.value()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let inscription: Uuid = response.value()["inscription_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let http = app.http.with_bearer(&token);
    let paper = http.get("/api/tests/PRE").await.value();
    let submitted = http
        .post_json("/api/tests/PRE", &e2e_tests::answers(&paper, bank, right))
        .await;
    assert_eq!(
        submitted.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&submitted.body)
    );
    let profile: Uuid = app
        .db()
        .await
        .query_one(
            "select profile_id from inscriptions where id = $1",
            &[&inscription],
        )
        .await
        .unwrap()
        .get(0);
    (
        StudentSession {
            inscription_id: inscription,
            profile_id: profile,
            token,
            http,
        },
        profile,
    )
}

/// A masterclass with a bank, the person (registered, tested, messaged both ways, with a photo)
/// and another student.
struct Scene {
    app: TestApp,
    _fake: FakeWhapi,
    admin: StaffSession,
    masterclass: String,
    person: StudentSession,
    other: StudentSession,
    photo_key: String,
}

async fn scene() -> Scene {
    let (app, fake) = platform().await;
    let admin = app.admin().await;
    let masterclass = app.open_masterclass(&admin, "Données personnelles").await;
    let bank = app.bank(&admin, &masterclass, 10, true).await;
    let (person, _) = registered(&app, &masterclass, &bank, NAME, NUMBER, BIRTH, 6).await;
    let (other, _) = registered(
        &app,
        &masterclass,
        &bank,
        "Paul Nze",
        "+24107711111",
        "2002-02-02",
        4,
    )
    .await;
    // The person takes the POST test too, so they count in the paired figures (gain); the
    // other student's POST is left for the chat (`fill_every_table`).
    let opened = admin
        .send_json(
            Method::PUT,
            &format!("/api/admin/masterclasses/{masterclass}/post-test"),
            &json!({ "open": true }),
            &[],
        )
        .await;
    assert_eq!(opened.status, StatusCode::OK);
    let paper = person.http.get("/api/tests/POST").await.value();
    let submitted = person
        .http
        .post_json("/api/tests/POST", &e2e_tests::answers(&paper, &bank, 9))
        .await;
    assert_eq!(
        submitted.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&submitted.body)
    );
    // Messages go out; the provider reports their delivery; the person writes back.
    drain(&app).await;
    let provider_ids: Vec<String> = app
        .db()
        .await
        .query(
            "select provider_message_id from outbox_messages where provider_message_id is not null",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(!provider_ids.is_empty());
    for id in &provider_ids {
        webhook(&app, &json!({ "statuses": [{ "id": id, "status": "delivered", "recipient_id": "24106612345", "timestamp": "1795253400" }] })).await;
    }
    // A status about a message the platform never sent: kept in webhook_events, number and all.
    webhook(&app, &json!({ "statuses": [{ "id": "unknown-1", "status": "read", "recipient_id": "24106612345", "timestamp": "1795253400" }] })).await;
    assert_eq!(
        webhook(&app, &json!({ "messages": [{ "id": "in-1", "from_me": false, "type": "text", "chat_id": "24106612345@s.whatsapp.net", "from": "24106612345", "from_name": NAME, "text": { "body": format!("Bonjour, ici {NAME}, née le {BIRTH}") } }] })).await,
        StatusCode::OK
    );
    // Staff: attendance, a custom message naming the person, a photo.
    admin
        .patch_json(
            &format!("/api/admin/inscriptions/{}", person.inscription_id),
            &json!({ "attended": true }),
        )
        .await;
    let sent = admin
        .post_json("/api/send-whatsapp", &json!({ "to": person.inscription_id, "messageType": "custom", "data": { "text": format!("Bravo {NAME} !") } }))
        .await;
    assert_eq!(
        sent.status,
        StatusCode::ACCEPTED,
        "{}",
        String::from_utf8_lossy(&sent.body)
    );
    let ticket = admin
        .post_json(
            &format!("/api/admin/inscriptions/{}/photo", person.inscription_id),
            &json!({ "content_type": "image/jpeg" }),
        )
        .await;
    assert_eq!(
        ticket.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&ticket.body)
    );
    let photo_key = ticket.value()["key"].as_str().unwrap().to_owned();
    app.state
        .storage
        .put(
            &photo_key,
            b"\xFF\xD8\xFF\xE0 a photo".to_vec(),
            "image/jpeg",
        )
        .await
        .unwrap();
    let confirmed = admin
        .post_json(
            &format!(
                "/api/admin/inscriptions/{}/photo/confirm",
                person.inscription_id
            ),
            &json!({ "key": photo_key }),
        )
        .await;
    assert_eq!(
        confirmed.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&confirmed.body)
    );
    // An upload that was never confirmed, under the same folder.
    let unconfirmed = format!(
        "inscriptions/{}/photos/never-confirmed.jpg",
        person.inscription_id
    );
    app.state
        .storage
        .put(&unconfirmed, b"\xFF\xD8\xFF\xE0".to_vec(), "image/jpeg")
        .await
        .unwrap();
    Scene {
        app,
        _fake: fake,
        admin,
        masterclass,
        person,
        other,
        photo_key,
    }
}

/// Every table of the database, as text (the owner's view: past RLS).
async fn dump(app: &TestApp) -> BTreeMap<String, String> {
    let db = app.db().await;
    let tables: Vec<String> = db
        .query(
            "select relname::text from pg_class where relnamespace = 'public'::regnamespace and relkind = 'r' order by 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut dump = BTreeMap::new();
    for table in tables {
        let text: Option<String> = db
            .query_one(
                &format!("select string_agg(t::text, E'\\n' order by t::text) from \"{table}\" t"),
                &[],
            )
            .await
            .unwrap()
            .get(0);
        dump.insert(table, text.unwrap_or_default());
    }
    dump
}

fn traces(dump: &BTreeMap<String, String>) -> Vec<String> {
    let mut found = Vec::new();
    for (table, text) in dump {
        for form in FORMS {
            if text.contains(form) {
                let at = text.find(form).unwrap();
                let context = &text[at.saturating_sub(80)..(at + form.len() + 80).min(text.len())];
                found.push(format!("{table}: {form:?} in …{context}…"));
            }
        }
    }
    found
}

fn headline(stats: &Value) -> Value {
    json!({
        "registrations": stats["registrations"], "attended": stats["attended"],
        "pre": stats["pre"], "post": stats["post"], "paired": stats["paired"],
        "average_gain": stats["average_gain"], "distributions": stats["distributions"],
        "questions": stats["questions"],
    })
}

/// After erasing a person who registered, took a test, received and sent messages and had a
/// photo: no table holds their name, any form of their number or their birth date; the photo
/// is gone from the store; the statistics say what they said; the other student is untouched;
/// a second erasure answers the same; a backup taken now holds nothing of them either.
#[tokio::test]
async fn erasure_leaves_no_personal_data_anywhere_and_the_statistics_unchanged() {
    let s = scene().await;
    let app = &s.app;
    let before = dump(app).await;
    assert!(
        traces(&before).len() > 10,
        "the scene should hold the person's data: {:?}",
        traces(&before)
    );
    let stats_path = format!("/api/admin/masterclasses/{}/stats", s.masterclass);
    let stats_before = s.admin.get(&stats_path).await.value();
    assert_eq!(
        stats_before["paired"], 1,
        "the person took both tests: {stats_before}"
    );
    // A staff device holding the students, which the erasure must make drop the person.
    let mut device = e2e_tests::device::Device::new(s.admin.http.with_bearer(&s.admin.token), 0);
    device.collections = Some("inscriptions".into());
    device.catch_up(&app.db().await, 100).await;
    let key = ("inscriptions".to_owned(), s.person.inscription_id);
    assert!(
        device.state.contains_key(&key),
        "the device does not hold the person"
    );

    let erased = s
        .admin
        .delete(&format!("/api/admin/students/{}", s.person.profile_id))
        .await;
    assert_eq!(
        erased.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&erased.body)
    );
    let again = s
        .admin
        .delete(&format!("/api/admin/students/{}", s.person.profile_id))
        .await;
    assert_eq!(
        again.value(),
        erased.value(),
        "a second erasure answers the same"
    );

    device.catch_up(&app.db().await, 100).await;
    assert!(
        !device.state.contains_key(&key),
        "the device still holds the erased registration"
    );
    assert!(
        device
            .state
            .contains_key(&("inscriptions".to_owned(), s.other.inscription_id))
    );
    let after = dump(app).await;
    let left = traces(&after);
    assert!(left.is_empty(), "personal data left:\n{}", left.join("\n"));
    assert!(
        after.values().any(|t| t.contains("Paul Nze")),
        "the other student was erased too"
    );
    assert_eq!(
        app.state.storage.size(&s.photo_key).await.unwrap(),
        None,
        "the photo is still stored"
    );
    let folder = format!("inscriptions/{}/photos/", s.person.inscription_id);
    assert_eq!(
        app.state.storage.list(&folder).await.unwrap(),
        vec![],
        "uploads are left"
    );
    assert_eq!(
        headline(&s.admin.get(&stats_path).await.value()),
        headline(&stats_before)
    );
    s.person
        .get("/api/me")
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    s.admin
        .get(&format!("/api/admin/students/{}", s.person.profile_id))
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
    let listed = s.admin.get("/api/admin/students").await.value();
    let names: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["full_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Paul Nze"], "{listed}");
    // The erasure is audited, without the person.
    let audit = s
        .admin
        .get("/api/admin/audit?action=student.erased")
        .await
        .value();
    assert_eq!(audit["items"].as_array().unwrap().len(), 1);

    // A backup taken after the erasure holds nothing of the person.
    let store = backup::store(&app.state).await;
    let (prefix, manifest) = backup::take(&app.state, &store).await.unwrap();
    for file in &manifest.tables {
        let bytes = store.get(&format!("{prefix}{}", file.file)).await.unwrap();
        let mut text = String::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_string(&mut text)
            .unwrap();
        for form in FORMS {
            assert!(!text.contains(form), "{}: {form} in the backup", file.file);
        }
    }
}

/// A student erases their own registration: their token stops working, and asking again with
/// it answers the same; the other student's data stays.
#[tokio::test]
async fn a_student_erases_their_registration_and_asking_again_answers_the_same() {
    let s = scene().await;
    let first = s.person.delete("/api/me").await;
    assert_eq!(
        first.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&first.body)
    );
    assert_eq!(first.value()["id"], s.person.inscription_id.to_string());
    let second = s.person.delete("/api/me").await;
    assert_eq!(second.status, StatusCode::OK);
    assert_eq!(second.value(), first.value());
    s.person
        .get("/api/me")
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    s.person
        .get("/api/me/export")
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    app_has_no_trace(&s.app).await;
    assert_eq!(s.other.get("/api/me").await.status, StatusCode::OK);
    // A token that never existed is still a 401.
    s.app
        .http
        .with_bearer("mcs_not-a-real-token-at-all-0000000000")
        .delete("/api/me")
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
}

async fn app_has_no_trace(app: &TestApp) {
    let left = traces(&dump(app).await);
    assert!(left.is_empty(), "personal data left:\n{}", left.join("\n"));
}

/// The admin's export is the detail route's record and the consent history, whole, and nothing
/// of another student; the student's own export is their registration's, without the keys.
#[tokio::test]
async fn the_export_holds_everything_the_detail_shows_and_nothing_of_another_person() {
    let s = scene().await;
    let detail = s
        .admin
        .get(&format!("/api/admin/students/{}", s.person.profile_id))
        .await
        .value();
    let export = s
        .admin
        .get(&format!(
            "/api/admin/students/{}/export",
            s.person.profile_id
        ))
        .await;
    assert_eq!(
        export.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&export.body)
    );
    let export = export.value();
    assert_eq!(export["schema_version"], 1);
    // The export is audited, so its audit list has one entry more than the detail's had.
    let mut student = export["student"].clone();
    let mut expected = detail.clone();
    student["audit"] = Value::Null;
    expected["audit"] = Value::Null;
    assert_eq!(student, expected);
    assert!(
        export["student"]["incoming"][0]["body"]
            .as_str()
            .unwrap()
            .contains(NAME)
    );
    let history = export["consent_history"].as_array().unwrap();
    assert_eq!(history[0]["source"], "registration");
    assert_eq!(history[0]["given"], true);
    let text = export.to_string();
    for other in [
        "Paul Nze",
        "+24107711111",
        "2002-02-02",
        &s.other.inscription_id.to_string(),
    ] {
        assert!(!text.contains(other), "{other} in the person's export");
    }
    let audited = s
        .admin
        .get("/api/admin/audit?action=student.exported")
        .await
        .value();
    assert_eq!(audited["items"].as_array().unwrap().len(), 1);

    let own = s.person.get("/api/me/export").await;
    assert_eq!(
        own.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&own.body)
    );
    let own = own.value();
    let inscriptions = own["student"]["inscriptions"].as_array().unwrap();
    assert_eq!(inscriptions.len(), 1);
    assert_eq!(inscriptions[0]["full_name"], NAME);
    assert_eq!(inscriptions[0]["date_of_birth"], BIRTH);
    let answers = inscriptions[0]["tests"][0]["answers"].as_array().unwrap();
    assert_eq!(answers.len(), 10);
    assert!(
        answers
            .iter()
            .all(|a| a["correct_choice"].is_null() && a["correct"].is_null()),
        "keys leaked"
    );
    assert!(own.to_string().find("Paul Nze").is_none());
    assert_eq!(
        inscriptions[0]["tests"].as_array().unwrap().len(),
        2,
        "PRE and POST"
    );
    let audited = s
        .admin
        .get("/api/admin/audit?action=student.exported")
        .await
        .value();
    assert_eq!(
        audited["items"].as_array().unwrap().len(),
        2,
        "the student's own export is audited too: {audited}"
    );
    // Tutors and students may not export others.
    s.other
        .get(&format!(
            "/api/admin/students/{}/export",
            s.person.profile_id
        ))
        .await
        .assert_problem(StatusCode::FORBIDDEN, "forbidden");
    let tutor = s.app.tutor(&s.admin, &[&s.masterclass]).await;
    tutor
        .get(&format!(
            "/api/admin/students/{}/export",
            s.person.profile_id
        ))
        .await
        .assert_problem(StatusCode::FORBIDDEN, "forbidden");
    tutor
        .delete(&format!("/api/admin/students/{}", s.person.profile_id))
        .await
        .assert_problem(StatusCode::FORBIDDEN, "forbidden");
}

/// Withdrawing consent on the web stops the registration's messages at once (queued ones are
/// suppressed, later ones never sent); giving it again lets them through; both are in the
/// history with their source, and the number's STOP too.
#[tokio::test]
async fn withdrawing_consent_stops_messages_at_once_and_is_recorded() {
    let (app, fake) = platform().await;
    let admin = app.admin().await;
    let masterclass = app.open_masterclass(&admin, "Consentement").await;
    let bank = app.bank(&admin, &masterclass, 10, true).await;
    let (person, _) = registered(&app, &masterclass, &bank, NAME, NUMBER, BIRTH, 5).await;
    // Confirmation and PRE result queued, not sent yet; a dispatcher run has claimed them but
    // not started either when the student withdraws.
    let run = uuid::Uuid::new_v4();
    let deadline = time::OffsetDateTime::now_utc() + time::Duration::minutes(1);
    let (claimed, _) = shared::messaging::dispatch::claim(&app.state, run, 10, deadline)
        .await
        .unwrap();
    assert!(!claimed.is_empty());
    let withdrawn = person
        .post_json("/api/me/consent", &json!({ "given": false }))
        .await;
    assert_eq!(
        withdrawn.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&withdrawn.body)
    );
    assert_eq!(withdrawn.value()["given"], false);
    let statuses: Vec<String> = app
        .db()
        .await
        .query(
            "select status from outbox_messages where inscription_id = $1",
            &[&person.inscription_id],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(
        !statuses.is_empty() && statuses.iter().all(|s| s == "suppressed"),
        "{statuses:?}"
    );
    for message in &claimed {
        assert_eq!(
            shared::messaging::dispatch::start_sending(&app.state, run, message.id)
                .await
                .unwrap(),
            None,
            "the run that claimed a message before the withdrawal may not send it"
        );
    }
    admin
        .post_json(
            "/api/send-whatsapp",
            &json!({ "to": person.inscription_id, "messageType": "reminder" }),
        )
        .await;
    drain(&app).await;
    assert!(
        fake.delivered().is_empty(),
        "a message went out after consent was withdrawn: {:?}",
        fake.delivered()
    );

    let given = person
        .post_json("/api/me/consent", &json!({ "given": true }))
        .await
        .value();
    assert_eq!(given["given"], true);
    admin
        .post_json(
            "/api/send-whatsapp",
            &json!({ "to": person.inscription_id, "messageType": "reminder" }),
        )
        .await;
    drain(&app).await;
    assert_eq!(fake.delivered().len(), 1);
    // The same change twice records it once.
    person
        .post_json("/api/me/consent", &json!({ "given": true }))
        .await;
    // STOP on WhatsApp: the number's own.
    webhook(&app, &json!({ "messages": [{ "id": "in-stop", "from_me": false, "type": "text", "chat_id": "24106612345@s.whatsapp.net", "from": "24106612345", "text": { "body": "STOP" } }] })).await;
    let export = person.get("/api/me/export").await.value();
    let history: Vec<(String, bool)> = export["consent_history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["source"].as_str().unwrap().to_owned(),
                e["given"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        history,
        [
            ("registration".into(), true),
            ("web".into(), false),
            ("web".into(), true)
        ],
        "the registration's history"
    );
    let admin_export = admin
        .get(&format!("/api/admin/students/{}/export", person.profile_id))
        .await
        .value();
    let sources: Vec<&str> = admin_export["consent_history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["source"].as_str().unwrap())
        .collect();
    assert_eq!(sources, ["registration", "web", "web", "whatsapp"]);
    for bad in [
        json!({}),
        json!({ "given": "no" }),
        json!({ "given": false, "x": 1 }),
    ] {
        let response = person.post_json("/api/me/consent", &bad).await;
        assert!(
            response.status.is_client_error(),
            "{bad}: {}",
            response.status
        );
    }
}

/// With a retention period, the scheduled run erases the registrations of masterclasses that
/// ended longer ago, and no other.
#[tokio::test]
async fn the_retention_period_erases_registrations_of_long_ended_masterclasses() {
    let app = TestApp::spawn_with(|config| config.journey.retention_days = Some(30)).await;
    let admin = app.admin().await;
    let old = app.masterclass(&admin, "Ancienne", true).await;
    let recent = app.masterclass(&admin, "Récente", true).await;
    let gone = app.student(&old, NAME).await;
    let kept = app.student(&recent, "Paul Nze").await;
    app.db()
        .await
        .execute(
            "update masterclasses set starts_at = now() - interval '41 days', ends_at = now() - interval '40 days' where id = $1",
            &[&old.parse::<Uuid>().unwrap()],
        )
        .await
        .unwrap();
    // A copy of the old registration that sync merged into it (kept deleted; registered first,
    // as a copy from another instance may be): it goes with its registration, and the erasure
    // is audited once.
    app.db()
        .await
        .execute(
            "insert into inscriptions (masterclass_id, profile_id, full_name, whatsapp_number,
                                       consent_at, deleted_at, merged_into, created_at)
             select masterclass_id, profile_id, full_name, whatsapp_number, consent_at, now(), id,
                    created_at - interval '1 minute'
             from inscriptions where id = $1",
            &[&gone.inscription_id],
        )
        .await
        .unwrap();
    let report = backup::run(&app.state).await.unwrap();
    assert_eq!(report.erased, 1);
    let audited: i64 = app
        .db()
        .await
        .query_one(
            "select count(*) from audit_log where action = 'inscription.erased'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(audited, 1, "one erasure, one entry");
    let copies: i64 = app
        .db()
        .await
        .query_one(
            "select count(*) from inscriptions where merged_into = $1 and erased_at is not null",
            &[&gone.inscription_id],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(copies, 1, "the merged copy is erased with its registration");
    let names: Vec<String> = app
        .db()
        .await
        .query(
            "select full_name from inscriptions where id = any($1) order by created_at",
            &[&vec![gone.inscription_id, kept.inscription_id]],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(names, ["Effacé", "Paul Nze"]);
    assert_eq!(
        backup::run(&app.state).await.unwrap().erased,
        0,
        "erased once"
    );
}

/// The backup runs recorded, oldest first: (status, prefix, error).
async fn backup_runs(app: &TestApp) -> Vec<(String, Option<String>, Option<String>)> {
    app.db()
        .await
        .query(
            "select status, prefix, error from backup_runs order by started_at",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
}

/// Each run is recorded with its outcome; only the latest `BACKUP_KEEP` complete backups stay,
/// and an unfinished folder older than them goes too; a run that cannot write is recorded as
/// failed, with its error.
#[tokio::test]
async fn old_backups_are_pruned_and_every_run_is_recorded() {
    let app = TestApp::spawn_with(|config| config.backup.keep = 2).await;
    let store = backup::store(&app.state).await;
    let root = app.state.config.backup.prefix.clone();
    let folders = async || {
        let mut folders: Vec<String> = store
            .list(&root)
            .await
            .unwrap()
            .into_iter()
            .filter_map(|(key, _)| {
                let (folder, _) = key.strip_prefix(&root)?.split_once('/')?;
                Some(format!("{root}{folder}/"))
            })
            .collect();
        folders.sort();
        folders.dedup();
        folders
    };
    let first = backup::run(&app.state).await.unwrap();
    let unfinished = format!("{root}20000101T000000.000Z/");
    store
        .put(
            &format!("{unfinished}inscriptions.ndjson.gz"),
            b"half".to_vec(),
            "application/gzip",
        )
        .await
        .unwrap();
    let second = backup::run(&app.state).await.unwrap();
    let third = backup::run(&app.state).await.unwrap();

    assert_eq!(second.deleted, [unfinished], "older than the newest backup");
    assert_eq!(third.deleted, std::slice::from_ref(&first.prefix));
    let expected = vec![second.prefix.clone(), third.prefix.clone()];
    assert_eq!(folders().await, expected, "the latest two are kept");

    // A run that cannot read a table whole (row-level security and no backup policy) fails,
    // and says why in its record.
    let broken = TestApp::spawn().await;
    broken
        .db()
        .await
        .batch_execute(
            "create table stray (id integer); alter table stray enable row level security;
             grant select on stray to masterclass_app",
        )
        .await
        .unwrap();
    let error = backup::run(&broken.state).await.unwrap_err();
    let recorded = backup_runs(&broken).await;
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].0, "failed");
    assert_eq!(recorded[0].1, None);
    assert!(
        recorded[0]
            .2
            .as_deref()
            .is_some_and(|e| e.contains("stray")),
        "the failure's error is kept: {recorded:?} ({error:#})"
    );
    assert!(
        backup::store(&broken.state)
            .await
            .list(&root)
            .await
            .unwrap()
            .is_empty(),
        "a failed run leaves no backup behind it"
    );
    let recorded = backup_runs(&app).await;
    assert_eq!(
        recorded
            .iter()
            .map(|(status, prefix, _)| (status.as_str(), prefix.clone()))
            .collect::<Vec<_>>(),
        [
            ("succeeded", Some(first.prefix)),
            ("succeeded", Some(expected[0].clone())),
            ("succeeded", Some(expected[1].clone())),
        ]
    );
}

/// Backup → restore into an empty database → every table equal row by row, with a dataset that
/// fills every table; then what a restore must refuse: a corrupted file, a truncated one, a
/// manifest of another schema, a target with rows.
#[tokio::test]
async fn a_backup_restores_every_table_row_by_row_and_refuses_what_does_not_match() {
    let s = scene().await;
    let app = &s.app;
    fill_every_table(&s).await;
    let before = dump(app).await;
    let empty: Vec<&String> = before
        .iter()
        .filter(|(t, text)| text.is_empty() && *t != "schema_migrations")
        .map(|(t, _)| t)
        .collect();
    assert!(
        empty.is_empty(),
        "the dataset leaves tables empty: {empty:?}"
    );

    let report = backup::run(&app.state).await.unwrap();
    let store = backup::store(&app.state).await;
    let manifest = backup::manifest(&store, &report.prefix).await.unwrap();
    assert_eq!(
        manifest.tables.len() + 1,
        before.len(),
        "every table but schema_migrations is backed up"
    );
    let latest = shared::db::MIGRATIONS.iter().map(|m| m.version).max();
    assert_eq!(Some(manifest.schema_version), latest.map(i64::from));

    let target = TestApp::spawn().await;
    let pool = shared::db::connect(
        &shared::secret::Secret::new(target.owner_url.clone()),
        &target.state.config.database,
    )
    .unwrap();
    let restored = backup::restore(&store, &report.prefix, &pool)
        .await
        .unwrap();
    assert_eq!(
        restored.rows,
        manifest.tables.iter().map(|t| t.rows).sum::<u64>()
    );
    let mut after = dump(&target).await;
    let mut original = before.clone();
    // The backup's own run record was written after the snapshot.
    original.remove("backup_runs");
    after.remove("backup_runs");
    for (table, text) in &original {
        assert_eq!(
            after.get(table),
            Some(text),
            "table {table} differs after the restore"
        );
    }
    // Sequences go on from where they were: a new audit entry gets a fresh id.
    let max_before: i64 = app
        .db()
        .await
        .query_one("select max(id) from audit_log", &[])
        .await
        .unwrap()
        .get(0);
    let next: i64 = target
        .db()
        .await
        .query_one(
            "select nextval(pg_get_serial_sequence('audit_log', 'id'))",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(next > max_before, "{next} ≤ {max_before}");

    // A second restore into the same (now full) database is refused.
    let full = backup::restore(&store, &report.prefix, &pool)
        .await
        .unwrap_err();
    assert!(format!("{full:#}").contains("not empty"), "{full:#}");

    // A corrupted byte, then a truncated file: refused, naming the file.
    let victim = &manifest
        .tables
        .iter()
        .find(|t| t.table == "inscriptions")
        .unwrap()
        .file;
    let key = format!("{}{victim}", report.prefix);
    let original_bytes = store.get(&key).await.unwrap();
    let fresh = TestApp::spawn().await;
    let fresh_pool = shared::db::connect(
        &shared::secret::Secret::new(fresh.owner_url.clone()),
        &fresh.state.config.database,
    )
    .unwrap();
    let mut corrupted = original_bytes.clone();
    let middle = corrupted.len() / 2;
    corrupted[middle] ^= 0x55;
    store
        .put(&key, corrupted, "application/gzip")
        .await
        .unwrap();
    let err = format!(
        "{:#}",
        backup::restore(&store, &report.prefix, &fresh_pool)
            .await
            .unwrap_err()
    );
    assert!(err.contains(&key), "{err}");
    store
        .put(
            &key,
            original_bytes[..original_bytes.len() - 20].to_vec(),
            "application/gzip",
        )
        .await
        .unwrap();
    let err = format!(
        "{:#}",
        backup::restore(&store, &report.prefix, &fresh_pool)
            .await
            .unwrap_err()
    );
    assert!(err.contains(&key), "{err}");
    store
        .put(&key, original_bytes, "application/gzip")
        .await
        .unwrap();
    // A manifest of another schema version.
    let manifest_key = format!("{}manifest.json", report.prefix);
    let mut other = manifest.clone();
    other.schema_version += 1;
    other.sha256 = other.digest();
    store
        .put(
            &manifest_key,
            serde_json::to_vec(&other).unwrap(),
            "application/json",
        )
        .await
        .unwrap();
    let err = format!(
        "{:#}",
        backup::restore(&store, &report.prefix, &fresh_pool)
            .await
            .unwrap_err()
    );
    assert!(err.contains("schema version"), "{err}");
    // Nothing was written by the refused restores.
    assert_eq!(fresh.count("inscriptions").await, 0);
    assert_eq!(fresh.count("audit_log").await, 0);
}

/// A restore says what is wrong with a backup in its own words: a manifest altered after the
/// backup wrote it is tampered (whether it still reads as a manifest or not), a manifest that is
/// not there is no manifest, and a data file the manifest lists but the store lacks is missing.
#[tokio::test]
async fn a_restore_tells_a_tampered_manifest_and_a_missing_file_apart() {
    let (app, _fake) = platform().await;
    let mc = app
        .masterclass(&app.admin().await, "Sauvegardée", true)
        .await;
    app.student(&mc, NAME).await;
    let report = backup::run(&app.state).await.unwrap();
    let store = backup::store(&app.state).await;
    let manifest_key = format!("{}manifest.json", report.prefix);
    let original = store.get(&manifest_key).await.unwrap();
    let target = TestApp::spawn().await;
    let pool = shared::db::connect(
        &shared::secret::Secret::new(target.owner_url.clone()),
        &target.state.config.database,
    )
    .unwrap();
    let refusal = async || -> String {
        format!(
            "{:#}",
            backup::restore(&store, &report.prefix, &pool)
                .await
                .unwrap_err()
        )
    };

    // One row count changed in an otherwise well-formed manifest.
    let mut altered: Value = serde_json::from_slice(&original).unwrap();
    let tables = altered["tables"].as_array_mut().unwrap();
    let inscriptions = tables
        .iter_mut()
        .find(|t| t["table"] == "inscriptions")
        .unwrap();
    inscriptions["rows"] = json!(inscriptions["rows"].as_u64().unwrap() + 1);
    store
        .put(
            &manifest_key,
            serde_json::to_vec(&altered).unwrap(),
            "application/json",
        )
        .await
        .unwrap();
    let err = refusal().await;
    assert!(
        err.contains("tampered") && err.contains(&manifest_key),
        "{err}"
    );
    // Bytes that are no manifest at all.
    store
        .put(
            &manifest_key,
            b"{\"format\": 12".to_vec(),
            "application/json",
        )
        .await
        .unwrap();
    let err = refusal().await;
    assert!(
        err.contains("tampered") && !err.contains("no manifest"),
        "{err}"
    );
    // No manifest.
    store.delete(&manifest_key).await.unwrap();
    let err = refusal().await;
    assert!(err.contains("no manifest"), "{err}");

    // The manifest back, one of its files gone.
    store
        .put(&manifest_key, original, "application/json")
        .await
        .unwrap();
    let manifest = backup::manifest(&store, &report.prefix).await.unwrap();
    let gone = format!("{}{}", report.prefix, manifest.tables[0].file);
    store.delete(&gone).await.unwrap();
    let err = refusal().await;
    assert!(err.contains(&gone) && err.contains("missing"), "{err}");
    assert!(!err.contains("does not match"), "{err}");
    assert_eq!(target.count("inscriptions").await, 0);
}

/// Rows for the tables the scene leaves empty (sync with a remote, pokes, documents, ...).
async fn fill_every_table(s: &Scene) {
    let app = &s.app;
    // A device's document through sync (and a mutation it had rejected), and a sync peer.
    let pushed = s
        .admin
        .post_json(
            "/api/sync/push",
            &json!({ "client_id": Uuid::new_v4(), "mutations": [{ "mutation_id": 1, "collection": "documents",
                     "record_id": Uuid::new_v4(), "op": "create", "fields": { "key": "notes", "value": { "n": 1 } },
                     "hlc": "1795430400000-00000-3f0c8a4e9b1d4c2a" },
                     { "mutation_id": 2, "collection": "documents", "record_id": Uuid::new_v4(),
                       "op": "update", "fields": { "value": 2 }, "hlc": "1795430400001-00000-3f0c8a4e9b1d4c2a" }] }),
        )
        .await;
    assert_eq!(
        pushed.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&pushed.body)
    );
    let peer = s
        .admin
        .send_json(
            Method::POST,
            "/api/sync/peers",
            &json!({ "name": "Salle de Libreville" }),
            &[("idempotency-key", "peer-1")],
        )
        .await;
    app.tutor(&s.admin, &[&s.masterclass]).await;
    let created = s
        .admin
        .send_json(
            Method::POST,
            "/api/admin/questions",
            &json!({ "masterclass_id": s.masterclass, "text": "Une question de plus ?", "choices": ["Un", "Deux", "Trois", "Quatre"], "correct": "B" }),
            &[("idempotency-key", "question-1")],
        )
        .await;
    assert_eq!(
        created.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&created.body)
    );
    assert_eq!(
        peer.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&peer.body)
    );
    s.admin
        .send_json(
            Method::PUT,
            &format!("/api/admin/masterclasses/{}/post-test", s.masterclass),
            &json!({ "open": true }),
            &[],
        )
        .await;
    // The other student starts the POST test in the chat and answers one question.
    for (n, text) in ["TEST", "B"].into_iter().enumerate() {
        let body = json!({ "messages": [{ "id": format!("wamid.fill-{n}"), "from_me": false, "type": "text",
            "from": "24107711111", "timestamp": 1_800_000_000 + n, "text": { "body": text } }] });
        assert_eq!(webhook(app, &body).await, StatusCode::OK);
    }
    // The rest straight in the database: what only a venue with a remote, a poke URL, or an open
    // live channel, writes.
    let inscription = s.other.inscription_id;
    app.db()
        .await
        .batch_execute(&format!(
            "insert into sync_remotes (url) values ('https://cloud.example.org');
             insert into sync_queue (remote_id, mutation_id, collection, record_id, fields, clocks)
             select id, 1, 'inscriptions', '{inscription}', '{{}}', '{{}}' from sync_remotes;
             insert into sync_parked (collection, record_id, fields, clocks, source, waiting_for)
             values ('attempts', gen_random_uuid(), '{{}}', '{{}}', gen_random_uuid(), array[gen_random_uuid()]);
             insert into sync_objects (remote_id, key, direction) select id, 'pdfs/x.pdf', 'down' from sync_remotes;
             insert into sync_runs (remote_url, trigger, status) values ('https://cloud.example.org', 'manual', 'succeeded');
             insert into sync_pokes (url, collections) values ('https://poke.example.org', array['masterclasses']);
             insert into live_connections (id, endpoint, staff_id) select 'C0HfaeJhCGYCJ4g=', 'apigw', id from staff_users limit 1;
             insert into live_pokes (connection_id, collections) values ('C0HfaeJhCGYCJ4g=', array['questions']);
             insert into idempotency_erased (caller, scope, key_hash, created_at)
             values ('anon', 'inscriptions.create', sha256('a key'::bytea), now());"
        ))
        .await
        .unwrap();
    // A backup run record (the run itself writes one more after its snapshot).
    backup::run(&app.state).await.unwrap();
}

/// Erased on the cloud, a person registered at the venue is erased at the venue too when the
/// change arrives: nothing of them left on either side, the tombstone stays one (a later sync
/// does not revive it), and sync goes on.
#[tokio::test]
async fn an_erasure_reaches_the_venue_server_and_sticks() {
    let pair = e2e_tests::peers::Pair::start().await;
    let masterclass = pair
        .cloud
        .open_masterclass(&pair.cloud_admin, "À la salle")
        .await;
    pair.sync_through().await;
    let registered = pair.venue.register(&masterclass, NUMBER, NAME).await;
    assert_eq!(
        registered.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&registered.body)
    );
    pair.sync_through().await;
    let profile: Uuid = pair
        .cloud
        .db()
        .await
        .query_one(
            "select profile_id from inscriptions where whatsapp_number = $1",
            &[&NUMBER],
        )
        .await
        .unwrap()
        .get(0);
    assert!(
        !traces(&dump(&pair.venue).await).is_empty(),
        "the venue holds the person"
    );

    let erased = pair
        .cloud_admin
        .delete(&format!("/api/admin/students/{profile}"))
        .await;
    assert_eq!(
        erased.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&erased.body)
    );
    pair.sync_through().await;
    pair.sync_through().await;
    for (side, app) in [("cloud", &pair.cloud), ("venue", &pair.venue)] {
        let left = traces(&dump(app).await);
        assert!(
            left.is_empty(),
            "{side}: personal data left:\n{}",
            left.join("\n")
        );
        let (live, erased): (i64, i64) = {
            let row = app
                .db()
                .await
                .query_one(
                    "select count(*) filter (where deleted_at is null), count(*) filter (where erased_at is not null)
                     from inscriptions",
                    &[],
                )
                .await
                .unwrap();
            (row.get(0), row.get(1))
        };
        assert_eq!((live, erased), (0, 1), "{side}");
    }
    // Sync goes on: a registration after the erasure reaches the cloud.
    let later = pair
        .venue
        .register(&masterclass, "+24107722222", "Paul Nze")
        .await;
    assert_eq!(later.status, StatusCode::CREATED);
    pair.sync_through().await;
    let at_cloud: i64 = pair
        .cloud
        .db()
        .await
        .query_one(
            "select count(*) from inscriptions where full_name = 'Paul Nze'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(at_cloud, 1);
    assert!(traces(&dump(&pair.cloud).await).is_empty());
}

/// The registration `POST /api/inscriptions` sent again with its `Idempotency-Key` after the
/// person was erased (by themselves, or by an admin): a 410 `erased`, no new inscription, no new
/// message, and still nothing of the person anywhere (the key's record keeps only a hash).
#[tokio::test]
async fn a_registration_retried_after_an_erasure_does_not_bring_the_person_back() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let masterclass = app.open_masterclass(&admin, "Effacement").await;
    let body = json!({ "masterclass_id": masterclass, "full_name": NAME, "date_of_birth": BIRTH,
                       "whatsapp_number": NUMBER, "consent": true });
    let send = async |key: &str| {
        app.send_json(
            Method::POST,
            "/api/inscriptions",
            &body,
            &[("idempotency-key", key)],
        )
        .await
    };
    let first = send("retried-after-erasure").await;
    assert_eq!(first.status, StatusCode::CREATED);
    let student = app
        .http
        .with_bearer(first.value()["access_token"].as_str().unwrap());
    assert_eq!(student.delete("/api/me").await.status, StatusCode::OK);
    let inscriptions = app.count("inscriptions").await;
    let messages = app.count("outbox_messages").await;

    let retried = send("retried-after-erasure").await;

    retried.assert_problem(StatusCode::GONE, "erased");
    assert_eq!(app.count("inscriptions").await, inscriptions);
    assert_eq!(app.count("outbox_messages").await, messages);
    app_has_no_trace(&app).await;

    // The same after an admin's erasure of the person.
    let again = send("retried-after-the-admins-erasure").await;
    assert_eq!(again.status, StatusCode::CREATED);
    let inscription: Uuid = again.value()["inscription_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let profile: Uuid = app
        .db()
        .await
        .query_one(
            "select profile_id from inscriptions where id = $1",
            &[&inscription],
        )
        .await
        .unwrap()
        .get(0);
    let erased = admin
        .delete(&format!("/api/admin/students/{profile}"))
        .await;
    assert_eq!(erased.status, StatusCode::OK);
    let inscriptions = app.count("inscriptions").await;
    let messages = app.count("outbox_messages").await;

    let retried = send("retried-after-the-admins-erasure").await;

    retried.assert_problem(StatusCode::GONE, "erased");
    assert_eq!(app.count("inscriptions").await, inscriptions);
    assert_eq!(app.count("outbox_messages").await, messages);
    app_has_no_trace(&app).await;
}

/// A photo taken at the venue desk reaches the cloud with its record; an erasure on either side
/// then removes the photo from both stores once the change has gone across.
#[tokio::test]
async fn an_erasure_removes_the_photo_from_every_instance_it_reached() {
    let pair = e2e_tests::peers::Pair::start().await;
    let masterclass = pair
        .cloud
        .open_masterclass(&pair.cloud_admin, "Photos de la salle")
        .await;
    pair.sync_through().await;
    let photographed = async |number: &str, name: &str| -> (Uuid, String) {
        let registered = pair.venue.register(&masterclass, number, name).await;
        assert_eq!(registered.status, StatusCode::CREATED);
        let id: Uuid = registered.value()["inscription_id"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let path = format!("/api/admin/inscriptions/{id}/photo");
        let ticket = pair
            .venue_admin
            .post_json(&path, &json!({"content_type": "image/jpeg"}))
            .await
            .value();
        let mut jpeg = b"\xFF\xD8\xFF\xE0\x00\x10JFIF\x00".to_vec();
        jpeg.extend((0..2048).map(|i| (i % 241) as u8));
        e2e_tests::put_presigned(&ticket, jpeg).await;
        let key = ticket["key"].as_str().unwrap().to_owned();
        let confirmed = pair
            .venue_admin
            .post_json(&format!("{path}/confirm"), &json!({"key": key}))
            .await;
        assert_eq!(confirmed.status, StatusCode::OK, "{:?}", confirmed.value());
        (id, key)
    };
    let (at_cloud, cloud_key) = photographed(NUMBER, NAME).await;
    let (at_venue, venue_key) = photographed("+24107733333", "Paul Nze").await;
    pair.sync_through().await;
    for key in [&cloud_key, &venue_key] {
        for app in [&pair.cloud, &pair.venue] {
            assert!(
                app.state.storage.size(key).await.unwrap().is_some(),
                "{key}"
            );
        }
    }

    // One person erased on the cloud, the other at the venue.
    let profile = async |app: &TestApp, inscription: Uuid| -> Uuid {
        app.db()
            .await
            .query_one(
                "select profile_id from inscriptions where id = $1",
                &[&inscription],
            )
            .await
            .unwrap()
            .get(0)
    };
    let on_cloud = profile(&pair.cloud, at_cloud).await;
    let on_venue = profile(&pair.venue, at_venue).await;
    for (admin, student) in [(&pair.cloud_admin, on_cloud), (&pair.venue_admin, on_venue)] {
        let erased = admin
            .delete(&format!("/api/admin/students/{student}"))
            .await;
        assert_eq!(
            erased.status,
            StatusCode::OK,
            "{}",
            String::from_utf8_lossy(&erased.body)
        );
    }
    pair.sync_through().await;
    pair.sync_through().await;
    for (side, app) in [("cloud", &pair.cloud), ("venue", &pair.venue)] {
        for id in [at_cloud, at_venue] {
            let left = app
                .state
                .storage
                .list(&format!("inscriptions/{id}/"))
                .await
                .unwrap();
            assert!(left.is_empty(), "{side} still holds {left:?}");
        }
    }
}

/// Only the erased registration's own key answers 410: another person's registration whose
/// saved answer merely contains the erased name (a longer name that starts the same) is not
/// taken for it.
#[tokio::test]
async fn a_retry_of_someone_else_with_a_similar_name_is_not_answered_erased() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let masterclass = app.open_masterclass(&admin, "Homonymes").await;
    let register = async |name: &str, number: &str, key: &str| {
        app.send_json(
            Method::POST,
            "/api/inscriptions",
            &json!({ "masterclass_id": masterclass, "full_name": name, "date_of_birth": BIRTH,
                     "whatsapp_number": number, "consent": true }),
            &[("idempotency-key", key)],
        )
        .await
    };
    let erased = register("Jean Mbadi", "+24106610001", "court").await;
    let other = register("Jean Mbadinga", "+24106610002", "long").await;
    assert_eq!(
        (erased.status, other.status),
        (StatusCode::CREATED, StatusCode::CREATED)
    );
    let student = app
        .http
        .with_bearer(erased.value()["access_token"].as_str().unwrap());
    assert_eq!(student.delete("/api/me").await.status, StatusCode::OK);

    let retried_erased = register("Jean Mbadi", "+24106610001", "court").await;
    let retried_other = register("Jean Mbadinga", "+24106610002", "long").await;

    retried_erased.assert_problem(StatusCode::GONE, "erased");
    assert_ne!(
        retried_other.status,
        StatusCode::GONE,
        "{:?}",
        retried_other.value()
    );
}
