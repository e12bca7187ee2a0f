//! Keeps `docs/security.md` honest: its attack-catalogue table has one row for each of the 25
//! attacks and its battery table one row for each of the 73 cases, and every test a row names
//! exists, is a test, and lives where the README's test command (`scripts/test.sh`) runs it.
//! A row that names a test that does not exist, or an item without a row, fails here.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Rows that say part of what they need is not automated yet (the marker `**Pending`), by id.
/// Exact in both directions: a row that gains its missing test must lose its marker and leave
/// this list, and a row may not carry the marker without being listed here.
const PENDING: &[&str] = &[];

/// Where the README's test command runs tests: `cargo test -p pg_bearer_core` (core/src,
/// core/tests), `cargo pgrx test` (src, `#[pg_test]`), `cargo test -p pg_bearer_e2e`
/// (pgrx-tests/tests, and the unit tests of the harness and its bins in pgrx-tests/src), and
/// the same `cargo test` with `-p` for each tool crate (tools/<tool>/src and tests).
const TEST_HOMES: &[&str] = &[
    "core/src/",
    "core/tests/",
    "src/",
    "pgrx-tests/tests/",
    "pgrx-tests/src/",
    "pam/",
    "provider/",
    "tools/demo/",
    "tools/soak/",
    "tools/logscan/",
];

/// The battery's sections: letter and the item numbers it holds.
const SECTIONS: &[(char, std::ops::RangeInclusive<u32>)] = &[
    ('A', 1..=5),
    ('B', 6..=13),
    ('C', 14..=27),
    ('D', 28..=40),
    ('E', 41..=50),
    ('F', 51..=60),
    ('G', 61..=67),
    ('H', 68..=73),
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn doc() -> String {
    std::fs::read_to_string(root().join("docs/security.md")).expect("docs/security.md")
}

/// The lines of the section whose heading starts with `heading`, up to the next `## `.
fn section<'a>(doc: &'a str, heading: &str) -> Vec<&'a str> {
    let mut lines = doc.lines().skip_while(|l| !l.starts_with(heading));
    assert!(lines.next().is_some(), "no section {heading:?}");
    lines.take_while(|l| !l.starts_with("## ")).collect()
}

/// One table row: its id (first cell) and its cells.
struct Row<'a> {
    id: &'a str,
    line: &'a str,
    cells: Vec<&'a str>,
}

/// The table rows of a section whose first cell satisfies `is_id`.
fn rows<'a>(lines: &[&'a str], is_id: impl Fn(&str) -> bool) -> Vec<Row<'a>> {
    lines
        .iter()
        .filter(|l| l.starts_with('|'))
        .filter_map(|line| {
            let inner = line.trim().trim_start_matches('|').trim_end_matches('|');
            let cells: Vec<&str> = inner.split(" | ").map(str::trim).collect();
            let id = *cells.first()?;
            is_id(id).then_some(Row { id, line, cells })
        })
        .collect()
}

/// The `(path, test)` pairs named in a cell: a link ``[`path`](../path)`` followed by the
/// backticked names of tests in that file, up to the next link.
fn named_tests(cell: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut path: Option<String> = None;
    let mut rest = cell;
    while let Some(start) = rest.find('`') {
        let before = &rest[..start];
        let after = &rest[start + 1..];
        let end = after
            .find('`')
            .ok_or_else(|| format!("unbalanced backtick in {cell:?}"))?;
        let text = &after[..end];
        let tail = &after[end + 1..];
        if before.ends_with('[') {
            let target = format!("]({})", relative(text));
            let Some(after_link) = tail.strip_prefix(&target) else {
                return Err(format!(
                    "link text {text:?} must point to {}",
                    relative(text)
                ));
            };
            path = Some(text.to_owned());
            rest = after_link;
            continue;
        }
        let Some(file) = &path else {
            return Err(format!("{text:?} is not preceded by a file link"));
        };
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(format!("{text:?} is not a test function name"));
        }
        out.push((file.clone(), text.to_owned()));
        rest = tail;
    }
    Ok(out)
}

fn relative(path: &str) -> String {
    format!("../{path}")
}

/// Whether `file` defines `name` as a test (`#[test]` or `#[pg_test]` among the attributes
/// right above `fn name(`).
fn defines_test(file: &str, name: &str) -> Result<(), String> {
    if !TEST_HOMES.iter().any(|home| file.starts_with(home)) {
        return Err(format!("{file} is not run by the test command"));
    }
    let text = std::fs::read_to_string(root().join(file)).map_err(|e| format!("{file}: {e}"))?;
    let lines: Vec<&str> = text.lines().collect();
    let needle = format!("fn {name}(");
    let at = lines
        .iter()
        .position(|l| l.trim_start().starts_with(&needle))
        .ok_or_else(|| format!("{file} has no fn {name}"))?;
    let attributes = lines[..at]
        .iter()
        .rev()
        .take_while(|l| l.trim_start().starts_with("#["));
    for attribute in attributes {
        let attribute = attribute.trim();
        if attribute == "#[test]" || attribute == "#[pg_test]" {
            return Ok(());
        }
    }
    Err(format!("{file}: fn {name} is not a #[test] or #[pg_test]"))
}

/// Checks every row: it names at least one test unless it is pending, every named test
/// exists, and the pending marker matches [`PENDING`]. Returns the ids of pending rows.
fn check_rows(rows: &[Row<'_>], failures: &mut Vec<String>) -> BTreeSet<String> {
    let mut pending = BTreeSet::new();
    for row in rows {
        let is_pending = row.line.contains("**Pending");
        if is_pending {
            pending.insert(row.id.to_owned());
        }
        let Some(cell) = row.cells.last() else {
            continue;
        };
        match named_tests(cell) {
            Err(e) => failures.push(format!("row {}: {e}", row.id)),
            Ok(tests) => {
                if tests.is_empty() && !is_pending {
                    failures.push(format!("row {} names no test", row.id));
                }
                for (file, name) in tests {
                    if let Err(e) = defines_test(&file, &name) {
                        failures.push(format!("row {}: {e}", row.id));
                    }
                }
            }
        }
    }
    pending
}

#[test]
fn every_catalogue_attack_and_battery_case_has_a_row_naming_existing_tests() {
    let doc = doc();
    let mut failures = Vec::new();

    let catalogue = rows(&section(&doc, "## Attack catalogue"), |id| {
        id.parse::<u32>().is_ok()
    });
    let ids: Vec<u32> = catalogue.iter().map(|r| r.id.parse().unwrap()).collect();
    assert_eq!(
        ids,
        (1..=25).collect::<Vec<_>>(),
        "catalogue rows 1..=25 in order"
    );

    let battery = rows(&section(&doc, "## Battery"), |id| {
        id.len() > 1 && id.as_bytes()[0].is_ascii_uppercase() && id[1..].parse::<u32>().is_ok()
    });
    let ids: Vec<u32> = battery.iter().map(|r| r.id[1..].parse().unwrap()).collect();
    assert_eq!(
        ids,
        (1..=73).collect::<Vec<_>>(),
        "battery rows 1..=73 in order"
    );
    for row in &battery {
        let n: u32 = row.id[1..].parse().unwrap();
        let letter = row.id.chars().next().unwrap();
        let expected = SECTIONS.iter().find(|(_, r)| r.contains(&n)).unwrap().0;
        assert_eq!(
            letter, expected,
            "battery item {n} belongs to section {expected}"
        );
    }
    for row in catalogue.iter().chain(&battery) {
        assert!(
            row.cells.len() >= 3,
            "row {} has too few cells: {}",
            row.id,
            row.line
        );
    }

    let mut pending = check_rows(&catalogue, &mut failures);
    pending.extend(check_rows(&battery, &mut failures));
    let expected: BTreeSet<String> = PENDING.iter().map(|s| s.to_string()).collect();
    if pending != expected {
        failures.push(format!(
            "rows marked **Pending: {pending:?}; PENDING lists {expected:?}"
        ));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_review_finding_has_a_row_naming_existing_tests() {
    let doc = doc();
    let findings = rows(&section(&doc, "## Review findings"), |id| {
        id.len() > 1 && id.starts_with('R') && id[1..].parse::<u32>().is_ok()
    });
    let ids: Vec<u32> = findings
        .iter()
        .map(|r| r.id[1..].parse().unwrap())
        .collect();
    assert_eq!(
        ids,
        (1..=7).collect::<Vec<_>>(),
        "finding rows R1..=R7 in order"
    );
    let mut failures = Vec::new();
    let pending = check_rows(&findings, &mut failures);
    assert!(pending.is_empty(), "pending findings: {pending:?}");
    for row in &findings {
        assert!(row.cells.len() >= 5, "row {} has too few cells", row.id);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_relative_link_in_the_security_doc_resolves() {
    let doc = doc();
    let docs_dir = root().join("docs");
    let mut failures = Vec::new();
    let mut rest = doc.as_str();
    let mut links = 0;
    while let Some(at) = rest.find("](") {
        let after = &rest[at + 2..];
        let end = after.find(')').unwrap_or(after.len());
        let target = &after[..end];
        rest = &after[end..];
        if target.starts_with("http") || target.starts_with('#') {
            continue;
        }
        links += 1;
        let file = target.split('#').next().unwrap();
        if !docs_dir.join(file).exists() {
            failures.push(target.to_owned());
        }
    }
    assert!(links > 100, "only {links} relative links found");
    assert!(failures.is_empty(), "broken links: {failures:?}");
}

#[test]
fn the_doc_checker_refuses_what_it_must() {
    // A name after a link must be a test of that file.
    assert!(defines_test(
        "core/tests/verify_battery.rs",
        "c14_alg_none_in_any_spelling_is_refused"
    )
    .is_ok());
    assert!(defines_test("core/tests/verify_battery.rs", "no_such_test").is_err());
    // A helper function is not a test.
    assert!(defines_test("core/tests/verify_battery.rs", "flip_bit").is_err());
    // A file the test command does not run.
    assert!(defines_test("scripts/test.sh", "x").is_err());
    // Link syntax.
    let ok = "[`core/tests/jwks.rs`](../core/tests/jwks.rs) `a_b`, `c`";
    assert_eq!(
        named_tests(ok).unwrap(),
        [
            ("core/tests/jwks.rs".to_owned(), "a_b".to_owned()),
            ("core/tests/jwks.rs".to_owned(), "c".to_owned())
        ]
    );
    assert!(named_tests("[`core/tests/jwks.rs`](../core/tests/other.rs) `a`").is_err());
    assert!(named_tests("`a` before any link").is_err());
    assert!(named_tests("[`core/tests/jwks.rs`](../core/tests/jwks.rs) `not a name`").is_err());
}
