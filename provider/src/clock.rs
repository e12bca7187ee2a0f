//! The one clock pg_bearer reads. Core never reads a clock: every decision gets `now` from
//! here, passed in by the glue (milliseconds for the shared caches, seconds for token times).

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch: the cache's clock, the same in every backend.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
