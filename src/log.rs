//! Server-log lines. Everything goes out at COMMERROR (`LOG_SERVER_ONLY`): it reaches the
//! server log and never the unauthenticated client, which only sees PostgreSQL's generic
//! "OAuth bearer authentication failed". No function here accepts the token: callers pass
//! reason codes and values that were checked to be safe to print.

use pg_bearer_core::reason::{LogLevel, Outcome, Reason};
use pgrx::pg_sys::elog::PgLogLevel;
use pgrx::pg_sys::errcodes::PgSqlErrorCode;

/// One line for a login that did not succeed: a stable reason code, then the context that
/// helps a DBA. The reason's level picks the SQLSTATE: 28000 for verdicts on the token, 01000
/// for what needs a DBA, XX000 for pg_bearer's own failures.
pub(crate) fn rejected(reason: Reason, issuer: Option<&str>, detail: &str) {
    let issuer = issuer.map(printable).unwrap_or_else(|| "-".into());
    let mut line = format!(
        "pg_bearer: token rejected: reason={} issuer=\"{issuer}\"",
        reason.code()
    );
    if !detail.is_empty() {
        line.push(' ');
        line.push_str(detail);
    }
    let code = match (reason.outcome(), reason.level()) {
        (Outcome::InternalFailure, _) => PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
        (_, LogLevel::Warning) => PgSqlErrorCode::ERRCODE_WARNING,
        (_, LogLevel::Log) => PgSqlErrorCode::ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION,
    };
    server_only(code, line);
}

/// A failure of pg_bearer itself (not of the token): the login fails as an internal error.
pub(crate) fn internal(what: &str) {
    server_only(
        PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
        format!("pg_bearer: internal error: {what}"),
    );
}

fn server_only(code: PgSqlErrorCode, line: String) {
    pgrx::ereport!(PgLogLevel::LOG_SERVER_ONLY, code, line);
}

pub(crate) use pg_bearer_provider::printable;

/// An operational warning for the DBA (server log only).
pub(crate) fn warning(what: &str) {
    server_only(
        PgSqlErrorCode::ERRCODE_WARNING,
        format!("pg_bearer: {what}"),
    );
}

/// An informational line for the DBA (server log only), such as what a session's claims cap
/// dropped.
pub(crate) fn notice(what: &str) {
    server_only(
        PgSqlErrorCode::ERRCODE_SUCCESSFUL_COMPLETION,
        what.to_owned(),
    );
}

/// How long one validation took (`pg_bearer.log_validation_time`): the elapsed time and the
/// outcome only, never anything from the token.
pub(crate) fn validation_time(elapsed: std::time::Duration, outcome: &str) {
    server_only(
        PgSqlErrorCode::ERRCODE_SUCCESSFUL_COMPLETION,
        format!(
            "pg_bearer: validation_us={:.1} outcome={outcome}",
            elapsed.as_secs_f64() * 1e6
        ),
    );
}
