//! The claims checks of `policy::verify_jwt` (issuer, validity, audience, fixed-value claims,
//! client, subject, scopes, identity, role) on arbitrary payload bytes.
//!
//! The first input byte chooses a provider-shaped profile (policy, HBA scopes, role, delegate
//! mode; see `pg_bearer_fuzz::PROFILES`); the rest is the JWT payload. The harness signs it
//! with a fixed Ed25519 test key under a fixed header, so every input passes the signature
//! and reaches the claims checks of the real `verify_jwt`, with the injected clock `NOW`.
//!
//! Oracle: an acceptance satisfies every promise of the policy (`assert_accepted`: issuer
//! equal to the configured one, `exp` in the future beyond the skew, lifetime cap, `nbf`,
//! `iat`, audience containing a configured one, fixed-value claims, client allow-list, scopes
//! granted, identity clean and equal to the identity claim, role granted in delegate mode); a
//! rejection names an identity only once issuer, validity and audience hold.
#![no_main]

use std::sync::LazyLock;

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use pg_bearer_core::jwks::{JwksLimits, KeySet};
use pg_bearer_core::policy::{verify_jwt, Request};
use pg_bearer_fuzz::{
    assert_accepted, assert_identity_only_when_vouched, assert_rejection_is_safe, select_profile,
    Accepted, Kind, CLAIMS_HEADER, CLAIMS_KEY_SEED, NOW,
};

static SIGNER: LazyLock<(Ed25519KeyPair, KeySet, String)> = LazyLock::new(|| {
    let pair = Ed25519KeyPair::from_seed_unchecked(&CLAIMS_KEY_SEED).expect("seed");
    let jwks = serde_json::json!({"keys": [{
        "kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": "EdDSA", "kid": "fuzz-claims",
        "x": URL_SAFE_NO_PAD.encode(pair.public_key().as_ref()),
    }]})
    .to_string();
    let keys = KeySet::from_jwks_json(jwks.as_bytes(), &JwksLimits::default()).expect("jwks");
    assert_eq!(keys.keys().len(), 1);
    (pair, keys, URL_SAFE_NO_PAD.encode(CLAIMS_HEADER))
});

fuzz_target!(|data: &[u8]| {
    let Some((profile, payload)) = select_profile(data) else {
        return;
    };
    let (pair, keys, header) = &*SIGNER;
    let input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(payload));
    let signature = pair.sign(input.as_bytes());
    let token = format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()));
    let req = Request {
        token: &token,
        hba_scopes: profile.hba_scopes,
        requested_role: profile.role,
        delegate_ident_mapping: profile.delegate,
        now: NOW,
    };
    match verify_jwt(&req, keys, &profile.policy) {
        Ok(v) => {
            assert_eq!(v.kid.as_deref(), Some("fuzz-claims"));
            assert_accepted(
                Kind::Jwt,
                payload,
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
                assert_identity_only_when_vouched(Kind::Jwt, payload, profile, id);
            }
        }
    }
});
