//! `write-canary-env`'s configuration: the [`Settings`] the operator gave, and the [`Config`]
//! they make once checked — paths, keys, modes, the owner and group resolved, the credentials
//! read, the URL checked. Nothing is sent here.

use std::path::PathBuf;

use secrecy::{ExposeSecret, SecretString};

use super::{Error, Settings};
use crate::dotenv;
use crate::envfile::Target;
use crate::http::{self, Seconds, Url, UrlVerdict};
use crate::infisical::{self, Auth};
use crate::secret::{self, CredentialError};

/// The default API URL.
pub const DEFAULT_API_URL: &str = "https://app.infisical.com";
/// The default `--timeout`.
pub const DEFAULT_TIMEOUT: Seconds = Seconds::from_secs(30);
/// The largest `--timeout` accepted.
pub const MAX_TIMEOUT: Seconds = Seconds::from_secs(86_400);
/// The variable read for the Token Auth access token (the official CLI's name).
pub const ENV_TOKEN: &str = "INFISICAL_TOKEN";
/// The variable the official CLI reads for an access token before [`ENV_TOKEN`] (INF-038).
pub const ENV_ACCESS_TOKEN: &str = "INFISICAL_UNIVERSAL_AUTH_ACCESS_TOKEN";
/// The variable read for the Universal Auth client ID (the official CLI's name).
pub const ENV_CLIENT_ID: &str = "INFISICAL_UNIVERSAL_AUTH_CLIENT_ID";
/// The variable read for the Universal Auth client secret (the official CLI's name).
pub const ENV_CLIENT_SECRET: &str = "INFISICAL_UNIVERSAL_AUTH_CLIENT_SECRET";

/// How to authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// A machine identity's access token.
    TokenAuth,
    /// A client ID and secret, exchanged for an access token by one login call.
    UniversalAuth,
}

impl AuthMethod {
    /// Every method, as `--auth` lists them.
    pub const ALL: [AuthMethod; 2] = [AuthMethod::TokenAuth, AuthMethod::UniversalAuth];

    /// The official CLI's name, as `--auth` takes it.
    pub const fn as_str(self) -> &'static str {
        match self {
            AuthMethod::TokenAuth => "token-auth",
            AuthMethod::UniversalAuth => "universal-auth",
        }
    }
}

crate::names::named!(AuthMethod);

/// A checked run: the settings, and what was derived from them before any request.
#[derive(Debug)]
pub struct Config {
    /// What the operator gave.
    pub settings: Settings,
    /// The folders to read, in order, without repeats (`/` when none was given).
    pub paths: Vec<String>,
    /// The file to write, with its modes and owner.
    pub target: Target,
    /// The credentials read.
    pub auth: Auth,
    /// The API base, checked against the transport rule.
    pub base: Url,
    /// The on-change command, split and found on `PATH`.
    pub on_change: Option<crate::onchange::Command>,
    /// Warnings to print before running (value-free).
    pub warnings: Vec<String>,
}

/// The largest `--max-retry-wait` accepted.
pub const MAX_RETRY_WAIT: Seconds = Seconds::from_secs(3600);
/// The default `--max-retry-wait`: Infisical's rate-limit window.
pub const DEFAULT_MAX_RETRY_WAIT: Seconds = Seconds(infisical::DEFAULT_MAX_RETRY_WAIT);
/// The variables naming the API URL when `--api-url` is not given, in the official CLI's
/// order.
pub const ENV_API_URLS: [&str; 2] = ["INFISICAL_DOMAIN", "INFISICAL_API_URL"];
/// systemd's variable naming the directory of a unit's credentials (`LoadCredential=`).
pub const ENV_CREDENTIALS_DIRECTORY: &str = "CREDENTIALS_DIRECTORY";
/// The credential name of the Token Auth token under `$CREDENTIALS_DIRECTORY`.
pub const CREDENTIAL_TOKEN: &str = "infisical-token";
/// The credential name of the Universal Auth client secret under `$CREDENTIALS_DIRECTORY`.
pub const CREDENTIAL_CLIENT_SECRET: &str = "infisical-client-secret";

/// Parses an octal permission mode such as `0600` or `640` (permission bits only).
pub fn parse_mode(s: &str) -> Result<u32, String> {
    let digits = s.strip_prefix("0o").unwrap_or(s);
    if digits.is_empty() || digits.len() > 4 || !digits.bytes().all(|b| (b'0'..=b'7').contains(&b))
    {
        return Err(format!("{s:?} is not an octal mode such as 0600"));
    }
    let mode = u32::from_str_radix(digits, 8).map_err(|e| e.to_string())?;
    if mode > 0o777 {
        return Err(format!(
            "{s:?} sets setuid, setgid or sticky bits; only permission bits (at most 0777) are accepted"
        ));
    }
    Ok(mode)
}

fn no_control(what: &str, value: &str) -> Result<(), Error> {
    if value.is_empty() || value.chars().any(char::is_control) {
        return Err(Error::Config(format!(
            "{what} must be non-empty and free of control characters"
        )));
    }
    Ok(())
}

/// Which account database an `--owner` or `--group` value names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Account {
    User,
    Group,
}

/// Resolves `--owner` or `--group`: a number is the id itself, anything else a name looked
/// up on this machine.
fn resolve(account: Account, name: &str) -> Result<u32, Error> {
    if let Ok(id) = name.parse::<u32>() {
        return Ok(id);
    }
    let (flag, what, found) = match account {
        Account::User => (
            "--owner",
            "user",
            nix::unistd::User::from_name(name).map(|u| u.map(|u| u.uid.as_raw())),
        ),
        Account::Group => (
            "--group",
            "group",
            nix::unistd::Group::from_name(name).map(|g| g.map(|g| g.gid.as_raw())),
        ),
    };
    match found {
        Ok(Some(id)) => Ok(id),
        _ => Err(Error::Config(format!(
            "{flag}: no such {what} {name:?} on this machine"
        ))),
    }
}

/// Where a credential was read from, for messages (never its value).
fn credential_source(file: Option<&PathBuf>, var: &str) -> String {
    file.map_or(format!("${var}"), |p| p.display().to_string())
}

/// The credential file to read: the flag's, else `$CREDENTIALS_DIRECTORY/<name>` when systemd
/// gave the unit that credential (`INF-070`); `None`: read the variable.
fn credential_file(flag: Option<&PathBuf>, name: &str) -> Option<PathBuf> {
    flag.cloned().or_else(|| {
        let dir = std::env::var_os(ENV_CREDENTIALS_DIRECTORY).filter(|d| !d.is_empty())?;
        let path = PathBuf::from(dir).join(name);
        path.exists().then_some(path)
    })
}

/// Reads the credential from its file, else its variable (a flag wins over its variable).
fn credential(file: Option<&PathBuf>, var: &str, flag: &str) -> Result<SecretString, Error> {
    if let Some(path) = file {
        return Ok(secret::read_credential_file(path)?);
    }
    secret::credential_from_env(var)?.ok_or_else(|| {
        Error::Credential(CredentialError::Missing {
            what: format!("set ${var} or pass {flag}"),
        })
    })
}

/// Whether `var` is set to something other than blanks (its value is not kept).
fn is_set(var: &str) -> bool {
    std::env::var_os(var).is_some_and(|v| !v.to_string_lossy().trim().is_empty())
}

/// The value of a non-secret variable set to something other than blanks.
fn nonblank_env(var: &str) -> Option<String> {
    std::env::var(var).ok().filter(|v| !v.trim().is_empty())
}

/// The credentials of `cfg.auth`, read and checked, and the value-free warnings reading them
/// gave. Token Auth without `--token-file` reads [`ENV_ACCESS_TOKEN`] when set, else
/// [`ENV_TOKEN`] (the official CLI's order).
fn auth(cfg: &Settings) -> Result<(Auth, Vec<String>), Error> {
    match cfg.auth {
        AuthMethod::TokenAuth => {
            let mut warnings = Vec::new();
            let file = credential_file(cfg.token_file.as_ref(), CREDENTIAL_TOKEN);
            let var = if file.is_none() && is_set(ENV_ACCESS_TOKEN) {
                if is_set(ENV_TOKEN) {
                    warnings.push(format!(
                        "warning: both ${ENV_ACCESS_TOKEN} and ${ENV_TOKEN} are set; using ${ENV_ACCESS_TOKEN}, as the official CLI does"
                    ));
                }
                ENV_ACCESS_TOKEN
            } else {
                ENV_TOKEN
            };
            let token = credential(file.as_ref(), var, "--token-file")?;
            if !infisical::header_safe(token.expose_secret()) {
                return Err(Error::Config(format!(
                    "the token from {} holds characters an HTTP header cannot carry (spaces, control characters or non-ASCII)",
                    credential_source(file.as_ref(), var)
                )));
            }
            Ok((Auth::Token(token), warnings))
        }
        AuthMethod::UniversalAuth => {
            let client_id = cfg
                .client_id
                .clone()
                .filter(|c| !c.trim().is_empty())
                .ok_or_else(|| {
                    Error::Credential(CredentialError::Missing {
                        what: format!("set ${ENV_CLIENT_ID} or pass --client-id"),
                    })
                })?;
            let auth = Auth::Universal {
                client_id: client_id.trim().to_owned(),
                client_secret: credential(
                    credential_file(cfg.client_secret_file.as_ref(), CREDENTIAL_CLIENT_SECRET)
                        .as_ref(),
                    ENV_CLIENT_SECRET,
                    "--client-secret-file",
                )?,
            };
            Ok((auth, Vec::new()))
        }
    }
}

impl TryFrom<Settings> for Config {
    type Error = Error;

    /// Checks everything that can be checked before the first request, in this order (the
    /// first failure is the one reported): project, environment, paths, keys, the output mode,
    /// owner and group, the output path, the credentials, the URL, the on-change command.
    fn try_from(cfg: Settings) -> Result<Config, Error> {
        no_control("--project-id", &cfg.project_id)?;
        no_control("--env", &cfg.environment)?;
        let mut paths: Vec<String> = Vec::new();
        for p in &cfg.paths {
            no_control("--path", p)?;
            if !p.starts_with('/') {
                return Err(Error::Config(format!(
                    "--path {p:?} must be absolute (start with /)"
                )));
            }
            if !paths.contains(p) {
                paths.push(p.clone());
            }
        }
        if paths.is_empty() {
            paths.push("/".into());
        }
        for k in &cfg.keys {
            if !dotenv::valid_key(k) {
                return Err(Error::Config(format!(
                    "--key {:?} is not a valid env name ([A-Za-z_][A-Za-z0-9_]*)",
                    k.escape_debug().to_string()
                )));
            }
        }
        if cfg.output_mode & 0o007 != 0 && !cfg.allow_world_readable {
            return Err(Error::Config(format!(
                "--output-mode {:04o} lets other users (\"other\") access the secrets; use a mode without other bits, or pass --allow-world-readable",
                cfg.output_mode
            )));
        }
        let uid = cfg
            .owner
            .as_deref()
            .map(|o| resolve(Account::User, o))
            .transpose()?;
        let gid = cfg
            .group
            .as_deref()
            .map(|g| resolve(Account::Group, g))
            .transpose()?;
        let target = Target {
            path: cfg.output.clone(),
            mode: cfg.output_mode,
            parent_mode: cfg.parent_mode,
            uid,
            gid,
        };
        if cfg.output.as_os_str().is_empty() {
            return Err(Error::Config("--output must name a file".into()));
        }
        let (auth, mut warnings) = auth(&cfg)?;
        let api_url = cfg
            .api_url
            .clone()
            .or_else(|| ENV_API_URLS.iter().find_map(|var| nonblank_env(var)))
            .unwrap_or_else(|| DEFAULT_API_URL.to_owned());
        let (base, verdict) =
            http::check_url(&infisical::api_base(&api_url), cfg.allow_insecure_http)?;
        if let UrlVerdict::InsecureAllowed { warning } = verdict {
            warnings.push(warning);
        }
        let on_change = cfg
            .on_change
            .as_deref()
            .map(|line| crate::onchange::Command::parse(line, cfg.on_change_timeout.0))
            .transpose()
            .map_err(Error::Config)?;
        Ok(Config {
            settings: cfg,
            paths,
            target,
            auth,
            base,
            on_change,
            warnings,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A number is taken as the id whatever the account; an unknown name is an error naming
    /// the flag and the account kind.
    #[test]
    fn one_resolver_for_owner_and_group() {
        assert_eq!(resolve(Account::User, "4242").ok(), Some(4242));
        assert_eq!(resolve(Account::Group, "4243").ok(), Some(4243));
        assert_eq!(resolve(Account::User, "root").ok(), Some(0));
        let user = resolve(Account::User, "no-such-user-xq")
            .unwrap_err()
            .to_string();
        assert_eq!(
            user,
            "--owner: no such user \"no-such-user-xq\" on this machine"
        );
        let group = resolve(Account::Group, "no-such-group-xq")
            .unwrap_err()
            .to_string();
        assert_eq!(
            group,
            "--group: no such group \"no-such-group-xq\" on this machine"
        );
    }
}
