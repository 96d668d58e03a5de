//! The closest known names to the words of a query nothing was found in (edit distance). The
//! work is bounded: distinct words only, at most a few thousand of them, and names whose length
//! is too far from a word's are skipped before any distance is computed.

use crate::catalog::ENTRIES;
use crate::errno;
use std::collections::HashSet;
use std::sync::LazyLock;

/// Distinct words looked at; a huge unknown log is not worth more.
const MAX_WORDS: usize = 1024;

static KNOWN: LazyLock<Vec<(&'static str, Vec<char>)>> = LazyLock::new(|| {
    let mut known: Vec<&'static str> = errno::all_names().collect();
    for e in ENTRIES {
        known.extend(e.dotnet.iter().copied());
        known.extend(e.tokens.iter().copied());
        known.extend(e.rust);
        known.extend(e.python);
    }
    known.sort_unstable();
    known.dedup();
    known
        .into_iter()
        .map(|k| (k, k.to_ascii_uppercase().chars().collect()))
        .collect()
});

pub(super) fn suggest<'a>(words: impl Iterator<Item = &'a str>) -> Vec<&'static str> {
    let mut seen: HashSet<String> = HashSet::new();
    let mut scored: Vec<(usize, &'static str)> = Vec::new();
    for w in words.filter(|w| (3..=40).contains(&w.len())) {
        if seen.len() >= MAX_WORDS {
            break;
        }
        let w = w.to_ascii_uppercase();
        if !seen.insert(w.clone()) {
            continue;
        }
        let w: Vec<char> = w.chars().collect();
        for (k, kc) in KNOWN.iter() {
            let limit = (k.len() / 3).max(1);
            if w.len().abs_diff(kc.len()) > limit {
                continue;
            }
            if let Some(d) = within(&w, kc, limit) {
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

/// The edit distance of `a` and `b` if it is at most `limit`: rows stop as soon as every cell
/// exceeds the limit.
fn within(a: &[char], b: &[char], limit: usize) -> Option<usize> {
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = Vec::with_capacity(b.len() + 1);
    for (i, ca) in a.iter().enumerate() {
        cur.clear();
        cur.push(i + 1);
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        if cur.iter().all(|d| *d > limit) {
            return None;
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    Some(prev[b.len()]).filter(|d| *d <= limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lev(a: &str, b: &str) -> usize {
        let a: Vec<char> = a.chars().collect();
        let b: Vec<char> = b.chars().collect();
        within(&a, &b, usize::MAX).unwrap()
    }

    #[test]
    fn edit_distance() {
        assert_eq!(lev("ECONNRESTE", "ECONNRESET"), 2);
        assert_eq!(lev("", "ABC"), 3);
        assert_eq!(lev("EPIPE", "EPIPE"), 0);
        let chars = |s: &str| s.chars().collect::<Vec<_>>();
        assert_eq!(within(&chars("ECONNRESTE"), &chars("ECONNRESET"), 1), None);
        assert_eq!(
            within(&chars("ECONNRESTE"), &chars("ECONNRESET"), 3),
            Some(2)
        );
    }

    #[test]
    fn closest_names_first() {
        assert_eq!(suggest(["ECONNRESTE"].into_iter())[0], "ECONNRESET");
        assert_eq!(suggest(["EADDRINUS"].into_iter())[0], "EADDRINUSE");
    }
}
