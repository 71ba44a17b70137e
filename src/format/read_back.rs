//! TEMPORARY shim until the real read-back lands (branch wt-18d): every file counts as not
//! ours, so every key counts as changed.

use std::collections::BTreeMap;

use secrecy::SecretString;

use super::Format;

/// Whether the file on disk is one we wrote in this format.
pub enum ReadBack {
    /// Ours: its entries.
    Ours(BTreeMap<String, SecretString>),
    /// Not ours: why (value-free).
    NotOurs(&'static str),
}

/// Reads back a file we wrote.
pub fn read_back(_format: Format, _old: &[u8]) -> ReadBack {
    ReadBack::NotOurs("not read back yet")
}

/// Keys added, changed, removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyDiff {
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub removed: Vec<String>,
}

impl KeyDiff {
    /// Between old and new entries.
    pub fn between(old: &BTreeMap<String, SecretString>, new: &BTreeMap<&str, &str>) -> KeyDiff {
        use secrecy::ExposeSecret as _;
        let mut d = KeyDiff::default();
        for (k, v) in new {
            match old.get(*k) {
                None => d.added.push((*k).to_owned()),
                Some(o) if o.expose_secret() != *v => d.changed.push((*k).to_owned()),
                Some(_) => {}
            }
        }
        d.removed = old
            .keys()
            .filter(|k| !new.contains_key(k.as_str()))
            .cloned()
            .collect();
        d
    }

    /// The old file is not ours: every new key counts as changed.
    pub fn whole<'a>(new_keys: impl IntoIterator<Item = &'a str>) -> KeyDiff {
        KeyDiff {
            changed: new_keys.into_iter().map(str::to_owned).collect(),
            ..KeyDiff::default()
        }
    }

    /// Nothing added, changed or removed.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.changed.is_empty() && self.removed.is_empty()
    }
}
