//! A real OpenID provider for end-to-end tests: npm `oidc-provider` (pinned in
//! `pgrx-tests/fixtures/oidc-provider/package-lock.json`) run by Node on 127.0.0.1 over
//! HTTPS, with a CA made here, and a real `psql` whose RFC 8628 device flow is approved by
//! driving the provider's pages the way a browser would.
//!
//! Where the mock provider ([`crate::provider`]) gives exact control and fault injection, this
//! one answers the question "does pg_bearer accept what a real, certified provider issues?":
//! RFC 9068 JWT access tokens signed RS256, ES256 or EdDSA, opaque tokens with RFC 7662
//! introspection, client_credentials, and key rotation at run time.
//!
//! ```no_run
//! use pg_bearer_e2e::oidc::{OidcOptions, OidcProvider, SERVICE_SECRET};
//!
//! let idp = OidcProvider::start(OidcOptions::default());
//! // pg_bearer.ca_file = idp.ca_pem_path(); pg_hba: issuer="{idp.issuer()}"
//! let token = idp.client_credentials("service", SERVICE_SECRET); // JWT, sub "service"
//! // ... log in with Session::connect(conninfo, Some(&token)) ...
//! let keys = idp.rotate_dropping_old(); // new kids; the JWKS publishes only them
//! assert_eq!(keys.signing.len(), 3);
//! let jwks_fetches = idp.stats().jwks;
//! # let _ = (token, jwks_fetches);
//! ```
//!
//! A real psql device-flow login, approved as alice, is
//! `idp.device_login_psql(&cluster, "alice", "psql-rs256")`, returning
//! `("oauth:alice", "alice")` from `SELECT system_user, current_user`.
//! With `PG_BEARER_E2E_TIMINGS` set, start-up and login times go to stderr.
//!
//! The provider's accounts, clients and pages are described at the top of
//! `pgrx-tests/fixtures/oidc-provider/server.js`. In short: users [`ALICE`] and [`BOB`] with
//! password [`PASSWORD`]; public device-flow clients `psql-rs256`, `psql-es256`, `psql-eddsa`
//! (JWT access tokens) and `psql-opaque`; confidential client_credentials clients `service`
//! (JWT, `sub` = `service`) and `service-opaque`; and `pg-introspect`, the client a database
//! introspects with; their secrets are [`SERVICE_SECRET`], [`SERVICE_OPAQUE_SECRET`] and
//! [`INTROSPECT_SECRET`]. Every access token carries
//! `aud: postgres-db` ([`AUDIENCE`]).
//!
//! # Processes
//! Node runs as a child whose stdin is a pipe we hold; it exits when that pipe closes, so
//! even a test process killed outright leaves no provider behind. [`OidcProvider`] kills
//! it on drop as well (also while a test panics), and a [`device_login_psql`] that fails
//! kills its psql.
//!
//! # Secrets
//! libpq honours `PGOAUTHCAFILE` only with `PGOAUTHDEBUG=UNSAFE`, which also makes libcurl
//! trace every HTTP exchange, token responses included, to psql's stderr (PostgreSQL 18.6,
//! `oauth-curl.c`, `debug_callback`). Those `[libcurl]` lines are read and dropped here, never
//! printed or returned; nor is any token this module obtains.
//!
//! [`device_login_psql`]: OidcProvider::device_login_psql

use std::fmt::Write as _;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use serde_json::Value;

use crate::cluster::Cluster;

/// The audience of every access token the provider issues.
pub const AUDIENCE: &str = "postgres-db";
/// A user (accountId and `sub` `alice`).
pub const ALICE: &str = "alice";
/// Another user (accountId and `sub` `bob`).
pub const BOB: &str = "bob";
/// Every user's password.
pub const PASSWORD: &str = "secret";
/// The `sub` of the `service` client's client_credentials tokens: its client id.
pub const SERVICE_SUB: &str = "service";
// Client secrets, as in server.js: random-looking so that no 8 characters of one match an
// identifier the server may log (the suite's log scan looks for any 8).
/// The `service` client's secret.
pub const SERVICE_SECRET: &str = "q7Vd2LxR9pT4mWz8kC1n";
/// The `service-opaque` client's secret.
pub const SERVICE_OPAQUE_SECRET: &str = "N3hKc6Yt1bQw5ZsEa0Gu";
/// The `pg-introspect` client's secret (the one a database introspects with).
pub const INTROSPECT_SECRET: &str = "Xf8Rj2Mv6Dq9Lp3AyH5e";

/// How long the provider may take to start (Node plus oidc-provider: about 0.4 s).
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long `npm ci` may take when node_modules is missing.
const NPM_TIMEOUT: Duration = Duration::from_secs(300);
/// Deadline for one HTTP exchange with the provider.
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);
/// Deadline for a whole psql device-flow login (about 1.1 s when approved at once).
const PSQL_TIMEOUT: Duration = Duration::from_secs(30);
/// The most psql stderr lines kept for an error message (`[libcurl]` lines are never kept).
const MAX_STDERR_LINES: usize = 50;
/// The most bytes of Node's stderr kept for diagnostics.
const MAX_NODE_STDERR: usize = 64 * 1024;

/// How to start an [`OidcProvider`]. The default is an issuer `https://127.0.0.1:<port>` with
/// the path `/realms/main` and a one-second device-flow polling interval.
#[derive(Debug, Clone)]
pub struct OidcOptions {
    /// The issuer's path: empty or like `/realms/main` (leading slash, no trailing slash).
    /// Defaults to `/realms/main`.
    pub issuer_path: String,
    /// The `interval` (seconds) in device authorization responses; libpq polls the token
    /// endpoint this often, and never faster than once a second. Defaults to 1.
    pub device_poll_interval: u32,
}

impl Default for OidcOptions {
    fn default() -> Self {
        OidcOptions {
            issuer_path: "/realms/main".into(),
            device_poll_interval: 1,
        }
    }
}

/// Request counts per endpoint since start or the last [`OidcProvider::reset_stats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProviderStats {
    /// `{issuer}/.well-known/openid-configuration`.
    pub discovery: u64,
    /// `{issuer}/jwks`.
    pub jwks: u64,
    /// `{issuer}/token/introspection`.
    pub introspection: u64,
    /// `{issuer}/me`.
    pub userinfo: u64,
    /// `{issuer}/token` (every grant, device-flow polling included).
    pub token: u64,
    /// `{issuer}/device/auth`.
    pub device_authorization: u64,
    /// `{issuer}/token/revocation`.
    pub revocation: u64,
    /// Every request under the issuer path (pages included; admin requests excluded).
    pub total: u64,
}

/// The signing keys after a rotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySet {
    /// `(alg, kid)` of the key that signs new tokens, per algorithm (RS256, ES256, EdDSA).
    pub signing: Vec<(String, String)>,
    /// Every kid the JWKS publishes, newest first.
    pub published: Vec<String>,
}

/// A running provider; the Node process is killed and its directory deleted on drop.
pub struct OidcProvider {
    child: Child,
    /// Held so Node sees its stdin close only when we are gone.
    _stdin: ChildStdin,
    dir: PathBuf,
    ca_pem_path: PathBuf,
    issuer: String,
    issuer_path: String,
    port: u16,
    tls: Arc<ClientConfig>,
    node_stderr: Arc<Mutex<String>>,
}

impl std::fmt::Debug for OidcProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcProvider")
            .field("issuer", &self.issuer)
            .field("pid", &self.child.id())
            .finish_non_exhaustive()
    }
}

fn idp_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/oidc-provider")
}

fn bindir() -> PathBuf {
    PathBuf::from(env!("PG_BEARER_E2E_BINDIR"))
}

impl OidcProvider {
    /// Installs the Node packages if needed (`npm ci`), generates a CA and a server
    /// certificate, starts `node fixtures/oidc-provider/server.js` and waits until it
    /// listens. Panics (with Node's stderr) if it cannot.
    pub fn start(options: OidcOptions) -> OidcProvider {
        // On a loaded 2-core machine Node has been seen (about 1 start in 30, with several
        // test binaries and builds running) never to announce its port; a second process
        // starts normally. Retry, then fail with the provider's own messages.
        let mut failures = Vec::new();
        for _ in 0..3 {
            match Self::try_start(&options) {
                Ok(provider) => return provider,
                Err(e) => failures.push(e),
            }
        }
        panic!(
            "the OpenID provider did not start:\n{}",
            failures.join("\n---\n")
        );
    }

    /// One attempt at [`OidcProvider::start`]; the process is stopped (by drop) on failure.
    fn try_start(options: &OidcOptions) -> Result<OidcProvider, String> {
        let path = &options.issuer_path;
        assert!(
            path.is_empty() || (path.starts_with('/') && !path.ends_with('/')),
            "issuer_path must be empty or like /realms/main, not {path:?}"
        );
        ensure_node_modules();
        let started = Instant::now();
        let tls_files = TlsFiles::generate();
        let mut child = Command::new("node")
            .arg("server.js")
            .arg("--cert")
            .arg(&tls_files.cert)
            .arg("--key")
            .arg(&tls_files.key)
            .args(["--port", "0", "--issuer-path", path])
            .args(["--interval", &options.device_poll_interval.to_string()])
            .current_dir(idp_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("run node (is Node.js on PATH?): {e}"));
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let node_stderr = Arc::new(Mutex::new(String::new()));
        drain_into(stderr, node_stderr.clone());
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            // The announcement is the first line; the rest of stdout is drained and dropped.
            let mut lines = BufReader::new(stdout).lines();
            let _ = tx.send(lines.next());
            for _ in lines {}
        });
        let mut provider = OidcProvider {
            child,
            _stdin: stdin,
            dir: tls_files.dir,
            ca_pem_path: tls_files.ca,
            issuer: String::new(),
            issuer_path: path.clone(),
            port: 0,
            tls: client_config(&tls_files.ca_pem),
            node_stderr,
        };
        let line = match rx.recv_timeout(START_TIMEOUT) {
            Ok(Some(Ok(line))) => line,
            other => return Err(format!("({other:?}):\n{}", provider.node_log())),
        };
        let announced: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("announcement {line:?} is not JSON: {e}"));
        provider.issuer = announced["issuer"]
            .as_str()
            .expect("announcement has the issuer")
            .to_owned();
        provider.port = announced["port"]
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .expect("announcement has the port");
        if std::env::var_os("PG_BEARER_E2E_TIMINGS").is_some() {
            eprintln!("oidc provider: started in {:?}", started.elapsed());
        }
        Ok(provider)
    }

    /// The issuer identifier: `https://127.0.0.1:<port>` plus the issuer path.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The OIDC discovery URL: issuer + `/.well-known/openid-configuration`.
    pub fn well_known(&self) -> String {
        format!("{}/.well-known/openid-configuration", self.issuer)
    }

    /// The CA certificate (PEM) the provider's certificate chains to, readable by every OS
    /// user, for `pg_bearer.ca_file` and `PGOAUTHCAFILE`.
    pub fn ca_pem_path(&self) -> &Path {
        &self.ca_pem_path
    }

    /// The TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The process id of the Node process.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Node's stderr so far (oidc-provider notices, fixture errors; never tokens).
    pub fn node_log(&self) -> String {
        lock(&self.node_stderr).clone()
    }

    /// A client_credentials grant (`scope=postgres`, `client_secret_basic`); returns the
    /// access token. Panics if the provider refuses.
    pub fn client_credentials(&self, client_id: &str, secret: &str) -> String {
        self.try_client_credentials(client_id, secret)
            .unwrap_or_else(|e| panic!("client_credentials for {client_id}: {e}"))
    }

    /// Like [`OidcProvider::client_credentials`], returning the provider's refusal as `Err`
    /// (status and OAuth error, no token material).
    pub fn try_client_credentials(&self, client_id: &str, secret: &str) -> Result<String, String> {
        let response = self.http().request(
            "POST",
            &format!("{}/token", self.issuer_path),
            Some(&form(&[
                ("grant_type", "client_credentials"),
                ("scope", "postgres"),
            ])),
            &[("Authorization", &basic(client_id, secret))],
        )?;
        let body = response.json()?;
        match body["access_token"].as_str() {
            Some(token) if response.status == 200 => Ok(token.to_owned()),
            _ => Err(format!(
                "status {}, error {}",
                response.status, body["error"]
            )),
        }
    }

    /// RFC 7662 introspection of `token` by a confidential client; returns the status and the
    /// response body.
    pub fn introspect(&self, token: &str, client_id: &str, secret: &str) -> (u16, Value) {
        let response = self
            .http()
            .request(
                "POST",
                &format!("{}/token/introspection", self.issuer_path),
                Some(&form(&[("token", token)])),
                &[("Authorization", &basic(client_id, secret))],
            )
            .unwrap_or_else(|e| panic!("introspection: {e}"));
        let body = response.json().unwrap_or(Value::Null);
        (response.status, body)
    }

    /// GETs a path on the provider (e.g. `"/realms/main/jwks"`); returns status and JSON
    /// body (`null` if not JSON).
    pub fn get_json(&self, path: &str) -> (u16, Value) {
        let response = self
            .http()
            .request("GET", path, None, &[])
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        (response.status, response.json().unwrap_or(Value::Null))
    }

    /// Generates new signing keys for every algorithm and rebuilds the provider with them;
    /// the old public keys stay published (a smooth rotation). Tokens, grants and sessions
    /// survive. Returns the new key set.
    pub fn rotate(&self) -> KeySet {
        self.admin_keys("POST", "/__admin/rotate")
    }

    /// Like [`OidcProvider::rotate`], but the JWKS publishes only the new keys (an abrupt
    /// rotation: tokens signed before it no longer verify).
    pub fn rotate_dropping_old(&self) -> KeySet {
        self.admin_keys("POST", "/__admin/rotate?drop=1")
    }

    /// The current signing keys and the published kids.
    pub fn keys(&self) -> KeySet {
        self.admin_keys("GET", "/__admin/keys")
    }

    /// Request counts per endpoint.
    pub fn stats(&self) -> ProviderStats {
        let body = self.admin("GET", "/__admin/stats");
        let n = |name: &str| body[name].as_u64().unwrap_or(0);
        ProviderStats {
            discovery: n("discovery"),
            jwks: n("jwks"),
            introspection: n("introspection"),
            userinfo: n("userinfo"),
            token: n("token"),
            device_authorization: n("device_authorization"),
            revocation: n("revocation"),
            total: n("total"),
        }
    }

    /// Zeroes the request counts.
    pub fn reset_stats(&self) {
        self.admin("POST", "/__admin/reset-stats");
    }

    /// Logs in with the real `psql` and libpq's device flow as `role`, approving the device
    /// code as the user of the same name (see [`OidcProvider::device_login_psql_as`]).
    pub fn device_login_psql(
        &self,
        cluster: &Cluster,
        role: &str,
        client_id: &str,
    ) -> Result<(String, String), String> {
        self.device_login_psql_as(cluster, role, role, client_id)
    }

    /// Runs `psql` (from the PostgreSQL under test) with `oauth_issuer` = the issuer and
    /// `oauth_client_id` = `client_id`, asking for `role`; reads the "Visit ... enter the
    /// code" line libpq prints, approves that code on the provider's pages signed in as
    /// `account` (password [`PASSWORD`]), and returns what `SELECT system_user, current_user`
    /// printed. `Err` carries psql's own messages (libcurl's trace is never included) or what
    /// went wrong with the approval.
    pub fn device_login_psql_as(
        &self,
        cluster: &Cluster,
        account: &str,
        role: &str,
        client_id: &str,
    ) -> Result<(String, String), String> {
        let stdout = self.device_login_psql_run(
            cluster,
            account,
            role,
            client_id,
            "SELECT system_user, current_user",
        )?;
        let line = stdout.lines().next().unwrap_or_default();
        let (system_user, current_user) = line
            .split_once('|')
            .ok_or_else(|| format!("unexpected psql output {stdout:?}"))?;
        Ok((system_user.to_owned(), current_user.to_owned()))
    }

    /// Like [`OidcProvider::device_login_psql_as`], running `sql` instead (`psql -X -At -c`)
    /// and returning what it printed.
    pub fn device_login_psql_run(
        &self,
        cluster: &Cluster,
        account: &str,
        role: &str,
        client_id: &str,
        sql: &str,
    ) -> Result<String, String> {
        let started = Instant::now();
        let conninfo = format!(
            "host=127.0.0.1 port={} user={role} dbname=postgres oauth_issuer={} oauth_client_id={client_id}",
            cluster.port(),
            self.issuer
        );
        let child = Command::new(bindir().join("psql"))
            .arg(&conninfo)
            .args(["-X", "-At", "-c", sql])
            .env("PGOAUTHDEBUG", "UNSAFE")
            .env("PGOAUTHCAFILE", &self.ca_pem_path)
            .env("LC_ALL", "C")
            .env_remove("PGPASSWORD")
            .env_remove("PGSERVICE")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("run psql: {e}"))?;
        let mut psql = KillOnDrop(child);
        let stdout = psql.0.stdout.take().expect("piped stdout");
        let stderr = psql.0.stderr.take().expect("piped stderr");
        let (prompt_tx, prompt_rx) = mpsc::channel();
        // The single reader of psql's stderr: passes on the prompt, keeps psql's own lines,
        // drops libcurl's trace (it holds tokens).
        let stderr_reader = std::thread::spawn(move || {
            let mut kept = Vec::new();
            let mut reader = BufReader::new(stderr);
            let mut raw = Vec::new();
            loop {
                raw.clear();
                match reader.read_until(b'\n', &mut raw) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                let line = String::from_utf8_lossy(&raw).trim_end().to_owned();
                if line.starts_with("[libcurl]") {
                    continue;
                }
                if let Some(prompt) = DevicePrompt::parse(&line) {
                    let _ = prompt_tx.send(prompt);
                } else if kept.len() < MAX_STDERR_LINES {
                    kept.push(line);
                }
            }
            kept
        });
        let stdout_reader = std::thread::spawn(move || {
            let mut out = String::new();
            let _ = BufReader::new(stdout).read_to_string(&mut out);
            out
        });

        let deadline = started + PSQL_TIMEOUT;
        let mut approval = Ok(());
        let mut prompted = false;
        loop {
            match prompt_rx.recv_timeout(Duration::from_millis(50)) {
                Ok(prompt) => {
                    prompted = true;
                    approval = self.approve_device(&prompt, account);
                    break;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if Instant::now() > deadline {
                        break;
                    }
                }
            }
        }
        if approval.is_err() {
            psql.kill();
        }
        let status = psql.wait_until(deadline);
        let stderr_lines = stderr_reader.join().unwrap_or_default();
        let stdout = stdout_reader.join().unwrap_or_default();
        if std::env::var_os("PG_BEARER_E2E_TIMINGS").is_some() {
            eprintln!("psql device login: {:?}", started.elapsed());
        }
        approval.map_err(|e| format!("device approval failed: {e}"))?;
        let psql_says = stderr_lines.join("\n");
        match status {
            None => Err(format!(
                "psql did not finish within {PSQL_TIMEOUT:?} (prompted: {prompted}):\n{psql_says}"
            )),
            Some(status) if !status.success() => Err(psql_says),
            Some(_) => Ok(stdout),
        }
    }

    /// Approves a device code on the provider's pages, signed in as `account`; the page
    /// sequence is documented at the top of `fixtures/oidc-provider/server.js`.
    fn approve_device(&self, prompt: &DevicePrompt, account: &str) -> Result<(), String> {
        let origin = format!("https://127.0.0.1:{}", self.port);
        let path = prompt
            .url
            .strip_prefix(&origin)
            .ok_or_else(|| format!("verification URL {} is not on {origin}", prompt.url))?;
        let mut browser = Browser::new(self.http());
        let page = browser.get(path)?;
        let form = page
            .form()
            .ok_or_else(|| format!("no user-code form: {}", page.describe()))?;
        let mut fields = form.hidden;
        fields.push(("user_code".into(), prompt.user_code.clone()));
        // The confirmation page repeats xsrf and user_code and adds confirm=yes.
        let page = browser.post(&form.action, &fields)?;
        let form = page
            .form()
            .ok_or("no confirmation form after the user code")?;
        let mut page = browser.post(&form.action, &form.hidden)?;
        for _ in 0..4 {
            if page.body.contains("Sign-in Success") {
                return Ok(());
            }
            let form = page.form().ok_or_else(|| {
                format!(
                    "expected a login or consent page, got status {} at {}",
                    page.status, page.path
                )
            })?;
            let fields: Vec<(String, String)> = match form.prompt.as_deref() {
                Some("login") => vec![
                    ("username".into(), account.into()),
                    ("password".into(), PASSWORD.into()),
                ],
                Some("consent") => form.hidden,
                other => {
                    return Err(format!(
                        "unexpected form (prompt {other:?}) at {}",
                        page.path
                    ))
                }
            };
            page = browser.post(&form.action, &fields)?;
            if page.status >= 400 {
                return Err(format!("status {} at {}", page.status, page.path));
            }
        }
        Err(format!("no success page; ended at {}", page.path))
    }

    fn http(&self) -> Http {
        Http {
            port: self.port,
            tls: self.tls.clone(),
        }
    }

    fn admin(&self, method: &str, path: &str) -> Value {
        let response = self
            .http()
            .request(method, path, (method == "POST").then_some(""), &[])
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        assert_eq!(response.status, 200, "{method} {path}");
        response
            .json()
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    fn admin_keys(&self, method: &str, path: &str) -> KeySet {
        let body = self.admin(method, path);
        let signing = body["signing"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(alg, kid)| (alg.clone(), kid.as_str().unwrap_or_default().to_owned()))
                    .collect()
            })
            .unwrap_or_default();
        let published = body["published"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|k| k.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        KeySet { signing, published }
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        if std::env::var_os(crate::suite::SUITE_DIR_VAR).is_some() {
            for token in self.issued_tokens() {
                crate::suite::record_secret(&token);
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Reads `from` to its end into `into`, keeping at most [`MAX_NODE_STDERR`] bytes.
fn drain_into(mut from: impl Read + Send + 'static, into: Arc<Mutex<String>>) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 {
                break;
            }
            let mut log = lock(&into);
            if log.len() < MAX_NODE_STDERR {
                log.push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        }
    });
}

/// Runs `npm ci` in `fixtures/oidc-provider/` when `node_modules` is missing or older than
/// `package-lock.json` (as scripts/setup.sh does). Once per process.
fn ensure_node_modules() {
    static DONE: Mutex<bool> = Mutex::new(false);
    let mut done = lock(&DONE);
    if *done {
        return;
    }
    let dir = idp_dir();
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let lock_file = modified(&dir.join("package-lock.json"));
    let installed = modified(&dir.join("node_modules/.package-lock.json"));
    let fresh = matches!((installed, lock_file), (Some(i), Some(l)) if i >= l);
    if !fresh {
        let started = SystemTime::now();
        let mut npm = KillOnDrop(
            Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund", "--silent"])
                .current_dir(&dir)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()
                .unwrap_or_else(|e| {
                    panic!("run npm ci in {} (is npm on PATH?): {e}", dir.display())
                }),
        );
        let status = npm.wait_until(Instant::now() + NPM_TIMEOUT);
        assert!(
            status.is_some_and(|s| s.success()),
            "npm ci in {} failed or took longer than {NPM_TIMEOUT:?} (started {started:?})",
            dir.display()
        );
    }
    *done = true;
}

/// A child process killed (and reaped) when dropped.
struct KillOnDrop(Child);

impl KillOnDrop {
    fn kill(&mut self) {
        let _ = self.0.kill();
    }

    /// Waits for the exit status until `deadline`; kills the process and returns `None` if
    /// it is still running then.
    fn wait_until(&mut self, deadline: Instant) -> Option<std::process::ExitStatus> {
        loop {
            match self.0.try_wait() {
                Ok(Some(status)) => return Some(status),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                _ => {
                    self.kill();
                    let _ = self.0.wait();
                    return None;
                }
            }
        }
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

/// libpq's device-flow prompt: `Visit <url> and enter the code: <code>`.
#[derive(Debug, Clone)]
struct DevicePrompt {
    url: String,
    user_code: String,
}

impl DevicePrompt {
    fn parse(line: &str) -> Option<DevicePrompt> {
        let rest = line.strip_prefix("Visit ")?;
        let (url, code) = rest.split_once(" and enter the code: ")?;
        Some(DevicePrompt {
            url: url.trim().to_owned(),
            user_code: code.trim().to_owned(),
        })
    }
}

// ----- TLS material -----

struct TlsFiles {
    dir: PathBuf,
    ca: PathBuf,
    ca_pem: String,
    cert: PathBuf,
    key: PathBuf,
}

impl TlsFiles {
    /// A CA and a server certificate for `localhost`, `127.0.0.1` and `::1` (ECDSA P-256,
    /// valid from yesterday for 30 days), written to a fresh directory (0755): `ca.pem` and
    /// `cert.pem` (0644, so the server's OS user can read the CA), `key.pem` (0600).
    fn generate() -> TlsFiles {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let now = time::OffsetDateTime::now_utc();
        let (not_before, not_after) = (
            now - time::Duration::days(1),
            now + time::Duration::days(30),
        );

        let ca_key = KeyPair::generate().expect("rcgen generates a P-256 key");
        let mut ca_params = CertificateParams::default();
        ca_params.distinguished_name = rcgen::DistinguishedName::new();
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "pg_bearer oidc-provider fixture CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        ca_params.not_before = not_before;
        ca_params.not_after = not_after;
        let ca_pem = ca_params
            .self_signed(&ca_key)
            .expect("rcgen self-signs the CA")
            .pem();
        let ca = Issuer::new(ca_params, ca_key);

        let key = KeyPair::generate().expect("rcgen generates a P-256 key");
        let mut params = CertificateParams::new(vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
            "::1".to_owned(),
        ])
        .expect("valid names");
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, "pg_bearer oidc-provider fixture");
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.not_before = not_before;
        params.not_after = not_after;
        let cert_pem = params
            .signed_by(&key, &ca)
            .expect("rcgen signs the server certificate")
            .pem();

        let dir = std::env::temp_dir().join(format!(
            "pg_bearer-oidc-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the provider's directory");
        let write = |name: &str, text: &str, mode: u32| {
            let path = dir.join(name);
            std::fs::write(&path, text).unwrap_or_else(|e| panic!("write {name}: {e}"));
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
                .unwrap_or_else(|e| panic!("chmod {name}: {e}"));
            path
        };
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))
            .expect("chmod 0755 the provider's directory");
        TlsFiles {
            ca: write("ca.pem", &ca_pem, 0o644),
            cert: write("cert.pem", &cert_pem, 0o644),
            key: write("key.pem", &key.serialize_pem(), 0o600),
            ca_pem,
            dir,
        }
    }
}

fn client_config(ca_pem: &str) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots
            .add(cert.expect("a PEM certificate"))
            .expect("a usable CA certificate");
    }
    Arc::new(
        ClientConfig::builder_with_provider(
            Arc::new(rustls::crypto::aws_lc_rs::default_provider()),
        )
        .with_safe_default_protocol_versions()
        .expect("aws-lc-rs supports the default TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth(),
    )
}

// ----- a small HTTPS client -----

fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{user}:{password}")))
}

/// `application/x-www-form-urlencoded`.
fn form<K: AsRef<str>, V: AsRef<str>>(fields: &[(K, V)]) -> String {
    let encode = |s: &str| {
        let mut out = String::new();
        for b in s.bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                    out.push(char::from(b));
                }
                b' ' => out.push('+'),
                _ => {
                    let _ = write!(out, "%{b:02X}");
                }
            }
        }
        out
    };
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k.as_ref()), encode(v.as_ref())))
        .collect::<Vec<_>>()
        .join("&")
}

/// One request per TLS connection to the provider, trusting only its CA.
struct Http {
    port: u16,
    tls: Arc<ClientConfig>,
}

#[derive(Debug)]
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Result<Value, String> {
        serde_json::from_slice(&self.body)
            .map_err(|e| format!("status {}: body is not JSON: {e}", self.status))
    }
}

impl Http {
    /// Sends one request (`body` as a form when `Some`) and reads the whole response.
    fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Result<Response, String> {
        let url = format!("https://127.0.0.1:{}{path}", self.port);
        https_request(&self.tls, method, &url, body, headers)
    }
}

/// Reads one response: the head, then a body framed by Content-Length, chunked encoding, or
/// the end of the connection.
fn read_response(stream: &mut impl Read) -> io::Result<Response> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    let head_end = loop {
        if let Some(at) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed before the response head",
            ));
        }
        raw.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&raw[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no status line"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut response = Response {
        status,
        headers,
        body: raw[head_end + 4..].to_vec(),
    };
    let chunked = response
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    let length = response
        .header("content-length")
        .and_then(|v| v.parse::<usize>().ok());
    let complete = |body: &[u8]| match (chunked, length) {
        (true, _) => dechunk(body).is_some(),
        (false, Some(len)) => body.len() >= len,
        (false, None) => false,
    };
    while !complete(&response.body) {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => response.body.extend_from_slice(&buf[..n]),
            // A peer that closes without close_notify after a complete message is fine.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(e),
        }
    }
    if chunked {
        response.body = dechunk(&response.body).ok_or_else(|| {
            io::Error::new(io::ErrorKind::UnexpectedEof, "incomplete chunked body")
        })?;
    } else if let Some(len) = length {
        if response.body.len() < len {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "body shorter than Content-Length",
            ));
        }
        response.body.truncate(len);
    }
    Ok(response)
}

/// Decodes a complete chunked body; `None` while it is incomplete.
fn dechunk(mut raw: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = raw.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&raw[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        raw = &raw[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        if raw.len() < size + 2 {
            return None;
        }
        out.extend_from_slice(&raw[..size]);
        raw = &raw[size + 2..];
    }
}

// ----- a browser, just enough for the device approval pages -----

/// A cookie jar and redirect-following over [`Http`].
struct Browser {
    http: Http,
    /// `(name, path, value)`.
    cookies: Vec<(String, String, String)>,
}

/// A page the browser ended on after following redirects.
struct Page {
    status: u16,
    path: String,
    body: String,
}

/// A form on a page: its action, hidden fields, and `data-prompt` (our interaction pages).
struct Form {
    action: String,
    hidden: Vec<(String, String)>,
    prompt: Option<String>,
}

impl Browser {
    fn new(http: Http) -> Browser {
        Browser {
            http,
            cookies: Vec::new(),
        }
    }

    fn get(&mut self, path: &str) -> Result<Page, String> {
        self.navigate("GET", path, None)
    }

    /// Submits a form to `action` (a path or an absolute URL on the provider).
    fn post(&mut self, action: &str, fields: &[(String, String)]) -> Result<Page, String> {
        let path = self.local_path(action)?;
        self.navigate("POST", &path, Some(form(fields)))
    }

    fn navigate(&mut self, method: &str, path: &str, body: Option<String>) -> Result<Page, String> {
        let mut method = method.to_owned();
        let mut path = path.to_owned();
        let mut body = body;
        for _ in 0..10 {
            let cookie = self.cookie_header(&path);
            let mut headers = Vec::new();
            if !cookie.is_empty() {
                headers.push(("Cookie", cookie.as_str()));
            }
            let response = self
                .http
                .request(&method, &path, body.as_deref(), &headers)?;
            for (name, value) in &response.headers {
                if name.eq_ignore_ascii_case("set-cookie") {
                    self.store_cookie(value);
                }
            }
            let location = response.header("location").map(str::to_owned);
            match (response.status, location) {
                (301 | 302 | 303 | 307 | 308, Some(location)) => {
                    path = self.local_path(&location)?;
                    if !matches!(response.status, 307 | 308) {
                        method = "GET".into();
                        body = None;
                    }
                }
                (status, _) => {
                    return Ok(Page {
                        status,
                        path,
                        body: String::from_utf8_lossy(&response.body).into_owned(),
                    })
                }
            }
        }
        Err(format!("too many redirects, last to {path}"))
    }

    fn local_path(&self, location: &str) -> Result<String, String> {
        if location.starts_with('/') {
            return Ok(location.to_owned());
        }
        let origin = format!("https://127.0.0.1:{}", self.http.port);
        location
            .strip_prefix(&origin)
            .map(|p| {
                if p.is_empty() {
                    "/".into()
                } else {
                    p.to_owned()
                }
            })
            .ok_or_else(|| format!("redirect away from the provider: {location}"))
    }

    fn store_cookie(&mut self, header: &str) {
        let mut parts = header.split(';');
        let Some((name, value)) = parts.next().and_then(|nv| nv.split_once('=')) else {
            return;
        };
        let (name, value) = (name.trim().to_owned(), value.trim().to_owned());
        let mut path = "/".to_owned();
        let mut expired = value.is_empty();
        for attribute in parts {
            let (key, val) = attribute.split_once('=').unwrap_or((attribute, ""));
            match key.trim().to_ascii_lowercase().as_str() {
                "path" => path = val.trim().to_owned(),
                "expires" => expired |= val.contains("1970"),
                "max-age" => expired |= val.trim().parse::<i64>().is_ok_and(|s| s <= 0),
                _ => {}
            }
        }
        self.cookies.retain(|(n, p, _)| !(n == &name && p == &path));
        if !expired {
            self.cookies.push((name, path, value));
        }
    }

    /// The cookies whose path matches `request_path` (RFC 6265 §5.1.4).
    fn cookie_header(&self, request_path: &str) -> String {
        let request_path = request_path.split('?').next().unwrap_or("/");
        self.cookies
            .iter()
            .filter(|(_, path, _)| {
                request_path == path
                    || (request_path.starts_with(path.as_str())
                        && (path.ends_with('/')
                            || request_path.as_bytes().get(path.len()) == Some(&b'/')))
            })
            .map(|(name, _, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

impl Page {
    /// Status, path and title, for error messages (pages hold no token material).
    fn describe(&self) -> String {
        let title = self
            .body
            .split_once("<title>")
            .and_then(|(_, rest)| rest.split_once("</title>"))
            .map_or("", |(title, _)| title);
        format!("status {} at {} ({title})", self.status, self.path)
    }

    /// The first form on the page.
    fn form(&self) -> Option<Form> {
        let start = self.body.find("<form")?;
        let end = self.body[start..]
            .find("</form>")
            .map_or(self.body.len(), |e| start + e);
        let html = &self.body[start..end];
        let form_tag = &html[..html.find('>')?];
        let action = attribute(form_tag, "action").unwrap_or_else(|| self.path.clone());
        let prompt = attribute(form_tag, "data-prompt");
        let mut hidden = Vec::new();
        let mut rest = html;
        while let Some(at) = rest.find("<input") {
            rest = &rest[at..];
            let tag_end = rest.find('>').unwrap_or(rest.len());
            let tag = &rest[..tag_end];
            if attribute(tag, "type").as_deref() == Some("hidden") {
                if let Some(name) = attribute(tag, "name") {
                    hidden.push((name, attribute(tag, "value").unwrap_or_default()));
                }
            }
            rest = &rest[tag_end..];
        }
        Some(Form {
            action,
            hidden,
            prompt,
        })
    }
}

/// The value of `name="..."` in an HTML tag, entity-decoded.
fn attribute(tag: &str, name: &str) -> Option<String> {
    let needle = format!(" {name}=\"");
    let start = tag
        .find(&needle)
        .or_else(|| tag.find(&format!("\n{name}=\"")))?
        + needle.len();
    let len = tag[start..].find('"')?;
    Some(html_decode(&tag[start..start + len]))
}

fn html_decode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let Some(semi) = rest.find(';') else { break };
        let entity = &rest[1..semi];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix('#')
                .and_then(|n| {
                    n.strip_prefix('x')
                        .map_or_else(|| n.parse().ok(), |h| u32::from_str_radix(h, 16).ok())
                })
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

// ----- revocation and the userinfo client (tests/real_provider_opaque.rs) -----

/// The public device-flow client whose opaque access tokens name no resource server, hence
/// carry no audience: the only tokens the provider's userinfo endpoint accepts.
pub const USERINFO_CLIENT: &str = "psql-userinfo";

impl OidcProvider {
    /// RFC 7009 revocation of the access token `token` by the client it was issued to
    /// (`client_secret_basic`). Panics unless the provider answers 200 (which RFC 7009 also
    /// gives for a token it does not know).
    pub fn revoke(&self, token: &str, client_id: &str, secret: &str) {
        let response = self
            .http()
            .request(
                "POST",
                &format!("{}/token/revocation", self.issuer_path),
                Some(&form(&[
                    ("token", token),
                    ("token_type_hint", "access_token"),
                ])),
                &[("Authorization", &basic(client_id, secret))],
            )
            .unwrap_or_else(|e| panic!("revocation: {e}"));
        assert_eq!(
            response.status,
            200,
            "revocation by {client_id} refused: {}",
            response
                .json()
                .map(|b| b["error"].to_string())
                .unwrap_or_default()
        );
    }

    /// Every token the token endpoint has issued (access, refresh and ID tokens; psql's
    /// device-flow tokens among them), or none if the provider no longer answers. Never print
    /// them.
    pub fn issued_tokens(&self) -> Vec<String> {
        let Ok(response) = self
            .http()
            .request("GET", "/__admin/issued-tokens", None, &[])
        else {
            return Vec::new();
        };
        response
            .json()
            .ok()
            .and_then(|body: Value| {
                body["tokens"].as_array().map(|a| {
                    a.iter()
                        .filter_map(|t| t.as_str().map(str::to_owned))
                        .collect()
                })
            })
            .unwrap_or_default()
    }

    /// Every live opaque access token the provider has issued (client_credentials ones
    /// included), for checking that a log holds none of them, psql's device-flow tokens
    /// among them. Never print them.
    pub fn opaque_access_tokens(&self) -> Vec<String> {
        self.admin("GET", "/__admin/opaque-access-tokens")["tokens"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }
}

// ===== Device approval for a psql the caller runs (the demo, tools/demo) =====

impl OidcProvider {
    /// Approves the device code `user_code` shown by a psql the caller runs itself, on the
    /// provider's pages at `verification_url`, signed in as `account` (password
    /// [`PASSWORD`]): what a person does in a browser.
    pub fn approve_device_code(
        &self,
        verification_url: &str,
        user_code: &str,
        account: &str,
    ) -> Result<(), String> {
        self.approve_device(
            &DevicePrompt {
                url: verification_url.to_owned(),
                user_code: user_code.to_owned(),
            },
            account,
        )
    }

    /// The directory the provider's TLS files live in (removed on drop).
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// One request to an `https://host[:port]/path` URL, on its own connection.
fn https_request(
    tls: &Arc<ClientConfig>,
    method: &str,
    url: &str,
    body: Option<&str>,
    headers: &[(&str, &str)],
) -> Result<Response, String> {
    let rest = url
        .strip_prefix("https://")
        .ok_or_else(|| format!("{url} is not an https URL"))?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') => (
            host,
            port.parse::<u16>()
                .map_err(|_| format!("bad port in {url}"))?,
        ),
        _ => (authority, 443),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {authority}\r\nAccept: application/json, text/html\r\nConnection: close\r\n"
    );
    for (name, value) in headers {
        let _ = write!(request, "{name}: {value}\r\n");
    }
    if let Some(body) = body {
        let _ = write!(
            request,
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
            body.len()
        );
    }
    request.push_str("\r\n");
    request.push_str(body.unwrap_or_default());

    let tcp =
        TcpStream::connect((host, port)).map_err(|e| format!("connect to {authority}: {e}"))?;
    tcp.set_read_timeout(Some(HTTP_TIMEOUT))
        .map_err(|e| e.to_string())?;
    tcp.set_write_timeout(Some(HTTP_TIMEOUT))
        .map_err(|e| e.to_string())?;
    let name = ServerName::try_from(host.to_owned()).map_err(|e| format!("{host}: {e}"))?;
    let conn = ClientConnection::new(tls.clone(), name).map_err(|e| e.to_string())?;
    let mut stream = StreamOwned::new(conn, tcp);
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("{method} {url}: {e}"))?;
    read_response(&mut stream).map_err(|e| format!("{method} {url}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_prompt_is_read_from_libpq_line() {
        let prompt = DevicePrompt::parse(
            "Visit https://127.0.0.1:1/realms/main/device and enter the code: ABCD-EFGH",
        )
        .expect("a prompt");
        assert_eq!(prompt.url, "https://127.0.0.1:1/realms/main/device");
        assert_eq!(prompt.user_code, "ABCD-EFGH");
        assert!(DevicePrompt::parse("[libcurl] * Visit nothing").is_none());
    }

    #[test]
    fn form_fields_are_percent_encoded() {
        assert_eq!(
            form(&[("a b", "x&y=z/é"), ("k", "")]),
            "a+b=x%26y%3Dz%2F%C3%A9&k="
        );
    }

    #[test]
    fn chunked_bodies_decode_only_when_complete() {
        assert_eq!(
            dechunk(b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n").as_deref(),
            Some(&b"abcde"[..])
        );
        assert_eq!(dechunk(b"3\r\nabc\r\n2\r\nd"), None);
    }

    #[test]
    fn hidden_inputs_and_action_come_from_the_first_form() {
        let page = Page {
            status: 200,
            path: "/device".into(),
            body: r#"<p>x</p><form id="f" method="post" action="/realms/main/device">
<input type="hidden" name="xsrf" value="a&amp;b"/>
<input type="text" name="user_code">
<input type="hidden" name="confirm" value="yes"/></form><form action="/other"></form>"#
                .into(),
        };
        let form = page.form().expect("a form");
        assert_eq!(form.action, "/realms/main/device");
        assert_eq!(
            form.hidden,
            vec![
                ("xsrf".to_owned(), "a&b".to_owned()),
                ("confirm".to_owned(), "yes".to_owned())
            ]
        );
        assert_eq!(form.prompt, None);
    }

    #[test]
    fn cookies_are_sent_on_matching_paths_only_and_deleted_when_expired() {
        let mut browser = Browser::new(Http {
            port: 1,
            tls: client_config(""),
        });
        browser.store_cookie("_interaction=u1; path=/r/interaction/u1; samesite=lax; httponly");
        browser.store_cookie("_session=s; path=/; httponly");
        assert_eq!(
            browser.cookie_header("/r/interaction/u1/login"),
            "_interaction=u1; _session=s"
        );
        assert_eq!(browser.cookie_header("/r/interaction/u10"), "_session=s");
        browser.store_cookie(
            "_interaction=; path=/r/interaction/u1; expires=Thu, 01 Jan 1970 00:00:00 GMT",
        );
        assert_eq!(browser.cookie_header("/r/interaction/u1"), "_session=s");
    }
}
