//! What `pg_bearer.result_cache` shows of the shared result cache, and
//! `pg_bearer.forget_results()`.

use pg_bearer_core::result_cache::{
    self, describe, forget_all, insert, insert_tagged, token_key, EntryKind, Lookup, ResultEntry,
    Tag, TAG_ISSUER_MAX,
};

const ISS: &str = "https://idp.example.com";

fn table() -> Vec<ResultEntry> {
    vec![ResultEntry::default(); 8]
}

fn key(token: &str) -> [u8; 32] {
    token_key(ISS, Lookup::Introspection, token)
}

#[test]
fn an_entry_shows_its_issuer_kind_expiry_and_a_prefix_of_the_token_hash() {
    let mut t = table();
    let token = "opaque-token-value-1";
    assert!(insert_tagged(
        &mut t,
        &key(token),
        EntryKind::Introspection,
        br#"{"active":true}"#,
        1_000,
        60_000,
        &Tag::new(ISS, token),
    ));
    let views = describe(&t, 2_000);
    assert_eq!(views.len(), 1);
    let v = &views[0];
    assert_eq!(v.issuer, ISS);
    assert_eq!(v.kind, "introspection");
    assert!(v.active);
    assert_eq!(v.expires_at_ms, 61_000);
    // sha256("opaque-token-value-1"), first 6 bytes: what SQL's sha256() gives a DBA.
    let full = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
    let hex: String = full.as_ref()[..6]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(v.token_hash_prefix, hex);
    assert_eq!(v.token_hash_prefix.len(), 12);
}

#[test]
fn no_part_of_the_token_is_shown() {
    let mut t = table();
    let token = "tok_SECRETSECRETSECRET";
    insert_tagged(
        &mut t,
        &key(token),
        EntryKind::Userinfo,
        b"{}",
        0,
        1_000,
        &Tag::new(ISS, token),
    );
    let shown = format!("{:?}", describe(&t, 1));
    assert!(!shown.contains("SECRET"), "{shown}");
    assert!(!shown.contains("tok_"), "{shown}");
}

#[test]
fn inactive_answers_show_as_introspection_not_active_and_userinfo_as_userinfo() {
    let mut t = table();
    insert_tagged(
        &mut t,
        &key("a"),
        EntryKind::Inactive,
        b"",
        0,
        10_000,
        &Tag::new(ISS, "a"),
    );
    insert_tagged(
        &mut t,
        &key("b"),
        EntryKind::Userinfo,
        b"{}",
        0,
        20_000,
        &Tag::new(ISS, "b"),
    );
    let views = describe(&t, 1);
    assert_eq!(
        views.iter().map(|v| (v.kind, v.active)).collect::<Vec<_>>(),
        vec![("introspection", false), ("userinfo", true)]
    );
}

#[test]
fn expired_entries_are_not_shown() {
    let mut t = table();
    insert_tagged(
        &mut t,
        &key("a"),
        EntryKind::Introspection,
        b"{}",
        0,
        100,
        &Tag::new(ISS, "a"),
    );
    assert_eq!(describe(&t, 99).len(), 1);
    assert!(describe(&t, 100).is_empty());
}

#[test]
fn an_untagged_insert_clears_the_tag_of_the_entry_it_reuses() {
    let mut t = vec![ResultEntry::default(); 1];
    insert_tagged(
        &mut t,
        &key("a"),
        EntryKind::Introspection,
        b"{}",
        0,
        10,
        &Tag::new(ISS, "a"),
    );
    assert!(insert(
        &mut t,
        &key("b"),
        EntryKind::Introspection,
        b"{}",
        20,
        100
    ));
    let views = describe(&t, 21);
    assert_eq!(views[0].issuer, "");
    assert_eq!(views[0].token_hash_prefix, "000000000000");
}

#[test]
fn long_issuers_are_cut_at_a_character_boundary() {
    let issuer = format!("https://idp.example.com/{}", "é".repeat(TAG_ISSUER_MAX));
    let mut t = table();
    insert_tagged(
        &mut t,
        &key("a"),
        EntryKind::Introspection,
        b"{}",
        0,
        10,
        &Tag::new(&issuer, "a"),
    );
    let shown = &describe(&t, 1)[0].issuer;
    assert!(shown.len() <= TAG_ISSUER_MAX);
    assert!(issuer.starts_with(shown.as_str()));
}

#[test]
fn forget_all_empties_the_table_and_counts_the_live_entries() {
    let mut t = table();
    for (i, token) in ["a", "b", "c"].iter().enumerate() {
        let ttl = if i == 0 { 5 } else { 1_000 };
        insert_tagged(
            &mut t,
            &key(token),
            EntryKind::Introspection,
            b"{}",
            0,
            ttl,
            &Tag::new(ISS, token),
        );
    }
    assert_eq!(forget_all(&mut t, 10), 2);
    assert!(describe(&t, 10).is_empty());
    assert_eq!(result_cache::lookup(&mut t, &key("b"), 11), None);
    assert_eq!(forget_all(&mut t, 10), 0);
}
