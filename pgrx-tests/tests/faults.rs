//! A misbehaving provider, end to end: every fault the mock provider can show (bad TLS,
//! redirects, hangs and trickles, error statuses, HTML, huge and deeply nested bodies, a
//! discovery document for another issuer, key sets that change between calls) met by a real
//! PostgreSQL 18 with assertions through real libpq. Each refusal must be the generic client
//! error with the expected reason in the server log, no request may follow a redirect, and
//! the server must keep serving.
//!
//! One cluster serves many cases: each case starts a provider of its own (a new issuer, so a
//! new shared-cache slot with nothing cached) and points the cluster's HBA line and settings
//! at it with a reload.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pg_bearer_e2e::cluster::{assert_session_identity, Cluster, ClusterConfig};
use pg_bearer_e2e::libpq::Session;
use pg_bearer_e2e::provider::{
    Alg, CacheControl, Endpoint, Fault, MockProvider, ProviderOptions, Target, TlsMode,
};
use pg_bearer_e2e::suite::SecretFile;
use pg_bearer_e2e::tokens::now;
use serde_json::{json, Value};

const AUDIENCE: &str = "postgres-db";
const SCOPE: &str = "openid postgres";
const CLIENT_ID: &str = "pg-introspect";
const SECRET: &str = "Hk4wT9zQ2cVb7NxR5mPj";
/// Opaque: not a JWS.
const OPAQUE: &str = "Rt8kWq2ZpL5xNc0vB7mH3gJ9dF1sY6aUe4";
/// Ten megabytes: far above every body cap (JWKS 128 KiB, discovery 256 KiB, introspection
/// 64 KiB).
const TEN_MB: usize = 10 * 1024 * 1024;

/// One cluster, repointed at a fresh provider per case.
struct Bench {
    cluster: Cluster,
    presented: Mutex<Vec<String>>,
    secret: SecretFile,
    /// Every provider started, kept until the end so that no two cases share a port: the
    /// issuer (which includes the port) keys the shared caches, so a reused port would meet
    /// an earlier case's cached keys or introspection answers.
    providers: Mutex<Vec<Arc<MockProvider>>>,
}

impl Bench {
    fn new() -> Bench {
        let cluster = Cluster::start(&ClusterConfig::default());
        cluster
            .superuser()
            .query("CREATE ROLE alice LOGIN")
            .unwrap();
        Bench {
            cluster,
            presented: Mutex::default(),
            secret: SecretFile::write(SECRET),
            providers: Mutex::default(),
        }
    }

    /// Points the HBA line and pg_bearer's settings at `idp`: its CA trusted, a short HTTP
    /// deadline, introspection credentials, plus `extra` settings.
    fn use_provider(&self, idp: &MockProvider, extra: &[&str]) {
        self.use_issuer(idp.issuer(), idp, extra);
    }

    fn use_issuer(&self, issuer: &str, idp: &MockProvider, extra: &[&str]) {
        let mut conf = vec![
            format!("pg_bearer.audience = '{AUDIENCE}'"),
            format!("pg_bearer.ca_file = '{}'", idp.ca_pem_path().display()),
            "pg_bearer.http_timeout = 2s".to_owned(),
            format!("pg_bearer.client_id = '{CLIENT_ID}'"),
            format!(
                "pg_bearer.client_secret_file = '{}'",
                self.secret.path().display()
            ),
        ];
        conf.extend(extra.iter().map(|s| s.to_string()));
        self.cluster.reconfigure(&ClusterConfig {
            hba: vec![format!(
                "host all all 127.0.0.1/32 oauth issuer=\"{issuer}\" scope=\"{SCOPE}\""
            )],
            conf,
            ..Default::default()
        });
    }

    /// A fresh provider (issuer path `/realms/main`) with the cluster pointed at it.
    fn provider(&self, extra: &[&str]) -> Arc<MockProvider> {
        self.provider_with(ProviderOptions::default(), extra)
    }

    fn provider_with(&self, options: ProviderOptions, extra: &[&str]) -> Arc<MockProvider> {
        let idp = Arc::new(MockProvider::start(ProviderOptions {
            issuer_path: "/realms/main".into(),
            ..options
        }));
        self.providers.lock().unwrap().push(idp.clone());
        self.use_provider(&idp, extra);
        idp
    }

    fn token(&self, idp: &MockProvider) -> String {
        let m = idp.minter();
        m.mint(Alg::Rs256, &m.claims(AUDIENCE, "alice", SCOPE), &json!({}))
    }

    /// Logs in as alice, token first (libpq is given the well-known URI of `idp`).
    fn login(&self, idp: &MockProvider, token: &str) -> Result<Session, String> {
        self.presented.lock().unwrap().push(token.to_owned());
        Session::connect(
            &self.cluster.oauth_conninfo("alice", &idp.well_known()),
            Some(token),
        )
    }

    fn assert_logs_in(&self, idp: &MockProvider, token: &str) {
        let session = self
            .login(idp, token)
            .unwrap_or_else(|e| panic!("login refused: {e}\n{}", self.cluster.log()));
        assert_session_identity(&session, "oauth:alice", "alice");
    }

    /// The login is refused with the generic error and `reason` in the log; returns the log
    /// lines the attempt added.
    fn assert_refused(&self, case: &str, idp: &MockProvider, token: &str, reason: &str) -> String {
        let before = self.cluster.log().len();
        eprintln!("case: {case}");
        self.cluster
            .assert_refused_with("alice", reason, || self.login(idp, token));
        self.cluster.log()[before..].to_owned()
    }

    fn assert_clean_log(&self) {
        let mut secrets = self.presented.lock().unwrap().clone();
        secrets.push(SECRET.to_owned());
        self.cluster
            .assert_log_clean_of(secrets.iter().map(String::as_str));
    }
}

/// The introspection answer for an active token of alice's at `idp`.
fn active(idp: &MockProvider) -> Fault {
    let body = json!({
        "active": true,
        "iss": idp.issuer(),
        "aud": AUDIENCE,
        "sub": "alice",
        "client_id": "psql",
        "scope": SCOPE,
        "token_type": "Bearer",
        "iat": now(),
        "exp": now() + 300,
    });
    Fault::Body(body.to_string(), "application/json".into())
}

#[test]
fn only_a_provider_certificate_from_the_configured_ca_for_its_own_name_is_trusted() {
    let bench = Bench::new();
    let cases = [
        (
            TlsMode::UntrustedCa,
            "certificate from a CA nobody configured",
        ),
        (TlsMode::SelfSigned, "self-signed certificate"),
        (TlsMode::Expired, "expired certificate"),
        (TlsMode::WrongHost, "certificate for another host name"),
        (TlsMode::PlainHttp, "plain HTTP behind an https issuer"),
    ];
    for (mode, case) in cases {
        let idp = bench.provider(&[]);
        idp.set_tls_mode(mode);
        let token = bench.token(&idp);
        bench.assert_refused(case, &idp, &token, "discovery_failed");
        // The handshake failed: no request was ever read.
        assert_eq!(idp.count_total(), 0, "{case}");
        // The same provider with its proper certificate is accepted (after the 1 s failure
        // backoff): the refusal was the certificate's doing.
        idp.set_tls_mode(TlsMode::Trusted);
        std::thread::sleep(Duration::from_millis(1100));
        bench.assert_logs_in(&idp, &token);
    }
    // Without pg_bearer.ca_file only the system's roots are trusted: the provider's own CA is
    // not one of them.
    let idp = bench.provider(&[]);
    bench.use_provider(&idp, &["pg_bearer.ca_file = ''"]);
    let token = bench.token(&idp);
    bench.assert_refused("CA not configured", &idp, &token, "discovery_failed");
    assert_eq!(idp.count_total(), 0);
    bench.assert_clean_log();
}

#[test]
fn a_provider_that_accepts_the_connection_but_never_speaks_fails_within_the_deadline() {
    let bench = Bench::new();
    let idp = bench.provider(&[]);
    idp.set_tls_mode(TlsMode::Silent);
    let token = bench.token(&idp);
    let started = Instant::now();
    bench.assert_refused("TLS tarpit", &idp, &token, "discovery_failed");
    let took = started.elapsed();
    eprintln!("silent provider: refused after {took:?} (http_timeout 2 s)");
    // The deadline is 2 s per request; anything near authentication_timeout (60 s) means the
    // deadline did not hold.
    assert!(took < Duration::from_secs(20), "took {took:?}");
    bench.assert_clean_log();
}

#[test]
fn a_provider_trickling_a_byte_a_second_fails_within_the_deadline() {
    let bench = Bench::new();
    for endpoint in [Endpoint::OpenIdConfiguration, Endpoint::Jwks] {
        let idp = bench.provider(&[]);
        idp.set_fault(endpoint, Fault::Trickle(Duration::from_secs(1)));
        let token = bench.token(&idp);
        let reason = if endpoint == Endpoint::Jwks {
            "jwks_unavailable"
        } else {
            "discovery_failed"
        };
        let started = Instant::now();
        bench.assert_refused(&format!("{endpoint:?} trickles"), &idp, &token, reason);
        let took = started.elapsed();
        eprintln!("{endpoint:?} trickling: refused after {took:?} (http_timeout 2 s)");
        assert!(took < Duration::from_secs(20), "took {took:?}");
    }
    bench.assert_clean_log();
}

#[test]
fn a_hung_provider_does_not_delay_a_fast_shutdown() {
    let bench = Bench::new();
    let idp = bench.provider(&["pg_bearer.http_timeout = 15s"]);
    idp.set_fault(Target::All, Fault::Hang);
    let token = bench.token(&idp);
    std::thread::scope(|s| {
        let login = s.spawn(|| bench.login(&idp, &token).is_err());
        let deadline = Instant::now() + Duration::from_secs(10);
        while idp.count(Endpoint::OpenIdConfiguration) == 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(
            idp.count(Endpoint::OpenIdConfiguration),
            1,
            "backend never asked"
        );
        let took = bench.cluster.stop_fast();
        eprintln!("pg_ctl stop -m fast with a backend waiting on a hung provider: {took:?}");
        // The waiting backend would hold the stop for up to 3 x 15 s if it ignored SIGTERM.
        assert!(took < Duration::from_secs(10), "stop took {took:?}");
        assert!(login.join().unwrap(), "the login succeeded");
    });
    let log = bench.cluster.log();
    assert!(log.contains("database system is shut down"), "{log}");
    assert!(!log.contains("TRAP") && !log.contains("PANIC"), "{log}");
}

#[test]
fn redirects_are_never_followed_to_the_same_host_or_elsewhere() {
    let bench = Bench::new();
    // Elsewhere: a second, healthy provider that would serve a perfectly good document.
    let elsewhere = MockProvider::start(ProviderOptions {
        issuer_path: "/realms/main".into(),
        ..Default::default()
    });

    // Discovery redirected to the same host's RFC 8414 document, which would be valid.
    let idp = bench.provider(&[]);
    idp.set_fault(
        Endpoint::OpenIdConfiguration,
        Fault::Redirect(idp.url(Endpoint::OAuthServerMetadata)),
    );
    let token = bench.token(&idp);
    bench.assert_refused(
        "discovery redirect, same host",
        &idp,
        &token,
        "discovery_failed",
    );
    assert_eq!(idp.count(Endpoint::OAuthServerMetadata), 0);
    assert_eq!(idp.count(Endpoint::Jwks), 0);

    // The JWKS redirected to another provider's JWKS.
    let idp = bench.provider(&[]);
    idp.set_fault(
        Endpoint::Jwks,
        Fault::Redirect(elsewhere.url(Endpoint::Jwks)),
    );
    let token = bench.token(&idp);
    bench.assert_refused("JWKS redirect elsewhere", &idp, &token, "jwks_unavailable");
    assert_eq!(idp.count(Endpoint::Jwks), 1);

    // The JWKS redirected to the same host (a path that would answer the same keys).
    let idp = bench.provider(&[]);
    idp.set_fault(
        Endpoint::Jwks,
        Fault::Redirect(format!("{}?again=1", idp.url(Endpoint::Jwks))),
    );
    let token = bench.token(&idp);
    bench.assert_refused("JWKS redirect, same host", &idp, &token, "jwks_unavailable");
    assert_eq!(idp.count(Endpoint::Jwks), 1, "the redirect was followed");

    // Introspection redirected elsewhere: the token (and the client secret) must not follow.
    let idp = bench.provider(&[]);
    idp.set_fault(
        Endpoint::Introspection,
        Fault::Redirect(elsewhere.url(Endpoint::Introspection)),
    );
    bench.presented.lock().unwrap().push(OPAQUE.to_owned());
    bench.assert_refused(
        "introspection redirect",
        &idp,
        OPAQUE,
        "introspection_failed",
    );
    assert_eq!(idp.count(Endpoint::Introspection), 1);

    assert_eq!(
        elsewhere.count_total(),
        0,
        "a redirect was followed elsewhere"
    );
    bench.assert_clean_log();
}

/// How a discovery document's `issuer` may differ from the configured one.
type IssuerVariant = fn(&str) -> String;

#[test]
fn a_discovery_document_naming_another_issuer_is_not_used() {
    let bench = Bench::new();
    let variants: [(&str, IssuerVariant); 5] = [
        ("trailing slash", |i| format!("{i}/")),
        ("upper-case scheme", |i| i.replacen("https", "HTTPS", 1)),
        ("other host", |i| i.replacen("127.0.0.1", "localhost", 1)),
        ("longer path", |i| format!("{i}-evil")),
        ("attacker's issuer", |_| {
            "https://evil.example/realms/main".into()
        }),
    ];
    for (case, variant) in variants {
        let idp = bench.provider(&[]);
        let claimed = variant(idp.issuer());
        idp.set_fault(Target::All, Fault::IssuerMismatch(claimed.clone()));
        // Tokens naming the claimed issuer are no better than ours.
        let m = idp.minter();
        for iss in [idp.issuer().to_owned(), claimed] {
            let mut claims = m.claims(AUDIENCE, "alice", SCOPE);
            claims["iss"] = json!(iss);
            let token = m.mint(Alg::Rs256, &claims, &json!({}));
            bench.assert_refused(case, &idp, &token, "discovery_failed");
            std::thread::sleep(Duration::from_millis(1100)); // past the failure backoff
        }
        assert_eq!(idp.count(Endpoint::Jwks), 0, "{case}: keys fetched anyway");
    }
    bench.assert_clean_log();
}

#[test]
fn endpoints_outside_https_are_refused_from_discovery() {
    let bench = Bench::new();
    let idp = bench.provider(&[]);
    let http_jwks = idp.url(Endpoint::Jwks).replacen("https://", "http://", 1);
    idp.set_metadata_field("jwks_uri", Some(json!(http_jwks)));
    let token = bench.token(&idp);
    bench.assert_refused("http jwks_uri", &idp, &token, "discovery_failed");
    assert_eq!(idp.count(Endpoint::Jwks), 0);

    let idp = bench.provider(&[]);
    idp.set_metadata_field("jwks_uri", None);
    let token = bench.token(&idp);
    bench.assert_refused("no jwks_uri", &idp, &token, "discovery_failed");

    let idp = bench.provider(&[]);
    let http_introspection = idp
        .url(Endpoint::Introspection)
        .replacen("https://", "http://", 1);
    idp.set_metadata_field("introspection_endpoint", Some(json!(http_introspection)));
    // The whole document is refused, not just that member.
    bench.presented.lock().unwrap().push(OPAQUE.to_owned());
    bench.assert_refused(
        "http introspection endpoint",
        &idp,
        OPAQUE,
        "discovery_failed",
    );
    assert_eq!(idp.count(Endpoint::Introspection), 0);
    bench.assert_clean_log();
}

/// Faults in the bodies of the three documents pg_bearer reads.
fn body_faults() -> Vec<(&'static str, Fault)> {
    vec![
        ("HTTP 500", Fault::Status(500)),
        ("HTTP 503", Fault::Status(503)),
        ("HTTP 404", Fault::Status(404)),
        ("HTML page", Fault::Html),
        ("10 MB body", Fault::Huge(TEN_MB)),
        (
            "10 MB body without Content-Length",
            Fault::HugeUnannounced(TEN_MB),
        ),
        ("JSON nested 10 000 deep", Fault::DeepJson(10_000)),
        ("connection dropped", Fault::Drop),
        (
            "invalid JSON",
            Fault::Body("{\"keys\": [".into(), "application/json".into()),
        ),
        (
            "JSON of the wrong type",
            Fault::Body("[]".into(), "application/json".into()),
        ),
        (
            "duplicate members",
            Fault::Body(
                "{\"keys\": [], \"keys\": []}".into(),
                "application/json".into(),
            ),
        ),
    ]
}

#[test]
fn a_broken_jwks_response_is_refused_and_nothing_is_cached() {
    let bench = Bench::new();
    let mut faults = body_faults();
    faults.push((
        "keys not an array",
        Fault::Body("{\"keys\": {}}".into(), "application/json".into()),
    ));
    faults.push((
        "no usable key",
        Fault::Body(
            "{\"keys\": [{\"kty\": \"oct\", \"k\": \"c2VjcmV0\"}]}".into(),
            "application/json".into(),
        ),
    ));
    faults.push(("100 000 keys", {
        let key = json!({"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"});
        let keys: Vec<Value> = (0..100_000).map(|_| key.clone()).collect();
        Fault::Body(
            json!({ "keys": keys }).to_string(),
            "application/json".into(),
        )
    }));
    for (case, fault) in faults {
        let idp = bench.provider(&[]);
        idp.set_fault(Endpoint::Jwks, fault);
        let token = bench.token(&idp);
        let added = bench.assert_refused(case, &idp, &token, "");
        assert!(
            added.contains("reason=jwks_unavailable") || added.contains("reason=bad_jwks"),
            "{case}: {added}"
        );
        // Nothing bad was cached: once the provider is healthy (and the failure backoff has
        // passed) the next login fetches the keys and succeeds.
        idp.clear_faults();
        std::thread::sleep(Duration::from_millis(1100));
        bench.assert_logs_in(&idp, &token);
    }
    bench.assert_clean_log();
}

#[test]
fn a_broken_discovery_response_is_refused() {
    let bench = Bench::new();
    for (case, fault) in body_faults() {
        let idp = bench.provider(&[]);
        // Both metadata placements misbehave alike (a 404 at the first one is retried at the
        // second).
        idp.set_fault(Endpoint::OpenIdConfiguration, fault.clone());
        idp.set_fault(Endpoint::OAuthServerMetadata, fault);
        let token = bench.token(&idp);
        bench.assert_refused(case, &idp, &token, "discovery_failed");
        assert_eq!(idp.count(Endpoint::Jwks), 0, "{case}");
    }
    bench.assert_clean_log();
}

#[test]
fn a_broken_introspection_response_is_refused() {
    let bench = Bench::new();
    for (case, fault) in body_faults() {
        let idp = bench.provider(&[]);
        idp.set_fault(Endpoint::Introspection, fault);
        bench.presented.lock().unwrap().push(OPAQUE.to_owned());
        let added = bench.assert_refused(case, &idp, OPAQUE, "");
        assert!(
            [
                "introspection_failed",
                "malformed_response",
                "duplicate_member"
            ]
            .iter()
            .any(|r| added.contains(&format!("reason={r} "))),
            "{case}: {added}"
        );
        // A failure is not cached: the provider answering again lets the token in at once.
        idp.set_fault(Endpoint::Introspection, active(&idp));
        bench.assert_logs_in(&idp, OPAQUE);
    }
    bench.assert_clean_log();
}

#[test]
fn a_key_the_provider_withdrew_stops_working_once_the_cache_refreshes() {
    let bench = Bench::new();
    let idp = bench.provider_with(
        ProviderOptions {
            jwks_cache_control: CacheControl::MaxAge(1),
            ..Default::default()
        },
        &["pg_bearer.jwks_cache_min = 1s", "pg_bearer.jwks_grace = 0"],
    );
    let token = bench.token(&idp);
    bench.assert_logs_in(&idp, &token);
    let kid = idp.kid(Alg::Rs256).unwrap();
    assert!(idp.remove_key(&kid));
    std::thread::sleep(Duration::from_millis(1500)); // the cached set is stale now
    bench.assert_refused("withdrawn key", &idp, &token, "unknown_kid");
    assert_eq!(idp.count(Endpoint::Jwks), 2);
    bench.assert_clean_log();
}

/// A provider whose JWKS may be refreshed every second, with a login by alice done.
fn short_lived_keys(bench: &Bench, grace: &str) -> (Arc<MockProvider>, String) {
    let idp = bench.provider_with(
        ProviderOptions {
            jwks_cache_control: CacheControl::MaxAge(1),
            ..Default::default()
        },
        &["pg_bearer.jwks_cache_min = 1s", grace],
    );
    let token = bench.token(&idp);
    bench.assert_logs_in(&idp, &token);
    (idp, token)
}

#[test]
fn a_jwks_that_turns_to_garbage_between_calls_does_not_replace_the_good_keys() {
    let bench = Bench::new();
    let (idp, token) = short_lived_keys(&bench, "pg_bearer.jwks_grace = 5min");
    for (case, fault) in [
        (
            "keys not an array",
            Fault::Body("{\"keys\": 42}".into(), "application/json".into()),
        ),
        ("HTML", Fault::Html),
        ("HTTP 500", Fault::Status(500)),
    ] {
        idp.set_fault(Endpoint::Jwks, fault);
        std::thread::sleep(Duration::from_millis(1500)); // stale: the next login refreshes
        let before = idp.count(Endpoint::Jwks);
        // The refresh fails; the last good keys are within grace and keep working.
        bench.assert_logs_in(&idp, &token);
        assert_eq!(idp.count(Endpoint::Jwks), before + 1, "{case}: no refresh");
        std::thread::sleep(Duration::from_millis(1100)); // past the failure backoff
    }
    assert!(bench.cluster.log().contains("key refresh failed"));
    bench.assert_clean_log();
}

#[test]
fn a_jwks_that_gains_a_second_key_under_the_same_kid_makes_that_kid_unusable() {
    let bench = Bench::new();
    let (idp, token) = short_lived_keys(&bench, "pg_bearer.jwks_grace = 0");
    let kid = idp.kid(Alg::Rs256).unwrap();
    let mut jwks = idp.jwks();
    let mut twin = idp.public_jwk(&idp.kid(Alg::Ps256).unwrap()).unwrap();
    twin["kid"] = json!(kid);
    jwks["keys"].as_array_mut().unwrap().push(twin);
    idp.set_fault(
        Endpoint::Jwks,
        Fault::Body(jwks.to_string(), "application/json".into()),
    );
    std::thread::sleep(Duration::from_millis(1500));
    bench.assert_refused("duplicate kid", &idp, &token, "ambiguous_key");
    bench.assert_clean_log();
}

#[test]
fn the_request_deadline_stays_below_authentication_timeout() {
    let bench = Bench::new();
    // http_timeout asks for a minute, but authentication_timeout is 5 s: each request gets a
    // fifth of it, so pg_bearer refuses (and says why) before the server gives up on the
    // login with its own timeout.
    let idp = bench.provider(&[
        "authentication_timeout = '5s'",
        "pg_bearer.http_timeout = 1min",
    ]);
    idp.set_fault(Target::All, Fault::Hang);
    let token = bench.token(&idp);
    let started = Instant::now();
    let added = bench.assert_refused("hung provider", &idp, &token, "discovery_failed");
    eprintln!("refused after {:?}", started.elapsed());
    assert!(
        !added.contains("canceling authentication due to timeout"),
        "{added}"
    );
    bench.assert_clean_log();
}

#[test]
fn a_configured_plain_http_introspection_endpoint_is_never_called() {
    let bench = Bench::new();
    let plain = MockProvider::start(ProviderOptions {
        issuer_path: "/realms/main".into(),
        tls: TlsMode::PlainHttp,
        ..Default::default()
    });
    plain.set_fault(Endpoint::Introspection, active(&plain));
    let endpoint = plain.url(Endpoint::Introspection);
    assert!(endpoint.starts_with("http://"));
    let idp = bench.provider(&[&format!("pg_bearer.introspection_endpoint = '{endpoint}'")]);
    bench.presented.lock().unwrap().push(OPAQUE.to_owned());
    bench.assert_refused(
        "http introspection endpoint",
        &idp,
        OPAQUE,
        "not_configured",
    );
    // Neither the token nor the client secret went out in clear.
    assert_eq!(plain.count_total(), 0);
    assert_eq!(idp.count(Endpoint::Introspection), 0);
    bench.assert_clean_log();
}

#[test]
fn hostile_kids_are_refused_and_never_reach_the_log() {
    let bench = Bench::new();
    let idp = bench.provider(&[]);
    let m = idp.minter();
    let claims = m.claims(AUDIENCE, "alice", SCOPE);
    let hostile = [
        "../../../../etc/passwd",
        "' OR 1=1--",
        "k1\nLOG:  forged line",
        "k1\"; DROP ROLE alice; --",
        &"Q".repeat(1000),
    ];
    for kid in hostile {
        let token = m.mint(Alg::Rs256, &claims, &json!({ "kid": kid }));
        let added = bench.assert_refused("hostile kid", &idp, &token, "");
        // Control characters and over-long kids are refused with the header; the others are
        // looked up, exactly, and not found.
        assert!(
            added.contains("reason=unknown_kid ") || added.contains("reason=malformed_header "),
            "{added}"
        );
        for shown in [
            "etc/passwd",
            "OR 1=1",
            "forged line",
            "DROP ROLE",
            "QQQQQQQQ",
        ] {
            assert!(!added.contains(shown), "{kid:?} reached the log: {added}");
        }
        assert!(!added.contains("kid="), "{added}");
    }
    // One discovery and one JWKS fetch for the lot (the unknown-kid cooldown holds).
    assert_eq!(idp.count(Endpoint::Jwks), 1);
    bench.assert_clean_log();
}

#[test]
fn key_urls_named_by_a_token_are_never_fetched() {
    let bench = Bench::new();
    let idp = bench.provider(&[]);
    let m = idp.minter();
    let claims = m.claims(AUDIENCE, "alice", SCOPE);
    // On the provider itself, where a fetch would be counted (and would find real keys).
    let trap = "/attacker/jwks";
    for member in ["jku", "x5u"] {
        let token = m.mint(
            Alg::Rs256,
            &claims,
            &json!({ member: idp.url_for_path(trap) }),
        );
        bench.assert_refused(member, &idp, &token, "forbidden_header");
    }
    assert_eq!(idp.count(trap), 0);
    bench.assert_clean_log();
}

#[test]
fn a_jwt_that_fails_locally_is_never_sent_to_userinfo() {
    let bench = Bench::new();
    let idp = bench.provider(&["pg_bearer.client_id = ''", "pg_bearer.userinfo = on"]);
    idp.set_fault(
        Endpoint::UserInfo,
        Fault::Body(
            json!({"sub": "alice"}).to_string(),
            "application/json".into(),
        ),
    );
    let m = idp.minter();
    let claims = m.claims(AUDIENCE, "alice", SCOPE);
    let tampered = pg_bearer_e2e::tokens::tamper_signature(&bench.token(&idp));
    bench.assert_refused("bad signature", &idp, &tampered, "bad_signature");
    // An empty signature: refused as a malformed JWS, never taken for an opaque token.
    bench.assert_refused("alg none", &idp, &m.alg_none(&claims), "malformed_envelope");
    let mut foreign = claims.clone();
    foreign["aud"] = json!("another-api");
    let foreign = m.mint(Alg::Rs256, &foreign, &json!({}));
    bench.assert_refused("wrong audience", &idp, &foreign, "wrong_audience");
    assert_eq!(idp.count(Endpoint::UserInfo), 0);
    bench.assert_clean_log();
}
