//! Offset paging for listings: `?limit=&offset=`, bounded so no request can ask for everything.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use serde::Deserialize;

use crate::error::{Error, FieldError};

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
/// 1 costs. A sort key can hold personal data (the students list's is the last row's folded
/// name), and cursors travel in URLs, so a cursor is sealed ([`CursorKey`]): clients and access
/// logs see random bytes, and a cursor altered or made by anyone but this deployment is refused.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CursorQuery {
    /// Items per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page; absent for the first page.
    pub cursor: Option<String>,
}

/// A checked keyset page request: how many, and after which key (`K`, the listing's sort key),
/// with the key that seals the next page's cursor.
#[derive(Debug, Clone)]
pub struct Keyset<'k, K> {
    pub limit: i64,
    pub after: Option<K>,
    seal: &'k CursorKey,
}

impl<'k, K: serde::de::DeserializeOwned> Keyset<'k, K> {
    pub fn parse(
        seal: &'k CursorKey,
        limit: Option<i64>,
        cursor: Option<&str>,
    ) -> Result<Self, Error> {
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
            Some(cursor) => match seal.open(cursor) {
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
            Ok(Self { limit, after, seal })
        } else {
            Err(Error::Validation(errors))
        }
    }

    /// The rows to fetch: one more than the page, to know whether another page follows.
    pub fn fetch(&self) -> i64 {
        self.limit + 1
    }
}

impl<K: serde::Serialize> Keyset<'_, K> {
    /// Cuts `rows` (fetched with [`Keyset::fetch`]) to the page, with the cursor of the next
    /// page if there is one.
    pub fn page<T>(&self, mut rows: Vec<T>, key: impl Fn(&T) -> K) -> (Vec<T>, Option<String>) {
        let limit = usize::try_from(self.limit).unwrap_or(usize::MAX);
        if rows.len() <= limit {
            return (rows, None);
        }
        rows.truncate(limit);
        let next = rows.last().map(|last| self.seal.seal(&key(last)));
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

/// The key listing cursors are sealed with: AES-256-GCM (authenticated encryption), a random
/// nonce per cursor. Derived from the token secret (`JWT_SECRET`) with a label of its own, so a
/// deployment needs no other secret and every function instance opens what another sealed;
/// changing the secret makes the cursors handed out before it a 422 (start from page one). The
/// live channel's tickets are sealed the same way under a key of their own
/// ([`derive_for`](Self::derive_for) with another label).
pub struct CursorKey(LessSafeKey);

impl std::fmt::Debug for CursorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorKey(..)")
    }
}

impl CursorKey {
    /// What the key is derived for: another use of the same secret derives another key.
    const LABEL: &'static [u8] = b"masterclass listing cursors v1";

    pub fn derive(secret: &[u8]) -> Self {
        Self::derive_for(secret, Self::LABEL)
    }

    /// The key derived from `secret` for the use `label` names (HMAC-SHA256 of the label).
    pub fn derive_for(secret: &[u8], label: &[u8]) -> Self {
        use hmac::Mac;
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret)
            .expect("HMAC takes a key of any length");
        mac.update(label);
        let bytes = mac.finalize().into_bytes();
        let key = UnboundKey::new(&AES_256_GCM, &bytes).expect("32 bytes make an AES-256 key");
        Self(LessSafeKey::new(key))
    }

    /// base64url of nonce, encrypted JSON of `key`, and tag.
    pub fn seal(&self, key: &impl serde::Serialize) -> String {
        use base64::Engine;
        let nonce: [u8; NONCE_LEN] = rand::random();
        let mut sealed = serde_json::to_vec(key).expect("a sealed value serialises");
        self.0
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::empty(),
                &mut sealed,
            )
            .expect("a cursor is far below AES-GCM's limits");
        let mut out = nonce.to_vec();
        out.append(&mut sealed);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(out)
    }

    /// The key sealed in `cursor`; `None` for anything this key did not seal, or altered since.
    pub fn open<K: serde::de::DeserializeOwned>(&self, cursor: &str) -> Option<K> {
        use base64::Engine;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(cursor)
            .ok()?;
        if bytes.len() < NONCE_LEN {
            return None;
        }
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut sealed = sealed.to_vec();
        let json = self
            .0
            .open_in_place(nonce, Aad::empty(), &mut sealed)
            .ok()?;
        serde_json::from_slice(json).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_and_a_forged_one_is_a_field_error() {
        let seal = CursorKey::derive(b"a secret of at least thirty-two bytes");
        let keyset: Keyset<(String, i64)> = Keyset::parse(&seal, Some(2), None).unwrap();
        let (rows, next) = keyset.page(vec![1, 2, 3], |n| ("k".to_string(), *n));
        assert_eq!(rows, vec![1, 2]);
        let next: Keyset<(String, i64)> = Keyset::parse(&seal, Some(2), next.as_deref()).unwrap();
        assert_eq!(next.after, Some(("k".to_string(), 2)));
        let (_, last) = next.page(vec![3], |n| ("k".to_string(), *n));
        assert_eq!(last, None);
        for forged in ["%%%", "bm90IGpzb24", "WzFd", "WyJrIiwyXQ"] {
            let err = Keyset::<(String, i64)>::parse(&seal, None, Some(forged)).unwrap_err();
            assert!(
                matches!(err, Error::Validation(ref e) if e[0].field == "cursor"),
                "{forged}: {err:?}"
            );
        }
        assert!(Keyset::<(String, i64)>::parse(&seal, Some(0), None).is_err());
        assert!(Keyset::<(String, i64)>::parse(&seal, Some(201), None).is_err());
    }

    #[test]
    fn a_cursor_hides_its_key_and_opens_only_with_the_key_that_sealed_it() {
        let seal = CursorKey::derive(b"a secret of at least thirty-two bytes");
        let key = ("seraphine obiang".to_string(), 7);
        let cursor = seal.seal(&key);
        use base64::Engine;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&cursor)
            .unwrap();
        assert!(!String::from_utf8_lossy(&bytes).contains("seraphine"));
        assert_ne!(cursor, seal.seal(&key), "a nonce per cursor");
        assert_eq!(seal.open::<(String, i64)>(&cursor), Some(key));
        let other = CursorKey::derive(b"another secret of at least 32 bytes!");
        assert_eq!(other.open::<(String, i64)>(&cursor), None);
    }
}
