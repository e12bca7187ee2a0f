//! The caches shared by every backend, in two DSM-registry segments attached by one routine
//! ([`attach_segment`]): the key cache (an LWLock and a slot per issuer, and the lock-free
//! login counters) and the result cache (introspection and userinfo answers, and the per-issuer
//! request budgets).
//!
//! Every connection is a fresh forked process, so a cache in process memory would be empty at
//! every login. `GetNamedDSMSegment` (PostgreSQL 17+, `storage/dsm_registry.h`) creates the
//! segment on first use by any backend and hands the same one to all later backends, without
//! `shared_preload_libraries` (and it works the same when preloaded).
//!
//! Locking: [`SharedCache::with_slot`] holds the exclusive lock only while its closure runs,
//! and the closure gets plain data (the state machine from `pg_bearer_core::cache` and byte
//! buffers): it cannot do I/O. The lock is released by a guard, so a panic inside the closure
//! (a bug) still releases it.

use std::ffi::c_void;
use std::mem::size_of;
use std::sync::atomic::{AtomicPtr, Ordering};

use pg_bearer_core::cache::IssuerCacheState;
use pg_bearer_core::request_budget::RequestBudget;
use pg_bearer_core::result_cache::ResultEntry;
use pgrx::pg_sys;

/// Issuers cached at once; the least recently used is replaced when all are taken.
const SLOTS: usize = 16;
/// Longest slot name (issuer identifier and key source) cached.
pub(crate) const ISSUER_MAX: usize = 2048;
/// Largest stored discovery metadata (`ProviderMetadata::to_bytes`) and JWKS document (real
/// ones are 1-20 KiB; Entra ID, with certificate chains, is the largest seen): the provider
/// crate's caps.
use pg_bearer_provider::{JWKS_MAX, META_MAX};
/// The segment's name carries the layout version and the segment size: a server keeps a
/// segment until it restarts, and a library upgraded meanwhile must get a new segment rather
/// than read (or fail to attach to) the old layout. Bump the version with any change to
/// `Shared` or `Slot` that keeps the size.
const SEGMENT_VERSION: u32 = 3;
const _: () = assert!(
    IssuerCacheState::LAYOUT_VERSION == 1,
    "bump SEGMENT_VERSION with the state layout"
);

/// Whether [`SharedCache::with_slot`] may take a slot for an issuer that has none.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Claim {
    /// Take one (a lookup).
    Yes,
    /// Do not (recording a result, a read-only check): `None` if the issuer has no slot.
    No,
}

/// One issuer's cached discovery metadata and keys.
#[repr(C)]
pub(crate) struct Slot {
    in_use: bool,
    issuer_len: u32,
    issuer: [u8; ISSUER_MAX],
    last_used_ms: i64,
    /// The state machine of `pg_bearer_core::cache`.
    pub state: IssuerCacheState,
    meta_len: u32,
    meta: [u8; META_MAX],
    jwks_len: u32,
    jwks: [u8; JWKS_MAX],
    /// The last refresh failure's text (`pg_bearer.key_cache.last_error`), cleared by a
    /// success. Reason codes and URLs only, as in the log line.
    error_len: u32,
    error: [u8; ERROR_MAX],
}

/// Longest last-error text kept per slot.
const ERROR_MAX: usize = 512;

/// What `pg_bearer.key_cache` shows of one slot: copies taken under the lock.
pub(crate) struct SlotView {
    /// The slot's name: issuer, key source and transport, one per line.
    pub name: String,
    pub state: IssuerCacheState,
    pub meta: Vec<u8>,
    pub jwks: Vec<u8>,
    pub last_error: Option<String>,
}

impl Slot {
    fn issuer(&self) -> &[u8] {
        &self.issuer[..(self.issuer_len as usize).min(ISSUER_MAX)]
    }

    /// Copies of the stored metadata and JWKS (empty before the first success).
    pub(crate) fn data(&self) -> (Vec<u8>, Vec<u8>) {
        (
            self.meta[..(self.meta_len as usize).min(META_MAX)].to_vec(),
            self.jwks[..(self.jwks_len as usize).min(JWKS_MAX)].to_vec(),
        )
    }

    /// Stores metadata and JWKS; `false` (nothing stored) if either is too large. The caller
    /// checks sizes before recording a refresh success, so this is a second line.
    pub(crate) fn store(&mut self, meta: &[u8], jwks: &[u8]) -> bool {
        if meta.len() > META_MAX || jwks.len() > JWKS_MAX {
            return false;
        }
        self.meta[..meta.len()].copy_from_slice(meta);
        self.meta_len = meta.len() as u32;
        self.jwks[..jwks.len()].copy_from_slice(jwks);
        self.jwks_len = jwks.len() as u32;
        true
    }

    /// Records the last refresh's failure text (`None`: it succeeded).
    pub(crate) fn set_error(&mut self, error: Option<&str>) {
        let text = error.unwrap_or("").as_bytes();
        let mut len = text.len().min(ERROR_MAX);
        while len > 0 && !error.unwrap_or("").is_char_boundary(len) {
            len -= 1;
        }
        self.error[..len].copy_from_slice(&text[..len]);
        self.error_len = len as u32;
    }

    fn view(&self) -> SlotView {
        let (meta, jwks) = self.data();
        let error = &self.error[..(self.error_len as usize).min(ERROR_MAX)];
        SlotView {
            name: String::from_utf8_lossy(self.issuer()).into_owned(),
            state: self.state,
            meta,
            jwks,
            last_error: (!error.is_empty()).then(|| String::from_utf8_lossy(error).into_owned()),
        }
    }

    fn claim(&mut self, issuer: &[u8]) {
        self.in_use = true;
        self.issuer[..issuer.len()].copy_from_slice(issuer);
        self.issuer_len = issuer.len() as u32;
        // Generations stay monotonic across reuse; outstanding tickets become void.
        self.state.invalidate();
        self.meta_len = 0;
        self.jwks_len = 0;
        self.error_len = 0;
    }
}

#[repr(C)]
struct Shared {
    header: SegmentHeader,
    slots: [Slot; SLOTS],
    /// The login and provider-request counters ([`stats`]). In this segment because every
    /// JWT login maps it anyway: a segment of their own would cost each login one more DSM
    /// attach (a registry lookup and an mmap).
    stats: pg_bearer_core::stats::StatsTable,
}

/// This backend's mapping of the segment.
pub(crate) struct SharedCache {
    shared: *mut Shared,
}

/// The start of every segment: its lock and the lock's tranche.
#[repr(C)]
struct SegmentHeader {
    lock: pg_sys::LWLock,
    tranche_id: i32,
}

/// Zeroes a new segment of `size` bytes and sets up the lock in its [`SegmentHeader`]. Runs
/// once per server, under the DSM registry's own lock, in whichever backend first asks.
///
/// # Safety
/// `ptr` points to `size` writable bytes that start with a `SegmentHeader`, and all-zero
/// bytes are a valid value of the segment's type.
unsafe fn init_header(ptr: *mut c_void, size: usize) {
    let header = ptr.cast::<SegmentHeader>();
    // SAFETY: guaranteed by the caller. LWLockNewTrancheId/LWLockInitialize
    // (storage/lwlock.h) initialise the lock in place, as the DSM registry documents.
    unsafe {
        std::ptr::write_bytes(ptr.cast::<u8>(), 0, size);
        (*header).tranche_id = pg_sys::LWLockNewTrancheId();
        pg_sys::LWLockInitialize(&raw mut (*header).lock, (*header).tranche_id);
    }
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn init_segment(ptr: *mut c_void) {
    // SAFETY: GetNamedDSMSegment hands us size_of::<Shared>() writable bytes; Shared starts
    // with its header and all-zero is a valid Shared (unused slots, empty state).
    unsafe { init_header(ptr, size_of::<Shared>()) }
}

/// Maps the named segment of type `T` (creating it on first use server-wide, with `init`) and
/// remembers the mapping in `attached`. Idempotent per backend.
///
/// # Safety
/// `T` is `#[repr(C)]`, starts with a [`SegmentHeader`], and `init` initialises a new segment
/// of `size_of::<T>()` bytes (through [`init_header`]).
unsafe fn attach_segment<T>(
    name: &str,
    init: unsafe extern "C-unwind" fn(*mut c_void),
    tranche: &'static std::ffi::CStr,
    attached: &AtomicPtr<T>,
) -> *mut T {
    let existing = attached.load(Ordering::Relaxed);
    if !existing.is_null() {
        return existing;
    }
    // The name carries the layout version and the size: a server keeps a segment until it
    // restarts, and a library upgraded meanwhile must get a new segment rather than read (or
    // fail to attach to) the old layout. ASCII letters, digits and underscores: no NUL.
    let name = std::ffi::CString::new(format!("{name}_{}", size_of::<T>())).unwrap_or_default();
    let mut found = false;
    // SAFETY: GetNamedDSMSegment (storage/dsm_registry.h) returns a mapping of at least the
    // requested size, valid for the rest of this backend's life, initialised by `init` exactly
    // once server-wide. It raises ERROR only on out-of-memory or a size mismatch with an
    // existing segment of the same name (prevented by the size in the name); pgrx turns that
    // ERROR into a panic, which validate_cb catches and reports as an internal error.
    let segment = unsafe {
        pg_sys::GetNamedDSMSegment(name.as_ptr(), size_of::<T>(), Some(init), &mut found)
    };
    let header = segment.cast::<SegmentHeader>();
    // SAFETY: the segment starts with its header, whose tranche id `init` set.
    // LWLockRegisterTranche only records the name in this backend (for wait events).
    unsafe { pg_sys::LWLockRegisterTranche((*header).tranche_id, tranche.as_ptr()) };
    let segment = segment.cast::<T>();
    attached.store(segment, Ordering::Relaxed);
    segment
}

impl SharedCache {
    /// Maps the segment (creating it on first use server-wide). Idempotent per backend.
    pub(crate) fn attach() -> SharedCache {
        static ATTACHED: AtomicPtr<Shared> = AtomicPtr::new(std::ptr::null_mut());
        // SAFETY: Shared is repr(C), starts with its header, and init_segment initialises it.
        let shared = unsafe {
            attach_segment(
                &format!("pg_bearer_key_cache_v{SEGMENT_VERSION}"),
                init_segment,
                c"pg_bearer",
                &ATTACHED,
            )
        };
        SharedCache { shared }
    }

    /// Runs `f` on `issuer`'s slot under the exclusive lock, claiming a slot (the least
    /// recently used one without a live refresh owner) if the issuer has none. `None` if the
    /// issuer is too long to cache or every slot is mid-refresh.
    pub(crate) fn with_slot<R>(
        &self,
        issuer: &str,
        now_ms: i64,
        claim: Claim,
        f: impl FnOnce(&mut Slot) -> R,
    ) -> Option<R> {
        let issuer = issuer.as_bytes();
        if issuer.is_empty() || issuer.len() > ISSUER_MAX {
            return None;
        }
        // SAFETY: the segment's lock, initialised by init_segment.
        let _guard = unsafe { LockGuard::exclusive(&raw mut (*self.shared).header.lock) };
        // SAFETY: the segment is mapped for the backend's life and we hold its exclusive lock,
        // so no other backend reads or writes the slots meanwhile.
        let slots = unsafe { &mut (*self.shared).slots };
        let index = match slots.iter().position(|s| s.in_use && s.issuer() == issuer) {
            Some(i) => i,
            None if claim == Claim::No => return None,
            None => {
                let victim = slots
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| {
                        !s.in_use
                            || s.state.refresh_owner().is_none()
                            || s.state.refresh_deadline() <= now_ms
                    })
                    .min_by_key(|(_, s)| if s.in_use { s.last_used_ms } else { i64::MIN })
                    .map(|(i, _)| i)?;
                slots[victim].claim(issuer);
                victim
            }
        };
        let slot = &mut slots[index];
        slot.last_used_ms = now_ms;
        Some(f(slot))
    }

    /// Copies of every slot in use, most recently used first (`pg_bearer.key_cache`). Copies
    /// up to the whole table under the lock: a DBA's query, not the login path.
    pub(crate) fn slots(&self) -> Vec<SlotView> {
        // SAFETY: the segment's lock, initialised by init_segment.
        let _guard = unsafe { LockGuard::exclusive(&raw mut (*self.shared).header.lock) };
        // SAFETY: mapped for the backend's life; we hold the exclusive lock.
        let slots = unsafe { &(*self.shared).slots };
        let mut in_use: Vec<&Slot> = slots.iter().filter(|s| s.in_use).collect();
        in_use.sort_by_key(|s| std::cmp::Reverse(s.last_used_ms));
        in_use.into_iter().map(Slot::view).collect()
    }
}

/// Holds a segment's LWLock; releases it when dropped (also while unwinding).
struct LockGuard {
    lock: *mut pg_sys::LWLock,
}

impl LockGuard {
    /// # Safety
    /// `lock` is an initialised LWLock in a segment mapped for the backend's life.
    unsafe fn exclusive(lock: *mut pg_sys::LWLock) -> LockGuard {
        // SAFETY: guaranteed by the caller. LWLockAcquire (storage/lwlock.h) waits without
        // timeout; holders never do I/O.
        unsafe { pg_sys::LWLockAcquire(lock, pg_sys::LWLockMode::LW_EXCLUSIVE) };
        LockGuard { lock }
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        // SAFETY: acquired in LockGuard::exclusive by this backend and not yet released.
        unsafe { pg_sys::LWLockRelease(self.lock) };
    }
}

// ---------------------------------------------------------------------------------------------
// Introspection and userinfo results

/// Cached results at once; expired entries are reused first, then the least recently used.
const RESULT_ENTRIES: usize = 256;
const RESULT_SEGMENT_VERSION: u32 = 3;
/// Issuers whose unknown-token request budget is tracked at once (least recently used reused).
const BUDGETS: usize = 16;

#[repr(C)]
struct ResultShared {
    header: SegmentHeader,
    entries: [ResultEntry; RESULT_ENTRIES],
    /// Per-issuer bounds on provider requests for tokens not in `entries`.
    budgets: [RequestBudget; BUDGETS],
}

/// This backend's mapping of the result-cache segment (same design as the key cache).
pub(crate) struct ResultCache {
    shared: *mut ResultShared,
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn init_result_segment(ptr: *mut c_void) {
    // SAFETY: as in init_segment: size_of::<ResultShared>() writable bytes, starting with the
    // header; all-zero is a table of empty entries and unused budgets.
    unsafe { init_header(ptr, size_of::<ResultShared>()) }
}

impl ResultCache {
    /// Maps the segment (creating it on first use server-wide). Idempotent per backend.
    pub(crate) fn attach() -> ResultCache {
        static ATTACHED: AtomicPtr<ResultShared> = AtomicPtr::new(std::ptr::null_mut());
        // SAFETY: ResultShared is repr(C), starts with its header, and init_result_segment
        // initialises it.
        let shared = unsafe {
            attach_segment(
                &format!("pg_bearer_result_cache_v{RESULT_SEGMENT_VERSION}"),
                init_result_segment,
                c"pg_bearer_results",
                &ATTACHED,
            )
        };
        ResultCache { shared }
    }

    /// Runs `f` on the entry table under the exclusive lock (plain data only, no I/O).
    pub(crate) fn with_entries<R>(&self, f: impl FnOnce(&mut [ResultEntry]) -> R) -> R {
        // SAFETY: the segment's lock, initialised by init_result_segment.
        let _guard = unsafe { LockGuard::exclusive(&raw mut (*self.shared).header.lock) };
        // SAFETY: mapped for the backend's life; we hold the exclusive lock.
        let entries = unsafe { &mut (*self.shared).entries };
        f(entries)
    }

    /// Runs `f` on the per-issuer request budgets under the exclusive lock (plain data only).
    pub(crate) fn with_budgets<R>(&self, f: impl FnOnce(&mut [RequestBudget]) -> R) -> R {
        // SAFETY: the segment's lock, initialised by init_result_segment.
        let _guard = unsafe { LockGuard::exclusive(&raw mut (*self.shared).header.lock) };
        // SAFETY: mapped for the backend's life; we hold the exclusive lock.
        let budgets = unsafe { &mut (*self.shared).budgets };
        f(budgets)
    }
}

// ---------------------------------------------------------------------------------------------
// Login and provider-request counters

/// The counters behind `pg_bearer.login_stats` and `pg_bearer.provider_stats`, shared by every
/// backend, in the key-cache segment. Counting takes no lock: the table is atomics
/// (`pg_bearer_core::stats`), and all-zero bytes (a new segment) are an empty table. Attaching
/// fails (ERROR, turned into a panic) only when shared memory is exhausted.
pub(crate) fn stats() -> &'static pg_bearer_core::stats::StatsTable {
    let cache = SharedCache::attach();
    // SAFETY: the mapping is valid for the backend's life, and the table is only ever used
    // through shared references (its fields are atomics), never under `with_slot`'s `&mut`
    // of the slots, which does not cover it.
    unsafe { &(*cache.shared).stats }
}
