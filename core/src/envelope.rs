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

/// Whether a token has the shape of a compact JWS, to route it to JWT verification rather than
/// to an opaque-token path (introspection).
///
/// True when the token is exactly three segments of base64url characters (the signature may be
/// empty: an unsecured `alg: none` JWS is still a JWS, and must be refused as one rather than
/// sent to introspection) and the first decodes to a JSON object with an `alg` member (any
/// value). This is deliberately
/// looser than [`parse_header`]: a JWS with a bad header must be *rejected* as a JWT, not sent
/// elsewhere. For the same reason a JWS-shaped token whose header segment exceeds
/// [`MAX_HEADER_LEN`] is reported as a JWS (verification then rejects it as too large). Cost:
/// one scan of the token and, at most, decoding 2 KiB.
pub fn looks_like_jws(token: &str) -> bool {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let is_b64url = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if !(is_b64url(header) && is_b64url(payload) && (signature.is_empty() || is_b64url(signature)))
    {
        return false;
    }
    if header.len() > MAX_HEADER_LEN {
        return true;
    }
    let Ok(bytes) = URL_SAFE_NO_PAD.decode(header) else {
        return false;
    };
    // Last-wins parsing is fine here: this only routes; verification parses strictly.
    serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&bytes)
        .is_ok_and(|m| m.contains_key("alg"))
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
    fn looks_like_jws_routes_by_shape() {
        assert!(looks_like_jws(&token_with_header(r#"{"alg":"RS256"}"#)));
        assert!(looks_like_jws(&token_with_header(
            r#"{"alg":"none","alg":"x","crit":[]}"#
        )));
        assert!(looks_like_jws(&format!(
            "{}.e30.c2ln",
            "A".repeat(MAX_HEADER_LEN + 4)
        )));
        // Unsecured (alg none) tokens are JWTs, to be refused as such.
        assert!(looks_like_jws(&format!(
            "{}.e30.",
            b64(r#"{"alg":"none"}"#)
        )));
        for t in [
            "opaque-token-value".to_owned(),
            "a.b".into(),
            "a.b.c.d.e".into(),
            format!("{}.e30.c2ln", b64(r#"{"typ":"JWT"}"#)),
            format!("{}.e30.c2ln", b64("[1]")),
            format!("{}.e30.c2l=", b64(r#"{"alg":"RS256"}"#)),
            format!("{}..c2ln", b64(r#"{"alg":"RS256"}"#)),
            "2YotnFZFEjr1zCsicMWpAA".into(),
        ] {
            assert!(!looks_like_jws(&t), "{t}");
        }
    }
}
