//! `pam_bench`: logins per second on Debian's PostgreSQL 15 for pam_bearer (a JWT, keys warm in
//! the file cache), for `pam_permit.so` alone (what the `pam` method costs with a module that
//! checks nothing) and for `scram-sha-256`, measured with `pgbench -C` (one new connection per
//! transaction of `SELECT 1`). Prints a Markdown section for docs/reports/benchmarks.md;
//! scripts/bench.sh runs it with the release module and appends its output.
//!
//! ```text
//! pam_bench --module PATH [--seconds S] [--rounds N] [--concurrency 1,4]
//! ```
//!
//! Needs root: the PAM services go into /etc/pam.d. Modes run interleaved, a different one
//! first each round, so that drift hits all of them alike; the table gives the median of the
//! rounds and their range.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use pg_bearer_e2e::cluster::{Cluster, ClusterConfig};
use pg_bearer_e2e::pam::PamSetup;
use pg_bearer_e2e::provider::{Alg, MockProvider, ProviderOptions};
use serde_json::json;

const PG15: &str = "/usr/lib/postgresql/15/bin";
const SCRAM_PASSWORD: &str = "bench-scram-password";
const MODES: [&str; 3] = ["pam_bearer", "pam_permit", "scram-sha-256"];

struct Args {
    module: PathBuf,
    seconds: u32,
    rounds: usize,
    concurrency: Vec<u32>,
}

fn args() -> Args {
    let mut a = Args {
        module: PathBuf::new(),
        seconds: 5,
        rounds: 5,
        concurrency: vec![1, 4],
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--module" => a.module = PathBuf::from(value),
            "--seconds" => a.seconds = value.parse().expect("--seconds N"),
            "--rounds" => a.rounds = value.parse().expect("--rounds N"),
            "--concurrency" => {
                a.concurrency = value
                    .split(',')
                    .map(|c| c.trim().parse().expect("--concurrency 1,4"))
                    .collect()
            }
            _ => panic!("unknown option {flag}"),
        }
    }
    assert!(
        !a.module.as_os_str().is_empty(),
        "--module PATH is required"
    );
    a
}

/// `/etc/pam.d/<name>` with pam_permit alone; removed on drop.
struct PermitService(String);

impl PermitService {
    fn new() -> PermitService {
        let name = format!("pg_bearer_bench_permit_{}", std::process::id());
        std::fs::write(
            format!("/etc/pam.d/{name}"),
            "auth required pam_permit.so\naccount required pam_permit.so\n",
        )
        .expect("write /etc/pam.d (run as root)");
        PermitService(name)
    }
}

impl Drop for PermitService {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(format!("/etc/pam.d/{}", self.0));
    }
}

/// One `pgbench -C` run: logins per second.
fn pgbench(cluster: &Cluster, user: &str, password: &str, clients: u32, seconds: u32) -> f64 {
    let script = std::env::temp_dir().join(format!("pam_bench_{}.sql", std::process::id()));
    std::fs::write(&script, "SELECT 1;\n").unwrap();
    let out = Command::new(format!("{PG15}/pgbench"))
        .args([
            "-n",
            "-C",
            "-T",
            &seconds.to_string(),
            "-c",
            &clients.to_string(),
        ])
        .args(["-j", &clients.to_string(), "-f"])
        .arg(&script)
        .arg(format!(
            "host=127.0.0.1 port={} user={user} dbname=postgres sslmode=disable",
            cluster.port()
        ))
        .env("PGPASSWORD", password)
        .output()
        .expect("run pgbench");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "pgbench as {user} failed:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text.lines()
        .find_map(|l| l.strip_prefix("tps = "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no tps in pgbench's output:\n{text}"))
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn main() {
    let args = args();
    let provider = MockProvider::start(ProviderOptions::default());
    let setup = PamSetup::new(&args.module, "");
    let cache = setup.server_cache_dir();
    setup.write_config(&format!(
        "ca_file = \"{}\"\ncache_dir = \"{}\"\njwks_cache_min = \"1h\"\njwks_cache_default = \"1h\"\n\
         [[issuer]]\nissuer = \"{}\"\naudience = \"postgres-db\"\nscope = \"postgres\"\n",
        provider.ca_pem_path().display(),
        cache.display(),
        provider.issuer()
    ));
    let permit = PermitService::new();
    let cluster = Cluster::start(&ClusterConfig {
        hba: vec![
            setup.hba().replace(" all all ", " all alice "),
            format!(
                "host all bench_permit 127.0.0.1/32 pam pamservice={}",
                permit.0
            ),
            "host all bench_scram 127.0.0.1/32 scram-sha-256".into(),
        ],
        bindir: Some(PathBuf::from(PG15)),
        conf: vec!["max_connections = 50".into()],
        ..Default::default()
    });
    let admin = cluster.superuser();
    admin.query_one("CREATE ROLE alice LOGIN").unwrap();
    admin.query_one("CREATE ROLE bench_permit LOGIN").unwrap();
    admin
        .query_one(&format!(
            "SET password_encryption = 'scram-sha-256'; CREATE ROLE bench_scram LOGIN PASSWORD '{SCRAM_PASSWORD}'"
        ))
        .unwrap();
    let minter = provider.minter();
    let mut claims = minter.claims("postgres-db", "alice", "postgres");
    claims["exp"] = json!(pg_bearer_e2e::tokens::now() + 7_200);
    let token = minter.mint(Alg::Rs256, &claims, &json!({}));
    // Warm the cache: the one discovery and JWKS request of the whole run.
    pgbench(&cluster, "alice", &token, 1, 1);
    let login = |mode: &str| match mode {
        "pam_bearer" => ("alice", token.as_str()),
        "pam_permit" => ("bench_permit", "anything"),
        _ => ("bench_scram", SCRAM_PASSWORD),
    };
    let mut results: BTreeMap<(u32, &str), Vec<f64>> = BTreeMap::new();
    for round in 0..args.rounds {
        for i in 0..MODES.len() {
            let mode = MODES[(round + i) % MODES.len()];
            for &c in &args.concurrency {
                let (user, password) = login(mode);
                let rate = pgbench(&cluster, user, password, c, args.seconds);
                results.entry((c, mode)).or_default().push(rate);
            }
        }
    }
    let requests = provider.count_total();
    println!("## PostgreSQL 15 through PAM\n");
    println!(
        "Logins per second on Debian's PostgreSQL {} (`pgbench -C`, one new TCP connection per \
         `SELECT 1`), {} rounds of {} s per mode and client count, interleaved. `pam_bearer`: a \
         JWT (RS256) checked by the release `pam_bearer.so` with its keys warm in the file cache; \
         `pam_permit`: the `pam` method with a module that accepts everyone, the floor of any PAM \
         module; `scram-sha-256`: a password login without PAM. Median of the rounds, range in \
         brackets. Reproduce with `scripts/bench.sh` (the PAM part alone: `pam_bench`, see \
         tools/bench/src/bin/pam_bench.rs).\n",
        server_version(&cluster),
        args.rounds,
        args.seconds
    );
    println!("| clients | pam_bearer | pam_permit | scram-sha-256 | pam_bearer / pam_permit | pam_bearer / scram |");
    println!("|---:|---:|---:|---:|---:|---:|");
    for &c in &args.concurrency {
        let mut cell = |mode: &'static str| -> (f64, String) {
            let v = results.get_mut(&(c, mode)).expect("measured");
            let (lo, hi) = (
                v.iter().copied().fold(f64::INFINITY, f64::min),
                v.iter().copied().fold(0.0, f64::max),
            );
            let m = median(v);
            (m, format!("{m:.0} [{lo:.0}–{hi:.0}]"))
        };
        let (b, bt) = cell("pam_bearer");
        let (p, pt) = cell("pam_permit");
        let (s, st) = cell("scram-sha-256");
        println!("| {c} | {bt} | {pt} | {st} | {:.2} | {:.2} |", b / p, b / s);
    }
    println!(
        "\nProvider requests during the whole run (warm-up included): {requests} (one discovery, \
         one JWKS). Measured {}, `pam_bench{}`.\n",
        utc_now(),
        std::env::args()
            .skip(1)
            .map(|a| format!(" {a}"))
            .collect::<String>()
    );
}

/// The time now, as `date -u` writes it.
fn utc_now() -> String {
    Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

fn server_version(cluster: &Cluster) -> String {
    cluster
        .superuser()
        .query_one("SHOW server_version")
        .ok()
        .flatten()
        .unwrap_or_default()
}
