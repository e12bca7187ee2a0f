//! Key-set building from JWKS documents: document limits (battery §3.21, §4 59 at the parser
//! level), key filtering and key selection.

mod common;

use common::*;
use jsonwebtoken::Algorithm;
use pg_bearer_core::jwks::{JwksError, JwksLimits, KeyFamily, KeyFilter, KeySet};
use pg_bearer_core::reason::Reason;
use serde_json::json;

fn parse(doc: &str) -> Result<KeySet, JwksError> {
    KeySet::from_jwks_json(doc.as_bytes(), &JwksLimits::default())
}

#[test]
fn realistic_document_with_certificates_and_extra_members_is_usable() {
    // Entra ID / Keycloak style: x5c, x5t, issuer and unknown members next to the key.
    let mut rsa = RSA.jwk.clone();
    rsa["x5c"] = json!(["MIIC+DCCAeCgAwIBAgIJ"]);
    rsa["x5t"] = json!("nOo3ZDrODXEK1jKWhXslHR_KXEg");
    rsa["issuer"] = json!("https://login.microsoftonline.com/{tenantid}/v2.0");
    rsa["cloud_instance_name"] = json!("microsoftonline.com");
    let enc = json!({"kty": "RSA", "kid": "enc-1", "use": "enc", "alg": "RSA-OAEP", "n": RSA.jwk["n"], "e": "AQAB"});
    let doc =
        json!({"keys": [rsa, EC256.jwk, enc, ED.jwk], "extra": {"ignored": true}}).to_string();
    let set = parse(&doc).unwrap();
    assert_eq!(set.keys().len(), 3);
    assert_eq!(set.skipped(), 1);
    assert!(set.contains_kid("rsa-1") && set.contains_kid("ec-256") && set.contains_kid("ed-1"));
    assert!(!set.contains_kid("enc-1"));
    let families: Vec<KeyFamily> = set.keys().iter().map(|k| k.family()).collect();
    assert_eq!(
        families,
        [KeyFamily::Rsa, KeyFamily::EcP256, KeyFamily::Ed25519]
    );
    assert_eq!(set.keys()[0].alg(), Some(Algorithm::RS256));
}

#[test]
fn documents_over_the_limits_or_of_the_wrong_shape_are_refused() {
    let limits = JwksLimits::default();
    assert_eq!(
        limits,
        JwksLimits {
            max_bytes: 256 * 1024,
            max_keys: 100
        }
    );
    let many = json!({"keys": vec![json!({"kty": "oct"}); 101]}).to_string();
    let hundred = json!({"keys": vec![json!({"kty": "oct"}); 100]}).to_string();
    assert_eq!(parse(&hundred).unwrap().skipped(), 100);
    let big = format!(r#"{{"keys":[],"pad":"{}"}}"#, "x".repeat(256 * 1024));
    let deep = format!(
        r#"{{"keys":[],"x":{}1{}}}"#,
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let cases: &[(&str, String, JwksError)] = &[
        ("too large", big, JwksError::TooLarge),
        ("101 keys", many, JwksError::TooManyKeys),
        ("deep nesting", deep, JwksError::Malformed),
        (
            "duplicate keys member",
            r#"{"keys":[],"keys":[]}"#.into(),
            JwksError::DuplicateMember,
        ),
        (
            "duplicate member in a key",
            r#"{"keys":[{"kty":"RSA","kty":"EC"}]}"#.into(),
            JwksError::DuplicateMember,
        ),
        ("keys missing", r#"{}"#.into(), JwksError::KeysNotAnArray),
        (
            "keys object",
            r#"{"keys":{}}"#.into(),
            JwksError::KeysNotAnArray,
        ),
        (
            "keys null",
            r#"{"keys":null}"#.into(),
            JwksError::KeysNotAnArray,
        ),
        (
            "top-level array",
            r#"[{"kty":"RSA"}]"#.into(),
            JwksError::Malformed,
        ),
        (
            "html",
            "<html>502 Bad Gateway</html>".into(),
            JwksError::Malformed,
        ),
        ("empty", String::new(), JwksError::Malformed),
        ("bom", "\u{feff}{\"keys\":[]}".into(), JwksError::Malformed),
        (
            "truncated",
            r#"{"keys":[{"kty":"RSA""#.into(),
            JwksError::Malformed,
        ),
    ];
    for (label, doc, expected) in cases {
        assert_eq!(parse(doc).unwrap_err(), *expected, "{label}");
    }
    let tight = JwksLimits {
        max_bytes: 10,
        max_keys: 1,
    };
    assert_eq!(
        KeySet::from_jwks_json(br#"{"keys":[]} "#, &tight).unwrap_err(),
        JwksError::TooLarge
    );
    assert_eq!(JwksError::TooManyKeys.code(), "jwks_too_many_keys");
}

#[test]
fn entries_that_are_not_usable_objects_are_skipped_without_failing_the_set() {
    let doc =
        json!({"keys": [1, "x", null, [], {}, {"kty": 5}, {"kty": "RSA"}, RSA.jwk]}).to_string();
    let set = parse(&doc).unwrap();
    assert_eq!(set.keys().len(), 1);
    assert_eq!(set.skipped(), 7);
    let empty = parse(r#"{"keys":[]}"#).unwrap();
    assert_eq!(empty.keys().len(), 0);
    assert_eq!(
        empty.select(Some("rsa-1"), Algorithm::RS256).unwrap_err(),
        Reason::UnknownKid
    );
    assert_eq!(
        empty.select(None, Algorithm::RS256).unwrap_err(),
        Reason::NoMatchingKey
    );
}

#[test]
fn select_binds_keys_by_alg_then_by_family() {
    let mut rsa_family = RSA.jwk.clone();
    rsa_family.as_object_mut().unwrap().remove("alg");
    rsa_family["kid"] = json!("rsa-any");
    let mut p384_family = EC384.jwk.clone();
    p384_family.as_object_mut().unwrap().remove("alg");
    let set = key_set(&[RSA.jwk.clone(), rsa_family, p384_family, ED.jwk.clone()]);
    use Algorithm::*;
    let cases: &[(Option<&str>, Algorithm, Result<&str, Reason>)] = &[
        (Some("rsa-1"), RS256, Ok("rsa-1")),
        (Some("rsa-1"), RS384, Err(Reason::KeyAlgMismatch)),
        (Some("rsa-1"), PS256, Err(Reason::KeyAlgMismatch)),
        (Some("rsa-any"), PS512, Ok("rsa-any")),
        (Some("rsa-any"), ES256, Err(Reason::KeyAlgMismatch)),
        (Some("rsa-any"), HS256, Err(Reason::KeyAlgMismatch)),
        (Some("ec-384"), ES384, Ok("ec-384")),
        (Some("ec-384"), ES256, Err(Reason::KeyAlgMismatch)),
        (Some("ed-1"), EdDSA, Ok("ed-1")),
        (Some("nope"), RS256, Err(Reason::UnknownKid)),
        (None, RS256, Err(Reason::AmbiguousKey)),
        (None, RS384, Ok("rsa-any")),
        (None, ES384, Ok("ec-384")),
        (None, ES256, Err(Reason::NoMatchingKey)),
        (None, HS256, Err(Reason::NoMatchingKey)),
    ];
    for (kid, alg, expected) in cases {
        let got = set.select(*kid, *alg).map(|k| k.kid().unwrap_or(""));
        assert_eq!(got, *expected, "{kid:?} {alg:?}");
    }
}

#[test]
fn keys_without_kid_are_selectable_only_without_a_token_kid() {
    let mut anonymous = EC256.jwk.clone();
    anonymous.as_object_mut().unwrap().remove("kid");
    let set = key_set(&[anonymous]);
    assert_eq!(set.select(None, Algorithm::ES256).unwrap().kid(), None);
    assert_eq!(
        set.select(Some("ec-256"), Algorithm::ES256).unwrap_err(),
        Reason::UnknownKid
    );
    assert!(!set.contains_kid(""));
}

#[test]
fn over_long_key_ids_are_skipped() {
    let long =
        key_set(&[json!({"kid": "k".repeat(257), "kty": "RSA", "n": RSA.jwk["n"], "e": "AQAB"})]);
    assert_eq!(long.keys().len(), 0);
    let max =
        key_set(&[json!({"kid": "k".repeat(256), "kty": "RSA", "n": RSA.jwk["n"], "e": "AQAB"})]);
    assert_eq!(max.keys().len(), 1);
    let empty_kid = key_set(&[json!({"kid": "", "kty": "RSA", "n": RSA.jwk["n"], "e": "AQAB"})]);
    assert_eq!(empty_kid.keys().len(), 0);
}

#[test]
fn rsa_modulus_with_a_leading_zero_byte_is_tolerated() {
    let n = base64::Engine::decode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        RSA.jwk["n"].as_str().unwrap(),
    )
    .unwrap();
    let padded = [&[0u8][..], &n].concat();
    let mut jwk = RSA.jwk.clone();
    jwk["n"] = json!(b64(padded));
    let set = key_set(&[jwk]);
    assert_eq!(set.keys().len(), 1);
    let r =
        pg_bearer_core::policy::verify_jwt(&request(&token_with(&RSA, |_| {})), &set, &policy());
    assert!(r.is_ok(), "{r:?}");
}

#[test]
fn building_a_typical_key_set_is_cheap() {
    let doc = jwks(&[
        RSA.jwk.clone(),
        rsa_ps256_jwk(),
        EC256.jwk.clone(),
        EC384.jwk.clone(),
        ED.jwk.clone(),
    ]);
    let start = std::time::Instant::now();
    for _ in 0..200 {
        let set = KeySet::from_jwks_json(doc.as_bytes(), &JwksLimits::default()).unwrap();
        assert_eq!(set.keys().len(), 5);
    }
    let per_build = start.elapsed() / 200;
    // Generous bound for unoptimised debug builds on a slow machine; release is ~10x faster.
    assert!(
        per_build < std::time::Duration::from_millis(5),
        "{per_build:?} per build"
    );
}

#[test]
fn a_key_set_built_for_one_kid_selects_exactly_as_the_full_set() {
    let mut dup_a = RSA.jwk.clone();
    dup_a["kid"] = json!("dup");
    let mut dup_b = EC256.jwk.clone();
    dup_b["kid"] = json!("dup");
    let mut half_usable = ED.jwk.clone();
    half_usable["kid"] = json!("half");
    let mut half_unusable = RSA.jwk.clone();
    half_unusable["kid"] = json!("half");
    half_unusable["use"] = json!("enc");
    let secret = json!({"kty": "oct", "kid": "sym", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQ"});
    let doc = json!({"keys": [
        RSA.jwk, EC256.jwk, EC384.jwk, ED.jwk, rsa_ps256_jwk(), dup_a, dup_b, half_usable,
        half_unusable, secret,
    ]})
    .to_string();
    let limits = JwksLimits::default();
    let full = KeySet::from_jwks_json(doc.as_bytes(), &limits).unwrap();
    let algs = [
        Algorithm::RS256,
        Algorithm::PS256,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
    ];
    let describe = |set: &KeySet, kid: &str, alg: Algorithm| {
        set.select(Some(kid), alg)
            .map(|k| (k.kid().map(str::to_owned), k.family(), k.alg()))
    };
    for kid in [
        "rsa-1", "rsa-ps", "ec-256", "ec-384", "ed-1", "dup", "half", "sym", "missing",
    ] {
        let only =
            KeySet::from_jwks_json_for(doc.as_bytes(), &limits, KeyFilter::Kid(kid)).unwrap();
        assert!(only.keys().iter().all(|k| k.kid() == Some(kid)), "{kid}");
        assert!(only.keys().len() <= 2, "{kid}");
        assert_eq!(only.contains_kid(kid), full.contains_kid(kid), "{kid}");
        for alg in algs {
            assert_eq!(
                describe(&only, kid, alg),
                describe(&full, kid, alg),
                "{kid} {alg:?}"
            );
        }
    }
    let only_dup =
        KeySet::from_jwks_json_for(doc.as_bytes(), &limits, KeyFilter::Kid("dup")).unwrap();
    assert_eq!(
        only_dup.select(Some("dup"), Algorithm::RS256).unwrap_err(),
        Reason::AmbiguousKey
    );
}

#[test]
fn a_key_set_built_for_one_kid_refuses_the_same_documents() {
    let limits = JwksLimits::default();
    let duplicate_member_elsewhere =
        r#"{"keys": [{"kty": "RSA", "kid": "other", "kid": "again"}]}"#;
    let hundred_and_one = json!({"keys": vec![json!({"kty": "oct"}); 101]}).to_string();
    for (doc, error) in [
        (duplicate_member_elsewhere, JwksError::DuplicateMember),
        (hundred_and_one.as_str(), JwksError::TooManyKeys),
        (r#"{"keys": {}}"#, JwksError::KeysNotAnArray),
        ("[]", JwksError::Malformed),
    ] {
        assert_eq!(
            KeySet::from_jwks_json_for(doc.as_bytes(), &limits, KeyFilter::Kid("rsa-1"))
                .unwrap_err(),
            error,
            "{doc}"
        );
        assert_eq!(
            KeySet::from_jwks_json(doc.as_bytes(), &limits).unwrap_err(),
            error
        );
    }
}
