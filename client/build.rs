//! Builds `shim/pg_bearer_shim.c` into a shared object that `pg_bearer_client exec` preloads
//! into the command it runs. The bytes are embedded in the binary (src/exec.rs), so
//! `cargo install` installs one file. Needs only a C compiler, no PostgreSQL headers: the shim
//! declares the few libpq 18 types it uses and finds libpq's functions at run time.
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=shim/pg_bearer_shim.c");
    // The tests link the end-to-end harness, which links the libpq of the PostgreSQL 18 under
    // test (a dev-dependency, so its `links` metadata does not reach this script): they find
    // it through PG_CONFIG, as the harness does. The binary links no libpq, and without
    // PG_CONFIG (`cargo install` on a machine without PostgreSQL) nothing happens here.
    println!("cargo:rerun-if-env-changed=PG_CONFIG");
    if let Some(pg_config) = std::env::var_os("PG_CONFIG") {
        let libdir = std::process::Command::new(pg_config)
            .arg("--libdir")
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
        if let Some(libdir) = libdir {
            println!("cargo:rustc-link-arg-tests=-Wl,-rpath,{libdir}");
        }
    }
    let out =
        PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR")).join("pg_bearer_shim.so");
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if target_os != "linux" {
        // `exec` says it needs Linux (LD_PRELOAD); `token` works everywhere.
        std::fs::write(&out, b"").expect("write empty shim");
        return;
    }
    let compiler = cc::Build::new().get_compiler();
    let status = compiler
        .to_command()
        .args([
            "-shared", "-fPIC", "-O2", "-Wall", "-Wextra", "-Werror", "-o",
        ])
        .arg(&out)
        .arg("shim/pg_bearer_shim.c")
        .arg("-ldl")
        .status()
        .expect("run the C compiler");
    assert!(status.success(), "compiling shim/pg_bearer_shim.c failed");
}
