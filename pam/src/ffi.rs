//! The few libpam calls pam_bearer makes, declared from Linux-PAM's `<security/pam_modules.h>`,
//! `<security/pam_ext.h>` and `<security/_pam_types.h>` (the `pam-sys` and `pamsm` crates
//! would bring these too; pamsm is GPL-3.0, and these dozen lines are all that is needed).

use std::ffi::{c_char, c_int, c_void};

/// `pam_handle_t`, opaque.
#[repr(C)]
pub struct PamHandle {
    _private: [u8; 0],
}

pub const PAM_SUCCESS: c_int = 0;
pub const PAM_SERVICE_ERR: c_int = 3;
pub const PAM_PERM_DENIED: c_int = 6;
pub const PAM_AUTH_ERR: c_int = 7;
pub const PAM_AUTHINFO_UNAVAIL: c_int = 9;
/// `pam_get_authtok`'s item: the password the application's conversation collects.
pub const PAM_AUTHTOK: c_int = 6;

/// syslog priorities (`<syslog.h>`).
pub const LOG_ERR: c_int = 3;
pub const LOG_WARNING: c_int = 4;
pub const LOG_NOTICE: c_int = 5;
pub const LOG_INFO: c_int = 6;

pub type Cleanup = unsafe extern "C" fn(pamh: *mut PamHandle, data: *mut c_void, status: c_int);

#[link(name = "pam")]
unsafe extern "C" {
    pub fn pam_get_user(
        pamh: *mut PamHandle,
        user: *mut *const c_char,
        prompt: *const c_char,
    ) -> c_int;
    pub fn pam_get_authtok(
        pamh: *mut PamHandle,
        item: c_int,
        authtok: *mut *const c_char,
        prompt: *const c_char,
    ) -> c_int;
    pub fn pam_set_data(
        pamh: *mut PamHandle,
        name: *const c_char,
        data: *mut c_void,
        cleanup: Option<Cleanup>,
    ) -> c_int;
    pub fn pam_get_data(
        pamh: *const PamHandle,
        name: *const c_char,
        data: *mut *const c_void,
    ) -> c_int;
    pub fn pam_syslog(pamh: *const PamHandle, priority: c_int, fmt: *const c_char, ...);
}
