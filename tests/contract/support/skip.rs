//! Skipping a test that cannot run here, loudly.

/// Says loudly that a test is skipped (never a silent pass). Where the environment promises
/// that everything is present (`PB_NO_SKIP=1`, set by `.ci/run` after installing strace and
/// python-dotenv), a skip is a failure instead.
#[track_caller]
pub fn skip(test: &str, why: &str) {
    if std::env::var_os("PB_NO_SKIP").is_some_and(|v| v == "1") {
        panic!("{test} cannot run ({why}) and PB_NO_SKIP=1 forbids skipping it");
    }
    eprintln!("SKIPPED {test}: {why}");
    println!("SKIPPED {test}: {why}");
}

/// For a test that needs root (chown, chgrp to another id): `true` when the tests do not run
/// as root, after skipping loudly with [`skip`]; the test then returns.
#[track_caller]
pub fn skipped_unless_root(test: &str, why: &str) -> bool {
    if super::workdir::is_root() {
        return false;
    }
    skip(test, why);
    true
}
