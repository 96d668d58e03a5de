//! Indexes over the catalog and the data tables, built once: a name lookup, one automaton for
//! every phrase (catalog phrasings and library messages) and one for the localized texts. With
//! them a query is read once, whatever its length, instead of once per known name.

use crate::catalog::{ENTRIES, Entry};
use crate::errno::Os;
use crate::localized::{self, LocalizedText};
use crate::messages::{self, Pattern};
use aho_corasick::{AhoCorasick, MatchKind};
use std::collections::HashMap;
use std::sync::LazyLock;

/// A name that identifies an entry as a whole word.
pub(super) struct NameHit {
    pub entry: &'static Entry,
    pub name: &'static str,
    /// "errno name", "Winsock name", ...
    pub what: &'static str,
    pub os: Option<Os>,
    /// CamelCase identifiers (`ConnectionReset`, `EOFException`) match only in their own case:
    /// as plain words they would be English.
    pub exact_case: bool,
    /// Words one of which the line must contain, unless the query is the name alone: a .NET
    /// `SocketError` or Rust `ErrorKind` name is read as such only near its type's name.
    pub context: &'static [&'static str],
}

/// Upper-cased name → the entries it names.
pub(super) static NAMES: LazyLock<HashMap<String, Vec<NameHit>>> = LazyLock::new(|| {
    let mut map: HashMap<String, Vec<NameHit>> = HashMap::new();
    let mut add = |entry: &'static Entry, name: &'static str, what, os| {
        let hits = map.entry(name.to_ascii_uppercase()).or_default();
        if !hits
            .iter()
            .any(|h| h.entry.id == entry.id && (h.what == what || h.context.is_empty()))
        {
            let mixed = name.chars().any(|c| c.is_ascii_lowercase())
                && name.chars().any(|c| c.is_ascii_uppercase());
            let context: &'static [&'static str] = match what {
                ".NET SocketError" => &["socket"],
                "Rust io::ErrorKind" => &["kind"],
                _ => &[],
            };
            hits.push(NameHit {
                entry,
                name,
                what,
                os,
                exact_case: mixed,
                context,
            });
        }
    };
    for e in ENTRIES {
        for (name, what, os) in [
            (e.linux.map(|p| p.name), "errno name", None),
            (e.bsd.map(|p| p.name), "errno name", Some(Os::Macos)),
            (e.windows.map(|w| w.name), "Winsock name", Some(Os::Windows)),
            (e.rust, "Rust io::ErrorKind", None),
            (e.python, "Python exception", None),
            (Some(e.id), "catalog id", None),
        ] {
            if let Some(name) = name {
                add(e, name, what, os);
            }
        }
        for w in e.win32 {
            add(e, w.name, "Win32 error", Some(Os::Windows));
        }
        for d in e.dotnet {
            add(e, d, ".NET SocketError", Some(Os::Windows));
        }
        for t in e.tokens {
            add(e, t, "identifier", None);
        }
    }
    map
});

/// Who a phrase of the automaton belongs to.
pub(super) enum Owner {
    Entry {
        entry: &'static Entry,
        weight: u8,
    },
    /// Part `part` of pattern `pattern` of message `message` (indexes into the table).
    Message {
        message: usize,
        pattern: usize,
        part: usize,
    },
}

pub(super) struct Phrases {
    pub automaton: Option<AhoCorasick>,
    /// Per automaton pattern (one per distinct text): its owners.
    pub owners: Vec<Vec<Owner>>,
}

pub(super) static PHRASES: LazyLock<Phrases> = LazyLock::new(|| {
    let mut texts: Vec<&'static str> = Vec::new();
    let mut owners: Vec<Vec<Owner>> = Vec::new();
    let mut add = |text: &'static str, owner: Owner| match texts.iter().position(|t| *t == text) {
        Some(i) => owners[i].push(owner),
        None => {
            texts.push(text);
            owners.push(vec![owner]);
        }
    };
    for e in ENTRIES {
        for p in e.phrases {
            add(
                p.text,
                Owner::Entry {
                    entry: e,
                    weight: p.weight,
                },
            );
        }
    }
    for (message, m) in messages::table().messages.iter().enumerate() {
        for (pattern, p) in m.patterns.iter().enumerate() {
            if let Pattern::All(parts) = p {
                for (part, text) in parts.iter().enumerate() {
                    add(
                        text,
                        Owner::Message {
                            message,
                            pattern,
                            part,
                        },
                    );
                }
            }
        }
    }
    Phrases {
        automaton: automaton(&texts),
        owners,
    }
});

/// Whole words of message patterns (`SD`, `UC`) → the messages that use them.
pub(super) static WORDS: LazyLock<HashMap<&'static str, Vec<usize>>> = LazyLock::new(|| {
    let mut map: HashMap<&'static str, Vec<usize>> = HashMap::new();
    for (i, m) in messages::table().messages.iter().enumerate() {
        for p in &m.patterns {
            if let Pattern::Word(w) = p {
                map.entry(*w).or_default().push(i);
            }
        }
    }
    map
});

pub(super) struct Localized {
    pub automaton: Option<AhoCorasick>,
    /// Per automaton pattern: the texts with that compact form.
    pub texts: Vec<Vec<&'static LocalizedText>>,
}

pub(super) static LOCALIZED: LazyLock<Localized> = LazyLock::new(|| {
    let mut keys: Vec<String> = Vec::new();
    let mut texts: Vec<Vec<&'static LocalizedText>> = Vec::new();
    for t in &localized::table().texts {
        let key = localized::compact(&t.text);
        match keys.iter().position(|k| *k == key) {
            Some(i) => texts[i].push(t),
            None => {
                keys.push(key);
                texts.push(vec![t]);
            }
        }
    }
    Localized {
        automaton: automaton(&keys),
        texts,
    }
});

/// An automaton that reports every occurrence of every pattern, overlapping ones included.
/// Built from static data; `None` only if that data were empty or too large.
fn automaton<P: AsRef<[u8]>>(patterns: &[P]) -> Option<AhoCorasick> {
    AhoCorasick::builder()
        .match_kind(MatchKind::Standard)
        .build(patterns)
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_automata_build() {
        assert!(PHRASES.automaton.is_some());
        assert!(LOCALIZED.automaton.is_some());
        assert!(NAMES.contains_key("ECONNRESET"));
        assert!(NAMES.contains_key("EADDRINUSE"));
        assert!(WORDS.contains_key("SD"));
    }
}
