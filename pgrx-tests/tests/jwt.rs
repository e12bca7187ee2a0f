//! JWT access tokens end to end: a real PostgreSQL 18 with assertions, real libpq, and an HTTPS
//! provider on loopback with its own CA (the mock provider, for exact request counts and
//! faults).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use pg_bearer_e2e::cluster::{Cluster, ClusterConfig};
use pg_bearer_e2e::libpq::Session;
use pg_bearer_e2e::provider::{
    Alg, CacheControl, Endpoint, Fault, MockProvider, ProviderOptions, Target,
};
use pg_bearer_e2e::tokens::{tamper_signature, PublicKeyForm};
use serde_json::{json, Value};

const AUDIENCE: &str = "postgres-db";
const SCOPE: &str = "openid postgres";

/// A provider with the issuer path `/realms/main` and a cluster trusting it.
struct Fixture {
    idp: MockProvider,
    cluster: Cluster,
    config: ClusterConfig,
    /// Every token presented, for the log-hygiene check.
    presented: std::sync::Mutex<Vec<String>>,
    /// The `oauth_issuer` libpq is given (the provider's well-known URI by default).
    client_issuer: std::sync::Mutex<String>,
}

fn base_conf(idp: &MockProvider) -> Vec<String> {
    vec![
        format!("pg_bearer.audience = '{AUDIENCE}'"),
        format!("pg_bearer.ca_file = '{}'", idp.ca_pem_path().display()),
    ]
}

fn hba(idp: &MockProvider, options: &str) -> String {
    format!(
        "host all all 127.0.0.1/32 oauth issuer=\"{}\" scope=\"{SCOPE}\" {options}",
        idp.issuer()
    )
}

impl Fixture {
    fn new(hba_options: &str, extra_conf: &[&str], ident: &[&str]) -> Fixture {
        Self::with_provider(
            ProviderOptions {
                issuer_path: "/realms/main".into(),
                ..Default::default()
            },
            hba_options,
            extra_conf,
            ident,
        )
    }

    fn with_provider(
        options: ProviderOptions,
        hba_options: &str,
        extra_conf: &[&str],
        ident: &[&str],
    ) -> Fixture {
        let idp = MockProvider::start(options);
        let mut conf = base_conf(&idp);
        conf.extend(extra_conf.iter().map(|s| s.to_string()));
        let config = ClusterConfig {
            hba: vec![hba(&idp, hba_options)],
            ident: ident.iter().map(|s| s.to_string()).collect(),
            conf,
            ..Default::default()
        };
        let cluster = Cluster::start(&config);
        let admin = cluster.superuser();
        for role in ["alice", "bob", "analyst"] {
            admin.query(&format!("CREATE ROLE {role} LOGIN")).unwrap();
        }
        let client_issuer = std::sync::Mutex::new(idp.well_known());
        Fixture {
            idp,
            cluster,
            config,
            presented: Default::default(),
            client_issuer,
        }
    }

    fn claims(&self, sub: &str) -> Value {
        self.idp.minter().claims(AUDIENCE, sub, SCOPE)
    }

    fn token(&self, alg: Alg, claims: &Value) -> String {
        self.idp.minter().mint(alg, claims, &json!({}))
    }

    /// Logs in as `role` with `token` (token-first: libpq is given the well-known URI).
    fn login(&self, role: &str, token: &str) -> Result<Session, String> {
        self.presented.lock().unwrap().push(token.to_owned());
        // Copy the issuer out: a guard held across the connect would serialize parallel logins.
        let issuer = self.client_issuer.lock().unwrap().clone();
        Session::connect(&self.cluster.oauth_conninfo(role, &issuer), Some(token))
    }

    fn assert_logs_in(&self, role: &str, token: &str, system_user: &str) {
        let session = self
            .login(role, token)
            .unwrap_or_else(|e| panic!("login as {role} refused: {e}\n{}", self.cluster.log()));
        assert_eq!(
            session.query_one("SELECT system_user").unwrap().as_deref(),
            Some(system_user)
        );
        assert_eq!(
            session.query_one("SELECT current_user").unwrap().as_deref(),
            Some(role)
        );
    }

    /// Asserts the login is refused with the generic error and the log gains `reason`.
    fn assert_refused(&self, role: &str, token: &str, reason: &str) {
        self.cluster
            .assert_refused_with(role, reason, || self.login(role, token));
    }

    fn assert_clean_log(&self) {
        let presented = self.presented.lock().unwrap().clone();
        self.cluster
            .assert_log_clean_of(presented.iter().map(String::as_str));
    }
}

#[test]
fn valid_tokens_of_every_algorithm_log_in_with_their_subject_as_system_user() {
    let f = Fixture::new("", &[], &[]);
    for alg in [Alg::Rs256, Alg::Ps256, Alg::Es256, Alg::Es384, Alg::EdDsa] {
        let token = f.token(alg, &f.claims("alice"));
        f.assert_logs_in("alice", &token, "oauth:alice");
    }
    f.assert_clean_log();
}

#[test]
fn log_validation_time_logs_one_timed_line_per_validation_with_its_outcome() {
    let f = Fixture::new("", &["pg_bearer.log_validation_time = on"], &[]);
    let token = f.token(Alg::Rs256, &f.claims("alice"));
    f.assert_logs_in("alice", &token, "oauth:alice");
    f.assert_refused("alice", &tamper_signature(&token), "bad_signature");
    let timings: Vec<String> = f
        .cluster
        .log()
        .lines()
        .filter_map(|l| l.split("pg_bearer: validation_us=").nth(1))
        .map(str::to_owned)
        .collect();
    assert_eq!(timings.len(), 2, "{timings:?}");
    for (line, outcome) in timings.iter().zip(["authorized", "refused"]) {
        let (micros, rest) = line.split_once(' ').unwrap();
        assert!(micros.parse::<f64>().unwrap() > 0.0, "{line}");
        assert_eq!(rest, format!("outcome={outcome}"));
    }
    f.assert_clean_log();
}

#[test]
fn validation_time_is_not_logged_by_default() {
    let f = Fixture::new("", &[], &[]);
    let token = f.token(Alg::Rs256, &f.claims("alice"));
    f.assert_logs_in("alice", &token, "oauth:alice");
    assert!(!f.cluster.log().contains("validation_us="));
}

#[test]
fn libpq_discovery_round_then_token_logs_in() {
    let f = Fixture::new("", &[], &[]);
    let token = f.token(Alg::Rs256, &f.claims("alice"));
    // The issuer identifier makes libpq ask the server for the discovery URI first.
    let session = Session::connect(
        &f.cluster.oauth_conninfo("alice", f.idp.issuer()),
        Some(&token),
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", f.cluster.log()));
    assert_eq!(
        session.query_one("SELECT system_user").unwrap().as_deref(),
        Some("oauth:alice")
    );
}

#[test]
fn bad_tokens_are_refused_with_the_generic_error_and_a_reason_in_the_log() {
    let f = Fixture::new("", &[], &[]);
    let m = f.idp.minter();
    let good = f.claims("alice");
    let with = |patch: Value| {
        let mut c = good.clone();
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        c
    };
    let now = pg_bearer_e2e::tokens::now();
    let issuer = f.idp.issuer().to_owned();
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "expired",
            m.mint(
                Alg::Rs256,
                &with(json!({"iat": now - 900, "exp": now - 300})),
                &json!({}),
            ),
            "expired",
        ),
        (
            "not yet valid",
            m.mint(Alg::Rs256, &with(json!({"nbf": now + 600})), &json!({})),
            "not_yet_valid",
        ),
        (
            "wrong issuer",
            m.mint(
                Alg::Rs256,
                &with(json!({"iss": "https://evil.example/realms/main"})),
                &json!({}),
            ),
            "wrong_issuer",
        ),
        (
            "issuer with trailing slash",
            m.mint(
                Alg::Rs256,
                &with(json!({"iss": format!("{issuer}/")})),
                &json!({}),
            ),
            "wrong_issuer",
        ),
        (
            "wrong audience",
            m.mint(Alg::Rs256, &with(json!({"aud": "another-db"})), &json!({})),
            "wrong_audience",
        ),
        (
            "missing scope",
            m.mint(
                Alg::Rs256,
                &with(json!({"scope": "openid profile"})),
                &json!({}),
            ),
            "missing_scope",
        ),
        (
            "scope prefix only",
            m.mint(
                Alg::Rs256,
                &with(json!({"scope": "openid postgresql"})),
                &json!({}),
            ),
            "missing_scope",
        ),
        (
            "bad signature",
            tamper_signature(&m.mint(Alg::Rs256, &good, &json!({}))),
            "bad_signature",
        ),
        (
            "alg none (unsecured, empty signature)",
            m.alg_none(&good),
            "malformed_envelope",
        ),
        (
            "HS256 keyed with the RSA public key",
            m.hs256_with_public_key(&good, PublicKeyForm::SpkiPem),
            "alg_not_allowed",
        ),
        (
            "unknown kid",
            m.unknown_kid(Alg::Rs256, &good),
            "unknown_kid",
        ),
        (
            "jku header",
            m.with_header(
                Alg::Rs256,
                &good,
                &json!({"jku": "https://evil.example/jwks"}),
            ),
            "forbidden_header",
        ),
        (
            "embedded jwk",
            m.embedded_jwk(Alg::Rs256, &good),
            "forbidden_header",
        ),
        (
            "id token type",
            m.mint(Alg::Rs256, &good, &json!({"typ": "id_token+jwt"})),
            "wrong_typ",
        ),
        (
            "subject is not the role",
            m.mint(Alg::Rs256, &with(json!({"sub": "bob"})), &json!({})),
            "__server__",
        ),
    ];
    for (name, token, reason) in &cases {
        if *reason == "__server__" {
            // pg_bearer accepts the token for bob; PostgreSQL refuses it for alice (no map).
            assert!(f.login("alice", token).is_err(), "{name}");
            continue;
        }
        eprintln!("case: {name}");
        f.assert_refused("alice", token, reason);
    }
    // The jku/jwk tokens made no request to anywhere but the provider's own endpoints.
    let requested: Vec<String> = f.idp.requests().iter().map(|r| r.path.clone()).collect();
    assert!(
        requested
            .iter()
            .all(|p| p.contains("well-known") || p.ends_with("/jwks")),
        "{requested:?}"
    );
    f.assert_clean_log();
}

#[test]
fn a_key_added_after_the_cache_filled_is_accepted_after_one_refetch() {
    let f = Fixture::new("", &["pg_bearer.unknown_kid_cooldown = 1s"], &[]);
    f.assert_logs_in(
        "alice",
        &f.token(Alg::Rs256, &f.claims("alice")),
        "oauth:alice",
    );
    assert_eq!(f.idp.count_jwks(), 1);
    let kid = f.idp.add_key(Alg::Es256);
    std::thread::sleep(Duration::from_millis(1100)); // past the unknown-kid cooldown
    let token = f
        .idp
        .minter()
        .mint_with_kid(&kid, &f.claims("alice"), &json!({}));
    f.assert_logs_in("alice", &token, "oauth:alice");
    assert_eq!(f.idp.count_jwks(), 2, "exactly one refetch");
    f.assert_clean_log();
}

#[test]
fn two_hundred_logins_cost_one_discovery_and_one_jwks_request() {
    let f = Fixture::new("", &[], &[]);
    let token = f.token(Alg::Es256, &f.claims("alice"));
    for _ in 0..200 {
        f.login("alice", &token).unwrap_or_else(|e| panic!("{e}"));
    }
    assert_eq!(f.idp.count_discovery(), 1, "discovery requests");
    assert_eq!(f.idp.count_jwks(), 1, "JWKS requests");
}

#[test]
fn keycloak_style_no_cache_is_still_cached_for_the_floor() {
    let options = ProviderOptions {
        issuer_path: "/realms/main".into(),
        jwks_cache_control: CacheControl::NoCache,
        ..Default::default()
    };
    let f = Fixture::with_provider(options, "", &[], &[]);
    let token = f.token(Alg::Rs256, &f.claims("alice"));
    for _ in 0..20 {
        f.login("alice", &token).unwrap_or_else(|e| panic!("{e}"));
    }
    assert_eq!(f.idp.count_jwks(), 1);
}

#[test]
fn a_thousand_random_unknown_kids_cause_at_most_one_refetch() {
    let f = Fixture::new("", &[], &[]);
    f.assert_logs_in(
        "alice",
        &f.token(Alg::Rs256, &f.claims("alice")),
        "oauth:alice",
    );
    let fetches_before = f.idp.count_jwks();
    let minter = f.idp.minter();
    let claims = f.claims("alice");
    let tokens: Vec<String> = (0..1000)
        .map(|_| minter.unknown_kid(Alg::Es256, &claims))
        .collect();
    let next = AtomicUsize::new(0);
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(token) = tokens.get(i) else { break };
                assert!(f.login("alice", token).is_err());
            });
        }
    });
    let elapsed = started.elapsed();
    let refetches = f.idp.count_jwks() - fetches_before;
    eprintln!("1000 unknown-kid logins in {elapsed:?}: {refetches} JWKS refetches");
    assert!(refetches <= 1, "{refetches} refetches");
    assert_eq!(f.idp.count_discovery(), 1);
    f.assert_clean_log();
}

#[test]
fn cached_keys_keep_working_while_the_provider_is_down_within_grace() {
    let options = ProviderOptions {
        issuer_path: "/realms/main".into(),
        jwks_cache_control: CacheControl::MaxAge(1),
        ..Default::default()
    };
    let f = Fixture::with_provider(
        options,
        "",
        &[
            "pg_bearer.jwks_cache_min = 1s",
            "pg_bearer.jwks_cache_default = 1s",
        ],
        &[],
    );
    let token = f.token(Alg::Rs256, &f.claims("alice"));
    f.assert_logs_in("alice", &token, "oauth:alice");
    f.idp.set_fault(Target::All, Fault::Status(503));
    std::thread::sleep(Duration::from_millis(1500)); // the keys are now stale
    f.assert_logs_in("alice", &token, "oauth:alice");
    assert!(
        f.cluster.log().contains("key refresh failed"),
        "{}",
        f.cluster.log()
    );

    f.assert_clean_log();
}

#[test]
fn without_grace_stale_keys_are_refused_once_the_provider_is_down() {
    let options = ProviderOptions {
        issuer_path: "/realms/main".into(),
        jwks_cache_control: CacheControl::MaxAge(1),
        ..Default::default()
    };
    let f = Fixture::with_provider(
        options,
        "",
        &[
            "pg_bearer.jwks_cache_min = 1s",
            "pg_bearer.jwks_cache_default = 1s",
            "pg_bearer.jwks_grace = 0",
        ],
        &[],
    );
    let token = f.token(Alg::Rs256, &f.claims("alice"));
    f.assert_logs_in("alice", &token, "oauth:alice");
    f.idp.set_fault(Target::All, Fault::Status(503));
    std::thread::sleep(Duration::from_millis(1500)); // the keys are now stale
    f.assert_refused("alice", &token, "discovery_failed");
    // Backoff: the next login does not call the provider again right away.
    let calls = f.idp.count_total();
    f.assert_refused("alice", &token, "keys_unavailable");
    assert_eq!(f.idp.count_total(), calls);
    f.assert_clean_log();
}

#[test]
fn a_provider_that_never_answers_fails_the_login_within_the_http_timeout() {
    let f = Fixture::new("", &["pg_bearer.http_timeout = 1s"], &[]);
    f.idp.set_fault(Target::All, Fault::Hang);
    let token = f.token(Alg::Rs256, &f.claims("alice"));
    let started = Instant::now();
    f.assert_refused("alice", &token, "discovery_failed");
    let elapsed = started.elapsed();
    eprintln!("hung provider: login refused after {elapsed:?}");
    assert!(elapsed < Duration::from_millis(2000), "took {elapsed:?}");
    // Other logins are unaffected.
    f.idp.clear_faults();
    std::thread::sleep(Duration::from_millis(1100)); // past the failure backoff
    f.assert_logs_in("alice", &token, "oauth:alice");
    f.assert_clean_log();
}

#[test]
fn a_backend_waiting_on_the_provider_answers_pg_terminate_backend() {
    let f = Fixture::new("", &["pg_bearer.http_timeout = 15s"], &[]);
    f.idp.set_fault(Target::All, Fault::Hang);
    let token = f.token(Alg::Rs256, &f.claims("alice"));
    let admin = f.cluster.superuser();
    std::thread::scope(|s| {
        let login = s.spawn(|| {
            let started = Instant::now();
            let result = f.login("alice", &token);
            (result.is_err(), started.elapsed())
        });
        // Wait until the backend is inside validation (the provider has its request).
        let deadline = Instant::now() + Duration::from_secs(10);
        while f.idp.count(Endpoint::OpenIdConfiguration) == 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let pid = admin
            .query_one("SELECT pid FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()")
            .unwrap()
            .expect("the authenticating backend");
        let asked = Instant::now();
        admin
            .query(&format!("SELECT pg_terminate_backend({pid})"))
            .unwrap();
        let (refused, _) = login.join().unwrap();
        let ended = asked.elapsed();
        eprintln!("terminated backend ended {ended:?} after pg_terminate_backend");
        assert!(refused);
        assert!(ended < Duration::from_secs(1), "took {ended:?}");
    });
    assert!(
        f.cluster
            .log()
            // During authentication PostgreSQL reports any termination this way.
            .contains("FATAL:  canceling authentication due to timeout"),
        "{}",
        f.cluster.log()
    );
    // The terminated backend released its refresh on exit: once the provider answers again
    // (and the 1 s failure backoff has passed) the next login refreshes at once, instead of
    // waiting out the dead owner's deadline (3 x 15 s + 2 s).
    f.idp.clear_faults();
    std::thread::sleep(Duration::from_millis(1100));
    let started = Instant::now();
    f.assert_logs_in("alice", &token, "oauth:alice");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    f.assert_clean_log();
}

#[test]
fn pg_ident_map_maps_the_verified_identity() {
    let ident = ["corp /^([a-z]+)@example\\.com$ \\1"];
    let f = Fixture::new("map=corp", &[], &ident);
    let token = f.token(Alg::Es256, &f.claims("alice@example.com"));
    f.assert_logs_in("alice", &token, "oauth:alice@example.com");
    // The map does not let alice@example.com become bob, nor a look-alike identity in.
    assert!(f.login("bob", &token).is_err());
    for sub in [
        "alice@example.com.evil.com",
        "ALICE@EXAMPLE.COM",
        "alice@example.com\n",
    ] {
        let token = f.token(Alg::Es256, &f.claims(sub));
        assert!(f.login("alice", &token).is_err(), "{sub:?} got in");
    }
    f.assert_clean_log();
}

#[test]
fn delegated_ident_mapping_admits_only_roles_the_token_grants() {
    let f = Fixture::new(
        "delegate_ident_mapping=1",
        &["pg_bearer.role_claim = 'roles'"],
        &[],
    );
    let mut claims = f.claims("user-1234");
    claims["roles"] = json!(["analyst", "alice"]);
    let token = f.token(Alg::Rs256, &claims);
    f.assert_logs_in("analyst", &token, "oauth:user-1234");
    f.assert_logs_in("alice", &token, "oauth:user-1234");
    f.assert_refused("bob", &token, "role_not_granted");
    f.assert_refused("postgres", &token, "role_not_granted");
    // A token without the role claim gets nowhere.
    let bare = f.token(Alg::Rs256, &f.claims("user-1234"));
    f.assert_refused("analyst", &bare, "role_not_granted");
    f.assert_clean_log();
}

#[test]
fn delegated_ident_mapping_without_a_role_claim_refuses_everything() {
    let f = Fixture::new("delegate_ident_mapping=1", &[], &[]);
    let mut claims = f.claims("alice");
    claims["roles"] = json!(["alice"]);
    let token = f.token(Alg::Rs256, &claims);
    assert!(f.login("alice", &token).is_err());
    f.assert_clean_log();
}

#[test]
fn each_issuer_gets_its_own_settings_from_the_issuers_file() {
    let other = MockProvider::start(ProviderOptions {
        issuer_path: "/tenant-b".into(),
        ..Default::default()
    });
    let f = Fixture::new("", &[], &[]);
    // A second HBA line for the second issuer, with its own audience and identity claim.
    let file = std::env::temp_dir().join(format!("pg_bearer-issuers-{}.toml", std::process::id()));
    std::fs::write(
        &file,
        format!("[[issuer]]\nissuer = \"{}\"\naudience = \"tenant-b-db\"\nidentity_claim = \"preferred_username\"\nscope = \"tenant-b-extra\"\n", other.issuer()),
    )
    .unwrap();
    let mut config = f.config.clone();
    // Both providers' CAs are trusted through one bundle.
    let bundle = std::env::temp_dir().join(format!("pg_bearer-ca-{}.pem", std::process::id()));
    std::fs::write(&bundle, format!("{}{}", f.idp.ca_pem(), other.ca_pem())).unwrap();
    config.conf = vec![
        format!("pg_bearer.audience = '{AUDIENCE}'"),
        format!("pg_bearer.ca_file = '{}'", bundle.display()),
        format!("pg_bearer.issuers_file = '{}'", file.display()),
    ];
    config.hba = vec![
        format!(
            "host all bob 127.0.0.1/32 oauth issuer=\"{}\" scope=\"{SCOPE}\"",
            other.issuer()
        ),
        hba(&f.idp, ""),
    ];
    f.cluster.reconfigure(&config);

    // Issuer A: defaults (aud postgres-db, sub).
    f.assert_logs_in(
        "alice",
        &f.token(Alg::Rs256, &f.claims("alice")),
        "oauth:alice",
    );
    // Issuer B: its own audience and identity claim. The client names B's issuer.
    *f.client_issuer.lock().unwrap() = other.well_known();
    // Its issuers-file `scope` is required on top of the pg_hba line's.
    let mut b = other.minter().claims(
        "tenant-b-db",
        "0f3c-uuid",
        &format!("{SCOPE} tenant-b-extra"),
    );
    b["preferred_username"] = json!("bob");
    let b_token = other.minter().mint(Alg::Rs256, &b, &json!({}));
    f.assert_logs_in("bob", &b_token, "oauth:bob");
    let mut line_scopes_only = b.clone();
    line_scopes_only["scope"] = json!(SCOPE);
    f.assert_refused(
        "bob",
        &other
            .minter()
            .mint(Alg::Rs256, &line_scopes_only, &json!({})),
        "missing_scope",
    );
    // B's token with A's audience is refused on B's line; A's token on B's line is refused.
    let mut wrong = b.clone();
    wrong["aud"] = json!(AUDIENCE);
    f.assert_refused(
        "bob",
        &other.minter().mint(Alg::Rs256, &wrong, &json!({})),
        "wrong_audience",
    );
    let mut a_for_bob = f.claims("bob");
    a_for_bob["preferred_username"] = json!("bob");
    // A's key is not in B's key set, so A's token fails before its issuer is even read.
    f.assert_refused("bob", &f.token(Alg::Rs256, &a_for_bob), "unknown_kid");
    // Shared signing keys across tenants (as Entra ID does) are caught by the issuer check.
    let mut foreign_iss = b.clone();
    foreign_iss["iss"] = json!(f.idp.issuer());
    f.assert_refused(
        "bob",
        &other.minter().mint(Alg::Rs256, &foreign_iss, &json!({})),
        "wrong_issuer",
    );
    let _ = std::fs::remove_file(file);
    let _ = std::fs::remove_file(bundle);
    f.assert_clean_log();
}

#[test]
fn a_static_jwks_file_works_without_any_request_to_the_provider() {
    let idp = MockProvider::start(ProviderOptions::default());
    let dir = std::env::temp_dir().join(format!("pg_bearer-static-jwks-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("jwks.json");
    std::fs::write(&file, idp.jwks().to_string()).unwrap();
    // Readable by the unprivileged server user.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    idp.set_fault(Target::All, Fault::Status(500));

    let config = ClusterConfig {
        hba: vec![hba(&idp, "")],
        conf: vec![
            format!("pg_bearer.audience = '{AUDIENCE}'"),
            format!("pg_bearer.jwks = '{}'", file.display()),
        ],
        ..Default::default()
    };
    let cluster = Cluster::start(&config);
    cluster
        .superuser()
        .query("CREATE ROLE alice LOGIN")
        .unwrap();
    let minter = idp.minter();
    let token = minter.mint(
        Alg::Es256,
        &minter.claims(AUDIENCE, "alice", SCOPE),
        &json!({}),
    );
    let session = Session::connect(
        &cluster.oauth_conninfo("alice", &idp.well_known()),
        Some(&token),
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", cluster.log()));
    assert_eq!(
        session.query_one("SELECT system_user").unwrap().as_deref(),
        Some("oauth:alice")
    );
    assert_eq!(idp.count_total(), 0, "no request may reach the provider");
    let bad = tamper_signature(&token);
    assert!(Session::connect(
        &cluster.oauth_conninfo("alice", &idp.well_known()),
        Some(&bad)
    )
    .is_err());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn concurrent_first_logins_share_one_slow_refresh_and_none_is_refused() {
    let f = Fixture::new("", &[], &[]);
    // Discovery and JWKS each take 400 ms: the first backend refreshes, the others wait.
    f.idp
        .set_fault(Target::All, Fault::Delay(Duration::from_millis(400)));
    let token = f.token(Alg::Es256, &f.claims("alice"));
    std::thread::scope(|s| {
        let logins: Vec<_> = (0..6)
            .map(|_| s.spawn(|| f.login("alice", &token).map(|_| ())))
            .collect();
        for login in logins {
            login
                .join()
                .unwrap()
                .unwrap_or_else(|e| panic!("{e}\n{}", f.cluster.log()));
        }
    });
    assert_eq!(f.idp.count_discovery(), 1, "one refresher");
    assert_eq!(f.idp.count_jwks(), 1, "one refresher");
    f.assert_clean_log();
}

#[test]
fn while_one_backend_refreshes_stale_keys_the_others_use_them_without_waiting() {
    let options = ProviderOptions {
        issuer_path: "/realms/main".into(),
        jwks_cache_control: CacheControl::MaxAge(1),
        ..Default::default()
    };
    let f = Fixture::with_provider(
        options,
        "",
        &[
            "pg_bearer.jwks_cache_min = 1s",
            "pg_bearer.jwks_cache_default = 1s",
        ],
        &[],
    );
    let token = f.token(Alg::Es256, &f.claims("alice"));
    f.assert_logs_in("alice", &token, "oauth:alice");
    std::thread::sleep(Duration::from_millis(1200)); // stale now
    f.idp
        .set_fault(Target::All, Fault::Delay(Duration::from_millis(2000)));
    let mut times: Vec<Duration> = std::thread::scope(|s| {
        let logins: Vec<_> = (0..4)
            .map(|i| {
                let (f, token) = (&f, &token);
                s.spawn(move || {
                    // Let the first one become the refresher.
                    std::thread::sleep(Duration::from_millis(if i == 0 { 0 } else { 200 }));
                    let started = Instant::now();
                    f.login("alice", token).unwrap_or_else(|e| panic!("{e}"));
                    started.elapsed()
                })
            })
            .collect();
        logins.into_iter().map(|l| l.join().unwrap()).collect()
    });
    times.sort();
    eprintln!("login times while one refreshes: {times:?}");
    // The refresher waited for the slow provider; nobody else did.
    assert!(times[3] >= Duration::from_millis(2000), "{times:?}");
    assert!(times[2] < Duration::from_millis(1500), "{times:?}");
    f.assert_clean_log();
}
