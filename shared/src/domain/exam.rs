//! Exams and questions: the PRE/POST kinds, choices A–D, a student's answers, and questions of
//! the bank as staff write them. Students and the routes say "test" (`/api/tests`); the code says
//! "exam" so that "test" means only the test suite.
//!
//! Domain types share shapes: an enum stored and sent as text has a
//! `parse` and an `as_str` of one arm a variant, a draft is a flat struct of optional fields as
//! sent (each with its schema attribute) and its parsed type the same fields checked, a secret's
//! `Debug` names the type and leaves the secret out. Each is the type's own contract; what
//! differs (the names, the values, the limits) is the content.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

use super::Fields;
use crate::error::{Error, FieldError};

/// Every test has this many questions, and scores are out of it.
pub const PAPER_SIZE: usize = 10;

/// PRE (before the masterclass) or POST (after it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum ExamKind {
    #[serde(rename = "PRE")]
    Pre,
    #[serde(rename = "POST")]
    Post,
}

impl ExamKind {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "PRE" | "pre" => Some(Self::Pre),
            "POST" | "post" => Some(Self::Post),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pre => "PRE",
            Self::Post => "POST",
        }
    }
}

/// Where a test was answered: the web route or the WhatsApp conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Web,
    Chat,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Web => "web",
            Self::Chat => "chat",
        }
    }
}

/// One of the four choices.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
pub enum Choice {
    A,
    B,
    C,
    D,
}

impl Choice {
    pub const ALL: [Choice; 4] = [Choice::A, Choice::B, Choice::C, Choice::D];

    pub fn parse(raw: &str) -> Option<Self> {
        match raw.trim() {
            "A" | "a" => Some(Self::A),
            "B" | "b" => Some(Self::B),
            "C" | "c" => Some(Self::C),
            "D" | "d" => Some(Self::D),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::A => "A",
            Self::B => "B",
            Self::C => "C",
            Self::D => "D",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// A student's answers, keyed by question id. Checked against the paper by the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answers(pub BTreeMap<Uuid, Choice>);

/// `errors` about answers that a request sends under `field` rather than `answers` (the
/// registration's `pre_test`): `answers.<id>` becomes `<field>.<id>`, whether parsing or the
/// check against the paper found it, so one mistake has one path.
pub fn answers_sent_as(field: &str, errors: Vec<FieldError>) -> Vec<FieldError> {
    errors
        .into_iter()
        .map(|e| FieldError::new(e.field.replacen("answers", field, 1), e.message))
        .collect()
}

impl Answers {
    /// Parses `{ "<question id>": "A" | "B" | "C" | "D", ... }`, naming every bad entry.
    pub fn parse(raw: &BTreeMap<String, String>) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut answers = BTreeMap::new();
        if raw.len() > 50 {
            return Err(vec![FieldError::new("answers", "too many answers")]);
        }
        for (id, choice) in raw {
            let field = format!("answers.{id}");
            match (Uuid::parse_str(id), Choice::parse(choice)) {
                (Ok(id), Some(choice)) => {
                    answers.insert(id, choice);
                }
                (Err(_), _) => errors.push(FieldError::new(field, "is not a question id")),
                (_, None) => errors.push(FieldError::new(field, "must be one of A, B, C, D")),
            }
        }
        if errors.is_empty() {
            Ok(Self(answers))
        } else {
            Err(errors)
        }
    }

    /// Checks the answers cover exactly the paper's questions.
    pub fn check_against(&self, paper: &[Uuid]) -> Result<(), Error> {
        let mut errors = Vec::new();
        for id in self.0.keys() {
            if !paper.contains(id) {
                errors.push(FieldError::new(
                    format!("answers.{id}"),
                    "is not a question of your test",
                ));
            }
        }
        for id in paper {
            if !self.0.contains_key(id) {
                errors.push(FieldError::new(
                    format!("answers.{id}"),
                    "is missing: answer every question",
                ));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(Error::Validation(errors))
        }
    }
}

/// The order in which one student sees the choices of one question: a permutation of A–D drawn
/// from a hash of both ids, so it is stable for that student (PRE and POST alike) and differs
/// between students, with nothing to store.
pub fn choice_order(inscription_id: Uuid, question_id: Uuid) -> [Choice; 4] {
    let digest = Sha256::new()
        .chain_update(inscription_id.as_bytes())
        .chain_update(question_id.as_bytes())
        .finalize();
    let mut order = Choice::ALL;
    // Fisher–Yates driven by the digest's bytes.
    for i in (1..order.len()).rev() {
        let j = digest[i] as usize % (i + 1);
        order.swap(i, j);
    }
    order
}

/// Whether a question may be used in tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum QuestionStatus {
    Draft,
    Approved,
    Archived,
}

impl QuestionStatus {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "draft" => Some(Self::Draft),
            "approved" => Some(Self::Approved),
            "archived" => Some(Self::Archived),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Approved => "approved",
            Self::Archived => "archived",
        }
    }
}

/// A question as staff see it, with its answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct QuestionView {
    pub id: Uuid,
    pub masterclass_id: Uuid,
    pub text: String,
    pub choices: Vec<String>,
    pub correct: Choice,
    pub status: QuestionStatus,
    pub source_excerpt: Option<String>,
    pub provenance: serde_json::Value,
    /// Whether a submitted test used it (then its choices and answer are frozen).
    pub used: bool,
    #[serde(with = "crate::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "crate::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// A question as the bank's list shows it: the view without where it came from (the source
/// excerpt and provenance are in `GET /api/admin/questions/{id}`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct QuestionSummary {
    pub id: Uuid,
    pub masterclass_id: Uuid,
    pub text: String,
    pub choices: Vec<String>,
    pub correct: Choice,
    pub status: QuestionStatus,
    /// Whether a submitted test used it (then its choices and answer are frozen).
    pub used: bool,
    #[serde(with = "crate::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "crate::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// `POST /api/admin/questions` and `PUT /api/admin/questions/{id}`, as sent.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuestionDraft {
    #[schema(required = true, nullable = false, format = Uuid)]
    pub masterclass_id: Option<String>,
    // Limits: `NewQuestion::TEXT`.
    #[schema(
        required = true,
        example = "Quel document fixe les règles de fonctionnement d'une SARL ?"
    )]
    pub text: Option<String>,
    /// Exactly four: the texts of choices A, B, C and D.
    // Limits: `NewQuestion::CHOICE` each.
    #[schema(required = true, nullable = false, min_items = 4, max_items = 4, example = json!(["Les statuts", "Le bail commercial", "Le registre du personnel", "La facture pro forma"]))]
    pub choices: Option<Vec<String>>,
    #[schema(required = true, nullable = false, value_type = Choice)]
    pub correct: Option<String>,
    #[schema(value_type = Option<QuestionStatus>)]
    pub status: Option<String>,
    // Limits: `NewQuestion::SOURCE_EXCERPT` (empty counts as none).
    pub source_excerpt: Option<String>,
}

/// A checked question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewQuestion {
    pub masterclass_id: Uuid,
    pub text: String,
    pub choices: [String; 4],
    pub correct: Choice,
    pub status: QuestionStatus,
    pub source_excerpt: Option<String>,
}

/// A text within `length` (at most `max` characters as sent, at least `min` once trimmed),
/// without control characters but line breaks.
fn bounded(raw: &str, length: super::Length) -> Result<String, String> {
    let super::Length { min, max } = length;
    let Some(text) = super::trim_within(raw, max)
        .ok()
        .filter(|text| text.chars().count() >= min)
    else {
        return Err(format!("must be {min} to {max} characters"));
    };
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Err("must not contain control characters".into());
    }
    Ok(text.to_owned())
}

/// Exactly four different choices, each named `choices[i]` when it is wrong.
fn four_choices(choices: &[String], fields: &mut Fields) -> Option<[String; 4]> {
    let Ok(four) = <&[String; 4]>::try_from(choices) else {
        fields.invalid("choices", "must hold exactly four choices (A, B, C, D)");
        return None;
    };
    let mut parsed = Vec::with_capacity(4);
    for (i, choice) in four.iter().enumerate() {
        parsed.push(fields.check(
            &format!("choices[{i}]"),
            bounded(choice, NewQuestion::CHOICE),
        ));
    }
    let parsed: [String; 4] = parsed
        .into_iter()
        .collect::<Option<Vec<_>>>()?
        .try_into()
        .ok()?;
    let mut normalised: Vec<String> = parsed.iter().map(|c| c.to_lowercase()).collect();
    normalised.sort();
    normalised.dedup();
    if normalised.len() != 4 {
        fields.invalid("choices", "must be four different choices");
        return None;
    }
    Some(parsed)
}

impl NewQuestion {
    pub const TEXT: super::Length = super::Length::new(5, 1000);
    pub const CHOICE: super::Length = super::Length::new(1, 300);
    /// Blank counts as no excerpt, so no minimum.
    pub const SOURCE_EXCERPT: super::Length = super::Length::up_to(2000);

    /// Parses a whole question (creation and replacement alike). The status defaults to draft.
    pub fn parse(draft: &QuestionDraft) -> Result<Self, Error> {
        let mut fields = Fields::default();
        let masterclass_id = fields.required(
            "masterclass_id",
            draft.masterclass_id.as_deref(),
            super::uuid,
        );
        let text = fields.required("text", draft.text.as_deref(), |t| bounded(t, Self::TEXT));
        let choices = match draft.choices.as_deref() {
            None => {
                fields.invalid("choices", "is required");
                None
            }
            Some(choices) => four_choices(choices, &mut fields),
        };
        let correct = fields.required("correct", draft.correct.as_deref(), |raw| {
            Choice::parse(raw).ok_or_else(|| "must be one of A, B, C, D".to_owned())
        });
        let status = fields
            .optional("status", draft.status.as_deref(), |raw| {
                QuestionStatus::parse(raw)
                    .ok_or_else(|| "must be draft, approved or archived".to_owned())
            })
            .unwrap_or(QuestionStatus::Draft);
        let source_excerpt = fields.optional(
            "source_excerpt",
            draft
                .source_excerpt
                .as_deref()
                .filter(|s| !s.trim().is_empty()),
            |s| bounded(s, Self::SOURCE_EXCERPT),
        );
        fields.finish(|| {
            Some(Self {
                masterclass_id: masterclass_id?,
                text: text?,
                choices: choices?,
                correct: correct?,
                status,
                source_excerpt,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft() -> QuestionDraft {
        QuestionDraft {
            masterclass_id: Some(Uuid::new_v4().to_string()),
            text: Some("Quel document crée une SARL ?".into()),
            choices: Some(vec![
                "Les statuts".into(),
                "Un bail".into(),
                "Une facture".into(),
                "Un devis".into(),
            ]),
            correct: Some("A".into()),
            status: None,
            source_excerpt: None,
        }
    }

    #[test]
    fn a_question_needs_four_distinct_choices_and_one_correct_letter() {
        assert_eq!(
            NewQuestion::parse(&draft()).unwrap().status,
            QuestionStatus::Draft
        );
        let mut twice = draft();
        twice.choices = Some(vec![
            "Oui".into(),
            "Non".into(),
            " oui ".into(),
            "Peut-être".into(),
        ]);
        assert!(NewQuestion::parse(&twice).is_err());
        let mut three = draft();
        three.choices = Some(vec!["Oui".into(), "Non".into(), "Peut-être".into()]);
        assert!(NewQuestion::parse(&three).is_err());
        let mut wrong = draft();
        wrong.correct = Some("E".into());
        assert!(NewQuestion::parse(&wrong).is_err());
    }

    #[test]
    fn answers_name_each_bad_entry() {
        let raw = BTreeMap::from([
            ("not-an-id".to_owned(), "A".to_owned()),
            (Uuid::new_v4().to_string(), "E".to_owned()),
            (Uuid::new_v4().to_string(), "c".to_owned()),
        ]);
        assert_eq!(Answers::parse(&raw).unwrap_err().len(), 2);
    }

    #[test]
    fn answers_must_cover_exactly_the_paper() {
        let paper = [Uuid::new_v4(), Uuid::new_v4()];
        let stranger = Uuid::new_v4();
        let answers = Answers(BTreeMap::from([
            (paper[0], Choice::A),
            (stranger, Choice::B),
        ]));
        let Err(Error::Validation(errors)) = answers.check_against(&paper) else {
            panic!()
        };
        assert_eq!(errors.len(), 2);
    }

    #[test]
    fn choice_orders_are_stable_permutations_that_vary_between_students() {
        let question = Uuid::new_v4();
        let student = Uuid::new_v4();
        let order = choice_order(student, question);
        assert_eq!(order, choice_order(student, question));
        let mut sorted = order;
        sorted.sort();
        assert_eq!(sorted, Choice::ALL);
        let distinct: std::collections::HashSet<_> = (0..40)
            .map(|_| choice_order(Uuid::new_v4(), question))
            .collect();
        assert!(distinct.len() > 5, "orders should vary: {distinct:?}");
    }
}
