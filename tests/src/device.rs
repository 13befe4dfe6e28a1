//! A simulated offline device, as a frontend would be written against `/api/sync`: a queue of
//! mutations numbered per client, a hybrid logical clock (on a wall clock that may be wrong),
//! and the state it pulled. Used by the sync tests and the sync benchmark.

use std::collections::BTreeMap;

use http::StatusCode;
use serde_json::{Map, Value, json};
use shared::sync::{Clock, Hlc, PullResponse, PushResponse};
use uuid::Uuid;

use crate::{InProcess, TestResponse};

/// One record as a device holds it.
pub type Record = Map<String, Value>;

pub struct Device {
    pub client_id: Uuid,
    pub http: InProcess,
    clock: Clock,
    /// Added to the real wall clock: a device's clock is rarely right.
    pub skew_ms: i64,
    next_mutation_id: i64,
    /// Mutations not yet acknowledged, oldest first.
    pub queue: Vec<Value>,
    /// What the device pulled: (collection, id) to fields.
    pub state: BTreeMap<(String, Uuid), Record>,
    pub cursor: Option<String>,
    /// The collections it pulls (all it may read when `None`).
    pub collections: Option<String>,
}

/// One mutation the server acknowledged as applied: the fields it wrote, at which clock.
#[derive(Debug, Clone)]
pub struct Applied {
    pub collection: String,
    pub record_id: Uuid,
    pub op: String,
    pub fields: Record,
    pub hlc: Hlc,
}

/// The mutations of `sent` that `answer` says were applied.
pub fn applied_by(sent: &[Value], answer: &PushResponse) -> Vec<Applied> {
    answer
        .results
        .iter()
        .filter(|r| r.status == shared::sync::MutationStatus::Applied)
        .filter_map(|r| sent.iter().find(|m| m["mutation_id"] == r.mutation_id))
        .map(|m| Applied {
            collection: m["collection"].as_str().unwrap().to_owned(),
            record_id: m["record_id"].as_str().unwrap().parse().unwrap(),
            op: m["op"].as_str().unwrap().to_owned(),
            fields: m["fields"].as_object().cloned().unwrap_or_default(),
            hlc: m["hlc"].as_str().unwrap().parse().unwrap(),
        })
        .collect()
}

/// The body of a 200 answer (anything else fails the test, showing the body).
fn ok<T: serde::de::DeserializeOwned>(answer: &TestResponse) -> T {
    assert_eq!(
        answer.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    answer.json()
}

pub fn now_ms() -> u64 {
    shared::sync::millis(time::OffsetDateTime::now_utc())
}

impl Device {
    pub fn new(http: InProcess, skew_ms: i64) -> Self {
        let client_id = Uuid::new_v4();
        Self {
            client_id,
            http,
            clock: Clock::new(&client_id.simple().to_string()[..16]).unwrap(),
            skew_ms,
            next_mutation_id: 1,
            queue: Vec::new(),
            state: BTreeMap::new(),
            cursor: None,
            collections: None,
        }
    }

    fn wall(&self) -> u64 {
        now_ms().saturating_add_signed(self.skew_ms)
    }

    /// Queues a mutation (made now, on this device's clock) and returns it.
    pub fn mutate(&mut self, collection: &str, record_id: Uuid, op: &str, fields: Value) -> Value {
        let hlc = self.clock.tick(self.wall());
        let mutation = json!({
            "mutation_id": self.next_mutation_id,
            "collection": collection,
            "record_id": record_id,
            "op": op,
            "fields": fields,
            "hlc": hlc.to_string(),
        });
        self.next_mutation_id += 1;
        self.queue.push(mutation.clone());
        mutation
    }

    /// Sends `mutations` as one push and returns the raw answer (the queue is left alone).
    pub async fn send(&self, mutations: &[Value]) -> TestResponse {
        self.http
            .post_json(
                "/api/sync/push",
                &json!({ "client_id": self.client_id, "mutations": mutations }),
            )
            .await
    }

    /// Takes in a push's answer: drops what the server has from the queue, folds in its clock,
    /// and returns the mutations it applied now.
    pub fn acknowledge(&mut self, sent: &[Value], answer: &PushResponse) -> Vec<Applied> {
        self.clock.observe(&answer.server_hlc, self.wall());
        let applied = applied_by(sent, answer);
        self.queue
            .retain(|m| m["mutation_id"].as_i64().unwrap() > answer.last_mutation_id);
        applied
    }

    /// Pushes the first `n` queued mutations; `None` when the push was refused (a gap).
    pub async fn push(&mut self, n: usize) -> Option<(PushResponse, Vec<Applied>)> {
        let batch: Vec<Value> = self.queue.iter().take(n).cloned().collect();
        let answer = self.send(&batch).await;
        if answer.status == StatusCode::CONFLICT {
            return None;
        }
        let answer: PushResponse = ok(&answer);
        let applied = self.acknowledge(&batch, &answer);
        Some((answer, applied))
    }

    /// Pushes the whole queue, in batches of `batch`, until the server has all of it.
    pub async fn push_all(&mut self, batch: usize) -> Vec<Applied> {
        let mut applied = Vec::new();
        while !self.queue.is_empty() {
            let (_, now) = self.push(batch).await.expect("an in-order push has no gap");
            applied.extend(now);
        }
        applied
    }

    /// Pulls one page and applies it to the device's state.
    pub async fn pull_page(&mut self, limit: usize) -> PullResponse {
        let mut path = format!("/api/sync/pull?limit={limit}");
        if let Some(cursor) = &self.cursor {
            path.push_str(&format!("&cursor={cursor}"));
        }
        if let Some(collections) = &self.collections {
            path.push_str(&format!("&collections={collections}"));
        }
        let answer = self.http.get(&path).await;
        let page: PullResponse = ok(&answer);
        self.apply(&page);
        page
    }

    /// Applies a page: drops, then every change.
    pub fn apply(&mut self, page: &PullResponse) {
        self.clock.observe(&page.server_hlc, self.wall());
        for dropped in &page.drops {
            let dropped = json!(dropped);
            self.state.retain(|(collection, id), record| {
                !(record.get("masterclass_id") == Some(&dropped)
                    || (collection == "masterclasses" && json!(id) == dropped))
            });
        }
        for change in &page.changes {
            let key = (change.collection.name().to_owned(), change.id);
            match (&change.op, &change.fields) {
                (shared::sync::ChangeOp::Upsert, Some(Value::Object(fields))) => {
                    self.state.insert(key, fields.clone());
                }
                _ => {
                    self.state.remove(&key);
                }
            }
        }
        self.cursor = Some(page.next_cursor.clone());
    }

    /// Pulls until the server has nothing more; returns the number of changes received.
    pub async fn pull_all(&mut self, limit: usize) -> usize {
        let mut received = 0;
        loop {
            let page = self.pull_page(limit).await;
            received += page.changes.len();
            if !page.has_more {
                return received;
            }
        }
    }

    /// Pulls until the device has every change committed before this call (a pull stops at
    /// the oldest write transaction still running anywhere on the server, so "no more" alone
    /// can mean "not yet"); returns the number of changes received. `db` is any connection.
    pub async fn catch_up(&mut self, db: &tokio_postgres::Client, limit: usize) -> usize {
        let target: String = db
            .query_one("select pg_snapshot_xmax(pg_current_snapshot())::text", &[])
            .await
            .unwrap()
            .get(0);
        let target: u64 = target.parse().unwrap();
        let mut received = 0;
        loop {
            let page = self.pull_page(limit).await;
            received += page.changes.len();
            let reached = shared::sync::Cursor::decode(&page.next_cursor).unwrap().xid;
            if !page.has_more && reached >= target {
                return received;
            }
            if !page.has_more {
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            }
        }
    }

    /// The records of `collection` the device holds.
    pub fn records(&self, collection: &str) -> BTreeMap<Uuid, Record> {
        self.state
            .iter()
            .filter(|((c, _), _)| c == collection)
            .map(|((_, id), record)| (*id, record.clone()))
            .collect()
    }
}
