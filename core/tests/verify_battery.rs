//! Security battery §4 A (positive controls), B (format and parsing) and C (algorithm, header
//! and key selection), at the level of `verify_jwt`. Test names carry the battery item number.

mod common;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::KeyPair;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use common::*;
use jsonwebtoken::Algorithm;
use pg_bearer_core::envelope::{self, MAX_HEADER_LEN, MAX_TOKEN_LEN};
use pg_bearer_core::policy::{verify_jwt, TypPolicy};
use pg_bearer_core::reason::Reason;
use serde_json::json;

// ---------------------------------------------------------------------------------------
// A. Positive controls
// ---------------------------------------------------------------------------------------

#[test]
fn a01_baseline_tokens_of_every_allowed_family_verify() {
    let ps256 = {
        let header = json!({"alg": "PS256", "typ": "at+jwt", "kid": "rsa-ps"});
        jws_raw(
            &RSA,
            Algorithm::PS256,
            header.to_string().as_bytes(),
            base_claims().to_string().as_bytes(),
        )
    };
    let cases = [
        ("RS256", token_with(&RSA, |_| {}), Some("rsa-1")),
        ("PS256", ps256, Some("rsa-ps")),
        ("ES256", token_with(&EC256, |_| {}), Some("ec-256")),
        ("ES384", token_with(&EC384, |_| {}), Some("ec-384")),
        ("EdDSA", token_with(&ED, |_| {}), Some("ed-1")),
    ];
    for (label, token, kid) in cases {
        let v = verify(&token).unwrap_or_else(|r| panic!("{label}: {r:?}"));
        assert_eq!(v.authn_id, "alice", "{label}");
        assert_eq!(v.kid.as_deref(), kid, "{label}");
        assert_eq!(v.exp, NOW + 300, "{label}");
        assert!(envelope::looks_like_jws(&token), "{label}");
    }
}

#[test]
fn a01_rsa_key_without_alg_verifies_every_rsa_algorithm() {
    let mut jwk = RSA.jwk.clone();
    jwk.as_object_mut().unwrap().remove("alg");
    let keys = key_set(&[jwk]);
    for (alg, name) in [
        (Algorithm::RS256, "RS256"),
        (Algorithm::RS384, "RS384"),
        (Algorithm::RS512, "RS512"),
        (Algorithm::PS256, "PS256"),
        (Algorithm::PS384, "PS384"),
        (Algorithm::PS512, "PS512"),
    ] {
        let header = json!({"alg": name, "kid": "rsa-1"});
        let token = jws_raw(
            &RSA,
            alg,
            header.to_string().as_bytes(),
            base_claims().to_string().as_bytes(),
        );
        let v = verify_jwt(&request(&token), &keys, &policy())
            .unwrap_or_else(|r| panic!("{name}: {r:?}"));
        assert_eq!(v.alg, alg);
    }
}

#[test]
fn a02_audience_array_containing_ours_is_accepted() {
    let token = token_with(&RSA, |c| c["aud"] = json!(["account", AUD, "other"]));
    assert_eq!(verify(&token).unwrap().authn_id, "alice");
}

#[test]
fn a03_rotated_key_is_unknown_until_the_key_set_is_refetched() {
    let old = key_set(std::slice::from_ref(&EC256.jwk));
    let token = token_with(&RSA, |_| {});
    let kid = envelope::header_kid(&token).unwrap().unwrap();
    assert!(!old.contains_kid(&kid));
    let r = verify_jwt(&request(&token), &old, &policy()).unwrap_err();
    assert_eq!(r.reason, Reason::UnknownKid);
    let refetched = key_set(&[EC256.jwk.clone(), RSA.jwk.clone()]);
    assert!(refetched.contains_kid(&kid));
    assert!(verify_jwt(&request(&token), &refetched, &policy()).is_ok());
}

#[test]
fn a04_token_without_kid_verifies_when_exactly_one_key_fits_its_alg() {
    // The default set has one RS256 key and one PS256-bound key: RS256 selects exactly one.
    for key in [&*RSA, &*EC256, &*EC384, &*ED] {
        let token = token_with_header(key, |h| {
            h.as_object_mut().unwrap().remove("kid");
        });
        let v = verify(&token).unwrap_or_else(|r| panic!("{:?}: {r:?}", key.alg));
        assert_eq!(v.kid, None);
    }
}

#[test]
fn a_x5t_thumbprint_headers_are_harmless_hints() {
    let token = token_with_header(&RSA, |h| {
        h["x5t"] = json!("nOo3ZDrODXEK1jKWhXslHR_KXEg");
        h["x5t#S256"] = json!("a2V5LXRodW1icHJpbnQ");
    });
    assert!(verify(&token).is_ok());
}

// ---------------------------------------------------------------------------------------
// B. Format / parsing
// ---------------------------------------------------------------------------------------

#[test]
fn b06_wrong_segment_counts_are_malformed_envelopes() {
    let good = token_with(&RSA, |_| {});
    let parts: Vec<&str> = good.split('.').collect();
    let (h, p, s) = (parts[0], parts[1], parts[2]);
    assert_all_rejected(
        Reason::MalformedEnvelope,
        &[
            ("empty", String::new()),
            ("one segment", h.to_owned()),
            ("two segments", format!("{h}.{p}")),
            ("trailing dot", format!("{good}.")),
            ("four segments", format!("{good}.{s}")),
            ("five segments", format!("{h}.{p}.{s}.{s}.{s}")),
            ("leading dot", format!(".{good}")),
            ("empty payload", format!("{h}..{s}")),
            ("empty signature", format!("{h}.{p}.")),
            ("empty header", format!(".{p}.{s}")),
            ("only dots", "..".to_owned()),
        ],
    );
}

#[test]
fn b07_jwe_compact_and_jws_json_serialization_are_refused() {
    let jwe_header = b64(r#"{"alg":"RSA-OAEP","enc":"A256GCM","kid":"rsa-1"}"#);
    let jwe = format!(
        "{jwe_header}.{}.{}.{}.{}",
        b64("k"),
        b64("iv"),
        b64("ct"),
        b64("tag")
    );
    let good = token_with(&RSA, |_| {});
    let parts: Vec<&str> = good.split('.').collect();
    let json_serialization =
        json!({"payload": parts[1], "protected": parts[0], "signature": parts[2]}).to_string();
    let general = json!({"payload": parts[1], "signatures": [{"protected": parts[0], "signature": parts[2]}]})
        .to_string();
    assert_all_rejected(
        Reason::MalformedEnvelope,
        &[
            ("JWE compact", jwe),
            ("flattened JSON", json_serialization),
            ("general JSON", general),
        ],
    );
}

/// Sets non-zero trailing bits in the last character of a base64url segment whose length is
/// not a multiple of 4 (the decoded value may stay the same in lenient decoders).
fn with_trailing_bits(segment: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    assert_ne!(segment.len() % 4, 0);
    let last = *segment.as_bytes().last().unwrap();
    let v = ALPHABET.iter().position(|&c| c == last).unwrap();
    let mut s = segment[..segment.len() - 1].to_owned();
    s.push(ALPHABET[v | 1] as char);
    assert_ne!(s, segment, "last character already had trailing bits");
    s
}

#[test]
fn b08_non_canonical_base64url_is_refused() {
    // ES256: 64-byte signature = 86 chars with 4 trailing bits; header/payload lengths vary.
    let good = token_with(&EC256, |_| {});
    let parts: Vec<&str> = good.split('.').collect();
    let (h, p, s) = (parts[0], parts[1], parts[2]);
    let std_payload = STANDARD.encode(b64_decode(p)).replace('=', "");
    let mut cases = vec![
        ("padding on signature", format!("{h}.{p}.{s}==")),
        ("padding on header", format!("{h}=.{p}.{s}")),
        (
            "space in payload",
            format!("{h}.{} {}.{s}", &p[..10], &p[10..]),
        ),
        (
            "newline in signature",
            format!("{h}.{p}.{}\n{}", &s[..10], &s[10..]),
        ),
        ("asterisk", format!("{h}.{p}.{}*", &s[..s.len() - 1])),
        ("percent-encoded", format!("{h}.{p}.{}%3D", s)),
        ("plus in signature", format!("{h}.{p}.+{}", &s[1..])),
        ("slash in signature", format!("{h}.{p}./{}", &s[1..])),
        (
            "signature trailing bits",
            format!("{h}.{p}.{}", with_trailing_bits(s)),
        ),
        ("signature of 1 char", format!("{h}.{p}.A")),
    ];
    if std_payload != p {
        cases.push((
            "standard alphabet payload",
            format!("{h}.{std_payload}.{s}"),
        ));
    }
    if p.len() % 4 != 0 {
        cases.push((
            "payload trailing bits",
            format!("{h}.{}.{s}", with_trailing_bits(p)),
        ));
    }
    let cases: Vec<(&str, String)> = cases;
    assert_all_rejected(Reason::MalformedEnvelope, &cases);
}

fn b64_decode(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .unwrap()
}

#[test]
fn b08_standard_alphabet_characters_are_refused_even_when_decodable() {
    // A header whose url-safe encoding contains '-' or '_'; swapping to '+' / '/' must fail.
    let header = br#"{"alg":"RS256","kid":"rsa-1","typ":"at+jwt","x":">>>???"}"#;
    let token = jws_raw(
        &RSA,
        Algorithm::RS256,
        header,
        base_claims().to_string().as_bytes(),
    );
    let h = token.split('.').next().unwrap();
    assert!(h.contains('-') || h.contains('_'));
    assert!(verify(&token).is_ok());
    let swapped = token.replacen(h, &h.replace('-', "+").replace('_', "/"), 1);
    assert_eq!(reason(&swapped), Reason::MalformedEnvelope);
}

#[test]
fn b09_header_that_is_not_a_utf8_json_object_is_malformed() {
    let claims = base_claims().to_string();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("array", b"[\"RS256\"]".to_vec()),
        ("string", b"\"RS256\"".to_vec()),
        ("number", b"1".to_vec()),
        ("null", b"null".to_vec()),
        ("not json", b"alg=RS256".to_vec()),
        (
            "bom",
            b"\xEF\xBB\xBF{\"alg\":\"RS256\",\"kid\":\"rsa-1\"}".to_vec(),
        ),
        (
            "invalid utf-8",
            b"{\"alg\":\"RS256\",\"kid\":\"rsa-1\",\"x\":\"\xff\xfe\"}".to_vec(),
        ),
        (
            "overlong utf-8",
            b"{\"alg\":\"RS256\",\"kid\":\"rsa-1\",\"x\":\"\xc0\xaf\"}".to_vec(),
        ),
        (
            "lone surrogate",
            br#"{"alg":"RS256","kid":"rsa-1","x":"\ud800"}"#.to_vec(),
        ),
        (
            "trailing garbage",
            br#"{"alg":"RS256","kid":"rsa-1"}x"#.to_vec(),
        ),
        (
            "trailing comma",
            br#"{"alg":"RS256","kid":"rsa-1",}"#.to_vec(),
        ),
        ("alg missing", br#"{"kid":"rsa-1"}"#.to_vec()),
        ("alg number", br#"{"alg":256,"kid":"rsa-1"}"#.to_vec()),
        ("alg array", br#"{"alg":["RS256"],"kid":"rsa-1"}"#.to_vec()),
        ("alg null", br#"{"alg":null,"kid":"rsa-1"}"#.to_vec()),
        ("kid number", br#"{"alg":"RS256","kid":1}"#.to_vec()),
        ("kid empty", br#"{"alg":"RS256","kid":""}"#.to_vec()),
        ("kid array", br#"{"alg":"RS256","kid":["rsa-1"]}"#.to_vec()),
        (
            "typ number",
            br#"{"alg":"RS256","kid":"rsa-1","typ":1}"#.to_vec(),
        ),
    ];
    let cases: Vec<(&str, String)> = cases
        .into_iter()
        .map(|(l, h)| (l, jws_raw(&RSA, Algorithm::RS256, &h, claims.as_bytes())))
        .collect();
    assert_all_rejected(Reason::MalformedHeader, &cases);
}

#[test]
fn b09_payload_that_is_not_a_utf8_json_object_is_malformed_even_when_signed() {
    let header = header_for(&RSA).to_string();
    let good = base_claims().to_string();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("array", b"[]".to_vec()),
        ("string", b"\"alice\"".to_vec()),
        ("text", b"It's a dangerous business".to_vec()),
        ("empty object then garbage", b"{}{}".to_vec()),
        (
            "bom",
            [b"\xEF\xBB\xBF".as_slice(), good.as_bytes()].concat(),
        ),
        (
            "utf-16",
            good.encode_utf16().flat_map(u16::to_le_bytes).collect(),
        ),
        (
            "invalid utf-8",
            good.replace("alice", "al~ce")
                .into_bytes()
                .into_iter()
                .map(|b| if b == b'~' { 0xFF } else { b })
                .collect(),
        ),
        (
            "truncated utf-8",
            good.replace("alice", "al~ce")
                .into_bytes()
                .into_iter()
                .map(|b| if b == b'~' { 0xC3 } else { b })
                .collect(),
        ),
        (
            "lone surrogate in another claim",
            good.replacen('{', r#"{"note":"\udc00","#, 1).into_bytes(),
        ),
        (
            "deep nesting",
            good.replacen(
                '{',
                &format!(r#"{{"x":{}1{},"#, "[".repeat(1000), "]".repeat(1000)),
                1,
            )
            .into_bytes(),
        ),
    ];
    let cases: Vec<(&str, String)> = cases
        .into_iter()
        .map(|(l, p)| (l, jws_raw(&RSA, Algorithm::RS256, header.as_bytes(), &p)))
        .collect();
    assert_all_rejected(Reason::MalformedPayload, &cases);
}

#[test]
fn b10_duplicate_header_members_are_refused() {
    let claims = base_claims().to_string();
    let cases: Vec<(&str, String)> = [
        (
            "alg none then RS256",
            r#"{"alg":"none","alg":"RS256","kid":"rsa-1"}"#,
        ),
        (
            "alg twice, same value",
            r#"{"alg":"RS256","alg":"RS256","kid":"rsa-1"}"#,
        ),
        (
            "kid twice",
            r#"{"alg":"RS256","kid":"other","kid":"rsa-1"}"#,
        ),
        (
            "typ twice",
            r#"{"alg":"RS256","kid":"rsa-1","typ":"id_token+jwt","typ":"at+jwt"}"#,
        ),
        (
            "escaped duplicate",
            r#"{"alg":"RS256","\u0061lg":"RS256","kid":"rsa-1"}"#,
        ),
        (
            "nested duplicate",
            r#"{"alg":"RS256","kid":"rsa-1","ext":{"a":1,"a":2}}"#,
        ),
    ]
    .into_iter()
    .map(|(l, h)| {
        (
            l,
            jws_raw(&RSA, Algorithm::RS256, h.as_bytes(), claims.as_bytes()),
        )
    })
    .collect();
    assert_all_rejected(Reason::DuplicateMember, &cases);
}

#[test]
fn b11_duplicate_claims_are_refused_even_when_signed() {
    let header = header_for(&RSA).to_string();
    let base = base_claims().to_string();
    let dup = |extra: &str| base.replacen('{', &format!("{{{extra},"), 1);
    let cases: Vec<(&str, String)> = [
        ("exp", dup(&format!(r#""exp":{}"#, NOW + 100_000))),
        ("aud", dup(r#""aud":"https://other.example""#)),
        ("sub", dup(r#""sub":"postgres""#)),
        ("iss", dup(r#""iss":"https://evil.example""#)),
        ("scope", dup(r#""scope":"postgres admin""#)),
        ("escaped sub", dup(r#""\u0073ub":"postgres""#)),
        (
            "nested",
            dup(r#""realm_access":{"roles":["a"],"roles":["postgres"]}"#),
        ),
    ]
    .into_iter()
    .map(|(l, c)| {
        (
            l,
            jws_raw(&RSA, Algorithm::RS256, header.as_bytes(), c.as_bytes()),
        )
    })
    .collect();
    assert_all_rejected(Reason::DuplicateMember, &cases);

    // A duplicated custom identity claim: jsonwebtoken would keep the last one.
    let mut p = policy();
    p.identity_claim = pg_bearer_core::claims::ClaimPath::parse("preferred_username").unwrap();
    let claims = dup(r#""preferred_username":"alice","preferred_username":"postgres""#);
    let token = jws_raw(&RSA, Algorithm::RS256, header.as_bytes(), claims.as_bytes());
    let r = verify_with(&token, &p).unwrap_err();
    assert_eq!(r.reason, Reason::DuplicateMember);
    assert_eq!(r.identity, None);
}

#[test]
fn b12_oversized_tokens_and_headers_are_refused_before_decoding() {
    let good = token_with(&RSA, |_| {});
    let parts: Vec<&str> = good.split('.').collect();
    let big_claims = base_claims().to_string().replacen(
        '{',
        &format!(r#"{{"pad":"{}","#, "x".repeat(64 * 1024)),
        1,
    );
    let big_kid_header = json!({"alg": "RS256", "kid": "k".repeat(10 * 1024)}).to_string();
    assert_all_rejected(
        Reason::TokenTooLarge,
        &[
            (
                "64 KiB token",
                jws_raw(
                    &RSA,
                    Algorithm::RS256,
                    header_for(&RSA).to_string().as_bytes(),
                    big_claims.as_bytes(),
                ),
            ),
            ("64 KiB of A", "A".repeat(64 * 1024)),
            ("50 000 dots", ".".repeat(50_000)),
            (
                "10 KiB header",
                jws_raw(&RSA, Algorithm::RS256, big_kid_header.as_bytes(), b"{}"),
            ),
            (
                "header one byte over",
                format!(
                    "{}.{}.{}",
                    "A".repeat(MAX_HEADER_LEN + 1),
                    parts[1],
                    parts[2]
                ),
            ),
            (
                "token one byte over",
                format!("{good}{}", "A".repeat(MAX_TOKEN_LEN + 1 - good.len())),
            ),
        ],
    );
}

#[test]
fn b12_many_dots_within_the_size_cap_are_a_malformed_envelope() {
    // Under the length cap, splitting stops at the fourth segment (CVE-2025-30204 split the
    // whole token): a token of dots, or a valid token followed by thousands of dots, is
    // refused as an envelope of the wrong shape.
    let good = token_with(&RSA, |_| {});
    let dots_after = format!("{good}{}", ".".repeat(MAX_TOKEN_LEN - good.len()));
    assert_eq!(dots_after.len(), MAX_TOKEN_LEN);
    let dots_inside = {
        let (h, rest) = good.split_once('.').unwrap();
        format!("{h}.{}{rest}", ".".repeat(10_000))
    };
    assert_all_rejected(
        Reason::MalformedEnvelope,
        &[
            ("16 KiB of dots", ".".repeat(MAX_TOKEN_LEN)),
            ("valid token then dots up to the cap", dots_after),
            ("10 000 dots after the header", dots_inside),
            (
                "dot-separated single characters",
                "A.".repeat(MAX_TOKEN_LEN / 2),
            ),
        ],
    );
}

#[test]
fn b12_size_limits_are_inclusive() {
    // Exactly MAX_TOKEN_LEN with a valid shape passes the size gate (and fails later).
    let good = token_with(&RSA, |_| {});
    let padded = format!("{good}{}", "A".repeat(MAX_TOKEN_LEN - good.len()));
    assert_eq!(padded.len(), MAX_TOKEN_LEN);
    assert_ne!(reason(&padded), Reason::TokenTooLarge);
    let parts: Vec<&str> = good.split('.').collect();
    let header = format!(
        "{}{}",
        parts[0],
        "A".repeat(MAX_HEADER_LEN - parts[0].len())
    );
    let t = format!("{header}.{}.{}", parts[1], parts[2]);
    assert_ne!(reason(&t), Reason::TokenTooLarge);
}

#[test]
fn b13_deeply_nested_json_is_refused_without_overflowing_the_stack() {
    let claims = base_claims().to_string();
    let deep_header = format!(
        r#"{{"alg":"RS256","kid":"rsa-1","x":{}1{}}}"#,
        "[".repeat(600),
        "]".repeat(600)
    );
    let t = jws_raw(
        &RSA,
        Algorithm::RS256,
        deep_header.as_bytes(),
        claims.as_bytes(),
    );
    // 600 levels fit in the 2 KiB header limit only as raw brackets; either refusal is fine,
    // but it must be a refusal of the header.
    assert!(matches!(
        reason(&t),
        Reason::MalformedHeader | Reason::TokenTooLarge
    ));
    let deep_header = format!(
        r#"{{"alg":"RS256","kid":"rsa-1","x":{}1{}}}"#,
        "[".repeat(200),
        "]".repeat(200)
    );
    let t = jws_raw(
        &RSA,
        Algorithm::RS256,
        deep_header.as_bytes(),
        claims.as_bytes(),
    );
    assert_eq!(reason(&t), Reason::MalformedHeader);

    let header = header_for(&RSA).to_string();
    let nest = |depth: usize| {
        // The claims object is depth 1; `depth - 1` arrays inside it.
        claims.replacen(
            '{',
            &format!(
                r#"{{"deep":{}{},"#,
                "[".repeat(depth - 1),
                "]".repeat(depth - 1)
            ),
            1,
        )
    };
    let ok = jws_raw(
        &RSA,
        Algorithm::RS256,
        header.as_bytes(),
        nest(32).as_bytes(),
    );
    assert!(verify(&ok).is_ok(), "depth 32 is allowed");
    for depth in [33, 129, 1000, 5000] {
        let t = jws_raw(
            &RSA,
            Algorithm::RS256,
            header.as_bytes(),
            nest(depth).as_bytes(),
        );
        assert_eq!(reason(&t), Reason::MalformedPayload, "depth {depth}");
    }
}

// ---------------------------------------------------------------------------------------
// C. Algorithm, header and key selection
// ---------------------------------------------------------------------------------------

fn unsigned(header: &str) -> (String, String) {
    let input = format!("{}.{}", b64(header), b64(base_claims().to_string()));
    (input.clone(), format!("{input}."))
}

#[test]
fn c14_alg_none_in_any_spelling_is_refused() {
    let mut cases = Vec::new();
    for alg in ["none", "None", "NONE", "nOnE", "", " none", "none "] {
        let header = json!({"alg": alg, "kid": "rsa-1", "typ": "at+jwt"}).to_string();
        let (input, empty_sig) = unsigned(&header);
        let real_sig = format!(
            "{input}.{}",
            b64(sign(&RSA, Algorithm::RS256, input.as_bytes()))
        );
        assert_eq!(
            reason(&empty_sig),
            Reason::MalformedEnvelope,
            "{alg:?} with empty signature"
        );
        cases.push((alg, real_sig));
        cases.push((alg, format!("{input}.{}", b64("x"))));
    }
    let cases: Vec<(&str, String)> = cases;
    assert_all_rejected(Reason::AlgNotAllowed, &cases);
}

#[test]
fn c15_hmac_signed_with_the_public_key_bytes_is_refused() {
    let rsa_public = match &RSA.private {
        Private::Rsa(pair) => pair.public_key(),
        _ => unreachable!(),
    };
    let spki = rsa_public.as_der().unwrap().as_ref().to_vec();
    let pkcs1 = rsa_public.as_ref().to_vec();
    let pem = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        STANDARD
            .encode(&spki)
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect::<Vec<_>>()
            .join("\n")
    );
    let n_e = [
        b64_decode(RSA.jwk["n"].as_str().unwrap()),
        b64_decode(RSA.jwk["e"].as_str().unwrap()),
    ]
    .concat();
    let jwk_json = RSA.jwk.to_string();
    let ec_point = match &EC256.private {
        Private::Ec(pair, _) => pair.public_key().as_ref().to_vec(),
        _ => unreachable!(),
    };
    let secrets: Vec<(&str, Vec<u8>)> = vec![
        ("SPKI DER", spki),
        ("PKCS#1 DER", pkcs1),
        ("PEM", pem.clone().into_bytes()),
        ("PEM without newline", pem.trim_end().as_bytes().to_vec()),
        ("n||e", n_e),
        (
            "n as base64url text",
            RSA.jwk["n"].as_str().unwrap().as_bytes().to_vec(),
        ),
        ("JWK JSON", jwk_json.into_bytes()),
        ("EC point", ec_point),
    ];
    let mut cases = Vec::new();
    for (label, secret) in &secrets {
        for (alg, name, kid) in [
            (Algorithm::HS256, "HS256", "rsa-1"),
            (Algorithm::HS384, "HS384", "rsa-1"),
            (Algorithm::HS512, "HS512", "ec-256"),
        ] {
            let header = json!({"alg": name, "kid": kid, "typ": "at+jwt"}).to_string();
            let input = format!("{}.{}", b64(&header), b64(base_claims().to_string()));
            let sig = hmac(alg, secret, input.as_bytes());
            cases.push((*label, format!("{input}.{}", b64(sig))));
        }
    }
    assert_all_rejected(Reason::AlgNotAllowed, &cases);

    // Even a policy that tried to allow HS256 refuses everything.
    let mut p = policy();
    p.algorithms.push(Algorithm::HS256);
    assert_eq!(
        verify_with(&cases[0].1, &p).unwrap_err().reason,
        Reason::NotConfigured
    );
    assert_eq!(
        verify_with(&token_with(&RSA, |_| {}), &p)
            .unwrap_err()
            .reason,
        Reason::NotConfigured
    );
}

#[test]
fn c16_algorithms_off_the_allow_list_are_refused_before_key_lookup() {
    let mut only_rs256 = policy();
    only_rs256.algorithms = vec![Algorithm::RS256];
    let rs384 = {
        let header = json!({"alg": "RS384", "kid": "no-such-kid"}).to_string();
        jws_raw(
            &RSA,
            Algorithm::RS384,
            header.as_bytes(),
            base_claims().to_string().as_bytes(),
        )
    };
    let r = verify_with(&rs384, &only_rs256).unwrap_err();
    assert_eq!(
        r.reason,
        Reason::AlgNotAllowed,
        "checked before the unknown kid"
    );
    let ed = token_with(&ED, |_| {});
    assert!(verify(&ed).is_ok());
    assert_eq!(
        verify_with(&ed, &only_rs256).unwrap_err().reason,
        Reason::AlgNotAllowed
    );
    let es = token_with(&EC256, |_| {});
    assert_eq!(
        verify_with(&es, &only_rs256).unwrap_err().reason,
        Reason::AlgNotAllowed
    );

    let mut cases = Vec::new();
    for alg in [
        "ES512",
        "rs256",
        "Rs256",
        "RS256 ",
        "ES256K",
        "Ed25519",
        "EdDSA25519",
        "RSA-OAEP",
        "dir",
        "PS257",
    ] {
        let header = json!({"alg": alg, "kid": "rsa-1"}).to_string();
        cases.push((
            alg,
            jws_raw(
                &RSA,
                Algorithm::RS256,
                header.as_bytes(),
                base_claims().to_string().as_bytes(),
            ),
        ));
    }
    assert_all_rejected(Reason::AlgNotAllowed, &cases);
}

fn retarget(key: &TestKey, alg: Algorithm, alg_name: &str, kid: &str) -> String {
    let header = json!({"alg": alg_name, "kid": kid, "typ": "at+jwt"}).to_string();
    jws_raw(
        key,
        alg,
        header.as_bytes(),
        base_claims().to_string().as_bytes(),
    )
}

#[test]
fn c17_header_alg_must_match_the_selected_keys_alg_and_curve() {
    assert_all_rejected(
        Reason::KeyAlgMismatch,
        &[
            (
                "PS256 on RS256 key",
                retarget(&RSA, Algorithm::PS256, "PS256", "rsa-1"),
            ),
            (
                "RS512 on RS256 key",
                retarget(&RSA, Algorithm::RS512, "RS512", "rsa-1"),
            ),
            (
                "RS256 on PS256 key",
                retarget(&RSA, Algorithm::RS256, "RS256", "rsa-ps"),
            ),
            (
                "ES256 on P-384 key",
                retarget(&EC256, Algorithm::ES256, "ES256", "ec-384"),
            ),
            (
                "ES384 on P-256 key",
                retarget(&EC384, Algorithm::ES384, "ES384", "ec-256"),
            ),
            (
                "EdDSA on RSA key",
                retarget(&ED, Algorithm::EdDSA, "EdDSA", "rsa-1"),
            ),
            (
                "RS256 on EC key",
                retarget(&RSA, Algorithm::RS256, "RS256", "ec-256"),
            ),
            (
                "ES256 on Ed25519 key",
                retarget(&EC256, Algorithm::ES256, "ES256", "ed-1"),
            ),
        ],
    );
    // Without a JWK alg the curve binds: P-256 verifies ES256 only.
    let mut jwk = EC256.jwk.clone();
    jwk.as_object_mut().unwrap().remove("alg");
    let keys = key_set(&[jwk]);
    let es384 = retarget(&EC384, Algorithm::ES384, "ES384", "ec-256");
    assert_eq!(
        verify_jwt(&request(&es384), &keys, &policy())
            .unwrap_err()
            .reason,
        Reason::KeyAlgMismatch
    );
    let es256 = token_with(&EC256, |_| {});
    assert!(verify_jwt(&request(&es256), &keys, &policy()).is_ok());
}

fn with_member(jwk: &serde_json::Value, name: &str, value: serde_json::Value) -> serde_json::Value {
    let mut jwk = jwk.clone();
    jwk[name] = value;
    jwk
}

#[test]
fn c18_keys_not_meant_for_verification_are_never_used() {
    let unusable = [
        ("use enc", with_member(&RSA.jwk, "use", json!("enc"))),
        ("use SIG", with_member(&RSA.jwk, "use", json!("SIG"))),
        ("use number", with_member(&RSA.jwk, "use", json!(1))),
        (
            "key_ops encrypt",
            with_member(&RSA.jwk, "key_ops", json!(["encrypt", "wrapKey"])),
        ),
        (
            "key_ops sign only",
            with_member(&RSA.jwk, "key_ops", json!(["sign"])),
        ),
        (
            "key_ops string",
            with_member(&RSA.jwk, "key_ops", json!("verify")),
        ),
        (
            "key_ops mixed",
            with_member(&RSA.jwk, "key_ops", json!(["verify", 1])),
        ),
        ("key_ops empty", with_member(&RSA.jwk, "key_ops", json!([]))),
        (
            "alg RSA-OAEP",
            with_member(&RSA.jwk, "alg", json!("RSA-OAEP")),
        ),
        ("alg HS256", with_member(&RSA.jwk, "alg", json!("HS256"))),
        (
            "kty oct",
            json!({"kty": "oct", "kid": "rsa-1", "k": b64(b"0123456789abcdef0123456789abcdef")}),
        ),
        (
            "kty oct with alg",
            json!({"kty": "oct", "kid": "rsa-1", "alg": "HS256", "use": "sig", "k": b64(b"secret")}),
        ),
        ("kty lowercase", with_member(&RSA.jwk, "kty", json!("rsa"))),
        ("kty unknown", with_member(&RSA.jwk, "kty", json!("AKP"))),
    ];
    let token = token_with(&RSA, |_| {});
    for (label, jwk) in &unusable {
        let keys = key_set(std::slice::from_ref(jwk));
        assert_eq!(keys.keys().len(), 0, "{label}");
        assert_eq!(keys.skipped(), 1, "{label}");
        let r = verify_jwt(&request(&token), &keys, &policy()).unwrap_err();
        assert_eq!(r.reason, Reason::UnknownKid, "{label}");
    }
    // key_ops with verify among others, and use sig, stay usable.
    let ok = with_member(&RSA.jwk, "key_ops", json!(["sign", "verify"]));
    assert!(verify_jwt(&request(&token), &key_set(&[ok]), &policy()).is_ok());

    // An HMAC token against a set holding a symmetric key is refused by alg.
    let header = json!({"alg": "HS256", "kid": "hmac"}).to_string();
    let input = format!("{}.{}", b64(&header), b64(base_claims().to_string()));
    let sig = hmac(
        Algorithm::HS256,
        b"0123456789abcdef0123456789abcdef",
        input.as_bytes(),
    );
    let oct = json!({"kty": "oct", "kid": "hmac", "k": b64(b"0123456789abcdef0123456789abcdef")});
    let keys = key_set(&[oct, RSA.jwk.clone()]);
    let r = verify_jwt(&request(&format!("{input}.{}", b64(sig))), &keys, &policy()).unwrap_err();
    assert_eq!(r.reason, Reason::AlgNotAllowed);
}

#[test]
fn c19_duplicate_kid_among_usable_keys_is_ambiguous() {
    let mut other = RSA_OTHER.jwk.clone();
    other["kid"] = json!("rsa-1");
    let token = token_with(&RSA, |_| {});
    for keys in [
        key_set(&[RSA.jwk.clone(), other.clone()]),
        key_set(&[other.clone(), RSA.jwk.clone()]),
        key_set(&[RSA.jwk.clone(), RSA.jwk.clone()]),
    ] {
        let r = verify_jwt(&request(&token), &keys, &policy()).unwrap_err();
        assert_eq!(r.reason, Reason::AmbiguousKey);
    }
    // A duplicate that is unusable (an encryption key) does not make the kid ambiguous.
    let enc = with_member(&other, "use", json!("enc"));
    assert!(verify_jwt(
        &request(&token),
        &key_set(&[RSA.jwk.clone(), enc]),
        &policy()
    )
    .is_ok());
}

#[test]
fn c20_token_without_kid_is_refused_unless_exactly_one_key_fits() {
    let no_kid = |key: &TestKey| {
        token_with_header(key, |h| {
            h.as_object_mut().unwrap().remove("kid");
        })
    };
    let mut other = RSA_OTHER.jwk.clone();
    other["kid"] = json!("rsa-2");
    let two_rsa = key_set(&[RSA.jwk.clone(), other]);
    let r = verify_jwt(&request(&no_kid(&RSA)), &two_rsa, &policy()).unwrap_err();
    assert_eq!(r.reason, Reason::AmbiguousKey);
    let mut rsa_no_alg = RSA.jwk.clone();
    rsa_no_alg.as_object_mut().unwrap().remove("alg");
    let with_family_key = key_set(&[RSA.jwk.clone(), rsa_no_alg]);
    let r = verify_jwt(&request(&no_kid(&RSA)), &with_family_key, &policy()).unwrap_err();
    assert_eq!(r.reason, Reason::AmbiguousKey);
    let only_rsa = key_set(std::slice::from_ref(&RSA.jwk));
    let r = verify_jwt(&request(&no_kid(&EC256)), &only_rsa, &policy()).unwrap_err();
    assert_eq!(r.reason, Reason::NoMatchingKey);
    let empty = key_set(&[]);
    let r = verify_jwt(&request(&no_kid(&RSA)), &empty, &policy()).unwrap_err();
    assert_eq!(r.reason, Reason::NoMatchingKey);
}

#[test]
fn c21_hostile_kids_are_only_lookup_keys_and_never_echoed() {
    for kid in [
        "../../etc/passwd",
        "' OR 1=1--",
        "rsa-1\0",
        "rsa-1\n",
        "rsa-1\r\nLOG: forged",
        "RSA-1",
        " rsa-1",
        "rsa-1 ",
        "*",
        "%",
        "rsa-1/../rsa-1",
    ] {
        let token = token_with_header(&RSA, |h| h["kid"] = json!(kid));
        let r = verify(&token).unwrap_err();
        assert_eq!(r.reason, Reason::UnknownKid, "{kid:?}");
        let shown = r.to_string();
        assert!(
            !shown.contains('\n') && !shown.contains('\0') && !shown.contains('\''),
            "{kid:?}: {shown}"
        );
        if kid
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '\'' || c == '*' || c == '%')
        {
            assert_eq!(r.kid, None, "{kid:?}");
        }
    }
    let long = token_with_header(&RSA, |h| h["kid"] = json!("k".repeat(300)));
    assert_eq!(reason(&long), Reason::MalformedHeader);
    let huge = token_with_header(&RSA, |h| h["kid"] = json!("k".repeat(10 * 1024)));
    assert_eq!(reason(&huge), Reason::TokenTooLarge);
}

#[test]
fn c22_token_supplied_keys_and_key_urls_are_refused() {
    let attacker_jwk = RSA_OTHER.jwk.clone();
    let embedded = {
        let header = json!({"alg": "RS256", "kid": "rsa-1", "jwk": attacker_jwk}).to_string();
        jws_raw(
            &RSA_OTHER,
            Algorithm::RS256,
            header.as_bytes(),
            base_claims().to_string().as_bytes(),
        )
    };
    assert_all_rejected(
        Reason::ForbiddenHeader,
        &[
            ("jwk embedded attacker key", embedded),
            (
                "jku",
                token_with_header(&RSA, |h| h["jku"] = json!("https://evil.example/jwks.json")),
            ),
            (
                "x5u",
                token_with_header(&RSA, |h| h["x5u"] = json!("https://evil.example/cert.pem")),
            ),
            (
                "x5c",
                token_with_header(&RSA, |h| h["x5c"] = json!(["MIIB"])),
            ),
            (
                "jwk null",
                token_with_header(&RSA, |h| h["jwk"] = json!(null)),
            ),
        ],
    );
}

#[test]
fn c23_any_crit_header_is_refused() {
    assert_all_rejected(
        Reason::ForbiddenHeader,
        &[
            (
                "crit []",
                token_with_header(&RSA, |h| h["crit"] = json!([])),
            ),
            (
                "crit [exp]",
                token_with_header(&RSA, |h| h["crit"] = json!(["exp"])),
            ),
            (
                "crit [b64]",
                token_with_header(&RSA, |h| {
                    h["crit"] = json!(["b64"]);
                    h["b64"] = json!(false);
                }),
            ),
            (
                "crit unknown ext",
                token_with_header(&RSA, |h| {
                    h["crit"] = json!(["http://example.invalid/ext"]);
                    h["http://example.invalid/ext"] = json!(true);
                }),
            ),
            (
                "crit string",
                token_with_header(&RSA, |h| h["crit"] = json!("exp")),
            ),
        ],
    );
}

#[test]
fn c24_nested_and_jwe_header_parameters_are_refused() {
    assert_all_rejected(
        Reason::ForbiddenHeader,
        &[
            (
                "cty JWT",
                token_with_header(&RSA, |h| h["cty"] = json!("JWT")),
            ),
            (
                "cty at+jwt",
                token_with_header(&RSA, |h| h["cty"] = json!("at+jwt")),
            ),
            (
                "zip DEF",
                token_with_header(&RSA, |h| h["zip"] = json!("DEF")),
            ),
            (
                "enc",
                token_with_header(&RSA, |h| h["enc"] = json!("A256GCM")),
            ),
            (
                "p2c",
                token_with_header(&RSA, |h| {
                    h["p2c"] = json!(100_000_000);
                    h["p2s"] = json!("c2FsdA");
                }),
            ),
            (
                "epk",
                token_with_header(&RSA, |h| h["epk"] = json!({"kty": "EC"})),
            ),
            (
                "b64 false",
                token_with_header(&RSA, |h| h["b64"] = json!(false)),
            ),
        ],
    );
}

#[test]
fn c25_typ_matrix() {
    let strict = {
        let mut p = policy();
        p.typ_policy = TypPolicy::AccessOnly;
        p
    };
    let cases: &[(Option<&str>, Option<Reason>, Option<Reason>)] = &[
        (None, None, Some(Reason::WrongTyp)),
        (Some("JWT"), None, Some(Reason::WrongTyp)),
        (Some("at+jwt"), None, None),
        (Some("AT+JWT"), None, None),
        (Some("application/at+jwt"), None, None),
        (
            Some("id_token+jwt"),
            Some(Reason::WrongTyp),
            Some(Reason::WrongTyp),
        ),
        (
            Some("logout+jwt"),
            Some(Reason::WrongTyp),
            Some(Reason::WrongTyp),
        ),
        (
            Some("secevent+jwt"),
            Some(Reason::WrongTyp),
            Some(Reason::WrongTyp),
        ),
        (
            Some("dpop+jwt"),
            Some(Reason::WrongTyp),
            Some(Reason::WrongTyp),
        ),
        (Some("JOSE"), Some(Reason::WrongTyp), Some(Reason::WrongTyp)),
        (Some(""), Some(Reason::WrongTyp), Some(Reason::WrongTyp)),
    ];
    for (typ, default_outcome, strict_outcome) in cases {
        let token = token_with_header(&EC256, |h| match typ {
            None => {
                h.as_object_mut().unwrap().remove("typ");
            }
            Some(t) => h["typ"] = json!(t),
        });
        assert_eq!(
            verify(&token).err().map(|r| r.reason),
            *default_outcome,
            "default {typ:?}"
        );
        assert_eq!(
            verify_with(&token, &strict).err().map(|r| r.reason),
            *strict_outcome,
            "strict {typ:?}"
        );
    }
}

fn flip_bit(segment: &str, byte: usize) -> String {
    let mut raw = b64_decode(segment);
    raw[byte] ^= 0x01;
    b64(raw)
}

#[test]
fn c26_signature_mutations_do_not_verify() {
    let mut cases = Vec::new();
    for key in [&*RSA, &*EC256, &*EC384, &*ED] {
        let good = token_with(key, |_| {});
        let (input, sig) = good.rsplit_once('.').unwrap();
        let raw = b64_decode(sig);
        let last = raw.len() - 1;
        cases.push(("flip first bit", format!("{input}.{}", flip_bit(sig, 0))));
        cases.push(("flip last bit", format!("{input}.{}", flip_bit(sig, last))));
        cases.push(("truncated", format!("{input}.{}", b64(&raw[..last]))));
        cases.push((
            "extended",
            format!("{input}.{}", b64([raw.as_slice(), &[0]].concat())),
        ));
        cases.push((
            "leading zero",
            format!("{input}.{}", b64([&[0], raw.as_slice()].concat())),
        ));
        cases.push(("all zero", format!("{input}.{}", b64(vec![0; raw.len()]))));
        cases.push((
            "all ones",
            format!("{input}.{}", b64(vec![0xff; raw.len()])),
        ));
        cases.push(("one byte", format!("{input}.AA")));
        // Claims changed after signing.
        let forged = token_with(key, |c| c["sub"] = json!("postgres"));
        let (forged_input, _) = forged.rsplit_once('.').unwrap();
        cases.push(("claims swapped", format!("{forged_input}.{sig}")));
        // Signed by another key under the published kid.
        if key.alg == Algorithm::RS256 {
            let other = jws(&RSA_OTHER, &header_for(&RSA), &base_claims());
            cases.push(("other RSA key", other));
        }
    }
    // ECDSA P-256 special cases (CVE-2022-21449 "psychic signatures"): r, s outside [1, n-1].
    let good = token_with(&EC256, |_| {});
    let (input, _) = good.rsplit_once('.').unwrap();
    let n = hex32("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");
    let one = {
        let mut v = [0u8; 32];
        v[31] = 1;
        v
    };
    for (label, r, s) in [
        ("r=s=0", [0u8; 32], [0u8; 32]),
        ("r=0,s=1", [0u8; 32], one),
        ("r=1,s=0", one, [0u8; 32]),
        ("r=n,s=1", n, one),
        ("r=1,s=n", one, n),
        ("r=s=n", n, n),
    ] {
        cases.push((label, format!("{input}.{}", b64([r, s].concat()))));
    }
    // An ASN.1 DER ECDSA signature instead of the fixed R||S form.
    let der = vec![0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01];
    cases.push(("DER signature", format!("{input}.{}", b64(der))));
    // Ed25519 all-zero signature.
    let ed = token_with(&ED, |_| {});
    let (ed_input, _) = ed.rsplit_once('.').unwrap();
    cases.push(("Ed25519 zero", format!("{ed_input}.{}", b64([0u8; 64]))));
    assert_all_rejected(Reason::BadSignature, &cases);
}

fn hex32(s: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap();
    }
    out
}

#[test]
fn c26_bad_signature_reports_no_identity() {
    let forged = token_with(&RSA_OTHER, |c| c["sub"] = json!("postgres"));
    let r = verify(&forged).unwrap_err();
    assert_eq!(r.reason, Reason::BadSignature);
    assert_eq!(r.identity, None);
    assert_eq!(r.kid.as_deref(), Some("rsa-1"));
}

#[test]
fn c27_weak_or_invalid_published_keys_are_skipped() {
    let n = b64_decode(RSA.jwk["n"].as_str().unwrap());
    let ec = &EC256.jwk;
    let y = b64_decode(ec["y"].as_str().unwrap());
    let mut y_off_curve = y.clone();
    y_off_curve[31] ^= 1;
    let cases = [
        (
            "RSA 1024",
            with_member(&RSA.jwk, "n", json!(b64(&n[..128]))),
        ),
        ("RSA 512", with_member(&RSA.jwk, "n", json!(b64(&n[..64])))),
        (
            "RSA 2047",
            with_member(&RSA.jwk, "n", json!(b64([&[0x7f], &n[1..]].concat()))),
        ),
        (
            "RSA 8200",
            with_member(
                &RSA.jwk,
                "n",
                json!(b64([n.as_slice(), &n, &n, &n, &[0xff]].concat())),
            ),
        ),
        ("e=1", with_member(&RSA.jwk, "e", json!(b64([1])))),
        ("e=0", with_member(&RSA.jwk, "e", json!(b64([0])))),
        ("e even", with_member(&RSA.jwk, "e", json!(b64([1, 0, 0])))),
        (
            "e 9 bytes",
            with_member(&RSA.jwk, "e", json!(b64([1, 0, 0, 0, 0, 0, 0, 0, 1]))),
        ),
        ("e padded", with_member(&RSA.jwk, "e", json!("AQAB="))),
        ("n number", with_member(&RSA.jwk, "n", json!(12345))),
        (
            "EC off curve",
            with_member(ec, "y", json!(b64(&y_off_curve))),
        ),
        (
            "EC zero point",
            with_member(
                &with_member(ec, "x", json!(b64([0u8; 32]))),
                "y",
                json!(b64([0u8; 32])),
            ),
        ),
        (
            "EC short x",
            with_member(
                ec,
                "x",
                json!(b64(&b64_decode(ec["x"].as_str().unwrap())[1..])),
            ),
        ),
        (
            "EC crv P-384 with P-256 point",
            with_member(ec, "crv", json!("P-384")),
        ),
        ("EC crv P-521", with_member(ec, "crv", json!("P-521"))),
        (
            "EC crv secp256k1",
            with_member(ec, "crv", json!("secp256k1")),
        ),
        ("EC y missing", {
            let mut j = ec.clone();
            j.as_object_mut().unwrap().remove("y");
            j
        }),
        ("OKP X25519", with_member(&ED.jwk, "crv", json!("X25519"))),
        ("OKP Ed448", with_member(&ED.jwk, "crv", json!("Ed448"))),
        (
            "OKP short x",
            with_member(&ED.jwk, "x", json!(b64([7u8; 31]))),
        ),
        ("kid number", with_member(&RSA.jwk, "kid", json!(1))),
    ];
    for (label, jwk) in &cases {
        let keys = key_set(std::slice::from_ref(jwk));
        assert_eq!(keys.keys().len(), 0, "{label} should be skipped");
    }
    // And tokens naming them are refused.
    let rsa_token = token_with(&RSA, |_| {});
    let weak = key_set(&[cases[0].1.clone(), cases[4].1.clone()]);
    assert_eq!(
        verify_jwt(&request(&rsa_token), &weak, &policy())
            .unwrap_err()
            .reason,
        Reason::UnknownKid
    );
    let ec_token = token_with(&EC256, |_| {});
    let off_curve = key_set(&[cases[10].1.clone()]);
    assert_eq!(
        verify_jwt(&request(&ec_token), &off_curve, &policy())
            .unwrap_err()
            .reason,
        Reason::UnknownKid
    );
}

#[test]
fn c_forbidden_header_is_checked_with_a_valid_signature_too() {
    // The header checks do not depend on the signature failing first.
    let token = token_with_header(&RSA, |h| h["jku"] = json!("https://idp.example.com/jwks"));
    let r = verify(&token).unwrap_err();
    assert_eq!(r.reason, Reason::ForbiddenHeader);
    assert_eq!(r.identity, None);
}

/// A small deterministic generator (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn b_random_mutations_never_panic_and_never_verify() {
    const CHARSET: &[u8] =
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.+/= ~";
    let originals = [
        token_with(&RSA, |_| {}),
        token_with(&EC256, |_| {}),
        token_with(&ED, |_| {}),
    ];
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut rejected = 0;
    for i in 0..3000 {
        let original = &originals[i % originals.len()];
        let mut bytes = original.clone().into_bytes();
        for _ in 0..=rng.below(3) {
            if bytes.is_empty() {
                break;
            }
            let pos = rng.below(bytes.len());
            match rng.below(4) {
                0 => bytes[pos] = CHARSET[rng.below(CHARSET.len())],
                1 => {
                    bytes.remove(pos);
                }
                2 => bytes.insert(pos, CHARSET[rng.below(CHARSET.len())]),
                _ => bytes.truncate(pos.max(1)),
            }
        }
        let mutated = String::from_utf8(bytes).unwrap();
        if mutated == *original {
            continue;
        }
        // Canonical base64url means a different string is always different signed bytes or a
        // different signature: nothing but the original may verify.
        let r = verify(&mutated);
        assert!(r.is_err(), "mutation {i} verified: {mutated}");
        assert_eq!(
            r.unwrap_err().identity,
            None,
            "mutation {i} reported an identity"
        );
        rejected += 1;
    }
    assert!(rejected > 2900);
}
