//! Provider metadata (`ProviderMetadata::from_json`, and the client's `ClientMetadata::from_json`)
//! on arbitrary documents, plus the other
//! parsers of discovery.rs on the same bytes: the shared-memory encoding
//! (`ProviderMetadata::from_bytes`), the pg_hba issuer (`IssuerTarget::from_hba`) and the key
//! source setting (`KeySource::parse`).
//!
//! The first input byte chooses the configured issuer (low 7 bits) and `allow_http` (high
//! bit); the rest is the document.
//!
//! Oracle: accepted metadata has the configured issuer, as serde_json reads the document too;
//! each endpoint is what the document says and obeys the documented URL subset (re-checked by
//! hand: length, visible ASCII, scheme, host, no user information, fragment, backslash or dot
//! segment); the encoding fits `MAX_SERIALIZED_LEN` and decodes to the same value. Decoded
//! bytes re-encode to themselves. An accepted issuer setting yields discovery URLs that are
//! acceptable endpoints, and its issuer is accepted again as itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pg_bearer_core::discovery::{
    check_endpoint_url, ClientMetadata, DiscoveryError, IssuerTarget, KeySource, ProviderMetadata,
    UrlError, MAX_KEY_FILE_PATH_LEN, MAX_METADATA_LEN, MAX_URL_LEN,
};
use pg_bearer_fuzz::discovery_issuers;
use serde_json::Value;

/// The documented URL subset, checked by hand.
fn assert_url_subset(url: &str, allow_http: bool, what: &str) {
    assert!(url.len() <= MAX_URL_LEN, "{what}: too long");
    assert!(
        url.bytes().all(|b| b.is_ascii_graphic()),
        "{what}: byte outside visible ASCII"
    );
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://").filter(|_| allow_http))
        .unwrap_or_else(|| panic!("{what}: scheme"));
    assert!(!url.contains('#'), "{what}: fragment");
    assert!(!url.contains('\\'), "{what}: backslash");
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..end];
    assert!(!authority.is_empty(), "{what}: no host");
    assert!(!authority.contains('@'), "{what}: user information");
    let path = rest[end..].split('?').next().unwrap_or("");
    for segment in path.split('/') {
        let s = segment.to_ascii_lowercase().replace("%2e", ".");
        assert!(s != "." && s != "..", "{what}: dot segment");
    }
}

/// `body` with every `\\uXXXX` escape of a surrogate (D800..DFFF) replaced by `\\u0041`,
/// reading escapes in order so that an escaped backslash is never taken for one.
fn without_surrogate_escapes(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        if body[i] != b'\\' {
            out.push(body[i]);
            i += 1;
            continue;
        }
        let escape = &body[i..body.len().min(i + 6)];
        let surrogate = escape.len() == 6
            && escape[1] == b'u'
            && escape[2].eq_ignore_ascii_case(&b'd')
            && matches!(escape[3].to_ascii_lowercase(), b'8'..=b'9' | b'a'..=b'f')
            && escape[4..].iter().all(u8::is_ascii_hexdigit);
        if surrogate {
            out.extend_from_slice(b"\\u0041");
            i += 6;
        } else {
            out.extend_from_slice(&body[i..body.len().min(i + 2)]);
            i += 2;
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let issuers = discovery_issuers();
    let expected = &issuers[usize::from(selector & 0x7f) % issuers.len()];
    let allow_http = selector & 0x80 != 0;

    if let Ok(m) = ProviderMetadata::from_json(body, expected, allow_http) {
        assert!(body.len() <= MAX_METADATA_LEN);
        assert!(std::str::from_utf8(body).is_ok(), "accepted invalid UTF-8");
        assert_eq!(m.issuer(), expected);
        // The reader skips the members it does not use without building them, and skipping
        // checks JSON syntax but not what serde_json's Value also refuses in a value: nesting
        // beyond 128, unpaired surrogate escapes (`"\udc00"`, grammatical JSON per RFC 8259
        // §7) and numbers beyond f64 (`1e999`). So when serde_json refuses the document, read
        // it again with every surrogate escape replaced (the members that are used are visible
        // ASCII, so none of them changes); if that is refused too, the cause must be one of
        // the other two, and the members cannot be compared.
        let sanitized = without_surrogate_escapes(body);
        let doc = serde_json::from_slice::<Value>(body)
            .or_else(|_| serde_json::from_slice::<Value>(&sanitized));
        match doc {
            Ok(Value::Object(doc)) => {
                assert_eq!(doc.get("issuer").and_then(Value::as_str), Some(&**expected));
                for (name, got) in [
                    ("jwks_uri", m.jwks_uri()),
                    ("introspection_endpoint", m.introspection_endpoint()),
                    ("userinfo_endpoint", m.userinfo_endpoint()),
                ] {
                    let want = match doc.get(name) {
                        None | Some(Value::Null) => None,
                        Some(Value::String(s)) => Some(s.as_str()),
                        Some(other) => panic!("accepted {name} = {other}"),
                    };
                    assert_eq!(got, want, "{name}");
                }
            }
            Ok(other) => panic!("accepted metadata that is not an object: {other}"),
            Err(e) => {
                let e = e.to_string();
                assert!(
                    e.starts_with("recursion limit exceeded")
                        || e.starts_with("number out of range"),
                    "accepted metadata serde_json refuses: {e}"
                );
            }
        }
        for (what, url) in [
            ("jwks_uri", m.jwks_uri()),
            ("introspection_endpoint", m.introspection_endpoint()),
            ("userinfo_endpoint", m.userinfo_endpoint()),
        ] {
            if let Some(url) = url {
                assert_url_subset(url, allow_http, what);
            }
        }
        let bytes = m.to_bytes();
        assert!(bytes.len() <= ProviderMetadata::MAX_SERIALIZED_LEN);
        assert_eq!(ProviderMetadata::from_bytes(&bytes).as_ref(), Ok(&m));
    }

    // The client's reading (pg_bearer_client): the same document rules, and a required
    // token_endpoint, which must be an acceptable URL and the document's own member.
    if let Ok(c) = ClientMetadata::from_json(body, expected, allow_http) {
        assert!(body.len() <= MAX_METADATA_LEN);
        assert_eq!(c.issuer(), expected);
        assert_url_subset(c.token_endpoint(), allow_http, "token_endpoint");
        // Compared where serde_json can build the document (see above for when it cannot).
        if let Ok(Value::Object(doc)) =
            serde_json::from_slice::<Value>(&without_surrogate_escapes(body))
        {
            assert_eq!(doc.get("issuer").and_then(Value::as_str), Some(&**expected));
            assert_eq!(
                doc.get("token_endpoint").and_then(Value::as_str),
                Some(c.token_endpoint())
            );
        }
    }

    if let Ok(m) = ProviderMetadata::from_bytes(body) {
        assert_eq!(
            m.to_bytes(),
            body,
            "decoded bytes do not re-encode to themselves"
        );
    }

    let Ok(text) = std::str::from_utf8(body) else {
        return;
    };
    if let Ok(target) = IssuerTarget::from_hba(text, allow_http) {
        let issuer = target.issuer();
        assert_url_subset(issuer, allow_http, "issuer");
        assert!(!issuer.contains('?'), "issuer with a query");
        assert!(!target.discovery_urls().is_empty());
        for url in target.discovery_urls() {
            assert_url_subset(url, allow_http, "discovery URL");
            assert_eq!(check_endpoint_url(url, allow_http), Ok(()));
            assert!(url.contains("/.well-known/"), "discovery URL {url}");
        }
        if target.from_well_known_uri() {
            assert_eq!(target.discovery_urls(), [text]);
        } else {
            assert_eq!(issuer, text);
        }
        // The issuer is accepted as itself, unless it derives discovery URLs over the length
        // cap (the RFC 8414 URL of a derived issuer is 6 bytes longer than the OIDC well-known
        // URI it came from).
        if !issuer.contains("/.well-known/") {
            match IssuerTarget::from_hba(issuer, allow_http) {
                Ok(again) => assert_eq!(again.issuer(), issuer),
                Err(DiscoveryError::InvalidIssuer(UrlError::TooLong)) => {
                    assert!(
                        issuer.len() + "/.well-known/oauth-authorization-server".len()
                            > MAX_URL_LEN
                    );
                }
                Err(e) => panic!("derived issuer refused: {e}"),
            }
        }
    }
    match KeySource::parse(text, allow_http) {
        Ok(KeySource::Discovery) => assert!(text.is_empty()),
        Ok(KeySource::JwksUri(u)) => {
            assert_eq!(u, text);
            assert_url_subset(&u, allow_http, "key source URL");
        }
        Ok(KeySource::StaticFile(p)) => {
            assert!(p.starts_with('/') && !p.starts_with("//"), "path {p:?}");
            assert!(p.len() <= MAX_KEY_FILE_PATH_LEN);
            assert!(!p.chars().any(char::is_control));
            assert!(text == p || text.strip_prefix("file:") == Some(p.as_str()));
        }
        Err(_) => {}
    }
});
