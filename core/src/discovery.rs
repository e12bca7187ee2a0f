//! Where an issuer's keys come from: the pg_hba `issuer` value, the discovery URLs derived
//! from it, and the few provider-metadata fields the validator uses.
//!
//! PostgreSQL passes the HBA `issuer` option through unchanged. It is either an issuer
//! identifier (`https://idp.example/realms/x`) or a well-known URI
//! (`https://idp.example/realms/x/.well-known/openid-configuration`, or the RFC 8414 form
//! `https://idp.example/.well-known/oauth-authorization-server/realms/x`). The server treats any
//! value containing `/.well-known/` as a well-known URI, and libpq derives the issuer identifier
//! from such a URI by removing the `.well-known` component, then requires the discovery
//! document's `issuer` to equal it byte for byte. [`IssuerTarget::from_hba`] mirrors both rules,
//! so a configuration that libpq clients accept is the one this validator accepts.
//!
//! URLs are checked by a deliberately small, strict parser rather than a general URL library:
//! visible ASCII only, lower-case `https://` (or `http://` when tests allow it), a DNS name or
//! IP literal with an optional port, RFC 3986 path characters, no user information, no
//! fragment, no dot segments and no backslashes. Anything a general parser would have to
//! normalise is rejected instead, so the string that is compared is the string that is fetched.
//! Every URL is capped at [`MAX_URL_LEN`] bytes so that it fits a fixed-size shared-memory field.
//!
//! Nothing here performs I/O: the glue fetches the URLs, in order, and hands the body to
//! [`ProviderMetadata::from_json`].

use std::borrow::Cow;
use std::fmt;

/// Longest URL (issuer, discovery URL or endpoint) accepted, in bytes.
///
/// Real issuers and endpoints are far shorter (well under 200 bytes); the cap bounds the
/// shared-memory field that holds [`ProviderMetadata::to_bytes`].
pub const MAX_URL_LEN: usize = 1024;

/// Largest discovery document accepted, in bytes (256 KiB).
///
/// Provider metadata documents are a few KiB (Keycloak's is about 6 KiB, Entra ID's about
/// 2 KiB); anything bigger is refused before it is parsed.
pub const MAX_METADATA_LEN: usize = 256 * 1024;

/// Longest path accepted for [`KeySource::StaticFile`], in bytes.
pub const MAX_KEY_FILE_PATH_LEN: usize = 1024;

const HTTPS_SCHEME: &str = "https://";
const HTTP_SCHEME: &str = "http://";
const WELL_KNOWN_PREFIX: &str = "/.well-known/";
const OPENID_SUFFIX: &str = "openid-configuration";
const OAUTH_SUFFIX: &str = "oauth-authorization-server";

/// Why a URL was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum UrlError {
    /// Longer than [`MAX_URL_LEN`] bytes.
    TooLong,
    /// Contains a byte outside visible ASCII (space, control character, non-ASCII).
    InvalidCharacter,
    /// Does not start with `https://` (or `http://` where tests allow it). The scheme must be
    /// lower case.
    NotHttps,
    /// Has no host.
    MissingHost,
    /// The host is not a DNS name, IPv4 address or bracketed IPv6 literal.
    InvalidHost,
    /// The port is not a number from 1 to 65535.
    InvalidPort,
    /// Carries user information (`user:password@`).
    Userinfo,
    /// Has a query component where none is allowed (issuer identifiers, RFC 8414 §2).
    Query,
    /// Has a fragment component.
    Fragment,
    /// Contains a `.` or `..` path segment, which HTTP clients would normalise away.
    DotSegment,
    /// Contains a character not allowed in a path or query, or a malformed `%XX` escape.
    InvalidPathCharacter,
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::TooLong => "URL is too long",
            Self::InvalidCharacter => "URL contains a byte outside visible ASCII",
            Self::NotHttps => "URL must start with https://",
            Self::MissingHost => "URL has no host",
            Self::InvalidHost => "URL host is not a valid host name or IP literal",
            Self::InvalidPort => "URL port is not a number from 1 to 65535",
            Self::Userinfo => "URL must not contain user information",
            Self::Query => "URL must not contain a query",
            Self::Fragment => "URL must not contain a fragment",
            Self::DotSegment => "URL path must not contain . or .. segments",
            Self::InvalidPathCharacter => "URL path or query contains an invalid character",
        })
    }
}

/// A provider-metadata member that this module reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MetadataField {
    /// `issuer`.
    Issuer,
    /// `jwks_uri`.
    JwksUri,
    /// `introspection_endpoint`.
    IntrospectionEndpoint,
    /// `userinfo_endpoint`.
    UserinfoEndpoint,
    /// `token_endpoint` (read only by [`ClientMetadata`]).
    TokenEndpoint,
}

impl MetadataField {
    /// The member name as it appears in the JSON document.
    pub fn name(self) -> &'static str {
        match self {
            Self::Issuer => "issuer",
            Self::JwksUri => "jwks_uri",
            Self::IntrospectionEndpoint => "introspection_endpoint",
            Self::UserinfoEndpoint => "userinfo_endpoint",
            Self::TokenEndpoint => "token_endpoint",
        }
    }
}

/// Why an issuer setting, a discovery document or a key source was refused.
///
/// The messages never quote the offending value: discovery documents are remote input and
/// the glue logs these errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DiscoveryError {
    /// The HBA `issuer` (or the issuer derived from a well-known URI) is not an acceptable URL.
    InvalidIssuer(UrlError),
    /// The well-known URI names a suffix other than `openid-configuration` or
    /// `oauth-authorization-server`, or the suffix does not fill a whole path segment.
    UnsupportedWellKnownSuffix,
    /// The `.well-known` component sits in the middle of the path: it must end the path
    /// (OIDC style) or start it (RFC 8414 style).
    InvalidWellKnownPosition,
    /// The discovery document exceeds [`MAX_METADATA_LEN`].
    BodyTooLarge,
    /// The discovery document is not a JSON object.
    NotJsonObject,
    /// The discovery document is not valid JSON (or is nested too deeply).
    MalformedJson,
    /// A member this module reads appears more than once.
    DuplicateMember(MetadataField),
    /// `issuer` is absent or null.
    MissingIssuer,
    /// `issuer` is not a string.
    IssuerNotString,
    /// `issuer` differs from the configured issuer (no case, slash or encoding leniency).
    IssuerMismatch,
    /// An endpoint member is present but is not a string.
    EndpointNotString(MetadataField),
    /// An endpoint member is present but is not an acceptable URL.
    InvalidEndpoint {
        /// Which member.
        field: MetadataField,
        /// What is wrong with it.
        error: UrlError,
    },
    /// The document has no `jwks_uri`, and keys were to be found through discovery.
    MissingJwksUri,
    /// The document has no `token_endpoint`, and a client needs one.
    MissingTokenEndpoint,
    /// Bytes given to [`ProviderMetadata::from_bytes`] are not a valid serialization.
    CorruptSerialization,
    /// A key-source setting is neither empty, an https URL nor an absolute file path.
    InvalidKeySource,
}

impl DiscoveryError {
    /// A stable, lower-case reason code for logs and statistics.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidIssuer(_) => "issuer_config_invalid",
            Self::UnsupportedWellKnownSuffix => "issuer_well_known_suffix",
            Self::InvalidWellKnownPosition => "issuer_well_known_position",
            Self::BodyTooLarge => "discovery_too_large",
            Self::NotJsonObject => "discovery_not_object",
            Self::MalformedJson => "discovery_malformed",
            Self::DuplicateMember(_) => "discovery_duplicate_member",
            Self::MissingIssuer => "discovery_issuer_missing",
            Self::IssuerNotString => "discovery_issuer_type",
            Self::IssuerMismatch => "discovery_issuer_mismatch",
            Self::EndpointNotString(_) => "discovery_endpoint_type",
            Self::InvalidEndpoint { .. } => "discovery_endpoint_invalid",
            Self::MissingJwksUri => "discovery_jwks_uri_missing",
            Self::MissingTokenEndpoint => "discovery_token_endpoint_missing",
            Self::CorruptSerialization => "discovery_cache_corrupt",
            Self::InvalidKeySource => "key_source_invalid",
        }
    }
}

impl fmt::Display for DiscoveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidIssuer(e) => write!(f, "invalid issuer: {e}"),
            Self::UnsupportedWellKnownSuffix => f.write_str(
                "issuer well-known URI must use openid-configuration or oauth-authorization-server",
            ),
            Self::InvalidWellKnownPosition => f.write_str(
                "issuer well-known component must start or end the path, not sit inside it",
            ),
            Self::BodyTooLarge => f.write_str("discovery document is too large"),
            Self::NotJsonObject => f.write_str("discovery document is not a JSON object"),
            Self::MalformedJson => f.write_str("discovery document is not valid JSON"),
            Self::DuplicateMember(m) => {
                write!(f, "discovery document repeats member \"{}\"", m.name())
            }
            Self::MissingIssuer => f.write_str("discovery document has no issuer"),
            Self::IssuerNotString => f.write_str("discovery document issuer is not a string"),
            Self::IssuerMismatch => {
                f.write_str("discovery document issuer does not equal the configured issuer")
            }
            Self::EndpointNotString(m) => {
                write!(
                    f,
                    "discovery document member \"{}\" is not a string",
                    m.name()
                )
            }
            Self::InvalidEndpoint { field, error } => {
                write!(f, "discovery document member \"{}\": {error}", field.name())
            }
            Self::MissingJwksUri => f.write_str("discovery document has no jwks_uri"),
            Self::MissingTokenEndpoint => f.write_str("discovery document has no token_endpoint"),
            Self::CorruptSerialization => f.write_str("cached provider metadata is corrupt"),
            Self::InvalidKeySource => {
                f.write_str("key source must be empty, an https URL or an absolute file path")
            }
        }
    }
}

impl std::error::Error for DiscoveryError {}

// ---------------------------------------------------------------------------------------------
// Issuer setting → discovery URLs

/// The issuer this HBA line trusts and where to look for its metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuerTarget {
    issuer: String,
    discovery_urls: Vec<String>,
    from_well_known: bool,
}

impl IssuerTarget {
    /// Interprets the pg_hba `issuer` option.
    ///
    /// - A value containing `/.well-known/` is a well-known URI (the server's own rule). Its
    ///   suffix must be `openid-configuration` or `oauth-authorization-server` filling a whole
    ///   path segment, placed either at the end of the path (OIDC:
    ///   `https://h/p/.well-known/openid-configuration`) or at its start (RFC 8414:
    ///   `https://h/.well-known/oauth-authorization-server/p`). The issuer identifier is the
    ///   URI with that component removed (`https://h/p`), exactly as libpq derives it, and the
    ///   only discovery URL is the URI itself.
    /// - Any other value is the issuer identifier itself. Discovery URLs, in order: OIDC
    ///   `{issuer without trailing /}/.well-known/openid-configuration`, then RFC 8414
    ///   `https://host/.well-known/oauth-authorization-server{path without trailing /}`.
    ///
    /// The issuer must be `https://` (`http://` only when `allow_http`, which is for tests),
    /// have a host, and carry no query, fragment or user information.
    ///
    /// Note: for an issuer with a trailing slash (e.g. Auth0's `https://tenant.auth0.com/`),
    /// PostgreSQL advertises `https://tenant.auth0.com//.well-known/openid-configuration` to
    /// libpq clients; configure the well-known URI form in pg_hba for such issuers.
    pub fn from_hba(hba_issuer: &str, allow_http: bool) -> Result<Self, DiscoveryError> {
        let parts = parse_url(hba_issuer, UrlKind::Issuer, allow_http)
            .map_err(DiscoveryError::InvalidIssuer)?;
        match parts.path.find(WELL_KNOWN_PREFIX) {
            Some(at) => Self::from_well_known(hba_issuer, &parts, at, allow_http),
            None => Self::from_identifier(hba_issuer, &parts),
        }
    }

    fn from_identifier(issuer: &str, parts: &UrlParts<'_>) -> Result<Self, DiscoveryError> {
        let trimmed_issuer = issuer.strip_suffix('/').unwrap_or(issuer);
        let trimmed_path = parts.path.strip_suffix('/').unwrap_or(parts.path);
        let oidc = format!("{trimmed_issuer}{WELL_KNOWN_PREFIX}{OPENID_SUFFIX}");
        let rfc8414 = format!(
            "{}{WELL_KNOWN_PREFIX}{OAUTH_SUFFIX}{trimmed_path}",
            parts.origin
        );
        for url in [&oidc, &rfc8414] {
            if url.len() > MAX_URL_LEN {
                return Err(DiscoveryError::InvalidIssuer(UrlError::TooLong));
            }
        }
        Ok(Self {
            issuer: issuer.to_owned(),
            discovery_urls: vec![oidc, rfc8414],
            from_well_known: false,
        })
    }

    fn from_well_known(
        uri: &str,
        parts: &UrlParts<'_>,
        wk_start_in_path: usize,
        allow_http: bool,
    ) -> Result<Self, DiscoveryError> {
        let after_prefix = &parts.path[wk_start_in_path + WELL_KNOWN_PREFIX.len()..];
        let suffix_len = if after_prefix.starts_with(OPENID_SUFFIX) {
            OPENID_SUFFIX.len()
        } else if after_prefix.starts_with(OAUTH_SUFFIX) {
            OAUTH_SUFFIX.len()
        } else {
            return Err(DiscoveryError::UnsupportedWellKnownSuffix);
        };
        let rest = &after_prefix[suffix_len..];
        if !rest.is_empty() && !rest.starts_with('/') {
            return Err(DiscoveryError::UnsupportedWellKnownSuffix);
        }
        // Not at the end of the path: then it must be at its start (RFC 8414 insertion), so
        // that `https://h/a/.well-known/openid-configuration/b` cannot claim `https://h/a/b`.
        if !rest.is_empty() && wk_start_in_path != 0 {
            return Err(DiscoveryError::InvalidWellKnownPosition);
        }
        let issuer = format!(
            "{}{}{}",
            parts.origin,
            &parts.path[..wk_start_in_path],
            rest
        );
        // The derived identifier must itself be acceptable (e.g. not end up with dot segments).
        parse_url(&issuer, UrlKind::Issuer, allow_http).map_err(DiscoveryError::InvalidIssuer)?;
        Ok(Self {
            issuer,
            discovery_urls: vec![uri.to_owned()],
            from_well_known: true,
        })
    }

    /// The issuer identifier that the discovery document's `issuer` and every token's `iss`
    /// must equal byte for byte.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Discovery URLs to try, in order. Move on to the next one only when a URL answers
    /// 404 (or is otherwise absent); a document that answers but fails
    /// [`ProviderMetadata::from_json`] is a hard failure, never a reason to try elsewhere.
    pub fn discovery_urls(&self) -> &[String] {
        &self.discovery_urls
    }

    /// Whether the HBA value was a well-known URI rather than an issuer identifier.
    pub fn from_well_known_uri(&self) -> bool {
        self.from_well_known
    }
}

// ---------------------------------------------------------------------------------------------
// Provider metadata

/// The provider-metadata members the validator uses, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderMetadata {
    issuer: String,
    jwks_uri: Option<String>,
    introspection_endpoint: Option<String>,
    userinfo_endpoint: Option<String>,
}

/// Serialization format version written by [`ProviderMetadata::to_bytes`].
const METADATA_FORMAT_V1: u8 = 1;
const FLAG_JWKS: u8 = 1;
const FLAG_INTROSPECTION: u8 = 2;
const FLAG_USERINFO: u8 = 4;

impl ProviderMetadata {
    /// Upper bound of [`ProviderMetadata::to_bytes`]'s output length: size a fixed
    /// shared-memory field with it.
    pub const MAX_SERIALIZED_LEN: usize = 2 + 4 * (2 + MAX_URL_LEN);

    /// Parses and checks an OIDC Discovery / RFC 8414 metadata document.
    ///
    /// Checks, in order: size (≤ [`MAX_METADATA_LEN`]); a JSON object (no byte-order mark);
    /// UTF-8; well-formed JSON with no trailing data (members that are read are limited to
    /// serde_json's nesting depth of 128; ignored members are skipped iteratively, so deep
    /// nesting there costs no stack); none of `issuer`, `jwks_uri`,
    /// `introspection_endpoint`, `userinfo_endpoint` repeated; `issuer` a string equal to
    /// `expected_issuer` byte for byte (RFC 8414 §3.3, OIDC Discovery §4.3); each endpoint, if
    /// present and not null, a string and an acceptable URL (https, host, no user information,
    /// no fragment; a query is allowed). Other members are ignored, including
    /// `id_token_signing_alg_values_supported` (the algorithm allow-list is local policy).
    /// `jwks_uri` is optional here; use [`ProviderMetadata::require_jwks_uri`] where keys come
    /// from discovery.
    pub fn from_json(
        body: &[u8],
        expected_issuer: &str,
        allow_http: bool,
    ) -> Result<Self, DiscoveryError> {
        let (raw, issuer) = read_document(body, expected_issuer, false)?;
        Ok(Self {
            issuer,
            jwks_uri: endpoint(raw.jwks_uri, MetadataField::JwksUri, allow_http)?,
            introspection_endpoint: endpoint(
                raw.introspection_endpoint,
                MetadataField::IntrospectionEndpoint,
                allow_http,
            )?,
            userinfo_endpoint: endpoint(
                raw.userinfo_endpoint,
                MetadataField::UserinfoEndpoint,
                allow_http,
            )?,
        })
    }

    /// The issuer identifier (equal to the configured one).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// `jwks_uri`, if the provider publishes one.
    pub fn jwks_uri(&self) -> Option<&str> {
        self.jwks_uri.as_deref()
    }

    /// `jwks_uri`, or [`DiscoveryError::MissingJwksUri`] when keys must come from discovery
    /// and the provider publishes none.
    pub fn require_jwks_uri(&self) -> Result<&str, DiscoveryError> {
        self.jwks_uri().ok_or(DiscoveryError::MissingJwksUri)
    }

    /// `introspection_endpoint` (RFC 7662), if published.
    pub fn introspection_endpoint(&self) -> Option<&str> {
        self.introspection_endpoint.as_deref()
    }

    /// `userinfo_endpoint` (OIDC Core §5.3), if published.
    pub fn userinfo_endpoint(&self) -> Option<&str> {
        self.userinfo_endpoint.as_deref()
    }

    /// A compact, versioned encoding for a fixed-size shared-memory field, at most
    /// [`ProviderMetadata::MAX_SERIALIZED_LEN`] bytes.
    ///
    /// Layout (version 1): `[1][flags]` then `issuer`, then each present endpoint in the order
    /// jwks, introspection, userinfo; each string as a little-endian `u16` length and its
    /// bytes. Flags: bit 0 jwks_uri, bit 1 introspection, bit 2 userinfo.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut flags = 0u8;
        let optional = [
            (FLAG_JWKS, &self.jwks_uri),
            (FLAG_INTROSPECTION, &self.introspection_endpoint),
            (FLAG_USERINFO, &self.userinfo_endpoint),
        ];
        for (flag, value) in &optional {
            if value.is_some() {
                flags |= flag;
            }
        }
        let mut out = Vec::with_capacity(Self::MAX_SERIALIZED_LEN);
        out.push(METADATA_FORMAT_V1);
        out.push(flags);
        put_str(&mut out, &self.issuer);
        for (_, value) in &optional {
            if let Some(s) = value {
                put_str(&mut out, s);
            }
        }
        out
    }

    /// Decodes [`ProviderMetadata::to_bytes`] output. Refuses unknown versions or flags,
    /// truncated or trailing bytes, invalid UTF-8 and strings over [`MAX_URL_LEN`].
    ///
    /// The URLs are not re-validated: the bytes were produced by [`ProviderMetadata::to_bytes`]
    /// from a validated value.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DiscoveryError> {
        let corrupt = DiscoveryError::CorruptSerialization;
        let [version, flags, rest @ ..] = bytes else {
            return Err(corrupt);
        };
        let mut rest = rest;
        if *version != METADATA_FORMAT_V1
            || flags & !(FLAG_JWKS | FLAG_INTROSPECTION | FLAG_USERINFO) != 0
        {
            return Err(corrupt);
        }
        let issuer = take_str(&mut rest).ok_or(corrupt)?;
        let mut optional = [None, None, None];
        for (slot, flag) in optional
            .iter_mut()
            .zip([FLAG_JWKS, FLAG_INTROSPECTION, FLAG_USERINFO])
        {
            if flags & flag != 0 {
                *slot = Some(take_str(&mut rest).ok_or(corrupt)?);
            }
        }
        if !rest.is_empty() {
            return Err(corrupt);
        }
        let [jwks_uri, introspection_endpoint, userinfo_endpoint] = optional;
        Ok(Self {
            issuer,
            jwks_uri,
            introspection_endpoint,
            userinfo_endpoint,
        })
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    // Every stored string was checked to be at most MAX_URL_LEN (1024) bytes, which fits u16;
    // saturate rather than panic should that ever change (from_bytes would then refuse it).
    let len = u16::try_from(s.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn take_str(rest: &mut &[u8]) -> Option<String> {
    let [lo, hi, tail @ ..] = *rest else {
        return None;
    };
    let len = usize::from(u16::from_le_bytes([*lo, *hi]));
    if len > MAX_URL_LEN || tail.len() < len {
        return None;
    }
    let (value, after) = tail.split_at(len);
    let value = std::str::from_utf8(value).ok()?.to_owned();
    *rest = after;
    Some(value)
}

/// What a client (`pg_bearer_client`) needs from discovery: the token endpoint, read under the
/// same rules as [`ProviderMetadata`] (the issuer must match exactly; the endpoint must be an
/// acceptable https URL).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientMetadata {
    issuer: String,
    token_endpoint: String,
}

impl ClientMetadata {
    /// Parses a discovery document for a client: [`ProviderMetadata::from_json`]'s checks,
    /// plus a `token_endpoint` that must be present, a string, not repeated and an acceptable
    /// URL.
    pub fn from_json(
        body: &[u8],
        expected_issuer: &str,
        allow_http: bool,
    ) -> Result<Self, DiscoveryError> {
        let (raw, issuer) = read_document(body, expected_issuer, true)?;
        let token_endpoint =
            endpoint(raw.token_endpoint, MetadataField::TokenEndpoint, allow_http)?
                .ok_or(DiscoveryError::MissingTokenEndpoint)?;
        Ok(Self {
            issuer,
            token_endpoint,
        })
    }

    /// The issuer identifier (equal to the expected one).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// `token_endpoint` (RFC 8414 §2).
    pub fn token_endpoint(&self) -> &str {
        &self.token_endpoint
    }
}

/// The strict reading both [`ProviderMetadata::from_json`] and [`ClientMetadata::from_json`]
/// share: size, JSON object, UTF-8, no repeated member of interest, `issuer` equal to
/// `expected_issuer` byte for byte. `token_endpoint` is a member of interest only when
/// `with_token_endpoint` (the validator never reads it, so its shape cannot refuse a document).
fn read_document(
    body: &[u8],
    expected_issuer: &str,
    with_token_endpoint: bool,
) -> Result<(RawMetadata, String), DiscoveryError> {
    if body.len() > MAX_METADATA_LEN {
        return Err(DiscoveryError::BodyTooLarge);
    }
    let first = body
        .iter()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
    if first != Some(&b'{') {
        return Err(DiscoveryError::NotJsonObject);
    }
    // serde_json skips ignored strings without checking their UTF-8; JSON text must be
    // UTF-8 (RFC 8259 §8.1), so check the whole body.
    if std::str::from_utf8(body).is_err() {
        return Err(DiscoveryError::MalformedJson);
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let mut raw = serde::Deserializer::deserialize_map(
        &mut de,
        RawMetadataVisitor {
            with_token_endpoint,
        },
    )
    .map_err(|_| DiscoveryError::MalformedJson)?;
    de.end().map_err(|_| DiscoveryError::MalformedJson)?;
    if let Some(field) = raw.duplicate {
        return Err(DiscoveryError::DuplicateMember(field));
    }
    let issuer = match std::mem::replace(&mut raw.issuer, Member::Absent) {
        Member::Absent => return Err(DiscoveryError::MissingIssuer),
        Member::NotString => return Err(DiscoveryError::IssuerNotString),
        Member::String(s) => s,
    };
    if issuer != expected_issuer {
        return Err(DiscoveryError::IssuerMismatch);
    }
    if issuer.len() > MAX_URL_LEN {
        return Err(DiscoveryError::InvalidIssuer(UrlError::TooLong));
    }
    Ok((raw, issuer))
}

fn endpoint(
    member: Member,
    field: MetadataField,
    allow_http: bool,
) -> Result<Option<String>, DiscoveryError> {
    match member {
        Member::Absent => Ok(None),
        Member::NotString => Err(DiscoveryError::EndpointNotString(field)),
        Member::String(s) => {
            parse_url(&s, UrlKind::Endpoint, allow_http)
                .map_err(|error| DiscoveryError::InvalidEndpoint { field, error })?;
            Ok(Some(s))
        }
    }
}

/// A member of interest as found in the document. `null` counts as absent.
enum Member {
    Absent,
    NotString,
    String(String),
}

struct RawMetadata {
    issuer: Member,
    jwks_uri: Member,
    introspection_endpoint: Member,
    userinfo_endpoint: Member,
    token_endpoint: Member,
    duplicate: Option<MetadataField>,
}

struct RawMetadataVisitor {
    with_token_endpoint: bool,
}

impl<'de> serde::de::Visitor<'de> for RawMetadataVisitor {
    type Value = RawMetadata;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<RawMetadata, A::Error> {
        let mut raw = RawMetadata {
            issuer: Member::Absent,
            jwks_uri: Member::Absent,
            introspection_endpoint: Member::Absent,
            userinfo_endpoint: Member::Absent,
            token_endpoint: Member::Absent,
            duplicate: None,
        };
        // Track presence separately from value: `"issuer": null` twice is still a duplicate.
        let mut seen = [false; 5];
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            let (index, field) = match key.as_ref() {
                "issuer" => (0, MetadataField::Issuer),
                "jwks_uri" => (1, MetadataField::JwksUri),
                "introspection_endpoint" => (2, MetadataField::IntrospectionEndpoint),
                "userinfo_endpoint" => (3, MetadataField::UserinfoEndpoint),
                "token_endpoint" if self.with_token_endpoint => (4, MetadataField::TokenEndpoint),
                _ => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                    continue;
                }
            };
            if seen[index] {
                raw.duplicate.get_or_insert(field);
                map.next_value::<serde::de::IgnoredAny>()?;
                continue;
            }
            seen[index] = true;
            let member = match map.next_value::<serde_json::Value>()? {
                serde_json::Value::Null => Member::Absent,
                serde_json::Value::String(s) => Member::String(s),
                _ => Member::NotString,
            };
            match field {
                MetadataField::Issuer => raw.issuer = member,
                MetadataField::JwksUri => raw.jwks_uri = member,
                MetadataField::IntrospectionEndpoint => raw.introspection_endpoint = member,
                MetadataField::UserinfoEndpoint => raw.userinfo_endpoint = member,
                MetadataField::TokenEndpoint => raw.token_endpoint = member,
            }
        }
        Ok(raw)
    }
}

// ---------------------------------------------------------------------------------------------
// Key source

/// Where an issuer's verification keys come from. The glue does the I/O.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum KeySource {
    /// Fetch the discovery document, then its `jwks_uri`. The default.
    #[default]
    Discovery,
    /// Fetch this JWKS URL directly, skipping discovery.
    JwksUri(String),
    /// Read a JWKS document from this absolute path on the database server (air-gapped
    /// deployments). The file is trusted like configuration.
    StaticFile(String),
}

impl KeySource {
    /// Parses a key-source setting: empty → [`KeySource::Discovery`]; a value starting with
    /// `https://` (or `http://` when `allow_http`) → [`KeySource::JwksUri`], validated like a
    /// metadata endpoint; a value starting with `/` or `file:/` → [`KeySource::StaticFile`]
    /// with the absolute path (no control characters, at most [`MAX_KEY_FILE_PATH_LEN`]
    /// bytes). Anything else is refused. No surrounding whitespace is trimmed.
    pub fn parse(setting: &str, allow_http: bool) -> Result<Self, DiscoveryError> {
        if setting.is_empty() {
            return Ok(Self::Discovery);
        }
        if setting.starts_with(HTTPS_SCHEME) || setting.starts_with(HTTP_SCHEME) {
            parse_url(setting, UrlKind::Endpoint, allow_http).map_err(|error| {
                DiscoveryError::InvalidEndpoint {
                    field: MetadataField::JwksUri,
                    error,
                }
            })?;
            return Ok(Self::JwksUri(setting.to_owned()));
        }
        let path = setting.strip_prefix("file:").unwrap_or(setting);
        // `file://host/...` names a host, not a local path; `//x` is not worth the ambiguity.
        if path.starts_with('/')
            && !path.starts_with("//")
            && path.len() <= MAX_KEY_FILE_PATH_LEN
            && !path.chars().any(char::is_control)
        {
            return Ok(Self::StaticFile(path.to_owned()));
        }
        Err(DiscoveryError::InvalidKeySource)
    }
}

// ---------------------------------------------------------------------------------------------
// The strict URL subset

#[derive(Clone, Copy, PartialEq, Eq)]
enum UrlKind {
    /// Issuer identifiers and well-known URIs: no query.
    Issuer,
    /// Metadata endpoints and JWKS URLs: a query is allowed.
    Endpoint,
}

struct UrlParts<'a> {
    /// `scheme://authority`, as written.
    origin: &'a str,
    /// The path as written: empty or starting with `/`.
    path: &'a str,
}

/// Checks a configured endpoint URL (an introspection or userinfo endpoint set by the DBA) the
/// way metadata endpoints are checked: https (http only when `allow_http`), a host, no user
/// information, no fragment.
pub fn check_endpoint_url(url: &str, allow_http: bool) -> Result<(), UrlError> {
    parse_url(url, UrlKind::Endpoint, allow_http).map(|_| ())
}

fn parse_url(s: &str, kind: UrlKind, allow_http: bool) -> Result<UrlParts<'_>, UrlError> {
    if s.len() > MAX_URL_LEN {
        return Err(UrlError::TooLong);
    }
    if !s.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(UrlError::InvalidCharacter);
    }
    let scheme_len = if s.starts_with(HTTPS_SCHEME) {
        HTTPS_SCHEME.len()
    } else if allow_http && s.starts_with(HTTP_SCHEME) {
        HTTP_SCHEME.len()
    } else {
        return Err(UrlError::NotHttps);
    };
    // Fragments first, as libpq does, so that nothing can hide behind one.
    if s.contains('#') {
        return Err(UrlError::Fragment);
    }
    let after_scheme = &s[scheme_len..];
    let authority_len = after_scheme.find(['/', '?']).unwrap_or(after_scheme.len());
    let (authority, tail) = after_scheme.split_at(authority_len);
    check_authority(authority)?;
    let (path, query) = match tail.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (tail, None),
    };
    if query.is_some() && kind == UrlKind::Issuer {
        return Err(UrlError::Query);
    }
    check_path(path)?;
    if let Some(query) = query {
        check_chars(query, |b| is_pchar(b) || b == b'/' || b == b'?')?;
    }
    Ok(UrlParts {
        origin: &s[..scheme_len + authority_len],
        path,
    })
}

fn check_authority(authority: &str) -> Result<(), UrlError> {
    if authority.contains('@') {
        return Err(UrlError::Userinfo);
    }
    if authority.is_empty() {
        return Err(UrlError::MissingHost);
    }
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let (literal, after) = bracketed.split_once(']').ok_or(UrlError::InvalidHost)?;
        let valid = !literal.is_empty()
            && literal.contains(':')
            && literal
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
        if !valid {
            return Err(UrlError::InvalidHost);
        }
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':').ok_or(UrlError::InvalidHost)?),
        };
        (None, port)
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (Some(host), Some(port)),
            None => (Some(authority), None),
        }
    };
    if let Some(host) = host {
        if host.is_empty() {
            return Err(UrlError::MissingHost);
        }
        let valid = host.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
        if !valid {
            return Err(UrlError::InvalidHost);
        }
    }
    if let Some(port) = port {
        let valid = !port.is_empty()
            && port.len() <= 5
            && port.bytes().all(|b| b.is_ascii_digit())
            && matches!(port.parse::<u32>(), Ok(1..=65535));
        if !valid {
            return Err(UrlError::InvalidPort);
        }
    }
    Ok(())
}

fn check_path(path: &str) -> Result<(), UrlError> {
    check_chars(path, |b| is_pchar(b) || b == b'/')?;
    // Dot segments, including their percent-encoded spellings, would be removed by an HTTP
    // client, so the fetched URL would differ from the compared one.
    let dot_segment = path.split('/').skip(1).any(|segment| {
        let decoded = segment.replace("%2e", ".").replace("%2E", ".");
        decoded == "." || decoded == ".."
    });
    if dot_segment {
        return Err(UrlError::DotSegment);
    }
    Ok(())
}

fn check_chars(s: &str, allowed: impl Fn(u8) -> bool) -> Result<(), UrlError> {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let escape_ok = bytes
                .get(i + 1..i + 3)
                .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit));
            if !escape_ok {
                return Err(UrlError::InvalidPathCharacter);
            }
            i += 3;
            continue;
        }
        if !allowed(b) {
            return Err(UrlError::InvalidPathCharacter);
        }
        i += 1;
    }
    Ok(())
}

/// RFC 3986 `pchar` minus `pct-encoded` (handled by the caller).
fn is_pchar(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.'
                | b'_'
                | b'~'
                | b'!'
                | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b':'
                | b'@'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_parser_rejects_backslash_which_some_clients_read_as_slash() {
        assert_eq!(
            parse_url("https://idp\\@evil/x", UrlKind::Endpoint, false).err(),
            Some(UrlError::Userinfo)
        );
        assert_eq!(
            parse_url("https://idp/a\\b", UrlKind::Endpoint, false).err(),
            Some(UrlError::InvalidPathCharacter)
        );
    }

    #[test]
    fn url_parser_rejects_truncated_percent_escape() {
        for bad in ["https://idp/a%", "https://idp/a%4", "https://idp/a%zz"] {
            assert_eq!(
                parse_url(bad, UrlKind::Endpoint, false).err(),
                Some(UrlError::InvalidPathCharacter),
                "{bad}"
            );
        }
    }

    #[test]
    fn url_parser_keeps_origin_and_path_as_written() {
        let parts = parse_url("https://Idp.example:8443/realms/x", UrlKind::Issuer, false)
            .expect("valid URL");
        assert_eq!(parts.origin, "https://Idp.example:8443");
        assert_eq!(parts.path, "/realms/x");
    }

    #[test]
    fn take_str_refuses_length_beyond_buffer() {
        let mut bytes: &[u8] = &[5, 0, b'a', b'b'];
        assert_eq!(take_str(&mut bytes), None);
    }
}
