//! Finding the error inside whatever a person pasted: one message or a whole log.
//!
//! The query is scanned for five kinds of evidence ([`scan`]): identifiers (`ECONNRESET`,
//! `WSAECONNABORTED`, `ConnectionResetError`, `ERROR_NETNAME_DELETED`), known phrasings
//! (`connection reset by peer`), the messages libraries print (`socket hang up`, each with the
//! TCP events it may reflect), Windows' texts in other languages, and numbers, each read in
//! every numbering it can belong to (Linux, macOS, MSVC, Winsock, Win32, libuv, HRESULT).
//! Every piece of evidence votes for a catalog entry, or for a "foreign" reading (54 is EXFULL
//! on Linux) that the catalog does not cover.
//!
//! A log has noise around its error: the line with the strongest evidence wins, and only the
//! evidence within a few lines of it is ranked. Pure functions: no I/O; every step is linear
//! in the query's length.

mod index;
mod scan;
mod suggest;
mod text;

use crate::catalog::Entry as CatalogEntry;
use crate::errno::{Numbering, Os};
use crate::localized::LocalizedText;
use crate::messages::Message;
use scan::{Evidence, Source};
use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use text::Input;

/// What a match points at.
#[derive(Debug, Clone, Copy)]
pub enum Target {
    Entry(&'static CatalogEntry),
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
    /// The Windows text in another language that matched, when one did.
    pub localized: Option<&'static LocalizedText>,
    /// The library message this reading comes from, and which of its readings it is.
    pub library: Option<(&'static Message, usize)>,
}

/// The answer to a query: matches, most likely first. Empty when nothing was recognised;
/// then `suggestions` lists the closest known names.
#[derive(Debug, Clone)]
pub struct Explanation {
    pub query: String,
    pub matches: Vec<Match>,
    pub suggestions: Vec<&'static str>,
    /// Lines in the query.
    pub lines: usize,
    /// When the query has several lines: the line (1-based) the answer rests on.
    pub line: Option<usize>,
    /// That line, trimmed.
    pub excerpt: Option<String>,
}

/// Lines around the error line whose evidence counts with it (a stack trace's cause, a
/// message broken over lines).
const WINDOW: usize = 3;

/// Explains a query. `os` is the user's `--os`, which favours that system's readings.
pub fn explain(query: &str, os: Option<Os>) -> Explanation {
    let whole = query.trim();
    let input = Input::new(query);
    let hint = os.or_else(|| infer_os(&input.norm));
    let ev = scan::scan(&input, whole);
    let (ev, line) = focus(ev);
    let matches = rank(ev, os, hint);
    let suggestions = if matches.is_empty() && !whole.is_empty() {
        suggest::suggest(
            input
                .lines
                .iter()
                .flat_map(|l| text::words(l))
                .map(|w| w.text),
        )
    } else {
        Vec::new()
    };
    let several = input.nonempty_lines() > 1;
    let line = line.filter(|_| several && !matches.is_empty());
    Explanation {
        query: query.to_string(),
        matches,
        suggestions,
        lines: input.lines.len(),
        line: line.map(|l| l + 1),
        excerpt: line.map(|l| input.lines[l].trim().to_string()),
    }
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

/// Keeps the evidence around the strongest line: in a log, the error line wins over the noise
/// around it. Ties go to the later line, the error a log ends with.
fn focus(ev: Vec<Evidence>) -> (Vec<Evidence>, Option<usize>) {
    let Some(best) = ev
        .iter()
        .max_by(|a, b| a.score.total_cmp(&b.score).then(a.line.cmp(&b.line)))
        .map(|e| e.line)
    else {
        return (ev, None);
    };
    let lo = best.saturating_sub(WINDOW);
    let hi = best + WINDOW;
    let kept = ev
        .into_iter()
        .filter(|e| (lo..=hi).contains(&e.line))
        .collect();
    (kept, Some(best))
}

fn key(t: &Target) -> (u8, &'static str, i64) {
    match t {
        Target::Entry(e) => (0, e.id, 0),
        Target::Foreign {
            numbering, number, ..
        } => (1, numbering.label(), *number),
    }
}

fn rank(mut ev: Vec<Evidence>, os: Option<Os>, hint: Option<Os>) -> Vec<Match> {
    // A library that attaches an error name to another event (Node's "socket hang up" carries
    // code ECONNRESET) has that name and number discounted.
    let masked: Vec<&str> = ev
        .iter()
        .filter_map(|e| match e.source {
            Source::Message { message, .. } => Some(message.masks.iter().copied()),
            _ => None,
        })
        .flatten()
        .collect();
    ev.retain(|e| {
        !(matches!(e.source, Source::Name | Source::Number { .. })
            && matches!(e.target, Target::Entry(t) if masked.contains(&t.id)))
    });
    // One piece of evidence counts once, however often the log repeats it.
    let mut dedup: Vec<Evidence> = Vec::with_capacity(ev.len());
    let mut index: HashMap<((u8, &'static str, i64), String), usize> = HashMap::new();
    for e in ev {
        match index.entry((key(&e.target), e.what.clone())) {
            Entry::Occupied(at) => {
                let d = &mut dedup[*at.get()];
                if e.score > d.score {
                    *d = e;
                }
            }
            Entry::Vacant(slot) => {
                slot.insert(dedup.len());
                dedup.push(e);
            }
        }
    }
    let mut ev = dedup;
    // A number whose reading agrees with a name or phrase is no longer ambiguous: drop its other
    // readings ("[Errno 104] Connection reset by peer" is not macOS's ENOTRECOVERABLE).
    let text_targets: HashSet<(u8, &'static str, i64)> = ev
        .iter()
        .filter(|e| e.token().is_none())
        .map(|e| key(&e.target))
        .collect();
    let agrees = |e: &Evidence| text_targets.contains(&key(&e.target));
    let confirmed: HashSet<usize> = ev
        .iter()
        .filter(|e| agrees(e))
        .filter_map(Evidence::token)
        .collect();
    ev.retain(|e| match e.token() {
        Some(t) if confirmed.contains(&t) => agrees(e),
        _ => true,
    });
    // Bare numbers in a message that names its error add nothing but noise.
    if !text_targets.is_empty() {
        ev.retain(|e| !matches!(e.source, Source::Number { bare: true, .. }) || agrees(e));
    }
    for e in &mut ev {
        if let Some(eos) = e.os.filter(|_| e.token().is_some()) {
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
    let mut at: HashMap<(u8, &'static str, i64), usize> = HashMap::new();
    for e in ev {
        let (localized, library) = match e.source {
            Source::Localized(t) => (Some(t), None),
            Source::Message { message, reading } => (None, Some((message, reading))),
            _ => (None, None),
        };
        match at.get(&key(&e.target)).map(|&i| &mut out[i]) {
            Some(m) => {
                if library.is_some() && (m.library.is_none() || e.score > f32::from(m.score)) {
                    m.library = library;
                }
                m.localized = m.localized.or(localized);
                let s = f32::from(m.score).max(e.score) + 2.0;
                m.score = s.min(100.0) as u8;
                if !m.matched.contains(&e.what) {
                    m.matched.push(e.what);
                }
                m.os = m.os.or(e.os);
            }
            None => {
                at.insert(key(&e.target), out.len());
                out.push(Match {
                    target: e.target,
                    score: e.score.clamp(0.0, 100.0) as u8,
                    matched: vec![e.what],
                    os: e.os,
                    localized,
                    library,
                });
            }
        }
    }
    out.sort_by(|a, b| {
        b.score
            .cmp(&a.score)
            .then_with(|| commonness(&b.target).cmp(&commonness(&a.target)))
    });
    out
}

fn commonness(t: &Target) -> u8 {
    match t {
        Target::Entry(e) => e.commonness,
        Target::Foreign { .. } => 0,
    }
}
