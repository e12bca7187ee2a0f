//! End-to-end harness for pg_bearer: throwaway PostgreSQL 18 clusters with `oauth` pg_hba
//! lines ([`cluster`]) and a real libpq client that supplies bearer tokens ([`libpq`]).
//!
//! The library under test must be installed into the cluster's `pg_config --pkglibdir`
//! first (`cargo pgrx install`, done by scripts/test.sh).

pub mod cluster;
pub mod libpq;
pub mod logscan;
pub mod oidc;
pub mod pam;
pub mod provider;
pub mod suite;
pub mod tokens;

/// `pg_config --bindir` of the PostgreSQL 18 this harness was built against (build.rs), for
/// the tools that run its `psql`, `pg_ctl` or `pg_config`.
pub const BINDIR: &str = env!("PG_BEARER_E2E_BINDIR");
