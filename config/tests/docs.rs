//! `docs/configuration.md` documents every directive of the table, with the
//! contexts the table allows, and nothing the parser does not accept; the
//! directives the server does not act on yet are marked so, and only they.

use std::path::Path;

fn doc() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/configuration.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// `(directive, section text)` for every `### \`name\`` heading.
fn sections(doc: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in doc.lines() {
        if let Some(name) = line.strip_prefix("### `").and_then(|r| r.strip_suffix('`')) {
            out.push((name.to_string(), String::new()));
        } else if line.starts_with("## ") || line.starts_with("### ") {
            out.push((String::new(), String::new()));
        } else if let Some((_, text)) = out.last_mut() {
            text.push_str(line);
            text.push('\n');
        }
    }
    out.retain(|(name, _)| !name.is_empty());
    out
}

#[test]
fn every_directive_is_documented_with_its_contexts() {
    let doc = doc();
    let sections = sections(&doc);
    for name in config::directive_names() {
        let Some((_, text)) = sections.iter().find(|(n, _)| n == name) else {
            panic!("docs/configuration.md has no `### \\`{name}\\`` section");
        };
        let contexts = config::directive_contexts(name).expect("a table name has contexts");
        let want = format!("- Context: {}\n", contexts.join(", "));
        assert!(text.contains(&want), "section {name} should say {want:?}");
        assert!(text.contains("- Syntax: `"), "section {name} has no syntax line");
        assert!(text.contains("- Default: "), "section {name} has no default line");
        assert!(text.contains("```\n"), "section {name} has no example");
        assert!(text.contains(name), "section {name}'s example does not use it");
    }
}

#[test]
fn every_documented_directive_exists() {
    let names: Vec<&str> = config::directive_names().collect();
    let sections = sections(&doc());
    assert_eq!(sections.len(), names.len(), "one section per directive");
    for (name, _) in sections {
        assert!(names.contains(&name.as_str()), "documented but unknown: {name}");
    }
}

#[test]
fn the_documented_example_is_valid_apart_from_its_paths() {
    let doc = doc();
    let start = doc.find("```\n# global\n").expect("the opening example") + 4;
    let end = start + doc[start..].find("```").expect("end of the example");
    let example = &doc[start..end];
    let cfg = config::parse_unchecked(example, Path::new("/etc/berth/berth.conf"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cfg.servers[0].locations.len(), 6);
}

#[test]
fn directives_not_acted_on_yet_are_marked_and_only_they() {
    let not_yet: Vec<&str> = config::not_yet_directives().collect();
    for (name, text) in sections(&doc()) {
        let marked = text.contains("**Not yet:**");
        assert_eq!(
            marked,
            not_yet.contains(&name.as_str()),
            "section {name}: a \"**Not yet:**\" mark must be there exactly while the \
             server does not act on it (config's NOT_YET table)"
        );
    }
}
