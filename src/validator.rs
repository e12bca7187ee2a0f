//! The exported validator callbacks: the only place that handles the server's raw pointers.
//!
//! Contract (PostgreSQL 18, `libpq/oauth.h`): `validate_cb` returns `true` with
//! `result->authorized = false` for a refused token, and `false` only for a failure of the
//! module itself. It never raises an ERROR and never lets a panic escape: a refused login must
//! not unwind the server's authentication code or tell the client why it failed.

use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

use pgrx::prelude::*;

use crate::ffi::{
    OAuthValidatorCallbacks, ValidatorModuleResult, ValidatorModuleState, PG_OAUTH_VALIDATOR_MAGIC,
};
use pg_bearer_core::config::{self, IssuersFile};
use pg_bearer_core::discovery::IssuerTarget;
use pg_bearer_core::envelope;
use pg_bearer_core::policy::check_line;
use pg_bearer_core::reason::{Outcome, Reason};
use pg_bearer_core::stats::LoginResult;
use pg_bearer_provider::login::{self, context, detail, IssuerConfig, Login};
use pg_bearer_provider::refusal::Refusal;

use crate::gucs::Settings;
use crate::session::{self, Kept};
use crate::stores::{with_provider, Backend};
use crate::{hba::HbaOAuth, log};

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
#[derive(Debug, PartialEq)]
enum Decision {
    /// The token may log in; `authn_id` comes from the verified token, `session` holds what the
    /// session keeps of its claims (`None` only in tests).
    Authorized {
        authn_id: String,
        session: Option<Box<Kept>>,
    },
    /// A refused token. No `authn_id`: the server logs it as "connection authenticated"
    /// before it looks at `authorized`.
    Refused,
    /// pg_bearer itself failed; the server reports an internal error and refuses the login.
    Internal,
}

impl Decision {
    /// The outcome's name for `pg_bearer.log_validation_time`.
    fn outcome(&self) -> &'static str {
        match self {
            Decision::Authorized { .. } => "authorized",
            Decision::Refused => "refused",
            Decision::Internal => "internal_error",
        }
    }
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
    let started = crate::gucs::log_validation_time().then(Instant::now);
    // SAFETY: both are non-NULL NUL-terminated strings owned by the server for this call.
    let (token, role) = unsafe { (CStr::from_ptr(token), CStr::from_ptr(role)) };
    let decision = guarded(|| decide(token.to_bytes(), role.to_bytes()));
    if let Some(started) = started {
        log::validation_time(started.elapsed(), decision.outcome());
    }

    // SAFETY: result is non-NULL and points to the server's ValidatorModuleResult, which
    // nothing else touches during this call.
    fill_result(decision, unsafe { &mut *result })
}

/// Writes a decision into the server's result; the callback's return value. `authorized` is
/// set last, and only on the success path, once nothing can fail any more.
fn fill_result(decision: Decision, result: &mut ValidatorModuleResult) -> bool {
    let (authn_id, session) = match decision {
        Decision::Authorized { authn_id, session } => (authn_id, session),
        Decision::Refused => {
            result.authorized = false;
            return true;
        }
        Decision::Internal => return false,
    };
    // Identities are checked for NUL before they get here; refuse rather than truncate.
    let Ok(authn_id) = CString::new(authn_id) else {
        log::internal("identity contains NUL");
        return false;
    };
    // SAFETY: pstrdup (utils/palloc.h) copies into CurrentMemoryContext, which the server
    // expects: it pfree's authn_id after use.
    result.authn_id = unsafe { pg_sys::pstrdup(authn_id.as_ptr()) };
    if let Some(kept) = session {
        if !session::remember(*kept) {
            return false;
        }
    }
    result.authorized = true;
    true
}

/// Runs `decide`, turning a panic into an internal failure: the login is refused and the
/// server reports its generic error, with no ERROR raised and nothing unwound through C.
fn guarded(decide: impl FnOnce() -> Decision) -> Decision {
    catch_unwind(AssertUnwindSafe(decide)).unwrap_or_else(|_| {
        log::internal("validation panicked; the login is refused");
        count(None, LoginResult::Rejected(Reason::Internal));
        Decision::Internal
    })
}

/// Counts a login in `pg_bearer.login_stats`: one atomic increment.
fn count(issuer: Option<&str>, result: LoginResult) {
    if cfg!(feature = "bench_baseline") {
        return;
    }
    crate::shmem::stats().row(issuer).login(result);
}

/// Decides one login. Pure of raw pointers; must not panic (a panic is caught and turned into
/// an internal error, but it is still a bug).
///
/// `authn_id` is set only for an authorized login: PostgreSQL logs it as "connection
/// authenticated" before it looks at `authorized`, so a refused token must leave it empty.
fn decide(token: &[u8], role: &[u8]) -> Decision {
    let Some(hba) = HbaOAuth::current() else {
        log::internal("called outside OAuth client authentication");
        count(None, LoginResult::Rejected(Reason::Internal));
        return Decision::Internal;
    };
    let issuer = Some(hba.issuer.as_str());
    // Logins are counted under the issuer identifier (the HBA line's, or the one its
    // well-known URL names) once it is known.
    let counted_as = std::cell::OnceCell::new();
    let refuse = |reason: Reason, detail: &str| {
        log::rejected(reason, issuer, detail);
        count(
            counted_as.get().map(String::as_str).or(issuer),
            LoginResult::Rejected(reason),
        );
        match reason.outcome() {
            Outcome::Refused => Decision::Refused,
            Outcome::InternalFailure => Decision::Internal,
        }
    };
    let settings = Settings::current();
    let target = match IssuerTarget::from_hba(&hba.issuer, settings.provider.allow_http) {
        Ok(t) => t,
        Err(e) => {
            return refuse(
                Reason::NotConfigured,
                &detail("pg_hba issuer", &e.to_string()),
            )
        }
    };
    let _ = counted_as.set(target.issuer().to_owned());
    let config = match issuer_config(&settings, target.issuer()) {
        Ok(c) => c,
        Err(why) => return refuse(Reason::NotConfigured, &detail("configuration", &why)),
    };
    // The pg_hba line's scopes and the issuers file's `scope` for this issuer.
    let scopes = config.scopes(&hba.scope);
    if let Err(r) = check_line(&config.policy, &scopes, hba.delegate_ident_mapping) {
        return refuse(r.reason, &context(&r));
    }
    // The server has checked the b64token character set, so this is ASCII.
    let Ok(token) = std::str::from_utf8(token) else {
        return refuse(Reason::MalformedToken, "");
    };
    // Compared byte for byte with role claims: never lossily converted.
    let Ok(role) = std::str::from_utf8(role) else {
        return refuse(
            Reason::BadRole,
            &detail("detail", "the requested role is not valid UTF-8"),
        );
    };
    // The JWT path caps its input itself; an opaque token gets the same cap before it is
    // hashed or sent anywhere.
    if token.len() > envelope::MAX_TOKEN_LEN {
        return refuse(Reason::TokenTooLarge, "");
    }
    let now = pg_bearer_provider::clock::now_ms() / 1000;
    let outcome = with_provider(&settings.provider, |provider| {
        Login {
            token,
            role,
            now,
            scopes: &scopes,
            delegate_ident_mapping: hba.delegate_ident_mapping,
            target: &target,
            config: &config,
            provider,
        }
        .check()
    });
    // Under pg_bearer.session_expiry the session ends at the token's exp, so a token without
    // one, or past it by the clock-skew leeway only, is refused.
    let outcome = outcome.and_then(|accepted| {
        let end_at =
            pg_bearer_core::session::session_end(accepted.expires_at, now, settings.session_expiry)
                .map_err(Refusal::Token)?;
        Ok((accepted, end_at))
    });
    match outcome {
        Ok((accepted, end_at)) => {
            count(Some(target.issuer()), LoginResult::Accepted);
            // The benchmark's baseline build keeps nothing (see Cargo.toml).
            let keep = !cfg!(feature = "bench_baseline");
            Decision::Authorized {
                session: keep.then(|| {
                    Box::new(Kept::new(
                        accepted.claims,
                        accepted.expires_at,
                        target.issuer(),
                        &settings.claim_retention,
                        end_at,
                    ))
                }),
                authn_id: accepted.authn_id,
            }
        }
        Err(Refusal::Provider(e)) => refuse(e.reason, &detail("detail", &e.detail)),
        Err(Refusal::Token(r)) => refuse(r.reason, &context(&r)),
    }
}

/// The configuration for `issuer`: the settings, overridden by its entry in
/// `pg_bearer.issuers_file` if any.
pub(crate) fn issuer_config(settings: &Settings, issuer: &str) -> Result<IssuerConfig, String> {
    let file = match settings.issuers_file.as_str() {
        "" => IssuersFile::default(),
        path => login::read_config(
            "pg_bearer.issuers_file",
            path,
            config::MAX_ISSUERS_FILE_LEN,
            &Backend,
            |text| IssuersFile::parse(text).map_err(|e| e.to_string()),
            IssuersFile::holds_secret,
        )?,
    };
    login::issuer_config(&settings.issuer_defaults, &file, issuer)
}

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use std::ffi::c_char;

    use pgrx::prelude::*;

    use super::{fill_result, guarded, validate_cb, Decision};
    use crate::ffi::ValidatorModuleResult;

    #[pg_test]
    fn a_panic_during_validation_is_an_internal_failure_and_raises_no_error() {
        let decision = guarded(|| panic!("injected fault"));
        assert_eq!(decision, Decision::Internal);
        // No ERROR was raised: this transaction still runs queries.
        assert_eq!(Spi::get_one::<i32>("SELECT 1"), Ok(Some(1)));
    }

    #[pg_test]
    fn validate_cb_without_token_role_or_result_fails_without_touching_them() {
        let mut result = ValidatorModuleResult {
            authorized: false,
            authn_id: std::ptr::null_mut(),
        };
        let token = c"eyJhbGciOiJSUzI1NiJ9.e30.c2ln".as_ptr();
        let role = c"alice".as_ptr();
        // (Not called with all three set: outside client authentication MyProcPort->hba
        // points into freed memory, which only the server's own authentication may read.)
        for (token, role, result) in [
            (std::ptr::null::<c_char>(), role, &raw mut result),
            (token, std::ptr::null::<c_char>(), &raw mut result),
            (token, role, std::ptr::null_mut()),
        ] {
            // SAFETY: every pointer is NULL or valid; validate_cb must refuse the NULL one
            // before touching any.
            let ok = unsafe { validate_cb(std::ptr::null(), token, role, result) };
            assert!(!ok);
        }
        assert!(!result.authorized);
        assert!(result.authn_id.is_null());
        assert_eq!(Spi::get_one::<i32>("SELECT 1"), Ok(Some(1)));
    }

    #[pg_test]
    fn authorized_is_set_only_on_the_success_path_and_last() {
        let fresh = || ValidatorModuleResult {
            authorized: false,
            authn_id: std::ptr::null_mut(),
        };
        // An identity that cannot be handed over: internal failure, result untouched.
        let mut result = fresh();
        let bad = Decision::Authorized {
            authn_id: "ali\0ce".into(),
            session: None,
        };
        assert!(!fill_result(bad, &mut result));
        assert!(!result.authorized);
        assert!(result.authn_id.is_null());
        // An internal failure leaves it alone too.
        assert!(!fill_result(Decision::Internal, &mut result));
        assert!(!result.authorized && result.authn_id.is_null());
        // A refusal says so even over a result that claimed otherwise, and names nobody.
        let mut claimed = ValidatorModuleResult {
            authorized: true,
            authn_id: std::ptr::null_mut(),
        };
        assert!(fill_result(Decision::Refused, &mut claimed));
        assert!(!claimed.authorized);
        assert!(claimed.authn_id.is_null());
        // Success: both set.
        let mut result = fresh();
        let ok = Decision::Authorized {
            authn_id: "alice".into(),
            session: None,
        };
        assert!(fill_result(ok, &mut result));
        assert!(result.authorized);
        // SAFETY: fill_result set authn_id to a pstrdup'd NUL-terminated string.
        let id = unsafe { std::ffi::CStr::from_ptr(result.authn_id) };
        assert_eq!(id.to_str(), Ok("alice"));
    }
}
