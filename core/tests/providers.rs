//! Realistic access-token shapes of common identity providers: each is accepted with the
//! configuration documented in docs/providers.md and refused without it.

mod common;

use common::*;
use pg_bearer_core::claims::ClaimPath;
use pg_bearer_core::policy::{verify_jwt, IssuerPolicy, Request, TypPolicy, Verified};
use pg_bearer_core::reason::{Reason, Rejection};
use serde_json::{json, Value};

fn path(p: &str) -> ClaimPath {
    ClaimPath::parse(p).unwrap()
}

struct Case<'a> {
    header: Value,
    claims: Value,
    hba_scopes: &'a str,
    role: &'a str,
    delegate: bool,
}

impl<'a> Case<'a> {
    fn new(header: Value, claims: Value, hba_scopes: &'a str) -> Self {
        Case {
            header,
            claims,
            hba_scopes,
            role: "alice",
            delegate: false,
        }
    }

    fn run(&self, policy: &IssuerPolicy) -> Result<Verified, Rejection> {
        let token = jws(&RSA, &self.header, &self.claims);
        let req = Request {
            hba_scopes: self.hba_scopes,
            requested_role: self.role,
            delegate_ident_mapping: self.delegate,
            ..request(&token)
        };
        verify_jwt(&req, &KEYS, policy)
    }

    fn reason(&self, policy: &IssuerPolicy) -> Reason {
        match self.run(policy) {
            Ok(v) => panic!("accepted as {:?}", v.authn_id),
            Err(r) => r.reason,
        }
    }

    fn with(mut self, edit: impl FnOnce(&mut Value)) -> Self {
        edit(&mut self.claims);
        self
    }
}

// ---------------------------------------------------------------------------------------
// Keycloak
// ---------------------------------------------------------------------------------------

const KC_ISS: &str = "https://kc.example.com/realms/pg";

fn keycloak_policy() -> IssuerPolicy {
    let mut p = IssuerPolicy::new(KC_ISS, vec!["pg-db".into()]);
    p.identity_claim = path("preferred_username");
    p.role_claim = Some(path("/realm_access/roles"));
    p.client_claim = Some(path("azp"));
    p.required_claims = vec![(path("typ"), "Bearer".into())];
    p
}

fn keycloak_token<'a>() -> Case<'a> {
    Case::new(
        json!({"alg": "RS256", "typ": "JWT", "kid": "rsa-1"}),
        json!({
            "exp": NOW + 300, "iat": NOW, "auth_time": NOW - 5,
            "jti": "onrtac:4f6e0b3c-1111-4a7b-9d3e-2f7b8c9d0e1f",
            "iss": KC_ISS, "aud": ["pg-db", "account"],
            "sub": "f81d4fae-7dec-11d0-a765-00a0c91e6bf6", "typ": "Bearer", "azp": "psql",
            "sid": "0c2e7b5e-2222-4c4d-8e8f-9a0b1c2d3e4f", "acr": "1",
            "allowed-origins": ["/*"],
            "realm_access": {"roles": ["default-roles-pg", "offline_access", "analyst"]},
            "resource_access": {"account": {"roles": ["manage-account", "view-profile"]}},
            "scope": "openid profile email postgres",
            "email_verified": true, "name": "Alice Liddell", "preferred_username": "alice",
            "given_name": "Alice", "family_name": "Liddell", "email": "alice@example.com",
        }),
        "openid postgres",
    )
}

#[test]
fn keycloak_access_token_is_accepted_with_its_policy() {
    let v = keycloak_token().run(&keycloak_policy()).unwrap();
    assert_eq!(v.authn_id, "alice");
    assert_eq!(v.client.as_deref(), Some("psql"));
    // The session gets the whole verified payload, nested claims included.
    assert_eq!(v.claims.len(), 21);
    let roles = pg_bearer_core::claims::ClaimPath::parse("/realm_access/roles").unwrap();
    assert!(roles.resolve(&v.claims).is_some());
    // Debug names claims, never their values.
    assert!(!format!("{v:?}").contains("Liddell"));
    let mut delegated = keycloak_token();
    delegated.delegate = true;
    delegated.role = "analyst";
    assert!(delegated.run(&keycloak_policy()).is_ok());
}

#[test]
fn keycloak_tokens_are_refused_without_their_policy_or_of_the_wrong_kind() {
    let p = keycloak_policy();
    assert_eq!(keycloak_token().reason(&policy()), Reason::WrongIssuer);
    let mut default_aud = p.clone();
    default_aud.audiences = vec!["account-console".into()];
    assert_eq!(keycloak_token().reason(&default_aud), Reason::WrongAudience);
    // Without an audience mapper Keycloak only puts "account" in aud.
    assert_eq!(
        keycloak_token()
            .with(|c| c["aud"] = json!("account"))
            .reason(&p),
        Reason::WrongAudience
    );
    // Keycloak ID token: typ claim "ID", aud = the client.
    let id = keycloak_token().with(|c| {
        c["typ"] = json!("ID");
        c["aud"] = json!("psql");
    });
    assert_eq!(id.reason(&p), Reason::WrongAudience);
    let id_with_aud = keycloak_token().with(|c| c["typ"] = json!("ID"));
    assert_eq!(id_with_aud.reason(&p), Reason::ClaimMismatch);
    // The client scope "postgres" was not granted.
    let no_scope = keycloak_token().with(|c| c["scope"] = json!("openid profile email"));
    assert_eq!(no_scope.reason(&p), Reason::MissingScope);
    let mut delegated = keycloak_token();
    delegated.delegate = true;
    delegated.role = "postgres";
    assert_eq!(delegated.reason(&p), Reason::RoleNotGranted);
}

// ---------------------------------------------------------------------------------------
// Microsoft Entra ID
// ---------------------------------------------------------------------------------------

const TENANT: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";
const APP_ID: &str = "6e74172b-be56-4843-9ff4-e66a39bb12e3";

fn entra_v2_iss() -> String {
    format!("https://login.microsoftonline.com/{TENANT}/v2.0")
}

fn entra_v2_policy() -> IssuerPolicy {
    let mut p = IssuerPolicy::new(entra_v2_iss(), vec![APP_ID.into()]);
    p.identity_claim = path("oid");
    p.role_claim = Some(path("roles"));
    p.required_claims = vec![(path("ver"), "2.0".into()), (path("tid"), TENANT.into())];
    p
}

fn entra_v2_token<'a>() -> Case<'a> {
    Case::new(
        json!({"typ": "JWT", "alg": "RS256", "kid": "rsa-1"}),
        json!({
            "aud": APP_ID, "iss": entra_v2_iss(), "iat": NOW, "nbf": NOW, "exp": NOW + 4000,
            "aio": "AXQAi/8TAAAA", "azp": "1950a258-227b-4e31-a9cf-717495945fc2", "azpacr": "0",
            "name": "Alice Liddell", "oid": "00000000-0000-0000-66f3-3332eca7ea81",
            "preferred_username": "alice@contoso.com", "rh": "0.AQ0A.",
            "roles": ["Db.Analyst"], "scp": "Db.Login User.Read",
            "sub": "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ",
            "tid": TENANT, "uti": "fqiBqXLPj0eQa82S-IYFAA", "ver": "2.0",
        }),
        "openid offline_access 6e74172b-be56-4843-9ff4-e66a39bb12e3/Db.Login",
    )
}

#[test]
fn entra_v2_access_token_is_accepted_with_its_policy() {
    let v = entra_v2_token().run(&entra_v2_policy()).unwrap();
    assert_eq!(v.authn_id, "00000000-0000-0000-66f3-3332eca7ea81");
    // `.default` is satisfied by the audience; app-only tokens carry roles, not scp.
    let mut app_only = entra_v2_token().with(|c| {
        c.as_object_mut().unwrap().remove("scp");
    });
    app_only.hba_scopes = "6e74172b-be56-4843-9ff4-e66a39bb12e3/.default";
    assert!(app_only.run(&entra_v2_policy()).is_ok());
    app_only.delegate = true;
    app_only.role = "Db.Analyst";
    assert!(app_only.run(&entra_v2_policy()).is_ok());
}

#[test]
fn entra_v2_tokens_are_refused_without_their_policy() {
    let p = entra_v2_policy();
    // Configured with the App ID URI: v2 tokens carry the GUID.
    let mut uri = p.clone();
    uri.audiences = vec![format!("api://{APP_ID}")];
    assert_eq!(entra_v2_token().reason(&uri), Reason::WrongAudience);
    // Microsoft Graph token (aud 00000003-...) replayed at the database.
    let graph = entra_v2_token().with(|c| c["aud"] = json!("00000003-0000-0000-c000-000000000000"));
    assert_eq!(graph.reason(&p), Reason::WrongAudience);
    // Another tenant on the multi-tenant endpoint.
    let other_tenant = entra_v2_token().with(|c| {
        c["iss"] =
            json!("https://login.microsoftonline.com/00000000-1111-2222-3333-444444444444/v2.0");
    });
    assert_eq!(other_tenant.reason(&p), Reason::WrongIssuer);
    let mut scope_missing = entra_v2_token().with(|c| c["scp"] = json!("User.Read"));
    assert_eq!(scope_missing.reason(&p), Reason::MissingScope);
    scope_missing.hba_scopes = "api://other/.default";
    assert_eq!(scope_missing.reason(&p), Reason::MissingScope);
    // A mutable identity claim is not the default: the default `sub` is pairwise and opaque,
    // email without email_verified is refused (nOAuth).
    let mut by_email = p.clone();
    by_email.identity_claim = path("email");
    let with_email = entra_v2_token().with(|c| c["email"] = json!("admin@contoso.com"));
    assert_eq!(with_email.reason(&by_email), Reason::EmailNotVerified);
}

const ENTRA_V1_AUD: &str = "api://pg-db";

fn entra_v1_iss() -> String {
    format!("https://sts.windows.net/{TENANT}/")
}

fn entra_v1_policy() -> IssuerPolicy {
    let mut p = IssuerPolicy::new(entra_v1_iss(), vec![ENTRA_V1_AUD.into()]);
    p.identity_claim = path("oid");
    p.client_claim = Some(path("appid"));
    p.required_claims = vec![(path("ver"), "1.0".into())];
    p
}

fn entra_v1_token<'a>() -> Case<'a> {
    Case::new(
        json!({"typ": "JWT", "alg": "RS256", "x5t": "nOo3ZDrODXEK1jKWhXslHR_KXEg", "kid": "rsa-1"}),
        json!({
            "aud": ENTRA_V1_AUD, "iss": entra_v1_iss(), "iat": NOW, "nbf": NOW, "exp": NOW + 3900,
            "acr": "1", "aio": "E2ZgYJ", "amr": ["pwd"], "appid": "1950a258-227b-4e31-a9cf-717495945fc2",
            "appidacr": "0", "family_name": "Liddell", "given_name": "Alice", "ipaddr": "192.0.2.1",
            "name": "Alice Liddell", "oid": "00000000-0000-0000-66f3-3332eca7ea81",
            "scp": "Db.Login", "sub": "l3_roISQU222bULS9yi2k0XpqpOiMz5H3ZACo1GeXA",
            "tid": TENANT, "unique_name": "alice@contoso.com", "upn": "alice@contoso.com",
            "uti": "fqiBqXLPj0eQa82S-IYFAA", "ver": "1.0",
        }),
        "openid api://pg-db/Db.Login",
    )
}

#[test]
fn entra_v1_access_token_is_accepted_with_its_policy() {
    let v = entra_v1_token().run(&entra_v1_policy()).unwrap();
    assert_eq!(v.authn_id, "00000000-0000-0000-66f3-3332eca7ea81");
    assert_eq!(
        v.client.as_deref(),
        Some("1950a258-227b-4e31-a9cf-717495945fc2")
    );
    let mut dot_default = entra_v1_token();
    dot_default.hba_scopes = "api://pg-db/.default";
    assert!(dot_default.run(&entra_v1_policy()).is_ok());
}

#[test]
fn entra_v1_tokens_are_refused_without_their_policy() {
    // The v2 issuer is a different string.
    assert_eq!(
        entra_v1_token().reason(&entra_v2_policy()),
        Reason::WrongIssuer
    );
    // A v2-shaped policy pinned to ver 2.0 refuses v1 tokens even if issuer were shared.
    let mut v2_pinned = entra_v1_policy();
    v2_pinned.required_claims = vec![(path("ver"), "2.0".into())];
    assert_eq!(entra_v1_token().reason(&v2_pinned), Reason::ClaimMismatch);
    // The resource-qualified scope needs the audience *and* the word.
    let mut other_resource = entra_v1_token();
    other_resource.hba_scopes = "api://reports/Db.Login";
    assert_eq!(
        other_resource.reason(&entra_v1_policy()),
        Reason::MissingScope
    );
}

// ---------------------------------------------------------------------------------------
// Okta (custom authorization server)
// ---------------------------------------------------------------------------------------

const OKTA_ISS: &str = "https://dev-123456.okta.com/oauth2/default";

fn okta_policy() -> IssuerPolicy {
    let mut p = IssuerPolicy::new(OKTA_ISS, vec!["api://default".into()]);
    p.client_claim = Some(path("cid"));
    p.allowed_clients = vec!["0oa1b2c3d4e5f6g7h8i9".into()];
    p
}

fn okta_token<'a>() -> Case<'a> {
    Case::new(
        json!({"kid": "rsa-1", "alg": "RS256"}),
        json!({
            "ver": 1, "jti": "AT.0mP4JKAZX1iACIT4vbEDF7LpvDVjxypPMf0D7uX39RE",
            "iss": OKTA_ISS, "aud": "api://default", "iat": NOW, "exp": NOW + 3600,
            "cid": "0oa1b2c3d4e5f6g7h8i9", "uid": "00u1a2b3c4d5e6f7g8h9",
            "scp": ["openid", "postgres"], "auth_time": NOW - 30, "sub": "alice@example.com",
        }),
        "openid postgres",
    )
}

#[test]
fn okta_access_token_is_accepted_with_its_policy() {
    let v = okta_token().run(&okta_policy()).unwrap();
    assert_eq!(v.authn_id, "alice@example.com");
}

#[test]
fn okta_tokens_are_refused_without_their_policy() {
    let p = okta_policy();
    let mut org_server = p.clone();
    org_server.issuer = "https://dev-123456.okta.com".into();
    assert_eq!(okta_token().reason(&org_server), Reason::WrongIssuer);
    let mut resource_aud = p.clone();
    resource_aud.audiences = vec!["https://db.example.com".into()];
    assert_eq!(okta_token().reason(&resource_aud), Reason::WrongAudience);
    let other_app = okta_token().with(|c| c["cid"] = json!("0oaEVILEVILEVILEVIL"));
    assert_eq!(other_app.reason(&p), Reason::ClientNotAllowed);
    let scp_string_without = okta_token().with(|c| c["scp"] = json!(["openid", "profile"]));
    assert_eq!(scp_string_without.reason(&p), Reason::MissingScope);
}

// ---------------------------------------------------------------------------------------
// Auth0
// ---------------------------------------------------------------------------------------

const AUTH0_ISS: &str = "https://tenant.eu.auth0.com/";

fn auth0_policy() -> IssuerPolicy {
    let mut p = IssuerPolicy::new(AUTH0_ISS, vec!["https://db.example.com".into()]);
    p.typ_policy = TypPolicy::AccessOnly;
    p.role_claim = Some(path("permissions"));
    p
}

fn auth0_token<'a>() -> Case<'a> {
    Case::new(
        json!({"alg": "RS256", "typ": "at+jwt", "kid": "rsa-1"}),
        json!({
            "iss": AUTH0_ISS, "sub": "auth0|64b7f0c2e1d2a3b4c5d6e7f8",
            "aud": ["https://db.example.com", "https://tenant.eu.auth0.com/userinfo"],
            "iat": NOW, "exp": NOW + 86_400, "scope": "openid profile email postgres",
            "azp": "kT9xZsYg1v2w3x4y5z6a7b8c9d0e1f2g", "jti": "2b6a4c1e", "client_id": "kT9xZsYg1v2w3x4y5z6a7b8c9d0e1f2g",
            "permissions": ["connect:analytics"],
        }),
        "openid postgres",
    )
}

#[test]
fn auth0_access_token_is_accepted_with_its_policy() {
    let v = auth0_token().run(&auth0_policy()).unwrap();
    assert_eq!(v.authn_id, "auth0|64b7f0c2e1d2a3b4c5d6e7f8");
    let mut delegated = auth0_token();
    delegated.delegate = true;
    delegated.role = "connect:analytics";
    assert!(delegated.run(&auth0_policy()).is_ok());
}

#[test]
fn auth0_tokens_are_refused_without_their_policy() {
    let p = auth0_policy();
    let mut no_slash = p.clone();
    no_slash.issuer = "https://tenant.eu.auth0.com".into();
    assert_eq!(auth0_token().reason(&no_slash), Reason::WrongIssuer);
    // The /userinfo audience alone is an OIDC-only token.
    let userinfo_only =
        auth0_token().with(|c| c["aud"] = json!("https://tenant.eu.auth0.com/userinfo"));
    assert_eq!(userinfo_only.reason(&p), Reason::WrongAudience);
    // Auth0 ID tokens are typed JWT; the AccessOnly policy refuses them by type.
    let mut id = auth0_token().with(|c| c["aud"] = json!("kT9xZsYg1v2w3x4y5z6a7b8c9d0e1f2g"));
    id.header["typ"] = json!("JWT");
    assert_eq!(id.reason(&p), Reason::WrongTyp);
    // Longer than the 24 h default cap.
    let long = auth0_token().with(|c| c["exp"] = json!(NOW + 86_401));
    assert_eq!(long.reason(&p), Reason::LifetimeTooLong);
}

// ---------------------------------------------------------------------------------------
// Amazon Cognito
// ---------------------------------------------------------------------------------------

const COGNITO_ISS: &str = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEfGhI";
const COGNITO_CLIENT: &str = "3n4b5urk1ft4fl3mg5e62d9ado";

fn cognito_policy() -> IssuerPolicy {
    let mut p = IssuerPolicy::new(COGNITO_ISS, vec![COGNITO_CLIENT.into()]);
    p.audience_claim = path("client_id");
    p.identity_claim = path("username");
    p.role_claim = Some(path("cognito:groups"));
    p.required_claims = vec![(path("token_use"), "access".into())];
    p
}

fn cognito_token<'a>() -> Case<'a> {
    Case::new(
        json!({"kid": "rsa-1", "alg": "RS256"}),
        json!({
            "sub": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", "cognito:groups": ["analysts"],
            "iss": COGNITO_ISS, "version": 2, "client_id": COGNITO_CLIENT,
            "origin_jti": "cccccccc-dddd-eeee-ffff-000000000000", "token_use": "access",
            "scope": "openid pg-db/connect", "auth_time": NOW - 60, "exp": NOW + 3600, "iat": NOW,
            "jti": "dddddddd-eeee-ffff-0000-111111111111", "username": "alice",
        }),
        "openid pg-db/connect",
    )
}

#[test]
fn cognito_access_token_is_accepted_with_its_policy() {
    let v = cognito_token().run(&cognito_policy()).unwrap();
    assert_eq!(v.authn_id, "alice");
    let mut delegated = cognito_token();
    delegated.delegate = true;
    delegated.role = "analysts";
    assert!(delegated.run(&cognito_policy()).is_ok());
}

#[test]
fn cognito_tokens_are_refused_without_their_policy() {
    let p = cognito_policy();
    let mut default_aud = p.clone();
    default_aud.audience_claim = path("aud");
    let r = cognito_token().run(&default_aud).unwrap_err();
    assert_eq!((r.reason, r.claim), (Reason::MissingClaim, Some("aud")));
    // Cognito ID token: aud = client id, no client_id claim, token_use "id".
    let id = cognito_token().with(|c| {
        let o = c.as_object_mut().unwrap();
        o.remove("client_id");
        o.insert("aud".into(), json!(COGNITO_CLIENT));
        o.insert("token_use".into(), json!("id"));
    });
    assert_eq!(id.reason(&p), Reason::MissingClaim);
    let mut no_client_check = p.clone();
    no_client_check.audience_claim = path("aud");
    assert_eq!(id.reason(&no_client_check), Reason::ClaimMismatch);
    let other_pool_client =
        cognito_token().with(|c| c["client_id"] = json!("7abc0000000000000000000000"));
    assert_eq!(other_pool_client.reason(&p), Reason::WrongAudience);
}

// ---------------------------------------------------------------------------------------
// Zitadel
// ---------------------------------------------------------------------------------------

const ZITADEL_ISS: &str = "https://pg-abc123.zitadel.cloud";
const ZITADEL_PROJECT: &str = "287137937012345678";
const ZITADEL_CLIENT: &str = "287138011234567890@pg";
const ZITADEL_ROLES: &str = "urn:zitadel:iam:org:project:roles";

fn zitadel_policy() -> IssuerPolicy {
    let mut p = IssuerPolicy::new(ZITADEL_ISS, vec![ZITADEL_PROJECT.into()]);
    p.role_claim = Some(path(ZITADEL_ROLES));
    p.client_claim = Some(path("client_id"));
    p
}

fn zitadel_token<'a>() -> Case<'a> {
    Case::new(
        json!({"alg": "RS256", "kid": "rsa-1", "typ": "JWT"}),
        json!({
            "aud": [ZITADEL_PROJECT, ZITADEL_CLIENT], "client_id": ZITADEL_CLIENT,
            "exp": NOW + 43_200, "iat": NOW, "nbf": NOW, "iss": ZITADEL_ISS,
            "jti": "287140000000000000", "sub": "287139000000000000",
            ZITADEL_ROLES: {"analyst": {"287130000000000000": "acme.pg-abc123.zitadel.cloud"}},
        }),
        "openid urn:zitadel:iam:org:project:id:287137937012345678:aud",
    )
}

#[test]
fn zitadel_access_token_is_accepted_with_its_policy() {
    let v = zitadel_token().run(&zitadel_policy()).unwrap();
    assert_eq!(v.authn_id, "287139000000000000");
    let mut delegated = zitadel_token();
    delegated.delegate = true;
    delegated.role = "analyst";
    assert!(delegated.run(&zitadel_policy()).is_ok());
    // The role claim may also be named by its JSON Pointer form.
    let mut pointer = zitadel_policy();
    pointer.role_claim = Some(path(&format!("/{ZITADEL_ROLES}")));
    assert!(delegated.run(&pointer).is_ok());
}

#[test]
fn zitadel_tokens_are_refused_without_their_policy() {
    let p = zitadel_policy();
    // Zitadel JWT access tokens carry no scope claim: a permission scope cannot be met.
    let mut plain_scope = zitadel_token();
    plain_scope.hba_scopes = "openid postgres";
    assert_eq!(plain_scope.reason(&p), Reason::MissingScope);
    // The project-audience scope of another project.
    let mut other_project = zitadel_token();
    other_project.hba_scopes = "openid urn:zitadel:iam:org:project:id:111:aud";
    assert_eq!(other_project.reason(&p), Reason::MissingScope);
    let mut delegated = zitadel_token();
    delegated.delegate = true;
    delegated.role = "287130000000000000";
    assert_eq!(delegated.reason(&p), Reason::RoleNotGranted);
    let mut wrong_claim = p.clone();
    wrong_claim.role_claim = Some(path("roles"));
    delegated.role = "analyst";
    assert_eq!(delegated.reason(&wrong_claim), Reason::RoleNotGranted);
}

// ---------------------------------------------------------------------------------------
// Dex
// ---------------------------------------------------------------------------------------

const DEX_ISS: &str = "https://dex.example.com";

fn dex_policy() -> IssuerPolicy {
    let mut p = IssuerPolicy::new(DEX_ISS, vec!["pg".into()]);
    p.identity_claim = path("email");
    // Dex needs `email` (and `profile`, `groups`) requested to put those claims in the token,
    // but never lists scopes in it: they are protocol scopes here.
    p.implicit_scopes.extend([
        "email".to_owned(),
        "profile".to_owned(),
        "groups".to_owned(),
    ]);
    p
}

fn dex_token<'a>() -> Case<'a> {
    Case::new(
        json!({"alg": "RS256", "kid": "rsa-1"}),
        json!({
            "iss": DEX_ISS, "sub": "CgVhbGljZRIFbG9jYWw", "aud": "pg", "azp": "psql",
            "exp": NOW + 86_400, "iat": NOW, "at_hash": "b4Mm0iWwxGvYDfs9QwU7Ug",
            "email": "alice@example.com", "email_verified": true, "name": "alice",
            "federated_claims": {"connector_id": "local", "user_id": "alice"},
        }),
        "openid email audience:server:client_id:pg",
    )
}

#[test]
fn dex_token_is_accepted_with_its_cross_client_scope() {
    let v = dex_token().run(&dex_policy()).unwrap();
    assert_eq!(v.authn_id, "alice@example.com");
}

#[test]
fn dex_tokens_are_refused_without_their_policy() {
    let p = dex_policy();
    // Dex issues no scope claim: any permission scope is missing.
    let mut permission = dex_token();
    permission.hba_scopes = "openid postgres";
    assert_eq!(permission.reason(&p), Reason::MissingScope);
    // Only protocol scopes on the line: a configuration error.
    let mut only_oidc = dex_token();
    only_oidc.hba_scopes = "openid email groups";
    assert_eq!(only_oidc.reason(&p), Reason::NotConfigured);
    // Without the extra implicit scopes, `email` on the line is a permission Dex never lists.
    let mut strict_implicit = p.clone();
    strict_implicit.implicit_scopes = vec!["openid".into(), "offline_access".into()];
    assert_eq!(dex_token().reason(&strict_implicit), Reason::MissingScope);
    let unverified = dex_token().with(|c| c["email_verified"] = json!(false));
    assert_eq!(unverified.reason(&p), Reason::EmailNotVerified);
    // A token the client obtained for itself (aud = the requesting client).
    let own = dex_token().with(|c| c["aud"] = json!("psql"));
    assert_eq!(own.reason(&p), Reason::WrongAudience);
}
