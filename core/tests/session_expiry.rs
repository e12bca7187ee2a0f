//! `pg_bearer.session_expiry`: when a session must end, and the time its message names.

use pg_bearer_core::reason::Reason;
use pg_bearer_core::session::{session_end, utc_text};

const NOW: i64 = 1_765_152_000; // 2025-12-08 00:00:00 UTC

#[test]
fn off_never_ends_a_session() {
    for exp in [None, Some(NOW - 10), Some(NOW), Some(NOW + 10)] {
        assert_eq!(session_end(exp, NOW, false), Ok(None));
    }
}

#[test]
fn on_ends_the_session_at_the_tokens_exp() {
    assert_eq!(session_end(Some(NOW + 3), NOW, true), Ok(Some(NOW + 3)));
    assert_eq!(session_end(Some(NOW + 1), NOW, true), Ok(Some(NOW + 1)));
}

#[test]
fn on_refuses_a_token_at_or_past_its_exp_whatever_the_leeway() {
    for exp in [NOW, NOW - 1, NOW - 59, i64::MIN] {
        let r = session_end(Some(exp), NOW, true).expect_err("past exp");
        assert_eq!((r.reason, r.claim), (Reason::Expired, Some("exp")));
    }
}

#[test]
fn on_refuses_a_token_without_exp() {
    let r = session_end(None, NOW, true).expect_err("no exp");
    assert_eq!((r.reason, r.claim), (Reason::MissingClaim, Some("exp")));
}

#[test]
fn utc_text_names_the_second_in_utc() {
    assert_eq!(utc_text(0), "1970-01-01 00:00:00 UTC");
    assert_eq!(utc_text(NOW), "2025-12-08 00:00:00 UTC");
    assert_eq!(utc_text(951_782_400), "2000-02-29 00:00:00 UTC");
    assert_eq!(utc_text(1_709_251_199), "2024-02-29 23:59:59 UTC");
    assert_eq!(utc_text(253_402_300_799), "9999-12-31 23:59:59 UTC");
    assert_eq!(utc_text(-1), "1969-12-31 23:59:59 UTC");
}
