//! Running the client under test: the installed binary when scripts/test.sh has installed one
//! (`PG_BEARER_CLIENT_BIN`, from `cargo install --path client` without pgrx), else the one
//! cargo built for these tests.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};

/// The client binary under test.
pub fn client_bin() -> PathBuf {
    std::env::var_os("PG_BEARER_CLIENT_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_pg_bearer_client")))
}

/// A client command with none of the variables it reads inherited from the test's
/// environment, and a private cache directory.
pub fn client(cache: &std::path::Path) -> Command {
    let mut command = Command::new(client_bin());
    command
        .env_remove("PG_BEARER_TOKEN")
        .env_remove("PG_BEARER_CLIENT_SECRET")
        .env_remove("LD_PRELOAD")
        .env("XDG_CACHE_HOME", cache)
        .env("LC_ALL", "C");
    command
}

/// What a failed run printed, checked to be one line on stderr and nothing on stdout, and
/// its exit code.
pub fn one_line_failure(out: &Output) -> (String, i32) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "expected a failure; stdout {stdout:?} stderr {stderr:?}"
    );
    assert!(
        stdout.is_empty(),
        "nothing on stdout on failure: {stdout:?}"
    );
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line on stderr: {stderr:?}");
    assert!(
        lines[0].starts_with("pg_bearer_client: "),
        "the line names the program: {stderr:?}"
    );
    (
        lines[0].to_owned(),
        out.status.code().expect("an exit code, not a signal"),
    )
}

/// Everything a run printed.
pub fn printed(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A JWT-shaped token with this `exp` and a signature nobody checks here (the client reads
/// `exp` without verification; the server decides).
pub fn jwt_with_exp(exp: i64) -> String {
    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    format!(
        "{}.{}.{}",
        b64(r#"{"alg":"RS256","typ":"at+jwt","kid":"k1"}"#),
        b64(&format!(
            r#"{{"iss":"https://idp.example","sub":"service","aud":"db","exp":{exp}}}"#
        )),
        b64("not-a-real-signature-but-shaped-like-one")
    )
}

/// Seconds since the epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}
