//! Namespaces with TCP tables of their own. Needs root (CAP_SYS_ADMIN + CAP_NET_ADMIN); in CI
//! a missing privilege fails loudly, elsewhere the test says it was skipped.

use tcpmortem_kernel::netns::{NetNs, read_sysctl};

fn privileged() -> bool {
    let missing = tcpmortem_kernel::proc::missing_capabilities();
    if !missing.is_empty() {
        assert!(
            std::env::var_os("CI").is_none(),
            "the netns tests need root ({}), and CI must run them",
            missing.join(" + ")
        );
        eprintln!("SKIPPED: the netns tests need root");
    }
    missing.is_empty()
}

fn sysctls(ns: &NetNs, keys: &[&str]) -> Vec<String> {
    ns.run(|| keys.iter().map(|k| read_sysctl(k).unwrap()).collect())
        .unwrap()
}

/// Each namespace gets its own table of the size asked for (a positive tcp_ehash_entries; a
/// shared one reads negative), and the defaults the kernel derives from a table's size are
/// those of a namespace made the plain way, so nothing but the dump's cost changes.
#[test]
fn own_tables_keep_the_plain_namespaces_defaults() {
    if !privileged() {
        return;
    }
    let plain = NetNs::new().unwrap();
    let own = NetNs::new_with_own_tables(3, 4096).unwrap();
    assert_eq!(own.len(), 3);
    let derived = [
        "net.ipv4.tcp_max_syn_backlog",
        "net.ipv4.tcp_max_tw_buckets",
    ];
    let want = sysctls(&plain, &derived);
    let shared: i64 = sysctls(&plain, &["net.ipv4.tcp_ehash_entries"])[0]
        .parse()
        .unwrap();
    assert!(
        shared < 0,
        "a plain namespace shares the global table: {shared}"
    );
    let mut inodes: Vec<u64> = own.iter().map(|n| n.inode().unwrap()).collect();
    for ns in &own {
        assert_eq!(
            sysctls(ns, &["net.ipv4.tcp_ehash_entries"]),
            vec!["4096".to_string()]
        );
        assert_eq!(sysctls(ns, &derived), want);
        // The setting is the scratch namespace's, not passed on to the namespaces made.
        assert_eq!(
            sysctls(ns, &["net.ipv4.tcp_child_ehash_entries"]),
            vec!["0".to_string()]
        );
    }
    inodes.dedup();
    assert_eq!(inodes.len(), 3, "three distinct namespaces");
}
