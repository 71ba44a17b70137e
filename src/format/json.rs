//! `--format json`: one JSON object (RFC 8259), keys sorted in byte order, every value a
//! string, for tools that read JSON. A JSON string carries any Unicode text (`serde_json`
//! escapes `"`, `\` and every control character, `\u0000` included), so every value is
//! representable; a NUL is carried as `\u0000` — whether the reader can use it is the
//! reader's business, the file says exactly what Infisical holds. No header: JSON has no
//! comments.

use std::collections::BTreeMap;

use crate::dotenv::RenderError;

/// Every value is representable in JSON.
pub fn check(_key: &str, _value: &str) -> Result<(), RenderError> {
    Ok(())
}

/// The object, two-space indented, one key per line, and a final newline.
pub fn render(entries: &[(&str, &str)]) -> String {
    let map: BTreeMap<&str, &str> = entries.iter().copied().collect();
    let mut out = serde_json::to_string_pretty(&map).expect("a map of strings serializes");
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object() {
        assert_eq!(
            render(&[("B", "x\0\"\\\n"), ("A", "é")]),
            "{\n  \"A\": \"é\",\n  \"B\": \"x\\u0000\\\"\\\\\\n\"\n}\n"
        );
        assert_eq!(render(&[]), "{}\n");
    }
}
