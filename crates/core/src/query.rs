//! Finding the error inside whatever a person pasted.
//!
//! The query is scanned for three kinds of evidence: identifiers (`ECONNRESET`,
//! `WSAECONNABORTED`, `ConnectionResetError`, `ERROR_NETNAME_DELETED`), known phrasings
//! (`connection reset by peer`), and numbers, each read in every numbering it can belong to
//! (Linux, macOS, MSVC, Winsock, Win32, libuv, HRESULT). Every piece of evidence votes for a
//! catalog entry, or for a "foreign" reading (54 is EXFULL on Linux) that the catalog does not
//! cover. Pure functions: no I/O.

use crate::catalog::{ENTRIES, Entry};
use crate::errno::{self, Numbering, Os};

/// What a match points at.
#[derive(Debug, Clone, Copy)]
pub enum Target {
    Entry(&'static Entry),
    /// A number's meaning on a system where it is not a connection error.
    Foreign {
        numbering: Numbering,
        number: i64,
        name: &'static str,
    },
}

/// One reading of the query, with why we think so.
#[derive(Debug, Clone)]
pub struct Match {
    pub target: Target,
    /// 0–100; higher is more likely.
    pub score: u8,
    /// What in the query pointed here, e.g. `Winsock code 10053`.
    pub matched: Vec<String>,
    /// The system the query seems to come from, when a reading says so.
    pub os: Option<Os>,
}

/// The answer to a query: matches, most likely first. Empty when nothing was recognised;
/// then `suggestions` lists the closest known names.
#[derive(Debug, Clone)]
pub struct Explanation {
    pub query: String,
    pub matches: Vec<Match>,
    pub suggestions: Vec<&'static str>,
}

#[derive(Debug, Clone)]
struct Evidence {
    target: Target,
    score: f32,
    what: String,
    os: Option<Os>,
    /// Index of the number token, for readings of one number.
    token: Option<usize>,
}

/// Explains a query. `os` is the user's `--os`, which favours that system's readings.
pub fn explain(query: &str, os: Option<Os>) -> Explanation {
    let text = normalize(query);
    let words = words(query);
    let hint = os.or_else(|| infer_os(&text));
    let mut ev = Vec::new();
    names(query, &words, &mut ev);
    phrases(&text, &mut ev);
    numbers(&words, query.trim(), &mut ev);
    let matches = rank(ev, os, hint);
    let suggestions = if matches.is_empty() {
        suggest(&words)
    } else {
        Vec::new()
    };
    Explanation {
        query: query.to_string(),
        matches,
        suggestions,
    }
}

fn normalize(s: &str) -> String {
    s.to_lowercase()
        .replace(['\u{2019}', '\u{2018}'], "'")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Splits on white space and on the punctuation that wraps codes in messages; keeps `-`, `.`,
/// `:` and `_` inside words so that addresses and identifiers stay whole.
fn words(s: &str) -> Vec<String> {
    s.split(|c: char| c.is_whitespace() || "()[]{},;\"'=<>|`".contains(c))
        .map(|w| w.trim_matches(|c: char| ":.!?".contains(c)))
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

fn infer_os(text: &str) -> Option<Os> {
    const WINDOWS: &[&str] = &[
        "winerror",
        "wsa",
        "connectex",
        "forcibly closed",
        "your host machine",
        "actively refused",
        "system.net",
        "c:\\",
        ".exe",
    ];
    const MACOS: &[&str] = &["darwin", "macos", "mac os", "osx", "kern_return"];
    if WINDOWS.iter().any(|w| text.contains(w)) {
        Some(Os::Windows)
    } else if MACOS.iter().any(|w| text.contains(w)) {
        Some(Os::Macos)
    } else if text.contains("linux") || text.contains("transport endpoint") {
        Some(Os::Linux)
    } else {
        None
    }
}

/// Identifiers matched as whole words, case-insensitively; dotted names (`SocketError.TimedOut`,
/// `java.io.EOFException`) are also tried segment by segment.
fn names(query: &str, words: &[String], ev: &mut Vec<Evidence>) {
    let whole = query.trim();
    let mut push = |entry: &'static Entry, name: &str, what: &str, os: Option<Os>| {
        let exact = whole.eq_ignore_ascii_case(name);
        ev.push(Evidence {
            target: Target::Entry(entry),
            score: if exact { 100.0 } else { 95.0 },
            what: format!("{what} {name}"),
            os,
            token: None,
        });
    };
    let candidates: Vec<&str> = words
        .iter()
        .flat_map(|w| std::iter::once(w.as_str()).chain(w.split(['.', ':', '/'])))
        .filter(|w| !w.is_empty())
        .collect();
    let has = |name: &str| candidates.iter().any(|w| w.eq_ignore_ascii_case(name));
    for e in ENTRIES {
        // Ids that are just the errno name in lower case would count the same word twice.
        let own_id = e
            .linux
            .is_none_or(|p| !p.name.eq_ignore_ascii_case(e.id))
            .then_some(e.id);
        for (id, what, os) in [
            (own_id, "catalog id", None),
            (e.linux.map(|p| p.name), "errno name", None),
            (e.windows.map(|w| w.name), "Winsock name", Some(Os::Windows)),
            (e.rust, "Rust io::ErrorKind", None),
            (e.python, "Python exception", None),
        ] {
            if let Some(name) = id.filter(|n| has(n)) {
                push(e, name, what, os);
            }
        }
        for w in e.win32.iter().filter(|w| has(w.name)) {
            push(e, w.name, "Win32 error", Some(Os::Windows));
        }
        for d in e.dotnet.iter().filter(|d| has(d)) {
            push(e, d, ".NET SocketError", Some(Os::Windows));
        }
        for t in e.tokens.iter().filter(|t| has(t)) {
            push(e, t, "identifier", None);
        }
    }
}

fn phrases(text: &str, ev: &mut Vec<Evidence>) {
    for e in ENTRIES {
        // Only the strongest phrase of an entry counts: overlapping phrasings of one message
        // are one piece of evidence.
        if let Some(best) = e
            .phrases
            .iter()
            .filter(|p| text.contains(p.text))
            .max_by_key(|p| p.weight)
        {
            ev.push(Evidence {
                target: Target::Entry(e),
                score: f32::from(best.weight),
                what: format!("phrase \"{}\"", best.text),
                os: None,
                token: None,
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

fn numbers(words: &[String], whole: &str, ev: &mut Vec<Evidence>) {
    for (i, w) in words.iter().enumerate() {
        let prev = i
            .checked_sub(1)
            .map(|j| words[j].to_ascii_lowercase())
            .unwrap_or_default();
        // curl prints its own exit code as "curl: (56)"; HTTP statuses and ports are not errnos.
        if prev == "curl" || prev == "port" || prev == "http" {
            continue;
        }
        let Some(n) = parse_int(w) else { continue };
        let tag = if whole == w.as_str() || whole.trim_matches(['(', ')']) == w.as_str() {
            Tag::Alone
        } else if [
            "errno", "error", "code", "winerror", "err", "status", "errnum",
        ]
        .contains(&prev.trim_end_matches(':'))
            || nginx_style(whole, w)
        {
            Tag::Errno
        } else {
            Tag::Bare
        };
        readings(n, w, tag, i, ev);
    }
}

/// nginx writes `recv() failed (104: Connection reset by peer)`.
fn nginx_style(whole: &str, w: &str) -> bool {
    whole.contains(&format!("({w}:"))
}

fn parse_int(w: &str) -> Option<i64> {
    let w = w.trim_end_matches(':');
    if let Some(hex) = w.strip_prefix("0x").or_else(|| w.strip_prefix("0X")) {
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

fn readings(n: i64, raw: &str, tag: Tag, token: usize, ev: &mut Vec<Evidence>) {
    let mut push = |target: Target, score: f32, what: String, os: Option<Os>| {
        ev.push(Evidence {
            target,
            score,
            what,
            os,
            token: Some(token),
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
        match ENTRIES
            .iter()
            .find(|e| e.windows.is_some_and(|w| i64::from(w.code) == n))
        {
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
        numberings.push((Numbering::MsvcErrno, 0.75));
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

fn same_target(a: &Target, b: &Target) -> bool {
    match (a, b) {
        (Target::Entry(x), Target::Entry(y)) => x.id == y.id,
        (
            Target::Foreign {
                numbering: n1,
                number: a,
                ..
            },
            Target::Foreign {
                numbering: n2,
                number: b,
                ..
            },
        ) => n1 == n2 && a == b,
        _ => false,
    }
}

fn rank(mut ev: Vec<Evidence>, os: Option<Os>, hint: Option<Os>) -> Vec<Match> {
    // A number whose reading agrees with a name or phrase is no longer ambiguous: drop its other
    // readings ("[Errno 104] Connection reset by peer" is not macOS's ENOTRECOVERABLE).
    let text_targets: Vec<Target> = ev
        .iter()
        .filter(|e| e.token.is_none())
        .map(|e| e.target)
        .collect();
    let agrees = |e: &Evidence| text_targets.iter().any(|t| same_target(t, &e.target));
    let confirmed: Vec<usize> = ev
        .iter()
        .filter(|e| agrees(e))
        .filter_map(|e| e.token)
        .collect();
    ev.retain(|e| match e.token {
        Some(t) if confirmed.contains(&t) => agrees(e),
        _ => true,
    });
    // Bare numbers in a message that names its error already add nothing but noise.
    let has_text_evidence = ev.iter().any(|e| e.token.is_none() && e.score >= 80.0);
    if has_text_evidence {
        ev.retain(|e| e.token.is_none() || e.score >= 54.0 || is_entry(&e.target));
    }
    for e in &mut ev {
        if let Some(eos) = e.os.filter(|_| e.token.is_some()) {
            if os == Some(eos) {
                e.score *= 1.15;
            } else if os.is_some() {
                e.score *= 0.6;
            } else if hint == Some(eos) {
                e.score *= 1.05;
            }
        }
    }
    let mut out: Vec<Match> = Vec::new();
    for e in ev {
        match out.iter_mut().find(|m| same_target(&m.target, &e.target)) {
            Some(m) => {
                let s = f32::from(m.score).max(e.score) + 2.0;
                m.score = s.min(100.0) as u8;
                if !m.matched.contains(&e.what) {
                    m.matched.push(e.what);
                }
                m.os = m.os.or(e.os);
            }
            None => out.push(Match {
                target: e.target,
                score: e.score.clamp(0.0, 100.0) as u8,
                matched: vec![e.what],
                os: e.os,
            }),
        }
    }
    out.sort_by(|a, b| {
        b.score
            .cmp(&a.score)
            .then_with(|| commonness(&b.target).cmp(&commonness(&a.target)))
    });
    out
}

fn is_entry(t: &Target) -> bool {
    matches!(t, Target::Entry(_))
}

fn commonness(t: &Target) -> u8 {
    match t {
        Target::Entry(e) => e.commonness,
        Target::Foreign { .. } => 0,
    }
}

/// The closest known names to the words of an unrecognised query (edit distance).
fn suggest(words: &[String]) -> Vec<&'static str> {
    let mut known: Vec<&'static str> = errno::all_names().collect();
    for e in ENTRIES {
        known.extend(e.dotnet.iter().copied());
        known.extend(e.tokens.iter().copied());
        known.extend(e.rust);
        known.extend(e.python);
    }
    known.sort_unstable();
    known.dedup();
    let mut scored: Vec<(usize, &'static str)> = Vec::new();
    for w in words.iter().filter(|w| w.len() >= 3) {
        let w = w.to_ascii_uppercase();
        for k in &known {
            let d = levenshtein(&w, &k.to_ascii_uppercase());
            let limit = (k.len() / 3).max(1);
            if d <= limit {
                scored.push((d, k));
            }
        }
    }
    scored.sort();
    let mut out = Vec::new();
    for (_, k) in scored {
        if !out.contains(&k) {
            out.push(k);
        }
        if out.len() == 3 {
            break;
        }
    }
    if out.is_empty() {
        out = vec!["ECONNRESET", "WSAECONNABORTED", "EPIPE"];
    }
    out
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance() {
        assert_eq!(levenshtein("ECONNRESTE", "ECONNRESET"), 2);
        assert_eq!(levenshtein("", "ABC"), 3);
        assert_eq!(levenshtein("EPIPE", "EPIPE"), 0);
    }

    #[test]
    fn integers() {
        assert_eq!(parse_int("10053"), Some(10053));
        assert_eq!(parse_int("-4077"), Some(-4077));
        assert_eq!(parse_int("104:"), Some(104));
        assert_eq!(parse_int("0x80072746"), Some(0x8007_2746));
        assert_eq!(parse_int("10.0.0.1:443"), None);
        assert_eq!(parse_int("-"), None);
        assert_eq!(parse_int("99999999999999999999"), None);
    }
}
