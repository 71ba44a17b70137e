//! The workflow interpreter of the docs tests: a Forgejo Actions (GitHub Actions) workflow
//! block is read the way a runner reads it — its `run: |` scripts in order, dedented, with
//! their Markdown line, and the names of its `env:` maps — and `$GITHUB_ENV` is read back
//! between steps the way the runner hands exports on. A small interpreter of the subset the
//! runbooks use, not a YAML parser.

use regex::Regex;

use super::markdown::Block;

/// One `run: |` script of a workflow block.
#[derive(Debug, Clone)]
pub struct YamlStep {
    /// The 1-based line of `run:` in the Markdown file.
    pub line: usize,
    pub script: String,
}

/// The `run: |` scripts and the names of every `env:` map of a workflow block.
pub fn parse_workflow(block: &Block) -> (Vec<YamlStep>, Vec<String>) {
    let lines: Vec<&str> = block.body.lines().collect();
    let indent_of = |l: &str| l.len() - l.trim_start().len();
    let mut steps = Vec::new();
    let mut env_keys = Vec::new();
    let key = Regex::new(r"^\s*([A-Za-z_][A-Za-z0-9_]*):").unwrap();
    let mut i = 0;
    while i < lines.len() {
        let t = lines[i].trim();
        let own = indent_of(lines[i]);
        let run = t
            .strip_prefix("- ")
            .unwrap_or(t)
            .strip_prefix("run:")
            .map(str::trim);
        if matches!(run, Some("|" | "|-")) {
            let mut body = Vec::new();
            let mut j = i + 1;
            while j < lines.len() && (lines[j].trim().is_empty() || indent_of(lines[j]) > own) {
                body.push(lines[j]);
                j += 1;
            }
            while body.last().is_some_and(|l| l.trim().is_empty()) {
                body.pop();
            }
            let cut = body
                .iter()
                .filter(|l| !l.trim().is_empty())
                .map(|l| indent_of(l))
                .min()
                .unwrap_or(0);
            let script = body
                .iter()
                .map(|l| if l.len() >= cut { &l[cut..] } else { "" })
                .collect::<Vec<_>>()
                .join("\n")
                + "\n";
            steps.push(YamlStep {
                line: block.line + 1 + i,
                script,
            });
            i = j;
            continue;
        }
        if t == "env:" {
            let mut j = i + 1;
            while j < lines.len() && (lines[j].trim().is_empty() || indent_of(lines[j]) > own) {
                if let Some(c) = key.captures(lines[j]) {
                    env_keys.push(c[1].to_owned());
                }
                j += 1;
            }
            i = j;
            continue;
        }
        i += 1;
    }
    (steps, env_keys)
}

/// The `NAME=value` lines a step appended to `$GITHUB_ENV`, in order (what the runner exports
/// to the following steps).
pub fn github_env_exports(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::support::markdown::parse_blocks;

    #[test]
    fn run_scripts_are_dedented_in_order_with_their_line() {
        let doc = "```yaml runnable\njobs:\n  j:\n    steps:\n      - run: |-\n          a\n            b\n\n      - name: two\n        run: |\n          c\n        env:\n          X: ${{ vars.X }}\n          Y: 1\n```\n";
        let (blocks, _) = parse_blocks("docs/w.md", doc);
        let (steps, env) = parse_workflow(&blocks[0]);
        let scripts: Vec<&str> = steps.iter().map(|s| s.script.as_str()).collect();
        assert_eq!(scripts, ["a\n  b\n", "c\n"]);
        assert_eq!(steps[0].line, 5);
        assert_eq!(steps[1].line, 10);
        assert_eq!(env, ["X", "Y"]);
    }

    #[test]
    fn github_env_lines_are_exports() {
        let exports = github_env_exports("A=1\nnot an export\nB=x=y\n");
        assert_eq!(
            exports,
            [
                ("A".to_owned(), "1".to_owned()),
                ("B".to_owned(), "x=y".to_owned())
            ]
        );
    }
}
