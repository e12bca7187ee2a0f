//! A throwaway PostgreSQL 18 cluster for one test: initdb, configuration, pg_hba.conf,
//! start, and stop-and-delete on drop (also when the test fails).
//!
//! PostgreSQL refuses to run as root, so when the tests run as root every server command runs
//! as an unprivileged OS user (`PG_BEARER_PG_USER`, default `pgbearer`, created by
//! scripts/setup.sh) through `runuser`.

use std::fmt::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::libpq::Session;

/// The superuser name given to initdb.
pub const SUPERUSER: &str = "postgres";

/// How a cluster is configured before it starts.
#[derive(Debug, Clone, Default)]
pub struct ClusterConfig {
    /// pg_hba.conf lines, placed before the `local ... trust` line for the superuser.
    pub hba: Vec<String>,
    /// pg_ident.conf lines.
    pub ident: Vec<String>,
    /// Extra postgresql.conf lines (e.g. `pg_bearer.audience = 'db'`).
    pub conf: Vec<String>,
    /// Also load pg_bearer through `shared_preload_libraries`.
    pub preload: bool,
    /// The bin directory of another PostgreSQL (Debian's 15, for the PAM module); `None` for
    /// the PostgreSQL 18 under test. Another server gets no `oauth_validator_libraries`.
    pub bindir: Option<PathBuf>,
}

/// A running cluster; stopped and deleted when dropped.
pub struct Cluster {
    root: PathBuf,
    port: u16,
    run_as: Option<String>,
    bindir: PathBuf,
}

fn bindir() -> PathBuf {
    PathBuf::from(env!("PG_BEARER_E2E_BINDIR"))
}

/// `Some(user)` when we are root and must drop privileges to run postgres.
pub(crate) fn run_as_user() -> Option<String> {
    let uid = Command::new("id").arg("-u").output().ok()?;
    (String::from_utf8_lossy(&uid.stdout).trim() == "0")
        .then(|| std::env::var("PG_BEARER_PG_USER").unwrap_or_else(|_| "pgbearer".into()))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl Cluster {
    /// Creates and starts a cluster.
    pub fn start(config: &ClusterConfig) -> Cluster {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let root = std::env::temp_dir().join(format!(
            "pg_bearer-e2e-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).expect("create cluster root");
        let cluster = Cluster {
            root,
            port: free_port(),
            run_as: run_as_user(),
            bindir: config.bindir.clone().unwrap_or_else(bindir),
        };
        if let Some(user) = &cluster.run_as {
            let status = Command::new("chown")
                .arg(format!("{user}:"))
                .arg(&cluster.root)
                .status();
            assert!(
                status.map(|s| s.success()).unwrap_or(false),
                "chown cluster root to {user}"
            );
        }
        cluster.pg(
            "initdb",
            &[
                "-D",
                &cluster.data(),
                "-U",
                SUPERUSER,
                "-A",
                "trust",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        );
        cluster.configure(config);
        let log = cluster.log_path();
        let out = cluster.pg_output(
            "pg_ctl",
            &[
                "-D",
                &cluster.data(),
                "-l",
                &log.to_string_lossy(),
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
        assert!(
            out.status.success(),
            "pg_ctl start failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stderr),
            cluster.log()
        );
        cluster
    }

    fn data(&self) -> String {
        self.root.join("data").to_string_lossy().into_owned()
    }

    /// The server log (postmaster stderr).
    pub fn log_path(&self) -> PathBuf {
        self.root.join("server.log")
    }

    /// The whole server log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The postmaster's PID, from `postmaster.pid` in the data directory (`None` once the
    /// server has stopped).
    pub fn postmaster_pid(&self) -> Option<u32> {
        let text = std::fs::read_to_string(Path::new(&self.data()).join("postmaster.pid")).ok()?;
        text.lines().next()?.trim().parse().ok()
    }

    fn write(&self, name: &str, text: &str) {
        let path = Path::new(&self.data()).join(name);
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }

    /// Rewrites pg_hba.conf, pg_ident.conf and the pg_bearer part of postgresql.conf.
    fn configure(&self, config: &ClusterConfig) {
        let mut conf = String::new();
        let _ = writeln!(conf, "port = {}", self.port);
        let _ = writeln!(conf, "listen_addresses = '127.0.0.1'");
        let _ = writeln!(conf, "unix_socket_directories = '{}'", self.root.display());
        if config.bindir.is_none() {
            let _ = writeln!(conf, "oauth_validator_libraries = 'pg_bearer'");
        }
        let _ = writeln!(conf, "log_connections = on");
        let _ = writeln!(conf, "fsync = off");
        if config.preload {
            let _ = writeln!(conf, "shared_preload_libraries = 'pg_bearer'");
        }
        for line in &config.conf {
            let _ = writeln!(conf, "{line}");
        }
        self.write("postgresql.auto.conf", &conf);
        let mut hba = format!("local all {SUPERUSER} trust\n");
        for line in &config.hba {
            let _ = writeln!(hba, "{line}");
        }
        self.write("pg_hba.conf", &hba);
        self.write(
            "pg_ident.conf",
            &config
                .ident
                .iter()
                .map(|l| format!("{l}\n"))
                .collect::<String>(),
        );
    }

    /// Applies a new configuration with `pg_reload_conf()`.
    pub fn reconfigure(&self, config: &ClusterConfig) {
        const RELOADED: &str = "received SIGHUP";
        let reloads = self.log().matches(RELOADED).count();
        self.configure(config);
        let admin = self.superuser();
        admin
            .query_one("SELECT pg_reload_conf()")
            .expect("pg_reload_conf");
        // The postmaster rereads the files asynchronously; new backends see the new state
        // once it has. Wait until this reload has been logged.
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline && self.log().matches(RELOADED).count() <= reloads {
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(200));
    }

    /// Stops the server with `pg_ctl stop -m fast` (the cluster is deleted on drop as usual);
    /// returns how long the stop took.
    pub fn stop_fast(&self) -> Duration {
        let started = Instant::now();
        self.pg(
            "pg_ctl",
            &["-D", &self.data(), "-m", "fast", "-w", "-t", "60", "stop"],
        );
        started.elapsed()
    }

    /// A trusted superuser session over the Unix socket.
    pub fn superuser(&self) -> Session {
        Session::connect(&self.local_conninfo(SUPERUSER), None)
            .unwrap_or_else(|e| panic!("superuser login failed: {e}\n{}", self.log()))
    }

    /// Connection string for a login as `user` over the Unix socket (pg_hba's `local` lines).
    pub fn local_conninfo(&self, user: &str) -> String {
        format!(
            "host={} port={} user={user} dbname=postgres",
            self.root.display(),
            self.port
        )
    }

    /// Connection string for a TCP login as `user`, with the OAuth parameters libpq needs.
    /// `oauth_issuer` may be the issuer (libpq then makes a discovery connection first) or
    /// its well-known URI (libpq then sends the token in its first connection).
    pub fn oauth_conninfo(&self, user: &str, oauth_issuer: &str) -> String {
        format!(
            "host=127.0.0.1 port={} user={user} dbname=postgres oauth_issuer={oauth_issuer} oauth_client_id=pg_bearer-tests connect_timeout=30",
            self.port
        )
    }

    fn command(&self, tool: &str, args: &[&str]) -> Command {
        let bin = self.bindir.join(tool);
        let mut cmd = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(bin);
                c
            }
            None => Command::new(bin),
        };
        cmd.args(args).env("LC_ALL", "C").env_remove("PGDATA");
        cmd
    }

    fn pg_output(&self, tool: &str, args: &[&str]) -> Output {
        self.command(tool, args)
            .output()
            .unwrap_or_else(|e| panic!("run {tool}: {e}"))
    }

    fn pg(&self, tool: &str, args: &[&str]) {
        let out = self.pg_output(tool, args);
        assert!(
            out.status.success(),
            "{tool} failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.pg_output(
            "pg_ctl",
            &["-D", &self.data(), "-m", "immediate", "-w", "stop"],
        );
        crate::suite::keep_server_log(&self.log_path());
        if std::env::var_os("PG_BEARER_KEEP_CLUSTERS").is_none() {
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }
}

/// The error libpq reports for every refused OAuth login: PostgreSQL's generic message, the
/// same whatever pg_bearer's reason was.
pub fn generic_refusal(role: &str) -> String {
    format!("FATAL:  OAuth bearer authentication failed for user \"{role}\"")
}

impl Cluster {
    /// Asserts that `attempt` (a login as `role`, run now) is refused with the generic client
    /// error and that the server log gains a `pg_bearer: token rejected: reason=<reason>` line.
    pub fn assert_refused_with<T>(
        &self,
        role: &str,
        reason: &str,
        attempt: impl FnOnce() -> Result<T, String>,
    ) {
        let before = self.log().len();
        match attempt() {
            Ok(_) => panic!("expected reason={reason}, but the login succeeded"),
            Err(e) => assert!(
                e.ends_with(&generic_refusal(role)),
                "client error for {reason}: {e}"
            ),
        }
        let log = self.log();
        let new = &log[before.min(log.len())..];
        assert!(
            new.contains(&format!("reason={reason}")),
            "expected reason={reason} in:\n{new}"
        );
    }

    /// Asserts that the server log holds no 8-byte window of any of `secrets` (tokens, client
    /// secrets), no assertion failure or PANIC, and that the server still serves.
    pub fn assert_log_clean_of<'a>(&self, secrets: impl IntoIterator<Item = &'a str>) {
        let log = self.log();
        let index = crate::logscan::LogWindows::new(&log, 8);
        for secret in secrets {
            if let Some(at) = index.leak(secret) {
                panic!(
                    "server log holds bytes {at}..{} of a secret:\n{log}",
                    at + 8
                );
            }
        }
        assert!(!log.contains("TRAP") && !log.contains("PANIC"), "{log}");
        assert_eq!(
            self.superuser().query_one("SELECT 1").unwrap().as_deref(),
            Some("1")
        );
    }
}

/// Asserts who a session is: `system_user` (e.g. `oauth:alice`) and `current_user`.
pub fn assert_session_identity(session: &Session, system_user: &str, current_user: &str) {
    assert_eq!(
        session.query_one("SELECT system_user").unwrap().as_deref(),
        Some(system_user)
    );
    assert_eq!(
        session.query_one("SELECT current_user").unwrap().as_deref(),
        Some(current_user)
    );
}
