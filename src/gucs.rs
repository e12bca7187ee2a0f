//! The `pg_bearer.*` settings, expanded from the one declaration in
//! `pg_bearer_core::settings` (`pg_bearer_settings!`): a GUC variable and a
//! `DefineCustom*Variable` call per declared setting, with its type, default, range, unit,
//! context and description. Nothing about a setting is written here but how the glue uses its
//! value. The variables stay private; the rest of the crate reads a [`Settings`] snapshot.
//! All but `pg_bearer.log_validation_time` are `SIGHUP` (postgresql.conf, `pg_reload_conf()`):
//! a backend reads them when it authenticates, so a reload applies to the next login.

use std::ffi::{CStr, CString};
use std::time::Duration;

use pg_bearer_core::config::{split_list, Defaults};
use pg_bearer_core::session::{ClaimRetention, ClaimSelection};
use pg_bearer_provider::ProviderSettings;
use pgrx::guc::{GucContext, GucFlags, GucRegistry, GucSetting};

/// Expands the declaration into the module `guc` (one variable per setting, named like it;
/// test-only ones exist only with the Cargo feature `testing`), `define_all` and
/// `issuer_defaults`.
macro_rules! gucs {
    (
        per_issuer { $( $p:ident : $pk:ident { $($pa:tt)* }, $pc:ident $(+ $pf:ident)*, $pd:literal; )* }
        server { $( $s:ident : $sk:ident { $($sa:tt)* }, $sc:ident $(+ $sf:ident)*, $sd:literal; )* }
        test_only { $( $t:ident : $tk:ident { $($ta:tt)* }, $tc:ident $(+ $tf:ident)*, $td:literal; )* }
        file_only { $($file_only:tt)* }
    ) => {
        /// The GUC variables, named like the settings.
        #[allow(non_upper_case_globals)]
        mod guc {
            use super::*;
            $( pub(super) static $p: guc_type!($pk) = guc_new!($pk { $($pa)* }); )*
            $( pub(super) static $s: guc_type!($sk) = guc_new!($sk { $($sa)* }); )*
            $(
                #[cfg(feature = "testing")]
                pub(super) static $t: guc_type!($tk) = guc_new!($tk { $($ta)* });
            )*
        }

        /// Defines every setting with PostgreSQL.
        fn define_all() {
            $( guc_define!($p, $pk { $($pa)* }, $pc $(+ $pf)*, $pd); )*
            $( guc_define!($s, $sk { $($sa)* }, $sc $(+ $sf)*, $sd); )*
            // Test-only switches exist only in libraries built with the Cargo feature
            // `testing`, which release builds never enable.
            $(
                #[cfg(feature = "testing")]
                guc_define!($t, $tk { $($ta)* }, $tc $(+ $tf)*, $td);
            )*
        }

        /// The per-issuer settings' current values: the defaults for every issuer.
        fn issuer_defaults() -> Defaults {
            Defaults { $( $p: guc_read!($pk, guc::$p), )* }
        }
    };
}

/// A `&'static CStr` from string literals (and `concat!`/`stringify!`), checked at compile
/// time.
macro_rules! cstr {
    ($($text:tt)*) => {{
        const C: &CStr = match CStr::from_bytes_with_nul(concat!($($text)*, "\0").as_bytes()) {
            Ok(c) => c,
            Err(_) => panic!("a setting's name or description contains a NUL byte"),
        };
        C
    }};
}

macro_rules! guc_type {
    (text) => { GucSetting<Option<CString>> };
    (text_list) => { GucSetting<Option<CString>> };
    (bool) => { GucSetting<bool> };
    (int) => { GucSetting<i32> };
    (duration) => { GucSetting<i32> };
    (size) => { GucSetting<i32> };
}

macro_rules! guc_new {
    ($kind:ident { default: None }) => {
        GucSetting::<Option<CString>>::new(None)
    };
    ($kind:ident { default: Some($text:literal) $(, check: $check:ident)? }) => {
        GucSetting::<Option<CString>>::new(Some(cstr!($text)))
    };
    (bool { default: $value:literal }) => {
        GucSetting::<bool>::new($value)
    };
    ($kind:ident { default: $value:literal, $($range:tt)* }) => {
        GucSetting::<i32>::new($value)
    };
}

macro_rules! guc_define {
    ($id:ident, text { default: $d:expr, check: $check:ident }, $ctx:ident $(+ $flag:ident)*,
        $desc:literal) => {
        // SAFETY: the check hook is a #[pg_guard] function with PostgreSQL's signature.
        unsafe {
            GucRegistry::define_string_guc_with_hooks(
                cstr!("pg_bearer.", stringify!($id)), cstr!($desc), c"", &guc::$id,
                guc_context!($ctx), GucFlags::default() $(| guc_flag!($flag))*,
                Some($check), None, None,
            )
        }
    };
    ($id:ident, text { $($a:tt)* }, $ctx:ident $(+ $flag:ident)*, $desc:literal) => {
        GucRegistry::define_string_guc(
            cstr!("pg_bearer.", stringify!($id)), cstr!($desc), c"", &guc::$id,
            guc_context!($ctx), GucFlags::default() $(| guc_flag!($flag))*,
        )
    };
    ($id:ident, text_list { $($a:tt)* }, $ctx:ident $(+ $flag:ident)*, $desc:literal) => {
        guc_define!($id, text { $($a)* }, $ctx $(+ $flag)*, $desc)
    };
    ($id:ident, bool { $($a:tt)* }, $ctx:ident $(+ $flag:ident)*, $desc:literal) => {
        GucRegistry::define_bool_guc(
            cstr!("pg_bearer.", stringify!($id)), cstr!($desc), c"", &guc::$id,
            guc_context!($ctx), GucFlags::default() $(| guc_flag!($flag))*,
        )
    };
    ($id:ident, int { default: $d:literal, min: $min:expr, max: $max:expr, unit: $unit:literal },
        $ctx:ident $(+ $flag:ident)*, $desc:literal) => {
        GucRegistry::define_int_guc(
            cstr!("pg_bearer.", stringify!($id)), cstr!($desc), c"", &guc::$id, $min, $max,
            guc_context!($ctx), GucFlags::default() $(| guc_flag!($flag))*,
        )
    };
    ($id:ident, size { default: $d:literal, min: $min:expr, max: $max:expr, unit: B },
        $ctx:ident $(+ $flag:ident)*, $desc:literal) => {
        GucRegistry::define_int_guc(
            cstr!("pg_bearer.", stringify!($id)), cstr!($desc), c"", &guc::$id, $min, $max,
            guc_context!($ctx), GucFlags::UNIT_BYTE $(| guc_flag!($flag))*,
        )
    };
    ($id:ident, duration { default: $d:literal, min: $min:expr, max: $max:expr, unit: $unit:ident },
        $ctx:ident $(+ $flag:ident)*, $desc:literal) => {
        GucRegistry::define_int_guc(
            cstr!("pg_bearer.", stringify!($id)), cstr!($desc), c"", &guc::$id, $min, $max,
            guc_context!($ctx), guc_unit!($unit) $(| guc_flag!($flag))*,
        )
    };
}

macro_rules! guc_context {
    (sighup) => {
        GucContext::Sighup
    };
    (superuser) => {
        GucContext::Suset
    };
}

macro_rules! guc_flag {
    (superuser_only) => {
        GucFlags::SUPERUSER_ONLY
    };
}

macro_rules! guc_unit {
    (s) => {
        GucFlags::UNIT_S
    };
    (ms) => {
        GucFlags::UNIT_MS
    };
}

/// A per-issuer setting's value as `Defaults` holds it.
macro_rules! guc_read {
    (text, $guc:expr) => {
        text(&$guc)
    };
    (text_list, $guc:expr) => {
        split_list(&text(&$guc))
    };
    (bool, $guc:expr) => {
        $guc.get()
    };
    (int, $guc:expr) => {
        i64::from($guc.get())
    };
    (duration, $guc:expr) => {
        i64::from($guc.get())
    };
}

pg_bearer_core::pg_bearer_settings!(gucs);

pub(crate) fn register() {
    define_all();
    // SAFETY: MarkGUCPrefixReserved (utils/guc.h) only records the prefix and reports
    // placeholders already set under it; it is meant to be called from _PG_init.
    unsafe { pgrx::pg_sys::MarkGUCPrefixReserved(c"pg_bearer".as_ptr()) };
}

/// `pg_bearer.log_validation_time`.
pub(crate) fn log_validation_time() -> bool {
    guc::log_validation_time.get()
}

/// `pg_bearer.allow_http`; always `false` unless built with the Cargo feature `testing`.
fn allow_http() -> bool {
    #[cfg(feature = "testing")]
    {
        guc::allow_http.get()
    }
    #[cfg(not(feature = "testing"))]
    {
        false
    }
}

/// Whether `pg_bearer.test_fault` names `fault`. Always `false` unless the library was built
/// with the Cargo feature `testing` (the end-to-end suite's build; release builds never).
pub(crate) fn test_fault(fault: &str) -> bool {
    #[cfg(feature = "testing")]
    {
        text(&guc::test_fault) == fault
    }
    #[cfg(not(feature = "testing"))]
    {
        let _ = fault;
        false
    }
}

/// Check hook of `pg_bearer.session_claims`: refuses, when it is set, a value that
/// [`ClaimSelection::parse`] refuses, with its reason as the detail.
///
/// # Safety
/// Called by PostgreSQL's GUC machinery with `newval` pointing to the proposed value.
#[pgrx::pg_guard]
unsafe extern "C-unwind" fn check_session_claims(
    newval: *mut *mut std::ffi::c_char,
    _extra: *mut *mut std::ffi::c_void,
    _source: pgrx::pg_sys::GucSource::Type,
) -> bool {
    // SAFETY: newval is valid for this call; *newval is NULL or a NUL-terminated string.
    let value = unsafe { newval.as_ref().map(|v| *v) }.filter(|v| !v.is_null());
    // SAFETY: checked non-NULL just above, and NUL-terminated by the caller.
    let text = value.map(|v| unsafe { CStr::from_ptr(v) }.to_string_lossy().into_owned());
    match ClaimSelection::parse(text.as_deref().unwrap_or("")) {
        Ok(_) => true,
        Err(e) => {
            let detail = CString::new(e.to_string()).unwrap_or_default();
            // SAFETY: GUC_check_errdetail_string (utils/guc.h) takes a palloc'd string that
            // the GUC machinery reports and frees; pstrdup copies into the current context.
            unsafe {
                pgrx::pg_sys::GUC_check_errdetail_string = pgrx::pg_sys::pstrdup(detail.as_ptr());
            }
            false
        }
    }
}

/// How much of a token's claims the session keeps, from `pg_bearer.session_claims` and
/// `pg_bearer.session_claims_max_size`. The check hook has refused a bad selection; should one
/// still get here, no claim is kept rather than every claim.
fn claim_retention() -> ClaimRetention {
    ClaimRetention {
        selection: ClaimSelection::parse(&text(&guc::session_claims))
            .unwrap_or(ClaimSelection::Names(Default::default())),
        max_bytes: usize::try_from(unsigned(&guc::session_claims_max_size)).unwrap_or(0),
    }
}

fn text(setting: &GucSetting<Option<CString>>) -> String {
    setting
        .get()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// An integer setting whose declared range starts at 0 or more.
fn unsigned(setting: &GucSetting<i32>) -> u32 {
    u32::try_from(setting.get()).unwrap_or(0)
}

/// A duration setting declared in seconds.
fn seconds(setting: &GucSetting<i32>) -> Duration {
    Duration::from_secs(u64::from(unsigned(setting)))
}

/// A snapshot of the settings for one login.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// The per-issuer settings: the defaults for every issuer the issuers file does not
    /// override.
    pub issuer_defaults: Defaults,
    pub issuers_file: String,
    /// How providers are reached and their answers kept (`pg_bearer.http_timeout`,
    /// `pg_bearer.ca_file`, the cache settings; `pg_bearer.unknown_token_rate` and
    /// `pg_bearer.unknown_token_burst` are its `unknown_token_budget`).
    pub provider: ProviderSettings,
    /// `pg_bearer.session_claims` and `pg_bearer.session_claims_max_size`.
    pub claim_retention: ClaimRetention,
    /// `pg_bearer.session_expiry`.
    pub session_expiry: bool,
}

impl Settings {
    pub(crate) fn current() -> Settings {
        Settings {
            issuer_defaults: issuer_defaults(),
            issuers_file: text(&guc::issuers_file),
            provider: ProviderSettings {
                http_timeout: effective_http_timeout(guc::http_timeout.get()),
                ca_file: text(&guc::ca_file),
                allow_http: allow_http(),
                result_cache_ttl: seconds(&guc::result_cache_ttl),
                negative_cache_ttl: seconds(&guc::negative_cache_ttl),
                unknown_token_budget: pg_bearer_core::request_budget::BudgetPolicy {
                    rate: unsigned(&guc::unknown_token_rate),
                    burst: unsigned(&guc::unknown_token_burst),
                },
                cache_min: unsigned(&guc::jwks_cache_min),
                cache_max: unsigned(&guc::jwks_cache_max),
                cache_default: unsigned(&guc::jwks_cache_default),
                cache_grace: seconds(&guc::jwks_grace),
                unknown_kid_cooldown: seconds(&guc::unknown_kid_cooldown),
            },
            claim_retention: claim_retention(),
            session_expiry: guc::session_expiry.get(),
        }
    }
}

/// `pg_bearer.http_timeout`, kept below `authentication_timeout`: one login makes up to four
/// requests (two discovery URLs, the JWKS, then introspection), and it must end before the
/// server gives up on it, so each request gets at most a fifth of `authentication_timeout`.
fn effective_http_timeout(configured_ms: i32) -> Duration {
    // SAFETY: AuthenticationTimeout (postmaster/postmaster.h) is a plain int GUC variable of
    // the server, read on the backend's own thread.
    let auth_timeout_s = unsafe { pgrx::pg_sys::AuthenticationTimeout };
    let ceiling_ms = i64::from(auth_timeout_s.max(1)) * 1000 / 5;
    let ms = i64::from(configured_ms.max(100)).min(ceiling_ms.max(100));
    Duration::from_millis(u64::try_from(ms).unwrap_or(5_000))
}

#[cfg(any(test, feature = "pg_test"))]
#[pgrx::pg_schema]
mod tests {
    use pg_bearer_core::settings::{Context, GucDefault, Kind, SETTINGS};
    use pgrx::prelude::*;

    /// `cargo pgrx test` builds without the Cargo feature `testing`, as release builds are.
    #[cfg(not(feature = "testing"))]
    #[pg_test]
    fn a_build_without_the_testing_feature_has_no_test_only_settings() {
        let missing = |name: &str| {
            Spi::get_one::<String>(&format!("SELECT current_setting('{name}', true)"))
                .expect("current_setting")
        };
        assert_eq!(missing("pg_bearer.allow_http"), None);
        assert_eq!(missing("pg_bearer.test_fault"), None);
        // A real setting of the same library is there.
        assert_eq!(missing("pg_bearer.http_timeout").as_deref(), Some("5s"));
    }

    /// What PostgreSQL says about each setting is what the declaration says.
    #[pg_test]
    fn every_declared_setting_is_registered_as_declared() {
        for s in SETTINGS {
            let Some(guc) = s.guc else { continue };
            if guc.test_only && !cfg!(feature = "testing") {
                continue;
            }
            let row = Spi::get_one::<String>(&format!(
                "SELECT concat_ws('|', vartype, coalesce(boot_val, ''), coalesce(min_val, ''), \
                 coalesce(max_val, ''), coalesce(unit, ''), context, short_desc) \
                 FROM pg_settings WHERE name = 'pg_bearer.{}'",
                s.name
            ))
            .expect("pg_settings");
            let vartype = match s.kind {
                Kind::Bool => "bool",
                Kind::Int { .. } | Kind::Duration { .. } | Kind::Size { .. } => "integer",
                _ => "string",
            };
            let boot_val = match guc.default {
                GucDefault::Unset => String::new(),
                GucDefault::Text(t) => t.to_owned(),
                GucDefault::Bool(b) => if b { "on" } else { "off" }.to_owned(),
                GucDefault::Int(i) => i.to_string(),
            };
            let (min, max) = s
                .kind
                .range()
                .map_or((String::new(), String::new()), |(min, max)| {
                    (min.to_string(), max.to_string())
                });
            let unit = match s.kind {
                Kind::Duration { unit, .. } => unit.symbol(),
                Kind::Size { .. } => "B",
                _ => "",
            };
            let context = match guc.context {
                Context::Sighup => "sighup",
                Context::Superuser => "superuser",
            };
            let expected = [vartype, &boot_val, &min, &max, unit, context, s.description].join("|");
            assert_eq!(
                row.as_deref(),
                Some(expected.as_str()),
                "pg_bearer.{}",
                s.name
            );
        }
    }
}
