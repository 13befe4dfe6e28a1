//! Text out of a course PDF, in pure Rust (a Lambda has no poppler).
//!
//! `pdf-extract` does the work, page by page; where it fails on a page, `lopdf`'s simpler
//! extractor has a go. Both are known to panic on some fonts and encodings, so every page runs
//! inside `catch_unwind`, and the whole extraction on a blocking thread under a deadline: a
//! hostile or broken PDF gets an answer (an [`ExtractError`]), never a crashed Lambda. The text
//! is then judged: a scanned document yields little or no text, a font without a Unicode map
//! yields letters that do not make words, and both are reported as such.

use std::{
    panic::{AssertUnwindSafe, catch_unwind},
    time::{Duration, Instant},
};

use pdf_extract::{Document, PlainTextOutput};

/// How much a single extraction may take on.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_bytes: u64,
    pub max_pages: usize,
    pub time: Duration,
}

/// The text of a document, whitespace normalised, pages in order.
#[derive(Debug, Clone)]
pub struct Extracted {
    pub text: String,
    pub pages: usize,
    /// Pages where `pdf-extract` failed and `lopdf` was used instead.
    pub fallback_pages: usize,
}

/// Why a document gave no usable text. Each maps to a clear 4xx.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExtractError {
    #[error("the PDF is {size} bytes; at most {max} can be read")]
    TooLarge { size: u64, max: u64 },
    #[error("the PDF has {pages} pages; at most {max} can be read")]
    TooManyPages { pages: usize, max: usize },
    #[error("the file is not a readable PDF ({0})")]
    Unreadable(String),
    #[error("the PDF is protected by a password")]
    Encrypted,
    #[error("reading the PDF took longer than {0:?}")]
    TimedOut(Duration),
    #[error(
        "the PDF has no extractable text ({0}); a scanned document needs OCR before questions can be drawn from it"
    )]
    NoText(String),
}

/// The least text worth generating from: about a short page.
const MIN_LETTERS: usize = 300;

/// Extracts on a blocking thread, within `limits.time`. Panics inside the PDF crates become
/// [`ExtractError::Unreadable`].
pub async fn extract(bytes: Vec<u8>, limits: Limits) -> Result<Extracted, ExtractError> {
    let deadline = Instant::now() + limits.time;
    let work = tokio::task::spawn_blocking(move || extract_blocking(&bytes, limits, deadline));
    match tokio::time::timeout(limits.time + Duration::from_millis(250), work).await {
        Ok(Ok(result)) => result,
        // The closure catches panics itself; a join error here is a panic outside any page.
        Ok(Err(join)) => Err(ExtractError::Unreadable(format!(
            "the reader failed: {}",
            panic_message(join.into_panic())
        ))),
        // The thread cannot be stopped; it finishes or hits the deadline check between pages.
        Err(_) => Err(ExtractError::TimedOut(limits.time)),
    }
}

/// The same, on the calling thread (benchmarks and property tests).
pub fn extract_blocking(
    bytes: &[u8],
    limits: Limits,
    deadline: Instant,
) -> Result<Extracted, ExtractError> {
    if bytes.len() as u64 > limits.max_bytes {
        return Err(ExtractError::TooLarge {
            size: bytes.len() as u64,
            max: limits.max_bytes,
        });
    }
    if !bytes.starts_with(b"%PDF-") {
        return Err(ExtractError::Unreadable(
            "it does not start with %PDF-".into(),
        ));
    }
    let mut doc = guarded(|| Document::load_mem(bytes))
        .map_err(ExtractError::Unreadable)?
        .map_err(|e| ExtractError::Unreadable(e.to_string()))?;
    if doc.is_encrypted() {
        // Many PDFs are "encrypted" with an empty user password only to forbid copying.
        let opened = guarded(|| doc.decrypt(""))
            .map_err(ExtractError::Unreadable)?
            .is_ok();
        if !opened {
            return Err(ExtractError::Encrypted);
        }
    }
    let pages: Vec<u32> =
        guarded(|| doc.get_pages().into_keys().collect()).map_err(ExtractError::Unreadable)?;
    if pages.len() > limits.max_pages {
        return Err(ExtractError::TooManyPages {
            pages: pages.len(),
            max: limits.max_pages,
        });
    }
    let mut raw = String::new();
    let mut fallback_pages = 0;
    for &page in &pages {
        if Instant::now() > deadline {
            return Err(ExtractError::TimedOut(limits.time));
        }
        let text = match guarded(|| page_text(&doc, page)) {
            Ok(Some(text)) => text,
            Ok(None) | Err(_) => {
                fallback_pages += 1;
                guarded(|| doc.extract_text(&[page]).ok())
                    .ok()
                    .flatten()
                    .unwrap_or_default()
            }
        };
        raw.push_str(&text);
        raw.push_str("\n\n");
    }
    let text = normalise(&raw);
    judge(&text)?;
    Ok(Extracted {
        text,
        pages: pages.len(),
        fallback_pages,
    })
}

fn page_text(doc: &Document, page: u32) -> Option<String> {
    let mut text = String::new();
    let mut output = PlainTextOutput::new(&mut text);
    pdf_extract::output_doc_page(doc, &mut output, page).ok()?;
    Some(text)
}

/// Runs `f`, turning a panic into its message.
fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(panic_message)
}

fn panic_message(panic: Box<dyn std::any::Any + Send>) -> String {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    format!("the PDF reader gave up: {message}")
}

/// Collapses runs of spaces, keeps paragraph breaks (blank lines), drops control characters
/// (Postgres stores no NUL) and joins words hyphenated across a line break.
pub fn normalise(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut newlines = 0;
    let mut space = false;
    for c in raw.chars() {
        let c = match c {
            '\u{a0}' | '\u{2009}' | '\u{202f}' => ' ',
            '\u{2019}' | '\u{2018}' => '\'',
            '\u{fb01}' => {
                out.push_str("fi");
                continue;
            }
            '\u{fb02}' => {
                out.push_str("fl");
                continue;
            }
            c => c,
        };
        if c == '\n' {
            newlines += 1;
            continue;
        }
        if c.is_whitespace() || c.is_control() {
            space = true;
            continue;
        }
        // Separators before the first character are dropped.
        if !out.is_empty() {
            if newlines >= 2 {
                out.push_str("\n\n");
            } else if newlines == 1 && out.ends_with('-') && c.is_lowercase() {
                // "entre-\nprise": a word split by the layout, not a hyphenated word
                out.pop();
            } else if newlines == 1 || space {
                out.push(' ');
            }
        }
        newlines = 0;
        space = false;
        out.push(c);
    }
    out
}

/// Refuses text that cannot be the content of a course: too little of it, too few letters, or
/// letters that do not make words (a font without a Unicode map).
fn judge(text: &str) -> Result<(), ExtractError> {
    let visible = text.chars().filter(|c| !c.is_whitespace()).count();
    let letters = text.chars().filter(|c| c.is_alphabetic()).count();
    if letters < MIN_LETTERS {
        return Err(ExtractError::NoText(format!(
            "{letters} letters in all, fewer than {MIN_LETTERS}"
        )));
    }
    if letters * 10 < visible * 6 {
        return Err(ExtractError::NoText(format!(
            "only {}% of its characters are letters",
            letters * 100 / visible.max(1)
        )));
    }
    let words: Vec<&str> = text
        .split(|c: char| !c.is_alphabetic())
        .filter(|w| w.chars().count() >= 3)
        .collect();
    let with_vowel = words.iter().filter(|w| w.chars().any(is_vowel)).count();
    if with_vowel * 10 < words.len() * 7 {
        return Err(ExtractError::NoText(
            "its letters do not form words (a font without a Unicode map?)".into(),
        ));
    }
    Ok(())
}

fn is_vowel(c: char) -> bool {
    matches!(
        c.to_lowercase().next().unwrap_or(c),
        'a' | 'e'
            | 'i'
            | 'o'
            | 'u'
            | 'y'
            | 'à'
            | 'â'
            | 'é'
            | 'è'
            | 'ê'
            | 'ë'
            | 'î'
            | 'ï'
            | 'ô'
            | 'ù'
            | 'û'
            | 'ü'
            | 'œ'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalising_keeps_paragraphs_and_joins_words_split_by_the_layout() {
        let raw =
            "\n  Le  plan   d'affaires\u{a0}décrit\nl'entre-\nprise.\n\n\nSecond\tparagraphe\u{0}.";
        assert_eq!(
            normalise(raw),
            "Le plan d'affaires décrit l'entreprise.\n\nSecond paragraphe ."
        );
    }

    #[test]
    fn text_without_words_is_judged_unusable() {
        let digits = "12 34 56 78 90 ".repeat(100);
        assert!(matches!(judge(&digits), Err(ExtractError::NoText(_))));
        let consonants = "xkcd brrr pfft zzkt ".repeat(50);
        assert!(matches!(judge(&consonants), Err(ExtractError::NoText(_))));
        let prose = "Une entreprise durable commence par un plan clair et réaliste. ".repeat(10);
        assert_eq!(judge(&prose), Ok(()));
    }

    #[test]
    fn a_file_that_is_not_a_pdf_is_unreadable() {
        let limits = Limits {
            max_bytes: 1 << 20,
            max_pages: 10,
            time: Duration::from_secs(5),
        };
        let deadline = Instant::now() + limits.time;
        assert!(matches!(
            extract_blocking(b"hello", limits, deadline),
            Err(ExtractError::Unreadable(_))
        ));
        assert!(matches!(
            extract_blocking(&[b'x'; 2 << 20], limits, deadline),
            Err(ExtractError::TooLarge { .. })
        ));
    }
}
