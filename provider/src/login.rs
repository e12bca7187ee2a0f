//! The decision for one token, whichever module asks: a JWT verified locally against the
//! cached keys, an opaque token through introspection or (opt-in) userinfo. Every check is
//! pg_bearer_core's; this file only sequences them and the fetches they need.

use pg_bearer_core::cache::Need;
use pg_bearer_core::config::{self, Defaults, IssuersFile, OpaqueSettings};
use pg_bearer_core::discovery::{IssuerTarget, ProviderMetadata};
use pg_bearer_core::envelope::{self, Route};
use pg_bearer_core::introspection::{OpaqueRequest, OpaqueVerified};
use pg_bearer_core::json::JsonObject;
use pg_bearer_core::jwks::KeyFilter;
use pg_bearer_core::policy::{verify_jwt, IssuerPolicy, Request};
use pg_bearer_core::reason::{Reason, Rejection};

use crate::opaque::{self, OpaqueCheck};
use crate::refusal::{Failure, Refusal};
use crate::{files, keys, printable, Host, Provider};

/// What an accepted token brings: the identity and the claims it was judged by.
#[derive(Debug)]
pub struct Accepted {
    pub authn_id: String,
    pub claims: JsonObject,
    /// The token's `exp`, when it has one.
    pub expires_at: Option<i64>,
}

/// One issuer's configuration for this login.
pub struct IssuerConfig {
    pub policy: IssuerPolicy,
    /// The key source setting (empty for discovery).
    pub key_source: String,
    pub opaque: OpaqueSettings,
    /// Scopes every token must carry besides the pg_hba line's (the issuers file's `scope`),
    /// space-separated; empty for none.
    pub required_scopes: String,
}

impl IssuerConfig {
    /// The scopes a token must carry: `line`'s (the pg_hba line's `scope=`) and the
    /// configuration's own.
    pub fn scopes(&self, line: &str) -> String {
        format!("{line} {}", self.required_scopes).trim().to_owned()
    }
}

/// The configuration for `issuer`: `defaults`, overridden by its entry in `file` if any.
pub fn issuer_config(
    defaults: &Defaults,
    file: &IssuersFile,
    issuer: &str,
) -> Result<IssuerConfig, String> {
    let entry = file.find(issuer);
    let (policy, key_source) =
        config::issuer_policy(issuer, defaults, entry).map_err(|e| e.to_string())?;
    let opaque = config::opaque_settings(defaults, entry).map_err(|e| e.to_string())?;
    Ok(IssuerConfig {
        policy,
        key_source,
        opaque,
        required_scopes: entry.and_then(|e| e.scope.clone()).unwrap_or_default(),
    })
}

/// Reads a configuration file named by `what` (a setting or a module argument): a regular
/// file no one else can write, parsed by `parse`; if `holds_secret` says the result carries a
/// client secret, the file must also have a secret file's permissions (a looser read
/// permission is a warning).
pub fn read_config<T>(
    what: &str,
    path: &str,
    max: usize,
    host: &dyn Host,
    parse: impl FnOnce(&str) -> Result<T, String>,
    holds_secret: impl FnOnce(&T) -> bool,
) -> Result<T, String> {
    let (bytes, meta) =
        files::read_with_metadata(path, max).map_err(|e| format!("{what} {path}: {e}"))?;
    files::check_not_writable_by_others(&meta).map_err(|e| format!("{what} {path}: {e}"))?;
    let text = String::from_utf8(bytes).map_err(|_| format!("{what} {path}: not UTF-8"))?;
    let parsed = parse(&text).map_err(|e| format!("{path}: {e}"))?;
    if holds_secret(&parsed) {
        let warning = files::check_secret_permissions(&meta)
            .map_err(|e| format!("{what} {path}: holds a client_secret and {e}"))?;
        if let Some(w) = warning {
            host.warning(&format!(
                "{what} {}: holds a client_secret and {w}",
                printable(path)
            ));
        }
    }
    Ok(parsed)
}

/// One login attempt with everything it is judged by.
pub struct Login<'a> {
    pub token: &'a str,
    /// The database role asked for (PostgreSQL 18), or the PAM user.
    pub role: &'a str,
    /// Seconds since the Unix epoch.
    pub now: i64,
    /// The scopes the token must carry, space-separated (the pg_hba line's `scope=`).
    pub scopes: &'a str,
    /// Whether the requested role must be in the token's role claim.
    pub delegate_ident_mapping: bool,
    pub target: &'a IssuerTarget,
    pub config: &'a IssuerConfig,
    pub provider: Provider<'a>,
}

impl Login<'_> {
    /// Judges the token. Anything a lenient decoder could read as a JWS is judged here and only
    /// here: a non-canonical encoding is refused before any request (see envelope::route).
    pub fn check(&self) -> Result<Accepted, Refusal> {
        match envelope::route(self.token) {
            Route::Jws => self.jwt(),
            Route::RefuseAsJws(reason) => Err(Refusal::Token(reason.into())),
            Route::Opaque => self.opaque(),
        }
    }

    /// Judges the token by the provider's answer only (userinfo or introspection), whatever
    /// its shape: the PAM module's pam_oauth2-compatible mode, which sends every token to the
    /// userinfo URL it names.
    pub fn check_opaque(&self) -> Result<Accepted, Refusal> {
        self.opaque()
    }

    /// A JWT: verified locally and only locally (introspection never rescues a JWT that failed
    /// a local check); with `introspect_jwts`, a verified JWT must also be active at the
    /// provider.
    fn jwt(&self) -> Result<Accepted, Refusal> {
        let request = Request {
            token: self.token,
            hba_scopes: self.scopes,
            requested_role: self.role,
            delegate_ident_mapping: self.delegate_ident_mapping,
            now: self.now,
        };
        let policy = &self.config.policy;
        // Only the keys the token's kid names are built; a header that does not parse is
        // refused by verify_jwt whatever the keys.
        let kid = envelope::header_kid(self.token).ok().flatten();
        let filter = Some(kid.as_deref().map_or(KeyFilter::All, KeyFilter::Kid));
        let mut keys = self.keys(Need::Fresh, filter)?;
        let mut outcome = verify_jwt(&request, &keys.set, policy);
        if matches!(&outcome, Err(r) if r.reason == Reason::UnknownKid) {
            // The provider may have rotated its keys: one rate-limited refetch (the cache
            // decides).
            let need = Need::KidMissing {
                seen_generation: keys.generation,
            };
            if let Ok(newer) = self.keys(need, filter) {
                if newer.generation != keys.generation {
                    keys = newer;
                    outcome = verify_jwt(&request, &keys.set, policy);
                }
            }
        }
        let verified = outcome.map_err(|mut r| {
            // A kid is repeated in the log only if it names one of the provider's keys: an
            // unknown kid is attacker-chosen text.
            if r.kid.as_deref().is_some_and(|k| !keys.set.contains_kid(k)) {
                r.kid = None;
            }
            Refusal::Token(r)
        })?;
        if self.config.opaque.introspect_jwts {
            let endpoint = introspection_endpoint(
                &self.config.opaque,
                keys.metadata().as_ref(),
                self.provider.host,
            )?;
            opaque::introspect(
                &OpaqueCheck {
                    budgeted: false,
                    ..self.opaque_check()
                },
                &endpoint,
            )?;
        }
        Ok(Accepted {
            authn_id: verified.authn_id,
            claims: verified.claims,
            expires_at: Some(verified.exp),
        })
    }

    /// An opaque token: introspection if configured, else userinfo if enabled, else refused.
    fn opaque(&self) -> Result<Accepted, Refusal> {
        let opaque = &self.config.opaque;
        let metadata = || -> Result<Option<ProviderMetadata>, Refusal> {
            Ok(self.keys(Need::Fresh, None)?.metadata())
        };
        if opaque.introspection_configured() {
            let endpoint = if opaque.introspection_endpoint.is_empty() {
                introspection_endpoint(opaque, metadata()?.as_ref(), self.provider.host)?
            } else {
                opaque.introspection_endpoint.clone()
            };
            return Ok(accepted(opaque::introspect(
                &self.opaque_check(),
                &endpoint,
            )?));
        }
        if opaque.userinfo {
            let endpoint = match &opaque.userinfo_endpoint {
                Some(url) => url.clone(),
                None => metadata()?
                    .as_ref()
                    .and_then(|m| m.userinfo_endpoint().map(str::to_owned))
                    .ok_or_else(|| {
                        Failure::new(
                            Reason::NotConfigured,
                            "no userinfo endpoint in the provider's metadata",
                        )
                    })?,
            };
            return Ok(accepted(opaque::userinfo(&self.opaque_check(), &endpoint)?));
        }
        let name = |key| self.provider.host.setting_name(key);
        Err(Failure::new(
            Reason::OpaqueToken,
            format!(
                "not a JWT, and neither introspection ({}, {}) nor userinfo is configured",
                name("client_id"),
                name("client_secret_file")
            ),
        )
        .into())
    }

    fn keys(&self, need: Need, filter: Option<KeyFilter<'_>>) -> Result<keys::Keys, Failure> {
        keys::keys(
            self.target,
            &self.config.key_source,
            need,
            self.provider,
            filter,
        )
    }

    fn opaque_check(&self) -> OpaqueCheck<'_> {
        OpaqueCheck {
            token: self.token,
            issuer: self.target.issuer(),
            request: OpaqueRequest {
                hba_scopes: self.scopes,
                requested_role: self.role,
                delegate_ident_mapping: self.delegate_ident_mapping,
                now: self.now,
            },
            policy: &self.config.policy,
            opaque: &self.config.opaque,
            provider: self.provider,
            budgeted: true,
        }
    }
}

fn accepted(verified: OpaqueVerified) -> Accepted {
    Accepted {
        authn_id: verified.authn_id,
        claims: verified.claims,
        expires_at: verified.exp,
    }
}

/// The configured introspection endpoint, else discovery's.
fn introspection_endpoint(
    opaque: &OpaqueSettings,
    metadata: Option<&ProviderMetadata>,
    host: &dyn Host,
) -> Result<String, Failure> {
    if !opaque.introspection_configured() {
        return Err(Failure::new(
            Reason::NotConfigured,
            format!(
                "introspection needs {} and {}",
                host.setting_name("client_id"),
                host.setting_name("client_secret_file")
            ),
        ));
    }
    if !opaque.introspection_endpoint.is_empty() {
        return Ok(opaque.introspection_endpoint.clone());
    }
    metadata
        .and_then(|m| m.introspection_endpoint().map(str::to_owned))
        .ok_or_else(|| {
            Failure::new(
                Reason::NotConfigured,
                format!(
                    "no introspection endpoint (set {})",
                    host.setting_name("introspection_endpoint")
                ),
            )
        })
}

/// `claim=`, `kid=` and `identity=` of a token refusal, for the log line.
pub fn context(rejection: &Rejection) -> String {
    let mut context = String::new();
    if let Some(claim) = rejection.claim {
        context.push_str(&format!("claim={claim} "));
    }
    if let Some(kid) = &rejection.kid {
        context.push_str(&format!("kid=\"{}\" ", printable(kid)));
    }
    if let Some(identity) = &rejection.identity {
        context.push_str(&format!("identity=\"{}\"", printable(identity)));
    }
    context.trim_end().to_owned()
}

/// `key="text"`, the text made printable, for the log line.
pub fn detail(key: &str, text: &str) -> String {
    format!("{key}=\"{}\"", printable(text))
}
