//! The browser side of sync, in a real browser: the desk page (`/desk`) and the package it is
//! built on (`shared/client`), driven in headless Chromium by `shared/client/test/browser.mjs`
//! against this platform served on a port. The script checks what the browsers show; this test
//! then checks the database: every registration made in a browser is there exactly once, with
//! its confirmation queued once.

use std::collections::BTreeMap;

use e2e_tests::{PASSWORD, TestApp, answers};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn desks_work_offline_and_live_in_a_real_browser() {
    let (Some(chromium), Some(package)) = (e2e_tests::chromium(), e2e_tests::browser_package())
    else {
        return;
    };
    let app = TestApp::spawn().await;
    let classroom = app.classroom().await;
    let paper = classroom.student.get("/api/tests/PRE").await.value();
    classroom
        .student
        .post_json("/api/tests/PRE", &answers(&paper, &classroom.bank, 6))
        .await;
    let tutor = app.tutor(&classroom.admin, &[&classroom.masterclass]).await;
    let base = e2e_tests::serve(&app).await;
    let setup = json!({
        "base": base,
        "chromium": e2e_tests::which(chromium),
        "tutor": {"email": tutor.email, "password": PASSWORD, "id": tutor.id},
        "admin": {"token": classroom.admin.token},
        "masterclass": classroom.masterclass,
        "question": classroom.bank[0].0,
        "taken": "+24106612345",
    });

    let mut script = tokio::process::Command::new("node")
        .arg("test/browser.mjs")
        .current_dir(&package)
        .env("SETUP", setup.to_string())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs");
    // Each check's line as it passes, so a hang shows where it is.
    let mut lines = BufReader::new(script.stdout.take().unwrap()).lines();
    let mut last = String::new();
    while let Some(line) = lines.next_line().await.unwrap() {
        println!("{line}");
        last = line;
    }
    let status = script.wait().await.unwrap();
    assert!(
        status.success(),
        "the browser checks failed ({status}): see above"
    );
    let report: Value = serde_json::from_str(&last).expect("the script ends with its report");

    let db = app.db().await;
    let rows = db
        .query(
            "select i.full_name, i.attended, i.deleted_at is null as live,
                    (select count(*) from outbox_messages o
                      where o.inscription_id = i.id and o.message_type = 'registration_confirmed') as messages
               from inscriptions i where i.masterclass_id = $1::text::uuid",
            &[&classroom.masterclass],
        )
        .await
        .unwrap();
    let mut held: BTreeMap<String, Vec<(bool, bool, i64)>> = BTreeMap::new();
    for row in rows {
        held.entry(row.get(0))
            .or_default()
            .push((row.get(1), row.get(2), row.get(3)));
    }
    for student in report["registered"].as_array().unwrap() {
        let name = student["name"].as_str().unwrap();
        let attended = student["attended"].as_bool().unwrap();
        assert_eq!(
            held.get(name).map(Vec::as_slice),
            Some(&[(attended, true, 1)][..]),
            "{name}: once, attended {attended}, one confirmation: {held:?}"
        );
    }
    assert!(
        !held.contains_key("Awa Jumelle"),
        "the refused registration left nothing: {held:?}"
    );
    println!("timings: {}", report["timings"]);
}

/// The package's own checks, run where the suite runs: its generated files match the OpenAPI
/// document, its committed build (which the gateway serves at `/desk`) matches its sources, it
/// type-checks, and its unit tests pass (the clock against the vectors the Rust clock passes).
#[tokio::test]
async fn the_browser_package_is_current_and_its_unit_tests_pass() {
    let Some(package) = e2e_tests::browser_package() else {
        return;
    };
    for (what, program, args) in [
        (
            "generated from the OpenAPI document",
            "node",
            &["scripts/generate.mjs", "--check"][..],
        ),
        ("built", "node", &["build.mjs", "--check"][..]),
        (
            "type-checked",
            "node",
            &["node_modules/typescript/bin/tsc", "--noEmit", "-p", "."][..],
        ),
        ("unit-tested", "node", &["--test", "build/"][..]),
    ] {
        let output = tokio::process::Command::new(program)
            .args(args)
            .current_dir(&package)
            .output()
            .await
            .expect("node runs");
        assert!(
            output.status.success(),
            "shared/client is not {what}:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
