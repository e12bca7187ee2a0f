//! Writes the seed corpus of every fuzz target (`fuzz/corpus/<target>/seed-*`) and the
//! fixtures of the `jwt` target (`fuzz/fixtures/jwks.json`, `fuzz/fixtures/signed-tokens.txt`).
//!
//! Run from the repository root: `cargo run --manifest-path fuzz/Cargo.toml --example
//! gen_corpus`. Keys are generated afresh on every run (only their public halves are
//! written), so a rerun rewrites the `jwt` seeds and fixtures with new keys and signatures;
//! everything else comes out byte for byte the same. Earlier `seed-*` files are removed first;
//! inputs added by `scripts/fuzz.sh --merge` (named by their hash) are kept.
//!
//! The shapes follow the provider tests (core/tests/providers.rs) and the attack batteries
//! (core/tests/*battery*.rs): real-looking tokens, documents and answers of Keycloak, Entra ID,
//! Okta, Auth0, Cognito, Zitadel and Dex, and the classic attacks on each parser.
#![forbid(unsafe_code)]

use std::fs;
use std::path::{Path, PathBuf};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    self, EcdsaKeyPair, EcdsaSigningAlgorithm, Ed25519KeyPair, KeyPair, RsaKeyPair,
    ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use pg_bearer_core::discovery::ProviderMetadata;
use pg_bearer_fuzz::{
    discovery_issuers, ENTRA_APP, ENTRA_TENANT, GENERIC_AUD, GENERIC_ISS, NOW, PROFILES,
};
use serde_json::{json, Value};

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

enum Private {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

struct Key {
    private: Private,
    jwk: Value,
}

fn rsa(kid: &'static str, alg: &str) -> Key {
    let pair = RsaKeyPair::generate(KeySize::Rsa2048).expect("rsa keygen");
    let public = pair.public_key();
    let jwk = json!({"kty": "RSA", "kid": kid, "use": "sig", "alg": alg,
        "n": b64(public.modulus().big_endian_without_leading_zero()),
        "e": b64(public.exponent().big_endian_without_leading_zero())});
    Key {
        private: Private::Rsa(pair),
        jwk,
    }
}

fn ec(kid: &'static str, alg: &'static EcdsaSigningAlgorithm, crv: &str, len: usize) -> Key {
    let pair = EcdsaKeyPair::generate(alg).expect("ec keygen");
    let point = pair.public_key().as_ref().to_vec();
    let jwk = json!({"kty": "EC", "kid": kid, "use": "sig", "crv": crv,
        "alg": if len == 32 { "ES256" } else { "ES384" },
        "x": b64(&point[1..=len]), "y": b64(&point[1 + len..])});
    Key {
        private: Private::Ec(pair),
        jwk,
    }
}

fn ed(kid: &'static str) -> Key {
    let pair = Ed25519KeyPair::generate().expect("ed keygen");
    let jwk = json!({"kty": "OKP", "kid": kid, "use": "sig", "alg": "EdDSA", "crv": "Ed25519",
        "x": b64(pair.public_key().as_ref())});
    Key {
        private: Private::Ed(pair),
        jwk,
    }
}

fn sign(key: &Key, alg: &str, input: &[u8]) -> Vec<u8> {
    let rng = SystemRandom::new();
    match &key.private {
        Private::Rsa(pair) => {
            let padding: &'static dyn signature::RsaEncoding = match alg {
                "RS256" => &signature::RSA_PKCS1_SHA256,
                "RS384" => &signature::RSA_PKCS1_SHA384,
                "RS512" => &signature::RSA_PKCS1_SHA512,
                "PS256" => &signature::RSA_PSS_SHA256,
                "PS384" => &signature::RSA_PSS_SHA384,
                _ => &signature::RSA_PSS_SHA512,
            };
            let mut sig = vec![0; pair.public_modulus_len()];
            pair.sign(padding, &rng, input, &mut sig).expect("rsa sign");
            sig
        }
        Private::Ec(pair) => pair.sign(&rng, input).expect("ec sign").as_ref().to_vec(),
        Private::Ed(pair) => pair.sign(input).as_ref().to_vec(),
    }
}

/// A compact JWS over raw header and claims bytes.
fn jws(key: &Key, alg: &str, header: &[u8], claims: &[u8]) -> String {
    let input = format!("{}.{}", b64(header), b64(claims));
    let sig = sign(key, alg, input.as_bytes());
    format!("{input}.{}", b64(sig))
}

/// Collects seeds per target and the tokens that carry a valid signature.
struct Out {
    root: PathBuf,
    signed: Vec<String>,
    count: usize,
    bytes: usize,
}

impl Out {
    fn dir(&self, target: &str) -> PathBuf {
        self.root.join("corpus").join(target)
    }

    fn clear(&self, target: &str) {
        let dir = self.dir(target);
        fs::create_dir_all(&dir).expect("corpus dir");
        for entry in fs::read_dir(&dir).expect("read corpus dir") {
            let path = entry.expect("entry").path();
            if path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("seed-"))
            {
                fs::remove_file(path).expect("remove old seed");
            }
        }
    }

    fn seed(&mut self, target: &str, name: &str, bytes: &[u8]) {
        let path = self.dir(target).join(format!("seed-{name}"));
        assert!(!path.exists(), "two seeds named {name} for {target}");
        fs::write(path, bytes).expect("write seed");
        self.count += 1;
        self.bytes += bytes.len();
    }

    fn with_profile(&mut self, target: &str, name: &str, profile: &str, body: &[u8]) {
        let mut v = vec![profile_index(profile)];
        v.extend_from_slice(body);
        self.seed(target, name, &v);
    }
}

fn profile_index(name: &str) -> u8 {
    let i = PROFILES
        .iter()
        .position(|p| p.name == name)
        .unwrap_or_else(|| panic!("no profile {name}"));
    u8::try_from(i).expect("few profiles")
}

fn bytes(v: &Value) -> Vec<u8> {
    v.to_string().into_bytes()
}

// -------------------------------------------------------------------------------------------
// Provider-shaped claims

fn generic_claims() -> Value {
    json!({"iss": GENERIC_ISS, "aud": GENERIC_AUD, "sub": "alice", "client_id": "psql",
        "iat": NOW, "exp": NOW + 300, "jti": "id-1", "scope": "openid postgres"})
}

/// (profile, name, header, claims) of each provider's access token.
fn provider_tokens() -> Vec<(&'static str, &'static str, Value, Value)> {
    let kc_iss = "https://kc.example.com/realms/pg";
    let v2_iss = format!("https://login.microsoftonline.com/{ENTRA_TENANT}/v2.0");
    let v1_iss = format!("https://sts.windows.net/{ENTRA_TENANT}/");
    let mut generic_delegate = generic_claims();
    generic_delegate["realm_access"] = json!({"roles": ["analyst", "offline_access"]});
    let keycloak = json!({
        "exp": NOW + 300, "iat": NOW, "auth_time": NOW - 5,
        "jti": "onrtac:4f6e0b3c-1111-4a7b-9d3e-2f7b8c9d0e1f", "iss": kc_iss,
        "aud": ["pg-db", "account"], "sub": "f81d4fae-7dec-11d0-a765-00a0c91e6bf6",
        "typ": "Bearer", "azp": "psql", "sid": "0c2e7b5e-2222-4c4d-8e8f-9a0b1c2d3e4f",
        "acr": "1", "allowed-origins": ["/*"],
        "realm_access": {"roles": ["default-roles-pg", "offline_access", "analyst"]},
        "resource_access": {"account": {"roles": ["manage-account", "view-profile"]}},
        "scope": "openid profile email postgres", "email_verified": true,
        "name": "Alice Liddell", "preferred_username": "alice", "given_name": "Alice",
        "family_name": "Liddell", "email": "alice@example.com"});
    let entra_v2 = json!({
        "aud": ENTRA_APP, "iss": v2_iss, "iat": NOW, "nbf": NOW, "exp": NOW + 4000,
        "aio": "AXQAi/8TAAAA", "azp": "1950a258-227b-4e31-a9cf-717495945fc2", "azpacr": "0",
        "name": "Alice Liddell", "oid": "00000000-0000-0000-66f3-3332eca7ea81",
        "preferred_username": "alice@contoso.com", "rh": "0.AQ0A.", "roles": ["Db.Analyst"],
        "scp": "Db.Login User.Read", "sub": "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ",
        "tid": ENTRA_TENANT, "uti": "fqiBqXLPj0eQa82S-IYFAA", "ver": "2.0"});
    let mut entra_app = entra_v2.clone();
    entra_app.as_object_mut().expect("object").remove("scp");
    let entra_v1 = json!({
        "aud": "api://pg-db", "iss": v1_iss, "iat": NOW, "nbf": NOW, "exp": NOW + 3900,
        "acr": "1", "aio": "E2ZgYJ", "amr": ["pwd"], "appid": "1950a258-227b-4e31-a9cf-717495945fc2",
        "appidacr": "0", "family_name": "Liddell", "given_name": "Alice", "ipaddr": "192.0.2.1",
        "name": "Alice Liddell", "oid": "00000000-0000-0000-66f3-3332eca7ea81", "scp": "Db.Login",
        "sub": "l3_roISQU222bULS9yi2k0XpqpOiMz5H3ZACo1GeXA", "tid": ENTRA_TENANT,
        "unique_name": "alice@contoso.com", "upn": "alice@contoso.com",
        "uti": "fqiBqXLPj0eQa82S-IYFAA", "ver": "1.0"});
    let okta = json!({
        "ver": 1, "jti": "AT.0mP4JKAZX1iACIT4vbEDF7LpvDVjxypPMf0D7uX39RE",
        "iss": "https://dev-123456.okta.com/oauth2/default", "aud": "api://default", "iat": NOW,
        "exp": NOW + 3600, "cid": "0oa1b2c3d4e5f6g7h8i9", "uid": "00u1a2b3c4d5e6f7g8h9",
        "scp": ["openid", "postgres"], "auth_time": NOW - 30, "sub": "alice@example.com"});
    let auth0 = json!({
        "iss": "https://tenant.eu.auth0.com/", "sub": "auth0|64b7f0c2e1d2a3b4c5d6e7f8",
        "aud": ["https://db.example.com", "https://tenant.eu.auth0.com/userinfo"],
        "iat": NOW, "exp": NOW + 86_400, "scope": "openid profile email postgres",
        "azp": "kT9xZsYg1v2w3x4y5z6a7b8c9d0e1f2g", "jti": "2b6a4c1e",
        "client_id": "kT9xZsYg1v2w3x4y5z6a7b8c9d0e1f2g", "permissions": ["connect:analytics"]});
    let cognito = json!({
        "sub": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", "cognito:groups": ["analysts"],
        "iss": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEfGhI", "version": 2,
        "client_id": "3n4b5urk1ft4fl3mg5e62d9ado",
        "origin_jti": "cccccccc-dddd-eeee-ffff-000000000000", "token_use": "access",
        "scope": "openid pg-db/connect", "auth_time": NOW - 60, "exp": NOW + 3600, "iat": NOW,
        "jti": "dddddddd-eeee-ffff-0000-111111111111", "username": "alice"});
    let zitadel = json!({
        "aud": ["287137937012345678", "287138011234567890@pg"],
        "client_id": "287138011234567890@pg", "exp": NOW + 43_200, "iat": NOW, "nbf": NOW,
        "iss": "https://pg-abc123.zitadel.cloud", "jti": "287140000000000000",
        "sub": "287139000000000000",
        "urn:zitadel:iam:org:project:roles":
            {"analyst": {"287130000000000000": "acme.pg-abc123.zitadel.cloud"}}});
    let dex = json!({
        "iss": "https://dex.example.com", "sub": "CgVhbGljZRIFbG9jYWw", "aud": "pg", "azp": "psql",
        "exp": NOW + 86_400, "iat": NOW, "at_hash": "b4Mm0iWwxGvYDfs9QwU7Ug",
        "email": "alice@example.com", "email_verified": true, "name": "alice",
        "federated_claims": {"connector_id": "local", "user_id": "alice"}});
    let no_cap = json!({"iss": GENERIC_ISS, "aud": [GENERIC_AUD], "sub": "u-1",
        "exp": NOW + 30 * 86_400, "scp": "postgres", "ext": {"user/name": "alice"}});
    let h = |alg: &str, typ: Option<&str>, extra: Option<(&str, &str)>| {
        let mut v = json!({"alg": alg, "kid": "rsa-1"});
        if let Some(t) = typ {
            v["typ"] = json!(t);
        }
        if let Some((k, x)) = extra {
            v[k] = json!(x);
        }
        v
    };
    vec![
        (
            "generic",
            "generic",
            h("RS256", Some("at+jwt"), None),
            generic_claims(),
        ),
        (
            "generic-client-delegate",
            "generic-delegate",
            h("RS256", Some("at+jwt"), None),
            generic_delegate,
        ),
        (
            "keycloak",
            "keycloak",
            h("RS256", Some("JWT"), None),
            keycloak.clone(),
        ),
        (
            "keycloak-delegate",
            "keycloak-delegate",
            h("RS256", Some("JWT"), None),
            keycloak,
        ),
        (
            "entra-v2",
            "entra-v2",
            h("RS256", Some("JWT"), None),
            entra_v2,
        ),
        (
            "entra-v2-app-delegate",
            "entra-v2-app",
            h("RS256", Some("JWT"), None),
            entra_app,
        ),
        (
            "entra-v1",
            "entra-v1",
            h(
                "RS256",
                Some("JWT"),
                Some(("x5t", "nOo3ZDrODXEK1jKWhXslHR_KXEg")),
            ),
            entra_v1,
        ),
        ("okta", "okta", h("RS256", None, None), okta),
        (
            "auth0-delegate",
            "auth0",
            h("RS256", Some("at+jwt"), None),
            auth0,
        ),
        (
            "cognito-delegate",
            "cognito",
            h("RS256", None, None),
            cognito,
        ),
        (
            "zitadel-delegate",
            "zitadel",
            h("RS256", Some("JWT"), None),
            zitadel,
        ),
        ("dex", "dex", h("RS256", None, None), dex),
        (
            "generic-no-cap-pointer-identity",
            "no-cap",
            h("RS256", Some("JWT"), None),
            no_cap,
        ),
    ]
}

/// Claim sets that each break one promise (after the claims battery).
fn hostile_claims() -> Vec<(&'static str, Vec<u8>)> {
    let set = |k: &str, v: Value| {
        let mut c = generic_claims();
        c[k] = v;
        bytes(&c)
    };
    let without = |k: &str| {
        let mut c = generic_claims();
        c.as_object_mut().expect("object").remove(k);
        bytes(&c)
    };
    let raw = |s: String| s.into_bytes();
    vec![
        ("expired", set("exp", json!(NOW - 61))),
        ("exp-at-skew-edge", set("exp", json!(NOW - 59))),
        ("exp-string", set("exp", json!((NOW + 300).to_string()))),
        ("exp-fraction", set("exp", json!(NOW as f64 + 300.7))),
        (
            "exp-exponent",
            raw(format!(
                r#"{{"iss":"{GENERIC_ISS}","aud":"{GENERIC_AUD}","sub":"alice","iat":{NOW},"exp":1.7500003e9,"scope":"postgres"}}"#
            )),
        ),
        ("exp-huge", set("exp", json!(u64::MAX))),
        ("exp-negative", set("exp", json!(-1))),
        ("no-exp", without("exp")),
        ("no-iat", without("iat")),
        ("iat-future", set("iat", json!(NOW + 61))),
        ("nbf-future", set("nbf", json!(NOW + 61))),
        ("nbf-null", set("nbf", Value::Null)),
        ("lifetime-too-long", set("exp", json!(NOW + 86_461))),
        (
            "iss-trailing-slash",
            set("iss", json!(format!("{GENERIC_ISS}/"))),
        ),
        ("iss-array", set("iss", json!([GENERIC_ISS]))),
        ("iss-case", set("iss", json!(GENERIC_ISS.to_uppercase()))),
        ("no-iss", without("iss")),
        ("aud-array", set("aud", json!(["other", GENERIC_AUD]))),
        ("aud-empty-array", set("aud", json!([]))),
        ("aud-mixed-array", set("aud", json!([GENERIC_AUD, 1]))),
        ("aud-other", set("aud", json!("https://db.example.com/"))),
        ("no-aud", without("aud")),
        ("sub-empty", set("sub", json!(""))),
        ("sub-number", set("sub", json!(42))),
        ("sub-nul", set("sub", json!("postgres\u{0}@evil"))),
        ("sub-newline", set("sub", json!("alice\nLOG: forged"))),
        ("sub-bidi", set("sub", json!("admin\u{202e}gpj"))),
        ("sub-bom", set("sub", json!("\u{feff}alice"))),
        ("sub-long", set("sub", json!("a".repeat(257)))),
        ("sub-max", set("sub", json!("a".repeat(256)))),
        (
            "sub-lone-surrogate",
            raw(format!(
                r#"{{"iss":"{GENERIC_ISS}","aud":"{GENERIC_AUD}","sub":"\ud800","iat":{NOW},"exp":{},"scope":"postgres"}}"#,
                NOW + 300
            )),
        ),
        (
            "sub-escaped-nul",
            raw(format!(
                r#"{{"iss":"{GENERIC_ISS}","aud":"{GENERIC_AUD}","sub":"al\u0000ice","iat":{NOW},"exp":{},"scope":"postgres"}}"#,
                NOW + 300
            )),
        ),
        (
            "duplicate-sub",
            raw(format!(
                r#"{{"iss":"{GENERIC_ISS}","aud":"{GENERIC_AUD}","sub":"alice","sub":"postgres","iat":{NOW},"exp":{},"scope":"postgres"}}"#,
                NOW + 300
            )),
        ),
        (
            "duplicate-escaped-iss",
            raw(format!(
                r#"{{"iss":"https://evil.example","\u0069ss":"{GENERIC_ISS}","aud":"{GENERIC_AUD}","sub":"alice","iat":{NOW},"exp":{},"scope":"postgres"}}"#,
                NOW + 300
            )),
        ),
        ("scope-prefix", set("scope", json!("openid postgresql"))),
        ("scope-array", set("scope", json!(["postgres"]))),
        ("scp-array", set("scp", json!(["postgres"]))),
        ("scope-tab", set("scope", json!("openid\tpostgres"))),
        ("scope-missing", without("scope")),
        ("not-object", b"[1,2,3]".to_vec()),
        (
            "bom",
            [&b"\xEF\xBB\xBF"[..], &bytes(&generic_claims())].concat(),
        ),
        (
            "invalid-utf8",
            [&b"{\"sub\":\"\xff\","[..], &bytes(&generic_claims())[1..]].concat(),
        ),
        (
            "deep",
            format!("{}{}", "[".repeat(40), "]".repeat(40)).into_bytes(),
        ),
        ("trailing", [&bytes(&generic_claims())[..], b" x"].concat()),
        ("empty-object", b"{}".to_vec()),
    ]
}

// -------------------------------------------------------------------------------------------

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf();
    let mut out = Out {
        root: root.clone(),
        signed: Vec::new(),
        count: 0,
        bytes: 0,
    };
    for t in [
        "json",
        "envelope",
        "jwt",
        "claims",
        "jwks",
        "discovery",
        "introspection",
        "userinfo",
    ] {
        out.clear(t);
    }

    // Keys of the jwt target: the published set and an attacker's key with a published kid.
    let rsa_key = rsa("rsa-1", "RS256");
    let ec256 = ec("ec-256", &ECDSA_P256_SHA256_FIXED_SIGNING, "P-256", 32);
    let ec384 = ec("ec-384", &ECDSA_P384_SHA384_FIXED_SIGNING, "P-384", 48);
    let ed_key = ed("ed-1");
    let other = rsa("rsa-1", "RS256");
    let mut rsa_ps = rsa_key.jwk.clone();
    rsa_ps["kid"] = json!("rsa-ps");
    rsa_ps["alg"] = json!("PS256");
    let jwks = json!({"keys": [rsa_key.jwk, ec256.jwk, ec384.jwk, ed_key.jwk, rsa_ps]});
    fs::create_dir_all(root.join("fixtures")).expect("fixtures dir");
    fs::write(root.join("fixtures/jwks.json"), format!("{jwks:#}\n")).expect("write jwks");

    // --- jwt and envelope: tokens -------------------------------------------------------
    let mut tokens: Vec<(&str, String, String)> = Vec::new(); // (profile, name, token)
    let signed = |key: &Key, alg: &str, header: &[u8], claims: &[u8], signed: &mut Vec<String>| {
        let t = jws(key, alg, header, claims);
        signed.push(t.clone());
        t
    };
    for (profile, name, header, claims) in provider_tokens() {
        let t = signed(
            &rsa_key,
            "RS256",
            &bytes(&header),
            &bytes(&claims),
            &mut out.signed,
        );
        tokens.push((profile, name.to_owned(), t));
    }
    let gc = bytes(&generic_claims());
    for (key, alg, kid, name) in [
        (&rsa_key, "PS256", "rsa-ps", "family-ps256"),
        (&ec256, "ES256", "ec-256", "family-es256"),
        (&ec384, "ES384", "ec-384", "family-es384"),
        (&ed_key, "EdDSA", "ed-1", "family-eddsa"),
    ] {
        let header = bytes(&json!({"alg": alg, "typ": "at+jwt", "kid": kid}));
        let t = signed(key, alg, &header, &gc, &mut out.signed);
        tokens.push(("generic", name.into(), t));
    }
    // No kid: exactly one key fits ES384.
    let t = signed(
        &ec384,
        "ES384",
        &bytes(&json!({"alg": "ES384"})),
        &gc,
        &mut out.signed,
    );
    tokens.push(("generic", "no-kid-es384".into(), t));
    let rs_header = bytes(&json!({"alg": "RS256", "typ": "at+jwt", "kid": "rsa-1"}));
    for (name, claims) in hostile_claims() {
        let t = signed(&rsa_key, "RS256", &rs_header, &claims, &mut out.signed);
        tokens.push(("generic", format!("claims-{name}"), t));
    }
    // Signed header attacks (valid signatures over refused headers).
    for (name, header) in [
        (
            "hdr-crit",
            r#"{"alg":"RS256","kid":"rsa-1","crit":["exp"]}"#,
        ),
        (
            "hdr-jku",
            r#"{"alg":"RS256","kid":"rsa-1","jku":"https://evil.example/jwks"}"#,
        ),
        ("hdr-b64", r#"{"alg":"RS256","kid":"rsa-1","b64":false}"#),
        ("hdr-cty", r#"{"alg":"RS256","kid":"rsa-1","cty":"JWT"}"#),
        (
            "hdr-typ-id",
            r#"{"alg":"RS256","kid":"rsa-1","typ":"id_token+jwt"}"#,
        ),
        (
            "hdr-dup-alg",
            r#"{"alg":"RS256","kid":"rsa-1","alg":"none"}"#,
        ),
        ("hdr-kid-number", r#"{"alg":"RS256","kid":1}"#),
        (
            "hdr-x5t",
            r#"{"alg":"RS256","kid":"rsa-1","x5t":"abc","x5t#S256":"def"}"#,
        ),
    ] {
        let t = signed(&rsa_key, "RS256", header.as_bytes(), &gc, &mut out.signed);
        tokens.push(("generic", name.into(), t));
    }
    // Forgeries: none of these carries a valid signature.
    let b = |s: &str| b64(s);
    let gcb = b64(&gc);
    let baseline = tokens[0].2.clone();
    let (b_input, b_sig) = baseline.rsplit_once('.').expect("token");
    let mut flipped = URL_SAFE_NO_PAD.decode(b_sig).expect("sig");
    flipped[10] ^= 1;
    let public_n = URL_SAFE_NO_PAD
        .decode(jwks["keys"][0]["n"].as_str().expect("n"))
        .expect("n bytes");
    let hs_input = format!(
        "{}.{gcb}",
        b(r#"{"alg":"HS256","typ":"JWT","kid":"rsa-1"}"#)
    );
    let hs_sig = aws_lc_rs::hmac::sign(
        &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &public_n),
        hs_input.as_bytes(),
    );
    let forged = vec![
        (
            "forged-alg-none",
            format!("{}.{gcb}.", b(r#"{"alg":"none"}"#)),
        ),
        (
            "forged-alg-None-sig",
            format!("{}.{gcb}.c2ln", b(r#"{"alg":"None","kid":"rsa-1"}"#)),
        ),
        (
            "forged-hs256-public-key",
            format!("{hs_input}.{}", b64(hs_sig.as_ref())),
        ),
        (
            "forged-other-key-same-kid",
            jws(&other, "RS256", &rs_header, &gc),
        ),
        ("forged-es256-as-rsa-kid", {
            let header = bytes(&json!({"alg": "ES256", "kid": "rsa-1"}));
            jws(&ec256, "ES256", &header, &gc)
        }),
        (
            "forged-flipped-signature",
            format!("{b_input}.{}", b64(&flipped)),
        ),
        ("forged-unknown-kid", {
            let header = bytes(&json!({"alg": "RS256", "kid": "rsa-2"}));
            jws(&other, "RS256", &header, &gc)
        }),
        (
            "forged-jwk-embedded",
            format!(
                "{}.{gcb}.c2ln",
                b(&format!(r#"{{"alg":"RS256","jwk":{}}}"#, jwks["keys"][0]))
            ),
        ),
        ("malformed-padding", format!("{baseline}=")),
        (
            "malformed-std-alphabet",
            baseline.replacen('-', "+", 1).replacen('_', "/", 1),
        ),
        ("malformed-four-segments", format!("{baseline}.x")),
        (
            "malformed-jwe",
            format!("{}.a.b.c.d", b(r#"{"alg":"RSA-OAEP","enc":"A256GCM"}"#)),
        ),
        (
            "malformed-empty-payload",
            format!("{}..c2ln", b(r#"{"alg":"RS256"}"#)),
        ),
        (
            "malformed-header-bom",
            format!("{}.{gcb}.c2ln", b64(b"\xEF\xBB\xBF{\"alg\":\"RS256\"}")),
        ),
        (
            "malformed-header-deep",
            format!(
                "{}.{gcb}.c2ln",
                b(&format!(
                    r#"{{"alg":"RS256","x":{}{}}}"#,
                    "[".repeat(40),
                    "]".repeat(40)
                ))
            ),
        ),
        (
            "malformed-long-kid",
            format!(
                "{}.{gcb}.c2ln",
                b(&format!(r#"{{"alg":"RS256","kid":"{}"}}"#, "k".repeat(257)))
            ),
        ),
        ("malformed-trailing-bits", {
            let mut h = b(r#"{"alg":"RS256","kid":"rsa-1"}"#);
            h.pop();
            h.push('1');
            format!("{h}.{gcb}.c2ln")
        }),
        ("opaque", "2YotnFZFEjr1zCsicMWpAA".into()),
        (
            "noncanonical-padded",
            format!(
                "{}.{gcb}.c2lnbmF0dXJl==",
                b(r#"{"alg":"RS256","kid":"rsa-1"}"#)
            ),
        ),
        (
            "noncanonical-standard-alphabet",
            format!(
                "{}.{gcb}.c2ln+/bmF0dXJl",
                b(r#"{"alg":"RS256","kid":"rsa-1"}"#)
            ),
        ),
        (
            "noncanonical-stray-characters",
            format!("{}~.{gcb}.c2ln", b(r#"{"alg":"RS256","kid":"rsa-1"}"#)),
        ),
        (
            "noncanonical-trailing-dot",
            format!("{}.{gcb}.c2ln.", b(r#"{"alg":"RS256","kid":"rsa-1"}"#)),
        ),
    ];
    for (name, t) in forged {
        tokens.push(("generic", name.into(), t));
    }
    for (profile, name, token) in &tokens {
        out.with_profile("jwt", name, profile, token.as_bytes());
        out.seed("envelope", name, token.as_bytes());
    }
    let signed_text: String = out.signed.iter().map(|t| format!("{t}\n")).collect();
    fs::write(root.join("fixtures/signed-tokens.txt"), signed_text).expect("write signed tokens");

    // --- claims ---------------------------------------------------------------------------
    for (profile, name, _, claims) in provider_tokens() {
        out.with_profile("claims", name, profile, &bytes(&claims));
    }
    for (name, claims) in hostile_claims() {
        out.with_profile("claims", name, "generic", &claims);
    }
    let mut unverified = provider_tokens()[11].3.clone();
    unverified["email_verified"] = json!("true");
    out.with_profile(
        "claims",
        "dex-email-verified-string",
        "dex",
        &bytes(&unverified),
    );
    let mut kc_id = provider_tokens()[2].3.clone();
    kc_id["typ"] = json!("ID");
    out.with_profile("claims", "keycloak-id-token", "keycloak", &bytes(&kc_id));
    let mut cognito_id = provider_tokens()[9].3.clone();
    cognito_id["token_use"] = json!("id");
    cognito_id["aud"] = json!("3n4b5urk1ft4fl3mg5e62d9ado");
    out.with_profile(
        "claims",
        "cognito-id-token",
        "cognito-delegate",
        &bytes(&cognito_id),
    );

    // --- introspection and userinfo ---------------------------------------------------------
    let active = |extra: Value| {
        let mut v = generic_claims();
        v["active"] = json!(true);
        v["token_type"] = json!("Bearer");
        for (k, x) in extra.as_object().expect("object") {
            v[k] = x.clone();
        }
        bytes(&v)
    };
    let intro: Vec<(&str, &str, Vec<u8>)> = vec![
        ("generic", "generic", active(json!({}))),
        ("generic", "no-exp-no-iss", bytes(&json!({"active": true, "aud": GENERIC_AUD,
            "sub": "alice", "scope": "openid postgres", "nbf": NOW - 10}))),
        ("generic", "inactive", bytes(&json!({"active": false}))),
        ("generic", "active-string", active(json!({"active": "true"}))),
        ("generic", "refresh-token", active(json!({"token_type": "refresh_token"}))),
        ("generic", "keycloak-offline-typ", active(json!({"typ": "Offline"}))),
        ("generic", "expired", active(json!({"exp": NOW - 120}))),
        ("generic", "foreign-iss", active(json!({"iss": "https://evil.example"}))),
        ("generic", "duplicate-active", format!(r#"{{"active":false,"active":true,"aud":"{GENERIC_AUD}","sub":"alice","scope":"postgres"}}"#).into_bytes()),
        ("keycloak-delegate", "keycloak", bytes(&json!({
            "exp": NOW + 300, "iat": NOW, "jti": "b1c7d6a2", "iss": "https://kc.example.com/realms/pg",
            "aud": ["pg-db", "account"], "sub": "f81d4fae-7dec-11d0-a765-00a0c91e6bf6", "typ": "Bearer",
            "azp": "psql", "session_state": "7f9e", "preferred_username": "alice", "email_verified": true,
            "acr": "1", "realm_access": {"roles": ["analyst"]}, "scope": "openid profile postgres",
            "client_id": "psql", "username": "alice", "token_type": "Bearer", "active": true}))),
        ("okta", "okta", bytes(&json!({
            "active": true, "scope": "openid postgres", "username": "alice@example.com",
            "exp": NOW + 3600, "iat": NOW, "sub": "alice@example.com", "aud": "api://default",
            "iss": "https://dev-123456.okta.com/oauth2/default", "jti": "AT.7mP4JKAZ",
            "token_type": "Bearer", "client_id": "0oa1b2c3d4e5f6g7h8i9", "cid": "0oa1b2c3d4e5f6g7h8i9",
            "uid": "00u1a2b3c4d5e6f7g8h9"}))),
        ("zitadel-delegate", "zitadel", bytes(&json!({
            "active": true, "scope": "openid profile", "client_id": "287138011234567890@pg",
            "token_type": "Bearer", "exp": NOW + 43_200, "iat": NOW, "nbf": NOW,
            "sub": "287139000000000000", "aud": ["287137937012345678", "287138011234567890@pg"],
            "iss": "https://pg-abc123.zitadel.cloud", "jti": "287140000000000000", "username": "alice",
            "urn:zitadel:iam:org:project:roles": {"analyst": {"287130000000000000": "acme"}}}))),
        ("dex", "dex-email", bytes(&json!({"active": true, "aud": "pg", "sub": "CgVhbGljZRIFbG9jYWw",
            "email": "alice@example.com", "email_verified": true, "exp": NOW + 600}))),
    ];
    for (profile, name, body) in intro {
        out.with_profile("introspection", name, profile, &body);
    }
    let userinfo: Vec<(&str, &str, Value)> = vec![
        (
            "generic",
            "generic-scope",
            json!({"sub": "alice", "scope": "openid postgres"}),
        ),
        (
            "generic",
            "no-scope",
            json!({"sub": "alice", "name": "Alice"}),
        ),
        (
            "keycloak-delegate",
            "keycloak",
            json!({"sub": "f81d4fae-7dec-11d0-a765-00a0c91e6bf6",
            "email_verified": true, "name": "Alice Liddell", "preferred_username": "alice",
            "given_name": "Alice", "family_name": "Liddell", "email": "alice@example.com",
            "realm_access": {"roles": ["analyst"]}}),
        ),
        (
            "okta",
            "okta",
            json!({"sub": "00u1a2b3c4d5e6f7g8h9", "name": "Alice Liddell",
            "locale": "en-US", "email": "alice@example.com", "preferred_username": "alice@example.com",
            "zoneinfo": "America/Los_Angeles", "updated_at": NOW - 1000, "email_verified": true,
            "cid": "0oa1b2c3d4e5f6g7h8i9"}),
        ),
        (
            "auth0-delegate",
            "auth0",
            json!({"sub": "auth0|64b7f0c2e1d2a3b4c5d6e7f8",
            "nickname": "alice", "name": "alice@example.com", "picture": "https://s.gravatar.com/avatar/x.png",
            "updated_at": "2025-06-01T10:00:00.000Z", "permissions": ["connect:analytics"]}),
        ),
        (
            "dex",
            "dex",
            json!({"iss": "https://dex.example.com", "sub": "CgVhbGljZRIFbG9jYWw",
            "email": "alice@example.com", "email_verified": true, "name": "alice"}),
        ),
        (
            "generic",
            "google-hd",
            json!({"sub": "110169484474386276334", "name": "Alice",
            "email": "alice@example.com", "email_verified": true, "hd": "example.com", "locale": "en"}),
        ),
        ("generic", "sub-number", json!({"sub": 1})),
        (
            "generic",
            "foreign-iss",
            json!({"sub": "alice", "iss": "https://evil.example"}),
        ),
        (
            "dex",
            "email-unverified",
            json!({"sub": "x", "email": "admin@example.com", "email_verified": false}),
        ),
    ];
    for (profile, name, body) in userinfo {
        out.with_profile("userinfo", name, profile, &bytes(&body));
    }

    // --- discovery ----------------------------------------------------------------------------
    let issuers = discovery_issuers();
    let sel = |iss: &str, http: bool| {
        let i = issuers
            .iter()
            .position(|x| x == iss)
            .unwrap_or_else(|| panic!("issuer {iss}"));
        u8::try_from(i).expect("few issuers") | if http { 0x80 } else { 0 }
    };
    let kc = "https://kc.example.com/realms/pg";
    let kc_oidc = format!("{kc}/protocol/openid-connect");
    let keycloak_doc = json!({
        "issuer": kc, "authorization_endpoint": format!("{kc_oidc}/auth"),
        "token_endpoint": format!("{kc_oidc}/token"),
        "introspection_endpoint": format!("{kc_oidc}/token/introspect"),
        "userinfo_endpoint": format!("{kc_oidc}/userinfo"),
        "end_session_endpoint": format!("{kc_oidc}/logout"),
        "frontchannel_logout_session_supported": true, "jwks_uri": format!("{kc_oidc}/certs"),
        "check_session_iframe": format!("{kc_oidc}/login-status-iframe.html"),
        "grant_types_supported": ["authorization_code", "implicit", "refresh_token", "password",
            "client_credentials", "urn:ietf:params:oauth:grant-type:device_code"],
        "response_types_supported": ["code", "none", "id_token", "token", "id_token token"],
        "subject_types_supported": ["public", "pairwise"],
        "id_token_signing_alg_values_supported": ["PS384", "ES384", "RS384", "ES256", "RS256", "RS512", "PS256", "PS512", "EdDSA"],
        "code_challenge_methods_supported": ["plain", "S256"],
        "device_authorization_endpoint": format!("{kc_oidc}/auth/device"),
        "mtls_endpoint_aliases": {"token_endpoint": format!("{kc_oidc}/token"),
            "introspection_endpoint": format!("{kc_oidc}/token/introspect")},
        "scopes_supported": ["openid", "profile", "email", "postgres", "offline_access"]});
    let v2 = format!("https://login.microsoftonline.com/{ENTRA_TENANT}/v2.0");
    let entra_doc = json!({
        "token_endpoint": format!("https://login.microsoftonline.com/{ENTRA_TENANT}/oauth2/v2.0/token"),
        "jwks_uri": format!("https://login.microsoftonline.com/{ENTRA_TENANT}/discovery/v2.0/keys"),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"], "id_token_signing_alg_values_supported": ["RS256"],
        "issuer": v2, "request_uri_parameter_supported": false,
        "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
        "tenant_region_scope": "EU", "cloud_instance_name": "microsoftonline.com"});
    let okta_iss = "https://dev-123456.okta.com/oauth2/default";
    let okta_doc = json!({"issuer": okta_iss,
        "authorization_endpoint": format!("{okta_iss}/v1/authorize"),
        "token_endpoint": format!("{okta_iss}/v1/token"), "userinfo_endpoint": format!("{okta_iss}/v1/userinfo"),
        "jwks_uri": format!("{okta_iss}/v1/keys"), "introspection_endpoint": format!("{okta_iss}/v1/introspect"),
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
        "revocation_endpoint": format!("{okta_iss}/v1/revoke")});
    let auth0_doc = json!({"issuer": "https://tenant.eu.auth0.com/",
        "jwks_uri": "https://tenant.eu.auth0.com/.well-known/jwks.json",
        "userinfo_endpoint": "https://tenant.eu.auth0.com/userinfo",
        "device_authorization_endpoint": "https://tenant.eu.auth0.com/oauth/device/code"});
    let cognito_iss = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEfGhI";
    let cognito_doc = json!({"issuer": cognito_iss, "jwks_uri": format!("{cognito_iss}/.well-known/jwks.json"),
        "userinfo_endpoint": "https://pg.auth.eu-west-1.amazoncognito.com/oauth2/userInfo",
        "token_endpoint": "https://pg.auth.eu-west-1.amazoncognito.com/oauth2/token"});
    let zitadel_doc = json!({"issuer": "https://pg-abc123.zitadel.cloud",
        "introspection_endpoint": "https://pg-abc123.zitadel.cloud/oauth/v2/introspect",
        "userinfo_endpoint": "https://pg-abc123.zitadel.cloud/oidc/v1/userinfo",
        "jwks_uri": "https://pg-abc123.zitadel.cloud/oauth/v2/keys"});
    let dex_doc = json!({"issuer": "https://dex.example.com", "jwks_uri": "https://dex.example.com/keys",
        "userinfo_endpoint": "https://dex.example.com/userinfo",
        "device_authorization_endpoint": "https://dex.example.com/device/code"});
    let demo = "http://127.0.0.1:8443/realms/demo";
    let demo_doc = json!({"issuer": demo, "jwks_uri": format!("{demo}/jwks"),
        "introspection_endpoint": format!("{demo}/token/introspection?x=1")});
    let ipv6_doc = json!({"issuer": "https://[::1]:8443", "jwks_uri": "https://[::1]:8443/jwks"});
    let docs: Vec<(&str, u8, Vec<u8>)> = vec![
        ("keycloak", sel(kc, false), bytes(&keycloak_doc)),
        ("entra-v2", sel(&v2, false), bytes(&entra_doc)),
        ("okta", sel(okta_iss, false), bytes(&okta_doc)),
        (
            "auth0",
            sel("https://tenant.eu.auth0.com/", false),
            bytes(&auth0_doc),
        ),
        ("cognito", sel(cognito_iss, false), bytes(&cognito_doc)),
        (
            "zitadel",
            sel("https://pg-abc123.zitadel.cloud", false),
            bytes(&zitadel_doc),
        ),
        (
            "dex",
            sel("https://dex.example.com", false),
            bytes(&dex_doc),
        ),
        ("demo-http", sel(demo, true), bytes(&demo_doc)),
        ("ipv6", sel("https://[::1]:8443", false), bytes(&ipv6_doc)),
        (
            "issuer-trailing-slash",
            sel("https://dex.example.com", false),
            bytes(
                &json!({"issuer": "https://dex.example.com/", "jwks_uri": "https://dex.example.com/keys"}),
            ),
        ),
        (
            "duplicate-escaped-issuer",
            sel("https://dex.example.com", false),
            br#"{"issuer":"https://dex.example.com","\u0069ssuer":"https://evil.example"}"#
                .to_vec(),
        ),
        (
            "jwks-http",
            sel("https://dex.example.com", false),
            bytes(
                &json!({"issuer": "https://dex.example.com", "jwks_uri": "http://dex.example.com/keys"}),
            ),
        ),
        (
            "jwks-userinfo",
            sel("https://dex.example.com", false),
            bytes(
                &json!({"issuer": "https://dex.example.com", "jwks_uri": "https://dex.example.com@evil.example/keys"}),
            ),
        ),
        (
            "jwks-dot-segment",
            sel("https://dex.example.com", false),
            bytes(
                &json!({"issuer": "https://dex.example.com", "jwks_uri": "https://dex.example.com/a/%2E%2e/keys"}),
            ),
        ),
        (
            "jwks-fragment",
            sel("https://dex.example.com", false),
            bytes(
                &json!({"issuer": "https://dex.example.com", "jwks_uri": "https://dex.example.com/keys#x"}),
            ),
        ),
        (
            "jwks-backslash",
            sel("https://dex.example.com", false),
            bytes(
                &json!({"issuer": "https://dex.example.com", "jwks_uri": "https://dex.example.com\\@evil/keys"}),
            ),
        ),
        (
            "deep-ignored",
            sel("https://dex.example.com", false),
            format!(
                r#"{{"issuer":"https://dex.example.com","x":{}1{}}}"#,
                "[".repeat(200),
                "]".repeat(200)
            )
            .into_bytes(),
        ),
        (
            "null-endpoints",
            sel("https://dex.example.com", false),
            br#"{"issuer":"https://dex.example.com","jwks_uri":null,"userinfo_endpoint":null}"#
                .to_vec(),
        ),
        (
            "bom",
            sel("https://dex.example.com", false),
            [&b"\xEF\xBB\xBF"[..], &bytes(&dex_doc)].concat(),
        ),
        // The same bytes also feed ProviderMetadata::from_bytes, IssuerTarget::from_hba and
        // KeySource::parse.
        (
            "encoded",
            0,
            ProviderMetadata::from_json(&bytes(&keycloak_doc), kc, false)
                .expect("keycloak metadata")
                .to_bytes(),
        ),
        ("hba-issuer", 0, kc.as_bytes().to_vec()),
        (
            "hba-oidc-well-known",
            0,
            format!("{kc}/.well-known/openid-configuration").into_bytes(),
        ),
        (
            "hba-rfc8414-well-known",
            0,
            b"https://kc.example.com/.well-known/oauth-authorization-server/realms/pg".to_vec(),
        ),
        (
            "hba-http",
            0x80,
            b"http://127.0.0.1:8443/realms/demo/.well-known/openid-configuration".to_vec(),
        ),
        (
            "hba-bad-suffix",
            0,
            b"https://kc.example.com/.well-known/jwks.json".to_vec(),
        ),
        (
            "keysource-file",
            0,
            b"file:/etc/postgresql/jwks.json".to_vec(),
        ),
        ("keysource-path", 0, b"/etc/postgresql/jwks.json".to_vec()),
    ];
    for (name, selector, body) in docs {
        let mut v = vec![selector];
        v.extend_from_slice(&body);
        out.seed("discovery", name, &v);
    }

    // --- jwks ---------------------------------------------------------------------------------
    let first = &jwks["keys"][0];
    let n = first["n"].as_str().expect("n").to_owned();
    let with = |edit: &dyn Fn(&mut Value)| {
        let mut k = first.clone();
        edit(&mut k);
        k
    };
    let fake_cert = b64([0x30u8, 0x82, 0x02, 0x0a, 0x02, 0x82, 0x02, 0x01, 0x00, 0xc4]);
    // A 2049-bit modulus that is a power of 65537: it carries the ROCA fingerprint.
    let mut roca_n: Vec<u8> = vec![1];
    for _ in 0..128 {
        let mut carry = 0u64;
        for byte in roca_n.iter_mut().rev() {
            let v = u64::from(*byte) * 65_537 + carry;
            *byte = (v & 0xff) as u8;
            carry = v >> 8;
        }
        while carry > 0 {
            roca_n.insert(0, (carry & 0xff) as u8);
            carry >>= 8;
        }
    }
    let ec_off_curve = {
        let mut k = jwks["keys"][1].clone();
        let mut y = URL_SAFE_NO_PAD
            .decode(k["y"].as_str().expect("y"))
            .expect("y bytes");
        y[31] ^= 1;
        k["y"] = json!(b64(&y));
        k
    };
    let mut ed_without_kid = jwks["keys"][3].clone();
    ed_without_kid
        .as_object_mut()
        .expect("object")
        .remove("kid");
    let jwks_docs: Vec<(&str, Vec<u8>)> = vec![
        ("fixture", bytes(&jwks)),
        (
            "entra",
            bytes(&json!({"keys": [
            with(&|k| { k["kid"] = json!("nOo3ZDrODXEK1jKWhXslHR_KXEg");
                k["x5t"] = json!("nOo3ZDrODXEK1jKWhXslHR_KXEg"); k["x5c"] = json!([fake_cert]);
                k["issuer"] = json!(format!("https://login.microsoftonline.com/{ENTRA_TENANT}/v2.0"));
                k.as_object_mut().expect("o").remove("alg"); }),
            with(&|k| { k["kid"] = json!("L1KfKFI_jnXbwWc22xZxw1sUHH0"); k["use"] = json!("sig");
                k.as_object_mut().expect("o").remove("alg"); })]})),
        ),
        (
            "keycloak-enc-and-sig",
            bytes(&json!({"keys": [
            with(&|k| { k["kid"] = json!("enc-1"); k["use"] = json!("enc"); k["alg"] = json!("RSA-OAEP"); }),
            first.clone()]})),
        ),
        (
            "key-ops",
            bytes(&json!({"keys": [
            with(&|k| { k["key_ops"] = json!(["verify"]); k.as_object_mut().expect("o").remove("use"); }),
            with(&|k| { k["kid"] = json!("enc"); k["key_ops"] = json!(["encrypt", "wrapKey"]); })]})),
        ),
        (
            "oct",
            br#"{"keys":[{"kty":"oct","kid":"hmac","k":"c2VjcmV0","alg":"HS256"}]}"#.to_vec(),
        ),
        (
            "roca",
            bytes(&json!({"keys": [with(&|k| k["n"] = json!(b64(&roca_n)))]})),
        ),
        (
            "rsa-1024",
            bytes(&json!({"keys": [with(&|k| k["n"] = json!(n[..171].to_owned()))]})),
        ),
        (
            "rsa-even-exponent",
            bytes(&json!({"keys": [with(&|k| k["e"] = json!("AQAA"))]})),
        ),
        (
            "rsa-exponent-1",
            bytes(&json!({"keys": [with(&|k| k["e"] = json!("AQ"))]})),
        ),
        (
            "rsa-leading-zero",
            bytes(&json!({"keys": [with(&|k| {
                let mut v = vec![0u8];
                v.extend(URL_SAFE_NO_PAD.decode(&n).expect("n"));
                k["n"] = json!(b64(&v));
            })]})),
        ),
        (
            "rsa-alg-es256",
            bytes(&json!({"keys": [with(&|k| k["alg"] = json!("ES256"))]})),
        ),
        ("ec-off-curve", bytes(&json!({"keys": [ec_off_curve]}))),
        (
            "ec-p521",
            br#"{"keys":[{"kty":"EC","crv":"P-521","kid":"p521","x":"AQ","y":"AQ"}]}"#.to_vec(),
        ),
        (
            "okp-ed448",
            br#"{"keys":[{"kty":"OKP","crv":"Ed448","kid":"ed448","x":"AQ"}]}"#.to_vec(),
        ),
        (
            "duplicate-kid",
            bytes(&json!({"keys": [first.clone(), first.clone()]})),
        ),
        (
            "long-kid",
            bytes(&json!({"keys": [with(&|k| k["kid"] = json!("k".repeat(257)))]})),
        ),
        ("no-kid", bytes(&json!({"keys": [ed_without_kid]}))),
        ("too-many", bytes(&json!({"keys": vec![json!({}); 101]}))),
        ("keys-object", br#"{"keys":{"kty":"RSA"}}"#.to_vec()),
        (
            "duplicate-member",
            br#"{"keys":[{"kty":"RSA","kty":"oct"}]}"#.to_vec(),
        ),
        (
            "deep",
            format!(r#"{{"keys":[],"x":{}{}}}"#, "[".repeat(40), "]".repeat(40)).into_bytes(),
        ),
        (
            "entries-not-objects",
            br#"{"keys":[1,"x",null,[],{}]}"#.to_vec(),
        ),
    ];
    for (name, body) in &jwks_docs {
        out.seed("jwks", name, body);
    }

    // --- json -----------------------------------------------------------------------------
    let mut json_seeds: Vec<(String, Vec<u8>)> = vec![
        ("header".into(), br#"{"alg":"RS256","typ":"at+jwt","kid":"rsa-1"}"#.to_vec()),
        ("claims-keycloak".into(), bytes(&provider_tokens()[2].3)),
        ("claims-zitadel".into(), bytes(&provider_tokens()[10].3)),
        ("jwks".into(), bytes(&jwks)),
        ("discovery".into(), bytes(&dex_doc)),
        ("escapes".into(), br#"{"a":"\u0000\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00","b":"\u0061"}"#.to_vec()),
        ("lone-surrogate".into(), br#"{"a":"\udc00x"}"#.to_vec()),
        ("numbers".into(), br#"[0,-0,1.5,-1e-7,1E400,18446744073709551615,18446744073709551616,-9223372036854775808,1.7976931348623157e308]"#.to_vec()),
        ("duplicate-nested".into(), br#"{"a":[{"x":1,"y":{"z":1,"z":2}}]}"#.to_vec()),
        ("duplicate-escaped".into(), br#"{"a":1,"\u0061":2}"#.to_vec()),
        ("bom".into(), b"\xEF\xBB\xBF{}".to_vec()),
        ("invalid-utf8".into(), b"{\"a\":\"\xc3\"}".to_vec()),
        ("trailing".into(), b"{} {}".to_vec()),
        ("depth-32".into(), format!("{}{}", "[".repeat(32), "]".repeat(32)).into_bytes()),
        ("depth-33".into(), format!("{}{}", "[".repeat(33), "]".repeat(33)).into_bytes()),
        ("deep-objects".into(), format!("{}1{}", r#"{"a":"#.repeat(130), "}".repeat(130)).into_bytes()),
        ("scalars".into(), b"[true,false,null,\"\"]".to_vec()),
    ];
    json_seeds.push(("whitespace".into(), b" \t\r\n{ \"a\" : [ ] }\n".to_vec()));
    for (name, body) in &json_seeds {
        out.seed("json", name, body);
    }

    eprintln!(
        "gen_corpus: {} seed files, {} bytes; {} signed tokens",
        out.count,
        out.bytes,
        out.signed.len()
    );
}
