//! Links the test client against the libpq of the PostgreSQL 18 under test (not whatever
//! older libpq the system has): OAuth and `PQsetAuthDataHook` are new in 18.
//!
//! The link flags reach every crate that uses this library, but an rpath is per binary: the
//! tools (tools/*) link this libpq too and set their own rpath from `DEP_PQ_LIBDIR`, which
//! `links = "pq"` in Cargo.toml passes to their build scripts.

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=PG_CONFIG");
    println!("cargo:rerun-if-env-changed=PGRX_PG_CONFIG_PATH");
    let pg_config = std::env::var("PG_CONFIG")
        .or_else(|_| std::env::var("PGRX_PG_CONFIG_PATH"))
        .map(|p| pgrx_pg_config::PgConfig::new_with_defaults(PathBuf::from(p)))
        .or_else(|_| pgrx_pg_config::Pgrx::from_config().and_then(|p| p.get("pg18")))
        .unwrap_or_else(|e| panic!("no PostgreSQL 18 pg_config (run scripts/setup.sh): {e}"));
    let libdir = pg_config
        .lib_dir()
        .unwrap_or_else(|e| panic!("pg_config --libdir failed: {e}"));
    let libdir = libdir.display();
    println!("cargo:rustc-link-search=native={libdir}");
    println!("cargo:rustc-link-lib=dylib=pq");
    // Find this libpq at run time too, ahead of the system's.
    println!("cargo:rustc-link-arg=-Wl,-rpath,{libdir}");
    // For the build scripts of the crates that depend on this one (DEP_PQ_LIBDIR).
    println!("cargo:libdir={libdir}");
    let bindir = pg_config
        .bin_dir()
        .unwrap_or_else(|e| panic!("pg_config --bindir failed: {e}"));
    println!("cargo:rustc-env=PG_BEARER_E2E_BINDIR={}", bindir.display());
}
