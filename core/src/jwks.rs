//! The issuer's signing keys, from a JWKS document (RFC 7517), filtered to the keys that may
//! verify an access token, and the choice of the one key that verifies a given token.
//!
//! Building a [`KeySet`] is cheap (microseconds for a typical 2–6 key document): the caller
//! may rebuild it from a cached JWKS document at every login.
//!
//! A key is *usable* only if all of these hold; any other key is skipped without failing the
//! document (RFC 7517 §5: ignore what you do not understand):
//! - `kty` is `RSA`, `EC` or `OKP` (so `oct`, i.e. shared secrets, are never usable);
//! - `use`, if present, is `"sig"`; `key_ops`, if present, is an array of strings containing
//!   `"verify"`;
//! - `kid`, if present, is a string of 1..=[`crate::envelope::MAX_KID_LEN`] bytes;
//! - `alg`, if present, names an asymmetric JWS algorithm of the key's family and curve;
//! - RSA: `n` and `e` canonical base64url, modulus 2048..=8192 bits, exponent odd, at least 3
//!   and at most 64 bits;
//! - EC: `crv` is `P-256` or `P-384`, `x` and `y` have the curve's full length and the point
//!   lies on the curve;
//! - OKP: `crv` is `Ed25519` and `x` is 32 bytes.
//!
//! A usable key is bound to algorithms: to its `alg` if it has one; otherwise to its family
//! (RSA: RS256/384/512 and PS256/384/512; P-256: ES256; P-384: ES384; Ed25519: EdDSA).

use std::fmt;

use aws_lc_rs::signature::{
    ParsedPublicKey, VerificationAlgorithm, ECDSA_P256_SHA256_FIXED, ECDSA_P384_SHA384_FIXED,
    ED25519,
};
use jsonwebtoken::{Algorithm, DecodingKey};

use crate::envelope::{self, MAX_KID_LEN};
use crate::json::{self, Json, JsonError, JsonObject};
use crate::reason::Reason;

/// Limits applied to a JWKS document before and while it is parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JwksLimits {
    /// Largest document accepted, in bytes. Defaults to 256 KiB (Entra ID's common JWKS,
    /// the largest seen, is about 10 KiB).
    pub max_bytes: usize,
    /// Most entries accepted in `keys` (usable or not). Defaults to 100.
    pub max_keys: usize,
}

impl Default for JwksLimits {
    fn default() -> Self {
        JwksLimits {
            max_bytes: 256 * 1024,
            max_keys: 100,
        }
    }
}

/// Why a JWKS document was refused as a whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum JwksError {
    /// Larger than [`JwksLimits::max_bytes`].
    TooLarge,
    /// Not a JSON object (invalid JSON or UTF-8, byte-order mark, nesting deeper than
    /// [`crate::json::MAX_DEPTH`]).
    Malformed,
    /// An object in the document has two members with the same name.
    DuplicateMember,
    /// `keys` is missing or not an array.
    KeysNotAnArray,
    /// `keys` has more entries than [`JwksLimits::max_keys`].
    TooManyKeys,
}

impl JwksError {
    /// A stable snake_case code for logs.
    pub fn code(self) -> &'static str {
        match self {
            JwksError::TooLarge => "jwks_too_large",
            JwksError::Malformed => "jwks_malformed",
            JwksError::DuplicateMember => "jwks_duplicate_member",
            JwksError::KeysNotAnArray => "jwks_keys_not_an_array",
            JwksError::TooManyKeys => "jwks_too_many_keys",
        }
    }
}

impl fmt::Display for JwksError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl std::error::Error for JwksError {}

/// The key type and curve of a usable key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyFamily {
    /// An RSA key of 2048..=8192 bits.
    Rsa,
    /// An EC key on P-256.
    EcP256,
    /// An EC key on P-384.
    EcP384,
    /// An OKP key on Ed25519.
    Ed25519,
}

impl KeyFamily {
    /// The JWK `kty`: `RSA`, `EC` or `OKP`.
    pub fn kty(self) -> &'static str {
        match self {
            KeyFamily::Rsa => "RSA",
            KeyFamily::EcP256 | KeyFamily::EcP384 => "EC",
            KeyFamily::Ed25519 => "OKP",
        }
    }

    /// Whether a key of this family may verify `alg` at all.
    pub fn permits(self, alg: Algorithm) -> bool {
        matches!(
            (self, alg),
            (
                KeyFamily::Rsa,
                Algorithm::RS256
                    | Algorithm::RS384
                    | Algorithm::RS512
                    | Algorithm::PS256
                    | Algorithm::PS384
                    | Algorithm::PS512
            ) | (KeyFamily::EcP256, Algorithm::ES256)
                | (KeyFamily::EcP384, Algorithm::ES384)
                | (KeyFamily::Ed25519, Algorithm::EdDSA)
        )
    }
}

/// One usable verification key.
#[derive(Clone)]
pub struct Jwk {
    kid: Option<String>,
    family: KeyFamily,
    alg: Option<Algorithm>,
    key: DecodingKey,
}

impl Jwk {
    /// The key id, if the JWK has one.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The key's family and curve.
    pub fn family(&self) -> KeyFamily {
        self.family
    }

    /// The algorithm the JWK's `alg` binds it to, if it has one.
    pub fn alg(&self) -> Option<Algorithm> {
        self.alg
    }

    /// Whether this key may verify a token whose header names `alg`.
    pub fn permits(&self, alg: Algorithm) -> bool {
        match self.alg {
            Some(bound) => bound == alg,
            None => self.family.permits(alg),
        }
    }

    pub(crate) fn decoding_key(&self) -> &DecodingKey {
        &self.key
    }
}

impl fmt::Debug for Jwk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Jwk")
            .field("kid", &self.kid)
            .field("family", &self.family)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

/// Which entries of a JWKS document [`KeySet::from_jwks_json_for`] builds keys for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyFilter<'a> {
    /// Every entry.
    All,
    /// Only entries whose `kid` is this string: enough to verify a token with this `kid`.
    Kid(&'a str),
}

/// The usable keys of one issuer's JWKS document.
#[derive(Clone, Debug, Default)]
pub struct KeySet {
    keys: Vec<Jwk>,
    skipped: usize,
}

impl KeySet {
    /// Parses a JWKS document and keeps its usable keys (see the module documentation).
    ///
    /// The document as a whole is refused if it is too large, not strict JSON (duplicate
    /// member names anywhere, nesting too deep), or if `keys` is not an array of at most
    /// [`JwksLimits::max_keys`] entries. A document with no usable key is not an error: every
    /// token is then refused with [`Reason::UnknownKid`] or [`Reason::NoMatchingKey`].
    pub fn from_jwks_json(bytes: &[u8], limits: &JwksLimits) -> Result<KeySet, JwksError> {
        Self::from_jwks_json_for(bytes, limits, KeyFilter::All)
    }

    /// Like [`KeySet::from_jwks_json`], but builds only the keys `filter` lets through; the
    /// document as a whole is checked exactly as there.
    ///
    /// With [`KeyFilter::Kid`], [`KeySet::select`] and [`KeySet::contains_kid`] for that `kid`
    /// answer exactly as on the full set (both only ever look at keys with the token's `kid`),
    /// at the cost of the one or two keys that carry it rather than of every key: a login
    /// verifies one token, so it need not parse, check (curve points, ROCA) and load the code
    /// of every key type the provider publishes. [`KeySet::skipped`] then counts only the
    /// entries with that `kid` that were unusable.
    pub fn from_jwks_json_for(
        bytes: &[u8],
        limits: &JwksLimits,
        filter: KeyFilter<'_>,
    ) -> Result<KeySet, JwksError> {
        if bytes.len() > limits.max_bytes {
            return Err(JwksError::TooLarge);
        }
        let doc = json::parse_object(bytes).map_err(|e| match e {
            JsonError::DuplicateMember => JwksError::DuplicateMember,
            _ => JwksError::Malformed,
        })?;
        let Some(Json::Array(entries)) = doc.get("keys") else {
            return Err(JwksError::KeysNotAnArray);
        };
        if entries.len() > limits.max_keys {
            return Err(JwksError::TooManyKeys);
        }
        let mut set = KeySet {
            keys: Vec::with_capacity(entries.len()),
            skipped: 0,
        };
        for entry in entries {
            if let KeyFilter::Kid(kid) = filter {
                let same_kid = entry
                    .as_object()
                    .and_then(|o| o.get("kid"))
                    .and_then(Json::as_str)
                    == Some(kid);
                if !same_kid {
                    continue;
                }
            }
            match entry.as_object().and_then(usable_key) {
                Some(key) => set.keys.push(key),
                None => set.skipped += 1,
            }
        }
        Ok(set)
    }

    /// The usable keys, in document order.
    pub fn keys(&self) -> &[Jwk] {
        &self.keys
    }

    /// How many entries of `keys` were skipped as unusable.
    pub fn skipped(&self) -> usize {
        self.skipped
    }

    /// Whether a usable key has this `kid`. When a token's `kid` is not contained, the
    /// caller may refetch the JWKS once (subject to its cooldown) before verifying.
    pub fn contains_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
    }

    /// Chooses the one key that may verify a token with this `kid` and `alg`.
    ///
    /// With a `kid`: exactly one usable key must have it ([`Reason::UnknownKid`] for none,
    /// [`Reason::AmbiguousKey`] for several), and it must permit `alg`
    /// ([`Reason::KeyAlgMismatch`]). Without a `kid`: exactly one usable key must permit
    /// `alg` ([`Reason::NoMatchingKey`] for none, [`Reason::AmbiguousKey`] for several).
    pub fn select(&self, kid: Option<&str>, alg: Algorithm) -> Result<&Jwk, Reason> {
        let mut found: Option<&Jwk> = None;
        match kid {
            Some(kid) => {
                for key in self.keys.iter().filter(|k| k.kid.as_deref() == Some(kid)) {
                    if found.replace(key).is_some() {
                        return Err(Reason::AmbiguousKey);
                    }
                }
                let key = found.ok_or(Reason::UnknownKid)?;
                if key.permits(alg) {
                    Ok(key)
                } else {
                    Err(Reason::KeyAlgMismatch)
                }
            }
            None => {
                for key in self.keys.iter().filter(|k| k.permits(alg)) {
                    if found.replace(key).is_some() {
                        return Err(Reason::AmbiguousKey);
                    }
                }
                found.ok_or(Reason::NoMatchingKey)
            }
        }
    }
}

/// Builds a usable key from one JWKS entry, or `None` if the entry must be skipped.
fn usable_key(jwk: &JsonObject) -> Option<Jwk> {
    let kid = match jwk.get("kid") {
        None => None,
        Some(Json::String(k)) if !k.is_empty() && k.len() <= MAX_KID_LEN => Some(k.clone()),
        Some(_) => return None,
    };
    match jwk.get("use") {
        None => {}
        Some(Json::String(u)) if u == "sig" => {}
        Some(_) => return None,
    }
    match jwk.get("key_ops") {
        None => {}
        Some(Json::Array(ops))
            if ops.iter().all(|op| matches!(op, Json::String(_)))
                && ops.iter().any(|op| op.as_str() == Some("verify")) => {}
        Some(_) => return None,
    }
    let alg = match jwk.get("alg") {
        None => None,
        Some(Json::String(name)) => Some(name.parse::<Algorithm>().ok()?),
        Some(_) => return None,
    };
    let (family, key) = match jwk.get("kty")?.as_str()? {
        "RSA" => (KeyFamily::Rsa, rsa_key(jwk)?),
        "EC" => ec_key(jwk)?,
        "OKP" => (KeyFamily::Ed25519, okp_key(jwk)?),
        _ => return None,
    };
    if let Some(alg) = alg {
        if !family.permits(alg) {
            return None;
        }
    }
    Some(Jwk {
        kid,
        family,
        alg,
        key,
    })
}

fn member_bytes(jwk: &JsonObject, name: &str) -> Option<Vec<u8>> {
    envelope::decode_segment(jwk.get(name)?.as_str()?).ok()
}

fn without_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

/// Smallest and largest RSA modulus accepted, in bits (RFC 7518 §3.3; aws-lc's verifier has
/// the same range).
const RSA_MIN_BITS: usize = 2048;
const RSA_MAX_BITS: usize = 8192;

fn rsa_key(jwk: &JsonObject) -> Option<DecodingKey> {
    let n = member_bytes(jwk, "n")?;
    let e = member_bytes(jwk, "e")?;
    let n = without_leading_zeros(&n);
    let e = without_leading_zeros(&e);
    let (&top, _) = n.split_first()?;
    let bits = n.len() * 8 - top.leading_zeros() as usize;
    if !(RSA_MIN_BITS..=RSA_MAX_BITS).contains(&bits) {
        return None;
    }
    if e.is_empty() || e.len() > 8 {
        return None;
    }
    let exponent = e.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
    if exponent < 3 || exponent % 2 == 0 {
        return None;
    }
    if has_roca_fingerprint(n) {
        return None;
    }
    Some(DecodingKey::from_rsa_raw_components(n, e))
}

/// Small primes of the ROCA fingerprint test (Nemec et al., CCS 2017, CVE-2017-15361).
const ROCA_PRIMES: [u64; 38] = [
    3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97,
    101, 103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167,
];

/// Whether an RSA modulus (big-endian, no leading zeros) has the structure of keys made by
/// Infineon's RSALib (ROCA): its private key can be recovered from the public key, so such a
/// key must never verify anything. The test: for every prime `p` above, `n mod p` lies in the
/// subgroup generated by 65537 modulo `p`. A random modulus passes all 38 with probability
/// about 2^-28.
pub(crate) fn has_roca_fingerprint(n: &[u8]) -> bool {
    // Reduce n modulo products of several primes at once (each product below 2^55, so the
    // shifted accumulator fits in a u64): six passes over the modulus instead of 38. This runs
    // for every RSA key at every login.
    let mut start = 0;
    while start < ROCA_PRIMES.len() {
        let mut end = start;
        let mut modulus = 1u64;
        while end < ROCA_PRIMES.len() && modulus * ROCA_PRIMES[end] < 1 << 55 {
            modulus *= ROCA_PRIMES[end];
            end += 1;
        }
        let reduced = n
            .iter()
            .fold(0u64, |acc, &b| ((acc << 8) | u64::from(b)) % modulus);
        if !ROCA_PRIMES[start..end]
            .iter()
            .all(|&p| in_65537_subgroup(reduced % p, p))
        {
            return false;
        }
        start = end;
    }
    true
}

/// Whether `residue` is a power of 65537 modulo the prime `p`.
fn in_65537_subgroup(residue: u64, p: u64) -> bool {
    let generator = 65_537 % p;
    let mut power = 1u64;
    // The subgroup generated by 65537 mod p has at most p - 1 elements.
    for _ in 0..p {
        if power == residue {
            return true;
        }
        power = power * generator % p;
        if power == 1 {
            break;
        }
    }
    false
}

fn ec_key(jwk: &JsonObject) -> Option<(KeyFamily, DecodingKey)> {
    let (family, len, alg): (_, _, &'static dyn VerificationAlgorithm) =
        match jwk.get("crv")?.as_str()? {
            "P-256" => (KeyFamily::EcP256, 32, &ECDSA_P256_SHA256_FIXED),
            "P-384" => (KeyFamily::EcP384, 48, &ECDSA_P384_SHA384_FIXED),
            _ => return None,
        };
    let x = member_bytes(jwk, "x")?;
    let y = member_bytes(jwk, "y")?;
    if x.len() != len || y.len() != len {
        return None;
    }
    let mut point = Vec::with_capacity(1 + 2 * len);
    point.push(0x04);
    point.extend_from_slice(&x);
    point.extend_from_slice(&y);
    // Refuses points that are not on the curve (RFC 8725 §3.4; invalid-curve attacks).
    ParsedPublicKey::new(alg, &point).ok()?;
    Some((family, DecodingKey::from_ec_der(&point)))
}

fn okp_key(jwk: &JsonObject) -> Option<DecodingKey> {
    if jwk.get("crv")?.as_str()? != "Ed25519" {
        return None;
    }
    let x = member_bytes(jwk, "x")?;
    if x.len() != 32 {
        return None;
    }
    ParsedPublicKey::new(&ED25519, &x).ok()?;
    Some(DecodingKey::from_ed_der(&x))
}

#[cfg(test)]
mod roca_tests {
    use super::has_roca_fingerprint;

    #[test]
    fn ordinary_moduli_do_not_carry_the_roca_fingerprint() {
        // Deterministic pseudo-random 2048-bit moduli (odd, top bit set).
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..200 {
            let mut n: Vec<u8> = (0..256)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    (state >> 24) as u8
                })
                .collect();
            n[0] |= 0x80;
            n[255] |= 1;
            assert!(!has_roca_fingerprint(&n));
        }
    }

    #[test]
    fn a_power_of_65537_carries_the_fingerprint() {
        // Modulo every test prime, 65537^5 is a power of 65537: exactly the fingerprint.
        let mut n: Vec<u8> = vec![1];
        for _ in 0..5 {
            let mut carry = 0u64;
            for b in n.iter_mut().rev() {
                let v = u64::from(*b) * 65_537 + carry;
                *b = (v & 0xff) as u8;
                carry = v >> 8;
            }
            while carry > 0 {
                n.insert(0, (carry & 0xff) as u8);
                carry >>= 8;
            }
        }
        assert!(has_roca_fingerprint(&n));
    }
}
