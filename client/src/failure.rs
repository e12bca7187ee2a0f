//! Every way `pg_bearer_client` can fail: one line on stderr and a documented exit code
//! (docs/client.md, "Exit codes"). No message holds a token or a secret.

use std::fmt;

/// A failure, by the exit code it ends the program with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// 2: the command line is wrong (unknown option, missing value, two token sources).
    Usage(String),
    /// 3: a secret or token file (or variable) is missing, unreadable, empty or unsafe.
    Unreadable(String),
    /// 4: the provider cannot be reached (connection, DNS, TLS, timeout).
    Unreachable(String),
    /// 5: the discovery document was refused: its issuer differs from the one asked for,
    /// or it lacks a usable `token_endpoint`.
    Discovery(String),
    /// 6: the provider answered with an HTTP error (its status and OAuth `error`).
    Http(String),
    /// 7: the token has expired (by its own `exp`, read without verification).
    Expired(String),
    /// 8: `--token-command` failed or printed no token.
    Command(String),
    /// 9: the token source gave something that is not a bearer token.
    NotAToken(String),
    /// 10: the command given to `exec` could not be run.
    Exec(String),
}

impl Failure {
    /// The process exit code.
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Usage(_) => 2,
            Failure::Unreadable(_) => 3,
            Failure::Unreachable(_) => 4,
            Failure::Discovery(_) => 5,
            Failure::Http(_) => 6,
            Failure::Expired(_) => 7,
            Failure::Command(_) => 8,
            Failure::NotAToken(_) => 9,
            Failure::Exec(_) => 10,
        }
    }

    fn message(&self) -> &str {
        match self {
            Failure::Usage(m)
            | Failure::Unreadable(m)
            | Failure::Unreachable(m)
            | Failure::Discovery(m)
            | Failure::Http(m)
            | Failure::Expired(m)
            | Failure::Command(m)
            | Failure::NotAToken(m)
            | Failure::Exec(m) => m,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

/// Text from the network or a command, made safe for one line of stderr: control characters
/// dropped, at most `max` characters.
pub fn printable(text: &str, max: usize) -> String {
    let mut out: String = text.chars().filter(|c| !c.is_control()).take(max).collect();
    if text.chars().filter(|c| !c.is_control()).count() > max {
        out.push('…');
    }
    out
}
