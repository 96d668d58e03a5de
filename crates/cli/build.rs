//! Names the git commit the binary is built from, for `tcpmortem --version`.
//!
//! `TCPMORTEM_COMMIT` wins when set (scripts/package sets it: it builds from an export of the
//! tree, without `.git`). Otherwise git is asked, but only about this workspace's own
//! repository: a tarball unpacked inside some other checkout must not take that one's commit.
//! Without either, the version says the commit is unknown, and the build goes on.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=TCPMORTEM_COMMIT");
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let commit = std::env::var("TCPMORTEM_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .or_else(|| {
            let (commit, watched) = git_commit(&manifest)?;
            for path in watched {
                println!("cargo:rerun-if-changed={}", path.display());
            }
            Some(commit)
        })
        .unwrap_or_else(|| "unknown commit".into());
    println!("cargo:rustc-env=TCPMORTEM_COMMIT={commit}");
}

/// `git` run in `dir`; its trimmed stdout when it succeeds.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
}

/// "commit 0123456789ab, 2026-11-30" for the checkout holding `crate_dir` (two levels below
/// the workspace root), and the files whose change moves HEAD; None outside such a checkout.
pub fn git_commit(crate_dir: &Path) -> Option<(String, Vec<PathBuf>)> {
    let root = crate_dir.join("../..").canonicalize().ok()?;
    let top = PathBuf::from(git(crate_dir, &["rev-parse", "--show-toplevel"])?);
    if top.canonicalize().ok()? != root {
        return None;
    }
    let hash = git(crate_dir, &["rev-parse", "--short=12", "HEAD"])?;
    let date = git(crate_dir, &["log", "-1", "--format=%cs", "HEAD"])?;
    // HEAD, the branch it points to, and packed-refs: a commit or checkout changes one of
    // them. Only existing paths are watched (a missing one would rerun this every build).
    let mut refs = vec!["HEAD".to_string(), "packed-refs".to_string()];
    if let Some(branch) = git(crate_dir, &["symbolic-ref", "-q", "HEAD"]) {
        refs.push(branch);
    }
    let watched = refs
        .iter()
        .filter_map(|r| {
            git(
                crate_dir,
                &["rev-parse", "--path-format=absolute", "--git-path", r],
            )
        })
        .map(PathBuf::from)
        .filter(|p| p.exists())
        .collect();
    Some((format!("commit {hash}, {date}"), watched))
}
