//! Every committed BPF object is what `scripts/build-bpf` makes of its `bpf/*.bpf.c` today, so
//! that a change to a C source cannot ship with a stale object. Needs clang, llvm-strip and
//! libbpf-dev's headers (installed by scripts/test); fails loudly in CI without them.

use std::process::Command;

#[test]
fn committed_objects_match_their_sources() {
    let have = |tool: &str| Command::new(tool).arg("--version").output().is_ok();
    let headers = std::path::Path::new("/usr/include/bpf/bpf_helpers.h").exists();
    if !(have("clang") && have("llvm-strip") && headers) {
        assert!(
            std::env::var_os("CI").is_none(),
            "clang, llvm-strip and libbpf-dev are needed to check crates/kernel/bpf/*.bpf.o"
        );
        eprintln!("SKIPPED: no clang/llvm-strip/libbpf-dev to rebuild the BPF objects");
        return;
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let bpf = root.join("crates/kernel/bpf");
    let out = std::env::temp_dir().join(format!("tcpmortem-bpf-{}", std::process::id()));
    let status = Command::new("bash")
        .arg(root.join("scripts/build-bpf"))
        .arg(&out)
        .status()
        .unwrap();
    let mut sources: Vec<String> = std::fs::read_dir(&bpf)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".bpf.c"))
        .collect();
    sources.sort();
    let fresh: Vec<_> = sources
        .iter()
        .map(|s| {
            let o = s.replace(".bpf.c", ".bpf.o");
            (o.clone(), std::fs::read(out.join(&o)).ok())
        })
        .collect();
    let _ = std::fs::remove_dir_all(&out);
    assert!(status.success(), "scripts/build-bpf failed");
    assert!(!sources.is_empty(), "no BPF source under crates/kernel/bpf");
    for (o, fresh) in fresh {
        let committed = std::fs::read(bpf.join(&o)).ok();
        assert!(fresh.is_some(), "scripts/build-bpf did not build {o}");
        assert!(
            fresh == committed,
            "crates/kernel/bpf/{o} is stale or missing: run scripts/build-bpf and commit it"
        );
    }
}
