//! `pg_bearer_bench`: what a login costs with pg_bearer, side by side with `trust` and
//! `scram-sha-256`, and what pg_bearer costs the provider and the server. Writes
//! `benchmarks.md`, its plot and the raw output into `--out` (`docs/reports` by default);
//! scripts/bench.sh builds everything and runs it.
//!
//! ```text
//! pg_bearer_bench [--rounds N] [--slice-ms MS] [--concurrency 1,4] [--timing-logins N]
//!                 [--criterion DIR] [--out DIR] [--command TEXT]
//! ```
//!
//! Two throwaway clusters of the PostgreSQL 18 this binary was built against (PG_CONFIG at
//! build time; the benchmark uses one built without assertions) run at once, both with
//! `oauth_validator_libraries = 'pg_bearer'`; one also preloads it. The mock HTTPS provider
//! of the e2e tests serves discovery, the JWKS (max-age one hour) and introspection, and
//! counts every request. Modes run interleaved: each round gives every mode one slice of
//! `--slice-ms` per concurrency level, starting with a different mode each round, so that
//! drift (other load, thermal, caches) hits all modes alike.

mod report;
mod wire;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use pg_bearer_e2e::cluster::{Cluster, ClusterConfig};
use pg_bearer_e2e::libpq;
use pg_bearer_e2e::provider::{Alg, CacheControl, Endpoint, Fault, MockProvider, ProviderOptions};
use pg_bearer_e2e::tokens::now;
use serde_json::json;

const AUDIENCE: &str = "postgres-db";
const SCOPE: &str = "openid postgres";
const CLIENT_ID: &str = "pg-introspect";
const SCRAM_PASSWORD: &str = "bench-scram-password";
/// An opaque (non-JWS) token, 43 characters like a typical reference token.
const OPAQUE: &str = "Vq3kYF2mX8pL0aZ7tR5wN1cE9bH4jD6gS2uQ8oI0yTe";
/// The one token the no-op validator accepts (`floor_validator.c`), for role `bench_floor`.
const FLOOR_TOKEN: &str = "pg-bearer-bench-floor-token";
/// The no-op validator's library name (scripts/bench.sh installs it).
const FLOOR_VALIDATOR: &str = "pg_bearer_bench_floor";
/// pg_bearer without session claims and counters (scripts/bench.sh installs it).
const BASELINE_VALIDATOR: &str = "pg_bearer_baseline";
/// How long a token and the JWKS stay valid: longer than any run.
const LIFETIME_SECS: u64 = 3_600;

/// Which server a mode logs in to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Server {
    /// `oauth_validator_libraries` only: pg_bearer is loaded at each OAuth login.
    Plain,
    /// Also `shared_preload_libraries = 'pg_bearer'`.
    Preloaded,
    /// As `Plain`, with the baseline library (`pg_bearer_baseline.so`, built with the Cargo
    /// feature `bench_baseline`: no session claims, no counters): the "before" of issue 14.
    PlainBaseline,
    /// As `Preloaded`, with the baseline library.
    PreloadedBaseline,
}

impl Server {
    pub const ALL: [Server; 4] = [
        Server::Plain,
        Server::Preloaded,
        Server::PlainBaseline,
        Server::PreloadedBaseline,
    ];

    fn preload(self) -> bool {
        matches!(self, Server::Preloaded | Server::PreloadedBaseline)
    }

    /// The validator library its `oauth` lines use.
    fn library(self) -> &'static str {
        match self {
            Server::Plain | Server::Preloaded => "pg_bearer",
            Server::PlainBaseline | Server::PreloadedBaseline => BASELINE_VALIDATOR,
        }
    }

    /// The server with the real library and the same loading.
    pub fn with_real_library(self) -> Server {
        match self {
            Server::PlainBaseline => Server::Plain,
            Server::PreloadedBaseline => Server::Preloaded,
            other => other,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Server::Plain => "not preloaded",
            Server::Preloaded => "preloaded",
            Server::PlainBaseline => "not preloaded, baseline library",
            Server::PreloadedBaseline => "preloaded, baseline library",
        }
    }
}

/// The client program.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Client {
    /// `wire.rs`: one connection, token in the first message.
    TokenFirst,
    /// Real libpq (`PQconnectdb`), the token from `PQsetAuthDataHook`.
    Libpq,
}

impl Client {
    pub fn label(self) -> &'static str {
        match self {
            Client::TokenFirst => "token-first client",
            Client::Libpq => "libpq client",
        }
    }
}

/// How the login authenticates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Auth {
    Trust,
    Scram,
    Jwt,
    Opaque,
    /// JWT with libpq given the well-known URI as `oauth_issuer`: no discovery connection.
    JwtWellKnown,
    /// OAuth with a validator that does no work (`floor_validator.c`): the floor of an OAuth
    /// login, what PostgreSQL's exchange costs without any validation.
    Floor,
}

/// One benchmarked way to log in.
#[derive(Clone, Copy, Debug)]
pub struct Mode {
    pub client: Client,
    pub auth: Auth,
    pub server: Server,
    pub name: &'static str,
}

impl Mode {
    pub fn is_oauth(&self) -> bool {
        matches!(self.auth, Auth::Jwt | Auth::Opaque | Auth::JwtWellKnown)
    }

    /// The `trust` mode of the same client and server (for a baseline-library server, the
    /// server with the real library and the same loading): the ratio's denominator.
    pub fn baseline(&self) -> Mode {
        let server = self.server.with_real_library();
        *MODES
            .iter()
            .find(|m| m.client == self.client && m.server == server && m.auth == Auth::Trust)
            .expect("every client and server has a trust mode")
    }

    fn role(&self) -> &'static str {
        match self.auth {
            Auth::Trust => "bench_trust",
            Auth::Scram => "bench_scram",
            Auth::Jwt | Auth::JwtWellKnown => "bench_jwt",
            Auth::Opaque => "bench_opaque",
            Auth::Floor => "bench_floor",
        }
    }
}

const fn mode(client: Client, auth: Auth, server: Server, name: &'static str) -> Mode {
    Mode {
        client,
        auth,
        server,
        name,
    }
}

pub const MODES: &[Mode] = &[
    mode(Client::TokenFirst, Auth::Trust, Server::Plain, "trust"),
    mode(
        Client::TokenFirst,
        Auth::Trust,
        Server::Preloaded,
        "trust, preloaded server",
    ),
    mode(
        Client::TokenFirst,
        Auth::Jwt,
        Server::Preloaded,
        "oauth JWT, preloaded",
    ),
    mode(
        Client::TokenFirst,
        Auth::Jwt,
        Server::Plain,
        "oauth JWT, not preloaded",
    ),
    mode(
        Client::TokenFirst,
        Auth::Jwt,
        Server::PreloadedBaseline,
        "oauth JWT, preloaded, baseline (no claims kept, no counters)",
    ),
    mode(
        Client::TokenFirst,
        Auth::Jwt,
        Server::PlainBaseline,
        "oauth JWT, not preloaded, baseline (no claims kept, no counters)",
    ),
    mode(
        Client::TokenFirst,
        Auth::Opaque,
        Server::Preloaded,
        "oauth opaque, preloaded",
    ),
    mode(
        Client::TokenFirst,
        Auth::Floor,
        Server::Preloaded,
        "oauth, no-op validator (the floor)",
    ),
    mode(Client::Libpq, Auth::Trust, Server::Plain, "trust"),
    mode(
        Client::Libpq,
        Auth::Trust,
        Server::Preloaded,
        "trust, preloaded server",
    ),
    mode(Client::Libpq, Auth::Scram, Server::Plain, "scram-sha-256"),
    mode(
        Client::Libpq,
        Auth::Jwt,
        Server::Preloaded,
        "oauth JWT, preloaded",
    ),
    mode(
        Client::Libpq,
        Auth::Jwt,
        Server::Plain,
        "oauth JWT, not preloaded",
    ),
    mode(
        Client::Libpq,
        Auth::Jwt,
        Server::PreloadedBaseline,
        "oauth JWT, preloaded, baseline (no claims kept, no counters)",
    ),
    mode(
        Client::Libpq,
        Auth::Jwt,
        Server::PlainBaseline,
        "oauth JWT, not preloaded, baseline (no claims kept, no counters)",
    ),
    mode(
        Client::Libpq,
        Auth::Opaque,
        Server::Preloaded,
        "oauth opaque, preloaded",
    ),
    mode(
        Client::Libpq,
        Auth::JwtWellKnown,
        Server::Preloaded,
        "oauth JWT, preloaded, well-known oauth_issuer",
    ),
];

/// The command line.
pub struct Options {
    pub rounds: u32,
    pub slice: Duration,
    pub concurrency: Vec<usize>,
    pub timing_logins: usize,
    pub criterion: Option<PathBuf>,
    pub out: PathBuf,
    pub command: String,
}

const USAGE: &str = "usage: pg_bearer_bench [--rounds N] [--slice-ms MS] [--concurrency 1,4] \
[--timing-logins N] [--criterion DIR] [--out DIR] [--command TEXT]";

fn parse_options() -> Result<Options, String> {
    let mut o = Options {
        rounds: 8,
        slice: Duration::from_millis(1_500),
        concurrency: vec![1, 4],
        timing_logins: 2_000,
        criterion: None,
        out: PathBuf::from("docs/reports"),
        command: "scripts/bench.sh".into(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value\n{USAGE}"));
        let number = |v: String| v.parse::<u64>().map_err(|e| format!("{arg}: {e}"));
        match arg.as_str() {
            "--rounds" => o.rounds = number(value()?)? as u32,
            "--slice-ms" => o.slice = Duration::from_millis(number(value()?)?),
            "--timing-logins" => o.timing_logins = number(value()?)? as usize,
            "--concurrency" => {
                o.concurrency = value()?
                    .split(',')
                    .map(|c| c.trim().parse::<usize>().map_err(|e| format!("{arg}: {e}")))
                    .collect::<Result<_, _>>()?;
            }
            "--criterion" => o.criterion = Some(PathBuf::from(value()?)),
            "--out" => o.out = PathBuf::from(value()?),
            "--command" => o.command = value()?,
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    if o.rounds == 0 || o.concurrency.is_empty() || o.concurrency.contains(&0) {
        return Err(format!(
            "rounds and concurrency levels must be positive\n{USAGE}"
        ));
    }
    Ok(o)
}

fn main() {
    let options = match parse_options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(&options) {
        eprintln!("pg_bearer_bench: {e}");
        std::process::exit(1);
    }
}

/// Everything the logins need.
struct Bench {
    idp: MockProvider,
    /// One per [`Server::ALL`], in that order.
    clusters: Vec<Cluster>,
    configs: Vec<ClusterConfig>,
    jwt: String,
    secret_dir: PathBuf,
}

impl Drop for Bench {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.secret_dir);
    }
}

impl Bench {
    fn cluster(&self, server: Server) -> &Cluster {
        &self.clusters[server as usize]
    }

    fn addr(&self, server: Server) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.cluster(server).port()))
    }

    fn token(&self, mode: &Mode) -> Option<&str> {
        match mode.auth {
            Auth::Trust | Auth::Scram => None,
            Auth::Jwt | Auth::JwtWellKnown => Some(&self.jwt),
            Auth::Opaque => Some(OPAQUE),
            Auth::Floor => Some(FLOOR_TOKEN),
        }
    }

    fn conninfo(&self, mode: &Mode) -> String {
        let cluster = self.cluster(mode.server);
        // No TLS on these loopback servers: sslmode=disable spares every libpq mode the same
        // SSLRequest round trip.
        let base = match mode.auth {
            Auth::Trust => format!(
                "host=127.0.0.1 port={} user={} dbname=postgres",
                cluster.port(),
                mode.role()
            ),
            Auth::Scram => format!(
                "host=127.0.0.1 port={} user={} dbname=postgres password={SCRAM_PASSWORD}",
                cluster.port(),
                mode.role()
            ),
            Auth::Jwt | Auth::Opaque | Auth::Floor => {
                cluster.oauth_conninfo(mode.role(), self.idp.issuer())
            }
            Auth::JwtWellKnown => cluster.oauth_conninfo(mode.role(), &self.idp.well_known()),
        };
        format!("{base} sslmode=disable")
    }

    /// One login, from connect to ReadyForQuery; the session is closed after the clock stops.
    fn login(&self, mode: &Mode, conninfo: &str) -> Result<Duration, String> {
        let started = Instant::now();
        match mode.client {
            Client::TokenFirst => {
                let session = wire::login(self.addr(mode.server), mode.role(), self.token(mode))?;
                let took = started.elapsed();
                session.terminate();
                Ok(took)
            }
            Client::Libpq => {
                let session = libpq::Session::connect(conninfo, self.token(mode))?;
                let took = started.elapsed();
                drop(session);
                Ok(took)
            }
        }
    }
}

fn start() -> Result<Bench, String> {
    let idp = MockProvider::start(ProviderOptions {
        issuer_path: "/realms/bench".into(),
        jwks_cache_control: CacheControl::MaxAge(LIFETIME_SECS),
        ..Default::default()
    });
    let secret_dir = std::env::temp_dir().join(format!("pg_bearer-bench-{}", std::process::id()));
    std::fs::create_dir_all(&secret_dir).map_err(|e| e.to_string())?;
    let secret_file = secret_dir.join("client_secret");
    std::fs::write(&secret_file, "bench-introspection-secret\n").map_err(|e| e.to_string())?;
    for (path, mode) in [(&secret_dir, 0o755), (&secret_file, 0o644)] {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .map_err(|e| e.to_string())?;
    }
    let now = now();
    idp.set_fault(
        Endpoint::Introspection,
        Fault::Body(
            json!({
                "active": true, "iss": idp.issuer(), "aud": AUDIENCE, "sub": "bench_opaque",
                "client_id": "psql", "scope": SCOPE, "token_type": "Bearer",
                "iat": now, "exp": now + LIFETIME_SECS,
            })
            .to_string(),
            "application/json".into(),
        ),
    );
    let mut claims = idp.minter().claims(AUDIENCE, "bench_jwt", SCOPE);
    claims["exp"] = json!(now + LIFETIME_SECS);
    let jwt = idp.minter().mint(Alg::Rs256, &claims, &json!({}));

    let config = |server: Server| {
        let library = server.library();
        let mut config = ClusterConfig {
        hba: vec![
            "host all bench_trust 127.0.0.1/32 trust".into(),
            "host all bench_scram 127.0.0.1/32 scram-sha-256".into(),
            format!(
                "host all bench_jwt,bench_opaque 127.0.0.1/32 oauth issuer=\"{}\" scope=\"{SCOPE}\" validator={library}",
                idp.issuer()
            ),
            format!(
                "host all bench_floor 127.0.0.1/32 oauth issuer=\"{}\" scope=\"{SCOPE}\" validator={FLOOR_VALIDATOR}",
                idp.issuer()
            ),
        ],
        conf: vec![
            // One log line per connection would be a cost of every mode; none is needed.
            "log_connections = off".into(),
            // pg_bearer, and the no-op validator that measures the floor (last line wins).
            format!("oauth_validator_libraries = '{library}, {FLOOR_VALIDATOR}'"),
            format!("pg_bearer.audience = '{AUDIENCE}'"),
            format!("pg_bearer.ca_file = '{}'", idp.ca_pem_path().display()),
            format!("pg_bearer.client_id = '{CLIENT_ID}'"),
            format!("pg_bearer.client_secret_file = '{}'", secret_file.display()),
            "max_connections = 200".into(),
        ],
        preload: server.preload(),
        ..Default::default()
    };
        if server.preload() && library != "pg_bearer" {
            // After the harness's `shared_preload_libraries = 'pg_bearer'`: the last one wins.
            config
                .conf
                .push(format!("shared_preload_libraries = '{library}'"));
        }
        config
    };
    let configs: Vec<ClusterConfig> = Server::ALL.iter().map(|&s| config(s)).collect();
    eprintln!("bench: starting {} clusters", configs.len());
    let clusters: Vec<Cluster> = configs.iter().map(Cluster::start).collect();
    for cluster in &clusters {
        let admin = cluster.superuser();
        for role in ["bench_trust", "bench_jwt", "bench_opaque", "bench_floor"] {
            admin.query(&format!("CREATE ROLE {role} LOGIN"))?;
        }
        admin.query(&format!(
            "CREATE ROLE bench_scram LOGIN PASSWORD '{SCRAM_PASSWORD}'"
        ))?;
    }
    Ok(Bench {
        idp,
        clusters,
        configs,
        jwt,
        secret_dir,
    })
}

/// What one slice of one mode measured.
#[derive(Clone, Debug)]
pub struct Slice {
    pub round: u32,
    pub concurrency: usize,
    pub mode: usize,
    pub logins: usize,
    pub elapsed: Duration,
    pub provider_requests: u64,
    pub latencies_us: Vec<u32>,
}

fn run_slice(
    bench: &Bench,
    mode_index: usize,
    concurrency: usize,
    length: Duration,
    round: u32,
) -> Result<Slice, String> {
    let mode = &MODES[mode_index];
    let conninfo = bench.conninfo(mode);
    let requests_before = bench.idp.count_total();
    let started = Instant::now();
    let deadline = started + length;
    let per_thread: Vec<Result<Vec<u32>, String>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..concurrency)
            .map(|_| {
                s.spawn(|| {
                    let mut latencies = Vec::with_capacity(4096);
                    while Instant::now() < deadline {
                        let took = bench.login(mode, &conninfo)?;
                        latencies.push(u32::try_from(took.as_micros()).unwrap_or(u32::MAX));
                    }
                    Ok(latencies)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("a client thread panicked".into()))
            })
            .collect()
    });
    let elapsed = started.elapsed();
    let mut latencies_us = Vec::new();
    for r in per_thread {
        latencies_us.extend(r.map_err(|e| {
            format!(
                "{} / {}: login failed: {e}\n{}",
                mode.client.label(),
                mode.name,
                tail(&bench.cluster(mode.server).log(), 20)
            )
        })?);
    }
    Ok(Slice {
        round,
        concurrency,
        mode: mode_index,
        logins: latencies_us.len(),
        elapsed,
        provider_requests: bench.idp.count_total() - requests_before,
        latencies_us,
    })
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The server's time in `validate_cb` for one mode, from `pg_bearer.log_validation_time`.
#[derive(Clone, Debug)]
pub struct ValidateTimes {
    pub mode: usize,
    pub micros: Vec<f64>,
    pub outcomes_other_than_authorized: usize,
}

fn validate_times(
    bench: &Bench,
    mode_index: usize,
    logins: usize,
) -> Result<ValidateTimes, String> {
    let mode = &MODES[mode_index];
    let cluster = bench.cluster(mode.server);
    let before = std::fs::metadata(cluster.log_path())
        .map(|m| m.len())
        .unwrap_or(0);
    let conninfo = bench.conninfo(mode);
    for _ in 0..logins {
        bench.login(mode, &conninfo)?;
    }
    std::thread::sleep(Duration::from_millis(200));
    let log = std::fs::read(cluster.log_path()).map_err(|e| e.to_string())?;
    let new = String::from_utf8_lossy(&log[(before as usize).min(log.len())..]).into_owned();
    let mut micros = Vec::new();
    let mut other = 0;
    for line in new.lines() {
        let Some(rest) = line.split("pg_bearer: validation_us=").nth(1) else {
            continue;
        };
        let mut parts = rest.split_whitespace();
        let us: f64 = parts
            .next()
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("unparsable line: {line}"))?;
        if parts.next() != Some("outcome=authorized") {
            other += 1;
        }
        micros.push(us);
    }
    if micros.len() != logins {
        return Err(format!(
            "{}: expected {logins} validation lines, found {}",
            mode.name,
            micros.len()
        ));
    }
    Ok(ValidateTimes {
        mode: mode_index,
        micros,
        outcomes_other_than_authorized: other,
    })
}

/// Memory of one backend (`/proc/<pid>/smaps_rollup`), in KiB.
#[derive(Clone, Copy, Debug, Default)]
pub struct Memory {
    pub rss: u64,
    pub pss: u64,
    pub private: u64,
}

fn backend_memory(pid: i32) -> Result<Memory, String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
        .map_err(|e| format!("smaps_rollup of backend {pid}: {e}"))?;
    let field = |name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Ok(Memory {
        rss: field("Rss:"),
        pss: field("Pss:"),
        private: field("Private_Clean:") + field("Private_Dirty:"),
    })
}

/// DSM segments (`/dev/shm/PostgreSQL.*`) a backend has mapped: path, mapped bytes. PostgreSQL
/// allocates a segment's whole size when it creates it (`posix_fallocate`), so the mapped size
/// is the memory it takes.
fn dsm_mappings(pid: i32) -> Result<BTreeMap<String, u64>, String> {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps"))
        .map_err(|e| format!("maps of backend {pid}: {e}"))?;
    let mut out = BTreeMap::new();
    for line in maps.lines() {
        let Some(path) = line.split_whitespace().nth(5) else {
            continue;
        };
        if !path.starts_with("/dev/shm/PostgreSQL.") {
            continue;
        }
        let range = line.split_whitespace().next().unwrap_or("");
        let (lo, hi) = range.split_once('-').unwrap_or(("0", "0"));
        let size =
            u64::from_str_radix(hi, 16).unwrap_or(0) - u64::from_str_radix(lo, 16).unwrap_or(0);
        *out.entry(path.to_owned()).or_insert(0) += size;
    }
    Ok(out)
}

/// One shared-memory segment of the OAuth logins.
#[derive(Clone, Debug)]
pub struct Segment {
    pub what: &'static str,
    pub mapped: u64,
}

/// What pg_bearer costs a server beyond time.
#[derive(Clone, Debug, Default)]
pub struct Footprint {
    pub so_bytes: u64,
    pub so_stripped_bytes: Option<u64>,
    /// `LOAD 'pg_bearer'` in a fresh backend minus `SELECT 1`, median µs: (plain, preloaded).
    pub load_us: (f64, f64),
    /// Median backend memory after a login, per (server, auth): trust, JWT.
    pub memory: Vec<(Server, &'static str, Memory)>,
    pub segments: Vec<Segment>,
}

fn median_f64(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn footprint(bench: &Bench) -> Result<Footprint, String> {
    let bindir = PathBuf::from(pg_bearer_e2e::BINDIR);
    let pkglibdir = Command::new(bindir.join("pg_config"))
        .arg("--pkglibdir")
        .output()
        .map_err(|e| format!("pg_config: {e}"))?;
    let so = Path::new(String::from_utf8_lossy(&pkglibdir.stdout).trim()).join("pg_bearer.so");
    let so_bytes = std::fs::metadata(&so)
        .map_err(|e| format!("{}: {e}", so.display()))?
        .len();
    let stripped = std::env::temp_dir().join(format!("pg_bearer-bench-{}.so", std::process::id()));
    let so_stripped_bytes = Command::new("strip")
        .arg("-o")
        .arg(&stripped)
        .arg(&so)
        .status()
        .ok()
        .filter(|s| s.success())
        .and_then(|_| std::fs::metadata(&stripped).ok())
        .map(|m| m.len());
    let _ = std::fs::remove_file(&stripped);

    // The cost of loading the library in a backend: LOAD in a fresh session, against a
    // statement round trip of the same session.
    let mut load_us = [0.0f64; 2];
    for (i, server) in [Server::Plain, Server::Preloaded].into_iter().enumerate() {
        let cluster = bench.cluster(server);
        let mut samples = Vec::new();
        for _ in 0..200 {
            let admin = cluster.superuser();
            // The first statement of a session warms its caches; time the second.
            admin.query("SELECT 1")?;
            let t = Instant::now();
            admin.query("SELECT 1")?;
            let select = t.elapsed();
            let t = Instant::now();
            admin.query("LOAD 'pg_bearer'")?;
            let load = t.elapsed();
            samples.push((load.as_secs_f64() - select.as_secs_f64()) * 1e6);
        }
        load_us[i] = median_f64(samples);
    }

    // Backend memory after a login, and the shared segments an OAuth login maps.
    let mut memory = Vec::new();
    let mut seen_jwt = BTreeMap::new();
    let mut seen_opaque = BTreeMap::new();
    for server in [Server::Plain, Server::Preloaded] {
        let addr = bench.addr(server);
        for (label, role, token) in [
            ("trust", "bench_trust", None),
            ("oauth JWT", "bench_jwt", Some(bench.jwt.as_str())),
        ] {
            let mut rss = Vec::new();
            let mut pss = Vec::new();
            let mut private = Vec::new();
            for _ in 0..9 {
                let session = wire::login(addr, role, token)?;
                std::thread::sleep(Duration::from_millis(20));
                let m = backend_memory(session.pid)?;
                // For investigations: the backend's full smaps, one file per kind of login.
                if let Some(dir) = std::env::var_os("PG_BEARER_BENCH_SMAPS") {
                    let name = format!("{server:?}-{}.smaps", label.replace(' ', "_"));
                    let _ = std::fs::copy(
                        format!("/proc/{}/smaps", session.pid),
                        Path::new(&dir).join(name),
                    );
                }
                if token.is_some() && server == Server::Preloaded {
                    seen_jwt.extend(dsm_mappings(session.pid)?);
                }
                session.terminate();
                rss.push(m.rss as f64);
                pss.push(m.pss as f64);
                private.push(m.private as f64);
            }
            memory.push((
                server,
                label,
                Memory {
                    rss: median_f64(rss) as u64,
                    pss: median_f64(pss) as u64,
                    private: median_f64(private) as u64,
                },
            ));
        }
    }
    let session = wire::login(bench.addr(Server::Preloaded), "bench_opaque", Some(OPAQUE))?;
    seen_opaque.extend(dsm_mappings(session.pid)?);
    let mut segments = Vec::new();
    let biggest_common = seen_jwt
        .iter()
        .filter(|(p, _)| seen_opaque.contains_key(*p))
        .max_by_key(|(_, size)| **size)
        .map(|(p, _)| p.clone());
    let mut all: BTreeMap<String, u64> = seen_jwt.clone();
    all.extend(seen_opaque.clone());
    for (path, mapped) in all {
        let what = if Some(&path) == biggest_common.as_ref() {
            "key cache and login counters (pg_bearer)"
        } else if !seen_jwt.contains_key(&path) {
            "introspection result cache (pg_bearer)"
        } else if seen_opaque.contains_key(&path) {
            "the DSM registry's own table (PostgreSQL's, a DSA area made for the first named segment; shared with other extensions)"
        } else {
            "unidentified"
        };
        segments.push(Segment { what, mapped });
    }
    session.terminate();
    // One row per kind (the registry's DSA area has several segments).
    let mut by_kind: Vec<Segment> = Vec::new();
    for s in segments {
        match by_kind.iter_mut().find(|k| k.what == s.what) {
            Some(k) => k.mapped += s.mapped,
            None => by_kind.push(s),
        }
    }
    let mut segments = by_kind;
    segments.sort_by_key(|s| std::cmp::Reverse(s.mapped));
    Ok(Footprint {
        so_bytes,
        so_stripped_bytes,
        load_us: (load_us[0], load_us[1]),
        memory,
        segments,
    })
}

/// Everything measured in one run.
pub struct Results {
    pub slices: Vec<Slice>,
    pub validate: Vec<ValidateTimes>,
    pub footprint: Footprint,
    /// JWKS and discovery requests over the whole run, and the run's length.
    pub jwks_fetches: u64,
    pub discovery_fetches: u64,
    pub introspections: u64,
    pub run_secs: f64,
    pub load_before: String,
    pub load_after: String,
    pub pg_version: String,
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn run(options: &Options) -> Result<(), String> {
    let run_started = Instant::now();
    let load_before = loadavg();
    let bench = start()?;
    let pg_version = bench
        .cluster(Server::Plain)
        .superuser()
        .query_one("SELECT version()")?
        .unwrap_or_default();

    eprintln!("bench: warming up (caches, first loads)");
    for mode in MODES {
        let conninfo = bench.conninfo(mode);
        for _ in 0..50 {
            bench
                .login(mode, &conninfo)
                .map_err(|e| format!("warm-up {} / {}: {e}", mode.client.label(), mode.name))?;
        }
    }

    let mut slices = Vec::new();
    let n = MODES.len();
    for round in 0..options.rounds {
        eprintln!("bench: round {}/{}", round + 1, options.rounds);
        for &c in &options.concurrency {
            for k in 0..n {
                let mode = (k + round as usize) % n;
                slices.push(run_slice(&bench, mode, c, options.slice, round)?);
                // Let the last backends of the slice exit before the next one starts.
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    eprintln!("bench: time inside validate_cb");
    for server in Server::ALL {
        let mut c = bench.configs[server as usize].clone();
        c.conf.push("pg_bearer.log_validation_time = on".into());
        bench.cluster(server).reconfigure(&c);
    }
    // In chunks, the modes taking turns, so that drift over the minutes this takes hits every
    // mode alike (the comparisons with the baseline library are a few per cent).
    const CHUNKS: usize = 10;
    let timed: Vec<usize> = (0..MODES.len())
        .filter(|&i| MODES[i].client == Client::TokenFirst && MODES[i].is_oauth())
        .collect();
    let mut validate: Vec<ValidateTimes> = timed
        .iter()
        .map(|&mode| ValidateTimes {
            mode,
            micros: Vec::new(),
            outcomes_other_than_authorized: 0,
        })
        .collect();
    let per_chunk = options.timing_logins.div_ceil(CHUNKS);
    for _ in 0..CHUNKS {
        for (slot, &mode) in validate.iter_mut().zip(&timed) {
            let chunk = validate_times(&bench, mode, per_chunk)?;
            slot.micros.extend(chunk.micros);
            slot.outcomes_other_than_authorized += chunk.outcomes_other_than_authorized;
        }
    }

    eprintln!("bench: footprint");
    let footprint = footprint(&bench)?;
    let results = Results {
        jwks_fetches: bench.idp.count(Endpoint::Jwks),
        discovery_fetches: bench.idp.count_discovery(),
        introspections: bench.idp.count(Endpoint::Introspection),
        slices,
        validate,
        footprint,
        run_secs: run_started.elapsed().as_secs_f64(),
        load_before,
        load_after: loadavg(),
        pg_version,
    };
    for cluster in &bench.clusters {
        let log = cluster.log();
        if log.contains("TRAP") || log.contains("PANIC") || log.contains("internal error") {
            return Err(format!(
                "the server log shows a failure:\n{}",
                tail(&log, 40)
            ));
        }
    }
    report::write(options, &results)
}
