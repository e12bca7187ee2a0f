//! The OAuth client_credentials grant (RFC 6749 §4.4) the way a service performs it: discovery
//! through pg_bearer_core's strict reader (the document's issuer must equal the one asked for,
//! byte for byte), then `client_secret_basic` to its `token_endpoint`. TLS: rustls on aws-lc-rs,
//! the system roots plus `--ca-file`; no redirects followed; every request has a deadline.

use std::time::Duration;

use base64::Engine as _;
use pg_bearer_core::discovery::{ClientMetadata, DiscoveryError, IssuerTarget};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

use crate::failure::{printable, Failure};

/// How to reach the provider.
pub struct Provider<'a> {
    /// The issuer identifier, or its well-known discovery URI.
    pub issuer: &'a str,
    /// Extra trusted CA certificates (PEM), besides the system's.
    pub ca_file: Option<&'a str>,
    /// Deadline of each request.
    pub timeout: Duration,
}

/// A token obtained from the token endpoint.
pub struct Granted {
    /// The access token (never print it to stderr).
    pub access_token: String,
    /// `expires_in`, if the provider said.
    pub expires_in: Option<u64>,
    /// The token endpoint discovery named.
    pub token_endpoint: String,
}

/// Obtains a token with the client_credentials grant.
pub fn client_credentials(
    provider: &Provider<'_>,
    client_id: &str,
    secret: &str,
    scope: &str,
) -> Result<Granted, Failure> {
    let http = client(provider)?;
    let metadata = discover(&http, provider.issuer)?;
    let token_endpoint = metadata.token_endpoint().to_owned();
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.append_pair("grant_type", "client_credentials");
    if !scope.is_empty() {
        form.append_pair("scope", scope);
    }
    // RFC 6749 §2.3.1: the id and the secret are form-encoded, then joined and Basic-encoded.
    let encode = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let basic = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        encode(client_id),
        encode(secret)
    ));
    let response = http
        .post(&token_endpoint)
        .header("Authorization", format!("Basic {basic}"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("Accept", "application/json")
        .body(form.finish())
        .send()
        .map_err(|e| unreachable("token request", &token_endpoint, e))?;
    let status = response.status();
    let body: serde_json::Value = response
        .bytes()
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(serde_json::Value::Null);
    if !status.is_success() {
        return Err(Failure::Http(format!(
            "token request to {token_endpoint}: HTTP {}{}",
            status.as_u16(),
            oauth_error(&body)
        )));
    }
    let bearer = body["token_type"]
        .as_str()
        .is_some_and(|t| t.eq_ignore_ascii_case("bearer"));
    match body["access_token"].as_str() {
        Some(token) if bearer && !token.is_empty() => Ok(Granted {
            access_token: token.to_owned(),
            expires_in: body["expires_in"].as_u64(),
            token_endpoint,
        }),
        _ => Err(Failure::Http(format!(
            "token request to {token_endpoint}: HTTP {} without a bearer access_token",
            status.as_u16()
        ))),
    }
}

/// `: error invalid_client (description)` from an OAuth error answer, or nothing.
fn oauth_error(body: &serde_json::Value) -> String {
    match body["error"].as_str() {
        Some(error) => match body["error_description"].as_str() {
            Some(d) => format!(", error {} ({})", printable(error, 64), printable(d, 160)),
            None => format!(", error {}", printable(error, 64)),
        },
        None => String::new(),
    }
}

/// Fetches and checks the discovery document: OIDC's location first, then RFC 8414's, as the
/// server module does (a 404 moves to the next).
fn discover(http: &reqwest::blocking::Client, issuer: &str) -> Result<ClientMetadata, Failure> {
    let target = IssuerTarget::from_hba(issuer, false)
        .map_err(|e| Failure::Usage(format!("--issuer: {e}")))?;
    let mut last = None;
    for url in target.discovery_urls() {
        let response = http
            .get(url)
            .header("Accept", "application/json")
            .send()
            .map_err(|e| unreachable("discovery", url, e))?;
        let status = response.status().as_u16();
        if status == 404 {
            last = Some(Failure::Http(format!("discovery: {url}: HTTP 404")));
            continue;
        }
        let body = response
            .bytes()
            .map_err(|e| unreachable("discovery", url, e))?;
        if status != 200 {
            let json = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
            return Err(Failure::Http(format!(
                "discovery: {url}: HTTP {status}{}",
                oauth_error(&json)
            )));
        }
        return ClientMetadata::from_json(&body, target.issuer(), false).map_err(|e| {
            let detail = match e {
                DiscoveryError::IssuerMismatch => {
                    let named = serde_json::from_slice::<serde_json::Value>(&body)
                        .ok()
                        .and_then(|v| v["issuer"].as_str().map(|s| printable(s, 200)))
                        .unwrap_or_default();
                    format!(
                        "the document names issuer \"{named}\", not \"{}\"",
                        target.issuer()
                    )
                }
                other => other.to_string(),
            };
            Failure::Discovery(format!("discovery: {url}: {detail}"))
        });
    }
    Err(last.unwrap_or_else(|| Failure::Usage("--issuer: no discovery URL".into())))
}

fn unreachable(step: &str, url: &str, e: reqwest::Error) -> Failure {
    let mut causes = Vec::new();
    if e.is_timeout() {
        causes.push("timed out".to_owned());
    } else {
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            causes.push(s.to_string());
            source = s.source();
        }
        causes.dedup();
        if causes.is_empty() {
            causes.push(e.without_url().to_string());
        }
    }
    Failure::Unreachable(format!(
        "{step}: {url}: provider unreachable: {}",
        printable(&causes.join(": "), 300)
    ))
}

fn client(provider: &Provider<'_>) -> Result<reqwest::blocking::Client, Failure> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    if let Some(path) = provider.ca_file {
        let unreadable =
            |e: &dyn std::fmt::Display| Failure::Unreadable(format!("--ca-file {path}: {e}"));
        let mut added = 0;
        for cert in CertificateDer::pem_file_iter(path).map_err(|e| unreadable(&e))? {
            roots
                .add(cert.map_err(|e| unreadable(&e))?)
                .map_err(|e| unreadable(&e))?;
            added += 1;
        }
        if added == 0 {
            return Err(unreadable(&"no certificate in the file"));
        }
    }
    let crypto = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(crypto)
        .with_safe_default_protocol_versions()
        .map_err(|e| Failure::Unreachable(format!("TLS set-up: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    reqwest::blocking::Client::builder()
        .use_preconfigured_tls(tls)
        .https_only(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(provider.timeout)
        .connect_timeout(provider.timeout)
        .user_agent(concat!("pg_bearer_client/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Failure::Unreachable(format!("HTTP set-up: {e}")))
}
