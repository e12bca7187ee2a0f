//! The strict JSON reader (`json::parse`, `json::parse_object`) against serde_json.
//!
//! Oracle: pg_bearer's reader is serde_json plus three refusals (a repeated member name, nesting
//! beyond `MAX_DEPTH`, a leading byte-order mark). So whatever it accepts serde_json must read
//! as the same value, at most `MAX_DEPTH` deep; whatever it calls a syntax error serde_json must
//! refuse too; "too deep" needs nesting beyond the limit; `parse_object` agrees with `parse`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pg_bearer_core::json::{self, Json, JsonError, MAX_DEPTH};
use serde_json::Value;

fn same(ours: &Json, theirs: &Value) -> bool {
    match (ours, theirs) {
        (Json::Null, Value::Null) => true,
        (Json::Bool(a), Value::Bool(b)) => a == b,
        (Json::Int(i), Value::Number(n)) => {
            n.as_i64().map(i128::from) == Some(*i) || n.as_u64().map(i128::from) == Some(*i)
        }
        (Json::Float(f), Value::Number(n)) => {
            n.is_f64() && n.as_f64().is_some_and(|g| g.to_bits() == f.to_bits())
        }
        (Json::String(a), Value::String(b)) => a == b,
        (Json::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y))
        }
        (Json::Object(a), Value::Object(b)) => {
            a.len() == b.len() && a.iter().all(|(k, v)| b.get(k).is_some_and(|w| same(v, w)))
        }
        _ => false,
    }
}

/// Nesting depth counting containers only (a top-level object is 1).
fn depth(v: &Value) -> usize {
    match v {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(members) => 1 + members.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

fn ours_depth(v: &Json) -> usize {
    match v {
        Json::Array(items) => 1 + items.iter().map(ours_depth).max().unwrap_or(0),
        Json::Object(members) => 1 + members.values().map(ours_depth).max().unwrap_or(0),
        _ => 0,
    }
}

fuzz_target!(|data: &[u8]| {
    let ours = json::parse(data);
    let theirs = serde_json::from_slice::<Value>(data);
    match &ours {
        Ok(v) => {
            let t = theirs
                .as_ref()
                .unwrap_or_else(|e| panic!("strict reader accepted what serde_json refuses: {e}"));
            assert!(
                same(v, t),
                "strict reader and serde_json disagree on the value"
            );
            assert!(
                ours_depth(v) <= MAX_DEPTH,
                "accepted nesting beyond MAX_DEPTH"
            );
            assert!(
                !data.starts_with(b"\xEF\xBB\xBF"),
                "accepted a byte-order mark"
            );
            if let Json::Float(f) = v {
                assert!(f.is_finite());
            }
        }
        Err(JsonError::Syntax) => {
            assert!(
                theirs.is_err() || data.starts_with(b"\xEF\xBB\xBF"),
                "strict reader calls valid JSON a syntax error"
            );
        }
        Err(JsonError::TooDeep) => {
            if let Ok(t) = &theirs {
                assert!(depth(t) > MAX_DEPTH, "too deep at depth {}", depth(t));
            }
        }
        Err(JsonError::DuplicateMember) => {}
        Err(e) => panic!("parse returned {e:?}"),
    }
    match (json::parse_object(data), ours) {
        (Ok(o), Ok(Json::Object(p))) => assert_eq!(o, p),
        (Err(JsonError::NotAnObject), Ok(v)) => assert!(v.as_object().is_none()),
        (Err(a), Err(b)) => assert_eq!(a, b),
        (a, b) => panic!("parse_object {a:?} disagrees with parse {b:?}"),
    }
});
