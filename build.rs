//! Compiles `csrc/hba.c` and `csrc/expiry.c` against the PostgreSQL 18 server headers, passing
//! `hba.c` the layout of the Rust ABI mirror (`src/ffi.rs`) so that its static assertions compare
//! the two.

#[allow(dead_code)]
#[path = "src/ffi.rs"]
mod ffi;

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=csrc/hba.c");
    println!("cargo:rerun-if-changed=csrc/expiry.c");
    println!("cargo:rerun-if-changed=src/ffi.rs");
    println!("cargo:rerun-if-env-changed=PGRX_PG_CONFIG_PATH");

    let include = server_include_dir();
    let mut build = cc::Build::new();
    build
        .file("csrc/hba.c")
        .file("csrc/expiry.c")
        .include(&include)
        .warnings(true)
        .extra_warnings(false);
    for (name, value) in ffi::layout_facts() {
        build.define(name, value.to_string().as_str());
    }
    build.compile("pg_bearer_hba");
}

/// `pg_config --includedir-server` of the PostgreSQL 18 that pgrx builds against: the one named
/// by `PGRX_PG_CONFIG_PATH` (set by cargo-pgrx) or registered as `pg18` by `cargo pgrx init`.
fn server_include_dir() -> PathBuf {
    let pg18 = match std::env::var("PGRX_PG_CONFIG_PATH") {
        Ok(path) => pgrx_pg_config::PgConfig::new_with_defaults(PathBuf::from(path)),
        Err(_) => pgrx_pg_config::Pgrx::from_config()
            .and_then(|pgrx| pgrx.get("pg18"))
            .unwrap_or_else(|e| {
                panic!("pg_bearer: no PostgreSQL 18 registered with cargo pgrx (run scripts/setup.sh): {e}")
            }),
    };
    pg18.includedir_server()
        .unwrap_or_else(|e| panic!("pg_bearer: pg_config --includedir-server failed: {e}"))
}
