//! Opaque tokens: judging RFC 7662 introspection and OIDC userinfo responses with the same
//! policy as JWTs, and building the introspection request.
//!
//! Routing (decided by the glue): a token shaped like a compact JWS is verified as a JWT and
//! only as a JWT; introspection and userinfo never rescue a JWT that failed a local check.
//!
//! **Introspection** ([`verify_introspection`]): `active` must be the JSON value `true`
//! (not `"true"`, not `1`); then every claim the response carries is held to the policy:
//! `iss` exact, `exp`/`nbf`/`iat` with the skew and the lifetime cap, the audience (required,
//! as for JWTs: a token must carry one of `pg_bearer.audience`), fixed-value and client
//! claims, the HBA scopes (required: a response without `scope` cannot prove them), the
//! identity claim and, in delegate mode, the role claim. `token_type`, when present, must
//! name an access token: a refresh token sent as a bearer token is refused.
//!
//! **Userinfo** ([`verify_userinfo`], opt-in): the provider only says the token is good for
//! *some* audience, so the audience check cannot apply; `sub` must be a non-empty string, the
//! identity comes from the configured claim (with the `email_verified` rule), fixed-value and
//! client claims are checked as for JWTs (e.g. Google's `hd`), scopes only if the response
//! lists them (and never granted through an audience), roles as for JWTs.

use crate::claims;
use crate::identity;
use crate::json::{self, Json, JsonObject};
use crate::policy::IssuerPolicy;
use crate::reason::{Reason, Rejection};
use crate::scope::RequiredScopes;

/// Largest introspection or userinfo response accepted, in bytes.
pub const MAX_RESPONSE_LEN: usize = 64 * 1024;

/// One login with an opaque token.
#[derive(Clone, Copy, Debug)]
pub struct OpaqueRequest<'a> {
    /// The HBA line's `scope` option.
    pub hba_scopes: &'a str,
    /// The role the client asks for.
    pub requested_role: &'a str,
    /// The HBA line's `delegate_ident_mapping`.
    pub delegate_ident_mapping: bool,
    /// Seconds since the Unix epoch.
    pub now: i64,
}

/// An opaque token the provider vouched for.
///
/// `Debug` shows the claims' names, never their values (they may be personal data).
#[derive(Clone, PartialEq)]
pub struct OpaqueVerified {
    /// The authenticated identity.
    pub authn_id: String,
    /// `exp` if the response carried it (seconds since the epoch): caches must not outlive it.
    pub exp: Option<i64>,
    /// Every member of the provider's answer, for the session ([`crate::session`]).
    pub claims: JsonObject,
}

impl std::fmt::Debug for OpaqueVerified {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpaqueVerified")
            .field("authn_id", &self.authn_id)
            .field("exp", &self.exp)
            .field("claims", &self.claims.keys().collect::<Vec<_>>())
            .finish()
    }
}

fn parse_response(body: &[u8]) -> Result<JsonObject, Rejection> {
    if body.len() > MAX_RESPONSE_LEN {
        return Err(Reason::MalformedResponse.into());
    }
    json::parse_object(body).map_err(|e| match e {
        json::JsonError::DuplicateMember => Reason::DuplicateMember.into(),
        _ => Reason::MalformedResponse.into(),
    })
}

fn preconditions<'a>(
    req: &OpaqueRequest<'a>,
    policy: &IssuerPolicy,
) -> Result<RequiredScopes<'a>, Rejection> {
    if policy.validate().is_err() {
        return Err(Reason::NotConfigured.into());
    }
    if req.delegate_ident_mapping && policy.role_claim.is_none() {
        return Err(Rejection::for_claim(Reason::NotConfigured, "role"));
    }
    RequiredScopes::parse(req.hba_scopes, &policy.implicit_scopes)
        .map_err(|_| Rejection::for_claim(Reason::NotConfigured, "scope"))
}

/// Time claims, when present: `exp` not passed, `nbf` reached, `iat` not in the future, and
/// the lifetime cap. Returns `exp`.
fn check_times(
    claims: &JsonObject,
    policy: &IssuerPolicy,
    now: i64,
) -> Result<Option<i64>, Rejection> {
    if !claims.contains_key("exp") {
        for name in ["nbf", "iat"] {
            if let Some(v) = claims.get(name) {
                let t = claims::numeric_date(v)
                    .ok_or(Rejection::for_claim(Reason::MalformedClaim, name))?;
                let future = if name == "nbf" {
                    now < t - policy.clock_skew
                } else {
                    t > now + policy.clock_skew
                };
                if future {
                    return Err(Rejection::for_claim(
                        if name == "nbf" {
                            Reason::NotYetValid
                        } else {
                            Reason::IssuedInFuture
                        },
                        name,
                    ));
                }
            }
        }
        return Ok(None);
    }
    let mut relaxed = policy.clone();
    relaxed.require_iat = false;
    claims::check_validity(claims, &relaxed, now).map(|v| Some(v.exp))
}

/// Judges an RFC 7662 introspection response for this login. See the module documentation.
pub fn verify_introspection(
    body: &[u8],
    req: &OpaqueRequest<'_>,
    policy: &IssuerPolicy,
) -> Result<OpaqueVerified, Rejection> {
    let scopes = preconditions(req, policy)?;
    let claims = parse_response(body)?;
    match claims.get("active") {
        Some(Json::Bool(true)) => {}
        Some(Json::Bool(false)) => return Err(Reason::TokenInactive.into()),
        _ => return Err(Rejection::for_claim(Reason::MalformedResponse, "active")),
    }
    check_token_type(&claims)?;
    if claims.contains_key("iss") {
        claims::check_issuer(&claims, policy)?;
    }
    let exp = check_times(&claims, policy, req.now)?;
    let audiences = claims::check_audience(&claims, policy)?;
    // Named in rejections only from here on (see verify_jwt).
    let identity = identity::authn_id(&claims, policy);
    let known = identity.as_ref().ok().cloned();
    let reject = |r: Rejection| Rejection {
        identity: known.clone(),
        ..r
    };
    claims::check_required_claims(&claims, policy).map_err(reject)?;
    claims::check_client(&claims, policy).map_err(reject)?;
    if let Some(sub) = claims.get("sub") {
        if !matches!(sub, Json::String(s) if !s.is_empty()) {
            return Err(reject(Rejection::for_claim(Reason::MalformedClaim, "sub")));
        }
    }
    scopes.check(&claims, &audiences).map_err(reject)?;
    let authn_id = identity?;
    if req.delegate_ident_mapping {
        identity::check_role(&claims, policy, req.requested_role).map_err(reject)?;
    }
    Ok(OpaqueVerified {
        authn_id,
        exp,
        claims,
    })
}

/// `token_type` (RFC 7662) and Keycloak's `typ`, when present, must name an access token.
fn check_token_type(claims: &JsonObject) -> Result<(), Rejection> {
    match claims.get("token_type") {
        None => {}
        Some(Json::String(t)) if t.eq_ignore_ascii_case("bearer") || t == "access_token" => {}
        Some(Json::String(_)) => {
            return Err(Rejection::for_claim(Reason::WrongTokenType, "token_type"))
        }
        Some(_) => return Err(Rejection::for_claim(Reason::MalformedClaim, "token_type")),
    }
    match claims.get("typ") {
        Some(Json::String(t)) if ["Refresh", "Offline", "ID", "Logout"].contains(&t.as_str()) => {
            Err(Rejection::for_claim(Reason::WrongTokenType, "typ"))
        }
        _ => Ok(()),
    }
}

/// Judges a userinfo response for this login. See the module documentation.
pub fn verify_userinfo(
    body: &[u8],
    req: &OpaqueRequest<'_>,
    policy: &IssuerPolicy,
) -> Result<OpaqueVerified, Rejection> {
    let scopes = preconditions(req, policy)?;
    let claims = parse_response(body)?;
    match claims.get("sub") {
        Some(Json::String(s)) if !s.is_empty() => {}
        Some(_) => return Err(Rejection::for_claim(Reason::MalformedClaim, "sub")),
        None => return Err(Rejection::for_claim(Reason::MissingClaim, "sub")),
    }
    if claims.contains_key("iss") {
        claims::check_issuer(&claims, policy)?;
    }
    let identity = identity::authn_id(&claims, policy);
    let known = identity.as_ref().ok().cloned();
    let reject = |r: Rejection| Rejection {
        identity: known.clone(),
        ..r
    };
    claims::check_required_claims(&claims, policy).map_err(reject)?;
    claims::check_client(&claims, policy).map_err(reject)?;
    if claims.contains_key("scope") || claims.contains_key("scp") {
        // Userinfo proves no audience, so no scope is granted through one.
        scopes.check(&claims, &[]).map_err(reject)?;
    }
    let authn_id = identity?;
    if req.delegate_ident_mapping {
        identity::check_role(&claims, policy, req.requested_role).map_err(reject)?;
    }
    Ok(OpaqueVerified {
        authn_id,
        exp: None,
        claims,
    })
}

/// Client authentication at the introspection endpoint (RFC 7662 §2.1, RFC 6749 §2.3.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ClientAuth {
    /// HTTP Basic with the form-encoded client id and secret. The default.
    #[default]
    SecretBasic,
    /// `client_id` and `client_secret` in the form body.
    SecretPost,
}

impl ClientAuth {
    /// Parses `client_secret_basic` or `client_secret_post`.
    pub fn parse(text: &str) -> Option<ClientAuth> {
        match text {
            "" | "client_secret_basic" => Some(ClientAuth::SecretBasic),
            "client_secret_post" => Some(ClientAuth::SecretPost),
            _ => None,
        }
    }
}

/// An introspection request: the form body and, for Basic, the `Authorization` value. Both
/// carry secrets (the token, the client secret): never log them.
#[derive(Clone, PartialEq, Eq)]
pub struct IntrospectionRequest {
    /// `application/x-www-form-urlencoded` body.
    pub body: String,
    /// `Authorization` header value, for [`ClientAuth::SecretBasic`].
    pub authorization: Option<String>,
}

impl std::fmt::Debug for IntrospectionRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IntrospectionRequest { .. }")
    }
}

/// Builds the POST for `token` with `token_type_hint=access_token`.
pub fn introspection_request(
    token: &str,
    client_id: &str,
    client_secret: &str,
    auth: ClientAuth,
) -> IntrospectionRequest {
    use base64::Engine as _;
    let mut body = format!("token={}&token_type_hint=access_token", form_encode(token));
    let authorization = match auth {
        ClientAuth::SecretBasic => {
            let pair = format!("{}:{}", form_encode(client_id), form_encode(client_secret));
            Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            ))
        }
        ClientAuth::SecretPost => {
            body.push_str(&format!(
                "&client_id={}&client_secret={}",
                form_encode(client_id),
                form_encode(client_secret)
            ));
            None
        }
    };
    IntrospectionRequest {
        body,
        authorization,
    }
}

/// `application/x-www-form-urlencoded` encoding of one value (RFC 6749 Appendix B).
pub fn form_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_encoding_escapes_everything_but_the_unreserved_set() {
        assert_eq!(form_encode("a b+c/d=e~f:g%"), "a+b%2Bc%2Fd%3De%7Ef%3Ag%25");
        assert_eq!(form_encode("AZaz09-._*"), "AZaz09-._*");
    }

    #[test]
    fn basic_auth_encodes_the_form_encoded_pair() {
        let r = introspection_request("tok.en", "pg:db", "s3cr et", ClientAuth::SecretBasic);
        assert_eq!(r.body, "token=tok.en&token_type_hint=access_token");
        // base64("pg%3Adb:s3cr+et")
        assert_eq!(
            r.authorization.as_deref(),
            Some("Basic cGclM0FkYjpzM2NyK2V0")
        );
    }

    #[test]
    fn post_auth_puts_the_credentials_in_the_body() {
        let r = introspection_request("t", "id", "sec", ClientAuth::SecretPost);
        assert_eq!(
            r.body,
            "token=t&token_type_hint=access_token&client_id=id&client_secret=sec"
        );
        assert_eq!(r.authorization, None);
    }

    #[test]
    fn debug_output_hides_the_token_and_the_secret() {
        let r = introspection_request("secret-token", "id", "secret-pass", ClientAuth::SecretPost);
        let shown = format!("{r:?}");
        assert!(!shown.contains("secret"), "{shown}");
    }

    #[test]
    fn client_auth_parses_the_two_methods_and_nothing_else() {
        assert_eq!(ClientAuth::parse(""), Some(ClientAuth::SecretBasic));
        assert_eq!(
            ClientAuth::parse("client_secret_post"),
            Some(ClientAuth::SecretPost)
        );
        assert_eq!(ClientAuth::parse("private_key_jwt"), None);
        assert_eq!(ClientAuth::parse("CLIENT_SECRET_BASIC"), None);
    }
}

#[cfg(test)]
mod verdict_tests {
    use super::*;
    use crate::claims::ClaimPath;

    const NOW: i64 = 1_800_000_000;

    fn policy() -> IssuerPolicy {
        IssuerPolicy::new("https://idp.example", vec!["db".into()])
    }

    fn req() -> OpaqueRequest<'static> {
        OpaqueRequest {
            hba_scopes: "openid postgres",
            requested_role: "alice",
            delegate_ident_mapping: false,
            now: NOW,
        }
    }

    fn body(v: serde_json::Value) -> Vec<u8> {
        v.to_string().into_bytes()
    }

    fn active() -> serde_json::Value {
        serde_json::json!({"active": true, "iss": "https://idp.example", "aud": "db", "sub": "alice",
                           "scope": "openid postgres", "exp": NOW + 60})
    }

    #[test]
    fn an_active_answer_for_this_server_is_accepted() {
        let v = verify_introspection(&body(active()), &req(), &policy()).unwrap();
        assert_eq!(v.authn_id, "alice");
        assert_eq!(v.exp, Some(NOW + 60));
        // The session keeps the whole answer.
        let names: Vec<&str> = v.claims.keys().map(String::as_str).collect();
        assert_eq!(names, ["active", "aud", "exp", "iss", "scope", "sub"]);
        // Debug names the claims but shows none of their values.
        let debug = format!("{v:?}");
        assert!(debug.contains("\"scope\"") && !debug.contains("openid postgres"));
    }

    #[test]
    fn only_the_json_value_true_means_active() {
        for a in [
            serde_json::json!("true"),
            serde_json::json!(1),
            serde_json::json!(null),
            serde_json::json!([true]),
        ] {
            let mut b = active();
            b["active"] = a.clone();
            let r = verify_introspection(&body(b), &req(), &policy()).unwrap_err();
            assert_eq!(r.reason, Reason::MalformedResponse, "{a}");
        }
        let mut b = active();
        b.as_object_mut().unwrap().remove("active");
        assert_eq!(
            verify_introspection(&body(b), &req(), &policy())
                .unwrap_err()
                .reason,
            Reason::MalformedResponse
        );
    }

    #[test]
    fn identity_is_not_reported_for_a_foreign_issuer_or_audience() {
        for (k, v) in [("iss", "https://other.example"), ("aud", "other-db")] {
            let mut b = active();
            b[k] = serde_json::json!(v);
            let r = verify_introspection(&body(b), &req(), &policy()).unwrap_err();
            assert_eq!(r.identity, None, "{k}");
        }
    }

    #[test]
    fn userinfo_holds_fixed_value_claims_such_as_a_google_domain() {
        let mut p = policy();
        p.required_claims = vec![(ClaimPath::parse("hd").unwrap(), "example.com".into())];
        let ok = serde_json::json!({"sub": "1", "hd": "example.com"});
        p.identity_claim = ClaimPath::parse("sub").unwrap();
        assert!(verify_userinfo(&body(ok), &req(), &p).is_ok());
        let other = serde_json::json!({"sub": "1", "hd": "evil.example"});
        assert_eq!(
            verify_userinfo(&body(other), &req(), &p)
                .unwrap_err()
                .reason,
            Reason::ClaimMismatch
        );
        let none = serde_json::json!({"sub": "1"});
        assert_eq!(
            verify_userinfo(&body(none), &req(), &p).unwrap_err().reason,
            Reason::MissingClaim
        );
    }

    #[test]
    fn userinfo_never_grants_a_resource_scope_through_the_configured_audience() {
        // "db/.default" would be satisfied by the audience "db" for a JWT; userinfo proves none.
        let r = OpaqueRequest {
            hba_scopes: "db/.default",
            ..req()
        };
        let b = serde_json::json!({"sub": "alice", "scope": "openid"});
        assert_eq!(
            verify_userinfo(&body(b), &r, &policy()).unwrap_err().reason,
            Reason::MissingScope
        );
    }
}
