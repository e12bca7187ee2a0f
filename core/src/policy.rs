//! The per-issuer policy and [`verify_jwt`], the complete local verification of a JWT access
//! token.
//!
//! # Order of checks
//!
//! [`verify_jwt`] runs these in a fixed order and stops at the first failure:
//!
//! 1. configuration: the policy is valid, the HBA line has a non-implicit scope, delegate
//!    mode has a role claim ([`Reason::NotConfigured`]);
//! 2. envelope: token length, three segments, header length, base64url, strict JSON header
//!    ([`crate::envelope`]);
//! 3. header: `alg` on the allow-list, no refused parameter, `typ` per [`TypPolicy`];
//! 4. key: exactly one usable key for `kid`/`alg` ([`KeySet::select`]);
//! 5. signature, over the exact bytes `header.payload`;
//! 6. claims, parsed strictly only now: `iss`, `exp`/`nbf`/`iat`/lifetime, audience,
//!    fixed-value claims, client, `sub`, scopes, identity, role (delegate mode).
//!
//! No claim is looked at before the signature verifies, and the identity is only reported
//! (in [`Verified`] or [`Rejection::identity`]) from a verified token.

use std::fmt;

use jsonwebtoken::Algorithm;

use crate::claims::{self, ClaimPath};
use crate::envelope;
use crate::identity;
use crate::json::{self, JsonObject};
use crate::jwks::KeySet;
use crate::reason::{Reason, Rejection};
use crate::scope::RequiredScopes;

/// Which JOSE `typ` header values are accepted. Compared case-insensitively, with an
/// `application/` prefix ignored (RFC 7515 §4.1.9).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TypPolicy {
    /// Accept `at+jwt` (RFC 9068), the generic `JWT`, or no `typ` at all; refuse every other
    /// explicit type (`id_token+jwt`, `logout+jwt`, `secevent+jwt`, `dpop+jwt`, `JOSE`, ...).
    /// The default, because Keycloak, Entra ID, Okta, Cognito, Zitadel and Dex send `JWT` for
    /// access tokens; their ID tokens are kept out by the audience and scope checks instead.
    #[default]
    AccessOrGeneric,
    /// Accept only `at+jwt` / `application/at+jwt` (RFC 9068 §4). Use it with providers that
    /// type their access tokens (Auth0's newer tenants, `oidc-provider`): it refuses ID tokens
    /// by type alone.
    AccessOnly,
}

impl TypPolicy {
    /// Whether a header with this `typ` (or none) is accepted.
    pub fn accepts(self, typ: Option<&str>) -> bool {
        let Some(typ) = typ else {
            return self == TypPolicy::AccessOrGeneric;
        };
        let lower = typ.to_ascii_lowercase();
        let media = lower.strip_prefix("application/").unwrap_or(&lower);
        match self {
            TypPolicy::AccessOrGeneric => media == "at+jwt" || media == "jwt",
            TypPolicy::AccessOnly => media == "at+jwt",
        }
    }
}

/// The asymmetric algorithms verification can use; the default allow-list.
pub const ASYMMETRIC_ALGORITHMS: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// The largest clock skew that may be configured, in seconds: the declared range of
/// `pg_bearer.clock_skew`.
pub const MAX_CLOCK_SKEW: i64 = crate::settings::setting("clock_skew").max();

/// How tokens from one issuer are judged. Built once from configuration; check it with
/// [`IssuerPolicy::validate`] at that time. [`verify_jwt`] validates it again and refuses
/// every token ([`Reason::NotConfigured`]) if it is invalid.
#[derive(Clone, Debug, PartialEq)]
pub struct IssuerPolicy {
    /// The issuer identifier; a token's `iss` must equal it byte for byte. Required.
    pub issuer: String,
    /// The accepted audiences (this database's resource identifiers), compared exactly. Empty
    /// by default, and empty refuses every token: configuring the audience is mandatory.
    pub audiences: Vec<String>,
    /// The claim holding the audience. Defaults to `aud`. Set it to `client_id` for Cognito
    /// access tokens, which have no `aud`.
    pub audience_claim: ClaimPath,
    /// The claim whose value becomes `authn_id`. Defaults to `sub`. See [`crate::identity`]
    /// for the accepted format and the `email` rule.
    pub identity_claim: ClaimPath,
    /// The claim listing the roles a token may use with `delegate_ident_mapping=1`. Defaults
    /// to `None`, which refuses every token in delegate mode. See
    /// [`crate::identity::check_role`].
    pub role_claim: Option<ClaimPath>,
    /// Leeway for `exp`, `nbf` and `iat`, in seconds, 0..=[`MAX_CLOCK_SKEW`]. Defaults to
    /// `pg_bearer.clock_skew`'s declared default (60).
    pub clock_skew: i64,
    /// The longest accepted token lifetime, in seconds: caps `exp - iat` and `exp - now`.
    /// Defaults to `pg_bearer.max_lifetime`'s declared default (86 400, 24 hours). `None`
    /// removes the cap (not recommended).
    pub max_lifetime: Option<i64>,
    /// Whether `iat` is required (RFC 9068 §2.2 requires it; every provider tested sends it).
    /// Defaults to `true`. A present `iat` is always type-checked and must not be in the
    /// future beyond the skew.
    pub require_iat: bool,
    /// Which header `typ` values are accepted. Defaults to [`TypPolicy::AccessOrGeneric`].
    pub typ_policy: TypPolicy,
    /// The allowed signature algorithms. Defaults to [`ASYMMETRIC_ALGORITHMS`]. Only
    /// asymmetric algorithms may be listed: `HS*` makes the policy invalid.
    pub algorithms: Vec<Algorithm>,
    /// HBA scopes that need not appear in the token. Defaults to `openid` and
    /// `offline_access`. See [`crate::scope`].
    pub implicit_scopes: Vec<String>,
    /// The claim naming the OAuth client the token was issued to. Defaults to `None` (not
    /// checked), because providers disagree on its name: `client_id` (RFC 9068, Cognito,
    /// Zitadel), `azp` (Keycloak, Entra ID v2, Auth0), `appid` (Entra ID v1), `cid` (Okta).
    /// When set, the claim must be a non-empty string.
    pub client_claim: Option<ClaimPath>,
    /// The clients allowed to present tokens. Defaults to empty: any client. Non-empty needs
    /// [`IssuerPolicy::client_claim`].
    pub allowed_clients: Vec<String>,
    /// Claims that must be JSON strings with a fixed value, e.g. Cognito's `token_use` =
    /// `access`, or Entra ID's `ver` = `2.0`. Defaults to none.
    pub required_claims: Vec<(ClaimPath, String)>,
}

impl IssuerPolicy {
    /// A policy for `issuer` accepting `audiences`, with every other field at its default.
    pub fn new(issuer: impl Into<String>, audiences: Vec<String>) -> Self {
        IssuerPolicy {
            issuer: issuer.into(),
            audiences,
            audience_claim: ClaimPath::named("aud"),
            identity_claim: ClaimPath::named("sub"),
            role_claim: None,
            clock_skew: crate::settings::setting("clock_skew").int_default(),
            max_lifetime: Some(crate::settings::setting("max_lifetime").int_default()),
            require_iat: true,
            typ_policy: TypPolicy::default(),
            algorithms: ASYMMETRIC_ALGORITHMS.to_vec(),
            implicit_scopes: vec!["openid".to_owned(), "offline_access".to_owned()],
            client_claim: None,
            allowed_clients: Vec::new(),
            required_claims: Vec::new(),
        }
    }

    /// Checks the policy for settings that could never authorize safely.
    pub fn validate(&self) -> Result<(), PolicyError> {
        if self.issuer.is_empty() {
            return Err(PolicyError::EmptyIssuer);
        }
        if self.audiences.is_empty() {
            return Err(PolicyError::NoAudience);
        }
        if self.audiences.iter().any(String::is_empty) {
            return Err(PolicyError::EmptyAudience);
        }
        if !(0..=MAX_CLOCK_SKEW).contains(&self.clock_skew) {
            return Err(PolicyError::ClockSkewOutOfRange(self.clock_skew));
        }
        if self.max_lifetime.is_some_and(|m| m <= 0) {
            return Err(PolicyError::MaxLifetimeNotPositive);
        }
        if self.algorithms.is_empty() {
            return Err(PolicyError::NoAlgorithm);
        }
        if let Some(alg) = self
            .algorithms
            .iter()
            .find(|a| !ASYMMETRIC_ALGORITHMS.contains(a))
        {
            return Err(PolicyError::SymmetricAlgorithm(*alg));
        }
        if !self.allowed_clients.is_empty() && self.client_claim.is_none() {
            return Err(PolicyError::AllowedClientsWithoutClientClaim);
        }
        let paths = [Some(&self.audience_claim), Some(&self.identity_claim)]
            .into_iter()
            .chain([self.role_claim.as_ref(), self.client_claim.as_ref()])
            .chain(self.required_claims.iter().map(|(p, _)| Some(p)))
            .flatten();
        for path in paths {
            if path.segments().is_empty() {
                return Err(PolicyError::InvalidClaimPath(path.to_string()));
            }
        }
        Ok(())
    }
}

/// A configuration that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PolicyError {
    /// The issuer is empty.
    EmptyIssuer,
    /// No audience is configured.
    NoAudience,
    /// An audience is the empty string.
    EmptyAudience,
    /// The clock skew is outside 0..=[`MAX_CLOCK_SKEW`] seconds.
    ClockSkewOutOfRange(i64),
    /// The maximum lifetime is zero or negative.
    MaxLifetimeNotPositive,
    /// The algorithm allow-list is empty.
    NoAlgorithm,
    /// A symmetric (`HS*`) algorithm is on the allow-list.
    SymmetricAlgorithm(Algorithm),
    /// Allowed clients are listed but no client claim is configured.
    AllowedClientsWithoutClientClaim,
    /// A claim name or JSON Pointer is invalid.
    InvalidClaimPath(String),
    /// The HBA line has no scope.
    NoHbaScope,
    /// Every scope on the HBA line is an implicit scope.
    OnlyImplicitScopes,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicyError::EmptyIssuer => f.write_str("the issuer is empty"),
            PolicyError::NoAudience => f.write_str("no audience is configured"),
            PolicyError::EmptyAudience => f.write_str("an audience is the empty string"),
            PolicyError::ClockSkewOutOfRange(s) => {
                write!(f, "clock skew {s} s is outside 0..={MAX_CLOCK_SKEW} s")
            }
            PolicyError::MaxLifetimeNotPositive => f.write_str("maximum lifetime must be positive"),
            PolicyError::NoAlgorithm => f.write_str("no signature algorithm is allowed"),
            PolicyError::SymmetricAlgorithm(a) => {
                write!(f, "symmetric algorithm {a:?} cannot be allowed")
            }
            PolicyError::AllowedClientsWithoutClientClaim => {
                f.write_str("allowed clients are listed but no client claim is configured")
            }
            PolicyError::InvalidClaimPath(p) => write!(f, "invalid claim name or pointer {p:?}"),
            PolicyError::NoHbaScope => f.write_str("the HBA line has no scope"),
            PolicyError::OnlyImplicitScopes => f.write_str(
                "every scope on the HBA line is implicit (openid, offline_access, ...); \
                 add a scope that authorizes database access",
            ),
        }
    }
}

impl std::error::Error for PolicyError {}

/// One login attempt, as PostgreSQL presents it. Its `Debug` output leaves the token out.
#[derive(Clone, Copy)]
pub struct Request<'a> {
    /// The bearer token (already checked by the server for the b64token character set).
    pub token: &'a str,
    /// The HBA line's `scope` option: scopes separated by spaces.
    pub hba_scopes: &'a str,
    /// The role the client asks to log in as.
    pub requested_role: &'a str,
    /// The HBA line's `delegate_ident_mapping`: when true, the token itself must grant
    /// `requested_role` through [`IssuerPolicy::role_claim`].
    pub delegate_ident_mapping: bool,
    /// The current time, seconds since the Unix epoch.
    pub now: i64,
}

impl std::fmt::Debug for Request<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("token", &format_args!("<{} bytes>", self.token.len()))
            .field("hba_scopes", &self.hba_scopes)
            .field("requested_role", &self.requested_role)
            .field("delegate_ident_mapping", &self.delegate_ident_mapping)
            .field("now", &self.now)
            .finish()
    }
}

/// The checks that need no token: whether this policy can authorize anything on this HBA
/// line (an audience, a non-implicit scope, a role claim in delegate mode). Run it before
/// fetching keys; [`verify_jwt`] repeats it.
pub fn check_line(
    policy: &IssuerPolicy,
    hba_scopes: &str,
    delegate_ident_mapping: bool,
) -> Result<(), Rejection> {
    if policy.validate().is_err() {
        return Err(Reason::NotConfigured.into());
    }
    RequiredScopes::parse(hba_scopes, &policy.implicit_scopes)
        .map_err(|_| Rejection::for_claim(Reason::NotConfigured, "scope"))?;
    if delegate_ident_mapping && policy.role_claim.is_none() {
        return Err(Rejection::for_claim(Reason::NotConfigured, "role"));
    }
    Ok(())
}

/// A token that passed every check.
///
/// `Debug` shows the claims' names, never their values (they may be personal data).
#[derive(Clone, PartialEq)]
pub struct Verified {
    /// The authenticated identity, for `ValidatorModuleResult.authn_id`.
    pub authn_id: String,
    /// The `kid` of the header, if any.
    pub kid: Option<String>,
    /// The verified algorithm.
    pub alg: Algorithm,
    /// `exp`, seconds since the epoch (floored).
    pub exp: i64,
    /// The client, if [`IssuerPolicy::client_claim`] is configured.
    pub client: Option<String>,
    /// Every claim of the verified payload, for the session ([`crate::session`]).
    pub claims: JsonObject,
}

impl std::fmt::Debug for Verified {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verified")
            .field("authn_id", &self.authn_id)
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("exp", &self.exp)
            .field("client", &self.client)
            .field("claims", &self.claims.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Verifies a JWT access token completely: envelope, header, key, signature, claims, scopes,
/// identity and (in delegate mode) role. See the module documentation for the order.
///
/// `keys` must be the key set of `policy.issuer`. If [`Reason::UnknownKid`] is returned, the
/// caller may refresh the key set (rate-limited) and call again once.
///
/// Never panics; every failure is a [`Rejection`].
pub fn verify_jwt(
    req: &Request<'_>,
    keys: &KeySet,
    policy: &IssuerPolicy,
) -> Result<Verified, Rejection> {
    if policy.validate().is_err() {
        return Err(Reason::NotConfigured.into());
    }
    let scopes = RequiredScopes::parse(req.hba_scopes, &policy.implicit_scopes)
        .map_err(|_| Rejection::for_claim(Reason::NotConfigured, "scope"))?;
    if req.delegate_ident_mapping && policy.role_claim.is_none() {
        return Err(Rejection::for_claim(Reason::NotConfigured, "role"));
    }

    let segments = envelope::split(req.token)?;
    let header = envelope::parse_header_segment(segments.header)?;
    let kid = header.kid.as_deref();
    let reject = |r: Rejection| r.with_kid(kid);

    if !policy.algorithms.contains(&header.alg) {
        return Err(reject(Reason::AlgNotAllowed.into()));
    }
    if !policy.typ_policy.accepts(header.typ.as_deref()) {
        return Err(reject(Reason::WrongTyp.into()));
    }
    let payload = envelope::decode_segment(segments.payload).map_err(|r| reject(r.into()))?;
    let signature = envelope::decode_segment(segments.signature).map_err(|r| reject(r.into()))?;
    let key = keys.select(kid, header.alg).map_err(|r| reject(r.into()))?;

    // ECDSA (R || S) and EdDSA signatures have a fixed length; RSA ones are checked by aws-lc
    // against the modulus.
    let fixed_len = match header.alg {
        Algorithm::ES256 | Algorithm::EdDSA => Some(64),
        Algorithm::ES384 => Some(96),
        _ => None,
    };
    let verified = fixed_len.is_none_or(|len| signature.len() == len)
        && jsonwebtoken::crypto::verify(
            segments.signature,
            segments.signing_input.as_bytes(),
            key.decoding_key(),
            header.alg,
        )
        .unwrap_or(false);
    if !verified {
        return Err(reject(Reason::BadSignature.into()));
    }

    // From here on the issuer vouches for the bytes; still parse strictly.
    let claims = json::parse_object(&payload)
        .map_err(|e| reject(envelope::json_reason(e, Reason::MalformedPayload).into()))?;
    // The identity is named in rejections only once the token is known to be this issuer's,
    // current and meant for this server: another issuer sharing the signing keys (Entra ID
    // tenants do) must not get its chosen identity into the log.
    let reject = |r: Rejection| r.with_kid(kid);
    claims::check_issuer(&claims, policy).map_err(reject)?;
    let validity = claims::check_validity(&claims, policy, req.now).map_err(reject)?;
    let audiences = claims::check_audience(&claims, policy).map_err(reject)?;
    let identity = identity::authn_id(&claims, policy);
    let known = identity.as_ref().ok().cloned();
    let reject = |r: Rejection| Rejection {
        identity: known.clone(),
        ..r.with_kid(kid)
    };
    claims::check_required_claims(&claims, policy).map_err(reject)?;
    let client = claims::check_client(&claims, policy).map_err(reject)?;
    claims::check_subject(&claims).map_err(reject)?;
    scopes.check(&claims, &audiences).map_err(reject)?;
    let authn_id = identity.map_err(|r| r.with_kid(kid))?;
    if req.delegate_ident_mapping {
        identity::check_role(&claims, policy, req.requested_role).map_err(reject)?;
    }
    Ok(Verified {
        authn_id,
        kid: header.kid.clone(),
        alg: header.alg,
        exp: validity.exp,
        client,
        claims,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typ_policy_matrix() {
        let cases: &[(Option<&str>, bool, bool)] = &[
            (None, true, false),
            (Some("JWT"), true, false),
            (Some("jwt"), true, false),
            (Some("application/jwt"), true, false),
            (Some("at+jwt"), true, true),
            (Some("AT+JWT"), true, true),
            (Some("application/at+jwt"), true, true),
            (Some("Application/AT+JWT"), true, true),
            (Some("id_token+jwt"), false, false),
            (Some("logout+jwt"), false, false),
            (Some("secevent+jwt"), false, false),
            (Some("dpop+jwt"), false, false),
            (Some("JOSE"), false, false),
            (Some("JOSE+JSON"), false, false),
            (Some(""), false, false),
            (Some("at+jwt "), false, false),
            (Some("application/application/at+jwt"), false, false),
            (Some("text/at+jwt"), false, false),
        ];
        for &(typ, generic, strict) in cases {
            assert_eq!(TypPolicy::AccessOrGeneric.accepts(typ), generic, "{typ:?}");
            assert_eq!(TypPolicy::AccessOnly.accepts(typ), strict, "{typ:?}");
        }
    }

    #[test]
    fn default_policy_is_valid_and_each_unsafe_setting_is_refused() {
        let good = IssuerPolicy::new("https://idp.example", vec!["db".into()]);
        assert_eq!(good.validate(), Ok(()));
        type Mutation = fn(&mut IssuerPolicy);
        let bad: Vec<(Mutation, PolicyError)> = vec![
            (|p| p.issuer.clear(), PolicyError::EmptyIssuer),
            (|p| p.audiences.clear(), PolicyError::NoAudience),
            (
                |p| p.audiences.push(String::new()),
                PolicyError::EmptyAudience,
            ),
            (|p| p.clock_skew = -1, PolicyError::ClockSkewOutOfRange(-1)),
            (
                |p| p.clock_skew = 301,
                PolicyError::ClockSkewOutOfRange(301),
            ),
            (
                |p| p.max_lifetime = Some(0),
                PolicyError::MaxLifetimeNotPositive,
            ),
            (|p| p.algorithms.clear(), PolicyError::NoAlgorithm),
            (
                |p| p.algorithms.push(Algorithm::HS256),
                PolicyError::SymmetricAlgorithm(Algorithm::HS256),
            ),
            (
                |p| p.algorithms = vec![Algorithm::HS512],
                PolicyError::SymmetricAlgorithm(Algorithm::HS512),
            ),
            (
                |p| p.allowed_clients.push("c".into()),
                PolicyError::AllowedClientsWithoutClientClaim,
            ),
            (
                |p| p.identity_claim = ClaimPath::named(""),
                PolicyError::InvalidClaimPath(String::new()),
            ),
        ];
        for (mutate, expected) in bad {
            let mut p = good.clone();
            mutate(&mut p);
            assert_eq!(p.validate(), Err(expected.clone()), "{expected}");
        }
    }
}
