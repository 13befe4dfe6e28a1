//! The real function binaries, driven through the Lambda Runtime API with the samples in events/.

use e2e_tests::{
    TestApp,
    lambda::{Runtime, build_binary},
    workspace_root,
};
use local_gateway::samples::Fixture;
use serde_json::Value;

fn env_for(app: &TestApp) -> Vec<(&'static str, String)> {
    vec![
        // Served as the unprivileged login; migrated (a no-op here) as the owner.
        ("DATABASE_URL", app.database_url.clone()),
        ("DATABASE_MIGRATION_URL", app.owner_url.clone()),
        ("JWT_SECRET", e2e_tests::JWT_SECRET.into()),
        (
            "WHAPI_WEBHOOK_SECRET",
            e2e_tests::fake_whapi::WEBHOOK_SECRET.into(),
        ),
        ("S3_ENDPOINT", app.s3.endpoint()),
        (
            "S3_ACCESS_KEY_ID",
            local_gateway::s3::LOCAL_ACCESS_KEY.into(),
        ),
        (
            "S3_SECRET_ACCESS_KEY",
            local_gateway::s3::LOCAL_SECRET_KEY.into(),
        ),
        ("S3_BUCKET", app.state.storage.bucket().into()),
    ]
}

fn event(relative: &str) -> Value {
    let path = workspace_root().join("events").join(relative);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn body(answer: &Value) -> Value {
    serde_json::from_str(answer["body"].as_str().unwrap_or("null")).unwrap_or(Value::Null)
}

#[tokio::test]
async fn the_masterclasses_binary_answers_api_gateway_events() {
    let app = TestApp::spawn().await;
    let fixture = Fixture::create(&app.state).await.unwrap();
    let before = app.count("masterclasses").await;
    let binary = tokio::task::spawn_blocking(|| build_binary("masterclasses", "masterclasses"))
        .await
        .unwrap()
        .unwrap();
    let mut function = Runtime::start(&binary, "masterclasses", &env_for(&app))
        .await
        .unwrap();

    let create = fixture.apply(&event("masterclasses/create.json"));
    let created = function
        .invoke(create.clone())
        .await
        .unwrap()
        .expect("no function error");
    let replayed = function
        .invoke(create)
        .await
        .unwrap()
        .expect("no function error");
    let unsigned = function
        .invoke(event("masterclasses/create.json"))
        .await
        .unwrap()
        .expect("no function error");
    let listed = function
        .invoke(event("masterclasses/list.json"))
        .await
        .unwrap()
        .expect("no function error");
    let shown = function
        .invoke(fixture.apply(&event("masterclasses/get.json")))
        .await
        .unwrap()
        .expect("no function error");
    let download = function
        .invoke(fixture.apply(&event("masterclasses/pdf-download.json")))
        .await
        .unwrap()
        .expect("no function error");

    assert_eq!(created["statusCode"], 201, "{created}");
    let created = body(&created);
    assert_eq!(created["title"], "Créer et gérer son entreprise au Gabon");
    // The sample carries an Idempotency-Key: the replay answers the same and writes nothing.
    assert_eq!(body(&replayed)["id"], created["id"]);
    // The sample's own token is signed with another secret: refused before anything is written.
    assert_eq!(unsigned["statusCode"], 401, "{unsigned}");
    assert_eq!(app.count("masterclasses").await, before + 1);
    assert_eq!(listed["statusCode"], 200);
    let page = body(&listed);
    let ids: Vec<&Value> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| &m["id"])
        .collect();
    assert!(ids.contains(&&created["id"]), "{page}");
    // The handout is linked on the host API Gateway was called at, over https, and the link
    // redirects to the file in the store.
    let shown = body(&shown);
    assert_eq!(
        shown["pdf"]["download_url"],
        format!(
            "https://abc123def4.execute-api.eu-west-3.amazonaws.com/api/masterclasses/{}/pdf",
            shown["id"].as_str().unwrap()
        ),
        "{shown}"
    );
    assert_eq!(download["statusCode"], 302, "{download}");
    let signed = download["headers"]["location"].as_str().unwrap();
    let file = reqwest::get(signed).await.unwrap();
    assert!(file.status().is_success(), "{signed}: {}", file.status());
    assert!(file.bytes().await.unwrap().starts_with(b"%PDF-"));
}

/// The status `events/README.md` documents for each sample: its table's rows
/// ``| `function/sample.json` | 200 | what it does |`` (`report` for a scheduled event).
fn documented_statuses() -> std::collections::BTreeMap<String, String> {
    let readme = std::fs::read_to_string(workspace_root().join("events/README.md")).unwrap();
    readme
        .lines()
        .filter_map(|line| {
            let mut cells = line.trim().strip_prefix('|')?.split('|').map(str::trim);
            let sample = cells.next()?.strip_prefix('`')?.strip_suffix('`')?;
            let status = cells.next()?;
            Some((sample.to_owned(), status.to_owned()))
        })
        .collect()
}

#[tokio::test]
async fn every_sample_event_answers_its_documented_status_from_its_function() {
    let app = TestApp::spawn().await;
    let documented = documented_statuses();
    let root = workspace_root().join("events");
    let mut checked = Vec::new();
    let mut wrong = Vec::new();
    for function_dir in std::fs::read_dir(&root)
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_dir())
    {
        let name = function_dir.file_name().to_string_lossy().into_owned();
        let binary = {
            let name = name.clone();
            tokio::task::spawn_blocking(move || build_binary(&name, &name))
                .await
                .unwrap()
                .unwrap()
        };
        let mut function = Runtime::start(&binary, &name, &env_for(&app))
            .await
            .unwrap();
        let mut samples: Vec<_> = std::fs::read_dir(function_dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        samples.sort();
        for sample in samples {
            let relative = sample
                .strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            // Fresh rows for each sample, so that none depends on what ran before it.
            let mut fixture = Fixture::create(&app.state).await.unwrap();
            // The function's own secret (see `env_for`).
            fixture.webhook_secret = Some(e2e_tests::fake_whapi::WEBHOOK_SECRET.into());
            let answer = function
                .invoke(fixture.apply(&event(&relative)))
                .await
                .unwrap()
                .unwrap_or_else(|e| panic!("{relative}: function error {e}"));
            let got = match answer["statusCode"].as_u64() {
                Some(status) => status.to_string(),
                // A scheduled function answers with its report, not an HTTP response.
                None if answer["dispatch"].is_object()
                    || answer["skipped"].is_string()
                    || answer["backup"].is_object() =>
                {
                    "report".to_owned()
                }
                None => format!("no status in {answer}"),
            };
            let expected = documented.get(&relative).map_or("undocumented", |s| s);
            if got != expected {
                wrong.push(format!(
                    "{relative}: documented {expected}, answered {got}: {}",
                    answer["body"]
                ));
            }
            checked.push(relative);
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    let missing: Vec<_> = documented
        .keys()
        .filter(|sample| !checked.contains(sample))
        .collect();
    assert!(missing.is_empty(), "documented but absent: {missing:?}");
    assert!(
        checked.len() >= 36,
        "only {} samples were found",
        checked.len()
    );
}

#[tokio::test]
async fn the_generate_questions_binary_writes_drafts_from_a_real_handout() {
    // Arrange
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let id = app.masterclass(&admin, "Créer son entreprise", true).await;
    app.handout(
        &admin,
        &id,
        e2e_tests::testdata("pdfs/fr-masterclass-entreprise.pdf").unwrap(),
    )
    .await;
    let fixture = Fixture::create(&app.state).await.unwrap();
    let binary =
        tokio::task::spawn_blocking(|| build_binary("generate-questions", "generate-questions"))
            .await
            .unwrap()
            .unwrap();
    let mut function = Runtime::start(&binary, "generate-questions", &env_for(&app))
        .await
        .unwrap();
    let mut sample = fixture.apply(&event("generate-questions/generate.json"));
    let mut request = body(&sample);
    request["masterclass_id"] = Value::String(id.clone());
    sample["body"] = Value::String(request.to_string());

    // Act
    let answer = function
        .invoke(sample)
        .await
        .unwrap()
        .expect("no function error");

    // Assert
    assert_eq!(answer["statusCode"], 201, "{answer}");
    assert_eq!(body(&answer)["questions"].as_array().unwrap().len(), 10);
    let stored: i64 = app
        .db()
        .await
        .query_one(
            "select count(*) from questions where masterclass_id = $1::text::uuid",
            &[&id],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored, 10);
}
