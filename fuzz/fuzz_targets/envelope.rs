//! The compact JWS envelope and JOSE header: `envelope::parse_header`, `header_kid` and
//! `looks_like_jws` on arbitrary token text.
//!
//! Oracle: an accepted header satisfies every documented envelope rule, re-checked from the raw
//! text with base64 and serde_json (size caps, exactly three non-empty segments, canonical
//! base64url header, a JSON object whose `alg` string names the returned algorithm, no refused
//! parameter, `kid` of 1..=256 bytes, `kid`/`typ` as in the JSON); `header_kid` agrees with
//! `parse_header`; a token with an accepted header and base64url segments is routed as a JWS.
#![no_main]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use pg_bearer_core::envelope::{
    header_kid, looks_like_jws, parse_header, FORBIDDEN_HEADER_PARAMS, MAX_HEADER_LEN, MAX_KID_LEN,
    MAX_TOKEN_LEN,
};
use pg_bearer_fuzz::{assert_rejection_is_safe, reparse};
use serde_json::Value;

fn is_b64url(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fuzz_target!(|data: &[u8]| {
    let token = String::from_utf8_lossy(data);
    let token = token.as_ref();
    let parsed = parse_header(token);
    match (&parsed, header_kid(token)) {
        (Ok(h), Ok(kid)) => assert_eq!(h.kid, kid),
        (Err(a), Err(b)) => assert_eq!(a, &b),
        (a, b) => panic!("parse_header {a:?} and header_kid {b:?} disagree"),
    }
    let routed = looks_like_jws(token);
    match parsed {
        Err(r) => assert_rejection_is_safe(&r),
        Ok(h) => {
            assert!(token.len() <= MAX_TOKEN_LEN);
            let segments: Vec<&str> = token.split('.').collect();
            assert_eq!(segments.len(), 3, "accepted {} segments", segments.len());
            assert!(segments.iter().all(|s| !s.is_empty()));
            assert!(segments[0].len() <= MAX_HEADER_LEN);
            assert!(is_b64url(segments[0]), "header segment is not base64url");
            let bytes = URL_SAFE_NO_PAD
                .decode(segments[0])
                .expect("accepted header decodes");
            assert_eq!(
                URL_SAFE_NO_PAD.encode(&bytes),
                segments[0],
                "accepted a non-canonical header encoding"
            );
            let header = reparse(&bytes, "header");
            let alg = header
                .get("alg")
                .and_then(Value::as_str)
                .expect("alg string");
            assert_eq!(alg.parse::<jsonwebtoken::Algorithm>().ok(), Some(h.alg));
            for p in FORBIDDEN_HEADER_PARAMS {
                assert!(!header.contains_key(*p), "accepted header parameter {p}");
            }
            assert_eq!(
                h.kid.as_deref(),
                header.get("kid").map(|k| k.as_str().expect("kid string"))
            );
            if let Some(kid) = &h.kid {
                assert!((1..=MAX_KID_LEN).contains(&kid.len()));
            }
            assert_eq!(
                h.typ.as_deref(),
                header.get("typ").map(|t| t.as_str().expect("typ string"))
            );
            if is_b64url(segments[1]) && is_b64url(segments[2]) {
                assert!(routed, "a token with a valid header is not routed as a JWS");
            }
        }
    }
});
