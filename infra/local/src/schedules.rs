//! Timers standing in for the production EventBridge schedules.
//!
//! Each scheduled function registers a [`Job`] in [`jobs`]; the gateway runs every job at its
//! interval, one run at a time per job, logging failures and carrying on. In AWS the same
//! function is invoked by the schedule declared in `infra/template.yaml`.

use std::{future::Future, pin::Pin, time::Duration};

use shared::AppState;
use tokio::task::JoinHandle;

type JobFuture = Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>>;

/// A job run on a timer.
pub struct Job {
    pub name: &'static str,
    pub every: Duration,
    /// Whether the first run waits an interval too (instead of running at start).
    pub wait_first: bool,
    pub run: fn(AppState) -> JobFuture,
}

/// The jobs of the local stack, one per scheduled function; `sync-peer` only when a remote is
/// configured.
pub fn jobs(state: &AppState) -> Vec<Job> {
    let mut jobs = vec![Job {
        name: "dispatcher",
        // EventBridge runs it every minute in AWS; locally, messages go out within seconds.
        every: Duration::from_secs(5),
        wait_first: false,
        run: |state| {
            Box::pin(async move {
                let deadline = time::OffsetDateTime::now_utc() + state.config.messaging.run_for;
                dispatcher::run(&state, deadline).await.map(|_| ())
            })
        },
    }];
    jobs.push(Job {
        name: "backup",
        // Daily, as in AWS (the first one an interval after the gateway starts).
        every: Duration::from_secs(24 * 60 * 60),
        wait_first: true,
        run: |state| Box::pin(async move { backup::run(&state).await.map(|_| ()) }),
    });
    if state.config.sync.remote.is_some() {
        jobs.push(Job {
            name: "sync-peer",
            // A venue catches up within half a minute of the link coming back.
            every: Duration::from_secs(30),
            wait_first: false,
            run: |state| Box::pin(async move { sync_peer::run(&state).await.map(|_| ()) }),
        });
    }
    jobs
}

/// Starts one timer task per job.
pub fn spawn(state: &AppState, jobs: Vec<Job>) -> Vec<JoinHandle<()>> {
    jobs.into_iter()
        .map(|job| {
            let state = state.clone();
            tokio::spawn(async move {
                let start = tokio::time::Instant::now()
                    + if job.wait_first { job.every } else { Duration::ZERO };
                let mut ticker = tokio::time::interval_at(start, job.every);
                ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    ticker.tick().await;
                    if let Err(e) = (job.run)(state.clone()).await {
                        tracing::error!(job = job.name, error = %format!("{e:#}"), "scheduled job failed");
                    }
                }
            })
        })
        .collect()
}
