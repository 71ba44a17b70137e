//! Proves `contracts/env-file.md`.
