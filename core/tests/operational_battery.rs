//! Security battery §4 H (operational and hygiene), the parts that can be shown without a
//! server: configuration errors fail closed for every token (item 73), rejections carry no
//! token material and no verdict detail a client could use (69, 50), and the build has the
//! one crypto backend and no crate below a known advisory fix (71, 72). The server log scan
//! (68) and the panic path (70) are end to end.

mod common;

use common::*;
use jsonwebtoken::Algorithm;
use pg_bearer_core::claims::ClaimPath;
use pg_bearer_core::config::{issuer_policy, opaque_settings, Defaults, IssuersFile};
use pg_bearer_core::discovery::{DiscoveryError, IssuerTarget, KeySource, UrlError};
use pg_bearer_core::introspection::{verify_introspection, verify_userinfo, OpaqueRequest};
use pg_bearer_core::policy::{check_line, verify_jwt, IssuerPolicy, Request};
use pg_bearer_core::reason::Reason;
use serde_json::json;

/// Every way an issuer policy can be unusable.
fn unusable_policies() -> Vec<(&'static str, IssuerPolicy)> {
    let edit = |f: fn(&mut IssuerPolicy)| {
        let mut p = policy();
        f(&mut p);
        p
    };
    vec![
        ("no audience", edit(|p| p.audiences.clear())),
        (
            "empty audience",
            edit(|p| p.audiences = vec![String::new()]),
        ),
        ("empty issuer", edit(|p| p.issuer.clear())),
        (
            "HS256 allowed",
            edit(|p| p.algorithms.push(Algorithm::HS256)),
        ),
        (
            "only HS512 allowed",
            edit(|p| p.algorithms = vec![Algorithm::HS512]),
        ),
        ("no algorithm", edit(|p| p.algorithms.clear())),
        ("clock skew 301 s", edit(|p| p.clock_skew = 301)),
        ("negative clock skew", edit(|p| p.clock_skew = -1)),
        ("zero lifetime", edit(|p| p.max_lifetime = Some(0))),
        (
            "allowed clients without a client claim",
            edit(|p| p.allowed_clients = vec!["psql".into()]),
        ),
        (
            "empty identity claim",
            edit(|p| p.identity_claim = ClaimPath::named("")),
        ),
    ]
}

#[test]
fn h73_an_unusable_policy_refuses_every_token_even_a_valid_one() {
    let valid = token_with(&RSA, |_| {});
    assert!(verify(&valid).is_ok(), "the positive control");
    let answer = json!({"active": true, "iss": ISS, "aud": AUD, "sub": "alice",
                        "scope": HBA_SCOPES, "exp": NOW + 300})
    .to_string();
    let opaque = OpaqueRequest {
        hba_scopes: HBA_SCOPES,
        requested_role: "alice",
        delegate_ident_mapping: false,
        now: NOW,
    };
    assert!(verify_introspection(answer.as_bytes(), &opaque, &policy()).is_ok());
    for (label, p) in unusable_policies() {
        assert!(p.validate().is_err(), "{label}");
        assert_eq!(
            check_line(&p, HBA_SCOPES, false).unwrap_err().reason,
            Reason::NotConfigured,
            "{label}: the line check, before any network"
        );
        let r = verify_jwt(&request(&valid), &KEYS, &p).unwrap_err();
        assert_eq!(r.reason, Reason::NotConfigured, "{label}");
        assert_eq!(r.identity, None, "{label}");
        for (path, verdict) in [
            (
                "introspection",
                verify_introspection(answer.as_bytes(), &opaque, &p),
            ),
            ("userinfo", verify_userinfo(answer.as_bytes(), &opaque, &p)),
        ] {
            assert_eq!(
                verdict.unwrap_err().reason,
                Reason::NotConfigured,
                "{label}: {path}"
            );
        }
    }
}

#[test]
fn h73_an_hba_line_that_cannot_authorize_refuses_every_token() {
    let valid = token_with(&RSA, |c| {
        c["scope"] = json!("openid offline_access postgres");
        c["roles"] = json!(["alice"]);
    });
    for (label, scopes, delegate, claim) in [
        ("no scope", "", false, "scope"),
        ("blank scope", "   ", false, "scope"),
        ("only openid", "openid", false, "scope"),
        (
            "only implicit scopes",
            "openid offline_access",
            false,
            "scope",
        ),
        ("delegation without a role claim", "postgres", true, "role"),
    ] {
        let r = check_line(&policy(), scopes, delegate).unwrap_err();
        assert_eq!(
            (r.reason, r.claim),
            (Reason::NotConfigured, Some(claim)),
            "{label}"
        );
        let req = Request {
            hba_scopes: scopes,
            delegate_ident_mapping: delegate,
            ..request(&valid)
        };
        let r = verify_jwt(&req, &KEYS, &policy()).unwrap_err();
        assert_eq!(r.reason, Reason::NotConfigured, "{label}");
    }
    assert!(check_line(&policy(), "postgres", false).is_ok());
}

#[test]
fn h73_settings_that_cannot_be_made_safe_are_configuration_errors() {
    let defaults = Defaults {
        audience: vec![AUD.into()],
        clock_skew: 60,
        max_lifetime: 86_400,
        ..Defaults::default()
    };
    assert!(
        issuer_policy(ISS, &defaults, None).is_ok(),
        "the positive control"
    );
    // No audience anywhere: no fallback, an error.
    let no_audience = Defaults {
        audience: Vec::new(),
        ..defaults.clone()
    };
    assert!(issuer_policy(ISS, &no_audience, None).is_err());
    // A clock skew or claim setting out of range, and every malformed issuers file.
    let bad_skew = Defaults {
        clock_skew: 3600,
        ..defaults.clone()
    };
    assert!(issuer_policy(ISS, &bad_skew, None).is_err());
    let bad_claim = Defaults {
        identity_claim: "/a/~2".into(),
        ..defaults.clone()
    };
    assert!(issuer_policy(ISS, &bad_claim, None).is_err());
    for file in [
        "[[issuer]]\nissuer = \"https://a\"\naudiance = \"x\"\n",
        "[[issuer]]\nissuer = \"https://a\"\n[[issuer]]\nissuer = \"https://a\"\n",
        "[[issuer]]\nissuer = \"\"\n",
        "[[issuer]\n",
        "algorithms = [\"HS256\"]\n",
        "[[issuer]]\nissuer = \"https://a\"\nalgorithms = [\"HS256\"]\n",
    ] {
        assert!(IssuersFile::parse(file).is_err(), "{file:?}");
    }
    let file =
        IssuersFile::parse(&format!("[[issuer]]\nissuer = \"{ISS}\"\naudience = []\n")).unwrap();
    assert!(
        issuer_policy(ISS, &defaults, file.find(ISS)).is_err(),
        "an empty audience list does not fall back to the setting"
    );
    let file = IssuersFile::parse(&format!(
        "[[issuer]]\nissuer = \"{ISS}\"\nclient_secret = \"s\"\nclient_secret_file = \"/f\"\n"
    ))
    .unwrap();
    assert!(opaque_settings(&defaults, file.find(ISS)).is_err());
}

#[test]
fn h73_plain_http_or_malformed_issuers_and_key_urls_are_refused_unless_allowed_for_tests() {
    for hba in [
        "http://idp.example.com/realms/pg",
        "http://idp.example.com/realms/pg/.well-known/openid-configuration",
    ] {
        assert_eq!(
            IssuerTarget::from_hba(hba, false).unwrap_err(),
            DiscoveryError::InvalidIssuer(UrlError::NotHttps),
            "{hba}"
        );
        assert!(IssuerTarget::from_hba(hba, true).is_ok(), "{hba}");
    }
    for hba in [
        "",
        "idp.example.com",
        "HTTPS://idp.example.com",
        "https://idp.example.com/realms/pg?x=1",
        "https://user@idp.example.com",
    ] {
        assert!(IssuerTarget::from_hba(hba, false).is_err(), "{hba:?}");
    }
    assert!(KeySource::parse("http://idp.example.com/jwks", false).is_err());
    assert!(KeySource::parse("jwks.json", false).is_err());
}

#[test]
fn h69_rejections_are_described_by_a_stable_code_without_token_text() {
    // The client never sees these (it gets PostgreSQL's generic message); the server log
    // line is built from them and must not carry verdict data beyond the stable code.
    let tokens = [
        token_with(&RSA, |c| c["aud"] = json!("other")),
        token_with(&RSA_OTHER, |_| {}),
        token_with(&RSA, |c| c["exp"] = json!(NOW - 3600)),
        token_with_header(&RSA, |h| h["alg"] = json!("none")),
        token_with_header(&RSA, |h| h["kid"] = json!("' OR 1=1--")),
        "not a token".to_owned(),
    ];
    let mut codes = std::collections::BTreeSet::new();
    for token in &tokens {
        let r = verify(token).unwrap_err();
        let shown = r.to_string();
        let code = r.reason.code();
        assert!(
            shown.starts_with(&format!("token rejected: {code}")),
            "{shown}"
        );
        assert!(
            code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
            "{code}"
        );
        assert!(!shown.contains("OR 1=1"), "{shown}");
        codes.insert(code);
    }
    assert_eq!(codes.len(), tokens.len(), "the log tells the cases apart");
}

#[test]
fn h71_jsonwebtoken_is_built_with_exactly_one_crypto_backend() {
    // jsonwebtoken 10+ panics at the first verification when no backend or both are enabled;
    // the build itself is silent. Every manifest that depends on it picks aws_lc_rs alone,
    // and a verification actually runs.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut declarations = 0;
    for manifest in ["Cargo.toml", "core/Cargo.toml", "pgrx-tests/Cargo.toml"] {
        let text = std::fs::read_to_string(root.join(manifest)).unwrap();
        for line in text.lines().filter(|l| l.starts_with("jsonwebtoken")) {
            declarations += 1;
            assert!(
                line.contains("default-features = false")
                    && line.contains(r#"features = ["aws_lc_rs"]"#),
                "{manifest}: {line}"
            );
        }
        assert!(!text.contains("rust_crypto"), "{manifest}");
    }
    assert!(declarations >= 1);
    assert_eq!(verify(&token_with(&RSA, |_| {})).unwrap().authn_id, "alice");
}

/// `(crate, first fixed version, advisory)`: crates the security research found advisories
/// for. A locked version below the fix fails the suite. `None`: no fixed version exists, so
/// the crate must not be in the lock file at all.
const ADVISORY_FLOOR: &[(&str, Option<&str>, &str)] = &[
    (
        "jsonwebtoken",
        Some("10.3.0"),
        "CVE-2026-25537 / GHSA-h395-gr6q-cpjc: exp/nbf type confusion",
    ),
    (
        "rsa",
        None,
        "RUSTSEC-2023-0071 (Marvin): jsonwebtoken's rust_crypto backend",
    ),
    (
        "rustls-webpki",
        Some("0.103.13"),
        "RUSTSEC-2026-0049/0098/0099/0104: certificate path validation",
    ),
    (
        "aws-lc-sys",
        Some("0.39.0"),
        "RUSTSEC-2026-0044..0048: X.509, PKCS7, AES-CCM, CRL",
    ),
];

fn version(text: &str) -> Vec<u64> {
    text.split(['.', '-', '+'])
        .take(3)
        .map(|n| n.parse().unwrap())
        .collect()
}

#[test]
fn h72_no_locked_crate_is_below_a_known_advisory_fix() {
    let lock = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.lock"),
    )
    .unwrap();
    let mut locked: Vec<(&str, &str)> = Vec::new();
    let mut name = None;
    for line in lock.lines() {
        if let Some(n) = line.strip_prefix("name = ") {
            name = Some(n.trim_matches('"'));
        } else if let (Some(n), Some(v)) = (name, line.strip_prefix("version = ")) {
            locked.push((n, v.trim_matches('"')));
            name = None;
        }
    }
    assert!(locked.len() > 100, "parsed {} packages", locked.len());
    assert!(locked.iter().any(|(n, _)| *n == "jsonwebtoken"));
    for (krate, fixed, advisory) in ADVISORY_FLOOR {
        for (_, v) in locked.iter().filter(|(n, _)| n == krate) {
            match fixed {
                None => panic!("{krate} {v} is locked: {advisory}"),
                Some(fixed) => assert!(
                    version(v) >= version(fixed),
                    "{krate} {v} < {fixed}: {advisory}"
                ),
            }
        }
    }
}
