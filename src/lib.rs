//! pg_bearer: an OAuth 2.0 bearer-token validator module for PostgreSQL 18.
//!
//! This crate is the PostgreSQL glue only. The decisions (token, keys, claims, scopes,
//! identity, cache state) live in the pure-Rust `pg_bearer_core` crate; talking to providers
//! and the caches' protocols in `pg_bearer_provider`, which the PAM module shares. What is
//! PostgreSQL's here: the callbacks, the settings, the DSM stores behind the caches
//! (`shmem`, `stores`), the log, the session's claims and the SQL surface.
//!
//! Process model: PostgreSQL loads this library inside each backend while it authenticates a
//! client (`oauth_validator_libraries`), so `_PG_init` runs once per connection unless the
//! library is also in `shared_preload_libraries`. Keep load-time work small: everything else is
//! initialised lazily on the validate path.
#![deny(unsafe_op_in_unsafe_fn)]

use pgrx::prelude::*;

mod dba;
mod ffi;
mod gucs;
mod hba;
mod log;
mod session;
mod shmem;
mod stores;
mod validator;

pgrx::pg_module_magic!(name, version);

// The SQL surface (CREATE EXTENSION pg_bearer) lives in the fixed schema pg_bearer; logins
// work without the extension. Its objects name the schema (`schema = "pg_bearer"`); the module
// below only declares it. sql/bootstrap.sql says why creating it takes a superuser setting.
pgrx::extension_sql_file!(
    "../sql/bootstrap.sql",
    name = "reserved_schema_name",
    bootstrap
);

#[pg_schema]
mod pg_bearer {}

pgrx::extension_sql_file!(
    "../sql/schema_created.sql",
    name = "schema_created",
    requires = [pg_bearer]
);
pgrx::extension_sql_file!(
    "../sql/session.sql",
    name = "session_functions",
    requires = [
        session::claims,
        session::claim,
        session::scopes,
        session::issuer,
        session::token_expires_at
    ],
);

pgrx::extension_sql_file!(
    "../sql/dba.sql",
    name = "dba_surface",
    requires = [
        dba::key_cache_rows,
        dba::result_cache_rows,
        dba::login_stats_rows,
        dba::provider_stats_rows,
        dba::refresh_keys,
        dba::forget_results,
        dba::reset_stats
    ],
);

/// Registers the `pg_bearer.*` settings and reserves the prefix, so a misspelt setting in
/// postgresql.conf is reported instead of silently ignored.
#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    gucs::register();
}

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use pgrx::prelude::*;

    #[pg_test]
    fn settings_are_registered_with_their_defaults() {
        let audience = Spi::get_one::<String>("SELECT current_setting('pg_bearer.audience')");
        assert_eq!(audience, Ok(Some(String::new())));
    }

    #[pg_test]
    #[should_panic(expected = "invalid configuration parameter name")]
    fn misspelt_settings_under_the_prefix_are_refused() {
        Spi::run("SET pg_bearer.audiense = 'x'").unwrap();
    }
}

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec!["shared_preload_libraries = 'pg_bearer'"]
    }
}
