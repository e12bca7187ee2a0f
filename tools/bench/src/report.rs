//! benchmarks.md, bench/logins.svg and bench/raw.txt in the output directory (`--out`,
//! `docs/reports` by default) from one run's results.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use crate::{Auth, Client, Mode, Options, Results, Server, MODES};

/// One row of a throughput table: a mode at one concurrency, over every round.
struct Row {
    logins: usize,
    secs: f64,
    p50_us: u32,
    p99_us: u32,
    provider_requests: u64,
    /// Per-round logins/s, for the ratio's spread.
    per_round: BTreeMap<u32, f64>,
}

impl Row {
    fn rate(&self) -> f64 {
        self.logins as f64 / self.secs
    }
}

fn percentile<T: Copy + Ord>(sorted: &[T], p: f64) -> Option<T> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

fn percentile_f64(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn rows(results: &Results) -> BTreeMap<(usize, usize), Row> {
    let mut latencies: BTreeMap<(usize, usize), Vec<u32>> = BTreeMap::new();
    let mut rows: BTreeMap<(usize, usize), Row> = BTreeMap::new();
    for s in &results.slices {
        let key = (s.concurrency, s.mode);
        let row = rows.entry(key).or_insert(Row {
            logins: 0,
            secs: 0.0,
            p50_us: 0,
            p99_us: 0,
            provider_requests: 0,
            per_round: BTreeMap::new(),
        });
        row.logins += s.logins;
        row.secs += s.elapsed.as_secs_f64();
        row.provider_requests += s.provider_requests;
        row.per_round
            .insert(s.round, s.logins as f64 / s.elapsed.as_secs_f64());
        latencies
            .entry(key)
            .or_default()
            .extend_from_slice(&s.latencies_us);
    }
    for (key, mut l) in latencies {
        l.sort_unstable();
        if let Some(row) = rows.get_mut(&key) {
            row.p50_us = percentile(&l, 50.0).unwrap_or(0);
            row.p99_us = percentile(&l, 99.0).unwrap_or(0);
        }
    }
    rows
}

fn mode_index(client: Client, auth: Auth, server: Server) -> usize {
    MODES
        .iter()
        .position(|m| m.client == client && m.auth == auth && m.server == server)
        .expect("mode exists")
}

fn index_of(m: &Mode) -> usize {
    mode_index(m.client, m.auth, m.server)
}

/// Ratio of `mode`'s rate to `other`'s at concurrency `c`, with the range over rounds.
fn ratio(
    rows: &BTreeMap<(usize, usize), Row>,
    c: usize,
    mode: usize,
    other: usize,
) -> Option<(f64, f64, f64)> {
    let a = rows.get(&(c, mode))?;
    let b = rows.get(&(c, other))?;
    let per_round: Vec<f64> = a
        .per_round
        .iter()
        .filter_map(|(r, rate)| b.per_round.get(r).map(|base| rate / base))
        .collect();
    let lo = per_round.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = per_round.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    Some((a.rate() / b.rate(), lo, hi))
}

/// Criterion's median estimate (ns) per benchmark id, from `<dir>/**/new/`.
fn criterion_medians(dir: &Path) -> Vec<(String, f64)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                if p.file_name().is_some_and(|n| n == "new") {
                    let read = |f: &str| -> Option<serde_json::Value> {
                        serde_json::from_slice(&std::fs::read(p.join(f)).ok()?).ok()
                    };
                    if let (Some(b), Some(e)) = (read("benchmark.json"), read("estimates.json")) {
                        if let (Some(id), Some(ns)) = (
                            b["full_id"].as_str(),
                            e["median"]["point_estimate"].as_f64(),
                        ) {
                            out.push((id.to_owned(), ns));
                        }
                    }
                } else {
                    stack.push(p);
                }
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn fmt_ns(ns: f64) -> String {
    if ns >= 1_000.0 {
        format!("{:.2} µs", ns / 1_000.0)
    } else {
        format!("{ns:.1} ns")
    }
}

fn kib(bytes: u64) -> String {
    if bytes >= 1 << 20 {
        format!("{:.2} MiB", bytes as f64 / (1u64 << 20) as f64)
    } else {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    }
}

fn machine() -> Vec<(String, String)> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_else(|| "unknown".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        })
        .map(|kb| format!("{:.0} GiB", kb as f64 / 1024.0 / 1024.0))
        .unwrap_or_default();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let debian = std::fs::read_to_string("/etc/debian_version").unwrap_or_default();
    let rustc = std::env::var("PG_BEARER_BENCH_RUSTC").unwrap_or_else(|_| "unknown".into());
    vec![
        ("CPU".into(), format!("{cpu}, {cores} cores visible")),
        ("memory".into(), mem),
        (
            "OS".into(),
            format!("Debian {}, Linux {}", debian.trim(), kernel.trim()),
        ),
        ("Rust".into(), rustc),
    ]
}

pub fn write(options: &Options, results: &Results) -> Result<(), String> {
    let rows = rows(results);
    let criterion = options
        .criterion
        .as_deref()
        .map(criterion_medians)
        .unwrap_or_default();
    let bench_dir = options.out.join("bench");
    std::fs::create_dir_all(&bench_dir).map_err(|e| e.to_string())?;
    std::fs::write(bench_dir.join("logins.svg"), svg(options, &rows)).map_err(|e| e.to_string())?;
    std::fs::write(
        bench_dir.join("raw.txt"),
        raw(options, results, &rows, &criterion),
    )
    .map_err(|e| e.to_string())?;
    std::fs::write(
        options.out.join("benchmarks.md"),
        markdown(options, results, &rows, &criterion),
    )
    .map_err(|e| e.to_string())?;
    eprintln!(
        "bench: wrote {}, {}/logins.svg, {}/raw.txt",
        options.out.join("benchmarks.md").display(),
        bench_dir.display(),
        bench_dir.display()
    );
    Ok(())
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "**not met**"
    }
}

fn markdown(
    options: &Options,
    results: &Results,
    rows: &BTreeMap<(usize, usize), Row>,
    criterion: &[(String, f64)],
) -> String {
    let mut md = String::new();
    let w = &mut md;
    let _ = writeln!(w, "# Benchmarks\n");
    let _ = writeln!(
        w,
        "What a login costs with pg_bearer next to `trust` and `scram-sha-256`, measured \
         side by side in one run, and what pg_bearer costs the identity provider and the \
         server. **Generated by `{}`**: do not edit by hand; the raw output is in \
         [bench/raw.txt](bench/raw.txt) and criterion's in [bench/criterion.txt](bench/criterion.txt).\n",
        options.command
    );

    // --- targets
    let rs256 = criterion
        .iter()
        .find(|(id, _)| id.contains("RS256"))
        .map(|(_, ns)| *ns);
    let _ = writeln!(w, "## Targets\n");
    let _ = writeln!(w, "| target | measured | |\n|---|---|---|");
    if let Some(ns) = rs256 {
        let _ = writeln!(
            w,
            "| JWT verification with warm keys, RS256 2048: p50 ≤ 20 µs | {} (criterion median) | {} |",
            fmt_ns(ns),
            verdict(ns <= 20_000.0)
        );
    }
    let tf_jwt_pre = mode_index(Client::TokenFirst, Auth::Jwt, Server::Preloaded);
    let tf_jwt_plain = mode_index(Client::TokenFirst, Auth::Jwt, Server::Plain);
    let lp_jwt_pre = mode_index(Client::Libpq, Auth::Jwt, Server::Preloaded);
    let lp_jwt_plain = mode_index(Client::Libpq, Auth::Jwt, Server::Plain);
    let lp_scram = mode_index(Client::Libpq, Auth::Scram, Server::Plain);
    let ratio_target = |w: &mut String, label: &str, mode: usize, other: usize, min: f64| {
        for &c in &options.concurrency {
            if let Some((r, lo, hi)) = ratio(rows, c, mode, other) {
                let _ = writeln!(
                    w,
                    "| {label}, {c} client thread{} | {r:.3} (rounds: {lo:.3}–{hi:.3}) | {} |",
                    if c == 1 { "" } else { "s" },
                    verdict(r >= min)
                );
            }
        }
    };
    let base = |m: usize| index_of(&MODES[m].baseline());
    ratio_target(
        w,
        "token-first client, preloaded: oauth/trust ≥ 0.95",
        tf_jwt_pre,
        base(tf_jwt_pre),
        0.95,
    );
    // No target: what the OAuth exchange itself costs (no-op validator), and how far pg_bearer
    // is above it.
    let tf_floor = mode_index(Client::TokenFirst, Auth::Floor, Server::Preloaded);
    let ratio_info = |w: &mut String, label: &str, mode: usize, other: usize| {
        for &c in &options.concurrency {
            if let Some((r, lo, hi)) = ratio(rows, c, mode, other) {
                let _ = writeln!(
                    w,
                    "| {label}, {c} client thread{} | {r:.3} (rounds: {lo:.3}–{hi:.3}) | (no target) |",
                    if c == 1 { "" } else { "s" },
                );
            }
        }
    };
    ratio_info(
        w,
        "token-first client, preloaded: the floor, an OAuth login whose validator does nothing, /trust",
        tf_floor,
        base(tf_floor),
    );
    ratio_info(
        w,
        "token-first client, preloaded: pg_bearer JWT/the floor",
        tf_jwt_pre,
        tf_floor,
    );
    ratio_target(
        w,
        "token-first client, not preloaded: oauth/trust ≥ 0.90",
        tf_jwt_plain,
        base(tf_jwt_plain),
        0.90,
    );
    ratio_target(
        w,
        "libpq client, preloaded: oauth/trust ≥ 0.48",
        lp_jwt_pre,
        base(lp_jwt_pre),
        0.48,
    );
    ratio_target(
        w,
        "libpq client, not preloaded: oauth/trust ≥ 0.48",
        lp_jwt_plain,
        base(lp_jwt_plain),
        0.48,
    );
    ratio_target(
        w,
        "libpq client: oauth (preloaded)/scram-sha-256 ≥ 1",
        lp_jwt_pre,
        lp_scram,
        1.0,
    );
    ratio_target(
        w,
        "libpq client: oauth (not preloaded)/scram-sha-256 ≥ 1",
        lp_jwt_plain,
        lp_scram,
        1.0,
    );
    // Issue 14's budget: keeping the session's claims and counting cost at most 2 % of logins
    // per second, against the same servers running the baseline library.
    for client in [Client::TokenFirst, Client::Libpq] {
        for (server, baseline) in [
            (Server::Preloaded, Server::PreloadedBaseline),
            (Server::Plain, Server::PlainBaseline),
        ] {
            ratio_target(
                w,
                &format!(
                    "{}, {}: JWT with claims kept and counted / baseline ≥ 0.98",
                    heading(client),
                    server.label()
                ),
                mode_index(client, Auth::Jwt, server),
                mode_index(client, Auth::Jwt, baseline),
                0.98,
            );
        }
    }
    let lifetimes = (results.run_secs / crate::LIFETIME_SECS as f64)
        .ceil()
        .max(1.0) as u64;
    let _ = writeln!(
        w,
        "| provider: at most one JWKS fetch per server and cache lifetime ({} s), however many logins | {} JWKS fetches for {} logins on {} servers in {:.0} s | {} |",
        crate::LIFETIME_SECS,
        results.jwks_fetches,
        results.slices.iter().map(|s| s.logins).sum::<usize>(),
        Server::ALL.len(),
        results.run_secs,
        verdict(results.jwks_fetches <= Server::ALL.len() as u64 * lifetimes)
    );
    let _ = writeln!(
        w,
        "\nRatios are logins per second over all rounds; \"rounds\" is the range of the \
         per-round ratios, a measure of the run's noise. Each `oauth` mode is compared with \
         `trust` on the same server (the preloaded modes with `trust` on the preloaded \
         server). The targets are goals stated in issue 7, not tests.\n"
    );

    // --- machine and method
    let _ = writeln!(w, "## Machine and command\n");
    let _ = writeln!(w, "| | |\n|---|---|");
    for (k, v) in machine() {
        let _ = writeln!(w, "| {k} | {v} |");
    }
    let _ = writeln!(
        w,
        "| PostgreSQL | {} (built without assertions, `-O2`) |",
        results.pg_version
    );
    let _ = writeln!(
        w,
        "| load average (1, 5, 15 min) | before: {}; after: {} |",
        results.load_before, results.load_after
    );
    let _ = writeln!(
        w,
        "| run | {} rounds × {} ms slices per mode and concurrency level, concurrency {:?}; {:.0} s |",
        options.rounds,
        options.slice.as_millis(),
        options.concurrency,
        results.run_secs
    );
    let _ = writeln!(
        w,
        "\nCommand: `{}` (see [How it is measured](#how-it-is-measured)).\n",
        options.command
    );

    // --- throughput
    let _ = writeln!(w, "## Logins\n");
    let _ = writeln!(w, "![logins per second](bench/logins.svg)\n");
    for client in [Client::TokenFirst, Client::Libpq] {
        for &c in &options.concurrency {
            let _ = writeln!(
                w,
                "### {}, {c} client thread{}\n",
                heading(client),
                if c == 1 { "" } else { "s" }
            );
            let _ = writeln!(
                w,
                "| mode | logins/s | × trust | login p50 | login p99 | provider requests / 1,000 logins |\n|---|---:|---:|---:|---:|---:|"
            );
            for (i, m) in MODES.iter().enumerate() {
                if m.client != client {
                    continue;
                }
                let Some(row) = rows.get(&(c, i)) else {
                    continue;
                };
                let r = ratio(rows, c, i, index_of(&m.baseline()))
                    .map(|(r, _, _)| format!("{r:.3}"))
                    .unwrap_or_default();
                let _ = writeln!(
                    w,
                    "| {} | {:.0} | {} | {:.2} ms | {:.2} ms | {:.2} |",
                    m.name,
                    row.rate(),
                    r,
                    f64::from(row.p50_us) / 1000.0,
                    f64::from(row.p99_us) / 1000.0,
                    row.provider_requests as f64 * 1000.0 / row.logins.max(1) as f64
                );
            }
            let _ = writeln!(w);
        }
    }

    // --- validate_cb
    let _ = writeln!(w, "## Time inside `validate_cb`\n");
    let _ = writeln!(
        w,
        "The server's own time in pg_bearer per login, from `pg_bearer.log_validation_time` \
         (token-first client, one thread, {} logins per mode, every login a new backend):\n",
        options.timing_logins
    );
    let _ = writeln!(
        w,
        "| mode | p50 | p99 | max | logins not authorized |\n|---|---:|---:|---:|---:|"
    );
    for v in &results.validate {
        let mut s = v.micros.clone();
        s.sort_by(f64::total_cmp);
        let _ = writeln!(
            w,
            "| {} | {:.1} µs | {:.1} µs | {:.1} µs | {} |",
            MODES[v.mode].name,
            percentile_f64(&s, 50.0),
            percentile_f64(&s, 99.0),
            s.last().copied().unwrap_or(f64::NAN),
            v.outcomes_other_than_authorized
        );
    }
    let _ = writeln!(w);

    let trust_p50 = rows
        .get(&(1, index_of(&MODES[tf_jwt_pre].baseline())))
        .map(|r| f64::from(r.p50_us));
    let jwt_cb = results
        .validate
        .iter()
        .find(|v| v.mode == tf_jwt_pre)
        .map(|v| {
            let mut s = v.micros.clone();
            s.sort_by(f64::total_cmp);
            percentile_f64(&s, 50.0)
        });
    if let (Some(trust), Some(cb)) = (trust_p50, jwt_cb) {
        let _ = writeln!(
            w,
            "With preloading, pg_bearer's own time for a JWT login (p50 {cb:.0} µs) is {:.1}% \
             of a whole `trust` login's latency on the same server (p50 {:.0} µs, token-first \
             client).\n",
            100.0 * cb / trust,
            trust
        );
    }
    // --- issue 14: what the session's claims and the counters cost a login
    let p50_of = |mode: usize| {
        results.validate.iter().find(|v| v.mode == mode).map(|v| {
            let mut s = v.micros.clone();
            s.sort_by(f64::total_cmp);
            percentile_f64(&s, 50.0)
        })
    };
    let added_ns: f64 = criterion
        .iter()
        .filter(|(id, _)| id.starts_with("login path:"))
        .map(|(_, ns)| *ns)
        .sum();
    let _ = writeln!(
        w,
        "### What keeping the session's claims and counting cost
"
    );
    let _ = writeln!(
        w,
        "Issue 14 added two things to every accepted login: building the claims the session \
         keeps (`pg_bearer.claims()`) and counting the login (`pg_bearer.login_stats`). The \
         baseline library leaves both out; everything else is the same build.\n"
    );
    let _ = writeln!(
        w,
        "| | with | baseline | difference |\n|---|---:|---:|---:|"
    );
    for (server, baseline) in [
        (Server::Preloaded, Server::PreloadedBaseline),
        (Server::Plain, Server::PlainBaseline),
    ] {
        let with = p50_of(mode_index(Client::TokenFirst, Auth::Jwt, server));
        let without = p50_of(mode_index(Client::TokenFirst, Auth::Jwt, baseline));
        if let (Some(a), Some(b)) = (with, without) {
            let _ = writeln!(
                w,
                "| `validate_cb` p50, {} | {a:.1} µs | {b:.1} µs | {:+.1} µs ({:+.1}%) |",
                server.label(),
                a - b,
                100.0 * (a - b) / b
            );
        }
    }
    if added_ns > 0.0 {
        let cb = jwt_cb.unwrap_or(f64::NAN);
        let _ = writeln!(
            w,
            "\nThe two steps alone, warm (criterion, `login path:` rows below): {:.2} µs together, \
             {:.2}% of the preloaded `validate_cb` p50. The logins-per-second ratios against the \
             baseline are in [Targets](#targets); their per-round ranges show the run's noise, \
             which is larger than the 2 % budget, so the `validate_cb` times and the micro-benchmark \
             are the finer measure.\n",
            added_ns / 1000.0,
            100.0 * added_ns / 1000.0 / cb
        );
    }

    let _ = writeln!(
        w,
        "Where that time goes (profiled with `perf record -a -g` during a run; \
         `PG_BEARER_BENCH_SMAPS=DIR` makes the benchmark save the backends' smaps): every login \
         is a new backend forked from the postmaster, and Linux does not copy the page tables \
         of file-backed mappings at fork, so each backend faults in every page of \
         `pg_bearer.so` that its validation executes or reads (a JWT login touches about \
         2.5 MB of it). Those page faults are about half of pg_bearer's time; the RSA \
         signature check, the JSON and JWKS parsing and the shared-cache lookup are the rest \
         (see the micro-benchmarks for their warm cost). The shared-cache lock does not show \
         in profiles: it is held only to copy a few KiB. Without preloading, each backend \
         also maps the library, applies its relocations and runs its initialisers (aws-lc's \
         CPU feature detection, which traps to the hypervisor on a virtual machine, is the \
         largest of these).\n"
    );

    // --- provider
    let _ = writeln!(w, "## Provider requests\n");
    let _ = writeln!(
        w,
        "Over the whole run (warm-up, {} logins measured, validate_cb timing and footprint \
         included), both servers together: **{} JWKS**, **{} discovery** and **{} \
         introspection** requests. The JWKS is served with `Cache-Control: max-age={}`; \
         introspection answers are reused for `pg_bearer.result_cache_ttl` (60 s), so opaque \
         tokens cost one request per token per minute per server, whatever the login rate. \
         Per-mode rates are in the tables above.\n",
        results.slices.iter().map(|s| s.logins).sum::<usize>(),
        results.jwks_fetches,
        results.discovery_fetches,
        results.introspections,
        crate::LIFETIME_SECS
    );

    // --- footprint
    let f = &results.footprint;
    let _ = writeln!(w, "## Footprint\n");
    let _ = writeln!(w, "| what | measured |\n|---|---:|");
    let _ = writeln!(
        w,
        "| `pg_bearer.so` (release build) | {} |",
        kib(f.so_bytes)
    );
    if let Some(s) = f.so_stripped_bytes {
        let _ = writeln!(w, "| `pg_bearer.so`, stripped | {} |", kib(s));
    }
    let _ = writeln!(
        w,
        "| loading it in a backend (`LOAD 'pg_bearer'` in a fresh session, minus `SELECT 1`), not preloaded | {:.0} µs |",
        f.load_us.0
    );
    let _ = writeln!(
        w,
        "| the same on the preloaded server (already loaded: the statement's own cost) | {:.0} µs |",
        f.load_us.1
    );
    if let (Some(pre), Some(plain)) = (rows.get(&(1, tf_jwt_pre)), rows.get(&(1, tf_jwt_plain))) {
        let _ = writeln!(
            w,
            "| login p50, not preloaded minus preloaded (token-first client, 1 thread) | {:.0} µs |",
            f64::from(plain.p50_us) - f64::from(pre.p50_us)
        );
    }
    let trust_of = |server: Server| {
        f.memory
            .iter()
            .find(|(s, l, _)| *s == server && *l == "trust")
            .map(|(_, _, m)| *m)
    };
    for (server, label, m) in &f.memory {
        if *label == "trust" {
            continue;
        }
        if let Some(t) = trust_of(*server) {
            let _ = writeln!(
                w,
                "| backend memory after an {label} login vs a trust login, {}: RSS / PSS / private | {:+} / {:+} / {:+} KiB |",
                server.label(),
                m.rss as i64 - t.rss as i64,
                m.pss as i64 - t.pss as i64,
                m.private as i64 - t.private as i64
            );
        }
    }
    for s in &f.segments {
        let _ = writeln!(w, "| shared memory: {} | {} |", s.what, kib(s.mapped));
    }
    let _ = writeln!(
        w,
        "\nBackend memory is the median of 9 logins each (`/proc/<pid>/smaps_rollup` of the \
         idle backend). Shared memory is what an OAuth backend maps from `/dev/shm` \
         (`/proc/<pid>/maps`) on the preloaded server: the segments are created at the first \
         OAuth login, allocated whole, and live until the server stops.\n"
    );

    // --- criterion
    if !criterion.is_empty() {
        let _ = writeln!(w, "## Micro-benchmarks\n");
        let _ = writeln!(
            w,
            "`cargo bench -p pg_bearer_core --bench core` (criterion; median of the sample \
             means):\n"
        );
        let _ = writeln!(w, "| benchmark | median |\n|---|---:|");
        for (id, ns) in criterion {
            let _ = writeln!(w, "| {id} | {} |", fmt_ns(*ns));
        }
        let _ = writeln!(w);
    }

    // --- method
    let _ = writeln!(w, "## How it is measured\n");
    let _ = writeln!(
        w,
        "`{}` runs `scripts/setup.sh`, builds PostgreSQL 18 without assertions (`-O2`, once) \
         into its own prefix, installs the release `pg_bearer.so` there, runs the \
         micro-benchmarks, then `pg_bearer_bench`, which writes this page, the plot and the \
         raw output.\n",
        options.command
    );
    let _ = writeln!(
        w,
        "- Four servers run at once from the same installation: one with \
         `oauth_validator_libraries = 'pg_bearer'` only (pg_bearer is loaded by each backend \
         that validates a token), one that also preloads it, and the same two with the \
         **baseline library** (`pg_bearer_baseline.so`: pg_bearer built with the Cargo \
         feature `bench_baseline`, which leaves out keeping the session's claims and counting \
         logins and provider requests, the login-path work of issue 14), so that the cost of \
         that work is measured before and after in one run. All over TCP on 127.0.0.1 \
         without TLS (TLS would add the same handshake to every mode), `fsync = off`, \
         `log_connections = off`.\n\
         - pg_hba: `trust`, `scram-sha-256` (PostgreSQL's default 4096 iterations), and \
         `oauth` for a JWT (RS256, 2048-bit key; the provider publishes five keys: RS256, \
         PS256, ES256, ES384, EdDSA) and for an opaque token validated by introspection \
         (answer cached).\n\
         - The provider is the e2e tests' HTTPS mock on 127.0.0.1, counting every request.\n\
         - **Token-first client**: a raw protocol client that sends the token in its \
         `SASLInitialResponse` right away: one connection per login, the validator's own cost. \
         `trust` uses the same client.\n\
         - **The floor**: the same client against a pg_hba line whose validator does no work \
         (`floor_validator.c`, a C module that accepts one fixed token; scripts/bench.sh builds \
         it into the benchmark's PostgreSQL only). It costs what PostgreSQL's OAuth exchange \
         costs without any validation (the extra round trip of the SASL exchange, its \
         messages, looking up the validator), so no validator can be faster; \
         `pg_bearer JWT/the floor` is pg_bearer's own share.\n\
         - **libpq client**: `PQconnectdb` with the token from `PQsetAuthDataHook`, \
         `sslmode=disable`. With `oauth_issuer` set to the issuer, libpq first makes a \
         discovery connection (which the server fails without calling the validator) and \
         then a second one with the token, so a login is two backends; given the well-known \
         URI (\"well-known oauth_issuer\"), libpq sends the token in its first connection.\n\
         - A login is timed from connect to `ReadyForQuery`; the session is then closed \
         (`Terminate`). Logins per second count every login of a slice over the slice's wall \
         time, closing included.\n\
         - Every mode is warmed up (50 logins: keys and introspection answers cached) before \
         measuring. Then {} rounds: in each, every mode gets one {} ms slice per concurrency \
         level ({:?} client threads), starting with a different mode each round.\n\
         - `validate_cb` time: after the throughput rounds, `pg_bearer.log_validation_time` is \
         switched on (reload) and the token-first client logs in {} times per OAuth mode, in \
         ten chunks with the modes taking turns; the server log lines are parsed.\n",
        options.rounds,
        options.slice.as_millis(),
        options.concurrency,
        options.timing_logins
    );
    md
}

fn heading(client: Client) -> &'static str {
    match client {
        Client::TokenFirst => "Token-first client",
        Client::Libpq => "libpq client",
    }
}

fn raw(
    options: &Options,
    results: &Results,
    rows: &BTreeMap<(usize, usize), Row>,
    criterion: &[(String, f64)],
) -> String {
    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(
        w,
        "# pg_bearer_bench raw output (command: {})",
        options.command
    );
    for (k, v) in machine() {
        let _ = writeln!(w, "# {k}: {v}");
    }
    let _ = writeln!(w, "# PostgreSQL: {}", results.pg_version);
    let _ = writeln!(
        w,
        "# load before: {} after: {}; run {:.1} s",
        results.load_before, results.load_after, results.run_secs
    );
    let _ = writeln!(w, "\n[slices]");
    let _ = writeln!(
        w,
        "round\tthreads\tclient\tmode\tlogins\tseconds\tlogins_per_s\tprovider_requests\tp50_us\tp99_us"
    );
    for s in &results.slices {
        let mut l = s.latencies_us.clone();
        l.sort_unstable();
        let m = &MODES[s.mode];
        let _ = writeln!(
            w,
            "{}\t{}\t{}\t{}\t{}\t{:.4}\t{:.1}\t{}\t{}\t{}",
            s.round,
            s.concurrency,
            m.client.label(),
            m.name,
            s.logins,
            s.elapsed.as_secs_f64(),
            s.logins as f64 / s.elapsed.as_secs_f64(),
            s.provider_requests,
            percentile(&l, 50.0).unwrap_or(0),
            percentile(&l, 99.0).unwrap_or(0)
        );
    }
    let _ = writeln!(w, "\n[totals]");
    let _ = writeln!(
        w,
        "threads\tclient\tmode\tlogins\tseconds\tlogins_per_s\tp50_us\tp99_us\tprovider_requests"
    );
    for ((c, i), row) in rows {
        let m = &MODES[*i];
        let _ = writeln!(
            w,
            "{c}\t{}\t{}\t{}\t{:.3}\t{:.1}\t{}\t{}\t{}",
            m.client.label(),
            m.name,
            row.logins,
            row.secs,
            row.rate(),
            row.p50_us,
            row.p99_us,
            row.provider_requests
        );
    }
    let _ = writeln!(w, "\n[validate_cb microseconds: p1 p10 p50 p90 p99 max n]");
    for v in &results.validate {
        let mut s = v.micros.clone();
        s.sort_by(f64::total_cmp);
        let _ = writeln!(
            w,
            "{}\t{:.1}\t{:.1}\t{:.1}\t{:.1}\t{:.1}\t{:.1}\t{}",
            MODES[v.mode].name,
            percentile_f64(&s, 1.0),
            percentile_f64(&s, 10.0),
            percentile_f64(&s, 50.0),
            percentile_f64(&s, 90.0),
            percentile_f64(&s, 99.0),
            s.last().copied().unwrap_or(f64::NAN),
            s.len()
        );
    }
    let f = &results.footprint;
    let _ = writeln!(w, "\n[footprint]");
    let _ = writeln!(w, "so_bytes\t{}", f.so_bytes);
    let _ = writeln!(w, "so_stripped_bytes\t{:?}", f.so_stripped_bytes);
    let _ = writeln!(w, "load_us_not_preloaded\t{:.1}", f.load_us.0);
    let _ = writeln!(w, "load_us_preloaded\t{:.1}", f.load_us.1);
    for (server, label, m) in &f.memory {
        let _ = writeln!(
            w,
            "memory_kib\t{server:?}\t{label}\trss={}\tpss={}\tprivate={}",
            m.rss, m.pss, m.private
        );
    }
    for s in &f.segments {
        let _ = writeln!(w, "segment\t{}\tmapped={}", s.what, s.mapped);
    }
    let _ = writeln!(w, "\n[provider]");
    let _ = writeln!(w, "jwks\t{}", results.jwks_fetches);
    let _ = writeln!(w, "discovery\t{}", results.discovery_fetches);
    let _ = writeln!(w, "introspection\t{}", results.introspections);
    let _ = writeln!(w, "\n[criterion median ns]");
    for (id, ns) in criterion {
        let _ = writeln!(w, "{id}\t{ns:.1}");
    }
    out
}

/// A horizontal bar chart of logins per second: one panel per client, one bar per mode and
/// concurrency level.
fn svg(options: &Options, rows: &BTreeMap<(usize, usize), Row>) -> String {
    const WIDTH: f64 = 960.0;
    const LABEL: f64 = 380.0;
    const BAR: f64 = 13.0;
    const GAP: f64 = 8.0;
    const COLORS: [&str; 4] = ["#4c78a8", "#f58518", "#54a24b", "#b279a2"];
    let levels = &options.concurrency;
    let mut body = String::new();
    let mut y = 40.0;
    for client in [Client::TokenFirst, Client::Libpq] {
        let modes: Vec<usize> = (0..MODES.len())
            .filter(|&i| MODES[i].client == client)
            .collect();
        let max = modes
            .iter()
            .flat_map(|&i| levels.iter().filter_map(move |&c| rows.get(&(c, i))))
            .map(Row::rate)
            .fold(1.0, f64::max);
        let _ = writeln!(
            body,
            r#"<text x="10" y="{y}" font-weight="bold">{} (logins per second)</text>"#,
            heading(client)
        );
        y += 12.0;
        for &i in &modes {
            let block = levels.len() as f64 * BAR;
            let _ = writeln!(
                body,
                r#"<text x="{}" y="{:.1}" text-anchor="end">{}</text>"#,
                LABEL - 8.0,
                y + block / 2.0 + 4.0,
                xml(MODES[i].name)
            );
            for (k, &c) in levels.iter().enumerate() {
                let rate = rows.get(&(c, i)).map(Row::rate).unwrap_or(0.0);
                let len = (WIDTH - LABEL - 90.0) * rate / max;
                let _ = writeln!(
                    body,
                    r#"<rect x="{LABEL}" y="{:.1}" width="{len:.1}" height="{:.1}" fill="{}"/><text x="{:.1}" y="{:.1}" font-size="11">{rate:.0}</text>"#,
                    y + k as f64 * BAR,
                    BAR - 2.0,
                    COLORS[k % COLORS.len()],
                    LABEL + len + 4.0,
                    y + k as f64 * BAR + BAR - 3.0
                );
            }
            y += block + GAP;
        }
        y += 24.0;
    }
    let mut legend = String::new();
    for (k, c) in levels.iter().enumerate() {
        let x = LABEL + k as f64 * 150.0;
        let _ = write!(
            legend,
            r#"<rect x="{x}" y="{:.1}" width="12" height="12" fill="{}"/><text x="{:.1}" y="{:.1}">{c} client thread{}</text>"#,
            y - 10.0,
            COLORS[k % COLORS.len()],
            x + 18.0,
            y,
            if *c == 1 { "" } else { "s" }
        );
    }
    y += 16.0;
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{y:.0}\" \
         font-family=\"sans-serif\" font-size=\"13\">\n<rect width=\"100%\" height=\"100%\" \
         fill=\"white\"/>\n<text x=\"10\" y=\"20\" font-size=\"15\" font-weight=\"bold\">\
         PostgreSQL 18 logins: trust, scram-sha-256 and oauth with pg_bearer</text>\n\
         {body}{legend}\n</svg>\n"
    )
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
