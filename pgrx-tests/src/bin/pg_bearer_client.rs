//! `pg_bearer_client`: log in to PostgreSQL with a bearer token through libpq's
//! `PQsetAuthDataHook`, run one query, print its first column.
//!
//! ```text
//! pg_bearer_client [TOKEN SOURCE] [--issuer URL] [--ca-file FILE] [-c SQL] [-v] CONNINFO
//! ```
//! The token comes from one of:
//! - `--token TOKEN`, `--token-file FILE`, or the environment variable `PG_BEARER_TOKEN`;
//! - `--client-credentials CLIENT_ID [--scope SCOPE]`: an OAuth client_credentials grant,
//!   obtained by this program itself, as a service would. The client secret comes from
//!   `--client-secret-file FILE` or the environment variable `PG_BEARER_CLIENT_SECRET`
//!   (never from the command line, which other users can read in `ps`). The token endpoint is
//!   discovered from `{issuer}/.well-known/openid-configuration` over HTTPS; the issuer is
//!   `--issuer` or else CONNINFO's `oauth_issuer`. TLS trusts the system bundle plus
//!   `--ca-file` (a private CA).
//!
//! CONNINFO needs `oauth_issuer` and `oauth_client_id` (libpq requires both for OAuth); with
//! `oauth_issuer` set to the issuer's well-known URI libpq sends the token in its first
//! connection. Neither the token nor the secret is ever printed; `-v` prints the token
//! endpoint and the token's length and lifetime to stderr.

use std::process::ExitCode;

use pg_bearer_e2e::libpq::Session;
use pg_bearer_e2e::oidc::client_credentials_grant;

const USAGE: &str = "\
usage: pg_bearer_client [--token TOKEN | --token-file FILE
                         | --client-credentials CLIENT_ID [--client-secret-file FILE] [--scope SCOPE]]
                        [--issuer URL] [--ca-file FILE] [-c SQL] [-v] CONNINFO
  the token may also come from PG_BEARER_TOKEN, the client secret from PG_BEARER_CLIENT_SECRET";

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pg_bearer_client: {e}");
            ExitCode::FAILURE
        }
    }
}

#[derive(Default)]
struct Options {
    token: Option<String>,
    client_id: Option<String>,
    secret_file: Option<String>,
    scope: String,
    issuer: Option<String>,
    ca_file: Option<String>,
    sql: Option<String>,
    verbose: bool,
    conninfo: Option<String>,
}

fn parse(args: Vec<String>) -> Result<Options, String> {
    let mut o = Options::default();
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        let mut value = || {
            it.next()
                .ok_or_else(|| format!("{arg} needs a value\n{USAGE}"))
        };
        match arg.as_str() {
            "--token" => o.token = Some(value()?),
            "--token-file" => o.token = Some(read_trimmed(&value()?)?),
            "--client-credentials" => o.client_id = Some(value()?),
            "--client-secret-file" => o.secret_file = Some(value()?),
            "--scope" => o.scope = value()?,
            "--issuer" => o.issuer = Some(value()?),
            "--ca-file" => o.ca_file = Some(value()?),
            "-c" => o.sql = Some(value()?),
            "-v" | "--verbose" => o.verbose = true,
            "-h" | "--help" => return Err(USAGE.into()),
            _ if arg.starts_with('-') => return Err(format!("unknown option {arg}\n{USAGE}")),
            _ if o.conninfo.is_none() => o.conninfo = Some(arg),
            _ => return Err(format!("unexpected argument\n{USAGE}")),
        }
    }
    Ok(o)
}

fn read_trimmed(path: &str) -> Result<String, String> {
    std::fs::read_to_string(path)
        .map(|text| text.trim().to_owned())
        .map_err(|e| format!("{path}: {e}"))
}

fn run(args: Vec<String>) -> Result<(), String> {
    let o = parse(args)?;
    let conninfo = o.conninfo.as_deref().ok_or(USAGE)?;
    let token = match &o.client_id {
        Some(client_id) => {
            if o.token.is_some() {
                return Err("give either a token or --client-credentials, not both".into());
            }
            let secret = match &o.secret_file {
                Some(path) => read_trimmed(path)?,
                None => std::env::var("PG_BEARER_CLIENT_SECRET").map_err(|_| {
                    "--client-credentials needs --client-secret-file or PG_BEARER_CLIENT_SECRET"
                })?,
            };
            let issuer = match &o.issuer {
                Some(issuer) => issuer.clone(),
                None => conninfo_value(conninfo, "oauth_issuer")
                    .ok_or("no issuer: give --issuer or oauth_issuer in CONNINFO")?,
            };
            let ca_pem = o.ca_file.as_deref().map(read_trimmed).transpose()?;
            let granted =
                client_credentials_grant(&issuer, client_id, &secret, &o.scope, ca_pem.as_deref())?;
            if o.verbose {
                eprintln!(
                    "pg_bearer_client: client_credentials grant for {client_id} at {}: token: <{} bytes>, expires in {}",
                    granted.token_endpoint,
                    granted.access_token.len(),
                    granted
                        .expires_in
                        .map_or_else(|| "(not said)".to_owned(), |s| format!("{s} s"))
                );
            }
            granted.access_token
        }
        None => match o.token {
            Some(token) => token,
            None => std::env::var("PG_BEARER_TOKEN").map_err(|_| {
                "no token: give --token, --token-file, PG_BEARER_TOKEN or --client-credentials"
            })?,
        },
    };
    let session = Session::connect(conninfo, Some(&token))?;
    let sql = o.sql.as_deref().unwrap_or("SELECT system_user");
    for row in session.query(sql)? {
        println!("{}", row.unwrap_or_default());
    }
    Ok(())
}

/// The value of `key` in a `key=value ...` connection string (single quotes and backslash
/// escapes as libpq reads them); `None` for URIs or when absent.
fn conninfo_value(conninfo: &str, key: &str) -> Option<String> {
    let mut chars = conninfo.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        chars.peek()?;
        let name: String =
            std::iter::from_fn(|| chars.next_if(|c| *c != '=' && !c.is_whitespace())).collect();
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.next() != Some('=') {
            return None;
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next()? {
                    '\\' => value.push(chars.next()?),
                    '\'' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                if c == '\\' {
                    value.push(chars.next()?);
                } else {
                    value.push(c);
                }
            }
        }
        if name == key {
            return Some(value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::conninfo_value;

    #[test]
    fn conninfo_values_are_read_like_libpq() {
        let c = "host=127.0.0.1 port = 5 oauth_issuer='https://x/r m' user=a\\ b oauth_client_id=c";
        assert_eq!(
            conninfo_value(c, "oauth_issuer").as_deref(),
            Some("https://x/r m")
        );
        assert_eq!(conninfo_value(c, "port").as_deref(), Some("5"));
        assert_eq!(conninfo_value(c, "user").as_deref(), Some("a b"));
        assert_eq!(conninfo_value(c, "oauth_client_id").as_deref(), Some("c"));
        assert_eq!(conninfo_value(c, "dbname"), None);
        assert_eq!(conninfo_value("postgresql://h/db", "oauth_issuer"), None);
    }
}
