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
use pg_bearer_core::cache::Need;
use pg_bearer_core::config::{self, IssuersFile};
use pg_bearer_core::discovery::IssuerTarget;
use pg_bearer_core::envelope;
use pg_bearer_core::policy::{verify_jwt, IssuerPolicy, Request};
use pg_bearer_core::reason::Reason;

use crate::gucs::Settings;
use crate::{hba::HbaOAuth, keys, log};

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
fn decide(token: &[u8], role: &[u8]) -> Decision {
    let Some(hba) = HbaOAuth::current() else {
        log::internal("called outside OAuth client authentication");
        return Decision::Internal;
    };
    let issuer = Some(hba.issuer.as_str());
    let refuse = |reason: &str, detail: &str| {
        log::rejected(reason, issuer, detail);
        Decision::Refused { authn_id: None }
    };
    let settings = Settings::current();
    let target = match IssuerTarget::from_hba(&hba.issuer, settings.allow_http) {
        Ok(t) => t,
        Err(e) => return refuse("not_configured", &detail("pg_hba issuer", &e.to_string())),
    };
    let (policy, key_source) = match issuer_policy(&settings, target.issuer()) {
        Ok(p) => p,
        Err(why) => return refuse("not_configured", &detail("configuration", &why)),
    };
    // The server has checked the b64token character set, so this is ASCII.
    let Ok(token) = std::str::from_utf8(token) else {
        return refuse("malformed_token", "");
    };
    if !envelope::looks_like_jws(token) {
        return refuse(
            "opaque_token",
            &detail("detail", "not a JWT, and no introspection is configured"),
        );
    }
    let role = String::from_utf8_lossy(role);
    let request = Request {
        token,
        hba_scopes: &hba.scope,
        requested_role: &role,
        delegate_ident_mapping: hba.delegate_ident_mapping,
        now: keys::now_ms() / 1000,
    };
    let keys = match keys::keys(&target, &key_source, Need::Fresh, &settings) {
        Ok(k) => k,
        Err(e) => return refuse(e.code, &detail("detail", &e.detail)),
    };
    let mut outcome = verify_jwt(&request, &keys.set, &policy);
    if matches!(&outcome, Err(r) if r.reason == Reason::UnknownKid) {
        // The provider may have rotated its keys: one rate-limited refetch (the cache decides).
        let need = Need::KidMissing {
            seen_generation: keys.generation,
        };
        if let Ok(newer) = keys::keys(&target, &key_source, need, &settings) {
            if newer.generation != keys.generation {
                outcome = verify_jwt(&request, &newer.set, &policy);
            }
        }
    }
    match outcome {
        Ok(verified) => Decision::Authorized {
            authn_id: verified.authn_id,
        },
        Err(rejection) => {
            let mut context = String::new();
            if let Some(claim) = rejection.claim {
                context.push_str(&format!("claim={claim} "));
            }
            if let Some(kid) = &rejection.kid {
                context.push_str(&format!("kid=\"{}\" ", log::printable(kid)));
            }
            if let Some(identity) = &rejection.identity {
                context.push_str(&format!("identity=\"{}\"", log::printable(identity)));
            }
            log::rejected(rejection.reason.code(), issuer, context.trim_end());
            // Only a verified identity may reach authn_id (the server logs it).
            Decision::Refused {
                authn_id: rejection.identity,
            }
        }
    }
}

fn detail(key: &str, text: &str) -> String {
    format!("{key}=\"{}\"", log::printable(text))
}

/// The verification policy and key source for `issuer`: the settings, overridden by the
/// issuer's entry in `pg_bearer.issuers_file` if there is one.
fn issuer_policy(settings: &Settings, issuer: &str) -> Result<(IssuerPolicy, String), String> {
    let file = match settings.issuers_file.as_str() {
        "" => IssuersFile::default(),
        path => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("pg_bearer.issuers_file {path}: {e}"))?;
            IssuersFile::parse(&text).map_err(|e| format!("{path}: {e}"))?
        }
    };
    config::issuer_policy(issuer, &settings.defaults(), file.find(issuer))
        .map_err(|e| e.to_string())
}
