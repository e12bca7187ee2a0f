//! Suite-wide log hygiene check, run by scripts/test.sh after the end-to-end tests:
//!
//! ```text
//! pg_bearer_logscan <suite dir>
//! ```
//!
//! `<suite dir>` is what the harness filled while `PG_BEARER_SUITE_DIR` pointed at it (see
//! `pg_bearer_e2e::suite`): every secret presented or issued during the suite, every server
//! log, every client error of a bearer login. Fails (exit 1) if any server log holds an
//! 8-byte window of any secret of 8 bytes or more, or the word `Bearer`; if any bearer login's
//! error differs from PostgreSQL's generic refusal while it reports an authentication
//! failure; if a log was lost; or if there was nothing to scan. Prints what it scanned.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use pg_bearer_e2e::suite::unhex;

/// The shortest leak that counts: the same width every per-test check uses.
const WINDOW: usize = 8;

fn files_starting(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with(prefix))
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// Every hex line of every `<kind>.<pid>` file.
fn records(dir: &Path, kind: &str) -> Result<Vec<Vec<u8>>, String> {
    let mut out = Vec::new();
    for file in files_starting(dir, &format!("{kind}.")) {
        let text =
            std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        for (n, line) in text.lines().enumerate() {
            out.push(unhex(line).ok_or_else(|| format!("{}:{}: not hex", file.display(), n + 1))?);
        }
    }
    Ok(out)
}

fn window_key(w: &[u8]) -> u64 {
    let mut key = [0u8; WINDOW];
    key.copy_from_slice(w);
    u64::from_le_bytes(key)
}

/// Every `WINDOW`-byte window of every secret, mapped to the secret it came from.
struct SecretWindows {
    windows: HashMap<u64, usize>,
}

impl SecretWindows {
    fn new(secrets: &[Vec<u8>]) -> SecretWindows {
        let mut windows = HashMap::new();
        for (i, secret) in secrets.iter().enumerate() {
            for w in secret.windows(WINDOW) {
                windows.entry(window_key(w)).or_insert(i);
            }
        }
        SecretWindows { windows }
    }

    /// The offset in `text` and the secret of the first leaked window.
    fn first_leak(&self, text: &[u8]) -> Option<(usize, usize)> {
        text.windows(WINDOW)
            .enumerate()
            .find_map(|(at, w)| self.windows.get(&window_key(w)).map(|&s| (at, s)))
    }
}

/// A bearer login's error with the connection prefix and the role name taken out, so that
/// equal errors for different roles count as one. Only the final attempt counts: libpq puts
/// its own progress lines (e.g. "retrying connection with new bearer token") and earlier
/// attempts first; the final attempt's message may span several lines.
fn normalized(error: &str) -> String {
    let lines: Vec<&str> = error.trim().lines().map(str::trim).collect();
    let last_attempt = lines
        .iter()
        .rposition(|l| l.starts_with("connection to server"))
        .unwrap_or(lines.len().saturating_sub(1));
    let error = lines[last_attempt..].join(" ");
    let error = match error.find("failed: ") {
        Some(at) if error.starts_with("connection to server") => &error[at + "failed: ".len()..],
        _ => &error[..],
    };
    match (error.find("for user \""), error.rfind('"')) {
        (Some(start), Some(end)) if end > start + 10 => {
            format!(
                "{}for user \"<role>\"{}",
                &error[..start],
                &error[end + 1..]
            )
        }
        _ => error.to_owned(),
    }
}

const GENERIC: &str = "FATAL:  OAuth bearer authentication failed for user \"<role>\"";

fn main() -> ExitCode {
    let Some(dir) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: pg_bearer_logscan <suite dir>");
        return ExitCode::from(2);
    };
    match scan(&dir) {
        Ok(summary) => {
            println!("{summary}");
            ExitCode::SUCCESS
        }
        Err(why) => {
            eprintln!("log scan FAILED: {why}");
            ExitCode::FAILURE
        }
    }
}

fn scan(dir: &Path) -> Result<String, String> {
    let lost = records(dir, "lost-logs")?;
    if !lost.is_empty() {
        let names: Vec<String> = lost
            .iter()
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .collect();
        return Err(format!("server logs were lost: {names:?}"));
    }
    let mut secrets = records(dir, "secrets")?;
    secrets.sort();
    secrets.dedup();
    let short = secrets.iter().filter(|s| s.len() < WINDOW).count();
    let index = SecretWindows::new(&secrets);
    let logs = files_starting(&dir.join("logs"), "");
    if logs.is_empty() || secrets.len() == short {
        return Err(format!(
            "nothing to scan: {} server logs, {} secrets of {WINDOW}+ bytes (was {} set for the tests?)",
            logs.len(),
            secrets.len() - short,
            pg_bearer_e2e::suite::SUITE_DIR_VAR
        ));
    }
    let mut bytes = 0usize;
    for log in &logs {
        let text = std::fs::read(log).map_err(|e| format!("{}: {e}", log.display()))?;
        bytes += text.len();
        if let Some((at, _)) = index.first_leak(&text) {
            let line = text[..at].iter().filter(|&&b| b == b'\n').count() + 1;
            return Err(format!(
                "{} line {line} holds {WINDOW} bytes of a presented token or secret",
                log.display()
            ));
        }
        if let Some(at) = text.windows(6).position(|w| w == b"Bearer") {
            let line = text[..at].iter().filter(|&&b| b == b'\n').count() + 1;
            return Err(format!("{} line {line} holds \"Bearer\"", log.display()));
        }
    }

    let errors = records(dir, "client-errors")?;
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    for error in &errors {
        if index.first_leak(error).is_some() {
            return Err("a client error holds part of a token or secret".into());
        }
        *kinds
            .entry(normalized(&String::from_utf8_lossy(error)))
            .or_default() += 1;
    }
    for kind in kinds.keys() {
        let mentions_failure = kind.contains("authentication failed");
        if (mentions_failure && kind != GENERIC) || kind.contains("pg_bearer") {
            return Err(format!(
                "a bearer login failed with a non-generic error: {kind:?}"
            ));
        }
    }
    let mut summary = format!(
        "log scan: {} server logs ({bytes} bytes) hold no {WINDOW}-byte window of {} secrets ({} presented, {} shorter than {WINDOW} bytes not checkable) and no \"Bearer\"\n\
         log scan: {} failed bearer logins; their errors:",
        logs.len(),
        secrets.len() - short,
        secrets.len(),
        short,
        errors.len()
    );
    for (kind, n) in &kinds {
        summary.push_str(&format!("\n  {n:>6}  {kind}"));
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::{normalized, SecretWindows, GENERIC};

    #[test]
    fn a_window_of_any_secret_is_found_and_nothing_else_is() {
        let secrets = vec![
            b"eyJhbGciOiJSUzI1NiJ9.payload".to_vec(),
            b"Zx81kq2Lw93Pd".to_vec(),
        ];
        let index = SecretWindows::new(&secrets);
        assert_eq!(index.first_leak(b"log: xxq2Lw93Pdyy"), Some((7, 1)));
        assert_eq!(index.first_leak(b"log: ..OiJSUzI1.."), Some((7, 0)));
        assert_eq!(index.first_leak(b"log: eyJhbGc reason=bad"), None);
    }

    #[test]
    fn errors_for_different_roles_normalize_to_the_generic_refusal() {
        for role in ["alice", "service"] {
            let e = format!("connection to server at \"127.0.0.1\", port 5432 failed: FATAL:  OAuth bearer authentication failed for user \"{role}\"");
            assert_eq!(normalized(&e), GENERIC);
        }
        let retried = "retrying connection with new bearer token\nconnection to server at \"127.0.0.1\", port 1 failed: FATAL:  OAuth bearer authentication failed for user \"bob\"";
        assert_eq!(normalized(retried), GENERIC);
        let closed = "connection to server at \"127.0.0.1\", port 1 failed: server closed the connection unexpectedly\n\tThis probably means the server terminated abnormally\n\tbefore or while processing the request.";
        assert_eq!(
            normalized(closed),
            "server closed the connection unexpectedly This probably means the server terminated abnormally before or while processing the request."
        );
        assert_ne!(
            normalized("FATAL:  OAuth bearer authentication failed for user \"a\": reason=x"),
            GENERIC
        );
    }
}
