//! The mock provider and token minter work as advertised, checked from outside with a real
//! TLS client (rustls trusting only the provider's CA) and an independent JWT verifier
//! (jsonwebtoken), so end-to-end failures can be blamed on the validator, not the fixture.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use pg_bearer_e2e::provider::{
    Alg, CacheControl, Endpoint, Fault, MockProvider, ProviderOptions, Target, TlsMode,
};
use pg_bearer_e2e::tokens::{self, Hmac, PublicKeyForm};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use serde_json::{json, Value};

const AUD: &str = "postgres-db";
const TIMEOUT: Duration = Duration::from_secs(5);

// ----- a small HTTPS client -----

#[derive(Debug)]
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

fn client_config(ca_pem: &str) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.expect("a PEM certificate")).expect("a CA");
    }
    Arc::new(
        ClientConfig::builder_with_provider(
            Arc::new(rustls::crypto::aws_lc_rs::default_provider()),
        )
        .with_safe_default_protocol_versions()
        .expect("default TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth(),
    )
}

/// GETs `url` trusting only `ca_pem`, with a read timeout; `Err` carries the error text.
fn get_with(url: &str, ca_pem: &str, timeout: Duration) -> Result<Response, String> {
    request_with(url, ca_pem, timeout, None)
}

/// POSTs an `application/x-www-form-urlencoded` body to `url`, like [`get_with`].
fn post_form(url: &str, ca_pem: &str, form: &str) -> Result<Response, String> {
    request_with(url, ca_pem, TIMEOUT, Some(form))
}

fn request_with(
    url: &str,
    ca_pem: &str,
    timeout: Duration,
    form: Option<&str>,
) -> Result<Response, String> {
    let (scheme, rest) = url.split_once("://").expect("an absolute URL");
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let (host, port) = authority.rsplit_once(':').expect("a port");
    let tcp = TcpStream::connect(("127.0.0.1", port.parse::<u16>().expect("a port")))
        .map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(timeout)).unwrap();
    tcp.set_write_timeout(Some(timeout)).unwrap();
    let request = match form {
        None => format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\nAccept: application/json\r\nConnection: close\r\n\r\n"),
        Some(body) => format!(
            "POST {path} HTTP/1.1\r\nHost: {authority}\r\nAccept: application/json\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    };
    let mut raw = Vec::new();
    let outcome = if scheme == "https" {
        let name = ServerName::try_from(host.to_owned()).expect("a server name");
        let conn = ClientConnection::new(client_config(ca_pem), name).unwrap();
        let mut tls = StreamOwned::new(conn, tcp);
        tls.write_all(request.as_bytes())
            .and_then(|()| tls.read_to_end(&mut raw))
    } else {
        let mut tcp = tcp;
        tcp.write_all(request.as_bytes())
            .and_then(|()| tcp.read_to_end(&mut raw))
    };
    outcome.map_err(|e| format!("{e} (after {} bytes)", raw.len()))?;
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> Result<Response, String> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no complete response head")?;
    let head = String::from_utf8_lossy(&raw[..end]);
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or("no status")?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let body = raw[end + 4..].to_vec();
    let response = Response {
        status,
        headers,
        body,
    };
    if let Some(len) = response.header("content-length") {
        let len: usize = len.parse().map_err(|_| "bad content-length")?;
        if len != response.body.len() {
            return Err(format!(
                "content-length {len} but {} bytes",
                response.body.len()
            ));
        }
    }
    Ok(response)
}

fn get(idp: &MockProvider, url: &str) -> Response {
    get_with(url, idp.ca_pem(), TIMEOUT).unwrap_or_else(|e| panic!("GET {url}: {e}"))
}

/// A provider with the default keys (two of them RSA: about 0.1 s each to generate).
fn start() -> MockProvider {
    MockProvider::start(ProviderOptions::default())
}

/// A provider with one ES256 key: starts in milliseconds, for tests of HTTP and TLS behaviour.
fn start_light() -> MockProvider {
    MockProvider::start(ProviderOptions {
        keys: vec![Alg::Es256],
        ..ProviderOptions::default()
    })
}

/// Polls `condition` for up to five seconds (server-side counters are updated by the
/// provider's connection thread, a moment after the client sees the outcome).
fn eventually(what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + TIMEOUT;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn with_path(path: &str) -> MockProvider {
    MockProvider::start(ProviderOptions {
        issuer_path: path.into(),
        keys: vec![Alg::Es256],
        ..ProviderOptions::default()
    })
}

// ----- verification with jsonwebtoken -----

fn jsonwebtoken_alg(alg: Alg) -> Algorithm {
    match alg {
        Alg::Rs256 => Algorithm::RS256,
        Alg::Rs384 => Algorithm::RS384,
        Alg::Rs512 => Algorithm::RS512,
        Alg::Ps256 => Algorithm::PS256,
        Alg::Ps384 => Algorithm::PS384,
        Alg::Ps512 => Algorithm::PS512,
        Alg::Es256 => Algorithm::ES256,
        Alg::Es384 => Algorithm::ES384,
        Alg::EdDsa => Algorithm::EdDSA,
    }
}

/// Verifies `token` with the JWK of its kid from `jwks`, for `alg`, `AUD` and `issuer`.
fn verify(token: &str, jwks: &Value, alg: Alg, issuer: &str) -> Result<Value, String> {
    let header = jsonwebtoken::decode_header(token).map_err(|e| e.to_string())?;
    let kid = header.kid.ok_or("no kid")?;
    let jwk = jwks["keys"]
        .as_array()
        .ok_or("no keys")?
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .ok_or("kid not in the JWKS")?;
    verify_with_jwk(token, jwk, alg, issuer)
}

fn verify_with_jwk(token: &str, jwk: &Value, alg: Alg, issuer: &str) -> Result<Value, String> {
    let jwk: Jwk = serde_json::from_value(jwk.clone()).map_err(|e| e.to_string())?;
    let key = DecodingKey::from_jwk(&jwk).map_err(|e| e.to_string())?;
    let mut validation = Validation::new(jsonwebtoken_alg(alg));
    validation.set_audience(&[AUD]);
    validation.set_issuer(&[issuer]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .map(|data| data.claims)
        .map_err(|e| e.to_string())
}

fn segment(token: &str, index: usize) -> Value {
    let part = token.split('.').nth(index).expect("a segment");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url")).expect("JSON")
}

fn b64url_len(s: &Value) -> usize {
    URL_SAFE_NO_PAD
        .decode(s.as_str().expect("a string"))
        .expect("base64url")
        .len()
}

// ----- discovery and metadata -----

#[test]
fn discovery_document_names_the_issuer_and_its_endpoints() {
    let idp = start();
    assert_eq!(idp.issuer(), format!("https://127.0.0.1:{}", idp.port()));
    assert_eq!(
        idp.well_known(),
        format!("{}/.well-known/openid-configuration", idp.issuer())
    );
    let response = get(&idp, &idp.well_known());
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("application/json"));
    let doc = response.json();
    let issuer = idp.issuer();
    assert_eq!(doc["issuer"], issuer);
    assert_eq!(doc["jwks_uri"], format!("{issuer}/jwks"));
    assert_eq!(
        doc["introspection_endpoint"],
        format!("{issuer}/introspect")
    );
    assert_eq!(doc["userinfo_endpoint"], format!("{issuer}/userinfo"));
    assert_eq!(doc["token_endpoint"], format!("{issuer}/token"));
    assert_eq!(
        doc["id_token_signing_alg_values_supported"],
        json!(["RS256", "PS256", "ES256", "ES384", "EdDSA"])
    );
}

#[test]
fn issuer_with_a_path_serves_all_three_metadata_placements() {
    let idp = with_path("/realms/main");
    let issuer = format!("https://127.0.0.1:{}/realms/main", idp.port());
    assert_eq!(idp.issuer(), issuer);
    let origin = format!("https://127.0.0.1:{}", idp.port());
    for url in [
        format!("{issuer}/.well-known/openid-configuration"),
        format!("{origin}/.well-known/oauth-authorization-server/realms/main"),
        format!("{origin}/.well-known/openid-configuration/realms/main"),
    ] {
        let doc = get(&idp, &url).json();
        assert_eq!(doc["issuer"], issuer, "{url}");
        assert_eq!(doc["jwks_uri"], format!("{issuer}/jwks"), "{url}");
    }
    assert_eq!(idp.count_discovery(), 3);
    assert_eq!(idp.path(Endpoint::Jwks), "/realms/main/jwks");
    assert_eq!(get(&idp, &idp.url(Endpoint::Jwks)).status, 200);
    assert_eq!(get(&idp, &format!("{origin}/jwks")).status, 404);
}

#[test]
fn rfc8414_metadata_without_a_path_is_served_too() {
    let idp = start_light();
    let doc = get(&idp, &idp.url(Endpoint::OAuthServerMetadata)).json();
    assert_eq!(doc["issuer"], idp.issuer());
    assert_eq!(
        idp.url(Endpoint::OAuthServerMetadata),
        format!("{}/.well-known/oauth-authorization-server", idp.issuer())
    );
}

#[test]
fn metadata_fields_can_be_replaced_and_removed() {
    let idp = start_light();
    let http_jwks = format!("http://127.0.0.1:{}/jwks", idp.port());
    idp.set_metadata_field("jwks_uri", Some(json!(http_jwks)));
    idp.set_metadata_field("introspection_endpoint", None);
    let doc = get(&idp, &idp.well_known()).json();
    assert_eq!(doc["jwks_uri"], http_jwks);
    assert!(doc.get("introspection_endpoint").is_none());
    idp.clear_metadata_fields();
    let doc = get(&idp, &idp.well_known()).json();
    assert_eq!(doc["jwks_uri"], format!("{}/jwks", idp.issuer()));
}

#[test]
fn other_endpoints_answer_like_a_provider_that_knows_no_tokens() {
    let idp = start_light();
    let introspection = get(&idp, &idp.url(Endpoint::Introspection));
    assert_eq!(introspection.json(), json!({"active": false}));
    assert_eq!(get(&idp, &idp.url(Endpoint::UserInfo)).status, 401);
    assert_eq!(get(&idp, &idp.url(Endpoint::Token)).status, 400);
    assert_eq!(get(&idp, &idp.url_for_path("/nowhere")).status, 404);
}

// ----- keys and tokens -----

#[test]
fn jwks_keys_are_well_formed() {
    let idp = start();
    let response = get(&idp, &idp.url(Endpoint::Jwks));
    assert_eq!(response.header("content-type"), Some("application/json"));
    let jwks = response.json();
    let keys = jwks["keys"].as_array().expect("keys");
    assert_eq!(keys.len(), 5);
    for key in keys {
        assert_eq!(key["use"], "sig");
        assert!(key["kid"].as_str().is_some_and(|k| !k.is_empty()));
        match key["alg"].as_str().unwrap() {
            "RS256" | "PS256" => {
                assert_eq!(key["kty"], "RSA");
                assert_eq!(
                    b64url_len(&key["n"]),
                    256,
                    "n is 2048 bits, no leading zero"
                );
                let n = URL_SAFE_NO_PAD.decode(key["n"].as_str().unwrap()).unwrap();
                assert_ne!(n[0], 0);
                assert_eq!(key["e"], "AQAB");
            }
            "ES256" => {
                assert_eq!((&key["kty"], &key["crv"]), (&json!("EC"), &json!("P-256")));
                assert_eq!((b64url_len(&key["x"]), b64url_len(&key["y"])), (32, 32));
            }
            "ES384" => {
                assert_eq!((&key["kty"], &key["crv"]), (&json!("EC"), &json!("P-384")));
                assert_eq!((b64url_len(&key["x"]), b64url_len(&key["y"])), (48, 48));
            }
            "EdDSA" => {
                assert_eq!(
                    (&key["kty"], &key["crv"]),
                    (&json!("OKP"), &json!("Ed25519"))
                );
                assert_eq!(b64url_len(&key["x"]), 32);
            }
            other => panic!("unexpected alg {other}"),
        }
    }
}

#[test]
fn every_published_key_verifies_a_token_minted_for_it() {
    let idp = start();
    for alg in [Alg::Rs384, Alg::Rs512, Alg::Ps384, Alg::Ps512] {
        idp.add_key(alg);
    }
    let jwks = get(&idp, &idp.url(Endpoint::Jwks)).json();
    let minter = idp.minter();
    for alg in Alg::ALL {
        let claims = minter.claims(AUD, "alice", "openid postgres");
        let token = minter.mint(alg, &claims, &json!({}));
        let header = segment(&token, 0);
        assert_eq!(header["alg"], alg.name());
        assert_eq!(header["typ"], "at+jwt");
        assert_eq!(header["kid"], idp.kid(alg).unwrap());
        let verified =
            verify(&token, &jwks, alg, idp.issuer()).unwrap_or_else(|e| panic!("{alg}: {e}"));
        assert_eq!(verified, claims);
        // The same token under the wrong audience or issuer does not verify.
        assert!(verify(&token, &jwks, alg, "https://other.example").is_err());
    }
}

#[test]
fn standard_claims_follow_rfc9068() {
    let claims = tokens::standard_claims("https://i.example", AUD, "alice", "openid", 1_000);
    assert_eq!(claims["iss"], "https://i.example");
    assert_eq!(claims["aud"], AUD);
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["client_id"], tokens::CLIENT_ID);
    assert_eq!(claims["iat"], 1_000);
    assert_eq!(claims["exp"], 1_300);
    assert_eq!(claims["scope"], "openid");
    let other = tokens::standard_claims("https://i.example", AUD, "alice", "openid", 1_000);
    assert_ne!(claims["jti"], other["jti"], "jti is unique");
}

#[test]
fn header_overrides_replace_and_remove_members() {
    let idp = start();
    let minter = idp.minter();
    let claims = minter.claims(AUD, "alice", "openid");
    let token = minter.mint(
        Alg::Rs256,
        &claims,
        &json!({"kid": null, "typ": "JWT", "alg": "PS256"}),
    );
    assert_eq!(segment(&token, 0), json!({"alg": "PS256", "typ": "JWT"}));
    let jku = minter.with_header(
        Alg::Es256,
        &claims,
        &json!({"jku": "https://attacker.example/jwks"}),
    );
    let header = segment(&jku, 0);
    assert_eq!(header["jku"], "https://attacker.example/jwks");
    assert_eq!(header["kid"], idp.kid(Alg::Es256).unwrap());
    let jwks = idp.jwks();
    verify(&jku, &jwks, Alg::Es256, idp.issuer()).expect("otherwise a valid signature");
}

#[test]
fn sign_raw_keeps_the_exact_json_text() {
    let idp = start_light();
    let minter = idp.minter();
    let kid = idp.kid(Alg::Es256).unwrap();
    let header = format!(r#"{{"alg":"none","alg":"ES256","kid":"{kid}"}}"#);
    let claims = r#"{"sub":"alice","sub":"postgres"}"#;
    let token = minter.sign_raw(Alg::Es256, &header, claims);
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(URL_SAFE_NO_PAD.decode(parts[0]).unwrap(), header.as_bytes());
    assert_eq!(URL_SAFE_NO_PAD.decode(parts[1]).unwrap(), claims.as_bytes());
    assert_eq!(URL_SAFE_NO_PAD.decode(parts[2]).unwrap().len(), 64);
}

#[test]
fn alg_none_token_has_an_empty_signature() {
    let idp = start();
    let minter = idp.minter();
    let token = minter.alg_none(&minter.claims(AUD, "alice", "openid"));
    assert!(token.ends_with('.'));
    assert_eq!(token.matches('.').count(), 2);
    let header = segment(&token, 0);
    assert_eq!(header["alg"], "none");
    assert_eq!(header["kid"], idp.kid(Alg::Rs256).unwrap());
    let shouted = tokens::unsigned(&json!({"alg": "NONE"}), &json!({"sub": "alice"}));
    assert_eq!(segment(&shouted, 0), json!({"alg": "NONE"}));
}

#[test]
fn hs256_confusion_token_is_keyed_with_the_public_key_bytes() {
    let idp = start();
    let minter = idp.minter();
    let claims = minter.claims(AUD, "alice", "openid");
    let rsa_kid = idp.kid(Alg::Rs256).unwrap();
    let jwk: Jwk = serde_json::from_value(idp.public_jwk(&rsa_kid).unwrap()).unwrap();
    // Recover the SPKI bytes independently: jsonwebtoken's own RSA key from the JWK is not
    // exposed, so rebuild SPKI DER from n and e via aws-lc-rs.
    let spki_der = {
        use aws_lc_rs::encoding::AsDer;
        use aws_lc_rs::rsa::PublicKeyComponents;
        let jsonwebtoken::jwk::AlgorithmParameters::RSA(rsa) = &jwk.algorithm else {
            panic!("an RSA JWK");
        };
        let components = PublicKeyComponents {
            n: URL_SAFE_NO_PAD.decode(&rsa.n).unwrap(),
            e: URL_SAFE_NO_PAD.decode(&rsa.e).unwrap(),
        };
        components.as_der().unwrap().as_ref().to_vec()
    };
    let token = minter.hs256_with_public_key(&claims, PublicKeyForm::SpkiDer);
    let header = segment(&token, 0);
    assert_eq!(header["alg"], "HS256");
    assert_eq!(header["kid"], rsa_kid);
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_audience(&[AUD]);
    jsonwebtoken::decode::<Value>(&token, &DecodingKey::from_secret(&spki_der), &validation)
        .expect("HMAC keyed with the SPKI DER");

    let pem = minter.hs256_with_public_key(&claims, PublicKeyForm::SpkiPem);
    let pem_text = {
        use base64::engine::general_purpose::STANDARD;
        let b64 = STANDARD.encode(&spki_der);
        let lines: Vec<&str> = b64
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            lines.join("\n")
        )
    };
    jsonwebtoken::decode::<Value>(
        &pem,
        &DecodingKey::from_secret(pem_text.as_bytes()),
        &validation,
    )
    .expect("HMAC keyed with the PEM text");

    let es = minter.hmac_with_public_key(Hmac::Hs512, Alg::Es256, PublicKeyForm::JwkJson, &claims);
    assert_eq!(segment(&es, 0)["alg"], "HS512");
    assert_eq!(segment(&es, 0)["kid"], idp.kid(Alg::Es256).unwrap());
}

#[test]
fn tampered_signature_no_longer_verifies() {
    let idp = start();
    let minter = idp.minter();
    let jwks = idp.jwks();
    for alg in [Alg::Rs256, Alg::Es256, Alg::EdDsa] {
        let token = minter.mint(alg, &minter.claims(AUD, "alice", "openid"), &json!({}));
        let tampered = tokens::tamper_signature(&token);
        // assert! rather than assert_eq!, so a failure never prints a token.
        assert!(tampered != token);
        assert_eq!(tampered.len(), token.len());
        assert!(tampered.rsplit_once('.').unwrap().0 == token.rsplit_once('.').unwrap().0);
        verify(&token, &jwks, alg, idp.issuer()).expect("the original verifies");
        assert!(
            verify(&tampered, &jwks, alg, idp.issuer()).is_err(),
            "{alg}"
        );
    }
}

#[test]
fn unknown_kid_and_embedded_jwk_tokens_are_signed_by_keys_outside_the_jwks() {
    let idp = start_light();
    let minter = idp.minter();
    let claims = minter.claims(AUD, "alice", "openid");
    let jwks = idp.jwks();

    let unknown = minter.unknown_kid(Alg::Es256, &claims);
    let kid = segment(&unknown, 0)["kid"].as_str().unwrap().to_owned();
    assert!(kid.starts_with("unknown-"));
    assert!(!idp.published_kids().contains(&kid));
    assert_eq!(
        verify(&unknown, &jwks, Alg::Es256, idp.issuer()).unwrap_err(),
        "kid not in the JWKS"
    );
    let again = minter.unknown_kid(Alg::Es256, &claims);
    assert_ne!(
        segment(&again, 0)["kid"],
        kid.as_str(),
        "a fresh kid per call"
    );

    let embedded = minter.embedded_jwk(Alg::Es256, &claims);
    let header = segment(&embedded, 0);
    assert!(!idp
        .published_kids()
        .contains(&header["kid"].as_str().unwrap().to_owned()));
    verify_with_jwk(&embedded, &header["jwk"], Alg::Es256, idp.issuer())
        .expect("the embedded key made the signature");
    let provider_key = idp.public_jwk(&idp.kid(Alg::Es256).unwrap()).unwrap();
    assert!(verify_with_jwk(&embedded, &provider_key, Alg::Es256, idp.issuer()).is_err());
}

#[test]
fn key_changes_show_in_the_served_jwks_at_once() {
    let idp = start();
    let kids = |idp: &MockProvider| -> Vec<String> {
        get(idp, &idp.url(Endpoint::Jwks)).json()["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect()
    };
    let initial = kids(&idp);
    assert_eq!(initial, idp.published_kids());

    let added = idp.add_key(Alg::Es256);
    assert_eq!(kids(&idp).last(), Some(&added));
    assert_eq!(
        idp.kid(Alg::Es256),
        Some(added.clone()),
        "the newest key is current"
    );

    assert!(idp.remove_key(&added));
    assert!(!idp.remove_key(&added));
    assert_eq!(kids(&idp), initial);

    // A removed key still signs, and its public half is still known to the test.
    let minter = idp.minter();
    let claims = minter.claims(AUD, "alice", "openid");
    let old = minter.mint_with_kid(&added, &claims, &json!({}));
    verify_with_jwk(
        &old,
        &idp.public_jwk(&added).unwrap(),
        Alg::Es256,
        idp.issuer(),
    )
    .expect("signed by the removed key");

    let rotated = idp.rotate();
    assert_eq!(rotated.len(), initial.len());
    assert!(rotated.iter().all(|k| !initial.contains(k)));
    assert_eq!(kids(&idp), rotated);
    let token = minter.mint(Alg::Rs256, &claims, &json!({}));
    assert_eq!(segment(&token, 0)["kid"], rotated[0].as_str());

    idp.publish(&[initial[0].as_str()]);
    assert_eq!(kids(&idp), vec![initial[0].clone()]);

    idp.add_key_with_kid(Alg::Es256, "dup");
    idp.add_key_with_kid(Alg::Es384, "dup");
    assert_eq!(
        kids(&idp),
        vec![initial[0].clone(), "dup".into(), "dup".into()]
    );
}

#[test]
fn jwks_cache_control_is_configurable() {
    let idp = start_light();
    let cache_control = |idp: &MockProvider| {
        get(idp, &idp.url(Endpoint::Jwks))
            .header("cache-control")
            .map(str::to_owned)
    };
    assert_eq!(cache_control(&idp).as_deref(), Some("max-age=300"));
    idp.set_jwks_cache_control(CacheControl::NoCache);
    assert_eq!(cache_control(&idp).as_deref(), Some("no-cache"));
    idp.set_jwks_cache_control(CacheControl::Absent);
    assert_eq!(cache_control(&idp), None);
    idp.set_jwks_cache_control(CacheControl::Custom("public, max-age=5".into()));
    assert_eq!(cache_control(&idp).as_deref(), Some("public, max-age=5"));
}

// ----- counters -----

#[test]
fn counters_count_each_path_and_reset() {
    let idp = start_light();
    for _ in 0..3 {
        get(&idp, &idp.url(Endpoint::Jwks));
    }
    get(&idp, &idp.well_known());
    get(&idp, &idp.url(Endpoint::OAuthServerMetadata));
    get(&idp, &idp.url_for_path("/nowhere"));
    assert_eq!(idp.count("/jwks"), 3);
    assert_eq!(idp.count_jwks(), 3);
    assert_eq!(idp.count(Endpoint::OpenIdConfiguration), 1);
    assert_eq!(idp.count_discovery(), 2);
    assert_eq!(idp.count("/nowhere"), 1);
    assert_eq!(idp.count_total(), 6);
    assert_eq!(idp.connections(), 6);
    let requests = idp.requests();
    assert_eq!(requests.len(), 6);
    assert_eq!(requests[0].method, "GET");
    assert_eq!(requests[0].path, "/jwks");
    assert!(requests[0].header("host").is_some());

    idp.reset_counts();
    assert_eq!(idp.count_total(), 0);
    assert_eq!(idp.count_jwks(), 0);
    assert_eq!(idp.connections(), 0);
    assert!(idp.requests().is_empty());
}

// ----- faults -----

#[test]
fn hang_keeps_the_client_waiting_until_its_own_timeout() {
    let idp = start_light();
    idp.set_fault(Endpoint::Jwks, Fault::Hang);
    let started = Instant::now();
    let err = get_with(
        &idp.url(Endpoint::Jwks),
        idp.ca_pem(),
        Duration::from_millis(300),
    )
    .unwrap_err();
    assert!(started.elapsed() >= Duration::from_millis(300), "{err}");
    assert!(err.contains("(after 0 bytes)"), "{err}");
    assert_eq!(idp.count_jwks(), 1, "the request was read before hanging");
    // Other paths still answer.
    assert_eq!(get(&idp, &idp.well_known()).status, 200);
}

#[test]
fn trickle_sends_the_response_a_byte_at_a_time() {
    let idp = start_light();
    idp.set_fault(Endpoint::Jwks, Fault::Trickle(Duration::from_millis(100)));
    let tcp = TcpStream::connect(idp.addr()).unwrap();
    tcp.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let conn = ClientConnection::new(client_config(idp.ca_pem()), name).unwrap();
    let mut tls = StreamOwned::new(conn, tcp);
    tls.write_all(b"GET /jwks HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let deadline = Instant::now() + Duration::from_millis(650);
    let mut received = 0;
    let mut buf = [0u8; 1024];
    while Instant::now() < deadline {
        match tls.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => received += n,
            Err(_) => {}
        }
    }
    assert!((3..=8).contains(&received), "{received} bytes in 650 ms");
}

#[test]
fn delay_answers_normally_after_the_pause() {
    let idp = start_light();
    idp.set_fault(Endpoint::Jwks, Fault::Delay(Duration::from_millis(300)));
    let started = Instant::now();
    let response = get(&idp, &idp.url(Endpoint::Jwks));
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(response.status, 200);
    assert_eq!(response.json(), idp.jwks());
}

#[test]
fn status_fault_applies_to_its_path_only() {
    let idp = start_light();
    for status in [500, 401, 404, 503] {
        idp.set_fault(Endpoint::Jwks, Fault::Status(status));
        let response = get(&idp, &idp.url(Endpoint::Jwks));
        assert_eq!(response.status, status);
        assert_eq!(
            response.json(),
            json!({"error": format!("injected_{status}")})
        );
    }
    assert_eq!(get(&idp, &idp.well_known()).status, 200);
    idp.clear_faults();
    assert_eq!(get(&idp, &idp.url(Endpoint::Jwks)).status, 200);
}

#[test]
fn fault_for_all_paths_spares_paths_set_to_none() {
    let idp = start_light();
    idp.set_fault(Target::All, Fault::Status(500));
    idp.set_fault(Endpoint::OpenIdConfiguration, Fault::None);
    assert_eq!(get(&idp, &idp.url(Endpoint::Jwks)).status, 500);
    assert_eq!(get(&idp, &idp.url_for_path("/anything")).status, 500);
    assert_eq!(get(&idp, &idp.well_known()).status, 200);
    idp.set_fault(Endpoint::Jwks, Fault::Status(401));
    assert_eq!(
        get(&idp, &idp.url(Endpoint::Jwks)).status,
        401,
        "path beats all"
    );
}

#[test]
fn html_fault_serves_a_web_page() {
    let idp = start_light();
    idp.set_fault(Endpoint::Jwks, Fault::Html);
    let response = get(&idp, &idp.url(Endpoint::Jwks));
    assert_eq!(response.status, 200);
    assert!(response
        .header("content-type")
        .unwrap()
        .starts_with("text/html"));
    assert!(response.body.starts_with(b"<!DOCTYPE html>"));
}

#[test]
fn huge_fault_sends_exactly_that_many_bytes_of_valid_json() {
    let idp = start_light();
    let ten_mb = 10 * 1024 * 1024;
    idp.set_fault(Endpoint::Jwks, Fault::Huge(ten_mb));
    let response = get(&idp, &idp.url(Endpoint::Jwks));
    assert_eq!(response.header("content-length"), Some("10485760"));
    assert_eq!(response.body.len(), ten_mb);
    assert_eq!(response.json()["keys"], json!([]));

    idp.set_fault(Endpoint::Jwks, Fault::HugeUnannounced(100_000));
    let response = get(&idp, &idp.url(Endpoint::Jwks));
    assert_eq!(response.header("content-length"), None);
    assert_eq!(response.body.len(), 100_000);
    response.json();

    idp.set_fault(Endpoint::Jwks, Fault::Huge(5));
    assert_eq!(get(&idp, &idp.url(Endpoint::Jwks)).body, b"{}   ");
}

#[test]
fn deep_json_fault_nests_arrays_that_deep() {
    let idp = start_light();
    idp.set_fault(Endpoint::Jwks, Fault::DeepJson(10_000));
    let response = get(&idp, &idp.url(Endpoint::Jwks));
    let body = String::from_utf8(response.body).unwrap();
    assert!(body.starts_with("{\"keys\":[[["));
    assert_eq!(body.matches('[').count(), 10_000);
    assert_eq!(body.matches(']').count(), 10_000);
    assert!(body.ends_with("]]]}"));
}

#[test]
fn redirect_fault_answers_302_with_the_location() {
    let idp = start_light();
    let same_host = idp.url_for_path("/elsewhere/jwks");
    idp.set_fault(Endpoint::Jwks, Fault::Redirect(same_host.clone()));
    let response = get(&idp, &idp.url(Endpoint::Jwks));
    assert_eq!(response.status, 302);
    assert_eq!(response.header("location"), Some(same_host.as_str()));
    idp.set_fault(
        Endpoint::OpenIdConfiguration,
        Fault::Redirect("https://attacker.example/.well-known/openid-configuration".into()),
    );
    let response = get(&idp, &idp.well_known());
    assert_eq!(
        response.header("location"),
        Some("https://attacker.example/.well-known/openid-configuration")
    );
}

#[test]
fn issuer_mismatch_changes_only_the_metadata_issuer() {
    let idp = start_light();
    let slashed = format!("{}/", idp.issuer());
    idp.set_fault(Target::All, Fault::IssuerMismatch(slashed.clone()));
    let doc = get(&idp, &idp.well_known()).json();
    assert_eq!(doc["issuer"], slashed);
    assert_eq!(doc["jwks_uri"], format!("{}/jwks", idp.issuer()));
    let doc = get(&idp, &idp.url(Endpoint::OAuthServerMetadata)).json();
    assert_eq!(doc["issuer"], slashed);
    assert_eq!(get(&idp, &idp.url(Endpoint::Jwks)).json(), idp.jwks());
}

#[test]
fn body_fault_serves_any_body_with_any_content_type() {
    let idp = start_light();
    let mut jwks = idp.jwks();
    jwks["keys"][0]["use"] = json!("enc");
    idp.set_fault(
        Endpoint::Jwks,
        Fault::Body(jwks.to_string(), "application/jwk-set+json".into()),
    );
    let response = get(&idp, &idp.url(Endpoint::Jwks));
    assert_eq!(
        response.header("content-type"),
        Some("application/jwk-set+json")
    );
    assert_eq!(response.json(), jwks);
    idp.set_fault(
        Endpoint::Introspection,
        Fault::Body(r#"{"active":"true"}"#.into(), "application/json".into()),
    );
    assert_eq!(
        get(&idp, &idp.url(Endpoint::Introspection)).json(),
        json!({"active": "true"})
    );
}

#[test]
fn drop_fault_closes_the_connection_without_a_response() {
    let idp = start_light();
    idp.set_fault(Endpoint::Jwks, Fault::Drop);
    let started = Instant::now();
    let err = get_with(&idp.url(Endpoint::Jwks), idp.ca_pem(), TIMEOUT).unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "closed, not timed out"
    );
    assert!(err.contains("(after 0 bytes)"), "{err}");
    assert_eq!(idp.count_jwks(), 1);
}

// ----- TLS -----

#[test]
fn trusted_certificate_is_valid_for_the_ip_and_localhost() {
    let idp = MockProvider::start(ProviderOptions {
        host: "localhost".into(),
        keys: vec![Alg::Es256],
        ..ProviderOptions::default()
    });
    assert_eq!(idp.issuer(), format!("https://localhost:{}", idp.port()));
    assert_eq!(get(&idp, &idp.well_known()).json()["issuer"], idp.issuer());
    let by_ip = format!("https://127.0.0.1:{}/jwks", idp.port());
    assert_eq!(get(&idp, &by_ip).status, 200);
    assert_eq!(idp.tls_failures(), 0);
}

#[test]
fn untrusted_self_signed_expired_and_wrong_host_certificates_are_refused() {
    let idp = start_light();
    let url = idp.url(Endpoint::Jwks);
    let cases = [
        (TlsMode::UntrustedCa, "UnknownIssuer"),
        (TlsMode::SelfSigned, "UnknownIssuer"),
        (TlsMode::Expired, "certificate expired"),
        (TlsMode::WrongHost, "certificate not valid for name"),
    ];
    for (i, (mode, expected)) in cases.into_iter().enumerate() {
        idp.set_tls_mode(mode);
        let err = get_with(&url, idp.ca_pem(), TIMEOUT).unwrap_err();
        assert!(err.contains(expected), "{mode:?}: {err}");
        eventually(&format!("{mode:?} counted as a TLS failure"), || {
            idp.tls_failures() == i as u64 + 1
        });
    }
    assert_eq!(idp.count_total(), 0, "no request got through");
    idp.set_tls_mode(TlsMode::Trusted);
    assert_eq!(get(&idp, &url).status, 200);
}

#[test]
fn plain_http_provider_has_an_http_issuer_and_no_tls() {
    let idp = MockProvider::start(ProviderOptions {
        tls: TlsMode::PlainHttp,
        keys: vec![Alg::Es256],
        ..ProviderOptions::default()
    });
    assert_eq!(idp.issuer(), format!("http://127.0.0.1:{}", idp.port()));
    let doc = get(&idp, &idp.well_known()).json();
    assert_eq!(doc["jwks_uri"], format!("{}/jwks", idp.issuer()));
    // An HTTPS client meets plain text.
    let https = idp.url(Endpoint::Jwks).replacen("http:", "https:", 1);
    assert!(get_with(&https, idp.ca_pem(), TIMEOUT).is_err());
}

#[test]
fn silent_mode_accepts_but_never_speaks() {
    let idp = start_light();
    idp.set_tls_mode(TlsMode::Silent);
    let started = Instant::now();
    let err = get_with(
        &idp.url(Endpoint::Jwks),
        idp.ca_pem(),
        Duration::from_millis(300),
    )
    .unwrap_err();
    assert!(started.elapsed() >= Duration::from_millis(300), "{err}");
    assert_eq!(idp.connections(), 1);
    assert_eq!(idp.count_total(), 0);
}

// ----- lifecycle -----

#[test]
fn ca_file_is_world_readable_pem() {
    let idp = start_light();
    let path = idp.ca_pem_path();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(path), 0o644);
    assert_eq!(mode(path.parent().unwrap()), 0o755);
    let pem = std::fs::read_to_string(path).unwrap();
    assert_eq!(pem, idp.ca_pem());
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
}

#[test]
fn drop_closes_hung_connections_and_removes_the_ca_directory_promptly() {
    let idp = start_light();
    idp.set_fault(Target::All, Fault::Hang);
    let dir = idp.ca_pem_path().parent().unwrap().to_owned();
    let url = idp.url(Endpoint::Jwks);
    let ca = idp.ca_pem().to_owned();
    let clients: Vec<_> = (0..3)
        .map(|_| {
            let (url, ca) = (url.clone(), ca.clone());
            std::thread::spawn(move || get_with(&url, &ca, Duration::from_secs(30)))
        })
        .collect();
    eventually("three hung requests", || idp.count_total() == 3);
    let started = Instant::now();
    drop(idp);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "drop took {:?}",
        started.elapsed()
    );
    assert!(!dir.exists(), "the CA directory is gone");
    for client in clients {
        let outcome = client.join().unwrap();
        assert!(outcome.is_err(), "a hung request has no response");
    }
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the clients saw the connections close, not their 30 s timeout"
    );
}

#[test]
fn introspection_answers_are_given_per_token() {
    let idp = start_light();
    let url = idp.url(Endpoint::Introspection);
    let active = json!({"active": true, "sub": "alice"});
    idp.set_introspection_answer("tok+en/1", Some(active.clone()));
    let ask = |form: &str| post_form(&url, idp.ca_pem(), form).unwrap().json();
    assert_eq!(
        ask("token=tok%2Ben%2F1&token_type_hint=access_token"),
        active
    );
    assert_eq!(
        ask("token_type_hint=access_token&token=tok%2Ben%2F1"),
        active
    );
    assert_eq!(ask("token=another"), json!({"active": false}));
    assert_eq!(
        ask("token_type_hint=access_token"),
        json!({"active": false})
    );
    // A fault on the endpoint still wins.
    idp.set_fault(Endpoint::Introspection, Fault::Status(503));
    assert_eq!(
        post_form(&url, idp.ca_pem(), "token=tok%2Ben%2F1")
            .unwrap()
            .status,
        503
    );
    idp.clear_faults();
    idp.set_introspection_answer("tok+en/1", None);
    assert_eq!(ask("token=tok%2Ben%2F1"), json!({"active": false}));
}

#[test]
fn a_stopped_provider_refuses_connections_and_comes_back_the_same() {
    let idp = start_light();
    let issuer = idp.issuer().to_owned();
    let jwks = get(&idp, &idp.url(Endpoint::Jwks)).json();
    idp.set_fault(Endpoint::Token, Fault::Status(418));
    // A connection held open by a hang is closed by the stop, not left to its timeout.
    idp.set_fault(Endpoint::UserInfo, Fault::Hang);
    let hung = {
        let (url, ca) = (idp.url(Endpoint::UserInfo), idp.ca_pem().to_owned());
        std::thread::spawn(move || get_with(&url, &ca, Duration::from_secs(30)))
    };
    eventually("the hung request", || idp.count(Endpoint::UserInfo) == 1);
    let started = Instant::now();
    idp.stop();
    assert!(!idp.is_serving());
    assert!(
        hung.join().unwrap().is_err(),
        "a hung request has no response"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the hung client saw its connection close"
    );
    let refused = TcpStream::connect(idp.addr()).unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    assert!(idp.ca_pem_path().exists(), "the CA file stays");
    idp.stop(); // twice is harmless

    idp.start_again();
    assert!(idp.is_serving());
    assert_eq!(idp.issuer(), issuer);
    // Same certificate chain (the client trusts only the original CA), same keys, faults and
    // counters carried over.
    assert_eq!(get(&idp, &idp.url(Endpoint::Jwks)).json(), jwks);
    assert_eq!(get(&idp, &idp.url(Endpoint::Token)).status, 418);
    assert_eq!(idp.count_jwks(), 2);
    idp.start_again(); // serving already: nothing happens
    assert_eq!(get(&idp, &idp.well_known()).status, 200);
}

#[test]
fn minter_outlives_its_provider() {
    let idp = start();
    let minter = idp.minter();
    let jwks = idp.jwks();
    let issuer = idp.issuer().to_owned();
    drop(idp);
    let token = minter.mint(
        Alg::EdDsa,
        &minter.claims(AUD, "alice", "openid"),
        &json!({}),
    );
    verify(&token, &jwks, Alg::EdDsa, &issuer).expect("still signs");
}
