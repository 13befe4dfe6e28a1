//! What a masterclass achieved, and which of its questions are bad: the statistics of the
//! dashboard (figures computed in SQL by `db::stats`, flags decided here) and their chart.
//!
//! Formulas (named in `shared/README.md`, the staff dashboard, with their references):
//! - **gain**: POST score minus PRE score, per student who took both ("paired");
//! - **normalised gain** ⟨g⟩ (Hake, 1998): `(⟨post⟩ − ⟨pre⟩) / (1 − ⟨pre⟩)` on the class
//!   averages of the paired students' score ratios (score / maximum);
//! - **difficulty index** p: the share of answers that were right (the item's success rate);
//! - **discrimination** D (Kelley, 1939): p of the upper 27 % of attempts by score minus p of
//!   the lower 27 %; and the corrected **point-biserial** correlation of the item with the rest
//!   of the test.
//!
//! The answer types are flat structs whose fields are the contract (a figure a field, a
//! timestamp with its `rfc3339` attribute).

use serde::{Deserialize, Serialize};
use time::Date;
use uuid::Uuid;

use crate::model::stats::{Headline, ItemStats};
use crate::{
    db::{self, Transaction},
    error::{Error, Result},
};

time::serde::format_description!(iso_date, Date, "[year]-[month]-[day]");

/// Fewest answers before a question is judged: below, every flag would be noise.
pub const MIN_ANSWERS: i64 = 5;
/// At or above: almost everyone right.
pub const TOO_EASY: f64 = 0.90;
/// At or below: almost everyone wrong (below the 0.25 of guessing among four).
pub const TOO_HARD: f64 = 0.20;

/// Registrations on one day (Gabon time).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DayCount {
    #[serde(with = "iso_date")]
    #[schema(value_type = String, format = Date)]
    pub day: Date,
    pub count: i64,
}

/// How many attempts scored `score`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ScoreCount {
    pub score: i32,
    pub count: i64,
}

/// The score distributions, every score from 0 to the maximum.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Distributions {
    pub pre: Vec<ScoreCount>,
    pub post: Vec<ScoreCount>,
}

/// Why a question looks bad.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ItemFlag {
    /// The test it was seen in: PRE or POST.
    pub kind: String,
    /// `too_easy`, `too_hard`, `negative_discrimination`, `unused_distractor`,
    /// `distractor_beats_key`.
    pub code: String,
    pub reason: String,
}

/// One question of the masterclass's tests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct QuestionStats {
    pub question_id: Uuid,
    /// Its place in the analysis (and on the chart): 1, 2, ...
    pub number: usize,
    pub text: String,
    pub correct_choice: Option<String>,
    pub pre: Option<ItemStats>,
    pub post: Option<ItemStats>,
    pub flags: Vec<ItemFlag>,
}

/// `GET /api/admin/masterclasses/{id}/stats`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MasterclassStats {
    #[serde(flatten)]
    pub headline: Headline,
    pub registrations_by_day: Vec<DayCount>,
    pub distributions: Distributions,
    pub questions: Vec<QuestionStats>,
}

/// `GET /api/admin/stats`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Overview {
    /// One row per masterclass the caller staffs, most recent first.
    pub masterclasses: Vec<Headline>,
}

/// The flags of a question seen in attempts of `kind`.
pub fn flags(kind: &str, item: &ItemStats, key: Option<char>) -> Vec<ItemFlag> {
    let mut flags = Vec::new();
    if item.answered < MIN_ANSWERS {
        return flags;
    }
    let mut flag = |code: &str, reason: String| {
        flags.push(ItemFlag {
            kind: kind.to_owned(),
            code: code.to_owned(),
            reason,
        })
    };
    if let Some(p) = item.success_rate {
        if p >= TOO_EASY {
            flag(
                "too_easy",
                format!(
                    "{:.0} % answered right: it tells students apart little",
                    p * 100.0
                ),
            );
        } else if p <= TOO_HARD {
            flag(
                "too_hard",
                format!(
                    "only {:.0} % answered right (guessing gives 25 %): check the key and the wording",
                    p * 100.0
                ),
            );
        }
    }
    if let Some(d) = item.discrimination
        && d < 0.0
    {
        flag(
            "negative_discrimination",
            format!("the weakest students did better on it than the strongest (D = {d:.2})"),
        );
    }
    let Some(key) = key else {
        return flags;
    };
    for letter in ['A', 'B', 'C', 'D'].into_iter().filter(|l| *l != key) {
        if item.choices.of(letter) == 0 {
            flag(
                "unused_distractor",
                format!("nobody picked {letter}: it distracts no one"),
            );
        }
        let (strong, right) = (item.upper_choices.of(letter), item.upper_choices.of(key));
        if strong > right {
            flag(
                "distractor_beats_key",
                format!(
                    "the strongest students picked {letter} ({strong}) more than the key {key} ({right})"
                ),
            );
        }
    }
    flags
}

/// The statistics of masterclass `id` (404 unless the caller staffs it).
pub async fn masterclass(tx: &Transaction<'_>, id: Uuid) -> Result<MasterclassStats> {
    let headline = db::stats::headlines(tx, Some(id))
        .await?
        .into_iter()
        .next()
        .ok_or(Error::NotFound("masterclass"))?;
    let registrations_by_day = db::stats::registrations_by_day(tx, id)
        .await?
        .into_iter()
        .map(|(day, count)| DayCount { day, count })
        .collect();
    let mut distributions = Distributions {
        pre: Vec::new(),
        post: Vec::new(),
    };
    for (kind, score, count) in db::stats::distributions(tx, id).await? {
        let into = if kind == "PRE" {
            &mut distributions.pre
        } else {
            &mut distributions.post
        };
        into.push(ScoreCount { score, count });
    }
    let mut questions: Vec<QuestionStats> = Vec::new();
    for row in db::stats::items(tx, id).await? {
        let position = match questions
            .iter()
            .position(|q| q.question_id == row.question_id)
        {
            Some(position) => position,
            None => {
                questions.push(QuestionStats {
                    question_id: row.question_id,
                    number: questions.len() + 1,
                    text: row.text.clone(),
                    correct_choice: row.correct_choice.clone(),
                    pre: None,
                    post: None,
                    flags: Vec::new(),
                });
                questions.len() - 1
            }
        };
        let question = &mut questions[position];
        let stats = row.stats;
        let key = row.correct_choice.as_deref().and_then(|c| c.chars().next());
        question.flags.extend(flags(&row.kind, &stats, key));
        if row.kind == "PRE" {
            question.pre = Some(stats);
        } else {
            question.post = Some(stats);
        }
    }
    Ok(MasterclassStats {
        headline,
        registrations_by_day,
        distributions,
        questions,
    })
}

/// The headline figures of every masterclass the caller staffs.
pub async fn overview(tx: &Transaction<'_>) -> Result<Overview> {
    Ok(Overview {
        masterclasses: db::stats::headlines(tx, None).await?,
    })
}

/// The colours of the chart: PRE and POST bars (the test finds the bars by them).
pub const PRE_COLOUR: (u8, u8, u8) = (0x4e, 0x79, 0xa7);
pub const POST_COLOUR: (u8, u8, u8) = (0xf2, 0x8e, 0x2b);

/// The statistics drawn as one SVG: the PRE and POST score distributions side by side (left),
/// and each question's success rate at PRE and POST (right). Drawn with `plotters`' SVG
/// backend: every bar a `<rect>` filled with [`PRE_COLOUR`] or [`POST_COLOUR`].
pub fn chart(stats: &MasterclassStats) -> Result<String> {
    use plotters::prelude::*;
    let failed =
        |e: &dyn std::fmt::Display| Error::Internal(anyhow::anyhow!("drawing the chart: {e}"));
    let pre = RGBColor(PRE_COLOUR.0, PRE_COLOUR.1, PRE_COLOUR.2);
    let post = RGBColor(POST_COLOUR.0, POST_COLOUR.1, POST_COLOUR.2);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (1000, 420)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| failed(&e))?;
        let (left, right) = root.split_horizontally(500);

        let bars = || {
            let d = &stats.distributions;
            d.pre.iter().chain(&d.post)
        };
        let max_score = bars().map(|s| s.score).max().unwrap_or(10);
        let most = bars().map(|s| s.count).max().unwrap_or(0).max(1);
        let mut scores = ChartBuilder::on(&left)
            .caption("Scores : PRE et POST", ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(30)
            .y_label_area_size(40)
            .build_cartesian_2d(
                -0.5f64..f64::from(max_score) + 0.5,
                0f64..(most as f64) * 1.1,
            )
            .map_err(|e| failed(&e))?;
        scores
            .configure_mesh()
            .disable_x_mesh()
            .x_desc("score")
            .y_desc("élèves")
            .draw()
            .map_err(|e| failed(&e))?;
        let bars = |list: &[ScoreCount], offset: f64, colour: RGBColor| {
            list.iter()
                .filter(|s| s.count > 0)
                .map(|s| {
                    let x = f64::from(s.score) + offset;
                    Rectangle::new([(x, 0.0), (x + 0.4, s.count as f64)], colour.filled())
                })
                .collect::<Vec<_>>()
        };
        scores
            .draw_series(bars(&stats.distributions.pre, -0.4, pre))
            .map_err(|e| failed(&e))?
            .label("PRE")
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], pre.filled()));
        scores
            .draw_series(bars(&stats.distributions.post, 0.0, post))
            .map_err(|e| failed(&e))?
            .label("POST")
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], post.filled()));
        scores
            .configure_series_labels()
            .border_style(BLACK)
            .background_style(WHITE.mix(0.8))
            .draw()
            .map_err(|e| failed(&e))?;

        let count = stats.questions.len().max(1) as f64;
        let mut items = ChartBuilder::on(&right)
            .caption("Réussite par question", ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(30)
            .y_label_area_size(40)
            .build_cartesian_2d(0.5f64..count + 0.5, 0f64..100f64)
            .map_err(|e| failed(&e))?;
        items
            .configure_mesh()
            .disable_x_mesh()
            .x_desc("question")
            .y_desc("% de bonnes réponses")
            .draw()
            .map_err(|e| failed(&e))?;
        let rates =
            |of: fn(&QuestionStats) -> Option<&ItemStats>, offset: f64, colour: RGBColor| {
                stats
                    .questions
                    .iter()
                    .filter_map(|q| Some((q.number, of(q)?.success_rate?)))
                    .filter(|(_, rate)| *rate > 0.0)
                    .map(|(number, rate)| {
                        let x = number as f64 + offset;
                        Rectangle::new([(x, 0.0), (x + 0.4, rate * 100.0)], colour.filled())
                    })
                    .collect::<Vec<_>>()
            };
        items
            .draw_series(rates(|q| q.pre.as_ref(), -0.4, pre))
            .map_err(|e| failed(&e))?;
        items
            .draw_series(rates(|q| q.post.as_ref(), 0.0, post))
            .map_err(|e| failed(&e))?;
        root.present().map_err(|e| failed(&e))?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::stats::ChoiceCounts;

    fn item(answered: i64, p: f64, d: f64, choices: [i64; 4], upper: [i64; 4]) -> ItemStats {
        let counts = |c: [i64; 4]| ChoiceCounts {
            a: c[0],
            b: c[1],
            c: c[2],
            d: c[3],
        };
        ItemStats {
            answered,
            correct: (p * answered as f64).round() as i64,
            success_rate: Some(p),
            discrimination: Some(d),
            point_biserial: None,
            upper_count: upper.iter().sum(),
            lower_count: upper.iter().sum(),
            choices: counts(choices),
            upper_choices: counts(upper),
        }
    }

    fn codes(flags: &[ItemFlag]) -> Vec<&str> {
        flags.iter().map(|f| f.code.as_str()).collect()
    }

    #[test]
    fn each_rule_flags_what_it_names_and_nothing_else() {
        // A sound item: p 0.5, D 0.4, every distractor picked, the strong pick the key.
        assert!(
            flags(
                "POST",
                &item(20, 0.5, 0.4, [10, 4, 3, 3], [5, 1, 0, 0]),
                Some('A')
            )
            .is_empty()
        );
        assert_eq!(
            codes(&flags(
                "POST",
                &item(20, 0.95, 0.0, [19, 1, 0, 0], [6, 0, 0, 0]),
                Some('A')
            )),
            ["too_easy", "unused_distractor", "unused_distractor"]
        );
        assert_eq!(
            codes(&flags(
                "PRE",
                &item(20, 0.15, 0.1, [3, 9, 4, 4], [2, 3, 1, 0]),
                Some('A')
            )),
            ["too_hard", "distractor_beats_key"]
        );
        assert_eq!(
            codes(&flags(
                "PRE",
                &item(20, 0.5, -0.3, [10, 4, 3, 3], [2, 2, 1, 1]),
                Some('A')
            )),
            ["negative_discrimination"]
        );
        // Fewer than MIN_ANSWERS: no judgement at all.
        assert!(
            flags(
                "PRE",
                &item(MIN_ANSWERS - 1, 1.0, -1.0, [4, 0, 0, 0], [2, 0, 0, 0]),
                Some('A')
            )
            .is_empty()
        );
        let reason = &flags(
            "PRE",
            &item(20, 0.5, 0.4, [10, 4, 6, 0], [5, 1, 0, 0]),
            Some('A'),
        )[0];
        assert_eq!(
            (reason.kind.as_str(), reason.code.as_str()),
            ("PRE", "unused_distractor")
        );
        assert!(reason.reason.contains('D'), "{}", reason.reason);
    }
}
