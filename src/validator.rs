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
use pg_bearer_core::cache::Need;
use pg_bearer_core::config::{self, IssuersFile, OpaqueSettings};
use pg_bearer_core::discovery::IssuerTarget;
use pg_bearer_core::discovery::ProviderMetadata;
use pg_bearer_core::envelope::{self, Route};
use pg_bearer_core::introspection::{OpaqueRequest, OpaqueVerified};
use pg_bearer_core::jwks::KeyFilter;
use pg_bearer_core::policy::{check_line, verify_jwt, IssuerPolicy, Request};
use pg_bearer_core::reason::{Outcome, Reason, Rejection};
use pg_bearer_core::stats::LoginResult;

use crate::gucs::Settings;
use crate::opaque::{self, OpaqueCheck};
use crate::refusal::{Failure, Refusal};
use crate::session::{self, Accepted, Kept};
use crate::{files, hba::HbaOAuth, keys, log};

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
    let target = match IssuerTarget::from_hba(&hba.issuer, settings.allow_http) {
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
    if let Err(r) = check_line(&config.policy, &hba.scope, hba.delegate_ident_mapping) {
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
    let now = crate::clock::now_ms() / 1000;
    let login = Login {
        token,
        role,
        now,
        hba: &hba,
        target: &target,
        config: &config,
        settings: &settings,
    };
    // Anything a lenient decoder could read as a JWS is judged here and only here: a
    // non-canonical encoding is refused before any request (see envelope::route).
    let outcome = match envelope::route(token) {
        Route::Jws => login.jwt(),
        Route::RefuseAsJws(reason) => Err(Refusal::Token(reason.into())),
        Route::Opaque => login.opaque(),
    };
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

/// One login attempt with everything it is judged by.
struct Login<'a> {
    token: &'a str,
    role: &'a str,
    now: i64,
    hba: &'a HbaOAuth,
    target: &'a IssuerTarget,
    config: &'a IssuerConfig,
    settings: &'a Settings,
}

impl Login<'_> {
    /// A JWT: verified locally and only locally (introspection never rescues a JWT that failed
    /// a local check); with `introspect_jwts`, a verified JWT must also be active at the
    /// provider.
    fn jwt(&self) -> Result<Accepted, Refusal> {
        let request = Request {
            token: self.token,
            hba_scopes: &self.hba.scope,
            requested_role: self.role,
            delegate_ident_mapping: self.hba.delegate_ident_mapping,
            now: self.now,
        };
        let policy = &self.config.policy;
        // Only the keys the token's kid names are built; a header that does not parse is
        // refused by verify_jwt whatever the keys.
        let kid = envelope::header_kid(self.token).ok().flatten();
        let filter = Some(kid.as_deref().map_or(KeyFilter::All, KeyFilter::Kid));
        let mut keys = self.keys(Need::Fresh, filter)?;
        let mut outcome = verify_jwt(&request, &keys.set, policy);
        if matches!(&outcome, Err(r) if r.reason == Reason::UnknownKid) {
            // The provider may have rotated its keys: one rate-limited refetch (the cache
            // decides).
            let need = Need::KidMissing {
                seen_generation: keys.generation,
            };
            if let Ok(newer) = self.keys(need, filter) {
                if newer.generation != keys.generation {
                    keys = newer;
                    outcome = verify_jwt(&request, &keys.set, policy);
                }
            }
        }
        let verified = outcome.map_err(|mut r| {
            // A kid is repeated in the log only if it names one of the provider's keys: an
            // unknown kid is attacker-chosen text.
            if r.kid.as_deref().is_some_and(|k| !keys.set.contains_kid(k)) {
                r.kid = None;
            }
            Refusal::Token(r)
        })?;
        if self.config.opaque.introspect_jwts {
            let endpoint = introspection_endpoint(&self.config.opaque, keys.metadata().as_ref())?;
            opaque::introspect(
                &OpaqueCheck {
                    budgeted: false,
                    ..self.opaque_check()
                },
                &endpoint,
            )?;
        }
        Ok(Accepted {
            authn_id: verified.authn_id,
            claims: verified.claims,
            expires_at: Some(verified.exp),
        })
    }

    /// An opaque token: introspection if configured, else userinfo if enabled, else refused.
    fn opaque(&self) -> Result<Accepted, Refusal> {
        let opaque = &self.config.opaque;
        let metadata = || -> Result<Option<ProviderMetadata>, Refusal> {
            Ok(self.keys(Need::Fresh, None)?.metadata())
        };
        if opaque.introspection_configured() {
            let endpoint = if opaque.introspection_endpoint.is_empty() {
                introspection_endpoint(opaque, metadata()?.as_ref())?
            } else {
                opaque.introspection_endpoint.clone()
            };
            return Ok(accepted(opaque::introspect(
                &self.opaque_check(),
                &endpoint,
            )?));
        }
        if opaque.userinfo {
            let endpoint = metadata()?
                .as_ref()
                .and_then(|m| m.userinfo_endpoint().map(str::to_owned))
                .ok_or_else(|| {
                    Failure::new(
                        Reason::NotConfigured,
                        "no userinfo endpoint in the provider's metadata",
                    )
                })?;
            return Ok(accepted(opaque::userinfo(&self.opaque_check(), &endpoint)?));
        }
        Err(Failure::new(Reason::OpaqueToken,
            "not a JWT, and neither introspection (pg_bearer.client_id, pg_bearer.client_secret_file) nor userinfo is configured",
        )
        .into())
    }

    fn keys(&self, need: Need, filter: Option<KeyFilter<'_>>) -> Result<keys::Keys, Failure> {
        keys::keys(
            self.target,
            &self.config.key_source,
            need,
            self.settings,
            filter,
        )
    }

    fn opaque_check(&self) -> OpaqueCheck<'_> {
        OpaqueCheck {
            token: self.token,
            issuer: self.target.issuer(),
            request: OpaqueRequest {
                hba_scopes: &self.hba.scope,
                requested_role: self.role,
                delegate_ident_mapping: self.hba.delegate_ident_mapping,
                now: self.now,
            },
            policy: &self.config.policy,
            opaque: &self.config.opaque,
            settings: self.settings,
            budgeted: true,
        }
    }
}

fn accepted(verified: OpaqueVerified) -> Accepted {
    Accepted {
        authn_id: verified.authn_id,
        claims: verified.claims,
        expires_at: verified.exp,
    }
}

/// The configured introspection endpoint, else discovery's.
fn introspection_endpoint(
    opaque: &OpaqueSettings,
    metadata: Option<&ProviderMetadata>,
) -> Result<String, Failure> {
    if !opaque.introspection_configured() {
        return Err(Failure::new(
            Reason::NotConfigured,
            "introspection needs pg_bearer.client_id and pg_bearer.client_secret_file",
        ));
    }
    if !opaque.introspection_endpoint.is_empty() {
        return Ok(opaque.introspection_endpoint.clone());
    }
    metadata
        .and_then(|m| m.introspection_endpoint().map(str::to_owned))
        .ok_or_else(|| {
            Failure::new(
                Reason::NotConfigured,
                "no introspection endpoint (set pg_bearer.introspection_endpoint)",
            )
        })
}

/// `claim=`, `kid=` and `identity=` of a token refusal, for the log line.
fn context(rejection: &Rejection) -> String {
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
    context.trim_end().to_owned()
}

fn detail(key: &str, text: &str) -> String {
    format!("{key}=\"{}\"", log::printable(text))
}

/// One issuer's configuration for this login.
pub(crate) struct IssuerConfig {
    policy: IssuerPolicy,
    pub(crate) key_source: String,
    opaque: OpaqueSettings,
}

/// The settings for `issuer`, overridden by its entry in `pg_bearer.issuers_file` if any.
pub(crate) fn issuer_config(settings: &Settings, issuer: &str) -> Result<IssuerConfig, String> {
    let file = match settings.issuers_file.as_str() {
        "" => IssuersFile::default(),
        path => {
            let (bytes, meta) = files::read_with_metadata(path, config::MAX_ISSUERS_FILE_LEN)
                .map_err(|e| format!("pg_bearer.issuers_file {path}: {e}"))?;
            files::check_not_writable_by_others(&meta)
                .map_err(|e| format!("pg_bearer.issuers_file {path}: {e}"))?;
            let text = String::from_utf8(bytes).map_err(|_| format!("{path}: not UTF-8"))?;
            let file = IssuersFile::parse(&text).map_err(|e| format!("{path}: {e}"))?;
            if file.holds_secret() {
                let warning = files::check_secret_permissions(&meta).map_err(|e| {
                    format!("pg_bearer.issuers_file {path}: holds a client_secret and {e}")
                })?;
                if let Some(w) = warning {
                    log::warning(&format!(
                        "pg_bearer.issuers_file {}: holds a client_secret and {w}",
                        log::printable(path)
                    ));
                }
            }
            file
        }
    };
    let defaults = &settings.issuer_defaults;
    let entry = file.find(issuer);
    let (policy, key_source) =
        config::issuer_policy(issuer, defaults, entry).map_err(|e| e.to_string())?;
    let opaque = config::opaque_settings(defaults, entry).map_err(|e| e.to_string())?;
    Ok(IssuerConfig {
        policy,
        key_source,
        opaque,
    })
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
