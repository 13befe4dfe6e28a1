//! Offline sync: push exactly once, pull with a cursor that never skips, per-field merges,
//! collections through the same rules as their REST routes, and devices that converge.

use std::collections::BTreeMap;

use e2e_tests::{
    TestApp,
    device::{Applied, Device, Model, applied_by, now_ms},
};
use http::{Method, StatusCode};
use serde_json::{Value, json};
use shared::sync::{PushResponse, hlc::MAX_AHEAD_MS};
use uuid::Uuid;

fn statuses(answer: &PushResponse) -> Vec<(String, Option<String>)> {
    answer
        .results
        .iter()
        .map(|r| {
            (
                serde_json::to_value(r.status)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_owned(),
                r.reason.clone(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_document_reaches_the_owner_s_other_devices_and_no_one_else() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let other = app.admin().await;
    let mut phone = Device::new(admin.http.clone(), 0);
    let mut laptop = Device::new(admin.http.clone(), 0);
    let mut stranger = Device::new(other.http.clone(), 0);
    let id = Uuid::new_v4();

    phone.mutate(
        "documents",
        id,
        "create",
        json!({"key": "brouillon", "value": {"texte": "Bonjour"}}),
    );
    phone.mutate(
        "documents",
        id,
        "update",
        json!({"value": {"texte": "Bonjour à tous"}}),
    );
    let (answer, _) = phone.push(10).await.unwrap();
    let db = app.db().await;
    laptop.catch_up(&db, 100).await;
    stranger.catch_up(&db, 100).await;

    assert_eq!(answer.synced_count, 2);
    assert_eq!(answer.last_mutation_id, 2);
    let held = laptop.records("documents");
    assert_eq!(
        held[&id]["value"],
        json!({"texte": "Bonjour à tous"}),
        "{held:?}"
    );
    assert_eq!(held[&id]["key"], "brouillon");
    assert!(
        stranger.records("documents").is_empty(),
        "documents are private"
    );

    // A delete reaches the other device as a tombstone, with the delete's clock.
    phone.mutate("documents", id, "delete", json!({}));
    let deleted_at = phone.queue[0]["hlc"].clone();
    phone.push(10).await.unwrap();
    laptop.catch_up(&db, 100).await;
    assert!(laptop.records("documents").is_empty());
    let page: shared::sync::PullResponse = admin
        .get("/api/sync/pull?collections=documents")
        .await
        .json();
    let tombstone = page.changes.iter().find(|c| c.id == id).unwrap();
    assert_eq!(tombstone.op, shared::sync::ChangeOp::Delete);
    assert_eq!(tombstone.clocks.as_ref().unwrap()["_deleted"], deleted_at);
}

#[tokio::test]
async fn a_batch_retried_whole_or_in_part_is_applied_once_and_a_gap_applies_nothing() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let mut device = Device::new(admin.http.clone(), 0);
    let ids: Vec<Uuid> = (0..4).map(|_| Uuid::new_v4()).collect();
    for (i, id) in ids.iter().enumerate() {
        device.mutate(
            "documents",
            *id,
            "create",
            json!({"key": format!("k{i}"), "value": i}),
        );
    }
    let all = device.queue.clone();

    // The answer to the first push is lost: the device sends it again with one more.
    let first = device.send(&all[..2]).await;
    let retried = device.send(&all[..3]).await;
    // A batch that skips mutation 4 (sent 1..3, then 5 without 4)...
    device.mutate(
        "documents",
        Uuid::new_v4(),
        "create",
        json!({"key": "k4", "value": 4}),
    );
    let gap = device.send(&[device.queue[4].clone()]).await;
    let empty = device.send(&[]).await;

    assert_eq!(first.status, StatusCode::OK);
    let retried: PushResponse = retried.json();
    assert_eq!(
        statuses(&retried),
        [
            ("duplicate".to_owned(), None),
            ("duplicate".to_owned(), None),
            ("applied".to_owned(), None)
        ]
    );
    assert_eq!((retried.synced_count, retried.last_mutation_id), (1, 3));
    gap.assert_problem(StatusCode::CONFLICT, "mutation_gap");
    assert_eq!(
        empty.json::<PushResponse>().last_mutation_id,
        3,
        "a gap applies nothing"
    );
    let db = app.db().await;
    let documents: i64 = db
        .query_one("select count(*) from documents", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(documents, 3, "each create once, the gapped one not at all");

    // Someone else's client id is not theirs to use.
    let other = app.admin().await;
    let thief = other
        .post_json(
            "/api/sync/push",
            &json!({"client_id": device.client_id, "mutations": []}),
        )
        .await;
    thief.assert_problem(StatusCode::FORBIDDEN, "forbidden");
}

async fn question(app: &TestApp, staff: &e2e_tests::StaffSession, masterclass: &str) -> Uuid {
    app.bank(staff, masterclass, 1, false).await[0].0
}

#[tokio::test]
async fn fields_merge_one_by_one_and_the_newer_clock_wins_whoever_arrives_last() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let masterclass = app.open_masterclass(&admin, "Fusion").await;
    let id = question(&app, &admin, &masterclass).await;
    let mut early = Device::new(admin.http.clone(), -60_000);
    let mut late = Device::new(admin.http.clone(), 0);

    // Offline: the early device (its clock a minute behind) edits the text and choice A; the
    // late one edits choice A and the status. The late one pushes first.
    early.mutate(
        "questions",
        id,
        "update",
        json!({"text": "Texte du premier appareil", "choice_a": "A du premier"}),
    );
    late.mutate(
        "questions",
        id,
        "update",
        json!({"choice_a": "A du second", "status": "approved"}),
    );
    late.push(10).await.unwrap();
    let (answer, _) = early.push(10).await.unwrap();
    // A field edited online afterwards wins over an offline edit made before it.
    let online = admin
        .send_json(
            Method::PUT,
            &format!("/api/admin/questions/{id}"),
            &json!({"masterclass_id": masterclass, "text": "Texte en ligne", "choices": ["A du second", "Choix B0", "Choix C0", "Choix D0"], "correct": "A", "status": "approved"}),
            &[],
        )
        .await;
    early.mutate(
        "questions",
        id,
        "update",
        json!({"text": "Encore le premier"}),
    );
    let stale = early.push(10).await.unwrap().0;
    late.catch_up(&app.db().await, 100).await;

    assert_eq!(
        answer.synced_count, 1,
        "the text won, so the mutation applied"
    );
    assert_eq!(online.status, StatusCode::OK);
    assert_eq!(stale.synced_count, 1, "applied: its field simply lost");
    let q = &late.records("questions")[&id];
    assert_eq!(q["text"], "Texte en ligne", "{q:?}");
    assert_eq!(q["choice_a"], "A du second", "the newer clock won choice A");
    assert_eq!(q["status"], "approved");
}

/// A write that moves a clock and nothing else is a change: devices that merge by clock need
/// the newer clock (or they later accept an older offline write as the winner); a write that
/// loses every field moves nothing and gives nothing to pull.
#[tokio::test]
async fn a_write_that_only_moves_a_clock_is_pulled_and_one_that_loses_is_not() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let masterclass = app.open_masterclass(&admin, "Rien").await;
    let id = question(&app, &admin, &masterclass).await;
    let mut device = Device::new(admin.http.clone(), 0);
    let mut behind = Device::new(admin.http.clone(), -600_000);
    let mut watcher = Device::new(admin.http.clone(), 0);
    watcher.collections = Some("questions".into());
    let db = app.db().await;
    watcher.catch_up(&db, 100).await;
    let text = watcher.records("questions")[&id]["text"].clone();

    device.mutate("questions", id, "update", json!({"text": text}));
    let same = device.push(10).await.unwrap().0;
    let moved = watcher.catch_up(&db, 100).await;
    let clock_seen = watcher.pulled_clocks("questions", id)["text"].clone();
    behind.mutate("questions", id, "update", json!({"text": "Trop tard ?"}));
    let lost = behind.push(10).await.unwrap().0;
    let after_loss = watcher.catch_up(&db, 100).await;
    // Deleted twice: the second, newer delete's clock reaches a device holding the first.
    device.mutate("questions", id, "delete", json!({}));
    device.push(10).await.unwrap();
    watcher.catch_up(&db, 100).await;
    let first_delete = watcher.pulled_clocks("questions", id)["_deleted"].clone();
    let mut later = Device::new(admin.http.clone(), 60_000);
    later.mutate("questions", id, "delete", json!({}));
    later.push(10).await.unwrap();
    let second = watcher.catch_up(&db, 100).await;

    assert_eq!(statuses(&same), [("applied".to_owned(), None)]);
    assert_eq!(moved, 1, "the same value at a newer clock is pulled");
    assert_eq!(clock_seen, device.sent_hlc(0));
    assert_eq!(statuses(&lost), [("applied".to_owned(), None)]);
    assert_eq!(
        after_loss, 0,
        "a write that lost every field changed nothing"
    );
    assert_eq!(second, 1, "the newer delete is pulled");
    assert_eq!(
        watcher.pulled_clocks("questions", id)["_deleted"],
        later.sent_hlc(0)
    );
    assert_ne!(first_delete, later.sent_hlc(0));
}

/// A REST write never lowers a field's clock: a device running ahead (as far as allowed)
/// creates a question, staff edit it online, and a later device's update, whose clock is older
/// than the create's, loses to the online edit; a REST delete beats every field clock.
#[tokio::test]
async fn a_rest_write_orders_after_every_clock_the_record_holds() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let masterclass = app.open_masterclass(&admin, "Avance").await;
    let mut ahead = Device::new(admin.http.clone(), 180_000);
    let mut on_time = Device::new(admin.http.clone(), 0);
    let id = Uuid::new_v4();
    ahead.mutate("questions", id, "create", json!({
        "masterclass_id": masterclass, "text": "Question venue d'un appareil en avance ?",
        "choice_a": "Un", "choice_b": "Deux", "choice_c": "Trois", "choice_d": "Quatre", "correct": "A"}));
    ahead.push(10).await.unwrap();

    let online = admin
        .send_json(
            Method::PUT,
            &format!("/api/admin/questions/{id}"),
            &json!({"masterclass_id": masterclass, "text": "Texte corrigé en ligne ?",
                    "choices": ["Un", "Deux", "Trois", "Quatre"], "correct": "B", "status": "draft"}),
            &[],
        )
        .await;
    on_time.mutate(
        "questions",
        id,
        "update",
        json!({"text": "Texte d'un appareil à l'heure ?", "correct": "C"}),
    );
    let late = on_time.push(10).await.unwrap().0;
    let db = app.db().await;
    let row = db
        .query_one(
            "select t.text, k.correct, t.field_clocks from questions t
             join question_keys k on k.question_id = t.id where t.id = $1",
            &[&id],
        )
        .await
        .unwrap();
    let clocks: BTreeMap<String, String> = serde_json::from_value(row.get(2)).unwrap();

    ahead.mutate("questions", id, "update", json!({"status": "approved"}));
    ahead.push(10).await.unwrap();
    let deleted = admin
        .request(
            Method::DELETE,
            &format!("/api/admin/questions/{id}"),
            &[],
            None,
        )
        .await;
    let mut fresh = Device::new(admin.http.clone(), 0);
    fresh.collections = Some("questions".into());
    fresh.catch_up(&db, 100).await;
    let after_delete = fresh.pulled_clocks("questions", id);

    assert_eq!(online.status, StatusCode::OK);
    assert_eq!(statuses(&late), [("applied".to_owned(), None)]);
    assert_eq!(row.get::<_, String>(0), "Texte corrigé en ligne ?");
    assert_eq!(row.get::<_, String>(1), "B");
    let created = ahead.sent_hlc(0);
    assert!(
        clocks["text"] > created && clocks["correct"] > created,
        "{clocks:?}"
    );
    assert!(deleted.status.is_success(), "{}", deleted.status);
    assert!(fresh.records("questions").is_empty(), "the delete wins");
    let delete_clock = &after_delete["_deleted"];
    assert!(
        after_delete
            .iter()
            .all(|(f, c)| f == "_deleted" || c < delete_clock),
        "{after_delete:?}"
    );
}

/// One tick past a clock whose counter is full is the next millisecond's first: a REST write
/// after it still orders after it.
#[tokio::test]
async fn a_rest_write_after_a_full_counter_takes_the_next_millisecond() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let masterclass = app.open_masterclass(&admin, "Compteur").await;
    let id = question(&app, &admin, &masterclass).await;
    let db = app.db().await;
    let wall = now_ms() + 200_000;
    let full = format!("{wall:013}-99999-zzzz");
    db.execute(
        "update questions set field_clocks = jsonb_build_object('text', $2::text) where id = $1",
        &[&id, &full],
    )
    .await
    .unwrap();

    let answer = admin
        .send_json(
            Method::PUT,
            &format!("/api/admin/questions/{id}"),
            &json!({"masterclass_id": masterclass, "text": "Après le compteur plein ?",
                    "choices": ["Choix A0", "Choix B0", "Choix C0", "Choix D0"], "correct": "A",
                    "status": "draft"}),
            &[],
        )
        .await;
    let clocks: Value = db
        .query_one("select field_clocks from questions where id = $1", &[&id])
        .await
        .unwrap()
        .get(0);

    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(clocks["text"], format!("{:013}-00000-server", wall + 1));
    assert!(clocks["text"].as_str().unwrap() > full.as_str());
}

/// Taken off a published masterclass, a tutor's device drops its inscriptions and questions
/// and gets the masterclass itself again in the same page, as a fresh pull has it.
#[tokio::test]
async fn an_unassigned_tutor_keeps_the_published_masterclass_it_still_sees() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let published = app.open_masterclass(&admin, "Publiée").await;
    let tutor = app.tutor(&admin, &[&published]).await;
    question(&app, &admin, &published).await;
    let mut tablet = Device::new(tutor.http.clone(), 0);
    let db = app.db().await;
    tablet.catch_up(&db, 100).await;
    let had = tablet.records("questions").len();

    admin
        .request(
            Method::DELETE,
            &format!("/api/admin/users/{}/masterclasses/{published}", tutor.id),
            &[],
            None,
        )
        .await;
    let page = tablet.pull_page(100).await;
    tablet.catch_up(&db, 100).await;
    let mut fresh = Device::new(tutor.http.clone(), 0);
    fresh.catch_up(&db, 100).await;

    let id: Uuid = published.parse().unwrap();
    assert_eq!(had, 1);
    assert_eq!(page.drops, [id]);
    assert!(
        page.changes
            .iter()
            .any(|c| c.id == id && c.op == shared::sync::ChangeOp::Upsert),
        "{page:?}"
    );
    assert!(tablet.records("questions").is_empty());
    assert_eq!(tablet.state, fresh.state);
    assert!(tablet.records("masterclasses").contains_key(&id));
}

/// A rejected mutation resent after a lost answer is answered as the first time (rejected,
/// with its reason), so the device knows which optimistic write to undo; an applied one is a
/// duplicate.
#[tokio::test]
async fn a_resent_mutation_repeats_its_first_fate() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let device = Device::new(admin.http.clone(), 0);
    let mut queue = device;
    queue.mutate(
        "documents",
        Uuid::new_v4(),
        "create",
        json!({"key": "brouillon", "value": 1}),
    );
    queue.mutate(
        "documents",
        Uuid::new_v4(),
        "create",
        json!({"key": "brouillon", "value": 2}),
    );
    let batch = queue.queue.clone();

    let first: PushResponse = queue.send(&batch).await.json();
    let again: PushResponse = queue.send(&batch).await.json();
    let twice_in_one: PushResponse = queue
        .send(&[batch[1].clone(), batch[1].clone()])
        .await
        .json();

    assert_eq!(
        statuses(&first),
        [
            ("applied".to_owned(), None),
            ("rejected".to_owned(), Some("conflict".to_owned()))
        ]
    );
    assert_eq!(
        statuses(&again),
        [
            ("duplicate".to_owned(), None),
            ("rejected".to_owned(), Some("conflict".to_owned()))
        ]
    );
    assert_eq!(again.results[1], first.results[1]);
    assert_eq!(
        twice_in_one.results,
        [first.results[1].clone(), first.results[1].clone()]
    );
    assert_eq!(again.last_mutation_id, 2);
    // A new mutation sent twice in one batch: the second is answered as the first.
    let unknown = queue.mutate("documents", Uuid::new_v4(), "update", json!({"value": 3}));
    let doubled: PushResponse = queue.send(&[unknown.clone(), unknown]).await.json();
    assert_eq!(
        statuses(&doubled),
        [
            ("rejected".to_owned(), Some("conflict".to_owned())),
            ("rejected".to_owned(), Some("conflict".to_owned()))
        ]
    );
    assert_eq!(doubled.results[0], doubled.results[1]);
}

/// An admin's device keeps its cursor when its account is made a tutor: the next pull drops
/// every masterclass outside the new scope (and sends back those still public), so the device
/// holds what a fresh pull of the tutor holds.
#[tokio::test]
async fn an_admin_made_a_tutor_drops_what_the_tutor_may_not_see() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let kept = app.open_masterclass(&admin, "Gardée").await;
    let public = app.open_masterclass(&admin, "Publique").await;
    let draft = app.masterclass(&admin, "Brouillon", false).await;
    for masterclass in [&kept, &public, &draft] {
        question(&app, &admin, masterclass).await;
    }
    let person = app.tutor(&admin, &[]).await;
    let path = format!("/api/admin/users/{}", person.id);
    let promoted = admin.patch_json(&path, &json!({"role": "admin"})).await;
    assert_eq!(promoted.status, StatusCode::OK);
    let as_admin = app
        .sign_in(&person.email, e2e_tests::PASSWORD)
        .await
        .value();
    let mut device = Device::new(
        person
            .http
            .with_bearer(as_admin["access_token"].as_str().unwrap()),
        0,
    );
    let db = app.db().await;
    device.catch_up(&db, 100).await;
    let held_as_admin = device.records("questions").len();

    admin.patch_json(&path, &json!({"role": "tuteur"})).await;
    admin
        .request(
            Method::PUT,
            &format!("{path}/masterclasses/{kept}"),
            &[],
            None,
        )
        .await;
    let as_tutor = app
        .sign_in(&person.email, e2e_tests::PASSWORD)
        .await
        .value();
    device.http = person
        .http
        .with_bearer(as_tutor["access_token"].as_str().unwrap());
    let page = device.pull_page(100).await;
    device.catch_up(&db, 100).await;
    let mut fresh = Device::new(device.http.clone(), 0);
    fresh.catch_up(&db, 100).await;

    assert_eq!(held_as_admin, 3);
    let dropped: Vec<String> = page.drops.iter().map(Uuid::to_string).collect();
    assert!(
        dropped.contains(&public) && dropped.contains(&draft) && !dropped.contains(&kept),
        "{dropped:?}"
    );
    assert_eq!(device.state, fresh.state);
    assert_eq!(device.records("questions").len(), 1);
}

/// Every push answer carries the record as the server now holds it, fields and clocks, whatever
/// the mutation's fate, so a device whose write lost (or was refused) learns the winner without
/// waiting for a pull; and a record created through REST pulls with a clock for every field a
/// device writes.
#[tokio::test]
async fn a_push_answer_carries_each_record_as_the_server_holds_it() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let masterclass = app.open_masterclass(&admin, "Réponses").await;
    let id = question(&app, &admin, &masterclass).await;
    let mut watcher = Device::new(admin.http.clone(), 0);
    watcher.collections = Some("questions".into());
    let db = app.db().await;
    watcher.catch_up(&db, 100).await;
    let rest_clocks = watcher.pulled_clocks("questions", id);

    let mut behind = Device::new(admin.http.clone(), -60_000);
    let mut ahead = Device::new(admin.http.clone(), 0);
    behind.mutate(
        "questions",
        id,
        "update",
        json!({"text": "Écrit hors ligne, plus tôt ?"}),
    );
    ahead.mutate(
        "questions",
        id,
        "update",
        json!({"text": "Écrit plus tard, gagnant ?"}),
    );
    ahead.push(10).await.unwrap();
    behind.mutate(
        "documents",
        Uuid::new_v4(),
        "create",
        json!({"key": "k", "value": 1}),
    );
    behind.mutate(
        "documents",
        Uuid::new_v4(),
        "create",
        json!({"key": "k", "value": 2}),
    );
    let answer = behind.push(10).await.unwrap().0;
    ahead.mutate("questions", id, "delete", json!({}));
    let deleted = ahead.push(10).await.unwrap().0;

    for field in [
        "masterclass_id",
        "text",
        "choice_a",
        "choice_b",
        "choice_c",
        "choice_d",
        "correct",
        "status",
    ] {
        assert!(rest_clocks.contains_key(field), "{field}: {rest_clocks:?}");
    }
    let lost = answer.results[0].record.as_ref().unwrap();
    assert_eq!(statuses(&answer)[0], ("applied".to_owned(), None));
    assert_eq!(lost.op, shared::sync::ChangeOp::Upsert);
    assert_eq!(
        lost.fields.as_ref().unwrap()["text"],
        "Écrit plus tard, gagnant ?"
    );
    assert_eq!(lost.clocks.as_ref().unwrap()["text"], ahead.sent_hlc(0));
    let kept = answer.results[1].record.as_ref().unwrap();
    assert_eq!(kept.op, shared::sync::ChangeOp::Upsert);
    assert_eq!(kept.fields.as_ref().unwrap()["value"], 1);
    let refused = answer.results[2].record.as_ref().unwrap();
    assert_eq!(statuses(&answer)[2].0, "rejected");
    assert_eq!(
        (refused.op, refused.clocks.is_none()),
        (shared::sync::ChangeOp::Delete, true)
    );
    let gone = deleted.results[0].record.as_ref().unwrap();
    assert_eq!(gone.op, shared::sync::ChangeOp::Delete);
    assert_eq!(gone.clocks.as_ref().unwrap()["_deleted"], ahead.sent_hlc(1));
}

/// A document's 64 KiB are measured on its value as compact JSON: a value just under that is
/// kept however Postgres prints it (with a space after each comma), one byte over is refused.
#[tokio::test]
async fn the_document_limit_is_the_value_s_compact_json() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let mut device = Device::new(admin.http.clone(), 0);
    let under = json!(vec![1; 32_000]);
    let compact = serde_json::to_vec(&under).unwrap().len();
    let over = json!("x".repeat(shared::sync::MAX_DOCUMENT_BYTES - 1));
    device.mutate(
        "documents",
        Uuid::new_v4(),
        "create",
        json!({"key": "liste", "value": under}),
    );
    device.mutate(
        "documents",
        Uuid::new_v4(),
        "create",
        json!({"key": "texte", "value": over}),
    );
    let answer = device.push(10).await.unwrap().0;

    assert!(compact <= shared::sync::MAX_DOCUMENT_BYTES && compact * 3 / 2 > 65_536);
    assert_eq!(
        statuses(&answer),
        [
            ("applied".to_owned(), None),
            ("rejected".to_owned(), Some("validation".to_owned()))
        ],
        "{answer:?}"
    );
    assert_eq!(answer.results[1].errors[0].field, "fields.value");
}

/// Only staff of a masterclass register at its desk, and a registration's clock is believed
/// only within the offline window: a clock a day old cannot register into a masterclass whose
/// registration closed an hour ago, while one an hour and a half old, from before the close,
/// can. The audit keeps the clock, the arrival and the time it was judged at.
#[tokio::test]
async fn only_its_staff_register_at_a_desk_and_an_old_clock_is_not_believed() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let open = app.open_masterclass(&admin, "Ouverte").await;
    let started = started_masterclass(&admin, "Commencée").await;
    let stranger = app.tutor(&admin, &[]).await;
    let staff = app.tutor(&admin, &[&started]).await;
    let person = |masterclass: &str, number: &str| {
        json!({"masterclass_id": masterclass, "full_name": "Jeanne Ndong",
               "date_of_birth": "2001-05-06", "whatsapp_number": number, "consent": true})
    };
    let mut outsider = Device::new(stranger.http.clone(), 0);
    outsider.mutate(
        "inscriptions",
        Uuid::new_v4(),
        "create",
        person(&open, "+241 06 71 00 01"),
    );
    let refused = outsider.push(10).await.unwrap().0;
    let mut day_old = Device::new(staff.http.clone(), -86_400_000);
    day_old.mutate(
        "inscriptions",
        Uuid::new_v4(),
        "create",
        person(&started, "+241 06 71 00 02"),
    );
    let stale = day_old.push(10).await.unwrap().0;
    let mut earlier = Device::new(staff.http.clone(), -90 * 60_000);
    let on_time = Uuid::new_v4();
    earlier.mutate(
        "inscriptions",
        on_time,
        "create",
        person(&started, "+241 06 71 00 03"),
    );
    let kept = earlier.push(10).await.unwrap().0;
    let db = app.db().await;
    let audit: Value = db
        .query_one(
            "select details from audit_log where action = 'inscription.registered_at_desk'
             and entity_id = $1",
            &[&on_time.to_string()],
        )
        .await
        .unwrap()
        .get(0);

    assert_eq!(
        statuses(&refused),
        [("rejected".to_owned(), Some("forbidden".to_owned()))]
    );
    assert_eq!(
        statuses(&stale),
        [("rejected".to_owned(), Some("conflict".to_owned()))]
    );
    assert!(
        stale.results[0]
            .detail
            .as_deref()
            .unwrap()
            .starts_with("registration_closed")
    );
    assert_eq!(statuses(&kept), [("applied".to_owned(), None)], "{kept:?}");
    assert_eq!(audit["hlc"], earlier.sent_hlc(0));
    assert!(
        audit["arrived_at"].as_str().unwrap() > audit["judged_at"].as_str().unwrap(),
        "{audit}"
    );
    let registered: i64 = db
        .query_one(
            "select count(*) from inscriptions where full_name = 'Jeanne Ndong'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(registered, 1);
}

/// A published masterclass that started an hour ago (registration closes at its start).
async fn started_masterclass(admin: &e2e_tests::StaffSession, title: &str) -> String {
    let starts = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
    let fmt = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    let response = admin
        .post_json(
            "/api/masterclasses",
            &json!({"title": title, "starts_at": fmt(starts),
                    "ends_at": fmt(starts + time::Duration::hours(3)), "published": true}),
        )
        .await;
    assert_eq!(response.status, StatusCode::CREATED);
    response.value()["id"].as_str().unwrap().to_owned()
}

/// A tutor taken off a masterclass who still pushes to it meets `forbidden`, for the records it
/// held and for new ones alike; a record that never was is `unknown_record`; `attempts` is for
/// instances only.
#[tokio::test]
async fn a_removed_tutor_s_writes_are_forbidden_and_unknown_records_unknown() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let masterclass = app.open_masterclass(&admin, "Retirée").await;
    let tutor = app.tutor(&admin, &[&masterclass]).await;
    let held = question(&app, &admin, &masterclass).await;
    let mut desk = Device::new(tutor.http.clone(), 0);
    let student = Uuid::new_v4();
    desk.mutate(
        "inscriptions",
        student,
        "create",
        json!({"masterclass_id": masterclass,
        "full_name": "Paul Obame", "date_of_birth": "2000-01-02",
        "whatsapp_number": "+241 06 72 00 01", "consent": true}),
    );
    desk.push(10).await.unwrap();
    admin
        .request(
            Method::DELETE,
            &format!("/api/admin/users/{}/masterclasses/{masterclass}", tutor.id),
            &[],
            None,
        )
        .await;

    desk.mutate(
        "questions",
        held,
        "update",
        json!({"text": "Encore à moi ?"}),
    );
    desk.mutate("questions", held, "delete", json!({}));
    desk.mutate("inscriptions", student, "update", json!({"attended": true}));
    desk.mutate(
        "questions",
        Uuid::new_v4(),
        "create",
        json!({"masterclass_id": masterclass,
        "text": "Une nouvelle question ?", "choice_a": "a", "choice_b": "b", "choice_c": "c",
        "choice_d": "d", "correct": "A"}),
    );
    desk.mutate(
        "questions",
        Uuid::new_v4(),
        "update",
        json!({"text": "Personne ?"}),
    );
    desk.mutate("attempts", Uuid::new_v4(), "create", json!({}));
    let answer = desk.push(10).await.unwrap().0;
    let pull = tutor.get("/api/sync/pull?collections=attempts").await;

    let forbidden = ("rejected".to_owned(), Some("forbidden".to_owned()));
    assert_eq!(
        statuses(&answer),
        [
            forbidden.clone(),
            forbidden.clone(),
            forbidden.clone(),
            forbidden.clone(),
            ("rejected".to_owned(), Some("conflict".to_owned())),
            forbidden,
        ],
        "{answer:?}"
    );
    assert!(
        answer.results[4]
            .detail
            .as_deref()
            .unwrap()
            .starts_with("unknown_record")
    );
    pull.assert_problem(StatusCode::FORBIDDEN, "forbidden");
}

#[tokio::test]
async fn bad_mutations_are_rejected_one_by_one_and_the_good_ones_still_apply() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let masterclass = app.open_masterclass(&admin, "Rejets").await;
    let id = question(&app, &admin, &masterclass).await;
    let mut device = Device::new(admin.http.clone(), 0);
    let doc = Uuid::new_v4();
    let future = shared::sync::Hlc::new(now_ms() + MAX_AHEAD_MS + 60_000, 0, "x").unwrap();

    device.mutate("agenda", Uuid::new_v4(), "create", json!({}));
    device.mutate("questions", id, "update", json!({"used": false}));
    device.mutate(
        "masterclasses",
        masterclass.parse().unwrap(),
        "update",
        json!({}),
    );
    device.mutate(
        "documents",
        doc,
        "create",
        json!({"key": "k", "value": "x".repeat(70_000)}),
    );
    device.mutate(
        "questions",
        Uuid::new_v4(),
        "update",
        json!({"text": "Personne ici ?"}),
    );
    device.mutate("documents", doc, "create", json!({"key": "ok", "value": 1}));
    let mut queue = device.queue.clone();
    queue.push(json!({"mutation_id": 7, "collection": "documents", "record_id": Uuid::new_v4(),
                      "op": "create", "fields": {"key": "futur", "value": 2}, "hlc": future.to_string()}));
    let answer: PushResponse = device.send(&queue).await.json();

    let reasons: Vec<Option<String>> = answer.results.iter().map(|r| r.reason.clone()).collect();
    assert_eq!(
        reasons,
        [
            Some("unknown_collection".into()),
            Some("validation".into()),
            Some("forbidden".into()),
            Some("validation".into()),
            Some("conflict".into()),
            None,
            Some("validation".into()),
        ],
        "{answer:?}"
    );
    assert_eq!(answer.results[1].errors[0].field, "fields.used");
    assert_eq!(answer.results[6].errors[0].field, "hlc");
    assert_eq!(
        (
            answer.synced_count,
            answer.error_count,
            answer.last_mutation_id
        ),
        (1, 6, 7)
    );
    let db = app.db().await;
    let keys: Vec<String> = db
        .query("select key from documents", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(keys, ["ok"]);
}

#[tokio::test]
async fn requests_outside_the_limits_are_clear_4xx() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let masterclass = app.open_masterclass(&admin, "Limites").await;
    let student = app.student(&masterclass, "Awa Ndong").await;
    let mut device = Device::new(admin.http.clone(), 0);
    for i in 0..501 {
        device.mutate(
            "documents",
            Uuid::new_v4(),
            "create",
            json!({"key": format!("k{i}"), "value": i}),
        );
    }

    device
        .send(&device.queue)
        .await
        .assert_problem(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    admin
        .get("/api/sync/pull?limit=0")
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    admin
        .get("/api/sync/pull?cursor=nope")
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    admin
        .get("/api/sync/pull?collections=agenda")
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    student
        .get("/api/sync/pull?collections=questions")
        .await
        .assert_problem(StatusCode::FORBIDDEN, "forbidden");
    app.get("/api/sync/pull")
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    assert_eq!(app.count("documents").await, 0);
}

#[tokio::test]
async fn a_desk_registers_offline_through_the_rules_of_the_registration_route() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let masterclass = app.open_masterclass(&admin, "Accueil").await;
    let tutor = app.tutor(&admin, &[&masterclass]).await;
    let mut desk = Device::new(tutor.http.clone(), 0);
    let (first, twin) = (Uuid::new_v4(), Uuid::new_v4());
    let person = json!({"masterclass_id": masterclass, "full_name": "Éloïse Mba",
                        "date_of_birth": "2002-03-04", "whatsapp_number": "+241 06 61 23 45", "consent": true});

    desk.mutate("inscriptions", first, "create", person.clone());
    desk.mutate("inscriptions", twin, "create", person.clone());
    desk.mutate(
        "inscriptions",
        Uuid::new_v4(),
        "create",
        json!({"masterclass_id": masterclass, "full_name": "X", "consent": false}),
    );
    desk.mutate("inscriptions", first, "update", json!({"attended": true}));
    let answer = desk.push(10).await.unwrap().0;
    let db = app.db().await;
    desk.catch_up(&db, 100).await;

    assert_eq!(
        statuses(&answer)
            .iter()
            .map(|(s, r)| format!("{s}/{}", r.clone().unwrap_or_default()))
            .collect::<Vec<_>>(),
        [
            "applied/",
            "rejected/conflict",
            "rejected/validation",
            "applied/"
        ],
        "{answer:?}"
    );
    assert!(
        answer.results[1]
            .detail
            .as_deref()
            .unwrap()
            .starts_with("already_registered")
    );
    let fields: Vec<&str> = answer.results[2]
        .errors
        .iter()
        .map(|e| e.field.as_str())
        .collect();
    assert!(
        fields.contains(&"fields.consent") && fields.contains(&"fields.whatsapp_number"),
        "{fields:?}"
    );
    let held = desk.records("inscriptions");
    assert_eq!(held.len(), 1);
    assert_eq!(held[&first]["attended"], true);
    assert_eq!(held[&first]["whatsapp_number"], "+24106612345");
    let queued: i64 = db
        .query_one("select count(*) from outbox_messages where inscription_id = $1 and message_type = 'registration_confirmed'", &[&first])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        queued, 1,
        "the confirmation is queued in the same transaction"
    );
    let validated_by: Option<Uuid> = db
        .query_one(
            "select attendance_validated_by from inscriptions where id = $1",
            &[&first],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(validated_by, Some(tutor.id));
}

#[tokio::test]
async fn an_unassigned_tutor_s_next_pull_drops_the_masterclass_and_an_archived_question_goes() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let kept = app.masterclass(&admin, "Gardée", false).await;
    let lost = app.masterclass(&admin, "Perdue", false).await;
    let tutor = app.tutor(&admin, &[&kept, &lost]).await;
    let archived = question(&app, &admin, &kept).await;
    question(&app, &admin, &lost).await;
    let mut tablet = Device::new(tutor.http.clone(), 0);
    let db = app.db().await;
    tablet.catch_up(&db, 100).await;
    let before = tablet.records("questions").len();

    admin
        .request(
            Method::DELETE,
            &format!("/api/admin/users/{}/masterclasses/{lost}", tutor.id),
            &[],
            None,
        )
        .await;
    admin
        .send_json(Method::PUT, &format!("/api/admin/questions/{archived}"),
            &json!({"masterclass_id": kept, "text": "Question 0 : quel est le bon choix ?", "choices": ["Choix A0", "Choix B0", "Choix C0", "Choix D0"], "correct": "A", "status": "archived"}), &[])
        .await;
    let page = tablet.pull_page(100).await;
    tablet.catch_up(&db, 100).await;

    assert_eq!(before, 2);
    assert_eq!(page.drops, [lost.parse::<Uuid>().unwrap()]);
    assert!(
        tablet.records("questions").is_empty(),
        "{:?}",
        tablet.records("questions")
    );
    let masterclasses = tablet.records("masterclasses");
    assert_eq!(
        masterclasses.keys().copied().collect::<Vec<_>>(),
        [kept.parse::<Uuid>().unwrap()]
    );
}

/// A pull carries each field's clock: the device's for what it wrote, the server's for what a
/// REST route changed, so a device with unpushed edits can merge the way the server does.
#[tokio::test]
async fn a_pull_carries_the_clock_of_each_field_s_last_write() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let masterclass = app.open_masterclass(&admin, "Horloges").await;
    let id = question(&app, &admin, &masterclass).await;
    let text = "Quelle est la bonne réponse, ici ?";
    let mut tablet = Device::new(admin.http.clone(), 0);
    tablet.mutate("questions", id, "update", json!({ "text": text }));
    let pushed = tablet.queue[0]["hlc"].as_str().unwrap().to_owned();
    tablet.push_all(10).await;
    let approved = admin
        .send_json(
            Method::PUT,
            &format!("/api/admin/questions/{id}"),
            &json!({"masterclass_id": masterclass, "text": text,
                    "choices": ["Choix A0", "Choix B0", "Choix C0", "Choix D0"],
                    "correct": "A", "status": "approved"}),
            &[],
        )
        .await;
    assert_eq!(approved.status, StatusCode::OK, "{approved:?}");
    let mut reader = Device::new(admin.http.clone(), 0);
    reader.collections = Some("questions".into());
    reader.catch_up(&app.db().await, 100).await;

    let page: shared::sync::PullResponse = admin
        .get("/api/sync/pull?collections=questions&limit=100")
        .await
        .json();
    let change = page
        .changes
        .iter()
        .find(|c| c.id == id)
        .expect("the question is pulled");
    let clocks = change.clocks.as_ref().expect("an upsert carries clocks");
    assert_eq!(clocks["text"], json!(pushed), "{clocks}");
    let status = clocks["status"].as_str().unwrap_or_default();
    assert!(
        status.ends_with("-server") && status > pushed.as_str(),
        "{clocks}"
    );
    assert_eq!(change.fields.as_ref().unwrap()["status"], json!("approved"));
}

/// Document creates are written many to a statement; a taken key or an id that exists makes the
/// statement fail or fall short, and then each create answers exactly as if applied alone.
#[tokio::test]
async fn document_creates_written_together_still_answer_one_by_one() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let mut device = Device::new(admin.http.clone(), 0);
    let existing = Uuid::new_v4();
    device.mutate(
        "documents",
        existing,
        "create",
        json!({"key": "déjà", "value": 0}),
    );
    device.push_all(10).await;
    let mut batch = Vec::new();
    for (id, key) in [
        (Uuid::new_v4(), "a"),
        (Uuid::new_v4(), "déjà"),
        (Uuid::new_v4(), "b"),
        (existing, "c"),
        (Uuid::new_v4(), "a"),
        (Uuid::new_v4(), "d"),
    ] {
        device.mutate("documents", id, "create", json!({"key": key, "value": 1}));
        batch.push(id);
    }
    let answer: PushResponse = device.send(&device.queue.clone()).await.json();

    let statuses: Vec<String> = answer
        .results
        .iter()
        .map(|r| format!("{:?} {}", r.status, r.reason.clone().unwrap_or_default()))
        .collect();
    assert_eq!(
        statuses,
        [
            "Applied ",
            "Rejected conflict",
            "Applied ",
            "Applied ",
            "Rejected conflict",
            "Applied "
        ],
        "{answer:?}"
    );
    let db = app.db().await;
    let keys: Vec<(Uuid, String)> = db
        .query("select id, key from documents order by key", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        keys,
        [
            (batch[0], "a".to_owned()),
            (batch[2], "b".to_owned()),
            (existing, "c".to_owned()),
            (batch[5], "d".to_owned()),
        ]
    );
}

/// A masterclass unpublished or deleted leaves the view of those who saw it only because it was
/// public: their next pull drops it (row-level security hides the change itself), while a caller
/// who still sees it gets its new state. Published again, it comes back.
#[tokio::test]
async fn a_masterclass_unpublished_or_deleted_leaves_the_devices_of_those_who_no_longer_see_it() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let own = app.open_masterclass(&admin, "La mienne").await;
    let hidden = app.open_masterclass(&admin, "Retirée").await;
    let deleted = app.open_masterclass(&admin, "Supprimée").await;
    let student = app.student(&own, "Awa Ndong").await;
    let tutor = app.tutor(&admin, &[&own]).await;
    let db = app.db().await;
    let mut phone = Device::new(student.http.clone(), 0);
    let mut tablet = Device::new(tutor.http.clone(), 0);
    let mut office = Device::new(admin.http.clone(), 0);
    phone.collections = Some("masterclasses".into());
    tablet.collections = Some("masterclasses".into());
    office.collections = Some("masterclasses".into());
    let ids = |device: &Device| -> Vec<String> {
        let mut ids: Vec<String> = device
            .records("masterclasses")
            .keys()
            .map(Uuid::to_string)
            .collect();
        ids.sort();
        ids
    };
    let sorted = |mut v: Vec<&String>| {
        v.sort();
        v.into_iter().cloned().collect::<Vec<_>>()
    };
    for device in [&mut phone, &mut tablet, &mut office] {
        device.catch_up(&db, 2).await;
        assert_eq!(ids(device), sorted(vec![&own, &hidden, &deleted]));
    }

    admin
        .patch_json(
            &format!("/api/masterclasses/{hidden}"),
            &json!({ "published": false }),
        )
        .await;
    let gone = admin.delete(&format!("/api/masterclasses/{deleted}")).await;
    assert!(gone.status.is_success(), "{gone:?}");
    for device in [&mut phone, &mut tablet, &mut office] {
        device.catch_up(&db, 2).await;
    }

    assert_eq!(ids(&phone), sorted(vec![&own]));
    assert_eq!(ids(&tablet), sorted(vec![&own]));
    assert_eq!(ids(&office), sorted(vec![&own, &hidden]));
    assert_eq!(
        office.records("masterclasses")[&hidden.parse::<Uuid>().unwrap()]["published"],
        json!(false)
    );

    admin
        .patch_json(
            &format!("/api/masterclasses/{hidden}"),
            &json!({ "published": true }),
        )
        .await;
    phone.catch_up(&db, 2).await;
    assert_eq!(ids(&phone), sorted(vec![&own, &hidden]));
}

/// Writers whose transactions commit late, out of order, while a device pulls: every committed
/// row reaches it exactly once.
#[tokio::test]
async fn the_cursor_never_skips_a_transaction_that_commits_late() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let seed = std::env::var("SYNC_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random::<u64>);
    println!("cursor test seed {seed} (SYNC_SEED={seed} to replay)");
    let mut device = Device::new(admin.http.clone(), 0);
    device.collections = Some("documents".into());
    let writers = 8;
    let per_writer = 6;
    let mut handles = Vec::new();
    for w in 0..writers {
        let url = app.owner_url.clone();
        let owner = admin.id;
        handles.push(tokio::spawn(async move {
            use rand::{Rng, SeedableRng};
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ (w as u64 * 0x9e37_79b9));
            let (mut client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .unwrap();
            tokio::spawn(connection);
            let mut written = Vec::new();
            for i in 0..per_writer {
                let tx = client.transaction().await.unwrap();
                let id = Uuid::new_v4();
                // The row takes its version now and commits after a random delay: versions are
                // handed out in one order and committed in another.
                tx.execute(
                    "insert into documents (id, owner_id, key, value) values ($1, $2, $3, '1')",
                    &[&id, &owner, &format!("w{w}-{i}")],
                )
                .await
                .unwrap();
                tokio::time::sleep(std::time::Duration::from_millis(rng.random_range(0..120)))
                    .await;
                tx.commit().await.unwrap();
                written.push(id);
            }
            written
        }));
    }
    let db = app.db().await;
    let mut seen: BTreeMap<Uuid, usize> = BTreeMap::new();
    // Pull while the writers write; once all have committed, until the cursor passes them.
    let mut target: Option<u64> = None;
    loop {
        if target.is_none() && handles.iter().all(|h| h.is_finished()) {
            let xmax: String = db
                .query_one("select pg_snapshot_xmax(pg_current_snapshot())::text", &[])
                .await
                .unwrap()
                .get(0);
            target = Some(xmax.parse().unwrap());
        }
        let page = device.pull_page(3).await;
        for change in &page.changes {
            *seen.entry(change.id).or_default() += 1;
        }
        let reached = shared::sync::Cursor::decode(&page.next_cursor).unwrap().xid;
        if !page.has_more && target.is_some_and(|t| reached >= t) {
            break;
        }
        if !page.has_more {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }
    let mut written = Vec::new();
    for handle in handles {
        written.extend(handle.await.unwrap());
    }

    assert_eq!(written.len(), writers * per_writer);
    let missing: Vec<&Uuid> = written.iter().filter(|id| !seen.contains_key(id)).collect();
    assert!(missing.is_empty(), "seed {seed}: never pulled {missing:?}");
    let twice: Vec<(&Uuid, &usize)> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "seed {seed}: pulled more than once {twice:?}"
    );
}

/// The randomized convergence proof: devices of three tutors edit the same questions offline
/// and sync in every bad way a network allows, while staff edit and delete through the REST
/// routes and tutors are taken off the masterclass and put back; device clocks run up to two
/// minutes behind and nearly five ahead. Half the devices replace their copy with each change
/// they pull, half keep it and merge by clock. In the end every device holds what a fresh pull
/// holds, field by field and clock by clock, and every acknowledged write is there or lost to a
/// newer clock.
#[tokio::test]
async fn devices_converge_whatever_the_order_retries_and_losses() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let seeds: u64 = std::env::var("SYNC_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let first: u64 = std::env::var("SYNC_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::random::<u32>().into());
    println!(
        "convergence: seeds {first}..{} (SYNC_SEED=<seed> SYNC_SEEDS=1 replays one)",
        first + seeds
    );
    let tutors = [
        app.tutor(&admin, &[]).await,
        app.tutor(&admin, &[]).await,
        app.tutor(&admin, &[]).await,
    ];
    let mut previous: Option<String> = None;
    for seed in first..first + seeds {
        // Each seed on a masterclass of its own, staffed by the three tutors alone.
        let masterclass = app
            .masterclass(&admin, &format!("Convergence {seed}"), false)
            .await;
        for tutor in &tutors {
            assign(&admin, tutor, &masterclass, true).await;
            if let Some(previous) = &previous {
                assign(&admin, tutor, previous, false).await;
            }
        }
        previous = Some(masterclass.clone());
        converge_once(&app, seed, &admin, &tutors, &masterclass).await;
    }
}

async fn assign(
    admin: &e2e_tests::StaffSession,
    tutor: &e2e_tests::StaffSession,
    masterclass: &str,
    on: bool,
) {
    let path = format!("/api/admin/users/{}/masterclasses/{masterclass}", tutor.id);
    let method = if on { Method::PUT } else { Method::DELETE };
    let answer = admin.request(method, &path, &[], None).await;
    assert!(answer.status.is_success(), "{path}: {}", answer.status);
}

const COMPARED: [&str; 5] = ["text", "choice_a", "choice_b", "status", "correct"];

async fn converge_once(
    app: &TestApp,
    seed: u64,
    admin: &e2e_tests::StaffSession,
    tutors: &[e2e_tests::StaffSession],
    masterclass: &str,
) {
    use rand::{Rng, SeedableRng, seq::IndexedRandom};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    // Two devices for the first tutor, one for each other; every other device merges.
    let owners: Vec<usize> = (0..tutors.len()).chain([0]).collect();
    let mut devices: Vec<Device> = owners
        .iter()
        .enumerate()
        .map(|(i, &t)| {
            let mut d = Device::new(tutors[t].http.clone(), rng.random_range(-120_000..290_000));
            d.collections = Some("questions".into());
            d.model = if i % 2 == 0 {
                Model::Merge
            } else {
                Model::Replace
            };
            d
        })
        .collect();
    let mut assigned = vec![true; tutors.len()];
    let db = app.db().await;
    let mut mine: Vec<Vec<Uuid>> = vec![Vec::new(); devices.len()];
    let mut applied: Vec<Applied> = Vec::new();
    for n in 0..rng.random_range(8..28) {
        let d = rng.random_range(0..devices.len());
        if rng.random_range(0..14) == 0 {
            // A tutor taken off the masterclass, or put back.
            let t = owners[d];
            assigned[t] = !assigned[t];
            assign(admin, &tutors[t], masterclass, assigned[t]).await;
            continue;
        }
        if rng.random_range(0..8) == 0 {
            rest_write(
                admin,
                &db,
                &mut rng,
                masterclass,
                &format!("{seed}-rest-{n}"),
            )
            .await;
            continue;
        }
        let unique = format!("{seed}-{d}-{n}");
        let known: Vec<Uuid> = devices[d]
            .records("questions")
            .keys()
            .copied()
            .chain(mine[d].iter().copied())
            .collect();
        match rng.random_range(0..10) {
            0 | 1 => {
                let id = Uuid::new_v4();
                mine[d].push(id);
                devices[d].mutate(
                    "questions",
                    id,
                    "create",
                    json!({
                    "masterclass_id": masterclass, "text": format!("Question {unique} ?"),
                    "choice_a": format!("a {unique}"), "choice_b": format!("b {unique}"),
                    "choice_c": format!("c {unique}"), "choice_d": format!("d {unique}"),
                    "correct": "A"}),
                );
            }
            2..=4 if !known.is_empty() => {
                let id = *known.choose(&mut rng).unwrap();
                let mut fields = serde_json::Map::new();
                for field in COMPARED {
                    if rng.random_bool(0.5) {
                        let value = match field {
                            "text" => json!(format!("Texte {unique} ?")),
                            "status" => {
                                json!(["draft", "approved", "archived"].choose(&mut rng).unwrap())
                            }
                            "correct" => json!(["A", "B", "C", "D"].choose(&mut rng).unwrap()),
                            _ => json!(format!("{field} {unique}")),
                        };
                        fields.insert(field.into(), value);
                    }
                }
                devices[d].mutate("questions", id, "update", Value::Object(fields));
            }
            5 if !known.is_empty() => {
                let id = *known.choose(&mut rng).unwrap();
                devices[d].mutate("questions", id, "delete", json!({}));
            }
            6 | 7 => {
                let queue = devices[d].queue.clone();
                if queue.is_empty() {
                    continue;
                }
                let take = rng.random_range(1..=queue.len());
                match rng.random_range(0..4) {
                    0 => {
                        // The answer is lost: the mutations stay queued and go again later
                        // (then as duplicates), but the server applied them now.
                        let answer = devices[d].send(&queue[..take]).await;
                        assert_eq!(answer.status, StatusCode::OK, "seed {seed}");
                        applied.extend(applied_by(&queue[..take], &answer.json()));
                    }
                    1 if take < queue.len() => {
                        // A later batch overtakes an earlier one: refused as a gap.
                        let answer = devices[d].send(&queue[take..]).await;
                        match answer.status {
                            StatusCode::CONFLICT => {}
                            StatusCode::OK => applied
                                .extend(devices[d].acknowledge(&queue[take..], &answer.json())),
                            other => panic!("seed {seed}: {other}"),
                        }
                    }
                    _ => {
                        if let Some((_, now)) = devices[d].push(take).await {
                            applied.extend(now);
                        }
                    }
                }
            }
            _ => {
                devices[d].pull_page(rng.random_range(1..5)).await;
            }
        }
    }
    for (t, on) in assigned.iter().enumerate() {
        if !on {
            assign(admin, &tutors[t], masterclass, true).await;
        }
    }
    for device in &mut devices {
        applied.extend(device.push_all(rng.random_range(1..6)).await);
    }
    for device in &mut devices {
        device.catch_up(&db, rng.random_range(1..8)).await;
    }
    for (i, device) in devices.iter().enumerate() {
        let mut fresh = Device::new(tutors[owners[i]].http.clone(), 0);
        fresh.collections = Some("questions".into());
        fresh.catch_up(&db, 500).await;
        assert_eq!(
            device.records("questions"),
            fresh.records("questions"),
            "seed {seed}: device {i} ({:?}) differs from a fresh pull",
            device.model
        );
        // Clock by clock, tombstones included.
        assert_eq!(
            device.clocks, fresh.clocks,
            "seed {seed}: device {i} ({:?}) holds other clocks",
            device.model
        );
    }

    let rows = db
        .query(
            "select t.id, t.text, t.choice_a, t.choice_b, t.status, k.correct, t.field_clocks,
                    t.deleted_at is not null or t.status = 'archived' as gone
             from questions t join question_keys k on k.question_id = t.id
             where t.masterclass_id = $1::text::uuid",
            &[&masterclass],
        )
        .await
        .unwrap();
    let compared = |get: &dyn Fn(&str) -> Value| -> Value {
        Value::Object(COMPARED.iter().map(|f| ((*f).to_owned(), get(f))).collect())
    };
    let server: BTreeMap<Uuid, Value> = rows
        .iter()
        .filter(|r| !r.get::<_, bool>("gone"))
        .map(|r| (r.get("id"), compared(&|f| json!(r.get::<_, String>(f)))))
        .collect();
    for (i, device) in devices.iter().enumerate() {
        let held: BTreeMap<Uuid, Value> = device
            .records("questions")
            .into_iter()
            .map(|(id, r)| (id, compared(&|f| r[f].clone())))
            .collect();
        assert_eq!(
            held, server,
            "seed {seed}: device {i} differs from the server"
        );
        assert!(device.queue.is_empty(), "seed {seed}");
    }
    let stored: BTreeMap<Uuid, (Value, BTreeMap<String, String>)> = rows
        .iter()
        .map(|r| {
            let clocks: Value = r.get("field_clocks");
            (
                r.get("id"),
                (
                    compared(&|f| json!(r.get::<_, String>(f))),
                    serde_json::from_value(clocks).unwrap(),
                ),
            )
        })
        .collect();
    for write in &applied {
        let (values, clocks) = &stored[&write.record_id];
        let fields: Vec<&str> = if write.op == "delete" {
            vec!["_deleted"]
        } else {
            write
                .fields
                .keys()
                .map(String::as_str)
                .filter(|f| COMPARED.contains(f))
                .collect()
        };
        for field in fields {
            let clock: shared::sync::Hlc = clocks[field].parse().unwrap();
            assert!(
                clock >= write.hlc,
                "seed {seed}: {field} of {} lost the write at {}",
                write.record_id,
                write.hlc
            );
            if clock == write.hlc && field != "_deleted" {
                assert_eq!(
                    values[field], write.fields[field],
                    "seed {seed}: {field} of {}",
                    write.record_id
                );
            }
        }
    }
}

/// A staff member's edit or delete of one of the masterclass's questions through the REST
/// routes, between the devices' pushes.
async fn rest_write(
    admin: &e2e_tests::StaffSession,
    db: &tokio_postgres::Client,
    rng: &mut rand::rngs::StdRng,
    masterclass: &str,
    unique: &str,
) {
    use rand::{Rng, seq::IndexedRandom};
    let rows = db
        .query(
            "select t.id, t.text, t.choice_a, t.choice_b, t.choice_c, t.choice_d, t.status, k.correct
             from questions t join question_keys k on k.question_id = t.id
             where t.masterclass_id = $1::text::uuid and t.deleted_at is null",
            &[&masterclass],
        )
        .await
        .unwrap();
    let Some(row) = rows.choose(rng) else { return };
    let id: Uuid = row.get("id");
    let path = format!("/api/admin/questions/{id}");
    let answer = if rng.random_bool(0.25) {
        admin.request(Method::DELETE, &path, &[], None).await
    } else {
        let get = |f: &str| row.get::<_, String>(f);
        let text = if rng.random_bool(0.5) {
            format!("En ligne {unique} ?")
        } else {
            get("text")
        };
        let status = ["draft", "approved", "archived"].choose(rng).unwrap();
        let correct = ["A", "B", "C", "D"].choose(rng).unwrap();
        admin
            .send_json(
                Method::PUT,
                &path,
                &json!({"masterclass_id": masterclass, "text": text,
                        "choices": [get("choice_a"), format!("b {unique}"), get("choice_c"), get("choice_d")],
                        "correct": correct, "status": status}),
                &[],
            )
            .await
    };
    assert!(
        answer.status.is_success() || answer.status.is_client_error(),
        "{path}: {} {}",
        answer.status,
        String::from_utf8_lossy(&answer.body)
    );
}

/// A push that changed data pokes each configured URL, signed, from the scheduled run (never
/// from the push), again after a failure; a push that changed nothing pokes no one.
#[tokio::test]
async fn a_push_that_changed_data_pokes_the_frontends_signed_and_retried() {
    use std::sync::{Arc, Mutex};
    let received: Arc<Mutex<Vec<(http::HeaderMap, axum::body::Bytes)>>> = Arc::default();
    let seen = received.clone();
    let receiver = axum::Router::new().route(
        "/poke",
        axum::routing::post(move |headers: http::HeaderMap, body: axum::body::Bytes| {
            let seen = seen.clone();
            async move {
                let mut seen = seen.lock().unwrap();
                seen.push((headers, body));
                // The first delivery fails.
                if seen.len() == 1 {
                    StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    StatusCode::NO_CONTENT
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/poke", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, receiver).await });
    let app = TestApp::spawn_with(|config| {
        config.sync.poke_urls = vec![url.clone()];
        config.sync.poke_secret = Some(shared::secret::Secret::new("un secret de poke"));
    })
    .await;
    let admin = app.admin().await;
    let mut device = Device::new(admin.http.clone(), 0);
    let id = Uuid::new_v4();

    device.mutate(
        "documents",
        id,
        "create",
        json!({"key": "réglages", "value": {"langue": "fr"}}),
    );
    device.push(10).await.unwrap();
    let queued_by_push = app.count("sync_pokes").await;
    device.mutate(
        "documents",
        id,
        "update",
        json!({"value": {"langue": "fr"}}),
    );
    device.push(10).await.unwrap();
    let after_no_change = app.count("sync_pokes").await;
    let first = shared::sync::poke::deliver(&app.state).await.unwrap();
    let too_soon = shared::sync::poke::deliver(&app.state).await.unwrap();
    app.db()
        .await
        .execute("update sync_pokes set next_attempt_at = now()", &[])
        .await
        .unwrap();
    let second = shared::sync::poke::deliver(&app.state).await.unwrap();
    let kept = app.count("sync_pokes").await;
    app.db()
        .await
        .execute(
            "update sync_pokes set delivered_at = now() - interval '2 days'",
            &[],
        )
        .await
        .unwrap();
    shared::sync::poke::deliver(&app.state).await.unwrap();
    let forgotten = app.count("sync_pokes").await;

    assert_eq!((queued_by_push, after_no_change), (1, 1));
    assert_eq!((first.delivered, first.failed), (0, 1));
    assert_eq!((too_soon.delivered, too_soon.failed), (0, 0), "backoff");
    assert_eq!((second.delivered, second.failed), (1, 0));
    assert_eq!(
        (kept, forgotten),
        (1, 0),
        "a delivered poke is forgotten after a day"
    );
    let received = received.lock().unwrap();
    assert_eq!(received.len(), 2);
    let (headers, body) = &received[1];
    let timestamp: i64 = headers["x-sync-timestamp"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        headers["x-sync-signature"].to_str().unwrap(),
        shared::sync::poke::signature("un secret de poke", timestamp, body)
    );
    assert_ne!(
        headers["x-sync-signature"].to_str().unwrap(),
        shared::sync::poke::signature("un autre secret", timestamp, body)
    );
    let body: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(body["type"], "sync.poke");
    assert_eq!(body["collections"], json!(["documents"]));
    assert!(
        !body.to_string().contains("réglages"),
        "a poke names collections only: {body}"
    );
}

/// An admin's request for a run on a deployment without a remote is refused (409 `no_remote`)
/// and writes nothing, not even its audit entry.
#[tokio::test]
async fn a_run_refused_for_want_of_a_remote_writes_nothing() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let before = app.count("audit_log").await;
    let runs = app.count("sync_runs").await;

    let answer = admin.post_json("/api/sync/run", &json!({})).await;

    answer.assert_problem(StatusCode::CONFLICT, "no_remote");
    assert_eq!(app.count("audit_log").await, before);
    assert_eq!(app.count("sync_runs").await, runs);
}

/// Every record a pull carries has exactly the fields of its collection's schema in the OpenAPI
/// document (`SyncInscription`...), the schemas clients declare their collections from.
#[tokio::test]
async fn pulled_records_have_the_fields_of_their_published_schemas() {
    use shared::sync::records;
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let masterclass = app.open_masterclass(&admin, "Schémas").await;
    question(&app, &admin, &masterclass).await;
    let mut desk = Device::new(admin.http.clone(), 0);
    desk.mutate(
        "inscriptions",
        Uuid::new_v4(),
        "create",
        json!({"masterclass_id": masterclass, "full_name": "Aïcha Ndong", "date_of_birth": "2001-02-03",
               "whatsapp_number": "+241 06 61 00 01", "consent": true, "attended": true}),
    );
    desk.mutate(
        "documents",
        Uuid::new_v4(),
        "create",
        json!({"key": "panier", "value": [1, {"a": null}]}),
    );
    let answer = desk.push(10).await.unwrap().0;
    assert_eq!(answer.synced_count, 2, "{answer:?}");

    // A pull hands out only what every running transaction of the server (other tests' too)
    // leaves behind it: pull again until the push is behind the horizon.
    let mut seen = BTreeMap::new();
    for _ in 0..100 {
        let page: shared::sync::PullResponse = admin.get("/api/sync/pull?limit=1000").await.json();
        seen.clear();
        for change in &page.changes {
            let fields = change.fields.clone().expect("upserts only here");
            let read = match change.collection.name() {
                "masterclasses" => serde_json::from_value::<records::Masterclass>(fields).map(drop),
                "inscriptions" => serde_json::from_value::<records::Inscription>(fields).map(drop),
                "questions" => serde_json::from_value::<records::Question>(fields).map(drop),
                "documents" => serde_json::from_value::<records::Document>(fields).map(drop),
                other => panic!("a device pulled {other}"),
            };
            read.unwrap_or_else(|e| panic!("{:?} {}: {e}", change.collection, change.id));
            *seen.entry(change.collection.name()).or_insert(0) += 1;
        }
        if seen.len() == 4 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        seen.keys().copied().collect::<Vec<_>>(),
        ["documents", "inscriptions", "masterclasses", "questions"]
    );

    let document = local_gateway::gateway::openapi();
    let schemas = &serde_json::to_value(&document).unwrap()["components"]["schemas"];
    let inscription = &schemas["SyncInscription"];
    assert_eq!(inscription["x-sync"]["collection"], "inscriptions");
    assert_eq!(inscription["x-sync"]["update"], json!(["attended"]));
    assert!(inscription["properties"]["whatsapp_number"].is_object());
}
