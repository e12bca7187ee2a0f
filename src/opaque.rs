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
use crate::gucs::Settings;
use crate::http;
use crate::refusal::{Failure, Refusal};
use crate::shmem::ResultCache;

/// Everything one opaque-token check needs.
pub(crate) struct OpaqueCheck<'a> {
    pub token: &'a str,
    pub issuer: &'a str,
    pub request: OpaqueRequest<'a>,
    pub policy: &'a IssuerPolicy,
    pub opaque: &'a OpaqueSettings,
    pub settings: &'a Settings,
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
            crate::fetch::transport_tag(self.settings)
        )
    }

    /// Refuses, without a request, a cache miss over the issuer's unknown-token budget.
    fn spend_budget(&self) -> Result<(), Refusal> {
        if !self.budgeted {
            return Ok(());
        }
        let key = request_budget::budget_key(&self.scope());
        let now = crate::clock::now_ms();
        let policy = self.settings.unknown_token_budget;
        let allowed = ResultCache::attach()
            .with_budgets(|budgets| request_budget::try_take(budgets, &key, now, policy));
        if allowed {
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
pub(crate) fn introspect(
    check: &OpaqueCheck<'_>,
    endpoint: &str,
) -> Result<OpaqueVerified, Refusal> {
    let key = result_cache::token_key(&check.scope(), Lookup::Introspection, check.token);
    if let Some((kind, body)) = cached(&key) {
        return match kind {
            EntryKind::Inactive => Err(Refusal::Token(Reason::TokenInactive.into())),
            _ => Ok(verify_introspection(&body, &check.request, check.policy)?),
        };
    }
    check_endpoint_url(endpoint, check.settings.allow_http).map_err(|e| {
        Failure::new(
            Reason::NotConfigured,
            format!("introspection endpoint: {e}"),
        )
    })?;
    let secret = client_secret(&check.opaque.client_secret)?;
    check.spend_budget()?;
    let request = introspection_request(
        check.token,
        &check.opaque.client_id,
        &secret,
        check.opaque.auth,
    );
    let response = http::post_form(
        endpoint,
        &crate::fetch::http_policy(check.settings, MAX_RESPONSE_LEN),
        request.body,
        request.authorization,
    )
    .map_err(|e| Failure::new(Reason::IntrospectionFailed, e.to_string()))
    .and_then(|r| crate::fetch::require_json_200(r, Reason::IntrospectionFailed));
    let response = counted(check.issuer, RequestKind::Introspection, response)?;
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
pub(crate) fn userinfo(check: &OpaqueCheck<'_>, endpoint: &str) -> Result<OpaqueVerified, Refusal> {
    let key = result_cache::token_key(&check.scope(), Lookup::Userinfo, check.token);
    if let Some((_, body)) = cached(&key) {
        return Ok(verify_userinfo(&body, &check.request, check.policy)?);
    }
    check_endpoint_url(endpoint, check.settings.allow_http)
        .map_err(|e| Failure::new(Reason::NotConfigured, format!("userinfo endpoint: {e}")))?;
    check.spend_budget()?;
    let response = http::get_with_bearer(
        endpoint,
        &crate::fetch::http_policy(check.settings, MAX_RESPONSE_LEN),
        check.token,
    )
    .map_err(|e| Failure::new(Reason::UserinfoFailed, e.to_string()));
    if let Ok(r) = &response {
        if r.status == 401 || r.status == 403 {
            // The provider refuses the token itself: an answer, not a failure.
            counted(check.issuer, RequestKind::Userinfo, Ok(()))?;
            return Err(Refusal::Token(Reason::TokenInactive.into()));
        }
    }
    let response = response.and_then(|r| crate::fetch::require_json_200(r, Reason::UserinfoFailed));
    let response = counted(check.issuer, RequestKind::Userinfo, response)?;
    let verdict = verify_userinfo(&response.body, &check.request, check.policy);
    remember(check, &key, &verdict, &response.body, EntryKind::Userinfo);
    Ok(verdict?)
}

fn cached(key: &[u8; 32]) -> Option<(EntryKind, Vec<u8>)> {
    let now = crate::clock::now_ms();
    ResultCache::attach().with_entries(|entries| result_cache::lookup(entries, key, now))
}

fn remember(
    check: &OpaqueCheck<'_>,
    key: &[u8; 32],
    verdict: &Result<OpaqueVerified, Rejection>,
    body: &[u8],
    kind: EntryKind,
) {
    let settings = check.settings;
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
    ResultCache::attach().with_entries(|entries| {
        result_cache::insert_tagged(entries, key, kind, body, now, ttl, &tag);
    });
}

/// The client secret, from the issuers file or the file named by the settings.
fn client_secret(source: &SecretSource) -> Result<String, Failure> {
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
                crate::log::warning(&format!(
                    "client secret file {}: {w}",
                    crate::log::printable(path)
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
