//! The dashboard's figures as `db::stats` computes them in SQL: a masterclass's headline and
//! each question's statistics in the attempts of one kind.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// PRE or POST scores in a nutshell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ScoreSummary {
    /// Counted attempts.
    pub count: i64,
    /// Mean score in points.
    pub mean_score: Option<f64>,
    /// Mean of score / maximum, 0 to 1.
    pub mean_ratio: Option<f64>,
}

/// The headline figures of one masterclass.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Headline {
    pub masterclass_id: Uuid,
    pub title: String,
    #[serde(with = "crate::rfc3339")]
    pub starts_at: OffsetDateTime,
    pub registrations: i64,
    pub attended: i64,
    /// attended / registrations.
    pub attendance_rate: Option<f64>,
    pub pre: ScoreSummary,
    pub post: ScoreSummary,
    /// Students who took both tests.
    pub paired: i64,
    /// Mean of POST − PRE (points) over the paired students.
    pub average_gain: Option<f64>,
    /// Paired students whose POST score is above their PRE score.
    pub improved: i64,
    /// improved / paired.
    pub improved_share: Option<f64>,
    /// Hake's ⟨g⟩ over the paired students; null when there are none or their PRE mean is 100 %.
    pub normalised_gain: Option<f64>,
}

/// How many answers picked each choice.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub struct ChoiceCounts {
    pub a: i64,
    pub b: i64,
    pub c: i64,
    pub d: i64,
}

/// One row of `db::stats::items`: a question in the attempts of one kind.
#[derive(Debug, Clone)]
pub struct ItemRow {
    pub question_id: Uuid,
    pub text: String,
    pub correct_choice: Option<String>,
    pub kind: String,
    pub stats: ItemStats,
}

/// A question in the attempts of one kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ItemStats {
    pub answered: i64,
    pub correct: i64,
    /// The difficulty index p: correct / answered.
    pub success_rate: Option<f64>,
    /// Kelley's D: p of the upper 27 % minus p of the lower 27 %.
    pub discrimination: Option<f64>,
    /// Corrected item–total (point-biserial) correlation; null when it is undefined (everyone
    /// right, or everyone wrong).
    pub point_biserial: Option<f64>,
    pub upper_count: i64,
    pub lower_count: i64,
    /// How often each choice was picked.
    pub choices: ChoiceCounts,
    /// How often each choice was picked by the upper 27 %.
    pub upper_choices: ChoiceCounts,
}

impl ChoiceCounts {
    /// How many picked `letter` (A to D).
    pub fn of(&self, letter: char) -> i64 {
        match letter {
            'A' => self.a,
            'B' => self.b,
            'C' => self.c,
            _ => self.d,
        }
    }
}
