//! pam_bearer: a PAM module that takes an OAuth 2.0 bearer token as the password and checks it
//! with pg_bearer's rules, for PostgreSQL 14 to 17 (`pam` in pg_hba.conf), which have no OAuth
//! validator API, and for drivers that can send a password but not speak OAUTHBEARER.
//!
//! ```text
//! # /etc/pam.d/pg_bearer
//! auth     required  pam_bearer.so config=/etc/pg_bearer/pam.toml
//! account  required  pam_bearer.so config=/etc/pg_bearer/pam.toml
//! ```
//!
//! Process model: libpam loads this library inside the backend PostgreSQL forks for each
//! connection, as the server's OS user; nothing is kept in the process across logins. Keys and
//! introspection answers are shared between logins through files (`store`). The checks are
//! pg_bearer_core's and the provider calls pg_bearer_provider's, the same code as the
//! PostgreSQL 18 module's.
//!
//! The PostgreSQL user name (`PAM_USER`) must be the token's identity claim or, when a role
//! claim is configured, one of its values. Every path that is not a verified token for that
//! user returns a failure; a panic is caught and is one too.

mod ffi;
mod module;
mod store;

use std::ffi::{c_char, c_int, c_void, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

use ffi::{PamHandle, PAM_PERM_DENIED, PAM_SERVICE_ERR, PAM_SUCCESS};

/// `pam_sm_authenticate`: checks the token the client sent as its password.
///
/// # Safety
/// Called by libpam with its handle and the module arguments of the service file line
/// (`argc` NUL-terminated strings).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pam_sm_authenticate(
    pamh: *mut PamHandle,
    _flags: c_int,
    argc: c_int,
    argv: *const *const c_char,
) -> c_int {
    if pamh.is_null() {
        return PAM_SERVICE_ERR;
    }
    // SAFETY: libpam passes argc valid NUL-terminated strings.
    let args = unsafe { arguments(argc, argv) };
    catch_unwind(AssertUnwindSafe(|| module::authenticate(pamh, &args))).unwrap_or_else(|_| {
        module::log(
            pamh,
            ffi::LOG_ERR,
            "pam_bearer: internal error: the check panicked; the login is refused",
        );
        PAM_SERVICE_ERR
    })
}

/// `pam_sm_setcred`: pam_bearer has no credentials to set.
///
/// # Safety
/// Called by libpam.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pam_sm_setcred(
    _pamh: *mut PamHandle,
    _flags: c_int,
    _argc: c_int,
    _argv: *const *const c_char,
) -> c_int {
    PAM_SUCCESS
}

/// `pam_sm_acct_mgmt`: success for the user this module authenticated in this handle, so that
/// `account required pam_bearer.so` needs no other account module; refused for anyone else.
///
/// # Safety
/// Called by libpam with its handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pam_sm_acct_mgmt(
    pamh: *mut PamHandle,
    _flags: c_int,
    _argc: c_int,
    _argv: *const *const c_char,
) -> c_int {
    if pamh.is_null() {
        return PAM_SERVICE_ERR;
    }
    catch_unwind(AssertUnwindSafe(|| {
        if module::authenticated_here(pamh) {
            PAM_SUCCESS
        } else {
            PAM_PERM_DENIED
        }
    }))
    .unwrap_or(PAM_SERVICE_ERR)
}

/// The module arguments as strings (an argument that is not UTF-8 is kept lossily, and then
/// fails to parse as any option).
///
/// # Safety
/// `argv` holds `argc` NUL-terminated strings, or `argc` is 0.
unsafe fn arguments(argc: c_int, argv: *const *const c_char) -> Vec<String> {
    if argv.is_null() || argc <= 0 {
        return Vec::new();
    }
    (0..argc as usize)
        .filter_map(|i| {
            // SAFETY: i < argc, per the caller.
            let p = unsafe { *argv.add(i) };
            // SAFETY: non-NULL entries are NUL-terminated strings.
            (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
        })
        .collect()
}

/// Frees what `pam_set_data` holds for [`module::authenticated_here`].
///
/// # Safety
/// `data` is a pointer from `Box::into_raw(Box<String>)`, freed only here.
unsafe extern "C" fn free_user(_pamh: *mut PamHandle, data: *mut c_void, _status: c_int) {
    if !data.is_null() {
        // SAFETY: per the contract above.
        drop(unsafe { Box::from_raw(data.cast::<String>()) });
    }
}
