//! Proves `contracts/package.md`: the Debian package built by `scripts/package`, installed with
//! `dpkg -i` into this machine, checked, and removed. `#[ignore]`d: these tests change the
//! machine (as root); `scripts/package --check` runs them with `PB_DEB` naming the package.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

const VERSION: &str = env!("CARGO_PKG_VERSION");
const BINS: [&str; 2] = ["write-canary-env", "ollama-compat-smoke"];

/// The package `scripts/package` built, or a loud failure naming the script.
fn deb() -> PathBuf {
    let deb = std::env::var("PB_DEB").unwrap_or_else(|_| {
        panic!("PB_DEB is not set: these tests run through `scripts/package --check`")
    });
    assert!(Path::new(&deb).is_file(), "{deb} does not exist");
    deb.into()
}

/// Runs a command, panics with its output unless it exits 0; returns its stdout.
#[track_caller]
fn ok(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

/// The regular files of the package: path -> mode, from `dpkg-deb -c`.
fn contents(deb: &Path) -> Vec<(String, String)> {
    ok(Command::new("dpkg-deb").arg("-c").arg(deb))
        .lines()
        .filter(|l| l.starts_with('-'))
        .map(|l| {
            let fields: Vec<&str> = l.split_whitespace().collect();
            let path = fields.last().unwrap().trim_start_matches('.').to_owned();
            (path, fields[0].to_owned())
        })
        .collect()
}

/// The files every binary brings, with their modes.
fn expected_files() -> Vec<(String, String)> {
    let mut want = vec![(
        "/usr/share/doc/provider-bridge/copyright".to_owned(),
        "-rw-r--r--".to_owned(),
    )];
    for bin in BINS {
        want.push((format!("/usr/bin/{bin}"), "-rwxr-xr-x".into()));
        for path in [
            format!("/usr/share/man/man1/{bin}.1.gz"),
            format!("/usr/share/bash-completion/completions/{bin}"),
            format!("/usr/share/zsh/vendor-completions/_{bin}"),
            format!("/usr/share/fish/vendor_completions.d/{bin}.fish"),
        ] {
            want.push((path, "-rw-r--r--".into()));
        }
    }
    for unit in UNITS {
        want.push((format!("/lib/systemd/system/{unit}"), "-rw-r--r--".into()));
    }
    want.sort();
    want
}

/// The systemd units of `packaging/systemd/` (contracts/systemd.md).
const UNITS: [&str; 4] = [
    "write-canary-env@.service",
    "write-canary-env@.timer",
    "ollama-compat-smoke@.service",
    "ollama-compat-smoke@.timer",
];

/// The units are those of `packaging/systemd/`, byte for byte, and the package's only
/// maintainer scripts reload a running systemd and do nothing else.
#[test]
#[ignore = "installs into the machine: run by scripts/package --check"]
fn pkg_006_package_holds_the_units_and_no_maintainer_script() {
    let deb = deb();
    let dir = tempfile::tempdir().unwrap();
    ok(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(dir.path()));
    for unit in UNITS {
        let packaged = std::fs::read(dir.path().join("lib/systemd/system").join(unit)).unwrap();
        let source = std::fs::read(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("packaging/systemd")
                .join(unit),
        )
        .unwrap();
        assert!(packaged == source, "{unit} differs from packaging/systemd/");
    }
    let control = tempfile::tempdir().unwrap();
    ok(Command::new("dpkg-deb")
        .arg("-e")
        .arg(&deb)
        .arg(control.path()));
    for script in ["preinst", "prerm", "triggers", "config"] {
        assert!(
            !control.path().join(script).exists(),
            "the package has a {script}"
        );
    }
    for script in ["postinst", "postrm"] {
        let packaged = std::fs::read_to_string(control.path().join(script)).unwrap();
        let source = std::fs::read_to_string(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("packaging/debian")
                .join(script),
        )
        .unwrap();
        assert_eq!(packaged, source, "{script} differs from packaging/debian/");
        let commands: Vec<&str> = packaged
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect();
        assert_eq!(
            commands,
            [
                "set -e",
                "if [ -d /run/systemd/system ]; then",
                "systemctl --system daemon-reload >/dev/null || true",
                "fi",
                "exit 0"
            ],
            "{script} must only reload a running systemd"
        );
    }
}

/// The package's name, version and architecture, and exactly its files and modes.
#[test]
#[ignore = "installs into the machine: run by scripts/package --check"]
fn pkg_001_package_holds_binaries_man_pages_and_completions() {
    let deb = deb();
    assert_eq!(
        deb.file_name().unwrap().to_str().unwrap(),
        format!("provider-bridge_{VERSION}_amd64.deb")
    );
    let fields = ok(Command::new("dpkg-deb")
        .args(["-W", "--showformat=${Package} ${Version} ${Architecture}"])
        .arg(&deb));
    assert_eq!(fields, format!("provider-bridge {VERSION} amd64"));
    let mut got = contents(&deb);
    got.sort();
    assert_eq!(got, expected_files());
}

/// Whether dpkg knows the package as installed.
fn installed() -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${db:Status-Status}", "provider-bridge"])
        .output()
        .is_ok_and(|o| o.status.success() && o.stdout == b"installed")
}

/// Removes the package when a check fails half-way, so that a failed run leaves the machine
/// as it found it (after a successful `dpkg -r` there is nothing to do).
struct RemoveOnFailure;

impl Drop for RemoveOnFailure {
    fn drop(&mut self) {
        if installed() {
            let _ = Command::new("dpkg")
                .args(["-r", "provider-bridge"])
                .output();
        }
    }
}

/// bash's completion candidates for `words` (the last one being completed) through the
/// installed completion file and the function it registers with `complete -F`.
fn bash_complete(words: &[&str]) -> BTreeSet<String> {
    let script = format!(
        ". /usr/share/bash-completion/completions/{bin}\n\
         COMP_WORDS=({words}); COMP_CWORD={cword}; COMP_LINE=\"${{COMP_WORDS[*]}}\"; \
         COMP_POINT=${{#COMP_LINE}}\n\
         f=$(complete -p {bin} | sed -E 's/.* -F ([^ ]+) .*/\\1/')\n\
         \"$f\" {bin} \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"\n\
         printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        bin = words[0],
        words = words
            .iter()
            .map(|w| format!("'{w}'"))
            .collect::<Vec<_>>()
            .join(" "),
        cword = words.len() - 1,
    );
    ok(Command::new("bash").args(["--noprofile", "--norc", "-c", &script]))
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Installed with dpkg: man finds both pages (and the formats are documented), the
/// completions complete, both binaries run from /usr/bin, systemd accepts every unit; removed
/// with dpkg: nothing is left.
#[test]
#[ignore = "installs into the machine: run by scripts/package --check"]
fn pkg_002_pkg_003_pkg_004_pkg_005_pkg_007_install_use_and_remove() {
    let deb = deb();
    assert!(
        nix::unistd::geteuid().is_root(),
        "dpkg -i needs root (CI runs as root)"
    );
    assert!(
        !installed(),
        "provider-bridge is already installed: remove it first"
    );
    let dirs_before: Vec<(String, bool)> = [
        "/usr/share/bash-completion/completions",
        "/usr/share/zsh/vendor-completions",
        "/usr/share/fish/vendor_completions.d",
    ]
    .iter()
    .map(|d| ((*d).to_owned(), Path::new(d).exists()))
    .collect();
    ok(Command::new("dpkg").arg("-i").arg(&deb));
    let _guard = RemoveOnFailure;
    assert!(installed());

    // PKG-002
    for bin in BINS {
        let page = ok(Command::new("man").args(["-w", bin]));
        assert_eq!(
            page.trim_end(),
            format!("/usr/share/man/man1/{bin}.1.gz"),
            "man -w {bin} (is /usr/share/man excluded by /etc/dpkg/dpkg.cfg.d?)"
        );
    }
    let rendered = ok(Command::new("man")
        .args(["-P", "cat", "write-canary-env"])
        .env("MANWIDTH", "200"));
    // man's rendering (groff's version, hyphenation, the terminal width it settles on) is the
    // machine's, not ours: the page is checked for what it must name
    for format in ["dotenv", "docker", "systemd", "shell", "json"] {
        assert!(rendered.contains(format), "the man page lacks {format}");
    }
    assert!(rendered.contains("--format"), "the man page lacks --format");

    // PKG-003
    let formats: BTreeSet<String> = ["dotenv", "docker", "systemd", "shell", "json"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        bash_complete(&["write-canary-env", "--format", ""]),
        formats
    );
    for bin in BINS {
        let zsh =
            std::fs::read_to_string(format!("/usr/share/zsh/vendor-completions/_{bin}")).unwrap();
        let fish =
            std::fs::read_to_string(format!("/usr/share/fish/vendor_completions.d/{bin}.fish"))
                .unwrap();
        // the scripts are clap_complete's generated text (it changes with its version): checked
        // for what the shells need, the first line whole
        assert!(zsh.starts_with(&format!("#compdef {bin}")), "{bin}: zsh");
        assert!(zsh.contains("--version"), "{bin}: zsh");
        assert!(fish.contains(&format!("complete -c {bin}")), "{bin}: fish");
        assert!(fish.contains("-l version"), "{bin}: fish");
    }
    let zsh =
        std::fs::read_to_string("/usr/share/zsh/vendor-completions/_write-canary-env").unwrap();
    assert!(zsh.contains("--format"), "zsh lacks --format");

    // PKG-004
    for bin in BINS {
        let version = ok(Command::new(format!("/usr/bin/{bin}")).arg("--version"));
        assert_eq!(version, format!("{bin} {VERSION}\n"));
    }

    // PKG-007
    for unit in UNITS {
        let instance = unit.replace("@.", "@x.");
        let out = Command::new("systemd-analyze")
            .args(["verify", "--man=no", &instance])
            .output()
            .expect("systemd-analyze");
        assert!(
            out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
            "systemd-analyze verify {instance}: {}\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // PKG-005
    ok(Command::new("dpkg").args(["-r", "provider-bridge"]));
    assert!(
        !installed(),
        "dpkg still knows provider-bridge as installed"
    );
    for (path, _) in expected_files() {
        assert!(!Path::new(&path).exists(), "{path} is left after dpkg -r");
    }
    for (dir, existed) in dirs_before {
        if !existed {
            assert!(!Path::new(&dir).exists(), "{dir} is left after dpkg -r");
        }
    }
    assert!(!Path::new("/usr/share/doc/provider-bridge").exists());
}
