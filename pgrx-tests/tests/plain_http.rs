//! Plain HTTP to the provider: only the test build's `pg_bearer.allow_http` permits it. The
//! suite's library is built with the Cargo feature `testing`, which alone has the setting;
//! release builds refuse plain HTTP with no way to allow it (src/gucs.rs tests). A binary of its
//! own because the client needs PGOAUTHDEBUG=UNSAFE in its environment.

use pg_bearer_e2e::cluster::{Cluster, ClusterConfig};
use pg_bearer_e2e::libpq::Session;
use pg_bearer_e2e::provider::{Alg, MockProvider, ProviderOptions, TlsMode};
use serde_json::json;

const AUDIENCE: &str = "postgres-db";

#[test]
fn a_plain_http_provider_needs_the_test_builds_allow_http() {
    // libpq itself refuses an http:// discovery URI unless PGOAUTHDEBUG=UNSAFE. Set before any
    // other thread of this binary exists (it holds this one test), so no C getenv races it.
    std::env::set_var("PGOAUTHDEBUG", "UNSAFE");
    let idp = MockProvider::start(ProviderOptions {
        tls: TlsMode::PlainHttp,
        ..Default::default()
    });
    assert!(idp.issuer().starts_with("http://"));
    let mut config = ClusterConfig {
        hba: vec![format!(
            "host all all 127.0.0.1/32 oauth issuer=\"{}\" scope=\"openid postgres\"",
            idp.issuer()
        )],
        conf: vec![format!("pg_bearer.audience = '{AUDIENCE}'")],
        preload: true,
        ..Default::default()
    };
    let cluster = Cluster::start(&config);
    cluster
        .superuser()
        .query("CREATE ROLE alice LOGIN")
        .unwrap();
    let m = idp.minter();
    let token = m.mint(
        Alg::Rs256,
        &m.claims(AUDIENCE, "alice", "openid postgres"),
        &json!({}),
    );
    let login = || {
        Session::connect(
            &cluster.oauth_conninfo("alice", &idp.well_known()),
            Some(&token),
        )
    };
    cluster.assert_refused_with("alice", "not_configured", login);
    assert_eq!(idp.count_total(), 0);
    config.conf.push("pg_bearer.allow_http = on".into());
    cluster.reconfigure(&config);
    let session = login().unwrap_or_else(|e| panic!("{e}\n{}", cluster.log()));
    assert_eq!(
        session.query_one("SELECT system_user").unwrap().as_deref(),
        Some("oauth:alice")
    );
    assert!(cluster
        .log()
        .contains("pg_bearer.allow_http is on: fetching over plain HTTP"));
    cluster.assert_log_clean_of([token.as_str()]);
}
