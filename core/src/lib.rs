//! pg_bearer's decision logic, free of PostgreSQL, unsafe code and I/O.
//!
//! Everything that decides whether a bearer token is accepted lives here so that it can be
//! tested with plain `cargo test`: the token envelope, JWKS handling, claims policy, scopes,
//! identity and role mapping, discovery metadata and the key-cache state machine. Time is
//! always passed in by the caller (`now`, seconds since the Unix epoch); nothing here reads a
//! clock, a file or the network.
#![forbid(unsafe_code)]
