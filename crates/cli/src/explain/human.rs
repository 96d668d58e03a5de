//! The terminal answer of `explain`: the most likely match in full, the others in one line each,
//! wrapped at the width `mod.rs` chose (the terminal's). Colour comes from anstream, which
//! strips it when stdout is not a terminal.

use super::json::foreign_summary;
use anstyle::{AnsiColor, Style};
use std::io::{self, Write};
use tcpmortem_core::catalog::{Area, Claim, Entry, Kind};
use tcpmortem_core::errno::Os;
use tcpmortem_core::localized::LocalizedText;
use tcpmortem_core::messages::Message;
use tcpmortem_core::query::{Explanation, Match, Target};

const BOLD: Style = Style::new().bold();
const HEAD: Style = Style::new().bold().underline();
const DIM: Style = Style::new().dimmed();
const NAME: Style = AnsiColor::Cyan.on_default().bold();
const WARN: Style = AnsiColor::Yellow.on_default();

/// Wraps text at one width; every paragraph of the answer goes through it.
struct Out<'a, W: Write> {
    w: &'a mut W,
    width: usize,
}

impl<W: Write> Out<'_, W> {
    fn line(&mut self, s: &str) -> io::Result<()> {
        writeln!(self.w, "{s}")
    }

    fn wrap(&mut self, text: &str, prefix: &str) -> io::Result<()> {
        wrap(self.w, text, prefix, self.width)
    }

    fn claim(&mut self, prefix: &str, c: &Claim) -> io::Result<()> {
        let tag = format!("[{}: {}]", c.basis.tag(), c.source);
        self.wrap(&format!("{} {DIM}{tag}{DIM:#}", c.text), prefix)
    }
}

pub fn render(answer: &Explanation, out: &mut impl Write, width: usize) -> io::Result<()> {
    let Some((first, rest)) = answer.matches.split_first() else {
        return Ok(());
    };
    let mut o = Out { w: out, width };
    match first.target {
        Target::Entry(e) => full(e, first, answer, &mut o)?,
        Target::Foreign {
            numbering,
            number,
            name,
        } => {
            o.line(&format!("{NAME}{name}{NAME:#}"))?;
            o.wrap(&foreign_summary(numbering, number, name), "")?;
        }
    }
    if !rest.is_empty() {
        o.line("")?;
        o.line(&format!("{HEAD}Other readings{HEAD:#}"))?;
        for m in rest {
            one_line(m, &mut o)?;
        }
    }
    Ok(())
}

fn full<W: Write>(e: &Entry, m: &Match, answer: &Explanation, o: &mut Out<W>) -> io::Result<()> {
    o.line(&format!(
        "{NAME}{}{NAME:#}  {BOLD}{}{BOLD:#}",
        headline(e, m.os),
        e.title
    ))?;
    o.wrap(
        &format!("{DIM}matched: {}{DIM:#}", m.matched.join("; ")),
        "",
    )?;
    if let (Some(line), Some(excerpt)) = (answer.line, &answer.excerpt) {
        let prefix = format!("{DIM}on line {line}:{DIM:#} ");
        let room = o.width.saturating_sub(visible_len(&prefix)).max(20);
        o.line(&format!("{prefix}{}", clip(excerpt, room)))?;
    }
    if let Some(t) = m.localized {
        localized(e, t, o)?;
    }
    o.line("")?;
    if e.kind == Kind::Errno {
        identities(e, o)?;
        o.line("")?;
    }
    o.wrap(e.summary, "")?;
    let warning = match e.kind {
        Kind::PeerEof => Some(
            "Not a kernel error: the peer closed in order (FIN). Nothing was reset; compare ECONNRESET.",
        ),
        Kind::AppTimeout => Some(
            "Not a kernel error: your side stopped waiting. The kernel's ETIMEDOUT is a different thing.",
        ),
        Kind::LocalClose => {
            Some("Not the network: your own side closed the connection. The peer did nothing.")
        }
        Kind::Errno => None,
    };
    if let Some(w) = warning {
        o.wrap(&format!("{WARN}{w}{WARN:#}"), "")?;
    }
    if let Some((message, reading)) = m.library {
        library(message, reading, o)?;
    }
    let heading = match e.area {
        Area::Connection => "What happens in TCP",
        Area::Socket => "Where it comes from",
    };
    o.line(&format!("\n{HEAD}{heading}{HEAD:#}"))?;
    for c in e.tcp {
        o.claim("  • ", c)?;
    }
    o.line(&format!("\n{HEAD}On each system{HEAD:#}"))?;
    for os in Os::ALL {
        for s in e.systems.iter().filter(|s| s.os == os) {
            let label = if s.produced {
                format!("  {:<8} ", os.label())
            } else {
                format!("  {:<8} never: ", os.label())
            };
            o.claim(&label, &s.claim)?;
        }
    }
    o.line(&format!(
        "\n{HEAD}Common causes, most frequent first{HEAD:#}"
    ))?;
    for (i, c) in e.causes.iter().enumerate() {
        o.wrap(c.cause, &format!("  {}. ", i + 1))?;
        o.wrap(&format!("→ {}", c.fix), "     ")?;
    }
    o.line(&format!("\n{HEAD}In your code{HEAD:#}"))?;
    for a in e.advice {
        o.wrap(a, "  • ")?;
    }
    if !e.scenarios.is_empty() {
        o.line(&format!("\n{HEAD}Reproduce it{HEAD:#}"))?;
        for s in e.scenarios {
            o.line(&format!("  tcpmortem lab run {s}"))?;
        }
        if e.scenarios.len() > 1 {
            let name = e.linux.map(|p| p.name).unwrap_or(e.id);
            o.line(&format!(
                "  {DIM}all of them: tcpmortem lab repro {name}{DIM:#}"
            ))?;
        }
    }
    let endings = super::analyze_endings(e.id);
    if !endings.is_empty() {
        o.line(&format!("\n{HEAD}Find it in a capture{HEAD:#}"))?;
        o.line("  tcpmortem analyze FILE --only abnormal")?;
        o.wrap(
            &format!("{DIM}endings: {}{DIM:#}", endings.join(", ")),
            "  ",
        )?;
    }
    if !e.related.is_empty() {
        o.line("")?;
        o.wrap(
            &format!("{DIM}See also: {}{DIM:#}", e.related.join(", ")),
            "",
        )?;
    }
    o.wrap(
        &format!(
            "{DIM}[doc] documented · [src] read in source · [obs] only observed · [here] measured on this project's Linux 6.18 machines{DIM:#}"
        ),
        "",
    )
}

/// The Windows text that matched, in its language, with the English text beside it.
fn localized<W: Write>(e: &Entry, t: &LocalizedText, o: &mut Out<W>) -> io::Result<()> {
    let english = e
        .windows
        .filter(|w| w.code == t.code)
        .map(|w| w.message)
        .or_else(|| e.win32.iter().find(|w| w.code == t.code).map(|w| w.message))
        .unwrap_or(e.title);
    o.line("")?;
    let text = t.text.split_whitespace().collect::<Vec<_>>().join(" ");
    o.wrap(&text, &format!("  {BOLD}{:<8}{BOLD:#} ", t.language.tag))?;
    o.wrap(english, &format!("  {BOLD}{:<8}{BOLD:#} ", "English"))?;
    o.wrap(
        &format!(
            "{DIM}{} text of code {}, seen verbatim: {}{DIM:#}",
            t.language.name, t.code, t.source
        ),
        "           ",
    )
}

/// What the library's message means, every reading most likely first.
fn library<W: Write>(message: &Message, reading: usize, o: &mut Out<W>) -> io::Result<()> {
    o.line("")?;
    let several = message.readings.len() > 1;
    let head = if several {
        format!(
            "What {} means by \"{}\" (it says this for {} TCP events; most likely first)",
            message.library,
            message.label(),
            message.readings.len()
        )
    } else {
        format!("What {} means by \"{}\"", message.library, message.label())
    };
    o.wrap(&format!("{HEAD}{head}{HEAD:#}"), "")?;
    for (i, r) in message.readings.iter().enumerate() {
        let this = if several && i == reading {
            " (this reading)"
        } else {
            ""
        };
        o.line(&format!("  {}. {NAME}{}{NAME:#}{this}", i + 1, r.entry.id))?;
        o.claim("     ", &r.claim)?;
    }
    Ok(())
}

/// The name the query used first: the Windows one when the query came from Windows.
fn headline(e: &Entry, os: Option<Os>) -> String {
    let linux = e.linux.map(|p| format!("{} {}", p.name, p.number));
    let win = e.windows.map(|w| format!("{} {}", w.name, w.code));
    let bsd = e.bsd.map(|p| format!("{} {} (macOS)", p.name, p.number));
    let first = match os {
        Some(Os::Windows) => win.clone().or(linux.clone()),
        Some(Os::Macos) => bsd.or(linux.clone()),
        _ => linux.clone().or(win.clone()),
    };
    first.unwrap_or_else(|| e.id.to_string())
}

fn identities<W: Write>(e: &Entry, o: &mut Out<W>) -> io::Result<()> {
    let none = |os: &str| format!("{DIM}(none: {os} has no such error){DIM:#}");
    let row = |o: &mut Out<W>, os: &str, id: Option<(String, &str)>| match id {
        Some((name, msg)) => o.wrap(msg, &format!("  {BOLD}{os:<8}{BOLD:#} {name:<24} ")),
        None => o.line(&format!("  {BOLD}{os:<8}{BOLD:#} {}", none(os))),
    };
    row(
        o,
        "Linux",
        e.linux
            .map(|p| (format!("{} {}", p.name, p.number), p.message)),
    )?;
    row(
        o,
        "Windows",
        e.windows
            .map(|w| (format!("{} {}", w.name, w.code), w.message)),
    )?;
    row(
        o,
        "macOS",
        e.bsd
            .map(|p| (format!("{} {}", p.name, p.number), p.message)),
    )?;
    let mut also = Vec::new();
    if let Some(n) = e.msvc_errno() {
        also.push(format!("MSVC errno {n}"));
    }
    if let Some(n) = e.libuv_windows() {
        also.push(format!("libuv/Node {n} (Windows)"));
    }
    for w in e.win32 {
        also.push(format!("Win32 {} {}", w.name, w.code));
    }
    if let Some(h) = e.hresult() {
        also.push(format!("HRESULT 0x{h:08X}"));
    }
    for d in e.dotnet {
        also.push(format!(".NET SocketError.{d}"));
    }
    if let Some(r) = e.rust {
        also.push(format!("Rust ErrorKind::{r}"));
    }
    if let Some(p) = e.python {
        also.push(format!("Python {p}"));
    }
    if !also.is_empty() {
        o.wrap(
            &also.join(" · "),
            &format!("  {BOLD}{:<8}{BOLD:#} ", "also"),
        )?;
    }
    Ok(())
}

fn one_line<W: Write>(m: &Match, o: &mut Out<W>) -> io::Result<()> {
    let text = match m.target {
        Target::Entry(e) => {
            let name = e.linux.or(e.bsd).map(|p| p.name).unwrap_or(e.id);
            format!("{NAME}{name}{NAME:#} {}: {}", e.title, e.summary)
        }
        Target::Foreign {
            numbering,
            number,
            name,
        } => format!(
            "{NAME}{name}{NAME:#} {}",
            foreign_summary(numbering, number, name)
        ),
    };
    o.wrap(&text, "  • ")?;
    if let Some((message, reading)) = m.library {
        o.claim(
            &format!("    {DIM}{}:{DIM:#} ", message.library),
            &message.readings[reading].claim,
        )?;
    }
    o.wrap(
        &format!("{DIM}matched: {}{DIM:#}", m.matched.join("; ")),
        "    ",
    )
}

/// Cuts `s` to at most `room` columns, marking the cut with "…".
fn clip(s: &str, room: usize) -> String {
    if text_width(s) <= room {
        return s.to_string();
    }
    let mut out = String::new();
    let mut w = 0;
    for ch in s.chars() {
        let cw = char_width(ch);
        if w + cw + 1 > room {
            break;
        }
        out.push(ch);
        w += cw;
    }
    out.push('…');
    out
}

/// Word-wraps `text` after `prefix`, indenting continuation lines to the prefix's width.
/// Widths count terminal columns: styles are zero-width, East Asian wide characters two. A
/// word longer than a whole line (a sentence in Chinese has no spaces) is broken anywhere.
fn wrap(out: &mut (impl Write + ?Sized), text: &str, prefix: &str, width: usize) -> io::Result<()> {
    let indent_len = visible_len(prefix);
    let indent = " ".repeat(indent_len);
    let room = width.saturating_sub(indent_len).max(10);
    let mut line = prefix.to_string();
    let mut len = indent_len;
    let mut empty = true;
    for word in text.split(' ') {
        let mut word = word.to_string();
        loop {
            let w = visible_len(&word);
            if !empty && len + 1 + w > width {
                writeln!(out, "{line}")?;
                line = indent.clone();
                len = indent_len;
                empty = true;
            }
            if empty && w > room {
                let (head, tail) = split_at_width(&word, room);
                line.push_str(&head);
                writeln!(out, "{line}")?;
                line = indent.clone();
                len = indent_len;
                word = tail;
                if word.is_empty() {
                    break;
                }
                continue;
            }
            if !empty {
                line.push(' ');
                len += 1;
            }
            line.push_str(&word);
            len += w;
            empty = false;
            break;
        }
    }
    writeln!(out, "{line}")
}

/// The longest head of `s` that fits `room` columns (escape sequences kept whole), and the rest.
fn split_at_width(s: &str, room: usize) -> (String, String) {
    let mut head = String::new();
    let mut w = 0;
    let mut in_escape = false;
    for (i, ch) in s.char_indices() {
        if in_escape || ch == '\x1b' {
            in_escape = ch != 'm';
            head.push(ch);
            continue;
        }
        let cw = char_width(ch);
        if w + cw > room && w > 0 {
            return (head, s[i..].to_string());
        }
        head.push(ch);
        w += cw;
    }
    (head, String::new())
}

fn visible_len(s: &str) -> usize {
    let mut n = 0;
    let mut in_escape = false;
    for ch in s.chars() {
        match (in_escape, ch) {
            (false, '\x1b') => in_escape = true,
            (true, 'm') => in_escape = false,
            (true, _) => {}
            (false, c) => n += char_width(c),
        }
    }
    n
}

fn text_width(s: &str) -> usize {
    s.chars().map(char_width).sum()
}

/// Terminal columns of a character: two for East Asian wide and full-width forms (the ranges of
/// Unicode's EastAsianWidth W and F that text in Chinese, Japanese and Korean uses), else one.
fn char_width(c: char) -> usize {
    match c as u32 {
        0x1100..=0x115F
        | 0x2E80..=0x303E
        | 0x3041..=0x33FF
        | 0x3400..=0x4DBF
        | 0x4E00..=0x9FFF
        | 0xA000..=0xA4CF
        | 0xAC00..=0xD7A3
        | 0xF900..=0xFAFF
        | 0xFE30..=0xFE4F
        | 0xFF00..=0xFF60
        | 0xFFE0..=0xFFE6
        | 0x20000..=0x3FFFD => 2,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wrapped(text: &str, prefix: &str, width: usize) -> Vec<String> {
        let mut v = Vec::new();
        wrap(&mut v, text, prefix, width).unwrap();
        String::from_utf8(v)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn lines_fit_the_width_and_keep_the_indent() {
        let text = "one two three four five six seven eight nine ten eleven twelve";
        for width in [30, 40, 100] {
            let lines = wrapped(text, "  • ", width);
            assert!(lines.iter().all(|l| visible_len(l) <= width), "{lines:?}");
            assert!(lines[1..].iter().all(|l| l.starts_with("    ")));
        }
    }

    #[test]
    fn wide_characters_count_two_columns_and_long_words_break() {
        let zh = "远程主机强迫关闭了一个现有的连接。远程主机强迫关闭了一个现有的连接。";
        let lines = wrapped(zh, "  zh-CN    ", 40);
        assert!(lines.len() >= 3, "{lines:?}");
        assert!(lines.iter().all(|l| visible_len(l) <= 40), "{lines:?}");
        assert_eq!(
            lines
                .iter()
                .map(|l| l.trim_start().replace("zh-CN", ""))
                .collect::<String>()
                .replace(' ', ""),
            zh
        );
    }

    #[test]
    fn clipping_marks_the_cut() {
        assert_eq!(clip("short", 10), "short");
        assert_eq!(clip("abcdefghij", 5), "abcd…");
    }
}
