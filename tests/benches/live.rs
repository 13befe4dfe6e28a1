//! The live channel's latency and cost, in one run:
//!
//! 1. Locally: `SOCKETS` WebSockets (default 200: half tutors of the masterclass, half of
//!    another) open on the gateway served on a port; `WRITES` staff writes (default 50: a
//!    question added to the masterclass, one at a time) each timed from the request sent to the
//!    last of the masterclass's tutors' sockets poked. Printed: p50, p99 and max against the
//!    one-second target, and how many sockets that may not see the change heard of it (0).
//! 2. In AWS's shape: `CONNECTIONS` API Gateway connections (default 500, recorded as
//!    `$connect` records them) of students of a published masterclass, and a fake management
//!    API; an admin renames the masterclass (every connection may see it: one post each, before
//!    the answer leaves). Printed: the request's time with and without those connections.
//!
//! 3. The drain alone: `CONNECTIONS` tutors' connections (50 masterclasses, 20 tutors each) and
//!    1,000 recorded inscription changes spread over the masterclasses, drained in one call of
//!    `live_drain` as a function calls it. Printed: its time.
//!
//! `cargo bench -p e2e-tests --bench live`.

use std::time::{Duration, Instant};

use e2e_tests::{
    TestApp,
    bench::{env_or, percentile},
    fake_apigw::FakeApiGateway,
    live::Served,
};
use futures::future::join_all;
use serde_json::json;

const TARGET: Duration = Duration::from_secs(1);

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_env_filter("error").init();
    local(env_or("SOCKETS", 200), env_or("WRITES", 50)).await;
    api_gateway(env_or("CONNECTIONS", 500)).await;
    drain(env_or("CONNECTIONS", 500)).await;
    Ok(())
}

async fn local(sockets: usize, writes: usize) {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let masterclass = app.masterclass(&admin, "Banc d'essai", false).await;
    let elsewhere = app.masterclass(&admin, "Ailleurs", false).await;
    let staffing = app.tutor(&admin, &[&masterclass]).await;
    let bystander = app.tutor(&admin, &[&elsewhere]).await;
    let served = Served::start(&app).await;
    let mut poked = Vec::with_capacity(sockets / 2);
    let mut quiet = Vec::with_capacity(sockets / 2);
    for i in 0..sockets {
        if i % 2 == 0 {
            poked.push(served.open(&staffing.token).await);
        } else {
            quiet.push(served.open(&bystander.token).await);
        }
    }
    let mut latencies = Vec::with_capacity(writes);
    let mut heard_by_others = 0;
    for _ in 0..writes {
        let started = Instant::now();
        app.bank(&admin, &masterclass, 1, false).await;
        let arrived = join_all(poked.iter_mut().map(|s| s.poke(Duration::from_secs(5)))).await;
        assert!(
            arrived.iter().all(Option::is_some),
            "a socket was not poked"
        );
        latencies.push(started.elapsed().as_secs_f64() * 1000.0);
        let others = join_all(quiet.iter_mut().map(|s| s.poke(Duration::from_millis(1)))).await;
        heard_by_others += others.iter().filter(|o| o.is_some()).count();
    }
    latencies.sort_by(f64::total_cmp);
    println!(
        "local: {writes} writes, {} sockets poked each, {} that may not see it: \
         write sent → last poke read p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (target < {} ms); \
         pokes to the others: {heard_by_others}",
        poked.len(),
        quiet.len(),
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or_default(),
        TARGET.as_millis(),
    );
}

async fn api_gateway(connections: usize) {
    let fake = FakeApiGateway::start().await;
    let env = fake.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let app = TestApp::spawn_with_env(&env, |_| {}).await;
    let admin = app.admin().await;
    let masterclass = app.masterclass(&admin, "Banc d'essai", true).await;
    let rename = async |title: String| {
        let started = Instant::now();
        let answer = admin
            .patch_json(
                &format!("/api/masterclasses/{masterclass}"),
                &json!({ "title": title }),
            )
            .await;
        assert_eq!(answer.status, 200);
        started.elapsed().as_secs_f64() * 1000.0
    };
    let mut alone = Vec::new();
    for round in 0..5 {
        alone.push(rename(format!("Banc d'essai {round}")).await);
    }
    let student = app.student(&masterclass, "Awa Ndong").await;
    app.db()
        .await
        .execute(
            "insert into live_connections (id, endpoint, inscription_id, profile_id, masterclass_id)
             select 'bench-' || n, 'apigw', $1, $2, $3 from generate_series(1, $4::int) n",
            &[
                &student.inscription_id,
                &student.profile_id,
                &masterclass.parse::<uuid::Uuid>().unwrap(),
                &(connections as i32),
            ],
        )
        .await
        .unwrap();
    fake.take_delivered();
    let mut fanned = Vec::new();
    for round in 0..5 {
        fanned.push(rename(format!("Banc d'essai, en direct {round}")).await);
    }
    let delivered = fake.take_delivered().len();
    println!(
        "api gateway: a published masterclass renamed, median {:.1} ms with no connection, \
         {:.1} ms with {connections} connections (one post each before the answer; {delivered} \
         posts in 5 writes)",
        e2e_tests::bench::median(alone),
        e2e_tests::bench::median(fanned),
    );
}

async fn drain(connections: usize) {
    let app = TestApp::spawn().await;
    let db = app.db().await;
    db.batch_execute(&format!(
        "insert into masterclasses (id, title, starts_at, ends_at)
         select ('00000000-0000-0000-0001-' || lpad(n::text, 12, '0'))::uuid, 'Atelier ' || n,
                now() + interval '2 days', now() + interval '3 days' from generate_series(1, 50) n;
         insert into staff_users (id, email, full_name, role)
         select ('00000000-0000-0000-0002-' || lpad(n::text, 12, '0'))::uuid,
                'bench' || n || '@example.ga', 'Tuteur', 'tuteur' from generate_series(1, {connections}) n;
         insert into masterclass_tutors
         select ('00000000-0000-0000-0001-' || lpad((1 + n % 50)::text, 12, '0'))::uuid,
                ('00000000-0000-0000-0002-' || lpad(n::text, 12, '0'))::uuid
         from generate_series(1, {connections}) n;
         select live_connect('bench-' || n, 'apigw',
                ('00000000-0000-0000-0002-' || lpad(n::text, 12, '0'))::uuid, null, null, null)
         from generate_series(1, {connections}) n;
         delete from live_changes;
         insert into live_changes (collection, masterclass_id, subject)
         select 'inscriptions', ('00000000-0000-0000-0001-' || lpad((1 + n % 50)::text, 12, '0'))::uuid,
                gen_random_uuid() from generate_series(1, 1000) n;"
    ))
    .await
    .unwrap();
    let started = Instant::now();
    let pokes = shared::db::transact(&app.state.db, &shared::auth::Caller::System, async |tx| {
        shared::db::live::drain(tx, shared::sync::live::APIGW, 1000).await
    })
    .await
    .unwrap();
    println!(
        "drain: 1000 changes for {connections} tutors' connections in {:.1} ms ({} pokes)",
        started.elapsed().as_secs_f64() * 1000.0,
        pokes.len(),
    );
}
