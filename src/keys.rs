//! An issuer's verification keys, from the shared cache or the provider: the glue between the
//! cache state machine (`pg_bearer_core::cache`), shared memory (`shmem`) and HTTPS (`http`).
//!
//! The lock is held only inside `SharedCache::with_slot` closures, which copy plain data;
//! every fetch happens between them.

use std::num::NonZeroI32;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pg_bearer_core::cache::{CachePolicy, LookupDecision, Need, RefreshOutcome, RefreshTicket};
use pg_bearer_core::discovery::{IssuerTarget, KeySource, ProviderMetadata};
use pg_bearer_core::freshness::{FreshnessBounds, ResponseCacheHeaders};
use pg_bearer_core::jwks::{JwksLimits, KeyFilter, KeySet};
use pgrx::pg_sys;

use crate::gucs::Settings;
use crate::http::{self, HttpPolicy, HttpResponse};
use crate::shmem::{Claim, SharedCache, JWKS_MAX, META_MAX};

/// Keys of one issuer, parsed for this login.
pub(crate) struct Keys {
    /// The keys the login asked for (see [`keys`]'s `filter`).
    pub set: KeySet,
    /// The cache generation the keys came from (for the unknown-`kid` rule).
    pub generation: u64,
    /// The stored discovery metadata (empty when keys come from a file or an explicit URL),
    /// parsed only by the logins that need it.
    meta: Vec<u8>,
}

impl Keys {
    /// The discovery metadata, when keys come from discovery (the introspection and userinfo
    /// endpoints). Stored bytes were checked when fetched, so a failure here means "no
    /// metadata", not a bad token.
    pub(crate) fn metadata(&self) -> Option<ProviderMetadata> {
        (!self.meta.is_empty())
            .then(|| ProviderMetadata::from_bytes(&self.meta).ok())
            .flatten()
    }
}

/// Why no keys could be had. `code()` is the stable log reason; `detail` is token-free.
#[derive(Debug)]
pub(crate) struct KeysError {
    pub code: &'static str,
    pub detail: String,
}

impl KeysError {
    pub(crate) fn new(code: &'static str, detail: impl Into<String>) -> Self {
        KeysError {
            code,
            detail: detail.into(),
        }
    }
}

/// How providers are reached under these settings (the CA file, plain HTTP). Part of every
/// shared-cache key: what was fetched one way is never used after a reload changes the way.
pub(crate) fn transport_tag(settings: &Settings) -> String {
    format!(
        "ca={}|http={}",
        settings.ca_file,
        u8::from(settings.allow_http)
    )
}

/// Milliseconds since the Unix epoch: the cache's clock, the same in every backend.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The cache policy the settings describe.
pub(crate) fn cache_policy(settings: &Settings) -> Result<CachePolicy, KeysError> {
    let mut policy = CachePolicy::default();
    policy.freshness = FreshnessBounds {
        floor_secs: settings.cache_min,
        ceiling_secs: settings.cache_max,
        default_secs: settings.cache_default,
    };
    policy.grace = settings.cache_grace;
    policy.unknown_kid_cooldown = settings.unknown_kid_cooldown;
    // A refresh is at most three requests (two discovery URLs, the JWKS); a waiter waits
    // less than one.
    policy.refresh_deadline = settings.http_timeout * 3 + Duration::from_secs(2);
    policy.refresh_wait = (settings.http_timeout)
        .min(Duration::from_secs(2))
        .max(policy.poll_interval);
    policy
        .check()
        .map_err(|e| KeysError::new("not_configured", format!("cache settings: {e}")))?;
    Ok(policy)
}

/// Keys for `target`, fetching (as the one refresher) or waiting (bounded) when the cache says
/// so. `need` is `Fresh` for a normal lookup, `KidMissing` after the cached keys lacked the
/// token's `kid`. `filter` says which keys to build: `Some(KeyFilter::Kid(kid))` for a token
/// with a `kid` (every login rebuilds its keys from the cached JWKS, so building only the ones
/// the token can use saves parsing, curve and ROCA checks and code of the others),
/// `Some(KeyFilter::All)` for a token without one, `None` when only the metadata is wanted.
pub(crate) fn keys(
    target: &IssuerTarget,
    key_source: &str,
    need: Need,
    settings: &Settings,
    filter: Option<KeyFilter<'_>>,
) -> Result<Keys, KeysError> {
    let policy = cache_policy(settings)?;
    let source = KeySource::parse(key_source, settings.allow_http)
        .map_err(|e| KeysError::new("not_configured", format!("key source: {e}")))?;
    let cache = SharedCache::attach();
    // Keys are cached per issuer, key source *and* transport: changing pg_bearer.jwks (or the
    // issuers file's jwks), the CA file or plain-HTTP permission takes effect at the next
    // login instead of when keys fetched the old way go stale.
    let slot_name = format!(
        "{}\n{key_source}\n{}",
        target.issuer(),
        transport_tag(settings)
    );
    if slot_name.len() > crate::shmem::ISSUER_MAX {
        return Err(KeysError::new(
            "not_configured",
            "issuer and key source are too long to cache",
        ));
    }
    // SAFETY: MyProcPid (miscadmin.h) is set at backend start and never changes.
    let pid = unsafe { pg_sys::MyProcPid };
    let me = NonZeroI32::new(pid).ok_or_else(|| KeysError::new("internal", "no backend PID"))?;
    let issuer = target.issuer();
    let waiting_since = now_ms();
    loop {
        let now = now_ms();
        let (decision, data, generation) = cache
            .with_slot(&slot_name, now, Claim::Yes, |slot| {
                let decision = slot.state.on_lookup(now, need, &policy, me);
                let data = matches!(
                    decision,
                    LookupDecision::UseCached | LookupDecision::UseStaleWhileRefreshing
                )
                .then(|| slot.data());
                (decision, data, slot.state.generation())
            })
            .ok_or_else(|| KeysError::new("cache_full", "no shared cache slot is free"))?;
        match decision {
            LookupDecision::UseCached | LookupDecision::UseStaleWhileRefreshing => {
                let (meta, jwks) = data.unwrap_or_default();
                if jwks.is_empty() {
                    return Err(KeysError::new("keys_unavailable", "no keys cached"));
                }
                return parse(meta, &jwks, generation, filter);
            }
            LookupDecision::Refresh(ticket) => {
                // If the backend dies mid-fetch (terminated, authentication timeout), release
                // the refresh at exit instead of leaving others waiting for its deadline.
                let _pending = PendingRefresh::arm(&slot_name, ticket, policy);
                // A fetch that unwinds (a bug's panic, or an ERROR turned into one) releases
                // the refresh before the unwinding goes on, so the next login may refresh at
                // once instead of waiting for this attempt's deadline.
                let fetched =
                    match catch_unwind(AssertUnwindSafe(|| fetch(target, &source, settings))) {
                        Ok(fetched) => fetched,
                        Err(payload) => {
                            let _ = cache.with_slot(&slot_name, now_ms(), Claim::No, |slot| {
                                slot.state.on_refresh_abandoned(ticket)
                            });
                            resume_unwind(payload);
                        }
                    };
                let now = now_ms();
                let recorded = cache.with_slot(&slot_name, now, Claim::No, |slot| match &fetched {
                    Ok(f) => match slot.state.on_refresh_success(ticket, f.fresh_for, &policy) {
                        RefreshOutcome::Recorded { generation } => {
                            slot.store(&f.meta, &f.jwks);
                            Some(generation)
                        }
                        RefreshOutcome::NotOwner => None,
                    },
                    Err(_) => {
                        let _ = slot.state.on_refresh_failure(ticket, now, &policy);
                        None
                    }
                });
                match fetched {
                    Ok(f) => {
                        return parse(f.meta, &f.jwks, recorded.flatten().unwrap_or(0), filter)
                    }
                    Err(e) => {
                        crate::log::warning(&format!(
                            "key refresh failed: reason={} issuer=\"{}\" detail=\"{}\"",
                            e.code,
                            crate::log::printable(issuer),
                            crate::log::printable(&e.detail)
                        ));
                        // Stale keys within grace may still be usable: ask the cache again.
                        // The failure put the slot in backoff, so this cannot loop on fetches.
                        if matches!(need, Need::KidMissing { .. }) {
                            return Err(e);
                        }
                        // Read-only: whether the held keys are still within grace.
                        let again = cache.with_slot(&slot_name, now_ms(), Claim::No, |slot| {
                            let usable = slot.state.is_usable(now_ms(), &policy);
                            (usable.then(|| slot.data()), slot.state.generation())
                        });
                        return match again {
                            Some((Some((meta, jwks)), generation)) if !jwks.is_empty() => {
                                parse(meta, &jwks, generation, filter)
                            }
                            _ => Err(e),
                        };
                    }
                }
            }
            LookupDecision::WaitForRefresh { owner_deadline } => {
                match policy.wait_step_ms(waiting_since, now_ms(), owner_deadline) {
                    Some(ms) => sleep_interruptibly(ms),
                    None => {
                        return Err(KeysError::new(
                            "keys_unavailable",
                            "timed out waiting for another backend's key refresh",
                        ))
                    }
                }
            }
            LookupDecision::Unavailable { .. } => {
                return Err(KeysError::new(
                    "keys_unavailable",
                    "provider unreachable recently; retrying after backoff",
                ))
            }
        }
    }
}

/// The refresh this backend owns while it fetches, released by [`release_at_exit`] if the
/// backend exits before recording it. Disarmed (cleared) when dropped.
struct PendingRefresh;

static PENDING: std::sync::Mutex<Option<(String, RefreshTicket, CachePolicy)>> =
    std::sync::Mutex::new(None);

impl PendingRefresh {
    fn arm(slot_name: &str, ticket: RefreshTicket, policy: CachePolicy) -> PendingRefresh {
        static REGISTERED: std::sync::atomic::AtomicBool =
            std::sync::atomic::AtomicBool::new(false);
        if !REGISTERED.swap(true, std::sync::atomic::Ordering::Relaxed) {
            // SAFETY: before_shmem_exit (storage/ipc.h) only appends to the backend's exit
            // callback list; release_at_exit is guarded and never raises an error.
            unsafe {
                pg_sys::before_shmem_exit(Some(release_at_exit), pg_sys::Datum::from(0usize))
            };
        }
        if let Ok(mut pending) = PENDING.lock() {
            *pending = Some((slot_name.to_owned(), ticket, policy));
        }
        PendingRefresh
    }
}

impl Drop for PendingRefresh {
    fn drop(&mut self) {
        if let Ok(mut pending) = PENDING.lock() {
            *pending = None;
        }
    }
}

/// Exit callback: records an abandoned refresh as failed so that ownership is released now.
#[pgrx::pg_guard]
unsafe extern "C-unwind" fn release_at_exit(_code: std::ffi::c_int, _arg: pg_sys::Datum) {
    let pending = PENDING.lock().ok().and_then(|mut p| p.take());
    if let Some((slot_name, ticket, policy)) = pending {
        let now = now_ms();
        let _ = SharedCache::attach().with_slot(&slot_name, now, Claim::No, |slot| {
            let _ = slot.state.on_refresh_failure(ticket, now, &policy);
        });
    }
}

fn parse(
    meta: Vec<u8>,
    jwks: &[u8],
    generation: u64,
    filter: Option<KeyFilter<'_>>,
) -> Result<Keys, KeysError> {
    let set = match filter {
        Some(filter) => KeySet::from_jwks_json_for(jwks, &JwksLimits::default(), filter)
            .map_err(|e| KeysError::new("bad_jwks", e.code()))?,
        // Only the metadata is wanted; the stored JWKS was checked when it was fetched.
        None => KeySet::default(),
    };
    Ok(Keys {
        set,
        generation,
        meta,
    })
}

/// What one successful refresh brings back.
struct Fetched {
    meta: Vec<u8>,
    jwks: Vec<u8>,
    fresh_for: u32,
}

pub(crate) fn http_policy(settings: &Settings, max_body: usize) -> HttpPolicy {
    HttpPolicy {
        timeout: settings.http_timeout,
        ca_file: Some(settings.ca_file.clone()).filter(|s| !s.is_empty()),
        allow_http: settings.allow_http,
        max_body,
    }
}

/// Discovery (unless the keys' location is configured) and the JWKS. Checks everything before
/// anything is cached: the metadata's issuer, the JWKS's shape and size.
fn fetch(
    target: &IssuerTarget,
    source: &KeySource,
    settings: &Settings,
) -> Result<Fetched, KeysError> {
    let bounds = FreshnessBounds {
        floor_secs: settings.cache_min,
        ceiling_secs: settings.cache_max,
        default_secs: settings.cache_default,
    };
    if crate::gucs::test_fault("panic_in_key_refresh") {
        panic!("injected fault: panic in key refresh");
    }
    let (meta, jwks_uri) = match source {
        KeySource::StaticFile(path) => {
            let jwks = crate::files::read_capped(path, JWKS_MAX)
                .map_err(|e| KeysError::new("jwks_unavailable", format!("{path}: {e}")))?;
            check_jwks(&jwks)?;
            // A file is configuration: re-read it at the cache floor.
            return Ok(Fetched {
                meta: Vec::new(),
                jwks,
                fresh_for: bounds.floor_secs,
            });
        }
        KeySource::JwksUri(uri) => (Vec::new(), uri.clone()),
        KeySource::Discovery => {
            let metadata = discover(target, settings)?;
            let uri = metadata
                .require_jwks_uri()
                .map_err(|e| KeysError::new("discovery_failed", e.to_string()))?
                .to_owned();
            (metadata.to_bytes(), uri)
        }
    };
    let response = json_get(&jwks_uri, settings, JWKS_MAX, "jwks_unavailable")?;
    check_jwks(&response.body)?;
    let received = now_ms() / 1000;
    let fresh_for = ResponseCacheHeaders {
        cache_control: response.cache_control.as_deref(),
        expires: response.expires.as_deref(),
        date: response.date.as_deref(),
        age: response.age.as_deref(),
    }
    .lifetime_secs(received, &bounds);
    if meta.len() > META_MAX {
        return Err(KeysError::new(
            "discovery_failed",
            "metadata too large to cache",
        ));
    }
    Ok(Fetched {
        meta,
        jwks: response.body,
        fresh_for,
    })
}

fn check_jwks(jwks: &[u8]) -> Result<(), KeysError> {
    if jwks.len() > JWKS_MAX {
        return Err(KeysError::new("bad_jwks", "too_large"));
    }
    let set = KeySet::from_jwks_json(jwks, &JwksLimits::default())
        .map_err(|e| KeysError::new("bad_jwks", e.code()))?;
    if set.keys().is_empty() {
        return Err(KeysError::new("bad_jwks", "no usable signing key"));
    }
    Ok(())
}

/// Tries each discovery URL in turn; the first document whose `issuer` matches wins.
fn discover(target: &IssuerTarget, settings: &Settings) -> Result<ProviderMetadata, KeysError> {
    let mut last = KeysError::new("discovery_failed", "no discovery URL");
    // The next URL is tried only when one is not found: any other failure (an issuer
    // mismatch above all) is final.
    for url in target.discovery_urls() {
        match json_get(url, settings, 256 * 1024, "discovery_failed") {
            Ok(response) => {
                return ProviderMetadata::from_json(
                    &response.body,
                    target.issuer(),
                    settings.allow_http,
                )
                .map_err(|e| KeysError::new("discovery_failed", format!("{url}: {e}")));
            }
            Err(e) if e.detail == "HTTP 404" => {
                last = KeysError::new(e.code, format!("{url}: {}", e.detail))
            }
            Err(e) => return Err(KeysError::new(e.code, format!("{url}: {}", e.detail))),
        }
    }
    Err(last)
}

/// GET a JSON document: 200 with a JSON media type, or an error coded `code`.
fn json_get(
    url: &str,
    settings: &Settings,
    max_body: usize,
    code: &'static str,
) -> Result<HttpResponse, KeysError> {
    let response = http::get_json(url, &http_policy(settings, max_body))
        .map_err(|e| KeysError::new(code, e.to_string()))?;
    require_json_200(response, code)
}

/// The response if it is `200` with a JSON media type, else an error coded `code`.
pub(crate) fn require_json_200(
    response: HttpResponse,
    code: &'static str,
) -> Result<HttpResponse, KeysError> {
    if response.status != 200 {
        return Err(KeysError::new(code, format!("HTTP {}", response.status)));
    }
    let json = response
        .content_type
        .as_deref()
        .map(|ct| {
            let media = ct
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            media == "application/json"
                || (media.starts_with("application/") && media.ends_with("+json"))
        })
        .unwrap_or(false);
    if !json {
        return Err(KeysError::new(code, "response is not JSON"));
    }
    Ok(response)
}

/// Sleeps on the backend's latch, waking for interrupts (terminate, authentication timeout)
/// and postmaster death.
fn sleep_interruptibly(ms: u32) {
    // SAFETY: WaitLatch/ResetLatch (storage/latch.h) on MyLatch, the backend's own latch, set
    // up before authentication; WL_EXIT_ON_PM_DEATH exits if the postmaster dies.
    unsafe {
        pg_sys::WaitLatch(
            pg_sys::MyLatch,
            (pg_sys::WL_LATCH_SET | pg_sys::WL_TIMEOUT | pg_sys::WL_EXIT_ON_PM_DEATH) as i32,
            i64::from(ms.max(1)),
            pg_sys::PG_WAIT_EXTENSION,
        );
        pg_sys::ResetLatch(pg_sys::MyLatch);
    }
    check_for_interrupts();
}

/// PostgreSQL's CHECK_FOR_INTERRUPTS: during authentication a pending terminate or
/// authentication timeout ends the backend here (FATAL, which exits the process rather than
/// unwinding).
fn check_for_interrupts() {
    pgrx::pg_sys::check_for_interrupts!();
}
