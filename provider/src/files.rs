//! Reading configuration files named by settings (the issuers file, a static JWKS, a client
//! secret) on the login path: regular files only, size-capped before reading, and, for files
//! that hold a secret, permissions checked the way PostgreSQL checks `ssl_key_file`.

use std::fs::{File, Metadata};
use std::io::Read;
use std::os::unix::fs::MetadataExt;

/// Reads `path` if it is a regular file of at most `max` bytes.
pub fn read_capped(path: &str, max: usize) -> Result<Vec<u8>, String> {
    let (file, meta) = open_regular(path, max)?;
    read_to_cap(file, &meta, max)
}

/// A file's bytes, with a warning to log when its permissions are looser than they should be.
pub struct Checked {
    pub bytes: Vec<u8>,
    /// Why the file is readable by more than the server's OS user, if it is.
    pub warning: Option<String>,
}

/// Reads `path` like [`read_capped`], then applies [`check_secret_permissions`]. Used for a
/// client secret file; the issuers file is read with [`read_with_metadata`] and checked with
/// [`check_secret_permissions`] when it turns out to hold an inline secret.
pub fn read_secret(path: &str, max: usize) -> Result<Checked, String> {
    let (file, meta) = open_regular(path, max)?;
    let warning = check_secret_permissions(&meta)?;
    Ok(Checked {
        bytes: read_to_cap(file, &meta, max)?,
        warning,
    })
}

/// Reads `path` like [`read_capped`] and returns the metadata of the file that was read, for
/// permission checks that depend on its content.
pub fn read_with_metadata(path: &str, max: usize) -> Result<(Vec<u8>, Metadata), String> {
    let (file, meta) = open_regular(path, max)?;
    Ok((read_to_cap(file, &meta, max)?, meta))
}

/// Refuses a configuration file that group or others can write: whoever can write it decides
/// who logs in.
pub fn check_not_writable_by_others(meta: &Metadata) -> Result<(), String> {
    let mode = meta.mode() & 0o777;
    if mode & 0o022 != 0 {
        return Err(format!(
            "has mode {mode:04o}: group or others can write it (chmod go-w)"
        ));
    }
    Ok(())
}

/// A file holding a secret must not be writable by group or others, nor owned by a user other
/// than the server's OS user or root (whoever owns it can change what pg_bearer sends as its
/// credentials); `Err` says why. Readable by group or others is allowed with a warning
/// (`Ok(Some(..))`), as a root-owned 0640 key file is in PostgreSQL.
pub fn check_secret_permissions(meta: &Metadata) -> Result<Option<String>, String> {
    // SAFETY: geteuid (unistd.h) has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me && meta.uid() != 0 {
        return Err(format!(
            "is owned by uid {}, not by the server's OS user or root",
            meta.uid()
        ));
    }
    check_not_writable_by_others(meta)?;
    let mode = meta.mode() & 0o777;
    Ok((mode & 0o044 != 0)
        .then(|| format!("has mode {mode:04o}: group or others can read the secret (chmod 0600)")))
}

fn open_regular(path: &str, max: usize) -> Result<(File, Metadata), String> {
    let file = File::open(path).map_err(|e| e.to_string())?;
    let meta = file.metadata().map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    if meta.len() > max as u64 {
        return Err(format!("larger than {max} bytes"));
    }
    Ok((file, meta))
}

fn read_to_cap(file: File, meta: &Metadata, max: usize) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // Read one byte past the cap in case the file grew since the check.
    file.take(max as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() > max {
        return Err(format!("larger than {max} bytes"));
    }
    Ok(bytes)
}
