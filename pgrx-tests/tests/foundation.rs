//! The foundation: the library loads through `oauth_validator_libraries` in a real
//! PostgreSQL 18, answers through the PG18 validator ABI, refuses tokens it cannot verify
//! (not configured, issuer unreachable) with the generic client error, logs a reason without
//! any part of the token, and leaves the server serving other logins.

use pg_bearer_e2e::cluster::{Cluster, ClusterConfig};
use pg_bearer_e2e::libpq::Session;
use pg_bearer_e2e::logscan::leaked_window;

const ISSUER: &str = "https://issuer.pg-bearer.test/realms/main";
/// Shaped like a JWT access token; nothing can verify it.
const TOKEN: &str = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIiwidHlwIjoiYXQrand0In0.eyJpc3MiOiJodHRwczovL2lzc3Vlci5wZy1iZWFyZXIudGVzdC9yZWFsbXMvbWFpbiIsInN1YiI6ImFsaWNlIn0.bm90LWEtcmVhbC1zaWduYXR1cmUtYnV0LWxvbmctZW5vdWdoLXRvLWxvb2stbGlrZS1vbmU";
const GENERIC_ERROR: &str = "OAuth bearer authentication failed for user \"alice\"";

fn well_known() -> String {
    format!("{ISSUER}/.well-known/openid-configuration")
}

fn oauth_hba(options: &str) -> String {
    format!(
        "host all all 127.0.0.1/32 oauth issuer=\"{ISSUER}\" scope=\"openid postgres\" {options}"
    )
}

fn cluster(preload: bool, conf: &[&str], hba_options: &str) -> Cluster {
    let cluster = Cluster::start(&ClusterConfig {
        hba: vec![oauth_hba(hba_options)],
        conf: conf.iter().map(|s| s.to_string()).collect(),
        preload,
        ..Default::default()
    });
    cluster
        .superuser()
        .query("CREATE ROLE alice LOGIN")
        .expect("create role");
    cluster
}

/// Logs in as alice with the token; returns the client's error.
fn refused_login(cluster: &Cluster, oauth_issuer: &str) -> String {
    let (result, token_requests) =
        Session::connect_counted(&cluster.oauth_conninfo("alice", oauth_issuer), Some(TOKEN));
    assert_eq!(
        token_requests, 1,
        "libpq should have asked for the token once"
    );
    match result {
        Ok(_) => panic!("a token nothing can verify logged in\n{}", cluster.log()),
        Err(e) => e,
    }
}

fn assert_clean_log(cluster: &Cluster) {
    let log = cluster.log();
    if let Some(at) = leaked_window(&log, TOKEN, 8) {
        panic!("the server log holds token bytes {at}..{}:\n{log}", at + 8);
    }
    assert!(
        !log.contains("PANIC") && !log.contains("TRAP"),
        "server trouble:\n{log}"
    );
}

#[test]
fn unconfigured_module_refuses_the_token_and_the_server_keeps_serving() {
    let cluster = cluster(false, &[], "");
    let error = refused_login(&cluster, &well_known());
    assert!(error.contains(GENERIC_ERROR), "client error: {error}");
    assert!(
        !error.contains("pg_bearer"),
        "the client learnt why: {error}"
    );

    let log = cluster.log();
    assert!(
        log.contains("pg_bearer: token rejected: reason=not_configured"),
        "{log}"
    );
    assert!(log.contains(&format!("issuer=\"{ISSUER}\"")), "{log}");

    let admin = cluster.superuser();
    assert_eq!(
        admin.query_one("SHOW shared_preload_libraries").unwrap(),
        Some(String::new())
    );
    assert_eq!(admin.query_one("SELECT 1").unwrap(), Some("1".into()));
    assert_clean_log(&cluster);
}

#[test]
fn token_after_libpq_discovery_round_is_refused_the_same_way() {
    // An issuer identifier (not a well-known URI) makes libpq open a first connection to
    // learn the discovery URI from the server, then a second one with the token.
    let cluster = cluster(false, &[], "");
    let error = refused_login(&cluster, ISSUER);
    assert!(error.contains(GENERIC_ERROR), "client error: {error}");
    let log = cluster.log();
    assert_eq!(log.matches("pg_bearer: token rejected").count(), 1, "{log}");
    assert_clean_log(&cluster);
}

#[test]
fn unreachable_issuer_fails_closed_with_a_logged_reason() {
    let cluster = cluster(
        false,
        &[
            "pg_bearer.audience = 'postgres-db'",
            "pg_bearer.http_timeout = 2s",
        ],
        "",
    );
    let error = refused_login(&cluster, &well_known());
    assert!(error.contains(GENERIC_ERROR), "client error: {error}");
    assert!(
        cluster.log().contains("reason=discovery_failed"),
        "{}",
        cluster.log()
    );
    assert_clean_log(&cluster);
}

#[test]
fn preloaded_library_refuses_the_same_way() {
    let cluster = cluster(true, &[], "");
    let admin = cluster.superuser();
    assert_eq!(
        admin.query_one("SHOW shared_preload_libraries").unwrap(),
        Some("pg_bearer".into())
    );
    let error = refused_login(&cluster, &well_known());
    assert!(error.contains(GENERIC_ERROR), "client error: {error}");
    assert!(
        cluster.log().contains("reason=not_configured"),
        "{}",
        cluster.log()
    );
    assert_clean_log(&cluster);
}

#[test]
fn delegated_ident_mapping_line_refuses_the_same_way() {
    let cluster = cluster(
        false,
        &[
            "pg_bearer.audience = 'postgres-db'",
            "pg_bearer.http_timeout = 2s",
        ],
        "delegate_ident_mapping=1",
    );
    let error = refused_login(&cluster, &well_known());
    assert!(error.contains(GENERIC_ERROR), "client error: {error}");
    assert!(
        cluster.log().contains("pg_bearer: token rejected"),
        "{}",
        cluster.log()
    );
    assert_clean_log(&cluster);
}

#[test]
fn every_refusal_shows_the_client_the_same_error() {
    let unconfigured = cluster(false, &[], "");
    let configured = cluster(
        false,
        &[
            "pg_bearer.audience = 'postgres-db'",
            "pg_bearer.http_timeout = 2s",
        ],
        "",
    );
    let a = refused_login(&unconfigured, &well_known());
    let b = refused_login(&configured, &well_known());
    // libpq prefixes the server's message with the address, which differs per cluster.
    let server_part = |e: &str| e.split_once(" failed: ").map(|(_, m)| m.to_owned());
    assert_eq!(server_part(&a), Some(format!("FATAL:  {GENERIC_ERROR}")));
    assert_eq!(server_part(&a), server_part(&b));
}

#[test]
fn reload_applies_settings_to_the_next_login() {
    let mut config = ClusterConfig {
        hba: vec![oauth_hba("")],
        ..Default::default()
    };
    let cluster = Cluster::start(&config);
    cluster
        .superuser()
        .query("CREATE ROLE alice LOGIN")
        .unwrap();
    refused_login(&cluster, &well_known());
    assert!(cluster.log().contains("reason=not_configured"));

    config
        .conf
        .push("pg_bearer.audience = 'postgres-db'".into());
    cluster.reconfigure(&config);
    refused_login(&cluster, &well_known());
    assert!(
        cluster.log().contains("reason=discovery_failed"),
        "{}",
        cluster.log()
    );
    assert_clean_log(&cluster);
}

#[test]
fn misspelt_setting_under_the_reserved_prefix_is_reported() {
    let cluster = cluster(true, &["pg_bearer.audiense = 'postgres-db'"], "");
    let log = cluster.log();
    assert!(
        log.contains("invalid configuration parameter name \"pg_bearer.audiense\""),
        "{log}"
    );
}

#[test]
fn non_oauth_logins_are_untouched_by_the_module() {
    let cluster = cluster(false, &[], "");
    for _ in 0..3 {
        let admin = cluster.superuser();
        assert_eq!(
            admin.query_one("SELECT current_user").unwrap(),
            Some("postgres".into())
        );
    }
    assert!(!cluster.log().contains("pg_bearer:"), "{}", cluster.log());
}
