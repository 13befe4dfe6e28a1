//! Queries for staff accounts (`staff_users`) and tutor assignments (`masterclass_tutors`), and
//! the definer functions that sign staff in and check their sessions.
//!
//! The sign-in and session functions run outside a request's transaction, before a caller is
//! known: with `query_typed`, an unnamed statement parsed and run in one round trip, which a
//! transaction-mode pooler keeps on one server connection.

use deadpool_postgres::GenericClient;
use time::OffsetDateTime;
use tokio_postgres::{Row, types::Type};
use uuid::Uuid;

use super::row::{FromRow, all, failed};
use crate::{
    auth::Role,
    domain::staff::{NewStaff, StaffPatch, StaffView},
    http::Result,
};

const VIEW: &str = "u.id, u.email, u.full_name, u.role, u.active, u.created_at, \
     coalesce((select array_agg(t.masterclass_id order by t.assigned_at) from masterclass_tutors t \
               where t.tutor_id = u.id), '{}') as masterclass_ids";

fn role(row: &Row) -> Result<Role> {
    let role: String = row.try_get("role")?;
    Ok(
        Role::parse(&role)
            .ok_or_else(|| anyhow::anyhow!("unknown role {role:?} in staff_users"))?,
    )
}

impl FromRow for StaffView {
    fn from_row(row: &Row) -> Result<Self> {
        Ok(Self {
            id: row.try_get("id")?,
            email: row.try_get("email")?,
            full_name: row.try_get("full_name")?,
            role: role(row)?,
            active: row.try_get("active")?,
            masterclass_ids: row.try_get("masterclass_ids")?,
            created_at: row.try_get("created_at")?,
        })
    }
}

/// What sign-in needs to know of an account.
#[derive(Debug, Clone)]
pub struct LoginAccount {
    pub id: Uuid,
    pub role: Role,
    pub password_hash: Option<String>,
    pub active: bool,
    pub locked_until: Option<OffsetDateTime>,
    pub token_version: i32,
}

impl FromRow for LoginAccount {
    fn from_row(row: &Row) -> Result<Self> {
        Ok(Self {
            id: row.try_get("id")?,
            role: role(row)?,
            password_hash: row.try_get("password_hash")?,
            active: row.try_get("active")?,
            locked_until: row.try_get("locked_until")?,
            token_version: row.try_get("token_version")?,
        })
    }
}

/// The account signing in with `email` (lower case), if there is one.
pub async fn for_login(db: &tokio_postgres::Client, email: &str) -> Result<Option<LoginAccount>> {
    db.query_typed(
        "select id, role, password_hash, active, locked_until, token_version
         from auth_staff_for_login($1)",
        &[(&email, Type::TEXT)],
    )
    .await
    .map_err(failed("looking up an account to sign in"))?
    .first()
    .map(LoginAccount::from_row)
    .transpose()
}

/// Counts a wrong password against account `id`, locking it for `lock_for` after
/// `max_failures` in a row.
pub async fn record_login_failure(
    db: &tokio_postgres::Client,
    id: Uuid,
    max_failures: i32,
    lock_for: std::time::Duration,
) -> Result<()> {
    let lock_for = format!("{} seconds", lock_for.as_secs());
    db.query_typed(
        "select auth_record_login_failure($1, $2, $3::text::interval)",
        &[
            (&id, Type::UUID),
            (&max_failures, Type::INT4),
            (&lock_for, Type::TEXT),
        ],
    )
    .await
    .map_err(failed(format!(
        "recording a failed sign-in of staff account {id}"
    )))?;
    Ok(())
}

/// Clears account `id`'s failed sign-ins.
pub async fn record_login_success(db: &tokio_postgres::Client, id: Uuid) -> Result<()> {
    db.query_typed("select auth_record_login_success($1)", &[(&id, Type::UUID)])
        .await
        .map_err(failed(format!(
            "recording the sign-in of staff account {id}"
        )))?;
    Ok(())
}

/// The role and e-mail of account `id` if it is active and its tokens of `version` are still
/// valid (no deactivation, role change or password reset since).
pub async fn session(
    db: &tokio_postgres::Client,
    id: Uuid,
    version: i32,
) -> Result<Option<(Role, String)>> {
    let rows = db
        .query_typed(
            "select role, email from auth_staff_session($1, $2)",
            &[(&id, Type::UUID), (&version, Type::INT4)],
        )
        .await
        .map_err(failed(format!(
            "checking the session of staff account {id}"
        )))?;
    rows.first()
        .map(|row| Ok((role(row)?, row.try_get("email")?)))
        .transpose()
}

/// One account (RLS: admins see all, staff see themselves).
pub async fn get(db: &impl GenericClient, id: Uuid) -> Result<Option<StaffView>> {
    db.query_opt(
        &format!("select {VIEW} from staff_users u where u.id = $1"),
        &[&id],
    )
    .await
    .map_err(failed(format!("reading staff account {id}")))?
    .as_ref()
    .map(StaffView::from_row)
    .transpose()
}

/// Every account the caller may see, by name.
pub async fn list(db: &impl GenericClient) -> Result<Vec<StaffView>> {
    let rows = db
        .query(
            &format!("select {VIEW} from staff_users u order by u.full_name, u.email"),
            &[],
        )
        .await
        .map_err(failed("listing staff accounts"))?;
    all(&rows)
}

/// Creates an account with the password hash `hash`; returns its id. A taken e-mail is a 409.
pub async fn insert(db: &impl GenericClient, new: &NewStaff, hash: &str) -> Result<Uuid> {
    let row = db
        .query_one(
            "insert into staff_users (email, full_name, role, password_hash) values ($1, $2, $3, $4)
             returning id",
            &[&new.email.as_str(), &new.full_name.as_str(), &new.role.as_str(), &hash],
        )
        .await
        .map_err(failed("creating a staff account"))?;
    Ok(row.try_get("id")?)
}

/// Applies `patch` to account `id`, its tokens revoked if `revoke`. False if there is none.
pub async fn update(
    db: &impl GenericClient,
    id: Uuid,
    patch: &StaffPatch,
    revoke: bool,
) -> Result<bool> {
    let updated = db
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
        .await
        .map_err(failed(format!("changing staff account {id}")))?;
    Ok(updated > 0)
}

/// Sets account `id`'s password hash, unlocks it and revokes its tokens. False if there is none.
pub async fn set_password(db: &impl GenericClient, id: Uuid, hash: &str) -> Result<bool> {
    let updated = db
        .execute(
            "update staff_users set password_hash = $2, failed_logins = 0, locked_until = null,
                 token_version = token_version + 1
             where id = $1",
            &[&id, &hash],
        )
        .await
        .map_err(failed(format!(
            "setting the password of staff account {id}"
        )))?;
    Ok(updated > 0)
}

/// Assigns tutor `tutor_id` to masterclass `masterclass_id` (already assigned: nothing changes).
pub async fn assign(db: &impl GenericClient, tutor_id: Uuid, masterclass_id: Uuid) -> Result<()> {
    db.execute(
        "insert into masterclass_tutors (masterclass_id, tutor_id) values ($1, $2)
         on conflict do nothing",
        &[&masterclass_id, &tutor_id],
    )
    .await
    .map_err(failed(format!(
        "assigning tutor {tutor_id} to masterclass {masterclass_id}"
    )))?;
    Ok(())
}

/// Takes masterclass `masterclass_id` from tutor `tutor_id` (not assigned: nothing changes).
pub async fn unassign(db: &impl GenericClient, tutor_id: Uuid, masterclass_id: Uuid) -> Result<()> {
    db.execute(
        "delete from masterclass_tutors where masterclass_id = $1 and tutor_id = $2",
        &[&masterclass_id, &tutor_id],
    )
    .await
    .map_err(failed(format!(
        "taking masterclass {masterclass_id} from tutor {tutor_id}"
    )))?;
    Ok(())
}

/// Removes every assignment of `tutor_id` (an account that became admin).
pub async fn unassign_all(db: &impl GenericClient, tutor_id: Uuid) -> Result<()> {
    db.execute(
        "delete from masterclass_tutors where tutor_id = $1",
        &[&tutor_id],
    )
    .await
    .map_err(failed(format!(
        "removing the assignments of staff account {tutor_id}"
    )))?;
    Ok(())
}
