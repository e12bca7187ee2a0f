//! The DBA surface end to end (`CREATE EXTENSION pg_bearer`): who may read the views and call
//! the functions, what `key_cache`, `result_cache`, `login_stats` and `provider_stats` show
//! after real logins, and `refresh_keys`, `forget_results`, `reset_stats`. Each test runs with
//! and without `shared_preload_libraries`.
//!
//! Real PostgreSQL 18 and libpq (the token hook), the HTTPS mock provider (request counts and
//! faults).

use std::sync::{Arc, Barrier};
use std::time::Duration;

use pg_bearer_e2e::cluster::{Cluster, ClusterConfig};
use pg_bearer_e2e::libpq::Session;
use pg_bearer_e2e::provider::{Alg, Endpoint, Fault, MockProvider, ProviderOptions};
use pg_bearer_e2e::suite::SecretFile;
use pg_bearer_e2e::tokens::now;
use serde_json::json;

const AUDIENCE: &str = "postgres-db";
const SCOPE: &str = "openid postgres";
const CLIENT: &str = "pg-introspect";
const SECRET: &str = "Vq7Lm3Xw9Kd2Rt5Bn8Yh";
const OPAQUE: &str = "Zp4Qw8Er2Ty6Ui0Op3As7Df1Gh5Jk9Lz2Xc6Vb";

const VIEWS: [&str; 4] = ["key_cache", "result_cache", "login_stats", "provider_stats"];

struct Fixture {
    idp: MockProvider,
    cluster: Cluster,
    presented: std::sync::Mutex<Vec<String>>,
    _secret: SecretFile,
}

impl Fixture {
    fn new(preload: bool) -> Fixture {
        let idp = MockProvider::start(ProviderOptions::default());
        let secret = SecretFile::write(SECRET);
        let config = ClusterConfig {
            hba: vec![format!(
                "host all all 127.0.0.1/32 oauth issuer=\"{}\" scope=\"{SCOPE}\"",
                idp.issuer()
            )],
            conf: vec![
                format!("pg_bearer.audience = '{AUDIENCE}'"),
                format!("pg_bearer.ca_file = '{}'", idp.ca_pem_path().display()),
                format!("pg_bearer.client_id = '{CLIENT}'"),
                format!(
                    "pg_bearer.client_secret_file = '{}'",
                    secret.path().display()
                ),
            ],
            preload,
            ..Default::default()
        };
        let cluster = Cluster::start(&config);
        let admin = cluster.superuser();
        for sql in [
            "CREATE EXTENSION pg_bearer",
            "CREATE ROLE alice LOGIN",
            "CREATE ROLE mallory LOGIN",
            "CREATE ROLE watcher LOGIN",
            "GRANT pg_monitor TO watcher",
        ] {
            admin.query(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
        Fixture {
            idp,
            cluster,
            presented: Default::default(),
            _secret: secret,
        }
    }

    fn token(&self, sub: &str, exp_in: i64) -> String {
        let mut claims = self.idp.minter().claims(AUDIENCE, sub, SCOPE);
        claims["exp"] = json!(now() as i64 + exp_in);
        claims["iat"] = json!(now() - 60);
        claims["nbf"] = json!(now() - 60);
        let token = self.idp.minter().mint(Alg::Es256, &claims, &json!({}));
        self.presented.lock().unwrap().push(token.clone());
        token
    }

    fn login(&self, role: &str, token: &str) -> Result<Session, String> {
        Session::connect(
            &self.cluster.oauth_conninfo(role, &self.idp.well_known()),
            Some(token),
        )
    }

    /// A session as `role` over the Unix socket (trust for the test superuser; the others
    /// through SET SESSION AUTHORIZATION, which checks privileges as that role).
    fn as_role(&self, role: &str) -> Session {
        let s = self.cluster.superuser();
        s.query(&format!("SET SESSION AUTHORIZATION {role}"))
            .expect("set session authorization");
        s
    }

    fn assert_clean_log(&self) {
        let presented = self.presented.lock().unwrap().clone();
        let secrets = presented.iter().map(String::as_str).chain([SECRET, OPAQUE]);
        self.cluster.assert_log_clean_of(secrets);
    }
}

fn one(s: &Session, sql: &str) -> Option<String> {
    s.query_one(sql).unwrap_or_else(|e| panic!("{sql}: {e}"))
}

fn count(s: &Session, sql: &str) -> i64 {
    one(s, sql)
        .unwrap_or_else(|| panic!("{sql}: NULL"))
        .parse()
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

fn logins(s: &Session, outcome: &str, reason: Option<&str>) -> i64 {
    let reason = reason.map_or("reason IS NULL".to_owned(), |r| format!("reason = '{r}'"));
    count(
        s,
        &format!(
            "SELECT coalesce(sum(logins), 0) FROM pg_bearer.login_stats \
             WHERE outcome = '{outcome}' AND {reason}"
        ),
    )
}

fn for_both(test: impl Fn(bool)) {
    for preload in [false, true] {
        test(preload);
    }
}

#[test]
fn only_superusers_and_pg_monitor_members_see_the_dba_surface() {
    for_both(|preload| {
        let f = Fixture::new(preload);
        let alice = f.as_role("mallory");
        for view in VIEWS {
            let err = alice
                .query(&format!("SELECT count(*) FROM pg_bearer.{view}"))
                .expect_err(view);
            assert!(err.contains("permission denied"), "{view}: {err}");
        }
        for call in [
            format!("SELECT pg_bearer.refresh_keys('{}')", f.idp.issuer()),
            "SELECT pg_bearer.forget_results()".into(),
            "SELECT pg_bearer.reset_stats()".into(),
            "SELECT count(*) FROM pg_bearer.key_cache_rows()".into(),
            "SELECT count(*) FROM pg_bearer.login_stats_rows()".into(),
        ] {
            let err = alice.query(&call).expect_err(&call);
            assert!(err.contains("permission denied"), "{call}: {err}");
        }
        // The session functions stay open to everyone.
        assert_eq!(
            one(&alice, "SELECT pg_bearer.claims() IS NULL"),
            Some("t".into())
        );

        let watcher = f.as_role("watcher");
        for view in VIEWS {
            count(&watcher, &format!("SELECT count(*) FROM pg_bearer.{view}"));
        }
        assert_eq!(
            one(
                &watcher,
                &format!("SELECT pg_bearer.refresh_keys('{}')", f.idp.issuer())
            ),
            Some("t".into())
        );
        // Forgetting and resetting stay with superusers unless granted.
        for call in [
            "SELECT pg_bearer.forget_results()",
            "SELECT pg_bearer.reset_stats()",
        ] {
            let err = watcher.query(call).expect_err(call);
            assert!(err.contains("permission denied"), "{call}: {err}");
        }
    });
}

#[test]
fn key_cache_lists_the_issuer_and_its_keys_after_one_login() {
    for_both(|preload| {
        let f = Fixture::new(preload);
        let admin = f.cluster.superuser();
        let issuer = f.idp.issuer().to_owned();
        let before = count(&admin, "SELECT count(*) FROM pg_bearer.key_cache");
        f.login("alice", &f.token("alice", 300)).expect("login");
        let rows = admin
            .query(&format!(
                "SELECT concat_ws('|', kid, kty, alg, source, \
                 fetched_at <= now() AND fetched_at > now() - interval '1 minute', \
                 expires_at > now(), last_error IS NULL) \
                 FROM pg_bearer.key_cache WHERE issuer = '{issuer}' ORDER BY kid"
            ))
            .expect("key_cache");
        assert_eq!(before, 0, "nothing cached before the first login");
        let mut published = f.idp.published_kids();
        published.sort();
        assert_eq!(rows.len(), published.len(), "{rows:?}");
        let jwks_url = f.idp.url(Endpoint::Jwks);
        let es256 = f.idp.kid(Alg::Es256).expect("an ES256 key");
        let found = rows
            .iter()
            .flatten()
            .any(|r| r == &format!("{es256}|EC|ES256|{jwks_url}|t|t|t"));
        assert!(found, "{rows:?}");
        let kinds: Vec<_> = rows
            .iter()
            .flatten()
            .map(|r| r.split('|').nth(1).unwrap_or("").to_owned())
            .collect();
        for kty in ["RSA", "EC", "OKP"] {
            assert!(kinds.iter().any(|k| k == kty), "{kty} in {kinds:?}");
        }
        f.assert_clean_log();
    });
}

#[test]
fn login_stats_grow_by_exactly_the_logins_made() {
    for_both(|preload| {
        let f = Fixture::new(preload);
        let admin = f.cluster.superuser();
        // Warm the key cache, so that the counts below are the logins alone.
        f.login("alice", &f.token("alice", 300)).expect("login");
        let accepted = logins(&admin, "accepted", None);
        let expired = logins(&admin, "refused", Some("expired"));
        let requests = count(
            &admin,
            "SELECT coalesce(sum(requests), 0) FROM pg_bearer.provider_stats",
        );
        for _ in 0..5 {
            f.login("alice", &f.token("alice", 300)).expect("login");
        }
        for _ in 0..3 {
            assert!(
                f.login("alice", &f.token("alice", -120)).is_err(),
                "expired token"
            );
        }
        assert_eq!(logins(&admin, "accepted", None), accepted + 5);
        assert_eq!(logins(&admin, "refused", Some("expired")), expired + 3);
        // The rows name the issuer, and nothing else moved.
        let issuer = f.idp.issuer();
        assert_eq!(
            count(&admin, &format!(
                "SELECT count(*) FROM pg_bearer.login_stats WHERE issuer IS DISTINCT FROM '{issuer}'"
            )),
            0
        );
        assert_eq!(
            count(
                &admin,
                "SELECT coalesce(sum(requests), 0) FROM pg_bearer.provider_stats"
            ),
            requests,
            "warm logins make no provider request"
        );
        // reset_stats zeroes both views.
        admin
            .query("SELECT pg_bearer.reset_stats()")
            .expect("reset_stats");
        assert_eq!(
            count(&admin, "SELECT count(*) FROM pg_bearer.login_stats"),
            0
        );
        assert_eq!(
            count(&admin, "SELECT count(*) FROM pg_bearer.provider_stats"),
            0
        );
        assert!(
            f.login("alice", &f.token("alice", -120)).is_err(),
            "expired token"
        );
        assert_eq!(logins(&admin, "refused", Some("expired")), 1);
        f.assert_clean_log();
    });
}

#[test]
fn provider_stats_count_requests_and_failures_by_kind() {
    for_both(|preload| {
        let f = Fixture::new(preload);
        let admin = f.cluster.superuser();
        let issuer = f.idp.issuer().to_owned();
        let kind = |k: &str| {
            one(
                &admin,
                &format!(
                    "SELECT requests || '/' || failures FROM pg_bearer.provider_stats \
                 WHERE issuer = '{issuer}' AND kind = '{k}'"
                ),
            )
        };
        f.login("alice", &f.token("alice", 300)).expect("login");
        let discovery = kind("discovery").expect("discovery counted");
        assert!(
            discovery.ends_with("/0") && discovery != "0/0",
            "{discovery}"
        );
        assert_eq!(kind("jwks"), Some("1/0".into()));
        // A failing JWKS request is counted as one.
        f.idp.set_fault(Endpoint::Jwks, Fault::Status(500));
        let refreshed = one(
            &admin,
            &format!("SELECT pg_bearer.refresh_keys('{issuer}')"),
        );
        assert_eq!(refreshed, Some("f".into()));
        assert_eq!(kind("jwks"), Some("2/1".into()));
        // Its last error is shown, and the keys held are still used.
        let error = one(
            &admin,
            &format!(
                "SELECT DISTINCT last_error FROM pg_bearer.key_cache WHERE issuer = '{issuer}'"
            ),
        )
        .expect("a last error");
        assert!(
            error.contains("jwks_unavailable") && error.contains("500"),
            "{error}"
        );
        f.login("alice", &f.token("alice", 300))
            .expect("held keys still serve");
        f.idp.clear_faults();
        assert_eq!(
            one(
                &admin,
                &format!("SELECT pg_bearer.refresh_keys('{issuer}')")
            ),
            Some("t".into())
        );
        assert_eq!(
            one(&admin, &format!(
                "SELECT count(*) FROM pg_bearer.key_cache WHERE issuer = '{issuer}' AND last_error IS NOT NULL"
            )),
            Some("0".into()),
            "a success clears the last error"
        );
        // Introspection is counted under its issuer too.
        f.idp.set_introspection_answer(
            OPAQUE,
            Some(
                json!({"active": true, "sub": "alice", "aud": AUDIENCE, "scope": SCOPE,
                        "iss": issuer, "exp": now() + 300}),
            ),
        );
        f.login("alice", OPAQUE).expect("opaque login");
        assert_eq!(kind("introspection"), Some("1/0".into()));
        f.assert_clean_log();
    });
}

#[test]
fn refresh_keys_from_five_sessions_at_once_makes_one_jwks_request() {
    for_both(|preload| {
        let f = Fixture::new(preload);
        let issuer = f.idp.issuer().to_owned();
        f.login("alice", &f.token("alice", 300)).expect("login");
        // Slow answers, so that all five calls overlap the one fetch.
        f.idp
            .set_fault(Endpoint::Jwks, Fault::Delay(Duration::from_millis(800)));
        let before = f.idp.count_jwks();
        let barrier = Arc::new(Barrier::new(5));
        let conninfo = f.cluster.local_conninfo("postgres");
        let results: Vec<Option<String>> = std::thread::scope(|scope| {
            let calls: Vec<_> = (0..5)
                .map(|_| {
                    let barrier = Arc::clone(&barrier);
                    let (conninfo, issuer) = (conninfo.clone(), issuer.clone());
                    scope.spawn(move || {
                        let s = Session::connect(&conninfo, None).expect("superuser session");
                        barrier.wait();
                        s.query_one(&format!("SELECT pg_bearer.refresh_keys('{issuer}')"))
                            .expect("refresh_keys")
                    })
                })
                .collect();
            calls
                .into_iter()
                .map(|c| c.join().expect("caller"))
                .collect()
        });
        assert_eq!(results, vec![Some("t".to_owned()); 5]);
        assert_eq!(
            f.idp.count_jwks() - before,
            1,
            "one JWKS request for five calls"
        );
        // A later call fetches again.
        f.idp.clear_faults();
        let admin = f.cluster.superuser();
        assert_eq!(
            one(
                &admin,
                &format!("SELECT pg_bearer.refresh_keys('{issuer}')")
            ),
            Some("t".into())
        );
        assert_eq!(f.idp.count_jwks() - before, 2);
        // An issuer that is no URL is an error, not a fetch.
        let err = admin
            .query("SELECT pg_bearer.refresh_keys('not a url')")
            .expect_err("bad issuer");
        assert!(err.contains("invalid issuer"), "{err}");
    });
}

#[test]
fn result_cache_shows_a_hash_prefix_never_the_token_and_forget_results_empties_it() {
    for_both(|preload| {
        let f = Fixture::new(preload);
        let admin = f.cluster.superuser();
        let issuer = f.idp.issuer().to_owned();
        f.idp.set_introspection_answer(
            OPAQUE,
            Some(
                json!({"active": true, "sub": "alice", "aud": AUDIENCE, "scope": SCOPE,
                        "iss": issuer, "exp": now() + 300}),
            ),
        );
        f.login("alice", OPAQUE).expect("opaque login");
        let row = one(&admin, &format!(
            "SELECT concat_ws('|', issuer, kind, active, \
             expires_at BETWEEN now() AND now() + interval '5 minutes 5 seconds', \
             token_sha256_prefix = left(encode(sha256(convert_to('{OPAQUE}', 'UTF8')), 'hex'), 12)) \
             FROM pg_bearer.result_cache"
        ));
        assert_eq!(row, Some(format!("{issuer}|introspection|t|t|t")));
        let everything = admin
            .query("SELECT row_to_json(r)::text FROM pg_bearer.result_cache r")
            .expect("result_cache");
        for row in everything.iter().flatten() {
            assert!(!row.contains(&OPAQUE[..8]), "{row}");
        }
        // Cached: the second login asks nobody.
        let introspections = f.idp.count(Endpoint::Introspection);
        f.login("alice", OPAQUE).expect("cached opaque login");
        assert_eq!(f.idp.count(Endpoint::Introspection), introspections);
        // Forgotten: the next login asks again.
        assert_eq!(
            one(&admin, "SELECT pg_bearer.forget_results()"),
            Some("1".into())
        );
        assert_eq!(
            count(&admin, "SELECT count(*) FROM pg_bearer.result_cache"),
            0
        );
        f.login("alice", OPAQUE)
            .expect("opaque login after forget_results");
        assert_eq!(f.idp.count(Endpoint::Introspection), introspections + 1);
        // An inactive answer shows as not active.
        f.idp.set_introspection_answer(OPAQUE, None);
        admin
            .query("SELECT pg_bearer.forget_results()")
            .expect("forget");
        assert!(f.login("alice", OPAQUE).is_err(), "inactive token");
        assert_eq!(
            one(
                &admin,
                "SELECT concat_ws('|', kind, active) FROM pg_bearer.result_cache"
            ),
            Some("introspection|f".into())
        );
        f.assert_clean_log();
    });
}
