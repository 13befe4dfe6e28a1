use e2e_tests::{TestApp, config_for};
use shared::db::{MIGRATIONS, migrate};

async fn empty_database(app: &TestApp) -> String {
    let name = format!("empty_{}", uuid::Uuid::new_v4().simple());
    app.db()
        .await
        .batch_execute(&format!("create database {name}"))
        .await
        .unwrap();
    let (base, _) = app.owner_url.rsplit_once('/').unwrap();
    format!("{base}/{name}")
}

#[tokio::test]
async fn migrations_apply_from_an_empty_database_and_then_have_nothing_left_to_do() {
    let app = TestApp::spawn().await;
    let url = empty_database(&app).await;
    let config = config_for(&url, "http://unused").database;
    let pool = shared::db::connect(&config.url, &config).unwrap();

    assert_eq!(migrate(&pool).await.unwrap(), MIGRATIONS.len());
    assert_eq!(migrate(&pool).await.unwrap(), 0);

    let client = pool.get().await.unwrap();
    let versions: Vec<i32> = client
        .query(
            "select version from schema_migrations order by version",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        versions,
        MIGRATIONS.iter().map(|m| m.version).collect::<Vec<_>>()
    );
    let tables: i64 = client
        .query_one(
            "select count(*) from information_schema.tables where table_name in ('masterclasses', 'idempotency_keys')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(tables, 2);
}

/// Each applied migration's text is recorded by its SHA-256: a database that applied a
/// migration whose text has changed since refuses to start, naming it; one migrated before the
/// digests were recorded (none stored) starts as before, and is stamped from then on.
#[tokio::test]
async fn a_migration_edited_after_it_was_applied_stops_the_start() {
    let app = TestApp::spawn().await;
    let url = empty_database(&app).await;
    let config = config_for(&url, "http://unused").database;
    let pool = shared::db::connect(&config.url, &config).unwrap();
    migrate(&pool).await.unwrap();
    let client = pool.get().await.unwrap();
    let recorded: Vec<String> = client
        .query("select sha256 from schema_migrations order by version", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        recorded,
        MIGRATIONS.iter().map(|m| m.sha256()).collect::<Vec<_>>()
    );

    client
        .batch_execute("update schema_migrations set sha256 = null where version = 2")
        .await
        .unwrap();
    assert_eq!(
        migrate(&pool).await.unwrap(),
        0,
        "no digest recorded: nothing to compare"
    );
    let stamped: Option<String> = client
        .query_one(
            "select sha256 from schema_migrations where version = 2",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        stamped,
        Some(MIGRATIONS[1].sha256()),
        "stamped with today's text from then on"
    );
    client
        .batch_execute("update schema_migrations set sha256 = md5('older text') where version = 3")
        .await
        .unwrap();
    let refused = migrate(&pool).await.unwrap_err();
    assert!(
        format!("{refused:#}").contains("migration 0003_journey was edited"),
        "{refused:#}"
    );
}

#[tokio::test]
async fn instances_starting_together_apply_each_migration_exactly_once() {
    let app = TestApp::spawn().await;
    let url = empty_database(&app).await;
    let config = config_for(&url, "http://unused").database;
    let (a, b, c) = (
        shared::db::connect(&config.url, &config).unwrap(),
        shared::db::connect(&config.url, &config).unwrap(),
        shared::db::connect(&config.url, &config).unwrap(),
    );

    let (ra, rb, rc) = tokio::join!(migrate(&a), migrate(&b), migrate(&c));

    assert_eq!(ra.unwrap() + rb.unwrap() + rc.unwrap(), MIGRATIONS.len());
}

#[tokio::test]
async fn migrations_apply_as_an_owner_that_is_not_a_superuser() {
    // Arrange: an owner with the rights RDS gives its master user and Supabase its `postgres`
    // (log in, create databases and roles; no superuser, no BYPASSRLS), owning a new database.
    let app = TestApp::spawn().await;
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let (owner, database) = (format!("owner_{suffix}"), format!("owned_{suffix}"));
    let superuser = app.db().await;
    for statement in [
        format!("create role {owner} login createdb createrole nosuperuser nobypassrls"),
        format!("create database {database} owner {owner}"),
    ] {
        superuser.batch_execute(&statement).await.unwrap();
    }
    let (base, _) = app.owner_url.rsplit_once('/').unwrap();
    let url = local_gateway::postgres::with_user(&format!("{base}/{database}"), &owner);
    let config = config_for(&url, "http://unused").database;
    let pool = shared::db::connect(&config.url, &config).unwrap();

    // Act
    let applied = migrate(&pool).await;

    // Assert: every migration applied; the definer functions belong to their role, which keeps
    // no right to create in the schema.
    assert_eq!(applied.unwrap(), MIGRATIONS.len());
    let client = pool.get().await.unwrap();
    let row = client
        .query_one(
            "select (select count(*) from pg_proc where proowner = 'masterclass_definer'::regrole),
                    has_schema_privilege('masterclass_definer', 'public', 'CREATE'),
                    (select rolsuper from pg_roles where rolname = current_user)",
            &[],
        )
        .await
        .unwrap();
    let (definer_functions, definer_creates, superuser): (i64, bool, bool) =
        (row.get(0), row.get(1), row.get(2));
    assert!(!superuser);
    assert!(definer_functions >= 10, "{definer_functions}");
    assert!(!definer_creates);
}
