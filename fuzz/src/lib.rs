//! Shared pieces of the fuzz targets: the fixed clock, the provider-shaped policies a target
//! input chooses from, and the oracles that re-check every acceptance against what the
//! documentation of pg_bearer_core promises.
//!
//! The oracles read accepted documents again with plain `serde_json` (an independent,
//! last-wins parser) and check each promise with code written from the documentation, not
//! by calling the function under test again. A broken promise panics, which libFuzzer reports
//! as a crash with the input that caused it.
#![forbid(unsafe_code)]

use std::sync::LazyLock;

use jsonwebtoken::Algorithm;
use pg_bearer_core::claims::{ClaimPath, MAX_NUMERIC_DATE};
use pg_bearer_core::identity::MAX_AUTHN_ID_LEN;
use pg_bearer_core::introspection::{OpaqueRequest, OpaqueVerified};
use pg_bearer_core::policy::{IssuerPolicy, TypPolicy};
use pg_bearer_core::reason::{Rejection, MAX_LOGGED_KID_LEN};
use serde_json::{Map, Value};

/// The injected clock of every target (2025-06-15T15:06:40Z), the same instant as the core
/// tests; the seed tokens and responses are minted relative to it.
pub const NOW: i64 = 1_750_000_000;

/// One login situation: an issuer policy (as documented in docs/providers.md) and the HBA
/// line and role of the request.
pub struct Profile {
    /// Short name, for messages.
    pub name: &'static str,
    /// The issuer policy.
    pub policy: IssuerPolicy,
    /// The HBA `scope` option.
    pub hba_scopes: &'static str,
    /// The role asked for.
    pub role: &'static str,
    /// `delegate_ident_mapping`.
    pub delegate: bool,
}

fn path(p: &str) -> ClaimPath {
    ClaimPath::parse(p).expect("fixed claim path")
}

/// The baseline RFC 9068 issuer of the generic profile.
pub const GENERIC_ISS: &str = "https://idp.example.com/realms/pg";
/// Its audience.
pub const GENERIC_AUD: &str = "https://db.example.com";

/// Entra ID tenant and application of the Entra profiles.
pub const ENTRA_TENANT: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";
/// Entra ID v2 application (client) id, the v2 audience.
pub const ENTRA_APP: &str = "6e74172b-be56-4843-9ff4-e66a39bb12e3";

/// The profiles, in the order of the selector byte that starts most target inputs.
pub static PROFILES: LazyLock<Vec<Profile>> = LazyLock::new(|| {
    let generic = || IssuerPolicy::new(GENERIC_ISS, vec![GENERIC_AUD.to_owned()]);
    let mut generic_client = generic();
    generic_client.client_claim = Some(path("client_id"));
    generic_client.allowed_clients = vec!["psql".into()];
    generic_client.role_claim = Some(path("/realm_access/roles"));

    let mut keycloak = IssuerPolicy::new("https://kc.example.com/realms/pg", vec!["pg-db".into()]);
    keycloak.identity_claim = path("preferred_username");
    keycloak.role_claim = Some(path("/realm_access/roles"));
    keycloak.client_claim = Some(path("azp"));
    keycloak.required_claims = vec![(path("typ"), "Bearer".into())];

    let mut entra_v2 = IssuerPolicy::new(
        format!("https://login.microsoftonline.com/{ENTRA_TENANT}/v2.0"),
        vec![ENTRA_APP.into()],
    );
    entra_v2.identity_claim = path("oid");
    entra_v2.role_claim = Some(path("roles"));
    entra_v2.required_claims = vec![
        (path("ver"), "2.0".into()),
        (path("tid"), ENTRA_TENANT.into()),
    ];

    let mut entra_v1 = IssuerPolicy::new(
        format!("https://sts.windows.net/{ENTRA_TENANT}/"),
        vec!["api://pg-db".into()],
    );
    entra_v1.identity_claim = path("oid");
    entra_v1.client_claim = Some(path("appid"));
    entra_v1.required_claims = vec![(path("ver"), "1.0".into())];

    let mut okta = IssuerPolicy::new(
        "https://dev-123456.okta.com/oauth2/default",
        vec!["api://default".into()],
    );
    okta.client_claim = Some(path("cid"));
    okta.allowed_clients = vec!["0oa1b2c3d4e5f6g7h8i9".into()];

    let mut auth0 = IssuerPolicy::new(
        "https://tenant.eu.auth0.com/",
        vec!["https://db.example.com".into()],
    );
    auth0.typ_policy = TypPolicy::AccessOnly;
    auth0.role_claim = Some(path("permissions"));

    let mut cognito = IssuerPolicy::new(
        "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEfGhI",
        vec!["3n4b5urk1ft4fl3mg5e62d9ado".into()],
    );
    cognito.audience_claim = path("client_id");
    cognito.identity_claim = path("username");
    cognito.role_claim = Some(path("cognito:groups"));
    cognito.required_claims = vec![(path("token_use"), "access".into())];

    let mut zitadel = IssuerPolicy::new(
        "https://pg-abc123.zitadel.cloud",
        vec!["287137937012345678".into()],
    );
    zitadel.role_claim = Some(path("urn:zitadel:iam:org:project:roles"));
    zitadel.client_claim = Some(path("client_id"));

    let mut dex = IssuerPolicy::new("https://dex.example.com", vec!["pg".into()]);
    dex.identity_claim = path("email");
    dex.implicit_scopes.extend([
        "email".to_owned(),
        "profile".to_owned(),
        "groups".to_owned(),
    ]);

    let mut no_cap = generic();
    no_cap.max_lifetime = None;
    no_cap.require_iat = false;
    no_cap.clock_skew = 0;
    no_cap.identity_claim = path("/ext/user~1name");

    let p = |name, policy, hba_scopes, role, delegate| Profile {
        name,
        policy,
        hba_scopes,
        role,
        delegate,
    };
    vec![
        p("generic", generic(), "openid postgres", "alice", false),
        p(
            "generic-client-delegate",
            generic_client,
            "openid postgres",
            "analyst",
            true,
        ),
        p(
            "keycloak",
            keycloak.clone(),
            "openid postgres",
            "alice",
            false,
        ),
        p(
            "keycloak-delegate",
            keycloak,
            "openid postgres",
            "analyst",
            true,
        ),
        p(
            "entra-v2",
            entra_v2.clone(),
            "openid offline_access 6e74172b-be56-4843-9ff4-e66a39bb12e3/Db.Login",
            "alice",
            false,
        ),
        p(
            "entra-v2-app-delegate",
            entra_v2,
            "6e74172b-be56-4843-9ff4-e66a39bb12e3/.default",
            "Db.Analyst",
            true,
        ),
        p(
            "entra-v1",
            entra_v1,
            "openid api://pg-db/Db.Login",
            "alice",
            false,
        ),
        p("okta", okta, "openid postgres", "alice", false),
        p(
            "auth0-delegate",
            auth0,
            "openid postgres",
            "connect:analytics",
            true,
        ),
        p(
            "cognito-delegate",
            cognito,
            "openid pg-db/connect",
            "analysts",
            true,
        ),
        p(
            "zitadel-delegate",
            zitadel,
            "openid urn:zitadel:iam:org:project:id:287137937012345678:aud",
            "analyst",
            true,
        ),
        p(
            "dex",
            dex,
            "openid email audience:server:client_id:pg",
            "alice",
            false,
        ),
        p(
            "generic-no-cap-pointer-identity",
            no_cap,
            "postgres",
            "alice",
            false,
        ),
    ]
});

/// Splits a target input into the profile its first byte selects and the rest.
pub fn select_profile(data: &[u8]) -> Option<(&'static Profile, &[u8])> {
    let (&selector, rest) = data.split_first()?;
    let profiles = &*PROFILES;
    Some((&profiles[usize::from(selector) % profiles.len()], rest))
}

/// The issuers the `discovery` target's selector byte chooses from (low 7 bits, modulo the
/// length): each profile's issuer once, then an http issuer (for `allow_http`) and an IPv6
/// literal.
pub fn discovery_issuers() -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    for p in PROFILES.iter() {
        if !v.contains(&p.policy.issuer) {
            v.push(p.policy.issuer.clone());
        }
    }
    v.push("http://127.0.0.1:8443/realms/demo".into());
    v.push("https://[::1]:8443".into());
    v
}

/// Which verification accepted the document.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A JWT's claims after `verify_jwt`.
    Jwt,
    /// An RFC 7662 introspection response.
    Introspection,
    /// A userinfo response.
    Userinfo,
}

/// What the verifier reported for an accepted document.
pub struct Accepted<'a> {
    /// `authn_id`.
    pub authn_id: &'a str,
    /// `exp` as reported (`Verified::exp`, or `OpaqueVerified::exp`).
    pub exp: Option<i64>,
    /// The client, for JWTs (`Verified::client`).
    pub client: Option<Option<&'a str>>,
}

/// Parses `bytes` with serde_json as an object. Whatever pg_bearer's strict reader accepts
/// (UTF-8, unique names, nesting of at most 32 levels) serde_json must accept too.
pub fn reparse(bytes: &[u8], what: &str) -> Map<String, Value> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(o)) => o,
        other => panic!("{what} was accepted but serde_json reads it as {other:?}"),
    }
}

/// Follows a claim path through objects only (the documented `ClaimPath` rule).
pub fn lookup<'v>(claims: &'v Map<String, Value>, path: &ClaimPath) -> Option<&'v Value> {
    let (last, parents) = path.segments().split_last()?;
    let mut object = claims;
    for seg in parents {
        object = object.get(seg)?.as_object()?;
    }
    object.get(last)
}

/// A NumericDate as documented: a JSON number from 0 to 9999-12-31T23:59:59Z, floored.
pub fn numeric_date(v: &Value) -> Option<i64> {
    let n = v.as_number()?;
    let t = if let Some(i) = n.as_i64() {
        i
    } else if n.as_u64().is_some() {
        return None; // beyond i64, far beyond the last accepted date
    } else {
        let f = n.as_f64()?;
        if !(0.0..=MAX_NUMERIC_DATE as f64).contains(&f) {
            return None;
        }
        f.floor() as i64
    };
    (0..=MAX_NUMERIC_DATE).contains(&t).then_some(t)
}

/// Whether `id` is an acceptable identity per the `identity` module documentation, written
/// out independently: 1..=256 bytes, no C0, DEL or C1 controls, no line or paragraph
/// separators, no bidirectional formatting characters, no byte-order mark.
pub fn identity_is_clean(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_AUTHN_ID_LEN
        && id.chars().all(|c| {
            !matches!(c,
                '\u{0}'..='\u{1f}'
                | '\u{7f}'..='\u{9f}'
                | '\u{061c}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
                | '\u{feff}')
        })
}

fn string_values(v: &Value) -> Option<Vec<&str>> {
    match v {
        Value::String(s) => Some(vec![s.as_str()]),
        Value::Array(items) if !items.is_empty() => items.iter().map(Value::as_str).collect(),
        _ => None,
    }
}

/// The audience values of `claims` that the policy accepts, asserting the audience rule
/// (the audience claim names a configured audience; a foreign `aud` next to another
/// audience claim must name one too).
fn accepted_audiences<'c>(
    claims: &'c Map<String, Value>,
    policy: &IssuerPolicy,
    ctx: &str,
) -> Vec<&'c str> {
    let mut accepted = Vec::new();
    let mut paths = vec![policy.audience_claim.clone()];
    if !policy.audience_claim.is_top_level("aud") && claims.contains_key("aud") {
        paths.push(ClaimPath::named("aud"));
    }
    for p in paths {
        let value = lookup(claims, &p)
            .unwrap_or_else(|| panic!("{ctx}: accepted without audience claim {p}"));
        let values = string_values(value)
            .unwrap_or_else(|| panic!("{ctx}: accepted with malformed audience {value}"));
        let ours: Vec<&str> = values
            .into_iter()
            .filter(|v| policy.audiences.iter().any(|a| a == v))
            .collect();
        assert!(
            !ours.is_empty(),
            "{ctx}: accepted although {p} names no configured audience"
        );
        accepted.extend(ours);
    }
    accepted
}

fn granted_words(claims: &Map<String, Value>, ctx: &str) -> Vec<String> {
    let mut words = Vec::new();
    match claims.get("scope") {
        None => {}
        Some(Value::String(s)) => words.extend(s.split(' ').map(str::to_owned)),
        Some(other) => panic!("{ctx}: accepted with a non-string scope {other}"),
    }
    match claims.get("scp") {
        None => {}
        Some(Value::String(s)) => words.extend(s.split(' ').map(str::to_owned)),
        Some(Value::Array(items)) => {
            for item in items {
                let word = item
                    .as_str()
                    .unwrap_or_else(|| panic!("{ctx}: accepted with scp item {item}"));
                words.push(word.to_owned());
            }
        }
        Some(other) => panic!("{ctx}: accepted with scp {other}"),
    }
    words.retain(|w| !w.is_empty());
    words
}

/// Asserts that every non-implicit HBA scope is granted: as a word of `scope`/`scp`, as a
/// resource scope (`R/.default`, `audience:server:client_id:R`,
/// `urn:zitadel:iam:org:project:id:R:aud`) whose resource is an accepted audience, or as
/// `A/word` with `A` an accepted audience.
fn assert_scopes(words: &[String], audiences: &[&str], profile: &Profile, ctx: &str) {
    let implicit = &profile.policy.implicit_scopes;
    for wanted in profile.hba_scopes.split(' ') {
        if wanted.is_empty() || implicit.iter().any(|i| i == wanted) {
            continue;
        }
        let by_word = words.iter().any(|w| w == wanted);
        let resource = wanted
            .strip_suffix("/.default")
            .or_else(|| wanted.strip_prefix("audience:server:client_id:"))
            .or_else(|| {
                wanted
                    .strip_prefix("urn:zitadel:iam:org:project:id:")
                    .and_then(|r| r.strip_suffix(":aud"))
            });
        let by_resource = resource.is_some_and(|r| !r.is_empty() && audiences.contains(&r));
        let by_qualified = audiences.iter().any(|a| {
            wanted.len() > a.len() + 1
                && wanted.starts_with(a)
                && wanted.as_bytes()[a.len()] == b'/'
                && words.iter().any(|w| *w == wanted[a.len() + 1..])
        });
        assert!(
            by_word || by_resource || by_qualified,
            "{ctx}: accepted without granting HBA scope {wanted:?}"
        );
    }
}

fn assert_role(claims: &Map<String, Value>, profile: &Profile, ctx: &str) {
    let role_path = profile
        .policy
        .role_claim
        .as_ref()
        .unwrap_or_else(|| panic!("{ctx}: delegated login accepted without a role claim"));
    let role = profile.role;
    let granted = match lookup(claims, role_path) {
        Some(Value::String(s)) => s == role,
        Some(Value::Array(items)) => {
            assert!(
                items.iter().all(Value::is_string),
                "{ctx}: accepted with a non-string role"
            );
            items.iter().any(|r| r.as_str() == Some(role))
        }
        Some(Value::Object(o)) => o.contains_key(role),
        other => panic!("{ctx}: delegated login accepted with role claim {other:?}"),
    };
    assert!(
        granted && !role.is_empty(),
        "{ctx}: role {role} not granted"
    );
}

/// Asserts the time rules: `exp` not passed beyond the skew, `nbf` reached, `iat` not in the
/// future, the lifetime cap. Returns the floored `exp`, if any.
fn assert_times(
    claims: &Map<String, Value>,
    profile: &Profile,
    exp_required: bool,
    ctx: &str,
) -> Option<i64> {
    let p = &profile.policy;
    let skew = p.clock_skew;
    let date = |name: &str| {
        claims
            .get(name)
            .map(|v| numeric_date(v).unwrap_or_else(|| panic!("{ctx}: accepted with {name} = {v}")))
    };
    let exp = date("exp");
    let nbf = date("nbf");
    let iat = date("iat");
    if exp_required {
        assert!(exp.is_some(), "{ctx}: accepted without exp");
        if p.require_iat {
            assert!(iat.is_some(), "{ctx}: accepted without iat");
        }
    }
    if let Some(nbf) = nbf {
        assert!(NOW >= nbf - skew, "{ctx}: accepted before nbf {nbf}");
    }
    if let Some(iat) = iat {
        assert!(
            iat <= NOW + skew,
            "{ctx}: accepted with iat {iat} in the future"
        );
    }
    if let Some(exp) = exp {
        assert!(NOW < exp + skew, "{ctx}: accepted after exp {exp}");
        if let Some(max) = p.max_lifetime {
            assert!(
                exp - NOW <= max + skew,
                "{ctx}: accepted with exp {exp} beyond the lifetime cap"
            );
            if let Some(iat) = iat {
                assert!(
                    exp - iat <= max,
                    "{ctx}: accepted with lifetime {} > {max}",
                    exp - iat
                );
            }
        }
    }
    exp
}

fn assert_identity(claims: &Map<String, Value>, profile: &Profile, authn_id: &str, ctx: &str) {
    let id_path = &profile.policy.identity_claim;
    assert_eq!(
        lookup(claims, id_path).and_then(Value::as_str),
        Some(authn_id),
        "{ctx}: authn_id is not the identity claim"
    );
    assert!(
        identity_is_clean(authn_id),
        "{ctx}: accepted identity {authn_id:?} is empty, too long or has a forbidden character"
    );
    if id_path.last_segment() == "email" {
        let verified = lookup(claims, &id_path.sibling("email_verified"));
        assert_eq!(
            verified,
            Some(&Value::Bool(true)),
            "{ctx}: e-mail identity accepted without email_verified true"
        );
    }
}

/// Asserts everything the policy promises of an accepted document.
pub fn assert_accepted(kind: Kind, body: &[u8], profile: &Profile, got: &Accepted<'_>) {
    let ctx = format!("{kind:?} accepted under profile {}", profile.name);
    let ctx = ctx.as_str();
    let p = &profile.policy;
    let claims = reparse(body, ctx);

    // Issuer: required and exact for JWTs; exact when present for opaque answers.
    match (kind, claims.get("iss")) {
        (_, Some(Value::String(iss))) => assert_eq!(iss, &p.issuer, "{ctx}: foreign issuer"),
        (Kind::Jwt, None) => panic!("{ctx}: accepted without iss"),
        (_, None) => {}
        (_, Some(other)) => panic!("{ctx}: accepted with iss {other}"),
    }

    // Kind-specific shape.
    match kind {
        Kind::Jwt => {
            let sub = claims.get("sub").and_then(Value::as_str);
            assert!(sub.is_some_and(|s| !s.is_empty()), "{ctx}: sub {sub:?}");
        }
        Kind::Introspection => {
            assert_eq!(
                claims.get("active"),
                Some(&Value::Bool(true)),
                "{ctx}: not active"
            );
            if let Some(t) = claims.get("token_type") {
                let t = t
                    .as_str()
                    .unwrap_or_else(|| panic!("{ctx}: token_type {t}"));
                assert!(
                    t.eq_ignore_ascii_case("bearer") || t == "access_token",
                    "{ctx}: token_type {t:?}"
                );
            }
            if let Some(Value::String(t)) = claims.get("typ") {
                assert!(
                    !["Refresh", "Offline", "ID", "Logout"].contains(&t.as_str()),
                    "{ctx}: typ {t:?}"
                );
            }
            if let Some(sub) = claims.get("sub") {
                assert!(
                    sub.as_str().is_some_and(|s| !s.is_empty()),
                    "{ctx}: sub {sub}"
                );
            }
        }
        Kind::Userinfo => {
            let sub = claims.get("sub").and_then(Value::as_str);
            assert!(sub.is_some_and(|s| !s.is_empty()), "{ctx}: sub {sub:?}");
        }
    }

    // Validity.
    let exp = match kind {
        Kind::Jwt => assert_times(&claims, profile, true, ctx),
        Kind::Introspection => assert_times(&claims, profile, false, ctx),
        Kind::Userinfo => None,
    };
    assert_eq!(got.exp, exp, "{ctx}: reported exp differs from the claim");

    // Audience (userinfo proves none).
    let audiences = match kind {
        Kind::Userinfo => Vec::new(),
        _ => accepted_audiences(&claims, p, ctx),
    };

    assert_identity(&claims, profile, got.authn_id, ctx);

    for (rpath, expected) in &p.required_claims {
        assert_eq!(
            lookup(&claims, rpath).and_then(Value::as_str),
            Some(expected.as_str()),
            "{ctx}: required claim {rpath} differs"
        );
    }

    if let Some(cpath) = &p.client_claim {
        let client = lookup(&claims, cpath).and_then(Value::as_str);
        assert!(
            client.is_some_and(|c| !c.is_empty()),
            "{ctx}: client {client:?}"
        );
        if !p.allowed_clients.is_empty() {
            assert!(
                p.allowed_clients.iter().any(|c| Some(c.as_str()) == client),
                "{ctx}: client {client:?} not allowed"
            );
        }
        if let Some(reported) = got.client {
            assert_eq!(reported, client, "{ctx}: reported client differs");
        }
    } else if let Some(reported) = got.client {
        assert_eq!(
            reported, None,
            "{ctx}: client reported without a client claim"
        );
    }

    let words = granted_words(&claims, ctx);
    if kind != Kind::Userinfo || claims.contains_key("scope") || claims.contains_key("scp") {
        assert_scopes(&words, &audiences, profile, ctx);
    }

    if profile.delegate {
        assert_role(&claims, profile, ctx);
    }
}

/// Asserts what a rejection may carry: a `kid` only when short and made of log-safe
/// characters, an identity only when it is clean.
pub fn assert_rejection_is_safe(r: &Rejection) {
    if let Some(kid) = &r.kid {
        assert!(
            !kid.is_empty()
                && kid.len() <= MAX_LOGGED_KID_LEN
                && kid
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._~+/=:-".contains(&b)),
            "rejection carries an unsafe kid {kid:?}"
        );
    }
    if let Some(id) = &r.identity {
        assert!(
            identity_is_clean(id),
            "rejection carries an unclean identity {id:?}"
        );
    }
    let shown = r.to_string();
    assert!(
        !shown.contains('\n') && !shown.contains('\r'),
        "rejection text breaks a log line"
    );
}

/// Asserts the promise behind [`Rejection::identity`]: an identity is named only once the
/// issuer (exact, when present), the validity period and the audience hold, so a token or
/// answer of another issuer or for another server never gets its identity into the log.
pub fn assert_identity_only_when_vouched(kind: Kind, body: &[u8], profile: &Profile, id: &str) {
    let ctx = format!("{kind:?} rejection under {} names identity", profile.name);
    let ctx = ctx.as_str();
    let claims = reparse(body, ctx);
    match (kind, claims.get("iss")) {
        (_, Some(Value::String(iss))) => assert_eq!(iss, &profile.policy.issuer, "{ctx}"),
        (Kind::Jwt, _) => panic!("{ctx} without a valid iss"),
        (_, None) => {}
        (_, Some(other)) => panic!("{ctx} with iss {other}"),
    }
    match kind {
        Kind::Jwt => {
            assert_times(&claims, profile, true, ctx);
            accepted_audiences(&claims, &profile.policy, ctx);
        }
        Kind::Introspection => {
            assert_times(&claims, profile, false, ctx);
            accepted_audiences(&claims, &profile.policy, ctx);
        }
        Kind::Userinfo => {}
    }
    assert_eq!(
        lookup(&claims, &profile.policy.identity_claim).and_then(Value::as_str),
        Some(id),
        "{ctx}: not the identity claim"
    );
}

/// The JWS algorithm names, for the oracles that enumerate algorithms.
pub const ALGORITHMS: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
    Algorithm::HS256,
    Algorithm::HS384,
    Algorithm::HS512,
];

/// The key set of the `jwt` target (public keys only), written by `examples/gen_corpus.rs`.
pub const JWT_JWKS: &str = include_str!("../fixtures/jwks.json");

/// The tokens signed by the private halves of [`JWT_JWKS`] when the corpus was generated,
/// one a line. Nothing else can carry a valid signature.
pub const SIGNED_TOKENS: &str = include_str!("../fixtures/signed-tokens.txt");

/// The fixed Ed25519 seed of the `claims` target's signing key (a test key: it signs fuzz
/// payloads inside the harness so that every payload reaches the claims checks).
pub const CLAIMS_KEY_SEED: [u8; 32] = *b"pg_bearer fuzz claims key seed!!";

/// The header the `claims` target signs every payload under.
pub const CLAIMS_HEADER: &str = r#"{"alg":"EdDSA","typ":"at+jwt","kid":"fuzz-claims"}"#;

/// One provider answer to a check of an opaque token (`verify_introspection` or
/// `verify_userinfo`): the whole body of the `introspection` and `userinfo` targets. The first
/// byte picks the profile; an acceptance must keep every promise of `kind`, a rejection must be
/// safe to log and name an identity only once it is vouched for.
pub fn check_opaque_answer(
    kind: Kind,
    data: &[u8],
    verify: fn(&[u8], &OpaqueRequest<'_>, &IssuerPolicy) -> Result<OpaqueVerified, Rejection>,
) {
    let Some((profile, body)) = select_profile(data) else {
        return;
    };
    let req = OpaqueRequest {
        hba_scopes: profile.hba_scopes,
        requested_role: profile.role,
        delegate_ident_mapping: profile.delegate,
        now: NOW,
    };
    match verify(body, &req, &profile.policy) {
        Ok(v) => assert_accepted(
            kind,
            body,
            profile,
            &Accepted {
                authn_id: &v.authn_id,
                exp: v.exp,
                client: None,
            },
        ),
        Err(r) => {
            assert_rejection_is_safe(&r);
            if let Some(id) = &r.identity {
                assert_identity_only_when_vouched(kind, body, profile, id);
            }
        }
    }
}
