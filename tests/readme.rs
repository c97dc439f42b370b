//! The README's promises are only as good as the tests it names: every
//! test file and test function a table row names exists (a renamed or
//! removed test fails here, not silently in the README).

use std::path::Path;

/// (file, function) pairs named in `text`'s table rows: a backticked path
/// (`tests/x.rs`, `src/y.rs`) and the backticked names after it, up to the
/// next path.
fn named(text: &str) -> Vec<(String, Option<String>)> {
    let mut found = Vec::new();
    for row in text.lines().filter(|l| l.starts_with('|')) {
        let mut file: Option<String> = None;
        for (i, part) in row.split('`').enumerate() {
            if i % 2 == 0 {
                continue;
            }
            let is_path = (part.starts_with("tests/") || part.starts_with("src/"))
                && part.ends_with(".rs")
                && !part.contains(' ');
            if is_path {
                file = Some(part.to_owned());
                found.push((part.to_owned(), None));
            } else if let Some(file) = &file {
                let is_name = !part.is_empty()
                    && part
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                    && part.contains('_');
                if is_name {
                    found.push((file.clone(), Some(part.to_owned())));
                }
            }
        }
    }
    found
}

#[test]
fn every_test_the_readme_names_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let named = named(&readme);
    assert!(named.len() > 40, "the tables name {} tests", named.len());
    let mut missing = Vec::new();
    for (file, function) in &named {
        let Ok(source) = std::fs::read_to_string(root.join(file)) else {
            missing.push(file.clone());
            continue;
        };
        if let Some(function) = function {
            if !source.contains(&format!("fn {function}(")) {
                missing.push(format!("{file} {function}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "the README names what does not exist: {missing:#?}"
    );
}

#[test]
fn the_checker_finds_what_a_row_names() {
    let row = "| a promise | `tests/a.rs` `first_one`, `second_one`; `src/b.rs` `third_one` |";
    assert_eq!(
        named(row),
        [
            ("tests/a.rs".to_owned(), None),
            ("tests/a.rs".to_owned(), Some("first_one".to_owned())),
            ("tests/a.rs".to_owned(), Some("second_one".to_owned())),
            ("src/b.rs".to_owned(), None),
            ("src/b.rs".to_owned(), Some("third_one".to_owned())),
        ]
    );
}
