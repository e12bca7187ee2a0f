//! `pg_bearer_demo`: a throwaway PostgreSQL 18 with pg_bearer as its OAuth validator and a
//! built-in HTTPS test provider on loopback; shows a valid token logging in, a tampered one
//! refused, what the server log says, and what it cost the provider. Everything it starts is
//! removed when it exits.
//!
//! Run through `scripts/demo.sh`, which sets up and installs everything first.

use pg_bearer_e2e::cluster::{Cluster, ClusterConfig};
use pg_bearer_e2e::libpq::Session;
use pg_bearer_e2e::provider::{Alg, MockProvider, ProviderOptions};
use pg_bearer_e2e::tokens::tamper_signature;
use serde_json::json;

fn main() {
    let idp = MockProvider::start(ProviderOptions {
        issuer_path: "/realms/demo".into(),
        ..Default::default()
    });
    println!("Test provider (HTTPS, its own CA): {}", idp.issuer());

    let hba = format!(
        "host all all 127.0.0.1/32 oauth issuer=\"{}\" scope=\"openid postgres\"",
        idp.issuer()
    );
    let conf = vec![
        "pg_bearer.audience = 'postgres-db'".to_owned(),
        format!("pg_bearer.ca_file = '{}'", idp.ca_pem_path().display()),
    ];
    println!("\nStarting PostgreSQL 18 with:");
    println!("  postgresql.conf: oauth_validator_libraries = 'pg_bearer'");
    for line in &conf {
        println!("                   {line}");
    }
    println!("  pg_hba.conf:     {hba}");
    let cluster = Cluster::start(&ClusterConfig {
        hba: vec![hba],
        conf,
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

    let minter = idp.minter();
    let token = minter.mint(
        Alg::Es256,
        &minter.claims("postgres-db", "alice", "openid postgres"),
        &json!({}),
    );
    let conninfo = cluster.oauth_conninfo("alice", &idp.well_known());
    println!(
        "\n1. alice presents an ES256 access token (aud postgres-db, scope \"openid postgres\"):"
    );
    println!("   {conninfo}");
    match Session::connect(&conninfo, Some(&token)) {
        Ok(session) => {
            let who = session
                .query_one("SELECT system_user || ' as ' || current_user")
                .ok()
                .flatten()
                .unwrap_or_default();
            println!("   -> logged in: system_user, current_user = {who}");
        }
        Err(e) => println!("   -> refused (unexpected): {e}"),
    }

    println!("\n2. The same token with one signature bit flipped:");
    match Session::connect(&conninfo, Some(&tamper_signature(&token))) {
        Ok(_) => println!("   -> logged in (this must never happen)"),
        Err(e) => println!("   -> refused; the client sees only: {e}"),
    }

    println!("\nThe server log says why, without any part of the token:");
    for line in cluster.log().lines().filter(|l| l.contains("pg_bearer:")) {
        println!("  {line}");
    }
    println!(
        "\nProvider requests for both logins: {} discovery, {} JWKS (the keys sit in shared memory for every backend).",
        idp.count_discovery(),
        idp.count_jwks()
    );
    println!(
        "Server log: {} (removed when the demo exits)",
        cluster.log_path().display()
    );
}
