//! The OAuth options of the pg_hba.conf line being authenticated, read by `csrc/hba.c` (the
//! only code that touches `MyProcPort->hba`).

use std::ffi::{c_char, c_int, CStr};

extern "C" {
    fn pg_bearer_hba_issuer() -> *const c_char;
    fn pg_bearer_hba_scope() -> *const c_char;
    fn pg_bearer_hba_delegate_ident_mapping() -> c_int;
}

/// `issuer`, `scope` and `delegate_ident_mapping` of the current HBA line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HbaOAuth {
    pub issuer: String,
    pub scope: String,
    pub delegate_ident_mapping: bool,
}

impl HbaOAuth {
    /// `None` outside client authentication, or if the line has no issuer (the server requires
    /// one on every `oauth` line, so that would be a bug, reported by the caller).
    pub(crate) fn current() -> Option<Self> {
        // SAFETY: the accessors in csrc/hba.c read MyProcPort->hba (libpq/libpq-be.h,
        // libpq/hba.h), which stays valid for the whole authentication; they return NULL or -1
        // when there is no port or line, and never raise an error.
        let (issuer, scope, delegate) = unsafe {
            (
                opt_str(pg_bearer_hba_issuer()),
                opt_str(pg_bearer_hba_scope()),
                pg_bearer_hba_delegate_ident_mapping(),
            )
        };
        if delegate < 0 {
            return None;
        }
        Some(Self {
            issuer: issuer?,
            scope: scope.unwrap_or_default(),
            delegate_ident_mapping: delegate == 1,
        })
    }
}

/// # Safety
/// `p` is NULL or a NUL-terminated string that outlives this call.
unsafe fn opt_str(p: *const c_char) -> Option<String> {
    // SAFETY: guaranteed by the caller.
    (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
}
