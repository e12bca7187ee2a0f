//! Registered-claim checks on a verified token's claims: issuer, audience, validity period,
//! subject, client and fixed-value claims; and [`ClaimPath`], the way configuration names a
//! claim.
//!
//! Every claim is typed exactly: a registered claim with the wrong JSON type is a rejection
//! ([`Reason::MalformedClaim`]), never "absent" (the lesson of CVE-2026-25537 in
//! `jsonwebtoken` < 10.3, where a string `exp` skipped the expiry check).

use std::fmt;

use crate::json::{Json, JsonObject};
use crate::policy::{IssuerPolicy, PolicyError};
use crate::reason::{Reason, Rejection};

/// Where a claim lives in the claims object: a top-level member name, or an RFC 6901 JSON
/// Pointer into nested objects. Parsed once, at configuration time.
///
/// - A name that does not start with `/` is a top-level member, taken verbatim:
///   `preferred_username`, `urn:zitadel:iam:org:project:roles`.
/// - A name starting with `/` is a JSON Pointer: `/realm_access/roles`. Each segment is one
///   member name, with `~1` for `/` and `~0` for `~`. So `/urn:zitadel:iam:org:project:roles`
///   is the same single top-level member as the plain name.
///
/// Pointers only descend through objects: an array or scalar on the way means the claim is
/// absent. Empty names and empty pointer segments are refused.
#[derive(Clone, PartialEq, Eq)]
pub struct ClaimPath {
    text: String,
    segments: Vec<String>,
}

impl ClaimPath {
    /// Parses a claim name or JSON Pointer (see the type documentation).
    pub fn parse(text: &str) -> Result<ClaimPath, PolicyError> {
        let invalid = || PolicyError::InvalidClaimPath(text.to_owned());
        if text.is_empty() {
            return Err(invalid());
        }
        let Some(pointer) = text.strip_prefix('/') else {
            return Ok(ClaimPath {
                text: text.to_owned(),
                segments: vec![text.to_owned()],
            });
        };
        let mut segments = Vec::new();
        for raw in pointer.split('/') {
            let mut seg = String::with_capacity(raw.len());
            let mut chars = raw.chars();
            while let Some(c) = chars.next() {
                match c {
                    '~' => match chars.next() {
                        Some('0') => seg.push('~'),
                        Some('1') => seg.push('/'),
                        _ => return Err(invalid()),
                    },
                    c => seg.push(c),
                }
            }
            if seg.is_empty() {
                return Err(invalid());
            }
            segments.push(seg);
        }
        Ok(ClaimPath {
            text: text.to_owned(),
            segments,
        })
    }

    /// A top-level member name, for defaults and tests. Names starting with `/` or empty
    /// names are parsed as by [`ClaimPath::parse`].
    pub fn named(name: &'static str) -> ClaimPath {
        // A non-empty name without a leading '/' always parses; the others fall back to a
        // path that matches nothing rather than panicking.
        ClaimPath::parse(name).unwrap_or(ClaimPath {
            text: String::new(),
            segments: Vec::new(),
        })
    }

    /// The configuration text this path was parsed from.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The member names from the top level down.
    pub fn segments(&self) -> &[String] {
        &self.segments
    }

    /// Whether this path is exactly the top-level member `name`.
    pub fn is_top_level(&self, name: &str) -> bool {
        self.segments.len() == 1 && self.segments[0] == name
    }

    /// The last member name (the claim's own name).
    pub fn last_segment(&self) -> &str {
        self.segments.last().map_or("", String::as_str)
    }

    /// The path of a member named `name` in the same object as this claim.
    pub fn sibling(&self, name: &str) -> ClaimPath {
        let mut segments = self.segments.clone();
        segments.pop();
        segments.push(name.to_owned());
        ClaimPath {
            text: format!("sibling {name} of {}", self.text),
            segments,
        }
    }

    /// Finds the claim, or `None` if it (or an object on the way) is absent.
    pub fn lookup<'j>(&self, claims: &'j JsonObject) -> Option<&'j Json> {
        let (last, parents) = self.segments.split_last()?;
        let mut object = claims;
        for seg in parents {
            object = object.get(seg)?.as_object()?;
        }
        object.get(last)
    }

    /// Finds the value the way RFC 6901 evaluates a pointer: like [`ClaimPath::lookup`], but
    /// a segment also selects an array element when it is an index: `0`, or digits without a
    /// leading zero (`/groups/0`). `-`, `01`, `+1` and indices past the end select nothing.
    /// For session lookups (`pg_bearer.claim`); configured claim paths use
    /// [`ClaimPath::lookup`], which never descends into arrays.
    pub fn resolve<'j>(&self, claims: &'j JsonObject) -> Option<&'j Json> {
        let (first, rest) = self.segments.split_first()?;
        let mut value = claims.get(first)?;
        for seg in rest {
            value = match value {
                Json::Object(members) => members.get(seg)?,
                Json::Array(items) => items.get(array_index(seg)?)?,
                _ => return None,
            };
        }
        Some(value)
    }
}

/// An RFC 6901 array index: `0` or a digit string without a leading zero.
fn array_index(seg: &str) -> Option<usize> {
    let digits_only = !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit());
    if !digits_only || (seg.len() > 1 && seg.starts_with('0')) {
        return None;
    }
    seg.parse().ok()
}

impl fmt::Debug for ClaimPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClaimPath({:?})", self.text)
    }
}

impl fmt::Display for ClaimPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The latest NumericDate accepted: 9999-12-31T23:59:59Z. Anything later (and anything
/// negative) is [`Reason::MalformedClaim`]. Well below 2^53, so floats are exact integers
/// there.
pub const MAX_NUMERIC_DATE: i64 = 253_402_300_799;

/// Reads a NumericDate (RFC 7519 §2): a JSON number of seconds since the epoch, 0 to
/// [`MAX_NUMERIC_DATE`]. A fractional value is truncated toward negative infinity (floor):
/// `exp: 1795542665.7` expires at 1795542665, i.e. slightly *earlier* than written, never
/// later. Strings, booleans, null, negatives and out-of-range values are `None`.
pub fn numeric_date(value: &Json) -> Option<i64> {
    let seconds = match *value {
        Json::Int(i) => i64::try_from(i).ok()?,
        Json::Float(f) if f.is_finite() && f >= 0.0 && f <= MAX_NUMERIC_DATE as f64 => {
            // In range and finite, so the conversion is exact after floor().
            f.floor() as i64
        }
        _ => return None,
    };
    (0..=MAX_NUMERIC_DATE).contains(&seconds).then_some(seconds)
}

/// The validity period of a token, read and checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Validity {
    /// `exp`, seconds since the epoch (floored).
    pub exp: i64,
    /// `iat`, if present.
    pub iat: Option<i64>,
    /// `nbf`, if present.
    pub nbf: Option<i64>,
}

fn date_claim(
    claims: &JsonObject,
    name: &'static str,
    required: bool,
) -> Result<Option<i64>, Rejection> {
    match claims.get(name) {
        None if required => Err(Rejection::for_claim(Reason::MissingClaim, name)),
        None => Ok(None),
        Some(v) => numeric_date(v)
            .map(Some)
            .ok_or(Rejection::for_claim(Reason::MalformedClaim, name)),
    }
}

/// Checks `exp`, `nbf`, `iat` and the lifetime cap against `now` with the policy's skew.
///
/// Boundaries, with `skew` = [`IssuerPolicy::clock_skew`]:
/// - expired iff `now >= exp + skew` (so with skew 0 a token is valid up to `exp - 1`);
/// - not yet valid iff `now < nbf - skew`;
/// - issued in the future iff `iat > now + skew`;
/// - too long iff `exp - iat > max_lifetime` or `exp - now > max_lifetime + skew`.
pub fn check_validity(
    claims: &JsonObject,
    policy: &IssuerPolicy,
    now: i64,
) -> Result<Validity, Rejection> {
    let skew = policy.clock_skew;
    let exp = date_claim(claims, "exp", true)?
        .ok_or(Rejection::for_claim(Reason::MissingClaim, "exp"))?;
    let nbf = date_claim(claims, "nbf", false)?;
    let iat = date_claim(claims, "iat", policy.require_iat)?;

    if now >= exp.saturating_add(skew) {
        return Err(Rejection::for_claim(Reason::Expired, "exp"));
    }
    if let Some(nbf) = nbf {
        if now < nbf.saturating_sub(skew) {
            return Err(Rejection::for_claim(Reason::NotYetValid, "nbf"));
        }
    }
    if let Some(iat) = iat {
        if iat > now.saturating_add(skew) {
            return Err(Rejection::for_claim(Reason::IssuedInFuture, "iat"));
        }
    }
    if let Some(max) = policy.max_lifetime {
        if let Some(iat) = iat {
            if exp.saturating_sub(iat) > max {
                return Err(Rejection::for_claim(Reason::LifetimeTooLong, "iat"));
            }
        }
        if exp.saturating_sub(now) > max.saturating_add(skew) {
            return Err(Rejection::for_claim(Reason::LifetimeTooLong, "exp"));
        }
    }
    Ok(Validity { exp, iat, nbf })
}

/// Checks that `iss` is a string equal byte-for-byte to the configured issuer (no case
/// folding, no trailing-slash normalisation, no arrays).
pub fn check_issuer(claims: &JsonObject, policy: &IssuerPolicy) -> Result<(), Rejection> {
    match claims.get("iss") {
        None => Err(Rejection::for_claim(Reason::MissingClaim, "iss")),
        Some(Json::String(iss)) if *iss == policy.issuer => Ok(()),
        Some(Json::String(_)) => Err(Rejection::for_claim(Reason::WrongIssuer, "iss")),
        Some(_) => Err(Rejection::for_claim(Reason::MalformedClaim, "iss")),
    }
}

/// Reads an audience-shaped claim: a string, or a non-empty array of strings.
fn audience_values(value: &Json) -> Option<Vec<&str>> {
    match value {
        Json::String(s) => Some(vec![s.as_str()]),
        Json::Array(items) if !items.is_empty() => items.iter().map(Json::as_str).collect(),
        _ => None,
    }
}

/// Checks the audience and returns the token's audience values that are accepted.
///
/// The audience claim ([`IssuerPolicy::audience_claim`], `aud` by default) must be a string or
/// a non-empty array of strings and contain at least one of [`IssuerPolicy::audiences`],
/// compared exactly. When the audience claim is not `aud` (Cognito's `client_id`) and the
/// token *also* has an `aud`, that `aud` must satisfy the same rule: RFC 7519 §4.1.3 requires
/// rejecting a token whose `aud` does not name us.
pub fn check_audience<'c>(
    claims: &'c JsonObject,
    policy: &IssuerPolicy,
) -> Result<Vec<&'c str>, Rejection> {
    let mut accepted = matching_audiences(claims, &policy.audience_claim, policy)?;
    if !policy.audience_claim.is_top_level("aud") && claims.contains_key("aud") {
        accepted.extend(matching_audiences(
            claims,
            &ClaimPath::named("aud"),
            policy,
        )?);
    }
    Ok(accepted)
}

fn matching_audiences<'c>(
    claims: &'c JsonObject,
    path: &ClaimPath,
    policy: &IssuerPolicy,
) -> Result<Vec<&'c str>, Rejection> {
    let value = path
        .lookup(claims)
        .ok_or(Rejection::for_claim(Reason::MissingClaim, "aud"))?;
    let values =
        audience_values(value).ok_or(Rejection::for_claim(Reason::MalformedClaim, "aud"))?;
    let accepted: Vec<&str> = values
        .into_iter()
        .filter(|v| policy.audiences.iter().any(|a| a == v))
        .collect();
    if accepted.is_empty() {
        return Err(Rejection::for_claim(Reason::WrongAudience, "aud"));
    }
    Ok(accepted)
}

/// Checks that `sub` (RFC 9068 §2.2: required) is a non-empty string.
pub fn check_subject(claims: &JsonObject) -> Result<(), Rejection> {
    match claims.get("sub") {
        None => Err(Rejection::for_claim(Reason::MissingClaim, "sub")),
        Some(Json::String(s)) if !s.is_empty() => Ok(()),
        Some(_) => Err(Rejection::for_claim(Reason::MalformedClaim, "sub")),
    }
}

/// Checks the client claim if the policy names one, and returns the client.
///
/// With [`IssuerPolicy::client_claim`] set, the claim must be a non-empty string; with
/// [`IssuerPolicy::allowed_clients`] non-empty, it must also be one of them.
pub fn check_client(
    claims: &JsonObject,
    policy: &IssuerPolicy,
) -> Result<Option<String>, Rejection> {
    let Some(path) = &policy.client_claim else {
        return Ok(None);
    };
    let client = match path.lookup(claims) {
        None => return Err(Rejection::for_claim(Reason::MissingClaim, "client")),
        Some(Json::String(s)) if !s.is_empty() => s,
        Some(_) => return Err(Rejection::for_claim(Reason::MalformedClaim, "client")),
    };
    if !policy.allowed_clients.is_empty() && !policy.allowed_clients.iter().any(|c| c == client) {
        return Err(Rejection::for_claim(Reason::ClientNotAllowed, "client"));
    }
    Ok(Some(client.clone()))
}

/// Checks [`IssuerPolicy::required_claims`]: each named claim must be a JSON string equal to
/// the configured value.
pub fn check_required_claims(claims: &JsonObject, policy: &IssuerPolicy) -> Result<(), Rejection> {
    for (path, expected) in &policy.required_claims {
        match path.lookup(claims) {
            None => return Err(Rejection::for_claim(Reason::MissingClaim, "required_claim")),
            Some(Json::String(s)) if s == expected => {}
            Some(_) => {
                return Err(Rejection::for_claim(
                    Reason::ClaimMismatch,
                    "required_claim",
                ))
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::parse_object;

    #[test]
    fn claim_paths_parse_names_and_pointers() {
        let p = ClaimPath::parse("preferred_username").unwrap();
        assert_eq!(p.segments(), ["preferred_username"]);
        let p = ClaimPath::parse("/realm_access/roles").unwrap();
        assert_eq!(p.segments(), ["realm_access", "roles"]);
        let z = "urn:zitadel:iam:org:project:roles";
        assert_eq!(ClaimPath::parse(z).unwrap().segments(), [z]);
        assert_eq!(ClaimPath::parse(&format!("/{z}")).unwrap().segments(), [z]);
        let p = ClaimPath::parse("/a~1b/c~0d/~01").unwrap();
        assert_eq!(p.segments(), ["a/b", "c~d", "~1"]);
        assert_eq!(p.last_segment(), "~1");
        assert_eq!(
            ClaimPath::parse("/x/email")
                .unwrap()
                .sibling("email_verified")
                .segments(),
            ["x", "email_verified"]
        );
    }

    #[test]
    fn invalid_claim_paths_are_refused() {
        for text in ["", "/", "//a", "/a/", "/a~", "/a~2", "/~x"] {
            assert!(ClaimPath::parse(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn lookup_descends_objects_only() {
        let claims = parse_object(br#"{"a":{"b":{"c":1}},"l":[{"c":1}],"s":"x","a/b":2}"#).unwrap();
        let get = |p: &str| ClaimPath::parse(p).unwrap().lookup(&claims).cloned();
        assert_eq!(get("/a/b/c"), Some(Json::Int(1)));
        assert_eq!(get("/a~1b"), Some(Json::Int(2)));
        assert_eq!(get("a/b"), Some(Json::Int(2)));
        assert_eq!(get("/l/0/c"), None);
        assert_eq!(get("/s/x"), None);
        assert_eq!(get("/a/x"), None);
    }

    #[test]
    fn resolve_also_descends_arrays_by_rfc6901_index() {
        let claims = parse_object(br#"{"g":["a",{"b":[1,2]}],"o":{"0":"zero"},"s":"x"}"#).unwrap();
        let get = |p: &str| ClaimPath::parse(p).unwrap().resolve(&claims).cloned();
        assert_eq!(get("/g/0"), Some(Json::String("a".into())));
        assert_eq!(get("/g/1/b/1"), Some(Json::Int(2)));
        assert_eq!(get("/o/0"), Some(Json::String("zero".into())));
        assert_eq!(get("s"), Some(Json::String("x".into())));
        for p in [
            "/g/2",
            "/g/-",
            "/g/01",
            "/g/+1",
            "/g/ 0",
            "/g/0x0",
            "/g/18446744073709551616",
            "/s/0",
            "/g/0/0",
            "/missing/0",
        ] {
            assert_eq!(get(p), None, "{p}");
        }
    }

    #[test]
    fn numeric_dates_are_typed_and_bounded() {
        assert_eq!(numeric_date(&Json::Int(0)), Some(0));
        assert_eq!(numeric_date(&Json::Int(1_700_000_000)), Some(1_700_000_000));
        assert_eq!(
            numeric_date(&Json::Float(1_795_542_665.7)),
            Some(1_795_542_665)
        );
        assert_eq!(
            numeric_date(&Json::Float(1_795_542_665.0)),
            Some(1_795_542_665)
        );
        assert_eq!(
            numeric_date(&Json::Int(i128::from(MAX_NUMERIC_DATE))),
            Some(MAX_NUMERIC_DATE)
        );
        for v in [
            Json::Int(-1),
            Json::Int(i128::from(MAX_NUMERIC_DATE) + 1),
            Json::Int(1 << 63),
            Json::Float(-0.5),
            Json::Float(1e300),
            Json::Float(9.3e18),
            Json::String("1700000000".into()),
            Json::Bool(true),
            Json::Null,
            Json::Array(vec![Json::Int(1)]),
        ] {
            assert_eq!(numeric_date(&v), None, "{v:?}");
        }
    }
}
