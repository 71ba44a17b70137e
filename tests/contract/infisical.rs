//! Proves `contracts/infisical.md`.
