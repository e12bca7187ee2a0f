//! HTTPS for discovery, JWKS, introspection and userinfo: deadlines, no redirects, capped bodies,
//! and a backend that stays interruptible while it waits.
//!
//! Process model: every connection is a fresh backend, and pg_bearer's caches live outside the
//! process (shared memory, or files for the PAM module), so a backend only talks to the
//! provider when the shared cache says it must. The client is therefore built per call, inside
//! the backend, never in the postmaster: nothing here has to survive a `fork()`.
//!
//! Why `reqwest` on a current-thread tokio runtime: it is the well-kept HTTP client with
//! rustls, and driving it ourselves lets the host ([`Host::check_interrupts`]) look at its
//! pending interrupts every few milliseconds on the calling thread: in PostgreSQL 18 that runs
//! `CHECK_FOR_INTERRUPTS`, so `pg_terminate_backend`, `authentication_timeout` and shutdown
//! are honoured, and harmless interrupts (barriers, recovery-conflict checks) are served
//! without abandoning the request. The runtime is created for one call and shut down without
//! waiting. DNS lookups, which block, run on a thread started with every signal blocked (see
//! [`SignalBlockedResolver`]), so the server's signal handlers always run on its own thread,
//! and no thread outlives a lookup's own end.

use std::future::Future;
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

use crate::Host;

/// How a request may be made.
#[derive(Debug, Clone)]
pub struct HttpPolicy {
    /// Whole-request deadline (connect, TLS, headers and body).
    pub timeout: Duration,
    /// PEM bundle trusted in addition to the system roots.
    pub ca_file: Option<String>,
    /// Permit `http://` URLs (tests only).
    pub allow_http: bool,
    /// Largest body accepted, in bytes.
    pub max_body: usize,
}

/// A response with the few headers pg_bearer uses.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub content_type: Option<String>,
    /// `Cache-Control` (repeated lines joined with ", "), `Expires`, `Date`, `Age`.
    pub cache_control: Option<String>,
    pub expires: Option<String>,
    pub date: Option<String>,
    pub age: Option<String>,
    pub body: Vec<u8>,
}

/// Why a request produced no usable response. `Display` gives a short, token-free reason.
#[derive(Debug)]
pub enum HttpError {
    /// The deadline passed.
    Timeout,
    /// The URL is not acceptable (scheme, syntax).
    BadUrl(String),
    /// The trust configuration could not be loaded.
    Trust(String),
    /// Connecting, TLS or the HTTP exchange failed.
    Transport(String),
    /// A 3xx answer: redirects are never followed.
    Redirect(u16),
    /// The body exceeded `max_body`.
    TooLarge,
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HttpError::Timeout => write!(f, "timed out"),
            HttpError::BadUrl(why) => write!(f, "unacceptable URL: {why}"),
            HttpError::Trust(why) => write!(f, "TLS trust configuration: {why}"),
            HttpError::Transport(why) => write!(f, "{why}"),
            HttpError::Redirect(status) => write!(f, "redirect (HTTP {status}) not followed"),
            HttpError::TooLarge => write!(f, "response body too large"),
        }
    }
}

/// `GET url`, asking for JSON.
pub fn get_json(
    url: &str,
    policy: &HttpPolicy,
    host: &dyn Host,
) -> Result<HttpResponse, HttpError> {
    request(url, policy, host, |client, url| {
        client.get(url).header("Accept", "application/json")
    })
}

/// `POST url` with a form body (introspection). `authorization`, if any, is sent as the
/// `Authorization` header. The body and the header carry secrets: nothing here logs them.
pub fn post_form(
    url: &str,
    policy: &HttpPolicy,
    host: &dyn Host,
    body: String,
    authorization: Option<String>,
) -> Result<HttpResponse, HttpError> {
    request(url, policy, host, move |client, url| {
        let mut builder = client
            .post(url)
            .header("Accept", "application/json")
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(value) = authorization.and_then(|v| sensitive(&v)) {
            builder = builder.header(reqwest::header::AUTHORIZATION, value);
        }
        builder
    })
}

/// `GET url` with the bearer token (userinfo).
pub fn get_with_bearer(
    url: &str,
    policy: &HttpPolicy,
    host: &dyn Host,
    token: &str,
) -> Result<HttpResponse, HttpError> {
    let value = sensitive(&format!("Bearer {token}"));
    request(url, policy, host, move |client, url| {
        let builder = client.get(url).header("Accept", "application/json");
        match value {
            Some(v) => builder.header(reqwest::header::AUTHORIZATION, v),
            None => builder,
        }
    })
}

/// A header value marked sensitive (kept out of debug output and HTTP/2 header tables).
fn sensitive(text: &str) -> Option<reqwest::header::HeaderValue> {
    let mut value = reqwest::header::HeaderValue::from_str(text).ok()?;
    value.set_sensitive(true);
    Some(value)
}

fn request(
    url: &str,
    policy: &HttpPolicy,
    host: &dyn Host,
    build: impl FnOnce(&reqwest::Client, reqwest::Url) -> reqwest::RequestBuilder,
) -> Result<HttpResponse, HttpError> {
    let url = reqwest::Url::parse(url).map_err(|e| HttpError::BadUrl(e.to_string()))?;
    match url.scheme() {
        "https" => {}
        "http" if policy.allow_http => {
            host.warning(&format!(
                "{} is on: fetching over plain HTTP",
                host.setting_name("allow_http")
            ));
        }
        other => return Err(HttpError::BadUrl(format!("scheme {other} is not https"))),
    }
    let client = client(policy)?;
    let started = Instant::now();
    let deadline = started + policy.timeout;
    let max_body = policy.max_body;
    let call = async move {
        let mut response = build(&client, url)
            .send()
            .await
            .map_err(|e| HttpError::Transport(describe(e)))?;
        let status = response.status().as_u16();
        if response.status().is_redirection() {
            return Err(HttpError::Redirect(status));
        }
        let header = |name| {
            response
                .headers()
                .get_all(name)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let present = |name| Some(header(name)).filter(|s: &String| !s.is_empty());
        let content_type = present(reqwest::header::CONTENT_TYPE);
        let cache_control = present(reqwest::header::CACHE_CONTROL);
        let expires = present(reqwest::header::EXPIRES);
        let date = present(reqwest::header::DATE);
        let age = present(reqwest::header::AGE);
        if response
            .content_length()
            .is_some_and(|n| n > max_body as u64)
        {
            return Err(HttpError::TooLarge);
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| HttpError::Transport(describe(e)))?
        {
            if body.len() + chunk.len() > max_body {
                return Err(HttpError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(HttpResponse {
            status,
            content_type,
            cache_control,
            expires,
            date,
            age,
            body,
        })
    };
    run_interruptibly(call, deadline, host)
}

/// Drives `call` on a fresh current-thread runtime until it finishes or the deadline passes,
/// letting the host serve its interrupts every 10 ms.
fn run_interruptibly<T>(
    call: impl Future<Output = Result<T, HttpError>>,
    deadline: Instant,
    host: &dyn Host,
) -> Result<T, HttpError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(|e| HttpError::Transport(format!("cannot start the I/O runtime: {e}")))?;
    let outcome = runtime.block_on(async {
        let watch = async {
            loop {
                // On the calling thread (block_on polls here): in PostgreSQL a terminate or
                // an authentication timeout ends the process (FATAL); anything else is
                // served and the request goes on.
                host.check_interrupts();
                if Instant::now() >= deadline {
                    return HttpError::Timeout;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        tokio::select! {
            result = call => result,
            stop = watch => Err(stop),
        }
    });
    // Nothing may wait for a stuck DNS thread.
    runtime.shutdown_background();
    outcome
}

/// Resolves host names with `getaddrinfo` on a short-lived thread that starts with every
/// signal blocked (the mask is set on the backend thread around `spawn`, so there is no
/// window in which the new thread could take a PostgreSQL signal). A lookup that outlives the
/// deadline is abandoned; its thread ends by itself when the resolver gives up.
struct SignalBlockedResolver;

impl reqwest::dns::Resolve for SignalBlockedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let spawned = with_all_signals_blocked(|| {
            std::thread::Builder::new()
                .name("pg_bearer-dns".into())
                .spawn(move || {
                    use std::net::ToSocketAddrs;
                    let addrs = (host.as_str(), 0)
                        .to_socket_addrs()
                        .map(|a| a.collect::<Vec<_>>());
                    let _ = tx.send(addrs);
                })
        });
        Box::pin(async move {
            spawned?;
            let addrs = rx.await??;
            let addrs: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

/// Runs `f` with every signal blocked on this thread, then restores the previous mask.
fn with_all_signals_blocked<T>(f: impl FnOnce() -> T) -> T {
    // SAFETY: sigfillset initialises the local set; pthread_sigmask changes only this
    // thread's mask and is restored below, before any PostgreSQL code runs again.
    let old = unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_BLOCK, &all, &mut old);
        old
    };
    let result = f();
    // SAFETY: restores the mask saved above on the same thread.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
    result
}

/// A client that trusts the system roots plus `ca_file`, follows no redirects, uses no proxy
/// from the environment, and speaks HTTP/1.1.
fn client(policy: &HttpPolicy) -> Result<reqwest::Client, HttpError> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for cert in native.certs {
        let _ = roots.add(cert);
    }
    if let Some(path) = policy.ca_file.as_deref().filter(|p| !p.is_empty()) {
        let mut added = 0;
        for cert in CertificateDer::pem_file_iter(path)
            .map_err(|e| HttpError::Trust(format!("{path}: {e}")))?
        {
            let cert = cert.map_err(|e| HttpError::Trust(format!("{path}: {e}")))?;
            roots
                .add(cert)
                .map_err(|e| HttpError::Trust(format!("{path}: {e}")))?;
            added += 1;
        }
        if added == 0 {
            return Err(HttpError::Trust(format!("{path}: no certificate")));
        }
    }
    if roots.is_empty() {
        return Err(HttpError::Trust("no trusted root certificates".into()));
    }
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| HttpError::Trust(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .redirect(reqwest::redirect::Policy::none())
        .dns_resolver(std::sync::Arc::new(SignalBlockedResolver))
        .no_proxy()
        .http1_only()
        .timeout(policy.timeout)
        .connect_timeout(policy.timeout)
        .user_agent(concat!("pg_bearer/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| HttpError::Transport(describe(e)))
}

/// A short description of a transport error: its innermost causes (refused, DNS, certificate,
/// timeout), without reqwest's outer "error sending request for url (...)" wrapper. Never
/// carries request headers or bodies.
fn describe(e: reqwest::Error) -> String {
    if e.is_timeout() {
        return "timed out".to_owned();
    }
    let mut causes = Vec::new();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        causes.push(s.to_string());
        source = s.source();
    }
    if causes.is_empty() {
        return e.without_url().to_string();
    }
    // Each cause often repeats the next one in parentheses; keep the distinct ones.
    causes.dedup();
    causes.join(": ")
}
