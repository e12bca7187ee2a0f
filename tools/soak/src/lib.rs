//! The soak: many OAuth logins per second for minutes against a real PostgreSQL 18 (built
//! with assertions) with pg_bearer, through real libpq, while the mock provider hangs, goes
//! down and comes back. Every login has an expected outcome; the run reports logins by
//! outcome, unexpected outcomes, server crashes, memory over time and provider requests.
//!
//! The run, in order ([`plan`]): healthy; the provider hangs (every endpoint reads the
//! request and never answers); healthy; the provider is down (its port refuses
//! connections), then restarted on the same address with the same keys and CA; healthy to
//! the end.
//!
//! What each login must lead to ([`judge`]):
//! - an invalid token (JWT or opaque) is refused, always; accepting one is the worst failure;
//! - a valid JWT is accepted, always: its keys are cached and stay usable within
//!   `pg_bearer.jwks_grace` while the provider cannot be reached;
//! - a valid opaque token is accepted unless a provider fault overlaps the login, when a
//!   refusal is allowed (fail closed: an answer not in the result cache cannot be had);
//! - an accepted login has the token's subject as `system_user`;
//! - the client sees either a session or PostgreSQL's generic "OAuth bearer authentication
//!   failed" error; any other error (a closed connection, crash recovery, a timeout) is
//!   unexpected.
//!
//! Crashes are lines of the server log that only a crashed process produces, or a changed
//! postmaster PID. Memory is sampled from `/proc` (the postmaster, every server process, and
//! backends right after their login) and judged flat by [`MemoryRule`].

pub mod memory;
pub mod mix;
pub mod report;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use mix::{Attempt, Class, Kind, Tokens, AUDIENCE, ROLES, SCOPE};
use pg_bearer_e2e::cluster::{generic_refusal, Cluster, ClusterConfig};
use pg_bearer_e2e::libpq::Session;
use pg_bearer_e2e::provider::{
    CacheControl, Endpoint, Fault, MockProvider, ProviderOptions, Target,
};

pub use report::{MemoryRule, Report};

/// How to run a soak.
#[derive(Debug, Clone)]
pub struct SoakOptions {
    /// How long logins are made.
    pub duration: Duration,
    /// Logins started per second (the schedule).
    pub rate: f64,
    /// The least average rate the run must achieve to pass.
    pub min_rate: f64,
    /// Client threads, each making one login at a time.
    pub workers: usize,
    /// How often server memory is sampled.
    pub sample_every: Duration,
    /// Shortest time between two backend memory samples.
    pub backend_sample_every: Duration,
    /// When memory counts as flat.
    pub memory_rule: MemoryRule,
    /// Print a progress line to stderr at every server sample.
    pub progress: bool,
}

impl SoakOptions {
    /// Defaults for a run of `duration` at `rate` logins per second.
    pub fn new(duration: Duration, rate: f64) -> SoakOptions {
        SoakOptions {
            duration,
            rate,
            min_rate: rate,
            // A login that waits on a hanging provider takes up to ~2 s; most take ~20 ms.
            workers: ((rate / 2.5).ceil() as usize).clamp(4, 64),
            sample_every: Duration::from_secs(10),
            backend_sample_every: Duration::from_secs(2),
            memory_rule: MemoryRule::default(),
            progress: false,
        }
    }
}

/// What the provider does during a phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderState {
    /// Answers normally.
    Healthy,
    /// Reads every request and never answers.
    Hanging,
    /// Not listening: connections are refused. Restarted when the phase ends.
    Down,
}

impl ProviderState {
    fn name(self) -> &'static str {
        match self {
            ProviderState::Healthy => "healthy",
            ProviderState::Hanging => "hanging",
            ProviderState::Down => "down",
        }
    }
}

/// One phase of the run, as offsets from its start.
#[derive(Debug, Clone)]
pub struct Phase {
    /// A short name.
    pub name: &'static str,
    /// What the provider does.
    pub provider: ProviderState,
    /// Start offset.
    pub from: Duration,
    /// End offset.
    pub to: Duration,
}

/// The phases of a run of `duration`: 25 % healthy, 10 % hanging, 15 % healthy, 10 % down
/// (then restarted), 40 % healthy. Ten minutes: a 60 s hang at 2:30, 60 s down at 5:00.
pub fn plan(duration: Duration) -> Vec<Phase> {
    let parts = [
        ("healthy", ProviderState::Healthy, 25),
        ("provider hangs", ProviderState::Hanging, 10),
        ("healthy again", ProviderState::Healthy, 15),
        ("provider down", ProviderState::Down, 10),
        ("after restart", ProviderState::Healthy, 40),
    ];
    let mut at = 0u32;
    parts
        .iter()
        .map(|&(name, provider, percent)| {
            let from = duration * at / 100;
            at += percent;
            Phase {
                name,
                provider,
                from,
                to: duration * at / 100,
            }
        })
        .collect()
}

/// How a login ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A session, with the expected `system_user`.
    Accepted,
    /// A session, but with this other `system_user` (or none could be read).
    WrongIdentity(String),
    /// PostgreSQL's generic OAuth failure.
    Refused,
    /// Any other client-visible error (the text, which never holds the token).
    Error(String),
}

/// One login.
#[derive(Debug, Clone)]
pub struct LoginRecord {
    /// Its number in the schedule.
    pub slot: u64,
    /// The token kind.
    pub kind: Kind,
    /// Whether libpq was given the issuer (a discovery round first: two connections) rather
    /// than its well-known URI (the token in the first connection).
    pub discovery_round: bool,
    /// When the connection attempt started, from the start of the run.
    pub started: Duration,
    /// When libpq returned.
    pub ended: Duration,
    /// The phase it started in.
    pub phase: usize,
    /// How it ended.
    pub outcome: Outcome,
}

/// Whether an outcome was expected; `Err` says why not.
pub fn judge(kind: Kind, outcome: &Outcome, during_fault: bool) -> Result<(), String> {
    match (kind.class(), outcome) {
        (_, Outcome::Error(_)) => Err("a client error other than the generic refusal".into()),
        (_, Outcome::WrongIdentity(_)) => Err("accepted with the wrong identity".into()),
        (Class::InvalidJwt | Class::InvalidOpaque, Outcome::Accepted) => {
            Err("an invalid token was accepted".into())
        }
        (Class::ValidJwt, Outcome::Refused) => Err("a valid JWT was refused".into()),
        (Class::ValidOpaque, Outcome::Refused) if !during_fault => {
            Err("a valid opaque token was refused while the provider answered".into())
        }
        _ => Ok(()),
    }
}

/// A backend's memory right after its login.
#[derive(Debug, Clone, Copy)]
pub struct BackendSample {
    /// When, from the start of the run.
    pub at: Duration,
    /// `/proc/<pid>/smaps_rollup`.
    pub rollup: memory::Rollup,
    /// Total of `pg_backend_memory_contexts` (palloc memory), in bytes.
    pub contexts_bytes: u64,
    /// Dynamic shared memory segments mapped (count, KiB).
    pub dsm: (usize, u64),
}

/// The server's memory at one moment.
#[derive(Debug, Clone, Copy)]
pub struct ServerSample {
    /// When, from the start of the run.
    pub at: Duration,
    /// The postmaster's `VmRSS`, KiB.
    pub postmaster_vm_rss_kib: u64,
    /// The postmaster's `smaps_rollup`.
    pub postmaster: memory::Rollup,
    /// Server processes (the postmaster and its children).
    pub processes: usize,
    /// Their total PSS, KiB.
    pub total_pss_kib: u64,
    /// Client backends connected at that moment (`pg_stat_activity`).
    pub client_backends: u64,
}

/// Provider request counters at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProviderCounts {
    /// Requests per endpoint, in [`ENDPOINTS`] order.
    pub endpoints: Vec<u64>,
    /// Requests on every path.
    pub total: u64,
    /// TCP connections accepted.
    pub connections: u64,
}

/// The endpoints reported, with names.
pub const ENDPOINTS: [(Endpoint, &str); 6] = [
    (Endpoint::OpenIdConfiguration, "openid-configuration"),
    (Endpoint::OAuthServerMetadata, "oauth-authorization-server"),
    (Endpoint::Jwks, "jwks"),
    (Endpoint::Introspection, "introspect"),
    (Endpoint::UserInfo, "userinfo"),
    (Endpoint::Token, "token"),
];

impl ProviderCounts {
    fn read(idp: &MockProvider) -> ProviderCounts {
        ProviderCounts {
            endpoints: ENDPOINTS.iter().map(|(e, _)| idp.count(*e)).collect(),
            total: idp.count(Target::All),
            connections: idp.connections(),
        }
    }

    fn minus(&self, earlier: &ProviderCounts) -> ProviderCounts {
        ProviderCounts {
            endpoints: self
                .endpoints
                .iter()
                .zip(&earlier.endpoints)
                .map(|(a, b)| a - b)
                .collect(),
            total: self.total - earlier.total,
            connections: self.connections - earlier.connections,
        }
    }
}

/// Log lines that only a crashed or failed server process produces.
pub const CRASH_PATTERNS: [&str; 7] = [
    "was terminated by signal",
    "TRAP:",
    "PANIC",
    "server process (PID",
    "terminating any other active server processes",
    "all server processes terminated; reinitializing",
    "database system was interrupted",
];

/// Log lines of a failure of the validator itself (the client sees only the generic refusal).
pub const INTERNAL_ERROR_PATTERNS: [&str; 2] = [
    "pg_bearer: internal error",
    "internal error in OAuth validator module",
];

/// The server log lines matching one of [`CRASH_PATTERNS`].
#[derive(Debug, Clone)]
pub struct CrashLines {
    /// The pattern.
    pub pattern: &'static str,
    /// How many lines match it.
    pub count: usize,
    /// The first of them.
    pub first: String,
}

/// What the server log showed.
struct LogScan {
    crashes: Vec<CrashLines>,
    /// `pg_bearer:` lines by reason.
    reasons: BTreeMap<String, u64>,
    /// Lines holding 8 consecutive bytes of a checked token.
    leaks: usize,
    /// Lines matching [`INTERNAL_ERROR_PATTERNS`].
    internal_errors: usize,
}

/// Everything a run measured; [`Report`] judges and renders it.
#[derive(Debug)]
pub struct SoakRun {
    /// The options used.
    pub options: SoakOptions,
    /// Wall-clock start.
    pub started_at: SystemTime,
    /// `SELECT version()`.
    pub server_version: String,
    /// Whether the server was built with assertions (`debug_assertions`).
    pub assertions: bool,
    /// The server settings the soak added (postgresql.conf lines).
    pub settings: Vec<String>,
    /// How the provider was set up.
    pub provider: String,
    /// CPUs, and the 1-minute load average at the start and at the end.
    pub machine: (usize, f64, f64),
    /// The phases as planned.
    pub phases: Vec<Phase>,
    /// When provider faults actually lasted (from before the fault was set until after it
    /// was removed).
    pub fault_windows: Vec<(Duration, Duration)>,
    /// Every login.
    pub logins: Vec<LoginRecord>,
    /// Scheduled logins dropped because every worker was busy for over two seconds past
    /// their time.
    pub skipped: u64,
    /// Server memory samples.
    pub server_samples: Vec<ServerSample>,
    /// Backend memory samples.
    pub backend_samples: Vec<BackendSample>,
    /// Provider requests per phase.
    pub provider_per_phase: Vec<ProviderCounts>,
    /// Log lines matching each crash pattern that occurred.
    pub crash_lines: Vec<CrashLines>,
    /// Log lines matching [`INTERNAL_ERROR_PATTERNS`].
    pub internal_errors: usize,
    /// The postmaster's PID at the start and at the end (`None` if it could not be read).
    pub postmaster_pids: (Option<u32>, Option<u32>),
    /// Whether the server still answered a query at the end.
    pub serving_at_end: bool,
    /// `pg_bearer:` log lines by their reason (e.g. `token rejected: reason=expired`).
    pub log_reasons: BTreeMap<String, u64>,
    /// How many tokens were checked against the server log.
    pub tokens_checked: usize,
    /// Log lines holding 8 consecutive bytes of a checked token.
    pub token_leaks: usize,
    /// Server log size, bytes.
    pub log_bytes: usize,
}

/// Shared between the controller and the workers.
struct Shared<'a> {
    options: &'a SoakOptions,
    idp: &'a MockProvider,
    cluster: &'a Cluster,
    tokens: Tokens,
    start: Instant,
    next_slot: AtomicU64,
    skipped: AtomicU64,
    /// The current phase index, for the records.
    phase: AtomicU64,
    /// Milliseconds since start of the last backend sample, `u64::MAX` before the first.
    last_backend_sample: AtomicU64,
    backend_samples: Mutex<Vec<BackendSample>>,
    /// Every 20th token presented, up to 2000, for the log-hygiene check.
    token_sample: Mutex<Vec<String>>,
    phases: Vec<Phase>,
    /// Progress counters.
    logins: AtomicU64,
    unexpected: AtomicU64,
}

/// A late slot is dropped rather than run this far behind its time.
const MAX_LATE: Duration = Duration::from_secs(2);
const TOKENS_CHECKED: usize = 2000;

impl Shared<'_> {
    fn worker(&self) -> Vec<LoginRecord> {
        let mut out = Vec::new();
        let period = 1.0 / self.options.rate;
        loop {
            let slot = self.next_slot.fetch_add(1, Ordering::Relaxed);
            let due = Duration::from_secs_f64(slot as f64 * period);
            if due >= self.options.duration {
                return out;
            }
            let now = self.start.elapsed();
            if now < due {
                std::thread::sleep(due - now);
            } else if now - due > MAX_LATE {
                self.skipped.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            out.push(self.login(slot));
        }
    }

    fn login(&self, slot: u64) -> LoginRecord {
        let kind = Kind::for_slot(slot);
        let Attempt {
            role,
            token,
            system_user,
        } = self.tokens.attempt(self.idp, kind, slot);
        if slot.is_multiple_of(20) {
            let mut sample = self.token_sample.lock().unwrap_or_else(|p| p.into_inner());
            if sample.len() < TOKENS_CHECKED {
                sample.push(token.clone());
            }
        }
        // One login in ten lets libpq ask the server for the discovery URI first.
        let discovery_round = slot % 10 == 5;
        let oauth_issuer = if discovery_round {
            self.idp.issuer().to_owned()
        } else {
            self.idp.well_known()
        };
        let conninfo = self.cluster.oauth_conninfo(role, &oauth_issuer);
        let phase = self.phase.load(Ordering::Relaxed) as usize;
        let started = self.start.elapsed();
        let result = Session::connect(&conninfo, Some(&token));
        let ended = self.start.elapsed();
        drop(token);
        let outcome = match result {
            Ok(session) => {
                let seen = session.query_one("SELECT system_user");
                let outcome = match seen {
                    Ok(Some(user)) if user == system_user => Outcome::Accepted,
                    Ok(other) => Outcome::WrongIdentity(format!("{other:?}")),
                    Err(e) => Outcome::WrongIdentity(format!("query failed: {e}")),
                };
                if outcome == Outcome::Accepted && kind.class() == Class::ValidJwt {
                    self.maybe_sample_backend(&session);
                }
                outcome
            }
            Err(e) if e.ends_with(&generic_refusal(role)) => Outcome::Refused,
            Err(e) => Outcome::Error(e),
        };
        self.logins.fetch_add(1, Ordering::Relaxed);
        // Judged as if a fault overlapped: what is unexpected even then. Refused valid opaque
        // tokens are judged at the end, against the recorded fault windows.
        if judge(kind, &outcome, true).is_err() {
            self.unexpected.fetch_add(1, Ordering::Relaxed);
        }
        LoginRecord {
            slot,
            kind,
            discovery_round,
            started,
            ended,
            phase,
            outcome,
        }
    }

    fn maybe_sample_backend(&self, session: &Session) {
        let now_ms = self.start.elapsed().as_millis() as u64;
        let every = self.options.backend_sample_every.as_millis() as u64;
        let last = self.last_backend_sample.load(Ordering::Relaxed);
        if last != u64::MAX && now_ms < last + every {
            return;
        }
        if self
            .last_backend_sample
            .compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            return;
        }
        let row = session.query_one(
            "SELECT pg_backend_pid() || ' ' || (SELECT sum(total_bytes) FROM pg_backend_memory_contexts)",
        );
        let Ok(Some(row)) = row else { return };
        let mut parts = row.split(' ');
        let (Some(Ok(pid)), Some(Ok(contexts_bytes))) = (
            parts.next().map(str::parse::<u32>),
            parts.next().map(str::parse::<u64>),
        ) else {
            return;
        };
        let (Some(rollup), Some(dsm)) = (memory::rollup(pid), memory::dsm_mapped(pid)) else {
            return;
        };
        self.backend_samples
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(BackendSample {
                at: self.start.elapsed(),
                rollup,
                contexts_bytes,
                dsm,
            });
    }
}

/// A directory for the introspection client secret, removed on drop.
struct SecretDir(PathBuf);

impl Drop for SecretDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const CLIENT_ID: &str = "pg-bearer-soak";

/// The server settings of the soak. Short provider timeouts keep logins that meet a hanging
/// provider short; keys go stale every 10 s so that refreshes meet the faults.
fn server_conf(idp: &MockProvider, secret_file: &std::path::Path) -> Vec<String> {
    vec![
        format!("pg_bearer.audience = '{AUDIENCE}'"),
        format!("pg_bearer.ca_file = '{}'", idp.ca_pem_path().display()),
        format!("pg_bearer.client_id = '{CLIENT_ID}'"),
        format!("pg_bearer.client_secret_file = '{}'", secret_file.display()),
        "pg_bearer.http_timeout = 500ms".into(),
        "pg_bearer.jwks_cache_min = 5s".into(),
        "pg_bearer.unknown_kid_cooldown = 5s".into(),
        "authentication_timeout = '10s'".into(),
        "max_connections = 100".into(),
    ]
}

fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

/// Runs a soak and returns what it measured. Panics if the fixture cannot be set up (no
/// PostgreSQL 18, pg_bearer not installed).
pub fn run(options: &SoakOptions) -> SoakRun {
    let load_at_start = load_average();
    let provider_options = ProviderOptions {
        issuer_path: "/realms/soak".into(),
        jwks_cache_control: CacheControl::MaxAge(10),
        ..Default::default()
    };
    let provider = format!(
        "mock HTTPS provider (own CA), issuer path {}, JWKS Cache-Control max-age=10, keys {:?}",
        provider_options.issuer_path, provider_options.keys
    );
    let idp = MockProvider::start(provider_options);
    let dir = SecretDir(std::env::temp_dir().join(format!(
        "pg_bearer-soak-{}-{}",
        std::process::id(),
        idp.port()
    )));
    std::fs::create_dir_all(&dir.0).expect("create the secret directory");
    std::fs::set_permissions(&dir.0, std::fs::Permissions::from_mode(0o755))
        .expect("chmod the secret directory");
    let secret_file = dir.0.join("client_secret");
    std::fs::write(&secret_file, format!("{}\n", mix::opaque_token())).expect("write the secret");
    std::fs::set_permissions(&secret_file, std::fs::Permissions::from_mode(0o644))
        .expect("chmod the secret");
    let settings = server_conf(&idp, &secret_file);
    let cluster = Cluster::start(&ClusterConfig {
        hba: vec![format!(
            "host all all 127.0.0.1/32 oauth issuer=\"{}\" scope=\"{SCOPE}\"",
            idp.issuer()
        )],
        conf: settings.clone(),
        preload: true,
        ..Default::default()
    });
    let admin = cluster.superuser();
    for role in ROLES {
        admin
            .query(&format!("CREATE ROLE {role} LOGIN"))
            .expect("create role");
        // pg_backend_memory_contexts is restricted to pg_read_all_stats.
        admin
            .query(&format!("GRANT pg_read_all_stats TO {role}"))
            .expect("grant pg_read_all_stats");
    }
    let server_version = admin
        .query_one("SELECT version()")
        .ok()
        .flatten()
        .unwrap_or_default();
    let assertions = admin
        .query_one("SHOW debug_assertions")
        .ok()
        .flatten()
        .as_deref()
        == Some("on");
    let postmaster = cluster.postmaster_pid();
    let lifetime = options.duration.as_secs() + 3600;
    let shared = Shared {
        options,
        idp: &idp,
        cluster: &cluster,
        tokens: Tokens::new(&idp, lifetime),
        start: Instant::now(),
        next_slot: AtomicU64::new(0),
        skipped: AtomicU64::new(0),
        phase: AtomicU64::new(0),
        last_backend_sample: AtomicU64::new(u64::MAX),
        backend_samples: Mutex::new(Vec::new()),
        token_sample: Mutex::new(Vec::new()),
        phases: plan(options.duration),
        logins: AtomicU64::new(0),
        unexpected: AtomicU64::new(0),
    };
    let started_at = SystemTime::now();
    let mut fault_windows = Vec::new();
    let mut server_samples = Vec::new();
    let mut phase_starts = Vec::new();
    let logins = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..options.workers)
            .map(|_| scope.spawn(|| shared.worker()))
            .collect();
        control(
            &shared,
            &admin,
            postmaster,
            &mut fault_windows,
            &mut server_samples,
            &mut phase_starts,
        );
        let mut all: Vec<LoginRecord> = workers
            .into_iter()
            .flat_map(|w| w.join().expect("a worker does not panic"))
            .collect();
        all.sort_by_key(|r| r.slot);
        all
    });
    // The last phase ends once the last logins have: read its counters after the workers.
    phase_starts.push(ProviderCounts::read(&idp));
    let provider_per_phase = phase_starts.windows(2).map(|w| w[1].minus(&w[0])).collect();
    let serving_at_end = admin.query_one("SELECT 1").ok().flatten().as_deref() == Some("1");
    let postmaster_end = cluster.postmaster_pid();
    drop(admin);
    let log = cluster.log();
    let token_sample = shared
        .token_sample
        .into_inner()
        .unwrap_or_else(|p| p.into_inner());
    let scan = scan_log(&log, &token_sample);
    SoakRun {
        options: options.clone(),
        started_at,
        server_version,
        assertions,
        settings: std::iter::once("shared_preload_libraries = 'pg_bearer'".to_owned())
            .chain(settings)
            .collect(),
        provider,
        machine: (
            std::thread::available_parallelism().map_or(0, usize::from),
            load_at_start,
            load_average(),
        ),
        phases: plan(options.duration),
        fault_windows,
        logins,
        skipped: shared.skipped.load(Ordering::Relaxed),
        server_samples,
        backend_samples: shared
            .backend_samples
            .into_inner()
            .unwrap_or_else(|p| p.into_inner()),
        provider_per_phase,
        crash_lines: scan.crashes,
        internal_errors: scan.internal_errors,
        postmaster_pids: (postmaster, postmaster_end),
        serving_at_end,
        log_reasons: scan.reasons,
        tokens_checked: token_sample.len(),
        token_leaks: scan.leaks,
        log_bytes: log.len(),
    }
}

/// The controller: switches the provider between phases, records fault windows and the
/// provider counters at the start of each phase, samples server memory, prints progress.
fn control(
    shared: &Shared<'_>,
    admin: &Session,
    postmaster: Option<u32>,
    fault_windows: &mut Vec<(Duration, Duration)>,
    server_samples: &mut Vec<ServerSample>,
    phase_starts: &mut Vec<ProviderCounts>,
) {
    let idp = shared.idp;
    let options = shared.options;
    let mut next_sample = Duration::ZERO;
    let mut fault_started: Option<Duration> = None;
    for (i, phase) in shared.phases.iter().enumerate() {
        // Enter the phase.
        phase_starts.push(ProviderCounts::read(idp));
        shared.phase.store(i as u64, Ordering::Relaxed);
        match phase.provider {
            ProviderState::Healthy => {}
            ProviderState::Hanging => {
                fault_started = Some(shared.start.elapsed());
                idp.set_fault(Target::All, Fault::Hang);
            }
            ProviderState::Down => {
                fault_started = Some(shared.start.elapsed());
                idp.stop();
            }
        }
        if options.progress {
            eprintln!(
                "soak: {:>5.0}s phase {} '{}' (provider {})",
                shared.start.elapsed().as_secs_f64(),
                i + 1,
                phase.name,
                phase.provider.name()
            );
        }
        // Sample until the phase ends.
        loop {
            let now = shared.start.elapsed();
            if now >= phase.to {
                break;
            }
            if now >= next_sample {
                if let Some(pid) = postmaster {
                    if let Some(sample) = sample_server(pid, admin, now) {
                        server_samples.push(sample);
                    }
                }
                if options.progress {
                    progress(shared, now);
                }
                next_sample += options.sample_every;
            }
            let wake = phase.to.min(next_sample);
            let now = shared.start.elapsed();
            if wake > now {
                std::thread::sleep((wake - now).min(Duration::from_millis(500)));
            }
        }
        // Leave the phase.
        match phase.provider {
            ProviderState::Healthy => {}
            ProviderState::Hanging => idp.clear_faults(),
            ProviderState::Down => idp.start_again(),
        }
        if let Some(from) = fault_started.take() {
            fault_windows.push((from, shared.start.elapsed()));
        }
    }
    // One last sample once the schedule is over (workers finish their last logins).
    if let Some(pid) = postmaster {
        if let Some(sample) = sample_server(pid, admin, shared.start.elapsed()) {
            server_samples.push(sample);
        }
    }
}

fn progress(shared: &Shared<'_>, now: Duration) {
    let logins = shared.logins.load(Ordering::Relaxed);
    eprintln!(
        "soak: {:>5.0}s {:>7} logins ({:.1}/s), {} unexpected so far, {} skipped",
        now.as_secs_f64(),
        logins,
        logins as f64 / now.as_secs_f64().max(1.0),
        shared.unexpected.load(Ordering::Relaxed),
        shared.skipped.load(Ordering::Relaxed),
    );
}

fn sample_server(postmaster: u32, admin: &Session, at: Duration) -> Option<ServerSample> {
    let postmaster_vm_rss_kib = memory::vm_rss_kib(postmaster)?;
    let rollup = memory::rollup(postmaster)?;
    let processes = memory::server_processes(postmaster);
    let total_pss_kib = processes
        .iter()
        .filter_map(|&pid| memory::rollup(pid))
        .map(|r| r.pss_kib)
        .sum();
    let client_backends = admin
        .query_one("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'")
        .ok()
        .flatten()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Some(ServerSample {
        at,
        postmaster_vm_rss_kib,
        postmaster: rollup,
        processes: processes.len(),
        total_pss_kib,
        client_backends,
    })
}

/// Crash-pattern lines, `pg_bearer:` lines by reason, and lines holding 8 bytes of a token.
fn scan_log(log: &str, tokens: &[String]) -> LogScan {
    let mut crashes: Vec<CrashLines> = CRASH_PATTERNS
        .iter()
        .map(|&pattern| CrashLines {
            pattern,
            count: 0,
            first: String::new(),
        })
        .collect();
    let mut reasons = BTreeMap::new();
    // Index the tokens (joined by NUL, which no log line holds) and look up every line.
    let index = pg_bearer_e2e::logscan::LogWindows::new(&tokens.join("\0"), 8);
    let mut leaks = 0;
    let mut internal_errors = 0;
    for line in log.lines() {
        if INTERNAL_ERROR_PATTERNS.iter().any(|p| line.contains(p)) {
            internal_errors += 1;
        }
        for c in crashes.iter_mut() {
            if line.contains(c.pattern) {
                c.count += 1;
                if c.first.is_empty() {
                    c.first.push_str(line);
                }
            }
        }
        if let Some(at) = line.find("pg_bearer: ") {
            let rest = &line[at + "pg_bearer: ".len()..];
            let key = match rest.find("reason=") {
                Some(r) => {
                    let what = rest[..r].trim_end_matches([' ', ':']);
                    let reason = rest[r..].split_whitespace().next().unwrap_or_default();
                    format!("{what}: {reason}")
                }
                None => rest.chars().take(60).collect(),
            };
            *reasons.entry(key).or_insert(0) += 1;
        }
        if !tokens.is_empty() && index.leak(line).is_some() {
            leaks += 1;
        }
    }
    crashes.retain(|c| c.count > 0);
    LogScan {
        crashes,
        reasons,
        leaks,
        internal_errors,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_covers_the_run_with_a_hang_and_an_outage_between_healthy_phases() {
        let phases = plan(Duration::from_secs(600));
        let states: Vec<ProviderState> = phases.iter().map(|p| p.provider).collect();
        assert_eq!(
            states,
            [
                ProviderState::Healthy,
                ProviderState::Hanging,
                ProviderState::Healthy,
                ProviderState::Down,
                ProviderState::Healthy
            ]
        );
        assert_eq!(phases[0].from, Duration::ZERO);
        assert_eq!(phases[4].to, Duration::from_secs(600));
        for pair in phases.windows(2) {
            assert_eq!(pair[0].to, pair[1].from);
        }
        assert_eq!(phases[1].to - phases[1].from, Duration::from_secs(60));
        assert_eq!(phases[3].to - phases[3].from, Duration::from_secs(60));
    }

    #[test]
    fn invalid_tokens_must_be_refused_even_during_a_fault() {
        for kind in [Kind::AlgNone, Kind::UnknownKid, Kind::OpaqueRevoked] {
            for fault in [false, true] {
                assert!(judge(kind, &Outcome::Accepted, fault).is_err());
                assert!(judge(kind, &Outcome::Refused, fault).is_ok());
            }
        }
    }

    #[test]
    fn valid_jwts_must_be_accepted_even_during_a_fault() {
        for fault in [false, true] {
            assert!(judge(Kind::JwtEs256, &Outcome::Accepted, fault).is_ok());
            assert!(judge(Kind::JwtEs256, &Outcome::Refused, fault).is_err());
        }
    }

    #[test]
    fn valid_opaque_tokens_may_be_refused_only_during_a_fault() {
        assert!(judge(Kind::OpaqueCached, &Outcome::Refused, false).is_err());
        assert!(judge(Kind::OpaqueFirstUse, &Outcome::Refused, true).is_ok());
        assert!(judge(Kind::OpaqueFirstUse, &Outcome::Accepted, true).is_ok());
    }

    #[test]
    fn other_errors_and_wrong_identities_are_always_unexpected() {
        let error = Outcome::Error("server closed the connection unexpectedly".into());
        let wrong = Outcome::WrongIdentity("Some(\"oauth:bob\")".into());
        for kind in [Kind::JwtRs256, Kind::Expired, Kind::OpaqueCached] {
            assert!(judge(kind, &error, true).is_err());
            assert!(judge(kind, &wrong, true).is_err());
        }
    }

    #[test]
    fn crash_lines_reasons_and_token_bytes_are_found_in_the_log() {
        let token = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl";
        let log = "LOG:  pg_bearer: token rejected: reason=expired issuer=\"https://i\"\n\
                   LOG:  pg_bearer: token rejected: reason=expired issuer=\"https://i\"\n\
                   WARNING:  pg_bearer: key refresh failed: reason=http_timeout issuer=\"x\"\n\
                   LOG:  server process (PID 42) was terminated by signal 11: Segmentation fault\n\
                   LOG:  leaked ...eyJzdWIiOiJhbGljZSJ9...\n\
                   LOG:  pg_bearer: internal error: validation panicked; the login is refused\n\
                   WARNING:  internal error in OAuth validator module\n";
        let scan = scan_log(log, &[token.to_owned()]);
        assert_eq!(
            scan.crashes
                .iter()
                .map(|c| (c.pattern, c.count))
                .collect::<Vec<_>>(),
            [("was terminated by signal", 1), ("server process (PID", 1)]
        );
        assert!(scan.crashes[0].first.contains("signal 11"));
        assert_eq!(scan.reasons["token rejected: reason=expired"], 2);
        assert_eq!(scan.reasons["key refresh failed: reason=http_timeout"], 1);
        assert_eq!(scan.leaks, 1);
        assert_eq!(scan.internal_errors, 2);
    }
}
