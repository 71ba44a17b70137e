//! A signal delivered while a binary waits for a server that accepts and never answers, and
//! the dispositions that make a signal deliverable at all.

use std::net::TcpListener;
use std::process::{Command, Output, Stdio};

use nix::sys::signal::Signal;

/// Sets SIGHUP, SIGINT, SIGTERM and SIGQUIT back to their default action in this test process,
/// so that every binary it starts from now on can receive them. A process started in the
/// background by a non-interactive shell inherits SIGINT and SIGQUIT ignored, and one under
/// `nohup` SIGHUP; an ignored signal stays ignored across `exec` and the binaries keep it so
/// (CLI-007) — a signal test run that way would prove nothing. Idempotent.
pub fn deliverable() {
    use nix::sys::signal::{SigHandler, signal};
    for sig in [
        Signal::SIGHUP,
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGQUIT,
    ] {
        // SAFETY: installing the default action runs no handler code.
        unsafe { signal(sig, SigHandler::SigDfl) }.expect("reset a signal's disposition");
    }
}

/// A loopback listener that accepts one connection and never answers.
pub struct Silent {
    listener: TcpListener,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
}

impl Silent {
    pub fn new() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        Silent { listener, url }
    }

    /// Spawns `cmd` (stdin from `/dev/null`, stdout and stderr captured), waits for its
    /// connection, sends it `sig` and returns what it left; the connection stays open until
    /// the process has ended.
    pub fn signal(&self, mut cmd: Command, sig: Signal) -> Output {
        deliverable();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (conn, _) = self.listener.accept().unwrap();
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), sig).unwrap();
        let output = child.wait_with_output().unwrap();
        drop(conn);
        output
    }
}

/// `ollama-compat-smoke` pointed at `url`, chat check only, with the stand-in's key.
pub fn smoke_command(url: &str) -> Command {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("ollama-compat-smoke"));
    cmd.args([
        "--base-url",
        &format!("{url}/v1"),
        "--check",
        "chat_completion",
    ])
    .env_clear()
    .env("OLLAMA_CLOUD_API_KEY", crate::support::chat::KEY);
    cmd
}
