//! Each committed BPF object is what `scripts/build-bpf` makes of its `bpf/NAME.bpf.c` today,
//! so that a change to the C sources cannot ship with a stale object. Needs clang, llvm-strip and
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
        eprintln!("SKIPPED: no clang/llvm-strip/libbpf-dev to rebuild the BPF object");
        return;
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = std::env::temp_dir().join(format!("tcpmortem-bpf-{}", std::process::id()));
    std::fs::create_dir_all(&out).unwrap();
    let status = Command::new("bash")
        .arg(root.join("scripts/build-bpf"))
        .arg(&out)
        .status()
        .unwrap();
    let dir = root.join("crates/kernel/bpf");
    let mut checked = Vec::new();
    for e in std::fs::read_dir(&dir).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let Some(stem) = name.strip_suffix(".bpf.c") else {
            continue;
        };
        let object = format!("{stem}.bpf.o");
        let fresh = std::fs::read(out.join(&object));
        let committed = std::fs::read(dir.join(&object))
            .unwrap_or_else(|_| panic!("{object} is not committed: run scripts/build-bpf"));
        assert!(
            fresh.as_ref().is_ok_and(|f| *f == committed),
            "crates/kernel/bpf/{object} is stale: run scripts/build-bpf and commit it"
        );
        checked.push(object);
    }
    let _ = std::fs::remove_dir_all(&out);
    assert!(status.success(), "scripts/build-bpf failed");
    checked.sort();
    assert_eq!(
        checked,
        ["calls.bpf.o", "lab.bpf.o", "watch.bpf.o"],
        "objects checked"
    );
}
