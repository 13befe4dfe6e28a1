//! Staff accounts: signing in, and the admin's management of accounts and tutor assignments.
//!
//! Sign-in answers every wrong e-mail, wrong password, inactive or locked account with the same
//! 401, after the same amount of password hashing. Failures are limited per source address and
//! per account from a source (`services::limits`): past either limit that source gets a 429
//! until the window ends, while the account stays open from everywhere else, so a stranger
//! cannot lock staff out.
//!
//! Service functions share a shape across `services/`: look the record
//! up (a 404 when the caller may not see it), change it through `db`, log it, and `audit` it in
//! the same transaction, one statement a step so that the order reads as the rule. Request and
//! answer types are flat structs whose fields are the contract (an optional filter a field, a
//! timestamp with its `rfc3339` attribute), so two of them read alike. What differs (the record,
//! the rule, the audit action, the fields) is the content of each.

use crate::db::Db;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

pub use crate::domain::staff::StaffView;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{
    AppState,
    auth::{Role, StaffIdentity, jwt::IssuedToken, password},
    db::{self, Transaction},
    domain::staff::{Credentials, NewStaff, StaffPatch},
    error::{Error, Result},
    services::limits,
};

/// The answer to a successful sign-in.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SignedIn {
    #[serde(flatten)]
    pub token: IssuedToken,
    pub user: StaffView,
}

/// Checks credentials from `source` and issues a token. Every failure is the same 401 (and is
/// counted against the sign-in limits); a source past a limit is a 429 before any check.
pub async fn sign_in(
    state: &AppState,
    credentials: &Credentials,
    source: Option<IpAddr>,
) -> Result<SignedIn> {
    let client = state.db.get().await?;
    let email = credentials.email.trim().to_lowercase();
    let config = &state.config;
    limits::check_sign_in(&client, config, source, &email).await?;
    let Some(account) = db::staff::for_login(&client, &email).await? else {
        password::verify_dummy(&credentials.password).await?;
        db::staff::record_login_refused(&client, &email, "unknown account").await?;
        limits::count_sign_in_failure(&client, config, source, &email).await?;
        return Err(Error::Unauthorized);
    };
    let id = account.id;
    let locked = account
        .locked_until
        .is_some_and(|until| until > OffsetDateTime::now_utc());
    let (Some(hash), true, false) = (&account.password_hash, account.active, locked) else {
        password::verify_dummy(&credentials.password).await?;
        tracing::info!(staff_id = %id, active = account.active, locked, "sign-in refused");
        let reason = match (account.active, locked) {
            (false, _) => "deactivated",
            (true, true) => "locked",
            (true, false) => "no password (external sign-in)",
        };
        db::staff::record_login_refused(&client, &email, reason).await?;
        limits::count_sign_in_failure(&client, config, source, &email).await?;
        return Err(Error::Unauthorized);
    };
    if !password::verify(hash, &credentials.password).await? {
        db::staff::record_wrong_password(&client, id).await?;
        limits::count_sign_in_failure(&client, config, source, &email).await?;
        tracing::info!(staff_id = %id, "wrong password");
        return Err(Error::Unauthorized);
    }
    db::staff::record_login_success(&client, id).await?;
    limits::clear_sign_in_failures(&client, config, source, &email).await?;
    let identity = StaffIdentity {
        id,
        role: account.role,
        email: email.clone(),
    };
    let token = state.keys.issue(&identity, account.token_version)?;
    drop(client);
    let user = db::transact(
        &state.db,
        &crate::auth::Caller::Staff(identity),
        async |tx| get(tx, id).await,
    )
    .await?;
    tracing::info!(staff_id = %id, "signed in");
    Ok(SignedIn { token, user })
}

/// One account (RLS: admins see all, staff see themselves).
pub async fn get(db: &impl Db, id: Uuid) -> Result<StaffView> {
    db::staff::get(db, id)
        .await?
        .ok_or(Error::NotFound("staff account"))
}

/// Every account, by name.
pub async fn list(db: &impl Db) -> Result<Vec<StaffView>> {
    db::staff::list(db).await
}

/// Creates an account (RLS: admins only).
pub async fn create(tx: &Transaction<'_>, new: &NewStaff) -> Result<StaffView> {
    let hash = password::hash(&new.password).await?;
    let id = db::staff::insert(tx, new, &hash)
        .await
        .map_err(|e| match e {
            Error::Conflict { .. } => Error::Conflict {
                code: "email_taken",
                detail: "an account with this e-mail already exists".into(),
            },
            other => other,
        })?;
    tracing::info!(staff_id = %id, role = new.role.as_str(), "staff account created");
    super::audit(
        tx,
        "staff.created",
        "staff_user",
        id,
        serde_json::json!({ "role": new.role.as_str() }),
    )
    .await?;
    get(tx, id).await
}

/// Changes an account. Deactivating it (or changing its role) revokes its tokens. An admin
/// cannot deactivate or demote themself, so there is always someone to undo a mistake.
pub async fn update(
    tx: &Transaction<'_>,
    actor: &StaffIdentity,
    id: Uuid,
    patch: &StaffPatch,
) -> Result<StaffView> {
    if id == actor.id
        && (patch.active == Some(false) || patch.role.is_some_and(|r| r != actor.role))
    {
        return Err(Error::Conflict {
            code: "cannot_lock_out_self",
            detail: "you cannot deactivate or demote your own account".into(),
        });
    }
    let revoke = patch.active == Some(false) || patch.role.is_some();
    if !db::staff::update(tx, id, patch, revoke).await? {
        return Err(Error::NotFound("staff account"));
    }
    if patch.role == Some(Role::Admin) {
        // Admins see everything; assignments only mean something for tutors.
        db::staff::unassign_all(tx, id).await?;
    }
    tracing::info!(staff_id = %id, actor = %actor.id, revoke, "staff account changed");
    super::audit(
        tx,
        "staff.updated",
        "staff_user",
        id,
        serde_json::json!({ "active": patch.active, "role": patch.role.map(Role::as_str), "tokens_revoked": revoke }),
    )
    .await?;
    get(tx, id).await
}

/// Sets a new password, unlocks the account, and revokes its tokens.
pub async fn reset_password(
    tx: &Transaction<'_>,
    id: Uuid,
    new_password: &password::Password,
) -> Result<()> {
    let hash = password::hash(new_password).await?;
    if !db::staff::set_password(tx, id, &hash).await? {
        return Err(Error::NotFound("staff account"));
    }
    tracing::info!(staff_id = %id, "password reset");
    super::audit(
        tx,
        "staff.password_reset",
        "staff_user",
        id,
        serde_json::json!({}),
    )
    .await?;
    Ok(())
}

/// Assigns tutor `tutor_id` to masterclass `masterclass_id` (idempotent).
pub async fn assign(
    tx: &Transaction<'_>,
    tutor_id: Uuid,
    masterclass_id: Uuid,
) -> Result<StaffView> {
    let tutor = get(tx, tutor_id).await?;
    if tutor.role != Role::Tuteur {
        return Err(Error::Unprocessable {
            code: "not_a_tutor",
            detail: "only tutors are assigned to masterclasses; admins see them all".into(),
        });
    }
    db::masterclasses::find(tx, masterclass_id, false)
        .await?
        .ok_or(Error::NotFound("masterclass"))?;
    db::staff::assign(tx, tutor_id, masterclass_id).await?;
    super::audit(
        tx,
        "staff.assigned",
        "staff_user",
        tutor_id,
        serde_json::json!({ "masterclass_id": masterclass_id }),
    )
    .await?;
    get(tx, tutor_id).await
}

/// Removes an assignment (idempotent).
pub async fn unassign(
    tx: &Transaction<'_>,
    tutor_id: Uuid,
    masterclass_id: Uuid,
) -> Result<StaffView> {
    get(tx, tutor_id).await?;
    db::staff::unassign(tx, tutor_id, masterclass_id).await?;
    super::audit(
        tx,
        "staff.unassigned",
        "staff_user",
        tutor_id,
        serde_json::json!({ "masterclass_id": masterclass_id }),
    )
    .await?;
    get(tx, tutor_id).await
}

/// Creates an admin from an operator command (`create-admin`, the local bootstrap), acting as
/// the system rather than as a signed-in admin.
pub async fn create_admin(
    state: &AppState,
    email: &str,
    full_name: &str,
    password: &str,
) -> Result<StaffView> {
    let new = NewStaff::parse(&crate::domain::staff::StaffDraft {
        email: Some(email.to_owned()),
        full_name: Some(full_name.to_owned()),
        role: Some(Role::Admin.as_str().to_owned()),
        password: Some(password.to_owned()),
    })?;
    db::transact(&state.db, &crate::auth::Caller::System, async |tx| {
        create(tx, &new).await
    })
    .await
}
