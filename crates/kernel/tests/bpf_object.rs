//! The committed BPF object is what `scripts/build-bpf` makes of `bpf/watch.bpf.c` today, so
//! that a change to the C source cannot ship with a stale object. Needs clang, llvm-strip and
//! libbpf-dev's headers (installed by scripts/test); fails loudly in CI without them.

use std::process::Command;

#[test]
fn committed_object_matches_its_source() {
    let have = |tool: &str| Command::new(tool).arg("--version").output().is_ok();
    let headers = std::path::Path::new("/usr/include/bpf/bpf_helpers.h").exists();
    if !(have("clang") && have("llvm-strip") && headers) {
        assert!(
            std::env::var_os("CI").is_none(),
            "clang, llvm-strip and libbpf-dev are needed to check crates/kernel/bpf/watch.bpf.o"
        );
        eprintln!("SKIPPED: no clang/llvm-strip/libbpf-dev to rebuild the BPF object");
        return;
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = std::env::temp_dir().join(format!("tcpmortem-bpf-{}.o", std::process::id()));
    let status = Command::new("bash")
        .arg(root.join("scripts/build-bpf"))
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success(), "scripts/build-bpf failed");
    let fresh = std::fs::read(&out).unwrap();
    let _ = std::fs::remove_file(&out);
    let committed = std::fs::read(root.join("crates/kernel/bpf/watch.bpf.o")).unwrap();
    assert!(
        fresh == committed,
        "crates/kernel/bpf/watch.bpf.o is stale: run scripts/build-bpf and commit it"
    );
}
