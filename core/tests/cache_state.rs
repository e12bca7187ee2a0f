//! The per-issuer cache state machine, driven by a fake clock (milliseconds). Battery items 17,
//! 20, 55, 56, 57 at the unit level.

use std::num::NonZeroI32;
use std::time::Duration;

use pg_bearer_core::cache::{
    CachePolicy, CachePolicyError, IssuerCacheState, LookupDecision, Need, RefreshOutcome,
    RefreshTicket,
};
use pg_bearer_core::freshness::{freshness_lifetime, FreshnessBounds};

/// 2025-06-15, in milliseconds.
const T0: i64 = 1_750_000_000_000;
const SEC: i64 = 1_000;

fn pid(n: i32) -> NonZeroI32 {
    NonZeroI32::new(n).expect("test PIDs are non-zero")
}

fn policy() -> CachePolicy {
    CachePolicy::default()
}

fn expect_refresh(d: LookupDecision) -> RefreshTicket {
    match d {
        LookupDecision::Refresh(t) => t,
        other => panic!("expected Refresh, got {other:?}"),
    }
}

/// A slot filled by pid 1 at `now` with `fresh_for` seconds of freshness.
fn filled_at(now: i64, fresh_for: u32) -> IssuerCacheState {
    let p = policy();
    let mut s = IssuerCacheState::default();
    let t = expect_refresh(s.on_lookup(now, Need::Fresh, &p, pid(1)));
    assert!(matches!(
        s.on_refresh_success(t, fresh_for, &p),
        RefreshOutcome::Recorded { .. }
    ));
    s
}

// --- fresh hits and single flight -----------------------------------------------------------

#[test]
fn empty_cache_hands_out_exactly_one_refresh() {
    let p = policy();
    let mut s = IssuerCacheState::default();
    let t = expect_refresh(s.on_lookup(T0, Need::Fresh, &p, pid(1)));
    assert_eq!(t.started_at(), T0);
    assert_eq!(s.refresh_owner(), Some(pid(1)));
    for other in 2..50 {
        assert_eq!(
            s.on_lookup(T0 + i64::from(other), Need::Fresh, &p, pid(other)),
            LookupDecision::WaitForRefresh {
                owner_deadline: T0 + 12 * SEC
            }
        );
    }
}

#[test]
fn fresh_data_is_used_without_fetching() {
    let p = policy();
    let mut s = filled_at(T0, 600);
    for i in 0..1_000 {
        let now = T0 + i * 599;
        assert_eq!(
            s.on_lookup(now, Need::Fresh, &p, pid(2 + (i as i32 % 7))),
            LookupDecision::UseCached
        );
    }
    assert_eq!(s.refresh_owner(), None);
    assert_eq!(s.generation(), 1);
}

#[test]
fn expiry_elects_exactly_one_refresher_and_others_use_stale_keys() {
    let p = policy();
    let mut s = filled_at(T0, 600);
    let expiry = T0 + 600 * SEC;
    assert_eq!(
        s.on_lookup(expiry - 1, Need::Fresh, &p, pid(2)),
        LookupDecision::UseCached
    );
    let t = expect_refresh(s.on_lookup(expiry, Need::Fresh, &p, pid(2)));
    for other in 3..100 {
        assert_eq!(
            s.on_lookup(expiry + i64::from(other), Need::Fresh, &p, pid(other)),
            LookupDecision::UseStaleWhileRefreshing,
        );
    }
    assert_eq!(
        s.on_refresh_success(t, 600, &p),
        RefreshOutcome::Recorded { generation: 2 }
    );
    assert_eq!(
        s.on_lookup(expiry + 200, Need::Fresh, &p, pid(3)),
        LookupDecision::UseCached
    );
}

#[test]
fn success_makes_data_fresh_from_request_start_and_usable_for_grace() {
    let p = policy();
    let mut s = IssuerCacheState::default();
    let t = expect_refresh(s.on_lookup(T0, Need::Fresh, &p, pid(1)));
    // The fetch took 3 s; freshness counts from the request.
    let _ = s.on_lookup(T0 + 3 * SEC, Need::Fresh, &p, pid(2));
    assert!(matches!(
        s.on_refresh_success(t, 300, &p),
        RefreshOutcome::Recorded { generation: 1 }
    ));
    assert_eq!(s.fetched_at(), T0);
    assert_eq!(s.fresh_until(), T0 + 300 * SEC);
    assert_eq!(s.usable_until(), T0 + 300 * SEC + 3_600 * SEC);
    assert!(s.has_data());
    assert_eq!(s.refresh_owner(), None);
}

#[test]
fn stored_lifetime_is_clamped_to_policy_bounds() {
    let p = policy();
    let short = filled_at(T0, 0);
    assert_eq!(short.fresh_until(), T0 + 60 * SEC);
    let long = filled_at(T0, u32::MAX);
    assert_eq!(long.fresh_until(), T0 + 86_400 * SEC);
    assert!(long.is_fresh(T0 + 86_399 * SEC, &p));
}

#[test]
fn no_cache_provider_is_fetched_once_per_floor_not_per_login() {
    let p = policy();
    let b = p.freshness;
    let lifetime = freshness_lifetime(
        Some("no-cache"),
        b.floor_secs,
        b.ceiling_secs,
        b.default_secs,
    );
    assert_eq!(lifetime, 60);
    let mut s = IssuerCacheState::default();
    let mut fetches = 0;
    // 10 logins per second for 10 minutes, each fetch finishing 100 ms after it starts.
    let mut pending: Option<(RefreshTicket, i64)> = None;
    for i in 0..6_000 {
        let now = T0 + i * 100;
        if let Some((t, done)) = pending {
            if done <= now {
                let _ = s.on_refresh_success(t, lifetime, &p);
                pending = None;
            }
        }
        match s.on_lookup(now, Need::Fresh, &p, pid(2 + (i as i32 % 40))) {
            LookupDecision::Refresh(t) => {
                fetches += 1;
                pending = Some((t, now + 100));
            }
            LookupDecision::UseCached | LookupDecision::UseStaleWhileRefreshing => {}
            other => {
                // Only the very first login (cold cache) may have to wait.
                assert!(now < T0 + SEC, "unexpected {other:?} at +{} ms", now - T0);
            }
        }
    }
    assert_eq!(fetches, 10);
}

// --- waiting and takeover -------------------------------------------------------------------

#[test]
fn cold_waiter_gets_data_once_owner_finishes() {
    let p = policy();
    let mut s = IssuerCacheState::default();
    let t = expect_refresh(s.on_lookup(T0, Need::Fresh, &p, pid(1)));
    assert!(matches!(
        s.on_lookup(T0 + 10, Need::Fresh, &p, pid(2)),
        LookupDecision::WaitForRefresh { .. }
    ));
    let _ = s.on_refresh_success(t, 600, &p);
    assert_eq!(
        s.on_lookup(T0 + 60, Need::Fresh, &p, pid(2)),
        LookupDecision::UseCached
    );
}

#[test]
fn stuck_owner_is_taken_over_after_its_deadline() {
    let p = policy();
    let mut s = IssuerCacheState::default();
    let _hung = expect_refresh(s.on_lookup(T0, Need::Fresh, &p, pid(1)));
    let deadline = T0 + 12 * SEC;
    assert_eq!(
        s.on_lookup(deadline - 1, Need::Fresh, &p, pid(2)),
        LookupDecision::WaitForRefresh {
            owner_deadline: deadline
        }
    );
    let t2 = expect_refresh(s.on_lookup(deadline, Need::Fresh, &p, pid(2)));
    assert_eq!(s.refresh_owner(), Some(pid(2)));
    assert_eq!(
        s.on_lookup(deadline + 1, Need::Fresh, &p, pid(3)),
        LookupDecision::WaitForRefresh {
            owner_deadline: deadline + 12 * SEC
        }
    );
    assert!(matches!(
        s.on_refresh_success(t2, 600, &p),
        RefreshOutcome::Recorded { .. }
    ));
}

#[test]
fn late_result_of_taken_over_owner_is_discarded() {
    let p = policy();
    let mut s = IssuerCacheState::default();
    let old = expect_refresh(s.on_lookup(T0, Need::Fresh, &p, pid(1)));
    let new = expect_refresh(s.on_lookup(T0 + 12 * SEC, Need::Fresh, &p, pid(2)));
    assert_eq!(s.on_refresh_success(old, 600, &p), RefreshOutcome::NotOwner);
    assert_eq!(
        s.on_refresh_failure(old, T0 + 13 * SEC, &p),
        RefreshOutcome::NotOwner
    );
    assert!(!s.has_data());
    assert_eq!(s.consecutive_failures(), 0);
    assert_eq!(s.refresh_owner(), Some(pid(2)));
    assert!(matches!(
        s.on_refresh_success(new, 600, &p),
        RefreshOutcome::Recorded { generation: 1 }
    ));
    // A second completion of the same ticket is no longer the owner's.
    assert_eq!(s.on_refresh_success(new, 600, &p), RefreshOutcome::NotOwner);
    assert_eq!(s.generation(), 1);
}

#[test]
fn same_pid_asking_again_takes_over_its_own_stale_claim() {
    // PID reuse after a crash: the recorded owner is this very PID, which is not fetching.
    let p = policy();
    let mut s = IssuerCacheState::default();
    let first = expect_refresh(s.on_lookup(T0, Need::Fresh, &p, pid(9)));
    let second = expect_refresh(s.on_lookup(T0 + 100, Need::Fresh, &p, pid(9)));
    assert_ne!(first, second);
    assert_eq!(
        s.on_refresh_success(first, 600, &p),
        RefreshOutcome::NotOwner
    );
    assert!(matches!(
        s.on_refresh_success(second, 600, &p),
        RefreshOutcome::Recorded { .. }
    ));
}

#[test]
fn wait_step_polls_then_gives_up_after_refresh_wait() {
    let p = policy();
    let deadline = T0 + 12 * SEC;
    assert_eq!(p.wait_step_ms(T0, T0, deadline), Some(50));
    assert_eq!(p.wait_step_ms(T0, T0 + 1_980, deadline), Some(20));
    assert_eq!(p.wait_step_ms(T0, T0 + 2 * SEC, deadline), None);
    assert_eq!(p.wait_step_ms(T0, T0 + 60 * SEC, deadline), None);
}

#[test]
fn wait_step_is_zero_once_owner_deadline_passed() {
    let p = policy();
    assert_eq!(p.wait_step_ms(T0, T0 + 500, T0 + 500), Some(0));
    assert_eq!(p.wait_step_ms(T0, T0 + 500, T0 + 480), Some(0));
    assert_eq!(p.wait_step_ms(T0, T0 + 500, T0 + 510), Some(10));
}

#[test]
fn waiting_is_bounded_even_if_every_poll_says_wait() {
    let p = policy();
    let mut s = IssuerCacheState::default();
    let _owner = expect_refresh(s.on_lookup(T0, Need::Fresh, &p, pid(1)));
    let since = T0 + 5;
    let mut now = since;
    let mut polls = 0;
    loop {
        let d = s.on_lookup(now, Need::Fresh, &p, pid(2));
        let LookupDecision::WaitForRefresh { owner_deadline } = d else {
            panic!("unexpected {d:?}");
        };
        match p.wait_step_ms(since, now, owner_deadline) {
            Some(step) => now += i64::from(step.max(1)),
            None => break,
        }
        polls += 1;
    }
    assert_eq!(now - since, 2 * SEC);
    assert_eq!(polls, 40);
}

// --- failures, backoff and grace ------------------------------------------------------------

#[test]
fn failed_refresh_keeps_stale_keys_usable_within_grace_without_hammering() {
    let p = policy();
    let mut s = filled_at(T0, 600);
    let stale = T0 + 600 * SEC;
    let t = expect_refresh(s.on_lookup(stale, Need::Fresh, &p, pid(2)));
    assert_eq!(
        s.on_refresh_failure(t, stale + 5 * SEC, &p),
        RefreshOutcome::Recorded { generation: 1 }
    );
    assert_eq!(s.consecutive_failures(), 1);
    assert_eq!(s.next_attempt_at(), stale + 6 * SEC);
    // The failed owner asks again and uses the old keys; so does everybody else meanwhile.
    for (i, who) in (2..40).enumerate() {
        assert_eq!(
            s.on_lookup(stale + 5 * SEC + i as i64 * 20, Need::Fresh, &p, pid(who)),
            LookupDecision::UseCached
        );
    }
    // Backoff over: one more attempt.
    let t = expect_refresh(s.on_lookup(stale + 6 * SEC, Need::Fresh, &p, pid(3)));
    let _ = s.on_refresh_failure(t, stale + 6 * SEC, &p);
    assert_eq!(s.next_attempt_at(), stale + 8 * SEC);
}

#[test]
fn keys_are_unavailable_after_grace_while_provider_stays_down() {
    let p = policy();
    let mut s = filled_at(T0, 600);
    let end_of_grace = T0 + 600 * SEC + 3_600 * SEC;
    let mut now = T0 + 600 * SEC;
    let mut attempts = 0;
    while now < end_of_grace + 300 * SEC {
        match s.on_lookup(now, Need::Fresh, &p, pid(2)) {
            LookupDecision::Refresh(t) => {
                attempts += 1;
                let _ = s.on_refresh_failure(t, now, &p);
            }
            LookupDecision::UseCached => assert!(now < end_of_grace, "stale use after grace"),
            LookupDecision::Unavailable { retry_at } => {
                assert!(now >= end_of_grace, "rejected within grace");
                assert_eq!(retry_at, s.next_attempt_at());
            }
            other => panic!("unexpected {other:?}"),
        }
        now += 250;
    }
    // One attempt per backoff period (1, 2, 4, ... 60 s), not one per login.
    assert!((60..=80).contains(&attempts), "attempts = {attempts}");
}

#[test]
fn empty_cache_in_backoff_rejects_without_network() {
    let p = policy();
    let mut s = IssuerCacheState::default();
    let t = expect_refresh(s.on_lookup(T0, Need::Fresh, &p, pid(1)));
    let _ = s.on_refresh_failure(t, T0 + 100, &p);
    assert_eq!(
        s.on_lookup(T0 + 200, Need::Fresh, &p, pid(2)),
        LookupDecision::Unavailable {
            retry_at: T0 + 1_100
        }
    );
    assert_eq!(
        s.on_lookup(
            T0 + 200,
            Need::KidMissing { seen_generation: 0 },
            &p,
            pid(3)
        ),
        LookupDecision::Unavailable {
            retry_at: T0 + 1_100
        }
    );
    assert!(matches!(
        s.on_lookup(T0 + 1_100, Need::Fresh, &p, pid(2)),
        LookupDecision::Refresh(_)
    ));
}

#[test]
fn backoff_doubles_per_failure_up_to_its_maximum() {
    let p = policy();
    let mut s = IssuerCacheState::default();
    let mut now = T0;
    let mut gaps = Vec::new();
    for _ in 0..10 {
        let t = expect_refresh(s.on_lookup(now, Need::Fresh, &p, pid(1)));
        let _ = s.on_refresh_failure(t, now, &p);
        gaps.push((s.next_attempt_at() - now) / SEC);
        now = s.next_attempt_at();
    }
    assert_eq!(gaps, [1, 2, 4, 8, 16, 32, 60, 60, 60, 60]);
    assert_eq!(s.consecutive_failures(), 10);
}

#[test]
fn success_clears_backoff_and_failure_count() {
    let p = policy();
    let mut s = IssuerCacheState::default();
    let t = expect_refresh(s.on_lookup(T0, Need::Fresh, &p, pid(1)));
    let _ = s.on_refresh_failure(t, T0, &p);
    let t = expect_refresh(s.on_lookup(T0 + SEC, Need::Fresh, &p, pid(1)));
    let _ = s.on_refresh_success(t, 600, &p);
    assert_eq!(s.consecutive_failures(), 0);
    assert_eq!(s.next_attempt_at(), 0);
}

#[test]
fn zero_grace_fails_closed_as_soon_as_stale_refresh_fails() {
    let p = CachePolicy {
        grace: Duration::ZERO,
        ..policy()
    };
    let mut s = IssuerCacheState::default();
    let t = expect_refresh(s.on_lookup(T0, Need::Fresh, &p, pid(1)));
    let _ = s.on_refresh_success(t, 600, &p);
    let stale = T0 + 600 * SEC;
    let t = expect_refresh(s.on_lookup(stale, Need::Fresh, &p, pid(1)));
    assert!(matches!(
        s.on_lookup(stale + 1, Need::Fresh, &p, pid(2)),
        LookupDecision::WaitForRefresh { .. }
    ));
    let _ = s.on_refresh_failure(t, stale + 10, &p);
    assert!(matches!(
        s.on_lookup(stale + 20, Need::Fresh, &p, pid(2)),
        LookupDecision::Unavailable { .. }
    ));
}

// --- unknown kid ----------------------------------------------------------------------------

/// Drives `tokens` logins whose `kid` is never in the key set, spread evenly over `span_ms`
/// from 50 backends; every granted refetch completes successfully after `fetch_ms`. Returns
/// the start times of the granted refetches.
fn unknown_kid_storm(tokens: i64, span_ms: i64, fetch_ms: i64) -> Vec<i64> {
    let p = policy();
    let mut s = filled_at(T0, 600);
    // Start after the initial fill's cooldown has elapsed.
    let start = T0 + 60 * SEC;
    let mut pending: Option<(RefreshTicket, i64)> = None;
    let mut refetches = Vec::new();
    for i in 0..tokens {
        let now = start + i * span_ms / tokens;
        let me = pid(100 + (i % 50) as i32);
        if let Some((t, done)) = pending {
            if done <= now {
                let _ = s.on_refresh_success(t, 600, &p);
                pending = None;
            }
        }
        assert_eq!(
            s.on_lookup(now, Need::Fresh, &p, me),
            LookupDecision::UseCached
        );
        let mut seen = s.generation();
        // Verification fails for the unknown kid; ask at most three times, as the glue would.
        for _ in 0..3 {
            match s.on_lookup(
                now,
                Need::KidMissing {
                    seen_generation: seen,
                },
                &p,
                me,
            ) {
                LookupDecision::Refresh(t) => {
                    refetches.push(now);
                    pending = Some((t, now + fetch_ms));
                    break;
                }
                LookupDecision::UseCached if s.generation() != seen => seen = s.generation(),
                LookupDecision::UseCached | LookupDecision::WaitForRefresh { .. } => break,
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    refetches
}

#[test]
fn unknown_kid_storm_costs_one_refetch_per_cooldown() {
    // 1,000 tokens with random kids within 10 s from 50 backends: exactly one refetch.
    assert_eq!(unknown_kid_storm(1_000, 10 * SEC, 150).len(), 1);
}

#[test]
fn sustained_unknown_kid_storm_refetches_at_most_once_per_cooldown() {
    let refetches = unknown_kid_storm(20_000, 100 * SEC, 150);
    assert_eq!(refetches.len(), 4);
    for pair in refetches.windows(2) {
        assert!(pair[1] - pair[0] >= 30 * SEC, "{refetches:?}");
    }
}

#[test]
fn unknown_kid_refetch_picks_up_a_rotated_key() {
    let p = policy();
    let mut s = filled_at(T0, 600);
    let seen = s.generation();
    let now = T0 + 40 * SEC;
    let t = expect_refresh(s.on_lookup(
        now,
        Need::KidMissing {
            seen_generation: seen,
        },
        &p,
        pid(5),
    ));
    assert_eq!(
        s.on_refresh_success(t, 600, &p),
        RefreshOutcome::Recorded {
            generation: seen + 1
        }
    );
    // Another backend that searched the old keys retries with the new ones, without a fetch.
    assert_eq!(
        s.on_lookup(
            now + 10,
            Need::KidMissing {
                seen_generation: seen
            },
            &p,
            pid(6)
        ),
        LookupDecision::UseCached
    );
}

#[test]
fn unknown_kid_within_cooldown_of_initial_fetch_does_not_refetch() {
    let p = policy();
    let mut s = filled_at(T0, 600);
    let seen = s.generation();
    assert_eq!(
        s.on_lookup(
            T0 + 29_999,
            Need::KidMissing {
                seen_generation: seen
            },
            &p,
            pid(2)
        ),
        LookupDecision::UseCached
    );
    assert!(matches!(
        s.on_lookup(
            T0 + 30 * SEC,
            Need::KidMissing {
                seen_generation: seen
            },
            &p,
            pid(2)
        ),
        LookupDecision::Refresh(_)
    ));
}

#[test]
fn failed_unknown_kid_refetch_still_counts_for_cooldown() {
    let p = policy();
    let mut s = filled_at(T0, 600);
    let seen = s.generation();
    let now = T0 + 100 * SEC;
    let t = expect_refresh(s.on_lookup(
        now,
        Need::KidMissing {
            seen_generation: seen,
        },
        &p,
        pid(2),
    ));
    let _ = s.on_refresh_failure(t, now + 50, &p);
    // Backoff (1 s) ends long before the cooldown; the cooldown still holds.
    for later in [2 * SEC, 10 * SEC, 29 * SEC] {
        assert_eq!(
            s.on_lookup(
                now + later,
                Need::KidMissing {
                    seen_generation: seen
                },
                &p,
                pid(3)
            ),
            LookupDecision::UseCached
        );
    }
    assert!(matches!(
        s.on_lookup(
            now + 30 * SEC,
            Need::KidMissing {
                seen_generation: seen
            },
            &p,
            pid(3)
        ),
        LookupDecision::Refresh(_)
    ));
}

#[test]
fn unknown_kid_during_refetch_waits_for_it() {
    let p = policy();
    let mut s = filled_at(T0, 600);
    let seen = s.generation();
    let now = T0 + 60 * SEC;
    let t = expect_refresh(s.on_lookup(
        now,
        Need::KidMissing {
            seen_generation: seen,
        },
        &p,
        pid(2),
    ));
    assert_eq!(
        s.on_lookup(
            now + 5,
            Need::KidMissing {
                seen_generation: seen
            },
            &p,
            pid(3)
        ),
        LookupDecision::WaitForRefresh {
            owner_deadline: now + 12 * SEC
        }
    );
    // Tokens with known kids are not held up meanwhile.
    assert_eq!(
        s.on_lookup(now + 5, Need::Fresh, &p, pid(4)),
        LookupDecision::UseCached
    );
    let _ = s.on_refresh_success(t, 600, &p);
    assert_eq!(
        s.on_lookup(
            now + 100,
            Need::KidMissing {
                seen_generation: seen
            },
            &p,
            pid(3)
        ),
        LookupDecision::UseCached
    );
}

#[test]
fn unknown_kid_in_backoff_does_not_refetch() {
    let p = policy();
    let mut s = filled_at(T0, 600);
    let seen = s.generation();
    // A refetch at +40 s fails; 9 failures later the backoff exceeds the cooldown.
    let mut now = T0 + 40 * SEC;
    for _ in 0..8 {
        let t = expect_refresh(s.on_lookup(
            now,
            Need::KidMissing {
                seen_generation: seen,
            },
            &p,
            pid(2),
        ));
        let _ = s.on_refresh_failure(t, now, &p);
        now = now
            .max(s.next_attempt_at())
            .max(s.last_fetch_started_at() + 30 * SEC);
    }
    assert_eq!(s.next_attempt_at() - s.last_fetch_started_at(), 60 * SEC);
    let in_backoff = s.last_fetch_started_at() + 45 * SEC;
    assert_eq!(
        s.on_lookup(
            in_backoff,
            Need::KidMissing {
                seen_generation: seen
            },
            &p,
            pid(3)
        ),
        LookupDecision::UseCached
    );
}

#[test]
fn unknown_kid_with_stale_data_follows_normal_refresh_rules() {
    let p = policy();
    let mut s = filled_at(T0, 60);
    let seen = s.generation();
    let stale = T0 + 61 * SEC;
    let _t = expect_refresh(s.on_lookup(
        stale,
        Need::KidMissing {
            seen_generation: seen,
        },
        &p,
        pid(2),
    ));
    assert_eq!(
        s.on_lookup(
            stale + 1,
            Need::KidMissing {
                seen_generation: seen
            },
            &p,
            pid(3)
        ),
        LookupDecision::UseStaleWhileRefreshing
    );
}

#[test]
fn normal_refresh_counts_toward_unknown_kid_cooldown() {
    let p = policy();
    let mut s = filled_at(T0, 60);
    let stale = T0 + 60 * SEC;
    let t = expect_refresh(s.on_lookup(stale, Need::Fresh, &p, pid(2)));
    let _ = s.on_refresh_success(t, 600, &p);
    let seen = s.generation();
    assert_eq!(
        s.on_lookup(
            stale + 20 * SEC,
            Need::KidMissing {
                seen_generation: seen
            },
            &p,
            pid(3)
        ),
        LookupDecision::UseCached
    );
}

// --- invalidation, clocks and odd inputs ----------------------------------------------------

#[test]
fn invalidate_forgets_data_and_voids_outstanding_tickets() {
    let p = policy();
    let mut s = filled_at(T0, 600);
    let t = expect_refresh(s.on_lookup(T0 + 600 * SEC, Need::Fresh, &p, pid(2)));
    s.invalidate();
    assert!(!s.has_data());
    assert_eq!(s.generation(), 2);
    assert_eq!(s.refresh_owner(), None);
    assert_eq!(s.on_refresh_success(t, 600, &p), RefreshOutcome::NotOwner);
    assert!(!s.has_data());
    let fresh = expect_refresh(s.on_lookup(T0 + 601 * SEC, Need::Fresh, &p, pid(2)));
    assert_ne!(fresh, t);
}

#[test]
fn clock_stepping_back_does_not_extend_ownership() {
    let p = policy();
    let mut s = IssuerCacheState::default();
    let _owner = expect_refresh(s.on_lookup(T0, Need::Fresh, &p, pid(1)));
    // The clock steps back an hour: the deadline now looks 1 h + 12 s away, which no policy
    // could have set, so the claim counts as expired.
    assert!(matches!(
        s.on_lookup(T0 - 3_600 * SEC, Need::Fresh, &p, pid(2)),
        LookupDecision::Refresh(_)
    ));
}

#[test]
fn clock_stepping_back_does_not_extend_freshness_or_backoff() {
    let p = policy();
    let mut s = filled_at(T0, 600);
    assert!(!s.is_fresh(T0 - 90_000 * SEC, &p));
    assert!(!s.is_usable(T0 - 90_000 * SEC, &p));
    let mut s2 = IssuerCacheState::default();
    let t = expect_refresh(s2.on_lookup(T0, Need::Fresh, &p, pid(1)));
    let _ = s2.on_refresh_failure(t, T0, &p);
    assert!(matches!(
        s2.on_lookup(T0 - 3_600 * SEC, Need::Fresh, &p, pid(1)),
        LookupDecision::Refresh(_)
    ));
    // And the cooldown: a kid lookup "before" the last fetch is not held back by it.
    let seen = s.generation();
    assert!(matches!(
        s.on_lookup(
            T0 - SEC,
            Need::KidMissing {
                seen_generation: seen
            },
            &p,
            pid(3)
        ),
        LookupDecision::Refresh(_)
    ));
}

#[test]
fn extreme_clock_values_never_panic() {
    let p = policy();
    for now in [i64::MIN, i64::MIN + 1, -1, 0, 1, i64::MAX - 1, i64::MAX] {
        let mut s = IssuerCacheState::default();
        if let LookupDecision::Refresh(t) = s.on_lookup(now, Need::Fresh, &p, pid(1)) {
            let _ = s.on_refresh_success(t, u32::MAX, &p);
        }
        let _ = s.on_lookup(now, Need::KidMissing { seen_generation: 0 }, &p, pid(2));
        if let LookupDecision::Refresh(t) = s.on_lookup(i64::MAX, Need::Fresh, &p, pid(3)) {
            let _ = s.on_refresh_failure(t, i64::MAX, &p);
        }
        let _ = s.on_lookup(i64::MIN, Need::Fresh, &p, pid(4));
        let _ = p.wait_step_ms(now, i64::MAX, i64::MIN);
        let _ = p.wait_step_ms(i64::MIN, now, i64::MAX);
    }
    let huge = CachePolicy {
        grace: Duration::MAX,
        refresh_deadline: Duration::MAX,
        backoff_min: Duration::MAX,
        backoff_max: Duration::MAX,
        unknown_kid_cooldown: Duration::MAX,
        ..policy()
    };
    let mut s = IssuerCacheState::default();
    let t = expect_refresh(s.on_lookup(T0, Need::Fresh, &huge, pid(1)));
    let _ = s.on_refresh_failure(t, T0, &huge);
    let _ = s.on_lookup(T0, Need::Fresh, &huge, pid(2));
}

// --- policy ---------------------------------------------------------------------------------

#[test]
fn default_policy_is_consistent_and_documented_values() {
    let p = policy();
    assert_eq!(p.check(), Ok(()));
    assert_eq!(
        p.freshness,
        FreshnessBounds {
            floor_secs: 60,
            ceiling_secs: 86_400,
            default_secs: 600
        }
    );
    assert_eq!(p.grace, Duration::from_secs(3_600));
    assert_eq!(p.unknown_kid_cooldown, Duration::from_secs(30));
    assert_eq!(p.refresh_wait, Duration::from_secs(2));
    assert_eq!(p.refresh_deadline, Duration::from_secs(12));
    assert_eq!(p.backoff_min, Duration::from_secs(1));
    assert_eq!(p.backoff_max, Duration::from_secs(60));
}

#[test]
fn inconsistent_policies_are_refused() {
    let base = policy();
    let f = base.freshness;
    let cases = [
        (
            CachePolicy {
                freshness: FreshnessBounds { floor_secs: 0, ..f },
                ..base
            },
            CachePolicyError::ZeroFloor,
        ),
        (
            CachePolicy {
                freshness: FreshnessBounds {
                    floor_secs: 700,
                    ..f
                },
                ..base
            },
            CachePolicyError::FreshnessOrder,
        ),
        (
            CachePolicy {
                freshness: FreshnessBounds {
                    ceiling_secs: 300,
                    ..f
                },
                ..base
            },
            CachePolicyError::FreshnessOrder,
        ),
        (
            CachePolicy {
                unknown_kid_cooldown: Duration::from_millis(999),
                ..base
            },
            CachePolicyError::ZeroCooldown,
        ),
        (
            CachePolicy {
                poll_interval: Duration::ZERO,
                ..base
            },
            CachePolicyError::PollInterval,
        ),
        (
            CachePolicy {
                poll_interval: Duration::from_secs(3),
                ..base
            },
            CachePolicyError::PollInterval,
        ),
        (
            CachePolicy {
                refresh_wait: Duration::from_secs(12),
                ..base
            },
            CachePolicyError::WaitNotBelowDeadline,
        ),
        (
            CachePolicy {
                backoff_min: Duration::ZERO,
                ..base
            },
            CachePolicyError::BackoffOrder,
        ),
        (
            CachePolicy {
                backoff_min: Duration::from_secs(61),
                ..base
            },
            CachePolicyError::BackoffOrder,
        ),
    ];
    for (p, want) in cases {
        assert_eq!(p.check(), Err(want), "{p:?}");
    }
}

// --- randomized interleavings ---------------------------------------------------------------

/// xorshift64*: small, deterministic, good enough to shuffle interleavings.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Usability and freshness recomputed from the raw fields (the simulated clock only moves
/// forward), independently of the state's own predicates.
fn model_usable(s: &IssuerCacheState, now: i64) -> bool {
    s.has_data() && now < s.usable_until()
}

fn model_fresh(s: &IssuerCacheState, now: i64) -> bool {
    s.has_data() && now < s.fresh_until()
}

/// A ticket some simulated backend holds (or held, if it crashed), with its grant time.
struct Held {
    who: usize,
    ticket: RefreshTicket,
    granted_at: i64,
    crashed: bool,
}

#[test]
fn random_interleavings_keep_single_owner_and_never_serve_unusable_data() {
    const BACKENDS: usize = 8;
    let policies = [
        policy(),
        CachePolicy {
            grace: Duration::ZERO,
            ..policy()
        },
        CachePolicy {
            freshness: FreshnessBounds {
                floor_secs: 1,
                ceiling_secs: 20,
                default_secs: 5,
            },
            unknown_kid_cooldown: Duration::from_secs(3),
            refresh_deadline: Duration::from_secs(4),
            refresh_wait: Duration::from_millis(500),
            backoff_max: Duration::from_secs(8),
            grace: Duration::from_secs(10),
            ..policy()
        },
    ];
    let mut decisions = [0usize; 5];
    for seed in 1..=300u64 {
        let p = policies[(seed % 3) as usize];
        assert_eq!(p.check(), Ok(()));
        let deadline_ms = i64::try_from(p.refresh_deadline.as_millis()).expect("small");
        let cooldown_ms = i64::try_from(p.unknown_kid_cooldown.as_millis()).expect("small");
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let mut s = IssuerCacheState::default();
        let mut now = T0;
        let mut held: Vec<Held> = Vec::new();
        let mut last_generation = 0;
        for _ in 0..3_000 {
            // Time moves forward by 0 ms .. 40 s, mostly small steps.
            now += match rng.below(10) {
                0 => i64::try_from(rng.below(40_000)).expect("small"),
                1..=3 => i64::try_from(rng.below(2_000)).expect("small"),
                _ => i64::try_from(rng.below(50)).expect("small"),
            };
            let who = usize::try_from(rng.below(BACKENDS as u64)).expect("small");
            let me = pid(1_000 + i32::try_from(who).expect("small"));
            // A backend holding a live ticket finishes it (or crashes) before looking up again.
            if let Some(pos) = held.iter().position(|h| h.who == who && !h.crashed) {
                let h = held.swap_remove(pos);
                let is_latest = s.refresh_owner() == Some(me);
                let outcome = match rng.below(10) {
                    0 => {
                        held.push(Held { crashed: true, ..h });
                        continue;
                    }
                    1..=3 => s.on_refresh_failure(h.ticket, now, &p),
                    _ => {
                        let fresh_for = u32::try_from(rng.below(2_000)).expect("small");
                        s.on_refresh_success(h.ticket, fresh_for, &p)
                    }
                };
                match outcome {
                    RefreshOutcome::Recorded { generation } => {
                        assert!(is_latest, "seed {seed}: a non-owner's result was recorded");
                        assert_eq!(generation, s.generation());
                    }
                    RefreshOutcome::NotOwner => {
                        assert!(!is_latest, "seed {seed}: the owner's result was refused")
                    }
                }
                assert!(s.generation() >= last_generation);
                last_generation = s.generation();
                continue;
            }
            let need = if rng.below(3) == 0 {
                let seen = if rng.below(4) == 0 {
                    s.generation().saturating_sub(1)
                } else {
                    s.generation()
                };
                Need::KidMissing {
                    seen_generation: seen,
                }
            } else {
                Need::Fresh
            };
            let before = s;
            let d = s.on_lookup(now, need, &p, me);
            match d {
                LookupDecision::UseCached => {
                    decisions[0] += 1;
                    assert!(
                        model_usable(&s, now),
                        "seed {seed}: UseCached without usable data"
                    );
                    assert_eq!(s, before, "seed {seed}: UseCached changed the state");
                }
                LookupDecision::UseStaleWhileRefreshing => {
                    decisions[1] += 1;
                    assert!(
                        model_usable(&s, now),
                        "seed {seed}: stale use without usable data"
                    );
                    assert!(!model_fresh(&s, now));
                }
                LookupDecision::Refresh(ticket) => {
                    decisions[2] += 1;
                    for h in &held {
                        assert!(
                            h.who == who || now >= h.granted_at + deadline_ms,
                            "seed {seed}: Refresh while backend {} owns an unexpired refresh",
                            h.who
                        );
                    }
                    if need != Need::Fresh && model_fresh(&before, now) {
                        let since = now - before.last_fetch_started_at();
                        assert!(
                            since >= cooldown_ms || since < 0,
                            "seed {seed}: unknown-kid refetch {since} ms after the last fetch"
                        );
                    }
                    if need == Need::Fresh {
                        assert!(
                            !model_fresh(&before, now),
                            "seed {seed}: refresh of fresh data"
                        );
                    }
                    assert_eq!(s.refresh_owner(), Some(me));
                    // A backend's own crashed claim is superseded by its new one.
                    held.retain(|h| h.who != who);
                    held.push(Held {
                        who,
                        ticket,
                        granted_at: now,
                        crashed: false,
                    });
                }
                LookupDecision::WaitForRefresh { owner_deadline } => {
                    decisions[3] += 1;
                    let owner = s.refresh_owner().expect("waiting for nobody");
                    assert_ne!(owner, me);
                    assert!(owner_deadline > now);
                    assert!(!model_usable(&s, now) || need != Need::Fresh);
                    assert_eq!(s, before);
                }
                LookupDecision::Unavailable { retry_at } => {
                    decisions[4] += 1;
                    assert!(
                        !model_usable(&s, now),
                        "seed {seed}: Unavailable with usable data"
                    );
                    assert!(retry_at > now);
                    assert_eq!(s, before);
                }
            }
            if need == Need::Fresh && model_fresh(&before, now) {
                assert_eq!(
                    d,
                    LookupDecision::UseCached,
                    "seed {seed}: fresh data not used"
                );
            }
            // At most one live (unexpired, not finished) owner at any time.
            let live = held
                .iter()
                .filter(|h| now < h.granted_at + deadline_ms)
                .count();
            assert!(live <= 1, "seed {seed}: {live} live owners");
        }
    }
    // Every decision kind was exercised, so the assertions above were not vacuous.
    assert!(decisions.iter().all(|&n| n > 100), "{decisions:?}");
}

// --- an abandoned refresh -----------------------------------------------------------------

#[test]
fn an_abandoned_refresh_releases_the_slot_at_once_without_backoff() {
    let p = policy();
    let mut s = IssuerCacheState::default();
    let t = expect_refresh(s.on_lookup(T0, Need::Fresh, &p, pid(1)));
    // Until the owner's deadline, others would wait.
    assert!(matches!(
        s.on_lookup(T0 + 10, Need::Fresh, &p, pid(2)),
        LookupDecision::WaitForRefresh { .. }
    ));
    assert!(matches!(
        s.on_refresh_abandoned(t),
        RefreshOutcome::Recorded { .. }
    ));
    assert_eq!(s.refresh_owner(), None);
    assert_eq!(s.consecutive_failures(), 0);
    assert_eq!(s.next_attempt_at(), 0);
    // The very next lookup refreshes, and its success is recorded.
    let t2 = expect_refresh(s.on_lookup(T0 + 20, Need::Fresh, &p, pid(2)));
    assert!(matches!(
        s.on_refresh_success(t2, 600, &p),
        RefreshOutcome::Recorded { generation: 1 }
    ));
    assert_eq!(
        s.on_lookup(T0 + 30, Need::Fresh, &p, pid(3)),
        LookupDecision::UseCached
    );
}

#[test]
fn abandoning_a_refresh_someone_else_owns_changes_nothing() {
    let p = policy();
    let mut s = IssuerCacheState::default();
    let old = expect_refresh(s.on_lookup(T0, Need::Fresh, &p, pid(1)));
    // The owner hung past its deadline; pid 2 took over.
    let late = T0 + 13 * SEC;
    let newer = expect_refresh(s.on_lookup(late, Need::Fresh, &p, pid(2)));
    assert_eq!(s.on_refresh_abandoned(old), RefreshOutcome::NotOwner);
    assert_eq!(s.refresh_owner(), Some(pid(2)));
    // A failure after abandonment is no longer the owner's either.
    assert!(matches!(
        s.on_refresh_abandoned(newer),
        RefreshOutcome::Recorded { .. }
    ));
    assert_eq!(
        s.on_refresh_failure(newer, late, &p),
        RefreshOutcome::NotOwner
    );
    assert_eq!(s.consecutive_failures(), 0);
}

// --- refreshes a DBA asks for (pg_bearer.refresh_keys) ----------------------------------------

#[test]
fn a_forced_refresh_fetches_even_when_the_keys_are_fresh() {
    let p = policy();
    let mut s = filled_at(T0, 600);
    let since = T0 + 10 * SEC;
    let t = expect_refresh(s.on_lookup(since, Need::Forced { since }, &p, pid(2)));
    assert_eq!(t.started_at(), since);
    assert_eq!(s.refresh_started_at(), since);
}

#[test]
fn forced_refreshes_that_arrive_together_cause_one_fetch() {
    let p = policy();
    let mut s = filled_at(T0, 600);
    let since = T0 + 10 * SEC;
    let t = expect_refresh(s.on_lookup(since, Need::Forced { since }, &p, pid(2)));
    // Four more callers while the first fetches: they wait, however late they asked.
    for other in 3..7 {
        let asked = since + i64::from(other);
        assert!(matches!(
            s.on_lookup(asked, Need::Forced { since: asked }, &p, pid(other)),
            LookupDecision::WaitForRefresh { .. }
        ));
    }
    assert!(matches!(
        s.on_refresh_success(t, 600, &p),
        RefreshOutcome::Recorded { generation: 2 }
    ));
    // A waiter asks again with the start of the refresh it waited for: answered, no fetch.
    for other in 3..7 {
        assert_eq!(
            s.on_lookup(since + SEC, Need::Forced { since }, &p, pid(other)),
            LookupDecision::UseCached
        );
    }
    // A later request fetches again.
    let later = since + 60 * SEC;
    expect_refresh(s.on_lookup(later, Need::Forced { since: later }, &p, pid(9)));
}

#[test]
fn a_forced_refresh_ignores_backoff_and_the_unknown_kid_cooldown() {
    let p = policy();
    let mut s = filled_at(T0, 600);
    // A refetch for an unknown kid, which fails: backoff starts, the cooldown runs.
    let seen = s.generation();
    let t = expect_refresh(s.on_lookup(
        T0 + 400 * SEC,
        Need::KidMissing {
            seen_generation: seen,
        },
        &p,
        pid(2),
    ));
    let _ = s.on_refresh_failure(t, T0 + 401 * SEC, &p);
    assert!(s.next_attempt_at() > T0 + 401 * SEC);
    let since = T0 + 402 * SEC;
    expect_refresh(s.on_lookup(since, Need::Forced { since }, &p, pid(3)));
}

#[test]
fn a_forced_refresh_answered_by_a_failed_fetch_uses_what_is_usable() {
    let p = policy();
    let mut empty = IssuerCacheState::default();
    let since = T0;
    let t = expect_refresh(empty.on_lookup(since, Need::Forced { since }, &p, pid(2)));
    let _ = empty.on_refresh_failure(t, T0 + SEC, &p);
    // Nothing usable: unavailable, without another fetch.
    assert!(matches!(
        empty.on_lookup(T0 + 2 * SEC, Need::Forced { since }, &p, pid(3)),
        LookupDecision::Unavailable { .. }
    ));
    // With usable keys held, the failed fetch leaves them in use.
    let mut held = filled_at(T0, 600);
    let since = T0 + 10 * SEC;
    let t = expect_refresh(held.on_lookup(since, Need::Forced { since }, &p, pid(2)));
    let _ = held.on_refresh_failure(t, since + SEC, &p);
    assert_eq!(
        held.on_lookup(since + 2 * SEC, Need::Forced { since }, &p, pid(3)),
        LookupDecision::UseCached
    );
    assert_eq!(held.fetched_at(), T0, "the held keys are the old ones");
}

#[test]
fn a_dead_refresh_owner_is_released_and_only_that_owner() {
    let p = policy();
    let mut s = IssuerCacheState::default();
    let t = expect_refresh(s.on_lookup(T0, Need::Fresh, &p, pid(41)));
    // Another process waits while 41 owns the refresh.
    assert!(matches!(
        s.on_lookup(T0 + SEC, Need::Fresh, &p, pid(42)),
        LookupDecision::WaitForRefresh { .. }
    ));
    // Someone else is not the owner: nothing changes.
    assert_eq!(s.on_owner_gone(pid(43)), RefreshOutcome::NotOwner);
    assert_eq!(s.refresh_owner(), Some(pid(41)));
    // The owner died: the next lookup refreshes at once, with no backoff.
    assert!(matches!(
        s.on_owner_gone(pid(41)),
        RefreshOutcome::Recorded { .. }
    ));
    assert_eq!(s.refresh_owner(), None);
    assert_eq!(s.consecutive_failures(), 0);
    let t2 = expect_refresh(s.on_lookup(T0 + SEC, Need::Fresh, &p, pid(42)));
    // The dead owner's ticket no longer counts; the new owner's does.
    assert_eq!(s.on_refresh_success(t, 600, &p), RefreshOutcome::NotOwner);
    assert!(matches!(
        s.on_refresh_success(t2, 600, &p),
        RefreshOutcome::Recorded { .. }
    ));
}
