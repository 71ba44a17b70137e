//! Proves the `--format` clauses of `contracts/env-format.md` (FMT-010 …): the exact bytes each
//! format writes, what each refuses (exit 7 naming the key and the format, never the value,
//! nothing written), and that every format is written like the dotenv file. The real readers
//! (docker, systemd, dash and bash, python's json) are the peer tier's (`tests/peers/consumers.rs`).

use std::path::Path;

use provider_bridge::dotenv::{Header, render_header};
use wiremock::ResponseTemplate;

use crate::env_format::{writes, writes_mode};
use crate::support::cli::Run;
use crate::support::infisical::*;
use crate::support::{Cli, Workdir, canary, mode_of};

/// Serves `secrets` at `/` (at most `times` list calls) and runs the binary into `out` with
/// `extra` arguments, every value registered as secret; `run` states the outcome and runs it
/// ([`writes`], [`refuses`]).
async fn run_format(
    secrets: &[(&str, &str)],
    out: &Path,
    extra: &[&str],
    run: impl FnOnce(Cli) -> Run,
) {
    let inf = Infisical::start().await;
    inf.respond(
        ResponseTemplate::new(200).set_body_json(list_answer("/", secrets)),
        1,
    )
    .await;
    let mut cli = canary(&inf.url(), out).args(extra);
    for (_, v) in secrets {
        cli = cli.secret(*v);
    }
    let _ = run(cli);
}

/// A refusal: exit 7, stderr exactly the one message naming `key` and `format`.
fn refuses(key: &str, format: &str, why: &str) -> impl FnOnce(Cli) -> Run {
    let said = format!(
        "write-canary-env: error: the value of {key} cannot be written in the {format} format: it \
         contains {why}\n"
    );
    move |cli| cli.exits(7).stderr(said).run()
}

/// The FMT-006 header for the root path (the dotenv header, shared by docker and shell).
fn header() -> String {
    let paths = vec!["/".to_owned()];
    render_header(&Header {
        project_id: PROJECT,
        environment: ENV,
        paths: &paths,
    })
}

/// After a refusal ([`refuses`]): the old file untouched, no temporary left.
#[track_caller]
fn assert_refused(dir: &Path, out: &Path, format: &str, why: &str) {
    assert_eq!(
        std::fs::read_to_string(out).unwrap(),
        "OLD=1\n",
        "{format}: {why}"
    );
    Workdir::assert_no_temp(dir);
}

/// No `--format` is byte-identical to `--format dotenv`; an unknown format is exit 2 naming the
/// accepted ones, before any request.
#[tokio::test]
async fn fmt_010_format_flag_default_is_dotenv() {
    let wd = Workdir::new();
    let secrets = [
        ("A_KEY", "synthetic it's \"x\" \\ y"),
        ("B_KEY", "synthetic plain # = value\nline two"),
    ];
    let (default, dotenv) = (wd.join("default.env"), wd.join("dotenv.env"));
    let keys = ["A_KEY", "B_KEY"];
    run_format(&secrets, &default, &[], writes(&default, &keys)).await;
    run_format(
        &secrets,
        &dotenv,
        &["--format", "dotenv"],
        writes(&dotenv, &keys),
    )
    .await;
    let default = std::fs::read(wd.join("default.env")).unwrap();
    assert_eq!(default, std::fs::read(wd.join("dotenv.env")).unwrap());
    assert_eq!(
        String::from_utf8(default).unwrap(),
        format!(
            "{}A_KEY=\"synthetic it's \\\"x\\\" \\\\ y\"\nB_KEY='synthetic plain # = value\nline two'\n",
            header()
        )
    );

    let inf = Infisical::start().await;
    inf.respond(ResponseTemplate::new(500), 0).await;
    let _ = canary(&inf.url(), &wd.output())
        .args(["--format", "yaml"])
        .exits(2)
        .stderr(
            "write-canary-env: error: invalid value 'yaml' for '--format <FORMAT>'\n  [possible values: dotenv, \
             docker, systemd, shell, json]\n\nFor more information, try '--help'.\n",
        )
        .run();
    assert!(!wd.output().exists());
}

/// docker: the header, then `KEY=value` verbatim, keys sorted.
#[tokio::test]
async fn fmt_011_docker_writes_values_literally() {
    let wd = Workdir::new();
    let secrets = [
        ("Z_QUOTES", "'synthetic' \"double\" it's"),
        ("A_SPACES", "  synthetic # not a comment =x=  "),
        (
            "M_SHELL",
            "synthetic ${HOME:-} $(id) `id` \\ \\n\t\ttabs\rmid-cr",
        ),
        ("EMPTY", ""),
    ];
    run_format(
        &secrets,
        &wd.output(),
        &["--format", "docker"],
        writes(&wd.output(), &["A_SPACES", "EMPTY", "M_SHELL", "Z_QUOTES"]),
    )
    .await;
    assert_eq!(
        std::fs::read_to_string(wd.output()).unwrap(),
        format!(
            "{}A_SPACES=  synthetic # not a comment =x=  \nEMPTY=\nM_SHELL=synthetic ${{HOME:-}} $(id) `id` \\ \\n\t\ttabs\rmid-cr\nZ_QUOTES='synthetic' \"double\" it's\n",
            header()
        )
    );
}

/// docker refuses a newline, a trailing CR, a NUL and a line over 65,535 bytes, by key and
/// format; the 65,535-byte line itself is written.
#[tokio::test]
async fn fmt_012_docker_refuses_what_one_line_cannot_carry() {
    let wd = Workdir::new();
    let long_ok = format!("synthetic{}", "x".repeat(65_535 - "LONG=".len() - 9));
    let long_bad = format!("{long_ok}x");
    for (value, why) in [
        (
            "synthetic first\nsecond",
            "a newline (docker reads one line per variable)",
        ),
        (
            "synthetic ends with cr\r",
            "a carriage return at its end (docker drops it)",
        ),
        (
            "synthetic\0nul",
            "a NUL byte (no process environment carries it)",
        ),
        (
            long_bad.as_str(),
            "more than docker's line limit (65535 bytes for KEY=value)",
        ),
    ] {
        std::fs::write(wd.output(), "OLD=1\n").unwrap();
        run_format(
            &[("FINE_KEY", "synthetic-fine-0001"), ("LONG", value)],
            &wd.output(),
            &["--format", "docker"],
            refuses("LONG", "docker", why),
        )
        .await;
        assert_refused(wd.path(), &wd.output(), "docker", why);
    }
    run_format(
        &[("LONG", &long_ok)],
        &wd.output(),
        &["--format", "docker"],
        writes(&wd.output(), &["LONG"]),
    )
    .await;
    let text = std::fs::read_to_string(wd.output()).unwrap();
    let line = text.lines().last().unwrap();
    assert_eq!(line.len(), 65_535);
    assert_eq!(line, format!("LONG={long_ok}"));
}

/// systemd: single quotes without `'`, otherwise double quotes escaping `"` `\` `` ` `` `$`;
/// a header line never ends in `\`.
#[tokio::test]
async fn fmt_013_systemd_quoting() {
    let wd = Workdir::new();
    let secrets = [
        (
            "A_PLAIN",
            "synthetic \"d\" $HOME ${X:-x} `id` \\ # ;\nline\ttwo ",
        ),
        ("B_QUOTE", "synthetic it's \"d\" $HOME `id` \\n \\"),
    ];
    let inf = Infisical::start().await;
    for folder in ["/", "/trailing\\"] {
        inf.serve_folder(
            folder,
            TOKEN,
            list_answer(
                folder,
                if folder == "/" {
                    &secrets[..1]
                } else {
                    &secrets[1..]
                },
            ),
            1,
        )
        .await;
    }
    let _ = canary(&inf.url(), &wd.output())
        .args([
            "--format",
            "systemd",
            "--path",
            "/",
            "--path",
            "/trailing\\",
        ])
        .secret(secrets[0].1)
        .secret(secrets[1].1)
        .exits(0)
        .stdout(
            "written: [TMP]/out.env (mode 0600, owner [UID]:[GID]) with 2 keys from project \
             proj-synthetic-0001, environment prod, paths / /trailing\\\n  A_PLAIN\n  B_QUOTE\n",
        )
        .tmp(wd.path())
        .run();
    let paths = vec!["/".to_owned(), "/trailing\\".to_owned()];
    let header = render_header(&Header {
        project_id: PROJECT,
        environment: ENV,
        paths: &paths,
    });
    assert!(header.ends_with("/trailing\\\n"), "{header}");
    assert_eq!(
        std::fs::read_to_string(wd.output()).unwrap(),
        format!(
            "{}A_PLAIN='synthetic \"d\" $HOME ${{X:-x}} `id` \\ # ;\nline\ttwo '\nB_QUOTE=\"synthetic it's \\\"d\\\" \\$HOME \\`id\\` \\\\n \\\\\"\n",
            header.replace("/trailing\\\n", "/trailing\\ \n")
        )
    );
}

/// systemd refuses NUL, CR and other control characters than TAB and newline.
#[tokio::test]
async fn fmt_014_systemd_refuses_nul_and_control_characters() {
    let wd = Workdir::new();
    for (value, why) in [
        (
            "synthetic\0nul",
            "a NUL byte (systemd refuses a file holding one)",
        ),
        (
            "synthetic first\r\nsecond",
            "a carriage return (systemd before v248 drops the variable)",
        ),
        (
            "synthetic \u{1b}[31m escape",
            "a control character other than TAB and newline (systemd before v248 drops the variable)",
        ),
        (
            "synthetic \u{7f} delete",
            "a control character other than TAB and newline (systemd before v248 drops the variable)",
        ),
    ] {
        std::fs::write(wd.output(), "OLD=1\n").unwrap();
        run_format(
            &[("FINE_KEY", "synthetic-fine-0001"), ("CTRL", value)],
            &wd.output(),
            &["--format", "systemd"],
            refuses("CTRL", "systemd", why),
        )
        .await;
        assert_refused(wd.path(), &wd.output(), "systemd", why);
    }
}

/// shell: `export KEY='…'`, `'` written `'\''`, nothing else changed.
#[tokio::test]
async fn fmt_015_shell_export_single_quoted() {
    let wd = Workdir::new();
    let secrets = [
        (
            "B",
            "synthetic it's 'q' $(id) `id` ${X:-x} \\ \"d\"\nline\r\u{1b}",
        ),
        ("A", "synthetic-a-0001"),
    ];
    run_format(
        &secrets,
        &wd.output(),
        &["--format", "shell"],
        writes(&wd.output(), &["A", "B"]),
    )
    .await;
    assert_eq!(
        std::fs::read_to_string(wd.output()).unwrap(),
        format!(
            "{}export A='synthetic-a-0001'\nexport B='synthetic it'\\''s '\\''q'\\'' $(id) `id` ${{X:-x}} \\ \"d\"\nline\r\u{1b}'\n",
            header()
        )
    );
}

/// shell refuses a NUL, and only a NUL.
#[tokio::test]
async fn fmt_016_shell_refuses_nul_only() {
    let wd = Workdir::new();
    std::fs::write(wd.output(), "OLD=1\n").unwrap();
    run_format(
        &[
            ("FINE_KEY", "synthetic-fine-0001"),
            ("NUL", "synthetic\0nul"),
        ],
        &wd.output(),
        &["--format", "shell"],
        refuses(
            "NUL",
            "shell",
            "a NUL byte (a shell variable cannot hold it)",
        ),
    )
    .await;
    assert_refused(
        wd.path(),
        &wd.output(),
        "shell",
        "a NUL byte (a shell variable cannot hold it)",
    );
    let controls: String = (1u8..0x20).chain([0x7f]).map(char::from).collect();
    let value = format!("synthetic{controls}");
    run_format(
        &[("CTRL", &value)],
        &wd.output(),
        &["--format", "shell"],
        writes(&wd.output(), &["CTRL"]),
    )
    .await;
    assert!(
        std::fs::read_to_string(wd.output())
            .unwrap()
            .ends_with(&format!("export CTRL='{value}'\n"))
    );
}

/// json: one object, no header, keys sorted, every value including NUL.
#[tokio::test]
async fn fmt_017_json_one_sorted_object() {
    let wd = Workdir::new();
    let secrets = [
        ("Z", "synthetic\0nul\r\n\"q\" \\ é 🙂"),
        ("A", "synthetic ${X:-x} it's"),
        ("M", ""),
    ];
    run_format(
        &secrets,
        &wd.output(),
        &["--format", "json"],
        writes(&wd.output(), &["A", "M", "Z"]),
    )
    .await;
    let text = std::fs::read_to_string(wd.output()).unwrap();
    assert_eq!(
        text,
        "{\n  \"A\": \"synthetic ${X:-x} it's\",\n  \"M\": \"\",\n  \"Z\": \"synthetic\\u0000nul\\r\\n\\\"q\\\" \\\\ é 🙂\"\n}\n"
    );
    let read: serde_json::Value = serde_json::from_str(&text).unwrap();
    for (k, v) in secrets {
        assert_eq!(read[k], v);
    }
}

/// Every format: the exact mode (default 0600, or `--output-mode`), byte-identical reruns.
#[tokio::test]
async fn fmt_018_every_format_written_like_dotenv() {
    let wd = Workdir::new();
    let secrets = [("B_KEY", "synthetic-b-0001"), ("A_KEY", "synthetic-a-0001")];
    for format in ["dotenv", "docker", "systemd", "shell", "json"] {
        let one = wd.join(&format!("{format}-1"));
        let two = wd.join(&format!("{format}-2"));
        run_format(
            &secrets,
            &one,
            &["--format", format],
            writes(&one, &["A_KEY", "B_KEY"]),
        )
        .await;
        run_format(
            &secrets,
            &two,
            &["--format", format, "--output-mode", "0640"],
            writes_mode(&two, "0640", &["A_KEY", "B_KEY"]),
        )
        .await;
        assert_eq!(mode_of(&one), 0o600, "{format}");
        assert_eq!(mode_of(&two), 0o640, "{format}");
        assert_eq!(
            std::fs::read(&one).unwrap(),
            std::fs::read(&two).unwrap(),
            "{format}"
        );
    }
    Workdir::assert_no_temp(wd.path());
}
