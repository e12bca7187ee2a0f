//! An issuer's verification keys, from the shared cache or the provider: the glue between the
//! cache state machine (`pg_bearer_core::cache`), the module's [`KeyStore`](crate::KeyStore)
//! (a DSM segment, or files) and the fetches (`fetch`).
//!
//! The store is locked only inside `with_slot` closures, which copy plain data; every fetch
//! happens between them.

use std::num::NonZeroI32;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::time::Duration;

use pg_bearer_core::cache::{CachePolicy, LookupDecision, Need, RefreshOutcome};
use pg_bearer_core::discovery::{IssuerTarget, KeySource, ProviderMetadata};
use pg_bearer_core::freshness::FreshnessBounds;
use pg_bearer_core::jwks::{JwksLimits, KeyFilter, KeySet};
use pg_bearer_core::reason::Reason;

use crate::clock::now_ms;
use crate::fetch::fetch;
use crate::refusal::Failure;
use crate::{with_slot, Provider, ProviderSettings};

/// Keys of one issuer, parsed for this login.
pub struct Keys {
    /// The keys the login asked for (see [`keys`]'s `filter`).
    pub set: KeySet,
    /// The cache generation the keys came from (for the unknown-`kid` rule).
    pub generation: u64,
    /// The stored discovery metadata (empty when keys come from a file or an explicit URL),
    /// parsed only by the logins that need it.
    meta: Vec<u8>,
    /// For [`Need::Forced`]: whether the keys come from a fetch made for the request (or one
    /// it joined), not from before it.
    pub refreshed: bool,
}

impl Keys {
    /// The discovery metadata, when keys come from discovery (the introspection and userinfo
    /// endpoints). Stored bytes were checked when fetched, so a failure here means "no
    /// metadata", not a bad token.
    pub fn metadata(&self) -> Option<ProviderMetadata> {
        (!self.meta.is_empty())
            .then(|| ProviderMetadata::from_bytes(&self.meta).ok())
            .flatten()
    }
}

/// The cache policy the settings describe.
pub fn cache_policy(settings: &ProviderSettings) -> Result<CachePolicy, Failure> {
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
        .map_err(|e| Failure::new(Reason::NotConfigured, format!("cache settings: {e}")))?;
    Ok(policy)
}

/// Keys for `target`, fetching (as the one refresher) or waiting (bounded) when the cache says
/// so. `need` is `Fresh` for a normal lookup, `KidMissing` after the cached keys lacked the
/// token's `kid`. `filter` says which keys to build: `Some(KeyFilter::Kid(kid))` for a token
/// with a `kid` (every login rebuilds its keys from the cached JWKS, so building only the ones
/// the token can use saves parsing, curve and ROCA checks and code of the others),
/// `Some(KeyFilter::All)` for a token without one, `None` when only the metadata is wanted.
pub fn keys(
    target: &IssuerTarget,
    key_source: &str,
    need: Need,
    provider: Provider<'_>,
    filter: Option<KeyFilter<'_>>,
) -> Result<Keys, Failure> {
    let settings = provider.settings;
    let policy = cache_policy(settings)?;
    let source = KeySource::parse(key_source, settings.allow_http)
        .map_err(|e| Failure::new(Reason::NotConfigured, format!("key source: {e}")))?;
    let cache = provider.keys;
    // Keys are cached per issuer, key source *and* transport: changing pg_bearer.jwks (or the
    // issuers file's jwks), the CA file or plain-HTTP permission takes effect at the next
    // login instead of when keys fetched the old way go stale.
    let slot_name = format!(
        "{}\n{key_source}\n{}",
        target.issuer(),
        settings.transport_tag()
    );
    if slot_name.len() > cache.max_name_len() {
        return Err(Failure::new(
            Reason::NotConfigured,
            "issuer and key source are too long to cache",
        ));
    }
    // Refresh ownership is by process: every login is its own backend process.
    let me = i32::try_from(std::process::id())
        .ok()
        .and_then(NonZeroI32::new)
        .ok_or_else(|| Failure::new(Reason::Internal, "no process ID"))?;
    let issuer = target.issuer();
    let waiting_since = now_ms();
    let mut need = need;
    loop {
        let (decision, data, generation, started, fetched_at) =
            with_slot(cache, &slot_name, now_ms(), true, |slot| {
                // The clock is read under the lock: a time read before it could be earlier
                // than a grant made meanwhile by the process that held the lock, and a grant
                // in the future reads as a clock that stepped back, so the lookup would take
                // the refresh over and fetch a second time (seen: 2 in 100 runs of
                // jwt.rs's concurrent first logins on a loaded machine).
                let now = now_ms();
                // A refresh whose owner died (killed at authentication_timeout, say) without
                // recording anything is released, instead of leaving every login to
                // wait for its deadline.
                if let Some(owner) = slot.state().refresh_owner() {
                    if owner != me && !provider.host.owner_alive(owner) {
                        let _ = slot.state().on_owner_gone(owner);
                    }
                }
                let decision = slot.state().on_lookup(now, need, &policy, me);
                let data = matches!(
                    decision,
                    LookupDecision::UseCached | LookupDecision::UseStaleWhileRefreshing
                )
                .then(|| slot.data());
                let state = slot.state();
                (
                    decision,
                    data,
                    state.generation(),
                    state.refresh_started_at(),
                    state.fetched_at(),
                )
            })
            .ok_or_else(|| Failure::new(Reason::CacheFull, "no shared cache slot is free"))?;
        match decision {
            LookupDecision::UseCached | LookupDecision::UseStaleWhileRefreshing => {
                let (meta, jwks) = data.unwrap_or_default();
                if jwks.is_empty() {
                    return Err(Failure::new(Reason::KeysUnavailable, "no keys cached"));
                }
                let mut keys = parse(meta, &jwks, generation, filter)?;
                keys.refreshed = matches!(need, Need::Forced { since } if fetched_at >= since);
                return Ok(keys);
            }
            LookupDecision::Refresh(ticket) => {
                // If the backend dies mid-fetch (terminated, authentication timeout), the host
                // may release the refresh at exit instead of leaving others waiting for its
                // deadline.
                provider.host.refresh_started(&slot_name, ticket, &policy);
                let _pending = RefreshFinished(provider);
                // A fetch that unwinds (a bug's panic, or an ERROR turned into one) releases
                // the refresh before the unwinding goes on, so the next login may refresh at
                // once instead of waiting for this attempt's deadline.
                let fetched =
                    match catch_unwind(AssertUnwindSafe(|| fetch(target, &source, provider))) {
                        Ok(fetched) => fetched,
                        Err(payload) => {
                            let _ = with_slot(cache, &slot_name, now_ms(), false, |slot| {
                                slot.state().on_refresh_abandoned(ticket)
                            });
                            resume_unwind(payload);
                        }
                    };
                let now = now_ms();
                let recorded = with_slot(cache, &slot_name, now, false, |slot| match &fetched {
                    Ok(f) => match slot
                        .state()
                        .on_refresh_success(ticket, f.fresh_for, &policy)
                    {
                        RefreshOutcome::Recorded { generation } => {
                            slot.store(&f.meta, &f.jwks);
                            slot.set_error(None);
                            Some(generation)
                        }
                        RefreshOutcome::NotOwner => None,
                    },
                    Err(e) => {
                        if let RefreshOutcome::Recorded { .. } =
                            slot.state().on_refresh_failure(ticket, now, &policy)
                        {
                            slot.set_error(Some(&format!("{}: {}", e.reason, e.detail)));
                        }
                        None
                    }
                });
                match fetched {
                    Ok(f) => {
                        let generation = recorded.flatten().unwrap_or(0);
                        let mut keys = parse(f.meta, &f.jwks, generation, filter)?;
                        keys.refreshed = true;
                        return Ok(keys);
                    }
                    Err(e) => {
                        provider.host.warning(&format!(
                            "key refresh failed: reason={} issuer=\"{}\" detail=\"{}\"",
                            e.reason,
                            crate::printable(issuer),
                            crate::printable(&e.detail)
                        ));
                        // Stale keys within grace may still be usable: ask the cache again.
                        // The failure put the slot in backoff, so this cannot loop on fetches.
                        if !matches!(need, Need::Fresh) {
                            return Err(e);
                        }
                        // Read-only: whether the held keys are still within grace.
                        let again = with_slot(cache, &slot_name, now_ms(), false, |slot| {
                            let usable = slot.state().is_usable(now_ms(), &policy);
                            (usable.then(|| slot.data()), slot.state().generation())
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
                // A DBA's refresh joins the one in flight: its answer answers both.
                if let Need::Forced { since } = need {
                    need = Need::Forced {
                        since: since.min(started),
                    };
                }
                match policy.wait_step_ms(waiting_since, now_ms(), owner_deadline) {
                    Some(ms) => provider.host.sleep_ms(ms),
                    None => {
                        return Err(Failure::new(
                            Reason::KeysUnavailable,
                            "timed out waiting for another backend's key refresh",
                        ))
                    }
                }
            }
            LookupDecision::Unavailable { .. } => {
                return Err(Failure::new(
                    Reason::KeysUnavailable,
                    "provider unreachable recently; retrying after backoff",
                ))
            }
        }
    }
}

/// Fetches `target`'s keys now (`pg_bearer.refresh_keys`), or joins a fetch in flight: callers
/// that arrive together cause one request. `Ok(true)` when the cache now holds keys from that
/// fetch; `Ok(false)` when it failed and older keys stay in use (the slot's last error says
/// why).
pub fn refresh(
    target: &IssuerTarget,
    key_source: &str,
    provider: Provider<'_>,
) -> Result<bool, Failure> {
    let need = Need::Forced { since: now_ms() };
    keys(target, key_source, need, provider, None).map(|k| k.refreshed)
}

/// Tells the host, however the fetch ends, that this process no longer owns the refresh.
struct RefreshFinished<'a>(Provider<'a>);

impl Drop for RefreshFinished<'_> {
    fn drop(&mut self) {
        self.0.host.refresh_finished();
    }
}

fn parse(
    meta: Vec<u8>,
    jwks: &[u8],
    generation: u64,
    filter: Option<KeyFilter<'_>>,
) -> Result<Keys, Failure> {
    let set = match filter {
        Some(filter) => KeySet::from_jwks_json_for(jwks, &JwksLimits::default(), filter)
            .map_err(|e| Failure::new(Reason::BadJwks, e.code()))?,
        // Only the metadata is wanted; the stored JWKS was checked when it was fetched.
        None => KeySet::default(),
    };
    Ok(Keys {
        set,
        generation,
        meta,
        refreshed: false,
    })
}
