//! Proves `contracts/smoke-report.md`.
