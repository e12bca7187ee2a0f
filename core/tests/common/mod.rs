//! Shared test fixtures: keys generated once per test binary, a JWS builder that signs
//! arbitrary header and claims bytes (so tests can forge duplicate members, bad UTF-8, odd
//! headers), and the baseline token, key set, policy and request of the battery.
#![allow(dead_code)]

use std::sync::LazyLock;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    self, EcdsaKeyPair, EcdsaSigningAlgorithm, Ed25519KeyPair, KeyPair, RsaKeyPair,
    ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::Algorithm;
use pg_bearer_core::jwks::{JwksLimits, KeySet};
use pg_bearer_core::policy::{verify_jwt, IssuerPolicy, Request, Verified};
use pg_bearer_core::reason::{Reason, Rejection};
use serde_json::{json, Value};

pub const ISS: &str = "https://idp.example.com/realms/pg";
pub const AUD: &str = "https://db.example.com";
pub const NOW: i64 = 1_750_000_000;
pub const HBA_SCOPES: &str = "openid postgres";

pub enum Private {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair, &'static EcdsaSigningAlgorithm),
    Ed(Ed25519KeyPair),
}

/// A signing key with its public JWK (which carries `kid`, `use` and `alg`).
pub struct TestKey {
    pub kid: &'static str,
    pub alg: Algorithm,
    pub private: Private,
    pub jwk: Value,
}

pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn alg_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::RS256 => "RS256",
        Algorithm::RS384 => "RS384",
        Algorithm::RS512 => "RS512",
        Algorithm::PS256 => "PS256",
        Algorithm::PS384 => "PS384",
        Algorithm::PS512 => "PS512",
        Algorithm::ES256 => "ES256",
        Algorithm::ES384 => "ES384",
        Algorithm::EdDSA => "EdDSA",
        Algorithm::HS256 => "HS256",
        Algorithm::HS384 => "HS384",
        Algorithm::HS512 => "HS512",
        _ => unreachable!("no other algorithm in jsonwebtoken 11"),
    }
}

pub fn rsa_key(kid: &'static str, alg: Algorithm) -> TestKey {
    let pair = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
    let public = pair.public_key();
    let jwk = json!({
        "kty": "RSA", "kid": kid, "use": "sig", "alg": alg_name(alg),
        "n": b64(public.modulus().big_endian_without_leading_zero()),
        "e": b64(public.exponent().big_endian_without_leading_zero()),
    });
    TestKey {
        kid,
        alg,
        private: Private::Rsa(pair),
        jwk,
    }
}

fn ec_key(kid: &'static str, alg: Algorithm) -> TestKey {
    let (signing, crv, len) = match alg {
        Algorithm::ES256 => (&ECDSA_P256_SHA256_FIXED_SIGNING, "P-256", 32),
        _ => (&ECDSA_P384_SHA384_FIXED_SIGNING, "P-384", 48),
    };
    let pair = EcdsaKeyPair::generate(signing).unwrap();
    let point = pair.public_key().as_ref().to_vec();
    assert_eq!(point.len(), 1 + 2 * len);
    let jwk = json!({
        "kty": "EC", "kid": kid, "use": "sig", "alg": alg_name(alg), "crv": crv,
        "x": b64(&point[1..=len]), "y": b64(&point[1 + len..]),
    });
    TestKey {
        kid,
        alg,
        private: Private::Ec(pair, signing),
        jwk,
    }
}

fn ed_key(kid: &'static str) -> TestKey {
    let pair = Ed25519KeyPair::generate().unwrap();
    let jwk = json!({
        "kty": "OKP", "kid": kid, "use": "sig", "alg": "EdDSA", "crv": "Ed25519",
        "x": b64(pair.public_key().as_ref()),
    });
    TestKey {
        kid,
        alg: Algorithm::EdDSA,
        private: Private::Ed(pair),
        jwk,
    }
}

pub static RSA: LazyLock<TestKey> = LazyLock::new(|| rsa_key("rsa-1", Algorithm::RS256));
/// A second RSA key, not published in the default key set (the "attacker's" key).
pub static RSA_OTHER: LazyLock<TestKey> = LazyLock::new(|| rsa_key("rsa-1", Algorithm::RS256));
pub static EC256: LazyLock<TestKey> = LazyLock::new(|| ec_key("ec-256", Algorithm::ES256));
pub static EC384: LazyLock<TestKey> = LazyLock::new(|| ec_key("ec-384", Algorithm::ES384));
pub static ED: LazyLock<TestKey> = LazyLock::new(|| ed_key("ed-1"));

/// The same RSA key published for PS256 under another kid.
pub fn rsa_ps256_jwk() -> Value {
    let mut jwk = RSA.jwk.clone();
    jwk["kid"] = json!("rsa-ps");
    jwk["alg"] = json!("PS256");
    jwk
}

/// Signs `input` with `key` using `alg` (which may differ from the key's published alg, to
/// build confusion tokens).
pub fn sign(key: &TestKey, alg: Algorithm, input: &[u8]) -> Vec<u8> {
    let rng = SystemRandom::new();
    match &key.private {
        Private::Rsa(pair) => {
            let padding: &'static dyn signature::RsaEncoding = match alg {
                Algorithm::RS256 => &signature::RSA_PKCS1_SHA256,
                Algorithm::RS384 => &signature::RSA_PKCS1_SHA384,
                Algorithm::RS512 => &signature::RSA_PKCS1_SHA512,
                Algorithm::PS256 => &signature::RSA_PSS_SHA256,
                Algorithm::PS384 => &signature::RSA_PSS_SHA384,
                Algorithm::PS512 => &signature::RSA_PSS_SHA512,
                other => panic!("RSA key cannot sign {other:?}"),
            };
            let mut sig = vec![0; pair.public_modulus_len()];
            pair.sign(padding, &rng, input, &mut sig).unwrap();
            sig
        }
        Private::Ec(pair, _) => pair.sign(&rng, input).unwrap().as_ref().to_vec(),
        Private::Ed(pair) => pair.sign(input).as_ref().to_vec(),
    }
}

/// HMAC-signs `input` with `secret` (for symmetric-confusion tokens).
pub fn hmac(alg: Algorithm, secret: &[u8], input: &[u8]) -> Vec<u8> {
    let a = match alg {
        Algorithm::HS256 => aws_lc_rs::hmac::HMAC_SHA256,
        Algorithm::HS384 => aws_lc_rs::hmac::HMAC_SHA384,
        _ => aws_lc_rs::hmac::HMAC_SHA512,
    };
    aws_lc_rs::hmac::sign(&aws_lc_rs::hmac::Key::new(a, secret), input)
        .as_ref()
        .to_vec()
}

/// Builds a compact JWS from raw header and claims bytes, signed by `key` with `alg`.
pub fn jws_raw(key: &TestKey, alg: Algorithm, header: &[u8], claims: &[u8]) -> String {
    let input = format!("{}.{}", b64(header), b64(claims));
    let sig = sign(key, alg, input.as_bytes());
    format!("{input}.{}", b64(sig))
}

/// The baseline header for `key`: its alg and kid, `typ: at+jwt`.
pub fn header_for(key: &TestKey) -> Value {
    json!({"alg": alg_name(key.alg), "typ": "at+jwt", "kid": key.kid})
}

/// The baseline claims (RFC 9068 shape): iss, aud, sub, client_id, iat, exp, jti, scope.
pub fn base_claims() -> Value {
    json!({
        "iss": ISS, "aud": AUD, "sub": "alice", "client_id": "psql",
        "iat": NOW, "exp": NOW + 300, "jti": "id-1", "scope": "openid postgres",
    })
}

/// Signs JSON header and claims with `key` under its own alg.
pub fn jws(key: &TestKey, header: &Value, claims: &Value) -> String {
    jws_raw(
        key,
        key.alg,
        header.to_string().as_bytes(),
        claims.to_string().as_bytes(),
    )
}

/// A baseline token signed by `key`, with the claims changed by `edit`.
pub fn token_with(key: &TestKey, edit: impl FnOnce(&mut Value)) -> String {
    let mut claims = base_claims();
    edit(&mut claims);
    jws(key, &header_for(key), &claims)
}

/// A baseline token signed by `key`, with the header changed by `edit`.
pub fn token_with_header(key: &TestKey, edit: impl FnOnce(&mut Value)) -> String {
    let mut header = header_for(key);
    edit(&mut header);
    jws(key, &header, &base_claims())
}

pub fn jwks(keys: &[Value]) -> String {
    json!({ "keys": keys }).to_string()
}

pub fn key_set(keys: &[Value]) -> KeySet {
    KeySet::from_jwks_json(jwks(keys).as_bytes(), &JwksLimits::default()).unwrap()
}

/// The published keys: RSA (RS256), EC P-256, EC P-384, Ed25519, and the RSA key again for
/// PS256.
pub static KEYS: LazyLock<KeySet> = LazyLock::new(|| {
    key_set(&[
        RSA.jwk.clone(),
        EC256.jwk.clone(),
        EC384.jwk.clone(),
        ED.jwk.clone(),
        rsa_ps256_jwk(),
    ])
});

pub fn policy() -> IssuerPolicy {
    IssuerPolicy::new(ISS, vec![AUD.to_owned()])
}

pub fn request(token: &str) -> Request<'_> {
    Request {
        token,
        hba_scopes: HBA_SCOPES,
        requested_role: "alice",
        delegate_ident_mapping: false,
        now: NOW,
    }
}

/// Verifies with the default keys, policy and request.
pub fn verify(token: &str) -> Result<Verified, Rejection> {
    verify_jwt(&request(token), &KEYS, &policy())
}

/// Verifies with the default keys and request and the given policy.
pub fn verify_with(token: &str, policy: &IssuerPolicy) -> Result<Verified, Rejection> {
    verify_jwt(&request(token), &KEYS, policy)
}

/// The reason a token is rejected with the defaults; panics if it is accepted.
#[track_caller]
pub fn reason(token: &str) -> Reason {
    match verify(token) {
        Ok(v) => panic!("token unexpectedly accepted as {:?}", v.authn_id),
        Err(r) => r.reason,
    }
}

/// Asserts every `(label, token)` is rejected with `expected` under the defaults.
#[track_caller]
pub fn assert_all_rejected(expected: Reason, cases: &[(&str, String)]) {
    for (label, token) in cases {
        match verify(token) {
            Ok(v) => panic!(
                "{label}: accepted as {:?}, expected {expected:?}",
                v.authn_id
            ),
            Err(r) => assert_eq!(r.reason, expected, "{label}: {r:?}"),
        }
    }
}
