//! Writes the Debian package's generated assets from the binaries' own clap definitions: a
//! man page per binary (`clap_mangen`) and completions for bash, zsh and fish
//! (`clap_complete`). Run by `scripts/package`; not a production binary and not installed.
//!
//! The clap definitions live in the library (`canary::cli`, `smoke::cli`), the binaries'
//! front doors, so the man pages and completions cannot drift from the flags the binaries
//! parse. No hidden generator flag ships in the production binaries.
//!
//! Usage: `cargo run --example package-assets -- OUT_DIR` writes
//! `OUT_DIR/man/<bin>.1`, `OUT_DIR/bash/<bin>`, `OUT_DIR/zsh/_<bin>`, `OUT_DIR/fish/<bin>.fish`.

use std::path::{Path, PathBuf};

use clap_complete::Shell;

fn write(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

fn main() {
    let out = PathBuf::from(
        std::env::args_os()
            .nth(1)
            .expect("usage: package-assets OUT_DIR"),
    );
    let commands = [
        provider_bridge::canary::cli::command(),
        provider_bridge::smoke::cli::command(),
    ];
    for cmd in commands {
        let name = cmd.get_name().to_owned();
        let mut page = Vec::new();
        clap_mangen::Man::new(cmd.clone())
            .render(&mut page)
            .expect("render the man page");
        write(&out.join("man").join(format!("{name}.1")), &page);
        for (shell, dir, file) in [
            (Shell::Bash, "bash", name.clone()),
            (Shell::Zsh, "zsh", format!("_{name}")),
            (Shell::Fish, "fish", format!("{name}.fish")),
        ] {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut cmd.clone(), name.clone(), &mut script);
            write(&out.join(dir).join(file), &script);
        }
        println!("{name}: man page and bash, zsh, fish completions");
    }
}
