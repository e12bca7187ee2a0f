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
    /// The configuration the cluster started with, for `reconfigure`.
    config: ClusterConfig,
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
        let config = ClusterConfig {
            hba: vec![format!(
                "host all all 127.0.0.1/32 oauth issuer=\"{}\" scope=\"openid postgres\"",
                idp.issuer()
            )],
            conf,
            preload: true,
            ..Default::default()
        };
        let cluster = Cluster::start(&config);
        let admin = cluster.superuser();
        for role in ["alice", "bob"] {
            admin.query(&format!("CREATE ROLE {role} LOGIN")).unwrap();
        }
        Fixture {
            idp,
            cluster,
            config,
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
    let f = Fixture::new(&["pg_bearer.result_cache_ttl = 1s"]);
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
        "pg_bearer.http_timeout = 1s",
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

// --- issue 12: routing of non-canonical JWTs, the unknown-token bound, secrets --------------

/// Encodings of `token` that lenient providers decode as the same JWT and that PostgreSQL's
/// b64token check lets through: padding, the standard alphabet, both, and a trailing `.`
/// (dropped by Java's `String.split`).
fn lenient_variants(token: &str) -> Vec<(&'static str, String, &'static str)> {
    let mut parts = token.split('.');
    let (h, p, s) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    let standard = |x: &str| x.replace('-', "+").replace('_', "/");
    let padded = |x: &str| format!("{x}{}", "=".repeat((4 - x.len() % 4) % 4));
    let variants = vec![
        (
            "padded",
            format!("{h}.{p}.{}", padded(s)),
            "noncanonical_encoding",
        ),
        (
            "standard alphabet",
            format!("{h}.{p}.{}", standard(s)),
            "noncanonical_encoding",
        ),
        (
            "mixed",
            // PostgreSQL's b64token grammar admits `=` only at the end of the token.
            format!("{}.{}.{}", standard(h), standard(p), padded(&standard(s))),
            "noncanonical_encoding",
        ),
        ("trailing dot", format!("{token}."), "malformed_envelope"),
    ];
    for (label, variant, _) in &variants {
        assert_ne!(
            variant, token,
            "{label} must differ from the canonical token"
        );
    }
    variants
}

#[test]
fn noncanonical_encodings_of_a_jwt_never_reach_the_provider_in_any_mode() {
    // (label, extra settings, introspection credentials)
    let modes: [(&str, &[&str], bool); 3] = [
        ("JWT only", &[], false),
        ("introspection", &[], true),
        ("userinfo", &["pg_bearer.userinfo = on"], false),
    ];
    for (mode, conf, credentials) in modes {
        let f = Fixture::with(conf, credentials);
        // The provider decodes leniently: asked about these variants it would say "active".
        f.idp.set_lenient_jwts(true);
        let m = f.idp.minter();
        // The standard alphabet differs only where the signature has '-' or '_'; mint until
        // it has both (RS256 signatures are 342 characters, so this is nearly always the first).
        let mint = |aud: &str| loop {
            let t = m.mint(
                Alg::Rs256,
                &m.claims(aud, "alice", "openid postgres"),
                &json!({}),
            );
            let sig = t.rsplit('.').next().unwrap();
            if sig.contains('-') && sig.contains('_') && !sig.len().is_multiple_of(4) {
                break t;
            }
        };
        let foreign = mint("another-app");
        let valid = mint(AUDIENCE);
        for (whose, token) in [("another client's", &foreign), ("a valid", &valid)] {
            for (label, variant, reason) in lenient_variants(token) {
                let before = f.cluster.log().len();
                f.assert_refused("alice", &variant, reason);
                assert!(
                    !f.cluster.log()[before..].contains("internal error"),
                    "{mode}: {whose} token, {label}"
                );
            }
        }
        assert_eq!(f.introspections(), 0, "{mode}");
        assert_eq!(f.idp.count(Endpoint::UserInfo), 0, "{mode}");
        // The canonical tokens are judged locally as before.
        f.assert_refused("alice", &foreign, "wrong_audience");
        f.assert_logs_in("alice", &valid, "oauth:alice");
        assert_eq!(
            f.introspections() + f.idp.count(Endpoint::UserInfo),
            0,
            "{mode}"
        );
        f.assert_clean_log();
    }
}

#[test]
fn a_flood_of_unknown_opaque_tokens_is_bounded_and_spares_cached_answers() {
    const RATE: u64 = 5;
    const BURST: u64 = 20;
    let f = Fixture::new(&[
        &format!("pg_bearer.unknown_token_rate = {RATE}"),
        &format!("pg_bearer.unknown_token_burst = {BURST}"),
    ]);
    let mut good = active_body("alice");
    good["iss"] = json!(f.idp.issuer());
    f.idp.set_introspection_answer(OPAQUE, Some(good));
    f.assert_logs_in("alice", OPAQUE, "oauth:alice");
    assert_eq!(f.introspections(), 1);

    let started = Instant::now();
    let refused = std::sync::atomic::AtomicU32::new(0);
    std::thread::scope(|scope| {
        for t in 0..4 {
            let (f, refused) = (&f, &refused);
            scope.spawn(move || {
                for i in 0..250 {
                    let token = format!("flood{t}x{i:04}{}", &OPAQUE[..30]);
                    if f.login("alice", &token).is_err() {
                        refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            });
        }
    });
    let elapsed = started.elapsed();
    assert_eq!(
        refused.into_inner(),
        1_000,
        "every unknown token is refused"
    );
    let asked = f.introspections() - 1;
    let bound = BURST + RATE * elapsed.as_secs().saturating_add(1);
    assert!(
        asked <= bound,
        "{asked} introspections for 1 000 unknown tokens in {elapsed:?} (bound {bound})"
    );
    let log = f.cluster.log();
    assert!(log.contains("reason=rate_limited"), "{log}");
    assert!(!log.contains("internal error"));
    // The answer cached before the flood was not pushed out, and is used without a request.
    f.assert_logs_in("alice", OPAQUE, "oauth:alice");
    assert_eq!(f.introspections() - 1, asked);
    eprintln!("flood: {asked} introspections for 1 000 unknown tokens in {elapsed:?}");
    f.assert_clean_log();
}

#[test]
fn a_panic_inside_a_key_refresh_lets_the_next_login_refresh_at_once() {
    // Needs the library built with the Cargo feature `testing` (scripts/test.sh installs it so).
    let f = Fixture::with(&["pg_bearer.test_fault = 'panic_in_key_refresh'"], false);
    let m = f.idp.minter();
    let token = m.mint(
        Alg::Es256,
        &m.claims(AUDIENCE, "alice", "openid postgres"),
        &json!({}),
    );
    assert!(f.login("alice", &token).is_err());
    assert!(
        f.cluster.log().contains("validation panicked"),
        "{}",
        f.cluster.log()
    );
    assert_eq!(f.idp.count_jwks(), 0, "the fault fires before the request");
    let mut config = f.config.clone();
    config
        .conf
        .retain(|line| !line.starts_with("pg_bearer.test_fault"));
    f.cluster.reconfigure(&config);
    // Without the release the slot would stay owned by the dead attempt until its deadline,
    // and this login would wait, then be refused with keys_unavailable.
    f.assert_logs_in("alice", &token, "oauth:alice");
    assert_eq!(f.idp.count_jwks(), 1);
    assert!(!f.cluster.log().contains("keys_unavailable"));
    f.assert_clean_log();
}

/// An issuers file in its own directory, removed on drop.
struct IssuersFile(std::path::PathBuf);

impl IssuersFile {
    fn write(text: &str, mode: u32) -> IssuersFile {
        use std::os::unix::fs::PermissionsExt;
        static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "pg_bearer-issuers-{}-{}.toml",
            std::process::id(),
            SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        IssuersFile(path)
    }
}

impl Drop for IssuersFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn a_wrong_typed_secret_in_the_issuers_file_is_refused_without_quoting_it() {
    let f = Fixture::with(&[], false);
    // Digits only: a TOML integer, not the string client_secret must be.
    let secret = "830271946615";
    pg_bearer_e2e::suite::record_secret(secret);
    let file = IssuersFile::write(
        &format!(
            "[[issuer]]\nissuer = \"{}\"\nclient_id = \"{CLIENT_ID}\"\nclient_secret = {secret}\n",
            f.idp.issuer()
        ),
        0o644,
    );
    let mut config = f.config.clone();
    config
        .conf
        .push(format!("pg_bearer.issuers_file = '{}'", file.0.display()));
    f.cluster.reconfigure(&config);
    f.assert_refused("alice", OPAQUE, "not_configured");
    let log = f.cluster.log();
    assert!(
        log.contains("line 4, key client_secret: wrong type or value"),
        "{log}"
    );
    assert!(!log.contains("830271"), "{log}");
    assert_eq!(f.idp.count_total(), 0);
    f.cluster.assert_log_clean_of([OPAQUE, secret]);
}

#[test]
fn secret_files_that_others_can_write_are_refused_and_readable_ones_warned_about() {
    use std::os::unix::fs::PermissionsExt;
    let chmod = |path: &std::path::Path, mode: u32| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap()
    };
    let f = Fixture::new(&[]);
    let mut good = active_body("alice");
    good["iss"] = json!(f.idp.issuer());
    f.idp.set_introspection_answer(OPAQUE, Some(good));
    let secret_file = f._secret.path().to_owned();

    // client_secret_file, writable by others: refused before any request.
    chmod(&secret_file, 0o666);
    f.assert_refused("alice", OPAQUE, "not_configured");
    assert!(f.cluster.log().contains("group or others can write it"));
    assert_eq!(f.introspections(), 0);
    // Readable by the group: accepted, with a warning.
    chmod(&secret_file, 0o640);
    let before = f.cluster.log().len();
    f.assert_logs_in("alice", OPAQUE, "oauth:alice");
    assert!(f.cluster.log()[before..].contains("group or others can read the secret"));
    chmod(&secret_file, 0o600);

    // An issuers file holding an inline secret, writable by others: refused.
    let text = format!(
        "[[issuer]]\nissuer = \"{}\"\nclient_id = \"{CLIENT_ID}\"\nclient_secret = \"{SECRET}\"\n",
        f.idp.issuer()
    );
    let file = IssuersFile::write(&text, 0o666);
    let mut config = f.config.clone();
    config.conf.retain(|l| !l.starts_with("pg_bearer.client_"));
    config
        .conf
        .push(format!("pg_bearer.issuers_file = '{}'", file.0.display()));
    f.cluster.reconfigure(&config);
    let other = "Wq3kYF2mX8pL0aZ7tR5wN1cE9bH4jD6gS2uQ8oI0yTf";
    f.assert_refused("alice", other, "not_configured");
    assert!(f.cluster.log().contains("group or others can write it"));
    // Readable by others (the server's OS user must read it; root owns it here): a warning.
    chmod(&file.0, 0o644);
    let before = f.cluster.log().len();
    f.assert_refused("alice", other, "token_inactive");
    assert!(f.cluster.log()[before..].contains("holds a client_secret and has mode 0644"));
    assert_eq!(f.introspections(), 2);
    f.assert_clean_log();
}

#[test]
fn a_reload_that_changes_how_the_provider_is_reached_drops_what_was_fetched_the_old_way() {
    let f = Fixture::new(&[]);
    let mut good = active_body("alice");
    good["iss"] = json!(f.idp.issuer());
    f.idp.set_introspection_answer(OPAQUE, Some(good));
    let m = f.idp.minter();
    let jwt = m.mint(
        Alg::Rs256,
        &m.claims(AUDIENCE, "alice", "openid postgres"),
        &json!({}),
    );
    f.assert_logs_in("alice", &jwt, "oauth:alice");
    f.assert_logs_in("alice", OPAQUE, "oauth:alice");
    f.assert_logs_in("alice", &jwt, "oauth:alice");
    f.assert_logs_in("alice", OPAQUE, "oauth:alice");
    assert_eq!((f.idp.count_jwks(), f.introspections()), (1, 1));

    // The same CA in another file: a different transport setting.
    let copy = std::env::temp_dir().join(format!("pg_bearer-ca-copy-{}.pem", std::process::id()));
    std::fs::write(&copy, f.idp.ca_pem()).unwrap();
    let mut config = f.config.clone();
    config.conf.retain(|l| !l.starts_with("pg_bearer.ca_file"));
    config
        .conf
        .push(format!("pg_bearer.ca_file = '{}'", copy.display()));
    f.cluster.reconfigure(&config);
    f.assert_logs_in("alice", &jwt, "oauth:alice");
    f.assert_logs_in("alice", OPAQUE, "oauth:alice");
    assert_eq!(
        (f.idp.count_jwks(), f.introspections()),
        (2, 2),
        "keys and answers are fetched anew under the new CA file"
    );
    // And reused from then on.
    f.assert_logs_in("alice", &jwt, "oauth:alice");
    f.assert_logs_in("alice", OPAQUE, "oauth:alice");
    assert_eq!((f.idp.count_jwks(), f.introspections()), (2, 2));
    let _ = std::fs::remove_file(&copy);
    f.assert_clean_log();
}
