//! A fake OpenID provider for end-to-end tests: HTTPS on 127.0.0.1 with a CA of its own,
//! OIDC discovery and RFC 8414 metadata, a JWKS whose keys change at run time, exact request
//! counters, and fault injection per path or for everything.
//!
//! It runs inside the test process: one accept thread and one short-lived thread per
//! connection, each serving a single request (`Connection: close`). Dropping the provider
//! stops the accept loop, shuts down every open connection (hanging and trickling ones
//! included), and deletes the directory holding the CA certificate; it never waits on a
//! client. [`MockProvider::stop`] and [`MockProvider::start_again`] take it down and bring it
//! back on the same address with the same keys and certificates, like a restarted provider.
//!
//! ```no_run
//! use pg_bearer_e2e::provider::{Endpoint, Fault, MockProvider, ProviderOptions};
//!
//! let idp = MockProvider::start(ProviderOptions::default());
//! // pg_bearer.ca_file = idp.ca_pem_path(); pg_hba: issuer="{idp.issuer()}"
//! idp.set_fault(Endpoint::Jwks, Fault::Status(500));
//! assert_eq!(idp.count(Endpoint::Jwks), 0);
//! ```

pub mod certs;
pub mod http;
pub mod keys;

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rustls::{ServerConnection, StreamOwned};
use serde_json::{json, Map, Value};

pub use certs::TlsMode;
pub use http::RecordedRequest;
pub use keys::{Alg, SigningKey};

use certs::TlsMaterial;
use keys::KeyRing;

/// How long a connection may take to complete its TLS handshake, send its request, or accept
/// response bytes before the provider drops it.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a held-open connection (hang, trickle, delay, silent) checks for shutdown.
const POLL: Duration = Duration::from_millis(50);
/// The longest a held-open connection lives, provider dropped or not.
const MAX_HOLD: Duration = Duration::from_secs(600);
/// How many requests [`MockProvider::requests`] keeps (the oldest are dropped).
const MAX_RECORDED: usize = 10_000;

/// A misbehaviour the provider can be told to show, for one path or for all of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer normally. Set on a path, it exempts that path from a fault set for all paths.
    None,
    /// Read the request, then never answer; the connection stays open until the client closes
    /// it or the provider is dropped.
    Hang,
    /// Send the normal response one byte at a time with this pause between bytes (e.g. one
    /// second, a slowloris in reverse).
    Trickle(Duration),
    /// Wait this long, then send the normal response (as it was when the request arrived).
    Delay(Duration),
    /// Answer with this status and a small JSON error body (`{"error":"injected_<status>"}`).
    Status(u16),
    /// Answer 200 with an HTML page (`Content-Type: text/html`).
    Html,
    /// Answer 200 `application/json` with a syntactically valid JSON object of exactly this
    /// many bytes, with a `Content-Length`.
    Huge(usize),
    /// Like [`Fault::Huge`] but without `Content-Length`: the body ends when the connection
    /// closes.
    HugeUnannounced(usize),
    /// Answer 200 `application/json` with `{"keys":` followed by this many nested arrays.
    DeepJson(usize),
    /// Answer `302 Found` with this `Location` (use [`MockProvider::url`] for the same host).
    Redirect(String),
    /// Metadata documents carry this `issuer` instead of the real one (e.g. the issuer with a
    /// trailing slash). Other paths answer normally.
    IssuerMismatch(String),
    /// Answer 200 with this body and this `Content-Type`.
    Body(String, String),
    /// Read the request, then close the connection without answering.
    Drop,
}

/// The `Cache-Control` header on JWKS responses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheControl {
    /// `Cache-Control: max-age=<seconds>`. The default is `MaxAge(300)`.
    MaxAge(u64),
    /// `Cache-Control: no-cache`.
    NoCache,
    /// `Cache-Control: no-store`.
    NoStore,
    /// No `Cache-Control` header at all.
    Absent,
    /// `Cache-Control: <this value>`, verbatim.
    Custom(String),
}

impl Default for CacheControl {
    fn default() -> Self {
        CacheControl::MaxAge(300)
    }
}

impl CacheControl {
    fn header_value(&self) -> Option<String> {
        match self {
            CacheControl::MaxAge(s) => Some(format!("max-age={s}")),
            CacheControl::NoCache => Some("no-cache".into()),
            CacheControl::NoStore => Some("no-store".into()),
            CacheControl::Absent => None,
            CacheControl::Custom(v) => Some(v.clone()),
        }
    }
}

/// The documents and endpoints the provider serves, relative to its issuer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// OIDC discovery, `{issuer path}/.well-known/openid-configuration`.
    OpenIdConfiguration,
    /// RFC 8414 metadata, `/.well-known/oauth-authorization-server{issuer path}`.
    OAuthServerMetadata,
    /// The JWKS, `{issuer path}/jwks`.
    Jwks,
    /// RFC 7662 token introspection, `{issuer path}/introspect`. Answers
    /// `{"active": false}` unless told otherwise: per token with
    /// [`MockProvider::set_introspection_answer`], for every request with [`Fault::Body`].
    Introspection,
    /// OIDC UserInfo, `{issuer path}/userinfo`. Answers 401 unless told otherwise.
    UserInfo,
    /// The token endpoint, `{issuer path}/token`. Answers 400 `unsupported_grant_type`.
    Token,
}

/// Where a fault applies or what a counter counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// One request path, exactly as requested (without the query), e.g. `"/jwks"`.
    Path(String),
    /// One of the provider's endpoints.
    Endpoint(Endpoint),
    /// Every path.
    All,
}

impl From<&str> for Target {
    fn from(path: &str) -> Target {
        Target::Path(path.to_owned())
    }
}

impl From<String> for Target {
    fn from(path: String) -> Target {
        Target::Path(path)
    }
}

impl From<Endpoint> for Target {
    fn from(endpoint: Endpoint) -> Target {
        Target::Endpoint(endpoint)
    }
}

/// How to start a provider. `ProviderOptions::default()` is an HTTPS provider at
/// `https://127.0.0.1:<port>` with one key each for RS256, PS256, ES256, ES384 and EdDSA.
#[derive(Debug, Clone)]
pub struct ProviderOptions {
    /// The issuer's path: empty (the default) or like `/realms/main` (leading slash, no
    /// trailing slash).
    pub issuer_path: String,
    /// The issuer's host: `127.0.0.1` (the default) or `localhost`. The provider listens on
    /// 127.0.0.1 only, so `localhost` works for clients that try IPv4.
    pub host: String,
    /// The TLS mode at start; it also fixes the issuer's scheme (`http` for
    /// [`TlsMode::PlainHttp`], else `https`). Defaults to [`TlsMode::Trusted`].
    pub tls: TlsMode,
    /// The JWKS `Cache-Control`. Defaults to `max-age=300`.
    pub jwks_cache_control: CacheControl,
    /// The keys generated and published at start, one per entry, in JWKS order. Defaults to
    /// RS256, PS256, ES256, ES384, EdDSA.
    pub keys: Vec<Alg>,
}

impl Default for ProviderOptions {
    fn default() -> Self {
        ProviderOptions {
            issuer_path: String::new(),
            host: "127.0.0.1".into(),
            tls: TlsMode::Trusted,
            jwks_cache_control: CacheControl::default(),
            keys: vec![Alg::Rs256, Alg::Ps256, Alg::Es256, Alg::Es384, Alg::EdDsa],
        }
    }
}

/// A running mock provider. Stopped, its connections closed and its CA file deleted on drop.
pub struct MockProvider {
    shared: Arc<Shared>,
    addr: SocketAddr,
    dir: PathBuf,
    ca_pem_path: PathBuf,
    /// The accept loop while the provider serves; `None` while stopped.
    accept_thread: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for MockProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockProvider")
            .field("issuer", &self.shared.issuer)
            .field("ca_pem_path", &self.ca_pem_path)
            .finish_non_exhaustive()
    }
}

struct Shared {
    issuer: String,
    issuer_path: String,
    tls: TlsMaterial,
    keys: Arc<Mutex<KeyRing>>,
    state: Mutex<State>,
    shutdown: AtomicBool,
    live: Mutex<HashMap<u64, TcpStream>>,
    next_conn: AtomicU64,
    /// Connection threads that have not finished yet.
    conn_threads: AtomicU64,
}

#[derive(Default)]
struct State {
    tls_mode: TlsMode,
    faults: HashMap<String, Fault>,
    fault_all: Option<Fault>,
    cache_control: CacheControl,
    metadata_overrides: Vec<(String, Option<Value>)>,
    introspection_answers: HashMap<String, Value>,
    /// See [`MockProvider::set_lenient_jwts`].
    lenient_jwts: bool,
    counts: HashMap<String, u64>,
    total: u64,
    connections: u64,
    tls_failures: u64,
    requests: Vec<RecordedRequest>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A test thread that panicked while holding the lock leaves plain data behind; keep going.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl MockProvider {
    /// Generates the CA, certificates and keys, writes the CA file, binds 127.0.0.1:0 and
    /// starts serving.
    pub fn start(options: ProviderOptions) -> MockProvider {
        let path = &options.issuer_path;
        assert!(
            path.is_empty() || (path.starts_with('/') && !path.ends_with('/')),
            "issuer_path must be empty or like /realms/main, not {path:?}"
        );
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("the listener's address");
        let scheme = if options.tls == TlsMode::PlainHttp {
            "http"
        } else {
            "https"
        };
        let issuer = format!("{scheme}://{}:{}{path}", options.host, addr.port());

        let tls = TlsMaterial::generate();
        let (dir, ca_pem_path) = write_ca_file(&tls.ca_pem);
        let mut ring = KeyRing::default();
        for key in generate_keys(&options.keys) {
            ring.insert(key);
        }
        let shared = Arc::new(Shared {
            issuer,
            issuer_path: options.issuer_path.clone(),
            tls,
            keys: Arc::new(Mutex::new(ring)),
            state: Mutex::new(State {
                tls_mode: options.tls,
                cache_control: options.jwks_cache_control.clone(),
                ..State::default()
            }),
            shutdown: AtomicBool::new(false),
            live: Mutex::new(HashMap::new()),
            next_conn: AtomicU64::new(0),
            conn_threads: AtomicU64::new(0),
        });
        let accept_thread = spawn_accept_loop(&shared, listener);
        MockProvider {
            shared,
            addr,
            dir,
            ca_pem_path,
            accept_thread: Mutex::new(Some(accept_thread)),
        }
    }

    /// The issuer identifier: `https://127.0.0.1:<port>` plus the configured path.
    pub fn issuer(&self) -> &str {
        &self.shared.issuer
    }

    /// The OIDC discovery URL: issuer + `/.well-known/openid-configuration`.
    pub fn well_known(&self) -> String {
        self.url(Endpoint::OpenIdConfiguration)
    }

    /// The listening address (always on 127.0.0.1).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The CA certificate file (PEM), readable by every OS user, for `pg_bearer.ca_file`.
    pub fn ca_pem_path(&self) -> &Path {
        &self.ca_pem_path
    }

    /// The CA certificate (PEM).
    pub fn ca_pem(&self) -> &str {
        &self.shared.tls.ca_pem
    }

    /// The request path of an endpoint, e.g. `/realms/main/jwks`.
    pub fn path(&self, endpoint: Endpoint) -> String {
        self.shared.path(endpoint)
    }

    /// The absolute URL of an endpoint.
    pub fn url(&self, endpoint: Endpoint) -> String {
        self.url_for_path(&self.path(endpoint))
    }

    /// The absolute URL of any path on this provider (scheme, host and port of the issuer).
    pub fn url_for_path(&self, path: &str) -> String {
        let origin_len = self.shared.issuer.len() - self.shared.issuer_path.len();
        format!("{}{path}", &self.shared.issuer[..origin_len])
    }

    /// A token minter for this provider's keys and issuer.
    pub fn minter(&self) -> crate::tokens::Minter {
        crate::tokens::Minter::from_parts(self.shared.keys.clone(), self.shared.issuer.clone())
    }

    // ----- keys -----

    /// The JWKS currently served (`{"keys": [...]}`), e.g. to serve a modified copy with
    /// [`Fault::Body`].
    pub fn jwks(&self) -> Value {
        lock(&self.shared.keys).jwks()
    }

    /// The kids currently published, in JWKS order.
    pub fn published_kids(&self) -> Vec<String> {
        lock(&self.shared.keys).published()
    }

    /// The kid of the current (most recently added, published) key for `alg`.
    pub fn kid(&self, alg: Alg) -> Option<String> {
        lock(&self.shared.keys)
            .current(alg)
            .map(|k| k.kid().to_owned())
    }

    /// The public JWK of the key with this kid (published or not).
    pub fn public_jwk(&self, kid: &str) -> Option<Value> {
        lock(&self.shared.keys).by_kid(kid).map(|k| k.jwk().clone())
    }

    /// Publishes exactly these kids, in this order; the JWKS changes at once. Panics on a kid
    /// the provider never made.
    pub fn publish(&self, kids: &[&str]) {
        lock(&self.shared.keys).publish(kids);
    }

    /// Generates a key for `alg`, publishes it at the end of the JWKS, and returns its kid.
    pub fn add_key(&self, alg: Alg) -> String {
        let key = SigningKey::generate_random_kid(alg);
        let kid = key.kid().to_owned();
        lock(&self.shared.keys).insert(key);
        kid
    }

    /// Generates a key for `alg` with this exact kid and publishes it. Adding a kid that is
    /// already published makes a JWKS with a duplicate kid.
    pub fn add_key_with_kid(&self, alg: Alg, kid: &str) {
        lock(&self.shared.keys).insert(SigningKey::generate(alg, kid));
    }

    /// Stops publishing this kid. The key can still sign (see
    /// [`crate::tokens::Minter::mint_with_kid`]). Returns whether it was published.
    pub fn remove_key(&self, kid: &str) -> bool {
        lock(&self.shared.keys).unpublish(kid)
    }

    /// Replaces every published key with a fresh key of the same algorithm (new kids) and
    /// returns the new kids in JWKS order.
    pub fn rotate(&self) -> Vec<String> {
        let algs: Vec<Alg> = {
            let ring = lock(&self.shared.keys);
            ring.published()
                .iter()
                .filter_map(|kid| ring.by_kid(kid).map(SigningKey::alg))
                .collect()
        };
        // Generated without the lock held, so the JWKS keeps being served meanwhile.
        let fresh = generate_keys(&algs);
        let kids: Vec<String> = fresh.iter().map(|k| k.kid().to_owned()).collect();
        let mut ring = lock(&self.shared.keys);
        for key in fresh {
            ring.insert(key);
        }
        ring.publish(&kids.iter().map(String::as_str).collect::<Vec<_>>());
        kids
    }

    // ----- configuration at run time -----

    /// Switches the TLS mode for connections accepted from now on.
    pub fn set_tls_mode(&self, mode: TlsMode) {
        lock(&self.shared.state).tls_mode = mode;
    }

    /// Sets the JWKS `Cache-Control`.
    pub fn set_jwks_cache_control(&self, cache_control: CacheControl) {
        lock(&self.shared.state).cache_control = cache_control;
    }

    /// Sets (`Some`) or removes (`None`) a member of both metadata documents, e.g. `jwks_uri`
    /// pointing at `http://` or at another host. Applied after [`Fault::IssuerMismatch`].
    pub fn set_metadata_field(&self, name: &str, value: Option<Value>) {
        let mut state = lock(&self.shared.state);
        state.metadata_overrides.retain(|(n, _)| n != name);
        state.metadata_overrides.push((name.to_owned(), value));
    }

    /// Drops every metadata override.
    pub fn clear_metadata_fields(&self) {
        lock(&self.shared.state).metadata_overrides.clear();
    }

    /// Sets the fault for a path, an endpoint, or [`Target::All`]. A path's own fault wins over
    /// the fault for all paths; [`Fault::None`] on a path exempts it.
    pub fn set_fault(&self, target: impl Into<Target>, fault: Fault) {
        let mut state = lock(&self.shared.state);
        match self.shared.resolve(target.into()) {
            Some(path) => {
                state.faults.insert(path, fault);
            }
            None => state.fault_all = Some(fault),
        }
    }

    /// Removes every fault.
    pub fn clear_faults(&self) {
        let mut state = lock(&self.shared.state);
        state.faults.clear();
        state.fault_all = None;
    }

    /// Answers introspection requests whose `token` form parameter is `token` with `answer`
    /// (HTTP 200, `application/json`), or forgets the answer (`None`). Tokens without an
    /// answer get `{"active": false}`. A fault on the introspection endpoint (or on all paths)
    /// wins over these answers.
    pub fn set_introspection_answer(&self, token: &str, answer: Option<Value>) {
        let mut state = lock(&self.shared.state);
        match answer {
            Some(body) => {
                state.introspection_answers.insert(token.to_owned(), body);
            }
            None => {
                state.introspection_answers.remove(token);
            }
        }
    }

    /// Makes the introspection and userinfo endpoints decode JWTs the way a lenient provider
    /// does: a token of three or more `.`-separated segments whose payload decodes (either
    /// base64 alphabet, padding and stray characters skipped) to a JSON object is taken as one
    /// of this provider's own tokens, active, with those claims (introspection answers them
    /// with `"active": true`, userinfo with the claims). The fixture does not check the
    /// signature: the tests that use this only send tokens it signed, re-encoded. Answers set
    /// with [`MockProvider::set_introspection_answer`] win.
    pub fn set_lenient_jwts(&self, on: bool) {
        lock(&self.shared.state).lenient_jwts = on;
    }

    // ----- stopping and starting again -----

    /// Stops serving, as if the provider's process had died: closes the listening socket and
    /// every open connection (hanging and trickling ones included), so that clients get
    /// "connection refused". Keys, certificates, the CA file, faults, introspection answers
    /// and counters are kept for [`MockProvider::start_again`]. Does nothing if stopped.
    pub fn stop(&self) {
        let Some(handle) = lock(&self.accept_thread).take() else {
            return;
        };
        self.shared.shutdown.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees the flag and drops the listener. Join it only
        // if the wake-up connection got through, so a failure here cannot hang the caller.
        if TcpStream::connect_timeout(&self.addr, Duration::from_secs(1)).is_ok() {
            let _ = handle.join();
        }
        for (_, stream) in lock(&self.shared.live).drain() {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    /// Serves again after [`MockProvider::stop`], on the same address with the same keys,
    /// certificates and CA file, as a restarted provider would; faults, introspection answers
    /// and counters carry on. Waits (at most two seconds) for the connection threads of the
    /// previous run to finish first. Does nothing if serving.
    ///
    /// Panics if the port cannot be bound again within five seconds (another process took
    /// it meanwhile).
    pub fn start_again(&self) {
        let mut accept = lock(&self.accept_thread);
        if accept.is_some() {
            return;
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        while self.shared.conn_threads.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            std::thread::sleep(POLL / 5);
        }
        self.shared.shutdown.store(false, Ordering::SeqCst);
        let deadline = Instant::now() + Duration::from_secs(5);
        let listener = loop {
            match TcpListener::bind(self.addr) {
                Ok(listener) => break listener,
                Err(e) if Instant::now() >= deadline => {
                    panic!("bind {} again: {e}", self.addr)
                }
                Err(_) => std::thread::sleep(POLL),
            }
        };
        *accept = Some(spawn_accept_loop(&self.shared, listener));
    }

    /// Whether the provider is serving (not stopped).
    pub fn is_serving(&self) -> bool {
        lock(&self.accept_thread).is_some()
    }

    // ----- counters -----

    /// Requests received for a path or endpoint, or in all ([`Target::All`]), since start or
    /// the last [`MockProvider::reset_counts`]. A request counts once its head is read, before
    /// any fault acts on it.
    pub fn count(&self, target: impl Into<Target>) -> u64 {
        let state = lock(&self.shared.state);
        match self.shared.resolve(target.into()) {
            Some(path) => state.counts.get(&path).copied().unwrap_or(0),
            None => state.total,
        }
    }

    /// Requests for the JWKS.
    pub fn count_jwks(&self) -> u64 {
        self.count(Endpoint::Jwks)
    }

    /// Requests for any metadata document: OIDC discovery (both placements of the well-known
    /// segment) and RFC 8414.
    pub fn count_discovery(&self) -> u64 {
        let state = lock(&self.shared.state);
        self.shared
            .metadata_paths()
            .iter()
            .map(|p| state.counts.get(p).copied().unwrap_or(0))
            .sum()
    }

    /// Requests on every path.
    pub fn count_total(&self) -> u64 {
        self.count(Target::All)
    }

    /// TCP connections accepted, whether or not a request followed.
    pub fn connections(&self) -> u64 {
        lock(&self.shared.state).connections
    }

    /// TLS handshakes that failed (for example because the client rejected the certificate).
    pub fn tls_failures(&self) -> u64 {
        lock(&self.shared.state).tls_failures
    }

    /// The requests received (the latest 10 000), oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.state).requests.clone()
    }

    /// Zeroes every counter and forgets the recorded requests.
    pub fn reset_counts(&self) {
        let mut state = lock(&self.shared.state);
        state.counts.clear();
        state.total = 0;
        state.connections = 0;
        state.tls_failures = 0;
        state.requests.clear();
    }
}

impl Drop for MockProvider {
    fn drop(&mut self) {
        // Stops the accept loop and unblocks every connection thread (hanging, trickling,
        // mid-read); they are detached and exit on their own.
        self.stop();
        self.shared.shutdown.store(true, Ordering::SeqCst);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn spawn_accept_loop(shared: &Arc<Shared>, listener: TcpListener) -> JoinHandle<()> {
    let shared = shared.clone();
    std::thread::Builder::new()
        .name("mock-idp-accept".into())
        .spawn(move || accept_loop(&shared, &listener))
        .expect("spawn the accept thread")
}

/// Generates keys for `algs`, in order, RSA ones in parallel (an RSA 2048 key takes about
/// 0.1 s; EC and Ed25519 keys take microseconds).
fn generate_keys(algs: &[Alg]) -> Vec<SigningKey> {
    std::thread::scope(|scope| {
        let pending: Vec<_> = algs
            .iter()
            .map(|&alg| scope.spawn(move || SigningKey::generate_random_kid(alg)))
            .collect();
        pending
            .into_iter()
            .map(|handle| handle.join().expect("key generation does not panic"))
            .collect()
    })
}

/// Writes the CA certificate to a fresh directory (0755) as `ca.pem` (0644), so that the
/// PostgreSQL server running as another OS user can read it.
fn write_ca_file(pem: &str) -> (PathBuf, PathBuf) {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "pg_bearer-mock-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the mock provider's directory");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))
        .expect("chmod 0755 the mock provider's directory");
    let path = dir.join("ca.pem");
    std::fs::write(&path, pem).expect("write ca.pem");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644))
        .expect("chmod 0644 ca.pem");
    (dir, path)
}

impl Shared {
    fn path(&self, endpoint: Endpoint) -> String {
        let p = &self.issuer_path;
        match endpoint {
            Endpoint::OpenIdConfiguration => format!("{p}/.well-known/openid-configuration"),
            Endpoint::OAuthServerMetadata => format!("/.well-known/oauth-authorization-server{p}"),
            Endpoint::Jwks => format!("{p}/jwks"),
            Endpoint::Introspection => format!("{p}/introspect"),
            Endpoint::UserInfo => format!("{p}/userinfo"),
            Endpoint::Token => format!("{p}/token"),
        }
    }

    /// Every path that serves a metadata document: OIDC discovery, RFC 8414, and (for an
    /// issuer with a path) OIDC discovery with the well-known segment first, as RFC 8414 §5
    /// allows for compatibility.
    fn metadata_paths(&self) -> Vec<String> {
        let mut paths = vec![
            self.path(Endpoint::OpenIdConfiguration),
            self.path(Endpoint::OAuthServerMetadata),
        ];
        if !self.issuer_path.is_empty() {
            paths.push(format!(
                "/.well-known/openid-configuration{}",
                self.issuer_path
            ));
        }
        paths
    }

    /// The path a target names, or `None` for all paths.
    fn resolve(&self, target: Target) -> Option<String> {
        match target {
            Target::Path(p) => Some(p),
            Target::Endpoint(e) => Some(self.path(e)),
            Target::All => None,
        }
    }

    fn is_shutting_down(&self) -> bool {
        self.shutdown.load(Ordering::SeqCst)
    }

    fn metadata(
        &self,
        issuer_override: Option<&str>,
        overrides: &[(String, Option<Value>)],
    ) -> Value {
        let issuer = &self.issuer;
        let algs: Vec<&'static str> = {
            let ring = lock(&self.keys);
            let mut algs: Vec<&'static str> = Vec::new();
            for kid in ring.published() {
                if let Some(name) = ring.by_kid(&kid).map(|k| k.alg().name()) {
                    if !algs.contains(&name) {
                        algs.push(name);
                    }
                }
            }
            algs
        };
        let mut doc = json!({
            "issuer": issuer_override.unwrap_or(issuer),
            "authorization_endpoint": format!("{issuer}/authorize"),
            "token_endpoint": format!("{issuer}/token"),
            "device_authorization_endpoint": format!("{issuer}/device_authorization"),
            "jwks_uri": format!("{issuer}/jwks"),
            "introspection_endpoint": format!("{issuer}/introspect"),
            "userinfo_endpoint": format!("{issuer}/userinfo"),
            "grant_types_supported": [
                "authorization_code",
                "urn:ietf:params:oauth:grant-type:device_code"
            ],
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "scopes_supported": ["openid", "postgres"],
            "id_token_signing_alg_values_supported": algs,
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "introspection_endpoint_auth_methods_supported": ["client_secret_basic"],
        });
        let map: &mut Map<String, Value> = doc.as_object_mut().expect("an object literal");
        for (name, value) in overrides {
            match value {
                Some(v) => {
                    map.insert(name.clone(), v.clone());
                }
                None => {
                    map.remove(name);
                }
            }
        }
        doc
    }
}

fn accept_loop(shared: &Arc<Shared>, listener: &TcpListener) {
    loop {
        let accepted = listener.accept();
        if shared.is_shutting_down() {
            return;
        }
        let tcp = match accepted {
            Ok((tcp, _)) => tcp,
            Err(_) => {
                // E.g. out of file descriptors: back off briefly rather than spin.
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        let id = shared.next_conn.fetch_add(1, Ordering::Relaxed);
        if let Ok(control) = tcp.try_clone() {
            lock(&shared.live).insert(id, control);
        }
        lock(&shared.state).connections += 1;
        let conn_shared = shared.clone();
        shared.conn_threads.fetch_add(1, Ordering::SeqCst);
        let spawned = std::thread::Builder::new()
            .name("mock-idp-conn".into())
            .spawn(move || {
                serve_connection(&conn_shared, tcp);
                lock(&conn_shared.live).remove(&id);
                conn_shared.conn_threads.fetch_sub(1, Ordering::SeqCst);
            });
        if spawned.is_err() {
            lock(&shared.live).remove(&id);
            shared.conn_threads.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

fn serve_connection(shared: &Shared, tcp: TcpStream) {
    let _ = tcp.set_nodelay(true);
    let _ = tcp.set_read_timeout(Some(IO_TIMEOUT));
    let _ = tcp.set_write_timeout(Some(IO_TIMEOUT));
    let Ok(control) = tcp.try_clone() else {
        return;
    };
    let mode = lock(&shared.state).tls_mode;
    match (mode, shared.tls.config(mode)) {
        (TlsMode::Silent, _) => {
            let mut tcp = tcp;
            hold_open(shared, &mut tcp, &control);
        }
        (_, None) => {
            let mut tcp = tcp;
            serve_one(shared, &mut tcp, &control);
        }
        (_, Some(config)) => {
            let Ok(mut conn) = ServerConnection::new(config) else {
                return;
            };
            let mut tcp = tcp;
            while conn.is_handshaking() {
                if conn.complete_io(&mut tcp).is_err() {
                    lock(&shared.state).tls_failures += 1;
                    return;
                }
            }
            let mut stream = StreamOwned::new(conn, tcp);
            if serve_one(shared, &mut stream, &control) {
                stream.conn.send_close_notify();
                let _ = stream.flush();
            }
        }
    }
}

/// What to do with one request.
enum Reply {
    Bytes(Vec<u8>),
    Trickle(Vec<u8>, Duration),
    Huge { len: usize, announced: bool },
    Hang,
    Close,
}

/// Serves one request on `stream`. Returns whether a complete response was written (so the
/// caller may close TLS cleanly).
fn serve_one<S: Read + Write>(shared: &Shared, stream: &mut S, control: &TcpStream) -> bool {
    let request = match http::read_request(stream) {
        Ok(Some(request)) => request,
        Err(e) if e.kind() == io::ErrorKind::InvalidData => {
            let bad = http::response(400, &[("Content-Type", "text/plain")], b"Bad Request");
            return stream.write_all(&bad).and_then(|()| stream.flush()).is_ok();
        }
        Ok(None) | Err(_) => return false,
    };
    let reply = {
        let mut state = lock(&shared.state);
        *state.counts.entry(request.path.clone()).or_insert(0) += 1;
        state.total += 1;
        if state.requests.len() >= MAX_RECORDED {
            state.requests.remove(0);
        }
        state.requests.push(request.clone());
        let fault = state
            .faults
            .get(&request.path)
            .or(state.fault_all.as_ref())
            .cloned()
            .unwrap_or(Fault::None);
        match fault {
            Fault::None => Reply::Bytes(normal_response(shared, &state, &request, None)),
            Fault::Hang => Reply::Hang,
            Fault::Drop => Reply::Close,
            Fault::Trickle(pause) => {
                Reply::Trickle(normal_response(shared, &state, &request, None), pause)
            }
            Fault::Delay(wait) => {
                let bytes = normal_response(shared, &state, &request, None);
                drop(state);
                if !sleep_unless_shutdown(shared, wait) {
                    return false;
                }
                Reply::Bytes(bytes)
            }
            Fault::Status(status) => Reply::Bytes(http::response(
                status,
                &[("Content-Type", "application/json")],
                format!("{{\"error\":\"injected_{status}\"}}").as_bytes(),
            )),
            Fault::Html => Reply::Bytes(http::response(
                200,
                &[("Content-Type", "text/html; charset=utf-8")],
                b"<!DOCTYPE html><html><head><title>Sign in</title></head>\
                  <body><p>Please sign in.</p></body></html>",
            )),
            Fault::Huge(len) => Reply::Huge {
                len,
                announced: true,
            },
            Fault::HugeUnannounced(len) => Reply::Huge {
                len,
                announced: false,
            },
            Fault::DeepJson(depth) => {
                let mut body = String::with_capacity(2 * depth + 10);
                body.push_str("{\"keys\":");
                body.extend(std::iter::repeat_n('[', depth));
                body.extend(std::iter::repeat_n(']', depth));
                body.push('}');
                Reply::Bytes(http::response(
                    200,
                    &[("Content-Type", "application/json")],
                    body.as_bytes(),
                ))
            }
            Fault::Redirect(location) => Reply::Bytes(http::response(
                302,
                &[("Location", &location), ("Content-Type", "text/plain")],
                b"",
            )),
            Fault::IssuerMismatch(issuer) => {
                Reply::Bytes(normal_response(shared, &state, &request, Some(&issuer)))
            }
            Fault::Body(body, content_type) => Reply::Bytes(http::response(
                200,
                &[("Content-Type", &content_type)],
                body.as_bytes(),
            )),
        }
    };
    match reply {
        Reply::Bytes(bytes) => stream
            .write_all(&bytes)
            .and_then(|()| stream.flush())
            .is_ok(),
        Reply::Trickle(bytes, pause) => {
            for byte in bytes {
                if stream
                    .write_all(&[byte])
                    .and_then(|()| stream.flush())
                    .is_err()
                    || !sleep_unless_shutdown(shared, pause)
                {
                    return false;
                }
            }
            true
        }
        Reply::Huge { len, announced } => write_huge(stream, len, announced).is_ok(),
        Reply::Hang => {
            hold_open(shared, stream, control);
            false
        }
        Reply::Close => false,
    }
}

/// The response a well-behaved provider would give (with the discovery `issuer` replaced
/// when `issuer_override` is set).
fn normal_response(
    shared: &Shared,
    state: &State,
    request: &RecordedRequest,
    issuer_override: Option<&str>,
) -> Vec<u8> {
    const JSON: (&str, &str) = ("Content-Type", "application/json");
    let path = request.path.as_str();
    if shared.metadata_paths().iter().any(|p| p == path) {
        let doc = shared.metadata(issuer_override, &state.metadata_overrides);
        return http::response(200, &[JSON], doc.to_string().as_bytes());
    }
    if path == shared.path(Endpoint::Jwks) {
        let body = lock(&shared.keys).jwks().to_string();
        return match state.cache_control.header_value() {
            Some(cc) => http::response(200, &[JSON, ("Cache-Control", &cc)], body.as_bytes()),
            None => http::response(200, &[JSON], body.as_bytes()),
        };
    }
    if path == shared.path(Endpoint::Introspection) {
        let token = http::form_value(&request.body, "token");
        let answer = token
            .as_deref()
            .and_then(|token| state.introspection_answers.get(token));
        if let Some(body) = answer {
            return http::response(200, &[JSON], body.to_string().as_bytes());
        }
        if let Some(mut claims) = token
            .as_deref()
            .filter(|_| state.lenient_jwts)
            .and_then(lenient_jwt_claims)
        {
            claims.insert("active".into(), Value::Bool(true));
            return http::response(200, &[JSON], Value::Object(claims).to_string().as_bytes());
        }
        return http::response(200, &[JSON], br#"{"active":false}"#);
    }
    if path == shared.path(Endpoint::UserInfo) && state.lenient_jwts {
        let bearer = request
            .headers
            .iter()
            .find(|(n, _)| n == "authorization")
            .and_then(|(_, v)| v.strip_prefix("Bearer "));
        if let Some(claims) = bearer.and_then(lenient_jwt_claims) {
            return http::response(200, &[JSON], Value::Object(claims).to_string().as_bytes());
        }
    }
    if path == shared.path(Endpoint::UserInfo) {
        return http::response(
            401,
            &[JSON, ("WWW-Authenticate", "Bearer error=\"invalid_token\"")],
            br#"{"error":"invalid_token"}"#,
        );
    }
    if path == shared.path(Endpoint::Token) {
        return http::response(400, &[JSON], br#"{"error":"unsupported_grant_type"}"#);
    }
    http::response(404, &[JSON], br#"{"error":"not_found"}"#)
}

/// The claims of a JWT as a lenient decoder reads them (see [`MockProvider::set_lenient_jwts`]).
fn lenient_jwt_claims(token: &str) -> Option<Map<String, Value>> {
    use base64::Engine as _;
    let mut segments = token.split('.');
    let (_header, payload) = (segments.next()?, segments.next()?);
    segments.next()?;
    let canonical: String = payload
        .chars()
        .filter_map(|c| match c {
            '+' => Some('-'),
            '/' => Some('_'),
            c if c.is_ascii_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect();
    let lenient = base64::engine::GeneralPurpose::new(
        &base64::alphabet::URL_SAFE,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::RequireNone),
    );
    match serde_json::from_slice(&lenient.decode(canonical).ok()?).ok()? {
        Value::Object(claims) => Some(claims),
        _ => None,
    }
}

/// Writes a 200 `application/json` response whose body is a valid JSON object of exactly
/// `len` bytes (`{"keys":[],"padding":"aaa…"}`, or spaces-padded `{}` when `len` is tiny),
/// in 64 KiB pieces.
fn write_huge(stream: &mut impl Write, len: usize, announced: bool) -> io::Result<()> {
    const PREFIX: &[u8] = b"{\"keys\":[],\"padding\":\"";
    const SUFFIX: &[u8] = b"\"}";
    let head = http::head(
        200,
        &[("Content-Type", "application/json")],
        announced.then_some(len),
    );
    stream.write_all(&head)?;
    if len < PREFIX.len() + SUFFIX.len() {
        let mut body = b"{}".to_vec();
        body.resize(len.max(2), b' ');
        body.truncate(len);
        stream.write_all(&body)?;
        return stream.flush();
    }
    stream.write_all(PREFIX)?;
    let chunk = [b'a'; 64 * 1024];
    let mut left = len - PREFIX.len() - SUFFIX.len();
    while left > 0 {
        let n = left.min(chunk.len());
        stream.write_all(&chunk[..n])?;
        left -= n;
    }
    stream.write_all(SUFFIX)?;
    stream.flush()
}

/// Keeps a connection open without answering until the client closes it, the provider shuts
/// down, or [`MAX_HOLD`] passes. Whatever the client sends is read and discarded.
fn hold_open(shared: &Shared, stream: &mut impl Read, control: &TcpStream) {
    let _ = control.set_read_timeout(Some(POLL));
    let deadline = Instant::now() + MAX_HOLD;
    let mut sink = [0u8; 4096];
    while !shared.is_shutting_down() && Instant::now() < deadline {
        match stream.read(&mut sink) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return,
        }
    }
}

/// Sleeps for `total` in [`POLL`] steps; `false` if the provider began shutting down.
fn sleep_unless_shutdown(shared: &Shared, total: Duration) -> bool {
    let deadline = Instant::now() + total;
    loop {
        if shared.is_shutting_down() {
            return false;
        }
        let now = Instant::now();
        if now >= deadline {
            return true;
        }
        std::thread::sleep(POLL.min(deadline - now));
    }
}
