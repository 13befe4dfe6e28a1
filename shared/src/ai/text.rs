//! Text helpers shared by the providers and the validation: folding for comparison, sentences,
//! words and overlapping chunks.

/// Lower-cased, whitespace collapsed, typographic quotes made plain: the form in which a quote
/// is looked up in the document and stems are compared.
pub fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut space = false;
    for c in text.chars() {
        let c = match c {
            '\u{2019}' | '\u{2018}' | '`' | '\u{b4}' => '\'',
            '\u{201c}' | '\u{201d}' | '\u{ab}' | '\u{bb}' => '"',
            '\u{2013}' | '\u{2014}' => '-',
            c => c,
        };
        if c.is_whitespace() {
            space = !out.is_empty();
            continue;
        }
        if space {
            out.push(' ');
            space = false;
        }
        out.extend(c.to_lowercase());
    }
    out
}

/// The words of a text (letters, digits and inner hyphens), folded.
pub fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !(c.is_alphanumeric() || c == '-'))
        .map(|w| w.trim_matches('-'))
        .filter(|w| !w.is_empty())
        .map(|w| w.to_lowercase())
}

/// Splits a paragraph-structured text into sentences: a sentence ends at `.`, `!` or `?`
/// followed by a space and a capital letter, a digit or a quote, or at a paragraph break.
pub fn sentences(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for paragraph in text.split("\n\n") {
        let mut start = 0;
        let chars: Vec<(usize, char)> = paragraph.char_indices().collect();
        for i in 0..chars.len() {
            let (at, c) = chars[i];
            if !matches!(c, '.' | '!' | '?') {
                continue;
            }
            let next_is_space = chars.get(i + 1).is_some_and(|(_, n)| *n == ' ');
            let then = chars.get(i + 2).map(|(_, n)| *n);
            let opens = then
                .is_some_and(|n| n.is_uppercase() || n.is_ascii_digit() || n == '«' || n == '"');
            if next_is_space && opens && !after_abbreviation(&paragraph[start..at]) {
                let end = at + c.len_utf8();
                push_trimmed(&mut out, &paragraph[start..end]);
                start = end;
            }
        }
        push_trimmed(&mut out, &paragraph[start..]);
    }
    out
}

/// Whether the text before a full stop ends with an abbreviation ("p.", "M.", "fig.", "cf.").
fn after_abbreviation(before: &str) -> bool {
    let word = before
        .rsplit(|c: char| !c.is_alphabetic())
        .next()
        .unwrap_or("");
    let length = word.chars().count();
    (1..=2).contains(&length) && !word.chars().all(|c| c.is_lowercase())
        || length == 1
        || [
            "etc", "cf", "fig", "art", "chap", "vol", "env", "mme", "mlle", "min", "max", "approx",
            "resp", "ibid", "vs", "no",
        ]
        .contains(&word.to_lowercase().as_str())
}

fn push_trimmed<'a>(out: &mut Vec<&'a str>, s: &'a str) {
    let s = s.trim();
    if !s.is_empty() {
        out.push(s);
    }
}

/// Splits `text` into pieces of at most `size` bytes that overlap by about `overlap` bytes,
/// cutting at whitespace where possible (and always at a character boundary).
pub fn chunks(text: &str, size: usize, overlap: usize) -> Vec<&str> {
    assert!(overlap < size, "the overlap must be smaller than a chunk");
    let mut out = Vec::new();
    let mut start = 0;
    while start < text.len() {
        let mut end = floor_boundary(text, (start + size).min(text.len()));
        if end < text.len()
            && let Some(space) = text[start..end].rfind(char::is_whitespace)
            && space > size / 2
        {
            end = start + space;
        }
        if end <= start {
            end = ceil_boundary(text, start + 1);
        }
        out.push(text[start..end].trim());
        if end >= text.len() {
            break;
        }
        let mut next = floor_boundary(text, end.saturating_sub(overlap).max(start + 1));
        if let Some(space) = text[next..end].find(char::is_whitespace) {
            next += space;
        }
        start = ceil_boundary(text, next.max(start + 1));
    }
    out.retain(|c| !c.is_empty());
    out
}

fn floor_boundary(text: &str, mut i: usize) -> usize {
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_boundary(text: &str, mut i: usize) -> usize {
    while i < text.len() && !text.is_char_boundary(i) {
        i += 1;
    }
    i.min(text.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_ignores_case_spacing_and_typographic_quotes() {
        assert_eq!(
            fold("  L\u{2019}Entreprise\n  « Durable »"),
            "l'entreprise \" durable \""
        );
    }

    #[test]
    fn sentences_end_at_a_full_stop_before_a_capital_and_at_paragraphs() {
        let text =
            "Le plan compte 3 parties. Il vise 2026 ! Voir p. 4 pour le détail.\n\nTitre\n\nFin.";
        assert_eq!(
            sentences(text),
            [
                "Le plan compte 3 parties.",
                "Il vise 2026 !",
                "Voir p. 4 pour le détail.",
                "Titre",
                "Fin."
            ]
        );
    }

    #[test]
    fn chunks_cover_the_text_overlap_and_respect_characters() {
        let text = "été ".repeat(1000);
        let pieces = chunks(&text, 500, 100);
        assert!(pieces.len() > 8, "{}", pieces.len());
        assert!(pieces.iter().all(|p| p.len() <= 500));
        // every word of the text is in some chunk, and neighbours share text
        let covered: usize = pieces.iter().map(|p| p.len()).sum();
        assert!(covered > text.trim().len());
        for pair in pieces.windows(2) {
            let tail = &pair[0][pair[0].len() - 20..];
            assert!(pair[1].contains(tail.trim()), "no overlap between {pair:?}");
        }
    }
}
