//! Proves `contracts/env-format.md`.
