//! A simulated offline device, as a frontend would be written against `/api/sync`: a queue of
//! mutations numbered per client, a hybrid logical clock (on a wall clock that may be wrong),
//! and the state it pulled. Used by the sync tests and the sync benchmark.
//!
//! It holds its copy in one of two ways ([`Model`]): replaced by each change it pulls (the
//! simplest client), or kept and merged field by field by clock with what it pulls and with the
//! writes the server acknowledged (a client that never throws away a newer value it holds).

use std::collections::BTreeMap;

use http::StatusCode;
use serde_json::{Map, Value, json};
use shared::sync::{Clock, Hlc, PullResponse, PushResponse};
use uuid::Uuid;

use crate::{InProcess, TestResponse};

/// One record as a device holds it.
pub type Record = Map<String, Value>;

/// A record's clocks as a device holds them: field (or `_deleted`) to clock, in wire form.
pub type Clocks = BTreeMap<String, String>;

/// How a device keeps its copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Model {
    /// Each pulled change replaces the record (or removes it).
    Replace,
    /// Each pulled change, and each write the server acknowledged as applied, merges into the
    /// record field by field: the newer clock wins, as on the server.
    Merge,
}

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
    pub model: Model,
    /// The clocks of the records it holds, tombstones included (a record deleted or archived
    /// keeps its clocks here and leaves `state`).
    pub clocks: BTreeMap<(String, Uuid), Clocks>,
    /// The clock of every mutation it made, in order.
    made: Vec<String>,
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
            model: Model::Replace,
            clocks: BTreeMap::new(),
            made: Vec::new(),
        }
    }

    /// The clock of the `n`-th mutation this device made (from 0).
    pub fn sent_hlc(&self, n: usize) -> String {
        self.made[n].clone()
    }

    /// The clocks the device holds for record `id` of `collection` (none when it holds none).
    pub fn pulled_clocks(&self, collection: &str, id: Uuid) -> Clocks {
        self.clocks
            .get(&(collection.to_owned(), id))
            .cloned()
            .unwrap_or_default()
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
        self.made.push(hlc.to_string());
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
        if self.model == Model::Merge {
            for write in &applied {
                self.fold(write);
            }
        }
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
            let gone: Vec<(String, Uuid)> = self
                .state
                .iter()
                .filter(|((collection, id), record)| {
                    record.get("masterclass_id") == Some(&dropped)
                        || (collection == "masterclasses" && json!(id) == dropped)
                })
                .map(|(key, _)| key.clone())
                .collect();
            for key in gone {
                self.state.remove(&key);
                self.clocks.remove(&key);
            }
        }
        for change in &page.changes {
            let key = (change.collection.name().to_owned(), change.id);
            let clocks: Option<Clocks> = change
                .clocks
                .clone()
                .map(|c| serde_json::from_value(c).expect("clocks are field to text"));
            match (&change.op, &change.fields, self.model) {
                (shared::sync::ChangeOp::Upsert, Some(Value::Object(fields)), Model::Replace) => {
                    self.state.insert(key.clone(), fields.clone());
                    self.clocks.insert(key, clocks.unwrap_or_default());
                }
                (shared::sync::ChangeOp::Upsert, Some(Value::Object(fields)), Model::Merge) => {
                    self.merge(key, fields, &clocks.unwrap_or_default());
                }
                _ => {
                    self.state.remove(&key);
                    match clocks {
                        Some(clocks) if self.model == Model::Merge => {
                            let held = self.clocks.entry(key).or_default();
                            for (field, clock) in clocks {
                                let newer = held.get(&field).is_none_or(|c| *c < clock);
                                if newer {
                                    held.insert(field, clock);
                                }
                            }
                        }
                        Some(clocks) => {
                            self.clocks.insert(key, clocks);
                        }
                        None => {
                            self.clocks.remove(&key);
                        }
                    }
                }
            }
        }
        self.cursor = Some(page.next_cursor.clone());
    }

    /// Merges a record as pulled into the one held: per field, the newer clock wins; a field
    /// with no clock (set once, or computed by the server) is the server's.
    fn merge(&mut self, key: (String, Uuid), fields: &Record, clocks: &Clocks) {
        let mut record = self.state.get(&key).cloned().unwrap_or_default();
        let held = self.clocks.entry(key.clone()).or_default();
        for (field, value) in fields {
            let take = match (clocks.get(field), held.get(field)) {
                (_, None) => true,
                // The same clock is the same write, as the server stored it.
                (Some(theirs), Some(mine)) => theirs >= mine,
                (None, Some(_)) => false,
            };
            if take {
                record.insert(field.clone(), value.clone());
            }
        }
        for (field, clock) in clocks {
            if held.get(field).is_none_or(|c| c < clock) {
                held.insert(field.clone(), clock.clone());
            }
        }
        self.state.insert(key, record);
    }

    /// Folds a write the server applied into the record held (merge model): each of its fields
    /// wins if its clock is newer than the one held. A create not yet pulled starts the record;
    /// a delete moves the tombstone's clock, and the record leaves the view unless a field was
    /// written after it.
    fn fold(&mut self, write: &Applied) {
        let key = (write.collection.clone(), write.record_id);
        let hlc = write.hlc.to_string();
        // A record not held yet (never pulled) comes whole with the next pull.
        let Some(held) = self.clocks.get_mut(&key) else {
            return;
        };
        if write.op == "delete" {
            if held.get("_deleted").is_none_or(|c| *c < hlc) {
                held.insert("_deleted".into(), hlc.clone());
            }
            if !held.iter().any(|(f, c)| f != "_deleted" && *c > hlc) {
                self.state.remove(&key);
            }
            return;
        }
        let Some(record) = self.state.get_mut(&key) else {
            // Gone here: whether the write brought it back, the pull says with its clocks.
            return;
        };
        for (field, value) in &write.fields {
            if held.get(field).is_none_or(|c| *c < hlc) {
                held.insert(field.clone(), hlc.clone());
                record.insert(field.clone(), value.clone());
            }
        }
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
