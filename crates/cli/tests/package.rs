//! The Debian package that scripts/package builds (README "Install"): dpkg installs it, it
//! holds the binary, a man page per command, the three completions, the README and the
//! licences, and its binary is static (no glibc symbol version to require, no debug info)
//! and runs in an empty root, where no libc at all is there to help it.
//!
//! scripts/test builds the package first and names it in TCPMORTEM_DEB; without it, CI fails
//! and elsewhere the test says it was skipped.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;

fn deb() -> Option<PathBuf> {
    match std::env::var_os("TCPMORTEM_DEB") {
        Some(p) => Some(PathBuf::from(p)),
        None => {
            assert!(
                std::env::var_os("CI").is_none(),
                "TCPMORTEM_DEB is not set: scripts/test builds the package with scripts/package first"
            );
            eprintln!("SKIPPED: no package (TCPMORTEM_DEB); run `bash scripts/package`");
            None
        }
    }
}

fn run(program: &str, args: &[&str]) -> Output {
    let out = Command::new(program).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn text(out: Output) -> String {
    String::from_utf8(out.stdout).unwrap()
}

/// Installs the package with dpkg into an empty root of its own (`dpkg --root`), so the
/// host's package database is left alone.
fn install(deb: &Path, root: &Path) {
    for d in ["var/lib/dpkg/info", "var/lib/dpkg/updates"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    for f in ["var/lib/dpkg/status", "var/lib/dpkg/available"] {
        std::fs::write(root.join(f), "").unwrap();
    }
    let root_arg = format!("--root={}", root.display());
    run(
        "dpkg",
        &[
            &root_arg,
            "--log=/dev/null",
            "--force-not-root",
            "-i",
            deb.to_str().unwrap(),
        ],
    );
    let status = text(run("dpkg", &[&root_arg, "-s", "tcpmortem"]));
    assert!(status.contains("Status: install ok installed"), "{status}");
}

/// The man pages there must be: one per command, as the binary under test names them.
fn expected_man_pages() -> Vec<String> {
    let dir = common::tempdir();
    let out = run(
        assert_cmd::cargo::cargo_bin("tcpmortem").to_str().unwrap(),
        &["__man-pages", dir.path().to_str().unwrap()],
    );
    text(out)
        .lines()
        .map(|l| format!("{}.gz", Path::new(l).file_name().unwrap().to_str().unwrap()))
        .collect()
}

#[test]
fn the_package_installs_everything_the_readme_promises() {
    let Some(deb) = deb() else { return };
    let field = |f: &str| {
        text(run("dpkg-deb", &["-f", deb.to_str().unwrap(), f]))
            .trim()
            .to_string()
    };
    assert_eq!(field("Package"), "tcpmortem");
    assert_eq!(field("Version"), format!("{}-1", env!("CARGO_PKG_VERSION")));
    assert_eq!(field("Architecture"), "amd64");
    assert_eq!(field("Depends"), "", "a static binary depends on nothing");
    assert_eq!(field("Recommends"), "nftables");

    let root = common::tempdir();
    install(&deb, root.path());
    let has = |p: &str| root.path().join(p).is_file();
    let mut missing: Vec<String> = [
        "usr/bin/tcpmortem",
        "usr/share/bash-completion/completions/tcpmortem",
        "usr/share/zsh/vendor-completions/_tcpmortem",
        "usr/share/fish/vendor_completions.d/tcpmortem.fish",
        "usr/share/doc/tcpmortem/README.md",
        "usr/share/doc/tcpmortem/LICENSE-MIT",
        "usr/share/doc/tcpmortem/LICENSE-APACHE",
        "usr/share/doc/tcpmortem/copyright",
    ]
    .into_iter()
    .filter(|p| !has(p))
    .map(String::from)
    .collect();
    let pages = expected_man_pages();
    assert!(pages.len() >= 9, "{pages:?}");
    for page in &pages {
        let path = format!("usr/share/man/man1/{page}");
        if !has(&path) {
            missing.push(path);
            continue;
        }
        // gzip'd roff whose title is the command's path: tcpmortem-lab-run(1).
        let roff = text(run("zcat", &[root.path().join(&path).to_str().unwrap()]));
        let title = page.trim_end_matches(".1.gz");
        assert!(
            roff.contains(&format!(".TH {title} 1 ")),
            "{path}: {}",
            &roff[..roff.len().min(200)]
        );
    }
    assert!(missing.is_empty(), "missing from the package: {missing:?}");
    let readme = std::fs::read(root.path().join("usr/share/doc/tcpmortem/README.md")).unwrap();
    assert_eq!(
        readme,
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap()
    );
}

/// The highest glibc symbol version a binary requires (`objdump -T`), None when it requires
/// none.
fn max_glibc(bin: &Path) -> Option<(u32, u32)> {
    let out = Command::new("objdump")
        .args(["-T", bin.to_str().unwrap()])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split("GLIBC_")
        .skip(1)
        .filter_map(|v| {
            let v: String = v
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.')
                .collect();
            let mut parts = v.split('.').map(|p| p.parse::<u32>().ok());
            Some((parts.next()??, parts.next().flatten().unwrap_or(0)))
        })
        .max()
}

/// glibc's functions that go through NSS (nsswitch.conf, and dlopen of libnss_* modules).
const NSS_ENTRY_POINTS: &[&str] = &[
    "getaddrinfo",
    "getnameinfo",
    "gethostbyname",
    "gethostbyname_r",
    "gethostbyname2",
    "gethostbyname2_r",
    "gethostbyaddr",
    "gethostbyaddr_r",
    "getpwnam",
    "getpwnam_r",
    "getpwuid",
    "getpwuid_r",
    "getpwent",
    "getgrnam",
    "getgrnam_r",
    "getgrgid",
    "getgrgid_r",
    "getgrouplist",
    "initgroups",
    "getservbyname",
    "getservbyname_r",
    "getservbyport",
    "getservbyport_r",
    "getprotobyname",
    "getprotobyname_r",
    "getprotobynumber",
    "getspnam",
];

#[test]
fn the_packaged_binary_runs_without_the_systems_libc() {
    let Some(deb) = deb() else { return };
    let dir = common::tempdir();
    run(
        "dpkg-deb",
        &["-x", deb.to_str().unwrap(), dir.path().to_str().unwrap()],
    );
    let bin = dir.path().join("usr/bin/tcpmortem");
    let b = bin.to_str().unwrap();

    // Older distributions: glibc symbol versions at most 2.28 (Debian 10, RHEL 8); a static
    // binary requires none.
    let glibc = max_glibc(&bin);
    assert!(glibc.is_none_or(|v| v <= (2, 28)), "needs GLIBC_{glibc:?}");
    let headers = text(run("readelf", &["--program-headers", "--dynamic", b]));
    assert!(!headers.contains("INTERP"), "a dynamic loader is asked for");
    assert!(!headers.contains("(NEEDED)"), "shared libraries needed");
    // No debug info (the 17 MB of a release build were mostly that).
    let sections = text(run("readelf", &["--section-headers", "--wide", b]));
    assert!(!sections.contains(".debug_"), "{sections}");
    // A static glibc loads the host's NSS modules (libnss_*.so, of the host's glibc version)
    // for name lookups: getaddrinfo, getpwnam... A portable static binary must make none.
    let symbols = text(run("nm", &["--defined-only", b]));
    let nss: Vec<&str> = symbols
        .lines()
        .filter_map(|l| match l.split_whitespace().collect::<Vec<_>>()[..] {
            [_, "T" | "t", name] => Some(name),
            _ => None,
        })
        .filter(|name| NSS_ENTRY_POINTS.contains(name))
        .collect();
    assert!(nss.is_empty(), "the static binary calls NSS: {nss:?}");
    let size = std::fs::metadata(&bin).unwrap().len();
    // 12.4 MB with watch's eBPF loader (aya, with its ELF and BTF parsing) and metrics; a
    // build with debug info is far above.
    assert!(size < 14_000_000, "{size} bytes");

    // Run once where there is nothing but the binary: no libc, no loader, no /proc.
    let version = if common::privileged("package") {
        let root = dir.path().join("empty-root");
        std::fs::create_dir(&root).unwrap();
        std::fs::copy(&bin, root.join("tcpmortem")).unwrap();
        let r = root.to_str().unwrap();
        let answer = text(run("chroot", &[r, "/tcpmortem", "explain", "10053"]));
        assert!(answer.starts_with("WSAECONNABORTED 10053"), "{answer}");
        text(run("chroot", &[r, "/tcpmortem", "--version"]))
    } else {
        text(run(b, &["--version"]))
    };
    // The commit it was built from: scripts/package builds from a tree without .git.
    let want = common::version_prefix();
    assert!(
        version.starts_with(&want),
        "{version:?} should start with {want:?}"
    );
}
