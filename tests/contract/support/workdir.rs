//! A test's working directory, and what the tests look at in it: modes, leftovers, the user.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

/// A working directory for one test: a temp dir, an output path inside it, helpers to look
/// at what is left there.
pub struct Workdir {
    pub dir: tempfile::TempDir,
}

impl Workdir {
    pub fn new() -> Self {
        Workdir {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `<dir>/<rel>`.
    pub fn join(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// The default output file, `<dir>/out.env`.
    pub fn output(&self) -> PathBuf {
        self.join("out.env")
    }

    /// Writes a credential file with the given mode.
    pub fn credential_file(&self, name: &str, content: &str, mode: u32) -> PathBuf {
        let p = self.join(name);
        std::fs::write(&p, content).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    /// The names in `dir` that look like a temporary file (dot-prefixed).
    pub fn dot_files(dir: &Path) -> Vec<String> {
        let mut out: Vec<String> = std::fs::read_dir(dir)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.starts_with('.'))
                    .collect()
            })
            .unwrap_or_default();
        out.sort();
        out
    }

    /// Fails when a dot file (a temporary) is left in `dir`.
    #[track_caller]
    pub fn assert_no_temp(dir: &Path) {
        let left = Self::dot_files(dir);
        assert!(
            left.is_empty(),
            "temporary files left in {}: {left:?}",
            dir.display()
        );
    }
}

/// The file's permission bits.
pub fn mode_of(p: &Path) -> u32 {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::symlink_metadata(p)
        .unwrap_or_else(|e| panic!("stat {}: {e}", p.display()))
        .mode()
        & 0o7777
}

/// Whether the tests run as root (chown to another user needs it).
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_files_and_modes() {
        let wd = Workdir::new();
        let cred = wd.credential_file("c", "x", 0o640);
        assert_eq!(mode_of(&cred), 0o640);
        Workdir::assert_no_temp(wd.path());
        std::fs::write(wd.join(".tmp-1"), "").unwrap();
        assert_eq!(Workdir::dot_files(wd.path()), [".tmp-1"]);
    }
}
