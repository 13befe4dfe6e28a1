//! A test taken inside WhatsApp: what a student's reply means, and where the conversation
//! stands after a set of replies.
//!
//! The conversation is not a cursor moved by each webhook call as it arrives: it is [`fold`]ed
//! from every reply of the conversation, sorted by when the student sent it (the provider's
//! timestamp, then the order we received them). A webhook delivered twice adds nothing (the
//! provider's id is stored once); one delivered late is put back in its place and the state is
//! computed again, so the answers end as if every reply had arrived in order, and a reply is
//! always applied to the question that was on the student's screen when they sent it.
//!
//! Accepted replies (accents, case, spaces and punctuation around them ignored):
//! - a choice: `A`..`D` (`a`, `A.`, `A)`, `(b)`, `*C*`, `Réponse B`, `rep: c`, `choix D`,
//!   `La réponse est A`), a digit `1`..`4` or a keycap emoji `1️⃣`..`4️⃣`, or `🅰️`/`🅱️`;
//! - `RETOUR` (or `PRÉCÉDENT`, `PRECEDENTE`, `<`): back to the previous question, to change it;
//! - `TEST`, `QUIZ`, `QCM` (or `PRE`, `POST`, `TEST PRE`, `TEST DE FIN` ...): start, or resume;
//! - anything else is unclear: a short help and the same question again.

use time::OffsetDateTime;

use super::exam::{Choice, ExamKind};

/// What a reply in a conversation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// A choice, by the letter shown beside it in the chat (A is the first line).
    Letter(Choice),
    /// Back to the previous question.
    Back,
    /// A start keyword: the test of this kind, or whichever is open (`None`).
    Start(Option<ExamKind>),
    /// Anything else.
    Other,
}

impl Reply {
    /// Reads a message's text.
    pub fn parse(body: &str) -> Self {
        if let Some(choice) = emoji_choice(body.trim()) {
            return Self::Letter(choice);
        }
        let folded = fold_text(body);
        let words: Vec<&str> = folded.split_whitespace().collect();
        let choice_word = match words.as_slice() {
            [one] => Some(*one),
            [prefix, one] if is_answer_word(prefix) => Some(*one),
            ["LA" | "MA", "REPONSE", "EST", one] => Some(*one),
            _ => None,
        };
        if let Some(choice) = choice_word.and_then(letter) {
            return Self::Letter(choice);
        }
        match words.as_slice() {
            ["RETOUR"] | ["PRECEDENT"] | ["PRECEDENTE"] | ["<"] | ["QUESTION", "PRECEDENTE"] => {
                Self::Back
            }
            _ => start(&words).map_or(Self::Other, Self::Start),
        }
    }

    /// How it is stored (`chat_replies.reply`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Letter(choice) => choice.as_str(),
            Self::Back => "BACK",
            Self::Start(_) => "START",
            Self::Other => "OTHER",
        }
    }

    /// What was stored (a start's kind is not kept: within a conversation it only resumes).
    pub fn from_stored(raw: &str) -> Self {
        match raw {
            "BACK" => Self::Back,
            "START" => Self::Start(None),
            other => Choice::parse(other).map_or(Self::Other, Self::Letter),
        }
    }
}

/// Upper case, accents off, punctuation turned to spaces (`<` kept: it is a reply).
fn fold_text(body: &str) -> String {
    deunicode::deunicode(body)
        .to_uppercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '<' {
                c
            } else {
                ' '
            }
        })
        .collect()
}

fn letter(word: &str) -> Option<Choice> {
    match word {
        "A" | "1" => Some(Choice::A),
        "B" | "2" => Some(Choice::B),
        "C" | "3" => Some(Choice::C),
        "D" | "4" => Some(Choice::D),
        _ => None,
    }
}

fn is_answer_word(word: &str) -> bool {
    matches!(word, "REPONSE" | "REP" | "R" | "CHOIX" | "OPTION")
}

/// A keycap digit (`1️⃣`, with or without its variation selector) or 🅰/🅱, alone.
fn emoji_choice(body: &str) -> Option<Choice> {
    let stripped: String = body.chars().filter(|&c| c != '\u{FE0F}').collect();
    match stripped.as_str() {
        "1\u{20E3}" | "\u{1F170}" => Some(Choice::A),
        "2\u{20E3}" | "\u{1F171}" => Some(Choice::B),
        "3\u{20E3}" => Some(Choice::C),
        "4\u{20E3}" => Some(Choice::D),
        _ => None,
    }
}

/// A start keyword, and the kind it names if it names one.
fn start(words: &[&str]) -> Option<Option<ExamKind>> {
    let kind = |word: &str| match word {
        "PRE" | "DEBUT" | "AVANT" => Some(ExamKind::Pre),
        "POST" | "FIN" | "APRES" => Some(ExamKind::Post),
        _ => None,
    };
    match words {
        ["TEST" | "QUIZ" | "QCM"] => Some(None),
        [one] => kind(one).map(Some),
        ["TEST" | "QUIZ" | "QCM", one] | ["TEST" | "QUIZ" | "QCM", "DE", one] => {
            kind(one).map(Some)
        }
        _ => None,
    }
}

/// An answer with when it was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Given {
    pub choice: Choice,
    pub at: OffsetDateTime,
}

/// What the last reply folded did, for the next message's first line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Last {
    /// No reply yet: the conversation just started.
    Started,
    Answered,
    /// Went back; `false` when there was no previous question.
    Back(bool),
    Resumed,
    Unclear,
}

/// Where a conversation stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    /// By the paper's order.
    pub answers: Vec<Option<Given>>,
    /// The question being asked (its index in the paper); `None` once every question is answered.
    pub position: Option<usize>,
    pub last: Last,
    /// How many replies were folded before the test was complete (later ones change nothing:
    /// the test was submitted with the answers as they were then).
    pub used: usize,
}

impl State {
    pub fn complete(&self) -> bool {
        self.position.is_none()
    }
}

/// The first question without an answer, from `from` on and then from the start.
fn unanswered(answers: &[Option<Given>], from: usize) -> Option<usize> {
    (from..answers.len())
        .chain(0..from.min(answers.len()))
        .find(|&i| answers[i].is_none())
}

/// The state after `replies` (sorted by when they were sent), starting from `carried`: the
/// answers already given elsewhere (the web) when the conversation started, by paper index.
///
/// A letter answers the question being asked, unless the answer there is newer (given on the
/// web after this reply was sent); the next question is then the first unanswered one after it.
/// `RETOUR` goes back one question; a start keyword only resumes; anything else is unclear.
pub fn fold(carried: Vec<Option<Given>>, replies: &[(OffsetDateTime, Reply)]) -> State {
    let mut answers = carried;
    let mut position = unanswered(&answers, 0);
    let mut last = Last::Started;
    let mut used = 0;
    for &(at, reply) in replies {
        let Some(current) = position else {
            break;
        };
        used += 1;
        match reply {
            Reply::Letter(choice) => {
                if answers[current].is_none_or(|given| given.at <= at) {
                    answers[current] = Some(Given { choice, at });
                }
                position = unanswered(&answers, current + 1);
                last = Last::Answered;
            }
            Reply::Back if current > 0 => {
                position = Some(current - 1);
                last = Last::Back(true);
            }
            Reply::Back => last = Last::Back(false),
            Reply::Start(_) => last = Last::Resumed,
            Reply::Other => last = Last::Unclear,
        }
    }
    State {
        answers,
        position,
        last,
        used,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng, seq::IndexedRandom};

    #[test]
    fn every_accepted_form_of_a_letter_is_that_letter() {
        let forms = [
            ("A", Choice::A),
            ("a", Choice::A),
            ("A.", Choice::A),
            (" b) ", Choice::B),
            ("(c)", Choice::C),
            ("*D*", Choice::D),
            ("Réponse B", Choice::B),
            ("réponse : c", Choice::C),
            ("REPONSE D", Choice::D),
            ("rep: a", Choice::A),
            ("Choix B", Choice::B),
            ("La réponse est C", Choice::C),
            ("1", Choice::A),
            ("4", Choice::D),
            ("1\u{FE0F}\u{20E3}", Choice::A),
            ("3\u{20E3}", Choice::C),
            ("\u{1F171}\u{FE0F}", Choice::B),
        ];
        for (body, choice) in forms {
            assert_eq!(Reply::parse(body), Reply::Letter(choice), "{body:?}");
        }
    }

    #[test]
    fn back_start_and_anything_else_are_told_apart() {
        for body in [
            "RETOUR",
            "retour",
            "Retour !",
            "précédent",
            "Question précédente",
            "<",
        ] {
            assert_eq!(Reply::parse(body), Reply::Back, "{body:?}");
        }
        let starts = [
            ("TEST", None),
            ("quiz", None),
            ("Qcm", None),
            ("pré", Some(ExamKind::Pre)),
            ("PRE", Some(ExamKind::Pre)),
            ("post", Some(ExamKind::Post)),
            ("Test de fin", Some(ExamKind::Post)),
            ("test début", Some(ExamKind::Pre)),
        ];
        for (body, kind) in starts {
            assert_eq!(Reply::parse(body), Reply::Start(kind), "{body:?}");
        }
        for body in [
            "E",
            "AB",
            "A B",
            "je ne sais pas",
            "5",
            "merci",
            "",
            "🙂",
            "réponse",
            "test 2",
        ] {
            assert_eq!(Reply::parse(body), Reply::Other, "{body:?}");
        }
    }

    #[test]
    fn what_is_stored_reads_back_as_the_same_reply() {
        for reply in [
            Reply::Letter(Choice::A),
            Reply::Letter(Choice::D),
            Reply::Back,
            Reply::Start(None),
            Reply::Other,
        ] {
            assert_eq!(Reply::from_stored(reply.as_str()), reply);
        }
    }

    fn at(second: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000 + second).unwrap()
    }

    #[test]
    fn back_changes_the_previous_answer_and_returns_where_it_was() {
        let replies = [
            (at(1), Reply::Letter(Choice::A)),
            (at(2), Reply::Letter(Choice::B)),
            (at(3), Reply::Back),
            (at(4), Reply::Letter(Choice::C)),
        ];
        let state = fold(vec![None; 10], &replies);
        assert_eq!(state.answers[0].unwrap().choice, Choice::A);
        assert_eq!(state.answers[1].unwrap().choice, Choice::C);
        assert_eq!(state.position, Some(2));
        let at_first = fold(vec![None; 10], &[(at(1), Reply::Back)]);
        assert_eq!(
            (at_first.position, at_first.last),
            (Some(0), Last::Back(false))
        );
    }

    #[test]
    fn answers_carried_from_the_web_are_skipped_and_only_a_newer_reply_changes_one() {
        let mut carried = vec![None; 10];
        carried[0] = Some(Given {
            choice: Choice::D,
            at: at(10),
        });
        carried[2] = Some(Given {
            choice: Choice::D,
            at: at(0),
        });
        let state = fold(
            carried,
            &[
                (at(5), Reply::Letter(Choice::A)),
                (at(6), Reply::Back),
                (at(7), Reply::Back),
                (at(8), Reply::Back),
                (at(9), Reply::Letter(Choice::B)),
            ],
        );
        // The first reply answers question 2 (1 was answered on the web) and moves to 4 (3 was
        // too); back three times reaches question 1, whose web answer (at 10) is newer than 9.
        assert_eq!(state.answers[1].unwrap().choice, Choice::A);
        assert_eq!(state.answers[0].unwrap().choice, Choice::D);
        assert_eq!(state.position, Some(3));
    }

    #[test]
    fn ten_letters_complete_the_test_and_later_replies_are_not_used() {
        let mut replies: Vec<_> = (0..10)
            .map(|i| (at(i), Reply::Letter(Choice::ALL[i as usize % 4])))
            .collect();
        replies.push((at(20), Reply::Letter(Choice::A)));
        let state = fold(vec![None; 10], &replies);
        assert!(state.complete());
        assert_eq!(state.used, 10);
        assert_eq!(state.answers[9].unwrap().choice, Choice::B);
    }

    /// Random conversations (letters, backs, starts, noise): whatever they are, the position is
    /// always an unanswered question or one gone back to, every question is asked before the
    /// test completes, and it completes exactly when all are answered.
    #[test]
    fn random_conversations_never_skip_a_question() {
        let seed: u64 = rand::rng().random();
        println!("seed {seed}");
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        for _ in 0..2000 {
            let mut carried = vec![None; 10];
            for slot in carried.iter_mut() {
                if rng.random_bool(0.2) {
                    *slot = Some(Given {
                        choice: *Choice::ALL.choose(&mut rng).unwrap(),
                        at: at(rng.random_range(0..40)),
                    });
                }
            }
            let n = rng.random_range(0..40);
            let replies: Vec<_> = (0..n)
                .map(|i| {
                    let reply = match rng.random_range(0..10) {
                        0 => Reply::Back,
                        1 => Reply::Other,
                        2 => Reply::Start(None),
                        _ => Reply::Letter(*Choice::ALL.choose(&mut rng).unwrap()),
                    };
                    (at(i), reply)
                })
                .collect();
            let mut previous = fold(carried.clone(), &[]);
            for k in 1..=replies.len() {
                let state = fold(carried.clone(), &replies[..k]);
                if previous.complete() {
                    assert_eq!(state, previous, "seed {seed}");
                    continue;
                }
                let asked = previous.position.unwrap();
                match (replies[k - 1].1, state.position) {
                    (Reply::Letter(_), Some(next)) => {
                        assert!(state.answers[asked].is_some(), "seed {seed}");
                        assert!(state.answers[next].is_none(), "seed {seed}");
                        // nothing unanswered was jumped over between `asked` and `next`
                        let mut i = (asked + 1) % 10;
                        while i != next {
                            assert!(state.answers[i].is_some(), "seed {seed}");
                            i = (i + 1) % 10;
                        }
                    }
                    (Reply::Letter(_), None) => {
                        assert!(state.answers.iter().all(Option::is_some), "seed {seed}")
                    }
                    (Reply::Back, Some(next)) => assert_eq!(next, asked.saturating_sub(1)),
                    (_, position) => assert_eq!(position, Some(asked), "seed {seed}"),
                }
                previous = state;
            }
        }
    }
}
