//! The bytes of the PAM module's cache files. A PAM module runs in a fresh backend process at
//! every login, with no PostgreSQL shared memory, so the key cache and the result cache it
//! shares between logins live in files (the module does the I/O). This file decides what those
//! files hold and whether what was read can be trusted: a file that is short, long, corrupt,
//! written by another version or for another slot decodes to `None`, and the caller treats it
//! as absent and replaces it.
//!
//! Every record is `magic (8 bytes) | fields | SHA-256 of everything before it`. Variable
//! fields are length-prefixed (u32, little-endian) and capped by the caller's limits.

use aws_lc_rs::digest;

use crate::cache::IssuerCacheState;
use crate::request_budget::RequestBudget;
use crate::result_cache::EntryKind;

const KEYS_MAGIC: &[u8; 8] = b"PGBKEYS1";
const RESULT_MAGIC: &[u8; 8] = b"PGBRSLT1";
const BUDGET_MAGIC: &[u8; 8] = b"PGBBUDG1";
const DIGEST_LEN: usize = 32;

/// One key-cache slot as a file holds it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyRecord {
    pub state: IssuerCacheState,
    /// The slot's name (issuer, key source, transport): a file found under a name's hash is
    /// used only if it holds that very name.
    pub name: String,
    pub meta: Vec<u8>,
    pub jwks: Vec<u8>,
    /// The last refresh failure, empty after a success.
    pub error: String,
}

/// Caps on what a key record may hold.
#[derive(Clone, Copy, Debug)]
pub struct KeyLimits {
    pub name: usize,
    pub meta: usize,
    pub jwks: usize,
    pub error: usize,
}

impl KeyRecord {
    /// The file's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            128 + self.name.len() + self.meta.len() + self.jwks.len() + self.error.len(),
        );
        out.extend_from_slice(KEYS_MAGIC);
        out.extend_from_slice(&self.state.to_bytes());
        for part in [
            self.name.as_bytes(),
            &self.meta,
            &self.jwks,
            self.error.as_bytes(),
        ] {
            put_bytes(&mut out, part);
        }
        seal(out)
    }

    /// The record in `bytes` if it is whole, within `limits`, and for the slot `name`.
    pub fn decode(bytes: &[u8], name: &str, limits: &KeyLimits) -> Option<KeyRecord> {
        let mut r = Reader::open(bytes, KEYS_MAGIC)?;
        let state = IssuerCacheState::from_bytes(r.take(IssuerCacheState::ENCODED_LEN)?)?;
        let stored_name = r.bytes(limits.name)?;
        if stored_name != name.as_bytes() {
            return None;
        }
        let meta = r.bytes(limits.meta)?.to_vec();
        let jwks = r.bytes(limits.jwks)?.to_vec();
        let error = String::from_utf8(r.bytes(limits.error)?.to_vec()).ok()?;
        r.finish()?;
        Some(KeyRecord {
            state,
            name: name.to_owned(),
            meta,
            jwks,
            error,
        })
    }
}

/// One introspection or userinfo answer as a file holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResultRecord {
    /// `result_cache::token_key` of the answer: never the token.
    pub key: [u8; 32],
    pub kind: EntryKind,
    pub expires_at_ms: i64,
    pub body: Vec<u8>,
}

impl ResultRecord {
    /// The file's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(96 + self.body.len());
        out.extend_from_slice(RESULT_MAGIC);
        out.extend_from_slice(&self.key);
        out.push(self.kind as u8);
        out.extend_from_slice(&self.expires_at_ms.to_le_bytes());
        put_bytes(&mut out, &self.body);
        seal(out)
    }

    /// The record in `bytes` if it is whole, for `key`, with a body of at most `max_body`.
    /// Whether it is still live is the caller's question ([`ResultRecord::live`]).
    pub fn decode(bytes: &[u8], key: &[u8; 32], max_body: usize) -> Option<ResultRecord> {
        let mut r = Reader::open(bytes, RESULT_MAGIC)?;
        if r.take(32)? != key {
            return None;
        }
        let kind = EntryKind::from_u8(r.take(1)?[0])?;
        let expires_at_ms = i64::from_le_bytes(r.take(8)?.try_into().ok()?);
        let body = r.bytes(max_body)?.to_vec();
        r.finish()?;
        Some(ResultRecord {
            key: *key,
            kind,
            expires_at_ms,
            body,
        })
    }

    /// Whether the answer may still be used at `now_ms`. An expiry further ahead than
    /// `max_ttl_ms` can only come from a clock that stepped back, or a forged file: not live.
    pub fn live(&self, now_ms: i64, max_ttl_ms: i64) -> bool {
        now_ms < self.expires_at_ms && self.expires_at_ms - now_ms <= max_ttl_ms
    }
}

/// The unknown-token budgets as a file holds them.
pub fn encode_budgets(budgets: &[RequestBudget]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + budgets.len() * RequestBudget::ENCODED_LEN);
    out.extend_from_slice(BUDGET_MAGIC);
    out.extend_from_slice(&(budgets.len() as u32).to_le_bytes());
    for b in budgets {
        out.extend_from_slice(&b.to_bytes());
    }
    seal(out)
}

/// The budgets [`encode_budgets`] wrote (exactly `count` of them); `None` for anything else.
pub fn decode_budgets(bytes: &[u8], count: usize) -> Option<Vec<RequestBudget>> {
    let mut r = Reader::open(bytes, BUDGET_MAGIC)?;
    let n = u32::from_le_bytes(r.take(4)?.try_into().ok()?) as usize;
    if n != count {
        return None;
    }
    let budgets = (0..n)
        .map(|_| RequestBudget::from_bytes(r.take(RequestBudget::ENCODED_LEN)?))
        .collect::<Option<Vec<_>>>()?;
    r.finish()?;
    Some(budgets)
}

fn put_bytes(out: &mut Vec<u8>, part: &[u8]) {
    out.extend_from_slice(&(part.len() as u32).to_le_bytes());
    out.extend_from_slice(part);
}

fn seal(mut out: Vec<u8>) -> Vec<u8> {
    let sum = digest::digest(&digest::SHA256, &out);
    out.extend_from_slice(sum.as_ref());
    out
}

/// Reads a sealed record front to back.
struct Reader<'a> {
    body: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    /// The record's fields if `bytes` starts with `magic` and ends with its digest.
    fn open(bytes: &'a [u8], magic: &[u8; 8]) -> Option<Reader<'a>> {
        if bytes.len() < magic.len() + DIGEST_LEN || !bytes.starts_with(magic) {
            return None;
        }
        let (body, sum) = bytes.split_at(bytes.len() - DIGEST_LEN);
        let expected = digest::digest(&digest::SHA256, body);
        if expected.as_ref() != sum {
            return None;
        }
        Some(Reader {
            body,
            at: magic.len(),
        })
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n)?;
        let part = self.body.get(self.at..end)?;
        self.at = end;
        Some(part)
    }

    fn bytes(&mut self, max: usize) -> Option<&'a [u8]> {
        let n = u32::from_le_bytes(self.take(4)?.try_into().ok()?) as usize;
        if n > max {
            return None;
        }
        self.take(n)
    }

    /// Nothing may follow the last field.
    fn finish(self) -> Option<()> {
        (self.at == self.body.len()).then_some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::{CachePolicy, Need};
    use std::num::NonZeroI32;

    const LIMITS: KeyLimits = KeyLimits {
        name: 64,
        meta: 64,
        jwks: 64,
        error: 64,
    };

    fn record() -> KeyRecord {
        let mut state = IssuerCacheState::default();
        let me = NonZeroI32::new(42).unwrap();
        let policy = CachePolicy::default();
        if let crate::cache::LookupDecision::Refresh(t) =
            state.on_lookup(1_000, Need::Fresh, &policy, me)
        {
            let _ = state.on_refresh_success(t, 600, &policy);
        }
        KeyRecord {
            state,
            name: "https://idp\n\nca=|http=0".into(),
            meta: b"{}".to_vec(),
            jwks: br#"{"keys":[]}"#.to_vec(),
            error: String::new(),
        }
    }

    #[test]
    fn a_key_record_round_trips_with_its_state() {
        let r = record();
        let bytes = r.encode();
        let back = KeyRecord::decode(&bytes, &r.name, &LIMITS).unwrap();
        assert_eq!(back, r);
        assert!(back.state.has_data());
        assert_eq!(back.state.generation(), r.state.generation());
    }

    #[test]
    fn a_key_record_for_another_slot_is_not_used() {
        let r = record();
        assert_eq!(
            KeyRecord::decode(&r.encode(), "https://other", &LIMITS),
            None
        );
    }

    #[test]
    fn every_truncation_and_every_flipped_byte_is_refused() {
        let r = record();
        let bytes = r.encode();
        for len in 0..bytes.len() {
            assert_eq!(
                KeyRecord::decode(&bytes[..len], &r.name, &LIMITS),
                None,
                "{len}"
            );
        }
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x01;
            assert_eq!(KeyRecord::decode(&bad, &r.name, &LIMITS), None, "byte {i}");
        }
        let mut long = bytes.clone();
        long.push(0);
        assert_eq!(KeyRecord::decode(&long, &r.name, &LIMITS), None);
    }

    #[test]
    fn a_key_record_over_its_limits_is_refused() {
        let mut r = record();
        r.jwks = vec![b'x'; 65];
        assert_eq!(KeyRecord::decode(&r.encode(), &r.name, &LIMITS), None);
    }

    #[test]
    fn a_result_record_round_trips_and_knows_when_it_is_live() {
        let r = ResultRecord {
            key: [7; 32],
            kind: EntryKind::Introspection,
            expires_at_ms: 10_000,
            body: br#"{"active":true}"#.to_vec(),
        };
        let back = ResultRecord::decode(&r.encode(), &[7; 32], 4096).unwrap();
        assert_eq!(back, r);
        assert!(back.live(9_999, 60_000));
        assert!(!back.live(10_000, 60_000));
        // An expiry beyond the configured ttl is a stepped-back clock or a forged file.
        assert!(!back.live(1_000, 5_000));
        assert_eq!(ResultRecord::decode(&r.encode(), &[8; 32], 4096), None);
        assert_eq!(ResultRecord::decode(&r.encode(), &[7; 32], 4), None);
        let mut bad = r.encode();
        let n = bad.len();
        bad[n - 40] ^= 1;
        assert_eq!(ResultRecord::decode(&bad, &[7; 32], 4096), None);
    }

    #[test]
    fn a_result_record_with_an_unknown_kind_is_refused() {
        let r = ResultRecord {
            key: [1; 32],
            kind: EntryKind::Inactive,
            expires_at_ms: 5,
            body: vec![],
        };
        let mut bytes = r.encode();
        bytes[40] = 9;
        let body_len = bytes.len() - DIGEST_LEN;
        let resealed = seal(bytes[..body_len].to_vec());
        assert_eq!(ResultRecord::decode(&resealed, &[1; 32], 16), None);
    }

    #[test]
    fn budgets_round_trip_and_a_table_of_another_size_is_refused() {
        let mut table = vec![RequestBudget::default(); 4];
        let policy = crate::request_budget::BudgetPolicy { rate: 1, burst: 2 };
        assert!(crate::request_budget::try_take(
            &mut table, &[3; 32], 1_000, policy
        ));
        let bytes = encode_budgets(&table);
        assert_eq!(decode_budgets(&bytes, 4), Some(table.clone()));
        assert_eq!(decode_budgets(&bytes, 5), None);
        assert_eq!(decode_budgets(&bytes[..bytes.len() - 1], 4), None);
    }
}
