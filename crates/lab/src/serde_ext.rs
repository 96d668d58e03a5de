//! JSON for the vocabulary types of other crates that the record holds, in the spelling they
//! print, read back the same way: a saved record (`lab run --json`) loads into a [`Record`].
//!
//! [`Record`]: crate::record::Record

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// TCP flags as tcpdump prints them (`S.`, `R`, `FP.`).
pub mod flags {
    use super::*;
    use tcpmortem_wire::Flags;

    pub fn serialize<S: Serializer>(f: &Flags, s: S) -> Result<S::Ok, S::Error> {
        f.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Flags, D::Error> {
        let s = String::deserialize(d)?;
        if s == "none" || s.is_empty() {
            return Ok(Flags(0));
        }
        Flags::parse(&s).ok_or_else(|| D::Error::custom(format!("bad TCP flags {s:?}")))
    }
}

/// A RST reason by its tracepoint name, `UNKNOWN_N` for numbers this build does not know.
pub mod rst_reason {
    use super::*;
    use tcpmortem_core::RstReason;

    pub fn serialize<S: Serializer>(r: &Option<RstReason>, s: S) -> Result<S::Ok, S::Error> {
        r.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<RstReason>, D::Error> {
        let Some(s) = Option::<String>::deserialize(d)? else {
            return Ok(None);
        };
        if let Some(n) = s.strip_prefix("UNKNOWN_").and_then(|n| n.parse().ok()) {
            return Ok(Some(RstReason::from_number(n)));
        }
        RstReason::parse(&s)
            .map(Some)
            .ok_or_else(|| D::Error::custom(format!("unknown RST reason {s:?}")))
    }
}

/// An operating system by its lowercase name.
pub mod os {
    use super::*;
    use tcpmortem_core::Os;

    pub fn serialize<S: Serializer>(o: &Os, s: S) -> Result<S::Ok, S::Error> {
        o.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Os, D::Error> {
        let s = String::deserialize(d)?;
        Os::ALL
            .into_iter()
            .find(|o| {
                serde_json::to_value(o)
                    .ok()
                    .and_then(|v| v.as_str().map(|x| x == s))
                    == Some(true)
            })
            .ok_or_else(|| D::Error::custom(format!("unknown OS {s:?}")))
    }
}

/// How a claim is known, by its lowercase name.
pub mod basis {
    use super::*;
    use tcpmortem_core::Basis;

    const ALL: [Basis; 5] = [Basis::Doc, Basis::Src, Basis::Test, Basis::Obs, Basis::Here];

    pub fn serialize<S: Serializer>(b: &Basis, s: S) -> Result<S::Ok, S::Error> {
        b.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Basis, D::Error> {
        let s = String::deserialize(d)?;
        ALL.into_iter()
            .find(|b| {
                serde_json::to_value(b)
                    .ok()
                    .and_then(|v| v.as_str().map(|x| x == s))
                    == Some(true)
            })
            .ok_or_else(|| D::Error::custom(format!("unknown basis {s:?}")))
    }
}
