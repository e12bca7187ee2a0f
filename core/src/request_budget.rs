//! A bound on provider requests caused by tokens the result cache has never seen: one token
//! bucket per issuer, as plain data for shared memory, with an injected clock.
//!
//! Every opaque token that is not in the result cache costs one introspection or userinfo
//! request. Without a bound, a client sending random tokens turns every login into a provider
//! call and can get the database's client throttled or locked out at the provider. Each
//! issuer's bucket holds up to `burst` requests and refills at `rate` per second; a request is
//! made only when a whole one is left. Answers already cached never take from it.

use aws_lc_rs::digest;

/// One issuer's bucket. All-zero is an unused entry.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RequestBudget {
    /// SHA-256 of the issuer's cache key ([`budget_key`]); all zero when unused.
    key: [u8; 32],
    /// What is left, in thousandths of a request.
    level_milli: i64,
    /// When `level_milli` was last brought up to date (ms).
    updated_ms: i64,
}

impl RequestBudget {
    /// Length of [`RequestBudget::to_bytes`].
    pub const ENCODED_LEN: usize = 32 + 8 + 8;

    /// The bucket as bytes, for a store outside shared memory (the PAM module's files).
    pub fn to_bytes(&self) -> [u8; Self::ENCODED_LEN] {
        let mut out = [0u8; Self::ENCODED_LEN];
        out[..32].copy_from_slice(&self.key);
        out[32..40].copy_from_slice(&self.level_milli.to_le_bytes());
        out[40..].copy_from_slice(&self.updated_ms.to_le_bytes());
        out
    }

    /// The bucket [`RequestBudget::to_bytes`] wrote; `None` for anything else.
    pub fn from_bytes(bytes: &[u8]) -> Option<RequestBudget> {
        if bytes.len() != Self::ENCODED_LEN {
            return None;
        }
        let mut key = [0u8; 32];
        key.copy_from_slice(&bytes[..32]);
        let mut n = [0u8; 8];
        n.copy_from_slice(&bytes[32..40]);
        let level_milli = i64::from_le_bytes(n);
        n.copy_from_slice(&bytes[40..]);
        Some(RequestBudget {
            key,
            level_milli,
            updated_ms: i64::from_le_bytes(n),
        })
    }
}

/// The bound's settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BudgetPolicy {
    /// Requests per second the bucket refills; 0 means no bound at all.
    pub rate: u32,
    /// The most requests at once (the bucket's size), at least 1 when `rate` is positive.
    pub burst: u32,
}

/// The key of an issuer's bucket (the issuer's result-cache scope: issuer and transport).
pub fn budget_key(scope: &str) -> [u8; 32] {
    let mut key = [0u8; 32];
    key.copy_from_slice(digest::digest(&digest::SHA256, scope.as_bytes()).as_ref());
    key
}

/// Takes one request from `key`'s bucket if a whole one is left: `true` means the caller may
/// ask the provider. A new issuer gets a full bucket (the least recently updated bucket is
/// reused when the table is full). A clock that steps backwards refills nothing.
pub fn try_take(
    table: &mut [RequestBudget],
    key: &[u8; 32],
    now_ms: i64,
    policy: BudgetPolicy,
) -> bool {
    if policy.rate == 0 {
        return true;
    }
    let capacity = i64::from(policy.burst.max(1)) * 1000;
    let index = table.iter().position(|b| &b.key == key).or_else(|| {
        table
            .iter()
            .enumerate()
            .min_by_key(|(_, b)| {
                if b.key == [0; 32] {
                    i64::MIN
                } else {
                    b.updated_ms
                }
            })
            .map(|(i, _)| i)
    });
    let Some(bucket) = index.and_then(|i| table.get_mut(i)) else {
        return true;
    };
    if &bucket.key != key {
        *bucket = RequestBudget {
            key: *key,
            level_milli: capacity,
            updated_ms: now_ms,
        };
    }
    // Thousandths of a request per millisecond = requests per second.
    let elapsed = now_ms.saturating_sub(bucket.updated_ms).max(0);
    bucket.level_milli = bucket
        .level_milli
        .saturating_add(elapsed.saturating_mul(i64::from(policy.rate)))
        .min(capacity);
    if now_ms > bucket.updated_ms {
        bucket.updated_ms = now_ms;
    }
    if bucket.level_milli >= 1000 {
        bucket.level_milli -= 1000;
        true
    } else {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: BudgetPolicy = BudgetPolicy {
        rate: 10,
        burst: 50,
    };

    fn takes(table: &mut [RequestBudget], key: &[u8; 32], from: i64, to: i64, step: i64) -> u32 {
        let mut n = 0;
        let mut t = from;
        while t < to {
            n += u32::from(try_take(table, key, t, P));
            t += step;
        }
        n
    }

    #[test]
    fn a_flood_gets_the_burst_then_the_rate() {
        let mut table = [RequestBudget::default(); 4];
        let k = budget_key("https://idp/realms/a");
        // 1 000 tokens in 5 s (one every 5 ms): 50 at once, then 10 per second.
        let n = takes(&mut table, &k, 0, 5_000, 5);
        assert!((50..=100).contains(&n), "{n}");
        assert_eq!(n, 50 + 49);
    }

    #[test]
    fn a_quiet_issuer_refills_to_the_burst_and_no_further() {
        let mut table = [RequestBudget::default(); 4];
        let k = budget_key("a");
        assert_eq!(takes(&mut table, &k, 0, 100, 1), 50);
        // 100 ms at 10/s refill exactly one request.
        assert!(try_take(&mut table, &k, 100, P));
        assert!(!try_take(&mut table, &k, 100, P));
        // An hour later: full again, but only 50.
        assert_eq!(takes(&mut table, &k, 3_600_000, 3_600_100, 1), 50);
    }

    #[test]
    fn issuers_have_their_own_buckets() {
        let mut table = [RequestBudget::default(); 4];
        let (a, b) = (budget_key("a"), budget_key("b"));
        assert_eq!(takes(&mut table, &a, 0, 100, 1), 50);
        assert!(try_take(&mut table, &b, 100, P));
    }

    #[test]
    fn a_clock_stepping_back_refills_nothing() {
        let mut table = [RequestBudget::default(); 1];
        let k = budget_key("a");
        assert_eq!(takes(&mut table, &k, 10_000, 10_050, 1), 50);
        assert!(!try_take(&mut table, &k, 0, P));
        assert!(!try_take(&mut table, &k, 10_050, P));
        assert!(try_take(&mut table, &k, 10_150, P));
    }

    #[test]
    fn a_zero_rate_means_no_bound() {
        let mut table = [RequestBudget::default(); 1];
        let k = budget_key("a");
        let off = BudgetPolicy { rate: 0, burst: 0 };
        assert!((0..10_000).all(|i| try_take(&mut table, &k, i, off)));
    }

    #[test]
    fn a_full_table_reuses_the_least_recently_updated_bucket() {
        let mut table = [RequestBudget::default(); 2];
        let (a, b, c) = (budget_key("a"), budget_key("b"), budget_key("c"));
        assert_eq!(takes(&mut table, &a, 0, 60, 1), 50);
        assert!(try_take(&mut table, &b, 100, P));
        assert!(try_take(&mut table, &c, 200, P));
        // a's bucket was reused for c; b's survived.
        assert!(table.iter().any(|e| e.key == b));
        assert!(!table.iter().any(|e| e.key == a));
    }
}
