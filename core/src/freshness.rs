//! How long a fetched discovery document or JWKS stays fresh, from the provider's HTTP caching
//! headers and three local bounds.
//!
//! The cache is private in RFC 9111 terms (it serves one client, this server), so `private`
//! does not prevent caching and `s-maxage` (for shared caches) is ignored. Every result is
//! clamped to `[floor, ceiling]`:
//!
//! | Response                                   | Lifetime                          |
//! |--------------------------------------------|-----------------------------------|
//! | `no-store` or `no-cache` (any form)        | floor                             |
//! | valid `max-age=N`                          | `N − Age`, clamped                |
//! | invalid or conflicting `max-age`           | floor (RFC 9111 §4.2.1: stale)    |
//! | no `max-age`, valid `Expires`              | `Expires − Date − Age`, clamped   |
//! | no `max-age`, invalid `Expires` (e.g. `0`) | floor (RFC 9111 §5.3: expired)    |
//! | none of these                              | default, clamped                  |
//!
//! Why `no-cache` maps to the floor rather than to "fetch every time": Keycloak sends
//! `Cache-Control: no-cache` on its JWKS, and honouring it literally means two HTTP requests per
//! login (measured: 0.20 × `trust` for the best peer that does so). Signing keys are published
//! before they are used and rotation is caught by the unknown-`kid` refetch, so a short floor
//! costs nothing in correctness. `no-store` is treated the same way: the data is a public key
//! set, not a private response. `must-revalidate` is parsed but does not shorten anything: how
//! long held keys may outlive a failing provider is the operator's `grace` setting (see
//! [`crate::cache::CachePolicy::grace`]); set it to zero for strict RFC 9111 behaviour.
//!
//! Parsing is tolerant where it is harmless: directive names are case-insensitive, whitespace
//! around tokens and `=` is skipped, values may be quoted (`max-age="60"`), several header
//! lines may be joined with commas, and a member that cannot be parsed is skipped up to the
//! next comma outside quotes. A header that yields no recognised directive is the same as no
//! header.

/// Local bounds for a freshness lifetime, in seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FreshnessBounds {
    /// Shortest lifetime, whatever the provider says. Defaults to 60 s.
    ///
    /// Keeps a `no-cache` provider from costing a fetch per login. Raising it delays how soon a
    /// removed key stops being trusted (while the provider is reachable) by at most this much.
    pub floor_secs: u32,
    /// Longest lifetime, whatever the provider says. Defaults to 86 400 s (one day).
    ///
    /// Bounds how long a key the provider has removed keeps being accepted.
    pub ceiling_secs: u32,
    /// Lifetime when the provider sends no freshness information. Defaults to 600 s
    /// (10 minutes, the `cacheMaxAge` of panva/jose's remote JWKS).
    pub default_secs: u32,
}

impl Default for FreshnessBounds {
    fn default() -> Self {
        Self {
            floor_secs: 60,
            ceiling_secs: 86_400,
            default_secs: 600,
        }
    }
}

impl FreshnessBounds {
    /// Clamps `secs` to `[floor, ceiling]`. When `floor > ceiling` (a misconfiguration the
    /// settings layer should refuse) the ceiling wins: it is the safety limit.
    pub fn clamp(&self, secs: u32) -> u32 {
        secs.max(self.floor_secs).min(self.ceiling_secs)
    }
}

/// A parsed freshness value (`max-age`, `s-maxage`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DeltaSeconds {
    /// The directive is absent.
    #[default]
    Absent,
    /// The directive is present with a valid value. Values above 2^31 are reduced to 2^31
    /// (RFC 9111 §1.2.2).
    Valid(u32),
    /// The directive is present but its value is not a non-negative integer, or it appears
    /// more than once with different values.
    Invalid,
}

impl DeltaSeconds {
    fn record(&mut self, value: Option<&str>) {
        let parsed = value.and_then(parse_delta_seconds);
        *self = match (*self, parsed) {
            (Self::Absent, Some(v)) => Self::Valid(v),
            (Self::Valid(old), Some(v)) if old == v => Self::Valid(v),
            _ => Self::Invalid,
        };
    }
}

/// The `Cache-Control` directives this module understands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct CacheDirectives {
    /// `max-age`.
    pub max_age: DeltaSeconds,
    /// `s-maxage` (parsed, ignored: this is a private cache).
    pub s_maxage: DeltaSeconds,
    /// `no-cache`, with or without a field list.
    pub no_cache: bool,
    /// `no-store`.
    pub no_store: bool,
    /// `must-revalidate` (parsed, does not change the lifetime).
    pub must_revalidate: bool,
    /// `private`, with or without a field list (parsed, does not change the lifetime).
    pub private: bool,
}

impl CacheDirectives {
    /// Parses one `Cache-Control` value, or several joined with commas. Never fails: what
    /// cannot be understood is skipped.
    pub fn parse(header: &str) -> Self {
        let mut directives = Self::default();
        let mut rest = header.as_bytes();
        while !rest.is_empty() {
            let (member, after) = split_member(rest);
            rest = after;
            let Some((name, value)) = parse_member(member) else {
                continue;
            };
            match name.to_ascii_lowercase().as_str() {
                "max-age" => directives.max_age.record(value.as_deref()),
                "s-maxage" => directives.s_maxage.record(value.as_deref()),
                "no-cache" => directives.no_cache = true,
                "no-store" => directives.no_store = true,
                "must-revalidate" => directives.must_revalidate = true,
                "private" => directives.private = true,
                _ => {}
            }
        }
        directives
    }
}

/// The response headers that bear on freshness, as received (`None` when absent). Join
/// repeated `Cache-Control` lines with `", "`; for `Expires`, `Date` and `Age` pass the first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ResponseCacheHeaders<'a> {
    /// `Cache-Control`.
    pub cache_control: Option<&'a str>,
    /// `Expires` (IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`).
    pub expires: Option<&'a str>,
    /// `Date` (IMF-fixdate).
    pub date: Option<&'a str>,
    /// `Age` (seconds the response spent in upstream caches).
    pub age: Option<&'a str>,
}

impl ResponseCacheHeaders<'_> {
    /// The freshness lifetime in seconds, following the table in the module documentation.
    ///
    /// `received_at_unix_secs` stands in for a missing or invalid `Date` when computing the
    /// lifetime from `Expires`. `Expires` in an obsolete date format (RFC 850, asctime) is
    /// treated as invalid, hence as expired.
    pub fn lifetime_secs(&self, received_at_unix_secs: i64, bounds: &FreshnessBounds) -> u32 {
        let directives = self
            .cache_control
            .map(CacheDirectives::parse)
            .unwrap_or_default();
        if directives.no_store || directives.no_cache {
            return bounds.clamp(0);
        }
        let age = match self.age.map(|a| parse_delta_seconds(a.trim())) {
            None => 0,
            Some(Some(age)) => age,
            // An unparseable Age makes the response's age unknown: treat it as stale.
            Some(None) => return bounds.clamp(0),
        };
        match directives.max_age {
            DeltaSeconds::Valid(max_age) => return bounds.clamp(max_age.saturating_sub(age)),
            DeltaSeconds::Invalid => return bounds.clamp(0),
            DeltaSeconds::Absent => {}
        }
        if let Some(expires) = self.expires {
            let Some(expires) = parse_imf_fixdate(expires.trim()) else {
                return bounds.clamp(0);
            };
            let date = self
                .date
                .and_then(|d| parse_imf_fixdate(d.trim()))
                .unwrap_or(received_at_unix_secs);
            let lifetime = expires.saturating_sub(date).saturating_sub(i64::from(age));
            let lifetime = u32::try_from(lifetime.max(0)).unwrap_or(u32::MAX);
            return bounds.clamp(lifetime);
        }
        bounds.clamp(bounds.default_secs)
    }
}

/// The freshness lifetime in seconds from a `Cache-Control` value alone: `max-age` clamped to
/// `[floor, ceiling]`; `no-cache` or `no-store` → `floor`; an invalid or conflicting `max-age`
/// → `floor`; absent or unrecognised → `default`, clamped. See the module documentation for
/// the reasons, and [`ResponseCacheHeaders`] to take `Expires` and `Age` into account.
pub fn freshness_lifetime(
    cache_control: Option<&str>,
    floor: u32,
    ceiling: u32,
    default: u32,
) -> u32 {
    let bounds = FreshnessBounds {
        floor_secs: floor,
        ceiling_secs: ceiling,
        default_secs: default,
    };
    ResponseCacheHeaders {
        cache_control,
        ..ResponseCacheHeaders::default()
    }
    .lifetime_secs(0, &bounds)
}

/// Splits off one comma-separated member, honouring quoted strings (a quoted `,` does not end
/// the member).
fn split_member(s: &[u8]) -> (&[u8], &[u8]) {
    let mut in_quotes = false;
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'\\' if in_quotes => i += 1,
            b'"' => in_quotes = !in_quotes,
            b',' if !in_quotes => return (&s[..i], &s[i + 1..]),
            _ => {}
        }
        i += 1;
    }
    (s, &[])
}

/// Parses `name [= (token | quoted-string)]` with optional whitespace. Returns `None` when no
/// name can be read; a name followed by a malformed value yields `Some(String::new())` as its
/// value, so that a recognised directive with a broken value counts as invalid, not absent.
fn parse_member(member: &[u8]) -> Option<(String, Option<String>)> {
    let member = trim_ows(member);
    let name_len = member.iter().take_while(|b| is_tchar(**b)).count();
    if name_len == 0 {
        return None;
    }
    let name = std::str::from_utf8(&member[..name_len]).ok()?.to_owned();
    let rest = trim_ows(&member[name_len..]);
    if rest.is_empty() {
        return Some((name, None));
    }
    let value = rest
        .strip_prefix(b"=")
        .and_then(|v| parse_value(trim_ows(v)))
        .unwrap_or_default();
    Some((name, Some(value)))
}

/// A `token` or `quoted-string` filling the whole input, unquoted; `None` if malformed.
fn parse_value(value: &[u8]) -> Option<String> {
    let bytes = if let Some(quoted) = value.strip_prefix(b"\"") {
        let mut out = Vec::new();
        let mut i = 0;
        loop {
            match *quoted.get(i)? {
                b'"' => break,
                b'\\' => {
                    out.push(*quoted.get(i + 1)?);
                    i += 2;
                }
                b => {
                    out.push(b);
                    i += 1;
                }
            }
        }
        if !trim_ows(&quoted[i + 1..]).is_empty() {
            return None;
        }
        out
    } else {
        if value.is_empty() || !value.iter().all(|b| is_tchar(*b)) {
            return None;
        }
        value.to_vec()
    };
    String::from_utf8(bytes).ok()
}

fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// RFC 9110 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// RFC 9111 §1.2.2 `delta-seconds`: one or more digits; values beyond 2^31 become 2^31.
fn parse_delta_seconds(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    const CAP: u32 = 1 << 31;
    Some(s.parse::<u32>().map_or(CAP, |v| v.min(CAP)))
}

/// Parses an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) to Unix seconds.
fn parse_imf_fixdate(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 29 || &b[3..5] != b", " || &b[25..] != b" GMT" {
        return None;
    }
    const DAYS: [&[u8]; 7] = [b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat", b"Sun"];
    const MONTHS: [&[u8]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    if !DAYS.contains(&&b[0..3]) || b[7] != b' ' || b[11] != b' ' || b[16] != b' ' {
        return None;
    }
    if b[19] != b':' || b[22] != b':' {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let digits = &b[range];
        if !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(
            digits
                .iter()
                .fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0')),
        )
    };
    let day = num(5..7)?;
    let month = MONTHS.iter().position(|m| *m == &b[8..11])?;
    let year = num(12..16)?;
    let (hour, minute, second) = (num(17..19)?, num(20..22)?, num(23..25)?);
    // Month index is < 12 by construction of MONTHS.
    let month = i64::try_from(month).ok()? + 1;
    if !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second)
}

/// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: FreshnessBounds = FreshnessBounds {
        floor_secs: 60,
        ceiling_secs: 86_400,
        default_secs: 600,
    };

    fn cc(header: &str) -> u32 {
        freshness_lifetime(Some(header), 60, 86_400, 600)
    }

    #[test]
    fn max_age_within_bounds_is_used_as_is() {
        assert_eq!(cc("max-age=300"), 300);
    }

    #[test]
    fn max_age_below_floor_is_raised_to_floor() {
        assert_eq!(cc("max-age=5"), 60);
        assert_eq!(cc("max-age=0"), 60);
    }

    #[test]
    fn max_age_above_ceiling_is_lowered_to_ceiling() {
        assert_eq!(cc("max-age=31536000"), 86_400);
    }

    #[test]
    fn max_age_beyond_u32_is_capped_not_rejected() {
        assert_eq!(cc("max-age=99999999999999999999"), 86_400);
    }

    #[test]
    fn no_cache_gives_floor_not_zero() {
        assert_eq!(cc("no-cache"), 60);
        assert_eq!(cc("no-cache, max-age=3600"), 60);
        assert_eq!(cc("max-age=3600, no-cache=\"set-cookie, x\""), 60);
    }

    #[test]
    fn no_store_gives_floor() {
        assert_eq!(cc("no-store"), 60);
        assert_eq!(cc("NO-STORE , max-age=900"), 60);
    }

    #[test]
    fn absent_header_gives_default() {
        assert_eq!(freshness_lifetime(None, 60, 86_400, 600), 600);
    }

    #[test]
    fn default_is_clamped_too() {
        assert_eq!(freshness_lifetime(None, 60, 300, 600), 300);
        assert_eq!(freshness_lifetime(None, 60, 300, 10), 60);
    }

    #[test]
    fn garbage_header_gives_default() {
        for h in [
            "",
            "   ",
            ",,,",
            "\u{7f}\u{1}",
            "=5",
            "\"max-age=5\"",
            "foo bar baz",
        ] {
            assert_eq!(cc(h), 600, "{h:?}");
        }
    }

    #[test]
    fn invalid_max_age_is_stale_so_floor() {
        for h in [
            "max-age=abc",
            "max-age=-1",
            "max-age=1.5",
            "max-age=",
            "max-age",
            "max-age=\"\"",
            "max-age=1 2",
            "max-age=\"120\" x",
            "max-age=\"120",
        ] {
            assert_eq!(cc(h), 60, "{h:?}");
        }
    }

    #[test]
    fn conflicting_max_age_is_stale_so_floor() {
        assert_eq!(cc("max-age=300, max-age=600"), 60);
        assert_eq!(cc("max-age=300, max-age=300"), 300);
    }

    #[test]
    fn directive_names_are_case_insensitive_and_whitespace_tolerant() {
        assert_eq!(cc("  Max-Age = 120 "), 120);
        assert_eq!(cc("public,\tMAX-AGE=120"), 120);
    }

    #[test]
    fn quoted_max_age_is_accepted() {
        assert_eq!(cc("max-age=\"120\""), 120);
    }

    #[test]
    fn quoted_comma_does_not_split_members() {
        assert_eq!(cc("private=\"a, max-age=5\", max-age=120"), 120);
        assert!(CacheDirectives::parse("private=\"a, b\"").private);
    }

    #[test]
    fn unterminated_quote_skips_the_rest() {
        assert_eq!(cc("max-age=120, foo=\"unterminated, max-age=5"), 120);
    }

    #[test]
    fn joined_header_lines_are_combined() {
        let d = CacheDirectives::parse("public, max-age=300, must-revalidate");
        assert_eq!(d.max_age, DeltaSeconds::Valid(300));
        assert!(d.must_revalidate && !d.private && !d.no_cache && !d.no_store);
    }

    #[test]
    fn s_maxage_is_parsed_but_ignored() {
        let d = CacheDirectives::parse("s-maxage=50000");
        assert_eq!(d.s_maxage, DeltaSeconds::Valid(50_000));
        assert_eq!(cc("s-maxage=50000"), 600);
        assert_eq!(cc("s-maxage=50000, max-age=120"), 120);
    }

    #[test]
    fn must_revalidate_and_private_do_not_change_lifetime() {
        assert_eq!(cc("private, must-revalidate, max-age=120"), 120);
    }

    #[test]
    fn floor_above_ceiling_yields_ceiling() {
        assert_eq!(freshness_lifetime(Some("max-age=100"), 500, 200, 300), 200);
        assert_eq!(freshness_lifetime(Some("no-cache"), 500, 200, 300), 200);
    }

    #[test]
    fn age_is_subtracted_from_max_age() {
        let h = ResponseCacheHeaders {
            cache_control: Some("max-age=600"),
            age: Some("100"),
            ..Default::default()
        };
        assert_eq!(h.lifetime_secs(0, &B), 500);
    }

    #[test]
    fn age_larger_than_max_age_gives_floor() {
        let h = ResponseCacheHeaders {
            cache_control: Some("max-age=600"),
            age: Some("9000"),
            ..Default::default()
        };
        assert_eq!(h.lifetime_secs(0, &B), 60);
    }

    #[test]
    fn invalid_age_gives_floor() {
        let h = ResponseCacheHeaders {
            cache_control: Some("max-age=600"),
            age: Some("ten"),
            ..Default::default()
        };
        assert_eq!(h.lifetime_secs(0, &B), 60);
    }

    #[test]
    fn expires_minus_date_is_used_without_max_age() {
        let h = ResponseCacheHeaders {
            expires: Some("Sun, 06 Nov 1994 09:49:37 GMT"),
            date: Some("Sun, 06 Nov 1994 08:49:37 GMT"),
            ..Default::default()
        };
        assert_eq!(h.lifetime_secs(0, &B), 3600);
    }

    #[test]
    fn expires_without_date_uses_receive_time() {
        let expires = parse_imf_fixdate("Sun, 06 Nov 1994 08:49:37 GMT").expect("valid date");
        assert_eq!(expires, 784_111_777);
        let h = ResponseCacheHeaders {
            expires: Some("Sun, 06 Nov 1994 08:49:37 GMT"),
            ..Default::default()
        };
        assert_eq!(h.lifetime_secs(expires - 900, &B), 900);
    }

    #[test]
    fn max_age_overrides_expires() {
        let h = ResponseCacheHeaders {
            cache_control: Some("max-age=120"),
            expires: Some("0"),
            ..Default::default()
        };
        assert_eq!(h.lifetime_secs(0, &B), 120);
    }

    #[test]
    fn invalid_or_past_expires_gives_floor() {
        for e in [
            "0",
            "-1",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        ] {
            let h = ResponseCacheHeaders {
                expires: Some(e),
                ..Default::default()
            };
            assert_eq!(h.lifetime_secs(784_111_777, &B), 60, "{e:?}");
        }
        let past = ResponseCacheHeaders {
            expires: Some("Sun, 06 Nov 1994 08:49:37 GMT"),
            ..Default::default()
        };
        assert_eq!(past.lifetime_secs(784_111_777 + 10_000, &B), 60);
    }

    #[test]
    fn imf_fixdate_rejects_malformed_fields() {
        for d in [
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 36 Nov 1994 08:49:37 GMT",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 25:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37 GMT ",
            "Xyz, 06 Nov 1994 08:49:37 GMT",
            "Sun, 0a Nov 1994 08:49:37 GMT",
        ] {
            assert_eq!(parse_imf_fixdate(d), None, "{d:?}");
        }
        assert_eq!(parse_imf_fixdate("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
    }
}
