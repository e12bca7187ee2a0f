//! Security battery §4 G (introspection and userinfo, items 61–67), at the level of
//! `verify_introspection` / `verify_userinfo`: how an answer from the provider is judged for
//! one login. Transport (status codes, media types, redirects, TLS, client authentication on
//! the wire) is the glue's and is shown end to end in `pgrx-tests/tests/opaque.rs`.

mod common;

use common::*;
use pg_bearer_core::claims::ClaimPath;
use pg_bearer_core::envelope;
use pg_bearer_core::introspection::{
    verify_introspection, verify_userinfo, OpaqueRequest, OpaqueVerified, MAX_RESPONSE_LEN,
};
use pg_bearer_core::policy::IssuerPolicy;
use pg_bearer_core::reason::{Reason, Rejection};
use serde_json::{json, Value};

fn opaque_request() -> OpaqueRequest<'static> {
    OpaqueRequest {
        hba_scopes: HBA_SCOPES,
        requested_role: "alice",
        delegate_ident_mapping: false,
        now: NOW,
    }
}

/// An RFC 7662 answer for a token meant for this server.
fn active() -> Value {
    json!({
        "active": true, "iss": ISS, "aud": AUD, "sub": "alice", "client_id": "psql",
        "scope": "openid postgres", "token_type": "Bearer", "iat": NOW - 10, "exp": NOW + 300,
    })
}

fn with(base: Value, edit: impl FnOnce(&mut Value)) -> Value {
    let mut v = base;
    edit(&mut v);
    v
}

fn without(base: Value, name: &str) -> Value {
    with(base, |v| {
        v.as_object_mut().unwrap().remove(name);
    })
}

fn introspect(body: &[u8], policy: &IssuerPolicy) -> Result<OpaqueVerified, Rejection> {
    verify_introspection(body, &opaque_request(), policy)
}

fn introspect_json(answer: &Value) -> Result<OpaqueVerified, Rejection> {
    introspect(answer.to_string().as_bytes(), &policy())
}

fn userinfo_json(answer: &Value, policy: &IssuerPolicy) -> Result<OpaqueVerified, Rejection> {
    verify_userinfo(answer.to_string().as_bytes(), &opaque_request(), policy)
}

/// Asserts every `(label, answer)` is refused by introspection with `reason` (and `claim`).
#[track_caller]
fn assert_introspection_refused(cases: &[(&str, Value, Reason, Option<&str>)]) {
    for (label, answer, reason, claim) in cases {
        match introspect_json(answer) {
            Ok(v) => panic!("{label}: accepted as {:?}", v.authn_id),
            Err(r) => {
                assert_eq!(r.reason, *reason, "{label}: {r:?}");
                assert_eq!(r.claim, *claim, "{label}: {r:?}");
            }
        }
    }
}

#[test]
fn g61_active_answer_for_this_server_is_accepted_and_inactive_is_refused() {
    let v = introspect_json(&active()).unwrap();
    assert_eq!(v.authn_id, "alice");
    assert_eq!(v.exp, Some(NOW + 300), "caches must not outlive exp");
    for inactive in [
        json!({"active": false}),
        // Anything else an inactive answer carries is irrelevant.
        with(active(), |a| a["active"] = json!(false)),
    ] {
        let r = introspect_json(&inactive).unwrap_err();
        assert_eq!(r.reason, Reason::TokenInactive, "{inactive}");
        assert_eq!(r.identity, None);
    }
}

#[test]
fn g62_only_the_json_value_true_means_active() {
    use Reason::MalformedResponse;
    let cases: Vec<(&str, Value, Reason, Option<&str>)> = [
        ("string true", json!("true")),
        ("number 1", json!(1)),
        ("null", json!(null)),
        ("array", json!([true])),
        ("object", json!({"value": true})),
        ("string yes", json!("yes")),
    ]
    .into_iter()
    .map(|(label, v)| {
        (
            label,
            with(active(), |a| a["active"] = v),
            MalformedResponse,
            Some("active"),
        )
    })
    .chain([(
        "missing",
        without(active(), "active"),
        MalformedResponse,
        Some("active"),
    )])
    .collect();
    assert_introspection_refused(&cases);
}

#[test]
fn g62_answers_that_are_not_one_json_object_are_refused() {
    let good = active().to_string();
    let too_large = {
        let mut a = active();
        a["pad"] = json!("x".repeat(MAX_RESPONSE_LEN));
        a.to_string()
    };
    let cases: Vec<(&str, Vec<u8>, Reason)> = vec![
        (
            "an HTML page",
            b"<html><body>Bad Gateway</body></html>".to_vec(),
            Reason::MalformedResponse,
        ),
        ("empty", Vec::new(), Reason::MalformedResponse),
        (
            "top-level array",
            b"[{\"active\":true}]".to_vec(),
            Reason::MalformedResponse,
        ),
        ("true", b"true".to_vec(), Reason::MalformedResponse),
        (
            "truncated",
            good.as_bytes()[..good.len() / 2].to_vec(),
            Reason::MalformedResponse,
        ),
        (
            "byte-order mark",
            [b"\xEF\xBB\xBF".as_slice(), good.as_bytes()].concat(),
            Reason::MalformedResponse,
        ),
        (
            "invalid UTF-8",
            good.replace("alice", "al\u{7f}ce")
                .into_bytes()
                .into_iter()
                .map(|b| if b == 0x7f { 0xff } else { b })
                .collect(),
            Reason::MalformedResponse,
        ),
        (
            "lone surrogate",
            good.replace(r#""sub":"alice""#, r#""sub":"\ud800""#)
                .into_bytes(),
            Reason::MalformedResponse,
        ),
        (
            "deeply nested",
            good.replacen(
                '{',
                &format!(r#"{{"x":{}{},"#, "[".repeat(10_000), "]".repeat(10_000)),
                1,
            )
            .into_bytes(),
            Reason::MalformedResponse,
        ),
        (
            "over 64 KiB",
            too_large.into_bytes(),
            Reason::MalformedResponse,
        ),
        (
            "active false then true",
            br#"{"active":false,"active":true}"#.to_vec(),
            Reason::DuplicateMember,
        ),
        (
            "two subjects",
            good.replacen('{', r#"{"sub":"postgres","#, 1).into_bytes(),
            Reason::DuplicateMember,
        ),
    ];
    for (label, body, reason) in cases {
        let r = introspect(&body, &policy()).unwrap_err();
        assert_eq!(r.reason, reason, "{label}: {r:?}");
        assert_eq!(r.identity, None, "{label}");
    }
}

#[test]
fn g63_active_answers_are_held_to_the_lines_policy() {
    use Reason::*;
    assert_introspection_refused(&[
        (
            "another audience",
            with(active(), |a| {
                a["aud"] = json!("https://other-db.example.com")
            }),
            WrongAudience,
            Some("aud"),
        ),
        (
            "no audience",
            without(active(), "aud"),
            MissingClaim,
            Some("aud"),
        ),
        (
            "audience number",
            with(active(), |a| a["aud"] = json!(5)),
            MalformedClaim,
            Some("aud"),
        ),
        (
            "another issuer",
            with(active(), |a| a["iss"] = json!("https://evil.example")),
            WrongIssuer,
            Some("iss"),
        ),
        (
            "issuer with trailing slash",
            with(active(), |a| a["iss"] = json!(format!("{ISS}/"))),
            WrongIssuer,
            Some("iss"),
        ),
        (
            "issuer array",
            with(active(), |a| a["iss"] = json!([ISS])),
            MalformedClaim,
            Some("iss"),
        ),
        (
            "expired",
            with(active(), |a| a["exp"] = json!(NOW - 61)),
            Expired,
            Some("exp"),
        ),
        (
            "exp string",
            with(active(), |a| a["exp"] = json!((NOW + 300).to_string())),
            MalformedClaim,
            Some("exp"),
        ),
        (
            "not yet valid",
            with(active(), |a| a["nbf"] = json!(NOW + 3600)),
            NotYetValid,
            Some("nbf"),
        ),
        (
            "issued in the future, no exp",
            without(with(active(), |a| a["iat"] = json!(NOW + 3600)), "exp"),
            IssuedInFuture,
            Some("iat"),
        ),
        (
            "lifetime over the cap",
            with(active(), |a| a["exp"] = json!(NOW + 2 * 86_400)),
            LifetimeTooLong,
            Some("iat"),
        ),
        (
            "lacks the HBA scope",
            with(active(), |a| a["scope"] = json!("openid profile")),
            MissingScope,
            Some("scope"),
        ),
        (
            "scope superstring",
            with(active(), |a| a["scope"] = json!("openid postgresql")),
            MissingScope,
            Some("scope"),
        ),
        (
            "no scope",
            without(active(), "scope"),
            MissingScope,
            Some("scope"),
        ),
        (
            "scope array",
            with(active(), |a| a["scope"] = json!(["postgres"])),
            MalformedClaim,
            Some("scope"),
        ),
        (
            "a refresh token",
            with(active(), |a| a["token_type"] = json!("refresh_token")),
            WrongTokenType,
            Some("token_type"),
        ),
        (
            "Keycloak refresh typ",
            with(active(), |a| a["typ"] = json!("Refresh")),
            WrongTokenType,
            Some("typ"),
        ),
        (
            "Keycloak ID typ",
            with(active(), |a| a["typ"] = json!("ID")),
            WrongTokenType,
            Some("typ"),
        ),
        (
            "token_type number",
            with(active(), |a| a["token_type"] = json!(1)),
            MalformedClaim,
            Some("token_type"),
        ),
        (
            "empty sub",
            with(active(), |a| a["sub"] = json!("")),
            MalformedClaim,
            Some("sub"),
        ),
        (
            "sub with a newline",
            with(active(), |a| a["sub"] = json!("alice\nLOG: forged")),
            BadIdentity,
            Some("identity"),
        ),
        (
            "sub with NUL",
            with(active(), |a| a["sub"] = json!("postgres\u{0}@evil")),
            BadIdentity,
            Some("identity"),
        ),
    ]);
    // The positive control for the same policy.
    assert!(introspect_json(&active()).is_ok());
}

#[test]
fn g63_client_id_is_checked_when_the_policy_names_allowed_clients() {
    let mut p = policy();
    p.client_claim = Some(ClaimPath::parse("client_id").unwrap());
    p.allowed_clients = vec!["psql".into()];
    assert!(introspect(active().to_string().as_bytes(), &p).is_ok());
    for (label, answer, reason) in [
        (
            "another client",
            with(active(), |a| a["client_id"] = json!("evil-app")),
            Reason::ClientNotAllowed,
        ),
        (
            "case variant",
            with(active(), |a| a["client_id"] = json!("PSQL")),
            Reason::ClientNotAllowed,
        ),
        (
            "no client",
            without(active(), "client_id"),
            Reason::MissingClaim,
        ),
        (
            "client array",
            with(active(), |a| a["client_id"] = json!(["psql"])),
            Reason::MalformedClaim,
        ),
    ] {
        let r = introspect(answer.to_string().as_bytes(), &p).unwrap_err();
        assert_eq!(r.reason, reason, "{label}");
        assert_eq!(r.claim, Some("client"), "{label}");
    }
}

#[test]
fn g63_delegated_roles_in_answers_follow_the_jwt_rules() {
    let mut p = policy();
    p.role_claim = Some(ClaimPath::parse("roles").unwrap());
    let answer = with(active(), |a| a["roles"] = json!(["analyst"]));
    let delegated = |role: &str, policy: &IssuerPolicy| {
        let req = OpaqueRequest {
            requested_role: role,
            delegate_ident_mapping: true,
            ..opaque_request()
        };
        verify_introspection(answer.to_string().as_bytes(), &req, policy)
    };
    assert_eq!(delegated("analyst", &p).unwrap().authn_id, "alice");
    for role in ["postgres", "Analyst", "analyst ", ""] {
        assert_eq!(
            delegated(role, &p).unwrap_err().reason,
            Reason::RoleNotGranted,
            "{role:?}"
        );
    }
    assert_eq!(
        delegated("analyst", &policy()).unwrap_err().reason,
        Reason::NotConfigured,
        "a delegate line without a role claim refuses everything"
    );
}

#[test]
fn g63_identity_is_named_only_once_issuer_times_and_audience_hold() {
    for (label, answer) in [
        (
            "another issuer",
            with(active(), |a| a["iss"] = json!("https://evil.example")),
        ),
        ("expired", with(active(), |a| a["exp"] = json!(NOW - 3600))),
        (
            "another audience",
            with(active(), |a| a["aud"] = json!("other")),
        ),
    ] {
        assert_eq!(
            introspect_json(&answer).unwrap_err().identity,
            None,
            "{label}"
        );
    }
    let r = introspect_json(&with(active(), |a| a["scope"] = json!("openid"))).unwrap_err();
    assert_eq!(r.reason, Reason::MissingScope);
    assert_eq!(r.identity.as_deref(), Some("alice"));
}

#[test]
fn g66_jws_shaped_tokens_are_routed_to_local_verification_only() {
    // The glue sends a token to the provider only if it is not JWS-shaped: every refused JWT
    // of the battery must stay on the local path, however it failed.
    let good = token_with(&RSA, |_| {});
    let (input, _) = good.rsplit_once('.').unwrap();
    let refused_jwts = [
        ("bad signature", token_with(&RSA_OTHER, |_| {})),
        ("unsecured (empty signature)", format!("{input}.")),
        (
            "alg none",
            token_with_header(&RSA, |h| h["alg"] = json!("none")),
        ),
        (
            "HS256",
            token_with_header(&RSA, |h| h["alg"] = json!("HS256")),
        ),
        (
            "wrong audience",
            token_with(&RSA, |c| c["aud"] = json!("other")),
        ),
        (
            "expired",
            token_with(&RSA, |c| c["exp"] = json!(NOW - 3600)),
        ),
        (
            "jku",
            token_with_header(&RSA, |h| h["jku"] = json!("https://evil.example/k")),
        ),
        (
            "unknown kid",
            token_with_header(&RSA, |h| h["kid"] = json!("nope")),
        ),
    ];
    for (label, token) in &refused_jwts {
        assert!(verify(token).is_err(), "{label}");
        assert!(
            envelope::looks_like_jws(token),
            "{label} would leave the JWT path"
        );
    }
    for opaque in [
        "Vq3kYF2mX8pL0aZ7tR5wN1cE9bH4jD6gS2uQ8oI0yTe",
        "2YotnFZFEjr1zCsicMWpAA",
        "a.b.c",
        "mF_9.B5f-4.1JqM",
    ] {
        assert!(!envelope::looks_like_jws(opaque), "{opaque}");
    }
}

#[test]
fn g67_userinfo_answers_need_a_subject_and_this_issuer() {
    use Reason::*;
    let p = policy();
    let ok = json!({"sub": "alice", "iss": ISS});
    assert_eq!(userinfo_json(&ok, &p).unwrap().authn_id, "alice");
    assert_eq!(
        userinfo_json(&ok, &p).unwrap().exp,
        None,
        "userinfo proves no expiry"
    );
    for (label, answer, reason, claim) in [
        (
            "no sub",
            json!({"preferred_username": "alice"}),
            MissingClaim,
            Some("sub"),
        ),
        (
            "sub number",
            json!({"sub": 42}),
            MalformedClaim,
            Some("sub"),
        ),
        ("sub empty", json!({"sub": ""}), MalformedClaim, Some("sub")),
        (
            "sub null",
            json!({"sub": null}),
            MalformedClaim,
            Some("sub"),
        ),
        (
            "another issuer",
            json!({"sub": "alice", "iss": "https://evil.example"}),
            WrongIssuer,
            Some("iss"),
        ),
        (
            "sub with control characters",
            json!({"sub": "alice\r\nLOG: x"}),
            BadIdentity,
            Some("identity"),
        ),
        (
            "lists scopes without the HBA scope",
            json!({"sub": "alice", "scope": "openid profile"}),
            MissingScope,
            Some("scope"),
        ),
    ] {
        let r = userinfo_json(&answer, &p).unwrap_err();
        assert_eq!(r.reason, reason, "{label}: {r:?}");
        assert_eq!(r.claim, claim, "{label}");
    }
}

#[test]
fn g67_signed_or_non_json_userinfo_answers_are_refused() {
    // A signed (application/jwt) userinfo answer is not verified by pg_bearer: its text is
    // not a JSON object, so it is refused, never trusted unverified.
    let signed = token_with(&RSA, |_| {});
    for (label, body) in [
        ("signed JWT", signed.into_bytes()),
        ("HTML", b"<html>401</html>".to_vec()),
        ("empty", Vec::new()),
        (
            "duplicate sub",
            br#"{"sub":"alice","sub":"postgres"}"#.to_vec(),
        ),
    ] {
        let r = verify_userinfo(&body, &opaque_request(), &policy()).unwrap_err();
        assert!(
            matches!(
                r.reason,
                Reason::MalformedResponse | Reason::DuplicateMember
            ),
            "{label}: {r:?}"
        );
        assert_eq!(r.identity, None, "{label}");
    }
}

#[test]
fn g67_userinfo_email_identity_needs_email_verified_true() {
    let mut p = policy();
    p.identity_claim = ClaimPath::parse("email").unwrap();
    let answer = |verified: Option<Value>| {
        let mut a = json!({"sub": "248289761001", "email": "alice@example.com"});
        if let Some(v) = verified {
            a["email_verified"] = v;
        }
        a
    };
    assert_eq!(
        userinfo_json(&answer(Some(json!(true))), &p)
            .unwrap()
            .authn_id,
        "alice@example.com"
    );
    for verified in [
        None,
        Some(json!(false)),
        Some(json!("true")),
        Some(json!(1)),
    ] {
        assert_eq!(
            userinfo_json(&answer(verified.clone()), &p)
                .unwrap_err()
                .reason,
            Reason::EmailNotVerified,
            "{verified:?}"
        );
    }
}

#[test]
fn g64_a_configured_introspection_endpoint_must_be_https_without_credentials_in_the_url() {
    use pg_bearer_core::discovery::{check_endpoint_url, UrlError};
    // The token and the client secret go to this URL: only https, unless a test allows http.
    assert_eq!(
        check_endpoint_url("http://idp.example.com/introspect", false),
        Err(UrlError::NotHttps)
    );
    assert_eq!(
        check_endpoint_url("http://idp.example.com/introspect", true),
        Ok(())
    );
    for (url, error) in [
        ("HTTP://idp.example.com/introspect", UrlError::NotHttps),
        ("ftp://idp.example.com/introspect", UrlError::NotHttps),
        ("//idp.example.com/introspect", UrlError::NotHttps),
        (
            "https://pg:secret@idp.example.com/introspect",
            UrlError::Userinfo,
        ),
        ("https://idp.example.com/introspect#x", UrlError::Fragment),
        ("https:///introspect", UrlError::MissingHost),
        (
            "https://idp.example.com/a/../introspect",
            UrlError::DotSegment,
        ),
        (
            "https://idp.example.com/intro spect",
            UrlError::InvalidCharacter,
        ),
    ] {
        assert_eq!(check_endpoint_url(url, false), Err(error), "{url}");
    }
    assert_eq!(
        check_endpoint_url("https://idp.example.com/oauth2/introspect?tenant=a", false),
        Ok(())
    );
}

#[test]
fn userinfo_answers_are_held_to_required_claims_and_allowed_clients_and_grant_no_audience_scope() {
    let mut p = policy();
    p.required_claims = vec![(ClaimPath::parse("hd").unwrap(), "example.com".into())];
    let ok = json!({"sub": "alice", "hd": "example.com"});
    assert_eq!(userinfo_json(&ok, &p).unwrap().authn_id, "alice");
    for (answer, reason) in [
        (json!({"sub": "alice"}), Reason::MissingClaim),
        (
            json!({"sub": "alice", "hd": "evil.example"}),
            Reason::ClaimMismatch,
        ),
    ] {
        assert_eq!(
            userinfo_json(&answer, &p).unwrap_err().reason,
            reason,
            "{answer}"
        );
    }
    // The client checks apply too: most userinfo answers name no client, so they fail.
    let mut p = policy();
    p.client_claim = Some(ClaimPath::parse("client_id").unwrap());
    p.allowed_clients = vec!["psql".into()];
    assert!(userinfo_json(&json!({"sub": "alice", "client_id": "psql"}), &p).is_ok());
    assert_eq!(
        userinfo_json(&json!({"sub": "alice"}), &p)
            .unwrap_err()
            .reason,
        Reason::MissingClaim
    );
    assert_eq!(
        userinfo_json(&json!({"sub": "alice", "client_id": "other"}), &p)
            .unwrap_err()
            .reason,
        Reason::ClientNotAllowed
    );
    // An audience-derived scope is never granted: userinfo proves no audience, even when the
    // answer carries an `aud` naming this server.
    let request = OpaqueRequest {
        hba_scopes: "openid https://db.example.com/.default",
        ..opaque_request()
    };
    let answer = json!({"sub": "alice", "aud": AUD, "scope": "openid"});
    let refused = verify_userinfo(answer.to_string().as_bytes(), &request, &policy());
    assert_eq!(refused.unwrap_err().reason, Reason::MissingScope);
    // The same answer through introspection (which proves the audience) grants it.
    let active = json!({"active": true, "iss": ISS, "aud": AUD, "sub": "alice", "scope": "openid"});
    assert!(verify_introspection(active.to_string().as_bytes(), &request, &policy()).is_ok());
}

/// `pg_bearer_client` reads a JWT's `exp` without verifying it, only to say "expired" before
/// presenting it; anything that is not a canonical JWS with a numeric `exp` gives nothing.
#[test]
fn a_client_reads_only_the_exp_of_a_canonical_jws() {
    let payload = |claims: &str| format!("{}.{}.c2ln", b64(r#"{"alg":"RS256"}"#), b64(claims));
    assert_eq!(
        envelope::unverified_expiry(&payload(r#"{"exp":1700000000,"sub":"a"}"#)),
        Some(1_700_000_000)
    );
    for token in [
        payload(r#"{"sub":"a"}"#),
        payload(r#"{"exp":"1700000000"}"#),
        payload(r#"{"exp":1,"exp":2}"#),
        payload("[1]"),
        format!("{}=", payload(r#"{"exp":1700000000}"#)),
        "Vq3kYF2mX8pL0aZ7tR5wN1cE9bH4jD6gS2uQ8oI0yTe".to_owned(),
        String::new(),
    ] {
        assert_eq!(envelope::unverified_expiry(&token), None, "{token}");
    }
}
