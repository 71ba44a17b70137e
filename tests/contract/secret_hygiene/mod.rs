//! Proves `contracts/secret-hygiene.md`. The shared clauses (SEC-001 – SEC-009) are here; each
//! binary's clauses are in `canary.rs` and `smoke.rs`.

mod canary;
mod smoke;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use provider_bridge::secret::Redactor;

use crate::support::leak::find_leaks;
use crate::support::{Cli, assert_no_secret};

const SECRET: &str = "synthetic-Tok/en+value?&<x>'q'\"1";
const PEM: &str = "-----BEGIN SYNTHETIC KEY-----\nMIIBsyntheticLINEone0001\nMIIBsyntheticLINEtwo0002\n-----END SYNTHETIC KEY-----";

fn caught(text: &str, secret: &str) -> bool {
    !find_leaks(&[("t", text)], &[secret]).is_empty()
}

/// Each form, built here independently of the library, is caught inside surrounding text.
#[test]
fn sec_001_leak_detector_catches_every_form() {
    let forms: Vec<(&str, String)> = vec![
        ("raw", SECRET.to_owned()),
        ("base64", STANDARD.encode(SECRET)),
        (
            "base64 after a 1-byte prefix",
            STANDARD.encode(format!("u{SECRET}")),
        ),
        (
            "base64 after a 2-byte prefix",
            STANDARD.encode(format!("us{SECRET}")),
        ),
        (
            "base64 after a 3-byte prefix",
            STANDARD.encode(format!("usr{SECRET}")),
        ),
        (
            "base64 after a prefix, with a suffix",
            STANDARD.encode(format!("user:{SECRET}@host")),
        ),
        ("url-safe base64", URL_SAFE.encode(format!("x:{SECRET}"))),
        (
            "JSON string",
            serde_json::json!({ "v": SECRET }).to_string(),
        ),
        (
            "URL-encoded",
            "synthetic-Tok%2Fen%2Bvalue%3F%26%3Cx%3E%27q%27%221".to_owned(),
        ),
        (
            "XML-escaped",
            "synthetic-Tok/en+value?&amp;&lt;x&gt;&apos;q&apos;&quot;1".to_owned(),
        ),
        (
            "XML-escaped, numeric apostrophe",
            "synthetic-Tok/en+value?&amp;&lt;x&gt;&#39;q&#39;&quot;1".to_owned(),
        ),
        (
            "shell single-quoted",
            format!("'{}'", SECRET.replace('\'', r"'\''")),
        ),
    ];
    for (name, form) in forms {
        let text = format!("error: the server said [{form}] and gave up\n");
        assert!(
            caught(&text, SECRET),
            "the {name} form was not caught: {text}"
        );
        let panicked = std::panic::catch_unwind(|| assert_no_secret(&text, &[SECRET]));
        assert!(panicked.is_err(), "assert_no_secret missed the {name} form");
    }
}

/// A value whose JSON escape differs from every other form (a tab, a backslash) is caught in
/// a JSON document, also in the middle of a longer string.
#[test]
fn sec_001_leak_detector_catches_json_escapes_of_control_characters() {
    let secret = "synthetic-tab\there\\back-0001";
    let json = serde_json::json!({ "v": format!("Bearer {secret} and more") }).to_string();
    assert!(json.contains("\\t"), "{json}");
    assert!(
        caught(&json, secret),
        "the JSON form was not caught: {json}"
    );
}

/// Each non-empty line of a multi-line value is caught on its own.
#[test]
fn sec_001_leak_detector_catches_each_line_of_multiline_value() {
    for line in PEM.lines() {
        assert!(
            caught(&format!("log: {line} end"), PEM),
            "line {line:?} not caught"
        );
    }
    assert!(caught(&STANDARD.encode(PEM), PEM));
}

/// Clean text passes, so the detector is not simply always failing.
#[test]
fn sec_001_leak_detector_passes_clean_text() {
    assert_no_secret(
        "key=OLLAMA_CLOUD_API_KEY status=written mode=0600",
        &[SECRET, PEM],
    );
    assert!(!caught("synthetic-Tok", SECRET));
}

/// Redaction removes every form before the cap, so no prefix of a secret survives the cut.
#[test]
fn sec_002_redact_then_cap() {
    let mut r = Redactor::new();
    r.add_str(SECRET);
    r.add_str(PEM);
    let body = format!(
        "{{\"error\":\"bad header Authorization: Bearer {SECRET}\",\"echo\":{},\"b64\":\"{}\",\"pem\":\"{}\"}}",
        serde_json::to_string(SECRET).unwrap(),
        STANDARD.encode(SECRET),
        PEM.lines().nth(1).unwrap()
    );
    let quoted = r.quote(&body, 10_000);
    assert_no_secret(&quoted, &[SECRET, PEM]);
    assert!(quoted.contains("Bearer [REDACTED]"), "{quoted}");
    // A cap that falls inside the secret must not leave its head behind.
    let start = body.find(SECRET).unwrap();
    let capped = r.quote(&body, start + 5);
    assert!(!capped.contains("synthetic-T"), "{capped}");
    assert!(capped.ends_with('…'), "{capped}");
    assert!(capped.chars().count() <= start + 6);
    // Control characters are escaped so a body cannot rewrite the terminal.
    assert_eq!(r.quote("a\u{1b}[2Jb\n", 100), "a\\u{1b}[2Jb\\n");
}

/// Neither binary has a flag that takes a credential as its value.
#[test]
fn sec_003_no_credential_flags() {
    for (cli, whole) in [
        (Cli::canary(), crate::infisical::CANARY_HELP),
        (Cli::smoke(), crate::smoke_report::SMOKE_HELP),
    ] {
        // The whole help (cli_002's texts), and what it must not hold.
        let help = crate::cli::help_of(cli);
        assert_eq!(help, whole);
        for flag in [
            "--token ",
            "--token=",
            "--api-key ",
            "--api-key=",
            "--client-secret ",
            "--client-secret=",
            "--password",
        ] {
            assert!(!help.contains(flag), "--help offers {flag}");
        }
    }
}

/// Redacting a base64 form leaves at most the two characters that depend on what follows the
/// secret (its last partial group and padding), never a readable tail of the encoding.
#[test]
fn sec_002_redacted_base64_leaves_no_tail() {
    for secret in ["synthetic-a1", "synthetic-ab1", "synthetic-abc1"] {
        let mut r = Redactor::new();
        r.add_str(secret);
        for prefix in ["", "u", "us"] {
            let encoded = STANDARD.encode(format!("{prefix}{secret}"));
            let redacted = r.redact(&encoded);
            let tail = redacted
                .split("[REDACTED]")
                .nth(1)
                .unwrap_or_else(|| panic!("{secret} {prefix:?}: not redacted: {redacted}"));
            assert!(
                tail.len() <= 3,
                "{secret} {prefix:?}: {tail:?} left after the redaction of {encoded}"
            );
        }
    }
}

/// Debug output of the redactor and of a credential shows no value.
#[test]
fn sec_002_debug_output_shows_no_value() {
    let mut r = Redactor::new();
    r.add_str(SECRET);
    let shown = format!("{r:?}");
    assert_eq!(shown, "Redactor(1 secrets)");
    assert_no_secret(&shown, &[SECRET]);
    let credential = provider_bridge::secret::SecretString::from(SECRET.to_owned());
    let shown = format!("{credential:?}");
    assert_no_secret(&shown, &[SECRET]);
    assert!(shown.contains("REDACTED"), "{shown}");
}
