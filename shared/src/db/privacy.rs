//! Queries of the personal-data rights: the consent history, a registration's consent withdrawn
//! or given again, and erasure. Erasing is one update (`erased_at`): the triggers of migration
//! 0016 replace the personal fields, make the inscription a tombstone, and remove what copied
//! them (on every instance, since `erased_at` replicates like any field).
//!
//! Each query is a small function: its SQL, typed parameters, `failed(...)` naming the work and
//! the row, the answer read by column name. One function a query, so that "where is the SQL for
//! X?" has one answer.

use time::OffsetDateTime;
use uuid::Uuid;

use super::{
    Db, p,
    row::{all, failed},
};
use crate::{error::Result, model::privacy::ConsentEvent};

/// The consent history of profile `profile_id` (all its registrations and its number), or of
/// inscription `inscription_id` alone, oldest first.
pub async fn consent_history(
    db: &impl Db,
    profile_id: Uuid,
    inscription_id: Option<Uuid>,
) -> Result<Vec<ConsentEvent>> {
    let rows = db
        .all(
            "select inscription_id, given, source, version, at from consent_events
             where ($2::uuid is null and profile_id = $1) or inscription_id = $2
             order by at, id",
            &[p(&profile_id), p(&inscription_id)],
        )
        .await
        .map_err(failed(format!(
            "reading the consent history of student {profile_id}"
        )))?;
    all(&rows)
}

/// Withdraws (or gives again) the consent of inscription `id` from the web: records it, and on
/// withdrawal suppresses the inscription's queued messages (and those a dispatcher claimed but
/// has not started: it sends a message only while it is still claimed). Returns the profile and when consent
/// was withdrawn (null once given again); `None` for an unknown or erased inscription. Nothing
/// is recorded when nothing changes.
pub async fn set_consent(
    db: &impl Db,
    id: Uuid,
    given: bool,
) -> Result<Option<(Uuid, Option<OffsetDateTime>)>> {
    let row = db
        .opt(
            "with current as (
                 select id, profile_id, consent_withdrawn_at from inscriptions
                 where id = $1 and erased_at is null and deleted_at is null),
             changed as (
                 update inscriptions i set consent_withdrawn_at = case when $2 then null else now() end
                 from current c
                 where i.id = c.id and (c.consent_withdrawn_at is null) <> $2
                 returning i.id, i.profile_id, i.consent_withdrawn_at),
             recorded as (
                 insert into consent_events (profile_id, inscription_id, given, source)
                 select profile_id, id, $2, 'web' from changed),
             suppressed as (
                 update outbox_messages set status = 'suppressed', status_at = now(),
                        last_error = 'the student withdrew consent'
                 -- a claimed one too: the dispatcher sends only what is still claimed
                 where inscription_id in (select id from changed where consent_withdrawn_at is not null)
                   and status in ('queued', 'claimed'))
             select coalesce(ch.profile_id, c.profile_id) as profile_id,
                    case when ch.id is not null then ch.consent_withdrawn_at
                         else c.consent_withdrawn_at end as withdrawn_at
             from current c left join changed ch on ch.id = c.id",
            &[p(&id), p(&given)],
        )
        .await
        .map_err(failed(format!("changing the consent of inscription {id}")))?;
    row.map(|row| Ok((row.try_get("profile_id")?, row.try_get("withdrawn_at")?)))
        .transpose()
}

/// Records a number's STOP or START (WhatsApp) in the history of profile `profile_id`.
pub async fn record_number_consent(db: &impl Db, profile_id: Uuid, given: bool) -> Result<()> {
    db.exec(
        "insert into consent_events (profile_id, given, source) values ($1, $2, 'whatsapp')",
        &[p(&profile_id), p(&given)],
    )
    .await
    .map_err(failed(format!(
        "recording the consent of student {profile_id}"
    )))?;
    Ok(())
}

/// The inscriptions to erase with profile `profile_id`, or with inscription `inscription_id`
/// alone (and the copies sync merged into it): whose photos go from the store.
pub async fn to_erase(
    db: &impl Db,
    profile_id: Option<Uuid>,
    inscription_id: Option<Uuid>,
) -> Result<Vec<Uuid>> {
    let rows = db
        .all(
            "select id from inscriptions
             where erased_at is null and (profile_id = $1 or id = $2 or merged_into = $2)",
            &[p(&profile_id), p(&inscription_id)],
        )
        .await
        .map_err(failed("reading the registrations to erase"))?;
    rows.iter().map(|row| Ok(row.try_get("id")?)).collect()
}

/// Erases every inscription of profile `id` and the profile (the triggers do the work). Returns
/// when the profile was erased and whether this call did it (or an earlier one), or `None` if
/// there is no such profile.
pub async fn erase_profile(db: &impl Db, id: Uuid) -> Result<Option<(OffsetDateTime, bool)>> {
    let row = db
        .opt(
            "with inscriptions_erased as (
                 update inscriptions set erased_at = now() where profile_id = $1 and erased_at is null
                 returning id)
             select (select count(*) from inscriptions_erased) as erased, erased_at
             from profiles where id = $1",
            &[p(&id)],
        )
        .await
        .map_err(failed(format!("erasing student {id}")))?;
    if row.is_none() {
        return Ok(None);
    }
    // A profile without inscriptions (or whose last one was erased by an earlier call's
    // trigger): erased here, in a statement of its own so that it sees the triggers' work.
    let row = db
        .one(
            "with erased as (
                 update profiles set erased_at = now() where id = $1 and erased_at is null
                 returning erased_at)
             select coalesce((select erased_at from erased), (select erased_at from profiles where id = $1))
                 as erased_at",
            &[p(&id)],
        )
        .await
        .map_err(failed(format!("erasing the profile of student {id}")))?;
    fresh(db, row.try_get("erased_at")?).await
}

/// `erased_at` and whether it is this transaction's (`now()`), not an earlier one's.
async fn fresh(
    db: &impl Db,
    erased_at: Option<OffsetDateTime>,
) -> Result<Option<(OffsetDateTime, bool)>> {
    let Some(at) = erased_at else {
        return Ok(None);
    };
    let row = db
        .one("select $1::timestamptz = now() as fresh", &[p(&at)])
        .await
        .map_err(failed("reading the time"))?;
    Ok(Some((at, row.try_get("fresh")?)))
}

/// Erases inscription `id` (and its person's profile with their last inscription). Returns when
/// it was erased and whether this call did it, or `None` if there is no such inscription.
pub async fn erase_inscription(db: &impl Db, id: Uuid) -> Result<Option<(OffsetDateTime, bool)>> {
    let row = db
        .opt(
            "with erased as (
                 -- with the copies sync merged into it
                 update inscriptions set erased_at = now()
                 where (id = $1 or merged_into = $1) and erased_at is null
                 returning id, erased_at)
             select coalesce((select erased_at from erased where id = $1), i.erased_at) as erased_at
             from inscriptions i where i.id = $1",
            &[p(&id)],
        )
        .await
        .map_err(failed(format!("erasing inscription {id}")))?;
    let erased_at = row.map(|row| row.try_get("erased_at")).transpose()?;
    fresh(db, erased_at).await
}

/// The erased inscription a (revoked) student token belonged to, and when it was erased.
pub async fn erased_by_token(
    db: &tokio_postgres::Client,
    token_hash: &[u8],
) -> Result<Option<(Uuid, OffsetDateTime)>> {
    let rows = db
        .all(
            "select inscription_id, erased_at from auth_erased_by_token($1)",
            &[p(&token_hash)],
        )
        .await
        .map_err(failed("looking up an erased token"))?;
    rows.first()
        .map(|row| Ok((row.try_get("inscription_id")?, row.try_get("erased_at")?)))
        .transpose()
}

/// The inscriptions of masterclasses that ended before `before`, not yet erased: what the
/// retention period erases.
pub async fn expired_inscriptions(db: &impl Db, before: OffsetDateTime) -> Result<Vec<Uuid>> {
    let rows = db
        .all(
            "select i.id from inscriptions i join masterclasses m on m.id = i.masterclass_id
             where i.erased_at is null and m.ends_at < $1
             -- a registration before the copies sync merged into it (they go with it)
             order by i.merged_into is not null, i.created_at, i.id",
            &[p(&before)],
        )
        .await
        .map_err(failed("finding the inscriptions past retention"))?;
    rows.iter().map(|row| Ok(row.try_get("id")?)).collect()
}
