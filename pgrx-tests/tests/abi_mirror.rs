//! The Rust mirror of `libpq/oauth.h` (src/ffi.rs) is checked against the real header by
//! `_Static_assert`s in csrc/hba.c, fed with the mirror's layout by build.rs. These tests run
//! that check directly: the true layout compiles, and every single-field change breaks the
//! compilation (so a changed mirror or a changed header fails the build, not a login).

#[allow(dead_code)]
#[path = "../../src/ffi.rs"]
mod ffi;

use std::path::PathBuf;
use std::process::Command;

fn include_dir() -> String {
    let pg_config = PathBuf::from(env!("PG_BEARER_E2E_BINDIR")).join("pg_config");
    let out = Command::new(pg_config)
        .arg("--includedir-server")
        .output()
        .expect("pg_config");
    String::from_utf8(out.stdout)
        .expect("utf-8 path")
        .trim()
        .to_owned()
}

/// Compiles csrc/hba.c (syntax and static assertions only) with these layout facts.
fn compiles(facts: &[(&str, usize)]) -> Result<(), String> {
    let source = concat!(env!("CARGO_MANIFEST_DIR"), "/../csrc/hba.c");
    let mut cc = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()));
    cc.args(["-fsyntax-only", "-I", &include_dir(), source]);
    for (name, value) in facts {
        cc.arg(format!("-D{name}={value}"));
    }
    let out = cc
        .output()
        .map_err(|e| format!("cannot run the C compiler: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[test]
fn the_mirror_matches_the_server_header() {
    compiles(&ffi::layout_facts()).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn every_changed_size_or_offset_fails_the_build() {
    let facts = ffi::layout_facts();
    for (i, (name, value)) in facts.iter().enumerate() {
        let mut changed = facts.clone();
        changed[i].1 = value + 4;
        let err = compiles(&changed).expect_err(name);
        assert!(
            err.contains("src/ffi.rs does not match libpq/oauth.h"),
            "{name}: {err}"
        );
    }
}
