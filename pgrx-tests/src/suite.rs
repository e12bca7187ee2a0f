//! Suite-wide log hygiene. When `PG_BEARER_SUITE_DIR` names a directory (scripts/test.sh sets
//! it for the end-to-end tests), the harness writes down, per test process:
//! - `secrets.<pid>`: every secret a test presented or learnt — bearer tokens handed to
//!   libpq, client secrets given to the server, every token a provider fixture issued
//!   (psql's device-flow tokens included);
//! - `client-errors.<pid>`: the error libpq reported for every failed bearer login;
//! - `logs/`: the server log of every cluster, copied when the cluster is dropped.
//!
//! After the suite, `pg_bearer_logscan <dir>` checks every server log against every secret
//! (no 8-byte window of any) and every bearer login's error against PostgreSQL's generic
//! refusal. Lines are hex-encoded: tokens under attack may hold any byte but NUL.
//!
//! Without the variable every function here does nothing.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

/// The environment variable naming the suite directory.
pub const SUITE_DIR_VAR: &str = "PG_BEARER_SUITE_DIR";

fn dir() -> Option<PathBuf> {
    std::env::var_os(SUITE_DIR_VAR)
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
}

/// Serializes appends within this process (each file is this process's own).
static APPEND: Mutex<()> = Mutex::new(());

fn append(kind: &str, value: &str) {
    let Some(dir) = dir() else { return };
    let _guard = APPEND.lock().unwrap_or_else(|p| p.into_inner());
    let path = dir.join(format!("{kind}.{}", std::process::id()));
    let mut line = hex(value.as_bytes());
    line.push('\n');
    let written = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(line.as_bytes()));
    // The record is the evidence the scan relies on: losing it silently would pass the scan.
    // (Not a second panic while a failing test unwinds: that would abort the test process.)
    if let Err(e) = written {
        if std::thread::panicking() {
            eprintln!("suite record {}: {e}", path.display());
        } else {
            panic!("suite record {}: {e}", path.display());
        }
    }
}

/// Records a secret (token, client secret) that must never appear in a server log.
pub fn record_secret(secret: &str) {
    if !secret.is_empty() {
        append("secrets", secret);
    }
}

/// Records the error libpq reported for a failed bearer login.
pub fn record_client_error(message: &str) {
    append("client-errors", message);
}

/// Copies a cluster's server log into the suite directory.
pub fn keep_server_log(log: &Path) {
    let Some(dir) = dir() else { return };
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let logs = dir.join("logs");
    let target = logs.join(format!(
        "{}-{}.log",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let copied = std::fs::create_dir_all(&logs).and_then(|_| std::fs::copy(log, &target));
    // A cluster that never started has no log; anything else is a lost record, which the
    // scan reports as a failure.
    if let Err(e) = copied {
        if log.exists() {
            append("lost-logs", &format!("{}: {e}", log.display()));
        }
    }
}

/// A client secret in a file the server's OS user can read (directory 0755, file 0644), for
/// `pg_bearer.client_secret_file`. Recorded for the log scan; the directory is removed on drop.
pub struct SecretFile {
    dir: PathBuf,
    path: PathBuf,
}

impl SecretFile {
    /// Writes `secret` (and a newline, as editors leave it) to a new file, mode 0600, owned by
    /// the OS user the test servers run as.
    pub fn write(secret: &str) -> SecretFile {
        use std::os::unix::fs::PermissionsExt;
        static SEQ: AtomicU32 = AtomicU32::new(0);
        record_secret(secret);
        let dir = std::env::temp_dir().join(format!(
            "pg_bearer-secret-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let path = dir.join("client_secret");
        let written = std::fs::create_dir_all(&dir)
            .and_then(|_| std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)))
            .and_then(|_| std::fs::write(&path, format!("{secret}\n")))
            .and_then(|_| std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)));
        if let Err(e) = written {
            panic!("write {}: {e}", path.display());
        }
        // Readable by the server's OS user only, as pg_bearer wants a secret file to be.
        if let Some(user) = crate::cluster::run_as_user() {
            let chowned = std::process::Command::new("chown")
                .arg(format!("{user}:"))
                .arg(&path)
                .status();
            assert!(
                chowned.is_ok_and(|s| s.success()),
                "chown {user} {}",
                path.display()
            );
        }
        SecretFile { dir, path }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for SecretFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The bytes of a [`hex`] string, or `None` if it is not one.
pub fn unhex(text: &str) -> Option<Vec<u8>> {
    let text = text.trim();
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{hex, unhex};

    #[test]
    fn hex_round_trips_any_bytes() {
        let bytes = b"ey.J\n\x01\xff";
        assert_eq!(unhex(&hex(bytes)).as_deref(), Some(&bytes[..]));
    }

    #[test]
    fn unhex_refuses_odd_length_and_non_hex() {
        assert_eq!(unhex("abc"), None);
        assert_eq!(unhex("zz"), None);
    }
}
