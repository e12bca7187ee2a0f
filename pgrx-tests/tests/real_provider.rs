//! pg_bearer against a real, OpenID-certified provider (npm `oidc-provider`, see
//! `pgrx-tests/fixtures/oidc-provider/`): the real `psql` logs in through libpq's device flow with JWT access
//! tokens signed RS256, ES256 and EdDSA; a service logs in with a client_credentials token;
//! the provider rotates its keys while PostgreSQL keeps running; and a user cannot log in
//! as somebody else's role.

use std::time::Duration;

use pg_bearer_e2e::cluster::{assert_session_identity, Cluster, ClusterConfig};
use pg_bearer_e2e::libpq::Session;
use pg_bearer_e2e::logscan::LogWindows;
use pg_bearer_e2e::oidc::{
    OidcOptions, OidcProvider, ALICE, AUDIENCE, BOB, INTROSPECT_SECRET, SERVICE_OPAQUE_SECRET,
    SERVICE_SECRET, SERVICE_SUB,
};

const SCOPE: &str = "openid postgres";

/// A provider and a cluster whose pg_hba trusts it (no ident map: the token's `sub` must
/// equal the role).
struct Fixture {
    idp: OidcProvider,
    cluster: Cluster,
}

impl Fixture {
    fn new(extra_conf: &[&str]) -> Fixture {
        let idp = OidcProvider::start(OidcOptions::default());
        let mut conf = vec![
            format!("pg_bearer.audience = '{AUDIENCE}'"),
            format!("pg_bearer.ca_file = '{}'", idp.ca_pem_path().display()),
        ];
        conf.extend(extra_conf.iter().map(|s| s.to_string()));
        let cluster = Cluster::start(&ClusterConfig {
            hba: vec![format!(
                "host all all 127.0.0.1/32 oauth issuer=\"{}\" scope=\"{SCOPE}\"",
                idp.issuer()
            )],
            conf,
            ..Default::default()
        });
        let admin = cluster.superuser();
        for role in [ALICE, BOB, SERVICE_SUB] {
            admin
                .query(&format!("CREATE ROLE {role} LOGIN"))
                .expect("create role");
        }
        Fixture { idp, cluster }
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

    /// Logs in as `role` with `token` through the libpq token hook (token-first: libpq is
    /// given the well-known URI).
    fn hook_login(&self, role: &str, token: &str) -> Result<Session, String> {
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

    fn assert_no_token_in_log(&self, tokens: &[&str]) {
        let log = self.cluster.log();
        let windows = LogWindows::new(&log, 8);
        for token in tokens {
            if let Some(at) = windows.leak(token) {
                panic!("the server log holds bytes {at}..{} of a token", at + 8);
            }
        }
    }

    /// The server log written after byte `offset`.
    fn log_since(&self, offset: usize) -> String {
        let log = self.cluster.log();
        log.get(offset..).unwrap_or_default().to_owned()
    }

    fn postmaster_started(&self) -> Option<String> {
        self.cluster
            .superuser()
            .query_one("SELECT pg_postmaster_start_time()::text")
            .expect("pg_postmaster_start_time")
    }
}

// ----- psql and libpq's device flow -----

#[test]
fn psql_device_flow_with_an_rs256_jwt_logs_in_as_alice() {
    Fixture::new(&[]).assert_device_login_as_alice("psql-rs256");
}

#[test]
fn psql_device_flow_with_an_es256_jwt_logs_in_as_alice() {
    Fixture::new(&[]).assert_device_login_as_alice("psql-es256");
}

#[test]
fn psql_device_flow_with_an_eddsa_jwt_logs_in_as_alice() {
    Fixture::new(&[]).assert_device_login_as_alice("psql-eddsa");
}

#[test]
fn device_login_as_alice_cannot_use_role_bob() {
    let f = Fixture::new(&[]);
    let before = f.cluster.log().len();
    let error = f
        .idp
        .device_login_psql_as(&f.cluster, ALICE, BOB, "psql-rs256")
        .expect_err("alice's token must not log in as bob");
    assert!(
        error.contains("OAuth bearer authentication failed for user \"bob\""),
        "psql said: {error}"
    );
    let log = f.log_since(before);
    assert!(
        log.contains("provided user name (bob) and authenticated user name (alice) do not match"),
        "server log:\n{log}"
    );
}

// ----- the session's claims (CREATE EXTENSION pg_bearer) -----

#[test]
fn psql_device_logins_see_their_own_tenants_rows_and_groups() {
    let f = Fixture::new(&[]);
    let admin = f.cluster.superuser();
    for sql in [
        "CREATE EXTENSION pg_bearer",
        "CREATE TABLE docs (tenant text, body text)",
        "INSERT INTO docs VALUES ('acme', 'acme-1'), ('acme', 'acme-2'), ('globex', 'globex-1')",
        "ALTER TABLE docs ENABLE ROW LEVEL SECURITY",
        "CREATE POLICY tenant_rows ON docs USING (tenant = pg_bearer.claim('tenant'))",
        "GRANT SELECT ON docs TO PUBLIC",
    ] {
        admin.query(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    let sql = "SELECT (SELECT string_agg(body, ',' ORDER BY body) FROM docs), \
               pg_bearer.claim('/groups/0'), pg_bearer.issuer(), \
               pg_bearer.token_expires_at() > now()";
    for (role, client, rows, group) in [
        (ALICE, "psql-es256", "acme-1,acme-2", "dba"),
        (BOB, "psql-rs256", "globex-1", "staff"),
    ] {
        let out = f
            .idp
            .device_login_psql_run(&f.cluster, role, role, client, sql)
            .unwrap_or_else(|e| panic!("psql as {role}: {e}\n{}", f.cluster.log()));
        let expected = format!("{rows}|{group}|{}|t", f.idp.issuer());
        assert_eq!(out.trim_end(), expected, "{role}");
    }
    // A service token through the libpq hook: its client's tenant (globex), globex's row.
    let token = f.idp.client_credentials("service", SERVICE_SECRET);
    let s = f
        .hook_login(SERVICE_SUB, &token)
        .unwrap_or_else(|e| panic!("{e}\n{}", f.cluster.log()));
    for (sql, expected) in [
        ("SELECT pg_bearer.claim('sub')", Some(SERVICE_SUB)),
        ("SELECT pg_bearer.claim('tenant')", Some("globex")),
        ("SELECT pg_bearer.issuer()", Some(f.idp.issuer())),
        ("SELECT string_agg(body, ',') FROM docs", Some("globex-1")),
    ] {
        assert_eq!(s.query_one(sql).unwrap().as_deref(), expected, "{sql}");
    }
    f.assert_no_token_in_log(&[&token]);
}

// ----- client_credentials -----

#[test]
fn client_credentials_jwt_logs_in_as_the_service_role() {
    let f = Fixture::new(&[]);
    let token = f.idp.client_credentials("service", SERVICE_SECRET);
    f.assert_hook_login(SERVICE_SUB, &token);
    f.assert_no_token_in_log(&[&token]);
}

#[test]
fn client_credentials_jwt_for_the_service_cannot_use_role_alice() {
    let f = Fixture::new(&[]);
    let token = f.idp.client_credentials("service", SERVICE_SECRET);
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
            "provided user name (alice) and authenticated user name (service) do not match"
        ),
        "server log:\n{log}"
    );
    f.assert_no_token_in_log(&[&token]);
}

// ----- key rotation -----

#[test]
fn rotated_keys_are_fetched_on_an_unknown_kid_without_restarting_postgres() {
    let f = Fixture::new(&["pg_bearer.unknown_kid_cooldown = 1s"]);
    let started = f.postmaster_started();
    let old_token = f.idp.client_credentials("service", SERVICE_SECRET);
    f.assert_hook_login(SERVICE_SUB, &old_token);
    let jwks_before = f.idp.stats().jwks;
    assert!(jwks_before >= 1, "the first login fetched the JWKS");

    let rotated = f.idp.rotate_dropping_old();
    assert!(
        !rotated
            .published
            .iter()
            .any(|kid| kid_of(&old_token) == *kid),
        "the old key is withdrawn"
    );
    // Past the unknown-kid cooldown, so the refetch is allowed.
    std::thread::sleep(Duration::from_millis(1500));
    let new_token = f.idp.client_credentials("service", SERVICE_SECRET);
    assert_ne!(kid_of(&new_token), kid_of(&old_token));
    f.assert_hook_login(SERVICE_SUB, &new_token);
    assert!(
        f.idp.stats().jwks > jwks_before,
        "the new kid made pg_bearer refetch the JWKS"
    );

    // Once the new keys are cached, a token signed with the withdrawn key no longer verifies.
    let before = f.cluster.log().len();
    assert!(
        f.hook_login(SERVICE_SUB, &old_token).is_err(),
        "a token signed with a withdrawn key must be refused"
    );
    let log = f.log_since(before);
    assert!(log.contains("reason=unknown_kid"), "server log:\n{log}");
    assert_eq!(
        f.postmaster_started(),
        started,
        "PostgreSQL was not restarted"
    );
    f.assert_no_token_in_log(&[&old_token, &new_token]);
}

/// The `kid` of a JWT's header (the header is not secret).
fn kid_of(token: &str) -> String {
    use base64::Engine as _;
    let header = token.split('.').next().expect("a JWT");
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .expect("base64url header");
    let header: serde_json::Value = serde_json::from_slice(&header).expect("JSON header");
    header["kid"].as_str().expect("a kid").to_owned()
}

// ----- the fixture itself -----

#[test]
fn fixture_introspects_opaque_tokens_for_pg_introspect_only() {
    let idp = OidcProvider::start(OidcOptions::default());
    let opaque = idp.client_credentials("service-opaque", SERVICE_OPAQUE_SECRET);
    assert!(!opaque.contains('.'), "an opaque token, not a JWT");

    let (status, body) = idp.introspect(&opaque, "pg-introspect", INTROSPECT_SECRET);
    assert_eq!(status, 200);
    assert_eq!(body["active"], true);
    assert_eq!(body["sub"], "service-opaque");
    assert_eq!(body["aud"], AUDIENCE);
    assert_eq!(body["iss"], idp.issuer());
    assert_eq!(body["scope"], "postgres");
    assert_eq!(idp.stats().introspection, 1);

    let (status, _) = idp.introspect(&opaque, "pg-introspect", "wrong-secret");
    assert_eq!(status, 401, "a wrong client secret is refused");

    // By design oidc-provider does not introspect JWT access tokens.
    let jwt = idp.client_credentials("service", SERVICE_SECRET);
    let (status, body) = idp.introspect(&jwt, "pg-introspect", INTROSPECT_SECRET);
    assert_ne!(
        (status, body["active"].as_bool()),
        (200, Some(true)),
        "JWT access tokens are not introspected"
    );
}

#[test]
fn fixture_jwks_keeps_or_drops_old_keys_on_rotation() {
    let idp = OidcProvider::start(OidcOptions::default());
    let first = idp.keys();
    assert_eq!(first.signing.len(), 3, "RS256, ES256 and EdDSA");
    let (_, jwks) = idp.get_json("/realms/main/jwks");
    assert_eq!(jwks["keys"].as_array().map(Vec::len), Some(3));

    let kept = idp.rotate();
    assert_eq!(kept.published.len(), 6, "old keys stay published");
    assert!(first.published.iter().all(|k| kept.published.contains(k)));
    let dropped = idp.rotate_dropping_old();
    assert_eq!(dropped.published.len(), 3);
    assert!(kept
        .published
        .iter()
        .all(|k| !dropped.published.contains(k)));
    let (_, jwks) = idp.get_json("/realms/main/jwks");
    let served: Vec<&str> = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .filter_map(|k| k["kid"].as_str())
        .collect();
    assert_eq!(served, dropped.published);
    assert!(idp.stats().jwks >= 2);
}

#[test]
fn fixture_device_approval_refuses_an_unknown_account() {
    // Only alice and bob exist; approving as anybody else fails at the login page, and psql
    // is killed rather than left polling.
    let f = Fixture::new(&[]);
    let error = f
        .idp
        .device_login_psql_as(&f.cluster, "mallory", ALICE, "psql-rs256")
        .expect_err("an unknown account cannot approve");
    assert!(error.contains("device approval failed"), "{error}");
}

#[test]
fn fixture_node_process_ends_when_the_provider_is_dropped() {
    let idp = OidcProvider::start(OidcOptions::default());
    let pid = idp.pid();
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    drop(idp);
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "node {pid} is gone"
    );
}
