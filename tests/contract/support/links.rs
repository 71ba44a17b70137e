//! The link checker of the docs tests: the anchors GitHub and Forgejo generate for headings,
//! and every relative link of a document checked against the files and headings it points at
//! (a clause-ID link text must land on that clause's heading).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::LazyLock;

use regex::Regex;

use super::markdown::prose;

/// The anchor GitHub and Forgejo generate for a heading's text.
pub fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ' '))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// Every heading anchor of a Markdown text, with GitHub's `-1`, `-2` for repeats, and the
/// anchor of each clause heading by clause ID.
pub fn anchors(text: &str) -> (BTreeSet<String>, BTreeMap<String, String>) {
    let heading = Regex::new(r"^#{1,6}\s+(.*?)\s*#*\s*$").unwrap();
    let clause = Regex::new(r"^([A-Z][A-Z0-9]*-\d{3})\b").unwrap();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut all = BTreeSet::new();
    let mut clauses = BTreeMap::new();
    for l in prose(text).lines() {
        let Some(c) = heading.captures(l) else {
            continue;
        };
        let base = slug(&c[1].replace('`', ""));
        let n = seen.entry(base.clone()).or_insert(0);
        let anchor = if *n == 0 {
            base.clone()
        } else {
            format!("{base}-{n}")
        };
        *n += 1;
        if let Some(id) = clause.captures(&c[1]) {
            clauses.insert(id[1].to_owned(), anchor.clone());
        }
        all.insert(anchor);
    }
    (all, clauses)
}

pub static LINK: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\[([^\]]*)\]\(([^)\s]+)\)").unwrap());
static CLAUSE_ID: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Z][A-Z0-9]*-\d{3}$").unwrap());

/// Every broken relative link of one doc: a missing file, an anchor no heading generates, a
/// clause-ID link text whose anchor is not that clause's heading.
pub fn broken_links(root: &Path, file: &str, text: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let dir = root.join(file).parent().unwrap().to_owned();
    let body = prose(text);
    for (n, line) in body.lines().enumerate() {
        for c in LINK.captures_iter(line) {
            let (label, target) = (c[1].trim_matches('`'), &c[2]);
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (path, anchor) = match target.split_once('#') {
                Some((p, a)) => (p, Some(a)),
                None => (target, None),
            };
            let place = format!("{file}:{}: [{label}]({target})", n + 1);
            let resolved = if path.is_empty() {
                root.join(file)
            } else {
                dir.join(path)
            };
            if !resolved.exists() {
                problems.push(format!("{place}: no such file"));
                continue;
            }
            let Some(anchor) = anchor else { continue };
            let Ok(target_text) = std::fs::read_to_string(&resolved) else {
                problems.push(format!(
                    "{place}: an anchor into something that is not a file"
                ));
                continue;
            };
            let (all, clauses) = anchors(&target_text);
            if !all.contains(anchor) {
                problems.push(format!("{place}: no heading generates #{anchor}"));
                continue;
            }
            if CLAUSE_ID.is_match(label) {
                match clauses.get(label) {
                    Some(a) if a == anchor => {}
                    Some(a) => {
                        problems.push(format!("{place}: {label}'s heading is #{a}, not #{anchor}"))
                    }
                    None => problems.push(format!("{place}: no clause {label} in that file")),
                }
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_follow_github_repeats_and_clause_ids() {
        let text = "# Top\n\n## Same\n\n## Same\n\n```\n# not a heading\n```\n\n### ABC-001 — A `code` rule\n";
        let (all, clauses) = anchors(text);
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        assert_eq!(all, ["abc-001--a-code-rule", "same", "same-1", "top"]);
        assert_eq!(clauses["ABC-001"], "abc-001--a-code-rule");
    }

    #[test]
    fn broken_links_in_a_temporary_tree() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("docs/sub")).unwrap();
        std::fs::write(dir.path().join("docs/t.md"), "## ABC-001 — X\n## Other\n").unwrap();
        let text = "[ok](../t.md#abc-001--x) [web](https://example.invalid/x) [self](#here)\n\
                    [ABC-001](../t.md#other) [gone](../none.md) [bad](../t.md#nope)\n\n## Here\n";
        std::fs::write(dir.path().join("docs/sub/s.md"), text).unwrap();
        let problems = broken_links(dir.path(), "docs/sub/s.md", text);
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(
            problems[0].contains("docs/sub/s.md:2")
                && problems[0].contains("ABC-001's heading is #abc-001--x")
        );
        assert!(problems[1].contains("no such file"));
        assert!(problems[2].contains("no heading generates #nope"));
    }
}
