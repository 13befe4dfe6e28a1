//! The staff dashboard: the students list (filters, search, keyset paging under concurrent
//! inserts), the CSV streamed in bounded memory, one student's record, bulk attendance, the
//! statistics on a hand-computed fixture and their chart in Chromium, the audit trail, and tutor
//! scoping through every route.

use std::collections::{BTreeSet, HashMap};

use axum::http::StatusCode;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use e2e_tests::{StaffSession, TestApp};
use http_body_util::BodyExt;
use rand::{Rng, SeedableRng, rngs::StdRng};
use serde_json::{Value, json};
use time::{OffsetDateTime, macros::datetime};
use tower::ServiceExt;
use uuid::Uuid;

/// A student arranged straight in the database (past RLS): what the list should show of them.
#[derive(Debug, Clone)]
struct Seeded {
    inscription: Uuid,
    masterclass: Uuid,
    name: String,
    number: String,
    attended: bool,
    registered: OffsetDateTime,
    pre: Option<i32>,
    post: Option<i32>,
}

const FIRST: [&str; 8] = [
    "Éloïse",
    "Jean-Pierre",
    "Awa",
    "Noël",
    "Chloé",
    "Ismaël",
    "Grâce",
    "Yann",
];
const LAST: [&str; 6] = ["Mba Nze", "Ndong", "Obiang", "Mouélé", "Ekomié", "Nguéma"];

/// Accents and case dropped, and everything but letters and digits, for the alphabet above (what
/// `search_fold` does, worked out independently for the expected results).
fn fold(text: &str) -> String {
    text.chars()
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'ï' | 'î' => 'i',
            'â' | 'à' => 'a',
            'ô' => 'o',
            other => other,
        })
        .filter(char::is_ascii_alphanumeric)
        .collect()
}

/// `count` students over `masterclasses`, at random (seeded), with random attendance and tests,
/// registered at distinct-ish times (some equal, to exercise the id tie-break).
async fn seed_students(
    app: &TestApp,
    masterclasses: &[Uuid],
    count: usize,
    rng: &mut StdRng,
) -> Vec<Seeded> {
    let db = app.db().await;
    let base = datetime!(2026-10-01 08:00 UTC);
    let mut seeded = Vec::with_capacity(count);
    for i in 0..count {
        let name = format!(
            "{} {}",
            FIRST[rng.random_range(0..FIRST.len())],
            LAST[rng.random_range(0..LAST.len())]
        );
        let number = format!("+2410{:07}", 6_000_000 + i * 7 + rng.random_range(0..7));
        let masterclass = masterclasses[rng.random_range(0..masterclasses.len())];
        let attended = rng.random_bool(0.5);
        let registered =
            base + time::Duration::minutes(rng.random_range(0..(60 * 24 * 20)) / 7 * 7);
        let row = db
            .query_one(
                "with p as (insert into profiles (full_name, whatsapp_number, consent_at)
                            values ($1, $2, now()) returning id)
                 insert into inscriptions (masterclass_id, profile_id, full_name, whatsapp_number,
                                           consent_at, attended, created_at)
                 select $3, p.id, $1, $2, now(), $4, $5 from p returning id",
                &[&name, &number, &masterclass, &attended, &registered],
            )
            .await
            .unwrap();
        let inscription: Uuid = row.get(0);
        let mut scores = [None, None];
        for (slot, kind) in ["PRE", "POST"].into_iter().enumerate() {
            if rng.random_bool(0.6) {
                let score = rng.random_range(0..=10);
                db.execute(
                    "insert into test_attempts (inscription_id, kind, score, max_score) values ($1, $2, $3, 10)",
                    &[&inscription, &kind, &score],
                )
                .await
                .unwrap();
                scores[slot] = Some(score);
            }
        }
        seeded.push(Seeded {
            inscription,
            masterclass,
            name,
            number,
            attended,
            registered,
            pre: scores[0],
            post: scores[1],
        });
    }
    seeded
}

/// Every page of `path` (a query string without `cursor`), with pages of `limit`.
async fn all_pages(staff: &StaffSession, path: &str, limit: usize) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10_000 {
        let url = match &cursor {
            None => format!("{path}&limit={limit}"),
            Some(c) => format!("{path}&limit={limit}&cursor={c}"),
        };
        let response = staff.get(&url).await;
        assert_eq!(
            response.status,
            StatusCode::OK,
            "{url}: {}",
            String::from_utf8_lossy(&response.body)
        );
        let page = response.value();
        let got = page["items"].as_array().unwrap();
        assert!(
            got.len() <= limit,
            "{url}: {} items on a page of {limit}",
            got.len()
        );
        items.extend(got.iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => {
                assert_eq!(got.len(), limit, "{url}: a short page with a next cursor");
                cursor = Some(next.to_owned());
            }
            None => return items,
        }
    }
    panic!("{path} never ended");
}

fn ids(items: &[Value], field: &str) -> Vec<Uuid> {
    items
        .iter()
        .map(|i| i[field].as_str().unwrap().parse().unwrap())
        .collect()
}

fn seed_from_env() -> u64 {
    let seed = std::env::var("DASHBOARD_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("DASHBOARD_SEED={seed}");
    seed
}

/// Random filter combinations over random students: every page set equals the students the
/// filter describes (worked out here, in Rust), in the order asked, with no repeat.
#[tokio::test]
async fn the_students_list_filters_searches_and_pages_as_described() {
    let seed = seed_from_env();
    let mut rng = StdRng::seed_from_u64(seed);
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let mut masterclasses = Vec::new();
    for title in ["Comptabilité", "Droit des affaires", "Marketing"] {
        masterclasses.push(
            app.masterclass(&admin, title, true)
                .await
                .parse::<Uuid>()
                .unwrap(),
        );
    }
    let students = seed_students(&app, &masterclasses, 240, &mut rng).await;

    for round in 0..12 {
        let masterclass = rng
            .random_bool(0.5)
            .then(|| masterclasses[rng.random_range(0..3)]);
        let attended = rng.random_bool(0.4).then(|| rng.random_bool(0.5));
        let has_pre = rng.random_bool(0.3).then(|| rng.random_bool(0.5));
        let has_post = rng.random_bool(0.3).then(|| rng.random_bool(0.5));
        let search = match rng.random_range(0..5) {
            0 => Some("eloise".to_owned()),
            1 => Some("MBA nze".to_owned()),
            2 => {
                let s = &students[rng.random_range(0..students.len())];
                // a fragment of the number as a person types it: "066 12"-like
                let digits = &s.number[5..10];
                Some(format!("{} {}", &digits[..3], &digits[3..]))
            }
            3 => Some("Noël".to_owned()),
            _ => None,
        };
        let (from, to) = if rng.random_bool(0.3) {
            (
                Some(time::macros::date!(2026 - 10 - 05)),
                Some(time::macros::date!(2026 - 10 - 12)),
            )
        } else {
            (None, None)
        };
        let by_name = rng.random_bool(0.3);
        let descending = rng.random_bool(0.5);

        let mut query = String::from("/api/admin/students?");
        if let Some(m) = masterclass {
            query.push_str(&format!("masterclass_id={m}&"));
        }
        if let Some(a) = attended {
            query.push_str(&format!("attended={a}&"));
        }
        if let Some(p) = has_pre {
            query.push_str(&format!("has_pre={p}&"));
        }
        if let Some(p) = has_post {
            query.push_str(&format!("has_post={p}&"));
        }
        if let Some(q) = &search {
            query.push_str(&format!("q={}&", urlencode(q)));
        }
        if let (Some(f), Some(t)) = (from, to) {
            query.push_str(&format!("registered_from={f}&registered_to={t}&"));
        }
        query.push_str(if by_name {
            "sort=name&"
        } else {
            "sort=registered&"
        });
        query.push_str(if descending {
            "order=desc"
        } else {
            "order=asc"
        });

        let gabon = time::UtcOffset::from_hms(1, 0, 0).unwrap();
        let mut expected: Vec<&Seeded> = students
            .iter()
            .filter(|s| masterclass.is_none_or(|m| s.masterclass == m))
            .filter(|s| attended.is_none_or(|a| s.attended == a))
            .filter(|s| has_pre.is_none_or(|p| s.pre.is_some() == p))
            .filter(|s| has_post.is_none_or(|p| s.post.is_some() == p))
            .filter(|s| {
                search.as_ref().is_none_or(|q| {
                    let q = fold(q);
                    fold(&s.name).contains(&q) || s.number.replace('+', "").contains(&q)
                })
            })
            .filter(|s| {
                let day = s.registered.to_offset(gabon).date();
                from.is_none_or(|f| day >= f) && to.is_none_or(|t| day <= t)
            })
            .collect();
        let limit = rng.random_range(1..=25);
        let listed = all_pages(&admin, &query, limit).await;
        let got = ids(&listed, "inscription_id");
        assert_eq!(
            got.iter().collect::<BTreeSet<_>>().len(),
            got.len(),
            "seed {seed} round {round} {query}: a student listed twice"
        );
        if by_name {
            // The order is Postgres's on the name key (its collation), asked independently.
            let ordered: Vec<Uuid> = app
                .db()
                .await
                .query(
                    &format!(
                        "select id from inscriptions where id = any($1)
                         order by lower(unaccent(full_name)) {0}, id {0}",
                        if descending { "desc" } else { "asc" }
                    ),
                    &[&expected.iter().map(|s| s.inscription).collect::<Vec<_>>()],
                )
                .await
                .unwrap()
                .iter()
                .map(|r| r.get(0))
                .collect();
            assert_eq!(got, ordered, "seed {seed} round {round} {query}");
        } else {
            expected.sort_by_key(|s| (s.registered, s.inscription));
            if descending {
                expected.reverse();
            }
            let want: Vec<Uuid> = expected.iter().map(|s| s.inscription).collect();
            assert_eq!(got, want, "seed {seed} round {round} {query}");
        }
        // Each row carries the essentials, right.
        let by_id: HashMap<Uuid, &Seeded> = students.iter().map(|s| (s.inscription, s)).collect();
        for item in &listed {
            let s = by_id[&item["inscription_id"]
                .as_str()
                .unwrap()
                .parse::<Uuid>()
                .unwrap()];
            assert_eq!(item["full_name"], s.name.as_str());
            assert_eq!(item["whatsapp_number"], s.number.as_str());
            assert_eq!(item["attended"], s.attended);
            assert_eq!(item["pre_score"], json!(s.pre));
            assert_eq!(item["post_score"], json!(s.post));
            let gain = s.pre.zip(s.post).map(|(a, b)| b - a);
            assert_eq!(item["gain"], json!(gain));
        }
    }
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn the_search_ignores_accents_case_spaces_and_finds_number_fragments() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let masterclass = app.masterclass(&admin, "Recherche", true).await;
    let mc: Uuid = masterclass.parse().unwrap();
    let db = app.db().await;
    for (name, number) in [
        ("Éloïse Mba-Nze", "+24106612345"),
        ("Eloise Ndong", "+24107700001"),
        ("Jean Obiang", "+24106699999"),
    ] {
        db.execute(
            "with p as (insert into profiles (full_name, whatsapp_number, consent_at) values ($1, $2, now()) returning id)
             insert into inscriptions (masterclass_id, profile_id, full_name, whatsapp_number, consent_at)
             select $3, p.id, $1, $2, now() from p",
            &[&name, &number, &mc],
        )
        .await
        .unwrap();
    }
    let names = |page: Value| -> BTreeSet<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["full_name"].as_str().unwrap().to_owned())
            .collect()
    };
    for (q, want) in [
        ("eloise", vec!["Éloïse Mba-Nze", "Eloise Ndong"]),
        ("ÉLOÏSE", vec!["Éloïse Mba-Nze", "Eloise Ndong"]),
        ("mba nze", vec!["Éloïse Mba-Nze"]),
        ("066 12", vec!["Éloïse Mba-Nze"]),
        ("+241 066", vec!["Éloïse Mba-Nze", "Jean Obiang"]),
        ("zz", vec![]),
    ] {
        let got = names(
            admin
                .get(&format!("/api/admin/students?q={}", urlencode(q)))
                .await
                .value(),
        );
        let want: BTreeSet<String> = want.into_iter().map(str::to_owned).collect();
        assert_eq!(got, want, "q={q}");
    }
    for bad in ["a", "-", &"x".repeat(101)] {
        admin
            .get(&format!("/api/admin/students?q={}", urlencode(bad)))
            .await
            .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    }
    for bad in [
        "sort=age",
        "order=up",
        "limit=0",
        "limit=201",
        "cursor=garbage",
        "registered_from=2026-13-01",
        "registered_from=2026-10-02&registered_to=2026-10-01",
    ] {
        admin
            .get(&format!("/api/admin/students?{bad}"))
            .await
            .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    }
    // A cursor of one sort is refused by another.
    let first = admin
        .get("/api/admin/students?limit=1&sort=name")
        .await
        .value();
    let cursor = first["next_cursor"].as_str().unwrap();
    admin
        .get(&format!("/api/admin/students?limit=1&cursor={cursor}"))
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
}

/// Pages read while registrations pour in: every student there before the first page is
/// listed exactly once, and nobody twice.
#[tokio::test]
async fn paging_never_skips_or_repeats_a_student_while_others_register() {
    let seed = seed_from_env();
    let mut rng = StdRng::seed_from_u64(seed);
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let masterclasses = [app
        .masterclass(&admin, "Concurrence", true)
        .await
        .parse::<Uuid>()
        .unwrap()];
    let before = seed_students(&app, &masterclasses, 150, &mut rng).await;

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (stop, url) = (stop.clone(), app.owner_url.clone());
        let mc = masterclasses[0];
        tokio::spawn(async move {
            let (db, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .unwrap();
            tokio::spawn(connection);
            let mut n = 0u32;
            let mut rng = StdRng::seed_from_u64(seed ^ 0xfeed);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                // Anywhere in the order: at random times within the seeded range, and now.
                let at = datetime!(2026-10-01 08:00 UTC)
                    + time::Duration::minutes(rng.random_range(0..(60 * 24 * 20)));
                let name = format!("{} Concurrent{n}", FIRST[rng.random_range(0..FIRST.len())]);
                db.execute(
                    "with p as (insert into profiles (full_name, whatsapp_number, consent_at)
                                values ($1, '+2410' || (8000000 + $2::int)::text, now()) returning id)
                     insert into inscriptions (masterclass_id, profile_id, full_name, whatsapp_number, consent_at, created_at)
                     select $3, p.id, $1, '+2410' || (8000000 + $2::int)::text, now(), $4 from p",
                    &[&name, &(n as i32), &mc, &at],
                )
                .await
                .unwrap();
                n += 1;
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            }
            n
        })
    };
    for sort in ["sort=registered&order=desc", "sort=name&order=asc"] {
        let listed = all_pages(&admin, &format!("/api/admin/students?{sort}"), 9).await;
        let got = ids(&listed, "inscription_id");
        let unique: BTreeSet<Uuid> = got.iter().copied().collect();
        assert_eq!(
            unique.len(),
            got.len(),
            "seed {seed} {sort}: a student listed twice"
        );
        for s in &before {
            assert!(
                unique.contains(&s.inscription),
                "seed {seed} {sort}: {} skipped",
                s.name
            );
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let inserted = writer.await.unwrap();
    eprintln!("{inserted} students registered while paging");
    assert!(inserted > 0, "nothing was inserted concurrently");
}

/// 10,000 students as CSV: UTF-8 with a BOM, every line parses, accents intact; and the export
/// is streamed: after the first chunk the server is still walking the list (its transaction
/// open, the rest not read yet) instead of having built the whole file.
#[tokio::test]
async fn the_csv_of_ten_thousand_students_is_streamed() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let masterclass = app.masterclass(&admin, "Export", true).await;
    let mc: Uuid = masterclass.parse().unwrap();
    let db = app.db().await;
    db.execute(
        "with p as (
             insert into profiles (full_name, whatsapp_number, consent_at)
             select 'Éloïse Ndong ' || n, '+2410' || (6000000 + n)::text, now() from generate_series(1, 10000) n
             returning id, full_name, whatsapp_number)
         insert into inscriptions (masterclass_id, profile_id, full_name, whatsapp_number, consent_at)
         select $1, p.id, p.full_name, p.whatsapp_number, now() from p",
        &[&mc],
    )
    .await
    .unwrap();

    let request = axum::http::Request::get(format!("/api/admin/students.csv?masterclass_id={mc}"))
        .header("authorization", format!("Bearer {}", admin.token))
        .body(axum::body::Body::empty())
        .unwrap();
    let response = admin.router().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    let mut body = response.into_body();
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert!(first.starts_with(b"\xEF\xBB\xBF"), "no BOM");
    assert!(
        first.len() < 200_000,
        "the first chunk is {} bytes: not a batch",
        first.len()
    );
    // The server waits for us: its export transaction is still open on the list's query.
    let mut open = false;
    for _ in 0..50 {
        let waiting: i64 = db
            .query_one(
                "select count(*) from pg_stat_activity
                 where state = 'idle in transaction' and query like 'select i.id, i.profile_id, i.full_name%'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if waiting > 0 {
            open = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    if !open {
        for row in db.query("select state, left(query, 200) from pg_stat_activity where datname = current_database()", &[]).await.unwrap() {
            eprintln!("{:?} {:?}", row.get::<_, Option<String>>(0), row.get::<_, Option<String>>(1));
        }
    }
    assert!(
        open,
        "after the first chunk the export's transaction was not open: the CSV was built whole"
    );
    let mut all = first.to_vec();
    let mut chunks = 1;
    while let Some(frame) = body.frame().await {
        all.extend_from_slice(&frame.unwrap().into_data().unwrap());
        chunks += 1;
    }
    assert!(chunks > 10, "{chunks} chunks");
    let mut reader = csv::Reader::from_reader(&all[3..]);
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(header[2], "full_name");
    let mut count = 0;
    let mut numbers = BTreeSet::new();
    for record in reader.records() {
        let record = record.unwrap();
        assert!(record[2].starts_with("Éloïse Ndong "), "{:?}", record);
        numbers.insert(record[3].to_owned());
        count += 1;
    }
    assert_eq!(count, 10_000);
    assert_eq!(numbers.len(), 10_000, "a student twice");
    // The export is audited.
    let audited: i64 = db
        .query_one(
            "select count(*) from audit_log where action = 'students.exported'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(audited, 1);
}

/// A tutor sees nothing of another masterclass through any dashboard route.
#[tokio::test]
async fn a_tutor_sees_only_their_masterclasses_through_every_dashboard_route() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let mine = app.masterclass(&admin, "La mienne", true).await;
    let other = app.masterclass(&admin, "L'autre", true).await;
    let tutor = app.tutor(&admin, &[&mine]).await;
    let me = app.student(&mine, "Awa Mienne").await;
    let them = app.student(&other, "Noël Autre").await;

    let listed = tutor.get("/api/admin/students").await.value();
    let names: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["full_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["Awa Mienne"]);
    let filtered = tutor
        .get(&format!("/api/admin/students?masterclass_id={other}"))
        .await
        .value();
    assert_eq!(filtered["items"].as_array().unwrap().len(), 0);
    let searched = tutor.get("/api/admin/students?q=autre").await.value();
    assert_eq!(searched["items"].as_array().unwrap().len(), 0);
    let csv = tutor.get("/api/admin/students.csv").await;
    assert_eq!(csv.status, StatusCode::OK);
    let csv = String::from_utf8(csv.body).unwrap();
    assert!(
        csv.contains("Awa Mienne") && !csv.contains("Noël Autre"),
        "{csv}"
    );

    tutor
        .get(&format!("/api/admin/students/{}", them.profile_id))
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(
        tutor
            .get(&format!("/api/admin/students/{}", me.profile_id))
            .await
            .status,
        StatusCode::OK
    );
    tutor
        .get(&format!("/api/admin/masterclasses/{other}/stats"))
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
    tutor
        .get(&format!("/api/admin/masterclasses/{other}/stats.svg"))
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(
        tutor
            .get(&format!("/api/admin/masterclasses/{mine}/stats"))
            .await
            .status,
        StatusCode::OK
    );
    let overview = tutor.get("/api/admin/stats").await.value();
    let titles: Vec<&str> = overview["masterclasses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, vec!["La mienne"]);
    tutor
        .get("/api/admin/audit")
        .await
        .assert_problem(StatusCode::FORBIDDEN, "forbidden");
    let bulk = tutor
        .post_json(
            "/api/admin/inscriptions/attendance",
            &json!({ "inscription_ids": [me.inscription_id, them.inscription_id], "attended": true }),
        )
        .await;
    bulk.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "unknown_inscriptions");
    assert!(String::from_utf8_lossy(&bulk.body).contains(&them.inscription_id.to_string()));
    let attended: i64 = app
        .db()
        .await
        .query_one("select count(*) from inscriptions where attended", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(attended, 0, "a refused bulk change changed something");
    // Anonymous callers and students get nothing.
    app.get("/api/admin/students")
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
    me.get("/api/admin/students")
        .await
        .assert_problem(StatusCode::FORBIDDEN, "forbidden");
}

/// The students list's cursor carries nothing a reader of a URL or an access log could read
/// (the last row's name above all), and one altered by a client is refused.
#[tokio::test]
async fn the_students_cursor_is_sealed_and_names_no_one() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let mc = app.masterclass(&admin, "Curseurs", true).await;
    for name in ["Séraphine Mouélé", "Ismaël Nguéma"] {
        app.student(&mc, name).await;
    }
    for sort in ["name", "registered"] {
        let first = admin
            .get(&format!("/api/admin/students?sort={sort}&limit=1"))
            .await
            .value();
        let cursor = first["next_cursor"].as_str().unwrap().to_owned();
        let bytes = URL_SAFE_NO_PAD.decode(&cursor).unwrap_or_default();
        assert!(
            serde_json::from_slice::<serde_json::Value>(&bytes).is_err(),
            "the {sort} cursor is JSON"
        );
        let opened = String::from_utf8_lossy(&bytes).to_lowercase();
        for part in ["seraphine", "mouele", "ismael", "nguema"] {
            assert!(
                !opened.contains(part),
                "the {sort} cursor opens to {opened:?}"
            );
        }
        let next = admin
            .get(&format!(
                "/api/admin/students?sort={sort}&limit=1&cursor={cursor}"
            ))
            .await
            .value();
        assert_ne!(next["items"][0], first["items"][0], "{next}");
        assert_eq!(next["items"].as_array().unwrap().len(), 1, "{next}");
        let mut altered = cursor.into_bytes();
        let last = altered.len() - 2;
        altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
        let altered = String::from_utf8(altered).unwrap();
        admin
            .get(&format!(
                "/api/admin/students?sort={sort}&limit=1&cursor={altered}"
            ))
            .await
            .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    }
}

/// A family's phone registered in two masterclasses, as two people: a tutor of one sees that
/// registration's person in the record (profile and consent), and nothing of the other.
#[tokio::test]
async fn a_tutor_sees_only_their_registrations_person_behind_a_shared_number() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let theirs = app.open_masterclass(&admin, "Celle des autres").await;
    let mine = app.open_masterclass(&admin, "La mienne").await;
    let tutor = app.tutor(&admin, &[&mine]).await;
    let number = "+24106937248";
    let other_person = json!({
        "masterclass_id": theirs, "full_name": "Noël Ekomié", "date_of_birth": "1975-02-03",
        "whatsapp_number": number, "consent": true,
    });
    let my_person = json!({
        "masterclass_id": mine, "full_name": "Awa Ekomié", "date_of_birth": "2009-11-30",
        "whatsapp_number": "06 93 72 48", "consent": true,
    });
    for body in [&other_person, &my_person] {
        let registered = app.post_json("/api/inscriptions", body).await;
        assert_eq!(
            registered.status,
            StatusCode::CREATED,
            "{}",
            String::from_utf8_lossy(&registered.body)
        );
    }
    let student: Uuid = app
        .db()
        .await
        .query_one(
            "select distinct profile_id from inscriptions where whatsapp_number = $1",
            &[&number],
        )
        .await
        .unwrap()
        .get(0);

    let seen = tutor.get(&format!("/api/admin/students/{student}")).await;
    assert_eq!(
        seen.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&seen.body)
    );
    let text = String::from_utf8_lossy(&seen.body).into_owned();
    let record = seen.value();
    assert_eq!(record["profile"]["full_name"], "Awa Ekomié", "{record}");
    assert_eq!(record["profile"]["date_of_birth"], "2009-11-30", "{record}");
    assert!(
        !text.contains("Noël") && !text.contains("1975-02-03"),
        "the other masterclass's person shows: {text}"
    );
    assert_eq!(record["inscriptions"].as_array().unwrap().len(), 1);
    let mine_only = &record["consent"]["registrations"];
    assert_eq!(mine_only.as_array().unwrap().len(), 1, "{record}");
    assert_eq!(
        record["consent"]["consent_at"], mine_only[0]["consent_at"],
        "{record}"
    );

    // An admin sees both registrations, each with its own person.
    let whole = admin
        .get(&format!("/api/admin/students/{student}"))
        .await
        .value();
    let names: BTreeSet<&str> = whole["inscriptions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["full_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, BTreeSet::from(["Noël Ekomié", "Awa Ekomié"]));
}

#[tokio::test]
async fn bulk_attendance_changes_all_or_nothing_and_is_audited() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let mc = app.masterclass(&admin, "Présences", true).await;
    let mut students = Vec::new();
    for name in ["Awa", "Noël", "Yann"] {
        students.push(app.student(&mc, name).await);
    }
    let all: Vec<Uuid> = students.iter().map(|s| s.inscription_id).collect();
    let done = admin
        .post_json(
            "/api/admin/inscriptions/attendance",
            &json!({ "inscription_ids": all, "attended": true }),
        )
        .await;
    assert_eq!(
        done.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&done.body)
    );
    assert_eq!(done.value()["changed"].as_array().unwrap().len(), 3);
    let listed = admin.get("/api/admin/students?attended=true").await.value();
    assert_eq!(listed["items"].as_array().unwrap().len(), 3);

    // One unknown id: nothing changes.
    let mut with_unknown = all.clone();
    with_unknown.push(Uuid::new_v4());
    admin
        .post_json(
            "/api/admin/inscriptions/attendance",
            &json!({ "inscription_ids": with_unknown, "attended": false }),
        )
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "unknown_inscriptions");
    let still = admin.get("/api/admin/students?attended=true").await.value();
    assert_eq!(still["items"].as_array().unwrap().len(), 3);
    for bad in [
        json!({ "inscription_ids": [], "attended": true }),
        json!({ "inscription_ids": [all[0], all[0]], "attended": true }),
        json!({ "inscription_ids": ["not-a-uuid"], "attended": true }),
        json!({ "inscription_ids": all, "attended": true, "extra": 1 }),
        json!({ "inscription_ids": (0..501).map(|_| Uuid::new_v4()).collect::<Vec<_>>(), "attended": true }),
    ] {
        let response = admin
            .post_json("/api/admin/inscriptions/attendance", &bad)
            .await;
        assert!(
            response.status.is_client_error(),
            "{bad}: {}",
            response.status
        );
    }
    let audit = admin
        .get("/api/admin/audit?action=inscription.attendance")
        .await
        .value();
    let entries = audit["items"].as_array().unwrap();
    assert_eq!(entries.len(), 3, "{audit}");
    assert_eq!(entries[0]["actor_id"], admin.id.to_string());
}

/// The whole record of a student who registered, took the PRE test and was messaged.
#[tokio::test]
async fn a_students_record_holds_profile_consent_tests_answers_messages_and_audit() {
    let app = TestApp::spawn().await;
    let room = app.classroom().await;
    let paper = room.student.get("/api/tests/PRE").await.value();
    let submitted = room
        .student
        .post_json("/api/tests/PRE", &e2e_tests::answers(&paper, &room.bank, 7))
        .await;
    assert_eq!(
        submitted.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&submitted.body)
    );
    let me = room.student.get("/api/me").await.value();
    let inscription = me["inscription_id"].as_str().unwrap().to_owned();
    room.admin
        .patch_json(
            &format!("/api/admin/inscriptions/{inscription}"),
            &json!({ "attended": true }),
        )
        .await;
    let listed = room.admin.get("/api/admin/students").await.value();
    let student = listed["items"][0]["student_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(listed["items"][0]["pre_score"], 7);

    let record = room
        .admin
        .get(&format!("/api/admin/students/{student}"))
        .await;
    assert_eq!(
        record.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&record.body)
    );
    let record = record.value();
    assert_eq!(record["profile"]["full_name"], "Awa Ndong");
    assert_eq!(record["profile"]["whatsapp_number"], "+24106612345");
    assert!(record["consent"]["consent_at"].is_string(), "{record}");
    assert_eq!(
        record["consent"]["registrations"][0]["inscription_id"],
        inscription.as_str()
    );
    let ins = &record["inscriptions"][0];
    assert_eq!(ins["attended"], true);
    let test = &ins["tests"][0];
    assert_eq!(test["kind"], "PRE");
    assert_eq!(test["score"], 7);
    let answers = test["answers"].as_array().unwrap();
    assert_eq!(answers.len(), 10);
    let right = answers.iter().filter(|a| a["correct"] == true).count();
    assert_eq!(right, 7);
    for answer in answers {
        assert_eq!(
            answer["correct"] == true,
            answer["choice"] == answer["correct_choice"],
            "{answer}"
        );
    }
    let types: BTreeSet<&str> = record["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["message_type"].as_str().unwrap())
        .collect();
    assert!(
        types.contains("registration_confirmed") && types.contains("pre_test_result"),
        "{types:?}"
    );
    assert!(record["messages"][0]["status"].is_string());
    let actions: Vec<&str> = record["audit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"inscription.attendance"), "{actions:?}");
    room.admin
        .get(&format!("/api/admin/students/{}", Uuid::new_v4()))
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
}

/// The statistics of a fixture small enough to work out by hand (the arithmetic is in the
/// comments): 3 questions (keys A, B, C), 6 students; s1–s5 took PRE, s1–s4 and s6 POST.
#[tokio::test]
async fn the_statistics_match_a_fixture_worked_out_by_hand() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let mc = app.masterclass(&admin, "Statistiques", true).await;
    let (stats, _) = stats_fixture(&app, &admin, &mc).await;
    let close = |got: &Value, want: f64, what: &str| {
        let got = got.as_f64().unwrap_or_else(|| panic!("{what}: {got}"));
        assert!((got - want).abs() < 1e-6, "{what}: {got} ≠ {want}");
    };
    assert_eq!(stats["registrations"], 6);
    assert_eq!(stats["attended"], 3);
    close(&stats["attendance_rate"], 0.5, "attendance rate");
    // PRE scores s1..s5 = 2, 1, 0, 3, 0: mean 6/5 = 1.2 points, 0.4 of 3.
    assert_eq!(stats["pre"]["count"], 5);
    close(&stats["pre"]["mean_score"], 1.2, "PRE mean");
    close(&stats["pre"]["mean_ratio"], 0.4, "PRE ratio");
    // POST scores s1..s4, s6 = 3, 2, 1, 3, 0: mean 9/5 = 1.8, 0.6 of 3.
    assert_eq!(stats["post"]["count"], 5);
    close(&stats["post"]["mean_score"], 1.8, "POST mean");
    close(&stats["post"]["mean_ratio"], 0.6, "POST ratio");
    // Paired s1..s4: gains 1, 1, 1, 0 -> 0.75; 3 of 4 improved; pre ratio 6/12 = 0.5, post
    // 9/12 = 0.75, <g> = (0.75 - 0.5) / (1 - 0.5) = 0.5.
    assert_eq!(stats["paired"], 4);
    close(&stats["average_gain"], 0.75, "average gain");
    assert_eq!(stats["improved"], 3);
    close(&stats["improved_share"], 0.75, "improved share");
    close(&stats["normalised_gain"], 0.5, "normalised gain");
    // s1–s3 registered on the 20th; s4–s6 at 23:30 UTC, 00:30 in Libreville: the 21st.
    assert_eq!(
        stats["registrations_by_day"],
        json!([{ "day": "2026-11-20", "count": 3 }, { "day": "2026-11-21", "count": 3 }])
    );
    let counts = |kind: &str| -> Vec<i64> {
        stats["distributions"][kind]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["count"].as_i64().unwrap())
            .collect()
    };
    assert_eq!(counts("pre"), vec![2, 1, 1, 1]);
    assert_eq!(counts("post"), vec![1, 1, 1, 2]);

    let questions = stats["questions"].as_array().unwrap();
    assert_eq!(questions.len(), 3);
    // (success rate, D, point-biserial, choices A B C D, upper choices A B C D) per kind.
    // PRE: upper 27 % = ceil(1.35) = 2 attempts = s4 (3), s1 (2); lower = s3, s5 (0).
    // Q1 PRE: A A B A D -> 3/5; upper 2/2, lower 0/2: D = 1; x = 1 1 0 1 0, rest = 1 0 0 2 0:
    //   r = 1.2 / sqrt(1.2 * 3.2) = 0.612372.
    // Q2 PRE: B C C B C -> 2/5; D = 1; x = 1 0 0 1 0, rest = 1 1 0 2 0: r = 1.4/sqrt(1.2*2.8) = 0.763763.
    // Q3 PRE: D D D C D -> 1/5; upper s4 C, s1 D: 1/2, lower 0: D = 0.5; x = 0 0 0 1 0,
    //   rest = 2 1 0 2 0: r = 1 / sqrt(0.8 * 4) = 0.559017.
    // POST: upper = s1, s4 (3); lower = s6 (0), s3 (1).
    // Q1 POST: A A A A B -> 4/5; upper 1, lower 1/2: D = 0.5; x = 1 1 1 1 0, rest = 2 1 0 2 0:
    //   r = 1 / sqrt(0.8 * 4) = 0.559017.
    // Q2 POST: B B C B C -> 3/5; D = 1; x = 1 1 0 1 0, rest = 2 1 1 2 0: r = 1.4 / sqrt(1.2*2.8) = 0.763763.
    // Q3 POST: C D D C D -> 2/5; D = 1; x = 1 0 0 1 0, rest = 2 2 1 2 0: r = 1.2/sqrt(1.2*3.2) = 0.612372.
    let expected = [
        (
            "A",
            (0.6, 1.0, 0.612372, [3, 1, 0, 1], [2, 0, 0, 0]),
            (0.8, 0.5, 0.559017, [4, 1, 0, 0], [2, 0, 0, 0]),
        ),
        (
            "B",
            (0.4, 1.0, 0.763763, [0, 2, 3, 0], [0, 2, 0, 0]),
            (0.6, 1.0, 0.763763, [0, 3, 2, 0], [0, 2, 0, 0]),
        ),
        (
            "C",
            (0.2, 0.5, 0.559017, [0, 0, 1, 4], [0, 0, 1, 1]),
            (0.4, 1.0, 0.612372, [0, 0, 2, 3], [0, 0, 2, 0]),
        ),
    ];
    for (q, (key, pre, post)) in questions.iter().zip(expected) {
        assert_eq!(q["correct_choice"], key);
        for (kind, (p, d, r, choices, upper)) in [("pre", pre), ("post", post)] {
            let item = &q[kind];
            assert_eq!(item["answered"], 5, "{kind} {q}");
            close(&item["success_rate"], p, &format!("{kind} p of {key}"));
            close(&item["discrimination"], d, &format!("{kind} D of {key}"));
            assert!(
                (item["point_biserial"].as_f64().unwrap() - r).abs() < 1e-5,
                "{kind} r of {key}: {item}"
            );
            let got = |field: &str| -> Vec<i64> {
                ["A", "B", "C", "D"]
                    .iter()
                    .map(|l| item[field][*l].as_i64().unwrap())
                    .collect()
            };
            assert_eq!(got("choices"), choices.to_vec(), "{kind} choices of {key}");
            assert_eq!(
                got("upper_choices"),
                upper.to_vec(),
                "{kind} upper choices of {key}"
            );
        }
    }
    // Flags (at least 5 answers each): unused distractors, and Q3 at PRE too hard (0.2).
    let flags = |q: &Value| -> Vec<String> {
        q["flags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                format!(
                    "{} {}",
                    f["kind"].as_str().unwrap(),
                    f["code"].as_str().unwrap()
                )
            })
            .collect()
    };
    assert_eq!(
        flags(&questions[0]),
        vec![
            "PRE unused_distractor",
            "POST unused_distractor",
            "POST unused_distractor"
        ]
    );
    assert_eq!(
        flags(&questions[1]),
        vec![
            "PRE unused_distractor",
            "PRE unused_distractor",
            "POST unused_distractor",
            "POST unused_distractor"
        ]
    );
    assert_eq!(
        flags(&questions[2]),
        vec![
            "PRE too_hard",
            "PRE unused_distractor",
            "PRE unused_distractor",
            "POST unused_distractor",
            "POST unused_distractor"
        ]
    );
    // The overview carries the same headline.
    let overview = admin.get("/api/admin/stats").await.value();
    let row = overview["masterclasses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["masterclass_id"] == mc.as_str())
        .unwrap()
        .clone();
    close(&row["normalised_gain"], 0.5, "overview <g>");
    assert_eq!(row["registrations"], 6);
}

/// Arranges the fixture of [`the_statistics_match_a_fixture_worked_out_by_hand`] and returns
/// the statistics and the question ids.
async fn stats_fixture(app: &TestApp, admin: &StaffSession, mc: &str) -> (Value, Vec<Uuid>) {
    let bank = app.bank(admin, mc, 3, true).await; // keys A, B, C
    let mut students = Vec::new();
    for i in 1..=6 {
        students.push(app.student(mc, &format!("Élève {i}")).await);
    }
    let db = app.db().await;
    for (i, s) in students.iter().enumerate() {
        let at = if i < 3 {
            datetime!(2026-11-20 10:00 UTC)
        } else {
            datetime!(2026-11-20 23:30 UTC)
        };
        db.execute(
            "update inscriptions set created_at = $2, attended = $3 where id = $1",
            &[&s.inscription_id, &at, &(i < 3)],
        )
        .await
        .unwrap();
    }
    let pre = [
        Some("ABD"),
        Some("ACD"),
        Some("BCD"),
        Some("ABC"),
        Some("DCD"),
        None,
    ];
    let post = [
        Some("ABC"),
        Some("ABD"),
        Some("ACD"),
        Some("ABC"),
        None,
        Some("BCD"),
    ];
    for (kind, answers) in [("PRE", pre), ("POST", post)] {
        for (s, letters) in students.iter().zip(answers) {
            let Some(letters) = letters else { continue };
            let right: Vec<bool> = letters
                .chars()
                .zip(bank.iter())
                .map(|(c, (_, key))| key == &c.to_string())
                .collect();
            let score = right.iter().filter(|r| **r).count() as i32;
            let attempt: Uuid = db
                .query_one(
                    "insert into test_attempts (inscription_id, kind, score, max_score) values ($1, $2, $3, 3) returning id",
                    &[&s.inscription_id, &kind, &score],
                )
                .await
                .unwrap()
                .get(0);
            for ((question, _), (choice, ok)) in bank.iter().zip(letters.chars().zip(right)) {
                db.execute(
                    "insert into test_answers (attempt_id, question_id, choice, correct) values ($1, $2, $3, $4)",
                    &[&attempt, question, &choice.to_string(), &ok],
                )
                .await
                .unwrap();
            }
        }
    }
    let stats = admin
        .get(&format!("/api/admin/masterclasses/{mc}/stats"))
        .await;
    assert_eq!(
        stats.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&stats.body)
    );
    (stats.value(), bank.into_iter().map(|(id, _)| id).collect())
}

/// The chart of the fixture, opened by a real browser: a valid image 1000 wide, with a bar per
/// non-empty score and per question in each colour, bars as tall as their counts.
#[tokio::test]
async fn the_statistics_chart_renders_in_a_headless_browser_with_the_expected_bars() {
    let Some(chromium) = e2e_tests::chromium() else {
        return;
    };
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let mc = app.masterclass(&admin, "Graphique", true).await;
    stats_fixture(&app, &admin, &mc).await;
    let chart = admin
        .get(&format!("/api/admin/masterclasses/{mc}/stats.svg"))
        .await;
    assert_eq!(chart.status, StatusCode::OK);
    assert_eq!(chart.content_type(), "image/svg+xml");

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("chart.svg"), &chart.body).unwrap();
    let colour = |(r, g, b): (u8, u8, u8)| format!("rgb({r}, {g}, {b})");
    let page = format!(
        r#"<!doctype html><html><body><div id="inline">{svg}</div><img id="img" src="chart.svg">
<pre id="out">pending</pre>
<script>
const report = {{}};
function bars(colour) {{
  return [...document.querySelectorAll('#inline rect')]
    .filter(r => getComputedStyle(r).fill === colour)
    .map(r => Math.round(r.getBBox().height));
}}
report.pre = bars('{pre}');
report.post = bars('{post}');
const img = document.getElementById('img');
function done(ok) {{ report.image = ok ? img.naturalWidth + 'x' + img.naturalHeight : 'broken';
  document.getElementById('out').textContent = 'REPORT' + JSON.stringify(report) + 'END'; }}
if (img.complete) done(img.naturalWidth > 0); else {{ img.onload = () => done(true); img.onerror = () => done(false); }}
</script></body></html>"#,
        svg = String::from_utf8_lossy(&chart.body),
        pre = colour(shared::services::stats::PRE_COLOUR),
        post = colour(shared::services::stats::POST_COLOUR),
    );
    let html = dir.path().join("chart.html");
    std::fs::write(&html, page).unwrap();
    let profile = tempfile::tempdir().unwrap();
    let output = tokio::process::Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--allow-file-access-from-files",
            &format!("--user-data-dir={}", profile.path().display()),
            "--virtual-time-budget=5000",
            "--dump-dom",
            &format!("file://{}", html.display()),
        ])
        .output()
        .await
        .expect("chromium runs");
    let dom = String::from_utf8_lossy(&output.stdout);
    let report = dom
        .split_once("REPORT")
        .and_then(|(_, rest)| rest.split_once("END"))
        .map(|(json, _)| json.replace("&quot;", "\""))
        .unwrap_or_else(|| panic!("no report: {}", &dom[..dom.len().min(2000)]));
    let report: Value = serde_json::from_str(&report).unwrap();
    assert_eq!(report["image"], "1000x420", "{report}");
    // PRE: 4 non-empty scores + the legend's swatch + 3 questions; POST likewise.
    let heights = |kind: &str| -> Vec<i64> {
        report[kind]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h.as_i64().unwrap())
            .collect()
    };
    let (pre, post) = (heights("pre"), heights("post"));
    assert_eq!(pre.len(), 8, "{report}");
    assert_eq!(post.len(), 8, "{report}");
    // The distribution bars come first: PRE counts 2, 1, 1, 1 -> the first twice the others.
    assert!((pre[0] - 2 * pre[1]).abs() <= 2, "{pre:?}");
    // POST counts 1, 1, 1, 2: the fourth twice the first.
    assert!((post[3] - 2 * post[0]).abs() <= 2, "{post:?}");
}

/// Staff changes, sign-ins (failed ones too) and exports land in the append-only audit trail,
/// which nobody can rewrite, and which admins page through with filters.
#[tokio::test]
async fn the_audit_trail_records_staff_changes_and_cannot_be_rewritten() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let mc = app.masterclass(&admin, "Audit", true).await;
    let tutor = app.tutor(&admin, &[&mc]).await;
    assert_eq!(
        app.sign_in(&tutor.email, "wrong password!").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.sign_in("nobody@example.org", "whatever it is")
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    app.bank(&tutor, &mc, 1, false).await;
    tutor.get("/api/admin/students.csv").await;

    let entries = |page: Value| -> Vec<(String, String)> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["action"].as_str().unwrap().to_owned(),
                    e["actor_id"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect()
    };
    let all = entries(admin.get("/api/admin/audit?limit=200").await.value());
    let actions: BTreeSet<&str> = all.iter().map(|(a, _)| a.as_str()).collect();
    for action in [
        "masterclass.created",
        "staff.created",
        "staff.assigned",
        "staff.signed_in",
        "staff.sign_in_failed",
        "question.created",
        "students.exported",
    ] {
        assert!(
            actions.contains(action),
            "{action} not audited: {actions:?}"
        );
    }
    let by_tutor = entries(
        admin
            .get(&format!("/api/admin/audit?actor={}", tutor.id))
            .await
            .value(),
    );
    assert!(!by_tutor.is_empty());
    assert!(
        by_tutor
            .iter()
            .all(|(_, actor)| *actor == tutor.id.to_string()),
        "{by_tutor:?}"
    );
    let failed = admin
        .get("/api/admin/audit?action=staff.sign_in_failed")
        .await
        .value();
    assert_eq!(failed["items"].as_array().unwrap().len(), 2, "{failed}");
    let today = OffsetDateTime::now_utc().date();
    let tomorrow = today.next_day().unwrap().next_day().unwrap();
    let later = entries(
        admin
            .get(&format!("/api/admin/audit?from={tomorrow}"))
            .await
            .value(),
    );
    assert!(later.is_empty(), "{later:?}");
    let paged = all_pages(&admin, "/api/admin/audit?x=1", 3).await;
    assert_eq!(paged.len(), all.len());

    // Nobody rewrites it: not the app role (no grant, no policy), not even the owner (trigger).
    let db = app.db().await;
    for statement in [
        "update audit_log set action = 'x'",
        "delete from audit_log",
        "truncate audit_log",
    ] {
        let err = db.execute(statement, &[]).await.unwrap_err();
        let message = err
            .as_db_error()
            .map(|e| e.message().to_owned())
            .unwrap_or_default();
        assert!(message.contains("append-only"), "{statement}: {err:?}");
    }
    let mut client = app.state.db.get().await.unwrap();
    let tx = shared::db::begin_as(&mut client, &shared::auth::Caller::System)
        .await
        .unwrap();
    let err = tx
        .execute("update audit_log set action = 'x'", &[])
        .await
        .unwrap_err();
    let message = err
        .as_db_error()
        .map(|e| e.message().to_owned())
        .unwrap_or_default();
    assert!(message.contains("permission denied"), "{err:?}");
}
