//! The tier itself: the default `cargo test` needs no peer.

use crate::peer::repo;

/// Every test of the peer tier except this one is `#[ignore]`d, so the default `cargo test`
/// runs none of them (it lists them as ignored, by name). Run with `--ignored` outside
/// `scripts/peers`, they fail in `peer::peers()` — a peer test never passes by skipping. This
/// test needs no peer and runs by default.
#[test]
fn peer_030_peer_tests_are_ignored_by_default_and_never_skip() {
    let dir = repo().join("tests/peers");
    let mut tests = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            if line.trim() != "#[test]" {
                continue;
            }
            let next = lines[i + 1].trim();
            let is_self = lines[i + 1..]
                .iter()
                .find(|l| l.trim_start().starts_with("fn "))
                .is_some_and(|l| l.contains("peer_030_"));
            if is_self {
                continue;
            }
            tests += 1;
            assert!(
                next.starts_with("#[ignore = \"peer tier: run by scripts/peers\"]"),
                "{}:{}: a peer test must be #[ignore = \"peer tier: run by scripts/peers\"]",
                path.display(),
                i + 2
            );
        }
    }
    assert!(tests >= 10, "only {tests} peer tests found");
}
