//! Every query form `explain` accepts resolves to the right identity first.
//! The cases are data: `queries.tsv` beside this file.

use tcpmortem_core::Os;
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

#[test]
fn every_query_form_resolves_first_to_the_right_identity() {
    let table = include_str!("queries.tsv");
    let mut failures = Vec::new();
    let mut count = 0;
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
        let got: Vec<String> = explain(cols[0], os)
            .matches
            .iter()
            .map(|m| label(&m.target))
            .collect();
        count += 1;
        if got.len() < expected.len() || got[..expected.len()] != expected[..] {
            failures.push(format!(
                "{:?} (os {}): expected {expected:?}, got {got:?}",
                cols[0], cols[1]
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {count} queries wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
    println!("{count} queries resolved");
}

#[test]
fn unknown_input_gets_suggestions_and_no_match() {
    let e = explain("ECONNRESTE", None);
    assert!(e.matches.is_empty());
    assert_eq!(e.suggestions.first(), Some(&"ECONNRESET"));
    let e = explain("the weather is nice", None);
    assert!(e.matches.is_empty());
    assert!(!e.suggestions.is_empty());
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
