//! Finds the libpq of the PostgreSQL 18 under test at run time, ahead of the system's. The
//! harness (pg_bearer_e2e) links it and names its directory (`links = "pq"`), but an rpath
//! is per binary: every binary that links the harness sets its own.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let libdir = std::env::var("DEP_PQ_LIBDIR")
        .expect("DEP_PQ_LIBDIR: pg_bearer_e2e's build script names its libpq directory");
    println!("cargo:rustc-link-arg=-Wl,-rpath,{libdir}");
}
