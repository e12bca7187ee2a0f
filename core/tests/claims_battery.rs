//! Security battery §4 D (registered claims, items 28–40), at the level of `verify_jwt`.

mod common;

use common::*;
use pg_bearer_core::claims::ClaimPath;
use pg_bearer_core::policy::{verify_jwt, IssuerPolicy, TypPolicy};
use pg_bearer_core::reason::Reason;
use serde_json::{json, Value};

/// Asserts each claims edit is rejected with the given reason and claim name.
#[track_caller]
fn assert_claims_rejected(policy: &IssuerPolicy, cases: &[(&str, Reason, &str, Value)]) {
    for (label, reason, claim, claims) in cases {
        let token = jws(&RSA, &header_for(&RSA), claims);
        match verify_with(&token, policy) {
            Ok(v) => panic!("{label}: accepted as {:?}", v.authn_id),
            Err(r) => {
                assert_eq!(r.reason, *reason, "{label}: {r:?}");
                assert_eq!(r.claim, Some(*claim), "{label}: {r:?}");
            }
        }
    }
}

fn claims(edit: impl FnOnce(&mut Value)) -> Value {
    let mut c = base_claims();
    edit(&mut c);
    c
}

fn without(name: &str) -> Value {
    claims(|c| {
        c.as_object_mut().unwrap().remove(name);
    })
}

fn set(name: &str, value: Value) -> Value {
    claims(|c| c[name] = value)
}

#[test]
fn d28_issuer_must_be_the_configured_string_exactly() {
    use Reason::*;
    assert_claims_rejected(
        &policy(),
        &[
            ("missing", MissingClaim, "iss", without("iss")),
            ("number", MalformedClaim, "iss", set("iss", json!(1))),
            ("null", MalformedClaim, "iss", set("iss", json!(null))),
            (
                "array with ours",
                MalformedClaim,
                "iss",
                set("iss", json!([ISS])),
            ),
            (
                "array evil then ours",
                MalformedClaim,
                "iss",
                set("iss", json!(["https://evil.example", ISS])),
            ),
            (
                "object",
                MalformedClaim,
                "iss",
                set("iss", json!({"iss": ISS})),
            ),
            (
                "trailing slash",
                WrongIssuer,
                "iss",
                set("iss", json!(format!("{ISS}/"))),
            ),
            (
                "different case",
                WrongIssuer,
                "iss",
                set("iss", json!(ISS.to_uppercase())),
            ),
            (
                "host case",
                WrongIssuer,
                "iss",
                set("iss", json!("https://IDP.example.com/realms/pg")),
            ),
            (
                "http",
                WrongIssuer,
                "iss",
                set("iss", json!(ISS.replace("https", "http"))),
            ),
            (
                "prefix",
                WrongIssuer,
                "iss",
                set("iss", json!("https://idp.example.com/realms")),
            ),
            (
                "suffix",
                WrongIssuer,
                "iss",
                set("iss", json!(format!("{ISS}x"))),
            ),
            (
                "trailing space",
                WrongIssuer,
                "iss",
                set("iss", json!(format!("{ISS} "))),
            ),
            (
                "trailing NUL",
                WrongIssuer,
                "iss",
                set("iss", json!(format!("{ISS}\u{0}"))),
            ),
            (
                "default port",
                WrongIssuer,
                "iss",
                set("iss", json!("https://idp.example.com:443/realms/pg")),
            ),
            ("empty", WrongIssuer, "iss", set("iss", json!(""))),
        ],
    );
}

#[test]
fn d29_token_of_another_configured_issuer_is_refused_on_this_line() {
    // Same key set (worst case: a shared multi-tenant key), two issuers configured.
    let other_issuer = "https://idp.example.com/realms/other";
    let mut other = policy();
    other.issuer = other_issuer.to_owned();
    let token = token_with(&RSA, |c| c["iss"] = json!(other_issuer));
    assert!(verify_with(&token, &other).is_ok());
    let r = verify(&token).unwrap_err();
    assert_eq!(r.reason, Reason::WrongIssuer);
    let ours = token_with(&RSA, |_| {});
    assert_eq!(
        verify_with(&ours, &other).unwrap_err().reason,
        Reason::WrongIssuer
    );
}

#[test]
fn d30_audience_must_contain_a_configured_audience_exactly() {
    use Reason::*;
    assert_claims_rejected(
        &policy(),
        &[
            ("missing", MissingClaim, "aud", without("aud")),
            (
                "wrong",
                WrongAudience,
                "aud",
                set("aud", json!("https://other-db.example.com")),
            ),
            ("number", MalformedClaim, "aud", set("aud", json!(5))),
            (
                "object",
                MalformedClaim,
                "aud",
                set("aud", json!({"aud": AUD})),
            ),
            ("null", MalformedClaim, "aud", set("aud", json!(null))),
            ("bool", MalformedClaim, "aud", set("aud", json!(true))),
            ("[5]", MalformedClaim, "aud", set("aud", json!([5]))),
            ("[]", MalformedClaim, "aud", set("aud", json!([]))),
            (
                "ours and a number",
                MalformedClaim,
                "aud",
                set("aud", json!([AUD, 5])),
            ),
            (
                "other and a number",
                MalformedClaim,
                "aud",
                set("aud", json!(["other", 5])),
            ),
            (
                "nested array",
                MalformedClaim,
                "aud",
                set("aud", json!([[AUD]])),
            ),
            (
                "case variant",
                WrongAudience,
                "aud",
                set("aud", json!(AUD.to_uppercase())),
            ),
            (
                "trailing slash",
                WrongAudience,
                "aud",
                set("aud", json!(format!("{AUD}/"))),
            ),
            (
                "client id only",
                WrongAudience,
                "aud",
                set("aud", json!("psql")),
            ),
            ("empty string", WrongAudience, "aud", set("aud", json!(""))),
            (
                "array of others",
                WrongAudience,
                "aud",
                set("aud", json!(["account", "psql"])),
            ),
            (
                "space separated",
                WrongAudience,
                "aud",
                set("aud", json!(format!("{AUD} other"))),
            ),
        ],
    );
    let mut none = policy();
    none.audiences.clear();
    let r = verify_with(&token_with(&RSA, |_| {}), &none).unwrap_err();
    assert_eq!(r.reason, NotConfigured);
}

#[test]
fn d30_alternate_audience_claim_does_not_excuse_a_foreign_aud() {
    let mut p = policy();
    p.audience_claim = ClaimPath::parse("client_id").unwrap();
    p.audiences = vec!["psql".into()];
    let no_aud = jws(&RSA, &header_for(&RSA), &without("aud"));
    assert!(verify_with(&no_aud, &p).is_ok());
    // The token also names an audience, and it is not ours: RFC 7519 §4.1.3 says reject.
    let r = verify_with(&token_with(&RSA, |c| c["aud"] = json!("https://other")), &p).unwrap_err();
    assert_eq!(r.reason, Reason::WrongAudience);
    let r = verify_with(&token_with(&RSA, |c| c["aud"] = json!(7)), &p).unwrap_err();
    assert_eq!(r.reason, Reason::MalformedClaim);
    let r = verify_with(
        &jws(&RSA, &header_for(&RSA), &set("client_id", json!("other"))),
        &p,
    )
    .unwrap_err();
    assert_eq!(r.reason, Reason::WrongAudience);
}

#[test]
fn d31_exp_must_be_a_present_numeric_date() {
    use Reason::*;
    assert_claims_rejected(
        &policy(),
        &[
            ("missing", MissingClaim, "exp", without("exp")),
            (
                "string",
                MalformedClaim,
                "exp",
                set("exp", json!((NOW + 300).to_string())),
            ),
            ("negative", MalformedClaim, "exp", set("exp", json!(-1))),
            ("bool", MalformedClaim, "exp", set("exp", json!(true))),
            ("null", MalformedClaim, "exp", set("exp", json!(null))),
            ("1e300", MalformedClaim, "exp", set("exp", json!(1e300))),
            (
                "array",
                MalformedClaim,
                "exp",
                set("exp", json!([NOW + 300])),
            ),
            (
                "object",
                MalformedClaim,
                "exp",
                set("exp", json!({"$date": NOW + 300})),
            ),
            (
                "2^63",
                MalformedClaim,
                "exp",
                set("exp", json!(9_223_372_036_854_775_808u64)),
            ),
            (
                "u64 max",
                MalformedClaim,
                "exp",
                set("exp", json!(u64::MAX)),
            ),
            (
                "i64 min",
                MalformedClaim,
                "exp",
                set("exp", json!(i64::MIN)),
            ),
            (
                "year 10000",
                MalformedClaim,
                "exp",
                set("exp", json!(253_402_300_800i64)),
            ),
        ],
    );
    // A number too large for f64 is a JSON error, not a claim error: still refused.
    let raw = base_claims()
        .to_string()
        .replace(&(NOW + 300).to_string(), "1e400");
    let token = jws_raw(
        &RSA,
        jsonwebtoken::Algorithm::RS256,
        header_for(&RSA).to_string().as_bytes(),
        raw.as_bytes(),
    );
    assert_eq!(reason(&token), Reason::MalformedPayload);
}

fn at(exp: i64, skew: i64) -> Result<(), Reason> {
    let mut p = policy();
    p.clock_skew = skew;
    let token = jws(
        &RSA,
        &header_for(&RSA),
        &claims(|c| {
            c["exp"] = json!(exp);
            c["iat"] = json!(NOW - 600);
        }),
    );
    verify_with(&token, &p).map(|_| ()).map_err(|r| r.reason)
}

#[test]
fn d32_expiry_boundary_with_and_without_skew() {
    // Expired iff now >= exp + skew.
    assert_eq!(at(NOW - 61, 60), Err(Reason::Expired));
    assert_eq!(at(NOW - 60, 60), Err(Reason::Expired));
    assert_eq!(at(NOW - 59, 60), Ok(()));
    assert_eq!(at(NOW, 0), Err(Reason::Expired));
    assert_eq!(at(NOW + 1, 0), Ok(()));
    assert_eq!(at(NOW - 300, 300), Err(Reason::Expired));
    assert_eq!(at(NOW - 299, 300), Ok(()));
    assert_eq!(at(0, 60), Err(Reason::Expired));
    let mut p = policy();
    p.clock_skew = 301;
    assert_eq!(
        verify_with(&token_with(&RSA, |_| {}), &p)
            .unwrap_err()
            .reason,
        Reason::NotConfigured
    );
}

#[test]
fn d33_lifetime_is_capped() {
    let lifetime = |iat: Option<i64>, exp: i64, max: Option<i64>| {
        let mut p = policy();
        p.max_lifetime = max;
        p.require_iat = iat.is_some();
        let token = jws(
            &RSA,
            &header_for(&RSA),
            &claims(|c| {
                c["exp"] = json!(exp);
                match iat {
                    Some(iat) => c["iat"] = json!(iat),
                    None => {
                        c.as_object_mut().unwrap().remove("iat");
                    }
                }
            }),
        );
        verify_with(&token, &p).map(|_| ()).map_err(|r| r.reason)
    };
    let hundred_years = 100 * 365 * 86_400;
    assert_eq!(
        lifetime(Some(NOW), NOW + hundred_years, Some(86_400)),
        Err(Reason::LifetimeTooLong)
    );
    assert_eq!(
        lifetime(None, NOW + hundred_years, Some(86_400)),
        Err(Reason::LifetimeTooLong)
    );
    assert_eq!(
        lifetime(Some(NOW), NOW + 3601, Some(3600)),
        Err(Reason::LifetimeTooLong)
    );
    assert_eq!(lifetime(Some(NOW), NOW + 3600, Some(3600)), Ok(()));
    // exp - iat within the cap, but iat back-dated so exp - now is beyond cap + skew? No:
    // exp - now <= exp - iat + skew always holds for a valid iat; an old iat with a far exp
    // is caught by exp - iat.
    assert_eq!(
        lifetime(Some(NOW - 7200), NOW + 1800, Some(3600)),
        Err(Reason::LifetimeTooLong)
    );
    // Without iat only exp - now is capped (with the skew).
    assert_eq!(lifetime(None, NOW + 3600 + 60, Some(3600)), Ok(()));
    assert_eq!(
        lifetime(None, NOW + 3600 + 61, Some(3600)),
        Err(Reason::LifetimeTooLong)
    );
    // The default cap is 24 h.
    assert_eq!(lifetime(Some(NOW), NOW + 86_400, Some(86_400)), Ok(()));
    assert_eq!(policy().max_lifetime, Some(86_400));
    // No cap: a far exp is accepted (documented as not recommended).
    assert_eq!(lifetime(Some(NOW), NOW + hundred_years, None), Ok(()));
}

#[test]
fn d34_nbf_is_typed_and_honoured_with_skew() {
    use Reason::*;
    assert_claims_rejected(
        &policy(),
        &[
            (
                "an hour ahead",
                NotYetValid,
                "nbf",
                set("nbf", json!(NOW + 3600)),
            ),
            (
                "skew + 1 ahead",
                NotYetValid,
                "nbf",
                set("nbf", json!(NOW + 61)),
            ),
            (
                "string",
                MalformedClaim,
                "nbf",
                set("nbf", json!(NOW.to_string())),
            ),
            ("null", MalformedClaim, "nbf", set("nbf", json!(null))),
            ("negative", MalformedClaim, "nbf", set("nbf", json!(-5))),
            ("bool", MalformedClaim, "nbf", set("nbf", json!(false))),
        ],
    );
    for nbf in [NOW + 60, NOW, NOW - 3600, 0] {
        assert!(
            verify(&jws(&RSA, &header_for(&RSA), &set("nbf", json!(nbf)))).is_ok(),
            "{nbf}"
        );
    }
}

#[test]
fn d35_iat_is_required_typed_and_not_in_the_future() {
    use Reason::*;
    assert_claims_rejected(
        &policy(),
        &[
            ("missing", MissingClaim, "iat", without("iat")),
            (
                "an hour ahead",
                IssuedInFuture,
                "iat",
                set("iat", json!(NOW + 3600)),
            ),
            (
                "skew + 1 ahead",
                IssuedInFuture,
                "iat",
                set("iat", json!(NOW + 61)),
            ),
            (
                "string",
                MalformedClaim,
                "iat",
                set("iat", json!(NOW.to_string())),
            ),
            ("null", MalformedClaim, "iat", set("iat", json!(null))),
            (
                "float string",
                MalformedClaim,
                "iat",
                set("iat", json!("1.5e9")),
            ),
        ],
    );
    assert!(verify(&jws(&RSA, &header_for(&RSA), &set("iat", json!(NOW + 60)))).is_ok());
    let mut optional = policy();
    optional.require_iat = false;
    assert!(verify_with(&jws(&RSA, &header_for(&RSA), &without("iat")), &optional).is_ok());
    // Optional still means typed.
    let r = verify_with(
        &jws(&RSA, &header_for(&RSA), &set("iat", json!("now"))),
        &optional,
    )
    .unwrap_err();
    assert_eq!(r.reason, MalformedClaim);
}

#[test]
fn d36_sub_must_be_a_non_empty_string() {
    use Reason::*;
    // With the identity taken from another claim, `sub` is still checked on its own.
    let mut p = policy();
    p.identity_claim = ClaimPath::parse("client_id").unwrap();
    assert_claims_rejected(
        &p,
        &[
            ("missing", MissingClaim, "sub", without("sub")),
            ("number", MalformedClaim, "sub", set("sub", json!(42))),
            ("empty", MalformedClaim, "sub", set("sub", json!(""))),
            ("null", MalformedClaim, "sub", set("sub", json!(null))),
            ("array", MalformedClaim, "sub", set("sub", json!(["alice"]))),
        ],
    );
}

#[test]
fn d37_client_claim_when_configured_is_required_and_allow_listed() {
    use Reason::*;
    let mut p = policy();
    p.client_claim = Some(ClaimPath::parse("client_id").unwrap());
    p.allowed_clients = vec!["psql".into(), "app".into()];
    assert_claims_rejected(
        &p,
        &[
            ("missing", MissingClaim, "client", without("client_id")),
            (
                "number",
                MalformedClaim,
                "client",
                set("client_id", json!(1)),
            ),
            (
                "empty",
                MalformedClaim,
                "client",
                set("client_id", json!("")),
            ),
            (
                "array",
                MalformedClaim,
                "client",
                set("client_id", json!(["psql"])),
            ),
            (
                "not allowed",
                ClientNotAllowed,
                "client",
                set("client_id", json!("evil-app")),
            ),
            (
                "case variant",
                ClientNotAllowed,
                "client",
                set("client_id", json!("PSQL")),
            ),
        ],
    );
    let v = verify_with(&token_with(&RSA, |_| {}), &p).unwrap();
    assert_eq!(v.client.as_deref(), Some("psql"));
    // Claim configured, no allow-list: any client, but present.
    p.allowed_clients.clear();
    assert!(verify_with(
        &jws(&RSA, &header_for(&RSA), &set("client_id", json!("x"))),
        &p
    )
    .is_ok());
    assert_eq!(
        verify_with(&jws(&RSA, &header_for(&RSA), &without("client_id")), &p)
            .unwrap_err()
            .reason,
        MissingClaim
    );
    // Allow-list without a claim is a configuration error.
    let mut bad = policy();
    bad.allowed_clients = vec!["psql".into()];
    assert_eq!(
        verify_with(&token_with(&RSA, |_| {}), &bad)
            .unwrap_err()
            .reason,
        NotConfigured
    );
    // Not configured at all (the default): a token without client_id is accepted.
    assert!(verify(&jws(&RSA, &header_for(&RSA), &without("client_id"))).is_ok());
}

#[test]
fn d38_fractional_exp_is_floored() {
    let v = verify(&token_with(&RSA, |c| c["exp"] = json!(NOW as f64 + 300.7))).unwrap();
    assert_eq!(v.exp, NOW + 300);
    let v = verify(&token_with(&RSA, |c| c["exp"] = json!(1.7500003e9))).unwrap();
    assert_eq!(v.exp, 1_750_000_300);
    // Floor means a fractional exp expires at the earlier whole second.
    assert_eq!(at_fraction(NOW as f64 - 60.0 + 0.9), Err(Reason::Expired));
    assert_eq!(at_fraction(NOW as f64 - 59.0 + 0.1), Ok(()));
    assert_eq!(
        reason(&token_with(&RSA, |c| c["exp"] = json!(9.3e18))),
        Reason::MalformedClaim
    );
}

fn at_fraction(exp: f64) -> Result<(), Reason> {
    verify(&token_with(&RSA, |c| c["exp"] = json!(exp)))
        .map(|_| ())
        .map_err(|r| r.reason)
}

#[test]
fn d39_id_tokens_are_refused() {
    let id_claims = json!({
        "iss": ISS, "aud": "psql", "sub": "alice", "iat": NOW, "exp": NOW + 300,
        "nonce": "n-0S6_WzA2Mj", "auth_time": NOW - 10, "email": "alice@example.com",
        "email_verified": true, "azp": "psql",
    });
    let typed_jwt = jws(
        &RSA,
        &json!({"alg": "RS256", "kid": "rsa-1", "typ": "JWT"}),
        &id_claims,
    );
    assert_eq!(reason(&typed_jwt), Reason::WrongAudience);
    let typed_id = jws(
        &RSA,
        &json!({"alg": "RS256", "kid": "rsa-1", "typ": "id_token+jwt"}),
        &id_claims,
    );
    assert_eq!(reason(&typed_id), Reason::WrongTyp);
    // Even where the client id is (mis)configured as an audience, it grants no scope.
    let mut p = policy();
    p.audiences.push("psql".into());
    assert_eq!(
        verify_with(&typed_jwt, &p).unwrap_err().reason,
        Reason::MissingScope
    );
    // And a typed-access-token policy refuses it by type alone.
    p.typ_policy = TypPolicy::AccessOnly;
    assert_eq!(
        verify_with(&typed_jwt, &p).unwrap_err().reason,
        Reason::WrongTyp
    );
}

#[test]
fn d40_token_for_another_resource_server_of_the_same_issuer_is_refused() {
    let token = token_with(&RSA, |c| {
        c["aud"] = json!(["https://reports.example.com", "account"])
    });
    let r = verify(&token).unwrap_err();
    assert_eq!(r.reason, Reason::WrongAudience);
    // The same key set with the other resource's policy accepts it: only audience differs.
    let mut other = policy();
    other.audiences = vec!["https://reports.example.com".into()];
    assert!(verify_jwt(&request(&token), &KEYS, &other).is_ok());
}

#[test]
fn d_required_claims_must_match_exactly() {
    let mut p = policy();
    p.required_claims = vec![(ClaimPath::parse("token_use").unwrap(), "access".into())];
    assert!(verify_with(&token_with(&RSA, |c| c["token_use"] = json!("access")), &p).is_ok());
    for (label, value, expected) in [
        ("id", Some(json!("id")), Reason::ClaimMismatch),
        ("case", Some(json!("Access")), Reason::ClaimMismatch),
        ("array", Some(json!(["access"])), Reason::ClaimMismatch),
        ("missing", None, Reason::MissingClaim),
    ] {
        let token = token_with(&RSA, |c| {
            if let Some(v) = value {
                c["token_use"] = v;
            }
        });
        assert_eq!(
            verify_with(&token, &p).unwrap_err().reason,
            expected,
            "{label}"
        );
    }
}

#[test]
fn d_identity_is_reported_only_once_issuer_validity_and_audience_hold() {
    // Refused after the audience check (missing scope): the verified identity is reported.
    let r = verify(&token_with(&RSA, |c| c["scope"] = json!("openid"))).unwrap_err();
    assert_eq!(r.reason, Reason::MissingScope);
    assert_eq!(r.identity.as_deref(), Some("alice"));
    assert_eq!(r.kid.as_deref(), Some("rsa-1"));
    // Refused at the issuer, the validity period or the audience: a correctly signed token
    // from another issuer sharing the keys must not get its identity into the log.
    for (label, patch) in [
        (
            "other issuer",
            json!({"iss": "https://other-tenant.example/"}),
        ),
        ("expired", json!({"exp": NOW - 3600})),
        ("other audience", json!({"aud": "another-db"})),
    ] {
        let r = verify(&token_with(&RSA, |c| {
            for (k, v) in patch.as_object().unwrap() {
                c[k] = v.clone();
            }
        }))
        .unwrap_err();
        assert_eq!(r.identity, None, "{label}");
    }
    // A bad identity is never reported.
    let r = verify(&token_with(&RSA, |c| {
        c["scope"] = json!("openid");
        c["sub"] = json!("evil\nLOG: x");
    }))
    .unwrap_err();
    assert_eq!(r.identity, None);
}
