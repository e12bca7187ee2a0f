//! `pg_bearer_demo`: starts a throwaway PostgreSQL 18 with pg_bearer as its OAuth validator,
//! shows what a client and the server log see, and removes the cluster on exit.
//!
//! Run through `scripts/demo.sh`, which sets up and installs everything first.

use pg_bearer_e2e::cluster::{Cluster, ClusterConfig};
use pg_bearer_e2e::libpq::Session;

const ISSUER: &str = "https://issuer.pg-bearer.demo/realms/main";

fn main() {
    let hba =
        format!("host all all 127.0.0.1/32 oauth issuer=\"{ISSUER}\" scope=\"openid postgres\"");
    println!("Starting PostgreSQL 18 with:\n  postgresql.conf: oauth_validator_libraries = 'pg_bearer'\n  pg_hba.conf:     {hba}\n");
    let cluster = Cluster::start(&ClusterConfig {
        hba: vec![hba],
        conf: vec!["pg_bearer.audience = 'postgres-db'".into()],
        ..Default::default()
    });
    let admin = cluster.superuser();
    let version = admin
        .query_one("SHOW server_version")
        .ok()
        .flatten()
        .unwrap_or_default();
    println!("PostgreSQL {version} is up on 127.0.0.1:{}", cluster.port());
    admin
        .query("CREATE ROLE alice LOGIN")
        .expect("create role alice");

    let conninfo = cluster.oauth_conninfo(
        "alice",
        &format!("{ISSUER}/.well-known/openid-configuration"),
    );
    println!("\nA client presents a bearer token:\n  {conninfo}");
    let token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl";
    match Session::connect(&conninfo, Some(token)) {
        Ok(_) => println!("  -> logged in (unexpected: this build verifies no tokens)"),
        Err(e) => println!("  -> refused; the client sees only: {e}"),
    }
    println!("\nThe server log says why, without any part of the token:");
    for line in cluster
        .log()
        .lines()
        .filter(|l| l.contains("pg_bearer:") || l.contains("OAuth bearer"))
    {
        println!("  {line}");
    }
    println!(
        "\nThis build refuses every token (it fails closed): JWT verification is not wired in yet."
    );
    println!(
        "Server log: {} (removed when the demo exits)",
        cluster.log_path().display()
    );
}
