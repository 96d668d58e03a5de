//! The JSON answer of `explain --json`. Field names are part of the interface: errors by their
//! Linux errno and Winsock names, systems as `linux`/`windows`/`macos`.

use serde::Serialize;
use tcpmortem_core::catalog::{Area, Cause, Claim, Entry, Kind, Win32Error};
use tcpmortem_core::errno::{self, Numbering, Os};
use tcpmortem_core::localized::LocalizedText;
use tcpmortem_core::messages::Message;
use tcpmortem_core::query::{Explanation, Match, Target};

#[derive(Serialize)]
pub struct Answer<'a> {
    /// The query; a long one (a log) cut to its first 200 characters and "…".
    query: String,
    /// The query's length in bytes and lines.
    query_bytes: usize,
    /// How stdin's bytes were read (`UTF-8`, `UTF-16LE`, `GBK`, ...); null for a query given
    /// as arguments.
    encoding: Option<&'static str>,
    lines: usize,
    /// When the query has several lines: the line (1-based) the answer rests on, and its text
    /// (at most 200 characters).
    line: Option<usize>,
    excerpt: Option<String>,
    os: Option<Os>,
    matches: Vec<MatchJson<'a>>,
    suggestions: &'a [&'static str],
}

#[derive(Serialize)]
struct MatchJson<'a> {
    /// `errno`, `peer-eof`, `app-timeout` or `local-close`.
    kind: Kind,
    /// `connection` (how a connection died) or `socket` (a socket call's own error).
    area: Option<Area>,
    /// Catalog id, or null for a foreign reading.
    id: Option<&'static str>,
    title: String,
    score: u8,
    matched: &'a [String],
    /// The system the query points at, when a reading says so.
    points_to: Option<Os>,
    linux_name: Option<&'static str>,
    linux_number: Option<i64>,
    linux_message: Option<&'static str>,
    windows_name: Option<&'static str>,
    windows_code: Option<i64>,
    windows_message: Option<&'static str>,
    bsd_name: Option<&'static str>,
    bsd_number: Option<i64>,
    bsd_message: Option<&'static str>,
    other_forms: Option<OtherForms>,
    summary: String,
    evidence: Vec<EvidenceJson>,
    never_on: Vec<NeverJson>,
    causes: &'static [Cause],
    advice: &'static [&'static str],
    /// Built-in lab scenarios that reproduce it.
    scenarios: &'static [&'static str],
    /// `analyze` endings that show it in a capture.
    analyze_endings: Vec<&'static str>,
    related: &'static [&'static str],
    /// The Windows text in another language that matched, with the English text.
    localized: Option<LocalizedJson>,
    /// The library message this reading comes from, with every reading of it.
    library: Option<LibraryJson>,
}

#[derive(Serialize)]
struct LocalizedJson {
    /// BCP 47 tag (`zh-CN`) and name in English.
    language: &'static str,
    language_name: &'static str,
    code: u32,
    text: String,
    english: Option<&'static str>,
    source: &'static str,
}

#[derive(Serialize)]
struct LibraryJson {
    id: &'static str,
    ecosystem: &'static str,
    library: &'static str,
    message: String,
    /// 1-based: which of the message's readings this match is.
    reading: usize,
    claim: Claim,
    /// Every reading, most likely first.
    readings: Vec<ReadingJson>,
}

#[derive(Serialize)]
struct ReadingJson {
    id: &'static str,
    #[serde(flatten)]
    claim: Claim,
}

#[derive(Serialize)]
struct OtherForms {
    msvc_errno: Option<i64>,
    libuv_windows: Option<i64>,
    win32: &'static [Win32Error],
    hresult: Option<String>,
    dotnet_socket_error: &'static [&'static str],
    rust_error_kind: Option<&'static str>,
    python_exception: Option<&'static str>,
}

#[derive(Serialize)]
struct EvidenceJson {
    /// `tcp`, or the system the claim is about.
    topic: &'static str,
    #[serde(flatten)]
    claim: Claim,
}

#[derive(Serialize)]
struct NeverJson {
    os: Os,
    why: &'static str,
}

/// At most `max` characters of `s`, with "…" when cut.
fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max).collect();
    out.push('…');
    out
}

pub fn answer<'a>(
    e: &'a Explanation,
    os: Option<Os>,
    encoding: Option<&'static str>,
) -> Answer<'a> {
    Answer {
        query: clip(&e.query, 200),
        query_bytes: e.query.len(),
        encoding,
        lines: e.lines,
        line: e.line,
        excerpt: e.excerpt.as_deref().map(|x| clip(x, 200)),
        os,
        matches: e.matches.iter().map(one).collect(),
        suggestions: &e.suggestions,
    }
}

fn one(m: &Match) -> MatchJson<'_> {
    match m.target {
        Target::Entry(e) => entry(e, m),
        Target::Foreign {
            numbering,
            number,
            name,
        } => foreign(numbering, number, name, m),
    }
}

fn localized(e: &'static Entry, t: &'static LocalizedText) -> LocalizedJson {
    let english = e
        .windows
        .filter(|w| w.code == t.code)
        .map(|w| w.message)
        .or_else(|| e.win32.iter().find(|w| w.code == t.code).map(|w| w.message));
    LocalizedJson {
        language: t.language.tag,
        language_name: t.language.name,
        code: t.code,
        text: t.text.clone(),
        english,
        source: t.source,
    }
}

fn library(message: &'static Message, reading: usize) -> LibraryJson {
    LibraryJson {
        id: message.id,
        ecosystem: message.ecosystem,
        library: message.library,
        message: message.label(),
        reading: reading + 1,
        claim: message.readings[reading].claim,
        readings: message
            .readings
            .iter()
            .map(|r| ReadingJson {
                id: r.entry.id,
                claim: r.claim,
            })
            .collect(),
    }
}

fn entry<'a>(e: &'static Entry, m: &'a Match) -> MatchJson<'a> {
    MatchJson {
        kind: e.kind,
        area: Some(e.area),
        id: Some(e.id),
        title: e.title.to_string(),
        score: m.score,
        matched: &m.matched,
        points_to: m.os,
        linux_name: e.linux.map(|p| p.name),
        linux_number: e.linux.map(|p| p.number.into()),
        linux_message: e.linux.map(|p| p.message),
        windows_name: e.windows.map(|w| w.name),
        windows_code: e.windows.map(|w| w.code.into()),
        windows_message: e.windows.map(|w| w.message),
        bsd_name: e.bsd.map(|p| p.name),
        bsd_number: e.bsd.map(|p| p.number.into()),
        bsd_message: e.bsd.map(|p| p.message),
        other_forms: Some(OtherForms {
            msvc_errno: e.msvc_errno(),
            libuv_windows: e.libuv_windows(),
            win32: e.win32,
            hresult: e.hresult().map(|h| format!("0x{h:08X}")),
            dotnet_socket_error: e.dotnet,
            rust_error_kind: e.rust,
            python_exception: e.python,
        }),
        summary: e.summary.to_string(),
        evidence: e
            .evidence()
            .map(|(topic, c)| EvidenceJson { topic, claim: *c })
            .collect(),
        never_on: e
            .never_on()
            .map(|s| NeverJson {
                os: s.os,
                why: s.claim.text,
            })
            .collect(),
        causes: e.causes,
        advice: e.advice,
        scenarios: e.scenarios,
        analyze_endings: super::analyze_endings(e.id),
        related: e.related,
        localized: m.localized.map(|t| localized(e, t)),
        library: m.library.map(|(msg, r)| library(msg, r)),
    }
}

fn foreign<'a>(
    numbering: Numbering,
    number: i64,
    name: &'static str,
    m: &'a Match,
) -> MatchJson<'a> {
    let is = |n: Numbering| (numbering == n).then_some(name);
    let num = |n: Numbering| (numbering == n).then_some(number);
    MatchJson {
        kind: Kind::Errno,
        area: None,
        id: None,
        title: name.to_string(),
        score: m.score,
        matched: &m.matched,
        points_to: numbering.os(),
        linux_name: is(Numbering::LinuxErrno),
        linux_number: num(Numbering::LinuxErrno),
        linux_message: num(Numbering::LinuxErrno).and_then(errno::linux_message),
        windows_name: is(Numbering::Winsock),
        windows_code: num(Numbering::Winsock),
        windows_message: None,
        bsd_name: is(Numbering::BsdErrno),
        bsd_number: num(Numbering::BsdErrno),
        bsd_message: None,
        other_forms: None,
        summary: foreign_summary(numbering, number, name),
        evidence: Vec::new(),
        never_on: Vec::new(),
        causes: &[],
        advice: &[],
        scenarios: &[],
        analyze_endings: Vec::new(),
        related: &[],
        localized: None,
        library: None,
    }
}

/// "As a Linux errno, 54 is EXFULL (Exchange full): not a connection error."
pub fn foreign_summary(numbering: Numbering, number: i64, name: &str) -> String {
    let msg = match numbering {
        Numbering::LinuxErrno => errno::linux_message(number)
            .map(|m| format!(" ({m})"))
            .unwrap_or_default(),
        _ => String::new(),
    };
    format!(
        "As a {}, {number} is {name}{msg}: not a connection error.",
        numbering.label()
    )
}
