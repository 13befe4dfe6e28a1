//! The local stack: what `cargo run` starts.
//!
//! - [`cli`]: `cargo run` and its commands (serve, `migrate`, `openapi`, `create-admin`,
//!   `sample`), and the banner.
//! - [`stack`]: what serving needs besides the router: [`postgres`], a Postgres cluster created
//!   and run from the installed server binaries when `DATABASE_URL` is unset (data under
//!   `.local/pg`, kept between runs); [`s3`], an S3-compatible server (s3s-fs) storing objects
//!   under `.local/s3` when `S3_ENDPOINT` is unset (the platform reaches it through aws-sdk-s3
//!   over HTTP, as it would AWS); the migrations and the local secrets.
//! - [`gateway`]: every function's routes on one port, under the same paths as the deployed API,
//!   with [`docs`] (the OpenAPI document at `/api/openapi.json`, Swagger UI at `/api/docs`) and
//!   [`live`] (the live channel's WebSocket at `/api/sync/stream`, and the hub that pokes it)
//!   and [`desk`] (the registration desk page at `/desk`, built on the browser sync package);
//!   [`schedules`]: timers standing in for the production EventBridge schedules.
//! - [`samples`]: the samples in `events/` made runnable (`cargo run -- sample <file>`), with
//!   [`pdfs`] for the handout they need.
//!
//! The end-to-end tests reuse [`postgres`] and [`s3`] to start their own throwaway servers.

pub mod cli;
pub mod desk;
pub mod docs;
pub mod gateway;
pub mod live;
pub mod pdfs;
pub mod postgres;
pub mod s3;
pub mod samples;
pub mod schedules;
pub mod stack;
