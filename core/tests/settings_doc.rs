//! Keeps `docs/configuration.md` equal to the settings declaration
//! ([`pg_bearer_core::settings::SETTINGS`]): the settings table under `## Settings` (name,
//! type, default, range, context, per issuer) and the key table under `## The issuers file`
//! (key and type). A row the declaration lacks, a declared setting the docs lack, or a cell
//! that says something else fails here, naming the setting and the cell.
//!
//! The docs may add a qualifier to a type (`string (path)`) and a note to a range
//! (`0 – 1d; 0 = no caching`); everything before them is compared exactly. Test-only settings
//! need not be listed, but a listed one must be right.

use std::collections::BTreeMap;
use std::path::Path;

use pg_bearer_core::settings::{
    format_duration, format_size, Context, GucDefault, Kind, Setting, SETTINGS,
};

fn doc() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/configuration.md");
    std::fs::read_to_string(path).expect("docs/configuration.md")
}

/// The table rows (cells without backticks, trimmed) of the section under `heading`, keyed by
/// their first cell, which must start with `prefix`. A repeated first cell fails.
fn table(doc: &str, heading: &str, prefix: &str) -> BTreeMap<String, Vec<String>> {
    let mut lines = doc.lines().skip_while(|l| l.trim() != heading);
    assert!(lines.next().is_some(), "no {heading:?} section");
    let mut rows = BTreeMap::new();
    let mut in_table = false;
    for line in lines.take_while(|l| !l.starts_with("## ")) {
        let Some(row) = line.strip_prefix('|') else {
            in_table = false;
            continue;
        };
        // A table's first row is its header, its second the |---| line.
        if !in_table || row.starts_with('-') {
            in_table = true;
            continue;
        }
        let cells: Vec<String> = row
            .trim_end()
            .trim_end_matches('|')
            .split('|')
            .map(|c| c.replace('`', "").trim().to_owned())
            .collect();
        let Some(name) = cells[0].strip_prefix(prefix) else {
            continue;
        };
        if name.contains(' ') {
            continue;
        }
        let previous = rows.insert(name.to_owned(), cells[1..].to_vec());
        assert!(previous.is_none(), "{heading}: {name} is listed twice");
    }
    rows
}

fn guc_type(s: &Setting) -> String {
    match s.kind {
        Kind::Text => "string".to_owned(),
        Kind::TextList => "string, comma-separated".to_owned(),
        Kind::Bool => "boolean".to_owned(),
        Kind::Int { unit, .. } => format!("integer, {unit}"),
        Kind::Duration { unit, .. } => format!("duration, {}", unit.symbol()),
        Kind::Size { .. } => "size, B".to_owned(),
        Kind::Issuer | Kind::Strings | Kind::Claims | Kind::Secret => {
            panic!("{} is declared as a GUC of a file-only kind", s.name)
        }
    }
}

fn file_type(s: &Setting) -> &'static str {
    match s.kind {
        Kind::Text | Kind::Secret => "string",
        Kind::TextList => "string or array of strings",
        Kind::Bool => "boolean",
        Kind::Int { .. } => "integer",
        Kind::Duration { .. } => "duration",
        Kind::Size { .. } => "size",
        Kind::Issuer => "string, required",
        Kind::Strings => "array of strings",
        Kind::Claims => "table of string → string",
    }
}

fn default(s: &Setting, default: GucDefault) -> String {
    match (default, s.kind) {
        (GucDefault::Unset, _) => "*unset*".to_owned(),
        (GucDefault::Text(t), _) => t.to_owned(),
        (GucDefault::Bool(b), _) => if b { "on" } else { "off" }.to_owned(),
        (GucDefault::Int(i), Kind::Duration { unit, .. }) => format_duration(i64::from(i), unit),
        (GucDefault::Int(i), Kind::Size { .. }) => format_size(i64::from(i)),
        (GucDefault::Int(i), _) => i.to_string(),
    }
}

fn context(s: &Setting) -> String {
    let guc = s.guc.expect("a GUC");
    let mut parts = vec![match guc.context {
        Context::Sighup => "sighup",
        Context::Superuser => "superuser",
    }];
    if guc.superuser_only {
        parts.push("SUPERUSER_ONLY");
    }
    if guc.test_only {
        parts.push("test builds only");
    }
    parts.join(", ")
}

/// `cell` is `expected`, or `expected` followed by `sep` and more.
fn says(cell: &str, expected: &str, sep: &str) -> bool {
    cell == expected
        || cell
            .strip_prefix(expected)
            .is_some_and(|rest| rest.starts_with(sep))
}

#[test]
fn the_docs_settings_table_states_what_the_declaration_declares() {
    let doc = doc();
    let rows = table(&doc, "## Settings", "pg_bearer.");
    let mut problems = Vec::new();
    for s in SETTINGS {
        let Some(guc) = s.guc else { continue };
        let Some(cells) = rows.get(s.name) else {
            if !guc.test_only {
                problems.push(format!("pg_bearer.{}: no row", s.name));
            }
            continue;
        };
        let [ty, def, range, ctx, per_issuer] = cells.as_slice() else {
            problems.push(format!(
                "pg_bearer.{}: {} cells after the name, not 5 (type, default, range, context, per issuer)",
                s.name,
                cells.len()
            ));
            continue;
        };
        let mut check = |what: &str, cell: &str, expected: &str, ok: bool| {
            if !ok {
                problems.push(format!(
                    "pg_bearer.{}: {what} is {cell:?} in the docs, {expected:?} in the declaration",
                    s.name
                ));
            }
        };
        let expected = guc_type(s);
        check("type", ty, &expected, says(ty, &expected, " ("));
        let expected = default(s, guc.default);
        check("default", def, &expected, *def == expected);
        let expected = s.kind.describe_range().unwrap_or_default();
        let range_ok = if expected.is_empty() {
            range.is_empty()
        } else {
            says(range, &expected, "; ")
        };
        check("range", range, &expected, range_ok);
        let expected = context(s);
        check("context", ctx, &expected, *ctx == expected);
        let expected = if s.per_issuer { "yes" } else { "no" };
        check("per issuer", per_issuer, expected, per_issuer == expected);
    }
    for name in rows.keys() {
        if !SETTINGS.iter().any(|s| s.guc.is_some() && s.name == name) {
            problems.push(format!(
                "pg_bearer.{name}: a row, but no such setting is declared"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "docs/configuration.md, ## Settings, disagrees with core/src/settings.rs:\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn the_docs_issuers_file_table_lists_exactly_the_per_issuer_keys() {
    let doc = doc();
    let rows = table(&doc, "## The issuers file", "");
    let mut problems = Vec::new();
    for s in SETTINGS.iter().filter(|s| s.per_issuer) {
        let Some(cells) = rows.get(s.name) else {
            problems.push(format!("{}: no row", s.name));
            continue;
        };
        let expected = file_type(s);
        let ty = cells.first().map_or("", String::as_str);
        if !says(ty, expected, " (") {
            problems.push(format!(
                "{}: type is {ty:?} in the docs, {expected:?} in the declaration",
                s.name
            ));
        }
    }
    for name in rows.keys() {
        if !SETTINGS.iter().any(|s| s.per_issuer && s.name == name) {
            problems.push(format!(
                "{name}: a row, but the issuers file takes no such key"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "docs/configuration.md, ## The issuers file, disagrees with core/src/settings.rs:\n  {}",
        problems.join("\n  ")
    );
}
