//! The DBA's SQL surface: what the shared caches and counters hold (`pg_bearer.key_cache`,
//! `result_cache`, `login_stats`, `provider_stats`, views over the set-returning functions
//! here) and the three actions (`refresh_keys`, `forget_results`, `reset_stats`).
//!
//! sql/dba.sql revokes all of it from PUBLIC and grants the views and `refresh_keys` to
//! `pg_monitor`. The views read the DSM-registry segments, which exist once any backend has
//! used them: without `shared_preload_libraries` a view queried before the first login since
//! the server started shows nothing. Nothing here shows any part of a token: the result cache
//! keeps a hash of the token, and shows its first bytes.

use pgrx::datum::TimestampWithTimeZone;
use pgrx::prelude::*;

use pg_bearer_core::discovery::{IssuerTarget, ProviderMetadata};
use pg_bearer_core::jwks::{JwksLimits, KeySet};
use pg_bearer_core::reason::Reason;
use pg_bearer_core::result_cache;

use crate::gucs::Settings;
use crate::shmem::{ResultCache, SharedCache};

/// Milliseconds since the Unix epoch as `timestamptz`; `None` for 0 (never).
fn timestamp(ms: i64) -> Option<TimestampWithTimeZone> {
    const UNIX_TO_PG_EPOCH_MS: i64 = 946_684_800_000;
    if ms <= 0 {
        return None;
    }
    TimestampWithTimeZone::try_from((ms - UNIX_TO_PG_EPOCH_MS).checked_mul(1000)?).ok()
}

type KeyRow = (
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<TimestampWithTimeZone>,
    Option<TimestampWithTimeZone>,
    Option<String>,
    Option<String>,
);

/// One row per cached key of every issuer in the key cache, most recently used issuer first;
/// an issuer with no usable keys (its fetches failed) has one row with no key.
// pgrx reads the column names from `name!` in the signature itself, so the type cannot be an
// alias.
#[allow(clippy::type_complexity)]
#[pg_extern(volatile, parallel_safe, schema = "pg_bearer")]
fn key_cache_rows() -> TableIterator<
    'static,
    (
        name!(issuer, String),
        name!(kid, Option<String>),
        name!(kty, Option<String>),
        name!(alg, Option<String>),
        name!(fetched_at, Option<TimestampWithTimeZone>),
        name!(expires_at, Option<TimestampWithTimeZone>),
        name!(source, Option<String>),
        name!(last_error, Option<String>),
    ),
> {
    let mut rows: Vec<KeyRow> = Vec::new();
    for slot in SharedCache::attach().slots() {
        // The slot's name is the issuer, the configured key source and the transport.
        let mut parts = slot.name.splitn(3, '\n');
        let issuer = parts.next().unwrap_or_default().to_owned();
        let configured = parts.next().unwrap_or_default();
        let source = if configured.is_empty() {
            ProviderMetadata::from_bytes(&slot.meta)
                .ok()
                .and_then(|m| m.require_jwks_uri().ok().map(str::to_owned))
        } else {
            Some(configured.to_owned())
        };
        let fetched_at = slot
            .state
            .has_data()
            .then(|| timestamp(slot.state.fetched_at()))
            .flatten();
        let expires_at = slot
            .state
            .has_data()
            .then(|| timestamp(slot.state.fresh_until()))
            .flatten();
        // Stored JWKS were checked when fetched.
        let keys = KeySet::from_jwks_json(&slot.jwks, &JwksLimits::default()).unwrap_or_default();
        if keys.keys().is_empty() {
            rows.push((
                issuer,
                None,
                None,
                None,
                fetched_at,
                expires_at,
                source,
                slot.last_error,
            ));
            continue;
        }
        for key in keys.keys() {
            rows.push((
                issuer.clone(),
                key.kid().map(str::to_owned),
                Some(key.family().kty().to_owned()),
                key.alg().map(|a| format!("{a:?}")),
                fetched_at,
                expires_at,
                source.clone(),
                slot.last_error.clone(),
            ));
        }
    }
    TableIterator::new(rows)
}

/// The live entries of the introspection and userinfo result cache, soonest to expire first.
#[pg_extern(volatile, parallel_safe, schema = "pg_bearer")]
fn result_cache_rows() -> TableIterator<
    'static,
    (
        name!(issuer, String),
        name!(kind, String),
        name!(active, bool),
        name!(expires_at, Option<TimestampWithTimeZone>),
        name!(token_sha256_prefix, String),
    ),
> {
    let now = pg_bearer_provider::clock::now_ms();
    // Copies under the lock; the rows are built after it is released.
    let views = ResultCache::attach().with_entries(|entries| result_cache::describe(entries, now));
    TableIterator::new(views.into_iter().map(|v| {
        (
            v.issuer,
            v.kind.to_owned(),
            v.active,
            timestamp(v.expires_at_ms),
            v.token_hash_prefix,
        )
    }))
}

/// Logins since the server started (or `reset_stats()`), by issuer, outcome and reason.
#[pg_extern(volatile, parallel_safe, schema = "pg_bearer")]
fn login_stats_rows() -> TableIterator<
    'static,
    (
        name!(issuer, Option<String>),
        name!(outcome, String),
        name!(reason, Option<String>),
        name!(logins, i64),
    ),
> {
    let rows = crate::shmem::stats().logins();
    TableIterator::new(rows.into_iter().map(|r| {
        (
            r.issuer,
            r.outcome.to_owned(),
            r.reason.map(str::to_owned),
            i64::try_from(r.logins).unwrap_or(i64::MAX),
        )
    }))
}

/// Requests to providers since the server started (or `reset_stats()`), by issuer and kind.
#[pg_extern(volatile, parallel_safe, schema = "pg_bearer")]
fn provider_stats_rows() -> TableIterator<
    'static,
    (
        name!(issuer, Option<String>),
        name!(kind, String),
        name!(requests, i64),
        name!(failures, i64),
    ),
> {
    let rows = crate::shmem::stats().requests();
    TableIterator::new(rows.into_iter().map(|r| {
        (
            r.issuer,
            r.kind.to_owned(),
            i64::try_from(r.requests).unwrap_or(i64::MAX),
            i64::try_from(r.failures).unwrap_or(i64::MAX),
        )
    }))
}

/// Fetches `issuer`'s keys now, with the key source and transport the settings (and the issuers
/// file) give it, and caches them for every backend. Calls that arrive while a fetch is in
/// flight wait for it and share its answer. `true` when the cache holds keys from that fetch;
/// `false`, with a WARNING saying why, when it failed (keys held before stay in use within
/// their grace). An issuer that is not a valid issuer URL, or a configuration that does not
/// load, is an ERROR.
#[pg_extern(volatile, parallel_unsafe, schema = "pg_bearer")]
fn refresh_keys(issuer: &str) -> bool {
    let settings = Settings::current();
    let target = IssuerTarget::from_hba(issuer, settings.provider.allow_http)
        .unwrap_or_else(|e| error!("pg_bearer.refresh_keys: invalid issuer: {e}"));
    let config = crate::validator::issuer_config(&settings, target.issuer())
        .unwrap_or_else(|e| error!("pg_bearer.refresh_keys: {e}"));
    let refreshed = crate::stores::with_provider(&settings.provider, |provider| {
        pg_bearer_provider::keys::refresh(&target, &config.key_source, provider)
    });
    match refreshed {
        Ok(true) => true,
        // Joined another backend's fetch, which failed.
        Ok(false) => {
            warning!(
                "pg_bearer.refresh_keys: no new keys for \"{}\": the fetch failed (last_error in pg_bearer.key_cache says why)",
                crate::log::printable(target.issuer())
            );
            false
        }
        Err(e) if e.reason == Reason::NotConfigured => {
            error!("pg_bearer.refresh_keys: {}", e.detail)
        }
        Err(e) => {
            warning!(
                "pg_bearer.refresh_keys: no new keys for \"{}\": reason={} detail=\"{}\"",
                crate::log::printable(target.issuer()),
                e.reason,
                crate::log::printable(&e.detail)
            );
            false
        }
    }
}

/// Empties the introspection and userinfo result cache: the next login with each opaque token
/// asks the provider again. Returns how many live entries were dropped.
#[pg_extern(volatile, parallel_unsafe, schema = "pg_bearer")]
fn forget_results() -> i64 {
    let now = pg_bearer_provider::clock::now_ms();
    let dropped =
        ResultCache::attach().with_entries(|entries| result_cache::forget_all(entries, now));
    i64::try_from(dropped).unwrap_or(i64::MAX)
}

/// Zeroes `login_stats` and `provider_stats`.
#[pg_extern(volatile, parallel_unsafe, schema = "pg_bearer")]
fn reset_stats() {
    crate::shmem::stats().reset();
}
