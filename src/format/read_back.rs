//! Reading back a file we wrote, and the key diff between it and the next render
//! (`contracts/env-format.md`, FMT-019 … FMT-030). Pure functions, no I/O.
//!
//! [`read_back`] is the inverse of our own renderer, not a general parser: it parses the file
//! the way [`super::render`] writes it in the given format, then renders the entries it found,
//! under the header it found, and calls the file **ours** only when that render is the file,
//! byte for byte. The render is the proof: whatever the parser let through, a file is ours
//! exactly when `render(format, header, entries)` gives it back for some header and entries.
//! A hand-edited file, a file of another format or of another tool, a truncated file or one
//! that is not UTF-8 is [`ReadBack::NotOurs`], with a fixed reason that names no value.
//!
//! **The header does not decide.** The header names the project, the environment and the
//! paths of the run that wrote the file; a file naming other ones is still ours (the operator
//! changed `--path`, `--env` or the project): only its entries are compared. Such a file's
//! bytes still change on the next write, with an empty [`KeyDiff`] — so an empty key diff is
//! not "unchanged"; the bytes decide that.
//!
//! **Formats that look alike.** Four formats share the header, so a file may be ours in more
//! than one of them: `KEY='v'` is a dotenv, a systemd and a docker line. Read as docker, its
//! value is `'v'`, quotes included — which is what docker would read from it — so switching
//! `--format` from dotenv to docker reports every such key changed, and that is true for the
//! program reading the file.
//!
//! Values read back are held in [`SecretString`] (wiped when dropped, redacted in `Debug`);
//! the re-render is held in [`Zeroizing`]. Cost: one pass over the file, one copy of each value
//! (two for a value the format escapes), and one render of the whole file.

use std::collections::{BTreeMap, BTreeSet};

use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::{Format, render};
use crate::dotenv::{
    HEADER_ENVIRONMENT, HEADER_PATHS, HEADER_PROJECT, HEADER_TITLE, Header, valid_key,
};

/// Why a file on disk is not ours: fixed texts, never a value, a length or a position.
pub mod why {
    /// The file has no byte.
    pub const EMPTY: &str = "it is empty";
    /// The bytes are not UTF-8.
    pub const NOT_UTF8: &str = "it is not UTF-8 text";
    /// The first lines are not the header write-canary-env writes.
    pub const NO_HEADER: &str = "it does not start with the header write-canary-env writes";
    /// A line after the header is not an assignment spelled the way this format writes one
    /// (or the file ends inside one).
    pub const NOT_OUR_LINE: &str =
        "a line is not an assignment the way write-canary-env writes it in this format";
    /// `--format json`: the file is not one JSON object of strings.
    pub const NOT_JSON: &str = "it is not one JSON object of string values";
    /// A key or a value the renderer would refuse in this format.
    pub const REFUSED: &str =
        "it holds a key or a value write-canary-env does not write in this format";
    /// The entries parse, but the render of them is not the file (another spelling, another
    /// order, a duplicate key, a blank or extra line, another line ending).
    pub const OTHER_BYTES: &str =
        "its bytes differ from what write-canary-env writes for the entries it holds";
}

/// What [`read_back`] found in the file on disk.
#[derive(Debug)]
pub enum ReadBack {
    /// A file our renderer writes in this format, byte for byte: its entries, key → value.
    Ours(BTreeMap<String, SecretString>),
    /// Anything else, with the reason (one of [`why`]); the whole file counts as changed.
    NotOurs(&'static str),
}

/// Decides whether `old` (the bytes of the file on disk) is a file we wrote in `format`, and
/// if so returns its entries. See the module documentation for the rule.
pub fn read_back(format: Format, old: &[u8]) -> ReadBack {
    if old.is_empty() {
        return ReadBack::NotOurs(why::EMPTY);
    }
    let Ok(text) = std::str::from_utf8(old) else {
        return ReadBack::NotOurs(why::NOT_UTF8);
    };
    let parsed = match format {
        Format::Json => parse_json(text).map(|entries| (None, entries)),
        Format::Dotenv => parse_lines(text, dotenv_line),
        Format::Docker => parse_lines(text, docker_line),
        Format::Systemd => parse_lines(text, systemd_line),
        Format::Shell => parse_lines(text, shell_line),
    };
    match parsed {
        Ok((header, entries)) => prove(format, header, entries, old),
        Err(why) => ReadBack::NotOurs(why),
    }
}

/// The header fields as the file spells them; the paths line is kept whole (one "path" that
/// joins back to the same line).
struct FoundHeader<'t> {
    project_id: &'t str,
    environment: &'t str,
    paths: &'t str,
}

type Entries = BTreeMap<String, SecretString>;

/// Renders `entries` under `header` and keeps them only when the render is `old`.
fn prove(
    format: Format,
    header: Option<FoundHeader<'_>>,
    entries: Entries,
    old: &[u8],
) -> ReadBack {
    let header = header.unwrap_or(FoundHeader {
        project_id: "",
        environment: "",
        paths: "",
    });
    let paths = [header.paths.to_owned()];
    let header = Header {
        project_id: header.project_id,
        environment: header.environment,
        paths: &paths,
    };
    let pairs = entries.iter().map(|(k, v)| (k.as_str(), v.expose_secret()));
    let Ok(rendered) = render(format, &header, pairs).map(Zeroizing::new) else {
        return ReadBack::NotOurs(why::REFUSED);
    };
    if rendered.as_bytes() == old {
        ReadBack::Ours(entries)
    } else {
        ReadBack::NotOurs(why::OTHER_BYTES)
    }
}

/// `--format json`: one object of strings (serde_json decides the syntax; the re-render
/// decides the spelling).
fn parse_json(text: &str) -> Result<Entries, &'static str> {
    let map: BTreeMap<String, String> = serde_json::from_str(text).map_err(|_| why::NOT_JSON)?;
    Ok(map
        .into_iter()
        .map(|(k, v)| (k, SecretString::from(v)))
        .collect())
}

/// One assignment of a line format at a position: its key, its value and the position after
/// its line.
type LineParser = fn(&str, usize) -> Result<(&str, String, usize), &'static str>;

/// The line formats: the header, then one assignment after another to the end of the file.
fn parse_lines(
    text: &str,
    line: LineParser,
) -> Result<(Option<FoundHeader<'_>>, Entries), &'static str> {
    let (header, mut pos) = parse_header(text)?;
    let mut lines = Vec::new();
    while pos < text.len() {
        let (key, value, next) = line(text, pos)?;
        lines.push((key.to_owned(), SecretString::from(value)));
        pos = next;
    }
    // Sorted already when the file is ours: the map is built in one go. A duplicate key keeps
    // one entry; the re-render then has a line fewer than the file, and the proof fails.
    Ok((Some(header), lines.into_iter().collect()))
}

/// The four header lines of [`crate::dotenv::render_header`] (systemd's render may end a line
/// with a space after a `\`: that space is kept in the field, and the re-render gives it back).
fn parse_header(text: &str) -> Result<(FoundHeader<'_>, usize), &'static str> {
    if !text.starts_with(HEADER_TITLE) {
        return Err(why::NO_HEADER);
    }
    let mut pos = HEADER_TITLE.len();
    let project_id = header_field(text, &mut pos, HEADER_PROJECT)?;
    let environment = header_field(text, &mut pos, HEADER_ENVIRONMENT)?;
    let paths = header_field(text, &mut pos, HEADER_PATHS)?;
    Ok((
        FoundHeader {
            project_id,
            environment,
            paths,
        },
        pos,
    ))
}

/// The rest of the line at `pos` after `label`; `pos` moves past its newline.
fn header_field<'t>(text: &'t str, pos: &mut usize, label: &str) -> Result<&'t str, &'static str> {
    let rest = text[*pos..].strip_prefix(label).ok_or(why::NO_HEADER)?;
    let end = rest.find('\n').ok_or(why::NO_HEADER)?;
    *pos += label.len() + end + 1;
    Ok(&rest[..end])
}

/// `prefix KEY=` at `pos`: the key (an env name) and the position after the `=`.
fn assignment<'t>(
    text: &'t str,
    pos: usize,
    prefix: &str,
) -> Result<(&'t str, usize), &'static str> {
    let start = pos + prefix.len();
    if !text[pos..].starts_with(prefix) {
        return Err(why::NOT_OUR_LINE);
    }
    let len = text.as_bytes()[start..]
        .iter()
        .position(|&b| b == b'=' || b == b'\n')
        .ok_or(why::NOT_OUR_LINE)?;
    let key = &text[start..start + len];
    if text.as_bytes()[start + len] != b'=' || !valid_key(key) {
        return Err(why::NOT_OUR_LINE);
    }
    Ok((key, start + len + 1))
}

/// The position after the newline that must stand at `pos`.
fn line_end(text: &str, pos: usize) -> Result<usize, &'static str> {
    match text.as_bytes().get(pos) {
        Some(b'\n') => Ok(pos + 1),
        _ => Err(why::NOT_OUR_LINE),
    }
}

/// `'…'` at `pos` (every byte literal up to the next `'`): the value and the position after
/// the closing quote.
fn single_quoted(text: &str, pos: usize) -> Result<(String, usize), &'static str> {
    if text.as_bytes().get(pos) != Some(&b'\'') {
        return Err(why::NOT_OUR_LINE);
    }
    let len = text[pos + 1..].find('\'').ok_or(why::NOT_OUR_LINE)?;
    Ok((text[pos + 1..pos + 1 + len].to_owned(), pos + len + 2))
}

/// `"…"` at `pos`, where `\` escapes exactly the bytes of `escaped` (any other `\x` is not
/// what we write): the value and the position after the closing quote.
fn double_quoted(text: &str, pos: usize, escaped: &[u8]) -> Result<(String, usize), &'static str> {
    let bytes = text.as_bytes();
    if bytes.get(pos) != Some(&b'"') {
        return Err(why::NOT_OUR_LINE);
    }
    let mut value = String::new();
    let mut from = pos + 1;
    loop {
        let at = from
            + bytes[from..]
                .iter()
                .position(|&b| b == b'"' || b == b'\\')
                .ok_or(why::NOT_OUR_LINE)?;
        value.push_str(&text[from..at]);
        if bytes[at] == b'"' {
            return Ok((value, at + 1));
        }
        match bytes.get(at + 1) {
            Some(&b) if escaped.contains(&b) => value.push(char::from(b)),
            _ => return Err(why::NOT_OUR_LINE),
        }
        from = at + 2;
    }
}

/// One line of [`crate::dotenv`]: `KEY='…'` or `KEY="…"` escaping `\` and `"`.
fn dotenv_line(text: &str, pos: usize) -> Result<(&str, String, usize), &'static str> {
    quoted_line(text, pos, b"\\\"")
}

/// One line of [`super::docker`]: `KEY=value`, the value literal to the end of the line.
fn docker_line(text: &str, pos: usize) -> Result<(&str, String, usize), &'static str> {
    let (key, pos) = assignment(text, pos, "")?;
    let len = text[pos..].find('\n').ok_or(why::NOT_OUR_LINE)?;
    Ok((key, text[pos..pos + len].to_owned(), pos + len + 1))
}

/// One line of [`super::systemd`]: `KEY='…'` or `KEY="…"` escaping `"`, `\`, `` ` `` and `$`.
fn systemd_line(text: &str, pos: usize) -> Result<(&str, String, usize), &'static str> {
    quoted_line(text, pos, b"\"\\`$")
}

/// `KEY='…'` or `KEY="…"`, the double-quoted value escaping the bytes of `escaped` with `\`
/// (the dotenv and systemd lines).
fn quoted_line<'t>(
    text: &'t str,
    pos: usize,
    escaped: &[u8],
) -> Result<(&'t str, String, usize), &'static str> {
    let (key, pos) = assignment(text, pos, "")?;
    let (value, pos) = if text.as_bytes().get(pos) == Some(&b'"') {
        double_quoted(text, pos, escaped)?
    } else {
        single_quoted(text, pos)?
    };
    Ok((key, value, line_end(text, pos)?))
}

/// One line of [`super::shell`]: `export KEY='…'`, each `'` of the value written `'\''`.
fn shell_line(text: &str, pos: usize) -> Result<(&str, String, usize), &'static str> {
    let (key, pos) = assignment(text, pos, "export ")?;
    if text.as_bytes().get(pos) != Some(&b'\'') {
        return Err(why::NOT_OUR_LINE);
    }
    let mut value = String::new();
    let mut from = pos + 1;
    loop {
        let at = from + text[from..].find('\'').ok_or(why::NOT_OUR_LINE)?;
        value.push_str(&text[from..at]);
        if text[at..].starts_with("'\\''") {
            value.push('\'');
            from = at + 4;
        } else {
            return Ok((key, value, line_end(text, at + 1)?));
        }
    }
}

/// The keys a new render adds, changes and removes compared with the file on disk: key names
/// only, each list sorted in byte order, a key in at most one list. `Debug` shows names only.
///
/// An empty diff is not an unchanged file: a header naming other paths, or a file that is not
/// ours while no key is rendered, changes the bytes with no key to name. Whether the file
/// changes is decided from its bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyDiff {
    /// Keys the new render has and the old file had not.
    pub added: Vec<String>,
    /// Keys both have, with another value (or, from [`KeyDiff::whole`], every new key).
    pub changed: Vec<String>,
    /// Keys the old file had and the new render has not.
    pub removed: Vec<String>,
}

impl KeyDiff {
    /// The diff between the entries of a file that is ours (`old`, from [`read_back`]) and
    /// the entries about to be rendered (`new`). Values are compared for equality only, in
    /// time that does not depend on where they differ (`subtle`); nothing else is done with
    /// them.
    pub fn between(old: &BTreeMap<String, SecretString>, new: &BTreeMap<&str, &str>) -> KeyDiff {
        use std::cmp::Ordering;
        let mut diff = KeyDiff::default();
        let (mut old, mut new) = (old.iter(), new.iter());
        let (mut was, mut now) = (old.next(), new.next());
        loop {
            match (was, now) {
                (None, None) => return diff,
                (Some((key, _)), None) => {
                    diff.removed.push(key.clone());
                    was = old.next();
                }
                (None, Some((key, _))) => {
                    diff.added.push((*key).to_owned());
                    now = new.next();
                }
                (Some((o, before)), Some((n, after))) => match o.as_str().cmp(n) {
                    Ordering::Less => {
                        diff.removed.push(o.clone());
                        was = old.next();
                    }
                    Ordering::Greater => {
                        diff.added.push((*n).to_owned());
                        now = new.next();
                    }
                    Ordering::Equal => {
                        if !same(before.expose_secret(), after) {
                            diff.changed.push(o.clone());
                        }
                        was = old.next();
                        now = new.next();
                    }
                },
            }
        }
    }

    /// The diff when the file on disk is not ours ([`ReadBack::NotOurs`]): the file counts as
    /// changed whole, so every new key is **changed** (none added: whether the foreign file
    /// held a key is not known, and a key the reader may already hold must be re-read), and
    /// none is removed (a file that is not ours is never parsed for names). Sorted, duplicates
    /// dropped.
    pub fn whole<I, S>(new_keys: I) -> KeyDiff
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let keys: BTreeSet<String> = new_keys
            .into_iter()
            .map(|k| k.as_ref().to_owned())
            .collect();
        KeyDiff {
            changed: keys.into_iter().collect(),
            ..KeyDiff::default()
        }
    }

    /// No key added, changed or removed (see the type's note: not the same as an unchanged
    /// file).
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.changed.is_empty() && self.removed.is_empty()
    }

    /// The diff still owed (`self`, from an earlier run whose on-change command has not
    /// succeeded) followed by `later` (this run's, against the file that earlier run wrote):
    /// what changed since the last reload that is known to have happened. No key named by
    /// either is dropped (a reload that half-happened may have loaded any of them). Per key:
    ///
    /// | earlier \ later | —       | added   | changed | removed |
    /// |-----------------|---------|---------|---------|---------|
    /// | —               | —       | added   | changed | removed |
    /// | added           | added   | added   | added   | removed |
    /// | changed         | changed | changed | changed | removed |
    /// | removed         | removed | changed | changed | removed |
    ///
    /// A later removal wins; a key present now is added only when it was absent before the
    /// earlier run (added then, or added now and not named then), otherwise changed (removed
    /// then added back: its value is not known to be the one the reader holds). Lists come out
    /// sorted, a key in exactly one.
    pub fn merge(self, later: KeyDiff) -> KeyDiff {
        let earlier = self.by_key();
        let mut merged = earlier.clone();
        for (key, now) in later.by_key() {
            let kind = match (earlier.get(&key), now) {
                (None, now) => now,
                (Some(_), Kind::Removed) => Kind::Removed,
                (Some(Kind::Added), _) => Kind::Added,
                (Some(_), _) => Kind::Changed,
            };
            merged.insert(key, kind);
        }
        let mut diff = KeyDiff::default();
        for (key, kind) in merged {
            match kind {
                Kind::Added => diff.added.push(key),
                Kind::Changed => diff.changed.push(key),
                Kind::Removed => diff.removed.push(key),
            }
        }
        diff
    }

    /// Each key with its list (a key given in several lists keeps the last of added, changed,
    /// removed: a diff read from a marker file is not trusted to be well-formed).
    fn by_key(self) -> BTreeMap<String, Kind> {
        let mut out = BTreeMap::new();
        for (keys, kind) in [
            (self.added, Kind::Added),
            (self.changed, Kind::Changed),
            (self.removed, Kind::Removed),
        ] {
            for key in keys {
                out.insert(key, kind);
            }
        }
        out
    }
}

/// Which list of a [`KeyDiff`] a key is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Added,
    Changed,
    Removed,
}

/// Whether two values are equal, in time independent of where they differ.
fn same(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header_paths() -> Vec<String> {
        vec!["/app".to_owned(), "/shared".to_owned()]
    }

    fn ours(format: Format, entries: &[(&str, &str)]) -> String {
        let paths = header_paths();
        let header = Header {
            project_id: "proj-1",
            environment: "prod",
            paths: &paths,
        };
        render(format, &header, entries.iter().copied()).expect("renders")
    }

    fn values(rb: ReadBack) -> Vec<(String, String)> {
        match rb {
            ReadBack::Ours(map) => map
                .into_iter()
                .map(|(k, v)| (k, v.expose_secret().to_owned()))
                .collect(),
            ReadBack::NotOurs(why) => panic!("not ours: {why}"),
        }
    }

    fn not_ours(format: Format, text: &str) -> &'static str {
        match read_back(format, text.as_bytes()) {
            ReadBack::NotOurs(why) => why,
            ReadBack::Ours(_) => panic!("{format:?} took {text:?} as ours"),
        }
    }

    #[test]
    fn every_format_reads_its_own_file() {
        let cases: [(Format, &[(&str, &str)]); 5] = [
            (
                Format::Dotenv,
                &[("A", "it's \"q\" \\"), ("B", "x\ny $HOME"), ("C", "")],
            ),
            (Format::Docker, &[("A", " 'q' \"d\" =#\\ "), ("C", "")]),
            (
                Format::Systemd,
                &[("A", "it's $x \\ `y`\n\"q\""), ("B", "plain\\")],
            ),
            (
                Format::Shell,
                &[("A", "'"), ("B", "''a'\\''b'"), ("C", "\n\r")],
            ),
            (Format::Json, &[("A", "x\0\"\\\n"), ("B", "é🙂")]),
        ];
        for (format, entries) in cases {
            let text = ours(format, entries);
            let got = values(read_back(format, text.as_bytes()));
            let want: Vec<(String, String)> = entries
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            assert_eq!(got, want, "{format:?}");
        }
    }

    #[test]
    fn header_with_trailing_backslash_in_systemd() {
        let paths = vec!["/a\\".to_owned()];
        let header = Header {
            project_id: "p\\",
            environment: "e",
            paths: &paths,
        };
        let text = render(Format::Systemd, &header, [("K", "v")]).unwrap();
        assert!(text.contains("# project: p\\ \n"), "{text}");
        assert_eq!(values(read_back(Format::Systemd, text.as_bytes())).len(), 1);
        // The same header without systemd's space is not what we write.
        let bare = text.replace("p\\ \n", "p\\\n");
        assert_eq!(not_ours(Format::Systemd, &bare), why::OTHER_BYTES);
    }

    #[test]
    fn reasons() {
        let dotenv = ours(Format::Dotenv, &[("A", "one"), ("B", "two")]);
        assert_eq!(not_ours(Format::Dotenv, ""), why::EMPTY);
        assert!(matches!(
            read_back(Format::Dotenv, b"\xff"),
            ReadBack::NotOurs(why::NOT_UTF8)
        ));
        assert_eq!(not_ours(Format::Dotenv, "A='one'\n"), why::NO_HEADER);
        assert_eq!(
            not_ours(Format::Dotenv, &dotenv[..dotenv.len() - 1]),
            why::NOT_OUR_LINE
        );
        assert_eq!(
            not_ours(Format::Dotenv, &dotenv.replace("'two'", "\"two\"")),
            why::OTHER_BYTES
        );
        assert_eq!(
            not_ours(Format::Dotenv, &format!("{dotenv}A='one'\n")),
            why::OTHER_BYTES
        );
        assert_eq!(
            not_ours(Format::Dotenv, &format!("{dotenv}C='a${{B}}'\n")),
            why::REFUSED
        );
        assert_eq!(not_ours(Format::Json, &dotenv), why::NOT_JSON);
        assert_eq!(not_ours(Format::Json, "{\"A\": 1}\n"), why::NOT_JSON);
        assert_eq!(not_ours(Format::Shell, &dotenv), why::NOT_OUR_LINE);
        assert_eq!(
            not_ours(Format::Systemd, &dotenv.replace("'two'", "\"t\\wo\"")),
            why::NOT_OUR_LINE
        );
    }

    fn diff(added: &[&str], changed: &[&str], removed: &[&str]) -> KeyDiff {
        let own = |l: &[&str]| l.iter().map(|s| (*s).to_owned()).collect();
        KeyDiff {
            added: own(added),
            changed: own(changed),
            removed: own(removed),
        }
    }

    #[test]
    fn between_and_whole() {
        let old: BTreeMap<String, SecretString> = [("A", "1"), ("B", "2"), ("C", "3"), ("E", "")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), SecretString::from(v)))
            .collect();
        let new: BTreeMap<&str, &str> = [("B", "2"), ("C", "33"), ("D", "4"), ("E", "x")]
            .into_iter()
            .collect();
        assert_eq!(
            KeyDiff::between(&old, &new),
            diff(&["D"], &["C", "E"], &["A"])
        );
        assert!(KeyDiff::between(&old, &BTreeMap::new()).removed.len() == 4);
        assert!(KeyDiff::between(&BTreeMap::new(), &BTreeMap::new()).is_empty());
        assert_eq!(KeyDiff::whole(["B", "A", "B"]), diff(&[], &["A", "B"], &[]));
        assert!(KeyDiff::whole(Vec::<String>::new()).is_empty());
    }

    #[test]
    fn merge_table() {
        use Kind::*;
        let one = |k: Option<Kind>| match k {
            None => diff(&[], &[], &[]),
            Some(Added) => diff(&["K"], &[], &[]),
            Some(Changed) => diff(&[], &["K"], &[]),
            Some(Removed) => diff(&[], &[], &["K"]),
        };
        let all = [None, Some(Added), Some(Changed), Some(Removed)];
        // rows: earlier; columns: later (the table in `merge`'s documentation)
        let table = [
            [None, Some(Added), Some(Changed), Some(Removed)],
            [Some(Added), Some(Added), Some(Added), Some(Removed)],
            [Some(Changed), Some(Changed), Some(Changed), Some(Removed)],
            [Some(Removed), Some(Changed), Some(Changed), Some(Removed)],
        ];
        for (row, earlier) in all.iter().enumerate() {
            for (col, later) in all.iter().enumerate() {
                assert_eq!(
                    one(*earlier).merge(one(*later)),
                    one(table[row][col]),
                    "{earlier:?} then {later:?}"
                );
            }
        }
        assert_eq!(
            diff(&["A"], &["C"], &["R"]).merge(diff(&["Z"], &["A"], &["C"])),
            diff(&["A", "Z"], &[], &["C", "R"])
        );
    }
}
