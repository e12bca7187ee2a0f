//! Fetching from the provider: discovery, the JWKS, and the checks every answer passes before
//! anything is cached (HTTP 200, a JSON media type, the size caps, the metadata's issuer, the
//! JWKS's shape). No lock is held here; `keys` records the result afterwards.

use pg_bearer_core::discovery::{IssuerTarget, KeySource, ProviderMetadata};
use pg_bearer_core::freshness::{FreshnessBounds, ResponseCacheHeaders};
use pg_bearer_core::jwks::{JwksLimits, KeySet};
use pg_bearer_core::reason::Reason;
use pg_bearer_core::stats::RequestKind;

use crate::clock::now_ms;
use crate::http::{self, HttpPolicy, HttpResponse};
use crate::refusal::Failure;
use crate::{Provider, ProviderSettings, JWKS_MAX, META_MAX};
/// What one successful refresh brings back.
pub struct Fetched {
    pub meta: Vec<u8>,
    pub jwks: Vec<u8>,
    pub fresh_for: u32,
}

pub fn http_policy(settings: &ProviderSettings, max_body: usize) -> HttpPolicy {
    HttpPolicy {
        timeout: settings.http_timeout,
        ca_file: Some(settings.ca_file.clone()).filter(|s| !s.is_empty()),
        allow_http: settings.allow_http,
        max_body,
    }
}

/// Discovery (unless the keys' location is configured) and the JWKS. Checks everything before
/// anything is cached: the metadata's issuer, the JWKS's shape and size.
pub fn fetch(
    target: &IssuerTarget,
    source: &KeySource,
    provider: Provider<'_>,
) -> Result<Fetched, Failure> {
    let settings = provider.settings;
    let bounds = FreshnessBounds {
        floor_secs: settings.cache_min,
        ceiling_secs: settings.cache_max,
        default_secs: settings.cache_default,
    };
    if provider.host.fault("panic_in_key_refresh") {
        panic!("injected fault: panic in key refresh");
    }
    let (meta, jwks_uri) = match source {
        KeySource::StaticFile(path) => {
            let jwks = crate::files::read_capped(path, JWKS_MAX)
                .map_err(|e| Failure::new(Reason::JwksUnavailable, format!("{path}: {e}")))?;
            check_jwks(&jwks)?;
            // A file is configuration: re-read it at the cache floor.
            return Ok(Fetched {
                meta: Vec::new(),
                jwks,
                fresh_for: bounds.floor_secs,
            });
        }
        KeySource::JwksUri(uri) => (Vec::new(), uri.clone()),
        KeySource::Discovery => {
            let metadata = discover(target, provider)?;
            let uri = metadata
                .require_jwks_uri()
                .map_err(|e| Failure::new(Reason::DiscoveryFailed, e.to_string()))?
                .to_owned();
            (metadata.to_bytes(), uri)
        }
    };
    let response = counted(
        provider,
        target.issuer(),
        RequestKind::Jwks,
        json_get(&jwks_uri, provider, JWKS_MAX, Reason::JwksUnavailable)
            .and_then(|r| check_jwks(&r.body).map(|()| r)),
    )?;
    let received = now_ms() / 1000;
    let fresh_for = ResponseCacheHeaders {
        cache_control: response.cache_control.as_deref(),
        expires: response.expires.as_deref(),
        date: response.date.as_deref(),
        age: response.age.as_deref(),
    }
    .lifetime_secs(received, &bounds);
    if meta.len() > META_MAX {
        return Err(Failure::new(
            Reason::DiscoveryFailed,
            "metadata too large to cache",
        ));
    }
    Ok(Fetched {
        meta,
        jwks: response.body,
        fresh_for,
    })
}

fn check_jwks(jwks: &[u8]) -> Result<(), Failure> {
    if jwks.len() > JWKS_MAX {
        return Err(Failure::new(Reason::BadJwks, "too large"));
    }
    let set = KeySet::from_jwks_json(jwks, &JwksLimits::default())
        .map_err(|e| Failure::new(Reason::BadJwks, e.code()))?;
    if set.keys().is_empty() {
        return Err(Failure::new(Reason::BadJwks, "no usable signing key"));
    }
    Ok(())
}

/// Tries each discovery URL in turn; the first document whose `issuer` matches wins.
fn discover(target: &IssuerTarget, provider: Provider<'_>) -> Result<ProviderMetadata, Failure> {
    let mut last = Failure::new(Reason::DiscoveryFailed, "no discovery URL");
    // The next URL is tried only when one is not found: any other failure (an issuer
    // mismatch above all) is final.
    for url in target.discovery_urls() {
        match json_get(url, provider, 256 * 1024, Reason::DiscoveryFailed) {
            Ok(response) => {
                let parsed = ProviderMetadata::from_json(
                    &response.body,
                    target.issuer(),
                    provider.settings.allow_http,
                )
                .map_err(|e| Failure::new(Reason::DiscoveryFailed, format!("{url}: {e}")));
                return counted(provider, target.issuer(), RequestKind::Discovery, parsed);
            }
            Err(e) if e.detail == "HTTP 404" => {
                provider
                    .host
                    .count_request(target.issuer(), RequestKind::Discovery, false);
                last = Failure::new(e.reason, format!("{url}: {}", e.detail))
            }
            Err(e) => {
                provider
                    .host
                    .count_request(target.issuer(), RequestKind::Discovery, false);
                return Err(Failure::new(e.reason, format!("{url}: {}", e.detail)));
            }
        }
    }
    Err(last)
}

/// Counts one provider request for `issuer` (`pg_bearer.provider_stats`), and whether it
/// brought back a usable answer; passes the result on.
pub fn counted<T>(
    provider: Provider<'_>,
    issuer: &str,
    kind: RequestKind,
    result: Result<T, Failure>,
) -> Result<T, Failure> {
    provider.host.count_request(issuer, kind, result.is_ok());
    result
}

/// GET a JSON document: 200 with a JSON media type, or a failure for `reason`.
fn json_get(
    url: &str,
    provider: Provider<'_>,
    max_body: usize,
    reason: Reason,
) -> Result<HttpResponse, Failure> {
    let response = http::get_json(
        url,
        &http_policy(provider.settings, max_body),
        provider.host,
    )
    .map_err(|e| Failure::new(reason, e.to_string()))?;
    require_json_200(response, reason)
}

/// The response if it is `200` with a JSON media type, else a failure for `reason`.
pub fn require_json_200(response: HttpResponse, reason: Reason) -> Result<HttpResponse, Failure> {
    if response.status != 200 {
        return Err(Failure::new(reason, format!("HTTP {}", response.status)));
    }
    let json = response
        .content_type
        .as_deref()
        .map(|ct| {
            let media = ct
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            media == "application/json"
                || (media.starts_with("application/") && media.ends_with("+json"))
        })
        .unwrap_or(false);
    if !json {
        return Err(Failure::new(reason, "response is not JSON"));
    }
    Ok(response)
}
