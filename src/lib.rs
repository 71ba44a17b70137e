//! provider-bridge: render Infisical secrets into safe env files (`write-canary-env`) and
//! probe what an OpenAI-compatible chat endpoint really supports (`ollama-compat-smoke`).
//!
//! The binaries in `src/bin/` only parse arguments and map errors to [`exit::Exit`]; every
//! behaviour lives in these modules, one concern each. `contracts/` states the behaviour,
//! `tests/contract/` proves it.

pub mod canary;
mod cli;
pub mod dotenv;
pub mod envfile;
pub mod exit;
pub mod format;
pub mod hardening;
pub mod http;
pub mod infisical;
pub mod metrics;
mod names;
mod netenv;
pub mod onchange;
pub mod output;
pub mod secret;
mod signals;
pub mod smoke;

/// What both binaries do first: harden the process ([`hardening::harden`]), then parse the
/// command line with their `command` ([`cli::parse`]: a usage error printed the one way, its
/// exit code returned).
pub fn start<T: clap::FromArgMatches>(
    binary: &str,
    command: clap::Command,
) -> Result<T, std::process::ExitCode> {
    hardening::harden();
    cli::parse(binary, command)
}

/// The one async runtime of a run, built by each binary: current thread (the concurrent
/// requests of a run interleave on it), with IO and timers.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}
