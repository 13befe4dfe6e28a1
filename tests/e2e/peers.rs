//! Instance sync: a venue server and its cloud, two platforms with their own databases and
//! stores, the venue reaching the cloud over HTTP through a proxy that fails on purpose.

use std::collections::{BTreeMap, BTreeSet};

use e2e_tests::{
    TestApp, answers,
    peers::{Fault, Pair},
};
use http::{Method, StatusCode};
use rand::{Rng, SeedableRng, rngs::StdRng, seq::IndexedRandom};
use serde_json::{Value, json};
use uuid::Uuid;

/// Every replicated row of `app` as comparable JSON: collection → id → record. Profiles are
/// each instance's own (found by number), so an inscription shows its number, not its profile;
/// a merged-away inscription's deletion time is each side's own, so only whether it is deleted.
async fn snapshot(app: &TestApp) -> BTreeMap<&'static str, BTreeMap<Uuid, Value>> {
    let db = app.db().await;
    let queries = [
        (
            "masterclasses",
            "select id, jsonb_build_object('title', title, 'description', description,
                 'starts_at', starts_at, 'ends_at', ends_at, 'published', published,
                 'pdf_key', pdf_key, 'deleted', deleted_at is not null, 'clocks', field_clocks)
             from masterclasses",
        ),
        (
            "questions",
            "select q.id, jsonb_build_object('masterclass_id', q.masterclass_id, 'text', q.text,
                 'choices', array[q.choice_a, q.choice_b, q.choice_c, q.choice_d],
                 'correct', k.correct, 'status', q.status, 'deleted', q.deleted_at is not null,
                 'clocks', q.field_clocks)
             from questions q left join question_keys k on k.question_id = q.id",
        ),
        (
            "inscriptions",
            "select i.id, jsonb_build_object('masterclass_id', i.masterclass_id,
                 'full_name', i.full_name, 'whatsapp_number', i.whatsapp_number,
                 'date_of_birth', i.date_of_birth, 'consent_at', i.consent_at,
                 'attended', i.attended, 'attendance_validated_at', i.attendance_validated_at,
                 'created_at', i.created_at, 'merged_into', i.merged_into,
                 'deleted', i.deleted_at is not null, 'clocks', i.field_clocks,
                 'tokens', (select array_agg(encode(t.token_hash, 'hex') order by t.token_hash)
                            from inscription_tokens t where t.inscription_id = i.id))
             from inscriptions i",
        ),
        (
            "attempts",
            "select a.id, jsonb_build_object('inscription_id', a.inscription_id, 'kind', a.kind,
                 'score', a.score, 'max_score', a.max_score, 'submitted_at', a.submitted_at,
                 'superseded', a.superseded,
                 'answers', (select jsonb_agg(jsonb_build_array(x.question_id, x.choice, x.correct)
                                              order by x.question_id)
                             from test_answers x where x.attempt_id = a.id))
             from test_attempts a",
        ),
    ];
    let mut out = BTreeMap::new();
    for (name, sql) in queries {
        let rows = db.query(sql, &[]).await.unwrap();
        out.insert(
            name,
            rows.iter()
                .map(|r| (r.get::<_, Uuid>(0), r.get::<_, Value>(1)))
                .collect(),
        );
    }
    out
}

/// Asserts that both platforms hold the same replicated data, naming the first difference.
async fn assert_alike(pair: &Pair, seed: u64) {
    let cloud = snapshot(&pair.cloud).await;
    let venue = snapshot(&pair.venue).await;
    for (collection, rows) in &cloud {
        let theirs = &venue[collection];
        for (id, record) in rows {
            assert_eq!(
                Some(record),
                theirs.get(id),
                "seed {seed}: {collection} {id} differs (left: cloud, right: venue)"
            );
        }
        let extra: Vec<_> = theirs.keys().filter(|id| !rows.contains_key(id)).collect();
        assert!(
            extra.is_empty(),
            "seed {seed}: {collection} only at the venue: {extra:?}"
        );
    }
}

/// A student as one side registered them.
struct Registered {
    at_venue: bool,
    number: String,
    inscription: Uuid,
    token: String,
    took_pre: bool,
    revoked: bool,
}

#[tokio::test]
async fn a_venue_and_its_cloud_end_alike_whatever_each_did_while_apart() {
    let seed: u64 = std::env::var("SYNC_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::random::<u32>().into());
    println!("instance sync: seed {seed} (SYNC_SEED=<seed> replays it)");
    let mut rng = StdRng::seed_from_u64(seed);
    let pair = Pair::start().await;
    let masterclass = pair
        .cloud
        .open_masterclass(&pair.cloud_admin, "Atelier numérique")
        .await;
    let bank = pair
        .cloud
        .bank(&pair.cloud_admin, &masterclass, 10, true)
        .await;
    // Drafts, on no paper: edited and deleted on both sides.
    let drafts = pair
        .cloud
        .bank(&pair.cloud_admin, &masterclass, 4, false)
        .await;

    // The venue starts with the cloud's catalogue and bank.
    let first = pair.sync_through().await;
    let pulled: i64 = first.iter().map(|r| r["pulled"].as_i64().unwrap()).sum();
    assert!(pulled >= 11, "{first:?}");
    let seen = pair
        .venue
        .get(&format!("/api/masterclasses/{masterclass}"))
        .await;
    assert_eq!(seen.status, StatusCode::OK);

    let numbers: Vec<String> = (0..6).map(|i| format!("+2410660{i:04}")).collect();
    let mut registered: Vec<Registered> = Vec::new();
    for round in 0..4 {
        for step in 0..14 {
            let at_venue = rng.random_bool(0.5);
            let (app, admin) = if at_venue {
                (&pair.venue, &pair.venue_admin)
            } else {
                (&pair.cloud, &pair.cloud_admin)
            };
            match rng.random_range(0..13) {
                0..=3 => {
                    let number = numbers.choose(&mut rng).unwrap().clone();
                    let name = format!("Élève {round}-{step}");
                    let answer = app.register(&masterclass, &number, &name).await;
                    match answer.status {
                        StatusCode::CREATED => registered.push(Registered {
                            at_venue,
                            number,
                            inscription: answer.value()["inscription_id"]
                                .as_str()
                                .unwrap()
                                .parse()
                                .unwrap(),
                            token: answer.value()["access_token"].as_str().unwrap().to_owned(),
                            took_pre: false,
                            revoked: false,
                        }),
                        StatusCode::CONFLICT => {}
                        other => panic!("seed {seed}: registering answered {other}"),
                    }
                }
                4 | 5 => {
                    let waiting: Vec<usize> = (0..registered.len())
                        .filter(|&i| registered[i].at_venue == at_venue && !registered[i].took_pre)
                        .collect();
                    let Some(&i) = waiting.choose(&mut rng) else {
                        continue;
                    };
                    let student = &mut registered[i];
                    let http = app.http.with_bearer(&student.token);
                    let paper = http.get("/api/tests/PRE").await;
                    if paper.status != StatusCode::OK {
                        // Merged into an inscription that took it already on this side.
                        continue;
                    }
                    let right = rng.random_range(0..=10);
                    let submitted = http
                        .post_json("/api/tests/PRE", &answers(&paper.value(), &bank, right))
                        .await;
                    if submitted.status == StatusCode::CREATED {
                        student.took_pre = true;
                    } else {
                        assert_eq!(submitted.status, StatusCode::CONFLICT, "seed {seed}");
                    }
                }
                6 => {
                    let ids: Vec<Uuid> = registered
                        .iter()
                        .filter(|r| r.at_venue == at_venue)
                        .map(|r| r.inscription)
                        .collect();
                    if let Some(id) = ids.choose(&mut rng) {
                        let marked = admin
                            .patch_json(
                                &format!("/api/admin/inscriptions/{id}"),
                                &json!({"attended": rng.random_bool(0.7)}),
                            )
                            .await;
                        assert!(
                            [StatusCode::OK, StatusCode::NOT_FOUND].contains(&marked.status),
                            "seed {seed}: {:?}",
                            marked.value()
                        );
                    }
                }
                7 => {
                    let i = rng.random_range(0..bank.len());
                    let (id, correct) = &bank[i];
                    let replaced = admin
                        .request(
                            Method::PUT,
                            &format!("/api/admin/questions/{id}"),
                            &[("content-type", "application/json")],
                            Some(
                                serde_json::to_vec(&json!({
                                    "masterclass_id": masterclass,
                                    "text": format!("Question {i}, revue {round}-{step} ?"),
                                    "choices": [format!("Choix A{i}"), format!("Choix B{i}"), format!("Choix C{i}"), format!("Choix D{i}")],
                                    "correct": correct,
                                    "status": "approved",
                                }))
                                .unwrap(),
                            ),
                        )
                        .await;
                    assert_eq!(
                        replaced.status,
                        StatusCode::OK,
                        "seed {seed}: {:?}",
                        replaced.value()
                    );
                }
                12 => {
                    // A student signs out on one side: the token stops working on both.
                    let here: Vec<usize> = (0..registered.len())
                        .filter(|&i| registered[i].at_venue == at_venue && !registered[i].revoked)
                        .collect();
                    if let Some(&i) = here.choose(&mut rng) {
                        // Signing out revokes every token of the inscription (after a merge,
                        // those of the person's other registration too).
                        let opens = async |token: &str| {
                            let me = app.http.with_bearer(token).get("/api/me").await;
                            (me.status == StatusCode::OK)
                                .then(|| me.value()["inscription_id"].clone())
                        };
                        let mine = opens(&registered[i].token).await;
                        let mut same = Vec::new();
                        for (j, other) in registered.iter().enumerate() {
                            if mine.is_some() && opens(&other.token).await == mine {
                                same.push(j);
                            }
                        }
                        let out = app
                            .http
                            .with_bearer(&registered[i].token)
                            .delete("/api/me/token")
                            .await;
                        assert_eq!(out.status, StatusCode::NO_CONTENT, "seed {seed}");
                        for j in same.into_iter().chain([i]) {
                            registered[j].revoked = true;
                        }
                    }
                }
                10 => {
                    let (id, _) = drafts.choose(&mut rng).unwrap();
                    let deleted = admin.delete(&format!("/api/admin/questions/{id}")).await;
                    assert!(
                        [StatusCode::NO_CONTENT, StatusCode::NOT_FOUND].contains(&deleted.status),
                        "seed {seed}: {:?}",
                        deleted.value()
                    );
                }
                11 => {
                    let (id, correct) = drafts.choose(&mut rng).unwrap();
                    let edited = admin
                        .request(
                            Method::PUT,
                            &format!("/api/admin/questions/{id}"),
                            &[("content-type", "application/json")],
                            Some(
                                serde_json::to_vec(&json!({
                                    "masterclass_id": masterclass,
                                    "text": format!("Brouillon revu {round}-{step} ?"),
                                    "choices": ["Un", "Deux", "Trois", "Quatre"],
                                    "correct": correct,
                                    "status": "draft",
                                }))
                                .unwrap(),
                            ),
                        )
                        .await;
                    assert!(
                        [StatusCode::OK, StatusCode::NOT_FOUND].contains(&edited.status),
                        "seed {seed}: {:?}",
                        edited.value()
                    );
                }
                _ => {
                    let field = if rng.random_bool(0.5) {
                        "title"
                    } else {
                        "description"
                    };
                    let patched = admin
                        .patch_json(
                            &format!("/api/masterclasses/{masterclass}"),
                            &json!({ field: format!("{field} {round}-{step} ({})", if at_venue { "salle" } else { "en ligne" }) }),
                        )
                        .await;
                    assert_eq!(
                        patched.status,
                        StatusCode::OK,
                        "seed {seed}: {:?}",
                        patched.value()
                    );
                }
            }
        }
        if rng.random_bool(0.6) {
            let report = pair.sync().await;
            assert_eq!(report["status"], "succeeded", "seed {seed}: {report}");
        }
    }

    let reports = pair.settle(6).await;
    println!("runs to settle: {}", reports.len());
    assert_alike(&pair, seed).await;

    // One person, one inscription per masterclass, on both sides: the first registered.
    let cloud = snapshot(&pair.cloud).await;
    let mut by_number: BTreeMap<String, Vec<(String, Uuid, bool)>> = BTreeMap::new();
    for (id, i) in &cloud["inscriptions"] {
        by_number
            .entry(i["whatsapp_number"].as_str().unwrap().to_owned())
            .or_default()
            .push((
                i["created_at"].as_str().unwrap().to_owned(),
                *id,
                i["deleted"] == true,
            ));
    }
    for (number, mut all) in by_number {
        all.sort();
        let live: Vec<_> = all.iter().filter(|(_, _, deleted)| !deleted).collect();
        assert_eq!(live.len(), 1, "seed {seed}: {number} has {all:?}");
        assert_eq!(
            live[0].1, all[0].1,
            "seed {seed}: the first registration survives"
        );
    }
    let merged = cloud["inscriptions"]
        .values()
        .filter(|i| i["deleted"] == true)
        .count();
    println!(
        "{} registrations ({} at the venue), {merged} merged away, {} tests taken, {} signed out",
        registered.len(),
        registered.iter().filter(|r| r.at_venue).count(),
        registered.iter().filter(|r| r.took_pre).count(),
        registered.iter().filter(|r| r.revoked).count()
    );
    // Every test taken anywhere is kept; one of each kind counts per live inscription.
    let taken = registered.iter().filter(|r| r.took_pre).count();
    assert_eq!(cloud["attempts"].len(), taken, "seed {seed}");
    let mut counted: BTreeSet<(String, String)> = BTreeSet::new();
    for attempt in cloud["attempts"].values() {
        let owner = &cloud["inscriptions"][&attempt["inscription_id"]
            .as_str()
            .unwrap()
            .parse::<Uuid>()
            .unwrap()];
        assert_eq!(
            owner["deleted"], false,
            "seed {seed}: {attempt} on a merged inscription"
        );
        if attempt["superseded"] == false {
            let key = (
                attempt["inscription_id"].as_str().unwrap().to_owned(),
                attempt["kind"].as_str().unwrap().to_owned(),
            );
            assert!(counted.insert(key), "seed {seed}: two counted {attempt}");
        }
    }
    // Every link a student was sent opens their (surviving) inscription on both sides, but
    // those they signed out of, which open nothing anywhere.
    for student in &registered {
        for (side, app) in [("cloud", &pair.cloud), ("venue", &pair.venue)] {
            let me = app.http.with_bearer(&student.token).get("/api/me").await;
            assert_eq!(
                me.status,
                if student.revoked {
                    StatusCode::UNAUTHORIZED
                } else {
                    StatusCode::OK
                },
                "seed {seed}: {} registered at the {}, on the {side}",
                student.number,
                if student.at_venue { "venue" } else { "cloud" }
            );
        }
    }
    // Each confirmation is queued once, by the side that registered the student (it sends it):
    // the other side, which got the inscription by replication, queued none.
    let mut confirmations = 0;
    for app in [&pair.cloud, &pair.venue] {
        confirmations += app
            .db()
            .await
            .query_one(
                "select count(*) from outbox_messages where message_type = 'registration_confirmed'",
                &[],
            )
            .await
            .unwrap()
            .get::<_, i64>(0);
    }
    assert_eq!(confirmations as usize, registered.len(), "seed {seed}");
    // Nothing echoes: a run after settling moves nothing.
    let after = pair.sync().await;
    assert_eq!(
        (after["pushed"].as_i64(), after["pulled"].as_i64()),
        (Some(0), Some(0)),
        "{after}"
    );
}

/// `n` inscriptions registered at the venue straight in its database (a day at the desk).
async fn desk_day(app: &TestApp, masterclass: &str, n: i64) {
    let db = app.db().await;
    db.execute(
        "with p as (
             insert into profiles (full_name, whatsapp_number, consent_at, consent_version)
             select 'Élève ' || g, '+2410770' || lpad(g::text, 4, '0'), now(), 'v1'
             from generate_series(1, $2::bigint) g
             returning id, full_name, whatsapp_number)
         insert into inscriptions (masterclass_id, profile_id, full_name, whatsapp_number, consent_at)
         select $1::text::uuid, id, full_name, whatsapp_number, now() from p",
        &[&masterclass, &n],
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn a_run_that_fails_anywhere_loses_nothing_and_applies_nothing_twice() {
    let pair = Pair::start().await;
    let masterclass = pair
        .cloud
        .open_masterclass(&pair.cloud_admin, "Journée portes ouvertes")
        .await;
    assert_eq!(pair.sync().await["status"], "succeeded");
    desk_day(&pair.venue, &masterclass, 1200).await;
    pair.quiesce().await;

    // The remote is down: nothing moves, the run says why.
    pair.proxy.fault("/api/sync/push", Fault::Unavailable);
    let down = pair.sync().await;
    assert_eq!(down["status"], "failed", "{down}");
    assert!(
        down["errors"][0].as_str().unwrap().contains("503"),
        "{down}"
    );
    assert_eq!(pair.cloud.count("inscriptions").await, 0);

    // The first batch is applied by the remote but its answer is lost (a timeout).
    pair.proxy.fault("/api/sync/push", Fault::LoseAnswer);
    let lost = pair.sync().await;
    assert_eq!(lost["status"], "failed", "{lost}");
    pair.proxy.idle().await;
    let committed = pair.cloud.count("inscriptions").await;
    assert!(
        (1..1200).contains(&committed),
        "one batch committed though its answer was lost: {committed}"
    );

    // The next run sends that batch again (the remote answers `duplicate`), then the rest,
    // and its pull times out.
    pair.proxy.fault("/api/sync/pull", Fault::Hang);
    let hung = pair.sync().await;
    assert_eq!(hung["status"], "failed", "{hung}");
    assert_eq!(hung["pushed"], 1200, "{hung}");
    assert_eq!(pair.cloud.count("inscriptions").await, 1200);

    let reports = pair.settle(4).await;
    assert_eq!(reports[0]["status"], "succeeded", "{reports:?}");
    assert_eq!(pair.cloud.count("inscriptions").await, 1200);
    let db = pair.cloud.db().await;
    let distinct: i64 = db
        .query_one(
            "select count(distinct whatsapp_number) from inscriptions",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(distinct, 1200, "no inscription twice");
    assert_eq!(
        pair.venue.count("sync_queue").await,
        0,
        "everything acknowledged"
    );
    // What the venue pushed is not sent back to it.
    let pulled: i64 = reports.iter().map(|r| r["pulled"].as_i64().unwrap()).sum();
    assert!(pulled < 10, "echoed {pulled} changes: {reports:?}");
    assert_alike(&pair, 0).await;

    // The runs are listed for admins, newest first, with what failed.
    let runs = pair
        .venue_admin
        .get("/api/sync/runs?limit=20")
        .await
        .value();
    let statuses: Vec<&str> = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == "failed").count(),
        3,
        "{statuses:?}"
    );
    assert_eq!(statuses.last(), Some(&"succeeded"), "the first run");
    assert!(runs[0]["finished_at"].is_string());
}

#[tokio::test]
async fn two_runs_never_overlap() {
    let pair = Pair::start().await;
    pair.cloud
        .open_masterclass(&pair.cloud_admin, "Atelier")
        .await;
    // The first run hangs on its pull while a second is asked for.
    pair.proxy.fault("/api/sync/pull", Fault::Hang);
    let admin = pair.venue_admin.http.clone();
    let first = tokio::spawn(async move { admin.post_json("/api/sync/run", &json!({})).await });
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let second = pair
        .venue_admin
        .post_json("/api/sync/run", &json!({}))
        .await;
    second.assert_problem(StatusCode::CONFLICT, "sync_running");
    let first = first.await.unwrap();
    assert_eq!(first.value()["status"], "failed");
    // The lease was given back: the next run goes through.
    assert_eq!(pair.sync().await["status"], "succeeded");
    let runs = pair.venue_admin.get("/api/sync/runs").await.value();
    let statuses: Vec<&str> = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    // The refused request left no run behind (a scheduled run that finds one under way records
    // itself as skipped).
    assert_eq!(statuses, ["succeeded", "failed"]);
}

#[tokio::test]
async fn sync_peers_are_made_shown_once_and_revoked_by_admins_only() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let masterclass = app.open_masterclass(&admin, "Atelier").await;
    let tutor = app.tutor(&admin, &[&masterclass]).await;

    tutor
        .post_json("/api/sync/peers", &json!({"name": "Salle"}))
        .await
        .assert_problem(StatusCode::FORBIDDEN, "forbidden");
    let unnamed = admin
        .post_json("/api/sync/peers", &json!({"name": "  "}))
        .await;
    assert_eq!(unnamed.invalid_fields(), ["name"]);
    let long = admin
        .post_json("/api/sync/peers", &json!({"name": "x".repeat(101)}))
        .await;
    assert_eq!(long.invalid_fields(), ["name"]);
    assert_eq!(
        app.count("sync_peers").await,
        0,
        "bad input changes nothing"
    );

    let created = admin
        .post_json("/api/sync/peers", &json!({"name": "Salle 3"}))
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let peer = created.value();
    let secret = peer["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("msp_"));
    let stored: Vec<u8> = app
        .db()
        .await
        .query_one("select secret_hash from sync_peers", &[])
        .await
        .unwrap()
        .get(0);
    assert_ne!(stored, secret.as_bytes(), "only the hash is kept");
    let listed = admin.get("/api/sync/peers").await.value();
    assert_eq!(listed[0]["id"], peer["id"]);
    assert!(listed[0].get("secret").is_none(), "{listed}");

    // The secret works as a peer: it pulls what a peer pulls, and nothing an admin does.
    let as_peer = app.http.with_bearer(&secret);
    let mut cursor = String::new();
    let mut found = false;
    for _ in 0..200 {
        let page = as_peer
            .get(&format!("/api/sync/pull?limit=100{cursor}"))
            .await;
        assert_eq!(page.status, StatusCode::OK, "{:?}", page.value());
        let page = page.value();
        found |= page["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["collection"] == "masterclasses" && c["id"] == masterclass.as_str());
        if found {
            break;
        }
        cursor = format!("&cursor={}", page["next_cursor"].as_str().unwrap());
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(found, "a peer pulls the catalogue");
    as_peer
        .get("/api/sync/peers")
        .await
        .assert_problem(StatusCode::FORBIDDEN, "forbidden");
    as_peer
        .get("/api/sync/pull?collections=documents")
        .await
        .assert_problem(StatusCode::FORBIDDEN, "forbidden");
    // A device's push may not carry a peer's clocks, and a peer must send them.
    let device_push = admin
        .post_json(
            "/api/sync/push",
            &json!({"client_id": Uuid::new_v4(), "mutations": [{"mutation_id": 1,
                "collection": "documents", "record_id": Uuid::new_v4(), "op": "create",
                "fields": {"key": "k", "value": 1}, "hlc": "1795430400000-00000-dev",
                "clocks": {"key": "1795430400000-00000-dev"}}]}),
        )
        .await
        .value();
    assert_eq!(
        device_push["results"][0]["status"], "rejected",
        "{device_push}"
    );
    let peer_push = as_peer
        .post_json(
            "/api/sync/push",
            &json!({"client_id": Uuid::new_v4(), "mutations": [
                {"mutation_id": 1, "collection": "masterclasses", "record_id": masterclass,
                 "op": "update", "fields": {"title": "Sans horloge"}, "hlc": "1795430400000-00000-dev"},
                {"mutation_id": 2, "collection": "documents", "record_id": Uuid::new_v4(),
                 "op": "create", "fields": {}, "hlc": "1795430400000-00000-dev", "clocks": {}}]}),
        )
        .await
        .value();
    let reasons: Vec<&Value> = peer_push["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["reason"])
        .collect();
    assert_eq!(
        reasons,
        [&json!("validation"), &json!("unknown_collection")],
        "{peer_push}"
    );

    // Revoked: the secret stops working at once.
    let id = peer["id"].as_str().unwrap();
    let revoked = admin.delete(&format!("/api/sync/peers/{id}")).await;
    assert_eq!(revoked.status, StatusCode::OK);
    assert!(revoked.value()["revoked_at"].is_string());
    as_peer
        .get("/api/sync/pull")
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    admin
        .delete(&format!("/api/sync/peers/{}", Uuid::new_v4()))
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");

    // Without a remote, "sync now" says so.
    admin
        .post_json("/api/sync/run", &json!({}))
        .await
        .assert_problem(StatusCode::CONFLICT, "no_remote");
}

#[tokio::test]
async fn handouts_are_copied_once_each_way_and_a_failed_copy_resumes() {
    let pair = Pair::start().await;
    let online = pair
        .cloud
        .open_masterclass(&pair.cloud_admin, "En ligne")
        .await;
    let cloud_pdf = e2e_tests::testdata("pdfs/fr-masterclass-entreprise.pdf").unwrap();
    pair.cloud
        .handout(&pair.cloud_admin, &online, cloud_pdf.clone())
        .await;

    // The store's links cannot be had on the first run: the record arrives, its handout not.
    pair.quiesce().await;
    pair.proxy.fault("/api/sync/objects", Fault::Unavailable);
    let first = pair.sync().await;
    assert_eq!(first["status"], "failed", "{first}");
    assert_eq!(first["objects"], 0);
    let key_of = async |app: &TestApp, id: &str| -> String {
        app.db()
            .await
            .query_one(
                "select pdf_key from masterclasses where id = $1::text::uuid",
                &[&id],
            )
            .await
            .unwrap()
            .get(0)
    };
    let key = key_of(&pair.venue, &online).await;
    assert!(pair.venue.state.storage.size(&key).await.unwrap().is_none());
    let second = pair.sync().await;
    assert_eq!(
        (&second["status"], &second["objects"]),
        (&json!("succeeded"), &json!(1)),
        "{second}"
    );
    assert_eq!(pair.venue.state.storage.get(&key).await.unwrap(), cloud_pdf);
    // The venue hands out its own link to it, offline.
    let shown = pair
        .venue
        .get(&format!("/api/masterclasses/{online}"))
        .await
        .value();
    let link = shown["pdf"]["download_url"]
        .as_str()
        .expect("a handout link");
    let redirect = pair.venue.get(link).await;
    assert_eq!(redirect.status, StatusCode::FOUND, "{link}");
    let signed = redirect.headers["location"].to_str().unwrap();
    let fetched = reqwest::get(signed).await.unwrap().bytes().await.unwrap();
    assert_eq!(fetched.to_vec(), cloud_pdf);

    // A handout uploaded at the venue reaches the cloud.
    let at_venue = pair
        .venue
        .open_masterclass(&pair.venue_admin, "Au lycée")
        .await;
    let mut venue_pdf = cloud_pdf.clone();
    venue_pdf.extend_from_slice(b"\n% version de la salle\n");
    pair.venue
        .handout(&pair.venue_admin, &at_venue, venue_pdf.clone())
        .await;
    pair.quiesce().await;
    let third = pair.sync().await;
    assert_eq!(
        (&third["status"], &third["objects"]),
        (&json!("succeeded"), &json!(1)),
        "{third}"
    );
    let venue_key = key_of(&pair.cloud, &at_venue).await;
    assert_eq!(
        pair.cloud.state.storage.get(&venue_key).await.unwrap(),
        venue_pdf
    );

    // Once: nothing is copied again.
    let fourth = pair.sync().await;
    assert_eq!(fourth["objects"], 0, "{fourth}");
    assert_alike(&pair, 0).await;

    // Only peers get links, and only for the objects records refer to.
    pair.cloud_admin
        .post_json("/api/sync/objects", &json!({"download": [key]}))
        .await
        .assert_problem(StatusCode::FORBIDDEN, "forbidden");
}

/// A peer's upload links are for objects the instance lacks, never for one it has (a handout's
/// bytes cannot be replaced through sync); and what a peer uploads lands under its key only once
/// checked (size and kind), so no record ever points at unchecked bytes.
#[tokio::test]
async fn a_peer_cannot_replace_an_object_and_its_uploads_are_checked_before_use() {
    let pair = Pair::start().await;
    let masterclass = pair
        .cloud
        .open_masterclass(&pair.cloud_admin, "Support intact")
        .await;
    let pdf = e2e_tests::testdata("pdfs/fr-masterclass-entreprise.pdf").unwrap();
    pair.cloud
        .handout(&pair.cloud_admin, &masterclass, pdf.clone())
        .await;
    let key: String = pair
        .cloud
        .db()
        .await
        .query_one(
            "select pdf_key from masterclasses where id = $1::text::uuid",
            &[&masterclass],
        )
        .await
        .unwrap()
        .get(0);
    let remote = pair.venue.state.config.sync.remote.as_ref().unwrap();
    let peer = pair.cloud.http.with_bearer(remote.secret.expose());
    let links = async |key: &str, size: usize| -> Value {
        let answer = peer
            .post_json(
                "/api/sync/objects",
                &json!({"upload": [{"key": key, "size": size, "content_type": "application/pdf"}]}),
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.value());
        answer.value()["upload"][0].clone()
    };
    let hand_in = async |key: &str| -> Value {
        let answer = peer
            .post_json("/api/sync/objects", &json!({"uploaded": [key]}))
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.value());
        answer.value()["uploaded"][0].clone()
    };

    // Already here: no link, whatever size the peer announces.
    for size in [10, pdf.len()] {
        let link = links(&key, size).await;
        assert!(link["url"].is_null(), "a link to replace {key}: {link}");
    }

    // Ten bytes that are no PDF, under a new handout key: kept apart, then refused.
    let fresh = format!(
        "masterclasses/{masterclass}/handouts/{}.pdf",
        Uuid::new_v4()
    );
    e2e_tests::put_presigned(&links(&fresh, 10).await, b"0123456789".to_vec()).await;
    let storage = &pair.cloud.state.storage;
    assert!(
        storage.size(&fresh).await.unwrap().is_none(),
        "unchecked bytes under {fresh}"
    );
    let refused = hand_in(&fresh).await;
    assert_eq!(refused["status"], "refused", "{refused}");
    assert!(storage.size(&fresh).await.unwrap().is_none());
    assert_eq!(storage.get(&key).await.unwrap(), pdf);

    // A PDF under that key is taken once handed in; handing it in again changes nothing.
    e2e_tests::put_presigned(&links(&fresh, pdf.len()).await, pdf.clone()).await;
    for _ in 0..2 {
        let stored = hand_in(&fresh).await;
        assert_eq!(stored["status"], "stored", "{stored}");
    }
    assert_eq!(storage.get(&fresh).await.unwrap(), pdf);
    // Handing in what was never uploaded says so.
    let never = format!(
        "masterclasses/{masterclass}/handouts/{}.pdf",
        Uuid::new_v4()
    );
    assert_eq!(hand_in(&never).await["status"], "missing");
}

#[tokio::test]
async fn a_photo_taken_at_the_desk_is_checked_shown_to_who_may_see_it_and_reaches_the_cloud() {
    let pair = Pair::start().await;
    let masterclass = pair
        .cloud
        .open_masterclass(&pair.cloud_admin, "Atelier photo")
        .await;
    pair.sync_through().await;
    let registered = pair
        .venue
        .register(&masterclass, "+24106611111", "Awa Ndong")
        .await;
    assert_eq!(registered.status, StatusCode::CREATED);
    let id = registered.value()["inscription_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let student = pair
        .venue
        .http
        .with_bearer(registered.value()["access_token"].as_str().unwrap());
    let admin = &pair.venue_admin;
    let path = format!("/api/admin/inscriptions/{id}/photo");

    // Refused before anything is stored.
    let gif = admin
        .post_json(&path, &json!({"content_type": "image/gif"}))
        .await;
    assert_eq!(gif.invalid_fields(), ["content_type"]);
    admin
        .post_json(
            &path,
            &json!({"content_type": "image/jpeg", "size": 6 * 1024 * 1024}),
        )
        .await
        .assert_problem(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    admin
        .get(&path)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");

    let upload = async |bytes: Vec<u8>| -> String {
        let ticket = admin
            .post_json(&path, &json!({"content_type": "image/jpeg"}))
            .await;
        assert_eq!(ticket.status, StatusCode::CREATED, "{:?}", ticket.value());
        let ticket = ticket.value();
        let mut put = reqwest::Client::new()
            .put(ticket["url"].as_str().unwrap())
            .body(bytes);
        for (name, value) in ticket["headers"].as_object().unwrap() {
            put = put.header(name, value.as_str().unwrap());
        }
        assert!(put.send().await.unwrap().status().is_success());
        ticket["key"].as_str().unwrap().to_owned()
    };
    // Not a JPEG under a JPEG key: refused, and the object deleted.
    let fake = upload(b"GIF89a pas une photo".to_vec()).await;
    let refused = admin
        .post_json(&format!("{path}/confirm"), &json!({"key": fake}))
        .await;
    assert_eq!(refused.invalid_fields(), ["key"]);
    assert!(
        pair.venue
            .state
            .storage
            .size(&fake)
            .await
            .unwrap()
            .is_none()
    );
    // Someone else's key.
    let other = format!(
        "inscriptions/{}/photos/{}.jpg",
        Uuid::new_v4(),
        Uuid::new_v4()
    );
    let foreign = admin
        .post_json(&format!("{path}/confirm"), &json!({"key": other}))
        .await;
    assert_eq!(foreign.invalid_fields(), ["key"]);

    let mut jpeg = b"\xFF\xD8\xFF\xE0\x00\x10JFIF\x00".to_vec();
    jpeg.extend((0..4096).map(|i| (i % 251) as u8));
    let key = upload(jpeg.clone()).await;
    let confirmed = admin
        .post_json(&format!("{path}/confirm"), &json!({"key": key}))
        .await;
    assert_eq!(confirmed.status, StatusCode::OK, "{:?}", confirmed.value());
    assert_eq!(confirmed.value()["content_type"], "image/jpeg");
    assert_eq!(confirmed.value()["size"], jpeg.len());
    let fetch = async |view: Value| -> Vec<u8> {
        let url = view["download_url"].as_str().expect("a link").to_owned();
        reqwest::get(url)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
            .to_vec()
    };
    assert_eq!(fetch(admin.get(&path).await.value()).await, jpeg);
    // The student sees their own; a tutor of another masterclass sees nothing.
    assert_eq!(
        fetch(student.get("/api/me/photo").await.value()).await,
        jpeg
    );
    let stranger = pair.venue.tutor(&pair.venue_admin, &[]).await;
    stranger
        .get(&path)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");

    // The cloud gets the record and the object, and shows it to its own staff.
    pair.quiesce().await;
    let run = pair.sync().await;
    assert_eq!(
        (&run["status"], &run["objects"]),
        (&json!("succeeded"), &json!(1)),
        "{run}"
    );
    assert_eq!(pair.cloud.state.storage.get(&key).await.unwrap(), jpeg);
    assert_eq!(fetch(pair.cloud_admin.get(&path).await.value()).await, jpeg);
}

#[tokio::test]
async fn a_record_that_arrives_before_what_it_refers_to_waits_for_it() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let masterclass = app.open_masterclass(&admin, "Atelier").await;
    let bank = app.bank(&admin, &masterclass, 2, true).await;
    let secret = admin
        .post_json("/api/sync/peers", &json!({"name": "Salle"}))
        .await
        .value()["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let peer = app.http.with_bearer(&secret);
    let client = Uuid::new_v4();
    let (inscription, attempt) = (Uuid::new_v4(), Uuid::new_v4());
    let clock = "1795430400000-00000-salle";
    let push = async |n: i64, collection: &str, id: Uuid, fields: Value| {
        let answer = peer
            .post_json(
                "/api/sync/push",
                &json!({"client_id": client, "mutations": [{"mutation_id": n,
                    "collection": collection, "record_id": id, "op": "create",
                    "fields": fields, "hlc": clock, "clocks": {}}]}),
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.value());
        assert_eq!(
            answer.value()["results"][0]["status"],
            "applied",
            "{:?}",
            answer.value()
        );
    };

    // The attempt first: kept aside, not lost, not applied.
    push(
        1,
        "attempts",
        attempt,
        json!({"inscription_id": inscription, "kind": "PRE", "score": 1, "max_score": 2,
               "submitted_at": "2026-12-01T10:00:00+00:00", "superseded": false,
               "answers": [{"question_id": bank[0].0, "choice": bank[0].1, "correct": true},
                           {"question_id": bank[1].0, "choice": "A", "correct": false}]}),
    )
    .await;
    assert_eq!(app.count("test_attempts").await, 0);
    assert_eq!(app.count("sync_parked").await, 1);

    // Its inscription next: the attempt follows at once, with its answers.
    push(
        2,
        "inscriptions",
        inscription,
        json!({"masterclass_id": masterclass, "full_name": "Awa Ndong",
               "whatsapp_number": "+24106612345", "date_of_birth": "2001-04-12",
               "consent_at": "2026-12-01T09:00:00+00:00", "consent_version": "v1",
               "attended": false, "created_at": "2026-12-01T09:00:00+00:00",
               "tokens": [], "paper": null}),
    )
    .await;
    assert_eq!(app.count("sync_parked").await, 0);
    assert_eq!(app.count("test_attempts").await, 1);
    assert_eq!(app.count("test_answers").await, 2);
    let counted: bool = app
        .db()
        .await
        .query_one("select not superseded from test_attempts", &[])
        .await
        .unwrap()
        .get(0);
    assert!(counted, "the person's only PRE counts");
}

#[tokio::test]
async fn a_student_registered_at_the_venue_hears_each_message_once() {
    let pair = Pair::start().await;
    let starts = time::OffsetDateTime::now_utc() + time::Duration::hours(3);
    let format = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    let created = pair
        .cloud_admin
        .post_json(
            "/api/masterclasses",
            &json!({"title": "Demain matin", "published": true, "starts_at": format(starts),
                    "ends_at": format(starts + time::Duration::hours(2))}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let masterclass = created.value()["id"].as_str().unwrap().to_owned();
    pair.sync_through().await;
    let registered = pair
        .venue
        .register(&masterclass, "+24106633333", "Awa Ndong")
        .await;
    assert_eq!(registered.status, StatusCode::CREATED);
    pair.sync_through().await;

    // The reminder (due: the masterclass starts within a day) is queued by the cloud only.
    let at_venue = shared::messaging::reminders::queue_due(&pair.venue.state)
        .await
        .unwrap();
    let at_cloud = shared::messaging::reminders::queue_due(&pair.cloud.state)
        .await
        .unwrap();
    assert_eq!((at_venue, at_cloud), (0, 1));
    // The confirmation by the venue only, which registered her.
    let count = async |app: &TestApp, kind: &str| -> i64 {
        app.db()
            .await
            .query_one(
                "select count(*) from outbox_messages where message_type = $1",
                &[&kind],
            )
            .await
            .unwrap()
            .get(0)
    };
    assert_eq!(count(&pair.venue, "registration_confirmed").await, 1);
    assert_eq!(count(&pair.cloud, "registration_confirmed").await, 0);
    assert_eq!(count(&pair.venue, "reminder").await, 0);
    assert_eq!(count(&pair.cloud, "reminder").await, 1);
}
