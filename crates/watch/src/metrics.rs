//! `watch --metrics`: counters of ends and drops in Prometheus/OpenMetrics text
//! (prometheus-client). Every label takes its values from a closed set (the kinds, the
//! kernel's state and reason names, the Linux errno table), so the number of series stays
//! bounded whatever the traffic: anything else is counted as `other`.

use crate::death::{Death, Kind};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use std::collections::HashSet;
use std::sync::Mutex;
use tcpmortem_core::RstReason;
use tcpmortem_core::errno::{Numbering, number_in};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndLabels {
    kind: &'static str,
    ending: &'static str,
    reason: &'static str,
    errno: &'static str,
    state_before: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LostLabel {
    what: &'static str,
}

/// The registry and its counters; cheap to update from the reading thread while a server
/// thread encodes it.
pub struct Metrics {
    registry: Registry,
    ends: Family<EndLabels, Counter>,
    drops: Family<ReasonLabel, Counter>,
    lost: Family<LostLabel, Counter>,
    drop_reasons: Mutex<HashSet<String>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Names of the drop reasons this kernel has at most; beyond, `other` (bounded labels).
const MAX_DROP_REASONS: usize = 256;

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("tcpmortem_watch");
        let ends = Family::<EndLabels, Counter>::default();
        registry.register(
            "ends",
            "TCP connection ends on this host, by watch's per-socket kind, the shared ending kind, the RST reason, the stored errno and the state before the end",
            ends.clone(),
        );
        let drops = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "drops",
            "TCP segments the kernel dropped (skb:kfree_skb), by enum skb_drop_reason",
            drops.clone(),
        );
        let lost = Family::<LostLabel, Counter>::default();
        registry.register(
            "lost",
            "Events watch could not record (ring buffer full, trace buffer overrun, per-socket storage)",
            lost.clone(),
        );
        Metrics {
            registry,
            ends,
            drops,
            lost,
            drop_reasons: Mutex::default(),
        }
    }

    pub fn end(&self, d: &Death) {
        let reason = match d.reason {
            None => "none",
            Some(RstReason::Known(i)) => RstReason::KNOWN[usize::from(i)].name,
            Some(RstReason::Other(_)) => "other",
        };
        let errno = match d.errno.as_deref() {
            None => "none",
            // The table's own &'static name: a closed set.
            Some(e) => number_in(Numbering::LinuxErrno, e)
                .and_then(|n| tcpmortem_core::errno::name_in(Numbering::LinuxErrno, n))
                .unwrap_or("other"),
        };
        self.ends
            .get_or_create(&EndLabels {
                kind: d.kind.name(),
                ending: d.ending().map(|e| e.0.name()).unwrap_or("unknown"),
                reason,
                errno,
                state_before: d.state_before.map(|s| s.name()).unwrap_or("none"),
            })
            .inc();
    }

    pub fn drop(&self, reason: &str) {
        let name = reason
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
        let reason = match self.drop_reasons.lock() {
            Ok(mut seen) if name && (seen.contains(reason) || seen.len() < MAX_DROP_REASONS) => {
                seen.insert(reason.to_string());
                reason.to_string()
            }
            _ => "other".into(),
        };
        self.drops.get_or_create(&ReasonLabel { reason }).inc();
    }

    /// Adds to a loss counter (`ring_buffer`, `trace_buffer`, `socket_storage`, `drop_table`).
    pub fn lost(&self, what: &'static str, n: u64) {
        if n > 0 {
            self.lost.get_or_create(&LostLabel { what }).inc_by(n);
        }
    }

    /// The OpenMetrics text exposition, ending in `# EOF`.
    pub fn encode(&self) -> String {
        let mut s = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut s, &self.registry);
        s
    }

    /// Every per-socket kind, so that a scrape shows zeros before the first end.
    pub fn declare_kinds(&self) {
        for k in Kind::ALL {
            let _ = self.ends.get_or_create(&EndLabels {
                kind: k.name(),
                ending: "unknown",
                reason: "none",
                errno: "none",
                state_before: "none",
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ends_and_drops_are_counted_with_closed_label_sets() {
        let m = Metrics::new();
        let mut d = Death::new(
            1,
            "10.0.0.1:1".parse().unwrap(),
            Some("10.0.0.2:2".parse().unwrap()),
        );
        d.errno = Some("ECONNRESET".into());
        d.reset_received = true;
        d.state_before = Some(tcpmortem_core::TcpState::Established);
        d.classify();
        m.end(&d);
        m.end(&d);
        let mut odd = d.clone();
        odd.errno = Some("E999".into());
        m.end(&odd);
        m.drop("NETFILTER_DROP");
        m.drop("not a name {}");
        m.lost("ring_buffer", 3);
        let t = m.encode();
        assert!(t.contains(r#"tcpmortem_watch_ends_total{kind="rst-received",ending="reset",reason="none",errno="ECONNRESET",state_before="ESTABLISHED"} 2"#), "{t}");
        assert!(t.contains(r#"errno="other""#), "{t}");
        assert!(
            t.contains(r#"tcpmortem_watch_drops_total{reason="NETFILTER_DROP"} 1"#),
            "{t}"
        );
        assert!(
            t.contains(r#"tcpmortem_watch_drops_total{reason="other"} 1"#),
            "{t}"
        );
        assert!(
            t.contains(r#"tcpmortem_watch_lost_total{what="ring_buffer"} 3"#),
            "{t}"
        );
        assert!(t.ends_with("# EOF\n"));
    }
}
