//! `pg_bearer_demo`: PostgreSQL 18 with pg_bearer as its OAuth validator, in front of a real
//! OpenID provider (npm `oidc-provider` under Node, HTTPS with a CA made on the spot), all on
//! 127.0.0.1. It shows, with the commands a person would type:
//!
//! 1. alice logging in with the real `psql` through libpq's device flow (RFC 8628): approved
//!    by the person at the terminal, or by the demo itself when stdin is not a terminal (or
//!    with `--auto-approve`), then `system_user` and `current_user`;
//! 2. a service logging in with `pg_bearer_client`, which obtains a client_credentials token
//!    from the issuer itself (discovery, then the token endpoint);
//! 3. a token with one flipped signature bit refused, with the server's log line saying why;
//! 4. what it cost the provider, and where the logs are.
//!
//! Everything it starts (provider, cluster, psql, the client) is stopped when it exits, also
//! on SIGINT (Ctrl-C), SIGTERM and SIGHUP: those signals are blocked in every thread and taken
//! by one thread with `sigwait`, which stops everything and exits. The server log and the
//! provider's log are copied to `target/demo-logs/` (or `$PG_BEARER_DEMO_LOGS`), kept.
//!
//! Run through `scripts/demo.sh`, which sets up and installs everything first. Tokens and
//! secrets are never printed: tokens appear as `<N bytes>`.

use std::io::{BufRead, BufReader, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use pg_bearer_e2e::cluster::{Cluster, ClusterConfig};
use pg_bearer_e2e::oidc::{
    OidcOptions, OidcProvider, ALICE, AUDIENCE, PASSWORD, SERVICE_SECRET, SERVICE_SUB,
};
use pg_bearer_e2e::tokens::tamper_signature;

/// The provider's public device-flow client psql uses (JWT access tokens signed RS256).
const PSQL_CLIENT: &str = "psql-rs256";
/// The provider's confidential client_credentials client; its tokens' `sub` is its id.
const SERVICE_CLIENT: &str = SERVICE_SUB;
/// The scopes pg_hba asks for; `openid` is implicit, `postgres` must be granted.
const HBA_SCOPE: &str = "openid postgres";
const WHO_SQL: &str = "SELECT system_user, current_user, pg_bearer.claim('tenant') AS tenant, \
     (SELECT string_agg(body, ', ' ORDER BY body) FROM docs) AS rows";
const CLIENT_SQL: &str = "SELECT format('system_user=%s current_user=%s tenant=%s rows=%s', \
     system_user, current_user, pg_bearer.claim('tenant'), \
     (SELECT string_agg(body, ', ' ORDER BY body) FROM docs))";
/// One table for every tenant, and a policy that shows each session its token's tenant's rows.
const RLS_SETUP: [&str; 5] = [
    "CREATE EXTENSION pg_bearer",
    "CREATE TABLE docs (tenant text NOT NULL, body text NOT NULL)",
    "INSERT INTO docs VALUES ('acme', 'acme plan'), ('acme', 'acme budget'), \
     ('globex', 'globex roadmap')",
    "ALTER TABLE docs ENABLE ROW LEVEL SECURITY",
    "CREATE POLICY tenant_rows ON docs USING (tenant = pg_bearer.claim('tenant'))",
];
/// How long a person has to approve the device code.
const PERSON_TIMEOUT: Duration = Duration::from_secs(300);
/// How long an unattended psql login or client run may take.
const UNATTENDED_TIMEOUT: Duration = Duration::from_secs(60);
const BINDIR: &str = pg_bearer_e2e::BINDIR;

/// What the demo has started, for whichever of the main thread (at the end) or the signal
/// thread (on a signal) stops it first. Held while something is being started, so a signal
/// never misses a half-registered process.
struct Running {
    idp: Option<Arc<OidcProvider>>,
    cluster: Option<Arc<Cluster>>,
    /// psql or pg_bearer_client processes still running: pid and name.
    children: Vec<(u32, String)>,
    /// Provider request counts, for provider.log.
    summary: Option<String>,
    stopped: bool,
}

static RUNNING: Mutex<Running> = Mutex::new(Running {
    idp: None,
    cluster: None,
    children: Vec::new(),
    summary: None,
    stopped: false,
});

/// Set once stopping has begun: later panics in the main thread (its processes vanishing
/// under it) are expected and not reported.
static STOPPING: AtomicBool = AtomicBool::new(false);

fn running() -> MutexGuard<'static, Running> {
    RUNNING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn main() -> ExitCode {
    let signals = block_signals();
    let auto_approve = std::env::args().skip(1).any(|a| a == "--auto-approve");
    std::thread::spawn(move || take_signals(signals));
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !STOPPING.load(Ordering::SeqCst) {
            default_hook(info);
        }
    }));

    let started = Instant::now();
    let interactive = !auto_approve && std::io::stdin().is_terminal();
    let outcome = std::panic::catch_unwind(|| run(interactive));
    let elapsed = started.elapsed();
    let report = shutdown();
    println!();
    for line in report {
        println!("{line}");
    }
    println!("Demo time: {:.1} s.", elapsed.as_secs_f64());
    match outcome {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(failed)) => {
            eprintln!("pg_bearer_demo: not as expected: {}", failed.join("; "));
            ExitCode::FAILURE
        }
        Err(_) => {
            eprintln!("pg_bearer_demo: stopped by an error (above)");
            ExitCode::FAILURE
        }
    }
}

// ----- the demo -----

fn run(interactive: bool) -> Result<(), Vec<String>> {
    let mut failed = Vec::new();
    println!("pg_bearer demo: PostgreSQL 18 checks OAuth bearer tokens with pg_bearer");
    println!();
    println!("Everything runs on 127.0.0.1 and is stopped when the demo exits, also on Ctrl-C:");
    println!("  - an OpenID provider: npm oidc-provider under Node");
    println!("    (pgrx-tests/fixtures/oidc-provider/server.js), HTTPS with a CA generated for this run;");
    println!("    users {ALICE} and bob (password \"{PASSWORD}\"),");
    println!(
        "    client {PSQL_CLIENT} for psql's device flow, client {SERVICE_CLIENT} for services;"
    );
    println!("  - a throwaway PostgreSQL 18 cluster whose `oauth` logins pg_bearer validates.");

    println!("\n[1/5] The OpenID provider");
    let t = Instant::now();
    let idp = {
        let mut r = running();
        let idp = Arc::new(OidcProvider::start(OidcOptions {
            issuer_path: "/realms/demo".into(),
            ..Default::default()
        }));
        r.idp = Some(idp.clone());
        idp
    };
    let ca = idp.ca_pem_path().display().to_string();
    println!("  issuer:         {}", idp.issuer());
    println!("  its CA:         {ca}");
    println!("  started in {:.1} s (node pid {})", secs(t), idp.pid());

    println!("\n[2/5] PostgreSQL 18 with pg_bearer");
    let hba = format!(
        "host all all 127.0.0.1/32 oauth issuer=\"{}\" scope=\"{HBA_SCOPE}\"",
        idp.issuer()
    );
    let conf = vec![
        format!("pg_bearer.audience = '{AUDIENCE}'"),
        format!("pg_bearer.ca_file = '{ca}'"),
    ];
    println!("  postgresql.conf: oauth_validator_libraries = 'pg_bearer'");
    for line in &conf {
        println!("                   {line}");
    }
    println!("  pg_hba.conf:     {hba}");
    let t = Instant::now();
    let cluster = {
        let mut r = running();
        let cluster = Arc::new(Cluster::start(&ClusterConfig {
            hba: vec![hba],
            conf,
            ..Default::default()
        }));
        r.cluster = Some(cluster.clone());
        cluster
    };
    let admin = cluster.superuser();
    let version = admin
        .query_one("SHOW server_version")
        .ok()
        .flatten()
        .unwrap_or_default();
    for role in [ALICE, SERVICE_CLIENT] {
        admin
            .query(&format!("CREATE ROLE {role} LOGIN"))
            .unwrap_or_else(|e| panic!("CREATE ROLE {role}: {e}"));
    }
    for sql in RLS_SETUP
        .iter()
        .copied()
        .chain(["GRANT SELECT ON docs TO PUBLIC"])
    {
        admin.query(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    drop(admin);
    println!("  roles:           CREATE ROLE {ALICE} LOGIN; CREATE ROLE {SERVICE_CLIENT} LOGIN");
    println!("  one table for two tenants, each token seeing its own tenant's rows:");
    for sql in RLS_SETUP {
        println!(
            "                   {};",
            sql.split_whitespace().collect::<Vec<_>>().join(" ")
        );
    }
    println!(
        "  PostgreSQL {version} is up on 127.0.0.1:{} (started in {:.1} s)",
        cluster.port(),
        secs(t)
    );

    println!("\n[3/5] alice logs in with psql through the device flow (RFC 8628)");
    match device_login(&idp, &cluster, interactive) {
        Ok(out) if out.contains("oauth:alice") && out.contains("acme budget, acme plan") => println!(
            "  -> system_user oauth:alice is the identity pg_bearer took from the token (claim\n     \
             sub, prefixed by the auth method); current_user alice is the role it logged in as.\n     \
             Her token says tenant acme, so the policy shows her acme's rows only."
        ),
        Ok(out) => failed.push(format!("psql printed {out:?}")),
        Err(e) => {
            println!("  -> {e}");
            failed.push(format!("device login: {e}"));
        }
    }

    println!("\n[4/5] a service logs in with a client_credentials token (no person involved)");
    let service_conninfo = format!(
        "host=127.0.0.1 port={} dbname=postgres user={SERVICE_CLIENT} oauth_issuer={} oauth_client_id={SERVICE_CLIENT}",
        cluster.port(),
        idp.issuer()
    );
    let psql = Path::new(BINDIR).join("psql");
    let issuer = idp.issuer().to_owned();
    println!("  $ PG_BEARER_CLIENT_SECRET=<the service's client secret> \\");
    println!("    pg_bearer_client exec --client-credentials {SERVICE_CLIENT} --scope postgres \\");
    println!("      --issuer {issuer} --ca-file {ca} -v \\");
    println!(
        "      -- {} \"{service_conninfo}\" -XAtc \"{CLIENT_SQL}\"",
        psql.display()
    );
    let mut client = Command::new(client_bin());
    client
        .args([
            "exec",
            "--client-credentials",
            SERVICE_CLIENT,
            "--scope",
            "postgres",
            "--issuer",
            &issuer,
            "--ca-file",
            &ca,
            "-v",
            "--",
        ])
        .arg(&psql)
        .args([&service_conninfo, "-XAtc", CLIENT_SQL])
        .env("PG_BEARER_CLIENT_SECRET", SERVICE_SECRET)
        .env_remove("PG_BEARER_TOKEN");
    match run_captured(&mut client, UNATTENDED_TIMEOUT) {
        Ok((status, stdout, stderr)) => {
            print_indented(&stderr);
            print_indented(&stdout);
            if status.success()
                && stdout.contains("system_user=oauth:service")
                && stdout.contains("tenant=globex rows=globex roadmap")
            {
                println!(
                    "  -> pg_bearer_client found the token endpoint in the issuer's discovery document,\n     \
                     got a token for client {SERVICE_CLIENT} and ran psql with it; psql's libpq\n     \
                     handed it to the server (PQsetAuthDataHook); pg_bearer verified it against\n     \
                     the provider's JWKS. Same table, same query as alice: this token says\n     \
                     tenant globex, so it sees globex's row only. No SET can change that\n     \
                     (docs/row-level-security.md)."
                );
            } else {
                failed.push(format!("service login: {status}"));
            }
        }
        Err(e) => failed.push(format!("service login: {e}")),
    }

    println!("\n[5/5] a tampered token is refused");
    let token = idp.client_credentials(SERVICE_CLIENT, SERVICE_SECRET);
    let tampered = tamper_signature(&token);
    println!(
        "  a fresh token for {SERVICE_CLIENT} (token: <{} bytes>) with one bit of its signature flipped:",
        tampered.len()
    );
    println!(
        "  $ PG_BEARER_TOKEN=<the tampered token> pg_bearer_client exec -- psql \"{service_conninfo}\" -XAtc \"{CLIENT_SQL}\""
    );
    let log_offset = cluster.log().len();
    let mut client = Command::new(client_bin());
    client
        .args(["exec", "--"])
        .arg(&psql)
        .args([&service_conninfo, "-XAtc", CLIENT_SQL])
        .env("PG_BEARER_TOKEN", &tampered)
        .env_remove("PG_BEARER_CLIENT_SECRET");
    match run_captured(&mut client, UNATTENDED_TIMEOUT) {
        Ok((status, stdout, stderr)) if !status.success() => {
            print_indented(&stderr);
            print_indented(&stdout);
            println!("  The client is told nothing more. The server log says why (never any part of a token):");
            let log = cluster.log();
            let lines: Vec<&str> = log
                .get(log_offset..)
                .unwrap_or_default()
                .lines()
                .filter(|l| l.contains("pg_bearer:"))
                .collect();
            for line in &lines {
                println!("    {line}");
            }
            if !lines.iter().any(|l| l.contains("reason=bad_signature")) {
                failed.push("no bad_signature line in the server log".into());
            }
        }
        Ok((status, stdout, _)) => {
            println!("  -> logged in ({status}): this must never happen: {stdout}");
            failed.push("the tampered token logged in".into());
        }
        Err(e) => failed.push(format!("tampered login: {e}")),
    }

    println!("\nSummary");
    let stats = idp.stats();
    let summary = format!(
        "provider requests: discovery {}, JWKS {}, token {}, device authorization {}, introspection {}, userinfo {}",
        stats.discovery,
        stats.jwks,
        stats.token,
        stats.device_authorization,
        stats.introspection,
        stats.userinfo
    );
    println!("  {summary}");
    println!(
        "  Discovery is read by psql, pg_bearer_client and pg_bearer; the JWKS only by pg_bearer,\n  \
         once: the keys sit in shared memory for every later login. Token requests are psql's\n  \
         device-flow polls and the client_credentials grants. JWT access tokens are checked\n  \
         locally, so there is no introspection."
    );
    running().summary = Some(summary);
    if failed.is_empty() {
        println!("  Every step went as expected.");
        Ok(())
    } else {
        Err(failed)
    }
}

/// Runs the real psql as alice and shows what it prints; the device code is approved by the
/// person (interactive) or by the demo on the provider's pages. Returns psql's stdout.
fn device_login(
    idp: &OidcProvider,
    cluster: &Cluster,
    interactive: bool,
) -> Result<String, String> {
    let psql = Path::new(BINDIR).join("psql");
    let ca = idp.ca_pem_path().display().to_string();
    let conninfo = format!(
        "host=127.0.0.1 port={} dbname=postgres user={ALICE} oauth_issuer={} oauth_client_id={PSQL_CLIENT}",
        cluster.port(),
        idp.issuer()
    );
    println!("  The command a person types:");
    println!();
    println!("    PGOAUTHDEBUG=UNSAFE PGOAUTHCAFILE={ca} \\");
    println!("      {} \"{conninfo}\" \\", psql.display());
    println!("      -c \"{WHO_SQL}\"");
    println!();
    println!("  PGOAUTHDEBUG=UNSAFE and PGOAUTHCAFILE are needed only because this provider's");
    println!(
        "  certificate comes from the demo's private CA: libpq reads PGOAUTHCAFILE only in its"
    );
    println!(
        "  UNSAFE debug mode, which also prints every HTTP exchange, tokens included, to stderr"
    );
    println!(
        "  (the demo drops those lines). In production, put the IdP's CA in the system bundle"
    );
    println!("  (update-ca-certificates) and set neither.");
    println!();
    let t = Instant::now();
    let mut command = Command::new(&psql);
    command
        .arg(&conninfo)
        .args(["-X", "-c", WHO_SQL])
        .env("PGOAUTHDEBUG", "UNSAFE")
        .env("PGOAUTHCAFILE", &ca)
        .env("LC_ALL", "C")
        .env_remove("PGPASSWORD")
        .env_remove("PGSERVICE")
        .stdin(Stdio::null());
    let mut child = spawn(&mut command)?;
    let stderr = child.stderr.take().expect("piped stderr");
    let stdout = child.stdout.take().expect("piped stdout");
    let (line_tx, lines) = mpsc::channel();
    // The single reader of psql's stderr: libcurl's trace (it holds tokens) is dropped here.
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).split(b'\n').map_while(Result::ok) {
            let line = String::from_utf8_lossy(&line).trim_end().to_owned();
            // libcurl's trace, and libpq's own debug lines (PGOAUTHDEBUG) that mean nothing to
            // a newcomer.
            if line.contains("[libcurl]") || line.starts_with("[libpq]") {
                continue;
            }
            let line = if line.contains("eyJ") {
                "(a line holding token material, withheld)".to_owned()
            } else {
                line
            };
            if line_tx.send(line).is_err() {
                break;
            }
        }
    });
    let stdout_reader = std::thread::spawn(move || {
        let mut out = String::new();
        let _ = BufReader::new(stdout).read_to_string(&mut out);
        out
    });

    let mut deadline = Instant::now() + UNATTENDED_TIMEOUT;
    let mut enter: Option<mpsc::Receiver<()>> = None;
    let mut prompt: Option<(String, String)> = None;
    let mut approved = false;
    let mut problem = None;
    println!("  psql says:");
    let status = loop {
        match lines.recv_timeout(Duration::from_millis(50)) {
            Ok(line) => {
                println!("    {line}");
                if let Some((url, code)) = parse_prompt(&line) {
                    if interactive {
                        println!();
                        println!("  Open that address in a browser on this machine, enter the code, sign in as");
                        println!("  {ALICE} / {PASSWORD} and confirm. The browser will warn about the certificate:");
                        println!(
                            "  it comes from the demo's CA ({ca}). On another machine, forward the"
                        );
                        println!(
                            "  port first: ssh -L {0}:127.0.0.1:{0} <this host>.",
                            idp.port()
                        );
                        println!(
                            "  Waiting up to {} minutes; or press Enter to let the demo approve it for you.",
                            PERSON_TIMEOUT.as_secs() / 60
                        );
                        deadline = Instant::now() + PERSON_TIMEOUT;
                        enter = Some(read_enter());
                        prompt = Some((url, code));
                    } else {
                        println!(
                            "  No terminal on stdin: the demo approves the code itself, signing in as {ALICE}"
                        );
                        println!("  on the provider's pages the way a browser would.");
                        if let Err(e) = idp.approve_device_code(&url, &code, ALICE) {
                            problem = Some(format!("approving the code failed: {e}"));
                            let _ = child.kill();
                        }
                        approved = true;
                    }
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout | mpsc::RecvTimeoutError::Disconnected) => {}
        }
        if !approved && enter.as_ref().is_some_and(|rx| rx.try_recv().is_ok()) {
            if let Some((url, code)) = &prompt {
                println!("  Approving as {ALICE} on the provider's pages.");
                if let Err(e) = idp.approve_device_code(url, code, ALICE) {
                    problem = Some(format!("approving the code failed: {e}"));
                    let _ = child.kill();
                }
                approved = true;
            }
        }
        if let Ok(Some(status)) = child.try_wait() {
            // The rest of what psql wrote.
            while let Ok(line) = lines.recv_timeout(Duration::from_millis(200)) {
                println!("    {line}");
            }
            break status;
        }
        if Instant::now() > deadline {
            problem = Some(if prompt.is_some() {
                "the device code was not approved in time".to_owned()
            } else {
                "psql did not finish in time".to_owned()
            });
            let _ = child.kill();
            break child.wait().map_err(|e| e.to_string())?;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    forget_child(child.id());
    let out = stdout_reader.join().unwrap_or_default();
    if let Some(problem) = problem {
        return Err(problem);
    }
    if !status.success() {
        return Err(format!("psql failed ({status})"));
    }
    println!("  psql prints:");
    print_indented(&out);
    println!("  (device login took {:.1} s)", secs(t));
    Ok(out)
}

/// libpq's device-flow prompt: `Visit <url> and enter the code: <code>`.
fn parse_prompt(line: &str) -> Option<(String, String)> {
    let (url, code) = line
        .strip_prefix("Visit ")?
        .split_once(" and enter the code: ")?;
    Some((url.trim().to_owned(), code.trim().to_owned()))
}

/// A channel that receives once the person presses Enter.
fn read_enter() -> mpsc::Receiver<()> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        if std::io::stdin().read_line(&mut line).is_ok_and(|n| n > 0) {
            let _ = tx.send(());
        }
    });
    rx
}

/// `pg_bearer_client`: `$PG_BEARER_CLIENT_BIN`, else the one next to this executable (the
/// workspace builds both into the same target directory; scripts/demo.sh builds both), else
/// whichever is on `PATH`.
fn client_bin() -> PathBuf {
    if let Some(path) = std::env::var_os("PG_BEARER_CLIENT_BIN") {
        return path.into();
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("pg_bearer_client")))
        .unwrap_or_else(|| "pg_bearer_client".into())
}

/// Runs a command to its end (killed after `timeout`) with stdout and stderr captured.
fn run_captured(
    command: &mut Command,
    timeout: Duration,
) -> Result<(ExitStatus, String, String), String> {
    command.stdin(Stdio::null());
    let mut child = spawn(command)?;
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            forget_child(child.id());
            return Err(format!("did not finish within {timeout:?}"));
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    forget_child(child.id());
    Ok((
        status,
        out.join().unwrap_or_default(),
        err.join().unwrap_or_default(),
    ))
}

fn print_indented(text: &str) {
    for line in text.trim_end().lines() {
        println!("    {line}");
    }
}

fn secs(since: Instant) -> f64 {
    since.elapsed().as_secs_f64()
}

// ----- processes: start, register, stop -----

/// Spawns `command` with stdout and stderr piped and registers it, so a signal stops it.
fn spawn(command: &mut Command) -> Result<Child, String> {
    let mut r = running();
    if r.stopped {
        return Err("stopping".into());
    }
    let child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("run {:?}: {e}", command.get_program()))?;
    let name = Path::new(command.get_program())
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    r.children.push((child.id(), name));
    Ok(child)
}

fn forget_child(pid: u32) {
    running().children.retain(|(p, _)| *p != pid);
}

fn logs_dir() -> PathBuf {
    std::env::var_os("PG_BEARER_DEMO_LOGS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            // The workspace's target/, two levels above tools/demo.
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .ancestors()
                .nth(2)
                .unwrap_or(Path::new("."))
                .join("target/demo-logs")
        })
}

/// Stops everything registered (idempotent): psql and client processes, the cluster (its log
/// copied to the logs directory first... after `pg_ctl stop`, then deleted), the provider
/// (its log written). Returns lines saying what was done.
fn shutdown() -> Vec<String> {
    STOPPING.store(true, Ordering::SeqCst);
    let mut r = running();
    if r.stopped {
        return Vec::new();
    }
    r.stopped = true;
    let mut report = Vec::new();
    for (pid, name) in r.children.drain(..) {
        if let Ok(pid) = i32::try_from(pid) {
            // SAFETY: kill(2) with a pid we spawned and have not reaped.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            reap(pid);
            report.push(format!("Stopped: {name} (pid {pid})."));
        }
    }
    let logs = logs_dir();
    let _ = std::fs::create_dir_all(&logs);
    let mut kept = Vec::new();
    if let Some(cluster) = r.cluster.take() {
        let root = cluster
            .log_path()
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let stopped = pg_ctl_stop(&root.join("data"));
        let log = logs.join("postgresql.log");
        if std::fs::copy(cluster.log_path(), &log).is_ok() {
            kept.push(format!("{} (the server's log)", shown(&log)));
        }
        if std::env::var_os("PG_BEARER_KEEP_CLUSTERS").is_none() {
            let _ = std::fs::remove_dir_all(&root);
        }
        report.push(format!(
            "Stopped: PostgreSQL on port {} ({}), its data directory {} deleted.",
            cluster.port(),
            if stopped {
                "pg_ctl stop"
            } else {
                "pg_ctl stop failed"
            },
            root.display()
        ));
    }
    if let Some(idp) = r.idp.take() {
        let mut text = idp.node_log();
        if text.is_empty() {
            text.push_str("(Node wrote nothing to stderr)\n");
        }
        if let Some(summary) = &r.summary {
            text.push_str(&format!("{summary}\n"));
        }
        let log = logs.join("provider.log");
        if std::fs::write(&log, format!("issuer {}\n{text}", idp.issuer())).is_ok() {
            kept.push(format!(
                "{} (the provider's messages and request counts)",
                shown(&log)
            ));
        }
        let (pid, dir) = (idp.pid(), idp.dir().to_path_buf());
        match Arc::try_unwrap(idp) {
            // The main thread is done with it: its Drop kills and reaps Node.
            Ok(idp) => drop(idp),
            // A signal arrived while the main thread still uses it.
            Err(_) => {
                if let Ok(pid) = i32::try_from(pid) {
                    // SAFETY: kill(2) on the Node child the provider owns, not yet reaped.
                    unsafe { libc::kill(pid, libc::SIGTERM) };
                    reap(pid);
                }
            }
        }
        let _ = std::fs::remove_dir_all(dir);
        report.push(format!(
            "Stopped: the OpenID provider (node pid {pid}), its CA and keys deleted."
        ));
    }
    if !kept.is_empty() {
        report.push(format!(
            "Logs, kept after exit (overwritten by the next run): {}",
            kept.join(", ")
        ));
    }
    report.push(
        "pg_bearer here is the debug build scripts/demo.sh installs; for real use install the\n\
         release build: cargo pgrx install --release --pg-config <your pg_config>."
            .into(),
    );
    report
}

/// Waits up to two seconds for a child we signalled to exit, reaping it (unless the main
/// thread already has).
fn reap(pid: i32) {
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        // SAFETY: waitpid(2) on our own child, non-blocking, status not needed.
        let done = unsafe { libc::waitpid(pid, std::ptr::null_mut(), libc::WNOHANG) };
        if done != 0 {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A path relative to the working directory when it is below it.
fn shown(path: &Path) -> String {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| path.to_path_buf())
        .display()
        .to_string()
}

/// `pg_ctl stop -m fast` as the OS user that runs the server (see cluster.rs).
fn pg_ctl_stop(data: &Path) -> bool {
    let pg_ctl = Path::new(BINDIR).join("pg_ctl");
    // SAFETY: geteuid(2) has no preconditions.
    let mut command = if unsafe { libc::geteuid() } == 0 {
        let user = std::env::var("PG_BEARER_PG_USER").unwrap_or_else(|_| "pgbearer".into());
        let mut c = Command::new("runuser");
        c.args(["-u", &user, "--"]).arg(pg_ctl);
        c
    } else {
        Command::new(pg_ctl)
    };
    command
        .arg("-D")
        .arg(data)
        .args(["-m", "fast", "-w", "-t", "30", "stop"])
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

// ----- signals -----

/// Blocks SIGINT, SIGTERM and SIGHUP in this thread and every thread it starts later (child
/// processes start with an empty mask: std resets it). Call before starting any thread.
fn block_signals() -> libc::sigset_t {
    // SAFETY: a zeroed sigset_t is valid storage; sigemptyset/sigaddset initialise it and
    // pthread_sigmask only reads it.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            libc::sigaddset(&mut set, signal);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    }
}

/// Waits for one of the blocked signals, stops everything and exits with 128 + its number.
fn take_signals(set: libc::sigset_t) {
    let mut signal = 0;
    // SAFETY: set was initialised by block_signals; sigwait writes the signal number.
    while unsafe { libc::sigwait(&set, &mut signal) } != 0 {}
    STOPPING.store(true, Ordering::SeqCst);
    // Holding both locks until exit keeps the main thread, whose processes are about to
    // vanish, from printing anything more.
    let _stderr = std::io::stderr().lock();
    let mut out = std::io::stdout().lock();
    let name = match signal {
        libc::SIGINT => "SIGINT (Ctrl-C)",
        libc::SIGTERM => "SIGTERM",
        _ => "SIGHUP",
    };
    let _ = writeln!(
        out,
        "\npg_bearer_demo: {name}: stopping everything the demo started."
    );
    let _ = out.flush();
    for line in shutdown() {
        let _ = writeln!(out, "{line}");
    }
    let _ = out.flush();
    std::process::exit(128 + signal);
}
