//! `policy::verify_jwt`, complete, on arbitrary token text around a fixed key set (RSA for
//! RS256 and PS256, P-256, P-384, Ed25519: `fixtures/jwks.json`) under the profile chosen by
//! the first input byte.
//!
//! Oracle: nothing verifies unless it was signed. Every token the harness could accept was
//! signed when the corpus was generated (`fixtures/signed-tokens.txt`); an accepted token must
//! be one of them: the exact signed bytes `header.payload` with their exact signature (for
//! ECDSA, the same `r`: `(r, n - s)` is the one other valid signature, a known property of
//! ECDSA). An accepted token also satisfies every claims promise (see `assert_accepted`), and
//! a rejection names an identity only for a signed token whose issuer, validity and audience
//! hold.
#![no_main]

use std::collections::HashMap;
use std::sync::LazyLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::Algorithm;
use libfuzzer_sys::fuzz_target;
use pg_bearer_core::jwks::{JwksLimits, KeySet};
use pg_bearer_core::policy::{verify_jwt, Request};
use pg_bearer_fuzz::{
    assert_accepted, assert_identity_only_when_vouched, assert_rejection_is_safe, select_profile,
    Accepted, Kind, JWT_JWKS, NOW, SIGNED_TOKENS,
};

static KEYS: LazyLock<KeySet> = LazyLock::new(|| {
    let keys =
        KeySet::from_jwks_json(JWT_JWKS.as_bytes(), &JwksLimits::default()).expect("fixture JWKS");
    assert_eq!(keys.keys().len(), 5, "fixture JWKS: every key usable");
    keys
});

/// Signing input → the signature segments made for it.
static SIGNED: LazyLock<HashMap<&'static str, Vec<&'static str>>> = LazyLock::new(|| {
    let mut map: HashMap<&str, Vec<&str>> = HashMap::new();
    for line in SIGNED_TOKENS.lines().filter(|l| !l.is_empty()) {
        let (input, sig) = line.rsplit_once('.').expect("fixture token");
        map.entry(input).or_default().push(sig);
    }
    map
});

/// Asserts that `token` is exactly a signed one (see the module documentation).
fn assert_signed(token: &str, alg: Algorithm, what: &str) {
    let (input, sig) = token.rsplit_once('.').expect("three segments");
    let Some(recorded) = SIGNED.get(input) else {
        panic!("{what}: signing input that was never signed");
    };
    let ok = recorded.iter().any(|r| match alg {
        Algorithm::ES256 | Algorithm::ES384 => {
            let a = URL_SAFE_NO_PAD.decode(r).expect("fixture signature");
            let b = URL_SAFE_NO_PAD.decode(sig).expect("accepted signature");
            a.len() == b.len() && a[..a.len() / 2] == b[..b.len() / 2]
        }
        _ => *r == sig,
    });
    assert!(ok, "{what}: a signature that was never made verified");
}

fuzz_target!(|data: &[u8]| {
    let Some((profile, rest)) = select_profile(data) else {
        return;
    };
    let token = String::from_utf8_lossy(rest);
    let token = token.as_ref();
    let req = Request {
        token,
        hba_scopes: profile.hba_scopes,
        requested_role: profile.role,
        delegate_ident_mapping: profile.delegate,
        now: NOW,
    };
    match verify_jwt(&req, &KEYS, &profile.policy) {
        Ok(v) => {
            assert_signed(token, v.alg, "accepted token");
            assert!(profile.policy.algorithms.contains(&v.alg));
            let payload = URL_SAFE_NO_PAD
                .decode(token.split('.').nth(1).expect("payload"))
                .expect("payload decodes");
            assert_accepted(
                Kind::Jwt,
                &payload,
                profile,
                &Accepted {
                    authn_id: &v.authn_id,
                    exp: Some(v.exp),
                    client: Some(v.client.as_deref()),
                },
            );
        }
        Err(r) => {
            assert_rejection_is_safe(&r);
            if let Some(id) = &r.identity {
                let alg = pg_bearer_core::envelope::parse_header(token)
                    .expect("a rejection naming an identity has a valid header")
                    .alg;
                assert_signed(token, alg, "rejection naming an identity");
                let payload = URL_SAFE_NO_PAD
                    .decode(token.split('.').nth(1).expect("payload"))
                    .expect("payload decodes");
                assert_identity_only_when_vouched(Kind::Jwt, &payload, profile, id);
            }
        }
    }
});
