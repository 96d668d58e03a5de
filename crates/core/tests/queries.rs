//! Every query form `explain` accepts resolves to the right identity first.
//! The cases are data: `queries.tsv` beside this file.

use tcpmortem_core::Os;
use tcpmortem_core::localized;
use tcpmortem_core::messages;
use tcpmortem_core::query::{Target, explain};

fn label(t: &Target) -> String {
    match t {
        Target::Entry(e) => e.id.to_string(),
        Target::Foreign {
            numbering, name, ..
        } => {
            let n = serde_json::to_value(numbering).unwrap();
            format!("{}:{name}", n.as_str().unwrap())
        }
    }
}

/// The query column may hold `\n`, `\r`, `\t` and `\\` for what a TSV cell cannot.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some('\\') => out.push('\\'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// (query, os, expected labels in order)
fn rows() -> Vec<(String, Option<Os>, Vec<String>)> {
    let table = include_str!("queries.tsv");
    let mut out = Vec::new();
    for (lineno, line) in table.lines().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        assert!(cols.len() >= 3, "queries.tsv:{}: bad row", lineno + 1);
        let os = match cols[1] {
            "-" => None,
            "linux" => Some(Os::Linux),
            "windows" => Some(Os::Windows),
            "macos" => Some(Os::Macos),
            other => panic!("bad os {other}"),
        };
        let mut expected = vec![cols[2].to_string()];
        if let Some(rest) = cols.get(3) {
            expected.extend(rest.split(',').map(str::to_string));
        }
        out.push((unescape(cols[0]), os, expected));
    }
    out
}

#[test]
fn every_query_form_resolves_first_to_the_right_identity() {
    let mut failures = Vec::new();
    let rows = rows();
    for (query, os, expected) in &rows {
        let got: Vec<String> = explain(query, *os)
            .matches
            .iter()
            .map(|m| label(&m.target))
            .collect();
        if got.len() < expected.len() || got[..expected.len()] != expected[..] {
            failures.push(format!(
                "{query:?} (os {os:?}): expected {expected:?}, got {got:?}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} queries wrong:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );
    println!("{} queries resolved", rows.len());
}

#[test]
fn every_localized_text_is_a_row_and_says_its_language() {
    let rows = rows();
    for t in &localized::table().texts {
        assert!(
            rows.iter().any(|(q, _, _)| *q == t.text),
            "no row for the {} text of {}",
            t.language.tag,
            t.code
        );
        let e = explain(&t.text, None);
        let m = &e.matches[0];
        let hit = m.localized.expect("the localized text is reported");
        assert_eq!(hit.language.tag, t.language.tag, "{}", t.text);
        assert_eq!(hit.code, t.code);
        assert!(
            m.matched.iter().any(|w| w.contains(t.language.name)),
            "{:?}",
            m.matched
        );
    }
}

#[test]
fn every_library_message_is_a_row_with_its_readings_in_order() {
    let rows = rows();
    for m in &messages::table().messages {
        let row = rows.iter().find(|(q, _, _)| {
            let e = explain(q, None);
            e.matches
                .iter()
                .any(|x| x.library.is_some_and(|(lm, _)| lm.id == m.id))
        });
        let Some((q, _, expected)) = row else {
            panic!("no row of queries.tsv matches message {}", m.id);
        };
        // The first row that shows the message expects its first reading first.
        assert_eq!(
            expected[0], m.readings[0].entry.id,
            "{q:?} should expect {}'s first reading",
            m.id
        );
    }
}

#[test]
fn unknown_input_gets_suggestions_and_no_match() {
    let e = explain("ECONNRESTE", None);
    assert!(e.matches.is_empty());
    assert_eq!(e.suggestions.first(), Some(&"ECONNRESET"));
    let e = explain("the weather is nice", None);
    assert!(e.matches.is_empty());
    assert!(!e.suggestions.is_empty());
    let e = explain("   \n\t ", None);
    assert!(e.matches.is_empty() && e.suggestions.is_empty());
}

#[test]
fn ambiguous_numbers_list_every_reading() {
    let e = explain("54", None);
    let labels: Vec<String> = e.matches.iter().map(|m| label(&m.target)).collect();
    assert!(labels.contains(&"econnreset".to_string()));
    assert!(labels.contains(&"linux-errno:EXFULL".to_string()));
    let e = explain("108", None);
    let labels: Vec<String> = e.matches.iter().map(|m| label(&m.target)).collect();
    assert_eq!(labels[..2], ["econnreset", "eshutdown"]);
}

#[test]
fn the_error_line_of_a_log_wins_and_is_reported() {
    let mut log = String::new();
    for i in 0..500 {
        log.push_str(&format!(
            "2024-05-01 10:00:{:02} INFO worker {i} handled 13 requests in 9 ms (port 8080, line 42)\n",
            i % 60
        ));
    }
    log.push_str("2024-05-01 10:09:00 ERROR read tcp 10.0.0.1:5000->10.0.0.2:443: read: connection reset by peer\n");
    for i in 0..500 {
        log.push_str(&format!(
            "2024-05-01 10:10:{:02} DEBUG retry {i} scheduled\n",
            i % 60
        ));
    }
    let e = explain(&log, None);
    assert_eq!(label(&e.matches[0].target), "econnreset");
    assert_eq!(e.line, Some(501));
    assert!(
        e.excerpt
            .as_deref()
            .unwrap()
            .contains("connection reset by peer")
    );
    // The noise's numbers (13 is EACCES, 9 EBADF) are not readings.
    assert!(
        e.matches
            .iter()
            .all(|m| !matches!(m.target, Target::Entry(x) if x.id == "eacces" || x.id == "ebadf"))
    );
}
