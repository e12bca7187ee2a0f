//! The `pg_bearer.*` settings. Statics stay private; the rest of the crate reads a
//! [`Settings`] snapshot. All are `SIGHUP` (postgresql.conf, `pg_reload_conf()`): a backend
//! reads them when it authenticates, so a reload applies to the next login.

use std::ffi::{CStr, CString};
use std::time::Duration;

use pgrx::guc::{GucContext, GucFlags, GucRegistry, GucSetting};

static AUDIENCE: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
static AUDIENCE_CLAIM: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(c"aud"));
static IDENTITY_CLAIM: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(c"sub"));
static ROLE_CLAIM: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
static CLOCK_SKEW: GucSetting<i32> = GucSetting::<i32>::new(60);
static MAX_LIFETIME: GucSetting<i32> = GucSetting::<i32>::new(86_400);
static STRICT_TYP: GucSetting<bool> = GucSetting::<bool>::new(false);
static HTTP_TIMEOUT: GucSetting<i32> = GucSetting::<i32>::new(5_000);
static CA_FILE: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
#[cfg(feature = "testing")]
static ALLOW_HTTP: GucSetting<bool> = GucSetting::<bool>::new(false);
static JWKS_SOURCE: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
static ISSUERS_FILE: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
static CLIENT_ID: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
static CLIENT_SECRET_FILE: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
static INTROSPECTION_ENDPOINT: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(None);
static INTROSPECTION_AUTH: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(c"client_secret_basic"));
static INTROSPECT_JWTS: GucSetting<bool> = GucSetting::<bool>::new(false);
static USERINFO: GucSetting<bool> = GucSetting::<bool>::new(false);
static RESULT_CACHE_TTL: GucSetting<i32> = GucSetting::<i32>::new(60);
static NEGATIVE_CACHE_TTL: GucSetting<i32> = GucSetting::<i32>::new(5);
static UNKNOWN_TOKEN_RATE: GucSetting<i32> = GucSetting::<i32>::new(10);
static UNKNOWN_TOKEN_BURST: GucSetting<i32> = GucSetting::<i32>::new(50);
static CACHE_MIN: GucSetting<i32> = GucSetting::<i32>::new(60);
static CACHE_MAX: GucSetting<i32> = GucSetting::<i32>::new(86_400);
static CACHE_DEFAULT: GucSetting<i32> = GucSetting::<i32>::new(600);
static CACHE_GRACE: GucSetting<i32> = GucSetting::<i32>::new(3_600);
static UNKNOWN_KID_COOLDOWN: GucSetting<i32> = GucSetting::<i32>::new(30);
static LOG_VALIDATION_TIME: GucSetting<bool> = GucSetting::<bool>::new(false);
#[cfg(feature = "testing")]
static TEST_FAULT: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);

fn string(
    name: &'static CStr,
    short: &'static CStr,
    long: &'static CStr,
    setting: &'static GucSetting<Option<CString>>,
) {
    GucRegistry::define_string_guc(
        name,
        short,
        long,
        setting,
        GucContext::Sighup,
        GucFlags::default(),
    );
}

#[allow(clippy::too_many_arguments)]
fn int(
    name: &'static CStr,
    short: &'static CStr,
    long: &'static CStr,
    setting: &'static GucSetting<i32>,
    min: i32,
    max: i32,
    unit: GucFlags,
) {
    GucRegistry::define_int_guc(
        name,
        short,
        long,
        setting,
        min,
        max,
        GucContext::Sighup,
        unit,
    );
}

fn boolean(
    name: &'static CStr,
    short: &'static CStr,
    long: &'static CStr,
    setting: &'static GucSetting<bool>,
) {
    GucRegistry::define_bool_guc(
        name,
        short,
        long,
        setting,
        GucContext::Sighup,
        GucFlags::default(),
    );
}

pub(crate) fn register() {
    string(
        c"pg_bearer.audience",
        c"Comma-separated audiences this server accepts; a token must carry one of them.",
        c"Unset (the default) rejects every token: the module is then not configured.",
        &AUDIENCE,
    );
    string(
        c"pg_bearer.audience_claim",
        c"Claim holding the token's audience (a name or a JSON Pointer).",
        c"Defaults to aud. Cognito access tokens have no aud: use client_id.",
        &AUDIENCE_CLAIM,
    );
    string(
        c"pg_bearer.identity_claim",
        c"Claim whose value becomes the authenticated identity (a name or a JSON Pointer).",
        c"Defaults to sub. email requires email_verified to be true.",
        &IDENTITY_CLAIM,
    );
    string(
        c"pg_bearer.role_claim",
        c"Claim listing the roles a token may use under delegate_ident_mapping=1.",
        c"A name or JSON Pointer to a string, an array of strings, or an object whose keys are roles. Unset (the default): delegate mode refuses every token.",
        &ROLE_CLAIM,
    );
    int(
        c"pg_bearer.clock_skew",
        c"Leeway for exp, nbf and iat.",
        c"Defaults to 60 s.",
        &CLOCK_SKEW,
        0,
        300,
        GucFlags::UNIT_S,
    );
    int(
        c"pg_bearer.max_lifetime",
        c"Longest accepted token lifetime (exp - iat and exp - now); 0 means no limit.",
        c"Defaults to 24 hours.",
        &MAX_LIFETIME,
        0,
        i32::MAX,
        GucFlags::UNIT_S,
    );
    boolean(
        c"pg_bearer.strict_typ",
        c"Accept only JWTs typed at+jwt (RFC 9068).",
        c"Off (the default) also accepts a missing typ and typ JWT, and always refuses explicit non-access types such as id_token+jwt.",
        &STRICT_TYP,
    );
    int(
        c"pg_bearer.http_timeout",
        c"Deadline for each request to the provider.",
        c"Defaults to 5 s; capped at a fifth of authentication_timeout, since one login makes up to four requests.",
        &HTTP_TIMEOUT,
        100,
        60_000,
        GucFlags::UNIT_MS,
    );
    string(
        c"pg_bearer.ca_file",
        c"PEM file of CA certificates trusted for the provider in addition to the system roots.",
        c"",
        &CA_FILE,
    );
    // A test-only switch: it exists only in libraries built with the Cargo feature `testing`.
    #[cfg(feature = "testing")]
    boolean(
        c"pg_bearer.allow_http",
        c"Test builds only: allow plain-HTTP providers. Every use is logged.",
        c"Exists only in libraries built with the Cargo feature testing, which release builds never enable.",
        &ALLOW_HTTP,
    );
    string(
        c"pg_bearer.jwks",
        c"Where keys come from instead of discovery: an https JWKS URL or an absolute path to a JWKS file.",
        c"Unset (the default): discovery from the pg_hba issuer.",
        &JWKS_SOURCE,
    );
    string(
        c"pg_bearer.issuers_file",
        c"TOML file with one [[issuer]] table per issuer, overriding the other settings for that issuer.",
        c"Read at every login, so edits apply without a reload. Unknown keys are errors.",
        &ISSUERS_FILE,
    );
    int(
        c"pg_bearer.jwks_cache_min",
        c"Shortest time keys are cached, whatever the provider's Cache-Control says.",
        c"Defaults to 60 s. Keeps providers that send no-cache (Keycloak) from being fetched at every login; rotation is handled by the unknown-kid refetch.",
        &CACHE_MIN,
        1,
        i32::MAX,
        GucFlags::UNIT_S,
    );
    int(
        c"pg_bearer.jwks_cache_max",
        c"Longest time keys are cached.",
        c"Defaults to 24 hours.",
        &CACHE_MAX,
        1,
        i32::MAX,
        GucFlags::UNIT_S,
    );
    int(
        c"pg_bearer.jwks_cache_default",
        c"How long keys are cached when the provider sends no Cache-Control.",
        c"Defaults to 10 minutes.",
        &CACHE_DEFAULT,
        1,
        i32::MAX,
        GucFlags::UNIT_S,
    );
    int(
        c"pg_bearer.jwks_grace",
        c"How long cached keys keep working after they go stale while the provider cannot be reached.",
        c"Defaults to 1 hour; 0 fails closed as soon as a refresh fails.",
        &CACHE_GRACE,
        0,
        i32::MAX,
        GucFlags::UNIT_S,
    );
    int(
        c"pg_bearer.unknown_kid_cooldown",
        c"Minimum time between key refetches triggered by tokens naming an unknown kid.",
        c"Defaults to 30 s.",
        &UNKNOWN_KID_COOLDOWN,
        1,
        i32::MAX,
        GucFlags::UNIT_S,
    );
    string(
        c"pg_bearer.client_id",
        c"The database's client id at the provider, for token introspection.",
        c"Introspection of opaque tokens needs it and pg_bearer.client_secret_file.",
        &CLIENT_ID,
    );
    // The secret itself is never a setting: PostgreSQL logs "parameter ... changed to ..."
    // with the new value when postgresql.conf is reloaded. The file's path is not secret.
    GucRegistry::define_string_guc(
        c"pg_bearer.client_secret_file",
        c"File holding the client secret for token introspection (readable by the server's OS user only).",
        c"The secret is read from the file at each introspection; it never appears in settings or logs.",
        &CLIENT_SECRET_FILE,
        GucContext::Sighup,
        GucFlags::SUPERUSER_ONLY,
    );
    string(
        c"pg_bearer.introspection_endpoint",
        c"RFC 7662 introspection endpoint; unset uses the one from discovery.",
        c"",
        &INTROSPECTION_ENDPOINT,
    );
    string(
        c"pg_bearer.introspection_auth",
        c"Client authentication at the introspection endpoint: client_secret_basic or client_secret_post.",
        c"Defaults to client_secret_basic.",
        &INTROSPECTION_AUTH,
    );
    boolean(
        c"pg_bearer.introspect_jwts",
        c"Also introspect JWTs that passed every local check, so revoked tokens are refused.",
        c"Off by default: one provider call per token per result-cache lifetime.",
        &INTROSPECT_JWTS,
    );
    boolean(
        c"pg_bearer.userinfo",
        c"Validate opaque tokens at the userinfo endpoint when introspection is not configured.",
        c"Off by default: userinfo proves no audience, so a token issued to any client of the provider is accepted.",
        &USERINFO,
    );
    int(
        c"pg_bearer.result_cache_ttl",
        c"Longest time an introspection or userinfo answer is reused; never beyond the token's exp.",
        c"Defaults to 60 s; 0 disables the cache. A revoked token is refused at the latest this long after revocation.",
        &RESULT_CACHE_TTL,
        0,
        86_400,
        GucFlags::UNIT_S,
    );
    int(
        c"pg_bearer.negative_cache_ttl",
        c"How long an inactive introspection answer is reused.",
        c"Defaults to 5 s; 0 disables it.",
        &NEGATIVE_CACHE_TTL,
        0,
        3_600,
        GucFlags::UNIT_S,
    );
    int(
        c"pg_bearer.unknown_token_rate",
        c"Provider requests per second, per issuer, for opaque tokens the result cache has never seen.",
        c"Defaults to 10; 0 removes the bound. Over it a login is refused (reason=rate_limited) without asking the provider. Cached answers never count.",
        &UNKNOWN_TOKEN_RATE,
        0,
        100_000,
        GucFlags::default(),
    );
    int(
        c"pg_bearer.unknown_token_burst",
        c"Provider requests at once, per issuer, for opaque tokens the result cache has never seen.",
        c"Defaults to 50: the size of the bucket that pg_bearer.unknown_token_rate refills.",
        &UNKNOWN_TOKEN_BURST,
        1,
        100_000,
        GucFlags::default(),
    );
    // Superuser-only (a per-login log line is the DBA's choice, not a client's); read directly
    // by validate_cb, not through Settings, so that it costs one load when off.
    GucRegistry::define_bool_guc(
        c"pg_bearer.log_validation_time",
        c"Log how long each token validation took, in microseconds, with its outcome.",
        c"Off by default. One server-log line per validation (never any token bytes), for benchmarks and latency investigations.",
        &LOG_VALIDATION_TIME,
        GucContext::Suset,
        GucFlags::default(),
    );
    #[cfg(feature = "testing")]
    string(
        c"pg_bearer.test_fault",
        c"Test builds only: inject a named fault (panic_in_key_refresh).",
        c"Exists only in libraries built with the Cargo feature testing, which release builds never enable.",
        &TEST_FAULT,
    );
    // SAFETY: MarkGUCPrefixReserved (utils/guc.h) only records the prefix and reports
    // placeholders already set under it; it is meant to be called from _PG_init.
    unsafe { pgrx::pg_sys::MarkGUCPrefixReserved(c"pg_bearer".as_ptr()) };
}

/// `pg_bearer.log_validation_time`.
pub(crate) fn log_validation_time() -> bool {
    LOG_VALIDATION_TIME.get()
}

/// `pg_bearer.allow_http`; always `false` unless built with the Cargo feature `testing`.
fn allow_http() -> bool {
    #[cfg(feature = "testing")]
    {
        ALLOW_HTTP.get()
    }
    #[cfg(not(feature = "testing"))]
    {
        false
    }
}

/// Whether `pg_bearer.test_fault` names `fault`. Always `false` unless the library was built
/// with the Cargo feature `testing` (the end-to-end suite's build; release builds never).
pub(crate) fn test_fault(fault: &str) -> bool {
    #[cfg(feature = "testing")]
    {
        text(&TEST_FAULT) == fault
    }
    #[cfg(not(feature = "testing"))]
    {
        let _ = fault;
        false
    }
}

fn text(setting: &GucSetting<Option<CString>>) -> String {
    setting
        .get()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn secs(setting: &GucSetting<i32>) -> u32 {
    u32::try_from(setting.get()).unwrap_or(0)
}

/// A snapshot of the settings for one login.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub audiences: Vec<String>,
    pub audience_claim: String,
    pub identity_claim: String,
    pub role_claim: String,
    pub clock_skew: i64,
    /// `None` when `pg_bearer.max_lifetime` is 0.
    pub max_lifetime: Option<i64>,
    pub strict_typ: bool,
    pub http_timeout: Duration,
    pub ca_file: String,
    pub allow_http: bool,
    pub jwks_source: String,
    pub issuers_file: String,
    pub client_id: String,
    pub client_secret_file: String,
    pub introspection_endpoint: String,
    pub introspection_auth: String,
    pub introspect_jwts: bool,
    pub userinfo: bool,
    pub result_cache_ttl: Duration,
    pub negative_cache_ttl: Duration,
    /// `pg_bearer.unknown_token_rate` and `pg_bearer.unknown_token_burst`.
    pub unknown_token_budget: pg_bearer_core::request_budget::BudgetPolicy,
    pub cache_min: u32,
    pub cache_max: u32,
    pub cache_default: u32,
    pub cache_grace: Duration,
    pub unknown_kid_cooldown: Duration,
}

impl Settings {
    /// The per-issuer defaults, for `pg_bearer_core::config::issuer_policy`.
    pub(crate) fn defaults(&self) -> pg_bearer_core::config::Defaults {
        pg_bearer_core::config::Defaults {
            audiences: self.audiences.clone(),
            audience_claim: self.audience_claim.clone(),
            identity_claim: self.identity_claim.clone(),
            role_claim: self.role_claim.clone(),
            clock_skew: self.clock_skew,
            max_lifetime: self.max_lifetime,
            strict_typ: self.strict_typ,
            jwks: self.jwks_source.clone(),
            client_id: self.client_id.clone(),
            client_secret_file: self.client_secret_file.clone(),
            introspection_endpoint: self.introspection_endpoint.clone(),
            introspection_auth: self.introspection_auth.clone(),
            introspect_jwts: self.introspect_jwts,
            userinfo: self.userinfo,
        }
    }

    pub(crate) fn current() -> Settings {
        Settings {
            audiences: text(&AUDIENCE)
                .split(',')
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .map(str::to_owned)
                .collect(),
            audience_claim: text(&AUDIENCE_CLAIM),
            identity_claim: text(&IDENTITY_CLAIM),
            role_claim: text(&ROLE_CLAIM),
            clock_skew: i64::from(CLOCK_SKEW.get()),
            max_lifetime: Some(i64::from(MAX_LIFETIME.get())).filter(|&m| m > 0),
            strict_typ: STRICT_TYP.get(),
            http_timeout: effective_http_timeout(HTTP_TIMEOUT.get()),
            ca_file: text(&CA_FILE),
            allow_http: allow_http(),
            jwks_source: text(&JWKS_SOURCE),
            issuers_file: text(&ISSUERS_FILE),
            client_id: text(&CLIENT_ID),
            client_secret_file: text(&CLIENT_SECRET_FILE),
            introspection_endpoint: text(&INTROSPECTION_ENDPOINT),
            introspection_auth: text(&INTROSPECTION_AUTH),
            introspect_jwts: INTROSPECT_JWTS.get(),
            userinfo: USERINFO.get(),
            result_cache_ttl: Duration::from_secs(u64::from(secs(&RESULT_CACHE_TTL))),
            negative_cache_ttl: Duration::from_secs(u64::from(secs(&NEGATIVE_CACHE_TTL))),
            unknown_token_budget: pg_bearer_core::request_budget::BudgetPolicy {
                rate: secs(&UNKNOWN_TOKEN_RATE),
                burst: secs(&UNKNOWN_TOKEN_BURST),
            },
            cache_min: secs(&CACHE_MIN),
            cache_max: secs(&CACHE_MAX),
            cache_default: secs(&CACHE_DEFAULT),
            cache_grace: Duration::from_secs(u64::from(secs(&CACHE_GRACE))),
            unknown_kid_cooldown: Duration::from_secs(u64::from(secs(&UNKNOWN_KID_COOLDOWN))),
        }
    }
}

/// `pg_bearer.http_timeout`, kept below `authentication_timeout`: one login makes up to four
/// requests (two discovery URLs, the JWKS, then introspection), and it must end before the
/// server gives up on it, so each request gets at most a fifth of `authentication_timeout`.
fn effective_http_timeout(configured_ms: i32) -> Duration {
    // SAFETY: AuthenticationTimeout (postmaster/postmaster.h) is a plain int GUC variable of
    // the server, read on the backend's own thread.
    let auth_timeout_s = unsafe { pgrx::pg_sys::AuthenticationTimeout };
    let ceiling_ms = i64::from(auth_timeout_s.max(1)) * 1000 / 5;
    let ms = i64::from(configured_ms.max(100)).min(ceiling_ms.max(100));
    Duration::from_millis(u64::try_from(ms).unwrap_or(5_000))
}

/// `cargo pgrx test` builds without the Cargo feature `testing`, as release builds are.
#[cfg(all(any(test, feature = "pg_test"), not(feature = "testing")))]
#[pgrx::pg_schema]
mod tests {
    use pgrx::prelude::*;

    #[pg_test]
    fn a_build_without_the_testing_feature_has_no_test_only_settings() {
        let missing = |name: &str| {
            Spi::get_one::<String>(&format!("SELECT current_setting('{name}', true)"))
                .expect("current_setting")
        };
        assert_eq!(missing("pg_bearer.allow_http"), None);
        assert_eq!(missing("pg_bearer.test_fault"), None);
        // A real setting of the same library is there.
        assert_eq!(missing("pg_bearer.http_timeout").as_deref(), Some("5s"));
    }
}
