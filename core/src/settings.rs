//! The one declaration of pg_bearer's settings, and the duration convention they share.
//!
//! Every setting is declared once, in [`pg_bearer_settings!`](crate::pg_bearer_settings): its
//! name, kind (with default, range and unit), GUC context, a one-line description, and whether
//! the issuers file can set it per issuer. Everything else is expanded from that list:
//!
//! - [`SETTINGS`], the table below, which `core/tests/settings_doc.rs` compares with the
//!   settings table of `docs/configuration.md`;
//! - the issuers-file parser ([`crate::config`]): the keys an `[[issuer]]` table accepts,
//!   their types and ranges, and the typed `Defaults` / `IssuerOverride` structs;
//! - the glue's GUC statics and their `DefineCustom*Variable` calls (`src/gucs.rs`).
//!
//! The list is a callback ("X-macro"): `pg_bearer_settings!(m)` calls `m! { ... }` with the
//! four groups below, so each crate expands the same entries into what it needs without a
//! second list. Groups, not a per-entry flag, say where a setting lives, so that a consumer
//! takes the groups it needs with plain repetitions:
//!
//! | group | GUC `pg_bearer.<name>` | issuers-file key `<name>` |
//! |---|---|---|
//! | `per_issuer` | yes, the default for every issuer | yes |
//! | `server` | yes | no |
//! | `test_only` | only in libraries built with the Cargo feature `testing` | no |
//! | `file_only` | no | yes |
//!
//! A GUC entry is `name: kind { default: ..[, min: .., max: .., unit: ..] }, context[ + flag],
//! "description";` with kind `text`, `text_list` (comma-separated in postgresql.conf, a
//! string or an array in the issuers file), `bool`, `int`, `duration` or `size` (bytes, unit
//! `B`); a `text` may name a `check:` hook, a function of the glue that refuses bad values when
//! they are set; context `sighup` or
//! `superuser`; flag `superuser_only` (PostgreSQL's `GUC_SUPERUSER_ONLY`). A file-only entry
//! is `name: kind, "description";` with kind `issuer` (the required key), `text`, `bool`,
//! `strings`, `claims` or `secret`; its default is the policy's (see [`crate::policy`]).
//!
//! # Durations
//!
//! One convention everywhere, PostgreSQL's: a number and a unit (`us`, `ms`, `s`, `min`, `h`,
//! `d`), as in `authentication_timeout = 1min`; a number without a unit is in the setting's
//! base unit, which the docs table shows; a fraction is rounded to the base unit. In
//! postgresql.conf PostgreSQL itself parses them (the GUCs carry `GUC_UNIT_S` or
//! `GUC_UNIT_MS`); in the issuers file [`parse_duration`] does the same for a string
//! (`clock_skew = "2min"`), and a TOML integer is in the base unit (`clock_skew = 120`).

/// The declaration. `pg_bearer_settings!(m)` expands to `m! { per_issuer { .. } server { .. }
/// test_only { .. } file_only { .. } }`; see the [module documentation](self) for the entry
/// syntax. Keep `docs/configuration.md` in step: `core/tests/settings_doc.rs` fails otherwise.
#[macro_export]
macro_rules! pg_bearer_settings {
    ($m:ident) => {
        $m! {
            per_issuer {
                audience: text_list { default: None }, sighup,
                    "Comma-separated audiences this server accepts; a token must carry one of them.";
                audience_claim: text { default: Some("aud") }, sighup,
                    "Claim holding the token's audience (a name or a JSON Pointer).";
                identity_claim: text { default: Some("sub") }, sighup,
                    "Claim whose value becomes the authenticated identity (a name or a JSON Pointer).";
                role_claim: text { default: None }, sighup,
                    "Claim listing the roles a token may use under delegate_ident_mapping=1.";
                clock_skew: duration { default: 60, min: 0, max: 300, unit: s }, sighup,
                    "Leeway for exp, nbf and iat.";
                max_lifetime: duration { default: 86_400, min: 0, max: 2_147_483_647, unit: s }, sighup,
                    "Longest accepted token lifetime (exp - iat and exp - now); 0 means no limit.";
                strict_typ: bool { default: false }, sighup,
                    "Accept only JWTs typed at+jwt (RFC 9068).";
                jwks: text { default: None }, sighup,
                    "Where keys come from instead of discovery: an https JWKS URL or an absolute path to a JWKS file.";
                client_id: text { default: None }, sighup,
                    "The database's client id at the provider, for token introspection.";
                // The secret itself is never a setting: PostgreSQL logs "parameter ... changed
                // to ..." with the new value when postgresql.conf is reloaded. The file's path
                // is not secret, but only superusers see it.
                client_secret_file: text { default: None }, sighup + superuser_only,
                    "File holding the client secret for token introspection (readable by the server's OS user only).";
                introspection_endpoint: text { default: None }, sighup,
                    "RFC 7662 introspection endpoint; unset uses the one from discovery.";
                introspection_auth: text { default: Some("client_secret_basic") }, sighup,
                    "Client authentication at the introspection endpoint: client_secret_basic or client_secret_post.";
                introspect_jwts: bool { default: false }, sighup,
                    "Also introspect JWTs that passed every local check, so revoked tokens are refused.";
                userinfo: bool { default: false }, sighup,
                    "Validate opaque tokens at the userinfo endpoint when introspection is not configured.";
            }
            server {
                issuers_file: text { default: None }, sighup,
                    "TOML file with one [[issuer]] table per issuer, overriding the other settings for that issuer.";
                http_timeout: duration { default: 5_000, min: 100, max: 60_000, unit: ms }, sighup,
                    "Deadline for each request to the provider; at most a fifth of authentication_timeout.";
                ca_file: text { default: None }, sighup,
                    "PEM file of CA certificates trusted for the provider in addition to the system roots.";
                jwks_cache_min: duration { default: 60, min: 1, max: 2_147_483_647, unit: s }, sighup,
                    "Shortest time keys are cached, whatever the provider's Cache-Control says.";
                jwks_cache_max: duration { default: 86_400, min: 1, max: 2_147_483_647, unit: s }, sighup,
                    "Longest time keys are cached.";
                jwks_cache_default: duration { default: 600, min: 1, max: 2_147_483_647, unit: s }, sighup,
                    "How long keys are cached when the provider sends no Cache-Control.";
                jwks_grace: duration { default: 3_600, min: 0, max: 2_147_483_647, unit: s }, sighup,
                    "How long cached keys keep working after they go stale while the provider cannot be reached.";
                unknown_kid_cooldown: duration { default: 30, min: 1, max: 2_147_483_647, unit: s }, sighup,
                    "Minimum time between key refetches triggered by tokens naming an unknown kid.";
                result_cache_ttl: duration { default: 60, min: 0, max: 86_400, unit: s }, sighup,
                    "Longest time an introspection or userinfo answer is reused; never beyond the token's exp.";
                negative_cache_ttl: duration { default: 5, min: 0, max: 3_600, unit: s }, sighup,
                    "How long an inactive introspection answer is reused.";
                unknown_token_rate: int { default: 10, min: 0, max: 100_000, unit: "requests/s" }, sighup,
                    "Provider requests per second, per issuer, for opaque tokens the result cache has never seen.";
                unknown_token_burst: int { default: 50, min: 1, max: 100_000, unit: "requests" }, sighup,
                    "Provider requests at once, per issuer, for opaque tokens the result cache has never seen.";
                // Superuser-only: a per-login log line is the DBA's choice, not a client's.
                session_claims: text { default: Some("*"), check: check_session_claims }, sighup,
                    "Top-level claims a session keeps for pg_bearer.claims(): * for all, or a comma-separated list of names.";
                session_claims_max_size: size { default: 65_536, min: 0, max: 1_048_576, unit: B }, sighup,
                    "Largest claims object a session keeps, as compact JSON; beyond it claims are dropped and the login says so in the log.";
                session_expiry: bool { default: false }, sighup,
                    "End each session when its token's exp passes, with a FATAL naming the expiry; refuses tokens without exp.";
                log_validation_time: bool { default: false }, superuser,
                    "Log how long each token validation took, in microseconds, with its outcome.";
            }
            test_only {
                allow_http: bool { default: false }, sighup,
                    "Test builds only: allow plain-HTTP providers. Every use is logged.";
                test_fault: text { default: None }, sighup,
                    "Test builds only: inject a named fault (panic_in_key_refresh).";
            }
            file_only {
                issuer: issuer,
                    "The issuer identifier, exactly as tokens carry it in iss.";
                client_claim: text,
                    "Claim naming the OAuth client the token was issued to.";
                allowed_clients: strings,
                    "Clients allowed to present tokens (needs client_claim).";
                required_claims: claims,
                    "Claims that must be strings with exactly these values.";
                implicit_scopes: strings,
                    "HBA scopes that need not appear in tokens.";
                require_iat: bool,
                    "Whether iat is required.";
                client_secret: secret,
                    "The client secret for introspection, written inline.";
                scope: text,
                    "Scopes every token must carry, besides the pg_hba line's scope=.";
            }
        }
    };
}

/// One declared setting or issuers-file key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Setting {
    /// The name: the GUC is `pg_bearer.<name>`, the issuers-file key `<name>`.
    pub name: &'static str,
    /// What values it takes.
    pub kind: Kind,
    /// The one-line description (the GUC's `short_desc`).
    pub description: &'static str,
    /// The GUC, or `None` for a key that exists only in the issuers file.
    pub guc: Option<Guc>,
    /// Whether an `[[issuer]]` table of the issuers file takes the key `<name>`.
    pub per_issuer: bool,
}

/// The GUC side of a setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Guc {
    /// The value when postgresql.conf does not set it.
    pub default: GucDefault,
    /// Who may change it, and when it takes effect.
    pub context: Context,
    /// PostgreSQL's `GUC_SUPERUSER_ONLY`: hidden from roles without `pg_read_all_settings`.
    pub superuser_only: bool,
    /// Defined only in libraries built with the Cargo feature `testing`.
    pub test_only: bool,
}

/// A GUC's default value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GucDefault {
    /// A string setting that is empty (unset) by default.
    Unset,
    /// A string.
    Text(&'static str),
    /// A boolean.
    Bool(bool),
    /// An integer or duration, in the setting's base unit.
    Int(i32),
}

/// A GUC's context, as `pg_settings.context` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Context {
    /// `sighup`: postgresql.conf or `ALTER SYSTEM`, then a reload.
    Sighup,
    /// `superuser`: as `sighup`, and superusers may also `SET` it.
    Superuser,
}

/// What values a setting or key takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A string.
    Text,
    /// A list of strings: comma-separated in postgresql.conf; a string or an array of strings
    /// in the issuers file.
    TextList,
    /// A boolean.
    Bool,
    /// An integer in `min..=max`; `unit` is for people only (`requests/s`).
    Int {
        /// Smallest accepted value.
        min: i32,
        /// Largest accepted value.
        max: i32,
        /// What the number counts.
        unit: &'static str,
    },
    /// A duration in `min..=max` base units; see [`parse_duration`].
    Duration {
        /// Smallest accepted value, in `unit`.
        min: i32,
        /// Largest accepted value, in `unit`.
        max: i32,
        /// The base unit: what a bare number means, and the resolution.
        unit: TimeUnit,
    },
    /// A size in bytes in `min..=max`, written with PostgreSQL's memory units (`64kB`;
    /// `GUC_UNIT_BYTE`).
    Size {
        /// Smallest accepted value, in bytes.
        min: i32,
        /// Largest accepted value, in bytes.
        max: i32,
    },
    /// Issuers file only: the required `issuer` key.
    Issuer,
    /// Issuers file only: an array of strings.
    Strings,
    /// Issuers file only: a table of claim name (or JSON Pointer) to string.
    Claims,
    /// Issuers file only: a string that is a secret (never shown in `Debug` or logs).
    Secret,
}

impl Kind {
    /// The accepted range, for integers and durations.
    pub const fn range(&self) -> Option<(i32, i32)> {
        match *self {
            Kind::Int { min, max, .. }
            | Kind::Duration { min, max, .. }
            | Kind::Size { min, max } => Some((min, max)),
            _ => None,
        }
    }

    /// `min..=max` for people: `0 – 5min`, `1 – 100000`.
    pub fn describe_range(&self) -> Option<String> {
        match *self {
            Kind::Int { min, max, .. } => Some(format!("{min} – {max}")),
            Kind::Duration { min, max, unit } => Some(format!(
                "{} – {}",
                format_duration(i64::from(min), unit),
                format_duration(i64::from(max), unit)
            )),
            Kind::Size { min, max } => Some(format!(
                "{} – {}",
                format_size(i64::from(min)),
                format_size(i64::from(max))
            )),
            _ => None,
        }
    }
}

/// A duration's base unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeUnit {
    /// Milliseconds (`GUC_UNIT_MS`).
    Millis,
    /// Seconds (`GUC_UNIT_S`).
    Seconds,
}

impl TimeUnit {
    /// The unit's name as PostgreSQL writes it.
    pub const fn symbol(self) -> &'static str {
        match self {
            TimeUnit::Millis => "ms",
            TimeUnit::Seconds => "s",
        }
    }

    const fn micros(self) -> i128 {
        match self {
            TimeUnit::Millis => 1_000,
            TimeUnit::Seconds => 1_000_000,
        }
    }
}

/// The units a duration may be written in, as PostgreSQL accepts them for time settings, with
/// their length in microseconds; largest first.
const TIME_UNITS: [(&str, i128); 6] = [
    ("d", 86_400_000_000),
    ("h", 3_600_000_000),
    ("min", 60_000_000),
    ("s", 1_000_000),
    ("ms", 1_000),
    ("us", 1),
];

/// Every declared setting and issuers-file key, test-only GUCs included (marked
/// [`Guc::test_only`]).
pub const SETTINGS: &[Setting] = {
    macro_rules! table {
        (
            per_issuer { $( $p:ident : $pk:ident { $($pa:tt)* }, $pc:ident $(+ $pf:ident)*, $pd:literal; )* }
            server { $( $s:ident : $sk:ident { $($sa:tt)* }, $sc:ident $(+ $sf:ident)*, $sd:literal; )* }
            test_only { $( $t:ident : $tk:ident { $($ta:tt)* }, $tc:ident $(+ $tf:ident)*, $td:literal; )* }
            file_only { $( $f:ident : $fk:ident, $fd:literal; )* }
        ) => {
            &[
                $( guc_entry!($p, $pk { $($pa)* }, $pc $(+ $pf)*, $pd, true, false), )*
                $( guc_entry!($s, $sk { $($sa)* }, $sc $(+ $sf)*, $sd, false, false), )*
                $( guc_entry!($t, $tk { $($ta)* }, $tc $(+ $tf)*, $td, false, true), )*
                $( Setting {
                    name: stringify!($f),
                    kind: file_kind!($fk),
                    description: $fd,
                    guc: None,
                    per_issuer: true,
                }, )*
            ]
        };
    }
    macro_rules! guc_entry {
        ($id:ident, $kind:ident { $($args:tt)* }, $ctx:ident $(+ $flag:ident)*, $desc:literal,
            $per_issuer:literal, $test_only:literal) => {
            Setting {
                name: stringify!($id),
                kind: guc_kind!($kind { $($args)* }),
                description: $desc,
                guc: Some(Guc {
                    default: guc_default!($kind { $($args)* }),
                    context: context!($ctx),
                    superuser_only: false $( || flag!($flag) )*,
                    test_only: $test_only,
                }),
                per_issuer: $per_issuer,
            }
        };
    }
    macro_rules! guc_kind {
        (text { $($a:tt)* }) => {
            Kind::Text
        };
        (text_list { $($a:tt)* }) => {
            Kind::TextList
        };
        (bool { $($a:tt)* }) => {
            Kind::Bool
        };
        (int { default: $d:expr, min: $min:expr, max: $max:expr, unit: $u:literal }) => {
            Kind::Int {
                min: $min,
                max: $max,
                unit: $u,
            }
        };
        (size { default: $d:expr, min: $min:expr, max: $max:expr, unit: B }) => {
            Kind::Size {
                min: $min,
                max: $max,
            }
        };
        (duration { default: $d:expr, min: $min:expr, max: $max:expr, unit: $u:ident }) => {
            Kind::Duration {
                min: $min,
                max: $max,
                unit: time_unit!($u),
            }
        };
    }
    macro_rules! guc_default {
        ($k:ident { default: None }) => {
            GucDefault::Unset
        };
        ($k:ident { default: Some($s:literal) }) => {
            GucDefault::Text($s)
        };
        ($k:ident { default: Some($s:literal), check: $c:ident }) => {
            GucDefault::Text($s)
        };
        (bool { default: $d:literal }) => {
            GucDefault::Bool($d)
        };
        ($k:ident { default: $d:literal, $($rest:tt)* }) => {
            GucDefault::Int($d)
        };
    }
    macro_rules! file_kind {
        (issuer) => {
            Kind::Issuer
        };
        (text) => {
            Kind::Text
        };
        (bool) => {
            Kind::Bool
        };
        (strings) => {
            Kind::Strings
        };
        (claims) => {
            Kind::Claims
        };
        (secret) => {
            Kind::Secret
        };
    }
    macro_rules! time_unit {
        (s) => {
            TimeUnit::Seconds
        };
        (ms) => {
            TimeUnit::Millis
        };
    }
    macro_rules! context {
        (sighup) => {
            Context::Sighup
        };
        (superuser) => {
            Context::Superuser
        };
    }
    macro_rules! flag {
        (superuser_only) => {
            true
        };
    }
    crate::pg_bearer_settings!(table)
};

/// The setting or key `name` (without `pg_bearer.`). Usable in constants: an unknown name
/// then fails the build.
pub const fn setting(name: &str) -> &'static Setting {
    match lookup(name) {
        Some(s) => s,
        None => panic!("no such setting"),
    }
}

/// The setting or key `name` (without `pg_bearer.`), if declared.
pub const fn lookup(name: &str) -> Option<&'static Setting> {
    let mut i = 0;
    while i < SETTINGS.len() {
        if str_eq(SETTINGS[i].name, name) {
            return Some(&SETTINGS[i]);
        }
        i += 1;
    }
    None
}

const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

impl Setting {
    /// The largest value of an integer or duration setting (base units).
    pub const fn max(&self) -> i64 {
        match self.kind.range() {
            Some((_, max)) => max as i64,
            None => panic!("not an integer or duration setting"),
        }
    }

    /// The default of an integer or duration GUC (base units).
    pub const fn int_default(&self) -> i64 {
        match self.guc {
            Some(Guc {
                default: GucDefault::Int(d),
                ..
            }) => d as i64,
            _ => panic!("not an integer or duration GUC"),
        }
    }
}

/// Why a duration was refused. Display never repeats the text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DurationError {
    /// Not a number, optionally followed by a unit.
    NotANumber,
    /// A unit PostgreSQL does not know for time settings.
    UnknownUnit,
    /// Beyond what a setting can hold (a 32-bit integer of base units).
    TooLarge,
}

impl std::fmt::Display for DurationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DurationError::NotANumber => {
                "not a duration: write a number and a unit, such as \"90s\" or \"5min\""
            }
            DurationError::UnknownUnit => "unknown duration unit: use us, ms, s, min, h or d",
            DurationError::TooLarge => "duration too large",
        })
    }
}

impl std::error::Error for DurationError {}

/// Parses a duration as PostgreSQL parses a time setting's value: optional surrounding
/// whitespace, a decimal number with an optional sign and fraction, optional whitespace, and
/// an optional unit (`us`, `ms`, `s`, `min`, `h`, `d`, case-sensitive); no unit means
/// `base`. The result is in `base` units, rounded half to even as PostgreSQL's `rint` does,
/// and fits an `i32`. Ranges are the caller's (see [`Kind::range`]).
pub fn parse_duration(text: &str, base: TimeUnit) -> Result<i64, DurationError> {
    let text = text.trim();
    let number_len = text
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '+' | '-')))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(number_len);
    let (negative, digits) = match number.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, number.strip_prefix('+').unwrap_or(number)),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && fraction.is_empty()) || !all_digits(whole) || !all_digits(fraction) {
        return Err(DurationError::NotANumber);
    }
    let unit_micros = match unit.trim_start() {
        "" => base.micros(),
        unit => TIME_UNITS
            .iter()
            .find(|(symbol, _)| *symbol == unit)
            .map(|&(_, micros)| micros)
            .ok_or(DurationError::UnknownUnit)?,
    };
    // 24 digits keep every product below in i128: 10^24 * 86_400_000_000 < 2^127.
    let whole = whole.trim_start_matches('0');
    if whole.len() + fraction.len() > 24 {
        return Err(DurationError::TooLarge);
    }
    let digits = format!("{whole}{fraction}");
    let mantissa: i128 = match digits.as_str() {
        "" => 0,
        digits => digits.parse().map_err(|_| DurationError::NotANumber)?,
    };
    let scale = 10_i128.pow(u32::try_from(fraction.len()).unwrap_or(0));
    let numerator = mantissa * unit_micros;
    let denominator = scale * base.micros();
    let (quotient, remainder) = (numerator / denominator, numerator % denominator);
    let rounded = match (2 * remainder).cmp(&denominator) {
        std::cmp::Ordering::Greater => quotient + 1,
        std::cmp::Ordering::Equal => quotient + (quotient & 1),
        std::cmp::Ordering::Less => quotient,
    };
    let value = if negative { -rounded } else { rounded };
    if value > i128::from(i32::MAX) || value < i128::from(i32::MIN) {
        return Err(DurationError::TooLarge);
    }
    i64::try_from(value).map_err(|_| DurationError::TooLarge)
}

/// A size in bytes as PostgreSQL shows it: in the largest of `B`, `kB`, `MB`, `GB` that
/// divides it (`65536` is `64kB`).
pub fn format_size(bytes: i64) -> String {
    if bytes == 0 {
        return "0".to_owned();
    }
    let (symbol, length) = [("GB", 1_i64 << 30), ("MB", 1 << 20), ("kB", 1 << 10)]
        .into_iter()
        .find(|(_, length)| bytes % length == 0)
        .unwrap_or(("B", 1));
    format!("{}{symbol}", bytes / length)
}

/// A duration the way PostgreSQL's `SHOW` writes it: in the largest unit that holds it
/// exactly (`60` s is `1min`, `5000` ms is `5s`); `0` has no unit.
pub fn format_duration(value: i64, base: TimeUnit) -> String {
    if value == 0 {
        return "0".to_owned();
    }
    let micros = i128::from(value) * base.micros();
    let (symbol, length) = TIME_UNITS
        .iter()
        .take_while(|(_, length)| *length >= base.micros())
        .find(|(_, length)| micros % length == 0)
        .copied()
        .unwrap_or((base.symbol(), base.micros()));
    format!("{}{symbol}", micros / length)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_postgresql_units_and_a_bare_number_is_the_base_unit() {
        let s = TimeUnit::Seconds;
        assert_eq!(parse_duration("90", s), Ok(90));
        assert_eq!(parse_duration("90s", s), Ok(90));
        assert_eq!(parse_duration(" 2 min ", s), Ok(120));
        assert_eq!(parse_duration("1h", s), Ok(3_600));
        assert_eq!(parse_duration("1d", s), Ok(86_400));
        assert_eq!(parse_duration("1.5min", s), Ok(90));
        assert_eq!(parse_duration("+5s", s), Ok(5));
        assert_eq!(parse_duration("5s", TimeUnit::Millis), Ok(5_000));
        assert_eq!(parse_duration("250ms", TimeUnit::Millis), Ok(250));
        assert_eq!(parse_duration("1min", TimeUnit::Millis), Ok(60_000));
    }

    #[test]
    fn durations_round_to_the_base_unit_half_to_even_as_postgresql_does() {
        let s = TimeUnit::Seconds;
        assert_eq!(parse_duration("1500ms", s), Ok(2));
        assert_eq!(parse_duration("2500ms", s), Ok(2));
        assert_eq!(parse_duration("2501ms", s), Ok(3));
        assert_eq!(parse_duration("400ms", s), Ok(0));
        assert_eq!(parse_duration("1500us", TimeUnit::Millis), Ok(2));
    }

    #[test]
    fn a_negative_duration_parses_so_that_the_range_check_refuses_it() {
        assert_eq!(parse_duration("-5s", TimeUnit::Seconds), Ok(-5));
    }

    #[test]
    fn unknown_or_wrongly_cased_units_are_refused() {
        for text in ["5sec", "5m", "5S", "5 MIN", "5 seconds", "5s5", "5ns"] {
            assert_eq!(
                parse_duration(text, TimeUnit::Seconds),
                Err(DurationError::UnknownUnit),
                "{text}"
            );
        }
    }

    #[test]
    fn text_that_is_not_a_number_is_refused() {
        for text in [
            "", " ", "s", "min", ".", "-", "1.2.3s", "--5s", "5-s", "0x10s", "1e3s",
        ] {
            assert!(parse_duration(text, TimeUnit::Seconds).is_err(), "{text:?}");
        }
        assert_eq!(
            parse_duration("s", TimeUnit::Seconds),
            Err(DurationError::NotANumber)
        );
    }

    #[test]
    fn durations_beyond_a_32_bit_setting_are_too_large_not_wrapped() {
        let s = TimeUnit::Seconds;
        assert_eq!(parse_duration("2147483647", s), Ok(2_147_483_647));
        assert_eq!(
            parse_duration("2147483648", s),
            Err(DurationError::TooLarge)
        );
        assert_eq!(parse_duration("24856d", s), Err(DurationError::TooLarge));
        assert_eq!(
            parse_duration("25d", TimeUnit::Millis),
            Err(DurationError::TooLarge)
        );
        assert_eq!(
            parse_duration("99999999999999999999999999999999d", s),
            Err(DurationError::TooLarge)
        );
        assert_eq!(parse_duration("000000000000000000000000000005s", s), Ok(5));
    }

    #[test]
    fn a_duration_error_never_repeats_the_text() {
        for text in [
            "s3cr3tXq",
            "5s3cr3tXq",
            "99999999999999999999999999s3cr3tXq",
        ] {
            let err = parse_duration(text, TimeUnit::Seconds).unwrap_err();
            assert!(!err.to_string().contains("s3cr3tXq"), "{err}");
        }
    }

    #[test]
    fn durations_are_shown_in_the_largest_exact_unit() {
        let s = TimeUnit::Seconds;
        assert_eq!(format_duration(0, s), "0");
        assert_eq!(format_duration(30, s), "30s");
        assert_eq!(format_duration(60, s), "1min");
        assert_eq!(format_duration(90, s), "90s");
        assert_eq!(format_duration(3_600, s), "1h");
        assert_eq!(format_duration(86_400, s), "1d");
        assert_eq!(format_duration(2_147_483_647, s), "2147483647s");
        assert_eq!(format_duration(5_000, TimeUnit::Millis), "5s");
        assert_eq!(format_duration(100, TimeUnit::Millis), "100ms");
        for value in [1, 59, 61, 600, 7_200, 86_401] {
            let shown = format_duration(value, s);
            assert_eq!(parse_duration(&shown, s), Ok(value), "{shown}");
        }
    }

    #[test]
    fn names_are_unique_and_every_setting_is_reachable_somewhere() {
        for (i, a) in SETTINGS.iter().enumerate() {
            assert!(
                SETTINGS[..i].iter().all(|b| b.name != a.name),
                "{} is declared twice",
                a.name
            );
            assert!(a.guc.is_some() || a.per_issuer, "{}", a.name);
            assert!(!a.description.is_empty() && !a.description.contains('\n'));
        }
    }

    #[test]
    fn defaults_lie_within_their_ranges() {
        for s in SETTINGS {
            if let (Some((min, max)), Some(guc)) = (s.kind.range(), s.guc) {
                let GucDefault::Int(d) = guc.default else {
                    panic!("{}: a numeric setting without a numeric default", s.name)
                };
                assert!(min <= d && d <= max, "{}", s.name);
            }
        }
    }

    #[test]
    fn test_only_settings_are_never_per_issuer() {
        for s in SETTINGS
            .iter()
            .filter(|s| s.guc.is_some_and(|g| g.test_only))
        {
            assert!(!s.per_issuer, "{}", s.name);
        }
    }

    #[test]
    fn lookup_finds_declared_names_only() {
        assert_eq!(setting("clock_skew").max(), 300);
        assert_eq!(setting("http_timeout").int_default(), 5_000);
        assert!(lookup("issuer").is_some_and(|s| s.guc.is_none()));
        assert!(lookup("audiance").is_none());
        assert!(lookup("pg_bearer.audience").is_none());
    }
}
