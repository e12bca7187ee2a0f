//! Why a login was refused or failed: one enum, [`Reason`], for every check of the token, of
//! the configuration and of the provider's answers, and the [`Rejection`] the verifier
//! returns.
//!
//! Each reason carries a stable code, the [`Outcome`] it gives the login (a refusal, or an
//! internal failure of the module) and the [`LogLevel`] of its line. Codes are meant for the
//! server log (at COMMERROR, never shown to the client) and are part of the module's
//! interface: they are never renamed, only added. No other place writes a reason code.

use std::fmt;

/// The check that refused a token. [`Reason::code`] gives a stable snake_case string.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// The issuer policy or the HBA line cannot authorize anything (no audience configured,
    /// no non-implicit scope on the HBA line, delegate mode without a role claim, an invalid
    /// policy). Fails closed.
    NotConfigured,
    /// The token is longer than [`crate::envelope::MAX_TOKEN_LEN`], or its header segment is
    /// longer than [`crate::envelope::MAX_HEADER_LEN`]. Checked before anything is decoded.
    TokenTooLarge,
    /// Not a compact JWS: not exactly three non-empty segments, or a segment that is not
    /// canonical unpadded base64url.
    MalformedEnvelope,
    /// A JWT written in a non-canonical encoding: padding, the standard base64 alphabet, other
    /// characters a lenient decoder skips, or non-zero trailing bits, in any of the three
    /// segments. Refused locally and never sent to a provider, which might decode it leniently
    /// and accept what the local checks would refuse (see [`crate::envelope::route`]).
    NoncanonicalEncoding,
    /// The JOSE header is not a JSON object of the expected shape: invalid JSON or UTF-8, a
    /// byte-order mark, nesting too deep, `alg` missing or not a string, `kid`/`typ` not a
    /// string, `kid` too long.
    MalformedHeader,
    /// The claims segment is not a JSON object (invalid JSON or UTF-8, byte-order mark,
    /// nesting too deep).
    MalformedPayload,
    /// A JSON member name appears twice in the same object, in the header or the claims.
    DuplicateMember,
    /// The header `alg` is not on the policy's allow-list (this includes `none` in any
    /// spelling, every `HS*`, and names that are not algorithms at all).
    AlgNotAllowed,
    /// The header carries a parameter that is refused outright: `crit`, `jku`, `x5u`, `jwk`,
    /// `x5c`, `cty`, `enc`, `zip`, `p2c`, `p2s`, `b64`, `epk`, `apu`, `apv`, `iv`, `tag`.
    ForbiddenHeader,
    /// The header `typ` names a type that is not an access token under the policy's
    /// [`crate::policy::TypPolicy`].
    WrongTyp,
    /// The header names a `kid` that no usable key in the key set has. The caller may refetch
    /// the JWKS (rate-limited) and try once more.
    UnknownKid,
    /// More than one usable key could verify the token: the `kid` is shared by several keys,
    /// or the token has no `kid` and several keys fit its `alg`.
    AmbiguousKey,
    /// The token has no `kid` and no usable key fits its `alg`.
    NoMatchingKey,
    /// The key named by `kid` is bound to another algorithm or curve than the header `alg`.
    KeyAlgMismatch,
    /// The signature does not verify with the selected key (wrong length, tampered, or made
    /// with another key).
    BadSignature,
    /// A required claim is absent. [`Rejection::claim`] names it.
    MissingClaim,
    /// A claim has the wrong JSON type or an impossible value (an `exp` string, an `iss`
    /// array, an empty `sub`, a non-string in `aud`). Never treated as "absent".
    /// [`Rejection::claim`] names it.
    MalformedClaim,
    /// `iss` is a string but not byte-for-byte the configured issuer.
    WrongIssuer,
    /// No accepted audience in the audience claim (or, when the audience claim is not `aud`,
    /// the token also carries an `aud` without an accepted audience).
    WrongAudience,
    /// `now >= exp + clock_skew`.
    Expired,
    /// `now < nbf - clock_skew`.
    NotYetValid,
    /// `iat > now + clock_skew`.
    IssuedInFuture,
    /// `exp - iat`, or `exp - now`, exceeds the policy's maximum lifetime.
    LifetimeTooLong,
    /// A claim the policy requires to have a fixed value has another value.
    ClaimMismatch,
    /// The client claim is not on the policy's list of allowed clients.
    ClientNotAllowed,
    /// A scope of the HBA line is not granted by the token.
    MissingScope,
    /// The identity claim is not a usable authenticated identity: empty, too long, or
    /// containing control or bidirectional-formatting characters.
    BadIdentity,
    /// The identity claim is an e-mail address but `email_verified` is not JSON `true`.
    EmailNotVerified,
    /// Delegated mapping: the requested role is not one of the roles in the token.
    RoleNotGranted,
    /// Introspection answered `"active": false`: the token is expired, revoked or unknown.
    TokenInactive,
    /// Introspection says the token is not an access token (a refresh or ID token).
    WrongTokenType,
    /// The introspection or userinfo response is not a usable JSON object (`active` missing
    /// or not JSON `true`/`false`, invalid JSON, duplicate members, too large).
    MalformedResponse,
    /// The token is not a JWT, and neither introspection nor userinfo is configured for the
    /// issuer.
    OpaqueToken,
    /// The token is not valid UTF-8 (PostgreSQL checks its character set first, so this
    /// should not occur).
    MalformedToken,
    /// The requested role name is not valid UTF-8 (it is compared byte for byte with role
    /// claims, so it is never converted).
    BadRole,
    /// The discovery document could not be fetched or was refused (transport, status, media
    /// type, size, `issuer` mismatch, no `jwks_uri`).
    DiscoveryFailed,
    /// The JWKS could not be fetched, or the JWKS file could not be read.
    JwksUnavailable,
    /// The JWKS was fetched or read but is unusable (malformed, too large, no usable key).
    BadJwks,
    /// No usable keys are cached and none can be fetched now (backoff after failures, or
    /// another backend's refresh did not finish within the wait).
    KeysUnavailable,
    /// Every shared key-cache slot is held by a refresh in progress for another issuer, or
    /// the issuer and key source are too long to cache.
    CacheFull,
    /// The introspection endpoint gave no usable answer (transport, status, media type, size).
    IntrospectionFailed,
    /// The userinfo endpoint gave no usable answer (its 401 and 403 are
    /// [`Reason::TokenInactive`]).
    UserinfoFailed,
    /// An opaque token unknown to the result cache while the issuer's unknown-token budget is
    /// spent: refused without asking the provider.
    RateLimited,
    /// pg_bearer itself failed (a panic, an identity that cannot be handed to the server, no
    /// backend id): the callback reports an internal error.
    Internal,
}

/// What a [`Reason`] does to the login.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The token is refused: the callback returns `true` with `authorized = false`.
    Refused,
    /// pg_bearer failed: the callback returns `false`, and PostgreSQL reports an internal
    /// error in the validator module.
    InternalFailure,
}

/// How a [`Reason`]'s log line is marked. Every line goes to the server log only (COMMERROR,
/// never to the client).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LogLevel {
    /// A verdict on the token: expected traffic (SQLSTATE 28000).
    Log,
    /// Something a DBA must look at: the configuration, the provider or pg_bearer itself
    /// (SQLSTATE 01000, or XX000 for an internal failure).
    Warning,
}

impl Reason {
    /// The stable snake_case code, for logs and statistics.
    pub fn code(self) -> &'static str {
        match self {
            Reason::NotConfigured => "not_configured",
            Reason::TokenTooLarge => "token_too_large",
            Reason::MalformedEnvelope => "malformed_envelope",
            Reason::NoncanonicalEncoding => "noncanonical_encoding",
            Reason::MalformedHeader => "malformed_header",
            Reason::MalformedPayload => "malformed_payload",
            Reason::DuplicateMember => "duplicate_member",
            Reason::AlgNotAllowed => "alg_not_allowed",
            Reason::ForbiddenHeader => "forbidden_header",
            Reason::WrongTyp => "wrong_typ",
            Reason::UnknownKid => "unknown_kid",
            Reason::AmbiguousKey => "ambiguous_key",
            Reason::NoMatchingKey => "no_matching_key",
            Reason::KeyAlgMismatch => "key_alg_mismatch",
            Reason::BadSignature => "bad_signature",
            Reason::MissingClaim => "missing_claim",
            Reason::MalformedClaim => "malformed_claim",
            Reason::WrongIssuer => "wrong_issuer",
            Reason::WrongAudience => "wrong_audience",
            Reason::Expired => "expired",
            Reason::NotYetValid => "not_yet_valid",
            Reason::IssuedInFuture => "issued_in_future",
            Reason::LifetimeTooLong => "lifetime_too_long",
            Reason::ClaimMismatch => "claim_mismatch",
            Reason::ClientNotAllowed => "client_not_allowed",
            Reason::MissingScope => "missing_scope",
            Reason::BadIdentity => "bad_identity",
            Reason::EmailNotVerified => "email_not_verified",
            Reason::RoleNotGranted => "role_not_granted",
            Reason::TokenInactive => "token_inactive",
            Reason::WrongTokenType => "wrong_token_type",
            Reason::MalformedResponse => "malformed_response",
            Reason::OpaqueToken => "opaque_token",
            Reason::MalformedToken => "malformed_token",
            Reason::BadRole => "bad_role",
            Reason::DiscoveryFailed => "discovery_failed",
            Reason::JwksUnavailable => "jwks_unavailable",
            Reason::BadJwks => "bad_jwks",
            Reason::KeysUnavailable => "keys_unavailable",
            Reason::CacheFull => "cache_full",
            Reason::IntrospectionFailed => "introspection_failed",
            Reason::UserinfoFailed => "userinfo_failed",
            Reason::RateLimited => "rate_limited",
            Reason::Internal => "internal",
        }
    }

    /// What the reason does to the login: every reason refuses it, except
    /// [`Reason::Internal`], an internal failure.
    pub fn outcome(self) -> Outcome {
        match self {
            Reason::Internal => Outcome::InternalFailure,
            _ => Outcome::Refused,
        }
    }

    /// How its log line is marked: verdicts on the token are [`LogLevel::Log`]; the
    /// configuration, the provider's failures, the shared cache's limits and pg_bearer's own
    /// failures are [`LogLevel::Warning`].
    pub fn level(self) -> LogLevel {
        match self {
            Reason::NotConfigured
            | Reason::DiscoveryFailed
            | Reason::JwksUnavailable
            | Reason::BadJwks
            | Reason::KeysUnavailable
            | Reason::CacheFull
            | Reason::IntrospectionFailed
            | Reason::UserinfoFailed
            | Reason::RateLimited
            | Reason::Internal => LogLevel::Warning,
            _ => LogLevel::Log,
        }
    }

    /// Every reason, for documentation and tests.
    pub const ALL: &'static [Reason] = &[
        Reason::NotConfigured,
        Reason::TokenTooLarge,
        Reason::MalformedEnvelope,
        Reason::NoncanonicalEncoding,
        Reason::MalformedHeader,
        Reason::MalformedPayload,
        Reason::DuplicateMember,
        Reason::AlgNotAllowed,
        Reason::ForbiddenHeader,
        Reason::WrongTyp,
        Reason::UnknownKid,
        Reason::AmbiguousKey,
        Reason::NoMatchingKey,
        Reason::KeyAlgMismatch,
        Reason::BadSignature,
        Reason::MissingClaim,
        Reason::MalformedClaim,
        Reason::WrongIssuer,
        Reason::WrongAudience,
        Reason::Expired,
        Reason::NotYetValid,
        Reason::IssuedInFuture,
        Reason::LifetimeTooLong,
        Reason::ClaimMismatch,
        Reason::ClientNotAllowed,
        Reason::MissingScope,
        Reason::BadIdentity,
        Reason::EmailNotVerified,
        Reason::RoleNotGranted,
        Reason::TokenInactive,
        Reason::WrongTokenType,
        Reason::MalformedResponse,
        Reason::OpaqueToken,
        Reason::MalformedToken,
        Reason::BadRole,
        Reason::DiscoveryFailed,
        Reason::JwksUnavailable,
        Reason::BadJwks,
        Reason::KeysUnavailable,
        Reason::CacheFull,
        Reason::IntrospectionFailed,
        Reason::UserinfoFailed,
        Reason::RateLimited,
        Reason::Internal,
    ];
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// The longest `kid` a [`Rejection`] repeats; longer ones are left out.
pub const MAX_LOGGED_KID_LEN: usize = 64;

/// A refused token: what failed, and the little that is safe to log about it.
///
/// Its `Display` shows only the reason code, the claim name and a sanitized `kid`; it never
/// shows any other part of the token, and never the identity (the caller decides whether to
/// log [`Rejection::identity`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// The check that failed.
    pub reason: Reason,
    /// The claim the failed check concerned (`"exp"`, `"aud"`, `"scope"`, the configured
    /// identity claim's role `"identity"`, ...), when there is one.
    pub claim: Option<&'static str>,
    /// The header `kid`, only if it is 1..=[`MAX_LOGGED_KID_LEN`] bytes of
    /// `[A-Za-z0-9._~+/=:-]`; otherwise `None`. It comes from an unverified header: treat it
    /// as a hint.
    pub kid: Option<String>,
    /// The identity the token names, only when its signature verified and the identity
    /// passed the identity checks (so it is safe to log). `None` otherwise.
    pub identity: Option<String>,
}

impl Rejection {
    /// A rejection with nothing but a reason.
    pub fn new(reason: Reason) -> Self {
        Rejection {
            reason,
            claim: None,
            kid: None,
            identity: None,
        }
    }

    /// A rejection about one claim.
    pub fn for_claim(reason: Reason, claim: &'static str) -> Self {
        Rejection {
            reason,
            claim: Some(claim),
            kid: None,
            identity: None,
        }
    }

    pub(crate) fn with_kid(mut self, kid: Option<&str>) -> Self {
        self.kid = kid.and_then(sanitize_kid);
        self
    }
}

impl From<Reason> for Rejection {
    fn from(reason: Reason) -> Self {
        Rejection::new(reason)
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "token rejected: {}", self.reason.code())?;
        if let Some(claim) = self.claim {
            write!(f, " (claim {claim})")?;
        }
        if let Some(kid) = &self.kid {
            write!(f, " kid={kid}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Rejection {}

/// Returns the `kid` if it is short and made only of characters that cannot break a log line
/// or be mistaken for log syntax.
pub(crate) fn sanitize_kid(kid: &str) -> Option<String> {
    let ok = !kid.is_empty()
        && kid.len() <= MAX_LOGGED_KID_LEN
        && kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._~+/=:-".contains(&b));
    ok.then(|| kid.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_snake_case() {
        let mut seen = std::collections::HashSet::new();
        for r in Reason::ALL {
            let code = r.code();
            assert!(seen.insert(code), "duplicate code {code}");
            assert!(
                code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{code}"
            );
            assert_eq!(r.to_string(), code);
        }
    }

    #[test]
    fn only_internal_is_an_internal_failure_and_token_verdicts_are_plain_log_lines() {
        for r in Reason::ALL {
            assert_eq!(
                r.outcome() == Outcome::InternalFailure,
                *r == Reason::Internal,
                "{r}"
            );
        }
        assert_eq!(Reason::Expired.level(), LogLevel::Log);
        assert_eq!(Reason::NoncanonicalEncoding.level(), LogLevel::Log);
        assert_eq!(Reason::DiscoveryFailed.level(), LogLevel::Warning);
        assert_eq!(Reason::NotConfigured.level(), LogLevel::Warning);
    }

    #[test]
    fn every_variant_is_listed_once_in_all() {
        // A match without a wildcard: adding a variant without listing it fails to compile
        // here, and listing it twice fails below.
        let listed = |r: Reason| match r {
            Reason::NotConfigured
            | Reason::TokenTooLarge
            | Reason::MalformedEnvelope
            | Reason::NoncanonicalEncoding
            | Reason::MalformedHeader
            | Reason::MalformedPayload
            | Reason::DuplicateMember
            | Reason::AlgNotAllowed
            | Reason::ForbiddenHeader
            | Reason::WrongTyp
            | Reason::UnknownKid
            | Reason::AmbiguousKey
            | Reason::NoMatchingKey
            | Reason::KeyAlgMismatch
            | Reason::BadSignature
            | Reason::MissingClaim
            | Reason::MalformedClaim
            | Reason::WrongIssuer
            | Reason::WrongAudience
            | Reason::Expired
            | Reason::NotYetValid
            | Reason::IssuedInFuture
            | Reason::LifetimeTooLong
            | Reason::ClaimMismatch
            | Reason::ClientNotAllowed
            | Reason::MissingScope
            | Reason::BadIdentity
            | Reason::EmailNotVerified
            | Reason::RoleNotGranted
            | Reason::TokenInactive
            | Reason::WrongTokenType
            | Reason::MalformedResponse
            | Reason::OpaqueToken
            | Reason::MalformedToken
            | Reason::BadRole
            | Reason::DiscoveryFailed
            | Reason::JwksUnavailable
            | Reason::BadJwks
            | Reason::KeysUnavailable
            | Reason::CacheFull
            | Reason::IntrospectionFailed
            | Reason::UserinfoFailed
            | Reason::RateLimited
            | Reason::Internal => 1,
        };
        assert_eq!(Reason::ALL.iter().map(|r| listed(*r)).sum::<usize>(), 44);
        let unique: std::collections::HashSet<_> = Reason::ALL.iter().collect();
        assert_eq!(unique.len(), Reason::ALL.len());
    }

    #[test]
    fn unsafe_kids_are_not_repeated() {
        for kid in [
            "",
            "a b",
            "a\nb",
            "a\0b",
            "' OR 1=1--",
            "\"x\"",
            "é",
            &"k".repeat(65),
        ] {
            assert_eq!(sanitize_kid(kid), None, "{kid:?}");
        }
        for kid in [
            "abc",
            "nOo3ZDrODXEK1jKWhXslHR_KXEg",
            "a+b/c=",
            "2024-01:rsa.1~x",
            &"k".repeat(64),
        ] {
            assert_eq!(sanitize_kid(kid).as_deref(), Some(kid));
        }
    }

    #[test]
    fn display_shows_code_claim_and_sanitized_kid_only() {
        let r = Rejection::for_claim(Reason::Expired, "exp").with_kid(Some("key-1"));
        assert_eq!(
            r.to_string(),
            "token rejected: expired (claim exp) kid=key-1"
        );
        let mut r = Rejection::new(Reason::UnknownKid).with_kid(Some("../x\nFATAL: y"));
        r.identity = Some("alice".into());
        assert_eq!(r.to_string(), "token rejected: unknown_kid");
    }
}
