//! The sync protocol's types, as they travel: what a push carries and answers, what a pull asks
//! and answers, and the collections with what a device may write in each.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::{auth::Caller, error::FieldError};

use super::Hlc;

/// The most mutations one push may carry (a larger batch is a 413).
pub const MAX_MUTATIONS: usize = 500;
/// Changes per pull page when the client does not say, and at most.
pub const DEFAULT_PULL_LIMIT: i64 = 500;
pub const MAX_PULL_LIMIT: i64 = 1000;
/// The largest `value` of a document, in bytes of JSON.
pub const MAX_DOCUMENT_BYTES: usize = 64 * 1024;

/// What devices sync.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Collection {
    /// The catalogue (read-only for devices).
    Masterclasses,
    /// Registrations with the student's details: created at a desk, attendance by staff.
    Inscriptions,
    /// The question bank (staff).
    Questions,
    /// Per-user JSON documents: what used to live in a browser's local storage. Private.
    Documents,
    /// Test results, with their answers: between instances only (`sync::peer`); a device's
    /// push or pull of it is `forbidden`.
    Attempts,
}

impl Collection {
    pub const ALL: [Self; 5] = [
        Self::Masterclasses,
        Self::Inscriptions,
        Self::Questions,
        Self::Documents,
        Self::Attempts,
    ];

    /// What instances exchange. (Documents stay on the instance they were written on: their
    /// owners are accounts and profiles, which each instance numbers for itself.)
    pub const REPLICATED: [Self; 4] = [
        Self::Masterclasses,
        Self::Questions,
        Self::Inscriptions,
        Self::Attempts,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Masterclasses => "masterclasses",
            Self::Inscriptions => "inscriptions",
            Self::Questions => "questions",
            Self::Documents => "documents",
            Self::Attempts => "attempts",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == raw)
    }

    /// Fields a client may change in an update (and send with a create).
    pub fn writable(self) -> &'static [&'static str] {
        match self {
            Self::Masterclasses | Self::Attempts => &[],
            Self::Inscriptions => &["attended"],
            Self::Questions => &[
                "text",
                "choice_a",
                "choice_b",
                "choice_c",
                "choice_d",
                "correct",
                "status",
                "source_excerpt",
            ],
            Self::Documents => &["key", "value"],
        }
    }

    /// The writable fields `fields` carries, in the collection's order.
    pub fn sent(self, fields: &Map<String, Value>) -> impl Iterator<Item = &'static str> {
        self.writable()
            .iter()
            .copied()
            .filter(|f| fields.contains_key(*f))
    }

    /// Fields sent with a create only: they say what the record is and never change.
    pub fn create_only(self) -> &'static [&'static str] {
        match self {
            Self::Masterclasses | Self::Documents | Self::Attempts => &[],
            Self::Inscriptions => &[
                "masterclass_id",
                "full_name",
                "date_of_birth",
                "whatsapp_number",
                "consent",
            ],
            Self::Questions => &["masterclass_id"],
        }
    }

    /// Fields the server computes and pulls carry: never written by a client.
    pub fn server_owned(self) -> &'static [&'static str] {
        match self {
            Self::Masterclasses => &[
                "title",
                "description",
                "starts_at",
                "ends_at",
                "published",
                "has_handout",
            ],
            Self::Inscriptions => &["attendance_validated_at", "registered_at"],
            Self::Questions => &["used"],
            Self::Documents | Self::Attempts => &[],
        }
    }

    /// May `caller` pull this collection? (Row-level security then decides which rows.)
    pub fn readable_by(self, caller: &Caller) -> bool {
        if let Caller::Peer(_) = caller {
            return Self::REPLICATED.contains(&self);
        }
        match self {
            Self::Attempts => false,
            Self::Questions => caller.is_staff(),
            _ => matches!(
                caller,
                Caller::Staff(_) | Caller::Student(_) | Caller::System
            ),
        }
    }
}

/// One queued change of a device.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Mutation {
    /// Per client, 1, 2, 3... with no gap.
    #[schema(minimum = 1, example = 1)]
    pub mutation_id: i64,
    /// `inscriptions`, `questions` or `documents` (`masterclasses` and `attempts` are read-only
    /// for devices: `forbidden`; a name that is no collection is `unknown_collection`).
    #[schema(example = "documents")]
    pub collection: String,
    /// The record, with an id the device made (a UUID).
    pub record_id: Uuid,
    pub op: Op,
    /// For `create`: the record's fields; for `update`: only the changed ones; for `delete`:
    /// nothing.
    #[serde(default)]
    #[schema(value_type = Object, example = json!({"key": "settings", "value": {"langue": "fr"}}))]
    pub fields: Map<String, Value>,
    /// The device's hybrid logical clock when the change was made:
    /// `<13-digit ms>-<5-digit counter>-<node>`.
    #[schema(example = "1795430400000-00000-3f0c8a4e9b1d4c2a")]
    pub hlc: String,
    /// From a sync peer only (another instance of the platform): the clock of each field's last
    /// write, as its pull gives them; `fields` is then the whole record. A device sends `hlc`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<BTreeMap<String, String>>)]
    pub clocks: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    Create,
    Update,
    Delete,
}

/// `POST /api/sync/push`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({
    "client_id": "3f0c8a4e-9b1d-4c2a-a1d2-e3f405060708",
    "mutations": [
        {"mutation_id": 1, "collection": "documents", "record_id": "6b1e2c3d-4f5a-4b6c-8d7e-9f0a1b2c3d4e",
         "op": "create", "fields": {"key": "brouillon", "value": {"texte": "Bonjour"}},
         "hlc": "1795430400000-00000-3f0c8a4e9b1d4c2a"},
        {"mutation_id": 2, "collection": "documents", "record_id": "6b1e2c3d-4f5a-4b6c-8d7e-9f0a1b2c3d4e",
         "op": "update", "fields": {"value": {"texte": "Bonjour à tous"}},
         "hlc": "1795430400512-00000-3f0c8a4e9b1d4c2a"},
        {"mutation_id": 3, "collection": "inscriptions", "record_id": "0d9c8b7a-6f5e-4d3c-9b2a-1f0e9d8c7b6a",
         "op": "update", "fields": {"attended": true},
         "hlc": "1795430401000-00003-3f0c8a4e9b1d4c2a"}
    ]
}))]
pub struct PushRequest {
    /// The device (a UUID it made once and keeps).
    pub client_id: Uuid,
    #[schema(max_items = 500)]
    pub mutations: Vec<Mutation>,
}

/// What became of one mutation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MutationResult {
    pub mutation_id: i64,
    pub status: MutationStatus,
    /// Why it was rejected: `validation`, `forbidden`, `unknown_collection` or `conflict`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// For `conflict`: the rule broken (`already_registered`, `question_used`, `unknown_record`,
    /// `already_exists`, ...); otherwise a sentence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<crate::http::openapi::ProblemField>)]
    pub errors: Vec<FieldError>,
    /// The record as the server holds it once this push is applied, whatever the mutation's
    /// fate: an `upsert` with every field and its clock, or a `delete` (with its clocks when the
    /// record was deleted or archived, without when it does not exist or is not the caller's to
    /// see). A device sets its copy to it when nothing newer is queued for the record. Absent
    /// for a collection that does not exist, and in a sync peer's answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<Change>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MutationStatus {
    /// Applied now, and durable.
    Applied,
    /// Applied before (at or below `last_mutation_id`): nothing done. (A mutation that was
    /// rejected is answered `rejected` again when resent, with the same reason.)
    Duplicate,
    /// Not applied, and never will be: drop it from the queue and show the reason.
    Rejected,
}

/// The answer to a push.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PushResponse {
    pub results: Vec<MutationResult>,
    /// Mutations applied by this push.
    pub synced_count: usize,
    /// Mutations rejected by this push.
    pub error_count: usize,
    /// The last mutation of this client the server has (applied or rejected).
    pub last_mutation_id: i64,
    /// The server's clock: fold it into the device's clock.
    #[schema(value_type = String, example = "1795430402000-00000-server")]
    pub server_hlc: Hlc,
}

/// `GET /api/sync/pull` query.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PullQuery {
    /// `next_cursor` of the previous page; none for the first pull.
    pub cursor: Option<String>,
    /// Comma-separated; every collection the caller may read when absent.
    pub collections: Option<String>,
    /// Changes per page (1–1000, default 500).
    pub limit: Option<i64>,
}

/// One record as it is now, or gone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Change {
    pub collection: Collection,
    pub id: Uuid,
    /// `upsert` (store `fields` under `id`) or `delete` (drop the record: deleted, archived, or
    /// no longer yours to see).
    pub op: ChangeOp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub fields: Option<Value>,
    /// The clock of each field's last write (field name to HLC; `_deleted`, the delete's clock,
    /// when the record was deleted), so that a device holding edits it has not pushed yet can
    /// merge the server's version field by field, by the rule the server applies. Absent from
    /// the `delete` of a record the caller may no longer see.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<BTreeMap<String, String>>, example = json!({"key": "1795430400000-00000-3f0c8a4e9b1d4c2a", "value": "1795430400512-00000-3f0c8a4e9b1d4c2a"}))]
    pub clocks: Option<Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ChangeOp {
    Upsert,
    Delete,
}

/// A page of changes.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PullResponse {
    pub changes: Vec<Change>,
    /// Masterclasses the caller no longer staffs. Apply them before `changes`: drop each of
    /// these masterclasses with every inscription and question of it. A dropped masterclass
    /// the caller still sees (a published one) is among this page's `changes` again, as an
    /// upsert.
    pub drops: Vec<Uuid>,
    pub next_cursor: String,
    /// Pull again at once with `next_cursor`.
    pub has_more: bool,
    #[schema(value_type = String, example = "1795430402000-00000-server")]
    pub server_hlc: Hlc,
}

/// The `fields` of each collection's records, as pulls carry them and push answers' `record`
/// shows them: the schemas a client declares its local collections from. They are in the
/// OpenAPI document with `x-sync`, what a device may send (`create`, `update`) and what only
/// the server writes (`server`), from [`Collection`]'s lists.
pub mod records {
    use serde::Deserialize;
    use time::OffsetDateTime;
    use uuid::Uuid;

    /// A masterclass (read-only for devices).
    #[derive(Debug, Deserialize, utoipa::ToSchema)]
    #[serde(deny_unknown_fields)]
    #[schema(as = SyncMasterclass)]
    pub struct Masterclass {
        pub title: String,
        pub description: String,
        #[serde(with = "time::serde::rfc3339")]
        pub starts_at: OffsetDateTime,
        #[serde(with = "time::serde::rfc3339")]
        pub ends_at: OffsetDateTime,
        pub published: bool,
        /// The handout is at `GET /api/masterclasses/{id}/pdf`.
        pub has_handout: bool,
    }

    /// A registration with the student's details.
    #[derive(Debug, Deserialize, utoipa::ToSchema)]
    #[serde(deny_unknown_fields)]
    #[schema(as = SyncInscription)]
    pub struct Inscription {
        pub masterclass_id: Uuid,
        /// 1 to 200 characters.
        pub full_name: String,
        /// `YYYY-MM-DD`; required in a create.
        #[schema(format = Date)]
        pub date_of_birth: Option<String>,
        /// E.164 (`+241...`); a local number is read as Gabonese.
        pub whatsapp_number: String,
        pub attended: bool,
        #[serde(with = "time::serde::rfc3339::option")]
        pub attendance_validated_at: Option<OffsetDateTime>,
        #[serde(with = "time::serde::rfc3339")]
        pub registered_at: OffsetDateTime,
        /// Sent with a create only (the student agreed to the processing of their data); never
        /// pulled.
        #[serde(default)]
        pub consent: Option<bool>,
    }

    /// A question of the bank (staff only).
    #[derive(Debug, Deserialize, utoipa::ToSchema)]
    #[serde(deny_unknown_fields)]
    #[schema(as = SyncQuestion)]
    pub struct Question {
        pub masterclass_id: Uuid,
        pub text: String,
        pub choice_a: String,
        pub choice_b: String,
        pub choice_c: String,
        pub choice_d: String,
        /// `A` to `D`.
        pub correct: Option<String>,
        /// `draft`, `approved` or `archived`.
        pub status: String,
        pub source_excerpt: Option<String>,
        /// A test has used it: its choices and answer are frozen.
        pub used: bool,
    }

    /// A caller's own JSON document (what a browser kept in local storage).
    #[derive(Debug, Deserialize, utoipa::ToSchema)]
    #[serde(deny_unknown_fields)]
    #[schema(as = SyncDocument)]
    pub struct Document {
        /// 1 to 200 characters, one live document per key and owner.
        pub key: String,
        /// Any JSON, at most 64 KiB written compactly.
        pub value: serde_json::Value,
    }
}
