//! Minting access tokens with a [`MockProvider`]'s keys: RFC 9068 JWT access tokens for the
//! positive cases, and the malformed and malicious tokens the negative cases need (`alg:
//! none`, HMAC keyed with the public key, injected key headers, tampered signatures, unknown
//! kids).
//!
//! Tokens are secrets even here: nothing in this module prints or logs one.
//!
//! ```no_run
//! use pg_bearer_e2e::provider::{Alg, MockProvider, ProviderOptions};
//! use serde_json::json;
//!
//! let idp = MockProvider::start(ProviderOptions::default());
//! let minter = idp.minter();
//! let claims = minter.claims("postgres-db", "alice", "openid postgres");
//! let token = minter.mint(Alg::Es256, &claims, &json!({}));
//! let no_kid = minter.mint(Alg::Rs256, &claims, &json!({ "kid": null, "typ": "JWT" }));
//! # let _ = (token, no_kid);
//! ```

use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::hmac;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Map, Value};

use crate::provider::keys::{b64url, random_hex, KeyRing};
use crate::provider::{Alg, MockProvider, SigningKey};

/// The `client_id` claim [`standard_claims`] puts in every token.
pub const CLIENT_ID: &str = "pg-bearer-e2e";

/// The `typ` header a minted token carries unless overridden (RFC 9068 §2.1).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// The current time as a JWT NumericDate (whole seconds since the epoch).
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs()
}

/// RFC 9068 §2.2 access-token claims: `iss`, `aud`, `sub`, `client_id` ([`CLIENT_ID`]),
/// `iat` = `now`, `exp` = `now` + 300, a random `jti`, and `scope`.
pub fn standard_claims(iss: &str, aud: &str, sub: &str, scope: &str, now: u64) -> Value {
    json!({
        "iss": iss,
        "aud": aud,
        "sub": sub,
        "client_id": CLIENT_ID,
        "iat": now,
        "exp": now + 300,
        "jti": random_hex(16),
        "scope": scope,
    })
}

/// Which bytes of a provider's public key serve as the HMAC secret in a key-confusion token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublicKeyForm {
    /// DER `SubjectPublicKeyInfo`.
    SpkiDer,
    /// The PEM `PUBLIC KEY` text (SPKI), with its trailing newline.
    SpkiPem,
    /// DER `RSAPublicKey` (PKCS#1); RSA keys only.
    Pkcs1Der,
    /// The public JWK as served in the JWKS (compact JSON).
    JwkJson,
}

/// An HMAC JWS algorithm, for key-confusion tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hmac {
    /// HMAC with SHA-256.
    Hs256,
    /// HMAC with SHA-384.
    Hs384,
    /// HMAC with SHA-512.
    Hs512,
}

impl Hmac {
    fn name(self) -> &'static str {
        match self {
            Hmac::Hs256 => "HS256",
            Hmac::Hs384 => "HS384",
            Hmac::Hs512 => "HS512",
        }
    }

    fn algorithm(self) -> hmac::Algorithm {
        match self {
            Hmac::Hs256 => hmac::HMAC_SHA256,
            Hmac::Hs384 => hmac::HMAC_SHA384,
            Hmac::Hs512 => hmac::HMAC_SHA512,
        }
    }
}

/// Signs tokens with a provider's keys. Cheap to clone; stays usable after the provider is
/// dropped (its keys live on in memory).
#[derive(Clone)]
pub struct Minter {
    keys: Arc<Mutex<KeyRing>>,
    issuer: String,
}

impl std::fmt::Debug for Minter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Minter")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl Minter {
    /// A minter for this provider (the same as [`MockProvider::minter`]).
    pub fn new(provider: &MockProvider) -> Minter {
        provider.minter()
    }

    pub(crate) fn from_parts(keys: Arc<Mutex<KeyRing>>, issuer: String) -> Minter {
        Minter { keys, issuer }
    }

    /// The provider's issuer.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// [`standard_claims`] for this provider's issuer, issued now.
    pub fn claims(&self, aud: &str, sub: &str, scope: &str) -> Value {
        standard_claims(&self.issuer, aud, sub, scope, now())
    }

    /// A compact JWS over `claims`, signed with the provider's current published key for
    /// `alg`. The header is `{"alg", "typ": "at+jwt", "kid"}` with `header` merged over it:
    /// each member of `header` replaces the default, and a `null` member removes it (so
    /// `{"kid": null}` mints a token without a kid, `{"alg": "PS256"}` lies about the
    /// algorithm). Pass `json!({})` or `Value::Null` for no changes.
    ///
    /// Panics if the provider publishes no key for `alg`.
    pub fn mint(&self, alg: Alg, claims: &Value, header: &Value) -> String {
        let ring = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        let key = ring.current(alg).unwrap_or_else(|| {
            panic!("the provider publishes no {alg} key; add one with add_key(Alg::{alg:?})")
        });
        sign_with(key, claims, header)
    }

    /// Like [`Minter::mint`] but with the key of this kid, published or not (e.g. one removed
    /// from the JWKS). The default `alg` header is the key's algorithm.
    ///
    /// Panics if the provider never made a key with this kid.
    pub fn mint_with_kid(&self, kid: &str, claims: &Value, header: &Value) -> String {
        let ring = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        let key = ring
            .by_kid(kid)
            .unwrap_or_else(|| panic!("the provider has no key with kid {kid:?}"));
        sign_with(key, claims, header)
    }

    /// A token whose header and payload are exactly these JSON texts (so duplicate members, odd
    /// whitespace or a BOM survive), signed with the current key for `alg`.
    pub fn sign_raw(&self, alg: Alg, header_json: &str, claims_json: &str) -> String {
        let input = format!(
            "{}.{}",
            b64url(header_json.as_bytes()),
            b64url(claims_json.as_bytes())
        );
        let signature = self.signature(alg, input.as_bytes());
        format!("{input}.{signature}")
    }

    /// The base64url signature of an arbitrary signing input with the current key for `alg`,
    /// for tests that build the compact form themselves (e.g. non-canonical base64).
    pub fn signature(&self, alg: Alg, signing_input: &[u8]) -> String {
        let ring = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        let key = ring
            .current(alg)
            .unwrap_or_else(|| panic!("the provider publishes no {alg} key"));
        b64url(&key.sign(signing_input))
    }

    /// A correctly signed token whose header also carries `extra` (merged as in
    /// [`Minter::mint`]), e.g. `{"jku": "https://attacker.example/jwks"}`, `{"x5u": ...}` or
    /// `{"crit": ["exp"]}`.
    pub fn with_header(&self, alg: Alg, claims: &Value, extra: &Value) -> String {
        self.mint(alg, claims, extra)
    }

    /// An unsecured JWS (`alg: none`, empty signature: `header.payload.`), with the kid of the
    /// provider's RS256 key if there is one, so only the algorithm gives it away.
    pub fn alg_none(&self, claims: &Value) -> String {
        let mut header = json!({ "alg": "none", "typ": ACCESS_TOKEN_TYP });
        if let Some(key) = self.lock().current(Alg::Rs256) {
            header["kid"] = Value::from(key.kid());
        }
        unsigned(&header, claims)
    }

    /// The RS256/HS256 key-confusion token (CVE-2015-9235): `alg: HS256` with the kid of the
    /// provider's RS256 key, MACed with that key's public bytes in the given form.
    pub fn hs256_with_public_key(&self, claims: &Value, form: PublicKeyForm) -> String {
        self.hmac_with_public_key(Hmac::Hs256, Alg::Rs256, form, claims)
    }

    /// A key-confusion token: `alg` = `hmac`, the kid of the current `key_alg` key, MACed with
    /// that key's public bytes in the given form.
    ///
    /// Panics if there is no such key, or for [`PublicKeyForm::Pkcs1Der`] with a non-RSA key.
    pub fn hmac_with_public_key(
        &self,
        hmac: Hmac,
        key_alg: Alg,
        form: PublicKeyForm,
        claims: &Value,
    ) -> String {
        let ring = self.lock();
        let key = ring
            .current(key_alg)
            .unwrap_or_else(|| panic!("the provider publishes no {key_alg} key"));
        let secret: Vec<u8> = match form {
            PublicKeyForm::SpkiDer => key.spki_der().to_vec(),
            PublicKeyForm::SpkiPem => key.spki_pem().into_bytes(),
            PublicKeyForm::Pkcs1Der => key
                .pkcs1_der()
                .unwrap_or_else(|| panic!("a {key_alg} key has no PKCS#1 form"))
                .to_vec(),
            PublicKeyForm::JwkJson => key.jwk().to_string().into_bytes(),
        };
        let header = json!({ "alg": hmac.name(), "typ": ACCESS_TOKEN_TYP, "kid": key.kid() });
        let input = signing_input(&header, claims);
        let tag = hmac::sign(&hmac::Key::new(hmac.algorithm(), &secret), input.as_bytes());
        format!("{input}.{}", b64url(tag.as_ref()))
    }

    /// A token properly signed by a fresh key that is not in the JWKS, under a random kid
    /// (`unknown-<hex>`). Each call makes a new key and kid.
    pub fn unknown_kid(&self, alg: Alg, claims: &Value) -> String {
        let key = SigningKey::generate(alg, &format!("unknown-{}", random_hex(8)));
        sign_with(&key, claims, &Value::Null)
    }

    /// The embedded-key attack (CVE-2018-0114): signed by a fresh attacker key that is not in
    /// the JWKS, whose public JWK rides in the token's own `jwk` header.
    pub fn embedded_jwk(&self, alg: Alg, claims: &Value) -> String {
        let key = SigningKey::generate(alg, &format!("attacker-{}", random_hex(8)));
        let header = json!({ "jwk": key.jwk() });
        sign_with(&key, claims, &header)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, KeyRing> {
        self.keys.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// `header.payload.` with an empty signature, for any header (e.g. `{"alg": "NONE"}`).
pub fn unsigned(header: &Value, claims: &Value) -> String {
    format!("{}.", signing_input(header, claims))
}

/// The same token with one bit of its signature flipped (the middle byte's lowest bit); the
/// result is still canonical base64url.
///
/// Panics if the token has no signature.
pub fn tamper_signature(token: &str) -> String {
    let (input, signature) = token.rsplit_once('.').expect("a compact JWS has dots");
    let mut bytes = URL_SAFE_NO_PAD
        .decode(signature)
        .expect("the signature is base64url");
    assert!(
        !bytes.is_empty(),
        "the token has no signature to tamper with"
    );
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    format!("{input}.{}", b64url(&bytes))
}

/// The default header for `key` with `overrides` merged over it.
fn header_for(key: &SigningKey, overrides: &Value) -> Value {
    let mut header = Map::new();
    header.insert("alg".into(), Value::from(key.alg().name()));
    header.insert("typ".into(), Value::from(ACCESS_TOKEN_TYP));
    header.insert("kid".into(), Value::from(key.kid()));
    match overrides {
        Value::Null => {}
        Value::Object(members) => {
            for (name, value) in members {
                if value.is_null() {
                    header.remove(name);
                } else {
                    header.insert(name.clone(), value.clone());
                }
            }
        }
        other => panic!("header overrides must be a JSON object or null, not {other}"),
    }
    Value::Object(header)
}

fn sign_with(key: &SigningKey, claims: &Value, overrides: &Value) -> String {
    let input = signing_input(&header_for(key, overrides), claims);
    let signature = key.sign(input.as_bytes());
    format!("{input}.{}", b64url(&signature))
}

fn signing_input(header: &Value, claims: &Value) -> String {
    format!(
        "{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes())
    )
}
