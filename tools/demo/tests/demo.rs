//! The demo (`src/main.rs`, run by `scripts/demo.sh`) the way CI runs it, without a
//! terminal: it must finish on its own, show each step, and leave no process of its own
//! behind, also when interrupted. (`pg_bearer_client`'s own tests are in
//! pgrx-tests/tests/demo.rs.)

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use pg_bearer_e2e::oidc::SERVICE_SECRET;

const DEMO: &str = env!("CARGO_BIN_EXE_pg_bearer_demo");

/// `pg_bearer_client`, which the demo runs for the service's login: the installed one when
/// scripts/test.sh has installed it (`PG_BEARER_CLIENT_BIN`, from `cargo install --path
/// client`), else the one built into the same target directory, next to the demo (it is not a
/// binary of this package, so Cargo names it only to its own package's tests); scripts/test.sh
/// builds it in the same `cargo test`.
fn client() -> PathBuf {
    let client = std::env::var_os("PG_BEARER_CLIENT_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(DEMO).with_file_name("pg_bearer_client"));
    assert!(
        client.is_file(),
        "{} is missing: build it first (cargo build -p pg_bearer_client)",
        client.display()
    );
    client
}

/// A fresh logs directory for one demo run, removed on drop.
struct LogsDir(PathBuf);

impl LogsDir {
    fn new(name: &str) -> LogsDir {
        let dir =
            std::env::temp_dir().join(format!("pg_bearer-demo-logs-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        LogsDir(dir)
    }
}

impl Drop for LogsDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn demo(logs: &Path) -> Command {
    let mut command = Command::new(DEMO);
    command
        .env("PG_BEARER_DEMO_LOGS", logs)
        .env("PG_BEARER_CLIENT_BIN", client())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Processes that belong to the demo with process id `demo_pid`: whose command line,
/// environment or working directory names its cluster (`pg_bearer-e2e-<pid>-`) or its
/// provider's directory (`pg_bearer-oidc-<pid>-`). That covers postgres (its data directory),
/// node (its certificate paths) and psql (`PGOAUTHCAFILE`).
fn processes_of(demo_pid: u32) -> Vec<String> {
    let marks = [
        format!("pg_bearer-e2e-{demo_pid}-"),
        format!("pg_bearer-oidc-{demo_pid}-"),
    ];
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.parse::<u32>().is_err() {
            continue;
        }
        let dir = entry.path();
        let read = |f: &str| {
            std::fs::read(dir.join(f))
                .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
                .unwrap_or_default()
        };
        let cwd = std::fs::read_link(dir.join("cwd"))
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let cmdline = read("cmdline");
        let haystack = format!("{cmdline} {} {cwd}", read("environ"));
        if marks.iter().any(|m| haystack.contains(m.as_str())) {
            found.push(format!("pid {name}: {cmdline}"));
        }
    }
    found
}

/// Waits up to five seconds for the demo's processes to be gone; returns those that remain.
fn leftovers(demo_pid: u32) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left = processes_of(demo_pid);
        if left.is_empty() || Instant::now() > deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn wait_with_deadline(mut child: std::process::Child, limit: Duration) -> Output {
    let pid = child.id();
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let out = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = stdout.read_to_end(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = stderr.read_to_end(&mut s);
        s
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the demo (pid {pid}) did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    }
}

#[test]
fn demo_runs_unattended_shows_every_step_and_leaves_nothing_behind() {
    let logs = LogsDir::new("unattended");
    let child = demo(&logs.0).spawn().expect("run pg_bearer_demo");
    let pid = child.id();
    let output = wait_with_deadline(child, Duration::from_secs(120));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the demo failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    for expected in [
        // The command line a person types, and why it carries the debug variables.
        "PGOAUTHDEBUG=UNSAFE PGOAUTHCAFILE=",
        "oauth_client_id=psql-rs256",
        "private CA",
        // psql's own prompt, approved by the demo because stdin is not a terminal.
        "and enter the code: ",
        "No terminal on stdin: the demo approves the code itself",
        "oauth:alice | alice",
        // Row-level security on the token's tenant claim: each sees its own rows.
        "| acme budget, acme plan",
        "Her token says tenant acme",
        // The service's own client_credentials grant and login.
        "pg_bearer_client exec --client-credentials service",
        "system_user=oauth:service current_user=service tenant=globex rows=globex roadmap",
        // The refusal: the client's message and the server's reason.
        "OAuth bearer authentication failed for user \"service\"",
        "pg_bearer: token rejected: reason=bad_signature",
        "provider requests: discovery ",
        "Every step went as expected.",
        "Stopped: PostgreSQL on port",
        "Stopped: the OpenID provider",
        "postgresql.log",
    ] {
        assert!(
            stdout.contains(expected),
            "the demo's output lacks {expected:?}:\n{stdout}"
        );
    }
    assert!(
        !stdout.contains("[libcurl]") && !stdout.contains("eyJ") && !stderr.contains("eyJ"),
        "the demo printed token material or libcurl's trace"
    );
    assert!(
        !stdout.contains(SERVICE_SECRET),
        "the demo printed the client secret"
    );
    let server_log =
        std::fs::read_to_string(logs.0.join("postgresql.log")).expect("the server log is kept");
    assert!(server_log.contains("reason=bad_signature"));
    assert!(
        server_log.contains("database system is shut down"),
        "the log is copied after a clean stop"
    );
    assert!(logs.0.join("provider.log").exists());
    let left = leftovers(pid);
    assert!(left.is_empty(), "the demo left processes behind: {left:#?}");
}

#[test]
fn interrupted_demo_stops_everything_it_started() {
    let logs = LogsDir::new("sigint");
    let mut child = demo(&logs.0).spawn().expect("run pg_bearer_demo");
    let pid = child.id();
    // Interrupt once the cluster is up and psql is about to run.
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut seen = String::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains("[3/5]") {
                let _ = tx.send(());
            }
            seen.push_str(&line);
            seen.push('\n');
        }
        seen
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("the demo reaches its psql step");
    let running_before = processes_of(pid);
    assert!(
        running_before.iter().any(|p| p.contains("postgres")),
        "the cluster runs before the interrupt: {running_before:#?}"
    );
    let pid_t = i32::try_from(pid).expect("a pid fits in pid_t");
    // SAFETY: kill(2) on our own child, not yet reaped.
    let sent = unsafe { libc::kill(pid_t, libc::SIGINT) };
    assert_eq!(sent, 0, "send SIGINT");
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "the demo ignored SIGINT");
        std::thread::sleep(Duration::from_millis(20));
    };
    let seen = reader.join().unwrap_or_default();
    assert_eq!(
        status.code(),
        Some(130),
        "exit status after SIGINT:\n{seen}"
    );
    assert!(
        seen.contains("SIGINT (Ctrl-C): stopping everything the demo started")
            && seen.contains("Stopped: PostgreSQL on port"),
        "{seen}"
    );
    let left = leftovers(pid);
    assert!(left.is_empty(), "SIGINT left processes behind: {left:#?}");
    let dirs: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| {
            n.starts_with(&format!("pg_bearer-e2e-{pid}-"))
                || n.starts_with(&format!("pg_bearer-oidc-{pid}-"))
        })
        .collect();
    assert!(dirs.is_empty(), "SIGINT left directories behind: {dirs:?}");
}
