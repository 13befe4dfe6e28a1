//! Queries of the staff dashboard about students: the list (filtered, searched, keyset-paged),
//! one student's whole record, and attendance in bulk. Row-level security scopes all of it: a
//! tutor's queries see only the inscriptions (and so the students) of their masterclasses.
//!
//! The list is of inscriptions (one row per student and masterclass), which carry the name and
//! number each registration was made with; search and name sort use the expression indexes of
//! migration 0015 (`student_search`, `name_key`), keyset paging the `(created_at, id)` ones.
//!
//! Each query is a small function: its SQL, typed parameters, `failed(...)` naming the work and
//! the row, the answer read by column name. One function a query, so that "where is the SQL for
//! X?" has one answer.

use tokio_postgres::Row;
use uuid::Uuid;

use super::{
    Db, p,
    row::{FromRow, all, failed},
};
use crate::{
    domain::paging::micros_time,
    error::{Error, Result},
    model::students::{InscriptionView, StudentFilter, StudentKey, StudentRow, StudentSort},
};

impl FromRow for StudentRow {
    fn from_row(row: &Row) -> Result<Self> {
        let pre: Option<i32> = row.try_get("pre_score")?;
        let post: Option<i32> = row.try_get("post_score")?;
        Ok(Self {
            inscription_id: row.try_get("id")?,
            student_id: row.try_get("profile_id")?,
            full_name: row.try_get("full_name")?,
            whatsapp_number: row.try_get("whatsapp_number")?,
            masterclass_id: row.try_get("masterclass_id")?,
            masterclass_title: row.try_get("title")?,
            attended: row.try_get("attended")?,
            registered_at: row.try_get("created_at")?,
            pre_score: pre,
            post_score: post,
            max_score: row.try_get("max_score")?,
            gain: pre.zip(post).map(|(pre, post)| post - pre),
            name_key: row.try_get("name_key")?,
        })
    }
}

/// The list's SQL for one sort and direction. Parameters: `$1` masterclass, `$2` attended, `$3`
/// registered from, `$4` registered before, `$5` has PRE, `$6` has POST, `$7` search text (as
/// typed; folded here), `$8` rows, `$9`/`$10`/`$11` the key to start after (time or name, and
/// inscription); a null filter is no filter. Public for the benchmark, which runs the same SQL
/// through pgbench (on one line: no `--` comments in it). The search's matches come as an
/// array, so that a few are fetched by key rather than found by walking the list's order.
pub fn page_sql(sort: StudentSort, descending: bool) -> String {
    let key = match sort {
        StudentSort::Registered => "i.created_at",
        StudentSort::Name => "name_key(i.full_name)",
    };
    let after = match sort {
        StudentSort::Registered => "$9::timestamptz",
        StudentSort::Name => "$10::text",
    };
    let (op, dir) = if descending {
        ("<", "desc")
    } else {
        (">", "asc")
    };
    format!(
        "select i.id, i.profile_id, i.full_name, i.whatsapp_number, i.masterclass_id, m.title,
                i.attended, i.created_at, sc.pre_score, sc.post_score, sc.max_score,
                name_key(i.full_name) as name_key
         from inscriptions i
         join masterclasses m on m.id = i.masterclass_id
         left join inscription_scores sc on sc.inscription_id = i.id
         where i.deleted_at is null and i.merged_into is null
           and ($1::uuid is null or i.masterclass_id = $1)
           and ($2::boolean is null or i.attended = $2)
           and ($3::timestamptz is null or i.created_at >= $3)
           and ($4::timestamptz is null or i.created_at < $4)
           and ($5::boolean is null or (sc.pre_score is not null) = $5)
           and ($6::boolean is null or (sc.post_score is not null) = $6)
           and ($7::text is null or i.id = any (array(select student_search_ids($7))))
           and ($11::uuid is null or ({key}, i.id) {op} ({after}, $11))
         order by {key} {dir}, i.id {dir}
         limit $8"
    )
}

/// Up to `rows` students matching `filter`, after `after` in its order.
pub async fn page(
    db: &impl Db,
    filter: &StudentFilter,
    after: Option<&StudentKey>,
    rows: i64,
) -> Result<Vec<StudentRow>> {
    let (after_at, after_name, after_id) = match after {
        None => (None, None, None),
        Some(key) => (
            key.at.map(micros_time).transpose()?,
            key.name.clone(),
            Some(key.id),
        ),
    };
    let rows = db
        .all(
            &page_sql(filter.sort, filter.descending),
            &[
                p(&filter.masterclass_id),
                p(&filter.attended),
                p(&filter.registered_from),
                p(&filter.registered_before),
                p(&filter.has_pre),
                p(&filter.has_post),
                p(&filter.search),
                p(&rows),
                p(&after_at),
                p(&after_name),
                p(&after_id),
            ],
        )
        .await
        .map_err(failed("listing students"))?;
    all(&rows)
}

/// Validates (or unvalidates) every inscription of `ids` as `staff_id`, or none: the ids the
/// caller may not change (unknown, deleted, another tutor's) are a 422 naming them, and the
/// caller's transaction is then rolled back with nothing changed.
pub async fn set_attendance(
    db: &impl Db,
    ids: &[Uuid],
    attended: bool,
    staff_id: Uuid,
) -> Result<Vec<InscriptionView>> {
    let rows = db
        .all(
            "update inscriptions set attended = $2,
                 attendance_validated_at = case when $2 then now() end,
                 attendance_validated_by = case when $2 then $3::uuid end
             where id = any($1) and deleted_at is null
             returning id, masterclass_id, profile_id, attended, attendance_validated_at",
            &[p(&ids), p(&attended), p(&staff_id)],
        )
        .await
        .map_err(failed(format!(
            "changing the attendance of {} inscriptions",
            ids.len()
        )))?;
    let changed: Vec<InscriptionView> = all(&rows)?;
    if changed.len() < ids.len() {
        let missing: Vec<String> = ids
            .iter()
            .filter(|id| !changed.iter().any(|c| c.id == **id))
            .map(Uuid::to_string)
            .collect();
        return Err(Error::Unprocessable {
            code: "unknown_inscriptions",
            detail: format!(
                "nothing was changed: no inscription you staff has the id(s) {}",
                missing.join(", ")
            ),
        });
    }
    Ok(changed)
}

/// One student's whole record as staff may see it (RLS: a tutor sees the inscriptions, tests
/// and messages of their masterclasses only, and no audit entries), as one JSON document built
/// in SQL; `None` if the caller sees no inscription of the student. A number can stand for
/// several people (a family's phone), so the profile's name, birth date and consent are shown
/// to admins only; anyone else sees those of the newest registration they may see. With `only`,
/// the record of that one registration: its own details stand for the profile, and what belongs
/// to the number rather than to a registration (messages received, the profile's audit) is left
/// out.
pub async fn record(
    db: &impl Db,
    profile_id: Uuid,
    only: Option<Uuid>,
) -> Result<Option<serde_json::Value>> {
    let row = db
        .one(
            "with ins as (
                 select i.* from inscriptions i
                 where i.profile_id = $1 and ($2::uuid is null or i.id = $2)
             ),
             -- the registration whose details stand for the person when the profile may not
             latest as (
                 select * from ins where deleted_at is null order by created_at desc, id limit 1
             ),
             -- the profile's own details (those of whoever registered the number first) belong
             -- to every registration of the number: shown whole only to admins, who see them all
             caller as (select $2::uuid is null and (select auth_is_admin()) as whole)
             select case when not exists (select 1 from ins where deleted_at is null) then null
             else jsonb_build_object(
                 'id', $1::uuid,
                 'profile', case when whole then (
                     select jsonb_build_object(
                         'full_name', pr.full_name, 'date_of_birth', pr.date_of_birth,
                         'whatsapp_number', pr.whatsapp_number, 'created_at', pr.created_at)
                     from profiles pr where pr.id = $1)
                 else (
                     select jsonb_build_object(
                         'full_name', l.full_name, 'date_of_birth', l.date_of_birth,
                         'whatsapp_number', l.whatsapp_number, 'created_at', l.created_at)
                     from latest l) end,
                 'consent', (
                     select jsonb_build_object(
                         'consent_at', case when whole then pr.consent_at
                                            else (select l.consent_at from latest l) end,
                         'consent_version', case when whole then pr.consent_version
                                                 else (select l.consent_version from latest l) end,
                         -- the number's STOP is the number's: not shown for one registration
                         'opted_out_at', case when $2::uuid is null then pr.opted_out_at end,
                         'registrations', coalesce((
                             select jsonb_agg(jsonb_build_object(
                                 'inscription_id', i.id, 'consent_at', i.consent_at,
                                 'consent_version', i.consent_version) order by i.created_at)
                             from ins i), '[]'))
                     from profiles pr where pr.id = $1),
                 'inscriptions', coalesce((
                     select jsonb_agg(jsonb_build_object(
                         'id', i.id, 'masterclass_id', i.masterclass_id, 'masterclass_title', m.title,
                         'starts_at', m.starts_at, 'full_name', i.full_name,
                         'date_of_birth', i.date_of_birth, 'whatsapp_number', i.whatsapp_number,
                         'attended', i.attended, 'attendance_validated_at', i.attendance_validated_at,
                         'registered_at', i.created_at, 'merged_into', i.merged_into,
                         'deleted_at', i.deleted_at,
                         'draft_answers', coalesce((
                             select jsonb_agg(jsonb_build_object(
                                 'kind', d.kind, 'question_id', d.question_id, 'choice', d.choice,
                                 'answered_at', d.answered_at, 'channel', d.channel)
                                 order by d.kind, d.answered_at, d.question_id)
                             from test_drafts d where d.inscription_id = i.id), '[]'),
                         'chat_tests', coalesce((
                             select jsonb_agg(jsonb_build_object(
                                 'id', c.id, 'kind', c.kind, 'started_at', c.started_at,
                                 'active_at', c.active_at, 'ended_at', c.ended_at,
                                 'ended_reason', c.ended_reason,
                                 'replies', (select count(*) from chat_replies r where r.chat_test_id = c.id))
                                 order by c.created_at desc)
                             from chat_tests c where c.inscription_id = i.id), '[]'),
                         'tests', coalesce((
                             select jsonb_agg(jsonb_build_object(
                                 'id', a.id, 'kind', a.kind, 'score', a.score, 'max_score', a.max_score,
                                 'submitted_at', a.submitted_at, 'superseded', a.superseded,
                                 'channel', a.channel,
                                 'answers', coalesce((
                                     select jsonb_agg(jsonb_build_object(
                                         'question_id', ans.question_id, 'text', q.text,
                                         'choice', ans.choice, 'correct_choice', k.correct,
                                         'correct', ans.correct) order by q.created_at, q.id)
                                     from test_answers ans
                                     join questions q on q.id = ans.question_id
                                     left join question_keys k on k.question_id = ans.question_id
                                     where ans.attempt_id = a.id), '[]'))
                                 order by a.kind desc, a.submitted_at)
                             from test_attempts a where a.inscription_id = i.id), '[]'))
                         order by i.created_at)
                     from ins i join masterclasses m on m.id = i.masterclass_id), '[]'),
                 'messages', coalesce((
                     select jsonb_agg(jsonb_build_object(
                         'id', o.id, 'inscription_id', o.inscription_id, 'message_type', o.message_type,
                         'to_number', o.to_number, 'body', o.body, 'status', o.status,
                         'attempts', o.attempts, 'last_error', o.last_error, 'status_at', o.status_at,
                         'created_at', o.created_at, 'sent_at', o.sent_at) order by o.created_at, o.id)
                     from outbox_messages o
                     where o.inscription_id in (select id from ins)
                        or (o.inscription_id is null and o.profile_id = $1 and $2::uuid is null)), '[]'),
                 'incoming', coalesce((
                     select jsonb_agg(jsonb_build_object(
                         'id', im.id, 'body', im.body, 'received_at', im.received_at)
                         order by im.received_at, im.id)
                     from incoming_messages im
                     -- a reply is about any of the person's masterclasses: admins only
                     where im.profile_id = $1 and (select auth_is_admin()) and $2::uuid is null), '[]'),
                 'audit', coalesce((
                     select jsonb_agg(jsonb_build_object(
                         'id', al.id, 'at', al.at, 'actor_role', al.actor_role, 'actor_id', al.actor_id,
                         'action', al.action, 'entity', al.entity, 'entity_id', al.entity_id,
                         'details', al.details) order by al.id)
                     from audit_log al
                     where (al.entity = 'profile' and al.entity_id = $1::text and $2::uuid is null)
                        or (al.entity = 'inscription' and al.entity_id in (select id::text from ins))
                        or (al.entity = 'message' and al.entity_id in (
                                select o.id::text from outbox_messages o
                                where o.inscription_id in (select id from ins)
                                   or (o.inscription_id is null and o.profile_id = $1 and $2::uuid is null)))), '[]')
             ) end as record
             from caller",
            &[p(&profile_id), p(&only)],
        )
        .await
        .map_err(failed(format!("reading the record of student {profile_id}")))?;
    Ok(row.try_get("record")?)
}
