//! The `pg_bearer.*` settings. Statics stay private; the rest of the crate reads them through
//! typed getters. All are `SIGHUP` (postgresql.conf, `pg_reload_conf()`): a backend reads them
//! when it authenticates, so a reload applies to the next login.

use pgrx::guc::{GucContext, GucFlags, GucRegistry, GucSetting};
use std::ffi::CString;

static AUDIENCE: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);

pub(crate) fn register() {
    GucRegistry::define_string_guc(
        c"pg_bearer.audience",
        c"Comma-separated audiences this server accepts; a token must carry one of them.",
        c"Unset (the default) rejects every token: the module is then not configured.",
        &AUDIENCE,
        GucContext::Sighup,
        GucFlags::default(),
    );
    // SAFETY: MarkGUCPrefixReserved (utils/guc.h) only records the prefix and reports
    // placeholders already set under it; it is meant to be called from _PG_init.
    unsafe { pgrx::pg_sys::MarkGUCPrefixReserved(c"pg_bearer".as_ptr()) };
}

/// `pg_bearer.audience` split on commas, trimmed, empty items dropped. Defaults to none.
pub(crate) fn audiences() -> Vec<String> {
    AUDIENCE
        .get()
        .map(|s| {
            s.to_string_lossy()
                .split(',')
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}
