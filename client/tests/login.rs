//! The client as users run it: a real PostgreSQL 18 with pg_bearer, the real OpenID provider
//! (npm oidc-provider), and PostgreSQL 18's own psql run through `pg_bearer_client exec`, the
//! token handed to libpq by `PQsetAuthDataHook`.

mod common;

use std::path::Path;
use std::process::Output;

use common::{client, one_line_failure, printed};
use pg_bearer_e2e::cluster::{Cluster, ClusterConfig};
use pg_bearer_e2e::oidc::{OidcOptions, OidcProvider, AUDIENCE, SERVICE_SECRET, SERVICE_SUB};
use pg_bearer_e2e::tokens::tamper_signature;

struct Setup {
    idp: OidcProvider,
    cluster: Cluster,
    cache: std::path::PathBuf,
}

impl Setup {
    fn start(name: &str) -> Setup {
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
        let cache = idp.dir().join(format!("cache-{name}"));
        Setup {
            idp,
            cluster,
            cache,
        }
    }

    fn ca(&self) -> String {
        self.idp.ca_pem_path().display().to_string()
    }

    /// `pg_bearer_client exec SOURCE... -- psql CONNINFO -XAtc 'SELECT system_user'`.
    fn psql<S: AsRef<std::ffi::OsStr>>(&self, source: &[S], secret: Option<&str>) -> Output {
        let conninfo = self.cluster.oauth_conninfo(SERVICE_SUB, self.idp.issuer());
        let mut command = client(&self.cache);
        command
            .arg("exec")
            .args(source)
            .arg("--")
            .arg(Path::new(pg_bearer_e2e::BINDIR).join("psql"))
            .args([&conninfo, "-XAtc", "SELECT system_user"]);
        if let Some(secret) = secret {
            command.env("PG_BEARER_CLIENT_SECRET", secret);
        }
        command.output().expect("run pg_bearer_client exec")
    }
}

fn logged_in_as_service(out: &Output) {
    assert!(out.status.success(), "{}", printed(out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("oauth:{SERVICE_SUB}"),
        "{}",
        printed(out)
    );
}

#[test]
fn exec_logs_psql_in_with_a_client_credentials_token() {
    let s = Setup::start("grant");
    let ca = s.ca();
    // The grant's options, with the issuer given as `issuer` and the secret's own options.
    let grant = |issuer: &str, secret: &[&str]| -> Vec<String> {
        ["--client-credentials", SERVICE_SUB, "--scope", "postgres"]
            .iter()
            .chain(["--issuer", issuer, "--ca-file", &ca].iter())
            .chain(secret)
            .map(|a| a.to_string())
            .collect()
    };
    let issuer = s.idp.issuer().to_owned();
    let out = s.psql(&grant(&issuer, &[]), Some(SERVICE_SECRET));
    logged_in_as_service(&out);
    assert!(!printed(&out).contains(SERVICE_SECRET));

    // The secret from a file, the issuer as its well-known URI.
    let secret_file = s.idp.dir().join("service.secret");
    std::fs::write(&secret_file, format!("{SERVICE_SECRET}\n")).expect("write the secret");
    let secret_path = secret_file.display().to_string();
    let from_file = grant(&s.idp.well_known(), &["--client-secret-file", &secret_path]);
    logged_in_as_service(&s.psql(&from_file, None));

    // A wrong secret: the provider's refusal, and psql never runs.
    let out = s.psql(&grant(&issuer, &[]), Some("not-the-secret"));
    let (line, code) = one_line_failure(&out);
    assert_eq!(code, 6, "{line}");
    assert!(line.contains("invalid_client"), "{line}");
    assert!(!line.contains("not-the-secret"));
    s.cluster
        .assert_log_clean_of([SERVICE_SECRET, "not-the-secret"]);
}

#[test]
fn exec_logs_psql_in_with_a_token_command() {
    let s = Setup::start("command");
    let token = s.idp.client_credentials(SERVICE_SUB, SERVICE_SECRET);
    let file = s.idp.dir().join("token.json");
    // As cloud CLIs print it: JSON with the token in accessToken.
    std::fs::write(
        &file,
        format!(r#"{{"accessToken": "{token}", "expiresOn": "later"}}"#),
    )
    .expect("write");
    let command = format!("cat '{}'", file.display());
    let out = s.psql(&["--token-command", &command], None);
    logged_in_as_service(&out);
    assert!(!String::from_utf8_lossy(&out.stderr).contains(&token[..20]));

    // `token` prints the same token for scripts, and `exec --token` takes it back.
    let out = client(&s.cache)
        .args(["token", "--token-command", &command])
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", printed(&out));
    let printed_token = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert_eq!(printed_token, token);
    let out = s.psql(&["--token", &printed_token], None);
    logged_in_as_service(&out);
}

#[test]
fn exec_rereads_a_token_file_at_every_login() {
    let s = Setup::start("file");
    let token = s.idp.client_credentials(SERVICE_SUB, SERVICE_SECRET);
    let file = s.idp.dir().join("token");
    std::fs::write(&file, &token).expect("write");
    let conninfo = s.cluster.oauth_conninfo(SERVICE_SUB, s.idp.issuer());
    let psql = Path::new(pg_bearer_e2e::BINDIR).join("psql");
    // One exec, two logins; between them the file is rewritten in place (as the kubelet
    // rotates a projected token), here with a token whose signature is broken.
    let script = format!(
        "'{psql}' '{conninfo}' -XAtc 'SELECT system_user' && \
         printf %s \"$TAMPERED\" > '{file}' && \
         '{psql}' '{conninfo}' -XAtc 'SELECT system_user'",
        psql = psql.display(),
        file = file.display()
    );
    let out = client(&s.cache)
        .args(["exec", "--token-file"])
        .arg(&file)
        .args(["--", "sh", "-c", &script])
        .env("TAMPERED", tamper_signature(&token))
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.trim(),
        format!("oauth:{SERVICE_SUB}"),
        "{}",
        printed(&out)
    );
    assert!(
        !out.status.success(),
        "the second login used the rewritten file"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("OAuth bearer authentication failed"),
        "{}",
        printed(&out)
    );
}

#[test]
fn exec_hands_the_token_only_to_servers_of_the_named_issuer() {
    let s = Setup::start("issuer");
    let token = s.idp.client_credentials(SERVICE_SUB, SERVICE_SECRET);
    let log_offset = s.cluster.log().len();
    // The server names the fixture's issuer; the token is said to be for another one.
    let out = s.psql(
        &[
            "--token",
            &token,
            "--issuer",
            "https://other-idp.example.com/realms/x",
        ],
        None,
    );
    assert!(!out.status.success(), "{}", printed(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("asks for a token of another issuer"),
        "{}",
        printed(&out)
    );
    // The server saw no token at all: pg_bearer validated nothing.
    let log = s.cluster.log();
    assert!(
        !log[log_offset..].contains("pg_bearer: token rejected"),
        "{}",
        &log[log_offset..]
    );
    // Named right, the same token logs in.
    let issuer = s.idp.issuer().to_owned();
    let out = s.psql(&["--token", &token, "--issuer", &issuer], None);
    logged_in_as_service(&out);
}

#[test]
fn psql_children_see_neither_the_token_nor_the_shim() {
    let s = Setup::start("children");
    let token = s.idp.client_credentials(SERVICE_SUB, SERVICE_SECRET);
    let conninfo = s.cluster.oauth_conninfo(SERVICE_SUB, s.idp.issuer());
    let out = client(&s.cache)
        .args(["exec", "--token-env", "SVC_TOKEN", "--"])
        .arg(Path::new(pg_bearer_e2e::BINDIR).join("psql"))
        .args([
            &conninfo,
            "-XAt",
            "-c",
            "SELECT system_user",
            "-c",
            "\\! env | grep -E '^(LD_PRELOAD=|PG_BEARER_SHIM_|PG_BEARER_TOKEN=|SVC_TOKEN=)' || echo clean",
        ])
        .env("SVC_TOKEN", &token)
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", printed(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        [format!("oauth:{SERVICE_SUB}").as_str(), "clean"],
        "{stdout}"
    );
}
