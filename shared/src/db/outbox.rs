//! Queries for `outbox_messages`: WhatsApp messages from queueing to delivery. The states and
//! their transitions are described in `messaging::dispatch`; every transition of a claimed
//! message is guarded by its claim, so a run that lost its claim changes nothing.
//!
//! Each query is a small function: its SQL, typed parameters, `failed(...)` naming the work and
//! the row, the answer read by column name. One function a query, so that "where is the SQL for
//! X?" has one answer.

use time::OffsetDateTime;
use uuid::Uuid;

use super::{
    Db, p,
    row::{FromRow, all, failed},
};
use crate::{error::Result, model::outbox::MessageView};

/// A message claimed for sending.
#[derive(Debug, Clone, postgres_from_row::FromRow)]
pub struct Claimed {
    pub id: Uuid,
    pub to_number: String,
    pub body: String,
}

/// A message whose send has an unknown outcome.
#[derive(Debug, Clone, postgres_from_row::FromRow)]
pub struct Doubt {
    pub id: Uuid,
    pub to_number: String,
    pub body: String,
    pub sending_at: Option<OffsetDateTime>,
    pub resent_after_doubt: bool,
}

/// Suppresses the due messages to numbers that opted out; returns how many.
pub async fn suppress_opted_out(db: &impl Db) -> Result<u64> {
    db.exec(
        "update outbox_messages o set status = 'suppressed', status_at = now(),
             last_error = 'the student opted out (STOP) or withdrew consent'
         where o.status = 'queued' and o.due_at <= now()
           and (exists (select 1 from profiles p
                        where p.whatsapp_number = o.to_number and p.opted_out_at is not null
                          and p.erased_at is null)
                or exists (select 1 from inscriptions i
                           where i.id = o.inscription_id and i.consent_withdrawn_at is not null))",
        &[],
    )
    .await
    .map_err(failed("suppressing messages to opted-out numbers"))
}

/// Holds the due messages (to `number` only, when given) that would take their number past
/// `per_day` messages in 24 hours: `held` for staff, with the reason. Counted: what was
/// claimed or sent in the last 24 hours, then the due ones oldest first. Replies in a test
/// taken in the chat are neither counted nor held, nor is a message staff released. Returns how
/// many were held.
pub async fn hold_over_limit(db: &impl Db, per_day: i64, number: Option<&str>) -> Result<u64> {
    db.exec(
        "with due as (
             select o.id, o.to_number,
                    row_number() over (partition by o.to_number order by o.due_at, o.created_at) as rank
             from outbox_messages o
             where o.status = 'queued' and o.due_at <= now() and not o.limit_waived
               and o.message_type not in ('test_question', 'test_chat')
               and ($2::text is null or o.to_number = $2)),
         sent as (
             select s.to_number, count(*) as n from outbox_messages s
             where s.to_number in (select to_number from due)
               and s.status not in ('queued', 'held', 'suppressed')
               and coalesce(s.sending_at, s.claimed_at) > now() - interval '1 day'
               and s.message_type not in ('test_question', 'test_chat')
             group by s.to_number)
         update outbox_messages o set status = 'held', status_at = now(),
             last_error = format('held: the recipient''s limit of %s messages a day was reached', $1::bigint)
         from due left join sent on sent.to_number = due.to_number
         where o.id = due.id and o.status = 'queued' and due.rank + coalesce(sent.n, 0) > $1",
        &[p(&per_day), p(&number)],
    )
    .await
    .map_err(failed("holding messages past their recipient's daily limit"))
}

/// Claims up to `limit` due messages for `claim_id` until `until`, oldest first, skipping those
/// another run holds.
pub async fn claim(
    db: &impl Db,
    claim_id: Uuid,
    limit: i64,
    until: OffsetDateTime,
) -> Result<Vec<Claimed>> {
    let rows = db
        .all(
            "with due as (
                 select id from outbox_messages
                 where status = 'queued' and due_at <= now()
                 order by due_at, created_at limit $2
                 for update skip locked
             )
             update outbox_messages o set status = 'claimed', claim_id = $1, claimed_at = now(),
                 status_at = now(), claim_expires_at = $3
             from due where o.id = due.id
             returning o.id, o.to_number, o.body",
            &[p(&claim_id), p(&limit), p(&until)],
        )
        .await
        .map_err(failed(format!("claiming messages for run {claim_id}")))?;
    all(&rows)
}

/// Claims, like [`claim`], the due messages to `number` only (at most `limit`), leaving out
/// those to an opted-out number or a withdrawn consent (the scheduled run suppresses them).
pub async fn claim_to(
    db: &impl Db,
    claim_id: Uuid,
    number: &str,
    limit: i64,
    until: OffsetDateTime,
) -> Result<Vec<Claimed>> {
    let rows = db
        .all(
            "with due as (
                 select o.id from outbox_messages o
                 where o.status = 'queued' and o.due_at <= now() and o.to_number = $4
                   and not exists (select 1 from profiles p
                                   where p.whatsapp_number = o.to_number and p.opted_out_at is not null)
                   and not exists (select 1 from inscriptions i
                                   where i.id = o.inscription_id and i.consent_withdrawn_at is not null)
                 order by o.due_at, o.created_at limit $2
                 for update skip locked
             )
             update outbox_messages o set status = 'claimed', claim_id = $1, claimed_at = now(),
                 status_at = now(), claim_expires_at = $3
             from due where o.id = due.id
             returning o.id, o.to_number, o.body",
            &[p(&claim_id), p(&limit), p(&until), p(&number)],
        )
        .await
        .map_err(failed(format!("claiming the messages to a number for run {claim_id}")))?;
    all(&rows)
}

/// Marks message `id` of `claim_id` `sending` and counts the attempt; returns the attempt
/// number, or `None` if the claim was lost.
pub async fn start_sending(db: &impl Db, claim_id: Uuid, id: Uuid) -> Result<Option<i32>> {
    db.opt(
        "update outbox_messages set status = 'sending', sending_at = now(), status_at = now(),
             attempts = attempts + 1
         where id = $1 and claim_id = $2 and status = 'claimed'
         returning attempts",
        &[p(&id), p(&claim_id)],
    )
    .await
    .map_err(failed(format!("starting to send message {id}")))?
    .map(|row| Ok(row.try_get("attempts")?))
    .transpose()
}

/// Hands the messages of `claim_id` that were never started back to the queue.
pub async fn release(db: &impl Db, claim_id: Uuid) -> Result<u64> {
    db.exec(
        "update outbox_messages set status = 'queued', claim_id = null, claim_expires_at = null,
             status_at = now()
         where claim_id = $1 and status = 'claimed'",
        &[p(&claim_id)],
    )
    .await
    .map_err(failed(format!(
        "handing back the messages of run {claim_id}"
    )))
}

/// The outcome of a send, as recorded.
#[derive(Debug, Clone)]
pub enum SendOutcome<'a> {
    /// Accepted by the provider under this id.
    Sent(&'a str),
    /// Refused for good.
    Failed(&'a str),
    /// Nobody knows whether it went out.
    InDoubt(&'a str),
    /// Given up after its last attempt, `attempts`, failed for `reason`.
    GaveUp { attempts: i32, reason: &'a str },
    /// To be tried again after the delay.
    Retry(&'a str, std::time::Duration),
}

/// Records the outcome of the send of message `id` under `claim_id`.
pub async fn record(
    db: &impl Db,
    claim_id: Uuid,
    id: Uuid,
    outcome: &SendOutcome<'_>,
) -> Result<u64> {
    const GUARD: &str = "where id = $1 and claim_id = $2 and status = 'sending'";
    let done = match outcome {
        SendOutcome::Sent(provider_id) => {
            db.exec(
                &format!(
                    "update outbox_messages set status = 'sent', provider_message_id = $3,
                         sent_at = now(), status_at = now(), last_error = null {GUARD}"
                ),
                &[p(&id), p(&claim_id), p(provider_id)])
            .await
        }
        SendOutcome::Failed(reason) => {
            db.exec(
                &format!(
                    "update outbox_messages set status = 'failed', status_at = now(),
                         last_error = $3 {GUARD}"
                ),
                &[p(&id), p(&claim_id), p(reason)])
            .await
        }
        SendOutcome::InDoubt(reason) => {
            db.exec(
                &format!(
                    "update outbox_messages set status = 'in_doubt', status_at = now(),
                         last_error = 'outcome unknown, the provider will be asked before any resend: ' || $3
                     {GUARD}"
                ),
                &[p(&id), p(&claim_id), p(reason)])
            .await
        }
        SendOutcome::GaveUp { attempts, reason } => {
            db.exec(
                &format!(
                    "update outbox_messages set status = 'dead', status_at = now(),
                         last_error = $3 {GUARD}"
                ),
                &[p(&id), p(&claim_id), p(&format!("gave up after {attempts} attempts: {reason}"))])
            .await
        }
        SendOutcome::Retry(reason, delay) => {
            db.exec(
                &format!(
                    "update outbox_messages set status = 'queued', status_at = now(), last_error = $3,
                         claim_id = null, claim_expires_at = null,
                         due_at = now() + make_interval(secs => $4)
                     {GUARD}"
                ),
                &[p(&id), p(&claim_id), p(reason), p(&delay.as_secs_f64())])
            .await
        }
    };
    done.map_err(failed(format!("recording the send of message {id}")))
}

/// Claims that outlived their run: never-started ones go back to the queue, those left
/// `sending` are in doubt. Returns (handed back, in doubt).
pub async fn expire_claims(db: &impl Db) -> Result<(u64, u64)> {
    let released = db
        .exec(
            "update outbox_messages set status = 'queued', claim_id = null, claim_expires_at = null,
                 status_at = now()
             where status = 'claimed' and claim_expires_at < now()",
            &[])
        .await
        .map_err(failed("handing back expired claims"))?;
    let orphaned = db
        .exec(
            "update outbox_messages set status = 'in_doubt', status_at = now(),
                 last_error = 'outcome unknown: the dispatcher stopped while sending it; the provider will be asked before any resend'
             where status = 'sending' and claim_expires_at < now()",
            &[])
        .await
        .map_err(failed("marking the sends of a stopped dispatcher in doubt"))?;
    Ok((released, orphaned))
}

/// Up to `limit` messages in doubt for at least `settled_after`, oldest doubt first.
pub async fn doubts(
    db: &impl Db,
    settled_after: std::time::Duration,
    limit: i64,
) -> Result<Vec<Doubt>> {
    let rows = db
        .all(
            "select id, to_number, body, sending_at, resent_after_doubt from outbox_messages
             where status = 'in_doubt' and status_at <= now() - make_interval(secs => $1)
             order by status_at limit $2",
            &[p(&settled_after.as_secs_f64()), p(&limit)],
        )
        .await
        .map_err(failed("reading the messages in doubt"))?;
    all(&rows)
}

/// What the provider said of a message in doubt.
#[derive(Debug, Clone, Copy)]
pub enum Settlement<'a> {
    /// It has it, under this id.
    Found(&'a str),
    /// It does not: send it again, once.
    Resend,
    /// It does not, and it was already sent again once: give up.
    GiveUp,
    /// The provider could not be asked (`reason`); after `max` such lookups, give up.
    Unanswered { reason: &'a str, max: i32 },
}

/// Settles message `id` in doubt; returns 0 if it was no longer in doubt (and for a lookup left
/// unanswered, 0 too while the message stays in doubt: 1 once it is given up).
pub async fn settle(db: &impl Db, id: Uuid, settlement: Settlement<'_>) -> Result<u64> {
    const GUARD: &str = "where id = $1 and status = 'in_doubt'";
    let done = match settlement {
        Settlement::Found(provider_id) => {
            db.exec(
                &format!(
                    "update outbox_messages set status = 'sent', provider_message_id = $2,
                         sent_at = now(), status_at = now(), last_error = null {GUARD}"
                ),
                &[p(&id), p(&provider_id)])
            .await
        }
        Settlement::Resend => {
            db.exec(
                &format!(
                    "update outbox_messages set status = 'queued', due_at = now(), status_at = now(),
                         claim_id = null, claim_expires_at = null, resent_after_doubt = true,
                         lookup_failures = 0, last_error = 'the provider did not have it after a send of unknown outcome: sent again, once'
                     {GUARD}"
                ),
                &[p(&id)])
            .await
        }
        Settlement::GiveUp => {
            db.exec(
                &format!(
                    "update outbox_messages set status = 'dead', status_at = now(),
                         last_error = 'outcome unknown twice and the provider does not list it: not sent a third time. \
                                       Check the conversation, then retry it if needed.'
                     {GUARD}"
                ),
                &[p(&id)])
            .await
        }
        Settlement::Unanswered { reason, max } => {
            let given_up = db
                .opt(
                    &format!(
                        "update outbox_messages set lookup_failures = lookup_failures + 1,
                             status = case when lookup_failures + 1 >= $3 then 'dead' else status end,
                             status_at = case when lookup_failures + 1 >= $3 then now() else status_at end,
                             last_error = case when lookup_failures + 1 >= $3
                                 then format('outcome unknown, and the provider could not be asked about it %s times '
                                             '(last answer: %s): not sent again. Check the conversation, '
                                             'then retry it if needed.', lookup_failures + 1, $2::text)
                                 else $2::text end
                         {GUARD} returning status = 'dead' as given_up"
                    ),
                    &[p(&id), p(&reason), p(&max)],
                )
                .await
                .map_err(failed(format!("settling message {id}")))?;
            return Ok(match given_up {
                Some(row) if row.try_get::<_, bool>("given_up")? => 1,
                _ => 0,
            });
        }
    };
    done.map_err(failed(format!("settling message {id}")))
}

/// Applies a delivery status the provider reported for its message `provider_id`: forward only
/// (`sent` → `delivered` → `read`), and `failed` only before delivery. Returns how many
/// messages changed.
pub async fn apply_status(db: &impl Db, provider_id: &str, status: &str) -> Result<u64> {
    db.exec(
        "update outbox_messages set status = $2, status_at = now(),
             last_error = case when $2 = 'failed' then 'the provider reported a failure' else last_error end
         where provider_message_id = $1 and status not in ('failed', 'dead', 'suppressed')
           and case when $2 = 'failed' then message_status_rank(status) <= 2
                    else message_status_rank(status) < message_status_rank($2) end",
        &[p(&provider_id), p(&status)])
    .await
    .map_err(failed(format!("applying status {status} to provider message {provider_id}")))
}

/// Is `provider_id` the provider's id of one of our messages?
pub async fn sent_as(db: &impl Db, provider_id: &str) -> Result<bool> {
    Ok(db
        .opt(
            "select 1 from outbox_messages where provider_message_id = $1",
            &[p(&provider_id)],
        )
        .await
        .map_err(failed(format!("looking up provider message {provider_id}")))?
        .is_some())
}

/// Suppresses what waits for `number` (it just opted out): the queued messages, and those a
/// dispatcher claimed but has not started (it sends a message only while it is still claimed,
/// as a consent withdrawal from the web relies on too). Returns how many.
pub async fn suppress_queued_to(db: &impl Db, number: &str) -> Result<u64> {
    db.exec(
        "update outbox_messages set status = 'suppressed', status_at = now(),
             last_error = 'the student opted out (STOP)'
         where to_number = $1 and status in ('queued', 'claimed')",
        &[p(&number)],
    )
    .await
    .map_err(failed(
        "suppressing the queued messages of a number that opted out",
    ))
}

/// Suppresses the queued messages of `message_type` about inscription `inscription_id` (a
/// question of a test in the chat the student has answered before it went out: the next one
/// replaces it). Returns how many.
pub async fn supersede_queued(
    db: &impl Db,
    inscription_id: Uuid,
    message_type: &str,
) -> Result<u64> {
    db.exec(
        "update outbox_messages set status = 'suppressed', status_at = now(),
             last_error = 'superseded: answered before it was sent'
         where inscription_id = $1 and message_type = $2 and status = 'queued'",
        &[p(&inscription_id), p(&message_type)],
    )
    .await
    .map_err(failed(format!(
        "superseding the queued {message_type} messages of inscription {inscription_id}"
    )))
}

/// A rendered message to queue: what every queueing path (events, schedules, staff) writes,
/// under the same rules.
#[derive(Debug, Clone)]
pub struct NewMessage<'a> {
    pub inscription_id: Option<Uuid>,
    pub profile_id: Option<Uuid>,
    /// E.164.
    pub to_number: &'a str,
    pub message_type: &'static str,
    pub data: &'a serde_json::Value,
    pub body: &'a str,
    /// One message per event: a second message with the same key is not queued.
    pub dedupe_key: Option<&'a str>,
    /// Staff who wrote it, if staff did.
    pub created_by: Option<Uuid>,
    /// `suppressed` (the student opted out: recorded, never sent) rather than `queued`.
    pub suppressed: bool,
}

/// Queues `messages` in one statement, skipping any whose dedupe key was queued before; returns
/// the ids of those queued (a skipped one has none).
pub async fn insert(db: &impl Db, messages: &[NewMessage<'_>]) -> Result<Vec<Uuid>> {
    if messages.is_empty() {
        return Ok(Vec::new());
    }
    let rows = db
        .all(
            "insert into outbox_messages (inscription_id, profile_id, to_number, message_type, data, body,
                                          dedupe_key, created_by, status, last_error)
             select i, p, t, mt, d, b, k, c,
                    case when s then 'suppressed' else 'queued' end,
                    case when s then 'the student opted out' end
             from unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::jsonb[], $6::text[],
                         $7::text[], $8::uuid[], $9::bool[]) as m(i, p, t, mt, d, b, k, c, s)
             on conflict (dedupe_key) do nothing
             returning id",
            &[
                p(&messages.iter().map(|m| m.inscription_id).collect::<Vec<_>>()),
                p(&messages.iter().map(|m| m.profile_id).collect::<Vec<_>>()),
                p(&messages.iter().map(|m| m.to_number).collect::<Vec<_>>()),
                p(&messages.iter().map(|m| m.message_type).collect::<Vec<_>>()),
                p(&messages.iter().map(|m| m.data).collect::<Vec<_>>()),
                p(&messages.iter().map(|m| m.body).collect::<Vec<_>>()),
                p(&messages.iter().map(|m| m.dedupe_key).collect::<Vec<_>>()),
                p(&messages.iter().map(|m| m.created_by).collect::<Vec<_>>()),
                p(&messages.iter().map(|m| m.suppressed).collect::<Vec<_>>()),
            ])
        .await
        .map_err(failed(format!("queueing {} message(s)", messages.len())))?;
    rows.iter().map(|row| Ok(row.try_get("id")?)).collect()
}

const VIEW: &str = "id, inscription_id, to_number, message_type, body, status, attempts, due_at, last_error, \
                    provider_message_id, created_at, sent_at";

/// Up to `rows` of the messages the caller may see, newest first, of one status and one
/// inscription when given, after `after` (creation time and id).
pub async fn page(
    db: &impl Db,
    status: Option<&str>,
    inscription_id: Option<Uuid>,
    after: Option<(OffsetDateTime, Uuid)>,
    rows: i64,
) -> Result<Vec<MessageView>> {
    let (after_at, after_id) = after.unzip();
    let rows = db
        .all(
            &format!(
                "select {VIEW} from outbox_messages
                 where ($1::text is null or status = $1) and ($2::uuid is null or inscription_id = $2)
                   and ($4::uuid is null or (created_at, id) < ($3::timestamptz, $4))
                 order by created_at desc, id desc limit $5"
            ),
            &[p(&status), p(&inscription_id), p(&after_at), p(&after_id), p(&rows)],
        )
        .await
        .map_err(failed("listing messages"))?;
    all(&rows)
}

/// Message `id`, if the caller may see it.
pub async fn get(db: &impl Db, id: Uuid) -> Result<Option<MessageView>> {
    db.opt(
        &format!("select {VIEW} from outbox_messages where id = $1"),
        &[p(&id)],
    )
    .await
    .map_err(failed(format!("reading message {id}")))?
    .as_ref()
    .map(MessageView::from_row)
    .transpose()
}

/// Puts message `id` back in the queue, due now, with fresh attempts.
pub async fn requeue(db: &impl Db, id: Uuid) -> Result<MessageView> {
    let row = db
        .one(
            &format!(
                "update outbox_messages set status = 'queued', attempts = 0, due_at = now(),
                     claim_id = null, claim_expires_at = null, status_at = now(), lookup_failures = 0,
                     limit_waived = limit_waived or status = 'held'
                 where id = $1 returning {VIEW}"
            ),
            &[p(&id)],
        )
        .await
        .map_err(failed(format!("queueing message {id} again")))?;
    MessageView::from_row(&row)
}

/// A scheduled message that is due and not queued yet.
#[derive(Debug, Clone, postgres_from_row::FromRow)]
pub struct DueScheduled {
    /// `reminder` (before the masterclass) or `post_test_invitation` (after it).
    pub kind: String,
    #[from_row(rename = "id")]
    pub inscription_id: Uuid,
    pub profile_id: Uuid,
    pub whatsapp_number: String,
    pub full_name: String,
    #[from_row(rename = "title")]
    pub masterclass_title: String,
    pub starts_at: OffsetDateTime,
}

/// The reminders due (masterclasses starting within `reminder_before`) and the POST test
/// invitations due (masterclasses that ended within a week, POST not taken), not queued yet.
pub async fn due_scheduled(
    db: &impl Db,
    reminder_before: std::time::Duration,
) -> Result<Vec<DueScheduled>> {
    let rows = db
        .all(
            "select 'reminder' as kind, i.id, i.profile_id, i.whatsapp_number, i.full_name, m.title, m.starts_at
             from inscriptions i join masterclasses m on m.id = i.masterclass_id
             where i.deleted_at is null and m.deleted_at is null
               and m.starts_at > now() and m.starts_at <= now() + make_interval(secs => $1)
               and not exists (select 1 from outbox_messages o where o.dedupe_key = 'reminder:' || i.id)
             union all
             select 'post_test_invitation', i.id, i.profile_id, i.whatsapp_number, i.full_name, m.title, m.starts_at
             from inscriptions i join masterclasses m on m.id = i.masterclass_id
             where i.deleted_at is null and m.deleted_at is null
               and m.ends_at <= now() and m.ends_at > now() - interval '7 days'
               and not exists (select 1 from test_attempts a where a.inscription_id = i.id and a.kind = 'POST')
               and not exists (select 1 from outbox_messages o
                               where o.dedupe_key = 'post_test_invitation:' || i.id)",
            &[p(&reminder_before.as_secs_f64())])
        .await
        .map_err(failed("finding the scheduled messages due"))?;
    all(&rows)
}

/// Gives up on message `id` for `reason`, as the dispatcher does after its last attempt;
/// returns 0 if there is no such message. (The local stack's samples use it: its provider never
/// refuses. A running `cargo run` beside them dispatches through the log provider, so the
/// message may already be claimed or "sent" by then: it ends dead all the same, and a
/// dispatcher still holding it records nothing, its claim being gone.)
pub async fn give_up(db: &impl Db, id: Uuid, reason: &str) -> Result<u64> {
    db.exec(
        "update outbox_messages set status = 'dead', status_at = now(), last_error = $2,
             claim_id = null, claim_expires_at = null
         where id = $1",
        &[p(&id), p(&reason)],
    )
    .await
    .map_err(failed(format!("giving up on message {id}")))
}
