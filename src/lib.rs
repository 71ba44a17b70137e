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

/// Both binaries' `main`, one shape: harden the process ([`hardening::harden`]), parse the
/// command line with their `command` into their settings ([`cli::parse`]: a usage error printed
/// the one way, its exit code returned), `run` them, write the run's metrics
/// ([`metrics::Recorder`]: every run past argument parsing, `contracts/metrics.md`), and exit
/// with the run's code.
pub fn main<A, S>(
    binary: &str,
    command: clap::Command,
    run: impl FnOnce(S) -> (exit::Exit, Option<S::Report>),
) -> std::process::ExitCode
where
    A: clap::FromArgMatches,
    S: From<A> + Clone + metrics::Recorder,
{
    hardening::harden();
    let args: A = match cli::parse(binary, command) {
        Ok(args) => args,
        Err(code) => return code,
    };
    let settings = S::from(args);
    let recorder = settings.clone();
    let started = std::time::Instant::now();
    let (exit, report) = run(settings);
    recorder.record(binary, started.elapsed(), exit, report.as_ref());
    exit.into()
}

/// The one async runtime of a run, built by each binary: current thread (the concurrent
/// requests of a run interleave on it), with IO and timers.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}
