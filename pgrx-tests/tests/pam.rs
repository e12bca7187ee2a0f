//! pam_bearer.so, end to end: Debian's PostgreSQL 15 (and the PostgreSQL 18 under test, built
//! --with-pam) with a `pam pamservice=...` pg_hba line, real psql sending the token as
//! PGPASSWORD, the mock provider over HTTPS.
//!
//! Needs root (the service file goes into /etc/pam.d) and PG_BEARER_PAM_MODULE, the path of
//! the built module (scripts/test.sh builds it with the Cargo feature `testing`).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use pg_bearer_e2e::cluster::{Cluster, ClusterConfig};
use pg_bearer_e2e::oidc::{
    OidcOptions, OidcProvider, AUDIENCE, INTROSPECT_SECRET, SERVICE_OPAQUE_SECRET, SERVICE_SECRET,
};
use pg_bearer_e2e::pam::PamSetup;
use pg_bearer_e2e::provider::{Alg, Endpoint, Fault, MockProvider, ProviderOptions};
use pg_bearer_e2e::suite;
use pg_bearer_e2e::tokens::{self, Minter};
use serde_json::{json, Value};

const PG15: &str = "/usr/lib/postgresql/15/bin";
const AUD: &str = "db";

/// The module the suite built (scripts/test.sh sets PG_BEARER_PAM_MODULE).
fn module() -> PathBuf {
    PathBuf::from(
        std::env::var("PG_BEARER_PAM_MODULE")
            .expect("PG_BEARER_PAM_MODULE names the built pam_bearer.so (scripts/test.sh sets it)"),
    )
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
/// The password is recorded for the suite's log scan.
fn psql(cluster: &Cluster, user: &str, password: &str) -> Result<String, String> {
    suite::record_secret(password);
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
    let setup = PamSetup::new(&module(), "");
    setup.server_cache_dir();
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
    std::fs::remove_file(f.setup.config_path()).unwrap();
    assert_refused(&f.cluster, "alice", &token, "not_configured");
}

#[test]
fn fifty_logins_with_one_opaque_token_make_one_introspection() {
    let f = fixture(
        "",
        "client_id = \"db\"\nclient_secret = \"s3cret-value\"",
        Some(PG15),
    );
    let token = "Hm5Qz1Wt8Kc3Rx7Nv2Bj6Lp9Fd4Sg0Ya";
    f.provider.set_introspection_answer(
        token,
        Some(
            json!({"active": true, "sub": "alice", "aud": AUD, "scope": "db",
                    "iss": f.provider.issuer(), "exp": tokens::now() + 600}),
        ),
    );
    // The file holds a secret: it must be the server user's own, 0600.
    f.setup.make_config_secret();
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

#[test]
fn tokens_of_6_and_16_kb_log_in() {
    let f = fixture("", "", Some(PG15));
    let m = f.provider.minter();
    for target in [6 * 1024, 16 * 1024 - 64] {
        let mut c = claims(&m, "alice");
        let mut pad = target * 3 / 4;
        let token = loop {
            c["groups"] = json!((0..pad / 40)
                .map(|i| format!("group-{i:04}-{}", "x".repeat(25)))
                .collect::<Vec<_>>());
            let t = m.mint(Alg::Rs256, &c, &json!({}));
            if t.len() <= target {
                break t;
            }
            pad -= 200;
        };
        assert!(token.len() > target - 400, "{} bytes", token.len());
        assert_eq!(
            psql(&f.cluster, "alice", &token).as_deref(),
            Ok("alice"),
            "{} bytes",
            token.len()
        );
    }
}

#[test]
fn a_hundred_concurrent_logins_with_an_unknown_kid_refetch_the_keys_at_most_once() {
    let f = fixture("unknown_kid_cooldown = \"1s\"", "", Some(PG15));
    f.cluster
        .superuser()
        .query_one("ALTER SYSTEM SET max_connections = 150")
        .unwrap();
    drop(f.cluster);
    let cluster = Cluster::start(&ClusterConfig {
        hba: vec![f.setup.hba()],
        bindir: Some(PathBuf::from(PG15)),
        conf: vec!["max_connections = 150".into()],
        ..Default::default()
    });
    cluster
        .superuser()
        .query_one("CREATE ROLE alice LOGIN")
        .unwrap();
    let m = f.provider.minter();
    let warm = m.mint(Alg::Rs256, &claims(&m, "alice"), &json!({}));
    assert_eq!(psql(&cluster, "alice", &warm).as_deref(), Ok("alice"));
    assert_eq!(f.provider.count_jwks(), 1);
    // A key the cached JWKS does not have, once the cooldown since the last fetch is over.
    let kid = f.provider.add_key(Alg::Rs256);
    let token = m.mint_with_kid(&kid, &claims(&m, "alice"), &json!({}));
    std::thread::sleep(Duration::from_millis(1200));
    let results: Vec<Result<String, String>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..100)
            .map(|_| s.spawn(|| psql(&cluster, "alice", &token)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let accepted = results
        .iter()
        .filter(|r| r.as_deref() == Ok("alice"))
        .count();
    assert_eq!(
        f.provider.count_jwks(),
        2,
        "JWKS requests: the warm-up and at most one refetch"
    );
    assert_eq!(accepted, 100, "{:?}", results.iter().find(|r| r.is_err()));
}

#[test]
fn pam_oauth2s_arguments_log_in_through_userinfo_and_cache_its_answer() {
    let provider = MockProvider::start(ProviderOptions::default());
    let url = provider.url(Endpoint::UserInfo);
    let setup = PamSetup::with_args(&module(), "", |conf| {
        format!("{url} preferred_username email_verified=yes config={conf}")
    });
    setup.server_cache_dir();
    setup.write_config(&format!(
        "ca_file = \"{}\"\ncache_dir = \"{}\"\n",
        provider.ca_pem_path().display(),
        setup.cache_dir().display()
    ));
    let cluster = server(&setup, Some(PG15));
    let token = "Zq8mW3xR7tK2pL9vB4nC6yH1dF5gJ0sA";
    // The provider's default: 401, the token is not valid.
    assert_refused(&cluster, "alice", token, "token_inactive");
    provider.set_fault(
        Endpoint::UserInfo,
        Fault::Body(
            json!({"sub": "u-1", "preferred_username": "alice", "email_verified": "yes"})
                .to_string(),
            "application/json".into(),
        ),
    );
    let other = "Tk4Rn8Vp2Lx6Qm9Wc3Hb7Jf1Gd5Sz0Ye";
    for _ in 0..5 {
        assert_eq!(psql(&cluster, "alice", other).as_deref(), Ok("alice"));
    }
    assert_eq!(
        provider.count(Endpoint::UserInfo),
        2,
        "one refusal, then one answer cached"
    );
    assert_refused(&cluster, "bob", other, "role_not_granted");
    // A required claim=value of pam_oauth2's is still required.
    provider.set_fault(
        Endpoint::UserInfo,
        Fault::Body(
            json!({"sub": "u-1", "preferred_username": "alice"}).to_string(),
            "application/json".into(),
        ),
    );
    assert_refused(
        &cluster,
        "alice",
        "Pw2Ny7Ek5Ru9Mt3Xa8Bq6Cv1Dh4Fs0Lg",
        "missing_claim",
    );
    // An answer that names its issuer: refused unless the arguments name the same one.
    let with_iss = json!({"sub": "u-1", "preferred_username": "alice", "email_verified": "yes",
                          "iss": "https://idp.example.com"})
    .to_string();
    provider.set_fault(
        Endpoint::UserInfo,
        Fault::Body(with_iss, "application/json".into()),
    );
    assert_refused(
        &cluster,
        "alice",
        "Qa3Ws7Ed1Rf5Tg9Yh2Uj6Ik0Ol4Pz8Xc",
        "wrong_issuer",
    );
    let named = PamSetup::with_args(&module(), "", |conf| {
        format!("{url} preferred_username iss=https://idp.example.com config={conf}")
    });
    named.write_config(&format!(
        "ca_file = \"{}\"\ncache_dir = \"{}\"\n",
        provider.ca_pem_path().display(),
        setup.cache_dir().display()
    ));
    let named_cluster = server(&named, Some(PG15));
    assert_eq!(
        psql(&named_cluster, "alice", "Mn6Bv2Cx9Zl5Kj1Hg8Fd4Sa7Qw3Er0Ty").as_deref(),
        Ok("alice")
    );
    cluster.assert_log_clean_of([token, other]);
}

#[test]
fn the_real_providers_jwt_and_opaque_tokens_log_in_on_postgresql_15() {
    let idp = OidcProvider::start(OidcOptions::default());
    let setup = PamSetup::new(&module(), "");
    setup.server_cache_dir();
    setup.write_config(&format!(
        "ca_file = \"{ca}\"\ncache_dir = \"{cache}\"\n\
         [[issuer]]\nissuer = \"{iss}\"\naudience = \"{AUDIENCE}\"\nscope = \"postgres\"\n\
         client_id = \"pg-introspect\"\nclient_secret = \"{INTROSPECT_SECRET}\"\n",
        ca = idp.ca_pem_path().display(),
        cache = setup.cache_dir().display(),
        iss = idp.issuer(),
    ));
    suite::record_secret(INTROSPECT_SECRET);
    setup.make_config_secret();
    let cluster = Cluster::start(&ClusterConfig {
        hba: vec![setup.hba()],
        bindir: Some(PathBuf::from(PG15)),
        ..Default::default()
    });
    let admin = cluster.superuser();
    for role in ["service", "service-opaque", "alice"] {
        admin
            .query_one(&format!("CREATE ROLE \"{role}\" LOGIN"))
            .unwrap();
    }
    let jwt = idp.client_credentials("service", SERVICE_SECRET);
    assert_eq!(jwt.split('.').count(), 3, "a JWT");
    for _ in 0..3 {
        assert_eq!(psql(&cluster, "service", &jwt).as_deref(), Ok("service"));
    }
    let opaque = idp.client_credentials("service-opaque", SERVICE_OPAQUE_SECRET);
    assert!(!opaque.contains('.'), "an opaque token");
    for _ in 0..3 {
        assert_eq!(
            psql(&cluster, "service-opaque", &opaque).as_deref(),
            Ok("service-opaque")
        );
    }
    let stats = idp.stats();
    assert_eq!(
        (stats.discovery, stats.jwks, stats.introspection),
        (1, 1, 1),
        "{stats:?}"
    );
    assert_refused(&cluster, "alice", &jwt, "role_not_granted");
    cluster.assert_log_clean_of([jwt.as_str(), opaque.as_str(), INTROSPECT_SECRET]);
}

/// Collects what the module sends to syslog: a datagram socket at /dev/log when the machine
/// has none (containers, CI), else what the journal or /var/log/auth.log gained meanwhile.
struct SyslogCapture {
    socket: Option<(
        std::sync::Arc<std::sync::atomic::AtomicBool>,
        std::thread::JoinHandle<String>,
    )>,
    since_epoch: u64,
    auth_log_len: u64,
}

impl SyslogCapture {
    fn start() -> SyslogCapture {
        let since_epoch = tokens::now();
        let auth_log_len = std::fs::metadata("/var/log/auth.log").map_or(0, |m| m.len());
        if Path::new("/dev/log").exists() {
            return SyslogCapture {
                socket: None,
                since_epoch,
                auth_log_len,
            };
        }
        let socket = std::os::unix::net::UnixDatagram::bind("/dev/log").expect("bind /dev/log");
        std::fs::set_permissions("/dev/log", std::fs::Permissions::from_mode(0o666)).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut text = String::new();
            let mut buf = vec![0u8; 65536];
            while !stopping.load(Ordering::Relaxed) {
                if let Ok(n) = socket.recv(&mut buf) {
                    text.push_str(&String::from_utf8_lossy(&buf[..n]));
                    text.push('\n');
                }
            }
            text
        });
        SyslogCapture {
            socket: Some((stop, thread)),
            since_epoch,
            auth_log_len,
        }
    }

    fn finish(mut self) -> String {
        if let Some((stop, thread)) = self.socket.take() {
            std::thread::sleep(Duration::from_millis(300));
            stop.store(true, Ordering::Relaxed);
            let text = thread.join().unwrap();
            let _ = std::fs::remove_file("/dev/log");
            return text;
        }
        let journal = Command::new("journalctl")
            .args(["-q", "-o", "cat", &format!("--since=@{}", self.since_epoch)])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        let auth = std::fs::read("/var/log/auth.log")
            .map(|b| {
                String::from_utf8_lossy(&b[(self.auth_log_len as usize).min(b.len())..])
                    .into_owned()
            })
            .unwrap_or_default();
        journal + &auth
    }
}

#[test]
fn syslog_gets_each_refusal_with_its_reason_and_never_a_token() {
    let f = fixture("", "", Some(PG15));
    let m = f.provider.minter();
    let good = m.mint(Alg::Rs256, &claims(&m, "alice"), &json!({}));
    let capture = SyslogCapture::start();
    assert_eq!(psql(&f.cluster, "alice", &good).as_deref(), Ok("alice"));
    assert_refused(&f.cluster, "bob", &good, "role_not_granted");
    let bad = tokens::tamper_signature(&good);
    assert_refused(&f.cluster, "alice", &bad, "bad_signature");
    let log = capture.finish();
    assert!(
        log.contains("pam_bearer: token rejected: reason=role_not_granted"),
        "syslog:\n{log}"
    );
    assert!(
        log.contains("pam_bearer: token accepted: user=\"alice\""),
        "syslog:\n{log}"
    );
    assert!(
        !f.cluster.log().contains("token accepted"),
        "an accepted login is the server's to log"
    );
    assert!(
        log.contains("pam_bearer: token rejected: reason=bad_signature"),
        "syslog:\n{log}"
    );
    for secret in [&good, &bad] {
        for window in secret.as_bytes().windows(8).step_by(4) {
            let w = String::from_utf8_lossy(window);
            assert!(
                !log.contains(w.as_ref()),
                "syslog holds a token fragment {w:?}"
            );
        }
    }
}

#[test]
fn without_cache_dir_the_cache_is_a_private_directory_of_the_server_user() {
    let provider = MockProvider::start(ProviderOptions::default());
    let setup = PamSetup::new(&module(), "");
    setup.write_config(&format!(
        "ca_file = \"{}\"\n[[issuer]]\nissuer = \"{}\"\naudience = \"{AUD}\"\nscope = \"db\"\n",
        provider.ca_pem_path().display(),
        provider.issuer()
    ));
    let cluster = server(&setup, Some(PG15));
    let m = provider.minter();
    let token = m.mint(Alg::Es256, &claims(&m, "alice"), &json!({}));
    for _ in 0..5 {
        assert_eq!(psql(&cluster, "alice", &token).as_deref(), Ok("alice"));
    }
    assert_eq!(provider.count_jwks(), 1, "the logins shared their keys");
    // Under the server user's home if it has one of its own (the test user pgbearer has
    // /nonexistent), else its runtime directory, else /tmp/pam_bearer-UID: 0700, its own.
    use std::os::unix::fs::MetadataExt;
    let user = std::env::var("PG_BEARER_PG_USER").unwrap_or_else(|_| "pgbearer".into());
    let entry = Command::new("getent")
        .args(["passwd", &user])
        .output()
        .unwrap();
    let entry = String::from_utf8_lossy(&entry.stdout).trim().to_owned();
    let fields: Vec<&str> = entry.split(':').collect();
    let uid: u32 = fields[2].parse().unwrap();
    let owned = |p: &Path| std::fs::metadata(p).is_ok_and(|m| m.is_dir() && m.uid() == uid);
    let home = PathBuf::from(fields[5]);
    let run = PathBuf::from(format!("/run/user/{uid}"));
    let dir = if owned(&home) {
        home.join(".cache/pam_bearer")
    } else if owned(&run) {
        run.join("pam_bearer")
    } else {
        PathBuf::from(format!("/tmp/pam_bearer-{uid}"))
    };
    let meta = std::fs::symlink_metadata(&dir).expect("the default cache directory");
    assert!(meta.is_dir());
    assert_eq!(meta.uid(), uid);
    assert_eq!(meta.mode() & 0o777, 0o700);
    assert!(std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .any(|e| e.file_name().to_string_lossy().starts_with("keys-")));
}
