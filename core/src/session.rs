//! The verified claims a session keeps for its lifetime: what `pg_bearer.claims()`,
//! `pg_bearer.claim(name)`, `pg_bearer.scopes()`, `pg_bearer.issuer()` and
//! `pg_bearer.token_expires_at()` answer from.
//!
//! The backend that validates the token is the backend that serves the session, so the
//! claims are kept in that process's memory, built once at login by [`SessionClaims::new`]
//! from a token that passed every check. They are not a setting: no SQL can change them.
//!
//! # What is kept
//!
//! - The issuer, the granted scopes and `exp` are kept on their own, whatever the selection
//!   and the cap: [`SessionClaims::issuer`], [`SessionClaims::scopes`],
//!   [`SessionClaims::expires_at`].
//! - The claims object is kept as far as [`ClaimRetention`] allows: the top-level claims the
//!   [`ClaimSelection`] names, then cut to [`ClaimRetention::max_bytes`] by the drop rule
//!   below.
//! - A top-level claim whose name or value contains U+0000 anywhere (JSON `\u0000`), or that
//!   nests deeper than [`MAX_DEPTH`], is never kept: PostgreSQL's `text` and `jsonb` cannot
//!   hold U+0000, so keeping it would make `pg_bearer.claims()` fail for the whole session.
//!   A scope word containing U+0000 is dropped for the same reason.
//!
//! # The drop rule
//!
//! The size is that of the compact JSON text of the kept object ([`SessionClaims::claims_json`]),
//! in bytes. When the selected claims do not fit in the cap, claims are considered one at a
//! time in this order and each is kept if the object with it still fits; otherwise it is
//! dropped and the next one is considered:
//!
//! 1. the registered claims, in the order of [`REGISTERED_CLAIMS`]
//!    (`iss`, `sub`, `aud`, `exp`, `nbf`, `iat`, `jti`, `client_id`, `scope`, `scp`);
//! 2. every other claim, smallest first (the size of its `"name":value` member), ties broken
//!    by name (byte order).
//!
//! Whole top-level claims are kept or dropped, never cut. The result is the same for the same
//! claims and settings. The empty object `{}` (2 bytes) is always valid: a cap below 2 bytes
//! keeps no claim and still yields `{}`. [`RetentionReport`] says how many claims were dropped
//! and why, for one log line.
//!
//! # Lookup
//!
//! [`SessionClaims::claim`] takes a top-level name or a JSON Pointer, parsed by
//! [`ClaimPath::parse`]: a text without a leading `/` is one member name taken verbatim
//! (`a/b` is the member named `a/b`); a leading `/` starts an RFC 6901 pointer, with `~1` for
//! `/` and `~0` for `~` (`/a~1b` is that same member). Pointers descend into objects and, by
//! index, into arrays (`/groups/0`), as [`ClaimPath::resolve`] does. A member whose name
//! starts with `/` is reachable only through its escaped pointer (`/~1x` for `/x`). The
//! answer is:
//!
//! - a JSON string: its text, unescaped;
//! - a number, boolean, object or array: its compact JSON text (`5`, `true`, `["a","b"]`);
//! - JSON `null`: `None` (SQL NULL), like an absent claim. Returning the text `null` would make
//!   `"tenant": null` equal to a tenant named `null` in `tenant = pg_bearer.claim('tenant')`;
//! - an absent, unselected or dropped claim, an invalid pointer (`~2`, `//`, a trailing `/`) or
//!   an empty name: `None`.
//!
//! Names are compared byte for byte: no case folding, no Unicode normalisation.
//!
//! # Memory
//!
//! A session holds the kept claims twice, as JSON text of at most `max_bytes` bytes and as
//! the tree lookups use (a small multiple of that), plus at most [`MAX_SCOPES`] scope words
//! of [`MAX_SCOPES_LEN`] bytes in all, plus the issuer. A lookup refuses a name longer than
//! could match before copying it. Nothing here logs; the `Debug` output shows sizes and
//! counts only.

use std::collections::BTreeSet;
use std::fmt;

use crate::claims::{ClaimPath, MAX_NUMERIC_DATE};
use crate::json::{self, Json, JsonObject, MAX_DEPTH};
use crate::scope;

/// The default of [`ClaimRetention::max_bytes`]: 64 kB. Larger than any token pg_bearer
/// accepts ([`crate::envelope::MAX_TOKEN_LEN`]) and as large as any introspection answer
/// ([`crate::introspection::MAX_RESPONSE_LEN`]), so by default only a claim that cannot be
/// represented is ever dropped.
pub const DEFAULT_MAX_BYTES: usize = 64 * 1024;

/// The registered claims, kept first when the cap forces a choice, in this order.
pub const REGISTERED_CLAIMS: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "exp",
    "nbf",
    "iat",
    "jti",
    "client_id",
    "scope",
    "scp",
];

/// The most names a [`ClaimSelection`] list may hold.
pub const MAX_SELECTED_NAMES: usize = 256;

/// The longest name a [`ClaimSelection`] list may hold, in bytes.
pub const MAX_SELECTED_NAME_LEN: usize = 256;

/// The most scope words a session keeps; later ones are dropped.
pub const MAX_SCOPES: usize = 1024;

/// The most bytes of scope words a session keeps in all; later words are dropped.
pub const MAX_SCOPES_LEN: usize = 16 * 1024;

/// Which top-level claims a session keeps. Parsed from a setting with
/// [`ClaimSelection::parse`]. Defaults to [`ClaimSelection::All`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ClaimSelection {
    /// Every claim (the setting `*`).
    #[default]
    All,
    /// Only the claims with these top-level names (an empty set keeps none).
    Names(BTreeSet<String>),
}

impl ClaimSelection {
    /// Parses the setting: `*` for all claims, or top-level claim names separated by commas.
    ///
    /// Whitespace around each name is ignored. The empty string (or only whitespace) keeps no
    /// claim. Refused, each with its own [`SelectionError`]: an empty item (`a,,b`, `a,`),
    /// `*` inside a list, a JSON Pointer (a name starting with `/`: the selection is of
    /// top-level claims), a name with whitespace or a control character inside, a name
    /// repeated, a name longer than [`MAX_SELECTED_NAME_LEN`] bytes, and more than
    /// [`MAX_SELECTED_NAMES`] names.
    pub fn parse(text: &str) -> Result<ClaimSelection, SelectionError> {
        let trimmed = text.trim();
        if trimmed == "*" {
            return Ok(ClaimSelection::All);
        }
        let mut names = BTreeSet::new();
        if trimmed.is_empty() {
            return Ok(ClaimSelection::Names(names));
        }
        for (index, raw) in trimmed.split(',').enumerate() {
            let position = index + 1;
            let name = raw.trim();
            if name.is_empty() {
                return Err(SelectionError::EmptyName { position });
            }
            if name.len() > MAX_SELECTED_NAME_LEN {
                return Err(SelectionError::NameTooLong { position });
            }
            if name.contains('*') {
                return Err(SelectionError::Wildcard(name.to_owned()));
            }
            if name.starts_with('/') {
                return Err(SelectionError::Pointer(name.to_owned()));
            }
            if name.chars().any(char::is_control) {
                return Err(SelectionError::ControlCharacter(name.to_owned()));
            }
            if name.chars().any(char::is_whitespace) {
                return Err(SelectionError::Whitespace(name.to_owned()));
            }
            if names.len() == MAX_SELECTED_NAMES {
                return Err(SelectionError::TooManyNames);
            }
            if !names.insert(name.to_owned()) {
                return Err(SelectionError::Duplicate(name.to_owned()));
            }
        }
        Ok(ClaimSelection::Names(names))
    }

    /// Whether the top-level claim `name` is selected.
    pub fn keeps(&self, name: &str) -> bool {
        match self {
            ClaimSelection::All => true,
            ClaimSelection::Names(names) => names.contains(name),
        }
    }
}

/// Why a claim selection setting was refused. The messages quote the setting, never a token.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SelectionError {
    /// Item `position` (from 1) is empty: two commas in a row, or one at either end.
    EmptyName {
        /// 1-based position in the list.
        position: usize,
    },
    /// Item `position` is longer than [`MAX_SELECTED_NAME_LEN`] bytes.
    NameTooLong {
        /// 1-based position in the list.
        position: usize,
    },
    /// A `*` inside a list; only the whole setting may be `*`.
    Wildcard(String),
    /// A JSON Pointer; the selection names top-level claims.
    Pointer(String),
    /// A control character inside a name.
    ControlCharacter(String),
    /// Whitespace inside a name (a missing comma?).
    Whitespace(String),
    /// A name listed twice.
    Duplicate(String),
    /// More than [`MAX_SELECTED_NAMES`] names.
    TooManyNames,
}

impl fmt::Display for SelectionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SelectionError::EmptyName { position } => write!(
                f,
                "claim {position} of the list is empty; separate names with single commas"
            ),
            SelectionError::NameTooLong { position } => write!(
                f,
                "claim {position} of the list is longer than {MAX_SELECTED_NAME_LEN} bytes"
            ),
            SelectionError::Wildcard(n) => write!(
                f,
                "{n:?}: there are no wildcards; use \"*\" alone for all claims"
            ),
            SelectionError::Pointer(n) => write!(
                f,
                "{n:?} is a JSON Pointer; list top-level claim names (\"realm_access\", \
                 not \"/realm_access/roles\")"
            ),
            SelectionError::ControlCharacter(n) => {
                write!(f, "{n:?} contains a control character")
            }
            SelectionError::Whitespace(n) => {
                write!(f, "{n:?} contains whitespace; separate names with commas")
            }
            SelectionError::Duplicate(n) => write!(f, "{n:?} is listed twice"),
            SelectionError::TooManyNames => {
                write!(f, "more than {MAX_SELECTED_NAMES} claims are listed")
            }
        }
    }
}

impl std::error::Error for SelectionError {}

/// How much of a token's claims a session keeps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimRetention {
    /// Which top-level claims are kept. Defaults to [`ClaimSelection::All`].
    pub selection: ClaimSelection,
    /// The largest kept claims object, as compact JSON text, in bytes. Defaults to
    /// [`DEFAULT_MAX_BYTES`]. See the module documentation for what is dropped when the
    /// selected claims are larger.
    pub max_bytes: usize,
}

impl Default for ClaimRetention {
    fn default() -> Self {
        ClaimRetention {
            selection: ClaimSelection::All,
            max_bytes: DEFAULT_MAX_BYTES,
        }
    }
}

/// What [`SessionClaims::new`] kept and dropped: counts and sizes only, never a claim name or
/// value, so its `Display` is safe for the server log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RetentionReport {
    /// Top-level claims in the token or answer.
    pub claims_total: usize,
    /// Claims kept.
    pub claims_kept: usize,
    /// Claims the selection does not name.
    pub not_selected: usize,
    /// Selected claims never kept because they contain U+0000 or nest too deeply.
    pub unrepresentable: usize,
    /// Selected claims dropped to fit the cap.
    pub over_cap: usize,
    /// The size of the JSON object of the selected, representable claims, in bytes: what
    /// would be kept without a cap.
    pub full_bytes: usize,
    /// The size of the kept JSON object, in bytes.
    pub kept_bytes: usize,
    /// The cap the claims were kept under ([`ClaimRetention::max_bytes`]).
    pub max_bytes: usize,
    /// Scope words not kept: with U+0000 inside, or past [`MAX_SCOPES`] words or
    /// [`MAX_SCOPES_LEN`] bytes. A repeated word is kept once and not counted here.
    pub scopes_dropped: usize,
}

impl RetentionReport {
    /// Whether something the selection asked for was not kept, which deserves a log line.
    /// Claims left out by the selection alone do not.
    pub fn is_worth_logging(&self) -> bool {
        self.over_cap > 0 || self.unrepresentable > 0 || self.scopes_dropped > 0
    }
}

impl fmt::Display for RetentionReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "session keeps {} of {} claims ({} of {} bytes, cap {}); dropped: {} over the cap, \
             {} unrepresentable, {} not selected, {} scopes",
            self.claims_kept,
            self.claims_total,
            self.kept_bytes,
            self.full_bytes,
            self.max_bytes,
            self.over_cap,
            self.unrepresentable,
            self.not_selected,
            self.scopes_dropped,
        )
    }
}

/// The verified claims of the token a session logged in with. See the module documentation.
///
/// Its `Debug` output shows counts and sizes only: claims are as sensitive as the token.
#[derive(Clone, PartialEq)]
pub struct SessionClaims {
    kept: JsonObject,
    kept_json: String,
    issuer: String,
    scopes: Vec<String>,
    expires_at: Option<i64>,
}

/// A selected, representable claim waiting for the cap.
struct Candidate {
    name: String,
    value: Json,
    /// The length of `"name":value` in compact JSON text.
    member_len: usize,
}

impl SessionClaims {
    /// Builds the session's claims from a token that passed every check.
    ///
    /// - `claims`: the verified claims object of a JWT, or the claims of an introspection or
    ///   userinfo answer that was accepted;
    /// - `issuer`: the issuer the token was validated against (the configured one);
    /// - `expires_at`: `exp` as validation read it, seconds since the epoch
    ///   ([`crate::policy::Verified::exp`], [`crate::introspection::OpaqueVerified::exp`]);
    ///   `None` for an answer without `exp`. A value outside 0..=[`MAX_NUMERIC_DATE`] is kept
    ///   as `None`.
    ///
    /// The scopes are read from `scope` and `scp` by [`scope::granted_scopes`] before the
    /// selection applies; repeats are kept once, in token order. Never panics.
    pub fn new(
        claims: JsonObject,
        issuer: &str,
        expires_at: Option<i64>,
        retention: &ClaimRetention,
    ) -> (SessionClaims, RetentionReport) {
        let mut report = RetentionReport {
            claims_total: claims.len(),
            max_bytes: retention.max_bytes,
            ..RetentionReport::default()
        };
        let scopes = session_scopes(&claims, &mut report);

        let mut candidates = Vec::new();
        for (name, value) in claims {
            if !retention.selection.keeps(&name) {
                report.not_selected += 1;
                continue;
            }
            if !is_representable(&name, &value) {
                report.unrepresentable += 1;
                continue;
            }
            let member_len = json::text_len(name.as_str())
                .saturating_add(1)
                .saturating_add(json::text_len(&value));
            candidates.push(Candidate {
                name,
                value,
                member_len,
            });
        }
        report.full_bytes = object_len(candidates.iter().map(|c| c.member_len));

        if report.full_bytes > retention.max_bytes {
            candidates.sort_by(|a, b| drop_order_key(a).cmp(&drop_order_key(b)));
        }
        let mut kept = JsonObject::new();
        let mut used = object_len(std::iter::empty());
        for candidate in candidates {
            let comma = usize::from(!kept.is_empty());
            let with = used
                .saturating_add(candidate.member_len)
                .saturating_add(comma);
            if with <= retention.max_bytes {
                used = with;
                kept.insert(candidate.name, candidate.value);
            } else {
                report.over_cap += 1;
            }
        }
        let kept_json = json::to_text(&kept);
        report.claims_kept = kept.len();
        report.kept_bytes = kept_json.len();

        let expires_at = expires_at.filter(|t| (0..=MAX_NUMERIC_DATE).contains(t));
        let session = SessionClaims {
            kept,
            kept_json,
            issuer: issuer.to_owned(),
            scopes,
            expires_at,
        };
        (session, report)
    }

    /// The kept claims as compact JSON text: an object, `{}` when none is kept. For
    /// `pg_bearer.claims()`.
    pub fn claims_json(&self) -> &str {
        &self.kept_json
    }

    /// The kept claims.
    pub fn claims(&self) -> &JsonObject {
        &self.kept
    }

    /// One kept claim by top-level name or JSON Pointer, as text. For `pg_bearer.claim(name)`;
    /// see "Lookup" in the module documentation for the exact rules.
    pub fn claim(&self, name_or_pointer: &str) -> Option<String> {
        // A pointer that could match is at most twice as long as the kept JSON text (each
        // segment's escaped form is at most twice its member name, which the text quotes):
        // refuse longer input before copying it.
        if name_or_pointer.len() > self.kept_json.len().saturating_mul(2) {
            return None;
        }
        let path = ClaimPath::parse(name_or_pointer).ok()?;
        match path.resolve(&self.kept)? {
            Json::Null => None,
            Json::String(s) => Some(s.clone()),
            other => Some(json::to_text(other)),
        }
    }

    /// The issuer the token was validated against. For `pg_bearer.issuer()`.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The granted scope words, `scope` then `scp`, each once. For `pg_bearer.scopes()`.
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }

    /// `exp`, seconds since the epoch, if the token or answer had one. For
    /// `pg_bearer.token_expires_at()`.
    pub fn expires_at(&self) -> Option<i64> {
        self.expires_at
    }
}

impl fmt::Debug for SessionClaims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionClaims")
            .field("claims", &self.kept.len())
            .field("json_bytes", &self.kept_json.len())
            .field("issuer_bytes", &self.issuer.len())
            .field("scopes", &self.scopes.len())
            .field("expires", &self.expires_at.is_some())
            .finish()
    }
}

/// The scope words to keep: granted, without U+0000, each once, within the limits. A
/// malformed `scope`/`scp` (which validation refuses before this) gives no scopes.
fn session_scopes(claims: &JsonObject, report: &mut RetentionReport) -> Vec<String> {
    let granted = scope::granted_scopes(claims).unwrap_or_default();
    let mut seen = BTreeSet::new();
    let mut scopes = Vec::new();
    let mut total_len = 0usize;
    for word in granted {
        if seen.contains(word) {
            continue;
        }
        let fits =
            scopes.len() < MAX_SCOPES && total_len.saturating_add(word.len()) <= MAX_SCOPES_LEN;
        if word.contains('\0') || !fits {
            report.scopes_dropped += 1;
            continue;
        }
        seen.insert(word);
        total_len += word.len();
        scopes.push(word.to_owned());
    }
    scopes
}

/// The length of a compact JSON object with members of these lengths.
fn object_len(member_lens: impl Iterator<Item = usize>) -> usize {
    let mut len = 2usize; // {}
    for (i, member) in member_lens.enumerate() {
        len = len
            .saturating_add(member)
            .saturating_add(usize::from(i > 0));
    }
    len
}

/// The cap's order: registered claims by their place in [`REGISTERED_CLAIMS`], then the
/// others by size, then by name.
fn drop_order_key(c: &Candidate) -> (usize, usize, &str) {
    match REGISTERED_CLAIMS.iter().position(|r| *r == c.name) {
        Some(rank) => (rank, 0, ""),
        None => (REGISTERED_CLAIMS.len(), c.member_len, &c.name),
    }
}

/// Whether the claim can live in PostgreSQL `text`/`jsonb` and is shallow enough to
/// serialize without deep recursion: no U+0000 in any name or string, containers nested at
/// most [`MAX_DEPTH`] levels counting the claims object as level 1. Iterative, so a
/// hand-built deep value cannot overflow the stack here.
fn is_representable(name: &str, value: &Json) -> bool {
    if name.contains('\0') {
        return false;
    }
    let mut pending = vec![(value, 2usize)];
    while let Some((value, depth)) = pending.pop() {
        match value {
            Json::String(s) if s.contains('\0') => return false,
            Json::Array(_) | Json::Object(_) if depth > MAX_DEPTH => return false,
            Json::Array(items) => pending.extend(items.iter().map(|v| (v, depth + 1))),
            Json::Object(members) => {
                for (k, v) in members {
                    if k.contains('\0') {
                        return false;
                    }
                    pending.push((v, depth + 1));
                }
            }
            _ => {}
        }
    }
    true
}

/// When a session that logged in with a token expiring at `expires_at` must end, under
/// `pg_bearer.session_expiry` (`enforce`): `Ok(None)` when it is off; `Ok(Some(exp))` for a
/// token still valid at `now` by its own `exp`, without the clock-skew leeway the login check
/// allows (a session armed to end in the past would end at once, after the client was told it
/// logged in); refused when the token has no `exp` (an introspection answer without one) or
/// is past it.
pub fn session_end(
    expires_at: Option<i64>,
    now: i64,
    enforce: bool,
) -> Result<Option<i64>, crate::reason::Rejection> {
    use crate::reason::{Reason, Rejection};
    if !enforce {
        return Ok(None);
    }
    match expires_at {
        None => Err(Rejection::for_claim(Reason::MissingClaim, "exp")),
        Some(exp) if exp <= now => Err(Rejection::for_claim(Reason::Expired, "exp")),
        Some(exp) => Ok(Some(exp)),
    }
}

/// `secs` since the Unix epoch as `YYYY-MM-DD HH:MM:SS UTC`, for the message that ends an
/// expired session (the same text whatever the session's `TimeZone` and `DateStyle`).
pub fn utc_text(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}
