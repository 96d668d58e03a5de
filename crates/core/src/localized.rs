//! Windows' socket error texts in other languages, as `FormatMessage` prints them.
//!
//! People paste these with no number in them (Java NIO, .NET, Go and Python print the OS text
//! as it is), so `explain` recognises the text itself. The texts are data:
//! `data/localized.tsv`, each with where it was seen verbatim. Matching compares letters and
//! digits only ([`compact`]), which makes it blind to case, white space (a CRLF inside a text
//! too), punctuation of any width, apostrophes and a missing final period; older builds' words
//! are folded to today's ([`Fold`]).

use std::sync::LazyLock;

const DATA: &str = include_str!("../data/localized.tsv");

/// A language the table has texts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Language {
    /// BCP 47 tag: `zh-CN`, `pt-BR`.
    pub tag: &'static str,
    /// Its name in English.
    pub name: &'static str,
}

/// One OS text in one language.
#[derive(Debug)]
pub struct LocalizedText {
    /// The Winsock code (10054) or Win32 code (64, 121) it is the text of.
    pub code: u32,
    pub language: Language,
    /// The text as printed, hard line breaks included.
    pub text: String,
    /// Where it was found verbatim.
    pub source: &'static str,
}

/// An older build's word: matching replaces `from` with `to` before comparing.
#[derive(Debug)]
pub struct Fold {
    pub language: &'static str,
    pub from: &'static str,
    pub to: &'static str,
    pub source: &'static str,
}

/// The parsed table; `problems` lists rows that did not parse (a test keeps it empty).
#[derive(Debug, Default)]
pub struct Table {
    pub languages: Vec<Language>,
    pub texts: Vec<LocalizedText>,
    pub folds: Vec<Fold>,
    pub problems: Vec<String>,
}

static TABLE: LazyLock<Table> = LazyLock::new(|| parse(DATA));

/// The built-in table.
pub fn table() -> &'static Table {
    &TABLE
}

/// Parses the TSV format described at the top of `data/localized.tsv`.
pub fn parse(data: &'static str) -> Table {
    let mut t = Table::default();
    for (n, cols) in crate::tsv::rows(data) {
        let bad = |why: &str| format!("localized.tsv:{n}: {why}");
        match cols.as_slice() {
            ["lang", tag, name] => t.languages.push(Language { tag, name }),
            ["text", code, tag, text, source] => {
                let Some(language) = t.languages.iter().find(|l| l.tag == *tag).copied() else {
                    t.problems.push(bad(&format!("unknown language {tag}")));
                    continue;
                };
                let Ok(code) = code.parse() else {
                    t.problems.push(bad(&format!("bad code {code}")));
                    continue;
                };
                if text.trim().is_empty() || source.trim().is_empty() {
                    t.problems.push(bad("empty text or source"));
                    continue;
                }
                t.texts.push(LocalizedText {
                    code,
                    language,
                    text: text.replace("\\r\\n", "\r\n"),
                    source,
                });
            }
            ["fold", language, from, to, source] => t.folds.push(Fold {
                language,
                from,
                to,
                source,
            }),
            _ => t.problems.push(bad("unknown row")),
        }
    }
    t
}

/// Letters and digits only, lower-cased, full-width forms folded to ASCII, older builds' words
/// folded to today's: the form both the query and the texts are compared in.
pub fn compact(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        // Full-width ASCII (U+FF01–U+FF5E) is ASCII shifted by 0xFEE0.
        let ch = match ch as u32 {
            0xFF01..=0xFF5E => char::from_u32(ch as u32 - 0xFEE0).unwrap_or(ch),
            _ => ch,
        };
        if ch.is_alphanumeric() {
            out.extend(ch.to_lowercase());
        }
    }
    fold(out)
}

fn fold(mut s: String) -> String {
    for f in &table().folds {
        if s.contains(f.from) {
            s = s.replace(f.from, f.to);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_parses() {
        let t = table();
        assert!(t.problems.is_empty(), "{:#?}", t.problems);
        assert_eq!(t.languages.len(), 10);
        for l in &t.languages {
            assert!(
                t.texts.iter().any(|x| x.language == *l),
                "no text in {}",
                l.tag
            );
        }
    }

    #[test]
    fn compact_ignores_case_space_punctuation_and_width() {
        assert_eq!(
            compact("Eine  bestehende\r\nVerbindung."),
            "einebestehendeverbindung"
        );
        assert_eq!(compact("l’hôte"), compact("l'hôte"));
        assert_eq!(
            compact("由于目标计算机积极拒绝，无法连接。"),
            compact("由于目标计算机积极拒绝,无法连接")
        );
        assert_eq!(compact("ＡＢＣ１"), "abc1");
    }

    #[test]
    fn older_builds_fold_to_todays_words() {
        assert_eq!(
            compact("您的主机中的软件放弃了一个已建立的连接。"),
            compact("你的主机中的软件中止了一个已建立的连接。")
        );
        assert_eq!(compact("目标机器"), compact("目标计算机"));
        assert_eq!(
            compact("ホスト コンピュータの"),
            compact("ホスト コンピューターの")
        );
    }
}
