//! `pg_bearer_soak`: OAuth logins at a steady rate for minutes against a throwaway PostgreSQL
//! 18 with pg_bearer, while the mock provider hangs, goes down and is restarted; prints a
//! report (logins by outcome, unexpected outcomes, crashes, memory over time, provider
//! requests) and exits non-zero unless the run passes.
//!
//! ```text
//! pg_bearer_soak [--minutes N | --seconds N] [--rate R] [--min-rate R] [--workers W]
//!                [--report FILE] [--quiet]
//! ```
//! Defaults: 10 minutes at 60 logins/s, passing at 50/s or more. See the library (src/lib.rs)
//! for the phases and what each login must lead to. pg_bearer must be installed in the
//! PostgreSQL 18 the harness was built for (scripts/soak.sh does both).

use std::process::ExitCode;
use std::time::Duration;

use pg_bearer_soak::{self as soak, Report, SoakOptions};

const USAGE: &str = "\
usage: pg_bearer_soak [--minutes N | --seconds N] [--rate R] [--min-rate R] [--workers W]
                      [--report FILE] [--quiet]
  defaults: --minutes 10 --rate 60 --min-rate 50";

struct Args {
    options: SoakOptions,
    report: Option<String>,
}

fn parse(args: Vec<String>) -> Result<Args, String> {
    let mut duration = Duration::from_secs(600);
    let mut rate = 60.0;
    let mut min_rate = 50.0;
    let mut workers = None;
    let mut report = None;
    let mut progress = true;
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or(format!("{arg} needs a value"));
        let number = |v: String| {
            v.parse::<f64>()
                .ok()
                .filter(|n| n.is_finite() && *n > 0.0)
                .ok_or(format!("{arg}: not a positive number: {v}"))
        };
        match arg.as_str() {
            "--minutes" => duration = Duration::from_secs_f64(number(value()?)? * 60.0),
            "--seconds" => duration = Duration::from_secs_f64(number(value()?)?),
            "--rate" => rate = number(value()?)?,
            "--min-rate" => min_rate = number(value()?)?,
            "--workers" => workers = Some(number(value()?)? as usize),
            "--report" => report = Some(value()?),
            "--quiet" => progress = false,
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    let mut options = SoakOptions::new(duration, rate);
    options.min_rate = min_rate;
    if let Some(w) = workers {
        options.workers = w.max(1);
    }
    options.progress = progress;
    Ok(Args { options, report })
}

fn main() -> ExitCode {
    let args = match parse(std::env::args().skip(1).collect()) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("pg_bearer_soak: {e}");
            return ExitCode::from(2);
        }
    };
    let o = &args.options;
    eprintln!(
        "soak: {} s at {:.0} logins/s with {} client threads",
        o.duration.as_secs(),
        o.rate,
        o.workers
    );
    let run = soak::run(o);
    let report = Report::new(&run);
    let text = report.render();
    println!("{text}");
    if let Some(path) = &args.report {
        if let Err(e) = std::fs::write(path, &text) {
            eprintln!("pg_bearer_soak: write {path}: {e}");
            return ExitCode::FAILURE;
        }
        eprintln!("soak: report written to {path}");
    }
    if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
