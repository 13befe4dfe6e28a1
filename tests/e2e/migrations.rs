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

/// A database migrated before records created outside a sync carried clocks: migrating it gives
/// each such record's columns its creation time as their clock, and leaves the clocks a device
/// set alone.
#[tokio::test]
async fn records_created_before_create_clocks_get_their_creation_time_as_clock() {
    let app = TestApp::spawn().await;
    let url = empty_database(&app).await;
    let config = config_for(&url, "http://unused").database;
    let pool = shared::db::connect(&config.url, &config).unwrap();
    let before_clocks = MIGRATIONS
        .iter()
        .position(|m| m.name == "0018_sync_clocks_and_fates")
        .unwrap();
    let client = pool.get().await.unwrap();
    client
        .batch_execute(
            "create table schema_migrations (version integer primary key, name text not null,
                 applied_at timestamptz not null default now(), sha256 text)",
        )
        .await
        .unwrap();
    for m in &MIGRATIONS[..before_clocks] {
        client.batch_execute(m.sql).await.unwrap();
        client
            .execute(
                "insert into schema_migrations (version, name, sha256) values ($1, $2, $3)",
                &[&m.version, &m.name, &m.sha256()],
            )
            .await
            .unwrap();
    }
    let rest: uuid::Uuid = client
        .query_one(
            "insert into masterclasses (title, starts_at, ends_at, created_at)
             values ('Créée en ligne', now(), now() + interval '1 hour', '2026-01-02T03:04:05.678Z')
             returning id",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let synced: uuid::Uuid = client
        .query_one(
            "insert into masterclasses (title, starts_at, ends_at, field_clocks)
             values ('Déjà horodatée', now(), now() + interval '1 hour',
                     '{\"title\": \"1795430400000-00007-device\"}') returning id",
            &[],
        )
        .await
        .unwrap()
        .get(0);

    migrate(&pool).await.unwrap();
    let clocks = |id: uuid::Uuid| {
        let client = &client;
        async move {
            let value: serde_json::Value = client
                .query_one(
                    "select field_clocks from masterclasses where id = $1",
                    &[&id],
                )
                .await
                .unwrap()
                .get(0);
            value
        }
    };
    let rest_clocks = clocks(rest).await;
    let synced_clocks = clocks(synced).await;
    let leftover: Option<String> = client
        .query_one(
            "select nullif(current_setting('sync.applying', true), '')",
            &[],
        )
        .await
        .unwrap()
        .get(0);

    for field in ["title", "description", "starts_at", "ends_at", "published"] {
        assert_eq!(
            rest_clocks[field], "1767323045678-00000-server",
            "{field}: {rest_clocks}"
        );
    }
    assert_eq!(synced_clocks["title"], "1795430400000-00007-device");
    assert!(synced_clocks.get("starts_at").is_some(), "{synced_clocks}");
    assert_eq!(leftover, None);
}

/// The live schema in one place: `shared/schema.sql` is what the migrations produce today
/// (tables, indexes, functions as they stand after every `create or replace`, policies, grants),
/// as `pg_dump --schema-only` prints it, without its comments and settings. A migration that
/// changes the schema changes the file too: `UPDATE_SCHEMA=1 cargo test -p e2e-tests --test e2e
/// migrations::the_committed_schema` writes it anew.
#[tokio::test]
async fn the_committed_schema_is_what_the_migrations_produce() {
    let app = TestApp::spawn().await;
    let url = empty_database(&app).await;
    let config = config_for(&url, "http://unused").database;
    let pool = shared::db::connect(&config.url, &config).unwrap();
    migrate(&pool).await.unwrap();
    let owner: String = pool
        .get()
        .await
        .unwrap()
        .query_one("select current_user::text", &[])
        .await
        .unwrap()
        .get(0);

    let pg_dump = local_gateway::postgres::find_tool("pg_dump").unwrap();
    let output = std::process::Command::new(pg_dump)
        .args(["--schema-only", "--no-comments", "--dbname", &url])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let dumped = normalised_schema(&String::from_utf8(output.stdout).unwrap(), &owner);
    let path = e2e_tests::workspace_root().join("shared/schema.sql");
    if std::env::var("UPDATE_SCHEMA").is_ok_and(|v| v == "1") {
        std::fs::write(&path, &dumped).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();

    assert!(
        committed == dumped,
        "shared/schema.sql is not what the migrations produce: run `UPDATE_SCHEMA=1 cargo test -p \
         e2e-tests --test e2e migrations::the_committed_schema` and commit the file (first \
         differing line: {:?})",
        committed.lines().zip(dumped.lines()).find(|(a, b)| a != b)
    );
}

/// A dump without what differs from one server or run to another: comments, session settings,
/// `\restrict` keys, the owner's name, and runs of blank lines.
fn normalised_schema(dump: &str, owner: &str) -> String {
    let mut out = String::from(
        "-- The schema the migrations produce, as pg_dump --schema-only prints it (generated: see\n\
         -- migrations::the_committed_schema_is_what_the_migrations_produce; never edit by hand).\n",
    );
    let mut blank = false;
    for line in dump.lines() {
        if line.starts_with("--")
            || line.starts_with("SET ")
            || line.starts_with("SELECT pg_catalog.set_config")
            || line.starts_with("\\restrict")
            || line.starts_with("\\unrestrict")
        {
            continue;
        }
        if line.trim().is_empty() {
            blank = true;
            continue;
        }
        if blank {
            out.push('\n');
            blank = false;
        }
        out.push_str(&line.replace(&format!("OWNER TO {owner};"), "OWNER TO <owner>;"));
        out.push('\n');
    }
    out
}
