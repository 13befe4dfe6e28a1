//! Queries for tests taken in the chat (migration 0017): conversations (`chat_tests`), their
//! parsed replies (`chat_replies`), and the answers given so far to a test not yet submitted
//! (`test_drafts`, written by the chat and the web alike).
//!
//! Each query is a small function: its SQL, typed parameters, `failed(...)` naming the work and
//! the row, the answer read by column name. One function a query, so that "where is the SQL for
//! X?" has one answer.

use time::OffsetDateTime;
use tokio_postgres::Row;
use uuid::Uuid;

use super::{Db, FromRow, p, row::failed};
use crate::{domain::exam::ExamKind, error::Result};

/// A conversation.
#[derive(Debug, Clone)]
pub struct ChatTest {
    pub id: Uuid,
    pub inscription_id: Uuid,
    pub profile_id: Uuid,
    pub masterclass_id: Uuid,
    pub kind: ExamKind,
    pub started_at: OffsetDateTime,
    /// `{question id: [letter, answered at (RFC 3339)]}`: the web's answers when it started.
    pub carried: serde_json::Value,
    pub to_number: String,
    pub full_name: String,
    pub masterclass_title: String,
}

fn kind_of(row: &Row) -> Result<ExamKind> {
    let raw: String = row.try_get("kind")?;
    Ok(ExamKind::parse(&raw).ok_or_else(|| anyhow::anyhow!("a test kind {raw:?}"))?)
}

impl FromRow for ChatTest {
    fn from_row(row: &Row) -> Result<Self> {
        Ok(Self {
            id: row.try_get("id")?,
            inscription_id: row.try_get("inscription_id")?,
            profile_id: row.try_get("profile_id")?,
            masterclass_id: row.try_get("masterclass_id")?,
            kind: kind_of(row)?,
            started_at: row.try_get("started_at")?,
            carried: row.try_get("carried")?,
            to_number: row.try_get("whatsapp_number")?,
            full_name: row.try_get("full_name")?,
            masterclass_title: row.try_get("title")?,
        })
    }
}

const CHAT_COLUMNS: &str =
    "c.id, c.inscription_id, c.profile_id, i.masterclass_id, c.kind, c.started_at,
     c.carried, i.whatsapp_number, i.full_name, m.title";

/// The open conversation of profile `profile_id`, locked until the transaction ends (two
/// webhook calls for one student are applied one after the other).
pub async fn open_of(db: &impl Db, profile_id: Uuid) -> Result<Option<ChatTest>> {
    db.opt(
        &format!(
            "select {CHAT_COLUMNS} from chat_tests c
             join inscriptions i on i.id = c.inscription_id join masterclasses m on m.id = i.masterclass_id
             where c.profile_id = $1 and c.ended_at is null for update of c"
        ),
        &[p(&profile_id)],
    )
    .await
    .map_err(failed(format!("reading the open chat test of profile {profile_id}")))?
    .map(|row| ChatTest::from_row(&row))
    .transpose()
}

/// Opens a conversation; `None` if the profile has one open already (one started concurrently).
pub async fn create(
    db: &impl Db,
    inscription_id: Uuid,
    profile_id: Uuid,
    kind: ExamKind,
    started_at: OffsetDateTime,
    carried: &serde_json::Value,
) -> Result<Option<Uuid>> {
    db.opt(
        "insert into chat_tests (inscription_id, profile_id, kind, started_at, carried)
         values ($1, $2, $3, $4, $5) on conflict (profile_id) where ended_at is null do nothing
         returning id",
        &[
            p(&inscription_id),
            p(&profile_id),
            p(&kind.as_str()),
            p(&started_at),
            p(carried),
        ],
    )
    .await
    .map_err(failed(format!(
        "opening a chat test for inscription {inscription_id}"
    )))?
    .map(|row| Ok(row.try_get("id")?))
    .transpose()
}

/// Adds a reply (the provider's id, when it was sent, the parsed reply).
pub async fn add_reply(
    db: &impl Db,
    chat_test_id: Uuid,
    provider_message_id: &str,
    sent_at: OffsetDateTime,
    reply: &str,
) -> Result<u64> {
    db.exec(
        "insert into chat_replies (chat_test_id, provider_message_id, sent_at, reply)
         values ($1, $2, $3, $4) on conflict do nothing",
        &[
            p(&chat_test_id),
            p(&provider_message_id),
            p(&sent_at),
            p(&reply),
        ],
    )
    .await
    .map_err(failed(format!(
        "adding a reply to chat test {chat_test_id}"
    )))
}

/// The replies of a conversation in the order they were sent (then received), with whether
/// each is `provider_message_id`.
pub async fn replies(
    db: &impl Db,
    chat_test_id: Uuid,
) -> Result<Vec<(OffsetDateTime, String, String)>> {
    db.all(
        "select sent_at, reply, provider_message_id from chat_replies where chat_test_id = $1
         order by sent_at, seq",
        &[p(&chat_test_id)],
    )
    .await
    .map_err(failed(format!(
        "reading the replies of chat test {chat_test_id}"
    )))?
    .iter()
    .map(|row| {
        Ok((
            row.try_get("sent_at")?,
            row.try_get("reply")?,
            row.try_get("provider_message_id")?,
        ))
    })
    .collect()
}

/// Marks a conversation active now (its expiry starts again, and so may its reminder).
pub async fn touch(db: &impl Db, chat_test_id: Uuid) -> Result<()> {
    db.exec(
        "update chat_tests set active_at = now(), reminded_at = null where id = $1",
        &[p(&chat_test_id)],
    )
    .await
    .map_err(failed(format!("marking chat test {chat_test_id} active")))?;
    Ok(())
}

/// Ends a conversation for `reason` (`submitted`, `expired`, `reset`, `closed`, `stopped`);
/// returns 1 if it was open.
pub async fn end(db: &impl Db, chat_test_id: Uuid, reason: &str) -> Result<u64> {
    db.exec(
        "update chat_tests set ended_at = now(), ended_reason = $2
         where id = $1 and ended_at is null",
        &[p(&chat_test_id), p(&reason)],
    )
    .await
    .map_err(failed(format!("ending chat test {chat_test_id}")))
}

/// Ends the open conversation of profile `profile_id`, if any (`reason` as [`end`]).
pub async fn end_of_profile(db: &impl Db, profile_id: Uuid, reason: &str) -> Result<u64> {
    db.exec(
        "update chat_tests set ended_at = now(), ended_reason = $2
         where profile_id = $1 and ended_at is null",
        &[p(&profile_id), p(&reason)],
    )
    .await
    .map_err(failed(format!(
        "ending the chat test of profile {profile_id}"
    )))
}

/// An answer given to a test not yet submitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    pub question_id: Uuid,
    pub choice: String,
    pub answered_at: OffsetDateTime,
    pub channel: String,
}

/// The answers given so far to test `kind` of inscription `inscription_id`.
pub async fn drafts(db: &impl Db, inscription_id: Uuid, kind: ExamKind) -> Result<Vec<Draft>> {
    db.all(
        "select question_id, choice, answered_at, channel from test_drafts
         where inscription_id = $1 and kind = $2 order by question_id",
        &[p(&inscription_id), p(&kind.as_str())],
    )
    .await
    .map_err(failed(format!(
        "reading the draft answers of inscription {inscription_id}"
    )))?
    .iter()
    .map(|row| {
        Ok(Draft {
            question_id: row.try_get("question_id")?,
            choice: row.try_get("choice")?,
            answered_at: row.try_get("answered_at")?,
            channel: row.try_get("channel")?,
        })
    })
    .collect()
}

/// Keeps answers (question ids, letters and times, pairwise) given on `channel`, in one
/// statement: an answer replaces one given earlier, or one of the same channel (the chat's are
/// computed again from all its replies each time: the latest computation is the truth).
pub async fn save_drafts(
    db: &impl Db,
    inscription_id: Uuid,
    kind: ExamKind,
    question_ids: &[Uuid],
    choices: &[&str],
    at: &[OffsetDateTime],
    channel: &str,
) -> Result<u64> {
    db.exec(
        "insert into test_drafts (inscription_id, kind, question_id, choice, answered_at, channel)
         select $1, $2, q, c, t, $6 from unnest($3::uuid[], $4::text[], $5::timestamptz[]) as d(q, c, t)
         on conflict (inscription_id, kind, question_id) do update
             set choice = excluded.choice, answered_at = excluded.answered_at, channel = excluded.channel
             where (test_drafts.answered_at <= excluded.answered_at or test_drafts.channel = excluded.channel)
               and (test_drafts.choice, test_drafts.channel, test_drafts.answered_at)
                   is distinct from (excluded.choice, excluded.channel, excluded.answered_at)",
        &[
            p(&inscription_id),
            p(&kind.as_str()),
            p(&question_ids),
            p(&choices),
            p(&at),
            p(&channel),
        ],
    )
    .await
    .map_err(failed(format!(
        "keeping draft answers of inscription {inscription_id}"
    )))
}

/// Drops the chat's draft answers of a test to questions other than `keep` (a reply put back
/// in its place moved them).
pub async fn drop_chat_drafts_except(
    db: &impl Db,
    inscription_id: Uuid,
    kind: ExamKind,
    keep: &[Uuid],
) -> Result<()> {
    db.exec(
        "delete from test_drafts where inscription_id = $1 and kind = $2 and channel = 'chat'
         and not (question_id = any($3))",
        &[p(&inscription_id), p(&kind.as_str()), p(&keep)],
    )
    .await
    .map_err(failed(format!(
        "dropping moved draft answers of inscription {inscription_id}"
    )))?;
    Ok(())
}

/// Drops the draft answers of a test (it was submitted).
pub async fn clear_drafts(db: &impl Db, inscription_id: Uuid, kind: ExamKind) -> Result<()> {
    db.exec(
        "delete from test_drafts where inscription_id = $1 and kind = $2",
        &[p(&inscription_id), p(&kind.as_str())],
    )
    .await
    .map_err(failed(format!(
        "dropping the draft answers of inscription {inscription_id}"
    )))?;
    Ok(())
}

/// An inscription of a profile whose tests may be taken in the chat.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub inscription_id: Uuid,
    pub masterclass_id: Uuid,
    pub pre_taken: bool,
    pub post_taken: bool,
}

/// The live inscriptions of profile `profile_id` to masterclasses not over for tests, the
/// masterclass nearest to now first.
pub async fn candidates(db: &impl Db, profile_id: Uuid) -> Result<Vec<Candidate>> {
    db.all(
        "select i.id, i.masterclass_id,
                exists (select 1 from test_attempts a where a.inscription_id = i.id and a.kind = 'PRE'
                        and not a.superseded) as pre_taken,
                exists (select 1 from test_attempts a where a.inscription_id = i.id and a.kind = 'POST'
                        and not a.superseded) as post_taken
         from inscriptions i join masterclasses m on m.id = i.masterclass_id
         where i.profile_id = $1 and i.deleted_at is null and i.merged_into is null
           and i.erased_at is null and m.deleted_at is null
         order by abs(extract(epoch from m.starts_at - now())), i.id",
        &[p(&profile_id)],
    )
    .await
    .map_err(failed(format!("reading the tests profile {profile_id} may take")))?
    .iter()
    .map(|row| {
        Ok(Candidate {
            inscription_id: row.try_get("id")?,
            masterclass_id: row.try_get("masterclass_id")?,
            pre_taken: row.try_get("pre_taken")?,
            post_taken: row.try_get("post_taken")?,
        })
    })
    .collect()
}

/// A conversation the schedule has something to do with.
#[derive(Debug, Clone)]
pub struct Due {
    pub chat: ChatTest,
    /// A PRE test whose masterclass has ended: to close.
    pub closed: bool,
    /// Silent past its expiry (else: due for its reminder).
    pub expired: bool,
    pub active_at: OffsetDateTime,
}

/// Open conversations on a PRE test whose masterclass ended (to close), silent for
/// `expires_after` (to pause) or for `expires_after - reminder_before` and not reminded since
/// (to remind), oldest first, at most `limit`.
pub async fn due(
    db: &impl Db,
    expires_after: std::time::Duration,
    reminder_before: std::time::Duration,
    limit: i64,
) -> Result<Vec<Due>> {
    let expires = expires_after.as_secs_f64();
    let remind = expires_after.saturating_sub(reminder_before).as_secs_f64();
    db.all(
        &format!(
            "select {CHAT_COLUMNS}, c.active_at,
                    (c.kind = 'PRE' and m.ends_at <= now()) as closed,
                    c.active_at <= now() - make_interval(secs => $1) as expired
             from chat_tests c
             join inscriptions i on i.id = c.inscription_id join masterclasses m on m.id = i.masterclass_id
             where c.ended_at is null
               and ((c.kind = 'PRE' and m.ends_at <= now())
                    or c.active_at <= now() - make_interval(secs => $1)
                    or (c.reminded_at is null and c.active_at <= now() - make_interval(secs => $2)))
             order by c.active_at limit $3
             for update of c skip locked"
        ),
        &[p(&expires), p(&remind), p(&limit)],
    )
    .await
    .map_err(failed("reading the chat tests due for a reminder or expiry"))?
    .iter()
    .map(|row| {
        Ok(Due {
            chat: ChatTest::from_row(row)?,
            closed: row.try_get("closed")?,
            expired: row.try_get("expired")?,
            active_at: row.try_get("active_at")?,
        })
    })
    .collect()
}

/// Marks a conversation reminded.
pub async fn reminded(db: &impl Db, chat_test_id: Uuid) -> Result<()> {
    db.exec(
        "update chat_tests set reminded_at = now() where id = $1",
        &[p(&chat_test_id)],
    )
    .await
    .map_err(failed(format!("marking chat test {chat_test_id} reminded")))?;
    Ok(())
}

/// Drops the draft answers of tests whose window has closed (PRE tests of masterclasses that
/// ended); returns how many.
pub async fn drop_closed_drafts(db: &impl Db) -> Result<u64> {
    db.exec(
        "delete from test_drafts d using inscriptions i, masterclasses m
         where i.id = d.inscription_id and m.id = i.masterclass_id and d.kind = 'PRE' and m.ends_at <= now()",
        &[],
    )
    .await
    .map_err(failed("dropping the draft answers of closed tests"))
}
