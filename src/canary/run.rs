//! The `write-canary-env` run: one login when asked, every path fetched concurrently, the
//! choice rules, the dotenv render and the secure write.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use futures_util::StreamExt as _;
use futures_util::stream::FuturesUnordered;
use secrecy::{ExposeSecret, SecretString};

use super::report::{Diff, OnChange};
use super::{Config, Error, Report};
use crate::dotenv::Header;
use crate::envfile;
use crate::exit::Exit;
use crate::format::{ReadBack, read_back};
use crate::http::{self, ClientOptions};
use crate::infisical::{self, Answer, Auth, Client, FetchError, Folder, Query};
use crate::onchange;
use crate::secret::Redactor;

/// Runs the whole road for a checked `cfg`: builds the HTTP client (a bad `--ca-cert` is
/// reported here, before any request), logs in when asked, fetches, chooses, renders, writes.
/// Warnings that arise on the way (an empty file written under `--allow-empty`, a dead run's
/// temporary file removed) are pushed to
/// `warnings`, value-free, for the caller to print as it prints `cfg.warnings` — whether the
/// run then succeeds or fails. A wait before a retry is told to `say` the moment it starts
/// ([`infisical::waiting_line`]), not after the run: the binary prints it on stderr; so is
/// a wait for another run's lock on the directory, and each line the on-change command
/// prints (redacted, as `on-change: <line>`).
pub async fn run(
    cfg: &Config,
    warnings: &mut Vec<String>,
    say: infisical::Say,
) -> Result<Report, Error> {
    let s = &cfg.settings;
    let mut redactor = Redactor::new();
    // One slot per path for its answer: the secrets read from it borrow from it.
    let answers: Vec<OnceLock<Answer>> = cfg.paths.iter().map(|_| OnceLock::new()).collect();
    let folders = fetch(cfg, &say, &mut redactor, &answers).await?;
    let new_entries = choose(cfg, &folders)?;
    if new_entries.is_empty() {
        warnings.push(format!(
            "warning: no secrets found at {} in environment {}; writing a file with only the header because --allow-empty was given (an empty answer can also mean a missing folder or an identity not allowed to see it)",
            cfg.paths.join(", "),
            s.environment
        ));
    }
    let content = render(cfg, &new_entries)?;
    let report = planned(cfg, &new_entries);
    let bytes = content.expose_secret().as_bytes();
    if s.dry_run {
        return preview(cfg, report, bytes, &new_entries);
    }
    write(
        cfg,
        report,
        bytes,
        &new_entries,
        &mut redactor,
        warnings,
        &say,
    )
}

/// Builds the HTTP client (a bad `--ca-cert` is reported here, before any request), logs in
/// when asked, fetches every path and reads its answer into its slot of `answers`; the
/// credentials and the access token are registered with `redactor`.
async fn fetch<'a>(
    cfg: &Config,
    say: &infisical::Say,
    redactor: &mut Redactor,
    answers: &'a [OnceLock<Answer>],
) -> Result<Vec<Folder<'a>>, Error> {
    let s = &cfg.settings;
    let http = http::client(&ClientOptions {
        timeout: s.timeout.0,
        ca_cert: s.ca_cert.clone(),
        https: cfg.base.scheme() == "https",
    })?;
    let client = Client::new(http, cfg.base.clone(), s.max_retry_wait.0).say_waits(say.clone());
    match &cfg.auth {
        Auth::Token(t) => redactor.add(t),
        Auth::Universal { client_secret, .. } => redactor.add(client_secret),
    }

    let token = match client.access_token(&cfg.auth).await {
        Ok(t) => t,
        Err(e) => return Err(fetch_error(&e, redactor)),
    };
    redactor.add(&token);

    let query = Query {
        project_id: s.project_id.clone(),
        environment: s.environment.clone(),
        recursive: s.recursive,
        include_imports: s.include_imports,
    };
    fetch_all(&client, &cfg.paths, &token, &query, answers, redactor).await
}

/// The file's content in `--format`, header first.
fn render(cfg: &Config, entries: &BTreeMap<&str, &str>) -> Result<SecretString, Error> {
    let s = &cfg.settings;
    let header = Header {
        project_id: &s.project_id,
        environment: &s.environment,
        paths: &cfg.paths,
    };
    crate::format::render(s.format, &header, entries.iter().map(|(k, v)| (*k, *v)))
        .map(SecretString::from)
        .map_err(Error::Render)
}

/// The report of a run that has chosen `entries`, before anything is written or compared.
fn planned(cfg: &Config, entries: &BTreeMap<&str, &str>) -> Report {
    let s = &cfg.settings;
    Report {
        status: envfile::Status::Unchanged,
        path: s.output.clone(),
        mode: cfg.target.mode,
        uid: 0,
        gid: None,
        keys: entries.keys().copied().collect(),
        project_id: s.project_id.clone(),
        environment: s.environment.clone(),
        paths: cfg.paths.clone(),
        dry_run: s.dry_run,
        created_dirs: Vec::new(),
        diff: None,
        on_change: None,
        owed: false,
    }
}

/// The write under the directory's lease: the file alone without `--on-change`; with it, the
/// obligation recorded, the command run (its output redacted against every value this run
/// knows, printed through `say`) and paid.
fn write(
    cfg: &Config,
    mut report: Report,
    bytes: &[u8],
    new_entries: &BTreeMap<&str, &str>,
    redactor: &mut Redactor,
    warnings: &mut Vec<String>,
    say: &infisical::Say,
) -> Result<Report, Error> {
    let s = &cfg.settings;
    let mut notice = |n: &str| warnings.push(n.to_owned());
    // Said at once, not after the run: a run waiting for another one must not look hung.
    let mut waiting = |dir: &std::path::Path| {
        say(&format!(
            "waiting for another run writing into {} (one run at a time per directory)",
            dir.display()
        ));
    };
    let lease =
        envfile::Lease::acquire(&cfg.target, &mut notice, &mut waiting).map_err(Error::Write)?;
    let Some(command) = &cfg.on_change else {
        // No command: the file alone (an obligation recorded by another run stays).
        let outcome = match lease.unchanged(bytes).map_err(Error::Write)? {
            Some(unchanged) => unchanged,
            None => lease.write(bytes, || Ok(())).map_err(Error::Write)?,
        };
        report.set_outcome(outcome);
        report.owed = onchange::owed(&s.output);
        return Ok(report);
    };
    let (outcome, event) = write_owing(cfg, &lease, bytes, new_entries, redactor)?;
    report.set_outcome(outcome);
    let Some(event) = event else {
        return Ok(report);
    };
    // The command's output is redacted against every value this run knows.
    for v in new_entries.values() {
        redactor.add_str(v);
    }
    let result = onchange::run(command, &event, &s.output, redactor, &mut |line| {
        say(&format!("on-change: {line}"));
    });
    pay(command, &lease, event.change, result, report, warnings)
}

/// A dry run: what would be written (`envfile::preview`), the key diff against the file on
/// disk, and whether the on-change command would run (for this change, or one still owed).
fn preview(
    cfg: &Config,
    mut report: Report,
    bytes: &[u8],
    new_entries: &BTreeMap<&str, &str>,
) -> Result<Report, Error> {
    let s = &cfg.settings;
    let outcome = envfile::preview(&cfg.target, bytes).map_err(Error::Write)?;
    // Unchanged is the same bytes (and mode and owner): no key changes, nothing to read again.
    let unchanged = outcome.status == envfile::Status::Unchanged;
    report.set_outcome(outcome);
    let diff = if unchanged {
        None
    } else {
        let old = envfile::read_current(&s.output, MAX_OLD_FILE);
        Diff::of(
            s.format,
            old.as_deref().map(Vec::as_slice),
            bytes,
            new_entries,
        )
    };
    let owed = onchange::Event::owed_for(&s.output);
    report.owed = owed.is_some();
    if cfg.on_change.is_some() {
        report.on_change = Some(match (diff.as_ref().map(Diff::change), owed) {
            (Some(change), _) => OnChange::WouldRun(change),
            (None, Some(_)) => OnChange::WouldRun(onchange::Change::Owed),
            (None, None) => OnChange::WouldNotRun,
        });
    }
    report.diff = diff;
    Ok(report)
}

/// The write of a run with `--on-change`, under its `lease`: nothing when unchanged (a reload
/// still owed is returned); otherwise, when the bytes change, the obligation (this change
/// merged with one still owed) recorded in the marker before the new file becomes visible.
/// The values being replaced are registered with `redactor`: the command may echo them.
fn write_owing(
    cfg: &Config,
    lease: &envfile::Lease,
    bytes: &[u8],
    new_entries: &BTreeMap<&str, &str>,
    redactor: &mut Redactor,
) -> Result<(envfile::WriteOutcome, Option<onchange::Event>), Error> {
    let s = &cfg.settings;
    let owed = onchange::Event::owed_for(&s.output);
    if let Some(unchanged) = lease.unchanged(bytes).map_err(Error::Write)? {
        return Ok((unchanged, owed));
    }
    let old = envfile::read_current(&s.output, MAX_OLD_FILE);
    let read = old
        .as_deref()
        .map(|o| (o.as_slice(), read_back(s.format, o)));
    if let Some((_, ReadBack::Ours(entries))) = &read {
        for v in entries.values() {
            redactor.add(v);
        }
    }
    let this = Diff::from_read(read, bytes, new_entries).map(Diff::event);
    let event = match (this, owed) {
        (Some(now), Some(earlier)) => Some(now.after(&earlier)),
        (now, earlier) => now.or(earlier),
    };
    let marker = onchange::marker_name(&s.output);
    let record = || match &event {
        Some(e) if e.change != onchange::Change::Owed => {
            lease.write_beside(&marker, e.marker_text().as_bytes())
        }
        _ => Ok(()),
    };
    let outcome = lease.write(bytes, record).map_err(Error::Write)?;
    Ok((outcome, event))
}

/// After the command: success clears the marker (a marker that cannot be removed is a
/// warning: the next run runs the command again); failure is exit 8 with the report.
fn pay(
    command: &onchange::Command,
    lease: &envfile::Lease,
    change: onchange::Change,
    result: Result<(), onchange::Failure>,
    mut report: Report,
    warnings: &mut Vec<String>,
) -> Result<Report, Error> {
    match result {
        Ok(()) => {
            if let Err(e) = lease.remove_beside(&onchange::marker_name(&report.path)) {
                warnings.push(format!(
                    "warning: the on-change command succeeded but its marker could not be removed ({e}): the next run will run it again"
                ));
                report.owed = true;
            }
            report.on_change = Some(OnChange::Ran(change));
            Ok(report)
        }
        Err(failure) => {
            report.owed = true;
            report.on_change = Some(OnChange::Failed(change));
            Err(Error::OnChange {
                program: command.name().to_owned(),
                failure,
                report: Box::new(report),
            })
        }
    }
}

/// The largest file on disk read back to name the keys a change touches; a larger one counts
/// as changed whole.
const MAX_OLD_FILE: u64 = 256 << 20;

fn fetch_error(e: &FetchError, redactor: &Redactor) -> Error {
    Error::Fetch {
        exit: e.exit(),
        message: e.describe(redactor),
    }
}

/// Fetches every path concurrently (all on this task: the requests are polled together, so
/// the paths cost one request's latency), keeps each answer in its slot of `answers`, then
/// reads them ([`Answer::folder`]: each parsed once, its secrets borrowing from it). When a
/// path failed — its request, or an answer that is not the JSON expected — every value read
/// from the others is registered with the redactor before the error is described (an error
/// body may echo a value from another path); on success nothing is copied into it. Of several
/// failures, the root cause ([`Exit::worst`]) is reported, the first in `--path` order.
async fn fetch_all<'a>(
    client: &Client,
    paths: &[String],
    token: &SecretString,
    query: &Query,
    answers: &'a [OnceLock<Answer>],
    redactor: &mut Redactor,
) -> Result<Vec<Folder<'a>>, Error> {
    let mut pending: FuturesUnordered<_> = paths
        .iter()
        .enumerate()
        .map(|(i, path)| async move { (i, client.list(token, query, path).await) })
        .collect();
    let mut errors: Vec<(usize, FetchError)> = Vec::new();
    while let Some((i, fetched)) = pending.next().await {
        match fetched {
            Ok(answer) => _ = answers[i].set(answer),
            Err(e) => errors.push((i, e)),
        }
    }
    // Read once every answer is in: the connections still open are drained as their bytes
    // arrive, not left to fill the kernel's buffers while a large answer is parsed.
    let mut folders = Vec::with_capacity(answers.len());
    for (i, read) in read_answers(answers).into_iter().enumerate() {
        match read {
            Some(Ok(folder)) => folders.push(folder),
            Some(Err(e)) => errors.push((i, e)),
            None => {}
        }
    }
    if errors.is_empty() {
        return Ok(folders);
    }
    for folder in folders {
        for v in folder.values() {
            redactor.add_str(v);
        }
    }
    errors.sort_by_key(|(i, _)| *i);
    let worst = Exit::worst(errors.iter().map(|(_, e)| e.exit()));
    let (_, first) = errors
        .iter()
        .find(|(_, e)| e.exit() == worst)
        .unwrap_or(&errors[0]);
    Err(fetch_error(first, redactor))
}

/// The least that several answers must hold in all to be read on two threads: below it the
/// second thread costs more than it saves.
const READ_APART_FROM: usize = 1024 * 1024;

/// Whether `answers` are read two at a time: several received (a failed request leaves its
/// slot empty), holding [`READ_APART_FROM`] or more in all, on a machine that runs `parallel`
/// threads at once.
fn read_apart(answers: &[OnceLock<Answer>], parallel: usize) -> bool {
    let received = answers.iter().filter_map(OnceLock::get);
    let held: usize = received.clone().map(Answer::size).sum();
    received.count() >= 2 && held >= READ_APART_FROM && parallel >= 2
}

/// Every answer read ([`Answer::folder`]), in order; several large ones every other one on a
/// second thread, when the machine runs two at once (nothing but the order of the work
/// changes: each answer is read as it would be alone).
fn read_answers(answers: &[OnceLock<Answer>]) -> Vec<Option<Result<Folder<'_>, FetchError>>> {
    fn read(answer: &OnceLock<Answer>) -> Option<Result<Folder<'_>, FetchError>> {
        answer.get().map(Answer::folder)
    }
    let parallel = std::thread::available_parallelism().map_or(1, |n| n.get());
    if !read_apart(answers, parallel) {
        return answers.iter().map(read).collect();
    }
    std::thread::scope(|scope| {
        let odd = || {
            answers
                .iter()
                .skip(1)
                .step_by(2)
                .map(read)
                .collect::<Vec<_>>()
        };
        let other = std::thread::Builder::new()
            .name("read-answers".into())
            .spawn_scoped(scope, odd);
        let even: Vec<_> = answers.iter().step_by(2).map(read).collect();
        let odd = match other {
            Ok(handle) => handle
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            Err(_) => odd(),
        };
        let mut odd = odd.into_iter();
        even.into_iter()
            .flat_map(|e| std::iter::once(e).chain(odd.next()))
            .collect()
    })
}

/// Merges the folders, applies `--key`, and checks duplicates, emptiness and hidden values.
///
/// The order of the rules decides the exit code when several apply, and is part of the
/// contract:
/// 1. a key named by `--key` that no path holds — exit 4 ([`Error::MissingKeys`]), even when
///    another key is duplicated;
/// 2. a key that two folders hold, among the keys kept — exit 7 ([`Error::DuplicateKey`]);
///    a duplicate that `--key` filtered out does not count;
/// 3. nothing left and no `--allow-empty` — exit 4 ([`Error::Empty`]);
/// 4. a kept value the identity may not read — exit 7 ([`Error::Hidden`]), so that only kept
///    keys are named;
/// 5. a kept value still holding a secret reference (`${NAME}`) — exit 7
///    ([`Error::Unresolved`]), last: a hidden value is not worth inspecting.
fn choose<'a>(
    cfg: &Config,
    folders: &'a [Folder<'a>],
) -> Result<BTreeMap<&'a str, &'a str>, Error> {
    let s = &cfg.settings;
    // Every secret in folder order, sorted by key: the sort is stable, so of the secrets
    // holding one key the first one read comes first and is the one kept.
    let mut all: Vec<&infisical::Secret<'a>> = folders
        .iter()
        .flat_map(|f| f.merged(s.include_imports))
        .collect();
    all.sort_by(|a, b| a.key.cmp(&b.key));
    let mut merged: Vec<&infisical::Secret<'a>> = Vec::with_capacity(all.len());
    // The first conflict of each key (the kept secret's origin, then the other's), by key.
    let mut conflicts: Vec<(&str, (String, String))> = Vec::new();
    for secret in all {
        match merged.last() {
            Some(kept) if kept.key == secret.key => {
                let first_conflict = conflicts.last().is_none_or(|(k, _)| *k != secret.key);
                if kept.origin != secret.origin && first_conflict {
                    let origins = (kept.origin.to_string(), secret.origin.to_string());
                    conflicts.push((&secret.key, origins));
                }
            }
            _ => merged.push(secret),
        }
    }
    let holds = |merged: &[&infisical::Secret<'_>], key: &str| {
        merged
            .binary_search_by(|secret| secret.key.as_ref().cmp(key))
            .is_ok()
    };
    // 1. Missing keys first (exit 4).
    if !s.keys.is_empty() {
        let missing: Vec<String> = s
            .keys
            .iter()
            .filter(|k| !holds(&merged, k))
            .cloned()
            .collect();
        if !missing.is_empty() {
            return Err(Error::MissingKeys(missing));
        }
        merged.retain(|secret| s.keys.iter().any(|want| *want == secret.key));
    }
    // 2. Then a duplicate among the kept keys (exit 7).
    if let Some((key, (first, second))) = conflicts.into_iter().find(|(k, _)| holds(&merged, k)) {
        return Err(Error::DuplicateKey {
            key: key.to_owned(),
            first,
            second,
        });
    }
    // 3. Then emptiness (exit 4).
    if merged.is_empty() && !s.allow_empty {
        return Err(Error::Empty {
            paths: cfg.paths.clone(),
            environment: s.environment.clone(),
        });
    }
    // 4. Hidden values last (exit 7).
    let hidden: Vec<String> = merged
        .iter()
        .filter(|secret| secret.hidden)
        .map(|secret| secret.key.to_string())
        .collect();
    if !hidden.is_empty() {
        return Err(Error::Hidden(hidden));
    }
    // 5. Then a reference the server left unexpanded (exit 7).
    let unresolved: Vec<String> = merged
        .iter()
        .filter(|secret| infisical::holds_reference(secret.value.expose_secret()))
        .map(|secret| secret.key.to_string())
        .collect();
    if !unresolved.is_empty() {
        return Err(Error::Unresolved(unresolved));
    }
    // Borrowed: ten thousand values are not copied once more (already in key order, so the
    // map is built without a search).
    Ok(merged
        .into_iter()
        .map(|secret| (secret.key.as_ref(), secret.value.expose_secret()))
        .collect())
}

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;

    use secrecy::ExposeSecret as _;

    use super::{READ_APART_FROM, read_answers, read_apart};
    use crate::infisical::{Answer, FetchError};

    /// An answer of `n` secrets `<tag>_<i>` with values of 100 bytes.
    fn answer(path: &str, tag: &str, n: usize) -> OnceLock<Answer> {
        let secrets: Vec<String> = (0..n)
            .map(|i| {
                format!(
                    r#"{{"secretKey":"{tag}_{i}","secretValue":"{}"}}"#,
                    "v".repeat(100)
                )
            })
            .collect();
        let body = format!(r#"{{"secrets":[{}]}}"#, secrets.join(","));
        OnceLock::from(Answer::received(path, "prod", body.into_bytes()))
    }

    /// Several answers are read two at a time from 1 MiB in all, on a machine that runs two
    /// threads at once; one answer (an empty slot is a failed request), less in all, or one
    /// thread: one at a time.
    #[test]
    fn when_answers_are_read_apart() {
        let sized = |n: usize| OnceLock::from(Answer::received("/", "prod", vec![b' '; n]));
        let half = READ_APART_FROM / 2;
        assert!(read_apart(&[sized(half), sized(half)], 2));
        assert!(read_apart(&[sized(half), sized(half), OnceLock::new()], 2));
        assert!(!read_apart(&[sized(half), sized(half - 1)], 2));
        assert!(!read_apart(&[sized(half), sized(half)], 1));
        assert!(!read_apart(&[sized(2 * READ_APART_FROM)], 2));
        assert!(!read_apart(&[sized(READ_APART_FROM), OnceLock::new()], 2));
        assert!(read_apart(&[sized(READ_APART_FROM), sized(0)], 8));
    }

    /// Large answers (a second thread reads every other one) come back in their order, each
    /// whole, a malformed one as its error and an empty slot (a failed request) as nothing;
    /// small ones, read on this thread alone, the same.
    #[test]
    fn answers_read_in_order() {
        for n in [3_000, 3] {
            let answers = [
                answer("/a", "A", n),
                OnceLock::from(Answer::received("/b", "prod", b"{".to_vec())),
                answer("/c", "C", n),
                OnceLock::new(),
                answer("/e", "E", n),
            ];
            let read = read_answers(&answers);
            let shape: Vec<String> = read
                .iter()
                .map(|r| match r {
                    Some(Ok(folder)) => {
                        let last = folder.local.last().unwrap();
                        assert_eq!(last.value.expose_secret(), "v".repeat(100));
                        format!("{} {} {}", folder.path, folder.local.len(), last.key)
                    }
                    Some(Err(FetchError::Malformed { reason, .. })) => reason.clone(),
                    Some(Err(_)) => "another error".into(),
                    None => "none".into(),
                })
                .collect();
            let last = n - 1;
            assert_eq!(
                shape,
                [
                    format!("/a {n} A_{last}"),
                    "truncated JSON at line 1 column 1".into(),
                    format!("/c {n} C_{last}"),
                    "none".into(),
                    format!("/e {n} E_{last}"),
                ],
                "{n} secrets each"
            );
        }
    }
}
