//! Proves the write-canary-env part of `contracts/secret-hygiene.md` (SEC-010 – SEC-029).
