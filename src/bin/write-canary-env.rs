//! `write-canary-env`: render secrets from Infisical into a dotenv file with exact modes.
//! Thin, and the same shape as `ollama-compat-smoke`: [`provider_bridge::main`] hardens,
//! parses the arguments ([`canary::cli::command`]) and records the metrics around [`run`],
//! which checks them into a [`Config`], prints its warnings, starts one runtime,
//! [`canary::run`]s and renders.

#[allow(unused_imports)] // never panic on EPIPE: these replace the standard print macros
use provider_bridge::{eprint, eprintln, print, println};
use std::process::ExitCode;

use provider_bridge::canary::cli::NAME;
use provider_bridge::canary::{self, Config, Report, Settings};
use provider_bridge::exit::Exit;

/// Prints a failure: the message on stderr, and under `--json` the error document on stdout.
/// A failed on-change command comes after a complete write: its report is printed too, and
/// returned for the metrics.
fn fail(err: &canary::Error, json: bool) -> (Exit, Option<Report>) {
    provider_bridge::output::error(NAME, err);
    match (err, json) {
        (canary::Error::OnChange { report, .. }, true) => {
            let mut doc = report.json();
            doc["exit_code"] = err.exit().code().into();
            doc["error"] = err.to_string().into();
            println!("{doc}");
        }
        (canary::Error::OnChange { report, .. }, false) => print!("{}", report.text()),
        (_, true) => println!("{}", canary::error_json(err)),
        (_, false) => {}
    }
    let report = match err {
        canary::Error::OnChange { report, .. } => Some(report.as_ref().clone()),
        _ => None,
    };
    (err.exit(), report)
}

fn main() -> ExitCode {
    provider_bridge::main::<Settings, Settings>(NAME, canary::cli::command(), run)
}

/// The run after argument parsing: its exit code, and its report when it got that far.
fn run(settings: Settings) -> (Exit, Option<Report>) {
    let json = settings.json;
    let config = match Config::try_from(settings) {
        Ok(config) => config,
        Err(err) => return fail(&err, json),
    };
    for warning in &config.warnings {
        eprintln!("{NAME}: {warning}");
    }
    let runtime = match provider_bridge::runtime() {
        Ok(rt) => rt,
        Err(e) => return fail(&canary::Error::Runtime(e), json),
    };
    let mut warnings = Vec::new();
    let say = std::sync::Arc::new(|line: &str| eprintln!("{NAME}: {line}"));
    let result = runtime.block_on(canary::run(&config, &mut warnings, say));
    for warning in &warnings {
        eprintln!("{NAME}: {warning}");
    }
    match result {
        Ok(report) => {
            if json {
                println!("{}", report.json());
            } else {
                print!("{}", report.text());
            }
            (Exit::Success, Some(report))
        }
        Err(err) => fail(&err, json),
    }
}
