//! Students' access tokens: 32 random bytes, shown once at registration, used as a bearer token.
//! Only their SHA-256 is stored, so a database leak reveals no usable token.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Every student token starts with this, so it is told apart from a JWT at a glance (and found
/// by secret scanners).
pub const PREFIX: &str = "mcs_";

/// A student token in clear: only ever in the response that creates it.
#[derive(Clone, PartialEq, Eq)]
pub struct StudentToken(String);

impl std::fmt::Debug for StudentToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StudentToken(***)")
    }
}

impl StudentToken {
    pub fn generate() -> Self {
        Self(random(PREFIX))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> Vec<u8> {
        hash(&self.0)
    }
}

/// `prefix` and 32 random bytes, base64url: a secret to show once and store hashed.
pub fn random(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// The stored form of a presented token.
pub fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_prefixed_and_hashed_consistently() {
        let a = StudentToken::generate();
        let b = StudentToken::generate();
        assert_ne!(a, b);
        assert!(a.as_str().starts_with(PREFIX));
        assert_eq!(a.as_str().len(), PREFIX.len() + 43);
        assert_eq!(a.hash(), hash(a.as_str()));
        assert_ne!(a.hash(), b.hash());
    }
}
