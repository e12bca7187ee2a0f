//! PostgreSQL's side of `pg_bearer_provider`'s traits: the DSM segments of `shmem` as the key
//! and result stores, and the backend as the host (its latch for waiting, its interrupts served
//! while a request is in flight, the server log, the DBA counters).

use std::ffi::c_int;

use pg_bearer_core::cache::{CachePolicy, IssuerCacheState, RefreshTicket};
use pg_bearer_core::request_budget::{self, BudgetPolicy};
use pg_bearer_core::result_cache::{self, EntryKind, Tag};
use pg_bearer_core::stats::RequestKind;
use pg_bearer_provider::clock::now_ms;
use pg_bearer_provider::{Host, KeySlot, KeyStore, Provider, ProviderSettings, ResultStore};
use pgrx::pg_sys;

use crate::shmem::{Claim, ResultCache, SharedCache, Slot, ISSUER_MAX};

/// The backend, as the host of a login's provider calls.
pub(crate) struct Backend;

impl Host for Backend {
    fn check_interrupts(&self) {
        if pgrx::pg_sys::elog::interrupt_pending() {
            // During authentication a pending terminate or authentication timeout ends the
            // backend here (FATAL, which exits the process rather than unwinding); anything
            // else is served and the caller goes on.
            pgrx::pg_sys::check_for_interrupts!();
        }
    }

    /// Sleeps on the backend's latch, waking for interrupts (terminate, authentication
    /// timeout) and postmaster death.
    fn sleep_ms(&self, ms: u32) {
        // SAFETY: WaitLatch/ResetLatch (storage/latch.h) on MyLatch, the backend's own latch,
        // set up before authentication; WL_EXIT_ON_PM_DEATH exits if the postmaster dies.
        unsafe {
            pg_sys::WaitLatch(
                pg_sys::MyLatch,
                (pg_sys::WL_LATCH_SET | pg_sys::WL_TIMEOUT | pg_sys::WL_EXIT_ON_PM_DEATH) as i32,
                i64::from(ms.max(1)),
                pg_sys::PG_WAIT_EXTENSION,
            );
            pg_sys::ResetLatch(pg_sys::MyLatch);
        }
        pgrx::pg_sys::check_for_interrupts!();
    }

    fn warning(&self, line: &str) {
        crate::log::warning(line);
    }

    fn setting_name(&self, key: &str) -> String {
        format!("pg_bearer.{key}")
    }

    fn count_request(&self, issuer: &str, kind: RequestKind, ok: bool) {
        if cfg!(feature = "bench_baseline") {
            return;
        }
        crate::shmem::stats().row(Some(issuer)).request(kind, ok);
    }

    fn refresh_started(&self, slot: &str, ticket: RefreshTicket, policy: &CachePolicy) {
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
            *pending = Some((slot.to_owned(), ticket, *policy));
        }
    }

    fn refresh_finished(&self) {
        if let Ok(mut pending) = PENDING.lock() {
            *pending = None;
        }
    }

    fn fault(&self, name: &str) -> bool {
        crate::gucs::test_fault(name)
    }
}

/// The refresh this backend owns while it fetches, released by [`release_at_exit`] if the
/// backend exits (terminated, authentication timeout) before recording it, instead of leaving
/// other backends waiting for its deadline.
static PENDING: std::sync::Mutex<Option<(String, RefreshTicket, CachePolicy)>> =
    std::sync::Mutex::new(None);

/// Exit callback: records an abandoned refresh as failed so that ownership is released now.
#[pgrx::pg_guard]
unsafe extern "C-unwind" fn release_at_exit(_code: c_int, _arg: pg_sys::Datum) {
    let pending = PENDING.lock().ok().and_then(|mut p| p.take());
    if let Some((slot_name, ticket, policy)) = pending {
        let now = now_ms();
        let _ = SharedCache::attach().with_slot(&slot_name, now, Claim::No, |slot| {
            let _ = slot.state.on_refresh_failure(ticket, now, &policy);
        });
    }
}

impl KeySlot for Slot {
    fn state(&mut self) -> &mut IssuerCacheState {
        &mut self.state
    }
    fn data(&self) -> (Vec<u8>, Vec<u8>) {
        Slot::data(self)
    }
    fn store(&mut self, meta: &[u8], jwks: &[u8]) -> bool {
        Slot::store(self, meta, jwks)
    }
    fn set_error(&mut self, error: Option<&str>) {
        Slot::set_error(self, error)
    }
}

/// The key-cache segment, mapped at first use: a login that needs no keys (an opaque token
/// with a configured introspection endpoint) maps none.
#[derive(Default)]
pub(crate) struct Keys(std::cell::OnceCell<SharedCache>);

/// The result-cache segment, mapped at first use: a JWT login maps it only with
/// `introspect_jwts` (every attach is a cost on the login path).
#[derive(Default)]
pub(crate) struct Results(std::cell::OnceCell<ResultCache>);

impl KeyStore for Keys {
    fn max_name_len(&self) -> usize {
        ISSUER_MAX
    }

    fn visit(
        &self,
        name: &str,
        now_ms: i64,
        claim: bool,
        f: &mut dyn FnMut(&mut dyn KeySlot),
    ) -> bool {
        let claim = if claim { Claim::Yes } else { Claim::No };
        let cache = self.0.get_or_init(SharedCache::attach);
        cache
            .with_slot(name, now_ms, claim, |slot| f(slot))
            .is_some()
    }
}

impl Results {
    fn cache(&self) -> &ResultCache {
        self.0.get_or_init(ResultCache::attach)
    }
}

impl ResultStore for Results {
    fn lookup(&self, key: &[u8; 32], now_ms: i64) -> Option<(EntryKind, Vec<u8>)> {
        self.cache()
            .with_entries(|entries| result_cache::lookup(entries, key, now_ms))
    }

    fn insert(
        &self,
        key: &[u8; 32],
        kind: EntryKind,
        body: &[u8],
        now_ms: i64,
        ttl_ms: i64,
        tag: &Tag,
    ) {
        self.cache().with_entries(|entries| {
            result_cache::insert_tagged(entries, key, kind, body, now_ms, ttl_ms, tag);
        });
    }

    fn take_budget(&self, key: &[u8; 32], now_ms: i64, policy: BudgetPolicy) -> bool {
        self.cache()
            .with_budgets(|budgets| request_budget::try_take(budgets, key, now_ms, policy))
    }
}

/// Runs `f` with this backend's provider: the settings given, the shared caches mapped when
/// first used.
pub(crate) fn with_provider<R>(
    settings: &ProviderSettings,
    f: impl FnOnce(Provider<'_>) -> R,
) -> R {
    let keys = Keys::default();
    let results = Results::default();
    f(Provider {
        settings,
        host: &Backend,
        keys: &keys,
        results: &results,
    })
}
