//! The compact JWS envelope: size limits, segments, base64url and the JOSE header.
//!
//! Everything here runs before any key is looked at, in this order: the token length cap,
//! exactly three non-empty segments, the header length cap, canonical unpadded base64url, a
//! strict JSON object header (no duplicate members, no byte-order mark, bounded nesting),
//! `alg` as a string naming a known algorithm, then the refused header parameters, then the
//! types of `kid` and `typ`. The policy-dependent checks (algorithm allow-list, `typ`) are in
//! [`crate::policy::verify_jwt`].

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::Algorithm;

use crate::json::{self, Json, JsonError, JsonObject};
use crate::reason::{Reason, Rejection};

/// The longest token accepted, in bytes: 16 KiB.
///
/// Access tokens seen from the providers pg_bearer targets are 0.8–3 KiB; Entra ID tokens
/// with large group lists reach about 6 KiB. PostgreSQL itself admits SASL messages up to
/// 64 KiB, so this is the first and cheapest line of defence.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// The longest encoded header segment accepted, in bytes: 2 KiB (1.5 KiB of JSON). Real
/// headers are below 200 bytes.
pub const MAX_HEADER_LEN: usize = 2 * 1024;

/// The longest `kid` accepted, in bytes. Longer values are a malformed header (so they never
/// cause a JWKS refetch). Real `kid`s are below 100 bytes.
pub const MAX_KID_LEN: usize = 256;

/// Header parameters whose presence rejects the token ([`Reason::ForbiddenHeader`]).
///
/// - `crit`: we understand no extension, so any `crit` (even `[]`, which RFC 7515 §4.1.11
///   forbids) makes the JWS invalid.
/// - `jku`, `x5u`, `jwk`, `x5c`: keys or key locations chosen by the token; keys come only
///   from the issuer's JWKS (RFC 8725 §3.10). Never used, and refused for defence in depth.
/// - `cty`: nested JWTs are not accepted (RFC 8725 §3.3).
/// - `enc`, `zip`, `p2c`, `p2s`, `epk`, `apu`, `apv`, `iv`, `tag`: JWE parameters; a JWS
///   carrying them is a confusion attempt (RFC 8725 §2.3, §3.6).
/// - `b64`: RFC 7797 unencoded payloads change what is signed.
///
/// `x5t` and `x5t#S256` are allowed: they are thumbprints (hints), never used to find or
/// build a key, and Entra ID sends `x5t` in every token.
pub const FORBIDDEN_HEADER_PARAMS: &[&str] = &[
    "crit", "jku", "x5u", "jwk", "x5c", "cty", "enc", "zip", "p2c", "p2s", "epk", "apu", "apv",
    "iv", "tag", "b64",
];

/// The parts of a JOSE header that verification uses, after the envelope checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JwsHeader {
    /// The algorithm named by `alg` (a known JWS algorithm; the policy's allow-list has not
    /// been applied yet).
    pub alg: Algorithm,
    /// The key id, if the header has one (1..=[`MAX_KID_LEN`] bytes).
    pub kid: Option<String>,
    /// The media type, if the header has one, as written.
    pub typ: Option<String>,
}

/// The three segments of a compact JWS, borrowed from the token.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Segments<'a> {
    pub header: &'a str,
    pub payload: &'a str,
    pub signature: &'a str,
    /// `header.payload`: the bytes the signature covers.
    pub signing_input: &'a str,
}

/// Splits a token into exactly three non-empty segments, after the length caps.
pub(crate) fn split(token: &str) -> Result<Segments<'_>, Reason> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(Reason::TokenTooLarge);
    }
    let mut parts = token.splitn(4, '.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Reason::MalformedEnvelope);
    };
    if header.is_empty() || payload.is_empty() || signature.is_empty() {
        return Err(Reason::MalformedEnvelope);
    }
    if header.len() > MAX_HEADER_LEN {
        return Err(Reason::TokenTooLarge);
    }
    // The end of `header.payload` is the second '.', an ASCII byte, so a char boundary.
    let signing_input = &token[..header.len() + 1 + payload.len()];
    Ok(Segments {
        header,
        payload,
        signature,
        signing_input,
    })
}

/// Decodes one segment as canonical unpadded base64url: no `=`, no `+` or `/`, no whitespace,
/// and zero trailing bits (base64 0.22's strict decoder).
pub(crate) fn decode_segment(segment: &str) -> Result<Vec<u8>, Reason> {
    URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| Reason::MalformedEnvelope)
}

/// Maps a strict-JSON error on the header or the claims to a reason.
pub(crate) fn json_reason(err: JsonError, malformed: Reason) -> Reason {
    match err {
        JsonError::DuplicateMember => Reason::DuplicateMember,
        _ => malformed,
    }
}

/// Parses and checks the JOSE header of a token, without any key or policy.
///
/// The caller uses the result to learn the `kid` before loading keys: if the key set does not
/// contain it, the JWKS may be stale and worth one (rate-limited) refetch. Every check here is
/// repeated by [`crate::policy::verify_jwt`], so the caller needs no other use of it.
pub fn parse_header(token: &str) -> Result<JwsHeader, Rejection> {
    let segments = split(token)?;
    parse_header_segment(segments.header)
}

/// Returns the header `kid` of a token, `Ok(None)` if it has none, or why the header is
/// refused. Shorthand for [`parse_header`].
pub fn header_kid(token: &str) -> Result<Option<String>, Rejection> {
    parse_header(token).map(|h| h.kid)
}

pub(crate) fn parse_header_segment(segment: &str) -> Result<JwsHeader, Rejection> {
    let bytes = decode_segment(segment)?;
    let header = json::parse_object(&bytes).map_err(|e| json_reason(e, Reason::MalformedHeader))?;

    let alg = match header.get("alg") {
        Some(Json::String(name)) => name
            .parse::<Algorithm>()
            .map_err(|_| Reason::AlgNotAllowed)?,
        _ => return Err(Reason::MalformedHeader.into()),
    };
    if FORBIDDEN_HEADER_PARAMS
        .iter()
        .any(|p| header.contains_key(*p))
    {
        return Err(Reason::ForbiddenHeader.into());
    }
    let kid = optional_string(&header, "kid")?;
    if let Some(kid) = &kid {
        if kid.is_empty() || kid.len() > MAX_KID_LEN {
            return Err(Reason::MalformedHeader.into());
        }
    }
    let typ = optional_string(&header, "typ")?;
    Ok(JwsHeader { alg, kid, typ })
}

fn optional_string(header: &JsonObject, name: &str) -> Result<Option<String>, Rejection> {
    match header.get(name) {
        None => Ok(None),
        Some(Json::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(Reason::MalformedHeader.into()),
    }
}

/// Where a token goes: local JWT verification, a local refusal, or the opaque-token path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// A compact JWS in canonical encoding: verified locally, and only locally.
    Jws,
    /// A token that a lenient decoder would read as a JWS but that is not a canonical compact
    /// JWS: refused locally with this reason ([`Reason::NoncanonicalEncoding`] or
    /// [`Reason::MalformedEnvelope`]), never sent to a provider.
    RefuseAsJws(Reason),
    /// A token that cannot be a JWS: introspection or userinfo may judge it.
    Opaque,
}

/// Routes a token by its shape.
///
/// Opaque routing is only for tokens that cannot be a JWS at all. A token is treated as a JWS
/// when it has at least two `.` and its first segment, decoded as leniently as any provider
/// might decode it (both base64 alphabets, padding and every other character skipped, trailing
/// bits ignored), starts with `{` (after optional whitespace and a byte-order mark): a superset
/// of "decodes to a JSON object". PostgreSQL's b64token grammar admits `+`, `/`, `~` and
/// trailing `=`, and many providers decode leniently and split like Java's `String.split` (which
/// drops trailing empty segments), so `header.payload.signature==`, a signature in the standard
/// alphabet or `header.payload.signature.` would otherwise reach a provider that accepts them,
/// skipping the local checks (the algorithm allow-list, `typ`, `iat`, `sub`, and with userinfo
/// the audience).
///
/// Of those, exactly three segments in canonical unpadded base64url (the alphabet `A-Za-z0-9-_`,
/// no `=`, zero trailing bits) are [`Route::Jws`]; other segment counts are refused as
/// [`Reason::MalformedEnvelope`] and other encodings as [`Reason::NoncanonicalEncoding`]. The
/// signature may be empty: an unsecured `alg: none` JWS is still a JWS, refused as one. Cost:
/// one scan of the token and decoding its first segment (at most
/// [`MAX_TOKEN_LEN`] bytes, which the caller caps first).
pub fn route(token: &str) -> Route {
    let Some((header, rest)) = token.split_once('.') else {
        return Route::Opaque;
    };
    if !rest.contains('.') || !starts_like_json_object(&lenient_decode(header)) {
        return Route::Opaque;
    }
    let mut segments = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) = (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) else {
        return Route::RefuseAsJws(Reason::MalformedEnvelope);
    };
    if [header, payload, signature]
        .iter()
        .all(|s| is_canonical_b64url(s))
    {
        Route::Jws
    } else {
        Route::RefuseAsJws(Reason::NoncanonicalEncoding)
    }
}

/// Whether [`route`] judges the token as a JWT (verified or refused locally, never sent to a
/// provider).
pub fn looks_like_jws(token: &str) -> bool {
    route(token) != Route::Opaque
}

/// A client's look at a JWT it is about to present: the `exp` of its payload, read **without
/// verifying anything**. For `pg_bearer_client`, to say "this token has expired" before the
/// server refuses it; the validator never decides with it. `None` when the token is not a
/// canonical JWS within the size caps, its payload is not a JSON object, or `exp` is absent or
/// not a NumericDate.
pub fn unverified_expiry(token: &str) -> Option<i64> {
    if route(token) != Route::Jws {
        return None;
    }
    let segments = split(token).ok()?;
    let payload = decode_segment(segments.payload).ok()?;
    let claims = crate::json::parse_object(&payload).ok()?;
    claims.get("exp").and_then(crate::claims::numeric_date)
}

/// The `iss` of a JWT's payload, read **without verifying anything**: for a module that serves
/// several issuers and has no pg_hba line to name one (the PAM module), to pick the
/// configuration the token is then verified under, which requires that same `iss`. `None`
/// when the token is not a canonical JWS within the size caps or `iss` is not a string.
pub fn unverified_issuer(token: &str) -> Option<String> {
    if route(token) != Route::Jws {
        return None;
    }
    let segments = split(token).ok()?;
    let payload = decode_segment(segments.payload).ok()?;
    let claims = crate::json::parse_object(&payload).ok()?;
    match claims.get("iss") {
        Some(crate::json::Json::String(s)) => Some(s.clone()),
        _ => None,
    }
}

/// The value of one base64 character in either alphabet.
fn b64_value(b: u8) -> Option<u8> {
    match b {
        b'A'..=b'Z' => Some(b - b'A'),
        b'a'..=b'z' => Some(b - b'a' + 26),
        b'0'..=b'9' => Some(b - b'0' + 52),
        b'+' | b'-' => Some(62),
        b'/' | b'_' => Some(63),
        _ => None,
    }
}

/// Decodes like the most lenient decoder would: both alphabets, every other character
/// skipped, trailing bits dropped.
fn lenient_decode(segment: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(segment.len() / 4 * 3 + 2);
    let (mut acc, mut bits) = (0u32, 0u32);
    for v in segment.bytes().filter_map(b64_value) {
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

/// Whether the bytes start like a JSON object: `{` after optional JSON whitespace and an
/// optional UTF-8 byte-order mark (which some parsers skip).
fn starts_like_json_object(bytes: &[u8]) -> bool {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    bytes
        .iter()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        .is_some_and(|&b| b == b'{')
}

/// Canonical unpadded base64url: the URL-safe alphabet only, a length that is not 1 modulo 4,
/// and zero trailing bits (what `URL_SAFE_NO_PAD` accepts), so exactly one string encodes
/// given bytes. The empty string is canonical.
fn is_canonical_b64url(segment: &str) -> bool {
    let bytes = segment.as_bytes();
    if !bytes
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
    {
        return false;
    }
    let last = bytes.last().and_then(|&b| b64_value(b)).unwrap_or(0);
    match bytes.len() % 4 {
        1 => false,
        2 => last & 0x0F == 0,
        3 => last & 0x03 == 0,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        URL_SAFE_NO_PAD.encode(s)
    }

    fn token_with_header(h: &str) -> String {
        format!("{}.{}.c2ln", b64(h), b64("{}"))
    }

    #[test]
    fn header_fields_are_extracted() {
        let h = parse_header(&token_with_header(
            r#"{"alg":"ES256","kid":"k1","typ":"at+jwt"}"#,
        ))
        .unwrap();
        assert_eq!(
            h,
            JwsHeader {
                alg: Algorithm::ES256,
                kid: Some("k1".into()),
                typ: Some("at+jwt".into())
            }
        );
        assert_eq!(
            header_kid(&token_with_header(r#"{"alg":"RS256"}"#)).unwrap(),
            None
        );
    }

    #[test]
    fn segment_shapes_other_than_three_non_empty_are_malformed() {
        let h = b64(r#"{"alg":"RS256"}"#);
        for t in [
            String::new(),
            h.clone(),
            format!("{h}.e30"),
            format!("{h}.e30.c2ln."),
            format!("{h}.e30.c2ln.x"),
            format!("{h}.e30.c2ln.x.y"),
            format!("{h}..c2ln"),
            format!("{h}.e30."),
            ".e30.c2ln".to_owned(),
            "..".into(),
        ] {
            assert_eq!(
                parse_header(&t).unwrap_err().reason,
                Reason::MalformedEnvelope,
                "{t}"
            );
        }
    }

    #[test]
    fn canonical_jws_is_routed_to_local_verification() {
        assert_eq!(route(&token_with_header(r#"{"alg":"RS256"}"#)), Route::Jws);
        assert_eq!(
            route(&token_with_header(r#"{"alg":"none","alg":"x","crit":[]}"#)),
            Route::Jws
        );
        // A header without alg is still a JOSE header, refused as one later.
        assert_eq!(route(&token_with_header(r#"{"typ":"JWT"}"#)), Route::Jws);
        assert_eq!(
            route(&format!(
                "{}.e30.c2ln",
                b64(&format!("{{\"alg\":\"{}\"}}", "A".repeat(3000)))
            )),
            Route::Jws
        );
        // Unsecured (alg none) tokens are JWTs, to be refused as such.
        assert_eq!(
            route(&format!("{}.e30.", b64(r#"{"alg":"none"}"#))),
            Route::Jws
        );
        // An empty payload is still routed locally (and refused as malformed there).
        assert_eq!(
            route(&format!("{}..c2ln", b64(r#"{"alg":"RS256"}"#))),
            Route::Jws
        );
    }

    #[test]
    fn noncanonical_encodings_of_a_jws_are_refused_locally() {
        let h = b64(r#"{"alg":"RS256","kid":"k"}"#);
        let p = b64(r#"{"sub":"alice","aud":"x"}"#);
        let std_h =
            base64::engine::general_purpose::STANDARD.encode(r#"{"alg":"RS256","kid":"k>"}"#);
        assert!(
            std_h.contains('+') || std_h.contains('/') || std_h.contains('='),
            "{std_h}"
        );
        for t in [
            format!("{h}.{p}.c2ln=="),
            format!("{h}.{p}.c2l="),
            format!("{h}=.{p}.c2ln"),
            format!("{h}.{p}=.c2ln"),
            format!("{h}.{p}.ab+/cd"),
            format!("{h}.{p}.ab~cd"),
            format!("{std_h}.{p}.c2ln"),
            format!("{h}.{p}.c2m"), // non-zero trailing bits
            format!("{h}.{p}.c"),   // length 1 mod 4
        ] {
            assert_eq!(
                route(&t),
                Route::RefuseAsJws(Reason::NoncanonicalEncoding),
                "{t}"
            );
        }
        // Whitespace or a byte-order mark before the object, as lenient JSON parsers allow.
        for prefix in ["  ", "\n", "\u{feff}"] {
            let t = format!(
                "{}.{p}.c2ln",
                b64(&format!("{prefix}{{\"alg\":\"RS256\"}}"))
            );
            assert_ne!(route(&t), Route::Opaque, "{prefix:?}");
        }
        // Segment counts a lenient splitter accepts (Java's split drops trailing empties).
        for t in [
            format!("{h}.{p}.c2ln."),
            format!("{h}.{p}.c2ln..."),
            format!("{h}.{p}.c2ln.x.y"),
        ] {
            assert_eq!(
                route(&t),
                Route::RefuseAsJws(Reason::MalformedEnvelope),
                "{t}"
            );
        }
    }

    #[test]
    fn tokens_that_cannot_be_a_jws_are_opaque() {
        for t in [
            "opaque-token-value".to_owned(),
            "a.b".into(),
            "a.b.c.d.e".into(),
            format!("{}.e30", b64(r#"{"alg":"RS256"}"#)),
            format!("{}.e30.c2ln", b64("[1]")),
            format!("{}.e30.c2ln", b64("\"{}\"")),
            "2YotnFZFEjr1zCsicMWpAA".into(),
            "mF_9.B5f-4.1JqM".into(),
            "ya29.a0AfH6SMBx.Zz9".into(),
        ] {
            assert_eq!(route(&t), Route::Opaque, "{t}");
            assert!(!looks_like_jws(&t), "{t}");
        }
    }

    #[test]
    fn canonical_check_matches_the_strict_decoder() {
        for s in [
            "", "c2ln", "c2l", "c2", "c2m", "c2k", "c", "c2ln=", "YQ", "YR", "YWI", "YWJ",
        ] {
            assert_eq!(
                is_canonical_b64url(s),
                URL_SAFE_NO_PAD.decode(s).is_ok(),
                "{s}"
            );
        }
        assert_eq!(lenient_decode("e30="), b"{}");
        assert_eq!(lenient_decode("e~3.0"), b"{}");
    }
}
