//! The pg_hba `issuer` value, discovery documents and key sources (battery items 16, 18, 21,
//! 51, 52, 59 at the unit level).

use pg_bearer_core::discovery::{
    ClientMetadata, DiscoveryError, IssuerTarget, KeySource, MetadataField, ProviderMetadata,
    UrlError, MAX_KEY_FILE_PATH_LEN, MAX_METADATA_LEN, MAX_URL_LEN,
};

const ISS: &str = "https://idp.example.com/realms/pg";

fn target(hba: &str) -> Result<IssuerTarget, DiscoveryError> {
    IssuerTarget::from_hba(hba, false)
}

fn issuer_error(hba: &str) -> DiscoveryError {
    target(hba).expect_err(hba)
}

fn doc(issuer: &str) -> String {
    format!(
        r#"{{"issuer":"{issuer}","jwks_uri":"{issuer}/protocol/openid-connect/certs",
            "introspection_endpoint":"{issuer}/protocol/openid-connect/token/introspect",
            "userinfo_endpoint":"{issuer}/protocol/openid-connect/userinfo",
            "id_token_signing_alg_values_supported":["RS256","none"]}}"#
    )
}

fn parse(body: &str) -> Result<ProviderMetadata, DiscoveryError> {
    ProviderMetadata::from_json(body.as_bytes(), ISS, false)
}

// --- pg_hba issuer: identifiers -------------------------------------------------------------

#[test]
fn identifier_yields_oidc_then_rfc8414_discovery_urls() {
    let t = target(ISS).expect("valid issuer");
    assert_eq!(t.issuer(), ISS);
    assert!(!t.from_well_known_uri());
    assert_eq!(
        t.discovery_urls(),
        [
            "https://idp.example.com/realms/pg/.well-known/openid-configuration",
            "https://idp.example.com/.well-known/oauth-authorization-server/realms/pg",
        ]
    );
}

#[test]
fn identifier_without_path_yields_root_well_known_urls() {
    let t = target("https://idp.example.com").expect("valid issuer");
    assert_eq!(
        t.discovery_urls(),
        [
            "https://idp.example.com/.well-known/openid-configuration",
            "https://idp.example.com/.well-known/oauth-authorization-server",
        ]
    );
}

#[test]
fn identifier_trailing_slash_is_kept_in_issuer_but_trimmed_for_discovery() {
    let t = target("https://tenant.auth0.com/").expect("valid issuer");
    assert_eq!(t.issuer(), "https://tenant.auth0.com/");
    assert_eq!(
        t.discovery_urls()[0],
        "https://tenant.auth0.com/.well-known/openid-configuration"
    );
    let t = target("https://idp.example.com/realms/pg/").expect("valid issuer");
    assert_eq!(t.issuer(), "https://idp.example.com/realms/pg/");
    assert_eq!(
        t.discovery_urls(),
        [
            "https://idp.example.com/realms/pg/.well-known/openid-configuration",
            "https://idp.example.com/.well-known/oauth-authorization-server/realms/pg",
        ]
    );
}

#[test]
fn identifier_port_and_ip_literals_are_kept() {
    let t = target("https://127.0.0.1:8443/x").expect("valid issuer");
    assert_eq!(
        t.discovery_urls()[1],
        "https://127.0.0.1:8443/.well-known/oauth-authorization-server/x"
    );
    assert!(target("https://[::1]:8443/x").is_ok());
    assert!(target("https://[::1]").is_ok());
}

#[test]
fn http_issuer_is_rejected_unless_allowed() {
    assert_eq!(
        issuer_error("http://idp.example.com/realms/pg"),
        DiscoveryError::InvalidIssuer(UrlError::NotHttps)
    );
    let t = IssuerTarget::from_hba("http://keycloak:8080/realms/pg", true).expect("allowed");
    assert_eq!(
        t.discovery_urls()[0],
        "http://keycloak:8080/realms/pg/.well-known/openid-configuration"
    );
}

#[test]
fn non_https_schemes_are_rejected() {
    for hba in [
        "HTTPS://idp.example.com",
        "Https://idp.example.com",
        "ftp://idp.example.com",
        "idp.example.com",
        "//idp.example.com",
        "https:/idp.example.com",
        "",
    ] {
        assert_eq!(
            issuer_error(hba),
            DiscoveryError::InvalidIssuer(UrlError::NotHttps),
            "{hba:?}"
        );
    }
}

#[test]
fn issuer_with_query_is_rejected() {
    for hba in [
        "https://idp.example.com/realms/pg?x=1",
        "https://idp.example.com?",
        "https://idp.example.com/.well-known/openid-configuration?x",
    ] {
        assert_eq!(
            issuer_error(hba),
            DiscoveryError::InvalidIssuer(UrlError::Query),
            "{hba}"
        );
    }
}

#[test]
fn issuer_with_fragment_is_rejected() {
    for hba in [
        "https://idp.example.com/realms/pg#x",
        "https://idp.example.com#",
        // A well-known suffix hidden behind a fragment must not be found.
        "https://idp.example.com/#/.well-known/openid-configuration",
    ] {
        assert_eq!(
            issuer_error(hba),
            DiscoveryError::InvalidIssuer(UrlError::Fragment),
            "{hba}"
        );
    }
}

#[test]
fn issuer_with_userinfo_is_rejected() {
    for hba in [
        "https://user@idp.example.com",
        "https://user:pw@idp.example.com/realms/pg",
        "https://@idp.example.com",
        "https://idp.example.com@evil.example/",
    ] {
        assert_eq!(
            issuer_error(hba),
            DiscoveryError::InvalidIssuer(UrlError::Userinfo),
            "{hba}"
        );
    }
}

#[test]
fn issuer_without_host_is_rejected() {
    for hba in ["https://", "https:///realms/pg", "https://:443/x"] {
        assert_eq!(
            issuer_error(hba),
            DiscoveryError::InvalidIssuer(UrlError::MissingHost),
            "{hba}"
        );
    }
}

#[test]
fn issuer_with_invalid_host_is_rejected() {
    for hba in [
        "https://idp..example.com",
        "https://.idp.example.com",
        "https://idp.example.com./x",
        "https://idp!.example.com",
        "https://[]/x",
        "https://[::1/x",
        "https://[zz::1]/x",
        "https://[::1]x/y",
        "https://%69dp.example.com",
    ] {
        assert_eq!(
            issuer_error(hba),
            DiscoveryError::InvalidIssuer(UrlError::InvalidHost),
            "{hba}"
        );
    }
}

#[test]
fn issuer_with_invalid_port_is_rejected() {
    for hba in [
        "https://idp.example.com:",
        "https://idp.example.com:0",
        "https://idp.example.com:65536",
        "https://idp.example.com:443443",
        "https://idp.example.com:+443",
        "https://idp.example.com:8443:1",
        "https://[::1]:",
    ] {
        assert_eq!(
            issuer_error(hba),
            DiscoveryError::InvalidIssuer(UrlError::InvalidPort),
            "{hba}"
        );
    }
}

#[test]
fn issuer_with_whitespace_control_or_non_ascii_is_rejected() {
    for hba in [
        " https://idp.example.com",
        "https://idp.example.com ",
        "https://idp.example.com/a b",
        "https://idp.example.com/\n",
        "https://idp.example.com/\0",
        "https://idp.exämple.com",
        "https://idp.example.com/päth",
    ] {
        assert_eq!(
            issuer_error(hba),
            DiscoveryError::InvalidIssuer(UrlError::InvalidCharacter),
            "{hba:?}"
        );
    }
}

#[test]
fn issuer_with_dot_segments_is_rejected() {
    for hba in [
        "https://idp.example.com/realms/../admin",
        "https://idp.example.com/./x",
        "https://idp.example.com/x/..",
        "https://idp.example.com/x/%2e%2E/y",
        "https://idp.example.com/x/%2E",
    ] {
        assert_eq!(
            issuer_error(hba),
            DiscoveryError::InvalidIssuer(UrlError::DotSegment),
            "{hba}"
        );
    }
}

#[test]
fn issuer_with_invalid_path_characters_is_rejected() {
    for hba in [
        "https://idp.example.com/a\\b",
        "https://idp.example.com/a%zz",
        "https://idp.example.com/a%",
        "https://idp.example.com/a<b>",
        "https://idp.example.com/a\"b",
        "https://idp.example.com/{x}",
    ] {
        assert_eq!(
            issuer_error(hba),
            DiscoveryError::InvalidIssuer(UrlError::InvalidPathCharacter),
            "{hba}"
        );
    }
}

#[test]
fn overlong_issuer_is_rejected() {
    let long = format!("https://idp.example.com/{}", "a".repeat(MAX_URL_LEN));
    assert_eq!(
        issuer_error(&long),
        DiscoveryError::InvalidIssuer(UrlError::TooLong)
    );
    // Short enough itself, but its discovery URLs would not fit.
    let almost = format!(
        "https://idp.example.com/{}",
        "a".repeat(MAX_URL_LEN - "https://idp.example.com/".len())
    );
    assert_eq!(almost.len(), MAX_URL_LEN);
    assert_eq!(
        issuer_error(&almost),
        DiscoveryError::InvalidIssuer(UrlError::TooLong)
    );
}

// --- pg_hba issuer: well-known URIs ---------------------------------------------------------

#[test]
fn oidc_well_known_uri_at_root_derives_bare_origin_issuer() {
    let uri = "https://idp.example.com/.well-known/openid-configuration";
    let t = target(uri).expect("valid well-known URI");
    assert_eq!(t.issuer(), "https://idp.example.com");
    assert_eq!(t.discovery_urls(), [uri]);
    assert!(t.from_well_known_uri());
}

#[test]
fn oidc_well_known_uri_appended_to_path_derives_path_issuer() {
    let uri = "https://idp.example.com/realms/pg/.well-known/openid-configuration";
    let t = target(uri).expect("valid well-known URI");
    assert_eq!(t.issuer(), ISS);
    assert_eq!(t.discovery_urls(), [uri]);
}

#[test]
fn rfc8414_well_known_uri_inserted_before_path_derives_path_issuer() {
    let uri = "https://idp.example.com/.well-known/oauth-authorization-server/realms/pg";
    let t = target(uri).expect("valid well-known URI");
    assert_eq!(t.issuer(), ISS);
    assert_eq!(t.discovery_urls(), [uri]);
}

#[test]
fn openid_configuration_inserted_before_path_is_accepted_like_libpq() {
    let uri = "https://idp.example.com/.well-known/openid-configuration/realms/pg";
    assert_eq!(target(uri).expect("valid").issuer(), ISS);
}

#[test]
fn oauth_authorization_server_appended_to_path_is_accepted_like_libpq() {
    let uri = "https://idp.example.com/realms/pg/.well-known/oauth-authorization-server";
    assert_eq!(target(uri).expect("valid").issuer(), ISS);
}

#[test]
fn well_known_uri_with_trailing_slash_keeps_it_in_issuer() {
    let uri = "https://idp.example.com/.well-known/openid-configuration/";
    assert_eq!(
        target(uri).expect("valid").issuer(),
        "https://idp.example.com/"
    );
}

#[test]
fn well_known_in_middle_of_path_is_rejected() {
    assert_eq!(
        issuer_error("https://idp.example.com/a/.well-known/openid-configuration/b"),
        DiscoveryError::InvalidWellKnownPosition
    );
    assert_eq!(
        issuer_error("https://idp.example.com/a/.well-known/oauth-authorization-server/b"),
        DiscoveryError::InvalidWellKnownPosition
    );
}

#[test]
fn unsupported_well_known_suffix_is_rejected() {
    for hba in [
        "https://idp.example.com/.well-known/openid-configuration-bad",
        "https://idp.example.com/.well-known/oauth-authorization-serverx/p",
        "https://idp.example.com/.well-known/jwks.json",
        "https://idp.example.com/.well-known/",
        "https://idp.example.com/.well-known/OPENID-CONFIGURATION",
    ] {
        assert_eq!(
            issuer_error(hba),
            DiscoveryError::UnsupportedWellKnownSuffix,
            "{hba}"
        );
    }
}

#[test]
fn well_known_uri_that_derives_a_dot_segment_issuer_is_rejected() {
    assert_eq!(
        issuer_error("https://idp.example.com/.well-known/openid-configuration/.."),
        DiscoveryError::InvalidIssuer(UrlError::DotSegment)
    );
}

#[test]
fn well_known_uri_with_http_needs_allow_http() {
    let uri = "http://keycloak:8080/realms/pg/.well-known/openid-configuration";
    assert_eq!(
        issuer_error(uri),
        DiscoveryError::InvalidIssuer(UrlError::NotHttps)
    );
    let t = IssuerTarget::from_hba(uri, true).expect("allowed");
    assert_eq!(t.issuer(), "http://keycloak:8080/realms/pg");
}

// --- discovery documents --------------------------------------------------------------------

#[test]
fn metadata_keeps_issuer_and_endpoints() {
    let m = parse(&doc(ISS)).expect("valid document");
    assert_eq!(m.issuer(), ISS);
    assert_eq!(
        m.jwks_uri(),
        Some("https://idp.example.com/realms/pg/protocol/openid-connect/certs")
    );
    assert_eq!(m.require_jwks_uri(), Ok(m.jwks_uri().unwrap_or_default()));
    assert!(m.introspection_endpoint().is_some());
    assert!(m.userinfo_endpoint().is_some());
}

#[test]
fn metadata_issuer_must_match_byte_for_byte() {
    for other in [
        "https://idp.example.com/realms/pg/",
        "https://IDP.example.com/realms/pg",
        "https://idp.example.com/realms/PG",
        "http://idp.example.com/realms/pg",
        "https://idp.example.com:443/realms/pg",
        "https://idp.example.com/realms/pg%2F",
        "https://evil.example.com/realms/pg",
        "https://idp.example.com/realms/other",
        "https://idp.example.com/realms/pg ",
    ] {
        assert_eq!(
            parse(&doc(other)),
            Err(DiscoveryError::IssuerMismatch),
            "{other}"
        );
    }
}

#[test]
fn metadata_issuer_with_json_escape_decodes_before_comparison() {
    // "\/" is "/" in JSON: the decoded value is what is compared, and it matches.
    let body = r#"{"issuer":"https:\/\/idp.example.com\/realms\/pg"}"#;
    assert_eq!(
        parse(body).map(|m| m.issuer().to_owned()),
        Ok(ISS.to_owned())
    );
}

#[test]
fn metadata_missing_or_null_issuer_is_rejected() {
    assert_eq!(
        parse(r#"{"jwks_uri":"https://idp.example.com/k"}"#),
        Err(DiscoveryError::MissingIssuer)
    );
    assert_eq!(
        parse(r#"{"issuer":null}"#),
        Err(DiscoveryError::MissingIssuer)
    );
}

#[test]
fn metadata_non_string_issuer_is_rejected() {
    for v in ["1", "true", "[\"https://idp.example.com/realms/pg\"]", "{}"] {
        assert_eq!(
            parse(&format!(r#"{{"issuer":{v}}}"#)),
            Err(DiscoveryError::IssuerNotString),
            "{v}"
        );
    }
}

#[test]
fn metadata_duplicate_member_is_rejected_even_if_both_match() {
    let body = format!(r#"{{"issuer":"{ISS}","issuer":"{ISS}"}}"#);
    assert_eq!(
        parse(&body),
        Err(DiscoveryError::DuplicateMember(MetadataField::Issuer))
    );
    let body = format!(
        r#"{{"issuer":"{ISS}","jwks_uri":"https://idp.example.com/k","jwks_uri":"https://evil.example/k"}}"#
    );
    assert_eq!(
        parse(&body),
        Err(DiscoveryError::DuplicateMember(MetadataField::JwksUri))
    );
    let body = format!(r#"{{"issuer":"{ISS}","userinfo_endpoint":null,"userinfo_endpoint":null}}"#);
    assert_eq!(
        parse(&body),
        Err(DiscoveryError::DuplicateMember(
            MetadataField::UserinfoEndpoint
        ))
    );
}

#[test]
fn metadata_duplicate_via_escaped_member_name_is_rejected() {
    let body = format!(r#"{{"issuer":"{ISS}","iss\u0075er":"https://evil.example"}}"#);
    assert_eq!(
        parse(&body),
        Err(DiscoveryError::DuplicateMember(MetadataField::Issuer))
    );
}

#[test]
fn metadata_duplicate_unused_member_is_ignored() {
    let body = format!(r#"{{"issuer":"{ISS}","scopes_supported":[],"scopes_supported":["x"]}}"#);
    assert!(parse(&body).is_ok());
}

#[test]
fn metadata_that_is_not_an_object_is_rejected() {
    for body in [
        "",
        "   ",
        "[]",
        "\"https://idp.example.com/realms/pg\"",
        "null",
        "1",
        "\u{feff}{\"issuer\":\"https://idp.example.com/realms/pg\"}",
        "<html>{}</html>",
    ] {
        assert_eq!(parse(body), Err(DiscoveryError::NotJsonObject), "{body:?}");
    }
}

#[test]
fn metadata_malformed_json_is_rejected() {
    for body in [
        "{",
        "{\"issuer\":}",
        "{\"issuer\":\"https://idp.example.com/realms/pg\"} trailing",
        "{\"issuer\":\"https://idp.example.com/realms/pg\"}{}",
        "{'issuer':'x'}",
        "{\"issuer\":\"https://idp.example.com/realms/pg\",}",
    ] {
        assert_eq!(parse(body), Err(DiscoveryError::MalformedJson), "{body:?}");
    }
}

#[test]
fn metadata_invalid_utf8_is_rejected() {
    let mut body = format!(r#"{{"issuer":"{ISS}","x":"#).into_bytes();
    body.extend_from_slice(b"\"\xff\xfe\"}");
    assert_eq!(
        ProviderMetadata::from_json(&body, ISS, false),
        Err(DiscoveryError::MalformedJson)
    );
}

#[test]
fn metadata_deep_nesting_in_a_used_member_is_rejected() {
    let depth = 100_000;
    let body = format!(
        r#"{{"jwks_uri":{}{}}}"#,
        "[".repeat(depth),
        "]".repeat(depth)
    );
    assert!(body.len() <= MAX_METADATA_LEN);
    assert_eq!(parse(&body), Err(DiscoveryError::MalformedJson));
}

#[test]
fn metadata_deep_nesting_in_an_ignored_member_is_skipped_without_stack_overflow() {
    let depth = 100_000;
    let body = format!(
        r#"{{"issuer":"{ISS}","x":{}{}}}"#,
        "[".repeat(depth),
        "]".repeat(depth)
    );
    assert!(body.len() <= MAX_METADATA_LEN);
    assert!(parse(&body).is_ok());
    let unbalanced = format!(r#"{{"issuer":"{ISS}","x":{}}}"#, "[".repeat(depth));
    assert_eq!(parse(&unbalanced), Err(DiscoveryError::MalformedJson));
}

#[test]
fn metadata_over_size_cap_is_rejected_before_parsing() {
    let padding = " ".repeat(MAX_METADATA_LEN);
    let body = format!("{}{padding}", doc(ISS));
    assert_eq!(parse(&body), Err(DiscoveryError::BodyTooLarge));
    // Exactly at the cap is fine.
    let at_cap = format!(
        "{}{}",
        doc(ISS),
        " ".repeat(MAX_METADATA_LEN - doc(ISS).len())
    );
    assert!(parse(&at_cap).is_ok());
}

#[test]
fn metadata_http_jwks_uri_is_rejected_unless_allowed() {
    let body = format!(r#"{{"issuer":"{ISS}","jwks_uri":"http://idp.example.com/k"}}"#);
    assert_eq!(
        parse(&body),
        Err(DiscoveryError::InvalidEndpoint {
            field: MetadataField::JwksUri,
            error: UrlError::NotHttps
        })
    );
    let m = ProviderMetadata::from_json(body.as_bytes(), ISS, true).expect("allowed");
    assert_eq!(m.jwks_uri(), Some("http://idp.example.com/k"));
}

#[test]
fn metadata_invalid_endpoints_are_rejected() {
    let cases = [
        (
            "jwks_uri",
            "https://u:p@idp.example.com/k",
            MetadataField::JwksUri,
            UrlError::Userinfo,
        ),
        (
            "jwks_uri",
            "https://idp.example.com/k#f",
            MetadataField::JwksUri,
            UrlError::Fragment,
        ),
        (
            "jwks_uri",
            "/relative/certs",
            MetadataField::JwksUri,
            UrlError::NotHttps,
        ),
        (
            "jwks_uri",
            "file:///etc/passwd",
            MetadataField::JwksUri,
            UrlError::NotHttps,
        ),
        (
            "jwks_uri",
            "https://idp.example.com/../k",
            MetadataField::JwksUri,
            UrlError::DotSegment,
        ),
        (
            "jwks_uri",
            "https://idp.example.com/k k",
            MetadataField::JwksUri,
            UrlError::InvalidCharacter,
        ),
        (
            "introspection_endpoint",
            "http://idp.example.com/i",
            MetadataField::IntrospectionEndpoint,
            UrlError::NotHttps,
        ),
        (
            "userinfo_endpoint",
            "https://",
            MetadataField::UserinfoEndpoint,
            UrlError::MissingHost,
        ),
    ];
    for (name, value, field, error) in cases {
        let body = format!(r#"{{"issuer":"{ISS}","{name}":"{value}"}}"#);
        assert_eq!(
            parse(&body),
            Err(DiscoveryError::InvalidEndpoint { field, error }),
            "{name}={value}"
        );
    }
}

#[test]
fn metadata_overlong_endpoint_is_rejected() {
    let long = format!("https://idp.example.com/{}", "k".repeat(MAX_URL_LEN));
    let body = format!(r#"{{"issuer":"{ISS}","jwks_uri":"{long}"}}"#);
    assert_eq!(
        parse(&body),
        Err(DiscoveryError::InvalidEndpoint {
            field: MetadataField::JwksUri,
            error: UrlError::TooLong
        })
    );
}

#[test]
fn metadata_non_string_endpoint_is_rejected() {
    for v in [
        "1",
        "[\"https://idp.example.com/k\"]",
        "{\"url\":\"x\"}",
        "false",
    ] {
        let body = format!(r#"{{"issuer":"{ISS}","jwks_uri":{v}}}"#);
        assert_eq!(
            parse(&body),
            Err(DiscoveryError::EndpointNotString(MetadataField::JwksUri)),
            "{v}"
        );
    }
}

#[test]
fn metadata_endpoint_query_is_allowed() {
    let body = format!(
        r#"{{"issuer":"{ISS}","jwks_uri":"https://login.example.com/t/discovery/v2.0/keys?appid=abc"}}"#
    );
    assert!(parse(&body).is_ok());
}

#[test]
fn metadata_without_jwks_uri_parses_but_cannot_supply_keys() {
    let m = parse(&format!(r#"{{"issuer":"{ISS}","jwks_uri":null}}"#)).expect("valid");
    assert_eq!(m.jwks_uri(), None);
    assert_eq!(m.require_jwks_uri(), Err(DiscoveryError::MissingJwksUri));
}

#[test]
fn metadata_from_well_known_target_matches_derived_issuer() {
    let t = target("https://idp.example.com/.well-known/oauth-authorization-server/realms/pg")
        .expect("valid");
    let m = ProviderMetadata::from_json(doc(ISS).as_bytes(), t.issuer(), false);
    assert!(m.is_ok());
}

#[test]
fn discovery_errors_have_stable_codes_and_do_not_quote_input() {
    let e = parse(&doc("https://evil.example.com/<script>")).expect_err("mismatch");
    assert_eq!(e.code(), "discovery_issuer_mismatch");
    assert!(!e.to_string().contains("evil"));
}

// --- serialization --------------------------------------------------------------------------

#[test]
fn metadata_round_trips_through_bytes() {
    let full = parse(&doc(ISS)).expect("valid");
    let minimal = parse(&format!(r#"{{"issuer":"{ISS}"}}"#)).expect("valid");
    let only_userinfo = parse(&format!(
        r#"{{"issuer":"{ISS}","userinfo_endpoint":"https://idp.example.com/u"}}"#
    ))
    .expect("valid");
    for m in [full, minimal, only_userinfo] {
        let bytes = m.to_bytes();
        assert!(bytes.len() <= ProviderMetadata::MAX_SERIALIZED_LEN);
        assert_eq!(ProviderMetadata::from_bytes(&bytes), Ok(m));
    }
}

#[test]
fn maximal_metadata_fits_the_declared_serialized_bound() {
    let issuer = format!("https://idp.example.com/{}", "i".repeat(MAX_URL_LEN - 24));
    assert_eq!(issuer.len(), MAX_URL_LEN);
    let url = format!("https://idp.example.com/{}", "k".repeat(MAX_URL_LEN - 24));
    let body = format!(
        r#"{{"issuer":"{issuer}","jwks_uri":"{url}","introspection_endpoint":"{url}","userinfo_endpoint":"{url}"}}"#
    );
    let m = ProviderMetadata::from_json(body.as_bytes(), &issuer, false).expect("valid");
    let bytes = m.to_bytes();
    assert_eq!(bytes.len(), ProviderMetadata::MAX_SERIALIZED_LEN);
    assert_eq!(ProviderMetadata::from_bytes(&bytes), Ok(m));
}

#[test]
fn corrupt_serialization_is_rejected() {
    let good = parse(&doc(ISS)).expect("valid").to_bytes();
    let mut cases: Vec<Vec<u8>> = vec![
        vec![],
        vec![1],
        vec![2, 0, 0, 0],
        vec![1, 8, 0, 0],
        vec![1, 0, 5, 0, b'a'],
        vec![1, 0, 0xff, 0xff],
        vec![1, 0, 2, 0, 0xff, 0xfe],
        vec![1, 1, 0, 0],
    ];
    let mut trailing = good.clone();
    trailing.push(0);
    cases.push(trailing);
    for cut in [1, 2, 3, good.len() / 2, good.len() - 1] {
        cases.push(good[..cut].to_vec());
    }
    let mut wrong_version = good.clone();
    wrong_version[0] = 0;
    cases.push(wrong_version);
    let mut overlong = vec![1, 0];
    let len = u16::try_from(MAX_URL_LEN + 1).expect("fits");
    overlong.extend_from_slice(&len.to_le_bytes());
    overlong.extend(std::iter::repeat_n(b'a', MAX_URL_LEN + 1));
    cases.push(overlong);
    for bytes in cases {
        assert_eq!(
            ProviderMetadata::from_bytes(&bytes),
            Err(DiscoveryError::CorruptSerialization),
            "{bytes:?}"
        );
    }
}

#[test]
fn from_bytes_never_panics_on_arbitrary_input() {
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    for _ in 0..20_000 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let len = usize::try_from(seed % 64).expect("small");
        let bytes: Vec<u8> = (0..len)
            .map(|i| {
                let shift = (i % 8) * 8;
                u8::try_from((seed >> shift) & 0xff).expect("byte")
            })
            .collect();
        let _ = ProviderMetadata::from_bytes(&bytes);
        let _ = ProviderMetadata::from_json(&bytes, ISS, false);
    }
}

// --- key sources ----------------------------------------------------------------------------

#[test]
fn key_source_empty_means_discovery() {
    assert_eq!(KeySource::parse("", false), Ok(KeySource::Discovery));
    assert_eq!(KeySource::default(), KeySource::Discovery);
}

#[test]
fn key_source_https_url_is_explicit_jwks_uri() {
    let url = "https://idp.example.com/realms/pg/protocol/openid-connect/certs";
    assert_eq!(
        KeySource::parse(url, false),
        Ok(KeySource::JwksUri(url.to_owned()))
    );
}

#[test]
fn key_source_absolute_path_is_static_file() {
    assert_eq!(
        KeySource::parse("/etc/pg_bearer/jwks.json", false),
        Ok(KeySource::StaticFile("/etc/pg_bearer/jwks.json".to_owned()))
    );
    assert_eq!(
        KeySource::parse("file:/etc/pg_bearer/jwks.json", false),
        Ok(KeySource::StaticFile("/etc/pg_bearer/jwks.json".to_owned()))
    );
}

#[test]
fn key_source_invalid_values_are_rejected() {
    for s in [
        "discovery",
        " ",
        "jwks.json",
        "./jwks.json",
        "file:jwks.json",
        "file://host/jwks.json",
        "/etc/jwks\n.json",
        "/etc/jwks\0.json",
        "ftp://idp.example.com/k",
        "HTTPS://idp.example.com/k",
    ] {
        assert_eq!(
            KeySource::parse(s, false),
            Err(DiscoveryError::InvalidKeySource),
            "{s:?}"
        );
    }
    let long = format!("/{}", "a".repeat(MAX_KEY_FILE_PATH_LEN));
    assert_eq!(
        KeySource::parse(&long, false),
        Err(DiscoveryError::InvalidKeySource)
    );
}

#[test]
fn key_source_http_or_malformed_url_is_rejected() {
    assert_eq!(
        KeySource::parse("http://idp.example.com/k", false),
        Err(DiscoveryError::InvalidEndpoint {
            field: MetadataField::JwksUri,
            error: UrlError::NotHttps
        })
    );
    assert!(KeySource::parse("http://idp.example.com/k", true).is_ok());
    assert_eq!(
        KeySource::parse("https://u@idp.example.com/k", false),
        Err(DiscoveryError::InvalidEndpoint {
            field: MetadataField::JwksUri,
            error: UrlError::Userinfo
        })
    );
}

// ---- ClientMetadata: what pg_bearer_client reads (token_endpoint) -------------------------

fn client(body: &str) -> Result<ClientMetadata, DiscoveryError> {
    ClientMetadata::from_json(body.as_bytes(), ISS, false)
}

fn with_token_endpoint(extra: &str) -> String {
    format!(r#"{{"issuer":"{ISS}",{extra}"jwks_uri":"{ISS}/certs"}}"#)
}

#[test]
fn a_client_reads_the_token_endpoint_of_the_exact_issuer() {
    let m = client(&with_token_endpoint(&format!(
        r#""token_endpoint":"{ISS}/protocol/openid-connect/token","#
    )))
    .unwrap();
    assert_eq!(m.issuer(), ISS);
    assert_eq!(
        m.token_endpoint(),
        format!("{ISS}/protocol/openid-connect/token")
    );
}

#[test]
fn a_client_refuses_an_issuer_that_differs_even_by_a_slash_or_case() {
    let te = format!(r#""token_endpoint":"{ISS}/token","#);
    for other in [
        format!("{ISS}/"),
        ISS.to_uppercase(),
        ISS.replace("https", "http"),
    ] {
        let body = with_token_endpoint(&te).replacen(ISS, &other, 1);
        assert_eq!(
            client(&body),
            Err(DiscoveryError::IssuerMismatch),
            "{other}"
        );
    }
}

#[test]
fn a_client_needs_a_token_endpoint() {
    assert_eq!(
        client(&with_token_endpoint("")),
        Err(DiscoveryError::MissingTokenEndpoint)
    );
    assert_eq!(
        client(&with_token_endpoint(r#""token_endpoint":null,"#)),
        Err(DiscoveryError::MissingTokenEndpoint)
    );
    assert_eq!(
        DiscoveryError::MissingTokenEndpoint.code(),
        "discovery_token_endpoint_missing"
    );
}

#[test]
fn a_client_refuses_a_token_endpoint_that_is_not_a_string_or_not_https() {
    assert_eq!(
        client(&with_token_endpoint(r#""token_endpoint":["https://a/t"],"#)),
        Err(DiscoveryError::EndpointNotString(
            MetadataField::TokenEndpoint
        ))
    );
    for bad in [
        "http://idp.example.com/token",
        "https://user@idp.example.com/token",
        "https://idp.example.com/token#frag",
        "file:///etc/passwd",
    ] {
        let body = with_token_endpoint(&format!(r#""token_endpoint":"{bad}","#));
        assert!(
            matches!(
                client(&body),
                Err(DiscoveryError::InvalidEndpoint {
                    field: MetadataField::TokenEndpoint,
                    ..
                })
            ),
            "{bad}"
        );
    }
}

#[test]
fn a_repeated_token_endpoint_refuses_the_document_for_a_client_only() {
    let body = with_token_endpoint(&format!(
        r#""token_endpoint":"{ISS}/a","token_endpoint":"{ISS}/b","#
    ));
    assert_eq!(
        client(&body),
        Err(DiscoveryError::DuplicateMember(
            MetadataField::TokenEndpoint
        ))
    );
    // The validator never reads token_endpoint: its shape does not refuse a document there.
    assert!(parse(&body).is_ok());
    assert!(parse(&with_token_endpoint(r#""token_endpoint":42,"#)).is_ok());
}

#[test]
fn a_client_refuses_what_the_validator_refuses() {
    let te = format!(r#""token_endpoint":"{ISS}/token","#);
    let repeated_issuer = format!(r#"{{"issuer":"{ISS}","issuer":"{ISS}",{te}"a":1}}"#);
    assert_eq!(
        client(&repeated_issuer),
        Err(DiscoveryError::DuplicateMember(MetadataField::Issuer))
    );
    assert_eq!(client("[]"), Err(DiscoveryError::NotJsonObject));
    assert_eq!(client("{"), Err(DiscoveryError::MalformedJson));
    let big = format!(
        r#"{{"issuer":"{ISS}",{te}"pad":"{}"}}"#,
        "x".repeat(MAX_METADATA_LEN)
    );
    assert_eq!(client(&big), Err(DiscoveryError::BodyTooLarge));
}
