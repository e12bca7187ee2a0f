//! The session's verified claims and the SQL functions that read them (`pg_bearer.claims()`,
//! `claim(name)`, `scopes()`, `issuer()`, `token_expires_at()`).
//!
//! The backend that validates a token is the backend that then serves the session
//! (`validate_cb` runs inside the session's own process, during authentication), so the claims
//! are kept in a process static, set once by [`remember`] on the authorized path and never
//! again. Nothing SQL can reach writes it: it is not a setting, so `SET`, `set_config`,
//! `RESET ALL` and `DISCARD ALL` do not touch it; `SET ROLE` and `SET SESSION AUTHORIZATION`
//! change the role, not the token; `LOAD` of the library again is a no-op for a library that
//! is loaded, and in a session that did not log in through pg_bearer it loads a library whose
//! static is empty. Every other process (parallel workers, background workers, sessions that
//! logged in with SCRAM, trust or peer) starts with it empty and answers NULL.
//!
//! The functions are `IMMUTABLE`: within a session their answer never changes, so the planner
//! folds a call with constant arguments into a constant once per statement, and a row-level
//! security policy costs a comparison per row, not a call (`EXPLAIN` shows the constant). They
//! are `PARALLEL RESTRICTED` because a parallel worker is another process without the claims:
//! a call that is not folded (a non-constant argument) runs in the leader only. They are
//! `LEAKPROOF`: they raise no error, whatever the argument. `IMMUTABLE` also means PostgreSQL
//! accepts them where a value must never change (an index expression, a generated column);
//! docs/sql.md says not to do that.

use std::ffi::CString;
use std::sync::OnceLock;

use pgrx::callconv::{BoxRet, FcInfo};
use pgrx::datum::{Datum, IntoDatum, TimestampWithTimeZone};
use pgrx::pg_sys;
use pgrx::pgrx_sql_entity_graph::metadata::{
    ArgumentError, ReturnsError, ReturnsRef, SqlMappingRef, SqlTranslatable, TypeOrigin,
};
use pgrx::prelude::*;

use pg_bearer_core::json::JsonObject;
use pg_bearer_core::session::{ClaimRetention, RetentionReport, SessionClaims};

use crate::log;

/// The claims of the token this session logged in with; empty in every other process.
static SESSION: OnceLock<SessionClaims> = OnceLock::new();

/// The claims a session will keep, built on the validate path before anything is written.
#[derive(Debug, PartialEq)]
pub(crate) struct Kept {
    claims: SessionClaims,
    report: RetentionReport,
    /// When the session must end (`pg_bearer.session_expiry`): the token's `exp`.
    end_at: Option<i64>,
}

impl Kept {
    /// Applies `pg_bearer.session_claims` and `pg_bearer.session_claims_max_size`; `end_at`
    /// comes from `pg_bearer_core::session::session_end`.
    pub(crate) fn new(
        claims: JsonObject,
        expires_at: Option<i64>,
        issuer: &str,
        retention: &ClaimRetention,
        end_at: Option<i64>,
    ) -> Kept {
        let (claims, report) = SessionClaims::new(claims, issuer, expires_at, retention);
        Kept {
            claims,
            report,
            end_at,
        }
    }
}

extern "C" {
    /// csrc/expiry.c: arms the session's end at `exp` (seconds since the Unix epoch), named
    /// `text` in its messages; false if it could not.
    fn pg_bearer_expiry_arm(exp: i64, text: *const std::ffi::c_char) -> bool;
}

/// Keeps a validated token's claims for the rest of this session and, under
/// `pg_bearer.session_expiry`, arms the session's end at the token's `exp`. Called once, on the
/// authorized path only, as the last step before the login is authorized; `false` (the login
/// must then be refused) when the end could not be armed. Logs (counts and sizes only) when
/// the selection or the cap dropped claims.
pub(crate) fn remember(kept: Kept) -> bool {
    if let Some(exp) = kept.end_at {
        let text = CString::new(pg_bearer_core::session::utc_text(exp)).unwrap_or_default();
        // SAFETY: a plain C function (csrc/expiry.c) that copies the NUL-terminated text and
        // raises no ERROR (it catches its own); called once, in the session's backend.
        if !unsafe { pg_bearer_expiry_arm(exp, text.as_ptr()) } {
            log::internal("pg_bearer.session_expiry: could not arm the session's end");
            return false;
        }
    }
    if kept.report.is_worth_logging() {
        log::notice(&format!(
            "pg_bearer: session claims: {} issuer=\"{}\"",
            kept.report,
            log::printable(kept.claims.issuer())
        ));
    }
    // A backend authenticates once; should a second call ever happen, the first claims stay.
    let _ = SESSION.set(kept.claims);
    true
}

/// Whether this process holds a session token's claims.
pub(crate) fn current() -> Option<&'static SessionClaims> {
    SESSION.get()
}

/// The verified claims of this session's token, as `jsonb`; NULL when the session did not log
/// in through pg_bearer.
#[pg_extern(immutable, parallel_restricted, schema = "pg_bearer", name = "claims")]
fn claims() -> Option<ClaimsJsonb> {
    current().map(|s| ClaimsJsonb(s.claims_json()))
}

/// One claim by top-level name or JSON Pointer: a string's text, any other value's JSON text;
/// NULL when absent, JSON null, or the session did not log in through pg_bearer.
#[pg_extern(immutable, parallel_restricted, schema = "pg_bearer", name = "claim")]
fn claim(name: &str) -> Option<String> {
    current()?.claim(name)
}

/// The scopes the token granted (`scope`, then `scp`).
#[pg_extern(immutable, parallel_restricted, schema = "pg_bearer", name = "scopes")]
fn scopes() -> Option<Vec<String>> {
    current().map(|s| s.scopes().to_vec())
}

/// The issuer the token was validated against.
#[pg_extern(immutable, parallel_restricted, schema = "pg_bearer", name = "issuer")]
fn issuer() -> Option<String> {
    current().map(|s| s.issuer().to_owned())
}

/// The token's `exp`; NULL if it had none (an introspection answer without `exp`).
#[pg_extern(
    immutable,
    parallel_restricted,
    schema = "pg_bearer",
    name = "token_expires_at"
)]
fn token_expires_at() -> Option<TimestampWithTimeZone> {
    let exp = current()?.expires_at()?;
    // PostgreSQL counts microseconds from 2000-01-01; core keeps exp within 0..=253402300799
    // (year 9999), which fits.
    const UNIX_TO_PG_EPOCH_S: i64 = 946_684_800;
    let micros = (exp - UNIX_TO_PG_EPOCH_S).checked_mul(1_000_000)?;
    TimestampWithTimeZone::try_from(micros).ok()
}

/// Compact JSON text returned as `jsonb`: `jsonb_in` reads it directly, so nothing about the
/// claims (number spelling, member order before normalisation) passes through another JSON
/// library.
struct ClaimsJsonb(&'static str);

impl IntoDatum for ClaimsJsonb {
    fn into_datum(self) -> Option<pg_sys::Datum> {
        // Core never keeps a claim containing U+0000, so the text has no NUL byte.
        let text = CString::new(self.0).ok()?;
        // SAFETY: jsonb_in takes a NUL-terminated cstring datum; the text is the compact JSON
        // core wrote from a parsed object, which jsonb_in accepts (finite numbers, no U+0000).
        unsafe {
            pgrx::fcinfo::direct_function_call_as_datum(
                pg_sys::jsonb_in,
                &[Some(pg_sys::Datum::from(text.as_ptr()))],
            )
        }
    }

    fn type_oid() -> pg_sys::Oid {
        pg_sys::JSONBOID
    }
}

// SAFETY: the datum is a jsonb varlena made by jsonb_in, returned as the function's result.
unsafe impl BoxRet for ClaimsJsonb {
    unsafe fn box_into<'fcx>(self, fcinfo: &mut FcInfo<'fcx>) -> Datum<'fcx> {
        match self.into_datum() {
            // SAFETY: returned straight to the caller as the function's result.
            Some(datum) => unsafe { fcinfo.return_raw_datum(datum) },
            None => fcinfo.return_null(),
        }
    }
}

// SAFETY: the SQL type is jsonb, which is what into_datum produces.
unsafe impl SqlTranslatable for ClaimsJsonb {
    const TYPE_IDENT: &'static str = pgrx::pgrx_resolved_type!(ClaimsJsonb);
    const TYPE_ORIGIN: TypeOrigin = TypeOrigin::External;
    const ARGUMENT_SQL: Result<SqlMappingRef, ArgumentError> =
        Err(ArgumentError::NotValidAsArgument("ClaimsJsonb"));
    const RETURN_SQL: Result<ReturnsRef, ReturnsError> =
        Ok(ReturnsRef::One(SqlMappingRef::literal("jsonb")));
}
