//! Queries for staff accounts (`staff_users`) and tutor assignments (`masterclass_tutors`), and
//! the definer functions that sign staff in and check their sessions.
//!
//! The sign-in and session functions run outside a request's transaction, before a caller is
//! known: with `query_typed`, an unnamed statement parsed and run in one round trip, which a
//! transaction-mode pooler keeps on one server connection.
//!
//! Each query is a small function: its SQL, typed parameters, `failed(...)` naming the work and
//! the row, the answer read by column name. One function a query, so that "where is the SQL for
//! X?" has one answer.

use time::OffsetDateTime;
use tokio_postgres::Row;
use uuid::Uuid;

use super::{
    Db, p,
    row::{FromRow, all, failed},
};
use crate::{
    auth::Role,
    domain::staff::{NewStaff, StaffPatch, StaffView},
    error::Result,
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
    db.all(
        "select id, role, password_hash, active, locked_until, token_version
         from auth_staff_for_login($1)",
        &[p(&email)],
    )
    .await
    .map_err(failed("looking up an account to sign in"))?
    .first()
    .map(LoginAccount::from_row)
    .transpose()
}

/// Audits a wrong password for account `id` (the limits count it, see `services::limits`).
pub async fn record_wrong_password(db: &tokio_postgres::Client, id: Uuid) -> Result<()> {
    db.all("select auth_record_wrong_password($1)", &[p(&id)])
        .await
        .map_err(failed(format!(
            "recording a failed sign-in of staff account {id}"
        )))?;
    Ok(())
}

/// Audits a sign-in with `email` refused before any password was checked, and why.
pub async fn record_login_refused(
    db: &tokio_postgres::Client,
    email: &str,
    reason: &str,
) -> Result<()> {
    db.all(
        "select auth_record_refused_login($1, $2)",
        &[p(&email), p(&reason)],
    )
    .await
    .map_err(failed("recording a refused sign-in"))?;
    Ok(())
}

/// Clears account `id`'s failed sign-ins.
pub async fn record_login_success(db: &tokio_postgres::Client, id: Uuid) -> Result<()> {
    db.all("select auth_record_login_success($1)", &[p(&id)])
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
        .all(
            "select role, email from auth_staff_session($1, $2)",
            &[p(&id), p(&version)],
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
pub async fn get(db: &impl Db, id: Uuid) -> Result<Option<StaffView>> {
    db.opt(
        &format!("select {VIEW} from staff_users u where u.id = $1"),
        &[p(&id)],
    )
    .await
    .map_err(failed(format!("reading staff account {id}")))?
    .as_ref()
    .map(StaffView::from_row)
    .transpose()
}

/// Every account the caller may see, by name.
pub async fn list(db: &impl Db) -> Result<Vec<StaffView>> {
    let rows = db
        .all(
            &format!("select {VIEW} from staff_users u order by u.full_name, u.email"),
            &[],
        )
        .await
        .map_err(failed("listing staff accounts"))?;
    all(&rows)
}

/// Creates an account with the password hash `hash`; returns its id. A taken e-mail is a 409.
pub async fn insert(db: &impl Db, new: &NewStaff, hash: &str) -> Result<Uuid> {
    let row = db
        .one(
            "insert into staff_users (email, full_name, role, password_hash) values ($1, $2, $3, $4)
             returning id",
            &[p(&new.email.as_str()), p(&new.full_name.as_str()), p(&new.role.as_str()), p(&hash)])
        .await
        .map_err(failed("creating a staff account"))?;
    Ok(row.try_get("id")?)
}

/// Applies `patch` to account `id`, its tokens revoked if `revoke`. False if there is none.
pub async fn update(db: &impl Db, id: Uuid, patch: &StaffPatch, revoke: bool) -> Result<bool> {
    let updated = db
        .exec(
            "update staff_users set
                 full_name = coalesce($2, full_name),
                 role = coalesce($3, role),
                 active = coalesce($4, active),
                 token_version = token_version + case when $5 then 1 else 0 end
             where id = $1",
            &[
                p(&id),
                p(&patch.full_name.as_ref().map(|n| n.as_str())),
                p(&patch.role.map(Role::as_str)),
                p(&patch.active),
                p(&revoke),
            ],
        )
        .await
        .map_err(failed(format!("changing staff account {id}")))?;
    Ok(updated > 0)
}

/// Sets account `id`'s password hash, unlocks it and revokes its tokens. False if there is none.
pub async fn set_password(db: &impl Db, id: Uuid, hash: &str) -> Result<bool> {
    let updated = db
        .exec(
            "update staff_users set password_hash = $2, failed_logins = 0, locked_until = null,
                 token_version = token_version + 1
             where id = $1",
            &[p(&id), p(&hash)],
        )
        .await
        .map_err(failed(format!(
            "setting the password of staff account {id}"
        )))?;
    Ok(updated > 0)
}

/// Assigns tutor `tutor_id` to masterclass `masterclass_id` (already assigned: nothing changes).
pub async fn assign(db: &impl Db, tutor_id: Uuid, masterclass_id: Uuid) -> Result<()> {
    db.exec(
        "insert into masterclass_tutors (masterclass_id, tutor_id) values ($1, $2)
         on conflict do nothing",
        &[p(&masterclass_id), p(&tutor_id)],
    )
    .await
    .map_err(failed(format!(
        "assigning tutor {tutor_id} to masterclass {masterclass_id}"
    )))?;
    Ok(())
}

/// Takes masterclass `masterclass_id` from tutor `tutor_id` (not assigned: nothing changes).
pub async fn unassign(db: &impl Db, tutor_id: Uuid, masterclass_id: Uuid) -> Result<()> {
    db.exec(
        "delete from masterclass_tutors where masterclass_id = $1 and tutor_id = $2",
        &[p(&masterclass_id), p(&tutor_id)],
    )
    .await
    .map_err(failed(format!(
        "taking masterclass {masterclass_id} from tutor {tutor_id}"
    )))?;
    Ok(())
}

/// Removes every assignment of `tutor_id` (an account that became admin).
pub async fn unassign_all(db: &impl Db, tutor_id: Uuid) -> Result<()> {
    db.exec(
        "delete from masterclass_tutors where tutor_id = $1",
        &[p(&tutor_id)],
    )
    .await
    .map_err(failed(format!(
        "removing the assignments of staff account {tutor_id}"
    )))?;
    Ok(())
}
