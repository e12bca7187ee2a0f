//! Opaque access tokens from a real, OpenID-certified provider (npm `oidc-provider`, see
//! `pgrx-tests/fixtures/oidc-provider/`): the real `psql` logs in through libpq's device flow with an opaque
//! token that pg_bearer checks by RFC 7662 introspection (as the confidential client
//! `pg-introspect`, over HTTPS) or, when enabled, at the userinfo endpoint; a service logs in
//! with an opaque client_credentials token; a token revoked at the provider is refused once
//! its cache entry has expired; and the result cache spares the provider repeated questions.
//! No test lets the server log hold a piece of a token or of the client secret.

use std::sync::Mutex;
use std::time::Duration;

use pg_bearer_e2e::cluster::{assert_session_identity, Cluster, ClusterConfig};
use pg_bearer_e2e::libpq::Session;
use pg_bearer_e2e::logscan::LogWindows;
use pg_bearer_e2e::oidc::{
    OidcOptions, OidcProvider, ALICE, AUDIENCE, BOB, INTROSPECT_SECRET, SERVICE_OPAQUE_SECRET,
    USERINFO_CLIENT,
};
use pg_bearer_e2e::suite::SecretFile;

/// The HBA `scope`, which libpq requests in the device flow.
const SCOPE: &str = "openid postgres";
/// For userinfo the identity is `preferred_username`, which the provider returns for the
/// `profile` scope only.
const USERINFO_SCOPE: &str = "openid postgres profile";
/// The client pg_bearer introspects with (its secret is [`INTROSPECT_SECRET`]).
const INTROSPECT_CLIENT: &str = "pg-introspect";
/// A confidential client whose client_credentials tokens are opaque, `sub` = its id (its
/// secret is [`SERVICE_OPAQUE_SECRET`]).
const SERVICE: &str = "service-opaque";

/// How pg_bearer is to check opaque tokens.
enum Check {
    /// RFC 7662 introspection as [`INTROSPECT_CLIENT`] (endpoint from discovery).
    Introspection,
    /// The userinfo endpoint (`pg_bearer.userinfo = on`, no client credentials), the
    /// identity from `preferred_username`.
    Userinfo,
}

/// A provider, a cluster whose pg_hba trusts it (no ident map: the identity must equal the
/// role), and the client secret file.
struct Fixture {
    idp: OidcProvider,
    cluster: Cluster,
    /// Kept for its lifetime: the file is removed when the fixture is dropped.
    _secret: SecretFile,
    /// Tokens this test presented itself (psql's are asked of the provider at the end).
    presented: Mutex<Vec<String>>,
}

impl Fixture {
    fn new(check: Check, extra_conf: &[&str]) -> Fixture {
        let idp = OidcProvider::start(OidcOptions::default());
        let secret = SecretFile::write(INTROSPECT_SECRET);

        let mut conf = vec![
            format!("pg_bearer.audience = '{AUDIENCE}'"),
            format!("pg_bearer.ca_file = '{}'", idp.ca_pem_path().display()),
        ];
        let scope = match check {
            Check::Introspection => {
                conf.push(format!("pg_bearer.client_id = '{INTROSPECT_CLIENT}'"));
                conf.push(format!(
                    "pg_bearer.client_secret_file = '{}'",
                    secret.path().display()
                ));
                SCOPE
            }
            Check::Userinfo => {
                conf.push("pg_bearer.userinfo = on".into());
                conf.push("pg_bearer.identity_claim = 'preferred_username'".into());
                USERINFO_SCOPE
            }
        };
        conf.extend(extra_conf.iter().map(|s| s.to_string()));
        let cluster = Cluster::start(&ClusterConfig {
            hba: vec![format!(
                "host all all 127.0.0.1/32 oauth issuer=\"{}\" scope=\"{scope}\"",
                idp.issuer()
            )],
            conf,
            ..Default::default()
        });
        let admin = cluster.superuser();
        for role in [ALICE, BOB, SERVICE] {
            admin
                .query(&format!("CREATE ROLE \"{role}\" LOGIN"))
                .expect("create role");
        }
        Fixture {
            idp,
            cluster,
            _secret: secret,
            presented: Mutex::new(Vec::new()),
        }
    }

    fn service_token(&self) -> String {
        let token = self.idp.client_credentials(SERVICE, SERVICE_OPAQUE_SECRET);
        assert!(!token.contains('.'), "an opaque token, not a JWT");
        token
    }

    /// Logs in as `role` with `token` through the libpq token hook (token-first: libpq is
    /// given the well-known URI, so one connection per login).
    fn hook_login(&self, role: &str, token: &str) -> Result<Session, String> {
        self.presented.lock().unwrap().push(token.to_owned());
        Session::connect(
            &self.cluster.oauth_conninfo(role, &self.idp.well_known()),
            Some(token),
        )
    }

    fn assert_hook_login(&self, role: &str, token: &str) {
        let session = self
            .hook_login(role, token)
            .unwrap_or_else(|e| panic!("login as {role} refused: {e}\n{}", self.cluster.log()));
        assert_session_identity(&session, &format!("oauth:{role}"), role);
    }

    fn assert_hook_refused(&self, role: &str, token: &str, reason: &str) {
        let before = self.cluster.log().len();
        match self.hook_login(role, token) {
            Ok(_) => panic!("expected reason={reason}, but the token logged in"),
            Err(e) => assert!(
                e.ends_with(&format!(
                    "OAuth bearer authentication failed for user \"{role}\""
                )),
                "client error for {reason}: {e}"
            ),
        }
        let log = self.log_since(before);
        assert!(
            log.contains(&format!("reason={reason}")),
            "expected reason={reason} in:\n{log}"
        );
    }

    fn assert_device_login_as_alice(&self, client_id: &str) {
        let (system_user, current_user) = self
            .idp
            .device_login_psql(&self.cluster, ALICE, client_id)
            .unwrap_or_else(|e| {
                panic!(
                    "psql login with {client_id} refused: {e}\n{}",
                    self.cluster.log()
                )
            });
        assert_eq!(system_user, "oauth:alice");
        assert_eq!(current_user, ALICE);
    }

    /// The server log written after byte `offset`.
    fn log_since(&self, offset: usize) -> String {
        let log = self.cluster.log();
        log.get(offset..).unwrap_or_default().to_owned()
    }

    /// No 8-byte window of a token presented (by us, or by psql: every live opaque token the
    /// provider issued) nor of the client secret is in the server log. The secret begins
    /// with the client id, which is no secret, so the secret's windows that lie within
    /// `pg-introspect` are not held against the log.
    fn assert_clean_log(&self) {
        let log = self.cluster.log();
        let windows = LogWindows::new(&log, 8);
        let mut tokens = self.presented.lock().unwrap().clone();
        tokens.extend(self.idp.opaque_access_tokens());
        assert!(!tokens.is_empty());
        for token in &tokens {
            if let Some(at) = windows.leak(token) {
                panic!("the server log holds bytes {at}..{} of a token", at + 8);
            }
        }
        if let Some(at) = windows.leak(INTROSPECT_SECRET) {
            panic!("the server log holds part of the client secret (from byte {at})");
        }
        assert!(!log.contains("PANIC") && !log.contains("TRAP"), "{log}");
    }
}

// ----- psql and libpq's device flow -----

#[test]
fn psql_device_flow_with_an_opaque_token_logs_in_through_introspection() {
    let f = Fixture::new(Check::Introspection, &[]);
    f.idp.reset_stats();
    f.assert_device_login_as_alice("psql-opaque");
    let stats = f.idp.stats();
    assert_eq!(stats.introspection, 1, "{stats:?}");
    assert_eq!(stats.userinfo, 0, "{stats:?}");
    f.assert_clean_log();
}

#[test]
fn psql_device_flow_with_an_audience_free_opaque_token_logs_in_through_userinfo() {
    let f = Fixture::new(Check::Userinfo, &[]);
    f.idp.reset_stats();
    f.assert_device_login_as_alice(USERINFO_CLIENT);
    let stats = f.idp.stats();
    assert_eq!(stats.userinfo, 1, "{stats:?}");
    assert_eq!(stats.introspection, 0, "{stats:?}");
    // The token psql presented names no audience (which is why userinfo took it).
    let tokens = f.idp.opaque_access_tokens();
    assert_eq!(tokens.len(), 1);
    let (status, body) = f
        .idp
        .introspect(&tokens[0], INTROSPECT_CLIENT, INTROSPECT_SECRET);
    assert_eq!(status, 200);
    assert_eq!(body["active"], true);
    assert_eq!(body["client_id"], USERINFO_CLIENT);
    assert_eq!(body["aud"], serde_json::Value::Null, "no audience");
    f.assert_clean_log();
}

#[test]
fn userinfo_refuses_an_opaque_token_issued_for_an_audience() {
    // oidc-provider's userinfo endpoint answers 401 invalid_token for a token with an
    // audience (psql-opaque's carry `aud: postgres-db`): pg_bearer reads that as inactive.
    let f = Fixture::new(Check::Userinfo, &[]);
    let before = f.cluster.log().len();
    let error = f
        .idp
        .device_login_psql(&f.cluster, ALICE, "psql-opaque")
        .expect_err("userinfo refuses a token with an audience");
    assert!(
        error.contains("OAuth bearer authentication failed for user \"alice\""),
        "psql said: {error}"
    );
    let log = f.log_since(before);
    assert!(log.contains("reason=token_inactive"), "server log:\n{log}");
    f.assert_clean_log();
}

// ----- client_credentials -----

#[test]
fn client_credentials_opaque_token_logs_in_as_the_service_role() {
    let f = Fixture::new(Check::Introspection, &[]);
    let token = f.service_token();
    f.assert_hook_login(SERVICE, &token);
    f.assert_clean_log();
}

#[test]
fn client_credentials_opaque_token_cannot_use_role_alice() {
    let f = Fixture::new(Check::Introspection, &[]);
    let token = f.service_token();
    let before = f.cluster.log().len();
    let error = f
        .hook_login(ALICE, &token)
        .err()
        .expect("the service's token must not log in as alice");
    assert!(
        error.ends_with("OAuth bearer authentication failed for user \"alice\""),
        "{error}"
    );
    let log = f.log_since(before);
    assert!(
        log.contains(
            "provided user name (alice) and authenticated user name (service-opaque) do not match"
        ),
        "server log:\n{log}"
    );
    f.assert_clean_log();
}

// ----- revocation and the result cache -----

#[test]
fn a_token_revoked_at_the_provider_is_refused_once_the_cache_entry_expires() {
    let f = Fixture::new(Check::Introspection, &["pg_bearer.result_cache_ttl = 2s"]);
    let token = f.service_token();
    f.assert_hook_login(SERVICE, &token);
    f.idp.revoke(&token, SERVICE, SERVICE_OPAQUE_SECRET);
    let (status, body) = f
        .idp
        .introspect(&token, INTROSPECT_CLIENT, INTROSPECT_SECRET);
    assert_eq!(status, 200);
    assert_eq!(
        body["active"], false,
        "the provider says the token is revoked"
    );
    // Until the cached answer (2 s) expires, a login may still succeed: that is the price of
    // the cache, documented for pg_bearer.result_cache_ttl. Nothing is asserted about it.
    std::thread::sleep(Duration::from_millis(2500));
    let introspections = f.idp.stats().introspection;
    f.assert_hook_refused(SERVICE, &token, "token_inactive");
    assert_eq!(
        f.idp.stats().introspection,
        introspections + 1,
        "the expired entry made pg_bearer ask again"
    );
    f.assert_clean_log();
}

#[test]
fn a_hundred_logins_with_one_opaque_token_cost_one_introspection() {
    let f = Fixture::new(Check::Introspection, &[]);
    let token = f.service_token();
    f.idp.reset_stats();
    for i in 0..100 {
        f.hook_login(SERVICE, &token)
            .unwrap_or_else(|e| panic!("login {i} refused: {e}\n{}", f.cluster.log()));
    }
    let stats = f.idp.stats();
    assert_eq!(stats.introspection, 1, "{stats:?}");
    f.assert_clean_log();
}
