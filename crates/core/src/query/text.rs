//! The query as lines, in the two forms the matchers compare: normalized text (lower case,
//! white space collapsed, full-width punctuation and both apostrophes folded) and compact text
//! (letters and digits only, for the localized Windows texts). Each form is one string with the
//! lines joined, so that a message broken over lines (a CRLF inside a Windows text, a JDBC
//! message over three lines) still matches, and an offset table maps a match back to its line.

use crate::localized;

pub(super) struct Input<'a> {
    /// The raw lines, without their terminators.
    pub lines: Vec<&'a str>,
    /// Normalized lines joined by one space.
    pub norm: String,
    norm_starts: Vec<usize>,
    /// Compact lines, joined with nothing between them.
    pub compact: String,
    compact_starts: Vec<usize>,
}

impl<'a> Input<'a> {
    pub fn new(raw: &'a str) -> Input<'a> {
        let mut lines: Vec<&str> = raw
            .split('\n')
            .map(|l| l.strip_suffix('\r').unwrap_or(l))
            .collect();
        // A final line break ends the last line; it does not start another.
        if lines.len() > 1 && lines.last() == Some(&"") {
            lines.pop();
        }
        let mut norm = String::with_capacity(raw.len());
        let mut norm_starts = Vec::with_capacity(lines.len());
        let mut compact = String::with_capacity(raw.len());
        let mut compact_starts = Vec::with_capacity(lines.len());
        for line in &lines {
            if !norm.is_empty() && !norm.ends_with(' ') {
                norm.push(' ');
            }
            norm_starts.push(norm.len());
            normalize_into(&mut norm, line);
            compact_starts.push(compact.len());
            compact.push_str(&localized::compact(line));
        }
        Input {
            lines,
            norm,
            norm_starts,
            compact,
            compact_starts,
        }
    }

    /// The line a byte offset of `norm` falls in.
    pub fn norm_line_of(&self, offset: usize) -> usize {
        line_of(&self.norm_starts, offset)
    }

    /// The line a byte offset of `compact` falls in.
    pub fn compact_line_of(&self, offset: usize) -> usize {
        line_of(&self.compact_starts, offset)
    }

    /// Line `i` in normalized form.
    pub fn norm_line(&self, i: usize) -> &str {
        let start = self.norm_starts[i];
        let end = self
            .norm_starts
            .get(i + 1)
            .copied()
            .unwrap_or(self.norm.len());
        self.norm[start..end].trim_end()
    }

    /// Lines with something on them.
    pub fn nonempty_lines(&self) -> usize {
        self.lines.iter().filter(|l| !l.trim().is_empty()).count()
    }
}

/// The last line starting at or before `offset`. Empty lines share their start with the next
/// line, so the last one is the line that holds the text.
fn line_of(starts: &[usize], offset: usize) -> usize {
    starts.partition_point(|s| *s <= offset).saturating_sub(1)
}

/// Appends `s` lower-cased, with full-width ASCII and CJK punctuation folded to ASCII, both
/// apostrophes to `'`, and every run of white space to one space.
pub(super) fn normalize_into(out: &mut String, s: &str) {
    let mut space = out.is_empty() || out.ends_with(' ');
    for ch in s.chars() {
        let ch = match ch as u32 {
            0xFF01..=0xFF5E => char::from_u32(ch as u32 - 0xFEE0).unwrap_or(ch),
            _ => match ch {
                '\u{3000}' => ' ',
                '\u{3002}' => '.',
                '\u{3001}' => ',',
                '\u{2018}' | '\u{2019}' => '\'',
                c => c,
            },
        };
        if ch.is_whitespace() {
            if !space {
                out.push(' ');
                space = true;
            }
        } else {
            out.extend(ch.to_lowercase());
            space = false;
        }
    }
}

/// A word of a line: split at white space and at the punctuation that wraps codes in
/// messages; `-`, `.`, `:` and `_` stay inside words so that addresses and identifiers stay
/// whole, and `:.!?` are trimmed from the ends.
pub(super) struct Word<'a> {
    pub text: &'a str,
    /// Byte range in the line.
    pub start: usize,
    pub end: usize,
}

pub(super) fn words(line: &str) -> Vec<Word<'_>> {
    let mut out = Vec::new();
    let mut start = None;
    let is_sep = |c: char| c.is_whitespace() || "()[]{},;\"'=<>|`".contains(c);
    let mut push = |s: usize, e: usize| {
        let raw = &line[s..e];
        let trimmed_start = raw.trim_start_matches(|c: char| ":.!?".contains(c));
        let s2 = s + (raw.len() - trimmed_start.len());
        let text = trimmed_start.trim_end_matches(|c: char| ":.!?".contains(c));
        if !text.is_empty() {
            out.push(Word {
                text,
                start: s2,
                end: s2 + text.len(),
            });
        }
    };
    for (i, c) in line.char_indices() {
        if is_sep(c) {
            if let Some(s) = start.take() {
                push(s, i);
            }
        } else if start.is_none() {
            start = Some(i);
        }
    }
    if let Some(s) = start {
        push(s, line.len());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_keep_their_numbers_in_both_forms() {
        let i = Input::new(
            "first line\r\n\r\nEine bestehende Verbindung wurde softwaregesteuert\r\ndurch den Hostcomputer",
        );
        assert_eq!(i.lines.len(), 4);
        assert_eq!(i.norm_line(0), "first line");
        assert_eq!(
            i.norm_line(2),
            "eine bestehende verbindung wurde softwaregesteuert"
        );
        assert!(i.norm.contains("softwaregesteuert durch"));
        let at = i.norm.find("durch").unwrap();
        assert_eq!(i.norm_line_of(at), 3);
        let at = i.norm.find("eine").unwrap();
        assert_eq!(i.norm_line_of(at), 2);
        let at = i.compact.find("softwaregesteuertdurch").unwrap();
        assert_eq!(i.compact_line_of(at), 2);
    }

    #[test]
    fn normalization_folds_width_and_apostrophes() {
        let mut s = String::new();
        normalize_into(&mut s, "ＡＢ　ｃ’d。  E");
        assert_eq!(s, "ab c'd. e");
    }

    #[test]
    fn words_trim_their_punctuation() {
        let w: Vec<&str> = words("recv() failed (104: Connection reset) [WinError 10054] x=1")
            .iter()
            .map(|w| w.text)
            .collect();
        assert_eq!(
            w,
            [
                "recv",
                "failed",
                "104",
                "Connection",
                "reset",
                "WinError",
                "10054",
                "x",
                "1"
            ]
        );
        let line = "failed (104: x";
        let w = words(line);
        assert_eq!(&line[w[1].start - 1..w[1].end + 1], "(104:");
    }
}
