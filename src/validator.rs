//! The exported validator callbacks: the only place that handles the server's raw pointers.
//!
//! Contract (PostgreSQL 18, `libpq/oauth.h`): `validate_cb` returns `true` with
//! `result->authorized = false` for a refused token, and `false` only for a failure of the
//! module itself. It never raises an ERROR and never lets a panic escape: a refused login must
//! not unwind the server's authentication code or tell the client why it failed.

use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

use pgrx::prelude::*;

use crate::ffi::{
    OAuthValidatorCallbacks, ValidatorModuleResult, ValidatorModuleState, PG_OAUTH_VALIDATOR_MAGIC,
};
use crate::{gucs, hba::HbaOAuth, log};

static CALLBACKS: OAuthValidatorCallbacks = OAuthValidatorCallbacks {
    magic: PG_OAUTH_VALIDATOR_MAGIC,
    startup_cb: None,
    shutdown_cb: None,
    validate_cb: Some(validate_cb),
};

/// Entry point looked up by the server (`load_external_function`) when an `oauth` HBA line
/// uses this library.
#[pg_guard]
#[unsafe(no_mangle)]
pub extern "C-unwind" fn _PG_oauth_validator_module_init() -> *const OAuthValidatorCallbacks {
    &CALLBACKS
}

/// What one validation decided.
#[derive(Debug, PartialEq, Eq)]
enum Decision {
    /// The token may log in; `authn_id` comes from the verified token.
    #[allow(dead_code, reason = "produced once token verification is wired in")]
    Authorized { authn_id: String },
    /// A refused token. `authn_id` is set only when the token was verified (never from an
    /// unverified token: the server logs it before it looks at `authorized`).
    Refused { authn_id: Option<String> },
    /// pg_bearer itself failed; the server reports an internal error and refuses the login.
    Internal,
}

/// `ValidatorValidateCB`.
///
/// # Safety
/// Called by the server with `token` and `role` NUL-terminated and `result` pointing to a
/// zeroed `ValidatorModuleResult` (`validate()` in auth-oauth.c).
#[pg_guard]
unsafe extern "C-unwind" fn validate_cb(
    _state: *const ValidatorModuleState,
    token: *const c_char,
    role: *const c_char,
    result: *mut ValidatorModuleResult,
) -> bool {
    if token.is_null() || role.is_null() || result.is_null() {
        log::internal("validate_cb called without token, role or result");
        return false;
    }
    // SAFETY: both are non-NULL NUL-terminated strings owned by the server for this call.
    let (token, role) = unsafe { (CStr::from_ptr(token), CStr::from_ptr(role)) };
    let decision = catch_unwind(AssertUnwindSafe(|| {
        decide(token.to_bytes(), role.to_bytes())
    }))
    .unwrap_or_else(|_| {
        log::internal("validation panicked; the login is refused");
        Decision::Internal
    });

    // SAFETY: result is non-NULL and points to the server's zeroed ValidatorModuleResult.
    let result = unsafe { &mut *result };
    let (authorized, authn_id) = match decision {
        Decision::Authorized { authn_id } => (true, Some(authn_id)),
        Decision::Refused { authn_id } => (false, authn_id),
        Decision::Internal => return false,
    };
    result.authorized = authorized;
    result.authn_id = match authn_id.map(CString::new) {
        None => std::ptr::null_mut(),
        // SAFETY: pstrdup (utils/palloc.h) copies into CurrentMemoryContext, which the server
        // expects: it pfree's authn_id after use.
        Some(Ok(id)) => unsafe { pg_sys::pstrdup(id.as_ptr()) },
        // Identities are checked for NUL before they get here; refuse rather than truncate.
        Some(Err(_)) => {
            log::internal("identity contains NUL");
            return false;
        }
    };
    true
}

/// Decides one login. Pure of raw pointers; must not panic (a panic is caught and turned into
/// an internal error, but it is still a bug).
fn decide(_token: &[u8], _role: &[u8]) -> Decision {
    let Some(hba) = HbaOAuth::current() else {
        log::internal("called outside OAuth client authentication");
        return Decision::Internal;
    };
    if gucs::audiences().is_empty() {
        log::rejected(
            "not_configured",
            Some(&hba.issuer),
            "detail=\"pg_bearer.audience is not set\"",
        );
        return Decision::Refused { authn_id: None };
    }
    // Token verification is not wired in yet: fail closed.
    log::rejected(
        "verification_unavailable",
        Some(&hba.issuer),
        "detail=\"this build of pg_bearer cannot verify tokens yet\"",
    );
    Decision::Refused { authn_id: None }
}
