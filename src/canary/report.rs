//! What a `write-canary-env` run reports: the text or JSON report of a success, the JSON
//! document of a failure. Holds key names, paths, modes and owners, never a value.

use std::path::PathBuf;

use std::collections::BTreeMap;

use super::Error;
use crate::envfile::{Status, WriteOutcome};
use crate::format::Format;
use crate::format::read_back::{KeyDiff, ReadBack, read_back};
use crate::onchange::{Change, Event};
use crate::output::one_line;

/// What a run did, for the text or JSON report. Holds no value.
#[derive(Debug, Clone)]
pub struct Report {
    /// Written, unchanged, or (dry run) whether it would change.
    pub status: Status,
    /// The env file.
    pub path: PathBuf,
    /// Its permission bits, as written or found.
    pub mode: u32,
    /// Its owner.
    pub uid: u32,
    /// Its group, when known.
    pub gid: Option<u32>,
    /// The keys written, in file order.
    pub keys: KeyList,
    /// The project read.
    pub project_id: String,
    /// The environment read.
    pub environment: String,
    /// The folders read, in order.
    pub paths: Vec<String>,
    /// Whether nothing was written on purpose.
    pub dry_run: bool,
    /// The directories created, outermost first.
    pub created_dirs: Vec<PathBuf>,
    /// A dry run's comparison with the file on disk (`None`: the bytes would not change).
    pub diff: Option<Diff>,
    /// What became of the on-change command (`None`: no `--on-change`).
    pub on_change: Option<OnChange>,
    /// Whether a reload is owed for this file after the run.
    pub owed: bool,
}

/// Key names in order, held in one buffer: a run may name ten thousand keys, and one
/// allocation holds them all, not one each.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyList {
    names: String,
    /// Where each name ends in `names`.
    ends: Vec<usize>,
}

impl KeyList {
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The names, in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts
            .zip(&self.ends)
            .map(|(start, &end)| &self.names[start..end])
    }
}

impl<'a> FromIterator<&'a str> for KeyList {
    fn from_iter<I: IntoIterator<Item = &'a str>>(names: I) -> Self {
        let mut list = KeyList::default();
        for name in names {
            list.names.push_str(name);
            list.ends.push(list.names.len());
        }
        list
    }
}

/// How the file's keys change, compared with the file on disk. Key names only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diff {
    /// There was no file.
    pub created: bool,
    /// The file on disk is not one we wrote in this format: it counts as changed whole.
    pub not_ours: Option<&'static str>,
    /// The keys added, changed and removed.
    pub keys: KeyDiff,
}

impl Diff {
    /// The change from `old` (the file on disk, `None` when there is none to read) to `new`
    /// (`new_entries` rendered in `format`); `None` when the bytes are the same.
    pub fn of(
        format: Format,
        old: Option<&[u8]>,
        new: &[u8],
        new_entries: &BTreeMap<&str, &str>,
    ) -> Option<Diff> {
        // The same bytes are no change: the file is not read back for nothing.
        if old == Some(new) {
            return None;
        }
        Diff::from_read(old.map(|o| (o, read_back(format, o))), new, new_entries)
    }

    /// [`Diff::of`] from the file on disk already read back.
    pub fn from_read(
        old: Option<(&[u8], ReadBack)>,
        new: &[u8],
        new_entries: &BTreeMap<&str, &str>,
    ) -> Option<Diff> {
        let keys = || new_entries.keys().copied();
        let Some((old, read)) = old else {
            return Some(Diff {
                created: true,
                not_ours: None,
                keys: KeyDiff {
                    added: keys().map(str::to_owned).collect(),
                    ..KeyDiff::default()
                },
            });
        };
        if old == new {
            return None;
        }
        Some(match read {
            ReadBack::Ours(entries) => Diff {
                created: false,
                not_ours: None,
                keys: KeyDiff::between(&entries, new_entries),
            },
            ReadBack::NotOurs(why) => Diff {
                created: false,
                not_ours: Some(why),
                keys: KeyDiff::whole(keys()),
            },
        })
    }

    /// `created` or `changed`.
    pub fn change(&self) -> Change {
        if self.created {
            Change::Created
        } else {
            Change::Changed
        }
    }

    /// What the on-change command is told of this change.
    pub fn event(self) -> Event {
        Event {
            change: self.change(),
            added: self.keys.added,
            changed: self.keys.changed,
            removed: self.keys.removed,
        }
    }
}

/// What became of the on-change command in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnChange {
    /// A dry run: it would run, for this change.
    WouldRun(Change),
    /// A dry run: it would not run (nothing changed, nothing owed).
    WouldNotRun,
    /// It ran and succeeded; nothing is owed.
    Ran(Change),
    /// It ran and failed; it stays owed.
    Failed(Change),
}

impl OnChange {
    fn state(self) -> &'static str {
        match self {
            OnChange::WouldRun(_) => "would-run",
            OnChange::WouldNotRun => "would-not-run",
            OnChange::Ran(_) => "ran",
            OnChange::Failed(_) => "failed",
        }
    }

    fn change(self) -> Option<Change> {
        match self {
            OnChange::WouldRun(c) | OnChange::Ran(c) | OnChange::Failed(c) => Some(c),
            OnChange::WouldNotRun => None,
        }
    }

    fn line(self) -> String {
        match self {
            OnChange::WouldRun(c) => format!("on-change: would run ({})", c.as_str()),
            OnChange::WouldNotRun => {
                "on-change: would not run (nothing changed, nothing owed)".to_owned()
            }
            OnChange::Ran(c) => format!("on-change: ran ({})", c.as_str()),
            OnChange::Failed(c) => format!("on-change: failed ({}); it stays owed", c.as_str()),
        }
    }
}

impl Report {
    /// Takes the status, mode, owner and created directories of a write (or a preview).
    pub fn set_outcome(&mut self, outcome: WriteOutcome) {
        self.status = outcome.status;
        self.mode = outcome.mode;
        self.uid = outcome.uid;
        self.gid = outcome.gid;
        self.created_dirs = outcome.created_dirs;
    }

    /// The human-readable report.
    pub fn text(&self) -> String {
        let gid = self.gid.map_or("-".to_owned(), |g| g.to_string());
        // Every name the operator gave is shown on its line (CLI-016).
        let path = |p: &std::path::Path| one_line(&p.display().to_string()).into_owned();
        let mut out = format!(
            "{}: {} (mode {:04o}, owner {}:{}) with {} key{} from project {}, environment {}, paths {}\n",
            self.status.as_str(),
            path(&self.path),
            self.mode,
            self.uid,
            gid,
            self.keys.len(),
            if self.keys.len() == 1 { "" } else { "s" },
            one_line(&self.project_id),
            one_line(&self.environment),
            one_line(&self.paths.join(" "))
        );
        for dir in &self.created_dirs {
            out.push_str(&format!("created directory {}\n", path(dir)));
        }
        out.reserve(self.keys.iter().map(|k| k.len() + 3).sum());
        for key in self.keys.iter() {
            out.push_str("  ");
            out.push_str(key);
            out.push('\n');
        }
        if self.dry_run {
            match &self.diff {
                None => out.push_str("keys: unchanged\n"),
                Some(diff) => {
                    if let Some(why) = diff.not_ours {
                        out.push_str(&format!(
                            "the file on disk is not one write-canary-env wrote in this format ({why}): it counts as changed whole\n"
                        ));
                    }
                    for (verb, keys) in [
                        ("added", &diff.keys.added),
                        ("changed", &diff.keys.changed),
                        ("removed", &diff.keys.removed),
                    ] {
                        if !keys.is_empty() {
                            out.push_str(&format!("keys {verb}: {}\n", keys.join(", ")));
                        }
                    }
                }
            }
        }
        if let Some(on_change) = self.on_change {
            out.push_str(&on_change.line());
            out.push('\n');
        }
        out
    }

    /// The machine-readable report.
    pub fn json(&self) -> serde_json::Value {
        let mut doc = self.json_base();
        if self.dry_run {
            doc["diff"] = match &self.diff {
                None => {
                    serde_json::json!({"unchanged": true, "added": [], "changed": [], "removed": [], "not_ours": null})
                }
                Some(d) => serde_json::json!({
                    "unchanged": false,
                    "added": d.keys.added,
                    "changed": d.keys.changed,
                    "removed": d.keys.removed,
                    "not_ours": d.not_ours,
                }),
            };
        }
        if let Some(on_change) = self.on_change {
            doc["on_change"] = serde_json::json!({
                "state": on_change.state(),
                "change": on_change.change().map(Change::as_str),
                "owed": self.owed,
            });
        }
        doc
    }

    fn json_base(&self) -> serde_json::Value {
        serde_json::json!({
            "status": self.status.as_str(),
            "dry_run": self.dry_run,
            "path": self.path.display().to_string(),
            "mode": format!("{:04o}", self.mode),
            "owner": { "uid": self.uid, "gid": self.gid },
            "keys": self.keys.iter().collect::<Vec<_>>(),
            "project_id": self.project_id,
            "environment": self.environment,
            "paths": self.paths,
            "created_dirs": self.created_dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>(),
        })
    }
}

/// The JSON printed on stdout for a failed run under `--json` (the message is value-free).
pub fn error_json(err: &Error) -> serde_json::Value {
    serde_json::json!({
        "status": "error",
        "exit_code": err.exit().code(),
        "error": err.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::KeyList;

    /// The names come back as given, in order, empty ones included; the count is theirs.
    #[test]
    fn key_list() {
        let list: KeyList = ["B", "", "A_LONGER_NAME", "A"].into_iter().collect();
        assert_eq!(list.len(), 4);
        assert!(!list.is_empty());
        assert_eq!(
            list.iter().collect::<Vec<_>>(),
            ["B", "", "A_LONGER_NAME", "A"]
        );
        let none: KeyList = std::iter::empty().collect();
        assert!(none.is_empty());
        assert_eq!(none.iter().count(), 0);
    }
}
