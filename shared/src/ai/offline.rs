//! The offline question generator: no network, no model, deterministic for a document and a
//! seed. It is the embedded default (no `OPENAI_API_KEY`) and the fallback a venue server
//! without internet can always use.
//!
//! Each question is a cloze: an informative sentence of the handout with one key term blanked
//! out, the term as the right answer and three other terms *of the same kind* from the same
//! handout as distractors (numbers for a number, names for a name, words with the same ending
//! for a word, so a distractor fits the sentence's grammar as well as the answer does).
//!
//! - Key terms are content words that are specific (rare across sentences: a high inverse
//!   sentence frequency) yet recurring (a concept the course returns to), and long enough to
//!   carry meaning; stop words never qualify.
//! - Sentences are prose of a sensible length, mostly letters, without links or addresses.
//! - Questions are spread over the document: it is cut into as many segments as questions, and
//!   each segment's best sentence comes first; the seed perturbs the ranking a little so a
//!   second generation with another seed draws other sentences.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap, HashSet},
    sync::LazyLock,
};

use futures::future::BoxFuture;
use sha2::{Digest, Sha256};

use super::{
    Ask, Language, Proposal, ProviderError, QuestionProvider,
    text::{fold, sentences},
    validate::{Candidate, CandidateChoice, similar},
};

/// How many candidates to offer per question wanted: the validation drops some.
const SPARE_FACTOR: usize = 3;

pub struct Offline;

impl QuestionProvider for Offline {
    fn name(&self) -> &'static str {
        "offline"
    }

    fn model(&self) -> &str {
        "cloze-v1"
    }

    fn prompt_version(&self) -> &'static str {
        "cloze-v1"
    }

    fn propose<'a>(&'a self, ask: &'a Ask<'a>) -> BoxFuture<'a, Result<Proposal, ProviderError>> {
        Box::pin(async move {
            // Later rounds would only repeat the first: everything worth offering was offered.
            if ask.round > 0 {
                return Ok(Proposal::default());
            }
            Ok(Proposal {
                candidates: cloze(
                    ask.document,
                    ask.count * SPARE_FACTOR,
                    ask.seed,
                    ask.language,
                    ask.avoid,
                ),
                ..Proposal::default()
            })
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Kind {
    Number,
    Name,
    /// A common word, by its last three letters (gender and number in French, often).
    Word,
}

/// One word occurrence inside a sentence.
#[derive(Debug, Clone)]
struct Token {
    start: usize,
    end: usize,
    folded: String,
    kind: Kind,
}

#[derive(Debug, Default)]
struct Term {
    /// How many sentences contain it.
    sentences: usize,
    /// How many times it occurs.
    occurrences: usize,
    /// Its surface forms and their counts (the commonest is shown as a choice).
    forms: BTreeMap<String, usize>,
    kind: Option<Kind>,
}

/// The best blank found in one sentence, with its three distractors.
#[derive(Debug)]
struct Pick {
    sentence: usize,
    token: usize,
    score: f64,
    distractors: [String; 3],
}

/// Up to `limit` cloze candidates, best first, spread over the document, none asking what an
/// `avoid` stem already asks (so a second generation draws other sentences).
///
/// The steps, each a function below with its own tests: keep the [`prose`] sentences, cut them
/// into [`tokens`], count the [`vocabulary`], find each sentence's [`best_blank`], order the
/// picks by [`spread`], and phrase each as a [`blanked_question`] with its choices.
pub fn cloze(
    document: &str,
    limit: usize,
    seed: u64,
    language: Language,
    avoid: &[String],
) -> Vec<Candidate> {
    let sentences = prose(document);
    let tokenised: Vec<Vec<Token>> = sentences.iter().map(|s| tokens(s)).collect();
    let terms = vocabulary(&sentences, &tokenised);
    let picks: Vec<Pick> = (0..sentences.len())
        .filter_map(|i| best_blank(i, &sentences, &tokenised, &terms, seed))
        .collect();

    let mut answers = BTreeSet::new();
    let mut out = Vec::new();
    for p in spread(&picks, limit / SPARE_FACTOR, sentences.len()) {
        if out.len() == limit {
            break;
        }
        let pick = &picks[p];
        let sentence = sentences[pick.sentence];
        let token = &tokenised[pick.sentence][pick.token];
        if answers.contains(&token.folded) {
            continue;
        }
        let question = blanked_question(language, sentence, token);
        if avoid.iter().any(|stem| similar(stem, &question)) {
            continue;
        }
        answers.insert(token.folded.clone());
        let mut choices = vec![CandidateChoice {
            text: display(&terms[&token.folded]),
            correct: true,
        }];
        choices.extend(pick.distractors.iter().map(|d| CandidateChoice {
            text: display(&terms[d]),
            correct: false,
        }));
        out.push(Candidate {
            question,
            choices,
            source_quote: sentence.to_owned(),
        });
    }
    out
}

/// The document's sentences that read as prose (see [`is_prose`]), in order.
fn prose(document: &str) -> Vec<&str> {
    sentences(document)
        .into_iter()
        .filter(|s| is_prose(s))
        .collect()
}

/// Every term of the sentences, keyed by its folded form: in how many sentences and how often it
/// occurs, its surface forms, and its kind (a number or a name as soon as one occurrence is).
fn vocabulary(sentences: &[&str], tokenised: &[Vec<Token>]) -> HashMap<String, Term> {
    let mut terms: HashMap<String, Term> = HashMap::new();
    for (sentence, tokens) in sentences.iter().zip(tokenised) {
        let mut seen = BTreeSet::new();
        for token in tokens {
            let term = terms.entry(token.folded.clone()).or_default();
            term.occurrences += 1;
            *term
                .forms
                .entry(sentence[token.start..token.end].to_owned())
                .or_default() += 1;
            term.kind = Some(term.kind.map_or(token.kind, |k| k.min(token.kind)));
            if seen.insert(token.folded.clone()) {
                term.sentences += 1;
            }
        }
    }
    terms
}

/// Sentence `i`'s best key term that has three distractors of its kind, scored by how specific
/// and recurring it is (and its length), then jittered by the seed and the sentence's length.
fn best_blank(
    i: usize,
    sentences: &[&str],
    tokenised: &[Vec<Token>],
    terms: &HashMap<String, Term>,
    seed: u64,
) -> Option<Pick> {
    let n = sentences.len().max(1) as f64;
    let weight = |t: &Term| -> f64 {
        let idf = (n / t.sentences as f64).ln();
        let recurring = 1.0 + (t.occurrences as f64).ln().min(2.0);
        idf * recurring
    };
    let tokens = &tokenised[i];
    let in_sentence: BTreeSet<&str> = tokens.iter().map(|t| t.folded.as_str()).collect();
    // The first word is skipped: its capital would give the answer away.
    let mut keys: Vec<(f64, usize)> = tokens
        .iter()
        .enumerate()
        .skip(1)
        .filter(|(_, token)| is_key(token, &terms[&token.folded], sentences.len()))
        .map(|(j, token)| {
            let length = token.folded.chars().count().min(12) as f64 / 12.0;
            (weight(&terms[&token.folded]) * (0.5 + length), j)
        })
        .collect();
    keys.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut pick = keys.into_iter().find_map(|(score, j)| {
        let token = &tokens[j];
        let elided = sentences[i][..token.start].ends_with('\'');
        distractors(token, elided, terms, &in_sentence, seed).map(|distractors| Pick {
            sentence: i,
            token: j,
            score,
            distractors,
        })
    })?;
    // A little seeded jitter (±15%): another seed, other sentences among near-equals.
    let jitter = (hash(seed, sentences[i]) % 1000) as f64 / 1000.0;
    pick.score *= 0.85 + 0.3 * jitter;
    pick.score *= length_preference(sentences[i]);
    Some(pick)
}

/// The order to offer the picks in: the document is cut into `segments` equal runs of
/// sentences; the best pick of each segment comes first (best first), then the rest by score.
fn spread(picks: &[Pick], segments: usize, sentences: usize) -> Vec<usize> {
    let segments = segments.max(1);
    let mut order: Vec<usize> = (0..picks.len()).collect();
    order.sort_by(|&a, &b| picks[b].score.total_cmp(&picks[a].score));
    let mut first: Vec<usize> = Vec::new();
    let mut taken_segments = BTreeSet::new();
    for &p in &order {
        let segment = picks[p].sentence * segments / sentences.max(1);
        if taken_segments.insert(segment) {
            first.push(p);
        }
    }
    let rest: Vec<usize> = order.into_iter().filter(|p| !first.contains(p)).collect();
    first.extend(rest);
    first
}

/// The question's text: the sentence with `token` blanked out, in the handout's language.
fn blanked_question(language: Language, sentence: &str, token: &Token) -> String {
    let blanked = format!(
        "{}_____{}",
        &sentence[..token.start],
        &sentence[token.end..]
    );
    match language {
        Language::French => format!("Complétez la phrase du support de cours : « {blanked} »"),
        Language::English => {
            format!("Fill in the blank from the handout: \u{201c}{blanked}\u{201d}")
        }
    }
}

/// Prose worth quoting: a full sentence of sensible length, mostly letters, no link or address.
fn is_prose(sentence: &str) -> bool {
    let chars = sentence.chars().count();
    let words = sentence.split_whitespace().count();
    let letters = sentence.chars().filter(|c| c.is_alphabetic()).count();
    let visible = sentence
        .chars()
        .filter(|c| !c.is_whitespace())
        .count()
        .max(1);
    let lower = sentence.to_lowercase();
    (50..=280).contains(&chars)
        && (8..=45).contains(&words)
        && letters * 100 >= visible * 75
        && sentence
            .chars()
            .next()
            .is_some_and(|c| c.is_uppercase() || c == '«' || c == '"')
        && sentence.ends_with(['.', '!', '?'])
        && !["http", "www.", "@", "...", ". . .", "…", "____"]
            .iter()
            .any(|bad| lower.contains(bad))
}

fn length_preference(sentence: &str) -> f64 {
    let words = sentence.split_whitespace().count() as f64;
    // Sentences of 12 to 30 words read best as questions.
    if (12.0..=30.0).contains(&words) {
        1.0
    } else {
        0.8
    }
}

fn tokens(sentence: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut start = None;
    let bytes: Vec<(usize, char)> = sentence.char_indices().collect();
    for (k, &(i, c)) in bytes.iter().enumerate() {
        let inner_hyphen = c == '-'
            && start.is_some()
            && bytes.get(k + 1).is_some_and(|(_, n)| n.is_alphanumeric());
        if c.is_alphanumeric() || inner_hyphen {
            start.get_or_insert(i);
        } else if let Some(s) = start.take() {
            out.push(token(sentence, s, i, out.is_empty()));
        }
    }
    if let Some(s) = start {
        out.push(token(sentence, s, sentence.len(), out.is_empty()));
    }
    out
}

fn token(sentence: &str, start: usize, end: usize, first: bool) -> Token {
    let word = &sentence[start..end];
    let kind = if word.chars().all(|c| c.is_ascii_digit()) {
        Kind::Number
    } else if !first && word.chars().next().is_some_and(char::is_uppercase) {
        Kind::Name
    } else {
        Kind::Word
    };
    Token {
        start,
        end,
        folded: word.to_lowercase(),
        kind,
    }
}

/// Whether a token may be blanked out.
fn is_key(token: &Token, term: &Term, sentences: usize) -> bool {
    let length = token.folded.chars().count();
    let common = term.sentences * 8 > sentences.max(8);
    match token.kind {
        Kind::Number => (2..=4).contains(&length) && !common,
        Kind::Name => length >= 3 && !is_stop_word(&token.folded) && !common,
        Kind::Word => {
            length >= 5
                && token.folded.chars().all(|c| c.is_alphabetic() || c == '-')
                && !is_stop_word(&token.folded)
                && !common
        }
    }
}

/// Three other terms of the same kind as `token`, none in its sentence, the most alike first
/// (ending, then length; after an elision such as "l'", words that elide too), ties broken by
/// the seed. Acronyms only stand in for acronyms.
fn distractors(
    token: &Token,
    elided: bool,
    terms: &HashMap<String, Term>,
    in_sentence: &BTreeSet<&str>,
    seed: u64,
) -> Option<[String; 3]> {
    let answer = &token.folded;
    let ending: String = suffix(answer, 3);
    let length = answer.chars().count() as i64;
    let plural = answer.ends_with(['s', 'x']);
    let answer_is_acronym = is_acronym(&terms[answer.as_str()]);
    let mut pool: Vec<(i64, &String)> = terms
        .iter()
        .filter(|(word, term)| {
            term.kind == Some(token.kind)
                && !in_sentence.contains(word.as_str())
                && !is_stop_word(word)
                && !same_word(word, answer)
                && match token.kind {
                    Kind::Number => {
                        (2..=4).contains(&word.len()) && word.chars().all(|c| c.is_ascii_digit())
                    }
                    Kind::Name => word.chars().count() >= 3,
                    Kind::Word => {
                        word.chars().count() >= 4
                            && word.chars().all(|c| c.is_alphabetic() || c == '-')
                    }
                }
        })
        .map(|(word, _)| {
            let mut likeness = 0;
            if suffix(word, 3) == ending {
                likeness += 4;
            } else if suffix(word, 2) == suffix(answer, 2) {
                likeness += 2;
            }
            if word.ends_with(['s', 'x']) == plural {
                likeness += 2;
            }
            if elided && !starts_with_vowel(word) {
                likeness -= 5;
            }
            if is_acronym(&terms[word.as_str()]) != answer_is_acronym {
                likeness -= 8;
            }
            likeness -= ((word.chars().count() as i64 - length).abs()).min(6) / 2;
            if token.kind == Kind::Number {
                likeness = -((word.len() as i64 - length).abs());
            }
            (likeness, word)
        })
        .collect();
    // The likeliest dozen, then the seed orders equals (hashing every term would be slow).
    pool.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
    pool.truncate(12);
    let mut pool: Vec<(i64, u64, &String)> = pool
        .into_iter()
        .map(|(likeness, word)| (likeness, hash(seed, word), word))
        .collect();
    pool.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut chosen: Vec<String> = Vec::new();
    for (_, _, word) in pool {
        if chosen.iter().all(|c| !same_word(c, word)) {
            chosen.push(word.clone());
        }
        if chosen.len() == 3 {
            break;
        }
    }
    chosen.try_into().ok()
}

fn starts_with_vowel(word: &str) -> bool {
    word.chars()
        .next()
        .is_some_and(|c| "aeiouyhàâéèêîïôûœ".contains(c))
}

/// Shown in capitals only (an acronym or a shouted heading).
fn is_acronym(term: &Term) -> bool {
    let form = display(term);
    form.chars().filter(|c| c.is_alphabetic()).count() > 1 && !form.chars().any(char::is_lowercase)
}

/// Two forms of one word (singular and plural, or the same letters): not a fair distractor.
fn same_word(a: &str, b: &str) -> bool {
    let strip = |w: &str| fold(w).trim_end_matches(['s', 'x']).to_owned();
    strip(a) == strip(b)
}

fn suffix(word: &str, n: usize) -> String {
    let chars: Vec<char> = word.chars().collect();
    chars[chars.len().saturating_sub(n)..].iter().collect()
}

/// The commonest surface form, lower-cased unless it is a name.
fn display(term: &Term) -> String {
    let form = term
        .forms
        .iter()
        .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
        .map(|(f, _)| f.clone())
        .unwrap_or_default();
    match term.kind {
        Some(Kind::Name) => form,
        _ => form.to_lowercase(),
    }
}

fn hash(seed: u64, text: &str) -> u64 {
    let digest = Sha256::new()
        .chain_update(seed.to_le_bytes())
        .chain_update(text.as_bytes())
        .finalize();
    u64::from_le_bytes(digest[..8].try_into().expect("8 bytes"))
}

/// Is `word` (folded) a function word of a language the generator knows? The words are data,
/// one file per language under `stop_words/`, loaded once into a set.
fn is_stop_word(word: &str) -> bool {
    static WORDS: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
        [
            include_str!("stop_words/fr.txt"),
            include_str!("stop_words/en.txt"),
        ]
        .into_iter()
        .flat_map(str::lines)
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .collect()
    });
    WORDS.contains(word)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILES: [(&str, &str); 2] = [
        ("fr", include_str!("stop_words/fr.txt")),
        ("en", include_str!("stop_words/en.txt")),
    ];

    /// A small handout: every sentence is prose; "trésorerie", "rentabilité", "liquidité" and
    /// "solvabilité" recur, so they are key terms with distractors of their kind.
    const HANDOUT: &str = "La trésorerie mesure l'argent disponible pour payer les fournisseurs chaque mois. \
        La rentabilité compare le bénéfice réalisé aux capitaux investis par les associés. \
        La liquidité indique la capacité de payer rapidement les dettes de court terme. \
        La solvabilité montre la capacité de rembourser toutes les dettes de long terme. \
        Un bon gestionnaire suit la trésorerie avant la rentabilité pendant la création. \
        Le banquier regarde la solvabilité et la liquidité avant chaque nouveau crédit. \
        Voir https://example.org pour les modèles de tableaux de bord mensuels gratuits. \
        Trop court.";

    fn key_of(sentence: &str, word: &str) -> Token {
        tokens(sentence)
            .into_iter()
            .find(|t| t.folded == word)
            .expect("the word is in the sentence")
    }

    #[test]
    fn prose_keeps_full_sentences_and_drops_links_and_fragments() {
        let kept = prose(HANDOUT);
        assert_eq!(kept.len(), 6, "{kept:#?}");
        assert!(
            kept.iter()
                .all(|s| !s.contains("https") && *s != "Trop court.")
        );
    }

    #[test]
    fn tokens_keep_inner_hyphens_and_tell_numbers_and_names_from_words() {
        let sentence = "En 2024, Port-Gentil et Libreville ont formé 350 porteurs de projet.";
        let found: Vec<(&str, Kind)> = tokens(sentence)
            .iter()
            .map(|t| (&sentence[t.start..t.end], t.kind))
            .collect();
        assert_eq!(
            found[0],
            ("En", Kind::Word),
            "the first word's capital says nothing"
        );
        assert!(found.contains(&("2024", Kind::Number)));
        assert!(found.contains(&("Port-Gentil", Kind::Name)));
        assert!(found.contains(&("Libreville", Kind::Name)));
        assert!(found.contains(&("porteurs", Kind::Word)));
        assert!(
            !found
                .iter()
                .any(|(w, _)| w.contains(',') || w.contains('.'))
        );
    }

    #[test]
    fn vocabulary_counts_sentences_once_and_occurrences_each_time() {
        let sentences = ["La dette et la dette encore.", "Une Dette de plus."];
        let tokenised: Vec<Vec<Token>> = sentences.iter().map(|s| tokens(s)).collect();
        let terms = vocabulary(&sentences, &tokenised);
        let dette = &terms["dette"];
        assert_eq!((dette.sentences, dette.occurrences), (2, 3));
        assert_eq!(
            dette.kind,
            Some(Kind::Name),
            "one capital inside a sentence makes a name"
        );
        assert_eq!(display(dette), "dette", "shown in its commonest form");
    }

    #[test]
    fn a_blank_is_never_a_stop_word_or_the_first_word_and_has_three_distractors_of_its_kind() {
        let sentences = prose(HANDOUT);
        let tokenised: Vec<Vec<Token>> = sentences.iter().map(|s| tokens(s)).collect();
        let terms = vocabulary(&sentences, &tokenised);
        for seed in 0..20 {
            for i in 0..sentences.len() {
                let Some(pick) = best_blank(i, &sentences, &tokenised, &terms, seed) else {
                    continue;
                };
                let token = &tokenised[i][pick.token];
                assert!(pick.token > 0, "seed {seed}: {}", sentences[i]);
                assert!(
                    !is_stop_word(&token.folded),
                    "seed {seed}: {}",
                    token.folded
                );
                for d in &pick.distractors {
                    assert_eq!(terms[d].kind, Some(token.kind), "seed {seed}: {d}");
                    assert!(!same_word(d, &token.folded), "seed {seed}: {d}");
                    assert!(
                        !tokenised[i].iter().any(|t| &t.folded == d),
                        "seed {seed}: {d} is in the sentence itself"
                    );
                }
            }
        }
    }

    #[test]
    fn distractors_of_a_word_share_its_ending_before_others() {
        let sentence = "Le banquier regarde la solvabilité et la liquidité avant chaque crédit.";
        let sentences = prose(HANDOUT);
        let tokenised: Vec<Vec<Token>> = sentences.iter().map(|s| tokens(s)).collect();
        let terms = vocabulary(&sentences, &tokenised);
        let token = key_of(sentence, "solvabilité");
        let own = tokens(sentence);
        let in_sentence: BTreeSet<&str> = own.iter().map(|t| t.folded.as_str()).collect();
        let chosen = distractors(&token, false, &terms, &in_sentence, 7).expect("three");
        assert!(chosen.contains(&"rentabilité".to_owned()), "{chosen:?}");
        assert!(
            !chosen.contains(&"liquidité".to_owned()),
            "in the sentence: {chosen:?}"
        );
    }

    #[test]
    fn spread_puts_each_segments_best_pick_first_then_the_rest_by_score() {
        let pick = |sentence, score| Pick {
            sentence,
            token: 1,
            score,
            distractors: Default::default(),
        };
        // Ten sentences in two segments (0..5, 5..10): the two best are both in the first.
        let picks = [pick(0, 9.0), pick(1, 8.0), pick(6, 1.0), pick(7, 2.0)];
        assert_eq!(spread(&picks, 2, 10), vec![0, 3, 1, 2]);
        assert_eq!(
            spread(&picks, 1, 10),
            vec![0, 1, 3, 2],
            "one segment: by score"
        );
        assert_eq!(
            spread(&picks, 0, 0),
            vec![0, 1, 3, 2],
            "no panic on empty inputs"
        );
    }

    #[test]
    fn a_blanked_question_quotes_the_sentence_without_the_answer() {
        let sentence = "La trésorerie mesure l'argent disponible chaque mois.";
        let token = key_of(sentence, "argent");
        let french = blanked_question(Language::French, sentence, &token);
        assert_eq!(
            french,
            "Complétez la phrase du support de cours : \
             « La trésorerie mesure l'_____ disponible chaque mois. »"
        );
        let english = blanked_question(Language::English, sentence, &token);
        assert!(english.starts_with("Fill in the blank"));
        assert!(!english.contains("argent"));
    }

    #[test]
    fn cloze_is_deterministic_per_seed_and_never_repeats_an_answer_or_an_avoided_stem() {
        let first = cloze(HANDOUT, 6, 1, Language::French, &[]);
        assert!(!first.is_empty());
        let again = cloze(HANDOUT, 6, 1, Language::French, &[]);
        let stems = |c: &[Candidate]| c.iter().map(|c| c.question.clone()).collect::<Vec<_>>();
        assert_eq!(stems(&first), stems(&again));
        let answers: BTreeSet<String> = first
            .iter()
            .map(|c| c.choices.iter().find(|c| c.correct).unwrap().text.clone())
            .collect();
        assert_eq!(answers.len(), first.len(), "an answer twice");
        for c in &first {
            assert_eq!(c.choices.len(), 4);
            assert!(c.question.contains("_____"));
        }
        let avoided = cloze(HANDOUT, 6, 1, Language::French, &stems(&first));
        assert!(
            avoided.iter().all(|c| !stems(&first).contains(&c.question)),
            "an avoided stem came back"
        );
    }

    #[test]
    fn each_stop_word_file_is_sorted_folded_and_without_duplicates() {
        for (language, file) in FILES {
            let words: Vec<&str> = file
                .lines()
                .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
                .collect();
            let mut sorted = words.clone();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(words, sorted, "{language}.txt: sorted, each word once");
            for word in words {
                assert_eq!(
                    word,
                    fold(word),
                    "{language}.txt: {word:?} as tokens are folded"
                );
            }
        }
    }

    #[test]
    fn stop_words_of_every_language_are_known_and_content_words_are_not() {
        for word in [
            "toutefois",
            "c'est-à-dire",
            "première",
            "however",
            "because",
        ] {
            assert!(is_stop_word(word), "{word}");
        }
        for word in [
            "trésorerie",
            "rentabilité",
            "however,",
            "Toutefois",
            "business",
        ] {
            assert!(!is_stop_word(word), "{word}");
        }
    }
}
