//! The session's verified claims end to end (`CREATE EXTENSION pg_bearer`): a row-level
//! security policy on a token's claim, through every attempt to forge the claims from inside
//! the session; NULL for sessions that did not log in with a token; the functions' answers
//! against the token they came from (JWT and opaque); the planner folding them into a
//! constant; parallel workers; large tokens and the claims cap; the settings' check hook.
//!
//! Real PostgreSQL 18 and libpq (the token hook), the HTTPS mock provider for tokens with
//! exact claims. The real provider and psql's device flow: tests/real_provider.rs.

use pg_bearer_e2e::cluster::{Cluster, ClusterConfig};
use pg_bearer_e2e::libpq::Session;
use pg_bearer_e2e::provider::{Alg, Endpoint, Fault, MockProvider, ProviderOptions};
use pg_bearer_e2e::suite::SecretFile;
use pg_bearer_e2e::tokens::now;
use serde_json::{json, Value};

const AUDIENCE: &str = "postgres-db";
const SCOPE: &str = "openid postgres";
const SCRAM_PASSWORD: &str = "dave-scram-password";
const INTROSPECTION_CLIENT: &str = "pg-introspect";
const INTROSPECTION_SECRET: &str = "Rk4Tq9Wm2Lx7Vb3Nc8Pz";
/// Not a JWS: sent to introspection.
const OPAQUE: &str = "Ht5nWq8Lk2Vx0Rb7Yc3Mz6Fd1Gs4Pj9Ea2Ku8No5Ti";

/// The session functions, each as a query returning one text value.
const SESSION_FUNCTIONS: [&str; 5] = [
    "SELECT pg_bearer.claims()::text",
    "SELECT pg_bearer.claim('sub')",
    "SELECT pg_bearer.scopes()::text",
    "SELECT pg_bearer.issuer()",
    "SELECT pg_bearer.token_expires_at()::text",
];

/// Every tenant's rows, as `SELECT string_agg(body, ',' ORDER BY body) FROM docs` shows them.
const ACME_ROWS: &str = "acme-1,acme-2";
const INITECH_ROWS: &str = "initech-1";

struct Fixture {
    idp: MockProvider,
    cluster: Cluster,
    config: ClusterConfig,
    presented: std::sync::Mutex<Vec<String>>,
    _secret: SecretFile,
}

impl Fixture {
    /// A provider, a cluster trusting it (also a SCRAM line for `dave` over the Unix socket),
    /// the extension, and a table `docs` whose policy shows each token its tenant's rows.
    fn new(preload: bool, extra_conf: &[&str]) -> Fixture {
        let idp = MockProvider::start(ProviderOptions {
            issuer_path: "/realms/main".into(),
            ..Default::default()
        });
        let secret = SecretFile::write(INTROSPECTION_SECRET);
        let mut conf = vec![
            format!("pg_bearer.audience = '{AUDIENCE}'"),
            format!("pg_bearer.ca_file = '{}'", idp.ca_pem_path().display()),
            format!("pg_bearer.client_id = '{INTROSPECTION_CLIENT}'"),
            format!(
                "pg_bearer.client_secret_file = '{}'",
                secret.path().display()
            ),
        ];
        conf.extend(extra_conf.iter().map(|s| s.to_string()));
        let config = ClusterConfig {
            hba: vec![
                format!(
                    "host all all 127.0.0.1/32 oauth issuer=\"{}\" scope=\"{SCOPE}\"",
                    idp.issuer()
                ),
                "local all dave scram-sha-256".into(),
            ],
            conf,
            preload,
            ..Default::default()
        };
        let cluster = Cluster::start(&config);
        let admin = cluster.superuser();
        for sql in [
            "CREATE EXTENSION pg_bearer",
            "CREATE ROLE alice LOGIN",
            "CREATE ROLE bob LOGIN",
            "CREATE ROLE carol SUPERUSER LOGIN",
            &format!("CREATE ROLE dave LOGIN PASSWORD '{SCRAM_PASSWORD}'"),
            // alice may become bob: SET ROLE changes the role, never the token.
            "GRANT bob TO alice",
            "CREATE TABLE docs (tenant text NOT NULL, body text NOT NULL)",
            "INSERT INTO docs VALUES ('acme', 'acme-1'), ('acme', 'acme-2'), \
             ('globex', 'globex-1'), ('initech', 'initech-1')",
            "ALTER TABLE docs ENABLE ROW LEVEL SECURITY",
            "CREATE POLICY tenant_rows ON docs USING (tenant = pg_bearer.claim('tenant'))",
            "GRANT SELECT ON docs TO PUBLIC",
        ] {
            admin.query(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
        Fixture {
            idp,
            cluster,
            config,
            presented: Default::default(),
            _secret: secret,
        }
    }

    /// The provider's standard claims for `sub`, with `extra` merged over them.
    fn claims(&self, sub: &str, extra: Value) -> Value {
        let mut claims = self.idp.minter().claims(AUDIENCE, sub, SCOPE);
        for (k, v) in extra.as_object().expect("extra claims are an object") {
            claims[k] = v.clone();
        }
        claims
    }

    fn token(&self, claims: &Value) -> String {
        self.idp.minter().mint(Alg::Es256, claims, &json!({}))
    }

    fn login(&self, role: &str, token: &str) -> Session {
        self.presented.lock().unwrap().push(token.to_owned());
        Session::connect(
            &self.cluster.oauth_conninfo(role, &self.idp.well_known()),
            Some(token),
        )
        .unwrap_or_else(|e| panic!("login as {role} refused: {e}\n{}", self.cluster.log()))
    }

    fn assert_clean_log(&self) {
        let presented = self.presented.lock().unwrap().clone();
        let secrets = presented
            .iter()
            .map(String::as_str)
            .chain([INTROSPECTION_SECRET, SCRAM_PASSWORD]);
        self.cluster.assert_log_clean_of(secrets);
    }
}

fn one(session: &Session, sql: &str) -> Option<String> {
    session
        .query_one(sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

fn visible_rows(session: &Session) -> Option<String> {
    one(
        session,
        "SELECT string_agg(body, ',' ORDER BY body) FROM docs",
    )
}

fn session_claims(session: &Session) -> Value {
    let text = one(session, "SELECT pg_bearer.claims()::text").expect("claims() is not NULL");
    serde_json::from_str(&text).expect("claims() is JSON")
}

/// Runs every attempt to change what the session's claims say (each may fail: being refused
/// is as good as being ignored), checking after each one (and `then`, which puts the session
/// back under row-level security) that nothing changed.
fn assert_unforgeable(
    session: &Session,
    attempts: &[&str],
    then: Option<&str>,
    claims: &Value,
    rows: &str,
) {
    let forged = r#"'{"sub":"mallory","tenant":"globex"}'"#;
    for attempt in attempts {
        let attempt = attempt.replace("FORGED", forged);
        let _ = session.query(&attempt);
        if attempt.starts_with("BEGIN") {
            // An attempt that failed inside BEGIN leaves the transaction aborted.
            let _ = session.query("ROLLBACK");
        }
        if let Some(then) = then {
            session
                .query(then)
                .unwrap_or_else(|e| panic!("{then}: {e}"));
        }
        assert_eq!(&session_claims(session), claims, "after {attempt}");
        assert_eq!(
            one(session, "SELECT pg_bearer.claim('tenant')"),
            claims["tenant"].as_str().map(str::to_owned),
            "after {attempt}"
        );
        assert_eq!(
            visible_rows(session).as_deref(),
            Some(rows),
            "after {attempt}"
        );
    }
}

/// What any session may try: settings of every spelling, resets, role changes, reloading
/// the library, session-level caches.
const FORGERY_ATTEMPTS: &[&str] = &[
    "SET pg_bearer.claims = FORGED",
    "SELECT set_config('pg_bearer.claims', FORGED, false)",
    "SELECT set_config('pg_bearer.claim', 'globex', false)",
    "SET request.jwt.claims = FORGED",
    "SELECT set_config('request.jwt.claims', FORGED, true)",
    "SET pg_bearer.session_claims = 'tenant'",
    "RESET ALL",
    "DISCARD ALL",
    "PREPARE p AS SELECT * FROM docs",
    "DEALLOCATE ALL",
    "SET ROLE bob",
    "RESET ROLE",
    "SET SESSION AUTHORIZATION bob",
    "LOAD 'pg_bearer'",
    "BEGIN; SET LOCAL pg_bearer.claims = FORGED; SELECT pg_bearer.claims(); COMMIT",
    "BEGIN; SET LOCAL request.jwt.claims = FORGED; SELECT pg_bearer.claims(); COMMIT",
];

fn rls_policy_on_a_claim_survives_every_forgery_attempt(preload: bool) {
    let f = Fixture::new(preload, &[]);
    let alice_claims = f.claims("alice", json!({ "tenant": "acme" }));
    let alice = f.login("alice", &f.token(&alice_claims));
    let globex = f.login(
        "bob",
        &f.token(&f.claims("bob", json!({ "tenant": "globex" }))),
    );
    assert_eq!(visible_rows(&alice).as_deref(), Some(ACME_ROWS));
    assert_eq!(visible_rows(&globex).as_deref(), Some("globex-1"));
    assert_eq!(session_claims(&alice), alice_claims);
    assert_unforgeable(&alice, FORGERY_ATTEMPTS, None, &alice_claims, ACME_ROWS);
    // After SET ROLE the policy is evaluated for bob, with alice's token: still acme's rows.
    let _ = alice.query("SET ROLE bob");
    assert_eq!(one(&alice, "SELECT current_user").as_deref(), Some("bob"));
    assert_unforgeable(&alice, &["SELECT 1"], None, &alice_claims, ACME_ROWS);

    // A superuser may do more (SET SESSION AUTHORIZATION, LOAD, any setting); a superuser
    // bypasses row-level security, so each check is made as bob, with carol's token.
    let carol_claims = f.claims("carol", json!({ "tenant": "initech" }));
    let carol = f.login("carol", &f.token(&carol_claims));
    for attempt in ["LOAD 'pg_bearer'", "SET SESSION AUTHORIZATION bob"] {
        carol
            .query(attempt)
            .unwrap_or_else(|e| panic!("{attempt}: {e}"));
    }
    assert_eq!(one(&carol, "SELECT current_user").as_deref(), Some("bob"));
    assert_unforgeable(
        &carol,
        FORGERY_ATTEMPTS,
        Some("SET SESSION AUTHORIZATION bob"),
        &carol_claims,
        INITECH_ROWS,
    );
    // Other sessions were not touched by any of it.
    assert_eq!(visible_rows(&globex).as_deref(), Some("globex-1"));
    f.assert_clean_log();
}

#[test]
fn rls_policy_on_a_claim_survives_every_forgery_attempt_when_loaded_at_login() {
    rls_policy_on_a_claim_survives_every_forgery_attempt(false);
}

#[test]
fn rls_policy_on_a_claim_survives_every_forgery_attempt_when_preloaded() {
    rls_policy_on_a_claim_survives_every_forgery_attempt(true);
}

fn sessions_without_a_token_get_null(preload: bool) {
    let f = Fixture::new(preload, &[]);
    // A bearer login first, so the library is loaded in the postmaster's children's view of
    // the world as much as it ever is; it must not leak into other sessions.
    let alice = f.login(
        "alice",
        &f.token(&f.claims("alice", json!({ "tenant": "acme" }))),
    );
    assert_eq!(visible_rows(&alice).as_deref(), Some(ACME_ROWS));
    let trust = f.cluster.superuser();
    let scram = Session::connect(
        &format!(
            "{} password={SCRAM_PASSWORD}",
            f.cluster.local_conninfo("dave")
        ),
        None,
    )
    .unwrap_or_else(|e| panic!("SCRAM login: {e}"));
    for (what, session) in [("trust", &trust), ("SCRAM", &scram)] {
        for sql in SESSION_FUNCTIONS {
            assert_eq!(one(session, sql), None, "{what}: {sql}");
        }
        // Loading the library in such a session gives it no claims either.
        let _ = session.query("LOAD 'pg_bearer'");
        for sql in SESSION_FUNCTIONS {
            assert_eq!(one(session, sql), None, "{what} after LOAD: {sql}");
        }
    }
    // Under the policy, a session without a token sees no row (NULL never equals a tenant).
    assert_eq!(visible_rows(&scram), None);
    f.assert_clean_log();
}

#[test]
fn sessions_without_a_token_get_null_from_every_function() {
    sessions_without_a_token_get_null(false);
}

#[test]
fn sessions_without_a_token_get_null_from_every_function_when_preloaded() {
    sessions_without_a_token_get_null(true);
}

#[test]
fn every_function_answers_what_the_token_says() {
    let f = Fixture::new(false, &[]);
    let claims = f.claims(
        "alice",
        json!({
            "tenant": "acme",
            "groups": ["dba", "staff"],
            "realm_access": { "roles": ["reader", "writer"] },
            "a/b": "slash",
            "quoted": "it's \"fine\"",
            "nothing": null,
            "count": 3,
            "flag": true,
        }),
    );
    let s = f.login("alice", &f.token(&claims));
    assert_eq!(session_claims(&s), claims);
    let exp = claims["exp"].as_u64().unwrap();
    for (sql, expected) in [
        ("SELECT pg_bearer.claim('sub')", Some("alice".to_owned())),
        ("SELECT pg_bearer.claim('tenant')", Some("acme".into())),
        (
            "SELECT pg_bearer.claim('/realm_access/roles')",
            Some(r#"["reader","writer"]"#.into()),
        ),
        (
            "SELECT pg_bearer.claim('/realm_access/roles/1')",
            Some("writer".into()),
        ),
        ("SELECT pg_bearer.claim('/groups/0')", Some("dba".into())),
        ("SELECT pg_bearer.claim('a/b')", Some("slash".into())),
        ("SELECT pg_bearer.claim('/a~1b')", Some("slash".into())),
        (
            "SELECT pg_bearer.claim('quoted')",
            Some("it's \"fine\"".into()),
        ),
        ("SELECT pg_bearer.claim('count')", Some("3".into())),
        ("SELECT pg_bearer.claim('flag')", Some("true".into())),
        ("SELECT pg_bearer.claim('aud')", Some(AUDIENCE.into())),
        ("SELECT pg_bearer.claim('nothing')", None),
        ("SELECT pg_bearer.claim('absent')", None),
        ("SELECT pg_bearer.claim('/realm_access/absent')", None),
        ("SELECT pg_bearer.claim('/groups/2')", None),
        ("SELECT pg_bearer.claim('/groups/x')", None),
        ("SELECT pg_bearer.claim('Tenant')", None),
        ("SELECT pg_bearer.claim('')", None),
        ("SELECT pg_bearer.claim('/')", None),
        ("SELECT pg_bearer.claim('~2')", None),
        ("SELECT pg_bearer.claim(NULL)", None),
        (
            "SELECT array_to_string(pg_bearer.scopes(), ' ')",
            Some(SCOPE.into()),
        ),
        ("SELECT pg_bearer.issuer()", Some(f.idp.issuer().into())),
        (
            "SELECT extract(epoch FROM pg_bearer.token_expires_at())::bigint",
            Some(exp.to_string()),
        ),
        (
            &format!("SELECT pg_bearer.token_expires_at() = to_timestamp({exp})"),
            Some("t".into()),
        ),
        (
            "SELECT pg_bearer.claims() -> 'realm_access' ->> 'roles'",
            Some(r#"["reader", "writer"]"#.into()),
        ),
        (
            "SELECT pg_bearer.claims() @> '{\"groups\": [\"dba\"]}'",
            Some("t".into()),
        ),
    ] {
        assert_eq!(one(&s, sql), expected, "{sql}");
    }
    f.assert_clean_log();
}

#[test]
fn an_opaque_token_session_answers_with_the_introspection_claims() {
    let f = Fixture::new(false, &[]);
    let answer = json!({
        "active": true,
        "iss": f.idp.issuer(),
        "aud": AUDIENCE,
        "sub": "alice",
        "client_id": "psql",
        "scope": "openid postgres offline_access",
        "token_type": "Bearer",
        "iat": now(),
        "exp": now() + 300,
        "tenant": "acme",
        "groups": ["dba"],
    });
    f.idp.set_fault(
        Endpoint::Introspection,
        Fault::Body(answer.to_string(), "application/json".into()),
    );
    let s = f.login("alice", OPAQUE);
    assert_eq!(f.idp.count(Endpoint::Introspection), 1);
    assert_eq!(session_claims(&s), answer);
    assert_eq!(visible_rows(&s).as_deref(), Some(ACME_ROWS));
    assert_eq!(
        one(&s, "SELECT array_to_string(pg_bearer.scopes(), ' ')").as_deref(),
        Some("openid postgres offline_access")
    );
    assert_eq!(
        one(&s, "SELECT pg_bearer.issuer()").as_deref(),
        Some(f.idp.issuer())
    );
    assert_eq!(
        one(
            &s,
            "SELECT extract(epoch FROM pg_bearer.token_expires_at())::bigint"
        ),
        Some(answer["exp"].to_string())
    );
    f.assert_clean_log();
}

#[test]
fn the_planner_folds_the_claim_into_a_constant_and_parallel_workers_agree() {
    let f = Fixture::new(false, &[]);
    let admin = f.cluster.superuser();
    for sql in [
        "CREATE TABLE big AS SELECT (ARRAY['acme', 'globex'])[1 + i % 2] AS tenant, i \
         FROM generate_series(1, 100000) i",
        "ALTER TABLE big ENABLE ROW LEVEL SECURITY",
        "CREATE POLICY tenant_rows ON big USING (tenant = pg_bearer.claim('tenant'))",
        "GRANT SELECT ON big TO PUBLIC",
        "ANALYZE big",
    ] {
        admin.query(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    let s = f.login(
        "alice",
        &f.token(&f.claims("alice", json!({ "tenant": "acme" }))),
    );
    let plan = s
        .query("EXPLAIN (COSTS OFF) SELECT count(*) FROM big")
        .unwrap()
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        plan.contains("Filter: (tenant = 'acme'::text)") && !plan.contains("claim"),
        "the policy's call is folded into the constant once per statement:\n{plan}"
    );
    assert_eq!(
        one(&s, "SELECT count(*) FROM big").as_deref(),
        Some("50000")
    );

    // With parallel query forced, workers (processes without the claims) must not change an
    // answer: folded calls are constants, calls that cannot be folded stay in the leader.
    let queries = [
        "SELECT count(*) FROM big",
        "SELECT count(*) FROM big WHERE tenant = pg_bearer.claim(CASE WHEN i > 0 THEN 'tenant' END)",
        "SELECT count(*) FROM big WHERE pg_bearer.claims() ->> 'tenant' = tenant",
        "SELECT count(DISTINCT pg_bearer.claim(CASE WHEN i > 0 THEN 'sub' END)) FROM big",
    ];
    let serial: Vec<_> = queries.iter().map(|q| one(&s, q)).collect();
    assert_eq!(
        serial,
        ["50000", "50000", "50000", "1"].map(|v| Some(v.to_owned()))
    );
    for sql in [
        "SET max_parallel_workers_per_gather = 2",
        "SET parallel_setup_cost = 0",
        "SET parallel_tuple_cost = 0",
        "SET min_parallel_table_scan_size = 0",
        "SET debug_parallel_query = on",
    ] {
        s.query(sql).unwrap();
    }
    let plan = s
        .query(&format!("EXPLAIN (COSTS OFF) {}", queries[0]))
        .unwrap()
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join("\n");
    assert!(plan.contains("Gather"), "a parallel plan:\n{plan}");
    let parallel: Vec<_> = queries.iter().map(|q| one(&s, q)).collect();
    assert_eq!(parallel, serial);
    f.assert_clean_log();
}

#[test]
fn a_6kb_token_and_a_token_with_200_groups_log_in_and_keep_every_claim() {
    let f = Fixture::new(false, &[]);
    let blob: String = (0..5600).map(|i| (b'a' + (i % 26) as u8) as char).collect();
    let big = f.claims("alice", json!({ "tenant": "acme", "note": blob }));
    let big_token = f.token(&big);
    assert!(big_token.len() > 6 * 1024, "{}", big_token.len());
    let s = f.login("alice", &big_token);
    assert_eq!(session_claims(&s), big);
    assert_eq!(one(&s, "SELECT pg_bearer.claim('note')"), Some(blob));

    let groups: Vec<String> = (0..200).map(|i| format!("group-{i:03}")).collect();
    let many = f.claims("alice", json!({ "tenant": "acme", "groups": groups }));
    let s = f.login("alice", &f.token(&many));
    assert_eq!(session_claims(&s), many);
    assert_eq!(
        one(
            &s,
            "SELECT jsonb_array_length(pg_bearer.claims() -> 'groups')"
        )
        .as_deref(),
        Some("200")
    );
    assert_eq!(
        one(&s, "SELECT pg_bearer.claim('/groups/199')").as_deref(),
        Some("group-199")
    );
    assert_eq!(
        one(&s, "SELECT 'group-042' = ANY (SELECT jsonb_array_elements_text(pg_bearer.claims() -> 'groups'))").as_deref(),
        Some("t")
    );
    assert!(
        !f.cluster.log().contains("session claims:"),
        "nothing was dropped, nothing to say"
    );
    f.assert_clean_log();
}

#[test]
fn the_cap_and_the_selection_bound_what_a_session_keeps_and_the_log_says_so() {
    let mut f = Fixture::new(false, &["pg_bearer.session_claims_max_size = '1kB'"]);
    let groups: Vec<String> = (0..200).map(|i| format!("group-{i:03}")).collect();
    let many = f.claims("alice", json!({ "tenant": "acme", "groups": groups }));
    let s = f.login("alice", &f.token(&many));
    // The groups (about 2.6 kB) do not fit in 1 kB; every other claim does.
    let mut expected = many.clone();
    expected.as_object_mut().unwrap().remove("groups");
    assert_eq!(session_claims(&s), expected);
    assert_eq!(one(&s, "SELECT pg_bearer.claim('groups')"), None);
    assert_eq!(visible_rows(&s).as_deref(), Some(ACME_ROWS));
    let log = f.cluster.log();
    let line = log
        .lines()
        .find(|l| l.contains("pg_bearer: session claims:"))
        .unwrap_or_else(|| panic!("a log line says claims were dropped:\n{log}"));
    assert!(
        line.contains("session keeps 9 of 10 claims")
            && line.contains("cap 1024")
            && line.contains("1 over the cap")
            && line.contains(&format!("issuer=\"{}\"", f.idp.issuer())),
        "{line}"
    );
    assert!(!line.contains("group-"), "no claim value is logged: {line}");

    // The selection keeps the named claims only (and says nothing: that was asked for); the
    // scopes, issuer and expiry are kept whatever it says.
    f.config
        .conf
        .push("pg_bearer.session_claims = 'sub, tenant'".into());
    f.cluster.reconfigure(&f.config);
    let lines_before = f.cluster.log().matches("session claims:").count();
    let s = f.login("alice", &f.token(&many));
    assert_eq!(
        session_claims(&s),
        json!({ "sub": "alice", "tenant": "acme" })
    );
    assert_eq!(visible_rows(&s).as_deref(), Some(ACME_ROWS));
    assert_eq!(
        one(&s, "SELECT array_to_string(pg_bearer.scopes(), ' ')").as_deref(),
        Some(SCOPE)
    );
    assert!(one(&s, "SELECT pg_bearer.token_expires_at()").is_some());
    assert_eq!(
        f.cluster.log().matches("session claims:").count(),
        lines_before
    );

    // An empty selection keeps no claim: the policy then shows nothing.
    f.config.conf.push("pg_bearer.session_claims = ''".into());
    f.cluster.reconfigure(&f.config);
    let s = f.login("alice", &f.token(&many));
    assert_eq!(session_claims(&s), json!({}));
    assert_eq!(visible_rows(&s), None);
    f.assert_clean_log();
}

#[test]
fn a_malformed_claim_selection_is_refused_with_the_reason() {
    let f = Fixture::new(false, &[]);
    let admin = f.cluster.superuser();
    admin.query("LOAD 'pg_bearer'").unwrap();
    for (value, detail) in [
        ("a,,b", "claim 2 of the list is empty"),
        ("sub, *", "there are no wildcards"),
        ("/realm_access/roles", "is a JSON Pointer"),
        ("sub, sub", "is listed twice"),
        ("sub tenant", "contains whitespace"),
    ] {
        let err = admin
            .query(&format!(
                "ALTER SYSTEM SET pg_bearer.session_claims = '{value}'"
            ))
            .expect_err(value);
        assert!(
            err.contains("invalid value for parameter \"pg_bearer.session_claims\"")
                && err.contains("DETAIL:")
                && err.contains(detail),
            "{value}: {err}"
        );
    }
    admin
        .query("ALTER SYSTEM SET pg_bearer.session_claims = 'sub, tenant, groups'")
        .unwrap();
    let err = admin
        .query("ALTER SYSTEM SET pg_bearer.session_claims_max_size = '2MB'")
        .expect_err("above the maximum");
    assert!(err.contains("pg_bearer.session_claims_max_size"), "{err}");
    f.assert_clean_log();
}
