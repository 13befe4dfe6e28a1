//! Queries for students: `profiles` (one per WhatsApp number, created through a definer
//! function and read by no request), `inscriptions` (one per person and masterclass, with what
//! was submitted with it) and their access tokens (`inscription_tokens`, stored hashed).
//!
//! Each query is a small function: its SQL, typed parameters, `failed(...)` naming the work and
//! the row, the answer read by column name. One function a query, so that "where is the SQL for
//! X?" has one answer.

use time::{Date, OffsetDateTime};
use uuid::Uuid;

use super::{
    Db, p,
    row::{FromRow, failed},
};
use crate::{auth::StudentIdentity, error::Result, model::students::InscriptionView};

/// What a student reads of their own inscription.
#[derive(Debug, Clone, postgres_from_row::FromRow)]
pub struct OwnInscription {
    pub id: Uuid,
    pub full_name: String,
    pub date_of_birth: Option<Date>,
    pub whatsapp_number: String,
    pub attended: bool,
    pub created_at: OffsetDateTime,
}

/// The inscription and masterclass of the live access token whose hash is `token_hash` (a
/// definer function: it runs before a caller is known, outside a transaction, so as an unnamed
/// statement in one round trip).
pub async fn student_session(
    db: &tokio_postgres::Client,
    token_hash: &[u8],
) -> Result<Option<StudentIdentity>> {
    let rows = db
        .all(
            "select inscription_id, profile_id, masterclass_id from auth_student_session($1)",
            &[p(&token_hash)],
        )
        .await
        .map_err(failed("checking a student's access token"))?;
    rows.first()
        .map(|row| {
            Ok(StudentIdentity {
                inscription_id: row.try_get("inscription_id")?,
                profile_id: row.try_get("profile_id")?,
                masterclass_id: row.try_get("masterclass_id")?,
            })
        })
        .transpose()
}

/// What a registration writes: the inscription, with what was submitted with it, the hash of its
/// first access token, and its rendered confirmation message.
#[derive(Debug, Clone)]
pub struct NewRegistration<'a> {
    /// The id a registration desk's device gave the inscription, if any.
    pub id: Option<Uuid>,
    pub masterclass_id: Uuid,
    pub full_name: &'a str,
    pub date_of_birth: Date,
    pub whatsapp_number: &'a str,
    pub consent_at: OffsetDateTime,
    pub consent_version: &'a str,
    pub token_hash: &'a [u8],
    pub message_type: &'static str,
    pub message_data: &'a serde_json::Value,
    pub message_body: &'a str,
}

/// A registration's writes, in one call of `register_inscription` (plans cached per connection):
/// the number's profile if it is new, the inscription, its token, its confirmation message and
/// the audit entry. The function refuses (42501) a caller that is not the registrar of that
/// number or a masterclass that is not published. `Ok((inscription, profile, registered at))`, or `Err(existing inscription)`
/// when the person is already inscribed in that masterclass (then nothing was written).
pub async fn register(
    db: &impl Db,
    new: &NewRegistration<'_>,
) -> Result<Result<(Uuid, Uuid, OffsetDateTime), Uuid>> {
    let row = db
        .one(
            "select inscription_id, profile_id, registered_at, existing
             from register_inscription($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            &[
                p(&new.id),
                p(&new.masterclass_id),
                p(&new.full_name),
                p(&new.date_of_birth),
                p(&new.whatsapp_number),
                p(&new.consent_at),
                p(&new.consent_version),
                p(&new.token_hash),
                p(&new.message_type),
                p(new.message_data),
                p(&new.message_body),
            ],
        )
        .await
        .map_err(failed(format!(
            "registering into masterclass {}",
            new.masterclass_id
        )))?;
    let inscription: Uuid = row.try_get("inscription_id")?;
    if row.try_get("existing")? {
        return Ok(Err(inscription));
    }
    Ok(Ok((
        inscription,
        row.try_get("profile_id")?,
        row.try_get("registered_at")?,
    )))
}

/// Records attendance of inscription `id` as validated (or not) by `staff_id`.
pub async fn set_attendance(
    db: &impl Db,
    id: Uuid,
    attended: bool,
    staff_id: Uuid,
) -> Result<Option<InscriptionView>> {
    db.opt(
        "update inscriptions set attended = $2,
             attendance_validated_at = case when $2 then now() end,
             attendance_validated_by = case when $2 then $3::uuid end
         where id = $1 and deleted_at is null
         returning id, masterclass_id, profile_id, attended, attendance_validated_at",
        &[p(&id), p(&attended), p(&staff_id)],
    )
    .await
    .map_err(failed(format!(
        "changing the attendance of inscription {id}"
    )))?
    .as_ref()
    .map(InscriptionView::from_row)
    .transpose()
}

/// Does the caller see inscription `id`?
pub async fn exists(db: &impl Db, id: Uuid) -> Result<bool> {
    Ok(db
        .opt(
            "select 1 from inscriptions where id = $1 and deleted_at is null",
            &[p(&id)],
        )
        .await
        .map_err(failed(format!("reading inscription {id}")))?
        .is_some())
}

/// Inscription `id` as its student reads it.
pub async fn own(db: &impl Db, id: Uuid) -> Result<Option<OwnInscription>> {
    db.opt(
        "select id, attended, created_at, full_name, date_of_birth, whatsapp_number
         from inscriptions where id = $1 and deleted_at is null",
        &[p(&id)],
    )
    .await
    .map_err(failed(format!("reading inscription {id}")))?
    .as_ref()
    .map(OwnInscription::from_row)
    .transpose()
}

/// The photo of inscription `id` (key, size, content type): `None` when the caller cannot see
/// the inscription, `Some(None)` when it has no photo.
#[allow(clippy::type_complexity)]
pub async fn photo(db: &impl Db, id: Uuid) -> Result<Option<Option<(String, i64, String)>>> {
    let row = db
        .opt(
            "select photo_key, photo_size, photo_content_type from inscriptions
             where id = $1 and deleted_at is null",
            &[p(&id)],
        )
        .await
        .map_err(failed(format!("reading the photo of inscription {id}")))?;
    let Some(row) = row else { return Ok(None) };
    let key: Option<String> = row.try_get("photo_key")?;
    Ok(Some(match key {
        Some(key) => Some((
            key,
            row.try_get("photo_size")?,
            row.try_get("photo_content_type")?,
        )),
        None => None,
    }))
}

/// Records `key` as the photo of inscription `id`.
pub async fn set_photo(
    db: &impl Db,
    id: Uuid,
    key: &str,
    size: i64,
    content_type: &str,
) -> Result<()> {
    db.exec(
        "update inscriptions set photo_key = $2, photo_size = $3, photo_content_type = $4
         where id = $1",
        &[p(&id), p(&key), p(&size), p(&content_type)],
    )
    .await
    .map_err(failed(format!("recording the photo of inscription {id}")))?;
    Ok(())
}

/// Stores the hash of a new access token of inscription `id`.
pub async fn insert_token(db: &impl Db, id: Uuid, token_hash: &[u8]) -> Result<()> {
    db.exec(
        "insert into inscription_tokens (inscription_id, token_hash) values ($1, $2)",
        &[p(&id), p(&token_hash)],
    )
    .await
    .map_err(failed(format!(
        "issuing an access token of inscription {id}"
    )))?;
    Ok(())
}

/// Revokes every live access token of inscription `id`; returns how many were live.
pub async fn revoke_tokens(db: &impl Db, id: Uuid) -> Result<u64> {
    db.exec(
        "update inscription_tokens set revoked_at = now()
         where inscription_id = $1 and revoked_at is null",
        &[p(&id)],
    )
    .await
    .map_err(failed(format!(
        "revoking the access tokens of inscription {id}"
    )))
}

/// Whom a message about inscription `id` goes to, and what it is about.
#[derive(Debug, Clone)]
pub struct Addressee {
    pub full_name: String,
    pub whatsapp_number: String,
    pub masterclass_title: String,
    pub starts_at: OffsetDateTime,
}

/// The addressee of a message about inscription `id`.
pub async fn addressee(db: &impl Db, id: Uuid) -> Result<Addressee> {
    let row = db
        .one(
            "select i.full_name, i.whatsapp_number, m.title, m.starts_at
             from inscriptions i join masterclasses m on m.id = i.masterclass_id
             where i.id = $1",
            &[p(&id)],
        )
        .await
        .map_err(failed(format!(
            "reading whom to tell about inscription {id}"
        )))?;
    Ok(Addressee {
        full_name: row.try_get("full_name")?,
        whatsapp_number: row.try_get("whatsapp_number")?,
        masterclass_title: row.try_get("title")?,
        starts_at: row.try_get("starts_at")?,
    })
}

/// The profile of WhatsApp number `number`, if it has one.
pub async fn profile_of(db: &impl Db, number: &str) -> Result<Option<Uuid>> {
    db.opt(
        "select id from profiles where whatsapp_number = $1",
        &[p(&number)],
    )
    .await
    .map_err(failed("looking up the profile of a number"))?
    .map(|row| Ok(row.try_get("id")?))
    .transpose()
}

/// Opts profile `id` out of WhatsApp messages (`out`) or back in; returns 1 if that changed it.
pub async fn set_opted_out(db: &impl Db, id: Uuid, out: bool) -> Result<u64> {
    db.exec(
        "update profiles set opted_out_at = case when $2 then now() end
         where id = $1 and (opted_out_at is null) = $2",
        &[p(&id), p(&out)],
    )
    .await
    .map_err(failed(format!("changing the opt-out of profile {id}")))
}

/// A student as a message from staff addresses them.
#[derive(Debug, Clone)]
pub struct Recipient {
    pub inscription_id: Option<Uuid>,
    pub profile_id: Uuid,
    pub whatsapp_number: String,
    pub opted_out: bool,
    pub full_name: String,
    /// The masterclass's title and start, when the message is about an inscription.
    pub masterclass: Option<(String, OffsetDateTime)>,
}

/// The student of inscription `id`, if the caller staffs its masterclass.
pub async fn recipient(db: &impl Db, id: Uuid) -> Result<Option<Recipient>> {
    db.opt(
        "select i.id, p.id as profile_id, i.whatsapp_number, p.opted_out_at is not null as opted_out,
                i.full_name, m.title, m.starts_at
         from inscriptions i join profiles p on p.id = i.profile_id
              join masterclasses m on m.id = i.masterclass_id
         where i.id = $1 and i.deleted_at is null",
        &[p(&id)])
    .await
    .map_err(failed(format!("reading the student of inscription {id}")))?
    .map(|row| {
        Ok(Recipient {
            inscription_id: Some(row.try_get("id")?),
            profile_id: row.try_get("profile_id")?,
            whatsapp_number: row.try_get("whatsapp_number")?,
            opted_out: row.try_get("opted_out")?,
            full_name: row.try_get("full_name")?,
            masterclass: Some((row.try_get("title")?, row.try_get("starts_at")?)),
        })
    })
    .transpose()
}

/// The person behind WhatsApp number `number`, if the caller may see their profile.
pub async fn recipient_by_number(db: &impl Db, number: &str) -> Result<Option<Recipient>> {
    db.opt(
        "select id, opted_out_at is not null as opted_out, full_name from profiles
         where whatsapp_number = $1",
        &[p(&number)],
    )
    .await
    .map_err(failed("reading the profile of a number"))?
    .map(|row| {
        Ok(Recipient {
            inscription_id: None,
            profile_id: row.try_get("id")?,
            whatsapp_number: number.to_owned(),
            opted_out: row.try_get("opted_out")?,
            full_name: row.try_get("full_name")?,
            masterclass: None,
        })
    })
    .transpose()
}
