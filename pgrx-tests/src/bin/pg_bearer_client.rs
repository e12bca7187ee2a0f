//! `pg_bearer_client`: log in to PostgreSQL with a bearer token through libpq's
//! `PQsetAuthDataHook`, run one query, print its first column.
//!
//! ```text
//! pg_bearer_client [--token TOKEN | --token-file FILE] [-c SQL] CONNINFO
//! ```
//! The token may also come from the environment variable `PG_BEARER_TOKEN`. CONNINFO needs
//! `oauth_issuer` and `oauth_client_id` (libpq requires both for OAuth); with `oauth_issuer`
//! set to the issuer's well-known URI libpq sends the token in its first connection.

use std::process::ExitCode;

use pg_bearer_e2e::libpq::Session;

const USAGE: &str = "usage: pg_bearer_client [--token TOKEN | --token-file FILE] [-c SQL] CONNINFO";

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pg_bearer_client: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Vec<String>) -> Result<(), String> {
    let mut token = std::env::var("PG_BEARER_TOKEN").ok();
    let mut sql = "SELECT system_user".to_owned();
    let mut conninfo = None;
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        let mut value = || {
            it.next()
                .ok_or_else(|| format!("{arg} needs a value\n{USAGE}"))
        };
        match arg.as_str() {
            "--token" => token = Some(value()?),
            "--token-file" => {
                let path = value()?;
                let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
                token = Some(text.trim().to_owned());
            }
            "-c" => sql = value()?,
            "-h" | "--help" => return Err(USAGE.into()),
            _ if conninfo.is_none() => conninfo = Some(arg),
            _ => return Err(format!("unexpected argument\n{USAGE}")),
        }
    }
    let conninfo = conninfo.ok_or(USAGE)?;
    let token = token.ok_or("no token: give --token, --token-file or PG_BEARER_TOKEN")?;
    let session = Session::connect(&conninfo, Some(&token))?;
    for row in session.query(&sql)? {
        println!("{}", row.unwrap_or_default());
    }
    Ok(())
}
