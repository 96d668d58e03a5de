//! Why a run could not be done.

/// Why a run could not be done. Each kind has its own exit code in the CLI.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error(
        "the lab needs root, or CAP_SYS_ADMIN + CAP_NET_ADMIN + CAP_NET_RAW; this process lacks {0}"
    )]
    Privilege(String),
    #[error("setting up the sandbox: {0}")]
    Setup(String),
    /// A program the scenario needs is not installed (`nft` for network faults).
    #[error("line {line}: {message}")]
    Unavailable { line: usize, message: String },
    #[error("actor: {0}")]
    Actor(String),
    #[error("line {line}: {message}")]
    Scenario { line: usize, message: String },
    #[error("interrupted")]
    Interrupted,
}
