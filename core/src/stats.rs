//! Login and provider-request counters (`pg_bearer.login_stats`, `pg_bearer.provider_stats`),
//! as plain data for shared memory.
//!
//! The table is made of atomics only, so every backend may count without a lock: a login costs
//! one relaxed atomic increment once its issuer's row is known, and a backend finds that row
//! once (it validates one token in its life). All-zero bytes are a valid empty table, which is
//! what a new shared-memory segment holds.
//!
//! Rows are per issuer (the `issuer` of the HBA line), up to [`ISSUERS`] of them, claimed on
//! first use and kept until the server restarts. Logins for further issuers, for issuers longer
//! than [`ISSUER_NAME_MAX`] bytes, and those that fail before an issuer is known count in one
//! overflow row, shown with no issuer. Reading is not atomic across counters: a snapshot taken
//! while logins run may be between two increments, never torn within one.

use std::hint::spin_loop;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};

use crate::reason::{LogLevel, Reason};

/// Issuers counted in rows of their own.
pub const ISSUERS: usize = 32;
/// Longest issuer with a row of its own (bytes).
pub const ISSUER_NAME_MAX: usize = 512;
const REASONS: usize = Reason::ALL.len();

/// What one login came to, for counting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoginResult {
    /// The token was accepted.
    Accepted,
    /// The token was refused for this reason.
    Rejected(Reason),
}

impl LoginResult {
    /// `accepted`, `refused` (a verdict on the token) or `error` (the configuration, the
    /// provider, the shared cache's limits or pg_bearer itself: what the log marks WARNING).
    pub fn outcome(self) -> &'static str {
        match self {
            LoginResult::Accepted => "accepted",
            LoginResult::Rejected(r) => match r.level() {
                LogLevel::Log => "refused",
                LogLevel::Warning => "error",
            },
        }
    }
}

/// A request pg_bearer makes to a provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestKind {
    /// The discovery document (`/.well-known/...`).
    Discovery,
    /// The JWKS.
    Jwks,
    /// RFC 7662 introspection.
    Introspection,
    /// The userinfo endpoint.
    Userinfo,
}

impl RequestKind {
    /// Every kind, in the order the views list them.
    pub const ALL: [RequestKind; 4] = [
        RequestKind::Discovery,
        RequestKind::Jwks,
        RequestKind::Introspection,
        RequestKind::Userinfo,
    ];

    /// The name the view shows.
    pub fn code(self) -> &'static str {
        match self {
            RequestKind::Discovery => "discovery",
            RequestKind::Jwks => "jwks",
            RequestKind::Introspection => "introspection",
            RequestKind::Userinfo => "userinfo",
        }
    }
}

/// One issuer's counters.
#[repr(C)]
pub struct Counters {
    accepted: AtomicU64,
    /// Refused and failed logins, by reason (the index in [`Reason::ALL`]).
    rejected: [AtomicU64; REASONS],
    requests: [AtomicU64; 4],
    /// Requests that did not bring back a usable answer (network error, timeout, an HTTP
    /// status other than the one expected, a body that failed the checks).
    failures: [AtomicU64; 4],
}

impl Default for Counters {
    fn default() -> Self {
        Counters {
            accepted: AtomicU64::new(0),
            rejected: std::array::from_fn(|_| AtomicU64::new(0)),
            requests: std::array::from_fn(|_| AtomicU64::new(0)),
            failures: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl Counters {
    /// Counts one login.
    pub fn login(&self, result: LoginResult) {
        let counter = match result {
            LoginResult::Accepted => &self.accepted,
            LoginResult::Rejected(reason) => &self.rejected[reason_index(reason)],
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one provider request, and whether it failed.
    pub fn request(&self, kind: RequestKind, ok: bool) {
        let i = kind as usize;
        self.requests[i].fetch_add(1, Ordering::Relaxed);
        if !ok {
            self.failures[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    fn reset(&self) {
        self.accepted.store(0, Ordering::Relaxed);
        for c in self
            .rejected
            .iter()
            .chain(&self.requests)
            .chain(&self.failures)
        {
            c.store(0, Ordering::Relaxed);
        }
    }
}

fn reason_index(reason: Reason) -> usize {
    // Reason::ALL lists every variant (a core test checks it against the enum's codes).
    Reason::ALL.iter().position(|&r| r == reason).unwrap_or(0)
}

/// An issuer's name, written once by the backend that claims the row.
#[repr(C)]
struct IssuerName {
    len: AtomicU32,
    bytes: [AtomicU8; ISSUER_NAME_MAX],
}

impl Default for IssuerName {
    fn default() -> Self {
        IssuerName {
            len: AtomicU32::new(0),
            bytes: std::array::from_fn(|_| AtomicU8::new(0)),
        }
    }
}

impl IssuerName {
    fn read(&self) -> Vec<u8> {
        let len = (self.len.load(Ordering::Relaxed) as usize).min(ISSUER_NAME_MAX);
        self.bytes[..len]
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect()
    }

    fn equals(&self, name: &[u8]) -> bool {
        self.len.load(Ordering::Relaxed) as usize == name.len()
            && self
                .bytes
                .iter()
                .zip(name)
                .all(|(b, &c)| b.load(Ordering::Relaxed) == c)
    }

    fn write(&self, name: &[u8]) {
        for (b, &c) in self.bytes.iter().zip(name) {
            b.store(c, Ordering::Relaxed);
        }
        self.len.store(name.len() as u32, Ordering::Relaxed);
    }
}

/// The counters of every issuer. Place it in zeroed shared memory.
#[repr(C)]
pub struct StatsTable {
    /// Rows whose name is written and visible: published with `Release` after the name.
    claimed: AtomicU32,
    /// Held by the one backend claiming a row.
    claiming: AtomicBool,
    names: [IssuerName; ISSUERS],
    /// Row [`ISSUERS`] is the overflow row.
    rows: [Counters; ISSUERS + 1],
}

impl Default for StatsTable {
    fn default() -> Self {
        StatsTable {
            claimed: AtomicU32::new(0),
            claiming: AtomicBool::new(false),
            names: std::array::from_fn(|_| IssuerName::default()),
            rows: std::array::from_fn(|_| Counters::default()),
        }
    }
}

/// A login-count row of a snapshot (only non-zero counts are listed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoginRow {
    /// `None` for the overflow row.
    pub issuer: Option<String>,
    /// See [`LoginResult::outcome`].
    pub outcome: &'static str,
    /// The refusal's reason code; `None` for accepted logins.
    pub reason: Option<&'static str>,
    /// How many logins.
    pub logins: u64,
}

/// A provider-request row of a snapshot (only kinds with requests are listed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestRow {
    /// `None` for the overflow row.
    pub issuer: Option<String>,
    /// See [`RequestKind::code`].
    pub kind: &'static str,
    /// Requests made.
    pub requests: u64,
    /// Of which failed.
    pub failures: u64,
}

impl StatsTable {
    /// The row that counts for `issuer` (`None`: not known, the overflow row). Claims a row
    /// for an issuer not seen before while any is free; the overflow row otherwise, or while
    /// another backend is claiming one (a claim takes microseconds, and a login is never made
    /// to wait for counting).
    pub fn row(&self, issuer: Option<&str>) -> &Counters {
        let overflow = &self.rows[ISSUERS];
        let Some(name) = issuer.map(str::as_bytes) else {
            return overflow;
        };
        if name.is_empty() || name.len() > ISSUER_NAME_MAX {
            return overflow;
        }
        if let Some(i) = self.find(name) {
            return &self.rows[i];
        }
        // Claim: one claimer at a time; a claimer that loses the race looks again.
        for _ in 0..1_000 {
            if self
                .claiming
                .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                let row = self.claim_locked(name);
                self.claiming.store(false, Ordering::Release);
                return row.map_or(overflow, |i| &self.rows[i]);
            }
            spin_loop();
        }
        self.find(name).map_or(overflow, |i| &self.rows[i])
    }

    fn find(&self, name: &[u8]) -> Option<usize> {
        let claimed = (self.claimed.load(Ordering::Acquire) as usize).min(ISSUERS);
        self.names[..claimed].iter().position(|n| n.equals(name))
    }

    /// Under `claiming`: the issuer's row, claimed now if needed; `None` if the table is full.
    fn claim_locked(&self, name: &[u8]) -> Option<usize> {
        if let Some(i) = self.find(name) {
            return Some(i);
        }
        let next = self.claimed.load(Ordering::Relaxed) as usize;
        if next >= ISSUERS {
            return None;
        }
        self.names[next].write(name);
        self.claimed.store(next as u32 + 1, Ordering::Release);
        Some(next)
    }

    /// Zeroes every counter. Issuer rows stay claimed.
    pub fn reset(&self) {
        for row in &self.rows {
            row.reset();
        }
    }

    fn issuers(&self) -> impl Iterator<Item = (Option<String>, &Counters)> {
        let claimed = (self.claimed.load(Ordering::Acquire) as usize).min(ISSUERS);
        let named = self.names[..claimed]
            .iter()
            .zip(&self.rows)
            .map(|(n, row)| (Some(String::from_utf8_lossy(&n.read()).into_owned()), row));
        named.chain(std::iter::once((None, &self.rows[ISSUERS])))
    }

    /// The login counts, one row per issuer, outcome and reason with a non-zero count.
    pub fn logins(&self) -> Vec<LoginRow> {
        let mut rows = Vec::new();
        for (issuer, counters) in self.issuers() {
            let accepted = counters.accepted.load(Ordering::Relaxed);
            if accepted > 0 {
                rows.push(LoginRow {
                    issuer: issuer.clone(),
                    outcome: LoginResult::Accepted.outcome(),
                    reason: None,
                    logins: accepted,
                });
            }
            for (&reason, count) in Reason::ALL.iter().zip(&counters.rejected) {
                let logins = count.load(Ordering::Relaxed);
                if logins > 0 {
                    rows.push(LoginRow {
                        issuer: issuer.clone(),
                        outcome: LoginResult::Rejected(reason).outcome(),
                        reason: Some(reason.code()),
                        logins,
                    });
                }
            }
        }
        rows
    }

    /// The provider requests, one row per issuer and kind with requests.
    pub fn requests(&self) -> Vec<RequestRow> {
        let mut rows = Vec::new();
        for (issuer, counters) in self.issuers() {
            for kind in RequestKind::ALL {
                let requests = counters.requests[kind as usize].load(Ordering::Relaxed);
                if requests > 0 {
                    rows.push(RequestRow {
                        issuer: issuer.clone(),
                        kind: kind.code(),
                        requests,
                        failures: counters.failures[kind as usize].load(Ordering::Relaxed),
                    });
                }
            }
        }
        rows
    }
}
