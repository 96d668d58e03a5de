//! The built-in scenarios: files in the scenario language, embedded in the binary.

/// (name, source) of every built-in scenario, in catalog order.
pub const BUILTIN: &[(&str, &str)] = &[
    (
        "server-closes-early",
        include_str!("../scenarios/server-closes-early.tcpm"),
    ),
    (
        "server-crashes",
        include_str!("../scenarios/server-crashes.tcpm"),
    ),
    (
        "server-crashes-with-unread-data",
        include_str!("../scenarios/server-crashes-with-unread-data.tcpm"),
    ),
    (
        "graceful-close",
        include_str!("../scenarios/graceful-close.tcpm"),
    ),
    ("half-close", include_str!("../scenarios/half-close.tcpm")),
    (
        "close-with-unread-data",
        include_str!("../scenarios/close-with-unread-data.tcpm"),
    ),
    (
        "linger-abort",
        include_str!("../scenarios/linger-abort.tcpm"),
    ),
    (
        "reset-with-queued-data",
        include_str!("../scenarios/reset-with-queued-data.tcpm"),
    ),
    (
        "connect-refused",
        include_str!("../scenarios/connect-refused.tcpm"),
    ),
    ("syn-dropped", include_str!("../scenarios/syn-dropped.tcpm")),
    (
        "user-timeout",
        include_str!("../scenarios/user-timeout.tcpm"),
    ),
    (
        "keepalive-timeout",
        include_str!("../scenarios/keepalive-timeout.tcpm"),
    ),
    (
        "accept-queue-full",
        include_str!("../scenarios/accept-queue-full.tcpm"),
    ),
    (
        "accept-queue-abort",
        include_str!("../scenarios/accept-queue-abort.tcpm"),
    ),
    ("peer-reboot", include_str!("../scenarios/peer-reboot.tcpm")),
    (
        "middlebox-reset",
        include_str!("../scenarios/middlebox-reset.tcpm"),
    ),
    (
        "middlebox-idle-timeout",
        include_str!("../scenarios/middlebox-idle-timeout.tcpm"),
    ),
    (
        "icmp-unreachable-connect",
        include_str!("../scenarios/icmp-unreachable-connect.tcpm"),
    ),
    (
        "icmp-unreachable-established",
        include_str!("../scenarios/icmp-unreachable-established.tcpm"),
    ),
    ("ipv6-reset", include_str!("../scenarios/ipv6-reset.tcpm")),
    ("local-abort", include_str!("../scenarios/local-abort.tcpm")),
];

/// Built-in scenarios that run programs found on Debian (curl, python3) in place of one
/// side: `lab list` shows them, `lab run NAME` runs them; `lab run --all` keeps to
/// [`BUILTIN`], which needs nothing but tcpmortem.
pub const WITH_PROGRAMS: &[(&str, &str)] = &[
    (
        "curl-empty-reply",
        include_str!("../scenarios/curl-empty-reply.tcpm"),
    ),
    (
        "curl-reset-by-peer",
        include_str!("../scenarios/curl-reset-by-peer.tcpm"),
    ),
    (
        "http-server-killed",
        include_str!("../scenarios/http-server-killed.tcpm"),
    ),
];

/// The source of a built-in scenario.
pub fn source(name: &str) -> Option<&'static str> {
    BUILTIN
        .iter()
        .chain(WITH_PROGRAMS)
        .find(|(n, _)| *n == name)
        .map(|(_, s)| *s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_parses_and_is_named_after_its_file() {
        for (name, src) in BUILTIN.iter().chain(WITH_PROGRAMS) {
            let sc = crate::parse::parse(src).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(&sc.name, name);
            assert!(!sc.description.is_empty());
        }
    }

    #[test]
    fn every_scenario_the_catalog_links_exists() {
        for e in tcpmortem_core::catalog::ENTRIES {
            for s in e.scenarios {
                assert!(
                    source(s).is_some(),
                    "{} links to unknown scenario {s}",
                    e.id
                );
            }
        }
    }
}
