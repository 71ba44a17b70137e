//! What both front doors (`canary::cli`, `smoke::cli`) share: the rule that gives every
//! operator flag its environment variable (`CLI-014`), stated once, and the one way a command
//! line is parsed (`CLI-013`: a usage error printed as `<binary>: error: …`).

use clap::builder::BoolishValueParser;
use clap::{ArgAction, Command, FromArgMatches};

/// The rule that gives a front door's flags their environment variables (`CLI-014`).
pub(crate) struct Variables {
    /// `<prefix>_<FLAG>` is the variable of a flag that names none itself.
    pub prefix: &'static str,
    /// The flags (clap ids) that have no variable.
    pub none: &'static [&'static str],
    /// The flags (clap ids) whose variable's value `--help` shows; every other one is hidden.
    pub shown: &'static [&'static str],
}

impl Variables {
    /// Gives every flag of `command` but those in `none` (and `--help`/`--version`) an
    /// environment variable: the one it names, else `<prefix>_<FLAG>` (its long name
    /// upper-cased, `-` as `_`); its value hidden in `--help` unless the flag is in `shown`. An
    /// on/off flag reads `true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off` there.
    pub(crate) fn apply(&self, command: Command) -> Command {
        for id in self.none.iter().chain(self.shown) {
            debug_assert!(
                command.get_arguments().any(|arg| arg.get_id() == id),
                "no flag {id}"
            );
        }
        command.mut_args(|arg| {
            let id = arg.get_id().as_str();
            if self.none.contains(&id) {
                return arg;
            }
            let hidden = !self.shown.contains(&id);
            let arg = match arg.get_env() {
                Some(_) => arg,
                None => {
                    let flag = arg.get_long().expect("an operator flag is a long flag");
                    let name = flag.to_uppercase().replace('-', "_");
                    arg.env(format!("{}_{name}", self.prefix))
                }
            };
            let arg = arg.hide_env_values(hidden);
            match arg.get_action() {
                ArgAction::SetTrue => arg.value_parser(BoolishValueParser::new()),
                _ => arg,
            }
        })
    }
}

/// Parses the command line with `command` into `T`, printing a usage error the one way
/// (`<binary>: error: …`, clap's hint below it) and returning its exit code (2); `--help` and
/// `--version` print on stdout and return 0.
pub(crate) fn parse<T: FromArgMatches>(
    binary: &str,
    mut command: Command,
) -> Result<T, std::process::ExitCode> {
    let parsed = match command.try_get_matches_from_mut(std::env::args_os()) {
        Ok(mut matches) => {
            T::from_arg_matches_mut(&mut matches).map_err(|e| e.format(&mut command))
        }
        Err(e) => Err(e),
    };
    parsed.map_err(|e| {
        let code = u8::try_from(e.exit_code()).unwrap_or(2);
        if e.use_stderr() {
            let rendered = e.render().to_string();
            let message = rendered.strip_prefix("error: ").unwrap_or(&rendered);
            crate::output::err(&format!("{binary}: error: {message}"));
        } else {
            crate::output::out(&e.render().to_string());
        }
        std::process::ExitCode::from(code)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{Arg, ArgAction};

    /// A flag without a variable gets `<prefix>_<FLAG>`, hidden; a named one keeps its own; the
    /// listed ones get none or show their value; an on/off flag reads a boolean word.
    #[test]
    fn every_flag_gets_its_variable() {
        let command = Command::new("t")
            .arg(Arg::new("out_file").long("out-file"))
            .arg(Arg::new("own").long("own").env("OTHER_TOOL_OWN"))
            .arg(Arg::new("shown").long("shown"))
            .arg(Arg::new("bare").long("bare").action(ArgAction::SetTrue))
            .arg(Arg::new("on").long("on").action(ArgAction::SetTrue));
        let command = Variables {
            prefix: "P",
            none: &["bare"],
            shown: &["shown"],
        }
        .apply(command);
        let arg = |id: &str| {
            let arg = command.get_arguments().find(|a| a.get_id() == id).unwrap();
            let env = arg.get_env().map(|e| e.to_str().unwrap().to_owned());
            (env, arg.is_hide_env_values_set())
        };
        assert_eq!(arg("out_file"), (Some("P_OUT_FILE".into()), true));
        assert_eq!(arg("own"), (Some("OTHER_TOOL_OWN".into()), true));
        assert_eq!(arg("shown"), (Some("P_SHOWN".into()), false));
        assert_eq!(arg("bare"), (None, false));
        assert_eq!(arg("on"), (Some("P_ON".into()), true));
        let on = command
            .get_arguments()
            .find(|a| a.get_id() == "on")
            .unwrap();
        let words: Vec<String> = on
            .get_value_parser()
            .possible_values()
            .unwrap()
            .map(|v| v.get_name().to_owned())
            .collect();
        assert!(words.iter().any(|w| w == "yes"), "{words:?}");
    }
}
