//! `pg_bearer_client exec ... -- COMMAND`: runs COMMAND (psql, or any program using libpq 18)
//! with the token handed to libpq through `PQsetAuthDataHook`, without the program knowing.
//!
//! The hook lives in a small shared object (shim/pg_bearer_shim.c) embedded in this binary.
//! `exec` writes it once into a private cache directory, preloads it (`LD_PRELOAD`) into
//! COMMAND and passes the token through an inherited pipe, so the token is in no file, no
//! argument and no environment variable. With `--token-file` the shim reads the file at every
//! login instead, so a long-running program picks up rotated tokens (Kubernetes projected
//! service-account tokens are rewritten in place).

use std::ffi::OsString;
use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, OpenOptionsExt as _};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::failure::Failure;

/// The shim, compiled by build.rs (empty where LD_PRELOAD does not exist).
static SHIM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/pg_bearer_shim.so"));

/// How the token reaches the command.
pub enum Handoff {
    /// Read once from an inherited pipe.
    Token(String),
    /// Read from this file at every login.
    File(PathBuf),
}

/// Everything `exec` needs.
pub struct Plan {
    /// The token, or the file that holds it.
    pub handoff: Handoff,
    /// When set, a server whose discovery URI names another issuer gets no token.
    pub issuer: Option<String>,
    /// Environment variables the command must not inherit (a client secret).
    pub scrub: Vec<String>,
    /// The command and its arguments.
    pub command: Vec<OsString>,
}

/// Runs the command in place of this process; returns only when that fails.
pub fn run(plan: Plan) -> Failure {
    match prepare(&plan) {
        Ok(mut command) => {
            let error = command.exec();
            Failure::Exec(format!(
                "cannot run {}: {}",
                plan.command[0].to_string_lossy(),
                error
            ))
        }
        Err(failure) => failure,
    }
}

fn prepare(plan: &Plan) -> Result<Command, Failure> {
    if SHIM.is_empty() {
        return Err(Failure::Exec(
            "exec needs Linux (LD_PRELOAD); use `pg_bearer_client token` instead".into(),
        ));
    }
    let (program, args) = plan
        .command
        .split_first()
        .ok_or_else(|| Failure::Usage("exec needs a command after --".into()))?;
    let shim = install_shim(&cache_dir()?)?;
    let mut command = Command::new(program);
    command.args(args);
    for name in &plan.scrub {
        command.env_remove(name);
    }
    match &plan.handoff {
        Handoff::Token(token) => {
            let fd = token_pipe(token)?;
            command.env("PG_BEARER_SHIM_FD", fd.to_string());
        }
        Handoff::File(path) => {
            let path = fs::canonicalize(path).map_err(|e| {
                Failure::Unreadable(format!("--token-file {}: {e}", path.display()))
            })?;
            command.env("PG_BEARER_SHIM_TOKEN_FILE", path);
        }
    }
    match &plan.issuer {
        Some(issuer) => command.env("PG_BEARER_SHIM_ISSUER", issuer),
        None => command.env_remove("PG_BEARER_SHIM_ISSUER"),
    };
    let previous = std::env::var_os("LD_PRELOAD").unwrap_or_default();
    let mut preload = OsString::from(shim.as_os_str());
    if !previous.is_empty() {
        preload.push(":");
        preload.push(&previous);
    }
    command.env("LD_PRELOAD", preload);
    command.env("PG_BEARER_SHIM_PRELOAD", previous);
    Ok(command)
}

/// `$XDG_CACHE_HOME/pg_bearer_client`, else `~/.cache/pg_bearer_client`, else a per-user
/// directory under the temporary directory. Created 0700; refused when it belongs to another
/// user or others may write to it (someone could swap the preloaded library).
fn cache_dir() -> Result<PathBuf, Failure> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| Path::new(v).is_absolute())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| Path::new(v).is_absolute())
                .map(|home| Path::new(&home).join(".cache"))
        });
    // SAFETY: geteuid has no preconditions and cannot fail.
    let uid = unsafe { libc::geteuid() };
    let dir = match base {
        Some(base) => base.join("pg_bearer_client"),
        None => std::env::temp_dir().join(format!("pg_bearer_client-{uid}")),
    };
    if let Some(parent) = dir.parent() {
        let _ = fs::create_dir_all(parent);
    }
    match fs::DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => {
            return Err(Failure::Exec(format!(
                "cannot create {}: {e}",
                dir.display()
            )))
        }
    }
    let meta =
        fs::symlink_metadata(&dir).map_err(|e| Failure::Exec(format!("{}: {e}", dir.display())))?;
    if !meta.is_dir() || meta.uid() != uid || meta.mode() & 0o022 != 0 {
        return Err(Failure::Exec(format!(
            "{} is not a directory of this user that only this user can write to",
            dir.display()
        )));
    }
    Ok(dir)
}

/// Writes the shim as `pg_bearer_shim-<hash>.so` unless a file with the same bytes is there.
/// The name follows the content, so two versions of the client never replace each other's
/// file while a program is loading it.
fn install_shim(dir: &Path) -> Result<PathBuf, Failure> {
    let path = dir.join(format!("pg_bearer_shim-{:016x}.so", fnv1a(SHIM)));
    if fs::read(&path).is_ok_and(|bytes| bytes == SHIM) {
        return Ok(path);
    }
    let temp = dir.join(format!("pg_bearer_shim.{}.tmp", std::process::id()));
    let written = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temp)
        .and_then(|mut f| f.write_all(SHIM).and_then(|()| f.sync_all()))
        .and_then(|()| fs::rename(&temp, &path));
    written.map_err(|e| {
        let _ = fs::remove_file(&temp);
        Failure::Exec(format!("cannot write {}: {e}", path.display()))
    })?;
    Ok(path)
}

/// FNV-1a, 64 bits: a stable name for the shim's bytes (not a security measure: the directory
/// is private).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// A pipe holding the token, its write end closed; returns the read end, left open across
/// exec. A token (at most 16 KiB) fits in a pipe's buffer, so the write does not block.
fn token_pipe(token: &str) -> Result<i32, Failure> {
    let mut fds = [0i32; 2];
    // SAFETY: fds is a valid array of two ints, as pipe2 requires.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(Failure::Exec(format!(
            "cannot create a pipe: {}",
            std::io::Error::last_os_error()
        )));
    }
    let [read_end, write_end] = fds;
    // SAFETY: write_end is a pipe end this function just created and owns.
    let mut writer = unsafe { <fs::File as std::os::fd::FromRawFd>::from_raw_fd(write_end) };
    let written = writer.write_all(token.as_bytes());
    drop(writer);
    // SAFETY: read_end is a valid open descriptor; F_SETFD with 0 clears FD_CLOEXEC.
    let cleared = unsafe { libc::fcntl(read_end, libc::F_SETFD, 0) };
    if written.is_err() || cleared != 0 {
        // SAFETY: read_end is owned here and not used after this.
        unsafe { libc::close(read_end) };
        return Err(Failure::Exec("cannot pass the token through a pipe".into()));
    }
    Ok(read_end)
}
