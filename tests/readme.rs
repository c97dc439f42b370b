//! The README and the guide (docs/) hold: every test file and test function
//! a table row names exists (a renamed or removed test fails here, not
//! silently in the docs), every relative link and anchor resolves, and the
//! README stays a page read in five minutes.

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

/// The README and every page of the guide: (path from the root, text).
fn pages() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut names = vec!["README.md".to_owned()];
    let mut guide: Vec<String> = std::fs::read_dir(root.join("docs"))
        .expect("the guide, docs/")
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".md"))
        .map(|n| format!("docs/{n}"))
        .collect();
    guide.sort();
    names.extend(guide);
    names
        .into_iter()
        .map(|n| {
            let text = std::fs::read_to_string(root.join(&n)).unwrap();
            (n, text)
        })
        .collect()
}

/// A heading's anchor as GitHub makes it: lower case, spaces as dashes,
/// other punctuation dropped.
fn slug(heading: &str) -> String {
    heading
        .trim_start_matches('#')
        .trim()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            '-' | '_' => Some(c),
            c if c.is_alphanumeric() => Some(c.to_lowercase().next().unwrap()),
            _ => None,
        })
        .collect()
}

/// The anchors of `text`'s headings (outside code blocks).
fn anchors(text: &str) -> Vec<String> {
    let mut fenced = false;
    let mut found = Vec::new();
    for line in text.lines() {
        if line.starts_with("```") {
            fenced = !fenced;
        } else if !fenced && line.starts_with('#') {
            found.push(slug(line));
        }
    }
    found
}

/// The relative link targets of `text` (`](target)`, outside code blocks).
fn links(text: &str) -> Vec<String> {
    let mut fenced = false;
    let mut found = Vec::new();
    for line in text.lines() {
        if line.starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        for (i, _) in line.match_indices("](") {
            let rest = &line[i + 2..];
            let Some(end) = rest.find(')') else { continue };
            let target = &rest[..end];
            if !target.contains("://") && !target.starts_with("mailto:") {
                found.push(target.to_owned());
            }
        }
    }
    found
}

#[test]
fn every_relative_link_and_anchor_resolves_and_the_readme_is_short() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let pages = pages();
    assert!(pages.len() > 5, "{}", pages.len());
    let mut broken = Vec::new();
    let mut checked = 0;
    for (name, text) in &pages {
        let dir = Path::new(name).parent().unwrap();
        for target in links(text) {
            checked += 1;
            let (file, anchor) = match target.split_once('#') {
                Some((file, anchor)) => (file, Some(anchor)),
                None => (target.as_str(), None),
            };
            let path = if file.is_empty() {
                root.join(name)
            } else {
                root.join(dir).join(file)
            };
            if !path.exists() {
                broken.push(format!("{name}: {target} (no such file)"));
                continue;
            }
            if let Some(anchor) = anchor {
                let target_text = std::fs::read_to_string(&path).unwrap_or_default();
                if !anchors(&target_text).iter().any(|a| a == anchor) {
                    broken.push(format!("{name}: {target} (no such heading)"));
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links: {broken:#?}");
    assert!(checked > 20, "only {checked} links checked");
    let readme = &pages[0].1;
    assert!(readme.lines().count() <= 300, "{}", readme.lines().count());
}

#[test]
fn the_link_checker_knows_a_broken_link_from_a_good_one() {
    assert_eq!(slug("## Was it delivered?"), "was-it-delivered");
    assert_eq!(
        slug("### From cron or a shell: the `inject` command"),
        "from-cron-or-a-shell-the-inject-command"
    );
    let text = "# A\n[x](b.md#c) and [y](#a)\n```\n[w](q)\n```\n[z](http://e)\n";
    assert_eq!(links(text), ["b.md#c", "#a"]);
    assert_eq!(anchors("# A b\n```\n# not\n```\n## C?"), ["a-b", "c"]);
}

#[test]
fn every_test_the_readme_names_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text: String = pages().into_iter().map(|(_, t)| t + "\n").collect();
    let named = named(&text);
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
