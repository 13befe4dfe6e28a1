//! The pull cursor: opaque to clients, made only by the server.
//!
//! It holds the position reached in the (`sync_xid`, `row_version`) order of changes, the
//! collections it was made for, and, for a tutor, the masterclasses they staffed when it was
//! made. When the collections asked for or the tutor's masterclasses differ from the cursor's,
//! the pull starts again from the beginning (re-sending rows is harmless: a device upserts by
//! id) and names the masterclasses the tutor lost, so that the device drops what hung from them.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::Collection;
use crate::error::{Error, Result};

/// A position in the stream of changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// Changes of transactions below this id were handed out (up to `version` within it).
    #[serde(rename = "x")]
    pub xid: u64,
    #[serde(rename = "v")]
    pub version: i64,
    #[serde(rename = "c")]
    pub collections: Vec<Collection>,
    /// A tutor's masterclasses; `None` for callers whose view does not depend on assignments.
    #[serde(rename = "s", default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Vec<Uuid>>,
}

impl Cursor {
    /// The start of everything, for these collections and this scope.
    pub fn start(collections: Vec<Collection>, scope: Option<Vec<Uuid>>) -> Self {
        Self {
            xid: 0,
            version: 0,
            collections,
            scope,
        }
    }

    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).expect("a cursor serialises"))
    }

    pub fn decode(raw: &str) -> Result<Self> {
        let bad = || Error::field("cursor", "is not a cursor this server handed out");
        let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| bad())?;
        serde_json::from_slice(&bytes).map_err(|_| bad())
    }

    /// The masterclasses in this cursor's scope that are not in `now` (what a tutor lost).
    pub fn lost(&self, now: Option<&[Uuid]>) -> Vec<Uuid> {
        match (&self.scope, now) {
            (Some(before), Some(now)) => before
                .iter()
                .filter(|id| !now.contains(id))
                .copied()
                .collect(),
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_and_anything_else_is_a_field_error() {
        let cursor = Cursor {
            xid: 812,
            version: 44,
            collections: vec![Collection::Questions, Collection::Documents],
            scope: Some(vec![Uuid::from_u128(1)]),
        };
        assert_eq!(Cursor::decode(&cursor.encode()).unwrap(), cursor);
        for raw in ["", "!!", "e30", &URL_SAFE_NO_PAD.encode(b"{\"x\":-1}")] {
            assert!(
                matches!(Cursor::decode(raw), Err(Error::Validation(e)) if e[0].field == "cursor"),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn what_a_tutor_lost_is_what_the_cursor_had_and_the_scope_no_longer_has() {
        let (a, b, c) = (Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3));
        let cursor = Cursor::start(vec![Collection::Inscriptions], Some(vec![a, b]));
        assert_eq!(cursor.lost(Some(&[b, c])), [a]);
        assert!(cursor.lost(Some(&[a, b, c])).is_empty());
        assert!(cursor.lost(None).is_empty());
    }
}
