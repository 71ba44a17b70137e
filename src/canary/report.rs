//! What a `write-canary-env` run reports: the text or JSON report of a success, the JSON
//! document of a failure. Holds key names, paths, modes and owners, never a value.

use std::path::PathBuf;

use super::Error;
use crate::envfile::Status;

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
    pub keys: Vec<String>,
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
    /// Value-free warnings for stderr (an empty file written under `--allow-empty`).
    pub warnings: Vec<String>,
}

impl Report {
    /// The human-readable report.
    pub fn text(&self) -> String {
        let gid = self.gid.map_or("-".to_owned(), |g| g.to_string());
        let mut out = format!(
            "{}: {} (mode {:04o}, owner {}:{}) with {} key{} from project {}, environment {}, paths {}\n",
            self.status.as_str(),
            self.path.display(),
            self.mode,
            self.uid,
            gid,
            self.keys.len(),
            if self.keys.len() == 1 { "" } else { "s" },
            self.project_id,
            self.environment,
            self.paths.join(" ")
        );
        for dir in &self.created_dirs {
            out.push_str(&format!("created directory {}\n", dir.display()));
        }
        for key in &self.keys {
            out.push_str(&format!("  {key}\n"));
        }
        out
    }

    /// The machine-readable report.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "status": self.status.as_str(),
            "dry_run": self.dry_run,
            "path": self.path.display().to_string(),
            "mode": format!("{:04o}", self.mode),
            "owner": { "uid": self.uid, "gid": self.gid },
            "keys": self.keys,
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
