//! The binaries pointed at the stand-ins, and reading the smoke's report lines.

use std::path::Path;

use super::chat::{Chat, KEY};
use super::cli::{Cli, Run};
use super::infisical::{ENV, PROJECT, TOKEN};

/// `write-canary-env` pointed at `url` for `PROJECT`/`ENV`, writing `output`, authenticated by
/// `INFISICAL_TOKEN=TOKEN` (registered as a secret), with a short `--timeout`.
pub fn canary(url: &str, output: &Path) -> Cli {
    Cli::canary()
        .args(["--project-id", PROJECT, "--env", ENV, "--api-url", url])
        .arg("--output")
        .path_arg(output)
        .args(["--timeout", "2"])
        .secret_env("INFISICAL_TOKEN", TOKEN)
}

/// The whole write report of the stand-in's usual answer (one key, the default mode) written
/// to `<tmp>/out.env`: what most runs of [`canary`] print.
pub fn written_one_key() -> snapbox::data::Inline {
    snapbox::str![[r#"
written: [TMP]/out.env (mode 0600, owner [UID]:[GID]) with 1 key from project proj-synthetic-0001, environment prod, paths /
  OLLAMA_CLOUD_API_KEY

"#]]
}

/// `chat.smoke()`: the smoke pointed at a chat stand-in.
pub trait Smoke {
    /// `ollama-compat-smoke --base-url <stand-in>/v1` with [`KEY`] in `OLLAMA_CLOUD_API_KEY`
    /// (registered as a secret).
    fn smoke(&self) -> Cli;
}

impl Smoke for Chat {
    fn smoke(&self) -> Cli {
        Cli::smoke()
            .arg("--base-url")
            .arg(self.base_url())
            .secret_env("OLLAMA_CLOUD_API_KEY", KEY)
    }
}

/// stdout's lines, each checked to end with `latency_ms=<n>`, that token removed.
#[track_caller]
pub fn lines(run: &Run) -> Vec<String> {
    run.stdout
        .lines()
        .map(|l| {
            let (head, last) = l.rsplit_once(' ').unwrap_or(("", l));
            let ok = last
                .strip_prefix("latency_ms=")
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
            if !ok {
                run.fail(&format!("line {l:?} does not end with latency_ms=<n>"));
            }
            head.to_owned()
        })
        .collect()
}

/// The only stdout line, without its `latency_ms=` token.
#[track_caller]
pub fn line(run: &Run) -> String {
    let mut all = lines(run);
    if all.len() != 1 {
        run.fail("expected exactly one stdout line");
    }
    all.remove(0)
}
