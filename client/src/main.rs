//! `pg_bearer_client`: get an OAuth bearer token for PostgreSQL and print it, or run psql (or
//! any libpq 18 program) with it. Reference: docs/client.md.

mod exec;
mod failure;
mod grant;
mod source;

use std::ffi::OsString;
use std::process::ExitCode;
use std::time::Duration;

use failure::Failure;
use grant::Provider;
use source::{Secret, Source};

const USAGE: &str = "\
usage: pg_bearer_client token [SOURCE] [OPTIONS]
       pg_bearer_client exec  [SOURCE] [OPTIONS] -- COMMAND [ARG...]

SOURCE (one; default: the environment variable PG_BEARER_TOKEN)
  --token TOKEN                 the token itself (visible to other users in ps)
  --token-file FILE             a file holding the token; exec re-reads it at every login
  --token-env NAME              an environment variable holding the token
  --token-command CMD           run CMD with sh -c; its output is the token, or JSON with
                                access_token, accessToken or token
  --client-credentials ID       the OAuth client_credentials grant for client ID (needs --issuer)
      --client-secret-file FILE     the client secret (default: $PG_BEARER_CLIENT_SECRET)
      --client-secret-env NAME      the client secret from this variable
      --client-secret SECRET        only with --insecure-secret-in-argv
      --scope SCOPE                 scopes to ask for, space-separated

OPTIONS
  --issuer URL                  the issuer (or its well-known URI); exec then hands the token
                                only to servers that name this issuer
  --ca-file FILE                PEM certificates to trust besides the system's
  --timeout SECONDS             deadline of each request to the provider (default 10)
  -v, --verbose                 say on stderr where the token came from (never the token)
  -h, --help, -V, --version";

fn main() -> ExitCode {
    match run(std::env::args_os().skip(1).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(message)) if message.is_empty() => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Err(failure) => {
            eprintln!("pg_bearer_client: {failure}");
            ExitCode::from(failure.exit_code())
        }
    }
}

#[derive(Default)]
struct Options {
    exec: bool,
    sources: Vec<Source>,
    secret: Option<Secret>,
    insecure_argv: bool,
    scope: String,
    issuer: Option<String>,
    ca_file: Option<String>,
    timeout: Option<Duration>,
    verbose: bool,
    command: Vec<OsString>,
}

fn parse(args: Vec<OsString>) -> Result<Options, Failure> {
    let mut args = args.into_iter();
    let mut o = Options::default();
    match args.next().as_ref().and_then(|a| a.to_str()) {
        Some("token") => {}
        Some("exec") => o.exec = true,
        Some("-h" | "--help") => return Err(Failure::Usage(String::new())),
        Some("-V" | "--version") => {
            println!("pg_bearer_client {}", env!("CARGO_PKG_VERSION"));
            std::process::exit(0);
        }
        Some(other) => {
            return Err(Failure::Usage(format!(
                "unknown command {:?}: use token or exec (--help)",
                failure::printable(other, 40)
            )))
        }
        None => {
            return Err(Failure::Usage(
                "a command is needed: token or exec (--help)".into(),
            ))
        }
    }
    while let Some(arg) = args.next() {
        let arg = arg
            .into_string()
            .map_err(|_| Failure::Usage("an option is not UTF-8".into()))?;
        if arg == "--" {
            if !o.exec {
                return Err(Failure::Usage("-- COMMAND is for exec, not token".into()));
            }
            o.command = args.by_ref().collect();
            break;
        }
        let mut value = || -> Result<String, Failure> {
            args.next()
                .and_then(|v| v.into_string().ok())
                .ok_or_else(|| Failure::Usage(format!("{arg} needs a value")))
        };
        match arg.as_str() {
            "--token" => o.sources.push(Source::Literal(value()?)),
            "--token-file" => o.sources.push(Source::File(value()?)),
            "--token-env" => o.sources.push(Source::Env(value()?)),
            "--token-command" => o.sources.push(Source::Command(value()?)),
            "--client-credentials" => o.sources.push(Source::ClientCredentials {
                client_id: value()?,
                secret: Secret::Env(source::SECRET_ENV.into()),
                scope: String::new(),
            }),
            "--client-secret-file" => set_secret(&mut o.secret, Secret::File(value()?))?,
            "--client-secret-env" => set_secret(&mut o.secret, Secret::Env(value()?))?,
            "--client-secret" => set_secret(&mut o.secret, Secret::Argv(value()?))?,
            "--insecure-secret-in-argv" => o.insecure_argv = true,
            "--scope" => o.scope = value()?,
            "--issuer" => o.issuer = Some(value()?),
            "--ca-file" => o.ca_file = Some(value()?),
            "--timeout" => {
                let text = value()?;
                let seconds: f64 = text
                    .parse()
                    .ok()
                    .filter(|s: &f64| s.is_finite() && *s > 0.0 && *s <= 300.0)
                    .ok_or_else(|| {
                        Failure::Usage(
                            "--timeout takes seconds, more than 0 and at most 300".into(),
                        )
                    })?;
                o.timeout = Some(Duration::from_secs_f64(seconds));
            }
            "-v" | "--verbose" => o.verbose = true,
            "-h" | "--help" => return Err(Failure::Usage(String::new())),
            _ => {
                return Err(Failure::Usage(format!(
                    "unknown option {:?} (--help)",
                    failure::printable(&arg, 40)
                )))
            }
        }
    }
    Ok(o)
}

fn set_secret(slot: &mut Option<Secret>, secret: Secret) -> Result<(), Failure> {
    if slot.replace(secret).is_some() {
        return Err(Failure::Usage("give the client secret one way only".into()));
    }
    Ok(())
}

/// The one token source, with the secret and scope options folded into client_credentials.
fn source(o: &mut Options) -> Result<Source, Failure> {
    if o.sources.len() > 1 {
        return Err(Failure::Usage(
            "give one token source only (--token, --token-file, --token-env, --token-command or --client-credentials)"
                .into(),
        ));
    }
    let source = o
        .sources
        .pop()
        .unwrap_or_else(|| Source::Env(source::TOKEN_ENV.into()));
    match source {
        Source::ClientCredentials { client_id, .. } => {
            let secret = o
                .secret
                .take()
                .unwrap_or_else(|| Secret::Env(source::SECRET_ENV.into()));
            if matches!(secret, Secret::Argv(_)) && !o.insecure_argv {
                return Err(Failure::Usage(
                    "--client-secret puts the secret where other users can read it (ps); use --client-secret-file or $PG_BEARER_CLIENT_SECRET, or add --insecure-secret-in-argv"
                        .into(),
                ));
            }
            if o.issuer.is_none() {
                return Err(Failure::Usage("--client-credentials needs --issuer".into()));
            }
            Ok(Source::ClientCredentials {
                client_id,
                secret,
                scope: std::mem::take(&mut o.scope),
            })
        }
        other => {
            if o.secret.is_some() || !o.scope.is_empty() {
                return Err(Failure::Usage(
                    "--client-secret-*, --scope are for --client-credentials".into(),
                ));
            }
            Ok(other)
        }
    }
}

fn run(args: Vec<OsString>) -> Result<(), Failure> {
    let mut o = parse(args)?;
    let source = source(&mut o)?;
    if o.exec && o.command.is_empty() {
        return Err(Failure::Usage("exec needs -- COMMAND [ARG...]".into()));
    }
    let provider = o.issuer.as_deref().map(|issuer| Provider {
        issuer,
        ca_file: o.ca_file.as_deref(),
        timeout: o.timeout.unwrap_or(Duration::from_secs(10)),
    });
    let obtained = source.obtain(provider.as_ref())?;
    if o.verbose {
        eprintln!(
            "pg_bearer_client: token from {}: {} bytes{}",
            obtained.origin,
            obtained.token.len(),
            match pg_bearer_core::envelope::unverified_expiry(&obtained.token) {
                Some(exp) => format!(", exp {exp} (unverified)"),
                None => String::new(),
            }
        );
    }
    if !o.exec {
        println!("{}", obtained.token);
        return Ok(());
    }
    let mut scrub = vec![source::SECRET_ENV.to_owned()];
    let handoff = match &source {
        Source::File(path) => exec::Handoff::File(path.into()),
        Source::Env(name) => {
            scrub.push(name.clone());
            exec::Handoff::Token(obtained.token)
        }
        Source::ClientCredentials {
            secret: Secret::Env(name),
            ..
        } => {
            scrub.push(name.clone());
            exec::Handoff::Token(obtained.token)
        }
        _ => exec::Handoff::Token(obtained.token),
    };
    // The shim compares the server's discovery URI with the issuer identifier, so a
    // well-known URI given to --issuer is reduced to the issuer it names.
    let issuer = match o.issuer.as_deref() {
        Some(given) => Some(
            pg_bearer_core::discovery::IssuerTarget::from_hba(given, false)
                .map_err(|e| Failure::Usage(format!("--issuer: {e}")))?
                .issuer()
                .to_owned(),
        ),
        None => None,
    };
    Err(exec::run(exec::Plan {
        handoff,
        issuer,
        scrub,
        command: o.command,
    }))
}
