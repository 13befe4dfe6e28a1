//! The real function binaries, driven through the Lambda Runtime API with the samples in events/.

use e2e_tests::{
    TestApp,
    lambda::{Runtime, build_binary},
    workspace_root,
};
use serde_json::Value;

fn env_for(app: &TestApp) -> Vec<(&'static str, String)> {
    vec![
        ("DATABASE_URL", app.database_url.clone()),
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

#[tokio::test]
async fn the_masterclasses_binary_answers_api_gateway_events() {
    let app = TestApp::spawn().await;
    let binary = tokio::task::spawn_blocking(|| build_binary("masterclasses", "masterclasses"))
        .await
        .unwrap()
        .unwrap();
    let mut function = Runtime::start(&binary, "masterclasses", &env_for(&app))
        .await
        .unwrap();

    let created = function
        .invoke(event("masterclasses/create.json"))
        .await
        .unwrap()
        .expect("no function error");
    let replayed = function
        .invoke(event("masterclasses/create.json"))
        .await
        .unwrap()
        .expect("no function error");
    let listed = function
        .invoke(event("masterclasses/list.json"))
        .await
        .unwrap()
        .expect("no function error");

    assert_eq!(created["statusCode"], 201, "{created}");
    let body: Value = serde_json::from_str(created["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["title"], "Créer et gérer son entreprise au Gabon");
    // The sample carries an Idempotency-Key: the replay answers the same and writes nothing.
    let replayed_body: Value = serde_json::from_str(replayed["body"].as_str().unwrap()).unwrap();
    assert_eq!(replayed_body["id"], body["id"]);
    assert_eq!(app.count("masterclasses").await, 1);
    assert_eq!(listed["statusCode"], 200);
    let page: Value = serde_json::from_str(listed["body"].as_str().unwrap()).unwrap();
    assert_eq!(page["items"][0]["id"], body["id"]);
}

#[tokio::test]
async fn every_sample_event_gets_a_non_5xx_answer_from_its_function() {
    let app = TestApp::spawn().await;
    let root = workspace_root().join("events");
    let mut checked = 0;
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
            let answer = function.invoke(event(&relative)).await.unwrap();
            let answer = answer.unwrap_or_else(|e| panic!("{relative}: function error {e}"));
            let status = answer["statusCode"]
                .as_u64()
                .unwrap_or_else(|| panic!("{relative}: no statusCode in {answer}"));
            assert!(status < 500, "{relative} answered {status}: {answer}");
            checked += 1;
        }
    }
    assert!(checked >= 8, "only {checked} samples were found");
}
