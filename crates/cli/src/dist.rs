//! What an install needs besides the binary: shell completions and man pages, both generated
//! from the clap definitions, so they cannot drift from `--help`.

use crate::exit;
use clap::CommandFactory;
use std::io::Write;
use std::path::Path;

/// Print a shell completion script.
///
/// bash: `tcpmortem completions bash > /etc/bash_completion.d/tcpmortem` (or source it from
/// ~/.bashrc); zsh: write it as `_tcpmortem` in a directory of $fpath; fish: write it to
/// ~/.config/fish/completions/tcpmortem.fish. The Debian package installs all three.
#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    shell: Shell,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Shell {
    Bash,
    Zsh,
    Fish,
}

fn command() -> clap::Command {
    crate::Cli::command()
}

pub fn completions(args: &CompletionsArgs, out: &mut impl Write) -> anyhow::Result<u8> {
    use clap_complete::Shell as S;
    let shell = match args.shell {
        Shell::Bash => S::Bash,
        Shell::Zsh => S::Zsh,
        Shell::Fish => S::Fish,
    };
    // Generated into memory first: clap_complete panics on a write error (a closed pipe).
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command(), "tcpmortem", &mut script);
    out.write_all(&script)?;
    Ok(exit::OK)
}

/// Writes the man pages into `dir`: tcpmortem.1 and one per subcommand, named after its path
/// (tcpmortem-lab-run.1), and prints their paths.
pub fn man_pages(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut cmd = command().disable_help_subcommand(true);
    cmd.build();
    page(&cmd, dir)?;
    let mut pages: Vec<_> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "1"))
        .collect();
    pages.sort();
    for p in pages {
        println!("{}", p.display());
    }
    Ok(())
}

/// `cmd`'s page, then its visible subcommands' (clap_mangen's generate_to, with the version and
/// manual named on every page rather than only the top one's).
fn page(cmd: &clap::Command, dir: &Path) -> std::io::Result<()> {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        page(sub, dir)?;
    }
    clap_mangen::Man::new(cmd.clone())
        .source(format!("tcpmortem {}", crate::VERSION))
        .manual("tcpmortem")
        .generate_to(dir)?;
    Ok(())
}
