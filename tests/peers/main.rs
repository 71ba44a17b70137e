//! The real-peer tier (`contracts/peers.md`): the same binaries against software nobody here
//! wrote — llama.cpp's `llama-server`, python-dotenv, docker compose v2, bash, and the
//! official Infisical Python SDK.
//!
//! Every peer test is `#[ignore]`d, so the default `cargo test` never needs a peer (it lists
//! them as ignored, by name). `scripts/peers` installs and starts the peers, sets `PB_PEERS=1`
//! and the peers' addresses, and runs `cargo test --test peers -- --ignored`. A peer test run
//! without that environment fails loudly instead of passing: nothing here skips silently.

#[path = "../contract/support/mod.rs"]
mod support;

mod peer;
mod proxy;
#[path = "../contract/tls_support.rs"]
mod tls_support;

// contracts/peers.md — the LLM peer
mod llm;
// contracts/peers.md — the env-file peers
mod env_files;
// contracts/peers.md — the consumers of --format (docker, systemd, dash and bash, json)
mod consumers;
// contracts/peers.md — the official Infisical client
mod official_client;
// contracts/peers.md — the tier itself
mod tier;
// contracts/peers.md — a real proxy in front of HTTPS
mod https_proxy;
// contracts/peers.md — node_exporter's textfile collector and promtool read --metrics-file
mod metrics;
// contracts/systemd.md (and peers.md PEER-060): the units under a real systemd 252
mod systemd;
