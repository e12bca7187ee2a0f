//! The claims a session keeps (issue 14): selection, the cap and its drop rule, lookups by
//! name and JSON Pointer, scopes, expiry, and output that never shows a claim.

use pg_bearer_core::json::{self, parse_object, Json, JsonObject, MAX_DEPTH};
use pg_bearer_core::session::{
    ClaimRetention, ClaimSelection, RetentionReport, SelectionError, SessionClaims,
    DEFAULT_MAX_BYTES, MAX_SCOPES, MAX_SCOPES_LEN, MAX_SELECTED_NAMES, MAX_SELECTED_NAME_LEN,
};
use serde_json::{json, Value};

const ISSUER: &str = "https://idp.example/realms/db";
const EXP: i64 = 1_800_000_000;

fn object(v: Value) -> JsonObject {
    parse_object(v.to_string().as_bytes()).unwrap()
}

fn keep(v: Value, retention: &ClaimRetention) -> (SessionClaims, RetentionReport) {
    SessionClaims::new(object(v), ISSUER, Some(EXP), retention)
}

fn session(v: Value) -> SessionClaims {
    keep(v, &ClaimRetention::default()).0
}

fn capped(v: Value, max_bytes: usize) -> (SessionClaims, RetentionReport) {
    keep(
        v,
        &ClaimRetention {
            max_bytes,
            ..ClaimRetention::default()
        },
    )
}

fn selecting(v: Value, selection: &str) -> (SessionClaims, RetentionReport) {
    keep(
        v,
        &ClaimRetention {
            selection: ClaimSelection::parse(selection).unwrap(),
            ..ClaimRetention::default()
        },
    )
}

fn keycloak() -> Value {
    json!({
        "iss": ISSUER, "sub": "f81d4fae", "aud": ["db", "account"], "exp": EXP,
        "iat": EXP - 300, "jti": "9a1c", "azp": "psql", "scope": "openid postgres",
        "tenant": "acme", "level": 3, "ratio": 0.5, "admin": false, "nothing": null,
        "realm_access": {"roles": ["admin", "reader"]},
        "groups": ["/staff", {"name": "ops", "ids": [7, 8]}],
        "a/b": "slash-name", "a": {"b": "nested"},
        "c~d": "tilde-name", "~1": "tilde-one", "": "empty-name",
        "部署": "経理", "é": "nfc"
    })
}

/// The invariants every result holds, whatever the input.
#[track_caller]
fn assert_consistent(s: &SessionClaims, r: &RetentionReport) {
    assert_eq!(s.claims_json().len(), r.kept_bytes);
    assert!(r.kept_bytes <= r.max_bytes.max(2), "{r}");
    assert!(r.kept_bytes <= r.full_bytes, "{r}");
    assert_eq!(s.claims().len(), r.claims_kept);
    assert_eq!(
        r.claims_kept + r.not_selected + r.unrepresentable + r.over_cap,
        r.claims_total,
        "{r}"
    );
    assert_eq!(
        &parse_object(s.claims_json().as_bytes()).unwrap(),
        s.claims()
    );
}

// ---- lookup: what is found ----

#[test]
fn a_string_claim_is_its_text() {
    let s = session(keycloak());
    assert_eq!(s.claim("tenant").as_deref(), Some("acme"));
    assert_eq!(s.claim("sub").as_deref(), Some("f81d4fae"));
    assert_eq!(s.claim("/tenant").as_deref(), Some("acme"));
}

#[test]
fn other_values_are_their_compact_json_text() {
    let s = session(keycloak());
    assert_eq!(s.claim("level").as_deref(), Some("3"));
    assert_eq!(s.claim("ratio").as_deref(), Some("0.5"));
    assert_eq!(s.claim("admin").as_deref(), Some("false"));
    assert_eq!(s.claim("aud").as_deref(), Some(r#"["db","account"]"#));
    assert_eq!(
        s.claim("realm_access").as_deref(),
        Some(r#"{"roles":["admin","reader"]}"#)
    );
}

#[test]
fn a_pointer_reaches_nested_members() {
    let s = session(keycloak());
    assert_eq!(
        s.claim("/realm_access/roles").as_deref(),
        Some(r#"["admin","reader"]"#)
    );
    assert_eq!(s.claim("/a/b").as_deref(), Some("nested"));
}

#[test]
fn a_pointer_indexes_arrays() {
    let s = session(keycloak());
    assert_eq!(s.claim("/groups/0").as_deref(), Some("/staff"));
    assert_eq!(s.claim("/groups/1/name").as_deref(), Some("ops"));
    assert_eq!(s.claim("/groups/1/ids/1").as_deref(), Some("8"));
    assert_eq!(s.claim("/realm_access/roles/0").as_deref(), Some("admin"));
}

#[test]
fn pointer_escapes_select_slash_and_tilde_members() {
    let s = session(keycloak());
    assert_eq!(s.claim("/a~1b").as_deref(), Some("slash-name"));
    assert_eq!(s.claim("/c~0d").as_deref(), Some("tilde-name"));
    // ~01 is "~1", not "/": ~0 is unescaped first and the result is not read again.
    assert_eq!(s.claim("/~01").as_deref(), Some("tilde-one"));
}

#[test]
fn a_name_containing_a_slash_is_one_member_and_the_pointer_is_another() {
    let s = session(keycloak());
    assert_eq!(s.claim("a/b").as_deref(), Some("slash-name"));
    assert_eq!(s.claim("/a/b").as_deref(), Some("nested"));
    assert_eq!(s.claim("/a~1b").as_deref(), Some("slash-name"));
    assert_eq!(s.claim("~1").as_deref(), Some("tilde-one"));
    assert_eq!(s.claim("c~d").as_deref(), Some("tilde-name"));
}

#[test]
fn unicode_claim_names_match_byte_for_byte() {
    let s = session(keycloak());
    assert_eq!(s.claim("部署").as_deref(), Some("経理"));
    assert_eq!(s.claim("/部署").as_deref(), Some("経理"));
    assert_eq!(s.claim("é").as_deref(), Some("nfc"));
}

// ---- lookup: what is not found ----

#[test]
fn an_absent_claim_is_none() {
    let s = session(keycloak());
    for name in [
        "missing", "Tenant", "TENANT", "tenant ", " tenant", "tenant\0",
    ] {
        assert_eq!(s.claim(name), None, "{name:?}");
    }
}

#[test]
fn json_null_is_none_like_an_absent_claim() {
    let s = session(keycloak());
    assert_eq!(s.claim("nothing"), None);
    assert_eq!(s.claim("/nothing"), None);
    // ...but the claims object still shows it.
    assert!(s.claims_json().contains(r#""nothing":null"#));
    let s = session(json!({"l": [null]}));
    assert_eq!(s.claim("/l/0"), None);
    assert_eq!(s.claim("l").as_deref(), Some("[null]"));
}

#[test]
fn a_missing_member_along_a_pointer_is_none() {
    let s = session(keycloak());
    for p in [
        "/realm_access/groups",
        "/realm_access/roles/admin",
        "/missing/roles",
        "/a/c",
        "/a/b/c",
        "/groups/1/missing",
    ] {
        assert_eq!(s.claim(p), None, "{p}");
    }
}

#[test]
fn a_pointer_through_a_scalar_is_none() {
    let s = session(keycloak());
    for p in [
        "/tenant/0",
        "/tenant/acme",
        "/level/0",
        "/admin/x",
        "/nothing/x",
    ] {
        assert_eq!(s.claim(p), None, "{p}");
    }
}

#[test]
fn invalid_array_indices_are_none() {
    let s = session(keycloak());
    for p in [
        "/groups/2",
        "/groups/-",
        "/groups/00",
        "/groups/01",
        "/groups/+1",
        "/groups/-1",
        "/groups/ 0",
        "/groups/0 ",
        "/groups/1e0",
        "/groups/0x0",
        "/groups/١",
        "/groups/99999999999999999999999",
    ] {
        assert_eq!(s.claim(p), None, "{p}");
    }
}

#[test]
fn invalid_pointer_escapes_are_none() {
    let s = session(keycloak());
    for p in ["/a~2b", "/c~d", "/~", "/a~", "/~x", "/~3", "/~~", "/a~1b~"] {
        assert_eq!(s.claim(p), None, "{p}");
    }
}

#[test]
fn empty_names_and_empty_pointer_segments_are_none() {
    // The member named "" exists, but neither the empty name nor "/" reaches it: claim paths
    // refuse empty names and segments everywhere in pg_bearer.
    let s = session(keycloak());
    for p in ["", "/", "//", "//a", "/a/", "/realm_access//roles"] {
        assert_eq!(s.claim(p), None, "{p:?}");
    }
}

#[test]
fn a_pointer_without_its_leading_slash_is_a_name() {
    let s = session(keycloak());
    assert_eq!(s.claim("realm_access/roles"), None);
    assert_eq!(s.claim("groups/0"), None);
    assert_eq!(s.claim("a~1b"), None);
}

#[test]
fn unicode_names_are_not_normalised() {
    let s = session(keycloak());
    // "e" + U+0301 (NFD) is not "é" (NFC); fullwidth letters are not ASCII ones.
    assert_eq!(s.claim("e\u{301}"), None);
    assert_eq!(s.claim("ｔｅｎａｎｔ"), None);
}

#[test]
fn a_lookup_longer_than_anything_kept_is_none() {
    let s = session(json!({"t": "x"}));
    let long = format!("/{}", "a".repeat(1 << 20));
    assert_eq!(s.claim(&long), None);
    assert_eq!(s.claim(&"~1".repeat(1 << 16)), None);
    let empty = session(json!({}));
    assert_eq!(empty.claim("t"), None);
    assert_eq!(empty.claim("/a"), None);
}

#[test]
fn the_longest_escaped_pointer_that_matches_is_not_refused_by_the_length_guard() {
    let name = "/".repeat(100);
    let s = session(json!({ name.clone(): "slashes" }));
    let pointer = format!("/{}", "~1".repeat(100));
    assert_eq!(s.claim(&pointer).as_deref(), Some("slashes"));
    // Text starting with "/" is always a pointer, so that member is reachable only escaped.
    assert_eq!(s.claim(&name), None);
}

// ---- the claims object ----

#[test]
fn the_claims_object_is_compact_json_in_name_order() {
    let s = session(json!({"z": 1, "a": {"y": [true, "q\"uote"]}, "m": "é"}));
    assert_eq!(
        s.claims_json(),
        r#"{"a":{"y":[true,"q\"uote"]},"m":"é","z":1}"#
    );
}

#[test]
fn by_default_every_claim_is_kept() {
    let (s, r) = keep(keycloak(), &ClaimRetention::default());
    assert_consistent(&s, &r);
    assert_eq!(r.claims_kept, r.claims_total);
    assert_eq!(r.full_bytes, r.kept_bytes);
    assert_eq!(r.max_bytes, DEFAULT_MAX_BYTES);
    assert!(!r.is_worth_logging());
    assert_eq!(ClaimRetention::default().selection, ClaimSelection::All);
}

#[test]
fn claims_that_postgres_cannot_hold_are_never_kept() {
    let (s, r) = keep(
        json!({
            "sub": "alice",
            "nul_value": "a\u{0}b",
            "nul\u{0}name": "x",
            "nested": {"k": ["ok", "x\u{0}"]},
            "nested_key": {"k\u{0}": 1},
            "fine": "ok"
        }),
        &ClaimRetention::default(),
    );
    assert_consistent(&s, &r);
    assert_eq!(r.unrepresentable, 4);
    assert!(r.is_worth_logging());
    assert_eq!(s.claims_json(), r#"{"fine":"ok","sub":"alice"}"#);
    assert_eq!(s.claim("nul_value"), None);
    assert_eq!(s.claim("/nested/k/0"), None);
    assert!(!s.claims_json().contains("\\u0000"));
}

#[test]
fn a_claim_nested_deeper_than_the_parser_allows_is_not_kept() {
    let mut deep = Json::Array(vec![]);
    for _ in 0..MAX_DEPTH {
        deep = Json::Array(vec![deep]);
    }
    let mut claims = JsonObject::new();
    claims.insert("deep".into(), deep);
    claims.insert("sub".into(), Json::String("alice".into()));
    let (s, r) = SessionClaims::new(claims, ISSUER, None, &ClaimRetention::default());
    assert_consistent(&s, &r);
    assert_eq!(r.unrepresentable, 1);
    assert_eq!(s.claim("deep"), None);
}

#[test]
fn the_deepest_claim_the_parser_accepts_is_kept() {
    let depth = MAX_DEPTH - 1; // the claims object itself is level 1
    let text = format!(r#"{{"d":{}1{}}}"#, "[".repeat(depth), "]".repeat(depth));
    let claims = parse_object(text.as_bytes()).unwrap();
    let (s, r) = SessionClaims::new(claims, ISSUER, None, &ClaimRetention::default());
    assert_eq!(r.unrepresentable, 0);
    assert_eq!(s.claims_json(), text);
}

// ---- selection ----

#[test]
fn a_selection_keeps_only_the_named_claims() {
    let (s, r) = selecting(keycloak(), " tenant ,realm_access,部署,missing");
    assert_consistent(&s, &r);
    assert_eq!(r.claims_kept, 3);
    assert_eq!(r.not_selected, r.claims_total - 3);
    assert!(!r.is_worth_logging());
    assert_eq!(s.claim("tenant").as_deref(), Some("acme"));
    assert_eq!(s.claim("/realm_access/roles/1").as_deref(), Some("reader"));
    assert_eq!(s.claim("部署").as_deref(), Some("経理"));
}

#[test]
fn unselected_claims_are_none_but_issuer_scopes_and_expiry_remain() {
    let (s, _) = selecting(keycloak(), "tenant");
    for name in ["iss", "exp", "scope", "sub", "/groups/0", "/a~1b"] {
        assert_eq!(s.claim(name), None, "{name}");
    }
    assert_eq!(s.issuer(), ISSUER);
    assert_eq!(s.scopes(), ["openid", "postgres"]);
    assert_eq!(s.expires_at(), Some(EXP));
}

#[test]
fn an_empty_selection_keeps_no_claim() {
    for text in ["", "   "] {
        let (s, r) = selecting(keycloak(), text);
        assert_consistent(&s, &r);
        assert_eq!(s.claims_json(), "{}");
        assert_eq!(r.not_selected, r.claims_total);
        assert_eq!(s.scopes(), ["openid", "postgres"]);
    }
}

#[test]
fn star_alone_selects_everything() {
    assert_eq!(ClaimSelection::parse("*"), Ok(ClaimSelection::All));
    assert_eq!(ClaimSelection::parse("  * "), Ok(ClaimSelection::All));
    assert!(ClaimSelection::All.keeps("anything"));
}

#[test]
fn empty_items_in_a_selection_are_refused() {
    for (text, position) in [("a,,b", 2), ("a,", 2), (",a", 1), ("a, ,b", 2), (",", 1)] {
        assert_eq!(
            ClaimSelection::parse(text),
            Err(SelectionError::EmptyName { position }),
            "{text:?}"
        );
    }
}

#[test]
fn wildcards_inside_a_selection_are_refused() {
    for text in ["*,tenant", "tenant,*", "ten*", "**", "realm_*"] {
        assert!(
            matches!(
                ClaimSelection::parse(text),
                Err(SelectionError::Wildcard(_))
            ),
            "{text:?}"
        );
    }
}

#[test]
fn pointers_in_a_selection_are_refused() {
    assert_eq!(
        ClaimSelection::parse("tenant,/realm_access/roles"),
        Err(SelectionError::Pointer("/realm_access/roles".into()))
    );
    assert!(ClaimSelection::parse("/").is_err());
}

#[test]
fn whitespace_and_control_characters_inside_names_are_refused() {
    assert_eq!(
        ClaimSelection::parse("tenant groups"),
        Err(SelectionError::Whitespace("tenant groups".into()))
    );
    assert_eq!(
        ClaimSelection::parse("a\u{3000}b"),
        Err(SelectionError::Whitespace("a\u{3000}b".into()))
    );
    for text in ["a\tb", "a\u{0}b", "a\u{7f}", "a\nb", "x,\u{1b}[31m"] {
        assert!(
            matches!(
                ClaimSelection::parse(text),
                Err(SelectionError::ControlCharacter(_))
            ),
            "{text:?}"
        );
    }
}

#[test]
fn duplicate_names_in_a_selection_are_refused() {
    for text in ["a,a", "a, b ,a", "a,b, a ", "部署,部署"] {
        assert!(
            matches!(
                ClaimSelection::parse(text),
                Err(SelectionError::Duplicate(_))
            ),
            "{text:?}"
        );
    }
    // Names differing only in case are different claims.
    assert!(ClaimSelection::parse("a,A").is_ok());
}

#[test]
fn over_long_names_and_over_long_lists_are_refused() {
    let ok = "n".repeat(MAX_SELECTED_NAME_LEN);
    assert!(ClaimSelection::parse(&ok).is_ok());
    let long = format!("a,{}n", ok);
    assert_eq!(
        ClaimSelection::parse(&long),
        Err(SelectionError::NameTooLong { position: 2 })
    );
    let names = |n: usize| {
        (0..n)
            .map(|i| format!("c{i}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    assert!(ClaimSelection::parse(&names(MAX_SELECTED_NAMES)).is_ok());
    assert_eq!(
        ClaimSelection::parse(&names(MAX_SELECTED_NAMES + 1)),
        Err(SelectionError::TooManyNames)
    );
}

#[test]
fn selection_errors_say_what_to_change() {
    let message = |t: &str| ClaimSelection::parse(t).unwrap_err().to_string();
    assert!(message("a,,b").contains("claim 2"), "{}", message("a,,b"));
    assert!(message("/x/y").contains("top-level"));
    assert!(message("a b").contains("commas"));
    assert!(message("a,a").contains("twice"));
    assert!(message("a*").contains("\"*\" alone"));
    // Control characters are shown escaped, never raw.
    assert!(!message("a\u{1b}[2J").contains('\u{1b}'));
}

// ---- the cap ----

fn oversized() -> Value {
    json!({
        "iss": ISSUER, "sub": "alice", "aud": "db", "exp": EXP,
        "big": "x".repeat(1000), "mid": "x".repeat(100), "small": "x",
        "tie_b": "yy", "tie_a": "yy"
    })
}

fn registered_len() -> usize {
    json::to_text(&object(
        json!({"iss": ISSUER, "sub": "alice", "aud": "db", "exp": EXP}),
    ))
    .len()
}

#[test]
fn over_the_cap_registered_claims_stay_and_the_largest_others_go() {
    // Room for the registered claims, "small" (11 bytes), "tie_a" and "tie_b" (12 each),
    // with a comma before each.
    let cap = registered_len() + (1 + 11) + 2 * (1 + 12);
    let (s, r) = capped(oversized(), cap);
    assert_consistent(&s, &r);
    assert_eq!(r.over_cap, 2);
    assert_eq!(r.claims_kept, 7);
    assert_eq!(r.kept_bytes, cap);
    assert_eq!(r.full_bytes, json::to_text(&object(oversized())).len());
    assert!(r.is_worth_logging());
    assert_eq!(s.claim("big"), None);
    assert_eq!(s.claim("mid"), None);
    assert_eq!(s.claim("tie_b").as_deref(), Some("yy"));
    assert_eq!(s.claim("iss").as_deref(), Some(ISSUER));
}

#[test]
fn equal_sized_claims_are_dropped_by_name_order() {
    let cap = registered_len() + (1 + 11) + 2 * (1 + 12) - 1;
    let (s, r) = capped(oversized(), cap);
    assert_consistent(&s, &r);
    assert_eq!(r.over_cap, 3);
    assert_eq!(s.claim("tie_a").as_deref(), Some("yy"));
    assert_eq!(s.claim("tie_b"), None);
    assert_eq!(s.claim("small").as_deref(), Some("x"));
}

#[test]
fn a_cap_exactly_the_full_size_keeps_everything_and_one_byte_less_does_not() {
    let full = json::to_text(&object(oversized())).len();
    let (_, r) = capped(oversized(), full);
    assert_eq!((r.over_cap, r.kept_bytes), (0, full));
    let (s, r) = capped(oversized(), full - 1);
    assert_consistent(&s, &r);
    assert_eq!(r.over_cap, 1);
    assert_eq!(s.claim("big"), None);
}

#[test]
fn a_cap_of_zero_keeps_the_empty_object() {
    for cap in [0, 1, 2] {
        let (s, r) = capped(keycloak(), cap);
        assert_consistent(&s, &r);
        assert_eq!(s.claims_json(), "{}");
        assert_eq!(r.claims_kept, 0);
        assert_eq!(r.over_cap, r.claims_total);
        assert_eq!(s.claim("sub"), None);
        assert_eq!(s.issuer(), ISSUER);
        assert_eq!(s.scopes(), ["openid", "postgres"]);
        assert_eq!(s.expires_at(), Some(EXP));
    }
}

#[test]
fn a_cap_below_the_registered_claims_keeps_those_that_fit_in_order() {
    // {"iss":"https://idp.example/realms/db"} is 39 bytes; with "sub" it no longer fits in 45.
    let (s, r) = capped(oversized(), 45);
    assert_consistent(&s, &r);
    assert_eq!(s.claims_json(), format!(r#"{{"iss":"{ISSUER}"}}"#));
    // A cap too small for iss still keeps a later registered claim that fits: the first
    // that fits wins its place, even if a later one would also have fitted.
    let (s, r) = capped(oversized(), 15);
    assert_consistent(&s, &r);
    assert_eq!(s.claims_json(), r#"{"sub":"alice"}"#);
    let (s, r) = capped(oversized(), 14);
    assert_consistent(&s, &r);
    assert_eq!(s.claims_json(), r#"{"aud":"db"}"#);
}

#[test]
fn a_huge_registered_claim_is_dropped_while_smaller_ones_stay() {
    let claims = json!({
        "iss": ISSUER, "sub": "alice",
        "aud": (0..2000).map(|i| format!("aud-{i}")).collect::<Vec<_>>(),
        "tenant": "acme"
    });
    let (s, r) = capped(claims, 200);
    assert_consistent(&s, &r);
    assert_eq!(r.over_cap, 1);
    assert_eq!(s.claim("aud"), None);
    assert_eq!(s.claim("sub").as_deref(), Some("alice"));
    assert_eq!(s.claim("tenant").as_deref(), Some("acme"));
}

#[test]
fn a_token_far_over_the_cap_keeps_registered_claims_and_counts_the_rest() {
    let mut claims = json!({"iss": ISSUER, "sub": "alice", "aud": "db", "exp": EXP,
                            "iat": EXP - 60, "jti": "j", "client_id": "psql",
                            "scope": "postgres"});
    for i in 0..500 {
        claims[format!("extra_{i:03}")] = json!("v".repeat(200));
    }
    let (s, r) = capped(claims, 4096);
    assert_consistent(&s, &r);
    assert_eq!(r.claims_total, 508);
    for name in [
        "iss",
        "sub",
        "aud",
        "exp",
        "iat",
        "jti",
        "client_id",
        "scope",
    ] {
        assert!(s.claim(name).is_some(), "{name}");
    }
    // All extras are the same size: kept in name order until the cap.
    let kept_extras = r.claims_kept - 8;
    assert!(kept_extras > 0);
    assert_eq!(r.over_cap, 500 - kept_extras);
    assert!(s.claim(&format!("extra_{:03}", kept_extras - 1)).is_some());
    assert_eq!(s.claim(&format!("extra_{kept_extras:03}")), None);
    assert!(r.full_bytes > 100_000);
}

#[test]
fn selection_applies_before_the_cap() {
    let retention = ClaimRetention {
        selection: ClaimSelection::parse("big,small").unwrap(),
        max_bytes: 100,
    };
    let (s, r) = keep(oversized(), &retention);
    assert_consistent(&s, &r);
    assert_eq!((r.not_selected, r.over_cap, r.claims_kept), (7, 1, 1));
    assert_eq!(s.claims_json(), r#"{"small":"x"}"#);
}

#[test]
fn every_cap_gives_a_valid_object_within_the_cap() {
    let full = json::to_text(&object(keycloak())).len();
    for cap in 0..=full + 2 {
        let (s, r) = capped(keycloak(), cap);
        assert_consistent(&s, &r);
        assert_eq!(capped(keycloak(), cap).0, s, "not deterministic at {cap}");
    }
}

// ---- scopes, issuer, expiry ----

#[test]
fn scopes_come_from_a_scope_string() {
    let s = session(json!({"scope": "openid  postgres db:read"}));
    assert_eq!(s.scopes(), ["openid", "postgres", "db:read"]);
}

#[test]
fn scopes_come_from_an_scp_array_or_string() {
    let s = session(json!({"scp": ["Db.Login", "User.Read"]}));
    assert_eq!(s.scopes(), ["Db.Login", "User.Read"]);
    let s = session(json!({"scp": "Db.Login User.Read"}));
    assert_eq!(s.scopes(), ["Db.Login", "User.Read"]);
}

#[test]
fn scope_then_scp_each_word_once() {
    let s = session(json!({"scope": "a b a", "scp": ["b", "c", "a"]}));
    assert_eq!(s.scopes(), ["a", "b", "c"]);
}

#[test]
fn no_or_malformed_scope_claims_give_no_scopes() {
    for claims in [
        json!({}),
        json!({"scope": ""}),
        json!({"scope": ["postgres"]}),
        json!({"scope": null}),
        json!({"scp": [1, "postgres"]}),
        json!({"scp": {"postgres": true}}),
    ] {
        assert!(session(claims.clone()).scopes().is_empty(), "{claims}");
    }
}

#[test]
fn scope_words_postgres_cannot_hold_or_past_the_limits_are_dropped() {
    let (s, r) = keep(json!({"scope": "a b\u{0}c d"}), &ClaimRetention::default());
    assert_eq!(s.scopes(), ["a", "d"]);
    assert_eq!(r.scopes_dropped, 1);
    assert!(r.is_worth_logging());

    let many: Vec<String> = (0..MAX_SCOPES + 5).map(|i| format!("s{i}")).collect();
    let (s, r) = keep(json!({ "scp": many }), &ClaimRetention::default());
    assert_eq!(s.scopes().len(), MAX_SCOPES);
    assert_eq!(r.scopes_dropped, 5);

    let long = ["x".repeat(MAX_SCOPES_LEN - 1), "yy".into(), "z".into()];
    let (s, r) = keep(json!({ "scp": long }), &ClaimRetention::default());
    assert_eq!(s.scopes().len(), 2);
    assert_eq!(s.scopes()[1], "z");
    assert_eq!(r.scopes_dropped, 1);
}

#[test]
fn an_opaque_answer_without_exp_has_no_expiry() {
    let (s, r) = SessionClaims::new(
        object(json!({"active": true, "sub": "alice", "scope": "postgres"})),
        ISSUER,
        None,
        &ClaimRetention::default(),
    );
    assert_consistent(&s, &r);
    assert_eq!(s.expires_at(), None);
    assert_eq!(s.claim("exp"), None);
    assert_eq!(s.claim("active").as_deref(), Some("true"));
    assert_eq!(s.scopes(), ["postgres"]);
    assert_eq!(s.issuer(), ISSUER);
}

#[test]
fn an_expiry_outside_the_numeric_date_range_is_none() {
    for exp in [-1, i64::MIN, 253_402_300_800, i64::MAX] {
        let (s, _) = SessionClaims::new(
            JsonObject::new(),
            ISSUER,
            Some(exp),
            &ClaimRetention::default(),
        );
        assert_eq!(s.expires_at(), None, "{exp}");
    }
    let (s, _) = SessionClaims::new(
        JsonObject::new(),
        ISSUER,
        Some(0),
        &ClaimRetention::default(),
    );
    assert_eq!(s.expires_at(), Some(0));
}

#[test]
fn the_issuer_is_the_validated_one_not_the_claim() {
    let (s, _) = SessionClaims::new(
        object(json!({"iss": "https://other.example"})),
        ISSUER,
        Some(EXP),
        &ClaimRetention::default(),
    );
    assert_eq!(s.issuer(), ISSUER);
}

// ---- nothing sensitive in output ----

#[test]
fn debug_output_shows_counts_and_sizes_only() {
    let (s, r) = keep(
        json!({"sub": "secret-subject", "secret-name": "secret-value",
               "scope": "secret-scope", "nested": {"k": "secret-nested"}}),
        &ClaimRetention::default(),
    );
    let shown = format!("{s:?} {s:#?} {r:?} {r}");
    for needle in ["secret", "idp.example", "sub", "nested", "1800000000"] {
        assert!(!shown.contains(needle), "{needle} in {shown}");
    }
    assert!(shown.contains("SessionClaims"));
}

#[test]
fn the_log_line_has_numbers_and_no_claims() {
    let cap = registered_len() + (1 + 11) + 2 * (1 + 12);
    let (_, r) = capped(oversized(), cap);
    let line = r.to_string();
    assert!(
        line.contains(&format!("keeps 7 of 9 claims ({cap} of ")),
        "{line}"
    );
    assert!(line.contains("2 over the cap"), "{line}");
    for needle in ["big", "tie", "alice", "idp", "xxx"] {
        assert!(!line.contains(needle), "{needle} in {line}");
    }
}

// ---- any input ----

/// A small deterministic generator (xorshift), so the sweep needs no dependency.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }

    fn value(&mut self, depth: usize) -> Json {
        let leaf = depth >= 4;
        match self.next() % if leaf { 5 } else { 7 } {
            0 => Json::Null,
            1 => Json::Bool(self.next().is_multiple_of(2)),
            2 => Json::Int(i128::from(self.next() as i64)),
            3 => Json::Float((self.next() % 1000) as f64 / 8.0),
            4 => Json::String(self.pick(NAMES).repeat((self.next() % 40) as usize)),
            5 => Json::Array(
                (0..self.next() % 4)
                    .map(|_| self.value(depth + 1))
                    .collect(),
            ),
            _ => Json::Object(
                (0..self.next() % 4)
                    .map(|_| (self.pick(NAMES).to_owned(), self.value(depth + 1)))
                    .collect(),
            ),
        }
    }
}

const NAMES: &[&str] = &[
    "iss", "sub", "aud", "exp", "scope", "scp", "a", "b", "a/b", "~", "~1", "0", "1", "", "部署",
    "é", "x\u{0}", "-", "groups",
];

const LOOKUPS: &[&str] = &[
    "",
    "/",
    "a",
    "/a",
    "/a/b",
    "a/b",
    "/a~1b",
    "/~0",
    "/~01",
    "/~2",
    "/0",
    "/a/0",
    "/a/1/b",
    "/a/-",
    "/a/01",
    "~",
    "/部署",
    "groups",
    "/groups/0/a",
    "//",
    "/a/",
];

#[test]
fn arbitrary_claims_settings_and_lookups_never_break_the_invariants() {
    let mut g = Gen(0x9e37_79b9_7f4a_7c15);
    let selections = ["*", "", "a", "a,b,部署", "iss,scope,scp", "~,0,-"];
    for _ in 0..400 {
        let claims: JsonObject = (0..g.next() % 12)
            .map(|_| (g.pick(NAMES).to_owned(), g.value(2)))
            .collect();
        let retention = ClaimRetention {
            selection: ClaimSelection::parse(g.pick(&selections)).unwrap(),
            max_bytes: (g.next() % 400) as usize,
        };
        let exp = Some(g.next() as i64);
        let (s, r) = SessionClaims::new(claims, ISSUER, exp, &retention);
        assert_consistent(&s, &r);
        for lookup in LOOKUPS {
            if let Some(text) = s.claim(lookup) {
                assert!(!text.contains('\0'));
            }
        }
        assert!(s
            .scopes()
            .iter()
            .all(|w| !w.is_empty() && !w.contains('\0')));
    }
}
