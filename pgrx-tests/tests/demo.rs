//! `pg_bearer_client`'s client_credentials path on its own: a secret file, a wrong secret, a
//! well-known issuer URI. (The demo that runs it, and the demo's tests, are in tools/demo.)

use std::process::{Command, Output};

use pg_bearer_e2e::cluster::{Cluster, ClusterConfig};
use pg_bearer_e2e::oidc::{OidcOptions, OidcProvider, AUDIENCE, SERVICE_SECRET, SERVICE_SUB};

const CLIENT: &str = env!("CARGO_BIN_EXE_pg_bearer_client");

#[test]
fn client_obtains_its_own_client_credentials_token() {
    let idp = OidcProvider::start(OidcOptions::default());
    let cluster = Cluster::start(&ClusterConfig {
        hba: vec![format!(
            "host all all 127.0.0.1/32 oauth issuer=\"{}\" scope=\"openid postgres\"",
            idp.issuer()
        )],
        conf: vec![
            format!("pg_bearer.audience = '{AUDIENCE}'"),
            format!("pg_bearer.ca_file = '{}'", idp.ca_pem_path().display()),
        ],
        ..Default::default()
    });
    cluster
        .superuser()
        .query(&format!("CREATE ROLE {SERVICE_SUB} LOGIN"))
        .expect("create role");
    let conninfo = cluster.oauth_conninfo(SERVICE_SUB, idp.issuer());
    let ca = idp.ca_pem_path().display().to_string();
    let client = |extra: &[&str], secret: Option<&str>| {
        let mut command = Command::new(CLIENT);
        command
            .args(["--client-credentials", SERVICE_SUB, "--scope", "postgres"])
            .args(["--ca-file", &ca])
            .args(extra)
            .arg(&conninfo)
            .env_remove("PG_BEARER_TOKEN")
            .env_remove("PG_BEARER_CLIENT_SECRET");
        if let Some(secret) = secret {
            command.env("PG_BEARER_CLIENT_SECRET", secret);
        }
        command.output().expect("run pg_bearer_client")
    };
    let text = |o: &Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    };

    // The secret from a file; the issuer from the conninfo's oauth_issuer.
    let secret_file = idp.dir().join("service.secret");
    std::fs::write(&secret_file, format!("{SERVICE_SECRET}\n")).expect("write the secret file");
    let secret_arg = secret_file.display().to_string();
    let out = client(&["--client-secret-file", &secret_arg, "-v"], None);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "oauth:service");
    assert!(String::from_utf8_lossy(&out.stderr).contains("token: <"));
    assert!(!text(&out).contains("eyJ"), "no token is printed");

    // The issuer given as its well-known URI; the secret from the environment.
    let out = client(&["--issuer", &idp.well_known()], Some(SERVICE_SECRET));
    assert!(out.status.success(), "{}", text(&out));

    // A wrong secret: the provider's refusal, and never the secret.
    let out = client(&[], Some("not-the-secret"));
    assert!(!out.status.success());
    assert!(text(&out).contains("invalid_client"), "{}", text(&out));
    assert!(!text(&out).contains("not-the-secret"));

    // Without the private CA the provider's certificate is not trusted.
    let out = Command::new(CLIENT)
        .args(["--client-credentials", SERVICE_SUB, "--scope", "postgres"])
        .arg(&conninfo)
        .env("PG_BEARER_CLIENT_SECRET", SERVICE_SECRET)
        .output()
        .expect("run pg_bearer_client");
    assert!(!out.status.success());
    assert!(text(&out).contains("discovery"), "{}", text(&out));
}
