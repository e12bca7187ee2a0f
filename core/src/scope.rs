//! Scopes: does the token grant what the HBA line's `scope=` asks for?
//!
//! # The rule
//!
//! The HBA `scope` option is a space-separated list. Each scope on it is one of these kinds:
//!
//! 1. **Implicit** scopes ([`crate::policy::IssuerPolicy::implicit_scopes`], by default
//!    `openid` and `offline_access`) are protocol scopes: the client asks for them to obtain an
//!    ID token or a refresh token, and most providers (Entra ID, Okta, Cognito) leave them out
//!    of the access token. They are not required to appear in the token.
//! 2. Every other scope must be **granted**, in one of three ways:
//!    - as an exact, case-sensitive word of the token's `scope` (a space-separated string,
//!      RFC 9068 §2.2.3) or `scp` (a space-separated string, or an array of strings: Okta,
//!      Entra ID). `postgresql` does not satisfy `postgres`; there is no prefix or substring
//!      matching. A `scope` that is not a string is [`Reason::MalformedClaim`] (only `scp`
//!      may be an array);
//!    - as a **resource-qualified** scope `A/S` where `A` is one of the token's accepted
//!      audience values and `S` is a word of the token's scopes. Entra ID is asked for
//!      `api://db/Db.Login` and issues `aud: "api://db"`, `scp: "Db.Login"`: the resource
//!      moved to the audience, the permission stayed in the scope;
//!    - as a **resource** scope, which names a resource rather than a permission and which the
//!      provider turns into the token's audience: `R/.default` (Entra ID: "everything this
//!      client was granted on resource R"), `audience:server:client_id:R` (Dex cross-client
//!      scope: "issue a token whose `aud` is client R") and
//!      `urn:zitadel:iam:org:project:id:R:aud` (Zitadel: "add project R to the audience").
//!      It is satisfied iff `R` equals one of the token's accepted audience values.
//!
//!    "Accepted audience values" are those of the token's audience claim that are also in
//!    [`crate::policy::IssuerPolicy::audiences`] (see [`crate::claims::check_audience`]).
//!    Requiring `A`/`R` to be in the token, not merely configured, keeps two HBA lines that
//!    share an issuer but name different resources apart.
//!
//! A line must contain at least one scope that is not implicit: a line with no scope, or only
//! implicit ones, would authorize any token the issuer ever minted for this audience, which
//! the PostgreSQL validator documentation warns against. Such a line is a configuration error
//! ([`PolicyError::NoHbaScope`], [`PolicyError::OnlyImplicitScopes`]) and every token on it is
//! refused with [`Reason::NotConfigured`].

use crate::json::{Json, JsonObject};
use crate::policy::PolicyError;
use crate::reason::{Reason, Rejection};

/// The scopes an HBA line requires of a token, implicit ones removed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequiredScopes<'a> {
    scopes: Vec<&'a str>,
}

impl<'a> RequiredScopes<'a> {
    /// Parses the HBA `scope` value (scopes separated by spaces) and drops the implicit ones.
    /// Fails if nothing but implicit scopes (or nothing at all) remains.
    pub fn parse(hba_scope: &'a str, implicit: &[String]) -> Result<Self, PolicyError> {
        let all: Vec<&str> = hba_scope.split(' ').filter(|s| !s.is_empty()).collect();
        if all.is_empty() {
            return Err(PolicyError::NoHbaScope);
        }
        let scopes: Vec<&str> = all
            .into_iter()
            .filter(|s| !implicit.iter().any(|i| i == s))
            .collect();
        if scopes.is_empty() {
            return Err(PolicyError::OnlyImplicitScopes);
        }
        Ok(RequiredScopes { scopes })
    }

    /// The required (non-implicit) scopes, in HBA order.
    pub fn scopes(&self) -> &[&'a str] {
        &self.scopes
    }

    /// Checks that the token grants every required scope (see the module documentation).
    /// `audiences` are the token's accepted audience values, from
    /// [`crate::claims::check_audience`].
    pub fn check(&self, claims: &JsonObject, audiences: &[&str]) -> Result<(), Rejection> {
        let granted = granted_scopes(claims)?;
        for &wanted in &self.scopes {
            let by_word = granted.contains(&wanted);
            let by_resource = resource_of(wanted).is_some_and(|r| audiences.contains(&r));
            let by_qualified = audiences.iter().any(|aud| {
                wanted
                    .strip_prefix(aud)
                    .and_then(|rest| rest.strip_prefix('/'))
                    .is_some_and(|word| !word.is_empty() && granted.contains(&word))
            });
            if !(by_word || by_resource || by_qualified) {
                return Err(Rejection::for_claim(Reason::MissingScope, "scope"));
            }
        }
        Ok(())
    }
}

/// The resource a resource scope names, if `scope` is one.
pub fn resource_of(scope: &str) -> Option<&str> {
    let resource = scope
        .strip_suffix("/.default")
        .or_else(|| scope.strip_prefix("audience:server:client_id:"))
        .or_else(|| {
            scope
                .strip_prefix("urn:zitadel:iam:org:project:id:")?
                .strip_suffix(":aud")
        })?;
    (!resource.is_empty()).then_some(resource)
}

/// Collects the scope words the token grants: the words of `scope` (a space-separated
/// string), then those of `scp` (a space-separated string or an array of strings), in token
/// order, repeats included. A `scope` that is not a string, or an `scp` that is neither, is
/// [`Reason::MalformedClaim`].
pub fn granted_scopes(claims: &JsonObject) -> Result<Vec<&str>, Rejection> {
    let malformed = || Rejection::for_claim(Reason::MalformedClaim, "scope");
    let mut words = Vec::new();
    match claims.get("scope") {
        None => {}
        Some(Json::String(s)) => words.extend(s.split(' ').filter(|w| !w.is_empty())),
        Some(_) => return Err(malformed()),
    }
    match claims.get("scp") {
        None => {}
        Some(Json::String(s)) => words.extend(s.split(' ').filter(|w| !w.is_empty())),
        Some(Json::Array(items)) => {
            for item in items {
                words.push(item.as_str().ok_or_else(malformed)?);
            }
        }
        Some(_) => return Err(malformed()),
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::parse_object;

    fn implicit() -> Vec<String> {
        vec!["openid".into(), "offline_access".into()]
    }

    #[test]
    fn hba_scope_lists_need_a_non_implicit_scope() {
        assert_eq!(
            RequiredScopes::parse("", &implicit()),
            Err(PolicyError::NoHbaScope)
        );
        assert_eq!(
            RequiredScopes::parse("   ", &implicit()),
            Err(PolicyError::NoHbaScope)
        );
        assert_eq!(
            RequiredScopes::parse("openid offline_access", &implicit()),
            Err(PolicyError::OnlyImplicitScopes)
        );
        let r = RequiredScopes::parse("openid  postgres db:read", &implicit()).unwrap();
        assert_eq!(r.scopes(), ["postgres", "db:read"]);
        // With no implicit scopes configured, openid is an ordinary permission.
        assert_eq!(
            RequiredScopes::parse("openid", &[]).unwrap().scopes(),
            ["openid"]
        );
    }

    #[test]
    fn resource_scopes_are_recognised() {
        assert_eq!(resource_of("api://db/.default"), Some("api://db"));
        assert_eq!(resource_of("6e1c0f3a-aaaa/.default"), Some("6e1c0f3a-aaaa"));
        assert_eq!(resource_of("audience:server:client_id:pg"), Some("pg"));
        assert_eq!(
            resource_of("urn:zitadel:iam:org:project:id:2871:aud"),
            Some("2871")
        );
        assert_eq!(resource_of("urn:zitadel:iam:org:project:id::aud"), None);
        assert_eq!(resource_of("urn:zitadel:iam:org:project:id:2871"), None);
        for s in [
            "/.default",
            ".default",
            "audience:server:client_id:",
            "postgres",
            "x.default",
        ] {
            assert_eq!(resource_of(s), None, "{s}");
        }
    }

    #[test]
    fn scope_words_match_exactly() {
        let r = RequiredScopes::parse("openid postgres", &implicit()).unwrap();
        let check = |claims: &str| r.check(&parse_object(claims.as_bytes()).unwrap(), &[]);
        assert!(check(r#"{"scope":"postgres"}"#).is_ok());
        assert!(check(r#"{"scope":"openid email postgres"}"#).is_ok());
        assert!(check(r#"{"scp":"postgres"}"#).is_ok());
        assert!(check(r#"{"scp":["a","postgres"]}"#).is_ok());
        for claims in [
            r#"{}"#,
            r#"{"scope":"postgresql"}"#,
            r#"{"scope":"postgre"}"#,
            r#"{"scope":"Postgres"}"#,
            r#"{"scope":"openid"}"#,
            r#"{"scope":"postgres,openid"}"#,
            r#"{"scope":"x:postgres"}"#,
            r#"{"scope":"postgres\tx"}"#,
            r#"{"scp":["postgres x"]}"#,
            r#"{"scope":""}"#,
            r#"{"scp":[]}"#,
        ] {
            assert_eq!(
                check(claims).unwrap_err().reason,
                Reason::MissingScope,
                "{claims}"
            );
        }
        for claims in [
            r#"{"scope":["postgres"]}"#,
            r#"{"scope":{"postgres":true}}"#,
            r#"{"scope":null}"#,
            r#"{"scp":["postgres",1]}"#,
            r#"{"scp":true}"#,
        ] {
            assert_eq!(
                check(claims).unwrap_err().reason,
                Reason::MalformedClaim,
                "{claims}"
            );
        }
    }

    #[test]
    fn resource_scopes_are_satisfied_by_the_accepted_audience_only() {
        let r = RequiredScopes::parse("api://db/.default", &implicit()).unwrap();
        let empty = parse_object(b"{}").unwrap();
        assert!(r.check(&empty, &["api://db"]).is_ok());
        assert!(r.check(&empty, &["api://db2"]).is_err());
        assert!(r.check(&empty, &["api://db/"]).is_err());
        assert!(r.check(&empty, &[]).is_err());
        let verbatim = parse_object(br#"{"scp":"api://db/.default"}"#).unwrap();
        assert!(r.check(&verbatim, &[]).is_ok());
    }

    #[test]
    fn resource_qualified_scopes_need_the_audience_and_the_word() {
        let r = RequiredScopes::parse("openid api://db/Db.Login", &implicit()).unwrap();
        let scp = parse_object(br#"{"scp":"Db.Login User.Read"}"#).unwrap();
        assert!(r.check(&scp, &["api://db"]).is_ok());
        assert!(r.check(&scp, &["api://other"]).is_err());
        assert!(r.check(&scp, &["api:"]).is_err());
        assert!(r.check(&scp, &["api://db/"]).is_err());
        assert!(r.check(&scp, &[]).is_err());
        let other_word = parse_object(br#"{"scp":"Db.Read"}"#).unwrap();
        assert!(r.check(&other_word, &["api://db"]).is_err());
        let full = parse_object(br#"{"scp":"api://db/Db.Login"}"#).unwrap();
        assert!(r.check(&full, &[]).is_ok());
        let empty_word = RequiredScopes::parse("api://db/", &implicit()).unwrap();
        assert!(empty_word
            .check(&parse_object(br#"{"scp":""}"#).unwrap(), &["api://db"])
            .is_err());
    }
}
