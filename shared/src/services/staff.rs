//! Staff accounts: signing in, and the admin's management of accounts and tutor assignments.
//!
//! Sign-in answers every wrong e-mail, wrong password, inactive or locked account with the same
//! 401, after the same amount of password hashing. After `LOGIN_MAX_FAILURES` wrong passwords in
//! a row an account is locked for `LOGIN_LOCKOUT_SECS`, even for the right password.

use deadpool_postgres::GenericClient;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tokio_postgres::{Row, types::Type};
use uuid::Uuid;

use crate::{
    AppState,
    auth::{Role, StaffIdentity, jwt::IssuedToken, password},
    db::Transaction,
    domain::staff::{Credentials, NewStaff, StaffPatch},
    http::{Error, Result, on_constraint},
};

/// A staff account as the API shows it (never its password hash).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct StaffView {
    pub id: Uuid,
    pub email: String,
    pub full_name: String,
    pub role: Role,
    pub active: bool,
    /// Masterclasses a tutor is assigned to.
    pub masterclass_ids: Vec<Uuid>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// The answer to a successful sign-in.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SignedIn {
    #[serde(flatten)]
    pub token: IssuedToken,
    pub user: StaffView,
}

const COLUMNS: &str = "u.id, u.email, u.full_name, u.role, u.active, u.created_at, \
     coalesce((select array_agg(t.masterclass_id order by t.assigned_at) from masterclass_tutors t \
               where t.tutor_id = u.id), '{}') as masterclass_ids";

fn view(row: &Row) -> Result<StaffView> {
    let role: String = row.get("role");
    Ok(StaffView {
        id: row.get("id"),
        email: row.get("email"),
        full_name: row.get("full_name"),
        role: Role::parse(&role).ok_or_else(|| anyhow::anyhow!("unknown role {role:?}"))?,
        active: row.get("active"),
        masterclass_ids: row.get("masterclass_ids"),
        created_at: row.get("created_at"),
    })
}

/// Checks credentials and issues a token. Every failure is the same 401.
pub async fn sign_in(state: &AppState, credentials: &Credentials) -> Result<SignedIn> {
    let client = state.db.get().await?;
    let email = credentials.email.trim().to_lowercase();
    let rows = client
        .query_typed(
            "select id, role, password_hash, active, locked_until, token_version \
             from auth_staff_for_login($1)",
            &[(&email, Type::TEXT)],
        )
        .await?;
    let Some(account) = rows.first() else {
        password::verify_dummy(&credentials.password).await?;
        return Err(Error::Unauthorized);
    };
    let id: Uuid = account.get("id");
    let hash: Option<String> = account.get("password_hash");
    let active: bool = account.get("active");
    let locked_until: Option<OffsetDateTime> = account.get("locked_until");
    let locked = locked_until.is_some_and(|until| until > OffsetDateTime::now_utc());
    let (Some(hash), true, false) = (hash, active, locked) else {
        password::verify_dummy(&credentials.password).await?;
        tracing::info!(staff_id = %id, active, locked, "sign-in refused");
        return Err(Error::Unauthorized);
    };
    if !password::verify(&hash, &credentials.password).await? {
        let lockout = pg_interval(state.config.auth.lockout);
        client
            .query_typed(
                "select auth_record_login_failure($1, $2, $3::text::interval)",
                &[
                    (&id, Type::UUID),
                    (&state.config.auth.max_failed_logins, Type::INT4),
                    (&lockout, Type::TEXT),
                ],
            )
            .await?;
        tracing::info!(staff_id = %id, "wrong password");
        return Err(Error::Unauthorized);
    }
    client
        .query_typed("select auth_record_login_success($1)", &[(&id, Type::UUID)])
        .await?;
    let role: String = account.get("role");
    let identity = StaffIdentity {
        id,
        role: Role::parse(&role).ok_or_else(|| anyhow::anyhow!("unknown role {role:?}"))?,
        email: email.clone(),
    };
    let token = state.keys.issue(&identity, account.get("token_version"))?;
    drop(client);
    let user = crate::db::transact(
        &state.db,
        &crate::auth::Caller::Staff(identity),
        async |tx| get(tx, id).await,
    )
    .await?;
    tracing::info!(staff_id = %id, "signed in");
    Ok(SignedIn { token, user })
}

fn pg_interval(duration: std::time::Duration) -> String {
    format!("{} seconds", duration.as_secs())
}

/// One account (RLS: admins see all, staff see themselves).
pub async fn get(db: &impl GenericClient, id: Uuid) -> Result<StaffView> {
    let row = db
        .query_opt(
            &format!("select {COLUMNS} from staff_users u where u.id = $1"),
            &[&id],
        )
        .await?
        .ok_or(Error::NotFound("staff account"))?;
    view(&row)
}

/// Every account, by name.
pub async fn list(db: &impl GenericClient) -> Result<Vec<StaffView>> {
    let rows = db
        .query(
            &format!("select {COLUMNS} from staff_users u order by u.full_name, u.email"),
            &[],
        )
        .await?;
    rows.iter().map(view).collect()
}

/// Creates an account (RLS: admins only).
pub async fn create(tx: &Transaction<'_>, new: &NewStaff) -> Result<StaffView> {
    let hash = password::hash(&new.password).await?;
    let row = tx
        .query_one(
            "insert into staff_users (email, full_name, role, password_hash) values ($1, $2, $3, $4) returning id",
            &[&new.email.as_str(), &new.full_name.as_str(), &new.role.as_str(), &hash],
        )
        .await
        .map_err(|e| match on_constraint(e, "creating a staff account") {
            Error::Conflict { .. } => Error::Conflict {
                code: "email_taken",
                detail: "an account with this e-mail already exists".into(),
            },
            other => other,
        })?;
    let id: Uuid = row.get(0);
    tracing::info!(staff_id = %id, role = new.role.as_str(), "staff account created");
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
    let updated = tx
        .execute(
            "update staff_users set
                 full_name = coalesce($2, full_name),
                 role = coalesce($3, role),
                 active = coalesce($4, active),
                 token_version = token_version + case when $5 then 1 else 0 end
             where id = $1",
            &[
                &id,
                &patch.full_name.as_ref().map(|n| n.as_str()),
                &patch.role.map(Role::as_str),
                &patch.active,
                &revoke,
            ],
        )
        .await?;
    if updated == 0 {
        return Err(Error::NotFound("staff account"));
    }
    if patch.role == Some(Role::Admin) {
        // Admins see everything; assignments only mean something for tutors.
        tx.execute("delete from masterclass_tutors where tutor_id = $1", &[&id])
            .await?;
    }
    tracing::info!(staff_id = %id, actor = %actor.id, revoke, "staff account changed");
    get(tx, id).await
}

/// Sets a new password, unlocks the account, and revokes its tokens.
pub async fn reset_password(
    tx: &Transaction<'_>,
    id: Uuid,
    new_password: &password::Password,
) -> Result<()> {
    let hash = password::hash(new_password).await?;
    let updated = tx
        .execute(
            "update staff_users set password_hash = $2, failed_logins = 0, locked_until = null,
                 token_version = token_version + 1
             where id = $1",
            &[&id, &hash],
        )
        .await?;
    if updated == 0 {
        return Err(Error::NotFound("staff account"));
    }
    tracing::info!(staff_id = %id, "password reset");
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
    crate::db::masterclasses::find(tx, masterclass_id, false)
        .await?
        .ok_or(Error::NotFound("masterclass"))?;
    tx.execute(
        "insert into masterclass_tutors (masterclass_id, tutor_id) values ($1, $2) on conflict do nothing",
        &[&masterclass_id, &tutor_id],
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
    tx.execute(
        "delete from masterclass_tutors where masterclass_id = $1 and tutor_id = $2",
        &[&masterclass_id, &tutor_id],
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
    crate::db::transact(&state.db, &crate::auth::Caller::System, async |tx| {
        create(tx, &new).await
    })
    .await
}
