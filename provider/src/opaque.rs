//! Opaque tokens: RFC 7662 introspection or (opt-in) the userinfo endpoint, with answers kept
//! in the shared result cache keyed by a SHA-256 of the token (never the token itself).
//!
//! Every answer, fresh or cached, is judged by `pg_bearer_core::introspection` against the
//! policy of the HBA line at hand. Only the answers that say something lasting are cached:
//! an accepted token (until its `exp`, at most `pg_bearer.result_cache_ttl`) and an inactive
//! one (`pg_bearer.negative_cache_ttl`); provider failures are not.

use pg_bearer_core::config::{OpaqueSettings, SecretSource};
use pg_bearer_core::discovery::check_endpoint_url;
use pg_bearer_core::introspection::{
    introspection_request, verify_introspection, verify_userinfo, OpaqueRequest, OpaqueVerified,
    MAX_RESPONSE_LEN,
};
use pg_bearer_core::policy::IssuerPolicy;
use pg_bearer_core::reason::{Reason, Rejection};
use pg_bearer_core::request_budget;
use pg_bearer_core::result_cache::{self, EntryKind, Lookup, Tag};
use pg_bearer_core::stats::RequestKind;

use crate::fetch::counted;
use crate::http;
use crate::refusal::{Failure, Refusal};
use crate::Provider;

/// Everything one opaque-token check needs.
pub struct OpaqueCheck<'a> {
    pub token: &'a str,
    pub issuer: &'a str,
    pub request: OpaqueRequest<'a>,
    pub policy: &'a IssuerPolicy,
    pub opaque: &'a OpaqueSettings,
    pub provider: Provider<'a>,
    /// Whether a cache miss takes from the issuer's unknown-token budget: true for opaque
    /// tokens, false for JWTs that already passed every local check (`introspect_jwts`),
    /// which only the provider's keys can make.
    pub budgeted: bool,
}

impl OpaqueCheck<'_> {
    /// The result-cache scope: the issuer and how its provider is reached, so that answers
    /// fetched one way are not used after a reload changes the way.
    fn scope(&self) -> String {
        format!(
            "{}\n{}",
            self.issuer,
            self.provider.settings.transport_tag()
        )
    }

    /// Refuses, without a request, a cache miss over the issuer's unknown-token budget.
    fn spend_budget(&self) -> Result<(), Refusal> {
        if !self.budgeted {
            return Ok(());
        }
        let key = request_budget::budget_key(&self.scope());
        let now = crate::clock::now_ms();
        let policy = self.provider.settings.unknown_token_budget;
        if self.provider.results.take_budget(&key, now, policy) {
            Ok(())
        } else {
            Err(Failure::new(Reason::RateLimited,
                "too many tokens unknown to the result cache for this issuer (pg_bearer.unknown_token_rate); the provider was not asked",
            )
            .into())
        }
    }
}

/// Asks the introspection endpoint (or the cache) about the token.
pub fn introspect(check: &OpaqueCheck<'_>, endpoint: &str) -> Result<OpaqueVerified, Refusal> {
    let key = result_cache::token_key(&check.scope(), Lookup::Introspection, check.token);
    let provider = check.provider;
    let settings = provider.settings;
    if let Some((kind, body)) = provider.results.lookup(&key, crate::clock::now_ms()) {
        return match kind {
            EntryKind::Inactive => Err(Refusal::Token(Reason::TokenInactive.into())),
            _ => Ok(verify_introspection(&body, &check.request, check.policy)?),
        };
    }
    check_endpoint_url(endpoint, settings.allow_http).map_err(|e| {
        Failure::new(
            Reason::NotConfigured,
            format!("introspection endpoint: {e}"),
        )
    })?;
    let secret = client_secret(&check.opaque.client_secret, provider)?;
    check.spend_budget()?;
    let request = introspection_request(
        check.token,
        &check.opaque.client_id,
        &secret,
        check.opaque.auth,
    );
    let response = http::post_form(
        endpoint,
        &crate::fetch::http_policy(settings, MAX_RESPONSE_LEN),
        provider.host,
        request.body,
        request.authorization,
    )
    .map_err(|e| Failure::new(Reason::IntrospectionFailed, e.to_string()))
    .and_then(|r| crate::fetch::require_json_200(r, Reason::IntrospectionFailed));
    let response = counted(provider, check.issuer, RequestKind::Introspection, response)?;
    let verdict = verify_introspection(&response.body, &check.request, check.policy);
    remember(
        check,
        &key,
        &verdict,
        &response.body,
        EntryKind::Introspection,
    );
    Ok(verdict?)
}

/// Asks the userinfo endpoint (or the cache) about the token.
pub fn userinfo(check: &OpaqueCheck<'_>, endpoint: &str) -> Result<OpaqueVerified, Refusal> {
    let key = result_cache::token_key(&check.scope(), Lookup::Userinfo, check.token);
    let provider = check.provider;
    let settings = provider.settings;
    if let Some((_, body)) = provider.results.lookup(&key, crate::clock::now_ms()) {
        return Ok(verify_userinfo(&body, &check.request, check.policy)?);
    }
    check_endpoint_url(endpoint, settings.allow_http)
        .map_err(|e| Failure::new(Reason::NotConfigured, format!("userinfo endpoint: {e}")))?;
    check.spend_budget()?;
    let response = http::get_with_bearer(
        endpoint,
        &crate::fetch::http_policy(settings, MAX_RESPONSE_LEN),
        provider.host,
        check.token,
    )
    .map_err(|e| Failure::new(Reason::UserinfoFailed, e.to_string()));
    if let Ok(r) = &response {
        if r.status == 401 || r.status == 403 {
            // The provider refuses the token itself: an answer, not a failure.
            counted(provider, check.issuer, RequestKind::Userinfo, Ok(()))?;
            return Err(Refusal::Token(Reason::TokenInactive.into()));
        }
    }
    let response = response.and_then(|r| crate::fetch::require_json_200(r, Reason::UserinfoFailed));
    let response = counted(provider, check.issuer, RequestKind::Userinfo, response)?;
    let verdict = verify_userinfo(&response.body, &check.request, check.policy);
    remember(check, &key, &verdict, &response.body, EntryKind::Userinfo);
    Ok(verdict?)
}

fn remember(
    check: &OpaqueCheck<'_>,
    key: &[u8; 32],
    verdict: &Result<OpaqueVerified, Rejection>,
    body: &[u8],
    kind: EntryKind,
) {
    let settings = check.provider.settings;
    let (kind, body, exp) = match verdict {
        Ok(v) => (kind, body, v.exp),
        Err(r) if r.reason == Reason::TokenInactive => (EntryKind::Inactive, &b""[..], None),
        // Refused by this line's policy, or malformed: judged again next time.
        Err(_) => return,
    };
    let now = crate::clock::now_ms();
    let ttl = result_cache::ttl_ms(
        now,
        kind,
        exp,
        settings.result_cache_ttl,
        settings.negative_cache_ttl,
    );
    let tag = Tag::new(check.issuer, check.token);
    check
        .provider
        .results
        .insert(key, kind, body, now, ttl, &tag);
}

/// The client secret, from the issuers file or the file named by the settings.
fn client_secret(source: &SecretSource, provider: Provider<'_>) -> Result<String, Failure> {
    match source {
        SecretSource::None => Err(Failure::new(Reason::NotConfigured, "no client secret")),
        SecretSource::Inline(secret) => Ok(secret.clone()),
        SecretSource::File(path) => {
            let checked = crate::files::read_secret(path, 4096).map_err(|e| {
                Failure::new(
                    Reason::NotConfigured,
                    format!("client secret file {path}: {e}"),
                )
            })?;
            if let Some(w) = checked.warning {
                provider.host.warning(&format!(
                    "client secret file {}: {w}",
                    crate::printable(path)
                ));
            }
            let bytes = checked.bytes;
            let text = String::from_utf8(bytes).map_err(|_| {
                Failure::new(
                    Reason::NotConfigured,
                    format!("client secret file {path}: not UTF-8"),
                )
            })?;
            let secret = text.trim();
            if secret.is_empty() {
                return Err(Failure::new(
                    Reason::NotConfigured,
                    format!("client secret file {path} is empty"),
                ));
            }
            Ok(secret.to_owned())
        }
    }
}
