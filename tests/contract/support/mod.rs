//! Shared test support, one concern per module. The stand-ins themselves live in the dev-only
//! crate `crates/stand-ins` (`pb-stand-ins`), shared with `examples/stand-ins.rs`; they are
//! re-exported here as `support::infisical`, `support::chat` and `support::fixtures`.
//!
//! | module | owns |
//! |---|---|
//! | [`cli`] | the CLI runner (`Cli`, `Run`): runs a built binary, checks its exit and streams |
//! | [`runs`] | the binaries pointed at the stand-ins: `canary(url, out)`, `chat.smoke()`, the smoke's report lines |
//! | [`leak`] | the leak detector (every encoding of a secret) |
//! | [`workdir`] | a test's temporary directory, file modes, whether we run as root |
//! | [`skip`] | the loud skip, a failure under `PB_NO_SKIP=1` |
//! | [`markdown`] | the Markdown fence parser of the docs tests, and `sh values` blocks |
//! | [`workflow`] | the Forgejo Actions workflow interpreter of the docs tests (`run: \|`, `env:`) |
//! | [`runbook`] | the docs tests' stage (stand-ins, temporary root, environment), variable check and block runner |
//! | [`links`] | the link and anchor checker of the docs tests |
//! | [`signal`] | a signal delivered while a binary waits on a silent server |
//! | [`screen`] | the operator's whole screen (exit, stdout, stderr) compared with placeholders (snapbox) |
//! | [`trace`] | the traceability checker (clauses against test names) and the index |
#![allow(dead_code, unused_imports)]

pub mod cli;
pub mod leak;
pub mod links;
pub mod markdown;
pub mod runbook;
pub mod runs;
pub mod screen;
pub mod signal;
pub mod skip;
pub mod trace;
pub mod workdir;
pub mod workflow;

pub use pb_stand_ins::{chat, fixtures, infisical, refused_url};

pub use cli::Cli;
pub use fixtures::{fixture, fixture_json};
pub use leak::assert_no_secret;
pub use runs::{Smoke, canary, line, lines, written_one_key};
pub use skip::{skip, skipped_unless_root};
pub use workdir::{Workdir, is_root, mode_of};
