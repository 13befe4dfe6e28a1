//! The statistics of the dashboard, computed in SQL: headline figures per masterclass, the
//! registrations by day, score distributions, and the item analysis of every question (see
//! `services::stats` for the formulas and their references). Row-level security scopes them:
//! a tutor's figures count only the masterclasses they staff.
//!
//! An attempt counts when it is scored and not superseded (sync keeps a second attempt of the
//! same kind without counting it), of an inscription that is neither deleted nor merged; an
//! erased inscription (a tombstone without a person) still counts, so erasure leaves the
//! figures as they were.
//!
//! Each query is a small function: its SQL, typed parameters, `failed(...)` naming the work and
//! the row, the answer read by column name. One function a query, so that "where is the SQL for
//! X?" has one answer.

use time::Date;
use tokio_postgres::Row;
use uuid::Uuid;

use super::{
    Db, p,
    row::{FromRow, all, failed},
};
use crate::{
    error::Result,
    model::stats::{ChoiceCounts, Headline, ItemRow, ItemStats, ScoreSummary},
};

impl FromRow for Headline {
    fn from_row(row: &Row) -> Result<Self> {
        let summary = |kind: &str| -> Result<ScoreSummary> {
            Ok(ScoreSummary {
                count: row.try_get(format!("{kind}_count").as_str())?,
                mean_score: row.try_get(format!("{kind}_mean").as_str())?,
                mean_ratio: row.try_get(format!("{kind}_ratio").as_str())?,
            })
        };
        Ok(Self {
            masterclass_id: row.try_get("id")?,
            title: row.try_get("title")?,
            starts_at: row.try_get("starts_at")?,
            registrations: row.try_get("registrations")?,
            attended: row.try_get("attended")?,
            attendance_rate: row.try_get("attendance_rate")?,
            pre: summary("pre")?,
            post: summary("post")?,
            paired: row.try_get("paired")?,
            average_gain: row.try_get("average_gain")?,
            improved: row.try_get("improved")?,
            improved_share: row.try_get("improved_share")?,
            normalised_gain: row.try_get("normalised_gain")?,
        })
    }
}

/// Scored, counted attempts, with their masterclass and score ratio.
const COUNTED: &str = "select i.masterclass_id, a.id, a.inscription_id, a.kind, a.score,
        a.score::float8 / a.max_score as ratio
    from test_attempts a join inscriptions i on i.id = a.inscription_id
    where (i.deleted_at is null or i.deleted_at = i.erased_at) and i.merged_into is null
      and not a.superseded and a.score is not null
      and ($1::uuid is null or i.masterclass_id = $1)";

/// The headline figures of every masterclass the caller staffs (of masterclass `$1` only when
/// given), most recent first.
pub async fn headlines(db: &impl Db, masterclass_id: Option<Uuid>) -> Result<Vec<Headline>> {
    let rows = db
        .all(
            &format!(
                "with att as ({COUNTED}),
                 reg as (
                     select masterclass_id, count(*) as n, count(*) filter (where attended) as attended
                     from inscriptions where (deleted_at is null or deleted_at = erased_at) and merged_into is null
                       and ($1::uuid is null or masterclass_id = $1)
                     group by masterclass_id),
                 scores as (
                     select masterclass_id,
                            count(*) filter (where kind = 'PRE') as pre_count,
                            avg(score) filter (where kind = 'PRE')::float8 as pre_mean,
                            avg(ratio) filter (where kind = 'PRE') as pre_ratio,
                            count(*) filter (where kind = 'POST') as post_count,
                            avg(score) filter (where kind = 'POST')::float8 as post_mean,
                            avg(ratio) filter (where kind = 'POST') as post_ratio
                     from att group by masterclass_id),
                 paired as (
                     select pre.masterclass_id, count(*) as n,
                            avg(post.score - pre.score)::float8 as average_gain,
                            count(*) filter (where post.score > pre.score) as improved,
                            avg(pre.ratio) as pre_ratio, avg(post.ratio) as post_ratio
                     from att pre join att post on post.inscription_id = pre.inscription_id and post.kind = 'POST'
                     where pre.kind = 'PRE'
                     group by pre.masterclass_id)
                 select m.id, m.title, m.starts_at,
                        coalesce(reg.n, 0) as registrations, coalesce(reg.attended, 0) as attended,
                        reg.attended::float8 / nullif(reg.n, 0) as attendance_rate,
                        coalesce(s.pre_count, 0) as pre_count, s.pre_mean, s.pre_ratio,
                        coalesce(s.post_count, 0) as post_count, s.post_mean, s.post_ratio,
                        coalesce(pa.n, 0) as paired, pa.average_gain, coalesce(pa.improved, 0) as improved,
                        pa.improved::float8 / nullif(pa.n, 0) as improved_share,
                        (pa.post_ratio - pa.pre_ratio) / nullif(1 - pa.pre_ratio, 0) as normalised_gain
                 from masterclasses m
                 left join reg on reg.masterclass_id = m.id
                 left join scores s on s.masterclass_id = m.id
                 left join paired pa on pa.masterclass_id = m.id
                 where m.deleted_at is null and ($1::uuid is null or m.id = $1)
                   and ((select auth_is_admin()) or m.id in (select auth_tutored()))
                 order by m.starts_at desc, m.id"
            ),
            &[p(&masterclass_id)],
        )
        .await
        .map_err(failed("computing the headline statistics"))?;
    all(&rows)
}

/// Registrations of masterclass `masterclass_id` per day (Gabon time, UTC+1), oldest first.
pub async fn registrations_by_day(db: &impl Db, masterclass_id: Uuid) -> Result<Vec<(Date, i64)>> {
    let rows = db
        .all(
            "select ((created_at at time zone 'UTC') + interval '1 hour')::date as day, count(*) as n
             from inscriptions
             where masterclass_id = $1 and (deleted_at is null or deleted_at = erased_at)
               and merged_into is null
             group by 1 order by 1",
            &[p(&Some(masterclass_id))],
        )
        .await
        .map_err(failed(format!(
            "counting the registrations of masterclass {masterclass_id} by day"
        )))?;
    rows.iter()
        .map(|row| Ok((row.try_get("day")?, row.try_get("n")?)))
        .collect()
}

/// How many counted attempts of each kind scored each score, 0 to the highest maximum (10),
/// including the scores nobody had.
pub async fn distributions(db: &impl Db, masterclass_id: Uuid) -> Result<Vec<(String, i32, i64)>> {
    let rows = db
        .all(
            &format!(
                "with att as ({COUNTED})
                 select k.kind, s.score, count(a.id) as n
                 from (values ('PRE'), ('POST')) as k (kind)
                 cross join generate_series(0, coalesce((
                     select max(t.max_score) from test_attempts t where t.id in (select id from att)), 10)) as s (score)
                 left join att a on a.kind = k.kind and a.score = s.score
                 group by k.kind, s.score
                 order by k.kind desc, s.score"
            ),
            &[p(&Some(masterclass_id))],
        )
        .await
        .map_err(failed(format!(
            "computing the score distributions of masterclass {masterclass_id}"
        )))?;
    rows.iter()
        .map(|row| {
            Ok((
                row.try_get("kind")?,
                row.try_get("score")?,
                row.try_get("n")?,
            ))
        })
        .collect()
}

impl FromRow for ItemRow {
    fn from_row(row: &Row) -> Result<Self> {
        let choices = |prefix: &str| -> Result<ChoiceCounts> {
            Ok(ChoiceCounts {
                a: row.try_get(format!("{prefix}a").as_str())?,
                b: row.try_get(format!("{prefix}b").as_str())?,
                c: row.try_get(format!("{prefix}c").as_str())?,
                d: row.try_get(format!("{prefix}d").as_str())?,
            })
        };
        Ok(Self {
            question_id: row.try_get("question_id")?,
            text: row.try_get("text")?,
            correct_choice: row
                .try_get::<_, Option<String>>("correct_choice")?
                .map(|c| c.trim().to_owned()),
            kind: row.try_get("kind")?,
            stats: ItemStats {
                answered: row.try_get("answered")?,
                correct: row.try_get("right_count")?,
                success_rate: row.try_get("success_rate")?,
                discrimination: row.try_get("discrimination")?,
                point_biserial: row.try_get("point_biserial")?,
                upper_count: row.try_get("upper_n")?,
                lower_count: row.try_get("lower_n")?,
                choices: choices("n_")?,
                upper_choices: choices("u_")?,
            },
        })
    }
}

/// The item analysis of every question answered in masterclass `masterclass_id`, one row per
/// question and kind (PRE, POST), questions in the order they were written.
///
/// - upper and lower groups: per kind, the attempts ranked once by score (ties by attempt id),
///   the first `ceil(0.27 n)` upper and the last `ceil(0.27 n)` lower (Kelley, 1939), so an
///   attempt is never in both and each group is full (when n ≥ 2);
/// - `discrimination`: success rate of the upper group minus the lower group's;
/// - `point_biserial`: the Pearson correlation between answering the item right (0/1) and the
///   score on the *other* items of the attempt (the corrected item–total correlation).
pub async fn items(db: &impl Db, masterclass_id: Uuid) -> Result<Vec<ItemRow>> {
    let letters = ["a", "b", "c", "d"];
    let counts = letters
        .iter()
        .map(|l| {
            format!(
                "count(*) filter (where ans.choice = '{up}') as n_{l},
                 count(*) filter (where ans.g = 'upper' and ans.choice = '{up}') as u_{l}",
                up = l.to_uppercase()
            )
        })
        .collect::<Vec<_>>()
        .join(",\n");
    let rows = db
        .all(
            &format!(
                "with att as ({COUNTED}),
                 ranked as (
                     select id, count(*) over (partition by kind) as n,
                            row_number() over (partition by kind order by score desc, id) as r_top
                     from att),
                 grp as (
                     select id, case when r_top <= ceil(0.27 * n) then 'upper'
                                     when n + 1 - r_top <= ceil(0.27 * n) then 'lower' end as g
                     from ranked),
                 ans as (
                     select att.kind, att.score, x.question_id, x.choice, coalesce(x.correct, false) as ok, grp.g
                     from att join test_answers x on x.attempt_id = att.id join grp on grp.id = att.id)
                 select q.id as question_id, q.text, k.correct as correct_choice, ans.kind,
                        count(*) as answered, count(*) filter (where ans.ok) as right_count,
                        avg(ans.ok::int)::float8 as success_rate,
                        avg(ans.ok::int) filter (where ans.g = 'upper')::float8
                          - avg(ans.ok::int) filter (where ans.g = 'lower')::float8 as discrimination,
                        corr(ans.ok::int::float8, (ans.score - ans.ok::int)::float8) as point_biserial,
                        count(*) filter (where ans.g = 'upper') as upper_n,
                        count(*) filter (where ans.g = 'lower') as lower_n,
                        {counts}
                 from ans
                 join questions q on q.id = ans.question_id
                 left join question_keys k on k.question_id = q.id
                 group by q.id, q.text, q.created_at, k.correct, ans.kind
                 order by q.created_at, q.id, ans.kind desc"
            ),
            &[p(&Some(masterclass_id))],
        )
        .await
        .map_err(failed(format!(
            "analysing the questions of masterclass {masterclass_id}"
        )))?;
    all(&rows)
}
