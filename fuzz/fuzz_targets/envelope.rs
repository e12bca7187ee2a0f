//! The compact JWS envelope and JOSE header: `envelope::parse_header`, `header_kid` and the
//! router `envelope::route` on arbitrary token text, non-canonical encodings included.
//!
//! Oracle: an accepted header satisfies every documented envelope rule, re-checked from the raw
//! text with base64 and serde_json (size caps, exactly three non-empty segments, canonical
//! base64url header, a JSON object whose `alg` string names the returned algorithm, no refused
//! parameter, `kid` of 1..=256 bytes, `kid`/`typ` as in the JSON); `header_kid` agrees with
//! `parse_header`; a token with an accepted header and base64url segments is routed as a JWS.
//! The router agrees with an independent model: a token with two or more `.` whose first
//! segment, decoded as leniently as possible, starts with `{` never goes to the opaque path;
//! it is `Jws` only for three canonical segments, else refused (`malformed_envelope` for other
//! segment counts, `noncanonical_encoding` otherwise); every other token is opaque.
#![no_main]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use pg_bearer_core::envelope::{
    header_kid, parse_header, route, Route, FORBIDDEN_HEADER_PARAMS, MAX_HEADER_LEN, MAX_KID_LEN,
    MAX_TOKEN_LEN,
};
use pg_bearer_core::reason::Reason;
use pg_bearer_fuzz::{assert_rejection_is_safe, reparse};
use serde_json::Value;

fn is_b64url(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The first segment as the most lenient decoder reads it: standard and URL-safe alphabets,
/// every other character dropped, then decoded allowing trailing bits.
fn lenient_header(segment: &str) -> Vec<u8> {
    let mut kept: String = segment
        .chars()
        .filter_map(|c| match c {
            '+' => Some('-'),
            '/' => Some('_'),
            c if c.is_ascii_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect();
    if kept.len() % 4 == 1 {
        kept.pop();
    }
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::URL_SAFE,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::RequireNone),
    );
    engine.decode(kept).expect("filtered base64 decodes")
}

/// The router's documented rule, written independently.
fn expected_route(token: &str) -> Route {
    let segments: Vec<&str> = token.split('.').collect();
    if segments.len() < 3 {
        return Route::Opaque;
    }
    let header = lenient_header(segments[0]);
    let header = header.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&header);
    let first = header
        .iter()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
    if first != Some(&b'{') {
        return Route::Opaque;
    }
    if segments.len() != 3 {
        return Route::RefuseAsJws(Reason::MalformedEnvelope);
    }
    let canonical = |s: &str| s.is_empty() || (is_b64url(s) && URL_SAFE_NO_PAD.decode(s).is_ok());
    if segments.iter().all(|s| canonical(s)) {
        Route::Jws
    } else {
        Route::RefuseAsJws(Reason::NoncanonicalEncoding)
    }
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
    let routed = route(token);
    if token.len() <= MAX_TOKEN_LEN {
        assert_eq!(
            routed,
            expected_route(token),
            "route disagrees with the model"
        );
    }
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
            let strict = |s: &str| is_b64url(s) && URL_SAFE_NO_PAD.decode(s).is_ok();
            if strict(segments[1]) && strict(segments[2]) {
                assert_eq!(
                    routed,
                    Route::Jws,
                    "a token with a valid header is not a JWS"
                );
            }
        }
    }
});
