//! Every YAML file of Microsoft's example corpus and of our examples converts to KDL and back
//! without changing what it says, the KDL reads as the same tree the YAML does, and the
//! converted KDL is already in `amlops fmt`'s layout.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use amlops::diag::SourceFile;
use amlops::manifest::convert::{same_tree, to_kdl, to_yaml};
use amlops::manifest::kdl::{self, print};
use amlops::manifest::node::Node;
use amlops::manifest::vars;
use amlops::manifest::yaml;

fn corpus() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/azureml-examples");
    if dir.is_dir() {
        Some(dir)
    } else {
        println!("skipped: {} is absent", dir.display());
        None
    }
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().flatten().collect();
    entries.sort_by_key(|e| e.path());
    for entry in entries {
        let path = entry.path();
        if path.is_dir() {
            yaml_files(&path, out);
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yml" | "yaml")
        ) {
            out.push(path);
        }
    }
}

fn source(path: &Path, text: String) -> Arc<SourceFile> {
    SourceFile::new(path, text)
}

/// Converts one YAML file there and back; `Ok(false)` when the file is not one KDL can hold
/// (the reason is printed).
fn round_trip(path: &Path) -> Result<bool, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let file = source(path, text);
    let Ok(docs) = yaml::parse(&file, &mut Vec::new()) else {
        return Ok(false);
    };
    let kdl_text = match to_kdl(&file) {
        Ok(converted) => converted.text,
        Err(errors) => {
            let refused = errors
                .iter()
                .all(|e| !e.message.starts_with("internal error"));
            return if refused {
                println!("not convertible: {}: {}", path.display(), errors[0].message);
                Ok(false)
            } else {
                Err(format!("{}: {errors:#?}", path.display()))
            };
        }
    };
    let kdl_file = source(&path.with_extension("kdl"), kdl_text.clone());
    let (document, _) = kdl::parse_document(&kdl_file).map_err(|e| format!("{e:?}"))?;
    if print::document(&document) != kdl_text {
        return Err(format!(
            "{}: the converted KDL is not in fmt's layout",
            path.display()
        ));
    }
    let from_kdl: Vec<Node> = kdl::parse(&kdl_file)
        .map_err(|e| format!("{}: {e:?}", path.display()))?
        .into_iter()
        .map(|r| r.doc)
        .collect();
    let yaml_again = to_yaml(&kdl_file).map_err(|e| format!("{}: {e:?}", path.display()))?;
    let yaml_file = source(path, yaml_again.text);
    let back = yaml::parse(&yaml_file, &mut Vec::new()).map_err(|e| e.to_string())?;
    for ((original, kdl_doc), again) in docs.iter().zip(&from_kdl).zip(&back) {
        same_tree(original, kdl_doc, "").map_err(|e| format!("{} (KDL): {e}", path.display()))?;
        same_tree(original, again, "").map_err(|e| format!("{} (YAML): {e}", path.display()))?;
    }
    Ok(true)
}

#[test]
fn corpus_round_trips_through_kdl() {
    let Some(dir) = corpus() else { return };
    let mut files = Vec::new();
    yaml_files(&dir, &mut files);
    assert!(
        files.len() > 300,
        "expected the whole corpus, found {}",
        files.len()
    );
    let mut converted = 0;
    let mut failures = Vec::new();
    for path in &files {
        match round_trip(path) {
            Ok(true) => converted += 1,
            Ok(false) => {}
            Err(failure) => failures.push(failure),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    println!("{converted} of {} corpus files round-trip", files.len());
    assert!(
        converted * 100 >= files.len() * 98,
        "only {converted} of {} converted",
        files.len()
    );
}

#[test]
fn examples_round_trip_through_kdl() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut files = Vec::new();
    yaml_files(&root, &mut files);
    assert!(!files.is_empty());
    for path in &files {
        assert_eq!(round_trip(path), Ok(true), "{}", path.display());
    }
}

#[test]
fn example_kdl_files_round_trip_through_yaml() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/environments");
    for name in ["compute.kdl", "environment.kdl", "train.kdl"] {
        let path = dir.join(name);
        let file = source(&path, std::fs::read_to_string(&path).unwrap());
        let docs: Vec<Node> = kdl::parse(&file)
            .unwrap()
            .into_iter()
            .map(|r| r.doc)
            .collect();
        let yaml_text = to_yaml(&file).unwrap().text;
        let back = yaml::parse(
            &source(&path.with_extension("yml"), yaml_text),
            &mut Vec::new(),
        )
        .unwrap();
        for (a, b) in docs.iter().zip(&back) {
            same_tree(a, b, "").unwrap();
        }
        let (document, _) = kdl::parse_document(&file).unwrap();
        assert_eq!(
            print::document(&document),
            file.text,
            "{name} is in fmt's layout"
        );
    }
}

/// The variable syntax changes the meaning of no file that works today.
#[test]
fn no_corpus_file_mentions_the_variable_syntax() {
    let Some(dir) = corpus() else { return };
    let mut files = Vec::new();
    yaml_files(&dir, &mut files);
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            !vars::mentions_variables(&text),
            "{} uses `${{var.`",
            path.display()
        );
    }
}
