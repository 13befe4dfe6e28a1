//! Tracing set-up: JSON lines in Lambda (CloudWatch parses them), readable text on stderr locally.
//!
//! The filter comes from `RUST_LOG` (default `info`). Call [`init`] once, first thing in `main`.
//! The PDF crates log every damaged object of a broken PDF at ERROR; they are silenced unless
//! `RUST_LOG` names them (the extraction's outcome is logged and answered either way).

use tracing_subscriber::{EnvFilter, fmt, prelude::*};

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
