//! The soak command's logic in a short run (see src/lib.rs and scripts/soak.sh for the real
//! one): every phase (healthy, provider hanging, provider down and restarted) and every kind
//! of token, with no unexpected outcome, no crash and no internal error of the validator.
//! Speed and memory are the real run's business, not this test's.

use std::time::Duration;

use pg_bearer_soak::mix::Class;
use pg_bearer_soak::{self as soak, Report, SoakOptions};

#[test]
fn a_short_soak_through_a_hang_and_a_restart_has_no_unexpected_outcome_and_no_crash() {
    let mut options = SoakOptions::new(Duration::from_secs(25), 12.0);
    options.workers = 6;
    options.sample_every = Duration::from_secs(2);
    options.backend_sample_every = Duration::from_secs(1);
    let run = soak::run(&options);
    let report = Report::new(&run);
    let text = report.render();
    eprintln!("{text}");
    assert_eq!(report.unexpected(), 0, "{text}");
    assert_eq!(report.crashes(), 0, "{text}");
    assert_eq!(run.token_leaks, 0, "{text}");
    assert_eq!(run.internal_errors, 0, "{text}");
    for (i, phase) in run.phases.iter().enumerate() {
        assert!(
            run.logins.iter().any(|l| l.phase == i),
            "no login in phase {}",
            phase.name
        );
    }
    for class in Class::ALL {
        assert!(
            run.logins.iter().any(|l| l.kind.class() == class),
            "no {} login",
            class.name()
        );
    }
    assert_eq!(run.fault_windows.len(), 2, "a hang and an outage");
    assert!(!run.server_samples.is_empty() && !run.backend_samples.is_empty());
}
