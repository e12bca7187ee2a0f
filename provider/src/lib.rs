//! Talking to the identity provider and keeping what it said, for both of pg_bearer's modules:
//! HTTPS with deadlines, discovery and JWKS fetches, the key cache's refresh protocol, the
//! introspection and userinfo result cache, and the decision for one token.
//!
//! The PostgreSQL 18 validator (`pg_bearer.so`) and the PAM module (`pam_bearer.so`, for
//! PostgreSQL 14 to 17) run this same code. What differs is behind three traits: the
//! [`Host`] (how to wait, log and count: PostgreSQL's latch and log, or PAM's syslog), and the
//! two stores, [`KeyStore`] and [`ResultStore`] (a DSM segment shared by the backends, or files
//! shared by the processes of one OS user). The decisions themselves are pg_bearer_core's.
//!
//! Process model: both modules run inside a freshly forked backend for every login. Nothing
//! here keeps state in the process across logins; the stores do.

pub mod clock;
pub mod fetch;
pub mod files;
pub mod http;
pub mod keys;
pub mod login;
pub mod opaque;
pub mod refusal;

use std::num::NonZeroI32;
use std::time::Duration;

use pg_bearer_core::cache::{CachePolicy, IssuerCacheState, RefreshTicket};
use pg_bearer_core::request_budget::BudgetPolicy;
use pg_bearer_core::result_cache::{EntryKind, Tag};
use pg_bearer_core::stats::RequestKind;

/// Largest discovery document kept, in bytes.
pub const META_MAX: usize = 8 * 1024;
/// Largest JWKS accepted and kept, in bytes.
pub const JWKS_MAX: usize = 128 * 1024;

/// The settings that say how providers are reached and how long their answers are kept:
/// PostgreSQL's `pg_bearer.*` settings, or the top of the PAM module's configuration file.
#[derive(Debug, Clone)]
pub struct ProviderSettings {
    /// Deadline of one request (connect, TLS, headers and body).
    pub http_timeout: Duration,
    /// PEM bundle trusted in addition to the system roots; empty for none.
    pub ca_file: String,
    /// Permit `http://` providers (test builds only).
    pub allow_http: bool,
    /// Longest an accepted introspection or userinfo answer is kept.
    pub result_cache_ttl: Duration,
    /// How long an "inactive" introspection answer is kept.
    pub negative_cache_ttl: Duration,
    /// Requests per issuer for tokens the result cache does not know.
    pub unknown_token_budget: BudgetPolicy,
    /// JWKS freshness: floor, ceiling and default, in seconds.
    pub cache_min: u32,
    pub cache_max: u32,
    pub cache_default: u32,
    /// How long stale keys stay usable while refreshes fail.
    pub cache_grace: Duration,
    /// Least time between two refetches for an unknown `kid`.
    pub unknown_kid_cooldown: Duration,
}

impl ProviderSettings {
    /// How providers are reached under these settings (the CA file, plain HTTP). Part of every
    /// cache key: what was fetched one way is never used after a reload changes the way.
    pub fn transport_tag(&self) -> String {
        format!("ca={}|http={}", self.ca_file, u8::from(self.allow_http))
    }
}

/// What the module around this code provides: waiting, logging, counting.
pub trait Host {
    /// Called every few milliseconds while a request or a wait is in progress, on the thread
    /// that made the call. PostgreSQL serves its interrupts here (a terminate ends the process).
    fn check_interrupts(&self) {}

    /// Sleeps about `ms` milliseconds, waking early for what the host must serve.
    fn sleep_ms(&self, ms: u32) {
        std::thread::sleep(Duration::from_millis(u64::from(ms.max(1))));
        self.check_interrupts();
    }

    /// An operational warning for the administrator. Never carries token material: callers
    /// pass text made safe with [`printable`].
    fn warning(&self, line: &str);

    /// How the module's users write the setting `key` (PostgreSQL's `pg_bearer.key`, the PAM
    /// file's `key`), for messages that tell them what to set.
    fn setting_name(&self, key: &str) -> String {
        key.to_owned()
    }

    /// One request to `issuer`'s provider, and whether it brought back a usable answer.
    fn count_request(&self, _issuer: &str, _kind: RequestKind, _ok: bool) {}

    /// This process now owns a key refresh of `slot`: if it dies before
    /// [`Host::refresh_finished`], the host may record the refresh as failed so that others
    /// need not wait for its deadline.
    fn refresh_started(&self, _slot: &str, _ticket: RefreshTicket, _policy: &CachePolicy) {}

    /// The refresh announced by [`Host::refresh_started`] was recorded.
    fn refresh_finished(&self) {}

    /// Whether the process `pid`, recorded as a refresh's owner, still exists. PostgreSQL 18
    /// releases a dying backend's refresh in an exit callback, so the default says yes; the
    /// PAM module, which has no such callback, asks the OS.
    fn owner_alive(&self, _pid: NonZeroI32) -> bool {
        true
    }

    /// Test builds: whether the named fault is injected.
    fn fault(&self, _name: &str) -> bool {
        false
    }
}

/// One key-cache slot, while the store holds it for this process alone.
pub trait KeySlot {
    /// The slot's state machine.
    fn state(&mut self) -> &mut IssuerCacheState;
    /// The stored discovery metadata and JWKS.
    fn data(&self) -> (Vec<u8>, Vec<u8>);
    /// Stores fetched metadata and JWKS; false if they do not fit.
    fn store(&mut self, meta: &[u8], jwks: &[u8]) -> bool;
    /// Records (or clears) the last refresh error, for the administrator.
    fn set_error(&mut self, error: Option<&str>);
}

/// The key cache shared by logins: one slot per issuer, key source and transport.
pub trait KeyStore {
    /// Longest slot name the store takes.
    fn max_name_len(&self) -> usize;

    /// Runs `f` on the slot named `name` with the store locked against every other process;
    /// `claim` creates the slot if there is none. Returns false, without calling `f`, when
    /// there is no such slot and none could be made. `f` copies plain data and never blocks.
    fn visit(
        &self,
        name: &str,
        now_ms: i64,
        claim: bool,
        f: &mut dyn FnMut(&mut dyn KeySlot),
    ) -> bool;
}

/// [`KeyStore::visit`] with a closure that returns a value.
pub(crate) fn with_slot<R>(
    store: &dyn KeyStore,
    name: &str,
    now_ms: i64,
    claim: bool,
    f: impl FnOnce(&mut dyn KeySlot) -> R,
) -> Option<R> {
    let mut f = Some(f);
    let mut out = None;
    store.visit(name, now_ms, claim, &mut |slot| {
        if let Some(f) = f.take() {
            out = Some(f(slot));
        }
    });
    out
}

/// The introspection and userinfo result cache shared by logins, keyed by
/// `pg_bearer_core::result_cache::token_key` (never the token).
pub trait ResultStore {
    /// A live entry for `key`: its kind and body.
    fn lookup(&self, key: &[u8; 32], now_ms: i64) -> Option<(EntryKind, Vec<u8>)>;
    /// Keeps a result for `ttl_ms`. Best effort: a store that cannot keep it drops it.
    fn insert(
        &self,
        key: &[u8; 32],
        kind: EntryKind,
        body: &[u8],
        now_ms: i64,
        ttl_ms: i64,
        tag: &Tag,
    );
    /// Takes one request from the budget named `key`; false when it is spent.
    fn take_budget(&self, key: &[u8; 32], now_ms: i64, policy: BudgetPolicy) -> bool;
}

/// Everything a login needs from its module: the settings and the three traits.
#[derive(Clone, Copy)]
pub struct Provider<'a> {
    pub settings: &'a ProviderSettings,
    pub host: &'a dyn Host,
    pub keys: &'a dyn KeyStore,
    pub results: &'a dyn ResultStore,
}

/// Configuration text made safe for one log line: control characters, quotes and
/// backslashes escaped, length capped.
pub fn printable(s: &str) -> String {
    const MAX: usize = 200;
    let mut out = String::with_capacity(s.len().min(MAX));
    for c in s.chars() {
        if out.len() >= MAX {
            out.push_str("...");
            break;
        }
        if c.is_control() || c == '"' || c == '\\' {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}
