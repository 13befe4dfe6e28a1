//! The platform under load while its database misbehaves: behind a transaction-mode pooler with
//! few server connections, and through a database restart. Every answer must be a success or a
//! prompt 503 with `Retry-After`; never a 500, never a hang; nothing acknowledged is lost.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU32, Ordering},
    },
    time::{Duration, Instant},
};

use e2e_tests::{TestApp, pgbouncer};
use http::StatusCode;
use local_gateway::postgres::EmbeddedPostgres;
use shared::messaging::dispatch;

/// One answer seen under load.
#[derive(Debug, Clone)]
struct Seen {
    what: &'static str,
    at: Instant,
    /// `None`: no answer within the time limit (a hang).
    status: Option<StatusCode>,
    retry_after: bool,
    problem: bool,
    body: String,
}

/// `workers` callers registering students, reading the catalogue and the health check, a staff
/// member listing the bank, and the dispatcher running, until `stop` is set.
async fn load(app: &TestApp, workers: u32, stop: Arc<AtomicBool>) -> Vec<Seen> {
    let admin = app.admin().await;
    let masterclass = app.open_masterclass(&admin, "Atelier sous charge").await;
    let next_number = Arc::new(AtomicU32::new(6_300_000));
    let mut tasks = Vec::new();
    for worker in 0..workers {
        let (http, staff, stop, next_number, masterclass) = (
            app.http.clone(),
            admin.http.clone(),
            stop.clone(),
            next_number.clone(),
            masterclass.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut round = 0u32;
            while !stop.load(Ordering::Relaxed) {
                round += 1;
                let number = format!("+2410{}", next_number.fetch_add(1, Ordering::Relaxed));
                let body = e2e_tests::registration(&masterclass, &number, "Awa Ndong");
                let (what, request) = match (worker + round) % 4 {
                    0 => ("health", http.get("/api/health").boxed()),
                    1 => ("catalogue", http.get("/api/masterclasses").boxed()),
                    2 => ("bank", staff.get("/api/admin/questions").boxed()),
                    _ => (
                        "registration",
                        http.post_json("/api/inscriptions", &body).boxed(),
                    ),
                };
                let at = Instant::now();
                let answer = tokio::time::timeout(Duration::from_secs(20), request).await;
                seen.push(match answer {
                    Ok(response) => Seen {
                        what,
                        at,
                        status: Some(response.status),
                        retry_after: response.headers.contains_key("retry-after"),
                        problem: response.content_type() == "application/problem+json",
                        body: String::from_utf8_lossy(&response.body).into_owned(),
                    },
                    Err(_) => Seen {
                        what,
                        at,
                        status: None,
                        retry_after: false,
                        problem: false,
                        body: String::new(),
                    },
                });
            }
            seen
        }));
    }
    let dispatcher = {
        let (state, stop) = (app.state.clone(), stop.clone());
        tokio::spawn(async move {
            let mut errors = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                if let Err(e) = dispatch::run(&state, state.messenger.as_ref()).await
                    && !e.is_unavailable()
                {
                    errors.push(format!("{e:?}"));
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            errors
        })
    };
    let mut seen = Vec::new();
    for task in tasks {
        seen.extend(task.await.unwrap());
    }
    let dispatcher_errors = dispatcher.await.unwrap();
    assert!(
        dispatcher_errors.is_empty(),
        "dispatcher runs failed: {dispatcher_errors:?}"
    );
    seen
}

trait Boxed<'a>: std::future::Future<Output = e2e_tests::TestResponse> + Send + 'a {
    fn boxed(
        self,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = e2e_tests::TestResponse> + Send + 'a>>
    where
        Self: Sized,
    {
        Box::pin(self)
    }
}

impl<'a, F: std::future::Future<Output = e2e_tests::TestResponse> + Send + 'a> Boxed<'a> for F {}

/// Every registration answered 201 is in the database.
async fn acknowledged_registrations_are_kept(app: &TestApp, seen: &[Seen]) -> usize {
    let acknowledged: Vec<uuid::Uuid> = seen
        .iter()
        .filter(|s| s.what == "registration" && s.status == Some(StatusCode::CREATED))
        .map(|s| {
            serde_json::from_str::<serde_json::Value>(&s.body).unwrap()["inscription_id"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    let stored: i64 = app
        .db()
        .await
        .query_one(
            "select count(*) from inscriptions where id = any($1)",
            &[&acknowledged],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        stored as usize,
        acknowledged.len(),
        "an acknowledged registration was lost"
    );
    acknowledged.len()
}

fn summary(seen: &[Seen]) -> String {
    let mut counts = std::collections::BTreeMap::new();
    for s in seen {
        *counts
            .entry((s.what, s.status.map(|c| c.as_u16())))
            .or_insert(0) += 1;
    }
    format!("{counts:?}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn behind_pgbouncer_in_transaction_mode_nothing_answers_5xx() {
    // Arrange: two server connections shared by every caller, as Supabase's pooler would.
    let Some((_bouncer, app)) =
        pgbouncer::platform(2, |config| config.database.pool_size = 8).await
    else {
        return;
    };

    // Act: 8 callers and the dispatcher for a few seconds.
    let stop = Arc::new(AtomicBool::new(false));
    let stopper = {
        let stop = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(4)).await;
            stop.store(true, Ordering::Relaxed);
        })
    };
    let seen = load(&app, 8, stop).await;
    stopper.await.unwrap();

    // Assert
    let failures: Vec<&Seen> = seen
        .iter()
        .filter(|s| s.status.is_none_or(|c| c.is_server_error()))
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} answers failed behind the pooler: {:?}\n{}",
        failures.len(),
        seen.len(),
        failures.iter().take(5).collect::<Vec<_>>(),
        summary(&seen)
    );
    assert!(seen.len() > 100, "{}", summary(&seen));
    assert!(acknowledged_registrations_are_kept(&app, &seen).await > 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_restart_under_load_gives_prompt_503s_never_500s_and_loses_nothing() {
    // Arrange: a server of this test's own, since it is going to be restarted.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("pg");
    let settings = [("fsync", "off"), ("synchronous_commit", "off")];
    let server = {
        let data = data.clone();
        tokio::task::spawn_blocking(move || EmbeddedPostgres::start_with(&data, &settings))
            .await
            .unwrap()
            .expect("starting postgres")
    };
    let port = server.port();
    let app = TestApp::spawn_on(
        &format!("postgres://postgres@127.0.0.1:{port}"),
        None,
        |url| url.to_owned(),
        |_| {},
    )
    .await;

    // Act: load; after a second, a fast shutdown, five seconds down, a start on the same port;
    // then four more seconds of load.
    let stop = Arc::new(AtomicBool::new(false));
    let restart = {
        let stop = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let back_at = tokio::task::spawn_blocking(move || {
                let mut server = server;
                server.stop().expect("stopping postgres");
                std::thread::sleep(Duration::from_secs(5));
                let server = EmbeddedPostgres::start_on(&data, port, &settings)
                    .expect("starting postgres again");
                (server, Instant::now())
            })
            .await
            .unwrap();
            tokio::time::sleep(Duration::from_secs(4)).await;
            stop.store(true, Ordering::Relaxed);
            back_at
        })
    };
    let seen = load(&app, 8, stop).await;
    let (_server, back_at) = restart.await.unwrap();

    // Assert: successes, or 503 problems with Retry-After; never a 500, never a hang.
    let bad: Vec<&Seen> = seen
        .iter()
        .filter(|s| match s.status {
            None => true,
            Some(StatusCode::SERVICE_UNAVAILABLE) => !(s.retry_after && s.problem),
            Some(status) => status.is_server_error(),
        })
        .collect();
    assert!(
        bad.is_empty(),
        "{} bad answers of {}: {:?}\n{}",
        bad.len(),
        seen.len(),
        bad.iter().take(5).collect::<Vec<_>>(),
        summary(&seen)
    );
    let unavailable = seen
        .iter()
        .filter(|s| s.status == Some(StatusCode::SERVICE_UNAVAILABLE))
        .count();
    assert!(unavailable > 0, "the outage was seen: {}", summary(&seen));
    // Recovery is automatic: a second after the server is back, everything succeeds.
    let after: Vec<&Seen> = seen
        .iter()
        .filter(|s| s.at > back_at + Duration::from_secs(1))
        .collect();
    assert!(!after.is_empty(), "{}", summary(&seen));
    assert!(
        after
            .iter()
            .all(|s| s.status.is_some_and(|c| c.is_success())),
        "after recovery: {:?}",
        after
            .iter()
            .filter(|s| !s.status.is_some_and(|c| c.is_success()))
            .take(5)
            .collect::<Vec<_>>()
    );
    acknowledged_registrations_are_kept(&app, &seen).await;
}
