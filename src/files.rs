//! Reading configuration files named by settings (the issuers file, a static JWKS) on the
//! login path: regular files only, size-capped before reading.

use std::io::Read;

/// Reads `path` if it is a regular file of at most `max` bytes.
pub(crate) fn read_capped(path: &str, max: usize) -> Result<Vec<u8>, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let meta = file.metadata().map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    if meta.len() > max as u64 {
        return Err(format!("larger than {max} bytes"));
    }
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
