//! Staff passwords: argon2id with OWASP's recommended parameters, in every build.
//!
//! Hashing is CPU work (tens of milliseconds), so it runs on the blocking pool. [`verify_dummy`]
//! spends the same time when there is no account to check, so a wrong e-mail and a wrong
//! password cannot be told apart by timing.

use std::sync::LazyLock;

use argon2::{
    Algorithm, Argon2, Params, Version,
    password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng},
};

use crate::error::{Error, Result};

/// argon2id, m = 19 MiB, t = 2, p = 1 (OWASP Password Storage Cheat Sheet). Never lowered, not
/// even for tests: the dev profile optimises the argon2 crate instead.
pub const MEMORY_KIB: u32 = 19_456;
pub const ITERATIONS: u32 = 2;
pub const PARALLELISM: u32 = 1;

fn hasher() -> Argon2<'static> {
    let params =
        Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None).expect("valid argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// A password a staff member chose: 12 to 128 characters (long enough to resist guessing, short
/// enough that hashing it is no denial of service), not only spaces.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

impl Password {
    pub const LENGTH: crate::domain::Length = crate::domain::Length::new(12, 128);

    pub fn parse(raw: &str) -> Result<Self, String> {
        let length = raw.chars().count();
        if length < Self::LENGTH.min {
            return Err(format!("must be at least {} characters", Self::LENGTH.min));
        }
        if length > Self::LENGTH.max {
            return Err(format!("must be at most {} characters", Self::LENGTH.max));
        }
        if raw.trim().is_empty() {
            return Err("must not be only spaces".into());
        }
        Ok(Self(raw.to_owned()))
    }
}

/// Hashes a new password into a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$...`).
pub async fn hash(password: &Password) -> Result<String> {
    let password = password.0.clone();
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        hasher()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))
    })
    .await
    .map_err(anyhow::Error::from)?
    .map_err(Error::from)
}

/// Checks `candidate` against a stored PHC string. A malformed stored hash never matches.
pub async fn verify(stored: &str, candidate: &str) -> Result<bool> {
    let stored = stored.to_owned();
    let candidate = candidate.to_owned();
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&stored).is_ok_and(|parsed| {
            hasher()
                .verify_password(candidate.as_bytes(), &parsed)
                .is_ok()
        })
    })
    .await
    .map_err(|e| Error::from(anyhow::Error::from(e)))
}

/// A hash of nothing in particular, for [`verify_dummy`].
static DUMMY: LazyLock<String> = LazyLock::new(|| {
    let salt = SaltString::generate(&mut OsRng);
    hasher()
        .hash_password(b"no account has this password", &salt)
        .expect("hashing the dummy password")
        .to_string()
});

/// Spends the time of one verification, for sign-ins with no account to check.
pub async fn verify_dummy(candidate: &str) -> Result<()> {
    let dummy = tokio::task::spawn_blocking(|| DUMMY.clone())
        .await
        .map_err(anyhow::Error::from)?;
    verify(&dummy, candidate).await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_use_argon2id_with_the_production_parameters() {
        let stored = hash(&Password::parse("correct horse battery").unwrap())
            .await
            .unwrap();
        assert!(
            stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{stored}"
        );
    }

    #[tokio::test]
    async fn only_the_right_password_verifies() {
        let stored = hash(&Password::parse("correct horse battery").unwrap())
            .await
            .unwrap();
        assert!(verify(&stored, "correct horse battery").await.unwrap());
        assert!(!verify(&stored, "correct horse batterz").await.unwrap());
        assert!(!verify("not a hash", "correct horse battery").await.unwrap());
    }

    #[test]
    fn short_long_and_blank_passwords_are_refused() {
        assert!(Password::parse("short").is_err());
        assert!(Password::parse(&"x".repeat(129)).is_err());
        assert!(Password::parse(&" ".repeat(20)).is_err());
        assert!(Password::parse("mot de passe très sûr").is_ok());
    }
}
