//! Shared test support: the CLI runner, the leak detector, fixtures, the stand-ins and the
//! traceability checker.
#![allow(dead_code, unused_imports)]

pub mod chat;
pub mod cli;
pub mod fixtures;
pub mod infisical;
pub mod leak;
pub mod screen;
pub mod trace;

pub use cli::Cli;
pub use fixtures::{fixture, fixture_json};
pub use leak::assert_no_secret;
