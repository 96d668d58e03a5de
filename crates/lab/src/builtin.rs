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
];

/// The source of a built-in scenario.
pub fn source(name: &str) -> Option<&'static str> {
    BUILTIN.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_parses_and_is_named_after_its_file() {
        for (name, src) in BUILTIN {
            let sc = crate::scenario::parse(src).unwrap_or_else(|e| panic!("{name}: {e}"));
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
