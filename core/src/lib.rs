//! pg_bearer's decision logic, free of PostgreSQL, unsafe code and I/O.
//!
//! Everything that decides whether a bearer token is accepted lives here so that it can be
//! tested with plain `cargo test`: the token envelope, JWKS handling, claims policy, scopes,
//! identity and role mapping, discovery metadata, the key-cache state machine and the claims a
//! session keeps after login. Time is always passed in by the caller (`now`, seconds since the
//! Unix epoch); nothing here reads a clock, a file or the network.
#![forbid(unsafe_code)]

pub mod cache;
pub mod cache_file;
pub mod claims;
pub mod config;
pub mod discovery;
pub mod envelope;
pub mod freshness;
pub mod identity;
pub mod introspection;
pub mod json;
pub mod jwks;
pub mod pam;
pub mod policy;
pub mod reason;
pub mod request_budget;
pub mod result_cache;
pub mod scope;
pub mod session;
pub mod settings;
pub mod stats;
