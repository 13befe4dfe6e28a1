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
