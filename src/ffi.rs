//! `#[repr(C)]` mirror of PostgreSQL 18's `libpq/oauth.h` (validator ABI, magic `0x20250220`).
//!
//! pgrx 0.18's bindings do not include this header, so the types are written out here. The
//! mirror is checked against the real header at build time: `build.rs` includes this file,
//! computes every size and field offset, and compiles `csrc/hba.c` with `_Static_assert`s that
//! compare them with the server's own `sizeof`/`offsetof`. A field changed here, or a header that
//! changed under us, fails the build instead of a login.
//!
//! This file must stay free of pgrx types so that `build.rs` can include it.

use std::ffi::{c_char, c_int, c_void};

/// `PG_OAUTH_VALIDATOR_MAGIC`: the server refuses a module whose callbacks carry another value.
pub const PG_OAUTH_VALIDATOR_MAGIC: u32 = 0x2025_0220;

/// `ValidatorModuleState`: owned by the server, handed to every callback.
#[repr(C)]
pub struct ValidatorModuleState {
    /// The server's `PG_VERSION_NUM`.
    pub sversion: c_int,
    /// Free for the module's own use.
    pub private_data: *mut c_void,
}

/// `ValidatorModuleResult`: allocated (zeroed) by the server before `validate_cb`.
#[repr(C)]
pub struct ValidatorModuleResult {
    /// True only if the token carries sufficient permissions for the bearer to connect.
    pub authorized: bool,
    /// A `palloc`'d identity (the server `pfree`s it) or NULL.
    pub authn_id: *mut c_char,
}

/// `ValidatorStartupCB`.
pub type ValidatorStartupCb = Option<unsafe extern "C-unwind" fn(state: *mut ValidatorModuleState)>;
/// `ValidatorShutdownCB`.
pub type ValidatorShutdownCb =
    Option<unsafe extern "C-unwind" fn(state: *mut ValidatorModuleState)>;
/// `ValidatorValidateCB`.
pub type ValidatorValidateCb = Option<
    unsafe extern "C-unwind" fn(
        state: *const ValidatorModuleState,
        token: *const c_char,
        role: *const c_char,
        result: *mut ValidatorModuleResult,
    ) -> bool,
>;

/// `OAuthValidatorCallbacks`: what `_PG_oauth_validator_module_init` returns.
#[repr(C)]
pub struct OAuthValidatorCallbacks {
    /// Must be [`PG_OAUTH_VALIDATOR_MAGIC`].
    pub magic: u32,
    /// Optional.
    pub startup_cb: ValidatorStartupCb,
    /// Optional.
    pub shutdown_cb: ValidatorShutdownCb,
    /// Required.
    pub validate_cb: ValidatorValidateCb,
}

/// The layout facts `build.rs` hands to the C compiler as `-D` definitions, name and value:
/// every struct's size, and every field's offset and size. Kept next to the types so that
/// adding a field means adding its line here too.
#[allow(dead_code)] // used by build.rs, which includes this file
pub fn layout_facts() -> Vec<(&'static str, usize)> {
    use std::mem::{offset_of, size_of};
    /// The size of a field, named by a projection closure.
    fn size<S, F>(_: fn(&S) -> &F) -> usize {
        size_of::<F>()
    }
    type State = ValidatorModuleState;
    type Result = ValidatorModuleResult;
    type Callbacks = OAuthValidatorCallbacks;
    vec![
        ("PGB_MAGIC", PG_OAUTH_VALIDATOR_MAGIC as usize),
        ("PGB_STATE_SIZE", size_of::<State>()),
        ("PGB_STATE_SVERSION", offset_of!(State, sversion)),
        ("PGB_STATE_SVERSION_SIZE", size::<State, _>(|s| &s.sversion)),
        ("PGB_STATE_PRIVATE_DATA", offset_of!(State, private_data)),
        (
            "PGB_STATE_PRIVATE_DATA_SIZE",
            size::<State, _>(|s| &s.private_data),
        ),
        ("PGB_RESULT_SIZE", size_of::<Result>()),
        ("PGB_RESULT_AUTHORIZED", offset_of!(Result, authorized)),
        (
            "PGB_RESULT_AUTHORIZED_SIZE",
            size::<Result, _>(|r| &r.authorized),
        ),
        ("PGB_RESULT_AUTHN_ID", offset_of!(Result, authn_id)),
        (
            "PGB_RESULT_AUTHN_ID_SIZE",
            size::<Result, _>(|r| &r.authn_id),
        ),
        ("PGB_CALLBACKS_SIZE", size_of::<Callbacks>()),
        ("PGB_CALLBACKS_MAGIC", offset_of!(Callbacks, magic)),
        (
            "PGB_CALLBACKS_MAGIC_SIZE",
            size::<Callbacks, _>(|c| &c.magic),
        ),
        ("PGB_CALLBACKS_STARTUP", offset_of!(Callbacks, startup_cb)),
        (
            "PGB_CALLBACKS_STARTUP_SIZE",
            size::<Callbacks, _>(|c| &c.startup_cb),
        ),
        ("PGB_CALLBACKS_SHUTDOWN", offset_of!(Callbacks, shutdown_cb)),
        (
            "PGB_CALLBACKS_SHUTDOWN_SIZE",
            size::<Callbacks, _>(|c| &c.shutdown_cb),
        ),
        ("PGB_CALLBACKS_VALIDATE", offset_of!(Callbacks, validate_cb)),
        (
            "PGB_CALLBACKS_VALIDATE_SIZE",
            size::<Callbacks, _>(|c| &c.validate_cb),
        ),
    ]
}
