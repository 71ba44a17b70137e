//! `ollama-compat-smoke`: check what an OpenAI-compatible chat endpoint really supports.
//! Thin, and the same shape as `write-canary-env`: [`provider_bridge::main`] hardens,
//! parses the arguments ([`smoke::cli::command`]) and records the metrics around [`run`],
//! which checks them into a [`Config`], prints its warnings, starts one runtime,
//! [`smoke::run`]s and renders.

#[allow(unused_imports)] // never panic on EPIPE: these replace the standard print macros
use provider_bridge::{eprint, eprintln, print, println};
use std::process::ExitCode;

use provider_bridge::exit::Exit;
use provider_bridge::smoke::cli::{Args, NAME};
use provider_bridge::smoke::{self, Config, Report, Settings};

/// Prints a failure on stderr, the one way (`<binary>: error: …`).
fn fail(err: &smoke::Error) -> (Exit, Option<Report>) {
    provider_bridge::output::error(NAME, err);
    (err.exit(), None)
}

fn main() -> ExitCode {
    provider_bridge::main::<Args, Settings>(NAME, smoke::cli::command(), run)
}

/// The run after argument parsing: its exit code, and its report when the checks ran.
fn run(settings: Settings) -> (Exit, Option<Report>) {
    let config = match Config::try_from(settings) {
        Ok(config) => config,
        Err(err) => return fail(&err),
    };
    for warning in &config.warnings {
        eprintln!("{NAME}: {warning}");
    }
    let runtime = match provider_bridge::runtime() {
        Ok(rt) => rt,
        Err(e) => return fail(&smoke::Error::Runtime(e)),
    };
    let report = match runtime.block_on(smoke::run(&config)) {
        Ok(report) => report,
        Err(err) => return fail(&err),
    };
    for line in report.diagnostics() {
        eprintln!("{line}");
    }
    print!("{}", report.stdout());
    if let Err(err) = report.write_output() {
        provider_bridge::output::error(NAME, &err);
        return (err.exit(), Some(report));
    }
    (report.exit(), Some(report))
}
