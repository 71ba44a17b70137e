//! Reading payloads from the repository's `fixtures/`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// The repository's `fixtures/` directory, or `$PB_FIXTURES_DIR` when set (a stand-in run
/// where the checkout is not visible, e.g. inside the systemd tier's box, which sees a copy in
/// its exchange directory).
pub fn dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("PB_FIXTURES_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let repo = crate_dir
        .ancestors()
        .nth(2)
        .expect("crates/stand-ins sits two below the root");
    repo.join("fixtures")
}

/// A fixture's text, e.g. `fixture("infisical/secrets-providers.json")`.
#[track_caller]
pub fn fixture(rel: &str) -> String {
    let path = dir().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}

/// A fixture parsed as JSON.
#[track_caller]
pub fn fixture_json(rel: &str) -> Value {
    serde_json::from_str(&fixture(rel)).unwrap_or_else(|e| panic!("fixture {rel} is not JSON: {e}"))
}

/// `secretKey` → `secretValue` of the local secrets of an Infisical list fixture, e.g.
/// `values("infisical/secrets-providers.json")` (imports are not included).
#[track_caller]
pub fn values(rel: &str) -> BTreeMap<String, String> {
    fixture_json(rel)["secrets"]
        .as_array()
        .unwrap_or_else(|| panic!("fixture {rel} has no secrets list"))
        .iter()
        .map(|s| {
            (
                s["secretKey"].as_str().unwrap().to_owned(),
                s["secretValue"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn values_reads_the_provider_fixture() {
        let v = super::values("infisical/secrets-providers.json");
        assert_eq!(
            v.get(crate::infisical::PROVIDER_KEY).map(String::as_str),
            Some(crate::infisical::PROVIDER_VALUE)
        );
    }
}
