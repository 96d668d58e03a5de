//! The words libraries print for a connection's end, and the TCP event each most likely reflects.
//!
//! "socket hang up", "transport is closing", "server closed the connection unexpectedly": the
//! library hides the TCP event behind its own words, sometimes collapsing several events into
//! one message. Each [`Message`] lists its readings (catalog entries), most likely first, each
//! with the claim that says why and where that was read. The table is data:
//! `data/messages.tsv`, whose header describes the format.

use crate::catalog::{Basis, Claim, Entry};
use std::sync::LazyLock;

const DATA: &str = include_str!("../data/messages.tsv");

/// How a message is recognised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pattern {
    /// Lower-case texts that must all appear in the normalized query, within three lines.
    All(Vec<&'static str>),
    /// A whole word, case-sensitive (HAProxy's `SD`, Envoy's `UC`), that counts alone or on a
    /// line with one of the message's context words.
    Word(&'static str),
}

/// One TCP event a message may reflect.
#[derive(Debug)]
pub struct Reading {
    pub entry: &'static Entry,
    pub claim: Claim,
}

/// A library's message.
#[derive(Debug)]
pub struct Message {
    pub id: &'static str,
    /// "HTTP clients", "databases", "gRPC", "proxies", "TLS", ...
    pub ecosystem: &'static str,
    pub library: &'static str,
    /// Score of the first reading, 0–100.
    pub weight: u8,
    /// Words that make a [`Pattern::Word`] count on a line.
    pub context: Vec<&'static str>,
    pub patterns: Vec<Pattern>,
    /// Catalog ids whose names or numbers the library attaches to this message although the
    /// event is another (Node's "socket hang up" carries code ECONNRESET).
    pub masks: Vec<&'static str>,
    /// Most likely first.
    pub readings: Vec<Reading>,
}

impl Message {
    /// The text of the first pattern, for "matched:" lines.
    pub fn label(&self) -> String {
        match self.patterns.first() {
            Some(Pattern::All(parts)) => parts.join(" … "),
            Some(Pattern::Word(w)) => (*w).to_string(),
            None => self.id.to_string(),
        }
    }
}

/// The parsed table; `problems` lists rows that did not parse (a test keeps it empty).
#[derive(Debug, Default)]
pub struct Table {
    pub messages: Vec<Message>,
    pub problems: Vec<String>,
}

static TABLE: LazyLock<Table> = LazyLock::new(|| parse(DATA));

/// The built-in table.
pub fn table() -> &'static Table {
    &TABLE
}

fn basis(s: &str) -> Option<Basis> {
    Some(match s {
        "doc" => Basis::Doc,
        "src" => Basis::Src,
        "obs" => Basis::Obs,
        "test" => Basis::Test,
        "here" => Basis::Here,
        _ => return None,
    })
}

fn list(s: &'static str) -> Vec<&'static str> {
    if s == "-" {
        Vec::new()
    } else {
        s.split(',').filter(|x| !x.is_empty()).collect()
    }
}

/// Parses the TSV format described at the top of `data/messages.tsv`.
pub fn parse(data: &'static str) -> Table {
    let mut t = Table::default();
    for (n, cols) in crate::tsv::rows(data) {
        let bad = |why: &str| format!("messages.tsv:{n}: {why}");
        match cols.as_slice() {
            [
                "M",
                id,
                ecosystem,
                library,
                weight,
                context,
                patterns,
                masks,
            ] => {
                let Ok(weight) = weight.parse::<u8>() else {
                    t.problems.push(bad("bad weight"));
                    continue;
                };
                let patterns: Vec<Pattern> = patterns
                    .split(" | ")
                    .map(|p| match p.strip_prefix("word:") {
                        Some(w) => Pattern::Word(w),
                        None => Pattern::All(p.split(" && ").collect()),
                    })
                    .collect();
                let lower_ok = patterns.iter().all(|p| match p {
                    Pattern::All(parts) => parts
                        .iter()
                        .all(|x| !x.is_empty() && x.to_lowercase() == *x && x.trim() == *x),
                    Pattern::Word(w) => !w.is_empty(),
                });
                if weight > 100 || !lower_ok {
                    t.problems
                        .push(bad("weight above 100 or a pattern not in lower case"));
                    continue;
                }
                let masks = list(masks);
                if let Some(m) = masks.iter().find(|m| Entry::by_id(m).is_none()) {
                    t.problems.push(bad(&format!("unknown masked id {m}")));
                }
                t.messages.push(Message {
                    id,
                    ecosystem,
                    library,
                    weight,
                    context: list(context),
                    patterns,
                    masks,
                    readings: Vec::new(),
                });
            }
            ["R", id, entry, b, source, text] => {
                let Some(m) = t.messages.last_mut().filter(|m| m.id == *id) else {
                    t.problems
                        .push(bad(&format!("reading of {id} not after its message")));
                    continue;
                };
                let (Some(entry), Some(basis)) = (Entry::by_id(entry), basis(b)) else {
                    t.problems
                        .push(bad(&format!("unknown entry {entry} or basis {b}")));
                    continue;
                };
                m.readings.push(Reading {
                    entry,
                    claim: Claim {
                        text,
                        basis,
                        source,
                    },
                });
            }
            _ => t.problems.push(bad("unknown row")),
        }
    }
    for m in &t.messages {
        if m.readings.is_empty() {
            t.problems
                .push(format!("messages.tsv: {} has no reading", m.id));
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_parses_and_every_message_has_readings() {
        let t = table();
        assert!(t.problems.is_empty(), "{:#?}", t.problems);
        for (i, m) in t.messages.iter().enumerate() {
            assert!(
                t.messages[..i].iter().all(|o| o.id != m.id),
                "duplicate {}",
                m.id
            );
            assert!(!m.readings.is_empty());
            for r in &m.readings {
                assert!(!r.claim.text.is_empty() && !r.claim.source.is_empty());
            }
            let ids: Vec<&str> = m.readings.iter().map(|r| r.entry.id).collect();
            for (j, id) in ids.iter().enumerate() {
                assert!(!ids[..j].contains(id), "{}: {id} twice", m.id);
            }
        }
    }

    #[test]
    fn collapsed_messages_list_every_reading() {
        let find = |id: &str| table().messages.iter().find(|m| m.id == id).unwrap();
        let ids =
            |id: &str| -> Vec<&str> { find(id).readings.iter().map(|r| r.entry.id).collect() };
        assert_eq!(ids("node-socket-hang-up"), ["peer-eof", "local-close"]);
        assert_eq!(ids("go-closed-conn"), ["local-close"]);
        assert_eq!(
            ids("envoy-connection-termination")[..2],
            ["peer-eof", "econnreset"]
        );
        assert_eq!(
            ids("erlang-closed"),
            ["peer-eof", "econnreset", "local-close"]
        );
        assert!(ids("grpc-go-transport-closing").len() >= 3);
    }
}
