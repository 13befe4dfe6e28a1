//! The rules every generated question must pass, whatever the provider.
//!
//! A [`Validator`] takes candidates one by one and keeps the first `count` good ones: four
//! distinct non-empty choices, exactly one correct, no "all/none of the above", a question text that is
//! neither empty nor a near-copy of another (in this generation or already in the bank), and a
//! `source_quote` that really is in the document. At the end it places the correct answers so
//! that each letter is correct about equally often, in an order drawn from the seed.

use std::collections::BTreeSet;

use rand::{SeedableRng, rngs::StdRng, seq::SliceRandom};
use serde::{Deserialize, Serialize};

use super::text::{fold, words};
use crate::domain::exam::{Choice, NewQuestion};

/// A question as a provider proposes it (the shape of the OpenAI JSON schema too).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    pub question: String,
    pub choices: Vec<CandidateChoice>,
    pub source_quote: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CandidateChoice {
    pub text: String,
    pub correct: bool,
}

/// A question that passed, with its choices in their final order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Accepted {
    pub text: String,
    pub choices: [String; 4],
    pub correct: Choice,
    pub source_quote: String,
}

/// Why a candidate was dropped (counted and logged per generation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rejection {
    BadText,
    NotFourChoices,
    EmptyOrLongChoice,
    DuplicateChoices,
    NotOneCorrect,
    AllOrNoneOfTheAbove,
    QuoteNotInDocument,
    NearDuplicate,
}

impl Rejection {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadText => "question text empty or too long",
            Self::NotFourChoices => "not four choices",
            Self::EmptyOrLongChoice => "a choice empty or too long",
            Self::DuplicateChoices => "choices repeat",
            Self::NotOneCorrect => "not exactly one correct choice",
            Self::AllOrNoneOfTheAbove => "an all/none of the above choice",
            Self::QuoteNotInDocument => "source quote not in the handout",
            Self::NearDuplicate => "same question as another",
        }
    }
}

/// Phrases that make a choice a catch-all rather than an answer.
const CATCH_ALLS: &[&str] = &[
    "all of the above",
    "none of the above",
    "all the above",
    "both of the above",
    "toutes les réponses",
    "toutes ces réponses",
    "aucune des réponses",
    "aucune de ces réponses",
    "aucune réponse",
    "toutes les propositions",
    "aucune des propositions",
    "tout ce qui précède",
    "aucune des options",
    "toutes les options",
    "les deux premières",
    "ci-dessus",
];

/// Question texts this similar (shared words over all words) count as the same question.
const NEAR_DUPLICATE: f64 = 0.8;
const MIN_QUOTE: usize = 20;

pub struct Validator {
    document: String,
    count: usize,
    seed: u64,
    texts: Vec<BTreeSet<String>>,
    accepted: Vec<(String, [String; 4], String)>,
    pub rejected: Vec<Rejection>,
}

impl Validator {
    /// `document` is the extracted text; `existing` the texts already in the bank.
    pub fn new(document: &str, count: usize, seed: u64, existing: &[String]) -> Self {
        Self {
            document: fold(document),
            count,
            seed,
            texts: existing.iter().map(|s| text_words(s)).collect(),
            accepted: Vec::new(),
            rejected: Vec::new(),
        }
    }

    pub fn missing(&self) -> usize {
        self.count - self.accepted.len()
    }

    /// The texts accepted so far (to tell the provider what not to repeat).
    pub fn accepted_texts(&self) -> Vec<String> {
        self.accepted.iter().map(|(s, ..)| s.clone()).collect()
    }

    /// Checks `candidate`; keeps it if it passes and there is room.
    pub fn offer(&mut self, candidate: Candidate) -> Result<(), Rejection> {
        if self.missing() == 0 {
            return Ok(());
        }
        match self.check(&candidate) {
            Ok((text, choices)) => {
                self.texts.push(text_words(&text));
                self.accepted
                    .push((text, choices, candidate.source_quote.trim().to_owned()));
                Ok(())
            }
            Err(why) => {
                self.rejected.push(why);
                Err(why)
            }
        }
    }

    /// The question text, and the choices with the correct one first.
    fn check(&self, candidate: &Candidate) -> Result<(String, [String; 4]), Rejection> {
        let text = candidate.question.trim();
        let text_length = text.chars().count();
        if !NewQuestion::TEXT.contains(text_length) {
            return Err(Rejection::BadText);
        }
        let [a, b, c, d] = candidate.choices.as_slice() else {
            return Err(Rejection::NotFourChoices);
        };
        let texts: Vec<&str> = [a, b, c, d].iter().map(|c| c.text.trim()).collect();
        if texts
            .iter()
            .any(|t| !NewQuestion::CHOICE.contains(t.chars().count()))
        {
            return Err(Rejection::EmptyOrLongChoice);
        }
        let distinct: BTreeSet<String> = texts.iter().map(|t| fold(t)).collect();
        if distinct.len() != 4 {
            return Err(Rejection::DuplicateChoices);
        }
        let correct: Vec<usize> = [a, b, c, d]
            .iter()
            .enumerate()
            .filter(|(_, c)| c.correct)
            .map(|(i, _)| i)
            .collect();
        let [right] = correct.as_slice() else {
            return Err(Rejection::NotOneCorrect);
        };
        if distinct
            .iter()
            .any(|t| CATCH_ALLS.iter().any(|p| t.contains(p)))
        {
            return Err(Rejection::AllOrNoneOfTheAbove);
        }
        let quote = fold(candidate.source_quote.trim());
        if quote.chars().count() < MIN_QUOTE || !self.document.contains(&quote) {
            return Err(Rejection::QuoteNotInDocument);
        }
        let words = text_words(text);
        if self
            .texts
            .iter()
            .any(|other| similarity(&words, other) >= NEAR_DUPLICATE)
        {
            return Err(Rejection::NearDuplicate);
        }
        let mut ordered = vec![texts[*right].to_owned()];
        ordered.extend(
            texts
                .iter()
                .enumerate()
                .filter(|(i, _)| i != right)
                .map(|(_, t)| t.to_string()),
        );
        let choices: [String; 4] = ordered.try_into().expect("four choices");
        Ok((text.to_owned(), choices))
    }

    /// The accepted questions, with the correct letters balanced and the distractors shuffled.
    pub fn finish(self) -> Vec<Accepted> {
        let mut rng = StdRng::seed_from_u64(self.seed);
        let mut positions: Vec<usize> = (0..self.accepted.len()).map(|i| i % 4).collect();
        positions.shuffle(&mut rng);
        self.accepted
            .into_iter()
            .zip(positions)
            .map(|((text, choices, source_quote), position)| {
                let [right, mut distractors @ ..] = choices;
                distractors.shuffle(&mut rng);
                let mut ordered: Vec<String> = distractors.into();
                ordered.insert(position, right);
                Accepted {
                    text,
                    choices: ordered.try_into().expect("four choices"),
                    correct: Choice::ALL[position],
                    source_quote,
                }
            })
            .collect()
    }
}

/// Whether two texts ask the same question (the validator's near-duplicate rule).
pub fn similar(a: &str, b: &str) -> bool {
    similarity(&text_words(a), &text_words(b)) >= NEAR_DUPLICATE
}

fn text_words(text: &str) -> BTreeSet<String> {
    words(text).filter(|w| w.chars().count() >= 3).collect()
}

fn similarity(a: &BTreeSet<String>, b: &BTreeSet<String>) -> f64 {
    let union = a.union(b).count();
    if union == 0 {
        return 1.0;
    }
    a.intersection(b).count() as f64 / union as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "Le plan d'affaires décrit le marché, les clients et les coûts de l'entreprise.\n\n\
                       La trésorerie mesure l'argent disponible à court terme.";

    fn candidate(question: &str, choices: [(&str, bool); 4], quote: &str) -> Candidate {
        Candidate {
            question: question.into(),
            choices: choices
                .iter()
                .map(|(text, correct)| CandidateChoice {
                    text: (*text).into(),
                    correct: *correct,
                })
                .collect(),
            source_quote: quote.into(),
        }
    }

    fn good(question: &str) -> Candidate {
        candidate(
            question,
            [
                ("Le marché", true),
                ("La météo", false),
                ("Le sport", false),
                ("La musique", false),
            ],
            "décrit le marché, les clients",
        )
    }

    #[test]
    fn each_rule_rejects_its_own_fault() {
        let mut v = Validator::new(DOC, 10, 1, &[]);
        let cases = [
            (
                candidate(
                    "?",
                    [("a", true), ("b", false), ("c", false), ("d", false)],
                    "décrit le marché, les clients",
                ),
                Rejection::BadText,
            ),
            (
                Candidate {
                    choices: good("Que décrit le plan d'affaires ?").choices[..3].to_vec(),
                    ..good("Que décrit le plan d'affaires ?")
                },
                Rejection::NotFourChoices,
            ),
            (
                candidate(
                    "Que décrit le plan ?",
                    [
                        ("Le marché", true),
                        (" ", false),
                        ("c", false),
                        ("d", false),
                    ],
                    "décrit le marché, les clients",
                ),
                Rejection::EmptyOrLongChoice,
            ),
            (
                candidate(
                    "Que décrit le plan ?",
                    [
                        ("Le marché", true),
                        ("le  MARCHÉ", false),
                        ("c", false),
                        ("d", false),
                    ],
                    "décrit le marché, les clients",
                ),
                Rejection::DuplicateChoices,
            ),
            (
                candidate(
                    "Que décrit le plan ?",
                    [
                        ("Le marché", true),
                        ("La météo", true),
                        ("c", false),
                        ("d", false),
                    ],
                    "décrit le marché, les clients",
                ),
                Rejection::NotOneCorrect,
            ),
            (
                candidate(
                    "Que décrit le plan ?",
                    [
                        ("Le marché", false),
                        ("La météo", false),
                        ("c", false),
                        ("d", false),
                    ],
                    "décrit le marché, les clients",
                ),
                Rejection::NotOneCorrect,
            ),
            (
                candidate(
                    "Que décrit le plan ?",
                    [
                        ("Le marché", true),
                        ("Toutes les réponses ci-dessus", false),
                        ("c", false),
                        ("d", false),
                    ],
                    "décrit le marché, les clients",
                ),
                Rejection::AllOrNoneOfTheAbove,
            ),
            (
                candidate(
                    "Que décrit le plan ?",
                    [
                        ("Le marché", true),
                        ("b", false),
                        ("c", false),
                        ("d", false),
                    ],
                    "décrit la concurrence et les prix",
                ),
                Rejection::QuoteNotInDocument,
            ),
        ];
        for (candidate, why) in cases {
            assert_eq!(v.offer(candidate.clone()), Err(why), "{candidate:?}");
        }
        assert_eq!(v.missing(), 10);
    }

    #[test]
    fn quotes_are_found_whatever_their_case_spacing_and_apostrophes() {
        let mut v = Validator::new(DOC, 1, 1, &[]);
        let mut c = good("Que mesure la trésorerie ?");
        c.source_quote = "LA TRÉSORERIE mesure  l\u{2019}argent disponible".into();
        assert_eq!(v.offer(c), Ok(()));
    }

    #[test]
    fn near_identical_texts_are_dropped_here_and_against_the_bank() {
        let mut v = Validator::new(
            DOC,
            5,
            1,
            &["Que décrit le plan d'affaires de l'entreprise ?".into()],
        );
        assert_eq!(
            v.offer(good("Que décrit le plan d'affaires de l'entreprise ?")),
            Err(Rejection::NearDuplicate)
        );
        assert_eq!(
            v.offer(good("Selon le document, que décrit le plan ?")),
            Ok(())
        );
        assert_eq!(
            v.offer(good("Selon le document, que décrit le plan ?")),
            Err(Rejection::NearDuplicate)
        );
        assert_eq!(v.missing(), 4);
    }

    #[test]
    fn correct_letters_are_balanced_and_keep_their_answer() {
        let mut v = Validator::new(DOC, 10, 42, &[]);
        let topics = [
            "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india",
            "juliet",
        ];
        for topic in topics {
            v.offer(good(&format!("Question {topic} sur le plan")))
                .unwrap();
        }
        let accepted = v.finish();
        assert_eq!(accepted.len(), 10);
        let mut per_letter = [0; 4];
        for q in &accepted {
            per_letter[q.correct.index()] += 1;
            assert_eq!(q.choices[q.correct.index()], "Le marché");
        }
        assert!(
            per_letter.iter().all(|n| (2..=3).contains(n)),
            "{per_letter:?}"
        );
    }
}
