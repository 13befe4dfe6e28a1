//! The end-to-end suite: one binary, so the Postgres cluster is started once per run.

mod auth;
mod bank;
mod browser;
mod chat;
mod cli;
mod contract;
mod dashboard;
mod generation;
mod handouts;
mod health;
mod journey;
mod lambda;
mod limits;
mod live;
mod masterclasses;
mod messaging;
mod migrations;
mod outages;
mod papers;
mod peers;
mod privacy;
mod rls;
mod students;
mod sync;
mod template;
mod users;
