//! The committed BPF objects are what `scripts/build-bpf` makes of `bpf/*.bpf.c` today, so
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
    assert!(status.success(), "scripts/build-bpf failed");
    let mut sources: Vec<String> = std::fs::read_dir(&bpf)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|n| n.strip_suffix(".bpf.c").map(str::to_string))
        .collect();
    sources.sort();
    assert!(
        sources.contains(&"watch".to_string()) && sources.contains(&"calls".to_string()),
        "{sources:?}"
    );
    for name in &sources {
        let object = format!("{name}.bpf.o");
        let fresh = std::fs::read(out.join(&object)).unwrap();
        let committed = std::fs::read(bpf.join(&object))
            .unwrap_or_else(|e| panic!("crates/kernel/bpf/{object}: {e}: run scripts/build-bpf"));
        assert!(
            fresh == committed,
            "crates/kernel/bpf/{object} is stale: run scripts/build-bpf and commit it"
        );
    }
    let _ = std::fs::remove_dir_all(&out);
}
