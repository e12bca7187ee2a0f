//! The mock provider's signing keys: generation, signing, and their public JWK form.
//!
//! Every key is generated fresh (aws-lc-rs) and lives only in memory. A key's JWK carries
//! exactly one `alg`, so an RSA key signs for one algorithm only: an RS256 key and a PS256 key
//! are two keys, as a strict validator (which binds the token's `alg` to the key's) requires.

use std::fmt;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde_json::{json, Value};

/// A JWS signature algorithm the mock provider can hold a key for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Alg {
    /// RSASSA-PKCS1-v1_5 with SHA-256 (RSA 2048).
    Rs256,
    /// RSASSA-PKCS1-v1_5 with SHA-384 (RSA 2048).
    Rs384,
    /// RSASSA-PKCS1-v1_5 with SHA-512 (RSA 2048).
    Rs512,
    /// RSASSA-PSS with SHA-256, salt length 32 (RSA 2048).
    Ps256,
    /// RSASSA-PSS with SHA-384, salt length 48 (RSA 2048).
    Ps384,
    /// RSASSA-PSS with SHA-512, salt length 64 (RSA 2048).
    Ps512,
    /// ECDSA on P-256 with SHA-256, fixed-length `r || s` signature.
    Es256,
    /// ECDSA on P-384 with SHA-384, fixed-length `r || s` signature.
    Es384,
    /// Ed25519 (`EdDSA`, `crv: Ed25519`).
    EdDsa,
}

impl Alg {
    /// Every algorithm, in a stable order.
    pub const ALL: [Alg; 9] = [
        Alg::Rs256,
        Alg::Rs384,
        Alg::Rs512,
        Alg::Ps256,
        Alg::Ps384,
        Alg::Ps512,
        Alg::Es256,
        Alg::Es384,
        Alg::EdDsa,
    ];

    /// The JOSE name, as in a JWS header's and a JWK's `alg` (`"RS256"`, `"EdDSA"`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Alg::Rs256 => "RS256",
            Alg::Rs384 => "RS384",
            Alg::Rs512 => "RS512",
            Alg::Ps256 => "PS256",
            Alg::Ps384 => "PS384",
            Alg::Ps512 => "PS512",
            Alg::Es256 => "ES256",
            Alg::Es384 => "ES384",
            Alg::EdDsa => "EdDSA",
        }
    }

    /// The JWK key type for this algorithm: `RSA`, `EC` or `OKP`.
    pub fn kty(self) -> &'static str {
        match self {
            Alg::Rs256 | Alg::Rs384 | Alg::Rs512 | Alg::Ps256 | Alg::Ps384 | Alg::Ps512 => "RSA",
            Alg::Es256 | Alg::Es384 => "EC",
            Alg::EdDsa => "OKP",
        }
    }

    /// A short lower-case tag used as the prefix of generated key ids (`rs256`, `eddsa`).
    fn tag(self) -> String {
        self.name().to_ascii_lowercase()
    }
}

impl fmt::Display for Alg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

enum PrivateKey {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

/// One signing key: its algorithm, key id, private half and public JWK.
pub struct SigningKey {
    alg: Alg,
    kid: String,
    private: PrivateKey,
    jwk: Value,
    spki_der: Vec<u8>,
    pkcs1_der: Option<Vec<u8>>,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The private half stays out of debug output.
        f.debug_struct("SigningKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Generates a fresh key for `alg` with the given key id.
    pub fn generate(alg: Alg, kid: &str) -> SigningKey {
        let (private, spki_der, pkcs1_der, mut jwk) = match alg.kty() {
            "RSA" => {
                let pair = RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
                    .expect("aws-lc-rs generates an RSA 2048 key");
                let public = pair.public_key();
                let jwk = json!({
                    "kty": "RSA",
                    "n": b64url(public.modulus().big_endian_without_leading_zero()),
                    "e": b64url(public.exponent().big_endian_without_leading_zero()),
                });
                let spki = public.as_der().expect("RSA SPKI DER").as_ref().to_vec();
                let pkcs1 = public.as_ref().to_vec();
                (PrivateKey::Rsa(pair), spki, Some(pkcs1), jwk)
            }
            "EC" => {
                let (signing, crv, coord) = if alg == Alg::Es256 {
                    (&signature::ECDSA_P256_SHA256_FIXED_SIGNING, "P-256", 32)
                } else {
                    (&signature::ECDSA_P384_SHA384_FIXED_SIGNING, "P-384", 48)
                };
                let pair = EcdsaKeyPair::generate(signing).expect("aws-lc-rs generates an EC key");
                let point = pair.public_key().as_ref();
                // Uncompressed SEC1 point: 0x04 || x || y, each coordinate fixed-length.
                assert_eq!(point.len(), 1 + 2 * coord, "uncompressed EC point");
                let jwk = json!({
                    "kty": "EC",
                    "crv": crv,
                    "x": b64url(&point[1..1 + coord]),
                    "y": b64url(&point[1 + coord..]),
                });
                let spki = pair.public_key().as_der().expect("EC SPKI DER");
                let spki = spki.as_ref().to_vec();
                (PrivateKey::Ec(pair), spki, None, jwk)
            }
            _ => {
                let pair = Ed25519KeyPair::generate().expect("aws-lc-rs generates an Ed25519 key");
                let jwk = json!({
                    "kty": "OKP",
                    "crv": "Ed25519",
                    "x": b64url(pair.public_key().as_ref()),
                });
                let spki = pair.public_key().as_der().expect("Ed25519 SPKI DER");
                let spki = spki.as_ref().to_vec();
                (PrivateKey::Ed(pair), spki, None, jwk)
            }
        };
        jwk["kid"] = Value::from(kid);
        jwk["use"] = Value::from("sig");
        jwk["alg"] = Value::from(alg.name());
        SigningKey {
            alg,
            kid: kid.to_owned(),
            private,
            jwk,
            spki_der,
            pkcs1_der,
        }
    }

    /// Generates a fresh key for `alg` with a random key id such as `es256-5f1c9a03d2b7e4a1`.
    pub fn generate_random_kid(alg: Alg) -> SigningKey {
        SigningKey::generate(alg, &format!("{}-{}", alg.tag(), random_hex(8)))
    }

    /// The algorithm this key signs with.
    pub fn alg(&self) -> Alg {
        self.alg
    }

    /// The key id (`kid`).
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public JWK: `kty`, `kid`, `use: "sig"`, `alg` and the key parameters (`n`/`e`,
    /// `crv`/`x`/`y`, or `crv`/`x`).
    pub fn jwk(&self) -> &Value {
        &self.jwk
    }

    /// The public key as DER `SubjectPublicKeyInfo` (RFC 5280).
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// The public key as a PEM `PUBLIC KEY` block (SPKI), 64-column lines, trailing newline.
    pub fn spki_pem(&self) -> String {
        let b64 = STANDARD.encode(&self.spki_der);
        let mut pem = String::from("-----BEGIN PUBLIC KEY-----\n");
        for line in b64.as_bytes().chunks(64) {
            // base64 output is ASCII, so any byte boundary is a char boundary.
            pem.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
            pem.push('\n');
        }
        pem.push_str("-----END PUBLIC KEY-----\n");
        pem
    }

    /// For RSA keys: the DER `RSAPublicKey` (PKCS#1, RFC 8017); `None` for other key types.
    pub fn pkcs1_der(&self) -> Option<&[u8]> {
        self.pkcs1_der.as_deref()
    }

    /// Signs `message` (a JWS signing input) and returns the raw signature bytes.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        match &self.private {
            PrivateKey::Rsa(pair) => {
                let padding: &'static dyn signature::RsaEncoding = match self.alg {
                    Alg::Rs256 => &signature::RSA_PKCS1_SHA256,
                    Alg::Rs384 => &signature::RSA_PKCS1_SHA384,
                    Alg::Rs512 => &signature::RSA_PKCS1_SHA512,
                    Alg::Ps256 => &signature::RSA_PSS_SHA256,
                    Alg::Ps384 => &signature::RSA_PSS_SHA384,
                    _ => &signature::RSA_PSS_SHA512,
                };
                let mut sig = vec![0; pair.public_modulus_len()];
                pair.sign(padding, &SystemRandom::new(), message, &mut sig)
                    .expect("RSA signing");
                sig
            }
            PrivateKey::Ec(pair) => pair
                .sign(&SystemRandom::new(), message)
                .expect("ECDSA signing")
                .as_ref()
                .to_vec(),
            PrivateKey::Ed(pair) => pair.sign(message).as_ref().to_vec(),
        }
    }
}

/// The provider's key ring: every key it ever made (so tokens can still be minted with a key
/// that is no longer published) and which of them the JWKS currently publishes, in order.
#[derive(Debug, Default)]
pub struct KeyRing {
    keys: Vec<SigningKey>,
    published: Vec<String>,
}

impl KeyRing {
    /// Adds a key and publishes it (at the end of the JWKS).
    pub fn insert(&mut self, key: SigningKey) {
        self.published.push(key.kid.clone());
        self.keys.push(key);
    }

    /// Makes the JWKS publish exactly these kids, in this order. Panics on an unknown kid.
    pub fn publish(&mut self, kids: &[&str]) {
        for kid in kids {
            assert!(
                self.keys.iter().any(|k| k.kid == *kid),
                "publish: no key with kid {kid:?}"
            );
        }
        self.published = kids.iter().map(|k| (*k).to_owned()).collect();
    }

    /// Stops publishing every key with this kid; the keys stay usable for minting. Returns
    /// whether anything was published under it.
    pub fn unpublish(&mut self, kid: &str) -> bool {
        let before = self.published.len();
        self.published.retain(|k| k != kid);
        before != self.published.len()
    }

    /// The published kids, in JWKS order.
    pub fn published(&self) -> Vec<String> {
        self.published.clone()
    }

    /// The JWKS document: `{"keys": [...]}` with the published keys' JWKs. A kid published
    /// once but held by several keys (see [`KeyRing::insert`]) yields every such key.
    pub fn jwks(&self) -> Value {
        let mut keys = Vec::new();
        for kid in dedup(&self.published) {
            keys.extend(
                self.keys
                    .iter()
                    .filter(|k| k.kid == kid)
                    .map(|k| k.jwk.clone()),
            );
        }
        json!({ "keys": keys })
    }

    /// The key with this kid (the latest one added, if several share it).
    pub fn by_kid(&self, kid: &str) -> Option<&SigningKey> {
        self.keys.iter().rev().find(|k| k.kid == kid)
    }

    /// The current key for `alg`: the most recently added published key with that algorithm.
    pub fn current(&self, alg: Alg) -> Option<&SigningKey> {
        self.keys
            .iter()
            .rev()
            .find(|k| k.alg == alg && self.published.contains(&k.kid))
    }
}

fn dedup(kids: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(kids.len());
    for kid in kids {
        if !out.contains(kid) {
            out.push(kid.clone());
        }
    }
    out
}

/// Base64url without padding (RFC 7515 §2).
pub fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `n` random bytes from the system RNG, as lower-case hex.
pub fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("the system RNG works");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
