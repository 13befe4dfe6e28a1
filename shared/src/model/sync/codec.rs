//! Clocks and fields as the database stores them, and the server's time as clocks count it.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use time::OffsetDateTime;

use super::merge;

/// Milliseconds since the Unix epoch.
pub fn millis(at: OffsetDateTime) -> u64 {
    u64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
}

/// A record's clocks as stored in `field_clocks` (unreadable entries are left out: they lose).
pub fn clocks_from_json(value: &Value) -> merge::Clocks {
    value
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(field, clock)| Some((field.clone(), clock.as_str()?.parse().ok()?)))
        .collect()
}

/// `field_clocks` as stored.
pub fn clocks_to_json(clocks: &merge::Clocks) -> Value {
    Value::Object(
        clocks
            .iter()
            .map(|(field, clock)| (field.clone(), json!(clock.to_string())))
            .collect(),
    )
}

/// The fields of a record as pulled, keyed by name.
pub type Fields = BTreeMap<String, Value>;
