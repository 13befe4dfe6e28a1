//! Tracing set-up: JSON lines in Lambda (CloudWatch parses them), readable text on stderr locally.
//!
//! The filter comes from `RUST_LOG` (default `info`). Call [`init`] once, first thing in `main`.
//! The PDF crates log every damaged object of a broken PDF at ERROR; they are silenced unless
//! `RUST_LOG` names them (the extraction's outcome is logged and answered either way).
//!
//! The id of the request being served lives here too, in a task-local the web layer sets for
//! each request ([`with_request_id`]), so that any layer can name it ([`current_request_id`]).

use tracing_subscriber::{EnvFilter, fmt, prelude::*};

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The id of the request being served on this task, if any (used in problem bodies and logs).
pub fn current_request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// Runs `work` with `id` as the current request id.
pub async fn with_request_id<F: Future>(id: String, work: F) -> F::Output {
    REQUEST_ID.scope(id, work).await
}

/// Installs the global subscriber. Safe to call more than once (later calls do nothing).
pub fn init() {
    let mut filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let asked = std::env::var("RUST_LOG").unwrap_or_default();
    for noisy in ["lopdf", "pdf_extract"] {
        if !asked.contains(noisy) {
            filter = filter.add_directive(format!("{noisy}=off").parse().expect("a directive"));
        }
    }
    let in_lambda = std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some();
    let registry = tracing_subscriber::registry().with(filter);
    let result = if in_lambda {
        registry
            .with(
                fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .without_time(), // CloudWatch stamps each line itself
            )
            .try_init()
    } else {
        // On stderr, so that a command's output (`cargo run -- sample`, `openapi`) is only its own.
        registry
            .with(fmt::layer().compact().with_writer(std::io::stderr))
            .try_init()
    };
    // A second initialisation (tests, or a binary that calls init twice) is harmless.
    let _ = result;
}
