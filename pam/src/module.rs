//! One PAM login: the module's arguments, its configuration, the token, the decision, the log.

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::path::PathBuf;
use std::time::Duration;

use pg_bearer_core::config::{self, Defaults, IssuersFile};
use pg_bearer_core::discovery::IssuerTarget;
use pg_bearer_core::envelope::{self, Route};
use pg_bearer_core::pam::PamConfig;
use pg_bearer_core::reason::{Outcome, Reason};
use pg_bearer_core::request_budget::BudgetPolicy;
use pg_bearer_provider::login::{self, context, detail, Login};
use pg_bearer_provider::refusal::Refusal;
use pg_bearer_provider::{printable, Host, Provider, ProviderSettings};

use crate::ffi::{
    self, PamHandle, PAM_AUTHINFO_UNAVAIL, PAM_AUTH_ERR, PAM_SERVICE_ERR, PAM_SUCCESS,
};
use crate::store::{CacheDir, FileKeyStore, FileResultStore};

/// The name under which the authenticated user is kept in the PAM handle.
const DATA_NAME: &CStr = c"pam_bearer_authenticated_user";

/// Lines go to syslog through `pam_syslog` (which prefixes the service and module), and to
/// the process's stderr: inside PostgreSQL that is the server log, where a DBA looks first,
/// beside the server's own `pam_authenticate failed` line. Callers pass only reason codes and
/// text made safe with [`printable`]; never any part of a token.
pub(crate) fn log(pamh: *mut PamHandle, priority: c_int, line: &str) {
    eprintln!("{line}");
    syslog(pamh, priority, line);
}

/// A line for syslog only: accepted logins, which the server logs itself ("connection
/// authorized") and which would otherwise double every login's lines in its log.
fn syslog(pamh: *mut PamHandle, priority: c_int, line: &str) {
    let Ok(line) = CString::new(line.replace('\0', "\\0")) else {
        return;
    };
    // SAFETY: pam_syslog (security/pam_ext.h) with a "%s" format and one NUL-terminated
    // argument, on the handle libpam gave us.
    unsafe { ffi::pam_syslog(pamh, priority, c"%s".as_ptr(), line.as_ptr()) };
}

/// The host of this login's provider calls: its log is syslog; waiting is a plain sleep (a PAM
/// module has no interrupts to serve: the server ends the process at authentication_timeout).
struct PamHost {
    pamh: *mut PamHandle,
}

impl Host for PamHost {
    fn warning(&self, line: &str) {
        log(self.pamh, ffi::LOG_WARNING, &format!("pam_bearer: {line}"));
    }

    fn owner_alive(&self, pid: std::num::NonZeroI32) -> bool {
        crate::store::process_alive(pid)
    }
}

/// How the module was configured on its service-file line.
enum Source {
    /// `config=FILE`: the issuers-file format with the server settings on top.
    File(String),
    /// pam_oauth2's arguments, `USERINFO_URL USERNAME_FIELD [CLAIM=VALUE ...]`: userinfo
    /// decides, as pam_oauth2 did, with pg_bearer's deadline, TLS and cache. `config=FILE`
    /// among them (a name pam_oauth2 never gave a claim) takes the file's top-level settings
    /// (`ca_file`, `http_timeout`, `cache_dir`, ...); its `[[issuer]]` tables are not used.
    Userinfo {
        url: String,
        field: String,
        required: Vec<(String, String)>,
        config: Option<String>,
    },
}

fn parse_args(args: &[String]) -> Result<Source, String> {
    if let Some(first) = args
        .first()
        .filter(|a| a.starts_with("https://") || a.starts_with("http://"))
    {
        let field = args
            .get(1)
            .filter(|a| !a.contains('='))
            .ok_or("userinfo mode (pam_oauth2's arguments): the second argument must name the username field")?;
        let mut required = Vec::new();
        let mut config = None;
        for a in &args[2..] {
            match a.split_once('=') {
                Some(("config", path)) if !path.is_empty() => config = Some(path.to_owned()),
                Some((k, v)) if !k.is_empty() => required.push((k.to_owned(), v.to_owned())),
                _ => return Err(format!("argument \"{}\" is not CLAIM=VALUE", printable(a))),
            }
        }
        return Ok(Source::Userinfo {
            url: first.clone(),
            field: field.clone(),
            required,
            config,
        });
    }
    let mut config = None;
    for arg in args {
        match arg.split_once('=') {
            Some(("config", path)) if !path.is_empty() => config = Some(path.to_owned()),
            _ => {
                return Err(format!(
                    "unknown argument \"{}\" (expected config=FILE)",
                    printable(arg)
                ))
            }
        }
    }
    config
        .map(Source::File)
        .ok_or_else(|| "no config=FILE argument".to_owned())
}

/// Everything the configuration decides for a login.
struct Loaded {
    issuers: IssuersFile,
    defaults: Defaults,
    provider: ProviderSettings,
    cache_dir: Option<String>,
}

fn load(source: &Source, host: &PamHost) -> Result<Loaded, String> {
    let test_build = cfg!(feature = "testing");
    let file = match source {
        Source::File(path) => Some(path),
        Source::Userinfo { config, .. } => config.as_ref(),
    };
    let pam = match file {
        Some(path) => login::read_config(
            "config",
            path,
            config::MAX_ISSUERS_FILE_LEN,
            host,
            |text| PamConfig::parse(text, test_build).map_err(|e| e.to_string()),
            PamConfig::holds_secret,
        )?,
        None => PamConfig::parse("", test_build).map_err(|e| e.to_string())?,
    };
    let ms = |name| Duration::from_millis(u64::try_from(pam.int(name)).unwrap_or(0));
    let secs = |name| Duration::from_secs(u64::try_from(pam.int(name)).unwrap_or(0));
    let unsigned = |name| u32::try_from(pam.int(name)).unwrap_or(0);
    let provider = ProviderSettings {
        http_timeout: ms("http_timeout"),
        ca_file: pam.text("ca_file"),
        allow_http: pam.flag("allow_http"),
        result_cache_ttl: secs("result_cache_ttl"),
        negative_cache_ttl: secs("negative_cache_ttl"),
        unknown_token_budget: BudgetPolicy {
            rate: unsigned("unknown_token_rate"),
            burst: unsigned("unknown_token_burst"),
        },
        cache_min: unsigned("jwks_cache_min"),
        cache_max: unsigned("jwks_cache_max"),
        cache_default: unsigned("jwks_cache_default"),
        cache_grace: secs("jwks_grace"),
        unknown_kid_cooldown: secs("unknown_kid_cooldown"),
    };
    Ok(Loaded {
        issuers: pam.issuers.clone(),
        defaults: pam.defaults.clone(),
        provider,
        cache_dir: pam.cache_dir.clone(),
    })
}

/// The result of one authentication, before it becomes a PAM code.
enum Verdict {
    Accepted,
    Refused(Reason, Option<String>, String),
}

pub(crate) fn authenticate(pamh: *mut PamHandle, args: &[String]) -> c_int {
    let host = PamHost { pamh };
    let source = match parse_args(args) {
        Ok(s) => s,
        Err(e) => {
            log(
                pamh,
                ffi::LOG_ERR,
                &format!(
                    "pam_bearer: token rejected: reason={} detail=\"{}\"",
                    Reason::NotConfigured.code(),
                    printable(&e)
                ),
            );
            return PAM_SERVICE_ERR;
        }
    };
    let Some(user) = pam_user(pamh) else {
        log(
            pamh,
            ffi::LOG_ERR,
            "pam_bearer: internal error: no user name",
        );
        return PAM_SERVICE_ERR;
    };
    let token = match pam_token(pamh) {
        Ok(t) => t,
        Err(()) => {
            log(
                pamh,
                ffi::LOG_ERR,
                "pam_bearer: internal error: the conversation gave no password",
            );
            return PAM_AUTH_ERR;
        }
    };
    let verdict = decide(&host, &source, &user, &token);
    match verdict {
        Verdict::Accepted => {
            remember_user(pamh, &user);
            syslog(
                pamh,
                ffi::LOG_INFO,
                &format!("pam_bearer: token accepted: user=\"{}\"", printable(&user)),
            );
            PAM_SUCCESS
        }
        Verdict::Refused(reason, issuer, detail) => {
            let mut line = format!(
                "pam_bearer: token rejected: reason={} issuer=\"{}\" user=\"{}\"",
                reason.code(),
                issuer
                    .as_deref()
                    .map(printable)
                    .unwrap_or_else(|| "-".into()),
                printable(&user)
            );
            if !detail.is_empty() {
                line.push(' ');
                line.push_str(&detail);
            }
            let priority = match reason.outcome() {
                Outcome::InternalFailure => ffi::LOG_ERR,
                Outcome::Refused if reason.level() == pg_bearer_core::reason::LogLevel::Warning => {
                    ffi::LOG_WARNING
                }
                Outcome::Refused => ffi::LOG_NOTICE,
            };
            log(pamh, priority, &line);
            match reason {
                Reason::DiscoveryFailed
                | Reason::JwksUnavailable
                | Reason::KeysUnavailable
                | Reason::IntrospectionFailed
                | Reason::UserinfoFailed => PAM_AUTHINFO_UNAVAIL,
                _ if reason.outcome() == Outcome::InternalFailure => PAM_SERVICE_ERR,
                _ => PAM_AUTH_ERR,
            }
        }
    }
}

fn decide(host: &PamHost, source: &Source, user: &str, token: &str) -> Verdict {
    let refuse = |reason, issuer: Option<&str>, detail: String| {
        Verdict::Refused(reason, issuer.map(str::to_owned), detail)
    };
    let loaded = match load(source, host) {
        Ok(l) => l,
        Err(e) => return refuse(Reason::NotConfigured, None, detail("configuration", &e)),
    };
    if token.is_empty() {
        return refuse(
            Reason::MalformedToken,
            None,
            detail("detail", "empty password"),
        );
    }
    if token.len() > envelope::MAX_TOKEN_LEN {
        return refuse(Reason::TokenTooLarge, None, String::new());
    }
    // Which configuration judges the token: a JWT's own iss (read unverified, only to choose;
    // the verification then requires that same issuer), else the first issuer that validates
    // opaque tokens.
    let (issuer, mut config) = match (&source, envelope::route(token)) {
        (
            Source::Userinfo {
                url,
                field,
                required,
                ..
            },
            _,
        ) => {
            let mut defaults = loaded.defaults.clone();
            defaults.identity_claim = field.clone();
            // Userinfo proves no audience; the policy needs one to be valid.
            defaults.audience = vec![url.clone()];
            // An answer that names its issuer is checked against it: `iss=ISSUER` among the
            // arguments (which pam_oauth2 read as "the answer's iss must be ISSUER") names it;
            // without one, the userinfo URL stands in, and an answer with an iss is refused.
            let issuer = required
                .iter()
                .find(|(k, _)| k == "iss")
                .map_or_else(|| url.clone(), |(_, v)| v.clone());
            let mut c = match login::issuer_config(&defaults, &IssuersFile::default(), &issuer) {
                Ok(c) => c,
                Err(e) => {
                    return refuse(
                        Reason::NotConfigured,
                        Some(&issuer),
                        detail("configuration", &e),
                    )
                }
            };
            c.opaque.userinfo = true;
            c.opaque.userinfo_endpoint = Some(url.clone());
            for (k, v) in required {
                match pg_bearer_core::claims::ClaimPath::parse(k) {
                    Ok(path) => c.policy.required_claims.push((path, v.clone())),
                    Err(_) => {
                        return refuse(
                            Reason::NotConfigured,
                            Some(&issuer),
                            detail("configuration", "a required claim is not a claim name"),
                        )
                    }
                }
            }
            (issuer, c)
        }
        (Source::File(_), route) => {
            let candidate = match route {
                Route::Jws => envelope::unverified_issuer(token)
                    .filter(|iss| loaded.issuers.find(iss).is_some()),
                _ => None,
            };
            let candidate = candidate.or_else(|| match route {
                Route::Jws => loaded
                    .issuers
                    .entries()
                    .first()
                    .map(|e| e.issuer().to_owned()),
                _ => loaded
                    .issuers
                    .entries()
                    .iter()
                    .find(|e| {
                        login::issuer_config(&loaded.defaults, &loaded.issuers, e.issuer())
                            .is_ok_and(|c| c.opaque.introspection_configured() || c.opaque.userinfo)
                    })
                    .or_else(|| loaded.issuers.entries().first())
                    .map(|e| e.issuer().to_owned()),
            });
            let Some(issuer) = candidate else {
                return refuse(
                    Reason::NotConfigured,
                    None,
                    detail("configuration", "no [[issuer]] is configured"),
                );
            };
            match login::issuer_config(&loaded.defaults, &loaded.issuers, &issuer) {
                Ok(c) => (issuer, c),
                Err(e) => {
                    return refuse(
                        Reason::NotConfigured,
                        Some(&issuer),
                        detail("configuration", &e),
                    )
                }
            }
        }
    };
    let target = match &source {
        Source::Userinfo { .. } => None,
        Source::File(_) => match IssuerTarget::from_hba(&issuer, loaded.provider.allow_http) {
            Ok(t) => Some(t),
            Err(e) => {
                return refuse(
                    Reason::NotConfigured,
                    Some(&issuer),
                    detail("issuer", &e.to_string()),
                )
            }
        },
    };
    let target = match target {
        Some(t) => t,
        // pam_oauth2's mode has no issuer; the target only names the cache's slot and the
        // log's issuer (no key is ever fetched for it: userinfo decides every token).
        None => match IssuerTarget::from_hba(&issuer, loaded.provider.allow_http) {
            Ok(t) => t,
            Err(e) => {
                return refuse(
                    Reason::NotConfigured,
                    Some(&issuer),
                    detail("userinfo URL", &e.to_string()),
                )
            }
        },
    };
    let issuer = target.issuer().to_owned();
    let scopes = match source {
        // Userinfo answers only for tokens granted `openid` (OIDC Core 5.3), which pam_oauth2
        // relied on; a userinfo answer that lists its scopes must then list it. (Implicit
        // scopes would otherwise drop it, and a check needs one scope.)
        Source::Userinfo { .. } => {
            config.policy.implicit_scopes.clear();
            "openid".to_owned()
        }
        Source::File(_) => config.scopes(""),
    };
    // The user must be in the role claim when one is configured, else be the identity.
    let delegate = config.policy.role_claim.is_some();
    if let Err(r) = pg_bearer_core::policy::check_line(&config.policy, &scopes, delegate) {
        return refuse(r.reason, Some(&issuer), context(&r));
    }
    let cache_path = loaded
        .cache_dir
        .as_deref()
        .map(PathBuf::from)
        .unwrap_or_else(CacheDir::default_path);
    let complain = |line: &str| host.warning(line);
    let dir = match CacheDir::open(&cache_path) {
        Ok(d) => Some(d),
        Err(e) => {
            host.warning(&format!("cache directory not used: {}", printable(&e)));
            None
        }
    };
    let keys = FileKeyStore {
        dir: dir.clone(),
        complain: &complain,
    };
    let results = FileResultStore {
        dir,
        max_ttl_ms: i64::try_from(
            loaded
                .provider
                .result_cache_ttl
                .max(loaded.provider.negative_cache_ttl)
                .as_millis(),
        )
        .unwrap_or(i64::MAX),
        complain: &complain,
    };
    let provider = Provider {
        settings: &loaded.provider,
        host,
        keys: &keys,
        results: &results,
    };
    let now = pg_bearer_provider::clock::now_ms() / 1000;
    let login = Login {
        token,
        role: user,
        now,
        scopes: &scopes,
        delegate_ident_mapping: delegate,
        target: &target,
        config: &config,
        provider,
    };
    // pam_oauth2 sent every token to userinfo, JWTs too; so does its mode here.
    let outcome = if matches!(source, Source::Userinfo { .. }) {
        login.check_opaque()
    } else {
        login.check()
    };
    match outcome {
        Ok(accepted) if delegate || accepted.authn_id == user => Verdict::Accepted,
        Ok(accepted) => refuse(
            Reason::RoleNotGranted,
            Some(&issuer),
            format!(
                "identity=\"{}\" detail=\"the user name is not the token's identity\"",
                printable(&accepted.authn_id)
            ),
        ),
        Err(Refusal::Provider(e)) => refuse(e.reason, Some(&issuer), detail("detail", &e.detail)),
        Err(Refusal::Token(r)) => refuse(r.reason, Some(&issuer), context(&r)),
    }
}

fn pam_user(pamh: *mut PamHandle) -> Option<String> {
    let mut user: *const c_char = std::ptr::null();
    // SAFETY: pam_get_user (security/pam_modules.h) sets user to a string libpam owns.
    let rc = unsafe { ffi::pam_get_user(pamh, &mut user, std::ptr::null()) };
    if rc != PAM_SUCCESS || user.is_null() {
        return None;
    }
    // SAFETY: non-NULL, NUL-terminated, valid for this call.
    let user = unsafe { CStr::from_ptr(user) };
    user.to_str().ok().map(str::to_owned)
}

/// The password the client sent (PostgreSQL answers the conversation with it).
fn pam_token(pamh: *mut PamHandle) -> Result<String, ()> {
    let mut tok: *const c_char = std::ptr::null();
    // SAFETY: pam_get_authtok (security/pam_ext.h) sets tok to a string libpam owns.
    let rc = unsafe { ffi::pam_get_authtok(pamh, ffi::PAM_AUTHTOK, &mut tok, std::ptr::null()) };
    if rc != PAM_SUCCESS || tok.is_null() {
        return Err(());
    }
    // SAFETY: non-NULL, NUL-terminated, valid for this call.
    let tok = unsafe { CStr::from_ptr(tok) };
    // Not UTF-8 is no token: it is judged (and refused) like any other text.
    Ok(tok.to_string_lossy().into_owned())
}

fn remember_user(pamh: *mut PamHandle, user: &str) {
    let data = Box::into_raw(Box::new(user.to_owned())).cast::<c_void>();
    // SAFETY: pam_set_data keeps data until pam_end, then calls free_user on it, which takes
    // it back as the Box it is.
    let rc = unsafe { ffi::pam_set_data(pamh, DATA_NAME.as_ptr(), data, Some(crate::free_user)) };
    if rc != PAM_SUCCESS {
        // SAFETY: libpam did not take it; it is still ours.
        drop(unsafe { Box::from_raw(data.cast::<String>()) });
    }
}

/// Whether this handle's user is the one `pam_sm_authenticate` accepted.
pub(crate) fn authenticated_here(pamh: *mut PamHandle) -> bool {
    let mut data: *const c_void = std::ptr::null();
    // SAFETY: pam_get_data returns what remember_user stored under the name, if anything.
    let rc = unsafe { ffi::pam_get_data(pamh, DATA_NAME.as_ptr(), &mut data) };
    if rc != PAM_SUCCESS || data.is_null() {
        return false;
    }
    // SAFETY: only remember_user stores under DATA_NAME, a Box<String>, alive until pam_end.
    let accepted = unsafe { &*data.cast::<String>() };
    pam_user(pamh).is_some_and(|u| &u == accepted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_config_argument_is_required_and_nothing_else_is_taken() {
        assert!(
            matches!(parse_args(&args(&["config=/etc/x.toml"])), Ok(Source::File(p)) if p == "/etc/x.toml")
        );
        assert!(parse_args(&args(&[])).is_err());
        assert!(parse_args(&args(&["config="])).is_err());
        assert!(parse_args(&args(&["confg=/etc/x.toml"])).is_err());
        assert!(parse_args(&args(&["config=/a", "debug"])).is_err());
    }

    #[test]
    fn pam_oauth2s_arguments_select_userinfo_mode() {
        match parse_args(&args(&[
            "https://idp/userinfo",
            "preferred_username",
            "groups=db",
        ])) {
            Ok(Source::Userinfo {
                url,
                field,
                required,
                config,
            }) => {
                assert_eq!(url, "https://idp/userinfo");
                assert_eq!(field, "preferred_username");
                assert_eq!(required, vec![("groups".to_owned(), "db".to_owned())]);
                assert_eq!(config, None);
            }
            _ => panic!("not userinfo mode"),
        }
        assert!(parse_args(&args(&["https://idp/userinfo"])).is_err());
        assert!(parse_args(&args(&["https://idp/userinfo", "sub", "oops"])).is_err());
        assert!(parse_args(&args(&["https://idp/userinfo", "sub", "=x"])).is_err());
        match parse_args(&args(&[
            "https://idp/userinfo",
            "sub",
            "config=/etc/p.toml",
        ])) {
            Ok(Source::Userinfo {
                config, required, ..
            }) => {
                assert_eq!(config.as_deref(), Some("/etc/p.toml"));
                assert!(required.is_empty());
            }
            _ => panic!("not userinfo mode"),
        }
    }
}
