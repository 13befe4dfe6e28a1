//! Staff tokens: HS256 JWTs with Supabase-compatible claims (`sub`, `role`, `email`, `exp`,
//! `iat`, `aud`).
//!
//! Tokens signed by a Supabase project with the same secret verify too: only the signature,
//! `exp` and `aud` are checked here, and the account named by `sub` must exist and be active in
//! `staff_users` (checked by the extractor), whose role then applies.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::StaffIdentity;
use crate::{
    config::AuthConfig,
    error::{Error, Result},
};

/// The claims of a staff token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub sub: Uuid,
    /// `admin` or `tuteur` in our tokens; `authenticated` in Supabase's. Informational: the
    /// account's current role is read from the database on every request.
    pub role: String,
    #[serde(default)]
    pub email: Option<String>,
    pub exp: i64,
    pub iat: i64,
    pub aud: String,
    /// The account's token version at issue; bumped to revoke. Absent (Supabase) means 0.
    #[serde(default)]
    pub ver: i32,
}

/// Signing and verification keys, built once per process.
#[derive(Clone)]
pub struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    audience: String,
    ttl: time::Duration,
}

// Like every type holding a secret, `Debug` names what it safely can and leaves the secret out.
impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

/// A freshly issued token.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct IssuedToken {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: i64,
}

impl Keys {
    pub fn new(config: &AuthConfig) -> Self {
        let secret = config.jwt_secret.expose().as_bytes();
        // Only HS256: `alg: none` and every other algorithm are refused.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[&config.audience]);
        validation.set_required_spec_claims(&["exp", "sub", "aud"]);
        validation.leeway = 30;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            audience: config.audience.clone(),
            ttl: time::Duration::seconds(config.token_ttl.as_secs() as i64),
        }
    }

    /// Signs a token for a staff member.
    pub fn issue(&self, staff: &StaffIdentity, version: i32) -> Result<IssuedToken> {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let claims = Claims {
            sub: staff.id,
            role: staff.role.as_str().to_owned(),
            email: Some(staff.email.clone()),
            iat: now,
            exp: now + self.ttl.whole_seconds(),
            aud: self.audience.clone(),
            ver: version,
        };
        let token = encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| anyhow::anyhow!("signing a token: {e}"))?;
        Ok(IssuedToken {
            access_token: token,
            token_type: "bearer".into(),
            expires_in: self.ttl.whole_seconds(),
        })
    }

    /// Verifies signature, algorithm, expiry and audience. Any failure is a 401.
    pub fn verify(&self, token: &str) -> Result<Claims> {
        decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| {
                tracing::info!(reason = %e, "token refused");
                Error::Unauthorized
            })
    }
}
