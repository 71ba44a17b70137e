//! The contract suite: one test binary, one module per contract file in `contracts/`.
//!
//! Tests cite the clause they prove by the prefix of their name (`fn sec_001_...`); see
//! `contracts/README.md` and `support/trace.rs`.

mod support;

// contracts/cli.md
mod cli;
// contracts/suite.md
mod suite;
// contracts/sanity.md
mod sanity;
// contracts/secret-hygiene.md
mod secret_hygiene;
// contracts/infisical.md
mod infisical;
// contracts/env-format.md
mod env_format;
// contracts/env-format.md — the other formats (`--format`)
mod env_format_consumers;
// contracts/env-file.md
mod env_file;
// contracts/env-file.md (signals, leftovers, faults, readers), cli.md (CLI-007, CLI-008),
// secret-hygiene.md (SEC-004, SEC-005)
mod crash_safety;
// contracts/cli.md (CLI-009 – CLI-012: proxies and CAs)
mod network;
// a TLS server with a private CA and a recording proxy (no tests; the peer tier uses it too)
mod tls_support;
// contracts/json-fallback.md
mod json_fallback;
// contracts/smoke-report.md
mod smoke_report;
// contracts/docs.md
mod docs;
// the operator's screen of every exit code (contracts/suite.md SUITE-010)
mod screens;
// contracts/package.md
mod package;
// contracts/systemd.md (the unit files; the rest under a real systemd: tests/peers/systemd.rs)
mod systemd;
// contracts/rotation.md
mod rotation;
// contracts/metrics.md
mod metrics;
