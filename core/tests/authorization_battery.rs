//! Security battery §4 E (scopes 41, delegated roles 44, identity 45–49, rejection hygiene
//! 50), at the level of `verify_jwt`.

mod common;

use common::*;
use jsonwebtoken::Algorithm;
use pg_bearer_core::claims::ClaimPath;
use pg_bearer_core::identity::MAX_AUTHN_ID_LEN;
use pg_bearer_core::policy::{verify_jwt, IssuerPolicy, Request};
use pg_bearer_core::reason::{Reason, Rejection};
use serde_json::{json, Value};

fn with_scopes(token: &str, hba_scopes: &str) -> Result<String, Reason> {
    let req = Request {
        hba_scopes,
        ..request(token)
    };
    verify_jwt(&req, &KEYS, &policy())
        .map(|v| v.authn_id)
        .map_err(|r| r.reason)
}

#[test]
fn e41_every_non_implicit_hba_scope_must_be_granted_as_an_exact_word() {
    use Reason::*;
    let scoped = |scope: Value| token_with(&RSA, |c| c["scope"] = scope);
    let cases: &[(&str, Value, &str, Result<(), Reason>)] = &[
        ("exact", json!("postgres"), "openid postgres", Ok(())),
        (
            "extra scopes",
            json!("openid profile postgres email"),
            "openid postgres",
            Ok(()),
        ),
        (
            "implicit omitted",
            json!("postgres"),
            "openid offline_access postgres",
            Ok(()),
        ),
        (
            "two required",
            json!("db:read postgres"),
            "postgres db:read",
            Ok(()),
        ),
        (
            "lacks one",
            json!("postgres"),
            "postgres db:write",
            Err(MissingScope),
        ),
        (
            "superstring",
            json!("postgresql"),
            "postgres",
            Err(MissingScope),
        ),
        (
            "prefix",
            json!("postgres:admin"),
            "postgres",
            Err(MissingScope),
        ),
        ("substring", json!("post"), "postgres", Err(MissingScope)),
        ("case", json!("POSTGRES"), "postgres", Err(MissingScope)),
        (
            "only implicit granted",
            json!("openid offline_access"),
            "openid postgres",
            Err(MissingScope),
        ),
        (
            "comma separated",
            json!("openid,postgres"),
            "postgres",
            Err(MissingScope),
        ),
        (
            "plus separated",
            json!("openid+postgres"),
            "postgres",
            Err(MissingScope),
        ),
        ("empty", json!(""), "postgres", Err(MissingScope)),
        (
            "array",
            json!(["postgres"]),
            "postgres",
            Err(MalformedClaim),
        ),
        ("number", json!(1), "postgres", Err(MalformedClaim)),
        (
            "object",
            json!({"postgres": true}),
            "postgres",
            Err(MalformedClaim),
        ),
        ("no HBA scope", json!("postgres"), "", Err(NotConfigured)),
        (
            "only implicit HBA scopes",
            json!("openid postgres"),
            "openid offline_access",
            Err(NotConfigured),
        ),
    ];
    for (label, scope, hba, expected) in cases {
        let got = with_scopes(&scoped(scope.clone()), hba).map(|_| ());
        assert_eq!(got, *expected, "{label}");
    }
    let no_scope = token_with(&RSA, |c| {
        c.as_object_mut().unwrap().remove("scope");
    });
    assert_eq!(with_scopes(&no_scope, "postgres"), Err(MissingScope));
}

#[test]
fn e41_scp_may_be_a_string_or_an_array_of_strings() {
    use Reason::*;
    let scp = |v: Value| {
        token_with(&RSA, |c| {
            c.as_object_mut().unwrap().remove("scope");
            c["scp"] = v;
        })
    };
    assert!(with_scopes(&scp(json!("postgres")), "postgres").is_ok());
    assert!(with_scopes(&scp(json!(["openid", "postgres"])), "postgres").is_ok());
    assert_eq!(
        with_scopes(&scp(json!(["postgresql"])), "postgres"),
        Err(MissingScope)
    );
    assert_eq!(
        with_scopes(&scp(json!(["openid postgres"])), "postgres"),
        Err(MissingScope)
    );
    assert_eq!(
        with_scopes(&scp(json!(["postgres", null])), "postgres"),
        Err(MalformedClaim)
    );
    assert_eq!(
        with_scopes(&scp(json!({"postgres": 1})), "postgres"),
        Err(MalformedClaim)
    );
    // Both claims present: either may grant; a malformed one still rejects.
    let both = token_with(&RSA, |c| {
        c["scope"] = json!("db:read");
        c["scp"] = json!(["postgres"]);
    });
    assert!(with_scopes(&both, "postgres db:read").is_ok());
    let bad_scope = token_with(&RSA, |c| {
        c["scope"] = json!(["postgres"]);
        c["scp"] = json!(["postgres"]);
    });
    assert_eq!(with_scopes(&bad_scope, "postgres"), Err(MalformedClaim));
}

#[test]
fn e41_resource_scopes_are_satisfied_only_by_the_verified_audience() {
    use Reason::*;
    let app = "api://6e1c0f3a-db";
    let token = |aud: Value| {
        token_with(&RSA, |c| {
            c["aud"] = aud;
            c.as_object_mut().unwrap().remove("scope");
        })
    };
    let mut p = policy();
    p.audiences = vec![app.into(), "6e1c0f3a-db".into()];
    let check = |t: &str, hba: &str| {
        let req = Request {
            hba_scopes: hba,
            ..request(t)
        };
        verify_jwt(&req, &KEYS, &p)
            .map(|_| ())
            .map_err(|r| r.reason)
    };
    assert_eq!(
        check(&token(json!(app)), &format!("{app}/.default")),
        Ok(())
    );
    assert_eq!(
        check(&token(json!("6e1c0f3a-db")), "6e1c0f3a-db/.default"),
        Ok(())
    );
    // The resource is configured but the token names the other identifier: not satisfied.
    assert_eq!(
        check(&token(json!("6e1c0f3a-db")), &format!("{app}/.default")),
        Err(MissingScope)
    );
    // Names a resource this line does not accept: the audience check refuses first.
    assert_eq!(
        check(&token(json!("api://other")), "api://other/.default"),
        Err(WrongAudience)
    );
    // Dex cross-client scope.
    let mut dex = policy();
    dex.audiences = vec!["pg".into()];
    let t = token(json!(["pg", "cli"]));
    let req = Request {
        hba_scopes: "openid audience:server:client_id:pg",
        ..request(&t)
    };
    assert!(verify_jwt(&req, &KEYS, &dex).is_ok());
    let req = Request {
        hba_scopes: "openid audience:server:client_id:cli",
        ..request(&t)
    };
    assert_eq!(
        verify_jwt(&req, &KEYS, &dex).unwrap_err().reason,
        MissingScope
    );
}

fn delegate_policy(role_claim: &str) -> IssuerPolicy {
    let mut p = policy();
    p.role_claim = Some(ClaimPath::parse(role_claim).unwrap());
    p
}

fn delegate(token: &str, policy: &IssuerPolicy, role: &str) -> Result<String, Reason> {
    let req = Request {
        requested_role: role,
        delegate_ident_mapping: true,
        ..request(token)
    };
    verify_jwt(&req, &KEYS, policy)
        .map(|v| v.authn_id)
        .map_err(|r| r.reason)
}

#[test]
fn e44_delegated_role_must_be_listed_in_the_role_claim_exactly() {
    use Reason::*;
    let keycloak = delegate_policy("/realm_access/roles");
    let token = token_with(&RSA, |c| {
        c["realm_access"] = json!({"roles": ["analyst", "offline_access"]})
    });
    assert_eq!(delegate(&token, &keycloak, "analyst"), Ok("alice".into()));
    for role in ["postgres", "Analyst", "analyst ", "analys", "", "alice"] {
        assert_eq!(
            delegate(&token, &keycloak, role),
            Err(RoleNotGranted),
            "{role:?}"
        );
    }
    // Shapes of the role claim.
    let roles = |v: Value| token_with(&RSA, |c| c["roles"] = v);
    let p = delegate_policy("roles");
    assert_eq!(
        delegate(&roles(json!("analyst")), &p, "analyst"),
        Ok("alice".into())
    );
    assert_eq!(
        delegate(&roles(json!({"analyst": {"org": "1"}})), &p, "analyst"),
        Ok("alice".into())
    );
    assert_eq!(
        delegate(&roles(json!({"analystx": {}})), &p, "analyst"),
        Err(RoleNotGranted)
    );
    assert_eq!(
        delegate(&roles(json!([])), &p, "analyst"),
        Err(RoleNotGranted)
    );
    assert_eq!(
        delegate(&roles(json!(["analyst", 1])), &p, "analyst"),
        Err(MalformedClaim)
    );
    assert_eq!(
        delegate(&roles(json!(7)), &p, "analyst"),
        Err(MalformedClaim)
    );
    assert_eq!(
        delegate(&roles(json!(null)), &p, "analyst"),
        Err(MalformedClaim)
    );
    assert_eq!(
        delegate(&roles(json!(true)), &p, "analyst"),
        Err(MalformedClaim)
    );
    assert_eq!(
        delegate(&token_with(&RSA, |_| {}), &p, "analyst"),
        Err(RoleNotGranted)
    );
    // No role claim configured: delegate mode refuses everything.
    assert_eq!(
        delegate(&roles(json!(["analyst"])), &policy(), "analyst"),
        Err(NotConfigured)
    );
    // Outside delegate mode the roles are not consulted.
    let req = Request {
        requested_role: "postgres",
        ..request(&token)
    };
    assert!(verify_jwt(&req, &KEYS, &keycloak).is_ok());
}

fn identity_token(sub: Value) -> String {
    token_with(&RSA, |c| c["sub"] = sub)
}

#[test]
fn e45_identities_with_control_or_formatting_characters_are_refused() {
    for sub in [
        "postgres\u{0}@evil",
        "postgres\n",
        "alice\r\nLOG:  connection authorized: user=postgres",
        "a\tb",
        "a\u{1b}[31mred",
        "a\u{7f}",
        "a\u{85}",
        "a\u{2028}b",
        "admin\u{202e}gpj.exe",
        "a\u{2067}b",
        "\u{feff}alice",
    ] {
        let r = verify(&identity_token(json!(sub))).unwrap_err();
        assert_eq!(r.reason, Reason::BadIdentity, "{sub:?}");
        assert_eq!(r.identity, None);
    }
}

#[test]
fn e45_lone_surrogate_escapes_are_refused_by_the_json_reader() {
    let header = header_for(&RSA).to_string();
    for escape in [
        r"\ud800",
        r"\udfff",
        r"\ud800\u0041",
        r"al\udbffice",
        r"\udc00\ud800",
    ] {
        let claims = base_claims()
            .to_string()
            .replace(r#""sub":"alice""#, &format!(r#""sub":"{escape}""#));
        assert!(claims.contains(escape));
        let token = jws_raw(&RSA, Algorithm::RS256, header.as_bytes(), claims.as_bytes());
        assert_eq!(reason(&token), Reason::MalformedPayload, "{escape}");
    }
    // A valid surrogate pair is a character like any other.
    let claims = base_claims()
        .to_string()
        .replace(r#""sub":"alice""#, r#""sub":"al\ud83d\ude00ice""#);
    let token = jws_raw(&RSA, Algorithm::RS256, header.as_bytes(), claims.as_bytes());
    assert_eq!(verify(&token).unwrap().authn_id, "al\u{1F600}ice");
}

#[test]
fn e46_identity_length_is_capped_at_256_bytes() {
    let at_cap = "a".repeat(MAX_AUTHN_ID_LEN);
    assert_eq!(
        verify(&identity_token(json!(at_cap)))
            .unwrap()
            .authn_id
            .len(),
        256
    );
    // 64 bytes is longer than a role name can be: accepted here, it simply never matches a
    // role without a map.
    assert!(verify(&identity_token(json!("b".repeat(64)))).is_ok());
    for sub in [
        "a".repeat(MAX_AUTHN_ID_LEN + 1),
        "é".repeat(129),
        "x".repeat(4000),
    ] {
        assert_eq!(reason(&identity_token(json!(sub))), Reason::BadIdentity);
    }
}

#[test]
fn e47_identity_claim_must_be_a_string() {
    let mut p = policy();
    p.identity_claim = ClaimPath::parse("preferred_username").unwrap();
    for (value, expected) in [
        (Some(json!(["alice"])), Reason::MalformedClaim),
        (Some(json!(42)), Reason::MalformedClaim),
        (Some(json!({"name": "alice"})), Reason::MalformedClaim),
        (Some(json!(true)), Reason::MalformedClaim),
        (Some(json!(null)), Reason::MalformedClaim),
        (Some(json!("")), Reason::BadIdentity),
        (None, Reason::MissingClaim),
    ] {
        let token = token_with(&RSA, |c| {
            if let Some(v) = value.clone() {
                c["preferred_username"] = v;
            }
        });
        let r = verify_with(&token, &p).unwrap_err();
        assert_eq!(r.reason, expected, "{value:?}");
        assert_eq!(r.claim, Some("identity"));
    }
    let token = token_with(&RSA, |c| c["preferred_username"] = json!("Alice.Smith"));
    assert_eq!(
        verify_with(&token, &p).unwrap().authn_id,
        "Alice.Smith",
        "never case-folded"
    );
}

#[test]
fn e48_email_identity_requires_email_verified_true() {
    let mut p = policy();
    p.identity_claim = ClaimPath::parse("email").unwrap();
    let email = |verified: Option<Value>| {
        token_with(&RSA, |c| {
            c["email"] = json!("alice@example.com");
            if let Some(v) = verified {
                c["email_verified"] = v;
            }
        })
    };
    assert_eq!(
        verify_with(&email(Some(json!(true))), &p).unwrap().authn_id,
        "alice@example.com"
    );
    for verified in [
        None,
        Some(json!(false)),
        Some(json!("true")),
        Some(json!(1)),
        Some(json!(null)),
        Some(json!([true])),
    ] {
        let r = verify_with(&email(verified.clone()), &p).unwrap_err();
        assert_eq!(r.reason, Reason::EmailNotVerified, "{verified:?}");
    }
    // In a nested object the flag is looked up next to the e-mail.
    p.identity_claim = ClaimPath::parse("/profile/email").unwrap();
    let nested = |flag_at_top: bool| {
        token_with(&RSA, |c| {
            c["profile"] = if flag_at_top {
                json!({"email": "alice@example.com"})
            } else {
                json!({"email": "alice@example.com", "email_verified": true})
            };
            if flag_at_top {
                c["email_verified"] = json!(true);
            }
        })
    };
    assert!(verify_with(&nested(false), &p).is_ok());
    assert_eq!(
        verify_with(&nested(true), &p).unwrap_err().reason,
        Reason::EmailNotVerified
    );
}

#[test]
fn e49_forged_tokens_with_attractive_claims_name_no_identity() {
    let forged = |key: &TestKey| {
        token_with(key, |c| {
            c["sub"] = json!("postgres");
            c["scope"] = json!("openid postgres superuser");
            c["realm_access"] = json!({"roles": ["postgres"]});
        })
    };
    let keycloak = delegate_policy("/realm_access/roles");
    let forged_expired = token_with(&RSA_OTHER, |c| {
        c["sub"] = json!("postgres");
        c["exp"] = json!(NOW - 3600);
    });
    let resigned_payload = {
        let good = forged(&RSA);
        let (input, _) = good.rsplit_once('.').unwrap();
        let other_sig = token_with(&RSA, |_| {});
        format!("{input}.{}", other_sig.rsplit_once('.').unwrap().1)
    };
    for (label, token) in [
        ("other key", forged(&RSA_OTHER)),
        ("expired and forged", forged_expired),
        ("signature of another token", resigned_payload),
    ] {
        let req = Request {
            requested_role: "postgres",
            delegate_ident_mapping: true,
            ..request(&token)
        };
        let r = verify_jwt(&req, &KEYS, &keycloak).unwrap_err();
        assert_eq!(r.reason, Reason::BadSignature, "{label}");
        assert_eq!(r.identity, None, "{label}");
    }
    // Rejections before the signature never carry an identity either.
    let bad_alg = token_with_header(&RSA, |h| h["alg"] = json!("none"));
    assert_eq!(verify(&bad_alg).unwrap_err().identity, None);
}

/// Every rejection's text: no 8-character run of the token appears in it.
#[test]
fn e50_rejection_text_never_contains_token_material() {
    let tokens = [
        token_with(&RSA, |c| c["exp"] = json!(NOW - 1000)),
        token_with(&RSA, |c| c["aud"] = json!("other")),
        token_with(&RSA_OTHER, |_| {}),
        token_with_header(&RSA, |h| {
            h["kid"] = json!("kid-that-is-long-and-unknown-123456")
        }),
        token_with_header(&RSA, |h| h["jku"] = json!("https://evil")),
        token_with(&RSA, |c| c["scope"] = json!("nothing")),
        token_with(&RSA, |c| c["sub"] = json!("a\nb")),
        "x".repeat(70_000),
        "abcdefghijkl.mnopqrstuvwx.yz0123456789".into(),
    ];
    for token in &tokens {
        let r: Rejection = verify(token).unwrap_err();
        let shown = r.to_string();
        assert!(shown.starts_with("token rejected: "), "{shown}");
        for i in 0..token.len().saturating_sub(8) {
            let window = &token[i..i + 8];
            assert!(
                !shown.contains(window),
                "{shown:?} contains token bytes {window:?}"
            );
        }
    }
}
