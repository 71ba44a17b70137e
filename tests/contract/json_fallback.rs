//! Proves `contracts/json-fallback.md`.
