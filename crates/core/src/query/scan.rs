//! Reading the evidence out of a query: names, phrasings, library messages, localized Windows
//! texts and numbers, each with the line it stands on. Every scan is linear in the query's
//! length (automata and hash lookups), so a whole log reads as fast as one line.

use super::Target;
use super::index::{LOCALIZED, NAMES, Owner, PHRASES, WORDS};
use super::text::{Input, Word, words};
use crate::catalog::{ENTRIES, Entry};
use crate::errno::{self, Numbering, Os};
use crate::localized::LocalizedText;
use crate::messages::{self, Message, Pattern};
use std::collections::{BTreeSet, HashMap, HashSet};

/// What a piece of evidence was read from.
#[derive(Debug, Clone, Copy)]
pub(super) enum Source {
    Name,
    Phrase,
    /// A number; `token` tells the readings of one number apart, `bare` when nothing said
    /// it is an error number.
    Number {
        token: usize,
        bare: bool,
    },
    Localized(&'static LocalizedText),
    Message {
        message: &'static Message,
        reading: usize,
    },
}

#[derive(Debug, Clone)]
pub(super) struct Evidence {
    pub target: Target,
    pub score: f32,
    pub what: String,
    pub os: Option<Os>,
    pub line: usize,
    pub source: Source,
}

impl Evidence {
    pub fn token(&self) -> Option<usize> {
        match self.source {
            Source::Number { token, .. } => Some(token),
            _ => None,
        }
    }
}

/// Every piece of evidence in the query. `whole` is the trimmed query, for "the query is
/// just this name or number".
pub(super) fn scan(input: &Input, whole: &str) -> Vec<Evidence> {
    let mut ev = Vec::new();
    let short = input.nonempty_lines() <= 1 && whole.len() <= 200;
    let mut token = 0;
    for (i, line) in input.lines.iter().enumerate() {
        let ws = words(line);
        if ws.is_empty() {
            continue;
        }
        let norm = input.norm_line(i);
        names(&ws, norm, whole, i, &mut ev);
        numbers(&ws, line, whole, short, i, &mut token, &mut ev);
        message_words(&ws, norm, whole, i, &mut ev);
    }
    phrases(input, &mut ev);
    localized(input, &mut ev);
    ev
}

/// Identifiers as whole words; dotted or colon-joined ones (`SocketError.TimedOut`,
/// `java.io.EOFException`) are also tried part by part.
fn names(ws: &[Word], norm: &str, whole: &str, line: usize, ev: &mut Vec<Evidence>) {
    let mut seen: HashSet<(&str, &str)> = HashSet::new();
    for w in ws {
        let parts = std::iter::once(w.text).chain(w.text.split(['.', ':', '/']));
        for cand in parts.filter(|p| !p.is_empty() && p.len() <= 64) {
            let Some(hits) = NAMES.get(&cand.to_ascii_uppercase()) else {
                continue;
            };
            for h in hits {
                if (h.exact_case && cand != h.name)
                    || seen.contains(&(h.entry.id, h.name))
                    || !(whole.eq_ignore_ascii_case(h.name)
                        || h.context.is_empty()
                        || h.context.iter().any(|c| norm.contains(c)))
                {
                    continue;
                }
                seen.insert((h.entry.id, h.name));
                let exact = whole.eq_ignore_ascii_case(h.name);
                ev.push(Evidence {
                    target: Target::Entry(h.entry),
                    score: if exact { 100.0 } else { 95.0 },
                    what: format!("{} {}", h.what, h.name),
                    os: h.os,
                    line,
                    source: Source::Name,
                });
            }
        }
    }
}

/// Catalog phrasings and the text patterns of library messages, in one pass of one automaton
/// over the whole normalized query.
fn phrases(input: &Input, ev: &mut Vec<Evidence>) {
    let Some(ac) = &PHRASES.automaton else {
        return;
    };
    // Best phrase per (entry, line): overlapping phrasings of one message are one piece of
    // evidence. Message parts: the lines each part was seen on.
    let mut best: HashMap<(&'static str, usize), (u8, &'static str, &'static Entry)> =
        HashMap::new();
    let mut parts: HashMap<(usize, usize, usize), Vec<usize>> = HashMap::new();
    for m in ac.find_overlapping_iter(input.norm.as_str()) {
        let line = input.norm_line_of(m.start());
        let text = &input.norm[m.start()..m.end()];
        for owner in &PHRASES.owners[m.pattern().as_usize()] {
            match owner {
                Owner::Entry { entry, weight } => {
                    let slot = best.entry((entry.id, line)).or_insert((0, "", entry));
                    if *weight > slot.0 {
                        *slot = (*weight, phrase_text(entry, text), entry);
                    }
                }
                Owner::Message {
                    message,
                    pattern,
                    part,
                } => {
                    let lines = parts.entry((*message, *pattern, *part)).or_default();
                    if lines.last() != Some(&line) {
                        lines.push(line);
                    }
                }
            }
        }
    }
    let mut found: Vec<_> = best.into_iter().collect();
    found.sort_by_key(|((id, line), _)| (*line, *id));
    for ((_, line), (weight, text, entry)) in found {
        ev.push(Evidence {
            target: Target::Entry(entry),
            score: f32::from(weight),
            what: format!("phrase \"{text}\""),
            os: None,
            line,
            source: Source::Phrase,
        });
    }
    // A message matches on line L when every part of one of its patterns is within three lines.
    for (mi, m) in messages::table().messages.iter().enumerate() {
        let mut lines_matched: BTreeSet<usize> = BTreeSet::new();
        for (pi, p) in m.patterns.iter().enumerate() {
            let Pattern::All(ps) = p else { continue };
            let Some(first) = parts.get(&(mi, pi, 0)) else {
                continue;
            };
            for &l in first {
                // The automaton reports matches left to right, so each part's lines are sorted.
                let all = (1..ps.len()).all(|k| {
                    parts.get(&(mi, pi, k)).is_some_and(|ls| {
                        let i = ls.partition_point(|&x| x + 2 < l);
                        ls.get(i).is_some_and(|&x| x <= l + 2)
                    })
                });
                if all {
                    lines_matched.insert(l);
                }
            }
        }
        for l in lines_matched {
            push_message(m, l, ev);
        }
    }
}

/// The phrase as the catalog spells it (the automaton matched exactly that text).
fn phrase_text(entry: &'static Entry, matched: &str) -> &'static str {
    entry
        .phrases
        .iter()
        .find(|p| p.text == matched)
        .map_or("", |p| p.text)
}

fn push_message(m: &'static Message, line: usize, ev: &mut Vec<Evidence>) {
    for (i, r) in m.readings.iter().enumerate() {
        ev.push(Evidence {
            target: Target::Entry(r.entry),
            score: f32::from(m.weight) - 6.0 * i as f32,
            what: format!("{}: \"{}\"", m.library, m.label()),
            os: None,
            line,
            source: Source::Message {
                message: m,
                reading: i,
            },
        });
    }
}

/// HAProxy writes its termination state as four characters: the two that say how the session
/// ended, then two about the persistence cookie (doc/configuration.txt 8.5).
fn haproxy_state(w: &str) -> Option<&str> {
    const COOKIE: &str = "-NIDVEOPRU";
    let b = w.as_bytes();
    (b.len() == 4 && w.is_ascii() && COOKIE.contains(b[2] as char) && COOKIE.contains(b[3] as char))
        .then(|| &w[..2])
}

/// Whole-word message patterns (HAProxy's `SD`, Envoy's `UC`): alone, on a line with one of
/// the message's context words, or in HAProxy's four-character form.
fn message_words(ws: &[Word], norm: &str, whole: &str, line: usize, ev: &mut Vec<Evidence>) {
    let table = &messages::table().messages;
    let mut done: HashSet<usize> = HashSet::new();
    for w in ws {
        let (word, four) = match haproxy_state(w.text) {
            Some(two) if WORDS.contains_key(two) => (two, true),
            _ => (w.text, false),
        };
        let Some(ids) = WORDS.get(word) else { continue };
        for &i in ids {
            let m = &table[i];
            let in_context = whole == w.text
                || (four && m.context.contains(&"haproxy"))
                || m.context.iter().any(|c| norm.contains(c));
            if in_context && done.insert(i) {
                push_message(m, line, ev);
            }
        }
    }
}

/// Windows' texts in other languages, compared letters and digits only.
fn localized(input: &Input, ev: &mut Vec<Evidence>) {
    let Some(ac) = &LOCALIZED.automaton else {
        return;
    };
    let mut seen: HashSet<(usize, usize)> = HashSet::new();
    for m in ac.find_overlapping_iter(input.compact.as_str()) {
        let line = input.compact_line_of(m.start());
        let pat = m.pattern().as_usize();
        if !seen.insert((pat, line)) {
            continue;
        }
        for t in &LOCALIZED.texts[pat] {
            let Some(entry) = Entry::by_winsock(t.code).or_else(|| Entry::by_win32(t.code)) else {
                continue;
            };
            let kind = if entry.windows.is_some_and(|w| w.code == t.code) {
                "Winsock"
            } else {
                "Win32"
            };
            ev.push(Evidence {
                target: Target::Entry(entry),
                score: 97.0,
                what: format!(
                    "Windows text in {} ({}), {kind} {}",
                    t.language.name, t.language.tag, t.code
                ),
                os: Some(Os::Windows),
                line,
                source: Source::Localized(t),
            });
        }
    }
}

/// How a number was introduced in the text.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Tag {
    /// The whole query is the number.
    Alone,
    /// Preceded by `errno`, `error`, `code`, `WinError`, or written `(104: ...)` as nginx does.
    Errno,
    /// Nothing says what it is.
    Bare,
}

fn numbers(
    ws: &[Word],
    line_text: &str,
    whole: &str,
    short: bool,
    line: usize,
    token: &mut usize,
    ev: &mut Vec<Evidence>,
) {
    for (i, w) in ws.iter().enumerate() {
        let prev = i
            .checked_sub(1)
            .map(|j| ws[j].text.to_ascii_lowercase())
            .unwrap_or_default();
        let prev = prev.trim_end_matches(':');
        // curl prints its own exit code as "curl: (56)"; HTTP statuses, ports, line numbers
        // of stack traces and Kafka's node ids are not errnos.
        if ["curl", "port", "http", "line", "node"].contains(&prev) {
            continue;
        }
        let Some(n) = parse_int(w.text) else { continue };
        let nginx = line_text[..w.start].ends_with('(') && line_text[w.end..].starts_with(':');
        let tag = if whole == w.text || whole.trim_matches(['(', ')']) == w.text {
            Tag::Alone
        } else if [
            "errno", "error", "code", "winerror", "err", "status", "errnum",
        ]
        .contains(&prev)
            || nginx
        {
            Tag::Errno
        } else {
            Tag::Bare
        };
        // A number nothing introduces means something only in a short message.
        if tag == Tag::Bare && !short {
            continue;
        }
        *token += 1;
        readings(n, w.text, tag, line, *token, ev);
    }
}

pub(super) fn parse_int(w: &str) -> Option<i64> {
    let w = w.trim_end_matches(':');
    if let Some(hex) = w.strip_prefix("0x").or_else(|| w.strip_prefix("0X")) {
        if hex.is_empty() || hex.len() > 16 {
            return None;
        }
        return i64::from_str_radix(hex, 16).ok();
    }
    if w.len() > 12 || w.is_empty() {
        return None;
    }
    let digits = w.strip_prefix('-').unwrap_or(w);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    w.parse().ok()
}

fn readings(n: i64, raw: &str, tag: Tag, line: usize, token: usize, ev: &mut Vec<Evidence>) {
    let bare = tag == Tag::Bare;
    let mut push = |target: Target, score: f32, what: String, os: Option<Os>| {
        ev.push(Evidence {
            target,
            score,
            what,
            os,
            line,
            source: Source::Number { token, bare },
        })
    };
    let is_hex = raw.starts_with("0x") || raw.starts_with("0X");
    // A 32-bit HRESULT, in hex or as the negative decimal .NET prints.
    let as_u32 = if n < 0 {
        u32::try_from(n + (1i64 << 32)).ok()
    } else {
        u32::try_from(n).ok()
    };
    if let Some(code) = as_u32
        .filter(|_| is_hex || n < -0x7000_0000)
        .and_then(errno::win32_from_hresult)
    {
        for e in windows_code(code) {
            push(
                Target::Entry(e),
                96.0,
                format!("HRESULT 0x{:08X} (code {code})", as_u32.unwrap_or(0)),
                Some(Os::Windows),
            );
        }
        return;
    }
    if is_hex {
        return;
    }
    if (10000..12000).contains(&n) {
        match u32::try_from(n).ok().and_then(Entry::by_winsock) {
            Some(e) => push(
                Target::Entry(e),
                96.0,
                format!("Winsock code {n}"),
                Some(Os::Windows),
            ),
            None => {
                if let Some(name) = errno::name_in(Numbering::Winsock, n) {
                    push(
                        Target::Foreign {
                            numbering: Numbering::Winsock,
                            number: n,
                            name,
                        },
                        70.0,
                        format!("Winsock code {n}"),
                        Some(Os::Windows),
                    );
                }
            }
        }
        return;
    }
    if n <= -4000 {
        if let Some(e) = ENTRIES.iter().find(|e| e.libuv_windows() == Some(n)) {
            push(
                Target::Entry(e),
                95.0,
                format!("libuv code {n} (Windows)"),
                Some(Os::Windows),
            );
        } else if n == -4095
            && let Some(e) = Entry::by_id("peer-eof")
        {
            push(
                Target::Entry(e),
                95.0,
                "libuv UV_EOF -4095 (Windows)".into(),
                Some(Os::Windows),
            );
        }
        return;
    }
    // Win32 codes that only overlapped I/O reports; above the errno ranges they are unambiguous.
    for e in ENTRIES {
        if let Some(w) = e.win32.iter().find(|w| i64::from(w.code) == n) {
            let score = if n > 200 { 90.0 } else { 55.0 };
            push(
                Target::Entry(e),
                score,
                format!("Win32 error {n} {}", w.name),
                Some(Os::Windows),
            );
        }
    }
    // Node/libuv on Unix prints the negated errno.
    let (n, negated) = if n < 0 { (-n, true) } else { (n, false) };
    let base: f32 = match tag {
        Tag::Alone | Tag::Errno => 90.0,
        Tag::Bare => 60.0,
    };
    let mut numberings = vec![(Numbering::LinuxErrno, 1.0), (Numbering::BsdErrno, 0.97)];
    if !negated {
        numberings.push((Numbering::MsvcErrno, 0.7));
    }
    for (numbering, prior) in numberings {
        let Some(name) = errno::name_in(numbering, n) else {
            continue;
        };
        let label = if negated {
            format!("libuv code -{n} ({})", numbering.label())
        } else {
            format!("{} {n}", numbering.label())
        };
        match Entry::by_posix_name(name) {
            Some(e) => {
                let weight = 0.55 + f32::from(e.commonness) / 220.0;
                push(
                    Target::Entry(e),
                    base * prior * weight,
                    label,
                    numbering.os(),
                );
            }
            None => {
                // Another system's meaning: listed only when the number was meant as an errno.
                if tag != Tag::Bare {
                    push(
                        Target::Foreign {
                            numbering,
                            number: n,
                            name,
                        },
                        50.0 * prior,
                        label,
                        numbering.os(),
                    );
                }
            }
        }
    }
}

fn windows_code(code: u32) -> impl Iterator<Item = &'static Entry> {
    ENTRIES.iter().filter(move |e| {
        e.windows.is_some_and(|w| w.code == code) || e.win32.iter().any(|w| w.code == code)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers() {
        assert_eq!(parse_int("10053"), Some(10053));
        assert_eq!(parse_int("-4077"), Some(-4077));
        assert_eq!(parse_int("104:"), Some(104));
        assert_eq!(parse_int("0x80072746"), Some(0x8007_2746));
        assert_eq!(parse_int("10.0.0.1:443"), None);
        assert_eq!(parse_int("-"), None);
        assert_eq!(parse_int("0x"), None);
        assert_eq!(parse_int("99999999999999999999"), None);
    }

    #[test]
    fn haproxy_states_in_their_four_character_form() {
        assert_eq!(haproxy_state("SD--"), Some("SD"));
        assert_eq!(haproxy_state("cD-N"), Some("cD"));
        assert_eq!(haproxy_state("SDXY"), None);
        assert_eq!(haproxy_state("SD"), None);
    }
}
