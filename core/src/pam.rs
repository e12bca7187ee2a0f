//! The PAM module's configuration file (`auth required pam_bearer.so config=FILE`): the
//! issuers file's `[[issuer]]` tables, unchanged, and above them the settings that
//! PostgreSQL 18 takes as `pg_bearer.*` in postgresql.conf, under the same names:
//!
//! ```toml
//! http_timeout = "3s"          # server-wide settings, as pg_bearer.http_timeout
//! ca_file = "/etc/ssl/certs/idp-ca.pem"
//! audience = "postgres"        # a per-issuer setting here is the default for every issuer
//! # cache_dir = "/var/cache/pam_bearer"   # the PAM module's own key (see below)
//!
//! [[issuer]]
//! issuer = "https://idp.example.com/realms/db"
//! identity_claim = "preferred_username"
//! scope = "openid postgres"
//! ```
//!
//! The settings that only make sense inside PostgreSQL 18 (the session's claims, session
//! expiry, the issuers file's own name) are refused, as are unknown keys: a typo must not
//! silently weaken a check. Errors name the line and the key, never a value.

use std::collections::BTreeMap;

use toml::de::DeValue;

use crate::config::{problem, ConfigError, Defaults, FileValue, IssuerOverride, IssuersFile};
use crate::settings::{self, Kind, Setting};

/// Server-wide settings the PAM module takes at the top of its file.
const SERVER_KEYS: &[&str] = &[
    "http_timeout",
    "ca_file",
    "jwks_cache_min",
    "jwks_cache_max",
    "jwks_cache_default",
    "jwks_grace",
    "unknown_kid_cooldown",
    "result_cache_ttl",
    "negative_cache_ttl",
    "unknown_token_rate",
    "unknown_token_burst",
];

/// Where the PAM module keeps its caches; the module's own default when absent.
pub const CACHE_DIR_KEY: &str = "cache_dir";

/// A parsed PAM configuration file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PamConfig {
    /// The `[[issuer]]` tables.
    pub issuers: IssuersFile,
    /// The per-issuer settings' declared defaults, overridden by the file's top level.
    pub defaults: Defaults,
    /// `cache_dir`, if set.
    pub cache_dir: Option<String>,
    /// The server-wide settings, by name: their declared default unless the file sets them.
    /// Durations are in the setting's base unit.
    server: BTreeMap<&'static str, ServerValue>,
}

/// One server-wide setting's value.
#[derive(Clone, Debug, PartialEq, Eq)]
enum ServerValue {
    Int(i64),
    Text(String),
    Bool(bool),
}

impl PamConfig {
    /// Parses the file's text. `test_build` admits the test-only `allow_http` (the module's
    /// Cargo feature `testing`); a release build refuses it as an unknown key.
    pub fn parse(text: &str, test_build: bool) -> Result<PamConfig, ConfigError> {
        let mut top = IssuerOverride::default();
        let mut server = BTreeMap::new();
        let mut cache_dir = None;
        let issuers = IssuersFile::parse_with(text, &mut |key, value, span| {
            let fail = |what: &str| problem(text, span.clone(), Some(key), what);
            if key == CACHE_DIR_KEY {
                match value {
                    DeValue::String(s) if !s.is_empty() => cache_dir = Some(s.to_string()),
                    _ => return Err(fail("wrong type or value: expected a directory path")),
                }
                return Ok(());
            }
            let Some(setting) = settings::lookup(key) else {
                return Err(fail("unknown key"));
            };
            if setting.per_issuer {
                top.set(setting, value).map_err(|what| fail(&what))?;
                top.lines
                    .push((setting.name, crate::config::line_of(text, span.start)));
                return Ok(());
            }
            let test_only = setting.guc.is_some_and(|g| g.test_only);
            let taken =
                SERVER_KEYS.contains(&key) || (test_only && test_build && key == "allow_http");
            if !taken {
                return Err(fail(if setting.guc.is_some() && !test_only {
                    "not used by the PAM module"
                } else {
                    "unknown key"
                }));
            }
            let parsed = server_value(setting, value).map_err(|what| fail(&what))?;
            server.insert(setting.name, parsed);
            Ok(())
        });
        let issuers = issuers?;
        let defaults = Defaults::default().overridden_by(&top)?;
        Ok(PamConfig {
            issuers,
            defaults,
            cache_dir,
            server,
        })
    }

    /// An integer or duration setting: the file's value, else the declared default.
    pub fn int(&self, name: &str) -> i64 {
        match self.server.get(name) {
            Some(ServerValue::Int(i)) => *i,
            _ => settings::lookup(name)
                .map(<i64 as FileValue>::from_default)
                .unwrap_or(0),
        }
    }

    /// A text setting: the file's value, else the declared default (empty for none).
    pub fn text(&self, name: &str) -> String {
        match self.server.get(name) {
            Some(ServerValue::Text(t)) => t.clone(),
            _ => settings::lookup(name)
                .map(<String as FileValue>::from_default)
                .unwrap_or_default(),
        }
    }

    /// A boolean setting: the file's value, else the declared default.
    pub fn flag(&self, name: &str) -> bool {
        match self.server.get(name) {
            Some(ServerValue::Bool(b)) => *b,
            _ => settings::lookup(name)
                .map(<bool as FileValue>::from_default)
                .unwrap_or(false),
        }
    }

    /// Whether any entry writes a client secret inline.
    pub fn holds_secret(&self) -> bool {
        self.issuers.holds_secret()
    }
}

fn server_value(setting: &Setting, value: &DeValue<'_>) -> Result<ServerValue, String> {
    match setting.kind {
        Kind::Int { .. } | Kind::Duration { .. } => {
            let v = i64::from_file(value, setting)?;
            if !v.in_range(setting) {
                let range = setting.kind.describe_range().unwrap_or_default();
                return Err(format!("out of range ({range})"));
            }
            Ok(ServerValue::Int(v))
        }
        Kind::Bool => bool::from_file(value, setting).map(ServerValue::Bool),
        Kind::Text => String::from_file(value, setting).map(ServerValue::Text),
        _ => Err("not used by the PAM module".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<PamConfig, ConfigError> {
        PamConfig::parse(text, false)
    }

    #[test]
    fn the_top_level_takes_server_settings_and_defaults_for_every_issuer() {
        let config = parse(
            "http_timeout = \"2s\"\nca_file = \"/etc/ca.pem\"\naudience = \"db\"\ncache_dir = \"/var/cache/x\"\n\
             [[issuer]]\nissuer = \"https://idp.example\"\nscope = \"openid db\"\n",
        )
        .unwrap();
        assert_eq!(config.int("http_timeout"), 2000);
        assert_eq!(config.text("ca_file"), "/etc/ca.pem");
        assert_eq!(config.defaults.audience, vec!["db".to_owned()]);
        assert_eq!(config.cache_dir.as_deref(), Some("/var/cache/x"));
        let entry = config.issuers.find("https://idp.example").unwrap();
        assert_eq!(entry.scope.as_deref(), Some("openid db"));
    }

    #[test]
    fn unset_server_settings_have_their_declared_defaults() {
        let config =
            parse("[[issuer]]\nissuer = \"https://idp.example\"\naudience = \"db\"\n").unwrap();
        assert_eq!(config.int("http_timeout"), 5000);
        assert_eq!(config.int("jwks_cache_default"), 600);
        assert_eq!(config.int("unknown_kid_cooldown"), 30);
        assert_eq!(config.text("ca_file"), "");
        assert!(!config.flag("allow_http"));
        assert_eq!(config.cache_dir, None);
    }

    #[test]
    fn settings_that_only_postgresql_18_uses_are_refused_by_name() {
        for line in [
            "session_expiry = true",
            "issuers_file = \"/x\"",
            "session_claims = \"*\"",
            "log_validation_time = true",
        ] {
            let e = parse(line).unwrap_err().0;
            assert!(e.contains("not used by the PAM module"), "{line}: {e}");
            assert!(e.contains("line 1"), "{e}");
        }
    }

    #[test]
    fn unknown_keys_and_typos_are_refused_without_their_values() {
        for line in [
            "audiance = \"secret-value\"",
            "cache-dir = \"secret-value\"",
            "test_fault = \"secret-value\"",
        ] {
            let e = parse(line).unwrap_err().0;
            assert!(e.contains("unknown key"), "{line}: {e}");
            assert!(!e.contains("secret-value"), "{e}");
        }
    }

    #[test]
    fn allow_http_is_a_test_build_key_only() {
        assert!(parse("allow_http = true")
            .unwrap_err()
            .0
            .contains("unknown key"));
        let config = PamConfig::parse("allow_http = true", true).unwrap();
        assert!(config.flag("allow_http"));
    }

    #[test]
    fn out_of_range_and_wrongly_typed_values_name_the_key() {
        for (line, key) in [
            ("http_timeout = \"10min\"", "http_timeout"),
            ("http_timeout = 5", "http_timeout"),
            ("jwks_cache_min = 0", "jwks_cache_min"),
            ("ca_file = 3", "ca_file"),
            ("cache_dir = \"\"", "cache_dir"),
            ("cache_dir = 1", "cache_dir"),
            ("clock_skew = \"1h\"", "clock_skew"),
        ] {
            let e = parse(line).unwrap_err().0;
            assert!(e.contains(key), "{line}: {e}");
        }
    }

    #[test]
    fn the_issuer_tables_are_the_issuers_files() {
        let e = parse("[[issuer]]\naudience = \"db\"\n").unwrap_err().0;
        assert!(e.contains("issuer"), "{e}");
        let e = parse("[[issuer]]\nissuer = \"https://a\"\nhttp_timeout = \"1s\"\n")
            .unwrap_err()
            .0;
        assert!(e.contains("server-wide"), "{e}");
        assert!(parse("not toml at all =").is_err());
    }
}
