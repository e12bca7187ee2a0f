//! The per-issuer key-cache state machine: who may fetch, when, and which cached bytes may be
//! used while nobody can.
//!
//! Every PostgreSQL connection is a new process, so the cache lives in shared memory: one slot
//! per issuer holding an [`IssuerCacheState`] (this plain-data struct) next to the cached bytes
//! (discovery essentials, JWKS document). The glue takes the slot's LWLock, calls one of the
//! pure transitions below, copies bytes out, and releases the lock *before* any network I/O;
//! after a fetch it re-takes the lock to record the result. The state never needs the lock to
//! be held across a fetch: ownership of a refresh is itself state, with a deadline.
//!
//! Time is injected: every function takes `now` in **milliseconds** (`i64`) on a clock shared
//! by all backends (e.g. PostgreSQL's `GetCurrentTimestamp() / 1000`). Policy durations are
//! [`Duration`]s. A clock that steps backwards cannot extend anything beyond its policy
//! maximum: a deadline further ahead than the policy could have set is treated as passed.
//!
//! ```text
//! The slot's state is three small machines over plain fields:
//!
//! data      EMPTY --success--> FRESH --now >= fresh_until--> STALE --now >= usable_until--> EXPIRED
//!                                ^                              |        (= fresh_until + grace)  |
//!                                +-----------success------------+---------------------------------+
//!
//! refresh   IDLE --lookup grants Refresh--> OWNED(pid, deadline) --owner's success/failure--> IDLE
//!                                             |
//!                                             +--deadline passed (crash, hang): next lookup takes
//!                                                over --> OWNED(new pid); the old ticket is void
//!
//! backoff   owner's failure: next_attempt_at = now + min(backoff_max, backoff_min * 2^(n-1))
//!           (n = consecutive failures); owner's success: n = 0, no backoff
//!
//! Lookup decisions (first matching row wins; "owner": another backend owns an unexpired
//! refresh; "backoff": now < next_attempt_at; "cooldown": the last fetch of any kind started
//! less than unknown_kid_cooldown ago):
//!
//!   need        data            owner  backoff  decision
//!   KidMissing  FRESH, newer gen   -      -     UseCached (retry with the newer keys)
//!   KidMissing  FRESH              yes    -     WaitForRefresh
//!   KidMissing  FRESH              no   cooldown or backoff: UseCached (kid stays unknown)
//!   KidMissing  FRESH              no     no    Refresh (sets the cooldown)
//!   KidMissing  not FRESH         ---- as Fresh below ----
//!   Fresh       FRESH              -      -     UseCached
//!   Fresh       STALE              yes    -     UseStaleWhileRefreshing
//!   Fresh       EMPTY/EXPIRED      yes    -     WaitForRefresh (bounded; then give up)
//!   Fresh       STALE              no     yes   UseCached
//!   Fresh       EMPTY/EXPIRED      no     yes   Unavailable (no network)
//!   Fresh       not FRESH          no     no    Refresh
//! ```
//!
//! Rules, in the order [`IssuerCacheState::on_lookup`] applies them:
//!
//! - **Fresh data is used** without any network (`UseCached`).
//! - **Single flight**: at most one backend owns a refresh. Others use usable (stale, within
//!   grace) data (`UseStaleWhileRefreshing`) and are never rejected because someone else is
//!   fetching; with nothing usable they wait, bounded (`WaitForRefresh`). An owner that
//!   crashes or hangs loses ownership at its deadline and the next lookup takes over.
//! - **Backoff**: after a failed fetch nobody fetches again until `next_attempt_at`
//!   (exponential, [`CachePolicy::backoff_min`]..[`CachePolicy::backoff_max`]); usable data is
//!   used meanwhile, and with none the answer is `Unavailable`, without network.
//! - **Unknown `kid`**: while data is fresh, a token naming a key the cached set lacks may
//!   trigger a refetch only if the cache has not been fetched (successfully or not, normal
//!   refresh or refetch) within [`CachePolicy::unknown_kid_cooldown`]. Any fetch returns the
//!   provider's current set, so a `kid` missing from a set fetched seconds ago is almost surely
//!   not a rotation. A thousand random `kid`s in ten seconds cost at most one fetch.
//! - **Only the owner records**: a result is stored only if its ticket still owns the refresh.
//!   A late result from an owner that was taken over is discarded (the newer owner's result
//!   follows), so stored data never goes back in time.

use std::num::NonZeroI32;
use std::time::Duration;

use crate::freshness::FreshnessBounds;

/// Cache timing policy. Built from settings by the glue; every field documents its default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CachePolicy {
    /// Freshness floor, ceiling and default (see [`FreshnessBounds`]). Defaults to 60 s,
    /// 86 400 s and 600 s.
    pub freshness: FreshnessBounds,
    /// How long after `fresh_until` held data stays usable while refreshes fail. Defaults to
    /// one hour.
    ///
    /// During grace every lookup still tries to refresh (subject to backoff); the old keys are
    /// used only while the provider cannot be reached. This is an availability trade-off: a
    /// key the provider has removed stays trusted for up to this long if the provider is
    /// unreachable from the database. Zero means fail closed as soon as data is stale and a
    /// refresh fails.
    pub grace: Duration,
    /// Minimum time between fetches that an unknown `kid` may trigger, measured from the start
    /// of the most recent fetch of any kind. Defaults to 30 s (panva/jose's
    /// `cooldownDuration`).
    pub unknown_kid_cooldown: Duration,
    /// How long a backend with no usable data waits for another backend's refresh before it
    /// gives up. Defaults to 2 s. Keep it below the HTTP timeout and well below
    /// `authentication_timeout`.
    pub refresh_wait: Duration,
    /// How long a refresh owner may hold ownership before another backend may take over.
    /// Defaults to 12 s: two HTTP requests (discovery and JWKS) at a 5 s timeout each, plus
    /// 2 s margin. Set it to the refresh's total HTTP time budget plus a margin.
    pub refresh_deadline: Duration,
    /// How often a waiting backend re-checks. Defaults to 50 ms.
    pub poll_interval: Duration,
    /// Backoff after the first consecutive failure; doubles per further failure. Defaults to
    /// 1 s.
    pub backoff_min: Duration,
    /// Backoff ceiling. Defaults to 60 s.
    pub backoff_max: Duration,
}

impl Default for CachePolicy {
    fn default() -> Self {
        Self {
            freshness: FreshnessBounds::default(),
            grace: Duration::from_secs(3600),
            unknown_kid_cooldown: Duration::from_secs(30),
            refresh_wait: Duration::from_secs(2),
            refresh_deadline: Duration::from_secs(12),
            poll_interval: Duration::from_millis(50),
            backoff_min: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
        }
    }
}

/// An inconsistent [`CachePolicy`], reported by [`CachePolicy::check`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CachePolicyError {
    /// The freshness floor is zero: a `no-cache` provider would be fetched at every login.
    ZeroFloor,
    /// Not `floor <= default <= ceiling`.
    FreshnessOrder,
    /// The unknown-`kid` cooldown is zero: unknown `kid`s could trigger unbounded fetches.
    ZeroCooldown,
    /// `poll_interval` is zero or longer than `refresh_wait`.
    PollInterval,
    /// `refresh_wait` is not shorter than `refresh_deadline`.
    WaitNotBelowDeadline,
    /// `backoff_min` is zero or greater than `backoff_max`.
    BackoffOrder,
}

impl std::fmt::Display for CachePolicyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::ZeroFloor => "cache freshness floor must be at least one second",
            Self::FreshnessOrder => "cache freshness must satisfy floor <= default <= ceiling",
            Self::ZeroCooldown => "unknown-kid refetch cooldown must be at least one second",
            Self::PollInterval => "poll interval must be positive and at most the refresh wait",
            Self::WaitNotBelowDeadline => "refresh wait must be shorter than the refresh deadline",
            Self::BackoffOrder => "backoff minimum must be positive and at most the maximum",
        })
    }
}

impl std::error::Error for CachePolicyError {}

impl CachePolicy {
    /// Checks the relations the state machine relies on for its guarantees. The transitions
    /// never panic on an unchecked policy, but the settings layer should refuse one that fails
    /// here rather than silently clamp it.
    pub fn check(&self) -> Result<(), CachePolicyError> {
        let f = &self.freshness;
        if f.floor_secs == 0 {
            return Err(CachePolicyError::ZeroFloor);
        }
        if !(f.floor_secs <= f.default_secs && f.default_secs <= f.ceiling_secs) {
            return Err(CachePolicyError::FreshnessOrder);
        }
        if self.unknown_kid_cooldown < Duration::from_secs(1) {
            return Err(CachePolicyError::ZeroCooldown);
        }
        if self.poll_interval.is_zero() || self.poll_interval > self.refresh_wait {
            return Err(CachePolicyError::PollInterval);
        }
        if self.refresh_wait >= self.refresh_deadline {
            return Err(CachePolicyError::WaitNotBelowDeadline);
        }
        if self.backoff_min.is_zero() || self.backoff_min > self.backoff_max {
            return Err(CachePolicyError::BackoffOrder);
        }
        Ok(())
    }

    /// For a backend told [`LookupDecision::WaitForRefresh`]: how many milliseconds to sleep
    /// (on its latch) before asking again, or `None` when it has waited `refresh_wait` since
    /// `waiting_since` and should give up. `Some(0)` means the owner's deadline has passed:
    /// ask again now (the lookup will hand over the refresh).
    pub fn wait_step_ms(&self, waiting_since: i64, now: i64, owner_deadline: i64) -> Option<u32> {
        let budget_left = waiting_since
            .saturating_add(ms(self.refresh_wait))
            .saturating_sub(now);
        if budget_left <= 0 {
            return None;
        }
        let until_deadline = owner_deadline.saturating_sub(now).max(0);
        let step = ms(self.poll_interval).min(budget_left).min(until_deadline);
        Some(u32::try_from(step.max(0)).unwrap_or(u32::MAX))
    }

    fn backoff_ms(&self, consecutive_failures: u32) -> i64 {
        let doublings = consecutive_failures.saturating_sub(1).min(32);
        let backoff = ms(self.backoff_min).saturating_mul(1i64 << doublings);
        backoff.min(ms(self.backoff_max))
    }
}

/// Milliseconds in a duration, saturating.
fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// `now` is before `until`, and `until` is no further ahead than `max_span` (a later `until`
/// can only come from a clock that stepped back; it counts as passed).
fn before(now: i64, until: i64, max_span: i64) -> bool {
    now < until && until.saturating_sub(now) <= max_span
}

/// What the caller needs from the cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// Current keys (the normal lookup before verifying a token).
    Fresh,
    /// The keys copied at generation `seen_generation` lack the token's `kid`.
    KidMissing {
        /// [`IssuerCacheState::generation`] of the keys that were searched.
        seen_generation: u64,
    },
    /// A refresh asked for by a DBA (`pg_bearer.refresh_keys`) at `since` (ms): fetch now,
    /// whatever the freshness, the unknown-`kid` cooldown or backoff, unless a fetch has
    /// started at or after `since` (it answers this request too). While another backend
    /// refreshes, wait: callers that arrive together cause one fetch.
    Forced {
        /// When the request was made (ms).
        since: i64,
    },
}

/// Proof of refresh ownership, handed out with [`LookupDecision::Refresh`] and handed back to
/// [`IssuerCacheState::on_refresh_success`] or [`IssuerCacheState::on_refresh_failure`].
/// Plain data: keep it across the unlocked fetch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RefreshTicket {
    owner: i32,
    attempt: u64,
    started_at: i64,
}

impl RefreshTicket {
    /// When the refresh was granted (ms). The fetched data's age counts from here.
    pub fn started_at(&self) -> i64 {
        self.started_at
    }
}

/// The answer to a lookup. The caller acts on it after releasing the lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum LookupDecision {
    /// Use the cached bytes; no fetch. The data is fresh, or stale but usable while backoff
    /// forbids fetching, or (for [`Need::KidMissing`]) a newer generation is available or the
    /// unknown-`kid` cooldown has not elapsed: in the last case the token is rejected as
    /// signed by an unknown key.
    UseCached,
    /// The caller owns the refresh: fetch without holding the lock, then record the outcome
    /// with the ticket. If the fetch fails, ask again: usable old data is then `UseCached`.
    Refresh(RefreshTicket),
    /// Another backend is refreshing; the cached bytes are usable (stale within grace): use
    /// them.
    UseStaleWhileRefreshing,
    /// Another backend is refreshing and nothing usable is cached (or the cached keys lack the
    /// wanted `kid`). Sleep per [`CachePolicy::wait_step_ms`] and ask again; give up (reject)
    /// when it says so.
    WaitForRefresh {
        /// When the current owner's ownership expires (ms).
        owner_deadline: i64,
    },
    /// Nothing usable is cached and fetching is in backoff after failures: reject now,
    /// without network.
    Unavailable {
        /// When a fetch will next be allowed (ms).
        retry_at: i64,
    },
}

/// What happened to a refresh result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum RefreshOutcome {
    /// Recorded. After a success, write the fetched bytes into the slot (under the same lock
    /// hold) and tag them with this generation.
    Recorded {
        /// The slot's generation after recording.
        generation: u64,
    },
    /// The ticket no longer owns the refresh (it expired and was taken over, or the slot was
    /// invalidated). Nothing changed: do not write the bytes. A backend may still use bytes it
    /// fetched and validated itself for its own login.
    NotOwner,
}

/// Per-issuer cache state: plain data for a shared-memory slot.
///
/// All-zero bytes are the valid empty state ([`Default`]). Fields are private so that only the
/// transitions below change them; read them through the accessors.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct IssuerCacheState {
    /// Bumped by every recorded success and by [`IssuerCacheState::invalidate`].
    generation: u64,
    /// Bumped by every granted refresh; ties tickets to one grant.
    refresh_attempt: u64,
    /// When the held data's fetch started (ms).
    fetched_at: i64,
    /// Until when the held data is fresh (ms, exclusive).
    fresh_until: i64,
    /// Until when the held data may be used while refreshes fail (ms, exclusive).
    usable_until: i64,
    /// When the current refresh was granted (ms); 0 when none.
    refresh_started_at: i64,
    /// When the current owner loses ownership (ms); 0 when none.
    refresh_deadline: i64,
    /// Start of the most recent fetch of any kind (ms): the unknown-`kid` cooldown's origin.
    last_fetch_started_at: i64,
    /// No fetch before this (ms) after failures; 0 when not in backoff.
    next_attempt_at: i64,
    /// PID of the refresh owner; 0 when none.
    refresh_owner: i32,
    /// Failed refreshes since the last success.
    consecutive_failures: u32,
    /// Whether data has been stored.
    has_data: bool,
}

impl IssuerCacheState {
    /// Version of this struct's memory layout (88 bytes, 8-byte aligned). A named DSM segment
    /// outlives a library upgrade done without a server restart, so put this in the segment
    /// name (or header) and never attach a segment written with another layout.
    pub const LAYOUT_VERSION: u32 = 1;

    /// Length of [`IssuerCacheState::to_bytes`].
    pub const ENCODED_LEN: usize = 2 * 8 + 7 * 8 + 4 + 4 + 1;

    /// The state as bytes, for a store outside shared memory (the PAM module's files):
    /// little-endian, in field order.
    pub fn to_bytes(&self) -> [u8; Self::ENCODED_LEN] {
        let mut out = [0u8; Self::ENCODED_LEN];
        let mut at = 0;
        let mut put = |bytes: &[u8]| {
            out[at..at + bytes.len()].copy_from_slice(bytes);
            at += bytes.len();
        };
        put(&self.generation.to_le_bytes());
        put(&self.refresh_attempt.to_le_bytes());
        for v in [
            self.fetched_at,
            self.fresh_until,
            self.usable_until,
            self.refresh_started_at,
            self.refresh_deadline,
            self.last_fetch_started_at,
            self.next_attempt_at,
        ] {
            put(&v.to_le_bytes());
        }
        put(&self.refresh_owner.to_le_bytes());
        put(&self.consecutive_failures.to_le_bytes());
        put(&[u8::from(self.has_data)]);
        out
    }

    /// The state [`IssuerCacheState::to_bytes`] wrote; `None` for anything else.
    pub fn from_bytes(bytes: &[u8]) -> Option<IssuerCacheState> {
        if bytes.len() != Self::ENCODED_LEN {
            return None;
        }
        let eight = |i: usize| -> [u8; 8] {
            let mut b = [0u8; 8];
            b.copy_from_slice(&bytes[i * 8..i * 8 + 8]);
            b
        };
        let four = |at: usize| -> [u8; 4] {
            let mut b = [0u8; 4];
            b.copy_from_slice(&bytes[at..at + 4]);
            b
        };
        let i = |n: usize| i64::from_le_bytes(eight(n));
        Some(IssuerCacheState {
            generation: u64::from_le_bytes(eight(0)),
            refresh_attempt: u64::from_le_bytes(eight(1)),
            fetched_at: i(2),
            fresh_until: i(3),
            usable_until: i(4),
            refresh_started_at: i(5),
            refresh_deadline: i(6),
            last_fetch_started_at: i(7),
            next_attempt_at: i(8),
            refresh_owner: i32::from_le_bytes(four(72)),
            consecutive_failures: u32::from_le_bytes(four(76)),
            has_data: match bytes[80] {
                0 => false,
                1 => true,
                _ => return None,
            },
        })
    }

    /// Decides what a backend (`me`, its PID) does for `need` at `now`, and records refresh
    /// ownership when it hands one out. Call under the slot's lock; act after releasing it.
    pub fn on_lookup(
        &mut self,
        now: i64,
        need: Need,
        policy: &CachePolicy,
        me: NonZeroI32,
    ) -> LookupDecision {
        let fresh = self.is_fresh(now, policy);
        let usable = self.is_usable(now, policy);
        let owner_active = self.owner_active(now, policy, me);
        let in_backoff = before(now, self.next_attempt_at, ms(policy.backoff_max));

        if let Need::Forced { since } = need {
            if owner_active {
                return LookupDecision::WaitForRefresh {
                    owner_deadline: self.refresh_deadline,
                };
            }
            if self.last_fetch_started_at >= since && self.last_fetch_started_at != 0 {
                return if usable {
                    LookupDecision::UseCached
                } else {
                    LookupDecision::Unavailable {
                        retry_at: self.next_attempt_at,
                    }
                };
            }
            return LookupDecision::Refresh(self.grant(now, policy, me));
        }

        if let Need::KidMissing { seen_generation } = need {
            if fresh {
                if self.generation != seen_generation {
                    return LookupDecision::UseCached;
                }
                if owner_active {
                    return LookupDecision::WaitForRefresh {
                        owner_deadline: self.refresh_deadline,
                    };
                }
                if self.in_cooldown(now, policy) || in_backoff {
                    return LookupDecision::UseCached;
                }
                return LookupDecision::Refresh(self.grant(now, policy, me));
            }
            // Stale or empty: a refresh is due anyway; the normal rules apply.
        }

        if fresh {
            return LookupDecision::UseCached;
        }
        if owner_active {
            return if usable {
                LookupDecision::UseStaleWhileRefreshing
            } else {
                LookupDecision::WaitForRefresh {
                    owner_deadline: self.refresh_deadline,
                }
            };
        }
        if in_backoff {
            return if usable {
                LookupDecision::UseCached
            } else {
                LookupDecision::Unavailable {
                    retry_at: self.next_attempt_at,
                }
            };
        }
        LookupDecision::Refresh(self.grant(now, policy, me))
    }

    /// Records a successful fetch that started at `ticket`'s grant, with a provider-given
    /// lifetime of `fresh_for_secs` (from [`crate::freshness`]; clamped again to the policy's
    /// bounds). Only the current owner's result is recorded.
    ///
    /// The data counts as fetched when the request started (RFC 9111's conservative age), so
    /// `fresh_until = started_at + lifetime` and `usable_until = fresh_until + grace`. Clears
    /// backoff and ownership and bumps the generation.
    pub fn on_refresh_success(
        &mut self,
        ticket: RefreshTicket,
        fresh_for_secs: u32,
        policy: &CachePolicy,
    ) -> RefreshOutcome {
        if !self.is_owned_by(ticket) {
            return RefreshOutcome::NotOwner;
        }
        let lifetime_ms = i64::from(policy.freshness.clamp(fresh_for_secs)).saturating_mul(1000);
        self.generation = self.generation.wrapping_add(1);
        self.has_data = true;
        self.fetched_at = ticket.started_at;
        self.fresh_until = ticket.started_at.saturating_add(lifetime_ms);
        self.usable_until = self.fresh_until.saturating_add(ms(policy.grace));
        self.consecutive_failures = 0;
        self.next_attempt_at = 0;
        self.release();
        RefreshOutcome::Recorded {
            generation: self.generation,
        }
    }

    /// Records a failed fetch (network error, timeout, bad status, invalid document). Only the
    /// current owner's failure counts: it clears ownership and starts backoff
    /// (`next_attempt_at = now + backoff`). Held data is untouched and stays usable until
    /// `usable_until`. Also call this from an error-cleanup path if the fetch is abandoned.
    pub fn on_refresh_failure(
        &mut self,
        ticket: RefreshTicket,
        now: i64,
        policy: &CachePolicy,
    ) -> RefreshOutcome {
        if !self.is_owned_by(ticket) {
            return RefreshOutcome::NotOwner;
        }
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        self.next_attempt_at = now.saturating_add(policy.backoff_ms(self.consecutive_failures));
        self.release();
        RefreshOutcome::Recorded {
            generation: self.generation,
        }
    }

    /// The refresh owner `owner` is known to have exited without recording its result (a
    /// store outside shared memory, which has no exit callback, asks the OS): its refresh is
    /// released as abandoned ([`IssuerCacheState::on_refresh_abandoned`]), so the next lookup
    /// may refresh at once instead of waiting for the dead attempt's deadline. Nothing was
    /// learnt about the provider: no backoff. Nothing changes unless `owner` holds the refresh.
    pub fn on_owner_gone(&mut self, owner: NonZeroI32) -> RefreshOutcome {
        if self.refresh_owner != owner.get() {
            return RefreshOutcome::NotOwner;
        }
        let ticket = RefreshTicket {
            owner: self.refresh_owner,
            attempt: self.refresh_attempt,
            started_at: self.refresh_started_at,
        };
        self.on_refresh_abandoned(ticket)
    }

    /// Records a refresh that ended without a result: the fetch unwound (a panic, or an ERROR
    /// turned into one) before it could succeed or fail. Only the current owner's ticket
    /// counts: it releases ownership at once, so the next lookup may refresh immediately
    /// instead of waiting for the dead attempt's deadline. No backoff starts and the failure
    /// count is unchanged: nothing was learnt about the provider.
    pub fn on_refresh_abandoned(&mut self, ticket: RefreshTicket) -> RefreshOutcome {
        if !self.is_owned_by(ticket) {
            return RefreshOutcome::NotOwner;
        }
        self.release();
        RefreshOutcome::Recorded {
            generation: self.generation,
        }
    }

    /// Forgets the held data, any refresh ownership and backoff, e.g. when a slot is reused for
    /// another issuer or the configuration changed. Counters stay monotonic (the generation is
    /// bumped), so outstanding tickets become [`RefreshOutcome::NotOwner`] and copies taken
    /// earlier are recognisably old.
    pub fn invalidate(&mut self) {
        *self = Self {
            generation: self.generation.wrapping_add(1),
            refresh_attempt: self.refresh_attempt,
            ..Self::default()
        };
    }

    /// The data's generation: changes whenever the stored bytes change. Tag copies with it.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Whether data has been stored (it may be stale or beyond grace).
    pub fn has_data(&self) -> bool {
        self.has_data
    }

    /// When the held data's fetch started (ms), or 0.
    pub fn fetched_at(&self) -> i64 {
        self.fetched_at
    }

    /// Until when the held data is fresh (ms, exclusive), or 0.
    pub fn fresh_until(&self) -> i64 {
        self.fresh_until
    }

    /// Until when the held data is usable while refreshes fail (ms, exclusive), or 0.
    pub fn usable_until(&self) -> i64 {
        self.usable_until
    }

    /// The PID recorded as refresh owner, if any (it may have passed its deadline).
    pub fn refresh_owner(&self) -> Option<NonZeroI32> {
        NonZeroI32::new(self.refresh_owner)
    }

    /// When the current refresh was granted (ms), or 0 when none is recorded.
    pub fn refresh_started_at(&self) -> i64 {
        self.refresh_started_at
    }

    /// When the recorded owner loses ownership (ms), or 0.
    pub fn refresh_deadline(&self) -> i64 {
        self.refresh_deadline
    }

    /// Start of the most recent fetch of any kind (ms), or 0.
    pub fn last_fetch_started_at(&self) -> i64 {
        self.last_fetch_started_at
    }

    /// Failed refreshes since the last success.
    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures
    }

    /// No fetch is allowed before this (ms); 0 when not in backoff.
    pub fn next_attempt_at(&self) -> i64 {
        self.next_attempt_at
    }

    /// Whether the held data is fresh at `now`.
    pub fn is_fresh(&self, now: i64, policy: &CachePolicy) -> bool {
        let max_span = i64::from(policy.freshness.ceiling_secs).saturating_mul(1000);
        self.has_data && before(now, self.fresh_until, max_span)
    }

    /// Whether the held data may be used at `now` (fresh, or stale within grace).
    pub fn is_usable(&self, now: i64, policy: &CachePolicy) -> bool {
        let max_span = i64::from(policy.freshness.ceiling_secs)
            .saturating_mul(1000)
            .saturating_add(ms(policy.grace));
        self.has_data && before(now, self.usable_until, max_span)
    }

    /// Another backend owns a refresh that has not passed its deadline. The caller's own PID
    /// never counts: it can only be recorded if this backend, or a crashed predecessor with the
    /// same PID, was granted a refresh it no longer performs.
    fn owner_active(&self, now: i64, policy: &CachePolicy, me: NonZeroI32) -> bool {
        self.refresh_owner != 0
            && self.refresh_owner != me.get()
            && before(now, self.refresh_deadline, ms(policy.refresh_deadline))
    }

    fn in_cooldown(&self, now: i64, policy: &CachePolicy) -> bool {
        let since = now.saturating_sub(self.last_fetch_started_at);
        // A negative `since` means the clock stepped back: count the cooldown as over.
        (0..ms(policy.unknown_kid_cooldown)).contains(&since)
    }

    fn grant(&mut self, now: i64, policy: &CachePolicy, me: NonZeroI32) -> RefreshTicket {
        self.refresh_attempt = self.refresh_attempt.wrapping_add(1);
        self.refresh_owner = me.get();
        self.refresh_started_at = now;
        self.refresh_deadline = now.saturating_add(ms(policy.refresh_deadline));
        self.last_fetch_started_at = now;
        RefreshTicket {
            owner: me.get(),
            attempt: self.refresh_attempt,
            started_at: now,
        }
    }

    fn is_owned_by(&self, ticket: RefreshTicket) -> bool {
        self.refresh_owner != 0
            && self.refresh_owner == ticket.owner
            && self.refresh_attempt == ticket.attempt
    }

    fn release(&mut self) {
        self.refresh_owner = 0;
        self.refresh_started_at = 0;
        self.refresh_deadline = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeroed_state_is_default_and_empty() {
        let s = IssuerCacheState::default();
        assert!(!s.has_data());
        assert_eq!(s.refresh_owner(), None);
        assert_eq!(s.generation(), 0);
    }

    #[test]
    fn layout_matches_its_documented_version() {
        // Changing the fields changes shared memory: bump LAYOUT_VERSION with this size.
        assert_eq!(IssuerCacheState::LAYOUT_VERSION, 1);
        assert_eq!(std::mem::size_of::<IssuerCacheState>(), 88);
        assert_eq!(std::mem::align_of::<IssuerCacheState>(), 8);
    }

    #[test]
    fn backoff_doubles_and_saturates_at_max() {
        let p = CachePolicy::default();
        assert_eq!(p.backoff_ms(1), 1_000);
        assert_eq!(p.backoff_ms(2), 2_000);
        assert_eq!(p.backoff_ms(6), 32_000);
        assert_eq!(p.backoff_ms(7), 60_000);
        assert_eq!(p.backoff_ms(u32::MAX), 60_000);
    }

    #[test]
    fn before_treats_implausibly_far_deadline_as_passed() {
        assert!(before(0, 10, 10));
        assert!(!before(0, 11, 10));
        assert!(!before(10, 10, 10));
        assert!(!before(i64::MIN, i64::MAX, i64::MAX - 1));
    }

    #[test]
    fn ticket_of_another_attempt_is_not_owner() {
        let p = CachePolicy::default();
        let me = NonZeroI32::new(7).expect("non-zero");
        let mut s = IssuerCacheState::default();
        let LookupDecision::Refresh(t) = s.on_lookup(1_000, Need::Fresh, &p, me) else {
            panic!("empty cache must hand out a refresh");
        };
        let forged = RefreshTicket {
            attempt: t.attempt + 1,
            ..t
        };
        assert_eq!(
            s.on_refresh_success(forged, 600, &p),
            RefreshOutcome::NotOwner
        );
        assert!(!s.has_data());
    }
}
