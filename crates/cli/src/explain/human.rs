//! The terminal answer of `explain`: the most likely match in full, the others in one line each.
//! Colour comes from anstream, which strips it when stdout is not a terminal.

use super::json::foreign_summary;
use anstyle::{AnsiColor, Style};
use std::io::{self, Write};
use tcpmortem_core::catalog::{Claim, Entry, Kind};
use tcpmortem_core::errno::Os;
use tcpmortem_core::query::{Explanation, Match, Target};

const BOLD: Style = Style::new().bold();
const HEAD: Style = Style::new().bold().underline();
const DIM: Style = Style::new().dimmed();
const NAME: Style = AnsiColor::Cyan.on_default().bold();
const WARN: Style = AnsiColor::Yellow.on_default();

pub fn render(answer: &Explanation, out: &mut impl Write) -> io::Result<()> {
    let Some((first, rest)) = answer.matches.split_first() else {
        return Ok(());
    };
    match first.target {
        Target::Entry(e) => full(e, first, out)?,
        Target::Foreign {
            numbering,
            number,
            name,
        } => {
            writeln!(out, "{NAME}{name}{NAME:#}")?;
            writeln!(out, "{}", foreign_summary(numbering, number, name))?;
        }
    }
    if !rest.is_empty() {
        writeln!(out)?;
        writeln!(out, "{HEAD}Other readings{HEAD:#}")?;
        for m in rest {
            one_line(m, out)?;
        }
    }
    Ok(())
}

fn full(e: &Entry, m: &Match, out: &mut impl Write) -> io::Result<()> {
    writeln!(
        out,
        "{NAME}{}{NAME:#}  {BOLD}{}{BOLD:#}",
        headline(e, m.os),
        e.title
    )?;
    writeln!(out, "{DIM}matched: {}{DIM:#}", m.matched.join("; "))?;
    writeln!(out)?;
    if e.kind == Kind::Errno {
        identities(e, out)?;
        writeln!(out)?;
    }
    wrap(out, e.summary, "", 96)?;
    match e.kind {
        Kind::PeerEof => writeln!(
            out,
            "{WARN}Not a kernel error: the peer closed in order (FIN). Nothing was reset; compare ECONNRESET.{WARN:#}"
        )?,
        Kind::AppTimeout => writeln!(
            out,
            "{WARN}Not a kernel error: your side stopped waiting. The kernel's ETIMEDOUT is a different thing.{WARN:#}"
        )?,
        Kind::Errno => {}
    }

    writeln!(out, "\n{HEAD}What happens in TCP{HEAD:#}")?;
    for c in e.tcp {
        claim(out, "  • ", c)?;
    }
    writeln!(out, "\n{HEAD}On each system{HEAD:#}")?;
    for os in Os::ALL {
        for s in e.systems.iter().filter(|s| s.os == os) {
            let label = if s.produced {
                format!("  {:<8} ", os.label())
            } else {
                format!("  {:<8} never: ", os.label())
            };
            claim(out, &label, &s.claim)?;
        }
    }
    writeln!(out, "\n{HEAD}Common causes, most frequent first{HEAD:#}")?;
    for (i, c) in e.causes.iter().enumerate() {
        wrap(out, c.cause, &format!("  {}. ", i + 1), 96)?;
        wrap(out, &format!("→ {}", c.fix), "     ", 96)?;
    }
    writeln!(out, "\n{HEAD}In your code{HEAD:#}")?;
    for a in e.advice {
        wrap(out, a, "  • ", 96)?;
    }
    if !e.scenarios.is_empty() {
        writeln!(out, "\n{HEAD}Reproduce it{HEAD:#}")?;
        for s in e.scenarios {
            writeln!(out, "  tcpmortem lab run {s}")?;
        }
        if e.scenarios.len() > 1 {
            let name = e.linux.map(|p| p.name).unwrap_or(e.id);
            writeln!(out, "  {DIM}all of them: tcpmortem lab repro {name}{DIM:#}")?;
        }
    }
    let endings = super::analyze_endings(e.id);
    if !endings.is_empty() {
        writeln!(out, "\n{HEAD}Find it in a capture{HEAD:#}")?;
        writeln!(out, "  tcpmortem analyze FILE --only abnormal")?;
        writeln!(out, "  {DIM}endings: {}{DIM:#}", endings.join(", "))?;
    }
    if !e.related.is_empty() {
        writeln!(out, "\n{DIM}See also: {}{DIM:#}", e.related.join(", "))?;
    }
    writeln!(
        out,
        "{DIM}[doc] documented · [src] read in source · [obs] only observed · [here] measured on this project's Linux 6.18 machines{DIM:#}"
    )
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

fn identities(e: &Entry, out: &mut impl Write) -> io::Result<()> {
    let none = |os: &str| format!("{DIM}(none: {os} has no such error){DIM:#}");
    let row = |out: &mut dyn Write, os: &str, id: Option<(String, &str)>| match id {
        Some((name, msg)) => writeln!(out, "  {BOLD}{os:<8}{BOLD:#} {name:<24} {msg}"),
        None => writeln!(out, "  {BOLD}{os:<8}{BOLD:#} {}", none(os)),
    };
    row(
        out,
        "Linux",
        e.linux
            .map(|p| (format!("{} {}", p.name, p.number), p.message)),
    )?;
    row(
        out,
        "Windows",
        e.windows
            .map(|w| (format!("{} {}", w.name, w.code), w.message)),
    )?;
    row(
        out,
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
        wrap(
            out,
            &also.join(" · "),
            &format!("  {BOLD}{:<8}{BOLD:#} ", "also"),
            96,
        )?;
    }
    Ok(())
}

fn one_line(m: &Match, out: &mut impl Write) -> io::Result<()> {
    let text = match m.target {
        Target::Entry(e) => {
            let name = e.linux.map(|p| p.name).unwrap_or(e.id);
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
    wrap(out, &text, "  • ", 96)?;
    writeln!(out, "    {DIM}matched: {}{DIM:#}", m.matched.join("; "))
}

fn claim(out: &mut impl Write, prefix: &str, c: &Claim) -> io::Result<()> {
    let tag = format!("[{}: {}]", c.basis.tag(), c.source);
    wrap(out, &format!("{} {DIM}{tag}{DIM:#}", c.text), prefix, 96)
}

/// Word-wraps `text` after `prefix`, indenting continuation lines to the prefix's width.
/// Widths count visible characters only (styles are zero-width escape sequences).
fn wrap(out: &mut (impl Write + ?Sized), text: &str, prefix: &str, width: usize) -> io::Result<()> {
    let indent = " ".repeat(visible_len(prefix));
    let mut line = prefix.to_string();
    let mut len = visible_len(prefix);
    let mut empty = true;
    for word in text.split(' ') {
        let w = visible_len(word);
        if !empty && len + 1 + w > width {
            writeln!(out, "{line}")?;
            line = indent.clone();
            len = indent.len();
            empty = true;
        }
        if !empty {
            line.push(' ');
            len += 1;
        }
        line.push_str(word);
        len += w;
        empty = false;
    }
    writeln!(out, "{line}")
}

fn visible_len(s: &str) -> usize {
    let mut n = 0;
    let mut in_escape = false;
    for ch in s.chars() {
        match (in_escape, ch) {
            (false, '\x1b') => in_escape = true,
            (true, 'm') => in_escape = false,
            (true, _) => {}
            (false, _) => n += 1,
        }
    }
    n
}
