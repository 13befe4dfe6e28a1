//! Row-level security: Postgres, not the handlers, decides what each caller sees. These tests
//! run deliberately unfiltered queries as a caller, the way a route that forgot its `WHERE`
//! would, and check that the database still hides and protects other people's rows.

use e2e_tests::{StaffSession, TestApp};
use shared::auth::{Caller, Role, StaffIdentity, StudentIdentity};
use tokio_postgres::error::SqlState;
use uuid::Uuid;

fn tutor_caller(tutor: &StaffSession) -> Caller {
    Caller::Staff(StaffIdentity {
        id: tutor.id,
        role: Role::Tuteur,
        email: tutor.email.clone(),
    })
}

/// Runs `sql` as `caller` and returns the ids (first column) it sees.
async fn ids_as(app: &TestApp, caller: &Caller, sql: &str) -> Vec<Uuid> {
    let mut client = app.state.db.get().await.unwrap();
    let tx = shared::db::begin_as(&mut client, caller).await.unwrap();
    let ids = tx
        .query(sql, &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    tx.commit().await.unwrap();
    ids
}

/// Runs a statement as `caller`: the number of rows it touched, or the SQL state it failed with.
async fn execute_as(app: &TestApp, caller: &Caller, sql: &str) -> Result<u64, SqlState> {
    let mut client = app.state.db.get().await.unwrap();
    let tx = shared::db::begin_as(&mut client, caller).await.unwrap();
    let result = tx
        .execute(sql, &[])
        .await
        .map_err(|e| e.code().cloned().unwrap());
    tx.commit().await.ok();
    result
}

#[tokio::test]
async fn the_functions_connect_as_a_role_that_owns_nothing_and_cannot_bypass_rls() {
    let app = TestApp::spawn().await;
    let client = app.state.db.get().await.unwrap();

    let role = client
        .query_one("select current_user::text, rolsuper, rolbypassrls from pg_roles where rolname = current_user", &[])
        .await
        .unwrap();
    let owned: i64 = client
        .query_one("select count(*) from pg_tables where schemaname = 'public' and tableowner = current_user", &[])
        .await
        .unwrap()
        .get(0);

    assert_eq!(role.get::<_, String>(0), local_gateway::postgres::APP_LOGIN);
    assert!(!role.get::<_, bool>(1), "superuser");
    assert!(!role.get::<_, bool>(2), "bypassrls");
    assert_eq!(owned, 0);
}

#[tokio::test]
async fn every_table_but_the_migration_ledger_has_forced_row_level_security() {
    let app = TestApp::spawn().await;

    let unprotected: Vec<String> = app
        .db()
        .await
        .query(
            "select relname::text from pg_class
             where relnamespace = 'public'::regnamespace and relkind = 'r'
               and not (relrowsecurity and relforcerowsecurity)",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();

    assert_eq!(unprotected, ["schema_migrations"]);
}

#[tokio::test]
async fn a_tutor_cannot_read_or_change_another_masterclass_even_through_unfiltered_queries() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let mine = app.masterclass(&admin, "La mienne", false).await;
    let other = app.masterclass(&admin, "Celle d'un autre", false).await;
    let tutor = app.tutor(&admin, &[&mine]).await;
    let my_student = app.student(&mine, "Awa Ndong").await;
    let other_student = app.student(&other, "Paul Obiang").await;
    let caller = tutor_caller(&tutor);

    let masterclasses = ids_as(&app, &caller, "select id from masterclasses").await;
    let inscriptions = ids_as(&app, &caller, "select id from inscriptions").await;
    let profiles = ids_as(&app, &caller, "select id from profiles").await;
    let staff = ids_as(&app, &caller, "select id from staff_users").await;
    let renamed = execute_as(&app, &caller, "update masterclasses set title = 'Piratée'").await;
    let marked = execute_as(&app, &caller, "update inscriptions set attended = true").await;
    let deleted = execute_as(&app, &caller, "delete from inscriptions").await;
    let self_assigned = execute_as(
        &app,
        &caller,
        &format!(
            "insert into masterclass_tutors (masterclass_id, tutor_id) values ('{other}', '{}')",
            tutor.id
        ),
    )
    .await;
    let created = execute_as(
        &app,
        &caller,
        "insert into masterclasses (title, starts_at, ends_at) values ('Nouvelle', now(), now() + interval '1 hour')",
    )
    .await;

    assert_eq!(masterclasses, [mine.parse::<Uuid>().unwrap()]);
    assert_eq!(inscriptions, [my_student.inscription_id]);
    assert_eq!(profiles, [my_student.profile_id]);
    assert_eq!(staff, [tutor.id]);
    assert_eq!(
        renamed,
        Ok(0),
        "a tutor may not rename even their own masterclass"
    );
    assert_eq!(marked, Ok(1), "only the tutor's own inscription is touched");
    assert_eq!(deleted, Ok(0));
    assert_eq!(self_assigned, Err(SqlState::INSUFFICIENT_PRIVILEGE));
    assert_eq!(created, Err(SqlState::INSUFFICIENT_PRIVILEGE));
    let untouched: bool = app
        .db()
        .await
        .query_one(
            "select attended from inscriptions where id = $1",
            &[&other_student.inscription_id],
        )
        .await
        .unwrap()
        .get(0);
    assert!(!untouched);
}

#[tokio::test]
async fn a_student_sees_only_their_own_record() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let theirs = app.masterclass(&admin, "La leur", false).await;
    let public = app.masterclass(&admin, "Publique", true).await;
    let hidden = app.masterclass(&admin, "Cachée", false).await;
    let student = app.student(&theirs, "Awa Ndong").await;
    let classmate = app.student(&theirs, "Marie Nze").await;
    app.student(&hidden, "Paul Obiang").await;
    let caller = Caller::Student(StudentIdentity {
        inscription_id: student.inscription_id,
        profile_id: student.profile_id,
        masterclass_id: theirs.parse().unwrap(),
    });

    let mut masterclasses = ids_as(&app, &caller, "select id from masterclasses").await;
    let inscriptions = ids_as(&app, &caller, "select id from inscriptions").await;
    let profiles = ids_as(&app, &caller, "select id from profiles").await;
    let tokens = ids_as(
        &app,
        &caller,
        "select inscription_id from inscription_tokens",
    )
    .await;
    let staff = ids_as(&app, &caller, "select id from staff_users").await;
    let attended = execute_as(&app, &caller, "update inscriptions set attended = true").await;

    masterclasses.sort();
    let mut expected: Vec<Uuid> = vec![theirs.parse().unwrap(), public.parse().unwrap()];
    expected.sort();
    assert_eq!(masterclasses, expected);
    assert_eq!(inscriptions, [student.inscription_id]);
    assert!(
        profiles.is_empty(),
        "a student's record is their inscription; the profile, shared by every registration of \
         the number, is not theirs to read: {profiles:?}"
    );
    assert_eq!(tokens, [student.inscription_id]);
    assert!(staff.is_empty());
    assert_eq!(
        attended,
        Ok(0),
        "a student may not mark their own attendance"
    );
    assert_ne!(student.profile_id, classmate.profile_id);
}

#[tokio::test]
async fn anonymous_callers_see_only_the_published_catalogue() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let public = app.masterclass(&admin, "Publique", true).await;
    let draft = app.masterclass(&admin, "Brouillon", false).await;
    app.student(&draft, "Awa Ndong").await;

    let masterclasses = ids_as(&app, &Caller::Anonymous, "select id from masterclasses").await;
    let inscriptions = ids_as(&app, &Caller::Anonymous, "select id from inscriptions").await;
    let profiles = ids_as(&app, &Caller::Anonymous, "select id from profiles").await;
    let staff = ids_as(&app, &Caller::Anonymous, "select id from staff_users").await;
    let created = execute_as(
        &app,
        &Caller::Anonymous,
        "insert into masterclasses (title, starts_at, ends_at) values ('Nouvelle', now(), now() + interval '1 hour')",
    )
    .await;

    assert_eq!(masterclasses, [public.parse::<Uuid>().unwrap()]);
    assert!(inscriptions.is_empty() && profiles.is_empty() && staff.is_empty());
    assert_eq!(created, Err(SqlState::INSUFFICIENT_PRIVILEGE));
}

#[tokio::test]
async fn idempotency_keys_belong_to_the_caller_who_used_them() {
    let app = TestApp::spawn().await;
    let first = app.admin().await;
    let second = app.admin().await;
    let body = |title: &str| serde_json::json!({ "title": title, "starts_at": "2026-12-05T09:00:00Z", "ends_at": "2026-12-05T10:00:00Z" });
    let key = [("idempotency-key", "shared-key")];

    let a = first
        .send_json(
            http::Method::POST,
            "/api/masterclasses",
            &body("Première"),
            &key,
        )
        .await;
    let b = second
        .send_json(
            http::Method::POST,
            "/api/masterclasses",
            &body("Seconde"),
            &key,
        )
        .await;

    assert_eq!(a.status, http::StatusCode::CREATED);
    assert_eq!(
        b.status,
        http::StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&b.body)
    );
    assert_ne!(a.value()["id"], b.value()["id"]);
}

/// How many times the caller functions (`auth_*`) ran while `caller` read `sql` (with `$1` =
/// `masterclass`), and how many rows it saw. Counted by Postgres itself
/// (`track_functions = 'all'`, readable in the transaction's own statistics).
async fn function_calls_reading(
    app: &TestApp,
    caller: &Caller,
    sql: &str,
    masterclass: Uuid,
) -> (i64, usize) {
    let mut db = app.db().await;
    let tx = db.transaction().await.unwrap();
    tx.batch_execute("set local track_functions = 'all'")
        .await
        .unwrap();
    tx.execute(
        "select set_config('role', 'masterclass_app', true), set_config('request.jwt.claims', $1, true)",
        &[&caller.claims().to_string()],
    )
    .await
    .unwrap();
    let rows = tx.query(sql, &[&masterclass]).await.unwrap().len();
    let calls: i64 = tx
        .query_one(
            "select coalesce(sum(calls), 0)::bigint from pg_stat_xact_user_functions
             where funcname like 'auth%'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    tx.rollback().await.unwrap();
    (calls, rows)
}

#[tokio::test]
async fn policies_call_the_caller_functions_once_per_query_not_per_row() {
    // Arrange: a bank of 300 questions, 100 more in a masterclass the tutor does not teach.
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let taught: Uuid = app
        .masterclass(&admin, "Banque", true)
        .await
        .parse()
        .unwrap();
    let other: Uuid = app
        .masterclass(&admin, "Autre", true)
        .await
        .parse()
        .unwrap();
    let tutor = app.tutor(&admin, &[&taught.to_string()]).await;
    let db = app.db().await;
    for (masterclass, count) in [(taught, 300), (other, 100)] {
        db.execute(
            "insert into questions (masterclass_id, text, choice_a, choice_b, choice_c, choice_d, status)
             select $1, 'Question ' || g || ' : laquelle ?', 'A' || g, 'B' || g, 'C' || g, 'D' || g, 'approved'
             from generate_series(1, $2::int) g",
            &[&masterclass, &count],
        )
        .await
        .unwrap();
    }
    let admin_caller = Caller::Staff(StaffIdentity {
        id: admin.id,
        role: Role::Admin,
        email: admin.email.clone(),
    });
    let listing =
        "select id from questions where deleted_at is null and (masterclass_id = $1 or true)";
    let joined = "select q.id from questions q join masterclasses m on m.id = q.masterclass_id
                  where q.masterclass_id = $1 or true";

    for (who, caller, sees) in [
        ("admin", &admin_caller, 400),
        ("tutor", &tutor_caller(&tutor), 300),
    ] {
        for sql in [listing, joined] {
            // Act
            let (calls, rows) = function_calls_reading(&app, caller, sql, taught).await;

            // Assert: the rows are filtered as before, by a constant number of calls.
            println!("{who}: {rows} rows, {calls} calls to auth_* functions for {sql}");
            assert_eq!(
                rows, sees,
                "{who} sees the questions of their masterclasses"
            );
            assert!(
                calls <= 5,
                "{who}: {calls} calls to the caller functions for {rows} rows: evaluated per row"
            );
        }
    }
}

/// `register_inscription` writes as a definer (see migration 0010), so its own checks stand in
/// for the insert policies: a caller gets through only as the registrar of the number it
/// registers, for a published masterclass.
#[tokio::test]
async fn a_registration_writes_only_the_number_of_the_registrars_claims_for_a_published_masterclass()
 {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let open = app.open_masterclass(&admin, "Ouverte").await;
    let draft = app.masterclass(&admin, "Brouillon", false).await;
    let register = |masterclass: &str, number: &str| {
        format!(
            "select * from register_inscription(null, '{masterclass}', 'Awa Ndong', '2001-04-12', '{number}',
                 now(), '2026-11', '\\x00'::bytea, 'registration_confirmed', '{{}}', 'Bonjour')"
        )
    };
    let registrar = |number: &str| Caller::Registrar {
        whatsapp_number: number.to_owned(),
    };

    let own = execute_as(
        &app,
        &registrar("+24106000001"),
        &register(&open, "+24106000001"),
    )
    .await;
    let other = execute_as(
        &app,
        &registrar("+24106000001"),
        &register(&open, "+24106000002"),
    )
    .await;
    let unpublished = execute_as(
        &app,
        &registrar("+24106000003"),
        &register(&draft, "+24106000003"),
    )
    .await;
    let anonymous = execute_as(&app, &Caller::Anonymous, &register(&open, "+24106000004")).await;
    let tutor = app.tutor(&admin, &[&open]).await;
    let staff = execute_as(
        &app,
        &tutor_caller(&tutor),
        &register(&open, "+24106000005"),
    )
    .await;

    assert_eq!(own, Ok(1));
    for refused in [other, unpublished, anonymous, staff] {
        assert_eq!(refused, Err(SqlState::INSUFFICIENT_PRIVILEGE));
    }
    assert_eq!(app.count("inscriptions").await, 1);
    assert_eq!(app.count("profiles").await, 1);
    assert_eq!(app.count("outbox_messages").await, 1);
    assert_eq!(app.count("inscription_tokens").await, 1);
}
