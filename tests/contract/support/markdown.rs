//! The Markdown side of the docs tests: fenced blocks and their info-string markers
//! (`runnable`, `values`, `exit=N`, `stdout=TEXT`), the `NAME=value` lines of a values block,
//! the prose outside the fences, and the list of documents under `docs/`.

use std::sync::LazyLock;

use regex::Regex;

use super::trace::{files_with_ext, root};

/// One fenced block of a Markdown file.
#[derive(Debug, Clone)]
pub struct Block {
    /// The file, relative to the repository root.
    pub file: String,
    /// The 1-based line of the opening fence.
    pub line: usize,
    pub lang: String,
    pub markers: Vec<String>,
    pub body: String,
}

impl Block {
    pub fn runnable(&self) -> bool {
        self.markers.iter().any(|m| m == "runnable")
    }

    pub fn values(&self) -> bool {
        self.markers.iter().any(|m| m == "values")
    }

    /// The exit code the doc promises: `exit=N`, else 0.
    pub fn expected_exit(&self) -> i32 {
        self.markers
            .iter()
            .find_map(|m| m.strip_prefix("exit=")?.parse().ok())
            .unwrap_or(0)
    }

    /// What stdout must hold: every `stdout=TEXT`.
    pub fn expected_stdout(&self) -> Vec<&str> {
        self.markers
            .iter()
            .filter_map(|m| m.strip_prefix("stdout="))
            .collect()
    }

    pub fn place(&self) -> String {
        format!("{}:{}", self.file, self.line)
    }
}

static EXIT_MARKER: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^exit=\d{1,3}$").unwrap());

/// Every fenced block of `text`, and the problems found on the way (unknown marker words, a
/// marker on a language that cannot run, an unclosed fence).
pub fn parse_blocks(file: &str, text: &str) -> (Vec<Block>, Vec<String>) {
    let mut blocks = Vec::new();
    let mut problems = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let indent = line.len() - line.trim_start().len();
        let trimmed = line.trim_start();
        let fence_char = trimmed.chars().next();
        let fence_len = trimmed
            .chars()
            .take_while(|c| Some(*c) == fence_char)
            .count();
        if indent > 3 || !matches!(fence_char, Some('`' | '~')) || fence_len < 3 {
            i += 1;
            continue;
        }
        let fence = &trimmed[..fence_len];
        let mut words = trimmed[fence_len..].split_whitespace();
        let lang = words.next().unwrap_or("").to_owned();
        let markers: Vec<String> = words.map(str::to_owned).collect();
        let start = i + 1;
        let mut end = start;
        while end < lines.len() {
            let t = lines[end].trim();
            if t.starts_with(fence) && t.chars().all(|c| Some(c) == fence_char) {
                break;
            }
            end += 1;
        }
        if end == lines.len() {
            problems.push(format!("{file}:{start}: a fence is never closed"));
        }
        for m in &markers {
            let stdout = m.strip_prefix("stdout=").is_some_and(|t| !t.is_empty());
            if m != "runnable" && m != "values" && !EXIT_MARKER.is_match(m) && !stdout {
                problems.push(format!(
                    "{file}:{start}: unknown marker {m:?} in the info string (known: runnable, values, exit=N, stdout=TEXT)"
                ));
            }
        }
        let block = Block {
            file: file.to_owned(),
            line: start,
            lang,
            markers,
            body: lines[start..end.min(lines.len())]
                .iter()
                .map(|l| {
                    let strip = l.len() - l.trim_start().len();
                    &l[strip.min(indent)..]
                })
                .collect::<Vec<_>>()
                .join("\n")
                + "\n",
        };
        if block.runnable() && !matches!(block.lang.as_str(), "sh" | "bash" | "yaml") {
            problems.push(format!(
                "{}: a runnable block must be sh, bash or yaml, not {:?}",
                block.place(),
                block.lang
            ));
        }
        if block.runnable() && block.values() {
            problems.push(format!(
                "{}: a block is runnable or values, not both",
                block.place()
            ));
        }
        if block.lang == "yaml"
            && (block.expected_exit() != 0 || !block.expected_stdout().is_empty())
        {
            problems.push(format!(
                "{}: a workflow block runs to success; exit=N and stdout=TEXT are for sh blocks",
                block.place()
            ));
        }
        blocks.push(block);
        i = end + 1;
    }
    (blocks, problems)
}

static VALUE_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|'[^']*'|\S*)"#).unwrap()
});

/// The `NAME=value` assignments of a values block, in order.
pub fn parse_values(block: &Block) -> Vec<(String, String)> {
    block
        .body
        .lines()
        .filter_map(|l| VALUE_LINE.captures(l))
        .map(|c| {
            let v = c[2].trim_matches(|ch| ch == '"' || ch == '\'').to_owned();
            (c[1].to_owned(), v)
        })
        .collect()
}

/// The text outside fenced blocks, lines kept (so line numbers stay right).
pub fn prose(text: &str) -> String {
    let mut out = Vec::new();
    let mut fence: Option<String> = None;
    for l in text.lines() {
        let t = l.trim_start();
        match &fence {
            Some(f) if t.starts_with(f.as_str()) => {
                fence = None;
                out.push("");
            }
            Some(_) => out.push(""),
            None if t.starts_with("```") || t.starts_with("~~~") => {
                fence = Some(t.chars().take_while(|c| *c == '`' || *c == '~').collect());
                out.push("");
            }
            None => out.push(l),
        }
    }
    out.join("\n")
}

/// Every Markdown file under `docs/`: (path relative to the root, text).
pub fn docs() -> Vec<(String, String)> {
    files_with_ext(&root().join("docs"), "md")
        .into_iter()
        .map(|p| {
            let rel = p.strip_prefix(root()).unwrap().display().to_string();
            let text = std::fs::read_to_string(&p).unwrap();
            (rel, text)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fences_markers_and_bodies() {
        let text = "intro\n\n   ~~~sh runnable exit=3 stdout=ok\n   echo ok\n     indented\n   ~~~\n\n\
                    ````yaml\n```\ninner\n```\n````\n";
        let (blocks, problems) = parse_blocks("docs/a.md", text);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(blocks.len(), 2);
        let sh = &blocks[0];
        assert_eq!((sh.line, sh.lang.as_str()), (3, "sh"));
        assert!(sh.runnable() && !sh.values());
        assert_eq!(sh.expected_exit(), 3);
        assert_eq!(sh.expected_stdout(), ["ok"]);
        assert_eq!(
            sh.body, "echo ok\n  indented\n",
            "the fence's indent is removed"
        );
        assert_eq!(sh.place(), "docs/a.md:3");
        // A longer fence holds a shorter one.
        assert_eq!(blocks[1].body, "```\ninner\n```\n");
    }

    #[test]
    fn problems_are_named_with_their_line() {
        let text = "```python runnable\nx\n```\n\n```sh runnable values\nA=1\n```\n\n```sh\nopen\n";
        let (_, problems) = parse_blocks("docs/p.md", text);
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].contains("docs/p.md:1") && problems[0].contains("python"));
        assert!(problems[1].contains("docs/p.md:5") && problems[1].contains("not both"));
        assert!(problems[2].contains("docs/p.md:9") && problems[2].contains("never closed"));
    }

    #[test]
    fn values_lines_and_prose() {
        let text = "```sh values\nexport A=\"x y\"\nB='z'\nC=/p # note\nnot a line\n```\nafter\n";
        let (blocks, _) = parse_blocks("docs/v.md", text);
        let values = parse_values(&blocks[0]);
        let pairs: Vec<(&str, &str)> = values
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(pairs, [("A", "x y"), ("B", "z"), ("C", "/p")]);
        assert_eq!(
            prose(text),
            "\n\n\n\n\n\nafter",
            "fences blanked, lines kept"
        );
    }

    #[test]
    fn docs_lists_the_operator_docs() {
        let docs = docs();
        assert!(
            docs.iter()
                .all(|(f, _)| f.starts_with("docs/") && f.ends_with(".md"))
        );
        assert!(docs.iter().any(|(f, _)| f == "docs/write-canary-env.md"));
    }
}
