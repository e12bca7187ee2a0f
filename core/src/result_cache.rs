//! The shared cache of introspection and userinfo results, as plain data and pure functions.
//!
//! Each entry is keyed by the SHA-256 of the issuer, the kind of lookup and the token: the
//! token itself is never stored. The value is the provider's response body (the token's
//! claims), judged again at every login against the policy of the HBA line at hand, so one
//! cached answer serves lines with different scopes or roles correctly. Entries never outlive
//! the token's `exp` nor a configured maximum; "inactive" answers are kept only briefly;
//! failures (HTTP errors, timeouts) are not cached. The table is bounded: expired entries are
//! reused first, then the least recently used.

use std::time::Duration;

use aws_lc_rs::digest;

/// Largest response body kept in an entry; larger answers are used but not cached.
pub const MAX_CACHED_BODY: usize = 4096;

/// What an entry holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum EntryKind {
    /// An introspection response with `"active": true`.
    Introspection = 1,
    /// A userinfo response (HTTP 200).
    Userinfo = 2,
    /// Introspection said `"active": false`.
    Inactive = 3,
}

impl EntryKind {
    /// The kind a stored byte names.
    pub fn from_u8(v: u8) -> Option<EntryKind> {
        match v {
            1 => Some(EntryKind::Introspection),
            2 => Some(EntryKind::Userinfo),
            3 => Some(EntryKind::Inactive),
            _ => None,
        }
    }
}

/// One cached result: plain data for shared memory. All-zero is an empty entry.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct ResultEntry {
    key: [u8; 32],
    expires_at_ms: i64,
    last_used_ms: i64,
    body_len: u32,
    kind: u8,
    /// What `pg_bearer.result_cache` shows ([`Tag`]): never used to find an entry.
    token_prefix: [u8; TOKEN_PREFIX_LEN],
    issuer_len: u16,
    issuer: [u8; TAG_ISSUER_MAX],
    body: [u8; MAX_CACHED_BODY],
}

/// Bytes of the token's SHA-256 an entry shows (12 hex digits).
pub const TOKEN_PREFIX_LEN: usize = 6;
/// Longest issuer an entry shows; longer ones are cut (at a character boundary).
pub const TAG_ISSUER_MAX: usize = 256;

/// What the DBA view shows of an entry: the issuer and the first bytes of the SHA-256 of the
/// token (`left(encode(sha256(convert_to(token, 'UTF8')), 'hex'), 12)` in SQL), never the token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tag {
    issuer: String,
    token_prefix: [u8; TOKEN_PREFIX_LEN],
}

impl Tag {
    /// The tag of `token` checked against `issuer`.
    pub fn new(issuer: &str, token: &str) -> Tag {
        let hash = digest::digest(&digest::SHA256, token.as_bytes());
        let mut token_prefix = [0u8; TOKEN_PREFIX_LEN];
        token_prefix.copy_from_slice(&hash.as_ref()[..TOKEN_PREFIX_LEN]);
        let mut end = issuer.len().min(TAG_ISSUER_MAX);
        while !issuer.is_char_boundary(end) {
            end -= 1;
        }
        Tag {
            issuer: issuer[..end].to_owned(),
            token_prefix,
        }
    }
}

/// A live entry as the DBA view shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryView {
    /// The issuer the token was checked against (cut at [`TAG_ISSUER_MAX`] bytes).
    pub issuer: String,
    /// `introspection` or `userinfo`.
    pub kind: &'static str,
    /// Whether the answer accepts the token (`false`: introspection said inactive).
    pub active: bool,
    /// Until when the entry is used (ms since the epoch).
    pub expires_at_ms: i64,
    /// [`TOKEN_PREFIX_LEN`] bytes of the token's SHA-256, in hex.
    pub token_hash_prefix: String,
}

impl Default for ResultEntry {
    fn default() -> Self {
        ResultEntry {
            key: [0; 32],
            expires_at_ms: 0,
            last_used_ms: 0,
            body_len: 0,
            kind: 0,
            token_prefix: [0; TOKEN_PREFIX_LEN],
            issuer_len: 0,
            issuer: [0; TAG_ISSUER_MAX],
            body: [0; MAX_CACHED_BODY],
        }
    }
}

impl ResultEntry {
    fn live(&self, now_ms: i64) -> bool {
        EntryKind::from_u8(self.kind).is_some() && now_ms < self.expires_at_ms
    }
}

/// The lookup a key is for: an introspection and a userinfo answer for the same token are
/// different entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// RFC 7662 introspection.
    Introspection,
    /// OIDC userinfo.
    Userinfo,
}

/// The cache key: SHA-256 over the issuer, the lookup and the token, each length-prefixed.
pub fn token_key(issuer: &str, lookup: Lookup, token: &str) -> [u8; 32] {
    let mut ctx = digest::Context::new(&digest::SHA256);
    for part in [issuer.as_bytes(), &[lookup as u8], token.as_bytes()] {
        ctx.update(&(part.len() as u64).to_be_bytes());
        ctx.update(part);
    }
    let mut key = [0u8; 32];
    key.copy_from_slice(ctx.finish().as_ref());
    key
}

/// A live entry for `key`: its kind and a copy of its body. Marks it used.
pub fn lookup(
    entries: &mut [ResultEntry],
    key: &[u8; 32],
    now_ms: i64,
) -> Option<(EntryKind, Vec<u8>)> {
    let entry = entries
        .iter_mut()
        .find(|e| e.live(now_ms) && &e.key == key)?;
    entry.last_used_ms = now_ms;
    let kind = EntryKind::from_u8(entry.kind)?;
    let len = (entry.body_len as usize).min(MAX_CACHED_BODY);
    Some((kind, entry.body[..len].to_vec()))
}

/// Stores a result for `ttl_ms` (nothing if the TTL is not positive or the body too large).
/// Replaces an entry with the same key, else takes an empty or expired one, else the least
/// recently used live *inactive* answer; only a positive answer may then replace the least
/// recently used positive one. A negative answer never evicts a positive one, so a flood of
/// unknown tokens cannot push good answers out. Returns whether it stored.
pub fn insert(
    entries: &mut [ResultEntry],
    key: &[u8; 32],
    kind: EntryKind,
    body: &[u8],
    now_ms: i64,
    ttl_ms: i64,
) -> bool {
    place(entries, key, kind, body, now_ms, ttl_ms).is_some()
}

/// [`insert`], with what the DBA view shows of the entry.
pub fn insert_tagged(
    entries: &mut [ResultEntry],
    key: &[u8; 32],
    kind: EntryKind,
    body: &[u8],
    now_ms: i64,
    ttl_ms: i64,
    tag: &Tag,
) -> bool {
    let Some(entry) = place(entries, key, kind, body, now_ms, ttl_ms) else {
        return false;
    };
    entry.token_prefix = tag.token_prefix;
    entry.issuer[..tag.issuer.len()].copy_from_slice(tag.issuer.as_bytes());
    entry.issuer_len = tag.issuer.len() as u16;
    true
}

/// The live entries, as the DBA view shows them, soonest to expire first.
pub fn describe(entries: &[ResultEntry], now_ms: i64) -> Vec<EntryView> {
    let mut views: Vec<EntryView> = entries
        .iter()
        .filter(|e| e.live(now_ms))
        .filter_map(|e| {
            let kind = EntryKind::from_u8(e.kind)?;
            let issuer = &e.issuer[..(e.issuer_len as usize).min(TAG_ISSUER_MAX)];
            Some(EntryView {
                issuer: String::from_utf8_lossy(issuer).into_owned(),
                kind: match kind {
                    EntryKind::Userinfo => "userinfo",
                    EntryKind::Introspection | EntryKind::Inactive => "introspection",
                },
                active: kind != EntryKind::Inactive,
                expires_at_ms: e.expires_at_ms,
                token_hash_prefix: e.token_prefix.iter().map(|b| format!("{b:02x}")).collect(),
            })
        })
        .collect();
    views.sort_by_key(|v| v.expires_at_ms);
    views
}

/// Empties every entry (`pg_bearer.forget_results()`); returns how many were live.
pub fn forget_all(entries: &mut [ResultEntry], now_ms: i64) -> usize {
    let live = entries.iter().filter(|e| e.live(now_ms)).count();
    for e in entries.iter_mut() {
        *e = ResultEntry::default();
    }
    live
}

/// Finds the entry [`insert`] writes, and writes everything but the tag (which it clears).
fn place<'a>(
    entries: &'a mut [ResultEntry],
    key: &[u8; 32],
    kind: EntryKind,
    body: &[u8],
    now_ms: i64,
    ttl_ms: i64,
) -> Option<&'a mut ResultEntry> {
    if ttl_ms <= 0 || body.len() > MAX_CACHED_BODY || entries.is_empty() {
        return None;
    }
    let lru = |entries: &[ResultEntry], pick: &dyn Fn(&ResultEntry) -> bool| {
        entries
            .iter()
            .enumerate()
            .filter(|(_, e)| pick(e))
            .min_by_key(|(_, e)| e.last_used_ms)
            .map(|(i, _)| i)
    };
    let index = entries
        .iter()
        .position(|e| &e.key == key && EntryKind::from_u8(e.kind).is_some())
        .or_else(|| entries.iter().position(|e| !e.live(now_ms)))
        .or_else(|| lru(entries, &|e| e.kind == EntryKind::Inactive as u8))
        .or_else(|| {
            (kind != EntryKind::Inactive)
                .then(|| lru(entries, &|_| true))
                .flatten()
        });
    let entry = index.and_then(|i| entries.get_mut(i))?;
    entry.key = *key;
    entry.kind = kind as u8;
    entry.expires_at_ms = now_ms.saturating_add(ttl_ms);
    entry.last_used_ms = now_ms;
    entry.body[..body.len()].copy_from_slice(body);
    entry.body_len = body.len() as u32;
    entry.token_prefix = [0; TOKEN_PREFIX_LEN];
    entry.issuer_len = 0;
    Some(entry)
}

/// How long a result may be cached, in milliseconds: an active answer until the token's `exp`
/// (seconds) but at most `max_ttl`; an inactive one for `negative_ttl`.
pub fn ttl_ms(
    now_ms: i64,
    kind: EntryKind,
    exp: Option<i64>,
    max_ttl: Duration,
    negative_ttl: Duration,
) -> i64 {
    let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    match kind {
        EntryKind::Inactive => ms(negative_ttl),
        EntryKind::Introspection | EntryKind::Userinfo => {
            let cap = ms(max_ttl);
            match exp {
                Some(exp) => exp.saturating_mul(1000).saturating_sub(now_ms).min(cap),
                None => cap,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(n: usize) -> Vec<ResultEntry> {
        vec![ResultEntry::default(); n]
    }

    #[test]
    fn keys_differ_by_issuer_lookup_and_token_and_hide_the_token() {
        let a = token_key("https://a", Lookup::Introspection, "tok");
        assert_ne!(a, token_key("https://b", Lookup::Introspection, "tok"));
        assert_ne!(a, token_key("https://a", Lookup::Userinfo, "tok"));
        assert_ne!(a, token_key("https://a", Lookup::Introspection, "tok2"));
        // Length prefixes: moving bytes between parts changes the key.
        assert_ne!(
            token_key("ab", Lookup::Introspection, "c"),
            token_key("a", Lookup::Introspection, "bc")
        );
        assert!(!a.windows(3).any(|w| w == b"tok"));
    }

    #[test]
    fn a_stored_result_is_found_until_it_expires() {
        let mut t = table(4);
        let k = token_key("i", Lookup::Introspection, "t");
        assert!(insert(
            &mut t,
            &k,
            EntryKind::Introspection,
            b"{\"active\":true}",
            1_000,
            500
        ));
        assert_eq!(
            lookup(&mut t, &k, 1_499).map(|(kind, _)| kind),
            Some(EntryKind::Introspection)
        );
        assert_eq!(
            lookup(&mut t, &k, 1_499).unwrap().1,
            b"{\"active\":true}".to_vec()
        );
        assert!(lookup(&mut t, &k, 1_500).is_none());
    }

    #[test]
    fn an_unknown_key_is_not_found() {
        let mut t = table(4);
        insert(
            &mut t,
            &token_key("i", Lookup::Introspection, "t"),
            EntryKind::Inactive,
            b"",
            0,
            100,
        );
        assert!(lookup(&mut t, &token_key("i", Lookup::Introspection, "u"), 1).is_none());
    }

    #[test]
    fn the_empty_table_entry_never_matches_an_all_zero_key() {
        let mut t = table(2);
        assert!(lookup(&mut t, &[0u8; 32], 0).is_none());
    }

    #[test]
    fn nothing_is_stored_without_a_positive_ttl_or_with_a_large_body() {
        let mut t = table(2);
        let k = token_key("i", Lookup::Introspection, "t");
        assert!(!insert(&mut t, &k, EntryKind::Introspection, b"x", 0, 0));
        assert!(!insert(&mut t, &k, EntryKind::Introspection, b"x", 0, -5));
        assert!(!insert(
            &mut t,
            &k,
            EntryKind::Introspection,
            &[b'x'; MAX_CACHED_BODY + 1],
            0,
            100
        ));
        assert!(lookup(&mut t, &k, 0).is_none());
    }

    #[test]
    fn a_full_table_evicts_expired_entries_first_then_the_least_recently_used() {
        let mut t = table(2);
        let k = |s: &str| token_key("i", Lookup::Introspection, s);
        insert(&mut t, &k("a"), EntryKind::Introspection, b"a", 0, 10);
        insert(&mut t, &k("b"), EntryKind::Introspection, b"b", 0, 1000);
        // a expired at 10: c takes its place, b stays.
        insert(&mut t, &k("c"), EntryKind::Introspection, b"c", 20, 1000);
        assert!(lookup(&mut t, &k("b"), 30).is_some());
        assert!(lookup(&mut t, &k("c"), 40).is_some());
        // Both live; b was used at 30, c at 40: d replaces b.
        insert(&mut t, &k("d"), EntryKind::Introspection, b"d", 50, 1000);
        assert!(lookup(&mut t, &k("b"), 60).is_none());
        assert!(lookup(&mut t, &k("c"), 60).is_some());
        assert!(lookup(&mut t, &k("d"), 60).is_some());
    }

    #[test]
    fn negative_answers_never_evict_positive_ones() {
        let mut t = table(4);
        let k = |s: &str| token_key("i", Lookup::Introspection, s);
        insert(
            &mut t,
            &k("good1"),
            EntryKind::Introspection,
            b"1",
            0,
            10_000,
        );
        insert(&mut t, &k("good2"), EntryKind::Userinfo, b"2", 1, 10_000);
        // A flood of unknown tokens: they share the two remaining entries.
        for i in 0..1_000 {
            let stored = insert(
                &mut t,
                &k(&format!("junk{i}")),
                EntryKind::Inactive,
                b"",
                10 + i,
                5_000,
            );
            assert!(stored, "junk{i} takes a free or inactive entry");
        }
        assert!(lookup(&mut t, &k("good1"), 2_000).is_some());
        assert!(lookup(&mut t, &k("good2"), 2_000).is_some());
        // With every entry positive and live, a negative answer is not stored at all.
        insert(
            &mut t,
            &k("good3"),
            EntryKind::Introspection,
            b"3",
            2_001,
            10_000,
        );
        insert(
            &mut t,
            &k("good4"),
            EntryKind::Introspection,
            b"4",
            2_002,
            10_000,
        );
        assert!(!insert(
            &mut t,
            &k("junk"),
            EntryKind::Inactive,
            b"",
            2_003,
            5_000
        ));
        for g in ["good1", "good2", "good3", "good4"] {
            assert!(lookup(&mut t, &k(g), 2_004).is_some(), "{g}");
        }
    }

    #[test]
    fn a_positive_answer_replaces_an_inactive_one_before_a_positive_one() {
        let mut t = table(2);
        let k = |s: &str| token_key("i", Lookup::Introspection, s);
        insert(
            &mut t,
            &k("good"),
            EntryKind::Introspection,
            b"g",
            0,
            10_000,
        );
        insert(&mut t, &k("bad"), EntryKind::Inactive, b"", 5, 10_000);
        // good is the least recently used, but bad is the one to go.
        assert!(insert(
            &mut t,
            &k("new"),
            EntryKind::Introspection,
            b"n",
            10,
            10_000
        ));
        assert!(lookup(&mut t, &k("good"), 20).is_some());
        assert!(lookup(&mut t, &k("new"), 20).is_some());
        assert!(lookup(&mut t, &k("bad"), 20).is_none());
        // All positive: the least recently used positive answer goes.
        assert!(insert(
            &mut t,
            &k("newer"),
            EntryKind::Introspection,
            b"m",
            30,
            10_000
        ));
        assert!(lookup(&mut t, &k("good"), 40).is_none());
        assert!(lookup(&mut t, &k("new"), 40).is_some());
    }

    #[test]
    fn storing_the_same_key_again_replaces_the_entry() {
        let mut t = table(3);
        let k = token_key("i", Lookup::Introspection, "t");
        insert(&mut t, &k, EntryKind::Introspection, b"old", 0, 100);
        insert(&mut t, &k, EntryKind::Inactive, b"", 10, 100);
        assert_eq!(
            lookup(&mut t, &k, 20).map(|(kind, _)| kind),
            Some(EntryKind::Inactive)
        );
        assert_eq!(t.iter().filter(|e| e.kind != 0).count(), 1);
    }

    #[test]
    fn active_results_never_outlive_the_token_nor_the_maximum() {
        let max = Duration::from_secs(60);
        let neg = Duration::from_secs(5);
        assert_eq!(
            ttl_ms(1_000_000, EntryKind::Introspection, Some(1_030), max, neg),
            30_000
        );
        assert_eq!(
            ttl_ms(1_000_000, EntryKind::Introspection, Some(9_999), max, neg),
            60_000
        );
        assert_eq!(
            ttl_ms(1_000_000, EntryKind::Introspection, None, max, neg),
            60_000
        );
        assert!(ttl_ms(1_000_000, EntryKind::Introspection, Some(999), max, neg) <= 0);
        assert_eq!(
            ttl_ms(1_000_000, EntryKind::Inactive, Some(9_999), max, neg),
            5_000
        );
    }
}
