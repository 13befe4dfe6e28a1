//! Offset paging for listings: `?limit=&offset=`, bounded so no request can ask for everything.

use serde::Deserialize;

use crate::http::{Error, FieldError};

/// Raw query parameters.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PagingQuery {
    /// Items per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// Items to skip (default 0).
    #[param(minimum = 0)]
    pub offset: Option<i64>,
}

/// A checked page request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    pub limit: i64,
    pub offset: i64,
}

impl Paging {
    pub const DEFAULT_LIMIT: i64 = 50;
    pub const MAX_LIMIT: i64 = 200;

    pub fn parse(query: &PagingQuery) -> Result<Self, Error> {
        let mut errors = Vec::new();
        let limit = query.limit.unwrap_or(Self::DEFAULT_LIMIT);
        if !(1..=Self::MAX_LIMIT).contains(&limit) {
            errors.push(FieldError::new(
                "limit",
                format!("must be between 1 and {}", Self::MAX_LIMIT),
            ));
        }
        let offset = query.offset.unwrap_or(0);
        if offset < 0 {
            errors.push(FieldError::new("offset", "must not be negative"));
        }
        if errors.is_empty() {
            Ok(Self { limit, offset })
        } else {
            Err(Error::Validation(errors))
        }
    }
}

/// Keyset (cursor) paging: `?limit=&cursor=`. A page ends with the sort key of its last row,
/// and the next page starts strictly after it, so a row inserted or deleted meanwhile never
/// makes another row skipped or shown twice (as an offset would), and page 1,000 costs what page
/// 1 costs. The cursor is opaque to clients: base64url of the JSON key.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CursorQuery {
    /// Items per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page; absent for the first page.
    pub cursor: Option<String>,
}

/// A checked keyset page request: how many, and after which key (`K`, the listing's sort key).
#[derive(Debug, Clone, PartialEq)]
pub struct Keyset<K> {
    pub limit: i64,
    pub after: Option<K>,
}

impl<K: serde::de::DeserializeOwned> Keyset<K> {
    pub fn parse(limit: Option<i64>, cursor: Option<&str>) -> Result<Self, Error> {
        let mut errors = Vec::new();
        let limit = limit.unwrap_or(Paging::DEFAULT_LIMIT);
        if !(1..=Paging::MAX_LIMIT).contains(&limit) {
            errors.push(FieldError::new(
                "limit",
                format!("must be between 1 and {}", Paging::MAX_LIMIT),
            ));
        }
        let after = match cursor.filter(|c| !c.is_empty()) {
            None => None,
            Some(cursor) => match decode_cursor(cursor) {
                Some(key) => Some(key),
                None => {
                    errors.push(FieldError::new(
                        "cursor",
                        "is not a cursor of this listing (pass `next_cursor` as it was given)",
                    ));
                    None
                }
            },
        };
        if errors.is_empty() {
            Ok(Self { limit, after })
        } else {
            Err(Error::Validation(errors))
        }
    }

    /// The rows to fetch: one more than the page, to know whether another page follows.
    pub fn fetch(&self) -> i64 {
        self.limit + 1
    }
}

impl<K: serde::Serialize> Keyset<K> {
    /// Cuts `rows` (fetched with [`Keyset::fetch`]) to the page, with the cursor of the next
    /// page if there is one.
    pub fn page<T>(&self, mut rows: Vec<T>, key: impl Fn(&T) -> K) -> (Vec<T>, Option<String>) {
        let limit = usize::try_from(self.limit).unwrap_or(usize::MAX);
        if rows.len() <= limit {
            return (rows, None);
        }
        rows.truncate(limit);
        let next = rows.last().map(|last| encode_cursor(&key(last)));
        (rows, next)
    }
}

/// A time as a cursor holds it: microseconds since 1970 (Postgres' precision, so a key read back
/// compares equal to the row's).
pub fn micros_of(at: time::OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1000).unwrap_or(i64::MAX)
}

/// The time a cursor holds; a forged one out of range is a 422 on `cursor`.
pub fn micros_time(micros: i64) -> Result<time::OffsetDateTime, Error> {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000)
        .ok()
        .filter(|t| (1900..=9999).contains(&t.year()))
        .ok_or_else(|| Error::field("cursor", "is not a cursor of this listing"))
}

fn encode_cursor(key: &impl serde::Serialize) -> String {
    use base64::Engine;
    let json = serde_json::to_vec(key).expect("a sort key serialises");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
}

fn decode_cursor<K: serde::de::DeserializeOwned>(cursor: &str) -> Option<K> {
    use base64::Engine;
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()?;
    serde_json::from_slice(&json).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_and_a_forged_one_is_a_field_error() {
        let keyset: Keyset<(String, i64)> = Keyset::parse(Some(2), None).unwrap();
        let (rows, next) = keyset.page(vec![1, 2, 3], |n| ("k".to_string(), *n));
        assert_eq!(rows, vec![1, 2]);
        let next: Keyset<(String, i64)> = Keyset::parse(Some(2), next.as_deref()).unwrap();
        assert_eq!(next.after, Some(("k".to_string(), 2)));
        let (_, last) = next.page(vec![3], |n| ("k".to_string(), *n));
        assert_eq!(last, None);
        for forged in ["%%%", "bm90IGpzb24", "WzFd"] {
            let err = Keyset::<(String, i64)>::parse(None, Some(forged)).unwrap_err();
            assert!(
                matches!(err, Error::Validation(ref e) if e[0].field == "cursor"),
                "{forged}: {err:?}"
            );
        }
        assert!(Keyset::<(String, i64)>::parse(Some(0), None).is_err());
        assert!(Keyset::<(String, i64)>::parse(Some(201), None).is_err());
    }
}
