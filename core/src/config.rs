//! Per-issuer configuration: the settings' defaults, overridden per issuer by the file named
//! in `pg_bearer.issuers_file`, turned into an [`IssuerPolicy`].
//!
//! Several `oauth` pg_hba lines may name different issuers (a Keycloak realm for people, an
//! Entra ID tenant for services); each needs its own audience and claims. The file holds one
//! `[[issuer]]` table per issuer; a key left out keeps the setting's value:
//!
//! ```toml
//! [[issuer]]
//! issuer = "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0"
//! audience = ["api://2d7f3606-b07d-41d1-b9d2-0d0c9296a6e8", "2d7f3606-b07d-41d1-b9d2-0d0c9296a6e8"]
//! identity_claim = "oid"
//! role_claim = "roles"
//!
//! [[issuer]]
//! issuer = "https://keycloak.example.com/realms/db"
//! audience = "postgres-db"
//! identity_claim = "preferred_username"
//! role_claim = "/realm_access/roles"
//! ```
//!
//! Unknown keys and repeated issuers are errors: a typo must not silently weaken a check.

use serde::Deserialize;

use crate::claims::ClaimPath;
use crate::policy::{IssuerPolicy, TypPolicy};

/// The settings' values, used for every issuer the file does not override.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Defaults {
    /// `pg_bearer.audience`, split on commas.
    pub audiences: Vec<String>,
    /// `pg_bearer.audience_claim`; empty means `aud`.
    pub audience_claim: String,
    /// `pg_bearer.identity_claim`; empty means `sub`.
    pub identity_claim: String,
    /// `pg_bearer.role_claim`; empty means none.
    pub role_claim: String,
    /// `pg_bearer.clock_skew`, seconds.
    pub clock_skew: i64,
    /// `pg_bearer.max_lifetime`, seconds; `None` for no limit.
    pub max_lifetime: Option<i64>,
    /// `pg_bearer.strict_typ`.
    pub strict_typ: bool,
    /// `pg_bearer.jwks`: empty, a JWKS URL or a file path.
    pub jwks: String,
    /// `pg_bearer.client_id`: the database's client at the provider, for introspection.
    pub client_id: String,
    /// `pg_bearer.client_secret_file`: a file holding the client secret.
    pub client_secret_file: String,
    /// `pg_bearer.introspection_endpoint`: overrides discovery's `introspection_endpoint`.
    pub introspection_endpoint: String,
    /// `pg_bearer.introspection_auth`: `client_secret_basic` (default) or `client_secret_post`.
    pub introspection_auth: String,
    /// `pg_bearer.introspect_jwts`: also introspect JWTs that passed every local check.
    pub introspect_jwts: bool,
    /// `pg_bearer.userinfo`: validate opaque tokens at the userinfo endpoint when
    /// introspection is not configured.
    pub userinfo: bool,
}

/// A string or a list of strings in the file.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    /// `key = "a"`.
    One(String),
    /// `key = ["a", "b"]`.
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

/// One `[[issuer]]` table. Every key but `issuer` is optional and overrides the setting of the
/// same name.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerOverride {
    /// The issuer identifier, exactly as tokens carry it in `iss` (for a pg_hba well-known
    /// URI, the identifier derived from it).
    pub issuer: String,
    /// Accepted audiences.
    pub audience: Option<OneOrMany>,
    /// Claim holding the audience.
    pub audience_claim: Option<String>,
    /// Claim giving the identity.
    pub identity_claim: Option<String>,
    /// Claim listing roles for `delegate_ident_mapping=1`.
    pub role_claim: Option<String>,
    /// Leeway in seconds.
    pub clock_skew: Option<i64>,
    /// Longest token lifetime in seconds; 0 for no limit.
    pub max_lifetime: Option<i64>,
    /// Accept only `at+jwt`.
    pub strict_typ: Option<bool>,
    /// Key source: a JWKS URL or an absolute file path instead of discovery.
    pub jwks: Option<String>,
    /// Claim naming the client (`client_id`, `azp`, `appid`, `cid`).
    pub client_claim: Option<String>,
    /// Clients allowed to present tokens (needs `client_claim`).
    pub allowed_clients: Option<Vec<String>>,
    /// Claims that must equal a string, e.g. `{ token_use = "access" }`.
    pub required_claims: Option<std::collections::BTreeMap<String, String>>,
    /// HBA scopes that need not appear in tokens (replaces the default `openid`,
    /// `offline_access`).
    pub implicit_scopes: Option<Vec<String>>,
    /// Whether `iat` is required.
    pub require_iat: Option<bool>,
    /// The database's client id for introspection.
    pub client_id: Option<String>,
    /// The client secret itself (keep the file readable by the server's OS user only).
    pub client_secret: Option<InlineSecret>,
    /// A file holding the client secret.
    pub client_secret_file: Option<String>,
    /// Introspection endpoint, overriding discovery.
    pub introspection_endpoint: Option<String>,
    /// `client_secret_basic` or `client_secret_post`.
    pub introspection_auth: Option<String>,
    /// Also introspect JWTs that passed every local check.
    pub introspect_jwts: Option<bool>,
    /// Validate opaque tokens at the userinfo endpoint when introspection is not configured.
    pub userinfo: Option<bool>,
}

/// A secret written in the issuers file. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct InlineSecret(pub String);

impl std::fmt::Debug for InlineSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<hidden>")
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileShape {
    #[serde(default)]
    issuer: Vec<IssuerOverride>,
}

/// The parsed issuers file.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct IssuersFile {
    issuers: Vec<IssuerOverride>,
}

/// Why the issuers file or the resulting policy cannot be used. Display is meant for the
/// server log; it names keys and issuers, never token content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// Largest issuers file read, in bytes.
pub const MAX_ISSUERS_FILE_LEN: usize = 256 * 1024;

impl IssuersFile {
    /// Parses the TOML text of an issuers file.
    pub fn parse(text: &str) -> Result<IssuersFile, ConfigError> {
        if text.len() > MAX_ISSUERS_FILE_LEN {
            return Err(ConfigError("issuers file is larger than 256 KiB".into()));
        }
        let shape: FileShape =
            toml::from_str(text).map_err(|e| ConfigError(describe_toml_error(text, &e)))?;
        for (i, entry) in shape.issuer.iter().enumerate() {
            if entry.issuer.is_empty() {
                return Err(ConfigError(format!(
                    "issuers file: entry {} has an empty issuer",
                    i + 1
                )));
            }
            if let Some(first) = shape.issuer[..i]
                .iter()
                .position(|e| e.issuer == entry.issuer)
            {
                return Err(ConfigError(format!(
                    "issuers file: entry {} repeats the issuer of entry {}",
                    i + 1,
                    first + 1
                )));
            }
        }
        Ok(IssuersFile {
            issuers: shape.issuer,
        })
    }

    /// The override for `issuer`, compared exactly.
    pub fn find(&self, issuer: &str) -> Option<&IssuerOverride> {
        self.issuers.iter().find(|e| e.issuer == issuer)
    }

    /// Every configured override.
    pub fn entries(&self) -> &[IssuerOverride] {
        &self.issuers
    }

    /// Whether any entry writes a client secret inline (the file then needs the permissions of
    /// a secret file).
    pub fn holds_secret(&self) -> bool {
        self.issuers.iter().any(|e| e.client_secret.is_some())
    }
}

/// Why a TOML issuers file does not parse, by line and key, without the parser's message:
/// that message can quote the offending value (`invalid type: integer `12345`, expected a
/// string` for a mistyped `client_secret`), and no value from the file may reach the log.
fn describe_toml_error(text: &str, err: &toml::de::Error) -> String {
    let message = err.message();
    let what = if message.starts_with("unknown field") {
        "unknown key"
    } else if message.starts_with("duplicate") {
        "repeated key"
    } else if message.starts_with("missing field") {
        "a required key is missing"
    } else if message.starts_with("invalid type")
        || message.starts_with("invalid value")
        || message.starts_with("invalid length")
    {
        "wrong type or value"
    } else {
        "not valid TOML"
    };
    let Some(start) = err.span().map(|s| s.start.min(text.len())) else {
        return format!("issuers file: {what}");
    };
    // Only the key's name is repeated, and only when it looks like one.
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_no = text[..start].matches('\n').count() + 1;
    let line = &text[line_start..];
    let line = &line[..line.find('\n').unwrap_or(line.len())];
    let key = line.split_once('=').map(|(k, _)| k.trim()).filter(|k| {
        !k.is_empty()
            && k.len() <= 64
            && k.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    });
    match key {
        Some(key) => format!("issuers file line {line_no}, key {key}: {what}"),
        None => format!("issuers file line {line_no}: {what}"),
    }
}

fn invalid_claim(key: &str) -> ConfigError {
    ConfigError(format!("{key} is not a claim name or a JSON Pointer"))
}

/// Where the client secret for introspection comes from. The glue reads a file.
#[derive(Clone, PartialEq, Eq, Default)]
pub enum SecretSource {
    /// None configured.
    #[default]
    None,
    /// Given inline in the issuers file.
    Inline(String),
    /// A file to read (its content, trimmed of surrounding whitespace, is the secret).
    File(String),
}

impl std::fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretSource::None => f.write_str("None"),
            SecretSource::Inline(_) => f.write_str("Inline(<hidden>)"),
            SecretSource::File(path) => write!(f, "File({path:?})"),
        }
    }
}

/// How opaque tokens of one issuer are validated.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct OpaqueSettings {
    /// The database's client id; empty means introspection is not configured.
    pub client_id: String,
    /// The client secret's source.
    pub client_secret: SecretSource,
    /// Explicit introspection endpoint; empty means discovery's.
    pub introspection_endpoint: String,
    /// Client authentication method.
    pub auth: crate::introspection::ClientAuth,
    /// Also introspect JWTs that passed every local check (revocation checks).
    pub introspect_jwts: bool,
    /// Userinfo validation for opaque tokens (when introspection is not configured).
    pub userinfo: bool,
}

impl OpaqueSettings {
    /// Whether introspection has credentials.
    pub fn introspection_configured(&self) -> bool {
        !self.client_id.is_empty() && self.client_secret != SecretSource::None
    }
}

/// The opaque-token settings for an issuer: `defaults` overridden by `entry`.
pub fn opaque_settings(
    defaults: &Defaults,
    entry: Option<&IssuerOverride>,
) -> Result<OpaqueSettings, ConfigError> {
    let pick =
        |over: Option<&String>, default: &str| over.cloned().unwrap_or_else(|| default.to_owned());
    let client_secret = match (
        entry.and_then(|e| e.client_secret.as_ref().map(|s| s.0.clone())),
        entry.and_then(|e| e.client_secret_file.clone()),
    ) {
        (Some(_), Some(_)) => {
            return Err(ConfigError(
                "client_secret and client_secret_file are both set".into(),
            ))
        }
        (Some(s), None) if !s.is_empty() => SecretSource::Inline(s),
        (None, Some(f)) if !f.is_empty() => SecretSource::File(f),
        _ if !defaults.client_secret_file.is_empty() => {
            SecretSource::File(defaults.client_secret_file.clone())
        }
        _ => SecretSource::None,
    };
    let auth_text = pick(
        entry.and_then(|e| e.introspection_auth.as_ref()),
        &defaults.introspection_auth,
    );
    let auth = crate::introspection::ClientAuth::parse(&auth_text).ok_or_else(|| {
        ConfigError(
            "introspection_auth is not client_secret_basic or client_secret_post".to_owned(),
        )
    })?;
    Ok(OpaqueSettings {
        client_id: pick(
            entry.and_then(|e| e.client_id.as_ref()),
            &defaults.client_id,
        ),
        client_secret,
        introspection_endpoint: pick(
            entry.and_then(|e| e.introspection_endpoint.as_ref()),
            &defaults.introspection_endpoint,
        ),
        auth,
        introspect_jwts: entry
            .and_then(|e| e.introspect_jwts)
            .unwrap_or(defaults.introspect_jwts),
        userinfo: entry.and_then(|e| e.userinfo).unwrap_or(defaults.userinfo),
    })
}

/// The policy for `issuer`: `defaults` overridden by `entry`, validated. Also returns the key
/// source setting (empty for discovery).
pub fn issuer_policy(
    issuer: &str,
    defaults: &Defaults,
    entry: Option<&IssuerOverride>,
) -> Result<(IssuerPolicy, String), ConfigError> {
    let pick =
        |over: Option<&String>, default: &str| over.cloned().unwrap_or_else(|| default.to_owned());
    let audiences = entry
        .and_then(|e| e.audience.clone())
        .map(OneOrMany::into_vec)
        .unwrap_or_else(|| defaults.audiences.clone());
    if audiences.is_empty() {
        return Err(ConfigError(format!(
            "no audience is configured for issuer {issuer:?} (pg_bearer.audience or the issuers file)"
        )));
    }
    let claim =
        |key: &str, text: String, default: &'static str| -> Result<ClaimPath, ConfigError> {
            let text = if text.is_empty() {
                default.to_owned()
            } else {
                text
            };
            ClaimPath::parse(&text).map_err(|_| invalid_claim(key))
        };
    let optional_claim = |key: &str, text: String| -> Result<Option<ClaimPath>, ConfigError> {
        if text.is_empty() {
            Ok(None)
        } else {
            ClaimPath::parse(&text)
                .map(Some)
                .map_err(|_| invalid_claim(key))
        }
    };
    let mut policy = IssuerPolicy::new(issuer, audiences);
    policy.audience_claim = claim(
        "audience_claim",
        pick(
            entry.and_then(|e| e.audience_claim.as_ref()),
            &defaults.audience_claim,
        ),
        "aud",
    )?;
    policy.identity_claim = claim(
        "identity_claim",
        pick(
            entry.and_then(|e| e.identity_claim.as_ref()),
            &defaults.identity_claim,
        ),
        "sub",
    )?;
    policy.role_claim = optional_claim(
        "role_claim",
        pick(
            entry.and_then(|e| e.role_claim.as_ref()),
            &defaults.role_claim,
        ),
    )?;
    policy.clock_skew = entry
        .and_then(|e| e.clock_skew)
        .unwrap_or(defaults.clock_skew);
    policy.max_lifetime = match entry.and_then(|e| e.max_lifetime) {
        Some(0) => None,
        Some(n) => Some(n),
        None => defaults.max_lifetime,
    };
    let strict = entry
        .and_then(|e| e.strict_typ)
        .unwrap_or(defaults.strict_typ);
    policy.typ_policy = if strict {
        TypPolicy::AccessOnly
    } else {
        TypPolicy::AccessOrGeneric
    };
    if let Some(e) = entry {
        policy.client_claim =
            optional_claim("client_claim", e.client_claim.clone().unwrap_or_default())?;
        policy.allowed_clients = e.allowed_clients.clone().unwrap_or_default();
        if let Some(required) = &e.required_claims {
            policy.required_claims = required
                .iter()
                .map(|(k, v)| Ok((claim("required_claims", k.clone(), "")?, v.clone())))
                .collect::<Result<_, ConfigError>>()?;
        }
        if let Some(implicit) = &e.implicit_scopes {
            policy.implicit_scopes = implicit.clone();
        }
        if let Some(require_iat) = e.require_iat {
            policy.require_iat = require_iat;
        }
    }
    policy
        .validate()
        .map_err(|e| ConfigError(format!("issuer {issuer:?}: {e}")))?;
    let jwks = pick(entry.and_then(|e| e.jwks.as_ref()), &defaults.jwks);
    Ok((policy, jwks))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> Defaults {
        Defaults {
            audiences: vec!["db".into()],
            clock_skew: 60,
            max_lifetime: Some(86_400),
            ..Defaults::default()
        }
    }

    const FILE: &str = r#"
[[issuer]]
issuer = "https://kc.example/realms/db"
audience = "postgres-db"
identity_claim = "preferred_username"
role_claim = "/realm_access/roles"

[[issuer]]
issuer = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc"
audience = ["client-1", "client-2"]
audience_claim = "client_id"
required_claims = { token_use = "access" }
max_lifetime = 0
"#;

    #[test]
    fn each_issuer_gets_its_own_audience_and_claims() {
        let file = IssuersFile::parse(FILE).unwrap();
        let (kc, _) = issuer_policy(
            "https://kc.example/realms/db",
            &defaults(),
            file.find("https://kc.example/realms/db"),
        )
        .unwrap();
        assert_eq!(kc.audiences, vec!["postgres-db"]);
        assert_eq!(kc.identity_claim.as_str(), "preferred_username");
        assert!(kc.role_claim.is_some());
        let cognito_issuer = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc";
        let (cognito, _) =
            issuer_policy(cognito_issuer, &defaults(), file.find(cognito_issuer)).unwrap();
        assert_eq!(cognito.audiences, vec!["client-1", "client-2"]);
        assert_eq!(cognito.audience_claim.as_str(), "client_id");
        assert_eq!(cognito.max_lifetime, None);
        assert_eq!(cognito.required_claims.len(), 1);
    }

    #[test]
    fn issuers_without_an_entry_use_the_settings() {
        let file = IssuersFile::parse(FILE).unwrap();
        let (p, jwks) = issuer_policy(
            "https://other.example",
            &defaults(),
            file.find("https://other.example"),
        )
        .unwrap();
        assert_eq!(p.audiences, vec!["db"]);
        assert_eq!(p.identity_claim.as_str(), "sub");
        assert!(p.role_claim.is_none());
        assert_eq!(jwks, "");
    }

    #[test]
    fn an_unknown_key_is_an_error_not_ignored() {
        let err = IssuersFile::parse("[[issuer]]\nissuer = \"https://a\"\naudiance = \"x\"\n")
            .unwrap_err();
        assert!(err.0.contains("audiance"), "{err}");
    }

    #[test]
    fn a_repeated_issuer_is_an_error() {
        let text = "[[issuer]]\nissuer = \"https://a\"\n[[issuer]]\nissuer = \"https://a\"\n";
        assert!(IssuersFile::parse(text).is_err());
    }

    #[test]
    fn an_empty_issuer_is_an_error() {
        assert!(IssuersFile::parse("[[issuer]]\nissuer = \"\"\n").is_err());
    }

    #[test]
    fn no_audience_anywhere_is_a_configuration_error() {
        let err = issuer_policy("https://a", &Defaults::default(), None).unwrap_err();
        assert!(err.0.contains("no audience"), "{err}");
    }

    #[test]
    fn an_empty_audience_list_in_the_file_does_not_fall_back_to_the_setting() {
        let file =
            IssuersFile::parse("[[issuer]]\nissuer = \"https://a\"\naudience = []\n").unwrap();
        assert!(issuer_policy("https://a", &defaults(), file.find("https://a")).is_err());
    }

    #[test]
    fn an_out_of_range_clock_skew_is_refused() {
        let file =
            IssuersFile::parse("[[issuer]]\nissuer = \"https://a\"\nclock_skew = 3600\n").unwrap();
        assert!(issuer_policy("https://a", &defaults(), file.find("https://a")).is_err());
    }

    #[test]
    fn allowed_clients_without_a_client_claim_are_refused() {
        let file =
            IssuersFile::parse("[[issuer]]\nissuer = \"https://a\"\nallowed_clients = [\"c\"]\n")
                .unwrap();
        assert!(issuer_policy("https://a", &defaults(), file.find("https://a")).is_err());
    }

    #[test]
    fn an_invalid_claim_pointer_is_refused() {
        let file =
            IssuersFile::parse("[[issuer]]\nissuer = \"https://a\"\nidentity_claim = \"/a/~2\"\n")
                .unwrap();
        assert!(issuer_policy("https://a", &defaults(), file.find("https://a")).is_err());
    }

    #[test]
    fn issuer_lookup_is_exact() {
        let file = IssuersFile::parse(FILE).unwrap();
        assert!(file.find("https://kc.example/realms/db/").is_none());
        assert!(file.find("https://KC.example/realms/db").is_none());
    }

    #[test]
    fn strict_typing_can_be_set_per_issuer() {
        let file =
            IssuersFile::parse("[[issuer]]\nissuer = \"https://a\"\nstrict_typ = true\n").unwrap();
        let (p, _) = issuer_policy("https://a", &defaults(), file.find("https://a")).unwrap();
        assert_eq!(p.typ_policy, TypPolicy::AccessOnly);
    }

    #[test]
    fn opaque_settings_come_from_the_file_over_the_settings() {
        let mut d = defaults();
        d.client_id = "db".into();
        d.client_secret_file = "/etc/pg/secret".into();
        let plain = opaque_settings(&d, None).unwrap();
        assert!(plain.introspection_configured());
        assert_eq!(
            plain.client_secret,
            SecretSource::File("/etc/pg/secret".into())
        );
        let file = IssuersFile::parse(
            "[[issuer]]\nissuer = \"https://a\"\nclient_id = \"db-a\"\nclient_secret = \"s\"\nintrospection_auth = \"client_secret_post\"\nuserinfo = true\n",
        )
        .unwrap();
        let a = opaque_settings(&d, file.find("https://a")).unwrap();
        assert_eq!(a.client_id, "db-a");
        assert_eq!(a.client_secret, SecretSource::Inline("s".into()));
        assert_eq!(a.auth, crate::introspection::ClientAuth::SecretPost);
        assert!(a.userinfo);
        assert!(
            !format!("{a:?}").contains("\"s\""),
            "the secret must not show in Debug"
        );
    }

    #[test]
    fn introspection_needs_both_a_client_id_and_a_secret() {
        let mut d = defaults();
        d.client_id = "db".into();
        assert!(!opaque_settings(&d, None)
            .unwrap()
            .introspection_configured());
        d.client_id.clear();
        d.client_secret_file = "/s".into();
        assert!(!opaque_settings(&d, None)
            .unwrap()
            .introspection_configured());
    }

    #[test]
    fn conflicting_or_unknown_introspection_settings_are_errors() {
        let both = IssuersFile::parse("[[issuer]]\nissuer = \"https://a\"\nclient_secret = \"s\"\nclient_secret_file = \"/f\"\n").unwrap();
        assert!(opaque_settings(&defaults(), both.find("https://a")).is_err());
        let auth = IssuersFile::parse(
            "[[issuer]]\nissuer = \"https://a\"\nintrospection_auth = \"private_key_jwt\"\n",
        )
        .unwrap();
        assert!(opaque_settings(&defaults(), auth.find("https://a")).is_err());
    }

    #[test]
    fn malformed_toml_is_an_error() {
        assert!(IssuersFile::parse("[[issuer]\nissuer = ").is_err());
        assert!(IssuersFile::parse("issuer = \"https://a\"").is_err());
    }

    #[test]
    fn a_wrong_typed_value_is_reported_by_line_and_key_without_the_value() {
        for (text, line, key) in [
            ("[[issuer]]\nissuer = \"https://a\"\nclient_secret = 98127345\n", 3, "client_secret"),
            ("[[issuer]]\nissuer = \"https://a\"\nclient_secret = [\"s3cr3tXq\"]\n", 3, "client_secret"),
            ("[[issuer]]\nissuer = \"https://a\"\nclock_skew = \"s3cr3tXq\"\n", 3, "clock_skew"),
            ("[[issuer]]\nissuer = \"https://a\"\nclient_secret = \"s3cr3tXq\"\nclient_secret = \"s3cr3tXq\"\n", 4, "client_secret"),
        ] {
            let err = IssuersFile::parse(text).unwrap_err().to_string();
            assert!(!err.contains("98127345") && !err.contains("s3cr3tXq"), "{err}");
            assert!(err.contains(&format!("line {line}")), "{err}");
            assert!(err.contains(key), "{err}");
        }
        let err =
            IssuersFile::parse("[[issuer]]\nissuer = \"https://a\"\nclient_secret = \"s3cr3tXq\n")
                .unwrap_err()
                .to_string();
        assert!(!err.contains("s3cr3tXq"), "{err}");
        let err = IssuersFile::parse(
            "[[issuer]]\nissuer = \"https://a\"\nintrospection_auth = \"s3cr3tXq\"\n",
        )
        .and_then(|f| opaque_settings(&Defaults::default(), f.find("https://a")))
        .unwrap_err()
        .to_string();
        assert!(!err.contains("s3cr3tXq"), "{err}");
    }

    #[test]
    fn an_inline_secret_never_shows_in_debug_output() {
        let file = IssuersFile::parse(
            "[[issuer]]\nissuer = \"https://a\"\nclient_id = \"c\"\nclient_secret = \"s3cr3tXq\"\n",
        )
        .unwrap();
        assert!(file.holds_secret());
        let entry = file.find("https://a").unwrap();
        assert!(!format!("{file:?} {entry:?}").contains("s3cr3tXq"));
        let opaque = opaque_settings(&Defaults::default(), Some(entry)).unwrap();
        assert!(!format!("{opaque:?}").contains("s3cr3tXq"));
        assert!(!IssuersFile::parse("[[issuer]]\nissuer = \"https://a\"\n")
            .unwrap()
            .holds_secret());
    }
}
