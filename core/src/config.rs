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
//! The keys a table takes, their types and their ranges are the declaration's
//! ([`crate::settings`]): every `per_issuer` setting under its own name, and the `file_only`
//! keys. Durations are PostgreSQL's (`clock_skew = "2min"`; an integer is in the setting's
//! base unit). Unknown keys and repeated issuers are errors: a typo must not silently weaken a
//! check. Errors name the line and the key, never a value from the file.

use std::collections::BTreeMap;
use std::ops::Range;

use toml::de::{DeTable, DeValue};

use crate::claims::ClaimPath;
use crate::policy::{IssuerPolicy, TypPolicy};
use crate::settings::{self, GucDefault, Kind, Setting};

/// Expands the declaration ([`crate::pg_bearer_settings!`]) into the per-issuer values
/// ([`Defaults`]), one issuers-file table ([`IssuerOverride`]) and the dispatch from a key to
/// its field. Which keys exist, their types and ranges all come from the declaration.
macro_rules! issuer_types {
    (
        per_issuer { $( $p:ident : $pk:ident { $($pa:tt)* }, $pc:ident $(+ $pf:ident)*, $pd:literal; )* }
        server { $($server:tt)* }
        test_only { $($test:tt)* }
        file_only { $( $f:ident : $fk:ident, $fd:literal; )* }
    ) => {
        /// The values of the settings that can be set per issuer: the server-wide ones (the
        /// GUCs), used for every issuer the issuers file does not override, or one issuer's
        /// after its `[[issuer]]` table is applied. One field per `per_issuer` setting of the
        /// declaration, named like it; durations in the setting's base unit.
        /// [`Defaults::default`] holds the declared defaults.
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub struct Defaults {
            $(
                #[doc = concat!("`pg_bearer.", stringify!($p), "`: ", $pd)]
                pub $p: value_type!($pk),
            )*
        }

        impl Default for Defaults {
            /// The declared defaults: the GUCs' values when postgresql.conf sets none.
            fn default() -> Self {
                Defaults {
                    $( $p: FileValue::from_default(settings::setting(stringify!($p))), )*
                }
            }
        }

        impl Defaults {
            /// These values with `entry`'s keys applied; a key outside its setting's range is
            /// an error naming it.
            pub(crate) fn overridden_by(&self, entry: &IssuerOverride) -> Result<Defaults, ConfigError> {
                Ok(Defaults {
                    $( $p: match &entry.$p {
                        Some(value) => {
                            entry.check_range(settings::setting(stringify!($p)), value)?;
                            value.clone()
                        }
                        None => self.$p.clone(),
                    }, )*
                })
            }
        }

        /// One `[[issuer]]` table: every key is optional but `issuer`, and a key left out
        /// keeps the setting's value. One field per `per_issuer` and `file_only` entry of the
        /// declaration.
        #[derive(Clone, Debug, PartialEq, Eq, Default)]
        pub struct IssuerOverride {
            $(
                #[doc = concat!("Overrides `pg_bearer.", stringify!($p), "`: ", $pd)]
                pub $p: Option<value_type!($pk)>,
            )*
            $(
                #[doc = $fd]
                pub $f: Option<value_type!($fk)>,
            )*
            /// The line each key was written on, for error messages.
            pub(crate) lines: Vec<(&'static str, usize)>,
        }

        impl IssuerOverride {
            /// Stores `value` for `setting`, checked against the setting's kind.
            pub(crate) fn set(&mut self, setting: &'static Setting, value: &DeValue<'_>) -> Result<(), String> {
                match setting.name {
                    $( stringify!($p) => self.$p = Some(FileValue::from_file(value, setting)?), )*
                    $( stringify!($f) => self.$f = Some(FileValue::from_file(value, setting)?), )*
                    _ => return Err("unknown key".to_owned()),
                }
                Ok(())
            }
        }
    };
}

/// The Rust type holding a value of each kind.
macro_rules! value_type {
    (text) => { String };
    (text_list) => { Vec<String> };
    (bool) => { bool };
    (int) => { i64 };
    (duration) => { i64 };
    (issuer) => { String };
    (strings) => { Vec<String> };
    (claims) => { BTreeMap<String, String> };
    (secret) => { InlineSecret };
}

crate::pg_bearer_settings!(issuer_types);

/// A list setting's items: split on commas, surrounding spaces trimmed, empty items dropped
/// (`pg_bearer.audience = 'a, b'`).
pub fn split_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A value of one kind: read from the issuers file as its setting's kind says, or taken from
/// the declared default.
pub(crate) trait FileValue: Sized {
    /// The value written in the file. The error says what was expected, never what was found.
    fn from_file(value: &DeValue<'_>, setting: &Setting) -> Result<Self, String>;
    /// The declared default of a GUC of this type.
    fn from_default(setting: &Setting) -> Self;
    /// Whether the value lies in the setting's declared range (if it has one).
    fn in_range(&self, _setting: &Setting) -> bool {
        true
    }
}

fn declared_default(setting: &Setting) -> GucDefault {
    setting.guc.map_or(GucDefault::Unset, |g| g.default)
}

impl FileValue for String {
    fn from_file(value: &DeValue<'_>, _setting: &Setting) -> Result<Self, String> {
        match value {
            DeValue::String(s) => Ok(s.to_string()),
            _ => Err("wrong type or value: expected a string".to_owned()),
        }
    }
    fn from_default(setting: &Setting) -> Self {
        match declared_default(setting) {
            GucDefault::Text(s) => s.to_owned(),
            _ => String::new(),
        }
    }
}

impl FileValue for Vec<String> {
    fn from_file(value: &DeValue<'_>, setting: &Setting) -> Result<Self, String> {
        let expected = match setting.kind {
            Kind::TextList => "wrong type or value: expected a string or an array of strings",
            _ => "wrong type or value: expected an array of strings",
        };
        match value {
            DeValue::String(s) if setting.kind == Kind::TextList => Ok(vec![s.to_string()]),
            DeValue::Array(items) => items
                .iter()
                .map(|item| match item.get_ref() {
                    DeValue::String(s) => Ok(s.to_string()),
                    _ => Err(expected.to_owned()),
                })
                .collect(),
            _ => Err(expected.to_owned()),
        }
    }
    fn from_default(setting: &Setting) -> Self {
        match declared_default(setting) {
            GucDefault::Text(s) => split_list(s),
            _ => Vec::new(),
        }
    }
}

impl FileValue for bool {
    fn from_file(value: &DeValue<'_>, _setting: &Setting) -> Result<Self, String> {
        match value {
            DeValue::Boolean(b) => Ok(*b),
            _ => Err("wrong type or value: expected true or false".to_owned()),
        }
    }
    fn from_default(setting: &Setting) -> Self {
        matches!(declared_default(setting), GucDefault::Bool(true))
    }
}

impl FileValue for i64 {
    fn from_file(value: &DeValue<'_>, setting: &Setting) -> Result<Self, String> {
        let integer = match value {
            DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix()).ok(),
            _ => None,
        };
        match (setting.kind, value, integer) {
            (_, DeValue::Integer(_), Some(i)) => Ok(i),
            (_, DeValue::Integer(_), None) => Err(format!(
                "out of range ({})",
                setting.kind.describe_range().unwrap_or_default()
            )),
            (Kind::Duration { unit, .. }, DeValue::String(text), _) => {
                settings::parse_duration(text, unit).map_err(|e| format!("wrong type or value: {e}"))
            }
            (Kind::Duration { unit, .. }, _, _) => Err(format!(
                "wrong type or value: expected a duration such as \"90s\" or \"5min\", or an integer of {}",
                unit.symbol()
            )),
            _ => Err("wrong type or value: expected an integer".to_owned()),
        }
    }
    fn from_default(setting: &Setting) -> Self {
        match declared_default(setting) {
            GucDefault::Int(i) => i64::from(i),
            _ => 0,
        }
    }
    fn in_range(&self, setting: &Setting) -> bool {
        setting
            .kind
            .range()
            .is_none_or(|(min, max)| (i64::from(min)..=i64::from(max)).contains(self))
    }
}

impl FileValue for BTreeMap<String, String> {
    fn from_file(value: &DeValue<'_>, _setting: &Setting) -> Result<Self, String> {
        let expected = || "wrong type or value: expected a table of strings".to_owned();
        let DeValue::Table(table) = value else {
            return Err(expected());
        };
        table
            .iter()
            .map(|(k, v)| match v.get_ref() {
                DeValue::String(s) => Ok((k.get_ref().to_string(), s.to_string())),
                _ => Err(expected()),
            })
            .collect()
    }
    fn from_default(_setting: &Setting) -> Self {
        BTreeMap::new()
    }
}

impl FileValue for InlineSecret {
    fn from_file(value: &DeValue<'_>, setting: &Setting) -> Result<Self, String> {
        String::from_file(value, setting).map(InlineSecret)
    }
    fn from_default(_setting: &Setting) -> Self {
        InlineSecret(String::new())
    }
}

impl IssuerOverride {
    /// The issuer identifier (present in every parsed entry).
    pub fn issuer(&self) -> &str {
        self.issuer.as_deref().unwrap_or_default()
    }

    fn check_range<T: FileValue>(&self, setting: &Setting, value: &T) -> Result<(), ConfigError> {
        if value.in_range(setting) {
            return Ok(());
        }
        let line = self
            .lines
            .iter()
            .find(|(name, _)| *name == setting.name)
            .map_or(0, |&(_, line)| line);
        let range = setting.kind.describe_range().unwrap_or_default();
        Err(ConfigError(format!(
            "issuers file line {line}, key {}: out of range ({range})",
            setting.name
        )))
    }
}

/// A secret written in the issuers file. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct InlineSecret(pub String);

impl std::fmt::Debug for InlineSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<hidden>")
    }
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

/// What [`IssuersFile::parse_with`] hands a top-level key other than `issuer`: its name,
/// value and span.
pub(crate) type TopLevelKey<'a> =
    dyn FnMut(&str, &DeValue<'_>, Range<usize>) -> Result<(), ConfigError> + 'a;

/// Largest issuers file read, in bytes.
pub const MAX_ISSUERS_FILE_LEN: usize = 256 * 1024;

impl IssuersFile {
    /// Parses the TOML text of an issuers file. The top level holds only `[[issuer]]` tables;
    /// each takes the keys the declaration marks per issuer, with their kinds.
    pub fn parse(text: &str) -> Result<IssuersFile, ConfigError> {
        Self::parse_with(text, &mut |key, _, span| {
            Err(problem(text, span, Some(key), "unknown key"))
        })
    }

    /// [`IssuersFile::parse`], handing every top-level key other than `issuer` to `top`
    /// (the PAM module's configuration file has its server-wide settings there).
    pub(crate) fn parse_with(
        text: &str,
        top: &mut TopLevelKey<'_>,
    ) -> Result<IssuersFile, ConfigError> {
        if text.len() > MAX_ISSUERS_FILE_LEN {
            return Err(ConfigError("issuers file is larger than 256 KiB".into()));
        }
        let document =
            DeTable::parse(text).map_err(|e| ConfigError(describe_toml_error(text, &e)))?;
        let mut issuers = Vec::new();
        for (key, value) in document.get_ref() {
            if key.get_ref() != "issuer" {
                top(key.get_ref(), value.get_ref(), key.span())?;
                continue;
            }
            let tables = match value.get_ref() {
                DeValue::Array(tables) => tables,
                _ => {
                    return Err(problem(
                        text,
                        key.span(),
                        Some("issuer"),
                        "wrong type or value: expected [[issuer]] tables",
                    ))
                }
            };
            for table in tables.iter() {
                let DeValue::Table(entry) = table.get_ref() else {
                    return Err(problem(
                        text,
                        table.span(),
                        Some("issuer"),
                        "wrong type or value: expected [[issuer]] tables",
                    ));
                };
                issuers.push(parse_entry(text, table.span(), entry)?);
            }
        }
        for (i, entry) in issuers.iter().enumerate() {
            if entry.issuer().is_empty() {
                return Err(ConfigError(format!(
                    "issuers file: entry {} has an empty issuer",
                    i + 1
                )));
            }
            if let Some(first) = issuers[..i]
                .iter()
                .position(|e| e.issuer() == entry.issuer())
            {
                return Err(ConfigError(format!(
                    "issuers file: entry {} repeats the issuer of entry {}",
                    i + 1,
                    first + 1
                )));
            }
        }
        Ok(IssuersFile { issuers })
    }

    /// The override for `issuer`, compared exactly.
    pub fn find(&self, issuer: &str) -> Option<&IssuerOverride> {
        self.issuers.iter().find(|e| e.issuer() == issuer)
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

/// One `[[issuer]]` table: each key must be a per-issuer entry of the declaration.
fn parse_entry(
    text: &str,
    span: Range<usize>,
    table: &DeTable<'_>,
) -> Result<IssuerOverride, ConfigError> {
    let mut entry = IssuerOverride::default();
    for (key, value) in table {
        let name: &str = key.get_ref();
        let Some(setting) = settings::lookup(name).filter(|s| s.per_issuer) else {
            let server_wide = settings::lookup(name)
                .and_then(|s| s.guc)
                .is_some_and(|g| !g.test_only);
            let what = if server_wide {
                "not settable per issuer: it is a server-wide setting (pg_bearer.*)"
            } else {
                "unknown key"
            };
            return Err(problem(text, key.span(), Some(name), what));
        };
        entry
            .set(setting, value.get_ref())
            .map_err(|what| problem(text, key.span(), Some(name), &what))?;
        entry
            .lines
            .push((setting.name, line_of(text, key.span().start)));
    }
    if entry.issuer.is_none() {
        return Err(problem(
            text,
            span,
            None,
            "a required key is missing (issuer)",
        ));
    }
    Ok(entry)
}

/// The 1-based line of byte `offset`.
pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    let offset = offset.min(text.len());
    text.as_bytes()[..offset]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// `issuers file line N, key K: what`. The key is repeated only when it looks like one, and
/// no value from the file ever is.
pub(crate) fn problem(
    text: &str,
    span: Range<usize>,
    key: Option<&str>,
    what: &str,
) -> ConfigError {
    let line_no = line_of(text, span.start);
    let key = key.filter(|k| looks_like_a_key(k));
    ConfigError(match key {
        Some(key) => format!("issuers file line {line_no}, key {key}: {what}"),
        None => format!("issuers file line {line_no}: {what}"),
    })
}

fn looks_like_a_key(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 64
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Why a TOML issuers file does not parse, by line and key, without the parser's message:
/// that message can quote the offending text, and no value from the file may reach the log.
fn describe_toml_error(text: &str, err: &toml::de::Error) -> String {
    let what = if err.message().starts_with("duplicate") {
        "repeated key"
    } else {
        "not valid TOML"
    };
    let Some(start) = err.span().map(|s| s.start.min(text.len())) else {
        return format!("issuers file: {what}");
    };
    // The key's name is taken from the line, and only when it looks like one.
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line = &text[line_start..];
    let line = &line[..line.find('\n').unwrap_or(line.len())];
    let key = line.split_once('=').map(|(k, _)| k.trim());
    problem(text, start..start, key, what).0
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
    /// The userinfo endpoint, when it is not discovery's: set only by the PAM module's
    /// `pam_oauth2`-compatible arguments, which name it.
    pub userinfo_endpoint: Option<String>,
}

impl OpaqueSettings {
    /// Whether introspection has credentials.
    pub fn introspection_configured(&self) -> bool {
        !self.client_id.is_empty() && self.client_secret != SecretSource::None
    }
}

/// `defaults` with `entry`'s keys applied, if there is an entry.
fn effective(defaults: &Defaults, entry: Option<&IssuerOverride>) -> Result<Defaults, ConfigError> {
    match entry {
        Some(entry) => defaults.overridden_by(entry),
        None => Ok(defaults.clone()),
    }
}

/// The opaque-token settings for an issuer: `defaults` overridden by `entry`.
pub fn opaque_settings(
    defaults: &Defaults,
    entry: Option<&IssuerOverride>,
) -> Result<OpaqueSettings, ConfigError> {
    let values = effective(defaults, entry)?;
    // In the file, `client_secret_file = ""` (like `client_secret = ""`) means the setting's.
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
    let auth =
        crate::introspection::ClientAuth::parse(&values.introspection_auth).ok_or_else(|| {
            ConfigError(
                "introspection_auth is not client_secret_basic or client_secret_post".to_owned(),
            )
        })?;
    Ok(OpaqueSettings {
        client_id: values.client_id,
        client_secret,
        introspection_endpoint: values.introspection_endpoint,
        auth,
        introspect_jwts: values.introspect_jwts,
        userinfo: values.userinfo,
        userinfo_endpoint: None,
    })
}

/// The policy for `issuer`: `defaults` overridden by `entry`, validated. Also returns the key
/// source setting (empty for discovery).
pub fn issuer_policy(
    issuer: &str,
    defaults: &Defaults,
    entry: Option<&IssuerOverride>,
) -> Result<(IssuerPolicy, String), ConfigError> {
    let values = effective(defaults, entry)?;
    if values.audience.is_empty() {
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
    let mut policy = IssuerPolicy::new(issuer, values.audience);
    policy.audience_claim = claim("audience_claim", values.audience_claim, "aud")?;
    policy.identity_claim = claim("identity_claim", values.identity_claim, "sub")?;
    policy.role_claim = optional_claim("role_claim", values.role_claim)?;
    policy.clock_skew = values.clock_skew;
    // 0 is "no limit"; a negative value (only possible from a caller of this library: the
    // declared range starts at 0) stays and fails validation.
    policy.max_lifetime = Some(values.max_lifetime).filter(|&m| m != 0);
    policy.typ_policy = if values.strict_typ {
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
    Ok((policy, values.jwks))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> Defaults {
        Defaults {
            audience: vec!["db".into()],
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
    fn an_unknown_key_is_reported_by_line_and_name() {
        let err = IssuersFile::parse("[[issuer]]\nissuer = \"https://a\"\naudiance = \"x\"\n")
            .unwrap_err();
        assert_eq!(err.0, "issuers file line 3, key audiance: unknown key");
        let err = IssuersFile::parse("algorithms = [\"HS256\"]\n").unwrap_err();
        assert_eq!(err.0, "issuers file line 1, key algorithms: unknown key");
    }

    #[test]
    fn a_server_wide_setting_in_the_issuers_file_is_refused_as_such() {
        let err = IssuersFile::parse("[[issuer]]\nissuer = \"https://a\"\nhttp_timeout = \"5s\"\n")
            .unwrap_err();
        assert!(
            err.0
                .starts_with("issuers file line 3, key http_timeout: not settable per issuer"),
            "{err}"
        );
    }

    #[test]
    fn test_only_settings_are_unknown_keys_in_the_issuers_file() {
        for key in ["allow_http = true", "test_fault = \"x\""] {
            let err = IssuersFile::parse(&format!("[[issuer]]\nissuer = \"https://a\"\n{key}\n"))
                .unwrap_err();
            assert!(err.0.ends_with(": unknown key"), "{err}");
        }
    }

    #[test]
    fn an_entry_without_an_issuer_is_an_error() {
        let err = IssuersFile::parse("[[issuer]]\naudience = \"x\"\n").unwrap_err();
        assert!(
            err.0.contains("a required key is missing (issuer)"),
            "{err}"
        );
    }

    #[test]
    fn issuers_must_be_an_array_of_tables() {
        for text in [
            "issuer = \"https://a\"\n",
            "issuer = [\"https://a\"]\n",
            "[issuer]\nissuer = \"https://a\"\n",
        ] {
            let err = IssuersFile::parse(text).unwrap_err();
            assert!(
                err.0.contains("key issuer: wrong type or value"),
                "{text:?}: {err}"
            );
        }
    }

    #[test]
    fn durations_in_the_file_take_postgresql_units_or_base_unit_integers() {
        let file = IssuersFile::parse(
            "[[issuer]]\nissuer = \"https://a\"\nclock_skew = \"2min\"\nmax_lifetime = \"2h\"\n\
             [[issuer]]\nissuer = \"https://b\"\nclock_skew = 120\nmax_lifetime = 7200\n\
             [[issuer]]\nissuer = \"https://c\"\nclock_skew = \"90\"\nmax_lifetime = \"1.5d\"\n",
        )
        .unwrap();
        for (issuer, skew, lifetime) in [
            ("https://a", 120, 7_200),
            ("https://b", 120, 7_200),
            ("https://c", 90, 129_600),
        ] {
            let (p, _) = issuer_policy(issuer, &defaults(), file.find(issuer)).unwrap();
            assert_eq!(
                (p.clock_skew, p.max_lifetime),
                (skew, Some(lifetime)),
                "{issuer}"
            );
        }
    }

    #[test]
    fn every_toml_integer_spelling_is_an_integer_of_the_base_unit() {
        for (value, expected) in [("0x3c", 60), ("0o74", 60), ("1_20", 120), ("+90", 90)] {
            let text = format!("[[issuer]]\nissuer = \"https://a\"\nclock_skew = {value}\n");
            let file = IssuersFile::parse(&text).unwrap();
            let (p, _) = issuer_policy("https://a", &defaults(), file.find("https://a")).unwrap();
            assert_eq!(p.clock_skew, expected, "{value}");
        }
    }

    #[test]
    fn a_zero_max_lifetime_in_the_file_removes_the_limit_whatever_its_unit() {
        for zero in ["0", "\"0\"", "\"0s\"", "\"0min\""] {
            let text = format!("[[issuer]]\nissuer = \"https://a\"\nmax_lifetime = {zero}\n");
            let file = IssuersFile::parse(&text).unwrap();
            let (p, _) = issuer_policy("https://a", &defaults(), file.find("https://a")).unwrap();
            assert_eq!(p.max_lifetime, None, "{zero}");
        }
    }

    #[test]
    fn malformed_durations_are_refused_by_line_and_key_without_the_value() {
        for (value, expect) in [
            ("\"5sec\"", "unknown duration unit"),
            ("\"5 S\"", "unknown duration unit"),
            ("\"s3cr3tXq\"", "not a duration"),
            ("\"\"", "not a duration"),
            ("\"99999999999s\"", "duration too large"),
            ("1.5", "expected a duration"),
            ("true", "expected a duration"),
            ("99999999999999999999", "out of range (0 – 5min)"),
        ] {
            let text = format!("[[issuer]]\nissuer = \"https://a\"\nclock_skew = {value}\n");
            let err = IssuersFile::parse(&text).unwrap_err().to_string();
            assert!(
                err.starts_with("issuers file line 3, key clock_skew: "),
                "{value}: {err}"
            );
            assert!(err.contains(expect), "{value}: {err}");
            assert!(!err.contains("s3cr3tXq"), "{err}");
        }
    }

    #[test]
    fn durations_outside_the_declared_range_are_refused_naming_the_key_and_line() {
        for (key, value) in [
            ("clock_skew", "\"301s\""),
            ("clock_skew", "\"1h\""),
            ("clock_skew", "-1"),
            ("clock_skew", "\"-1s\""),
            ("max_lifetime", "-5"),
            ("max_lifetime", "2147483648"),
        ] {
            let text = format!("[[issuer]]\nissuer = \"https://a\"\n\n{key} = {value}\n");
            let file = IssuersFile::parse(&text).unwrap();
            let err = issuer_policy("https://a", &defaults(), file.find("https://a"))
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with(&format!("issuers file line 4, key {key}: out of range (")),
                "{key} = {value}: {err}"
            );
            // Another issuer of the same file is not affected.
            assert!(issuer_policy("https://b", &defaults(), file.find("https://b")).is_ok());
        }
        let file =
            IssuersFile::parse("[[issuer]]\nissuer = \"https://a\"\nclock_skew = \"5min\"\n")
                .unwrap();
        let (p, _) = issuer_policy("https://a", &defaults(), file.find("https://a")).unwrap();
        assert_eq!(p.clock_skew, 300, "the top of the range is accepted");
    }

    #[test]
    fn the_file_accepts_exactly_the_keys_the_declaration_marks_per_issuer() {
        use crate::settings::{Kind, SETTINGS};
        for setting in SETTINGS {
            let value = match setting.kind {
                Kind::Text | Kind::Secret | Kind::TextList => "\"x\"",
                Kind::Bool => "true",
                Kind::Int { .. } | Kind::Duration { .. } | Kind::Size { .. } => "1",
                Kind::Strings => "[\"x\"]",
                Kind::Claims => "{ x = \"y\" }",
                Kind::Issuer => continue,
            };
            let text = format!(
                "[[issuer]]\nissuer = \"https://a\"\n{} = {value}\n",
                setting.name
            );
            let parsed = IssuersFile::parse(&text);
            assert_eq!(
                parsed.is_ok(),
                setting.per_issuer,
                "{}: {parsed:?}",
                setting.name
            );
        }
    }

    #[test]
    fn the_declared_defaults_are_the_defaults() {
        let d = Defaults::default();
        assert!(d.audience.is_empty());
        assert_eq!(d.audience_claim, "aud");
        assert_eq!(d.identity_claim, "sub");
        assert_eq!(d.clock_skew, 60);
        assert_eq!(d.max_lifetime, 86_400);
        assert_eq!(d.introspection_auth, "client_secret_basic");
        assert!(!d.strict_typ && !d.userinfo && !d.introspect_jwts);
    }

    #[test]
    fn list_settings_split_on_commas_and_drop_empty_items() {
        assert_eq!(split_list(" a, b ,,c "), vec!["a", "b", "c"]);
        assert!(split_list("").is_empty());
        assert!(split_list(" , ").is_empty());
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
