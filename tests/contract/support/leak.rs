//! `assert_no_secret`: the leak detector every test runs over stdout and stderr.
//!
//! A secret counts as leaked when any of these forms of it appears: raw; each non-empty line of
//! a multi-line value; base64 of the value and of the value with its first 1 and 2 bytes
//! dropped; JSON-string-escaped; URL-encoded; XML-escaped; shell-single-quoted. The forms come
//! from the library's `secret::encodings` (the same list the redactor removes); the helper's
//! own tests in `secret_hygiene` build each form independently and show it caught.

use std::fmt;

use provider_bridge::secret::encodings;

/// One leaked form of one secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leak {
    /// Which stream or text the leak was found in.
    pub place: String,
    /// The index of the secret in the list given.
    pub secret_index: usize,
    /// Byte offset of the form in that text.
    pub offset: usize,
    /// The length of the form found.
    pub form_len: usize,
}

impl fmt::Display for Leak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "secret #{} found in {} at byte {} (a form {} bytes long)",
            self.secret_index, self.place, self.offset, self.form_len
        )
    }
}

/// Every leak of every secret in every named text.
pub fn find_leaks(texts: &[(&str, &str)], secrets: &[&str]) -> Vec<Leak> {
    let mut leaks = Vec::new();
    for (secret_index, secret) in secrets.iter().enumerate() {
        let forms = encodings(secret);
        for (place, text) in texts {
            for form in &forms {
                if let Some(offset) = text.find(form.as_str()) {
                    leaks.push(Leak {
                        place: (*place).to_owned(),
                        secret_index,
                        offset,
                        form_len: form.len(),
                    });
                }
            }
        }
    }
    leaks
}

/// Panics when any secret appears in `output` in any known form.
#[track_caller]
pub fn assert_no_secret(output: &str, secrets: &[&str]) {
    let leaks = find_leaks(&[("output", output)], secrets);
    if !leaks.is_empty() {
        let list: Vec<String> = leaks.iter().map(ToString::to_string).collect();
        panic!(
            "secret leaked:\n  {}\n--- output ---\n{output}",
            list.join("\n  ")
        );
    }
}
