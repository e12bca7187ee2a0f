//! The login and provider-request counters behind `pg_bearer.login_stats` and
//! `pg_bearer.provider_stats`.

use std::sync::Arc;

use pg_bearer_core::reason::Reason;
use pg_bearer_core::stats::{
    LoginResult, LoginRow, RequestKind, RequestRow, StatsTable, ISSUERS, ISSUER_NAME_MAX,
};

const A: &str = "https://a.example.com";
const B: &str = "https://b.example.com/realms/x";

fn login(
    issuer: Option<&str>,
    outcome: &'static str,
    reason: Option<&'static str>,
    n: u64,
) -> LoginRow {
    LoginRow {
        issuer: issuer.map(str::to_owned),
        outcome,
        reason,
        logins: n,
    }
}

#[test]
fn an_empty_table_lists_nothing() {
    let t = StatsTable::default();
    assert!(t.logins().is_empty());
    assert!(t.requests().is_empty());
}

#[test]
fn logins_count_per_issuer_outcome_and_reason() {
    let t = StatsTable::default();
    for _ in 0..5 {
        t.row(Some(A)).login(LoginResult::Accepted);
    }
    for _ in 0..3 {
        t.row(Some(A)).login(LoginResult::Rejected(Reason::Expired));
    }
    t.row(Some(B))
        .login(LoginResult::Rejected(Reason::WrongAudience));
    t.row(Some(B))
        .login(LoginResult::Rejected(Reason::JwksUnavailable));
    t.row(Some(B))
        .login(LoginResult::Rejected(Reason::Internal));
    assert_eq!(
        t.logins(),
        vec![
            login(Some(A), "accepted", None, 5),
            login(Some(A), "refused", Some("expired"), 3),
            login(Some(B), "refused", Some("wrong_audience"), 1),
            login(Some(B), "error", Some("jwks_unavailable"), 1),
            login(Some(B), "error", Some("internal"), 1),
        ]
    );
}

#[test]
fn every_reason_has_its_own_counter() {
    let t = StatsTable::default();
    for &reason in Reason::ALL {
        t.row(Some(A)).login(LoginResult::Rejected(reason));
    }
    let rows = t.logins();
    assert_eq!(rows.len(), Reason::ALL.len());
    for (row, reason) in rows.iter().zip(Reason::ALL) {
        assert_eq!(row.reason, Some(reason.code()));
        assert_eq!(row.logins, 1);
    }
}

#[test]
fn token_verdicts_are_refused_and_everything_else_is_an_error() {
    use pg_bearer_core::reason::LogLevel;
    for &reason in Reason::ALL {
        let expected = match reason.level() {
            LogLevel::Log => "refused",
            LogLevel::Warning => "error",
        };
        assert_eq!(
            LoginResult::Rejected(reason).outcome(),
            expected,
            "{reason}"
        );
    }
    assert_eq!(
        LoginResult::Rejected(Reason::BadSignature).outcome(),
        "refused"
    );
    assert_eq!(
        LoginResult::Rejected(Reason::KeysUnavailable).outcome(),
        "error"
    );
}

#[test]
fn unknown_empty_and_overlong_issuers_count_in_the_overflow_row() {
    let t = StatsTable::default();
    let long = format!("https://{}", "x".repeat(ISSUER_NAME_MAX));
    t.row(None)
        .login(LoginResult::Rejected(Reason::NotConfigured));
    t.row(Some(""))
        .login(LoginResult::Rejected(Reason::NotConfigured));
    t.row(Some(&long)).login(LoginResult::Accepted);
    assert_eq!(
        t.logins(),
        vec![
            login(None, "accepted", None, 1),
            login(None, "error", Some("not_configured"), 2),
        ]
    );
}

#[test]
fn issuers_past_the_table_size_share_the_overflow_row() {
    let t = StatsTable::default();
    for i in 0..ISSUERS + 3 {
        t.row(Some(&format!("https://idp{i}.example.com")))
            .login(LoginResult::Accepted);
    }
    let rows = t.logins();
    assert_eq!(rows.len(), ISSUERS + 1);
    assert_eq!(
        rows[0],
        login(Some("https://idp0.example.com"), "accepted", None, 1)
    );
    assert_eq!(rows[ISSUERS], login(None, "accepted", None, 3));
    // A known issuer keeps its row once the table is full.
    t.row(Some("https://idp5.example.com"))
        .login(LoginResult::Accepted);
    assert_eq!(t.logins()[5].logins, 2);
}

#[test]
fn provider_requests_and_failures_count_by_kind() {
    let t = StatsTable::default();
    t.row(Some(A)).request(RequestKind::Discovery, true);
    t.row(Some(A)).request(RequestKind::Jwks, true);
    t.row(Some(A)).request(RequestKind::Jwks, false);
    t.row(Some(B)).request(RequestKind::Introspection, false);
    t.row(Some(B)).request(RequestKind::Userinfo, true);
    let row = |issuer: &str, kind, requests, failures| RequestRow {
        issuer: Some(issuer.to_owned()),
        kind,
        requests,
        failures,
    };
    assert_eq!(
        t.requests(),
        vec![
            row(A, "discovery", 1, 0),
            row(A, "jwks", 2, 1),
            row(B, "introspection", 1, 1),
            row(B, "userinfo", 1, 0),
        ]
    );
    assert!(t.logins().is_empty(), "requests are not logins");
}

#[test]
fn reset_zeroes_every_counter_and_keeps_the_rows() {
    let t = StatsTable::default();
    t.row(Some(A)).login(LoginResult::Accepted);
    t.row(Some(A)).request(RequestKind::Jwks, false);
    t.row(None).login(LoginResult::Rejected(Reason::Internal));
    t.reset();
    assert!(t.logins().is_empty());
    assert!(t.requests().is_empty());
    t.row(Some(B)).login(LoginResult::Accepted);
    t.row(Some(A)).login(LoginResult::Accepted);
    assert_eq!(
        t.logins(),
        vec![
            login(Some(A), "accepted", None, 1),
            login(Some(B), "accepted", None, 1)
        ]
    );
}

#[test]
fn concurrent_logins_lose_no_count_and_claim_each_issuer_once() {
    let t = Arc::new(StatsTable::default());
    let threads: Vec<_> = (0..8)
        .map(|n| {
            let t = Arc::clone(&t);
            std::thread::spawn(move || {
                for i in 0..2_000 {
                    let issuer = format!("https://idp{}.example.com", (i + n) % 4);
                    t.row(Some(&issuer)).login(LoginResult::Accepted);
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("counting thread");
    }
    let rows = t.logins();
    assert_eq!(rows.len(), 4, "one row per issuer: {rows:?}");
    assert_eq!(rows.iter().map(|r| r.logins).sum::<u64>(), 16_000);
    let mut names: Vec<_> = rows.iter().map(|r| r.issuer.clone()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 4);
}

#[test]
fn a_zeroed_table_is_the_empty_table() {
    // Shared memory starts zeroed: the default must be all-zero bytes for that to be a valid,
    // empty table (atomics are plain integers in memory).
    let t = StatsTable::default();
    assert_eq!(t.logins(), Vec::new());
    assert!(std::mem::size_of::<StatsTable>() < 64 * 1024);
}
