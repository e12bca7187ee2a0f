//! Opaque tokens end to end: RFC 7662 introspection and opt-in userinfo against the HTTPS
//! mock provider (exact request counts, fault injection), with the shared result cache.

use std::time::{Duration, Instant};

use pg_bearer_e2e::cluster::{Cluster, ClusterConfig};
use pg_bearer_e2e::libpq::Session;
use pg_bearer_e2e::provider::{Alg, Endpoint, Fault, MockProvider, ProviderOptions};
use pg_bearer_e2e::suite::SecretFile;
use pg_bearer_e2e::tokens::{now, tamper_signature};
use serde_json::{json, Value};

const AUDIENCE: &str = "postgres-db";
const CLIENT_ID: &str = "pg-introspect";
const SECRET: &str = "Zx81kq2Lw93PdMb7Tq0v";
/// Opaque: not a JWS. 43 characters like a typical reference token.
const OPAQUE: &str = "Vq3kYF2mX8pL0aZ7tR5wN1cE9bH4jD6gS2uQ8oI0yTe";

struct Fixture {
    idp: MockProvider,
    cluster: Cluster,
    /// Kept for its lifetime: the file is removed when the fixture is dropped.
    _secret: SecretFile,
    presented: std::sync::Mutex<Vec<String>>,
}

fn active_body(sub: &str) -> Value {
    json!({
        "active": true,
        "iss": "ISSUER",
        "aud": AUDIENCE,
        "sub": sub,
        "client_id": "psql",
        "scope": "openid postgres",
        "token_type": "Bearer",
        "iat": now(),
        "exp": now() + 300,
    })
}

impl Fixture {
    fn new(extra_conf: &[&str]) -> Fixture {
        Self::with(extra_conf, true)
    }

    fn with(extra_conf: &[&str], credentials: bool) -> Fixture {
        let idp = MockProvider::start(ProviderOptions {
            issuer_path: "/realms/main".into(),
            ..Default::default()
        });
        let secret = SecretFile::write(SECRET);
        let mut conf = vec![
            format!("pg_bearer.audience = '{AUDIENCE}'"),
            format!("pg_bearer.ca_file = '{}'", idp.ca_pem_path().display()),
        ];
        if credentials {
            conf.push(format!("pg_bearer.client_id = '{CLIENT_ID}'"));
            conf.push(format!(
                "pg_bearer.client_secret_file = '{}'",
                secret.path().display()
            ));
        }
        conf.extend(extra_conf.iter().map(|s| s.to_string()));
        let cluster = Cluster::start(&ClusterConfig {
            hba: vec![format!(
                "host all all 127.0.0.1/32 oauth issuer=\"{}\" scope=\"openid postgres\"",
                idp.issuer()
            )],
            conf,
            preload: true,
            ..Default::default()
        });
        let admin = cluster.superuser();
        for role in ["alice", "bob"] {
            admin.query(&format!("CREATE ROLE {role} LOGIN")).unwrap();
        }
        Fixture {
            idp,
            cluster,
            _secret: secret,
            presented: Default::default(),
        }
    }

    /// The introspection endpoint answers `body` (with the real issuer filled in).
    fn introspection_answers(&self, mut body: Value) {
        if body.get("iss") == Some(&json!("ISSUER")) {
            body["iss"] = json!(self.idp.issuer());
        }
        self.idp.set_fault(
            Endpoint::Introspection,
            Fault::Body(body.to_string(), "application/json".into()),
        );
    }

    fn login(&self, role: &str, token: &str) -> Result<Session, String> {
        self.presented.lock().unwrap().push(token.to_owned());
        Session::connect(
            &self.cluster.oauth_conninfo(role, &self.idp.well_known()),
            Some(token),
        )
    }

    fn assert_logs_in(&self, role: &str, token: &str, system_user: &str) {
        let s = self
            .login(role, token)
            .unwrap_or_else(|e| panic!("{e}\n{}", self.cluster.log()));
        assert_eq!(
            s.query_one("SELECT system_user").unwrap().as_deref(),
            Some(system_user)
        );
    }

    fn assert_refused(&self, role: &str, token: &str, reason: &str) {
        self.cluster
            .assert_refused_with(role, reason, || self.login(role, token));
    }

    fn introspections(&self) -> u64 {
        self.idp.count(Endpoint::Introspection)
    }

    fn assert_clean_log(&self) {
        let presented = self.presented.lock().unwrap().clone();
        let secrets = presented.iter().map(String::as_str).chain([SECRET]);
        self.cluster.assert_log_clean_of(secrets);
    }
}

#[test]
fn an_opaque_token_logs_in_through_introspection_with_client_authentication() {
    let f = Fixture::new(&[]);
    f.introspection_answers(active_body("alice"));
    f.assert_logs_in("alice", OPAQUE, "oauth:alice");
    let calls: Vec<_> = f
        .idp
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/introspect"))
        .collect();
    assert_eq!(calls.len(), 1);
    let call = &calls[0];
    assert_eq!(call.method, "POST");
    use base64::Engine as _;
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{SECRET}"))
    );
    assert_eq!(
        call.headers
            .iter()
            .find(|(n, _)| n == "authorization")
            .map(|(_, v)| v.as_str()),
        Some(expected.as_str())
    );
    let body = String::from_utf8_lossy(&call.body);
    assert!(
        body.contains("token_type_hint=access_token") && body.contains(&format!("token={OPAQUE}"))
    );
    f.assert_clean_log();
}

#[test]
fn a_hundred_logins_with_one_token_cost_one_introspection() {
    let f = Fixture::new(&[]);
    f.introspection_answers(active_body("alice"));
    for _ in 0..100 {
        f.login("alice", OPAQUE).unwrap_or_else(|e| panic!("{e}"));
    }
    assert_eq!(f.introspections(), 1);
    f.assert_clean_log();
}

#[test]
fn a_revoked_token_is_refused_once_its_cache_entry_expires() {
    let f = Fixture::new(&["pg_bearer.result_cache_ttl = 1"]);
    f.introspection_answers(active_body("alice"));
    f.assert_logs_in("alice", OPAQUE, "oauth:alice");
    f.introspection_answers(json!({"active": false}));
    std::thread::sleep(Duration::from_millis(1200));
    f.assert_refused("alice", OPAQUE, "token_inactive");
    // The inactive answer is cached briefly: no second call right away.
    let calls = f.introspections();
    f.assert_refused("alice", OPAQUE, "token_inactive");
    assert_eq!(f.introspections(), calls);
    f.assert_clean_log();
}

#[test]
fn introspection_answers_that_do_not_prove_an_active_token_are_refused() {
    let f = Fixture::new(&[
        "pg_bearer.http_timeout = 1000",
        "pg_bearer.negative_cache_ttl = 0",
    ]);
    let mut base = active_body("alice");
    base["iss"] = json!(f.idp.issuer());
    let with = |k: &str, v: Value| {
        let mut b = base.clone();
        if v.is_null() {
            b.as_object_mut().unwrap().remove(k);
        } else {
            b[k] = v;
        }
        b
    };
    let cases: Vec<(&str, Fault, &str)> = vec![
        (
            "active as a string",
            Fault::Body(
                with("active", json!("true")).to_string(),
                "application/json".into(),
            ),
            "malformed_response",
        ),
        (
            "active as 1",
            Fault::Body(
                with("active", json!(1)).to_string(),
                "application/json".into(),
            ),
            "malformed_response",
        ),
        (
            "active missing",
            Fault::Body(
                with("active", Value::Null).to_string(),
                "application/json".into(),
            ),
            "malformed_response",
        ),
        (
            "active false",
            Fault::Body(
                json!({"active": false}).to_string(),
                "application/json".into(),
            ),
            "token_inactive",
        ),
        (
            "wrong audience",
            Fault::Body(
                with("aud", json!("another-db")).to_string(),
                "application/json".into(),
            ),
            "wrong_audience",
        ),
        (
            "no audience",
            Fault::Body(
                with("aud", Value::Null).to_string(),
                "application/json".into(),
            ),
            "missing_claim",
        ),
        (
            "wrong issuer",
            Fault::Body(
                with("iss", json!("https://evil.example")).to_string(),
                "application/json".into(),
            ),
            "wrong_issuer",
        ),
        (
            "expired",
            Fault::Body(
                with("exp", json!(now() - 600)).to_string(),
                "application/json".into(),
            ),
            "expired",
        ),
        (
            "missing scope",
            Fault::Body(
                with("scope", json!("openid")).to_string(),
                "application/json".into(),
            ),
            "missing_scope",
        ),
        (
            "no scope at all",
            Fault::Body(
                with("scope", Value::Null).to_string(),
                "application/json".into(),
            ),
            "missing_scope",
        ),
        (
            "a refresh token",
            Fault::Body(
                with("token_type", json!("refresh_token")).to_string(),
                "application/json".into(),
            ),
            "wrong_token_type",
        ),
        (
            "duplicate active",
            Fault::Body(
                r#"{"active":false,"active":true}"#.into(),
                "application/json".into(),
            ),
            "duplicate_member",
        ),
        ("HTTP 401", Fault::Status(401), "introspection_failed"),
        ("HTTP 500", Fault::Status(500), "introspection_failed"),
        ("an HTML page", Fault::Html, "introspection_failed"),
        (
            "a 10 MB body",
            Fault::Huge(10 * 1024 * 1024),
            "introspection_failed",
        ),
        (
            "a redirect",
            Fault::Redirect("https://evil.example/introspect".into()),
            "introspection_failed",
        ),
        ("a hang", Fault::Hang, "introspection_failed"),
    ];
    for (name, fault, reason) in cases {
        eprintln!("case: {name}");
        f.idp.set_fault(Endpoint::Introspection, fault);
        let started = Instant::now();
        f.assert_refused("alice", OPAQUE, reason);
        assert!(
            started.elapsed() < Duration::from_millis(2500),
            "{name} took {:?}",
            started.elapsed()
        );
    }
    f.assert_clean_log();
}

#[test]
fn a_jwt_that_fails_locally_is_never_sent_to_introspection() {
    let f = Fixture::new(&[]);
    f.introspection_answers(active_body("alice"));
    let m = f.idp.minter();
    let token = tamper_signature(&m.mint(
        Alg::Rs256,
        &m.claims(AUDIENCE, "alice", "openid postgres"),
        &json!({}),
    ));
    f.assert_refused("alice", &token, "bad_signature");
    let unsecured = m.alg_none(&m.claims(AUDIENCE, "alice", "openid postgres"));
    assert!(f.login("alice", &unsecured).is_err());
    assert_eq!(f.introspections(), 0);
    f.assert_clean_log();
}

#[test]
fn introspect_jwts_refuses_a_valid_jwt_the_provider_says_is_revoked() {
    let f = Fixture::new(&["pg_bearer.introspect_jwts = on"]);
    let m = f.idp.minter();
    let token = m.mint(
        Alg::Es256,
        &m.claims(AUDIENCE, "alice", "openid postgres"),
        &json!({}),
    );
    f.introspection_answers(json!({"active": false}));
    f.assert_refused("alice", &token, "token_inactive");
    f.introspection_answers(active_body("alice"));
    std::thread::sleep(Duration::from_millis(5100)); // past the negative cache
    f.assert_logs_in("alice", &token, "oauth:alice");
    f.assert_clean_log();
}

#[test]
fn without_credentials_or_userinfo_an_opaque_token_is_refused_without_a_call() {
    let f = Fixture::with(&[], false);
    f.assert_refused("alice", OPAQUE, "opaque_token");
    assert_eq!(f.idp.count_total(), 0);
    f.assert_clean_log();
}

#[test]
fn userinfo_mode_accepts_a_token_the_provider_knows_and_refuses_the_rest() {
    let f = Fixture::with(
        &[
            "pg_bearer.userinfo = on",
            "pg_bearer.identity_claim = 'preferred_username'",
        ],
        false,
    );
    f.idp.set_fault(
        Endpoint::UserInfo,
        Fault::Body(
            json!({"sub": "248289761001", "preferred_username": "alice"}).to_string(),
            "application/json".into(),
        ),
    );
    f.assert_logs_in("alice", OPAQUE, "oauth:alice");
    let call = f
        .idp
        .requests()
        .into_iter()
        .find(|r| r.path.ends_with("/userinfo"))
        .unwrap();
    assert_eq!(
        call.headers
            .iter()
            .find(|(n, _)| n == "authorization")
            .map(|(_, v)| v.clone()),
        Some(format!("Bearer {OPAQUE}"))
    );
    let other = "Zr8kYF2mX8pL0aZ7tR5wN1cE9bH4jD6gS2uQ8oI0yTq";
    f.idp.set_fault(Endpoint::UserInfo, Fault::Status(401));
    f.assert_refused("alice", other, "token_inactive");
    f.idp.set_fault(
        Endpoint::UserInfo,
        Fault::Body(
            json!({"preferred_username": "alice"}).to_string(),
            "application/json".into(),
        ),
    );
    let third = "Qq8kYF2mX8pL0aZ7tR5wN1cE9bH4jD6gS2uQ8oI0yTz";
    f.assert_refused("alice", third, "missing_claim");
    f.assert_clean_log();
}

#[test]
fn introspection_credentials_stay_out_of_settings_views_and_the_log() {
    let f = Fixture::new(&[]);
    f.introspection_answers(active_body("alice"));
    let alice = f.login("alice", OPAQUE).unwrap_or_else(|e| panic!("{e}"));
    let admin = f.cluster.superuser();
    for session in [&admin, &alice] {
        let all = session
            .query("SELECT name || '=' || setting FROM pg_settings")
            .unwrap();
        assert!(all.iter().flatten().all(|row| !row.contains(SECRET)));
        let shown = session.query("SHOW ALL").unwrap();
        assert!(shown.iter().flatten().all(|row| !row.contains(SECRET)));
    }
    // Non-superusers do not even see where the secret lives.
    let visible = alice
        .query_one("SELECT count(*) FROM pg_settings WHERE name = 'pg_bearer.client_secret_file'")
        .unwrap();
    assert_eq!(visible.as_deref(), Some("0"));
    f.assert_clean_log();
}
