//! pam_bearer.so, end to end: Debian's PostgreSQL 15 (and the PostgreSQL 18 under test, built
//! --with-pam) with a `pam pamservice=...` pg_hba line, real psql sending the token as
//! PGPASSWORD, the mock provider over HTTPS.
//!
//! Needs root (the service file goes into /etc/pam.d) and PG_BEARER_PAM_MODULE, the path of
//! the built module (scripts/test.sh builds it with the Cargo feature `testing`).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use pg_bearer_e2e::cluster::{Cluster, ClusterConfig};
use pg_bearer_e2e::provider::{Alg, Endpoint, Fault, MockProvider, ProviderOptions};
use pg_bearer_e2e::tokens::{self, Minter};
use serde_json::{json, Value};

const PG15: &str = "/usr/lib/postgresql/15/bin";
const AUD: &str = "db";

/// One PAM service with its module copy, configuration file and cache directory; the service
/// file is removed when dropped.
struct PamSetup {
    service: String,
    dir: PathBuf,
}

impl PamSetup {
    fn new(config: &str) -> PamSetup {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let module = std::env::var("PG_BEARER_PAM_MODULE")
            .expect("PG_BEARER_PAM_MODULE names the built pam_bearer.so (scripts/test.sh sets it)");
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let service = format!("pg_bearer_e2e_{}_{n}", std::process::id());
        let dir = std::env::temp_dir().join(format!("pam_bearer-e2e-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let so = dir.join("pam_bearer.so");
        std::fs::copy(&module, &so).unwrap();
        std::fs::set_permissions(&so, std::fs::Permissions::from_mode(0o755)).unwrap();
        let setup = PamSetup { service, dir };
        setup.write_config(config);
        let conf = setup.dir.join("pam.toml");
        std::fs::write(
            format!("/etc/pam.d/{}", setup.service),
            format!(
                "auth required {so} config={conf}\naccount required {so} config={conf}\n",
                so = so.display(),
                conf = conf.display()
            ),
        )
        .expect("write /etc/pam.d (the PAM tests run as root)");
        setup
    }

    fn write_config(&self, config: &str) {
        let conf = self.dir.join("pam.toml");
        std::fs::write(&conf, config).unwrap();
        std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o644)).unwrap();
    }

    /// A cache directory of the server's OS user, inside this setup's directory.
    fn cache_dir(&self) -> PathBuf {
        self.dir.join("cache")
    }

    fn hba(&self) -> String {
        format!("host all all 127.0.0.1/32 pam pamservice={}", self.service)
    }
}

impl Drop for PamSetup {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(format!("/etc/pam.d/{}", self.service));
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn pg_user() -> String {
    std::env::var("PG_BEARER_PG_USER").unwrap_or_else(|_| "pgbearer".into())
}

fn config_for(
    provider: &MockProvider,
    cache: &Path,
    extra_top: &str,
    extra_issuer: &str,
) -> String {
    format!(
        "http_timeout = \"2s\"\nca_file = \"{ca}\"\ncache_dir = \"{cache}\"\n{extra_top}\n\
         [[issuer]]\nissuer = \"{iss}\"\naudience = \"{AUD}\"\nscope = \"db\"\n{extra_issuer}\n",
        ca = provider.ca_pem_path().display(),
        cache = cache.display(),
        iss = provider.issuer(),
    )
}

/// A server (PostgreSQL 15 unless `bindir` is None) whose TCP logins go through the service.
fn server(setup: &PamSetup, bindir: Option<&str>) -> Cluster {
    let cluster = Cluster::start(&ClusterConfig {
        hba: vec![setup.hba()],
        bindir: bindir.map(PathBuf::from),
        ..Default::default()
    });
    let admin = cluster.superuser();
    for role in ["alice", "bob"] {
        admin
            .query_one(&format!("CREATE ROLE {role} LOGIN"))
            .unwrap();
    }
    cluster
}

/// `psql` as `user` with the token as its password: `Ok(current_user)` or `Err(stderr)`.
fn psql(cluster: &Cluster, user: &str, password: &str) -> Result<String, String> {
    let out = Command::new(Path::new(PG15).join("psql"))
        .arg(format!(
            "host=127.0.0.1 port={} user={user} dbname=postgres sslmode=disable connect_timeout=20",
            cluster.port()
        ))
        .args(["-X", "-At", "-c", "SELECT current_user"])
        .env("PGPASSWORD", password)
        .env_remove("PGSERVICE")
        .output()
        .expect("run psql");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn claims(minter: &Minter, sub: &str) -> Value {
    minter.claims(AUD, sub, "db")
}

/// Asserts a refusal with psql's PAM message and `reason=<reason>` in the server log.
fn assert_refused(cluster: &Cluster, user: &str, password: &str, reason: &str) {
    let before = cluster.log().len();
    let err = psql(cluster, user, password).expect_err(&format!("expected reason={reason}"));
    assert!(
        err.contains(&format!("PAM authentication failed for user \"{user}\"")),
        "{reason}: {err}"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let log = cluster.log();
        let new = &log[before.min(log.len())..];
        if new.contains(&format!("pam_bearer: token rejected: reason={reason} ")) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no reason={reason} in the log:\n{new}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

struct Fixture {
    provider: MockProvider,
    setup: PamSetup,
    cluster: Cluster,
}

fn fixture(extra_top: &str, extra_issuer: &str, bindir: Option<&str>) -> Fixture {
    let provider = MockProvider::start(ProviderOptions::default());
    let setup = PamSetup::new("");
    std::fs::create_dir_all(setup.cache_dir()).unwrap();
    std::fs::set_permissions(setup.cache_dir(), std::fs::Permissions::from_mode(0o700)).unwrap();
    assert!(Command::new("chown")
        .arg(format!("{}:", pg_user()))
        .arg(setup.cache_dir())
        .status()
        .unwrap()
        .success());
    setup.write_config(&config_for(
        &provider,
        &setup.cache_dir(),
        extra_top,
        extra_issuer,
    ));
    let cluster = server(&setup, bindir);
    Fixture {
        provider,
        setup,
        cluster,
    }
}

#[test]
fn rs256_es256_and_eddsa_tokens_log_in_on_postgresql_15_and_the_cache_serves_100_logins() {
    let f = fixture("", "", Some(PG15));
    let minter = f.provider.minter();
    for alg in [Alg::Rs256, Alg::Es256, Alg::EdDsa] {
        let token = minter.mint(alg, &claims(&minter, "alice"), &json!({}));
        assert_eq!(
            psql(&f.cluster, "alice", &token).as_deref(),
            Ok("alice"),
            "{alg:?}"
        );
    }
    let token = minter.mint(Alg::Rs256, &claims(&minter, "alice"), &json!({}));
    for _ in 0..97 {
        assert_eq!(psql(&f.cluster, "alice", &token).as_deref(), Ok("alice"));
    }
    assert_eq!(
        f.provider.count_discovery(),
        1,
        "discovery requests for 100 logins"
    );
    assert_eq!(f.provider.count_jwks(), 1, "JWKS requests for 100 logins");
    f.cluster.assert_log_clean_of([token.as_str()]);
}

#[test]
fn bad_tokens_are_refused_each_with_its_reason() {
    let f = fixture("", "", Some(PG15));
    let m = f.provider.minter();
    let now = tokens::now();
    let mut expired = claims(&m, "alice");
    expired["exp"] = json!(now - 600);
    expired["iat"] = json!(now - 1200);
    let mut wrong_aud = claims(&m, "alice");
    wrong_aud["aud"] = json!("other");
    let mut wrong_iss = claims(&m, "alice");
    wrong_iss["iss"] = json!(format!("{}/other", f.provider.issuer()));
    let mut no_scope = claims(&m, "alice");
    no_scope["scope"] = json!("openid");
    let good = m.mint(Alg::Rs256, &claims(&m, "alice"), &json!({}));
    let cases: Vec<(&str, String, &str)> = vec![
        ("alice", m.mint(Alg::Rs256, &expired, &json!({})), "expired"),
        (
            "alice",
            m.mint(Alg::Rs256, &wrong_aud, &json!({})),
            "wrong_audience",
        ),
        (
            "alice",
            m.mint(Alg::Rs256, &wrong_iss, &json!({})),
            "wrong_issuer",
        ),
        ("alice", tokens::tamper_signature(&good), "bad_signature"),
        (
            "alice",
            m.alg_none(&claims(&m, "alice")),
            "malformed_envelope",
        ),
        (
            "alice",
            m.unknown_kid(Alg::Rs256, &claims(&m, "alice")),
            "unknown_kid",
        ),
        ("bob", good.clone(), "role_not_granted"),
        (
            "alice",
            m.mint(Alg::Rs256, &no_scope, &json!({})),
            "missing_scope",
        ),
        ("alice", "hunter2".to_owned(), "opaque_token"),
    ];
    for (user, token, reason) in &cases {
        assert_refused(&f.cluster, user, token, reason);
    }
    // An empty password: libpq sends none, so the server asks and psql has nothing to give.
    let err = psql(&f.cluster, "alice", "").unwrap_err();
    assert!(
        err.contains("password") || err.contains("PAM authentication failed"),
        "{err}"
    );
    let secrets: Vec<&str> = cases.iter().map(|(_, t, _)| t.as_str()).collect();
    f.cluster.assert_log_clean_of(secrets);
}

#[test]
fn a_required_claim_refuses_tokens_without_it() {
    let f = fixture("", "required_claims = { acr = \"mfa\" }", Some(PG15));
    let m = f.provider.minter();
    let plain = m.mint(Alg::Rs256, &claims(&m, "alice"), &json!({}));
    assert_refused(&f.cluster, "alice", &plain, "missing_claim");
    let mut mfa = claims(&m, "alice");
    mfa["acr"] = json!("mfa");
    let token = m.mint(Alg::Rs256, &mfa, &json!({}));
    assert_eq!(psql(&f.cluster, "alice", &token).as_deref(), Ok("alice"));
}

#[test]
fn a_hung_provider_is_a_refusal_within_the_deadline() {
    let f = fixture("", "", Some(PG15));
    f.provider.set_fault(Endpoint::Jwks, Fault::Hang);
    let m = f.provider.minter();
    let token = m.mint(Alg::Rs256, &claims(&m, "alice"), &json!({}));
    let started = Instant::now();
    assert_refused(&f.cluster, "alice", &token, "jwks_unavailable");
    // http_timeout is 2 s; the discovery answer comes at once.
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_loose_cache_directory_is_refused_and_logged_and_answers_stay_right() {
    let f = fixture("", "", Some(PG15));
    std::fs::set_permissions(f.setup.cache_dir(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let m = f.provider.minter();
    let token = m.mint(Alg::Rs256, &claims(&m, "alice"), &json!({}));
    assert_eq!(psql(&f.cluster, "alice", &token).as_deref(), Ok("alice"));
    assert_refused(&f.cluster, "bob", &token, "role_not_granted");
    assert!(
        f.cluster.log().contains("cache directory not used"),
        "{}",
        f.cluster.log()
    );
    // Without the cache every login asks the provider.
    assert!(f.provider.count_jwks() >= 2);
}

#[test]
fn a_corrupt_cache_file_is_replaced() {
    let f = fixture("", "", Some(PG15));
    let m = f.provider.minter();
    let token = m.mint(Alg::Rs256, &claims(&m, "alice"), &json!({}));
    assert_eq!(psql(&f.cluster, "alice", &token).as_deref(), Ok("alice"));
    let mut corrupted = 0;
    for e in std::fs::read_dir(f.setup.cache_dir()).unwrap().flatten() {
        let name = e.file_name().into_string().unwrap();
        if name.starts_with("keys-") && !name.ends_with(".lock") {
            std::fs::write(e.path(), b"garbage").unwrap();
            corrupted += 1;
        }
    }
    assert_eq!(corrupted, 1);
    assert_eq!(psql(&f.cluster, "alice", &token).as_deref(), Ok("alice"));
    assert_eq!(psql(&f.cluster, "alice", &token).as_deref(), Ok("alice"));
    // One refetch after the corruption, then served from the rewritten file.
    assert_eq!(f.provider.count_jwks(), 2);
}

#[test]
fn a_missing_or_bad_configuration_fails_the_login_naming_the_file() {
    let f = fixture("", "", Some(PG15));
    let m = f.provider.minter();
    let token = m.mint(Alg::Rs256, &claims(&m, "alice"), &json!({}));
    f.setup
        .write_config("[[issuer]]\nissuer = \"https://x\"\naudiance = \"db\"\n");
    assert_refused(&f.cluster, "alice", &token, "not_configured");
    assert!(
        f.cluster.log().contains("key audiance: unknown key"),
        "{}",
        f.cluster.log()
    );
    std::fs::remove_file(f.setup.dir.join("pam.toml")).unwrap();
    assert_refused(&f.cluster, "alice", &token, "not_configured");
}

#[test]
fn fifty_logins_with_one_opaque_token_make_one_introspection() {
    let f = fixture(
        "",
        "client_id = \"db\"\nclient_secret = \"s3cret-value\"",
        Some(PG15),
    );
    let token = "opaque-token-0123456789abcdef";
    f.provider.set_introspection_answer(
        token,
        Some(
            json!({"active": true, "sub": "alice", "aud": AUD, "scope": "db",
                    "iss": f.provider.issuer(), "exp": tokens::now() + 600}),
        ),
    );
    // The file holds a secret: it must be the server user's own, 0600.
    let conf = f.setup.dir.join("pam.toml");
    std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(Command::new("chown")
        .arg(format!("{}:", pg_user()))
        .arg(&conf)
        .status()
        .unwrap()
        .success());
    for _ in 0..50 {
        assert_eq!(psql(&f.cluster, "alice", token).as_deref(), Ok("alice"));
    }
    assert_eq!(f.provider.count(Endpoint::Introspection), 1);
    assert_refused(&f.cluster, "bob", token, "role_not_granted");
    f.cluster.assert_log_clean_of([token, "s3cret-value"]);
}

#[test]
fn the_same_module_serves_postgresql_18_built_with_pam() {
    let f = fixture("", "", None);
    let m = f.provider.minter();
    let token = m.mint(Alg::Es256, &claims(&m, "alice"), &json!({}));
    assert_eq!(psql(&f.cluster, "alice", &token).as_deref(), Ok("alice"));
    assert_refused(&f.cluster, "bob", &token, "role_not_granted");
}
