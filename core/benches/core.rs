//! Micro-benchmarks of the work pg_bearer does at every login, without PostgreSQL: JWT
//! verification with warm keys (RS256, PS256, ES256, EdDSA), the claim checks alone, JWKS
//! parsing, key selection, the lookups of both shared caches' state, and what a login adds for
//! the session and the DBA views (keeping the claims, counting the login).
//!
//! `cargo bench -p pg_bearer_core --bench core`; scripts/bench.sh runs it and copies the
//! medians into docs/benchmarks.md. Targets are stated there, never asserted here.

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::num::NonZeroI32;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use criterion::{criterion_group, criterion_main, Criterion};
use jsonwebtoken::Algorithm;
use pg_bearer_core::cache::{CachePolicy, IssuerCacheState, LookupDecision, Need};
use pg_bearer_core::claims;
use pg_bearer_core::json;
use pg_bearer_core::jwks::{JwksLimits, KeyFilter, KeySet};
use pg_bearer_core::policy::verify_jwt;
use pg_bearer_core::result_cache::{self, EntryKind, Lookup, ResultEntry};
use pg_bearer_core::scope::RequiredScopes;

use common::{base_claims, header_for, jws, jws_raw, policy, request, TestKey};

/// The published keys of the default key set, as a JWKS document.
fn published_jwks() -> String {
    common::jwks(&[
        common::RSA.jwk.clone(),
        common::EC256.jwk.clone(),
        common::EC384.jwk.clone(),
        common::ED.jwk.clone(),
        common::rsa_ps256_jwk(),
    ])
}

fn token(key: &TestKey) -> String {
    jws(key, &header_for(key), &base_claims())
}

fn verification(c: &mut Criterion) {
    let policy = policy();
    let ps256 = {
        let header = serde_json::json!({"alg": "PS256", "typ": "at+jwt", "kid": "rsa-ps"});
        jws_raw(
            &common::RSA,
            Algorithm::PS256,
            header.to_string().as_bytes(),
            base_claims().to_string().as_bytes(),
        )
    };
    let cases = [
        ("RS256 (RSA 2048)", token(&common::RSA)),
        ("PS256 (RSA 2048)", ps256),
        ("ES256", token(&common::EC256)),
        ("EdDSA", token(&common::ED)),
    ];
    let mut group = c.benchmark_group("verify_jwt, warm keys");
    for (name, token) in &cases {
        let req = request(token);
        assert!(verify_jwt(&req, &common::KEYS, &policy).is_ok(), "{name}");
        group.bench_function(*name, |b| {
            b.iter(|| verify_jwt(black_box(&req), &common::KEYS, &policy))
        });
    }
    group.finish();
}

fn claim_checks(c: &mut Criterion) {
    let policy = policy();
    let token = token(&common::RSA);
    let payload = URL_SAFE_NO_PAD
        .decode(token.split('.').nth(1).unwrap())
        .unwrap();
    let now = common::NOW;
    c.bench_function(
        "claims: parse and check (iss, exp/iat, aud, sub, scope)",
        |b| {
            b.iter(|| {
                let claims = json::parse_object(black_box(&payload)).unwrap();
                claims::check_issuer(&claims, &policy).unwrap();
                claims::check_validity(&claims, &policy, now).unwrap();
                let audiences = claims::check_audience(&claims, &policy).unwrap();
                claims::check_subject(&claims).unwrap();
                RequiredScopes::parse(common::HBA_SCOPES, &policy.implicit_scopes)
                    .unwrap()
                    .check(&claims, &audiences)
                    .unwrap();
            })
        },
    );
}

fn jwks_parse(c: &mut Criterion) {
    let limits = JwksLimits::default();
    let five = published_jwks();
    let one_rsa = common::jwks(std::slice::from_ref(&common::RSA.jwk));
    let one_ec = common::jwks(std::slice::from_ref(&common::EC256.jwk));
    let mut group = c.benchmark_group("JWKS parse");
    for (name, doc) in [
        ("5 keys (2 RSA, P-256, P-384, Ed25519)", &five),
        ("1 RSA 2048 key", &one_rsa),
        ("1 P-256 key", &one_ec),
    ] {
        assert!(!KeySet::from_jwks_json(doc.as_bytes(), &limits)
            .unwrap()
            .keys()
            .is_empty());
        group.bench_function(name, |b| {
            b.iter(|| KeySet::from_jwks_json(black_box(doc.as_bytes()), &limits))
        });
    }
    // What a login builds: only the key its token's kid names (src/keys.rs).
    group.bench_function("5 keys, only the token's kid (RSA 2048)", |b| {
        b.iter(|| {
            KeySet::from_jwks_json_for(black_box(five.as_bytes()), &limits, KeyFilter::Kid("rsa-1"))
        })
    });
    group.finish();
    let set = KeySet::from_jwks_json(five.as_bytes(), &limits).unwrap();
    c.bench_function("JWKS select key by kid (5 keys)", |b| {
        b.iter(|| {
            set.select(black_box(Some("ed-1")), Algorithm::EdDSA)
                .is_ok()
        })
    });
}

fn cache_lookups(c: &mut Criterion) {
    let policy = CachePolicy::default();
    let me = NonZeroI32::new(4242).unwrap();
    let now = 1_750_000_000_000i64;
    let mut state = IssuerCacheState::default();
    let LookupDecision::Refresh(ticket) = state.on_lookup(now, Need::Fresh, &policy, me) else {
        panic!("an empty cache must grant a refresh");
    };
    let _ = state.on_refresh_success(ticket, 600, &policy);
    assert_eq!(
        state.on_lookup(now + 1, Need::Fresh, &policy, me),
        LookupDecision::UseCached
    );
    c.bench_function("key cache: lookup, fresh keys", |b| {
        b.iter(|| black_box(&mut state).on_lookup(now + 1, Need::Fresh, &policy, me))
    });

    // A full result cache (256 entries, the shared segment's size); the hit is the last one.
    let issuer = common::ISS;
    let mut entries: Vec<ResultEntry> = (0..256).map(|_| ResultEntry::default()).collect();
    let body = br#"{"active":true,"sub":"alice"}"#;
    let ttl = Duration::from_secs(60).as_millis() as i64;
    for i in 0..256 {
        let key = result_cache::token_key(issuer, Lookup::Introspection, &format!("token-{i}"));
        assert!(result_cache::insert(
            &mut entries,
            &key,
            EntryKind::Introspection,
            body,
            now,
            ttl
        ));
    }
    c.bench_function("result cache: key + lookup (256 entries)", |b| {
        b.iter(|| {
            let key =
                result_cache::token_key(issuer, Lookup::Introspection, black_box("token-255"));
            result_cache::lookup(&mut entries, &key, now + 1).is_some()
        })
    });
}

/// What issue 14 added to every accepted login: building the claims the session keeps (the
/// default selection and cap) and counting the login in the shared counters.
fn session_state(c: &mut Criterion) {
    use pg_bearer_core::session::{ClaimRetention, SessionClaims};
    use pg_bearer_core::stats::{LoginResult, StatsTable};
    let token = token(&common::RSA);
    let payload = URL_SAFE_NO_PAD
        .decode(token.split('.').nth(1).unwrap())
        .unwrap();
    let claims = json::parse_object(&payload).unwrap();
    let retention = ClaimRetention::default();
    let issuer = common::ISS;
    c.bench_function(
        "login path: keep the session's claims (default selection and cap)",
        |b| {
            b.iter(|| {
                SessionClaims::new(
                    black_box(claims.clone()),
                    issuer,
                    Some(common::NOW + 300),
                    &retention,
                )
            })
        },
    );
    let table = StatsTable::default();
    // The other rows taken, so that the lookup compares names as a busy server's would.
    for i in 0..16 {
        table
            .row(Some(&format!("https://idp{i}.example.com")))
            .login(LoginResult::Accepted);
    }
    c.bench_function(
        "login path: count the login (find the issuer's row, one increment)",
        |b| {
            b.iter(|| {
                table
                    .row(black_box(Some(issuer)))
                    .login(LoginResult::Accepted)
            })
        },
    );
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50)
}

criterion_group! {
    name = benches;
    config = config();
    targets = verification, claim_checks, jwks_parse, cache_lookups, session_state
}
criterion_main!(benches);
