//! Judging a soak run and rendering its report (plain text, fixed-width tables).

use std::fmt::Write as _;
use std::time::{Duration, UNIX_EPOCH};

use super::mix::{Class, Kind, MIX};
use super::{judge, LoginRecord, Outcome, SoakRun, ENDPOINTS};

/// When memory counts as flat: for every judged series, the median of the last window is at
/// most the median of the reference window (the second one: the first after warm-up) plus
/// the larger of `percent` of it and `kib`.
#[derive(Debug, Clone, Copy)]
pub struct MemoryRule {
    /// Allowed growth, percent of the reference.
    pub percent: f64,
    /// Allowed growth, KiB (for small series, where a percentage is a few pages).
    pub kib: u64,
}

impl Default for MemoryRule {
    fn default() -> Self {
        MemoryRule {
            percent: 5.0,
            kib: 512,
        }
    }
}

/// A judged run.
pub struct Report<'a> {
    run: &'a SoakRun,
    /// Per login (same order as `run.logins`): whether a provider fault overlapped it.
    during_fault: Vec<bool>,
    /// Logins with an unexpected outcome, and why.
    unexpected: Vec<(usize, String)>,
    memory: MemoryTable,
}

/// One memory series: a name, whether it is judged, and the median per window (KiB, or a
/// plain number for a count).
struct Series {
    name: &'static str,
    judged: bool,
    count: bool,
    medians: Vec<Option<u64>>,
}

struct MemoryTable {
    window: Duration,
    series: Vec<Series>,
    /// `Ok(())` if flat, else the series that grew (or lacked samples).
    verdict: Result<(), Vec<String>>,
}

fn median(mut values: Vec<u64>) -> Option<u64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    Some(values[values.len() / 2])
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn mib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}

fn secs(d: Duration) -> String {
    format!("{:.0}", d.as_secs_f64())
}

impl<'a> Report<'a> {
    /// Judges every login and the memory series.
    pub fn new(run: &'a SoakRun) -> Report<'a> {
        let during_fault: Vec<bool> = run
            .logins
            .iter()
            .map(|l| {
                run.fault_windows
                    .iter()
                    .any(|&(from, to)| l.started <= to && l.ended >= from)
            })
            .collect();
        let unexpected = run
            .logins
            .iter()
            .enumerate()
            .filter_map(|(i, l)| {
                judge(l.kind, &l.outcome, during_fault[i])
                    .err()
                    .map(|why| (i, why))
            })
            .collect();
        Report {
            run,
            during_fault,
            unexpected,
            memory: memory_table(run),
        }
    }

    /// Logins whose outcome was not the expected one.
    pub fn unexpected(&self) -> usize {
        self.unexpected.len()
    }

    /// Crash-pattern log lines, plus one if the postmaster changed or the server stopped
    /// answering.
    pub fn crashes(&self) -> usize {
        let lines: usize = self.run.crash_lines.iter().map(|c| c.count).sum();
        let (start, end) = self.run.postmaster_pids;
        let postmaster_lost = start.is_none() || start != end || !self.run.serving_at_end;
        lines + usize::from(postmaster_lost)
    }

    /// Logins per second over the run.
    pub fn rate(&self) -> f64 {
        self.run.logins.len() as f64 / self.run.options.duration.as_secs_f64()
    }

    /// Whether memory stayed flat by the [`MemoryRule`].
    pub fn memory_flat(&self) -> bool {
        self.memory.verdict.is_ok()
    }

    /// Why the run fails its acceptance; empty if it passes.
    pub fn failures(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.unexpected() > 0 {
            out.push(format!("{} unexpected outcomes", self.unexpected()));
        }
        if self.crashes() > 0 {
            out.push(format!("{} server crash signs", self.crashes()));
        }
        if self.run.internal_errors > 0 {
            out.push(format!(
                "{} validator internal errors in the server log",
                self.run.internal_errors
            ));
        }
        if self.rate() < self.run.options.min_rate {
            out.push(format!(
                "rate {:.1}/s below {:.1}/s",
                self.rate(),
                self.run.options.min_rate
            ));
        }
        if let Err(grew) = &self.memory.verdict {
            out.push(format!("memory not flat: {}", grew.join("; ")));
        }
        if self.run.token_leaks > 0 {
            out.push(format!(
                "{} server log lines hold token bytes",
                self.run.token_leaks
            ));
        }
        out
    }

    /// Whether the run passes: no unexpected outcome, no crash, no internal error of the
    /// validator, the rate reached, memory flat, no token in the log.
    pub fn passed(&self) -> bool {
        self.failures().is_empty()
    }

    /// The report as text.
    pub fn render(&self) -> String {
        let mut o = String::new();
        self.header(&mut o);
        self.phases(&mut o);
        self.kinds(&mut o);
        self.classes_per_phase(&mut o);
        self.unexpected_details(&mut o);
        self.crash_section(&mut o);
        self.memory_section(&mut o);
        self.provider_section(&mut o);
        self.log_section(&mut o);
        o
    }

    fn header(&self, o: &mut String) {
        let run = self.run;
        let opts = &run.options;
        let started = run
            .started_at
            .duration_since(UNIX_EPOCH)
            .map(|d| format_utc(d.as_secs()))
            .unwrap_or_default();
        let _ = writeln!(o, "pg_bearer soak report");
        let _ = writeln!(o, "=====================");
        let _ = writeln!(o, "started        {started}");
        let _ = writeln!(o, "server         {}", run.server_version);
        let _ = writeln!(
            o,
            "assertions     {}",
            if run.assertions {
                "on (debug_assertions)"
            } else {
                "OFF"
            }
        );
        let _ = writeln!(
            o,
            "machine        {} CPUs; load average {:.2} at the start, {:.2} at the end",
            run.machine.0, run.machine.1, run.machine.2
        );
        for (i, line) in run.settings.iter().enumerate() {
            let label = if i == 0 { "server config" } else { "" };
            let _ = writeln!(o, "{label:<15}{line}");
        }
        let _ = writeln!(o, "provider       {}", run.provider);
        let _ = writeln!(
            o,
            "schedule       {} s at {:.0} logins/s, {} client threads (libpq, one login each at a time)",
            opts.duration.as_secs(),
            opts.rate,
            opts.workers
        );
        let discovery = run.logins.iter().filter(|l| l.discovery_round).count();
        let _ = writeln!(
            o,
            "logins         {} = {:.1}/s (acceptance: >= {:.1}/s); {} with libpq's discovery round first; {} scheduled logins skipped (over {} s late)",
            run.logins.len(),
            self.rate(),
            opts.min_rate,
            discovery,
            run.skipped,
            super::MAX_LATE.as_secs()
        );
        let _ = writeln!(o, "unexpected     {}", self.unexpected());
        let _ = writeln!(o, "crashes        {}", self.crashes());
        let _ = writeln!(
            o,
            "memory         {}",
            if self.memory_flat() {
                "flat"
            } else {
                "NOT flat"
            }
        );
        let failures = self.failures();
        let _ = writeln!(
            o,
            "verdict        {}",
            if failures.is_empty() {
                "PASS".to_owned()
            } else {
                format!("FAIL: {}", failures.join("; "))
            }
        );
    }

    fn phases(&self, o: &mut String) {
        let run = self.run;
        let _ = writeln!(o, "\nPhases (a login belongs to the phase it started in)");
        let _ = writeln!(
            o,
            "  # phase           provider  from-to s  logins  rate/s  accepted  refused  errors  unexpected  p50 ms  p95 ms  max ms"
        );
        for (i, phase) in run.phases.iter().enumerate() {
            let logins: Vec<&LoginRecord> = run.logins.iter().filter(|l| l.phase == i).collect();
            let mut latencies: Vec<Duration> = logins.iter().map(|l| l.ended - l.started).collect();
            latencies.sort_unstable();
            let count =
                |f: &dyn Fn(&Outcome) -> bool| logins.iter().filter(|l| f(&l.outcome)).count();
            let unexpected = self
                .unexpected
                .iter()
                .filter(|(j, _)| run.logins[*j].phase == i)
                .count();
            let span = (phase.to - phase.from).as_secs_f64().max(0.001);
            let _ = writeln!(
                o,
                "  {} {:<15} {:<9} {:>4}-{:<4} {:>7} {:>7.1} {:>9} {:>8} {:>7} {:>11} {:>7} {:>7} {:>7}",
                i + 1,
                phase.name,
                phase.provider.name(),
                secs(phase.from),
                secs(phase.to),
                logins.len(),
                logins.len() as f64 / span,
                count(&|x| *x == Outcome::Accepted),
                count(&|x| *x == Outcome::Refused),
                count(&|x| matches!(x, Outcome::Error(_) | Outcome::WrongIdentity(_))),
                unexpected,
                percentile(&latencies, 0.5).as_millis(),
                percentile(&latencies, 0.95).as_millis(),
                latencies.last().copied().unwrap_or_default().as_millis(),
            );
        }
        let windows: Vec<String> = run
            .fault_windows
            .iter()
            .map(|(a, b)| format!("{:.1}-{:.1} s", a.as_secs_f64(), b.as_secs_f64()))
            .collect();
        let _ = writeln!(
            o,
            "  provider faults lasted {} (a login overlapping one counts as during a fault)",
            windows.join(", ")
        );
    }

    fn kinds(&self, o: &mut String) {
        let run = self.run;
        let _ = writeln!(o, "\nLogins by kind and outcome (whole run)");
        let _ = writeln!(
            o,
            "  kind                 expected                         logins  accepted  refused  errors  unexpected  | during faults: accepted  refused"
        );
        for (kind, _) in MIX {
            let rows: Vec<usize> = (0..run.logins.len())
                .filter(|&i| run.logins[i].kind == kind)
                .collect();
            let count = |f: &dyn Fn(usize) -> bool| rows.iter().filter(|&&i| f(i)).count();
            let outcome = |i: usize| &run.logins[i].outcome;
            let _ = writeln!(
                o,
                "  {:<20} {:<32} {:>6} {:>9} {:>8} {:>7} {:>11}  | {:>23} {:>8}",
                kind.name(),
                expectation(kind),
                rows.len(),
                count(&|i| *outcome(i) == Outcome::Accepted),
                count(&|i| *outcome(i) == Outcome::Refused),
                count(&|i| matches!(outcome(i), Outcome::Error(_) | Outcome::WrongIdentity(_))),
                self.unexpected
                    .iter()
                    .filter(|(j, _)| run.logins[*j].kind == kind)
                    .count(),
                count(&|i| self.during_fault[i] && *outcome(i) == Outcome::Accepted),
                count(&|i| self.during_fault[i] && *outcome(i) == Outcome::Refused),
            );
        }
    }

    fn classes_per_phase(&self, o: &mut String) {
        let run = self.run;
        let _ = writeln!(o, "\nAccepted / refused by class and phase");
        let mut head = String::from("  # phase          ");
        for class in Class::ALL {
            let _ = write!(head, " {:>17}", class.name());
        }
        let _ = writeln!(o, "{head}");
        for (i, phase) in run.phases.iter().enumerate() {
            let mut line = format!("  {} {:<15}", i + 1, phase.name);
            for class in Class::ALL {
                let of = |want: Outcome| {
                    run.logins
                        .iter()
                        .filter(|l| l.phase == i && l.kind.class() == class && l.outcome == want)
                        .count()
                };
                let _ = write!(
                    line,
                    " {:>17}",
                    format!("{} / {}", of(Outcome::Accepted), of(Outcome::Refused))
                );
            }
            let _ = writeln!(o, "{line}");
        }
    }

    fn unexpected_details(&self, o: &mut String) {
        let run = self.run;
        let _ = writeln!(o, "\nUnexpected outcomes: {}", self.unexpected());
        for (i, why) in self.unexpected.iter().take(20) {
            let l = &run.logins[*i];
            let outcome = match &l.outcome {
                Outcome::Accepted => "accepted".to_owned(),
                Outcome::Refused => "refused".to_owned(),
                Outcome::WrongIdentity(who) => format!("accepted as {who}"),
                Outcome::Error(e) => format!("error: {}", e.replace('\n', " | ")),
            };
            let _ = writeln!(
                o,
                "  t={:.1}s phase {} ({}) kind '{}'{}: {} -- {}",
                l.started.as_secs_f64(),
                l.phase + 1,
                run.phases.get(l.phase).map_or("?", |p| p.name),
                l.kind.name(),
                if l.discovery_round {
                    " (discovery round)"
                } else {
                    ""
                },
                why,
                outcome
            );
        }
        if self.unexpected() > 20 {
            let _ = writeln!(o, "  ... and {} more", self.unexpected() - 20);
        }
    }

    fn crash_section(&self, o: &mut String) {
        let run = self.run;
        let _ = writeln!(o, "\nServer crashes: {}", self.crashes());
        let _ = writeln!(
            o,
            "  log lines matching {}: {}",
            super::CRASH_PATTERNS
                .iter()
                .map(|p| format!("\"{p}\""))
                .collect::<Vec<_>>()
                .join(", "),
            run.crash_lines.iter().map(|c| c.count).sum::<usize>()
        );
        for c in &run.crash_lines {
            let _ = writeln!(o, "    \"{}\": {}, first: {}", c.pattern, c.count, c.first);
        }
        let _ = writeln!(
            o,
            "  validator internal errors (log lines matching {}): {}",
            super::INTERNAL_ERROR_PATTERNS
                .iter()
                .map(|p| format!("\"{p}\""))
                .collect::<Vec<_>>()
                .join(", "),
            run.internal_errors
        );
        let pid = |p: Option<u32>| p.map_or("unknown".to_owned(), |p| p.to_string());
        let _ = writeln!(
            o,
            "  postmaster PID at start {}, at end {}; server answered a query at the end: {}",
            pid(run.postmaster_pids.0),
            pid(run.postmaster_pids.1),
            if run.serving_at_end { "yes" } else { "NO" }
        );
    }

    fn memory_section(&self, o: &mut String) {
        let run = self.run;
        let m = &self.memory;
        let _ = writeln!(
            o,
            "\nMemory, MiB (median per {} s window; postmaster every {} s, a backend right after its login every {} s or so)",
            m.window.as_secs(),
            run.options.sample_every.as_secs(),
            run.options.backend_sample_every.as_secs()
        );
        let windows = m.series.first().map_or(0, |s| s.medians.len());
        let mut head = String::from("  window      ");
        for s in &m.series {
            let _ = write!(head, " {:>13}", s.name);
        }
        let _ = writeln!(o, "{head}");
        for w in 0..windows {
            let from = m.window * w as u32;
            let mut line = format!(
                "  {:>4}-{:<4}s ",
                secs(from),
                secs((from + m.window).min(run.options.duration))
            );
            for s in &m.series {
                let cell = match s.medians[w] {
                    None => "-".to_owned(),
                    Some(n) if s.count => n.to_string(),
                    Some(kib) => mib(kib),
                };
                let _ = write!(line, " {cell:>13}");
            }
            let _ = writeln!(o, "{line}");
        }
        let judged: Vec<&str> = m
            .series
            .iter()
            .filter(|s| s.judged)
            .map(|s| s.name)
            .collect();
        let rule = run.options.memory_rule;
        let _ = writeln!(
            o,
            "  rule: flat if, for {}, the last window's median <= window 2's median + max({:.0} %, {} KiB)",
            judged.join(", "),
            rule.percent,
            rule.kib
        );
        let _ = writeln!(
            o,
            "  verdict: {}",
            match &m.verdict {
                Ok(()) => "flat".to_owned(),
                Err(grew) => format!("NOT flat: {}", grew.join("; ")),
            }
        );
        let peak_backends = run
            .server_samples
            .iter()
            .map(|s| s.client_backends)
            .max()
            .unwrap_or(0);
        let peak_processes = run
            .server_samples
            .iter()
            .map(|s| s.processes)
            .max()
            .unwrap_or(0);
        let _ = writeln!(
            o,
            "  peak client backends {peak_backends} (max_connections 100), peak server processes {peak_processes}; {} server samples, {} backend samples",
            run.server_samples.len(),
            run.backend_samples.len()
        );
    }

    fn provider_section(&self, o: &mut String) {
        let run = self.run;
        let _ = writeln!(
            o,
            "\nProvider requests (by the server; counted when the request head is read)"
        );
        let mut head = format!("  {:<27}", "endpoint");
        for (i, _) in run.phases.iter().enumerate() {
            let _ = write!(head, " {:>9}", format!("phase {}", i + 1));
        }
        let _ = write!(head, " {:>9}", "total");
        let _ = writeln!(o, "{head}");
        let row = |name: &str, f: &dyn Fn(&super::ProviderCounts) -> u64| {
            let mut line = format!("  {name:<27}");
            let mut total = 0;
            for p in &run.provider_per_phase {
                let v = f(p);
                total += v;
                let _ = write!(line, " {v:>9}");
            }
            let _ = write!(line, " {total:>9}");
            line
        };
        for (i, (_, name)) in ENDPOINTS.iter().enumerate() {
            let _ = writeln!(o, "{}", row(name, &|p| p.endpoints[i]));
        }
        let _ = writeln!(o, "{}", row("all requests", &|p| p.total));
        let _ = writeln!(o, "{}", row("TCP connections", &|p| p.connections));
    }

    fn log_section(&self, o: &mut String) {
        let run = self.run;
        let _ = writeln!(
            o,
            "\nServer log: {:.1} MiB; pg_bearer lines by reason",
            run.log_bytes as f64 / 1024.0 / 1024.0
        );
        let mut by_count: Vec<(&String, &u64)> = run.log_reasons.iter().collect();
        by_count.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        for (reason, n) in by_count {
            let _ = writeln!(o, "  {n:>7}  {reason}");
        }
        let _ = writeln!(
            o,
            "  token bytes in the log: {} lines hold 8 consecutive bytes of one of {} tokens checked (every 20th presented)",
            run.token_leaks, run.tokens_checked
        );
    }
}

/// What a kind must lead to, for the table.
fn expectation(kind: Kind) -> &'static str {
    match kind.class() {
        Class::ValidJwt => "accepted, always",
        Class::InvalidJwt | Class::InvalidOpaque => "refused, always",
        Class::ValidOpaque => "accepted; refusal ok in a fault",
    }
}

fn memory_table(run: &SoakRun) -> MemoryTable {
    let d = run.options.duration;
    let window = if d >= Duration::from_secs(180) {
        Duration::from_secs(60)
    } else {
        (d / 5).max(Duration::from_secs(1))
    };
    let windows = d.as_secs_f64() / window.as_secs_f64();
    let windows = (windows.ceil() as usize).max(1);
    let index =
        |at: Duration| ((at.as_secs_f64() / window.as_secs_f64()) as usize).min(windows - 1);
    let per_window = |values: Vec<(Duration, u64)>| {
        let mut buckets: Vec<Vec<u64>> = vec![Vec::new(); windows];
        for (at, v) in values {
            buckets[index(at)].push(v);
        }
        buckets.into_iter().map(median).collect::<Vec<_>>()
    };
    let server = |f: &dyn Fn(&super::ServerSample) -> u64| {
        per_window(run.server_samples.iter().map(|s| (s.at, f(s))).collect())
    };
    let backend = |f: &dyn Fn(&super::BackendSample) -> u64| {
        per_window(run.backend_samples.iter().map(|s| (s.at, f(s))).collect())
    };
    let series = vec![
        Series {
            name: "pm VmRSS",
            judged: true,
            count: false,
            medians: server(&|s| s.postmaster_vm_rss_kib),
        },
        Series {
            name: "pm anon",
            judged: true,
            count: false,
            medians: server(&|s| s.postmaster.anon_kib),
        },
        Series {
            name: "be RSS",
            judged: true,
            count: false,
            medians: backend(&|s| s.rollup.rss_kib),
        },
        Series {
            name: "be PSS",
            judged: false,
            count: false,
            medians: backend(&|s| s.rollup.pss_kib),
        },
        Series {
            name: "be anon",
            judged: true,
            count: false,
            medians: backend(&|s| s.rollup.anon_kib),
        },
        Series {
            name: "be contexts",
            judged: true,
            count: false,
            medians: backend(&|s| s.contexts_bytes / 1024),
        },
        Series {
            name: "be DSM",
            judged: true,
            count: false,
            medians: backend(&|s| s.dsm.1),
        },
        Series {
            name: "all PSS",
            judged: false,
            count: false,
            medians: server(&|s| s.total_pss_kib),
        },
        Series {
            name: "processes",
            judged: false,
            count: true,
            medians: server(&|s| s.processes as u64),
        },
    ];
    let rule = run.options.memory_rule;
    let mut grew = Vec::new();
    if windows < 3 {
        grew.push("too few windows to judge".to_owned());
    }
    for s in series.iter().filter(|s| s.judged) {
        let (Some(Some(reference)), Some(Some(last))) = (s.medians.get(1), s.medians.last()) else {
            grew.push(format!("{}: no samples in window 2 or the last", s.name));
            continue;
        };
        let allowed = ((*reference as f64 * rule.percent / 100.0) as u64).max(rule.kib);
        if *last > reference + allowed {
            grew.push(format!(
                "{}: {} -> {} MiB (allowed +{} MiB)",
                s.name,
                mib(*reference),
                mib(*last),
                mib(allowed)
            ));
        }
    }
    MemoryTable {
        window,
        series,
        verdict: if windows >= 3 && grew.is_empty() {
            Ok(())
        } else {
            Err(grew)
        },
    }
}

/// `YYYY-MM-DD HH:MM:SS UTC` from Unix seconds (civil-from-days, proleptic Gregorian).
fn format_utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates_are_civil_dates() {
        assert_eq!(format_utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(format_utc(1_767_225_599), "2025-12-31 23:59:59 UTC");
    }

    #[test]
    fn medians_and_percentiles_pick_middle_and_rank() {
        assert_eq!(median(vec![]), None);
        assert_eq!(median(vec![5, 1, 3]), Some(3));
        let ms: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&ms, 0.5), Duration::from_millis(51));
        assert_eq!(percentile(&ms, 0.95), Duration::from_millis(95));
    }
}
