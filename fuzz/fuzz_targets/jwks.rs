//! JWKS documents (`KeySet::from_jwks_json`) and key choice (`KeySet::select`).
//!
//! Oracle: a reference model of the documented key filter, written independently from the
//! module documentation and run on serde_json's reading of the same document, must agree
//! with the key set entry by entry (which entries are usable, in document order, with which
//! `kid`, family and bound `alg`): `kty` RSA/EC/OKP only; `use` absent or `sig`; `key_ops`
//! absent or strings containing `verify`; `kid` 1..=256 bytes; `alg` of the key's family;
//! RSA modulus 2048..=8192 bits, exponent odd, 3..2^64, no ROCA fingerprint (checked here
//! prime by prime, not with the batched reduction of jwks.rs); EC P-256/P-384 points of full
//! length on the curve (checked here with big integers, y^2 = x^3 - 3x + b mod p); Ed25519
//! keys of 32 bytes that aws-lc accepts. Document-level refusals are checked against the same reading. Then, for
//! every `kid` in the set (and none) and every algorithm, `select` must give the answer the
//! documented rule gives.
#![no_main]

use aws_lc_rs::signature::{ParsedPublicKey, ED25519};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::Algorithm;
use libfuzzer_sys::fuzz_target;
use num_bigint::BigUint;
use pg_bearer_core::envelope::MAX_KID_LEN;
use pg_bearer_core::jwks::{JwksError, JwksLimits, KeyFamily, KeySet};
use pg_bearer_core::reason::Reason;
use pg_bearer_fuzz::ALGORITHMS;
use serde_json::{Map, Value};

const ROCA_PRIMES: [u64; 38] = [
    3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97,
    101, 103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167,
];

/// ROCA fingerprint, the plain way: for each prime, `n mod p` is a power of 65537 mod `p`.
fn roca(n: &[u8]) -> bool {
    ROCA_PRIMES.iter().all(|&p| {
        let r = n
            .iter()
            .fold(0u64, |acc, &b| (acc * 256 + u64::from(b)) % p);
        let g = 65_537 % p;
        let mut x = 1u64;
        (0..p).any(|_| {
            let hit = x == r;
            x = x * g % p;
            hit
        })
    })
}

/// Whether (x, y) is an affine point of the NIST curve with prime `p` and constant `b`
/// (a = -3): both coordinates below `p`, and y^2 = x^3 - 3x + b (mod p).
fn on_curve(x: &[u8], y: &[u8], p_hex: &str, b_hex: &str) -> bool {
    let p = BigUint::parse_bytes(p_hex.as_bytes(), 16).expect("p");
    let b = BigUint::parse_bytes(b_hex.as_bytes(), 16).expect("b");
    let (x, y) = (BigUint::from_bytes_be(x), BigUint::from_bytes_be(y));
    if x >= p || y >= p {
        return false;
    }
    let lhs = &y * &y % &p;
    let rhs = (&x * &x % &p * &x + &b + (&p - 3u32) * &x) % &p;
    lhs == rhs
}

const P256_P: &str = "ffffffff00000001000000000000000000000000ffffffffffffffffffffffff";
const P256_B: &str = "5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604b";
const P384_P: &str = "fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000ffffffff";
const P384_B: &str = "b3312fa7e23ee7e4988e056be3f82d19181d9c6efe8141120314088f5013875ac656398d8a2ed19d2a85c8edd3ec2aef";

fn b64(entry: &Map<String, Value>, name: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(entry.get(name)?.as_str()?).ok()
}

fn family_permits(family: KeyFamily, alg: Algorithm) -> bool {
    use Algorithm::*;
    match family {
        KeyFamily::Rsa => matches!(alg, RS256 | RS384 | RS512 | PS256 | PS384 | PS512),
        KeyFamily::EcP256 => alg == ES256,
        KeyFamily::EcP384 => alg == ES384,
        KeyFamily::Ed25519 => alg == EdDSA,
    }
}

/// The model: the (kid, family, bound alg) of a usable entry, or None.
fn model(entry: &Value) -> Option<(Option<String>, KeyFamily, Option<Algorithm>)> {
    let e = entry.as_object()?;
    let kid = match e.get("kid") {
        None => None,
        Some(Value::String(k)) if (1..=MAX_KID_LEN).contains(&k.len()) => Some(k.clone()),
        Some(_) => return None,
    };
    if e.get("use").is_some_and(|u| u.as_str() != Some("sig")) {
        return None;
    }
    if let Some(ops) = e.get("key_ops") {
        let ops = ops.as_array()?;
        if !ops.iter().all(Value::is_string) || !ops.iter().any(|o| o == "verify") {
            return None;
        }
    }
    let alg = match e.get("alg") {
        None => None,
        Some(Value::String(a)) => Some(a.parse::<Algorithm>().ok()?),
        Some(_) => return None,
    };
    let family = match e.get("kty")?.as_str()? {
        "RSA" => {
            let n = b64(e, "n")?;
            let ex = b64(e, "e")?;
            let n: Vec<u8> = n.into_iter().skip_while(|&b| b == 0).collect();
            let ex: Vec<u8> = ex.into_iter().skip_while(|&b| b == 0).collect();
            let bits = n.len() * 8 - n.first()?.leading_zeros() as usize;
            if !(2048..=8192).contains(&bits) || ex.is_empty() || ex.len() > 8 {
                return None;
            }
            let v = ex.iter().fold(0u128, |a, &b| a * 256 + u128::from(b));
            if v < 3 || v % 2 == 0 || roca(&n) {
                return None;
            }
            KeyFamily::Rsa
        }
        "EC" => {
            let (family, len, p, b) = match e.get("crv")?.as_str()? {
                "P-256" => (KeyFamily::EcP256, 32, P256_P, P256_B),
                "P-384" => (KeyFamily::EcP384, 48, P384_P, P384_B),
                _ => return None,
            };
            let (x, y) = (b64(e, "x")?, b64(e, "y")?);
            if x.len() != len || y.len() != len || !on_curve(&x, &y, p, b) {
                return None;
            }
            family
        }
        "OKP" => {
            if e.get("crv")?.as_str()? != "Ed25519" {
                return None;
            }
            let x = b64(e, "x")?;
            if x.len() != 32 {
                return None;
            }
            ParsedPublicKey::new(&ED25519, &x).ok()?;
            KeyFamily::Ed25519
        }
        _ => return None,
    };
    if alg.is_some_and(|a| !family_permits(family, a)) {
        return None;
    }
    Some((kid, family, alg))
}

type Usable = (Option<String>, KeyFamily, Option<Algorithm>);

fn permits(k: &Usable, alg: Algorithm) -> bool {
    match k.2 {
        Some(bound) => bound == alg,
        None => family_permits(k.1, alg),
    }
}

/// `select` as documented.
fn expected_select(keys: &[Usable], kid: Option<&str>, alg: Algorithm) -> Result<usize, Reason> {
    let hits: Vec<usize> = match kid {
        Some(kid) => (0..keys.len())
            .filter(|&i| keys[i].0.as_deref() == Some(kid))
            .collect(),
        None => (0..keys.len())
            .filter(|&i| permits(&keys[i], alg))
            .collect(),
    };
    match (hits.as_slice(), kid) {
        ([], Some(_)) => Err(Reason::UnknownKid),
        ([], None) => Err(Reason::NoMatchingKey),
        ([i], Some(_)) if !permits(&keys[*i], alg) => Err(Reason::KeyAlgMismatch),
        ([i], _) => Ok(*i),
        _ => Err(Reason::AmbiguousKey),
    }
}

fuzz_target!(|data: &[u8]| {
    let limits = JwksLimits::default();
    let result = KeySet::from_jwks_json(data, &limits);
    let doc = serde_json::from_slice::<Value>(data);
    let set = match result {
        Ok(set) => set,
        Err(JwksError::TooLarge) => return assert!(data.len() > limits.max_bytes),
        Err(JwksError::KeysNotAnArray) => {
            let doc = doc.expect("well-formed document");
            return assert!(!doc.get("keys").is_some_and(Value::is_array));
        }
        Err(JwksError::TooManyKeys) => {
            let doc = doc.expect("well-formed document");
            let n = doc["keys"].as_array().expect("keys array").len();
            return assert!(n > limits.max_keys);
        }
        Err(_) => return,
    };
    let doc = doc.expect("an accepted JWKS is JSON");
    let entries = doc["keys"]
        .as_array()
        .expect("an accepted JWKS has a keys array");
    assert!(entries.len() <= limits.max_keys);
    let expected: Vec<Usable> = entries.iter().filter_map(model).collect();
    assert_eq!(
        set.keys().len(),
        expected.len(),
        "usable keys differ from the documented filter"
    );
    assert_eq!(set.skipped(), entries.len() - expected.len());
    for (key, want) in set.keys().iter().zip(&expected) {
        assert_eq!(key.kid(), want.0.as_deref());
        assert_eq!(key.family(), want.1);
        assert_eq!(key.alg(), want.2);
        for &alg in ALGORITHMS {
            assert_eq!(key.permits(alg), permits(want, alg), "{alg:?}");
        }
    }
    let mut kids: Vec<Option<&str>> = vec![None, Some("absent-kid")];
    kids.extend(expected.iter().filter_map(|k| k.0.as_deref().map(Some)));
    kids.sort_unstable();
    kids.dedup();
    for kid in kids {
        if let Some(k) = kid {
            assert_eq!(
                set.contains_kid(k),
                expected.iter().any(|e| e.0.as_deref() == Some(k))
            );
        }
        for &alg in ALGORITHMS {
            let got = set
                .select(kid, alg)
                .map(|k| set.keys().iter().position(|x| std::ptr::eq(x, k)).unwrap());
            assert_eq!(got, expected_select(&expected, kid, alg), "{kid:?} {alg:?}");
        }
    }
});
