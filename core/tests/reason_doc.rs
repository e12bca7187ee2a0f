//! Keeps the reason-code tables of `docs/configuration.md` ("Reason codes") equal to
//! [`Reason::ALL`]: a code the enum has and the docs lack, or the docs list and the enum lacks,
//! fails here.

use std::collections::BTreeSet;
use std::path::Path;

use pg_bearer_core::reason::Reason;

/// The first-cell codes (`` | `code` | ``) of the tables under `### Reason codes`.
fn documented_codes() -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/configuration.md");
    let doc = std::fs::read_to_string(path).expect("docs/configuration.md");
    let mut lines = doc.lines().skip_while(|l| l.trim() != "### Reason codes");
    assert!(lines.next().is_some(), "no \"### Reason codes\" section");
    lines
        .take_while(|l| !l.starts_with("## ") && !l.starts_with("### "))
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split_once("` |").map(|(code, _)| code.to_owned()))
        .collect()
}

#[test]
fn the_docs_reason_tables_list_every_reason_exactly_once() {
    let documented = documented_codes();
    let unique: BTreeSet<&str> = documented.iter().map(String::as_str).collect();
    assert_eq!(
        unique.len(),
        documented.len(),
        "a code is listed twice: {documented:?}"
    );
    let codes: BTreeSet<&str> = Reason::ALL.iter().map(|r| r.code()).collect();
    let missing: Vec<_> = codes.difference(&unique).collect();
    let extra: Vec<_> = unique.difference(&codes).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "docs/configuration.md reason codes: missing {missing:?}, not in the enum {extra:?}"
    );
}
