//! Reading payloads from `fixtures/`.

use std::path::PathBuf;

/// The repository's `fixtures/` directory.
pub fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// A fixture's text, e.g. `fixture("infisical/secrets-providers.json")`.
#[track_caller]
pub fn fixture(rel: &str) -> String {
    let path = dir().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}

/// A fixture parsed as JSON.
#[track_caller]
pub fn fixture_json(rel: &str) -> serde_json::Value {
    serde_json::from_str(&fixture(rel)).unwrap_or_else(|e| panic!("fixture {rel} is not JSON: {e}"))
}
