//! Proves the ollama-compat-smoke part of `contracts/secret-hygiene.md` (SEC-030 – SEC-049).
