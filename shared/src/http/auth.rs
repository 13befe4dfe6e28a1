//! Authentication as types. A handler that takes [`Staff`], [`Admin`] or [`Student`] cannot run
//! for anyone else: a missing, malformed, expired, wrongly signed, `alg: none` or wrong-audience
//! token is a 401 before the handler runs, and a valid one of the wrong kind is a 403. [`Caller`]
//! is the optional form for routes that anyone may call but that show staff more.
//!
//! Staff tokens are checked against the database on every request (account still active, token
//! not revoked by a deactivation, role change or password reset since it was issued), through SECURITY DEFINER functions run with
//! `query_typed`, which uses an unnamed statement and so is pooler-safe outside a transaction.

use axum::extract::FromRequestParts;
use http::{header, request::Parts};

use crate::error::Error;
use crate::{
    AppState,
    auth::{Caller, Role, StaffIdentity, StudentIdentity, peer, student_token},
};

/// Any staff member (admin or tutor) with an active account.
#[derive(Debug, Clone)]
pub struct Staff(pub StaffIdentity);

/// An admin with an active account.
#[derive(Debug, Clone)]
pub struct Admin(pub StaffIdentity);

/// A student holding a valid access token.
#[derive(Debug, Clone, Copy)]
pub struct Student(pub StudentIdentity);

/// Another instance syncing with this one, by the secret of a sync peer.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub uuid::Uuid);

/// Anyone signed in: a staff member or a student (a device that syncs), or a sync peer.
#[derive(Debug, Clone)]
pub struct Member(pub Caller);

impl Staff {
    pub fn caller(&self) -> Caller {
        Caller::Staff(self.0.clone())
    }
}

impl Admin {
    pub fn caller(&self) -> Caller {
        Caller::Staff(self.0.clone())
    }
}

impl Student {
    pub fn caller(&self) -> Caller {
        Caller::Student(self.0)
    }
}

/// The bearer token of a request, if it has an Authorization header. A header that is not
/// `Bearer <token>` is a 401.
fn bearer(parts: &Parts) -> Result<Option<&str>, Error> {
    let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| Error::Unauthorized)?;
    let (scheme, token) = value.split_once(' ').ok_or(Error::Unauthorized)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(Error::Unauthorized);
    }
    Ok(Some(token.trim()))
}

async fn staff_from_jwt(state: &AppState, token: &str) -> Result<StaffIdentity, Error> {
    let claims = state.keys.verify(token)?;
    let client = state.db.get().await?;
    let (role, email) = crate::db::staff::session(&client, claims.sub, claims.ver)
        .await?
        .ok_or_else(|| {
            tracing::info!(staff_id = %claims.sub, "token of an unknown, inactive or revoked account");
            Error::Unauthorized
        })?;
    Ok(StaffIdentity {
        id: claims.sub,
        role,
        email,
    })
}

async fn student_from_token(state: &AppState, token: &str) -> Result<StudentIdentity, Error> {
    let client = state.db.get().await?;
    crate::db::inscriptions::student_session(&client, &student_token::hash(token))
        .await?
        .ok_or(Error::Unauthorized)
}

/// Resolves any bearer token to a caller (student tokens and peer secrets by prefix, staff
/// tokens otherwise).
async fn resolve(state: &AppState, token: &str) -> Result<Caller, Error> {
    if token.starts_with(peer::PREFIX) {
        let client = state.db.get().await?;
        crate::db::peers::session(&client, &peer::hash(token))
            .await?
            .map(Caller::Peer)
            .ok_or(Error::Unauthorized)
    } else if token.starts_with(student_token::PREFIX) {
        Ok(Caller::Student(student_from_token(state, token).await?))
    } else {
        Ok(Caller::Staff(staff_from_jwt(state, token).await?))
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        match bearer(parts)? {
            None => Ok(Caller::Anonymous),
            Some(token) => resolve(state, token).await,
        }
    }
}

// The extractors below share one shape (a bearer token resolved, then the caller's kind
// checked): each is the type a handler names to say who may call it, and the kind each one
// admits is the difference.
impl FromRequestParts<AppState> for Staff {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        let token = bearer(parts)?.ok_or(Error::Unauthorized)?;
        match resolve(state, token).await? {
            Caller::Staff(staff) => Ok(Self(staff)),
            _ => Err(Error::Forbidden),
        }
    }
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        let Staff(staff) = Staff::from_request_parts(parts, state).await?;
        if staff.role == Role::Admin {
            Ok(Self(staff))
        } else {
            Err(Error::Forbidden)
        }
    }
}

impl FromRequestParts<AppState> for Student {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        let token = bearer(parts)?.ok_or(Error::Unauthorized)?;
        match resolve(state, token).await? {
            Caller::Student(student) => Ok(Self(student)),
            _ => Err(Error::Forbidden),
        }
    }
}

impl FromRequestParts<AppState> for Member {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        let token = bearer(parts)?.ok_or(Error::Unauthorized)?;
        Ok(Self(resolve(state, token).await?))
    }
}

impl FromRequestParts<AppState> for Peer {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        let token = bearer(parts)?.ok_or(Error::Unauthorized)?;
        match resolve(state, token).await? {
            Caller::Peer(id) => Ok(Self(id)),
            _ => Err(Error::Forbidden),
        }
    }
}

/// For `DELETE /api/me`: a student holding a valid token, or the revoked token of a registration
/// that was erased (a repeated erasure answers as the first did). Any other token is a 401.
#[derive(Debug, Clone)]
pub enum StudentOrErased {
    Student(StudentIdentity),
    Erased(crate::services::privacy::Erased),
}

impl FromRequestParts<AppState> for StudentOrErased {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        let token = bearer(parts)?.ok_or(Error::Unauthorized)?;
        match resolve(state, token).await {
            Ok(Caller::Student(student)) => Ok(Self::Student(student)),
            Ok(_) => Err(Error::Forbidden),
            Err(Error::Unauthorized) if token.starts_with(student_token::PREFIX) => {
                crate::services::privacy::erased_by_token(state, token)
                    .await?
                    .map(Self::Erased)
                    .ok_or(Error::Unauthorized)
            }
            Err(e) => Err(e),
        }
    }
}
