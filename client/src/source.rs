//! Where the token comes from, and the checks every token gets before it is printed or handed
//! to libpq.

use std::io::Read as _;
use std::process::{Command, Stdio};

use crate::failure::{printable, Failure};
use crate::grant::{self, Provider};

/// The environment variable read when no other source is named.
pub const TOKEN_ENV: &str = "PG_BEARER_TOKEN";
/// The environment variable the client secret is read from without `--client-secret-file`.
pub const SECRET_ENV: &str = "PG_BEARER_CLIENT_SECRET";
/// Tokens larger than this are refused here (pg_bearer refuses more than 16 KiB).
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// One token source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `--token TOKEN`.
    Literal(String),
    /// `--token-file FILE`: read now, and by `exec` again at every login.
    File(String),
    /// `--token-env NAME`, or `PG_BEARER_TOKEN` when nothing is named.
    Env(String),
    /// `--token-command CMD`: run with `sh -c`; its standard output is the token, or a JSON
    /// object holding it (`access_token`, `accessToken` or `token`, as cloud CLIs print).
    Command(String),
    /// `--client-credentials CLIENT_ID`.
    ClientCredentials {
        /// The client id.
        client_id: String,
        /// Where the secret is.
        secret: Secret,
        /// The scopes asked for (may be empty).
        scope: String,
    },
}

/// Where a client secret is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Secret {
    /// `--client-secret-file FILE`.
    File(String),
    /// `--client-secret-env NAME`, or `PG_BEARER_CLIENT_SECRET`.
    Env(String),
    /// `--client-secret SECRET` with `--insecure-secret-in-argv` (others can read argv).
    Argv(String),
}

/// What a source gave: the token, and what `-v` may say about where it came from.
pub struct Obtained {
    /// The token.
    pub token: String,
    /// One line about its origin, without the token.
    pub origin: String,
}

impl Source {
    /// Gets the token, then checks it (see [`check_token`]).
    pub fn obtain(&self, provider: Option<&Provider<'_>>) -> Result<Obtained, Failure> {
        let (token, origin) = match self {
            Source::Literal(token) => (token.clone(), "--token".to_owned()),
            Source::File(path) => (read_file("--token-file", path)?, format!("file {path}")),
            Source::Env(name) => (read_env(name)?, format!("${name}")),
            Source::Command(command) => (run_command(command)?, "--token-command".to_owned()),
            Source::ClientCredentials {
                client_id,
                secret,
                scope,
            } => {
                let provider = provider
                    .ok_or_else(|| Failure::Usage("--client-credentials needs --issuer".into()))?;
                let secret = match secret {
                    Secret::File(path) => read_file("--client-secret-file", path)?,
                    Secret::Env(name) => read_env(name)?,
                    Secret::Argv(secret) => secret.clone(),
                };
                let granted = grant::client_credentials(provider, client_id, &secret, scope)?;
                let lifetime = granted
                    .expires_in
                    .map_or_else(|| "not said".to_owned(), |s| format!("{s} s"));
                (
                    granted.access_token,
                    format!(
                        "client_credentials grant for {client_id} at {} (expires_in {lifetime})",
                        granted.token_endpoint
                    ),
                )
            }
        };
        check_token(&token, now())?;
        Ok(Obtained { token, origin })
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// A token must be RFC 6750 `b64token` text (letters, digits, `-._~+/`, then `=` padding), at
/// most [`MAX_TOKEN_LEN`] bytes, and, if it is a JWT, not past its `exp`. The `exp` is read
/// without verification: the server decides; this only saves a doomed login.
pub fn check_token(token: &str, now: i64) -> Result<(), Failure> {
    if token.is_empty() {
        return Err(Failure::NotAToken("the token is empty".into()));
    }
    if token.len() > MAX_TOKEN_LEN {
        return Err(Failure::NotAToken(format!(
            "the token is {} bytes, more than {MAX_TOKEN_LEN}",
            token.len()
        )));
    }
    let body = token.trim_end_matches('=');
    if body.is_empty()
        || !body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
    {
        return Err(Failure::NotAToken(
            "the token holds characters a bearer token cannot have".into(),
        ));
    }
    if let Some(exp) = pg_bearer_core::envelope::unverified_expiry(token) {
        if exp <= now {
            return Err(Failure::Expired(format!(
                "the token expired {} s ago (exp {exp})",
                now - exp
            )));
        }
    }
    Ok(())
}

fn read_file(option: &str, path: &str) -> Result<String, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::Unreadable(format!("{option} {path}: {}", io_reason(&e))))?;
    let text = text.trim();
    if text.is_empty() {
        return Err(Failure::Unreadable(format!(
            "{option} {path}: the file is empty"
        )));
    }
    Ok(text.to_owned())
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        std::io::ErrorKind::InvalidData => "not UTF-8 text".into(),
        _ => e.to_string(),
    }
}

fn read_env(name: &str) -> Result<String, Failure> {
    match std::env::var(name) {
        Ok(value) if !value.trim().is_empty() => Ok(value.trim().to_owned()),
        Ok(_) => Err(Failure::Unreadable(format!("${name} is empty"))),
        Err(std::env::VarError::NotPresent) => {
            Err(Failure::Unreadable(format!("${name} is not set")))
        }
        Err(std::env::VarError::NotUnicode(_)) => {
            Err(Failure::Unreadable(format!("${name} is not UTF-8")))
        }
    }
}

fn run_command(command: &str) -> Result<String, Failure> {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::inherit())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| Failure::Command(format!("--token-command: cannot run sh: {e}")))?;
    let mut out = Vec::new();
    if let Some(stdout) = child.stdout.take() {
        // One byte over the cap is enough to know the output is too large.
        let _ = stdout
            .take(MAX_TOKEN_LEN as u64 * 4 + 1)
            .read_to_end(&mut out);
    }
    let status = child
        .wait()
        .map_err(|e| Failure::Command(format!("--token-command: {e}")))?;
    if !status.success() {
        let how = match status.code() {
            Some(code) => format!("exited with status {code}"),
            None => "was killed by a signal".to_owned(),
        };
        return Err(Failure::Command(format!("--token-command {how}")));
    }
    let text = String::from_utf8(out).map_err(|_| {
        Failure::Command("--token-command printed something that is not UTF-8".into())
    })?;
    let text = text.trim();
    if text.is_empty() {
        return Err(Failure::Command("--token-command printed no token".into()));
    }
    if text.starts_with('{') {
        let json: serde_json::Value = serde_json::from_str(text).map_err(|_| {
            Failure::Command("--token-command printed JSON that does not parse".into())
        })?;
        return ["access_token", "accessToken", "token"]
            .iter()
            .find_map(|k| json[k].as_str())
            .map(str::to_owned)
            .ok_or_else(|| {
                let keys: Vec<String> = json
                    .as_object()
                    .map(|o| o.keys().map(|k| printable(k, 40)).collect())
                    .unwrap_or_default();
                Failure::Command(format!(
                    "--token-command printed JSON without access_token, accessToken or token (members: {})",
                    keys.join(", ")
                ))
            });
    }
    Ok(text.to_owned())
}
