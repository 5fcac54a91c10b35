//! Converting manifests between YAML and KDL without losing anything they say.
//!
//! Both directions go through the located [`Node`] tree both readers produce, and both check
//! their own output: the converted text is read back and compared with the tree it came from
//! (keys in order, scalars with their types), so a conversion either says the same thing or
//! fails. Comments are carried over, above the key they described; YAML anchors and merge
//! keys arrive expanded, as `az ml` reads them.

use std::path::Path;
use std::sync::Arc;

use kdl::KdlDocument;

use super::kdl::{self as kdl_reader, comments::Comments, print, write};
use super::node::{Node, NodeValue, ScalarKind};
use super::{Classified, classify, yaml, yaml_write};
use crate::diag::{Diagnostic, SourceFile};

/// A manifest format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Yaml,
    Kdl,
}

impl Format {
    /// The format a file name says it has.
    pub fn of(path: &Path) -> Option<Format> {
        match path.extension()?.to_str()? {
            "yml" | "yaml" => Some(Format::Yaml),
            "kdl" => Some(Format::Kdl),
            _ => None,
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Format::Yaml => "yml",
            Format::Kdl => "kdl",
        }
    }
}

/// A converted file.
#[derive(Debug)]
pub struct Converted {
    pub text: String,
    /// Problems that did not stop the conversion (duplicate YAML keys, of which the last
    /// counts in both formats).
    pub warnings: Vec<Diagnostic>,
}

/// Converts `file` to `to`.
pub fn convert(file: &Arc<SourceFile>, to: Format) -> Result<Converted, Vec<Diagnostic>> {
    match (Format::of(&file.path), to) {
        (Some(Format::Kdl), Format::Yaml) => to_yaml(file),
        (Some(Format::Kdl), Format::Kdl) => {
            kdl_reader::parse_document(file).map(|(doc, _)| Converted {
                text: print::document(&doc),
                warnings: Vec::new(),
            })
        }
        (_, Format::Kdl) => to_kdl(file),
        (_, Format::Yaml) => {
            let mut warnings = Vec::new();
            let docs = yaml::parse(file, &mut warnings).map_err(|e| vec![e])?;
            let mut comments = Comments::of_yaml(file, &docs);
            Ok(Converted {
                text: yaml_write::documents(&docs, &mut comments),
                warnings,
            })
        }
    }
}

/// A YAML file as KDL: one resource node per document.
pub fn to_kdl(file: &Arc<SourceFile>) -> Result<Converted, Vec<Diagnostic>> {
    let mut warnings = Vec::new();
    let docs = yaml::parse(file, &mut warnings).map_err(|e| vec![e])?;
    let mut comments = Comments::of_yaml(file, &docs);
    let mut document = KdlDocument::new();
    let mut errors = Vec::new();
    for doc in &docs {
        match write::resource(kind_word(doc), doc, &mut comments) {
            Ok(node) => document.nodes_mut().push(node),
            Err(error) => errors.push(error),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    write::end_comments(&mut document, &mut comments);
    let text = print::document(&document);
    let written = SourceFile::new(&file.path.with_extension("kdl"), text.clone());
    let back = kdl_reader::parse(&written).map_err(|errors| internal(file, errors))?;
    let back: Vec<Node> = back.into_iter().map(|r| r.doc).collect();
    check_same(file, &docs, &back)?;
    Ok(Converted { text, warnings })
}

/// A KDL file as YAML: one document per resource node.
pub fn to_yaml(file: &Arc<SourceFile>) -> Result<Converted, Vec<Diagnostic>> {
    let resources = kdl_reader::parse(file)?;
    let docs: Vec<Node> = resources.into_iter().map(|r| r.doc).collect();
    let mut comments = Comments::of_kdl(file, &docs);
    let text = yaml_write::documents(&docs, &mut comments);
    let written = SourceFile::new(&file.path.with_extension("yml"), text.clone());
    let mut warnings = Vec::new();
    let back = yaml::parse(&written, &mut warnings).map_err(|e| internal(file, vec![e]))?;
    check_same(file, &docs, &back)?;
    Ok(Converted {
        text,
        warnings: Vec::new(),
    })
}

fn check_same(file: &SourceFile, before: &[Node], after: &[Node]) -> Result<(), Vec<Diagnostic>> {
    if before.len() != after.len() {
        return Err(vec![Diagnostic::error(format!(
            "internal error: the conversion would turn {} documents into {}; nothing was written",
            before.len(),
            after.len()
        ))
        .in_file(file.display.clone())]);
    }
    for (a, b) in before.iter().zip(after) {
        if let Err(difference) = same_tree(a, b, "") {
            return Err(vec![
                Diagnostic::error(format!(
                    "internal error: the conversion would change {difference}; nothing was written"
                ))
                .at(&a.loc),
            ]);
        }
    }
    Ok(())
}

fn internal(file: &SourceFile, errors: Vec<Diagnostic>) -> Vec<Diagnostic> {
    let mut out = vec![
        Diagnostic::error(
            "internal error: the converted text does not read back; nothing was written",
        )
        .in_file(file.display.clone()),
    ];
    out.extend(errors);
    out
}

/// The KDL node name for a document: its kind as `az ml` reads it.
pub fn kind_word(doc: &Node) -> &'static str {
    match classify(doc) {
        Classified::Data => "data",
        Classified::Environment => "environment",
        Classified::Compute => "compute",
        Classified::Component => "component",
        Classified::Job => "job",
        Classified::Unsupported(kind) => unsupported_word(kind),
        Classified::NotResource(_) => "document",
    }
}

fn unsupported_word(kind: &str) -> &'static str {
    let words = [
        ("component", "component"),
        ("compute", "compute"),
        ("job", "job"),
        ("schedule", "schedule"),
        ("model", "model"),
        ("flow", "flow"),
        ("data import", "data"),
    ];
    words
        .iter()
        .find(|(needle, _)| kind.contains(needle))
        .map_or("resource", |(_, word)| word)
}

/// Whether two trees say the same: the same keys in the same order, the same items, and
/// scalars of the same type and value (how a value was spelt does not count: `01` and `1`
/// are the same integer). On a difference, says where.
pub fn same_tree(a: &Node, b: &Node, path: &str) -> Result<(), String> {
    let here = || {
        if path.is_empty() {
            "the document".to_owned()
        } else {
            format!("`{path}`")
        }
    };
    match (&a.value, &b.value) {
        (NodeValue::Scalar(x), NodeValue::Scalar(y)) => {
            let same = match (&x.kind, &y.kind) {
                (ScalarKind::Float(p), ScalarKind::Float(q)) => {
                    p.to_bits() == q.to_bits() || (p.is_nan() && q.is_nan())
                }
                (ScalarKind::Str, ScalarKind::Str) => x.text == y.text,
                (ScalarKind::Timestamp, ScalarKind::Timestamp) => x.python_str() == y.python_str(),
                (p, q) => p == q,
            };
            if same {
                Ok(())
            } else {
                Err(format!(
                    "{} from {} `{}` to {} `{}`",
                    here(),
                    x.describe(),
                    x.python_str(),
                    y.describe(),
                    y.python_str()
                ))
            }
        }
        (NodeValue::Seq(xs), NodeValue::Seq(ys)) => {
            if xs.len() != ys.len() {
                return Err(format!("the length of {}", here()));
            }
            for (i, (x, y)) in xs.iter().zip(ys).enumerate() {
                same_tree(x, y, &format!("{path}[{i}]"))?;
            }
            Ok(())
        }
        (NodeValue::Map(xs), NodeValue::Map(ys)) => {
            let keys = |m: &[super::node::Entry]| {
                m.iter().map(|e| e.key.value.clone()).collect::<Vec<_>>()
            };
            if keys(xs) != keys(ys) {
                return Err(format!("the keys of {}", here()));
            }
            for (x, y) in xs.iter().zip(ys) {
                same_tree(&x.value, &y.value, &super::read::join(path, &x.key.value))?;
            }
            Ok(())
        }
        _ => Err(format!(
            "{} from {} to {}",
            here(),
            a.describe(),
            b.describe()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, text: &str) -> Arc<SourceFile> {
        SourceFile::new(Path::new(name), text.into())
    }

    #[test]
    fn yaml_to_kdl_and_back() {
        let yaml_text = "# Train.\n$schema: https://x/commandJob.schema.json\ntype: command\ncommand: >-\n  python t.py\n  --n ${{inputs.n}}\ninputs:\n  n: 01\n  lr: 2e-5\n  data:\n    type: uri_file\n    path: azureml:iris@latest\nenvironment: azureml:env@latest\ncompute: azureml:cpu\n";
        let kdl = to_kdl(&file("train.yml", yaml_text)).unwrap();
        assert!(kdl.text.starts_with("// Train.\njob {\n"), "{}", kdl.text);
        assert!(
            kdl.text.contains("        n 1\n        lr \"2e-5\"\n"),
            "{}",
            kdl.text
        );
        let yaml_again = to_yaml(&file("train.kdl", &kdl.text)).unwrap();
        assert!(
            yaml_again.text.starts_with("# Train.\n$schema: "),
            "{}",
            yaml_again.text
        );
        let docs = yaml::parse(&file("a.yml", yaml_text), &mut Vec::new()).unwrap();
        let back = yaml::parse(&file("b.yml", &yaml_again.text), &mut Vec::new()).unwrap();
        same_tree(&docs[0], &back[0], "").unwrap();
    }

    #[test]
    fn kind_words_follow_the_classification() {
        let doc = |t: &str| {
            yaml::parse(&file("t.yml", t), &mut Vec::new())
                .unwrap()
                .remove(0)
        };
        assert_eq!(kind_word(&doc("name: d\npath: ./x\n")), "data");
        assert_eq!(kind_word(&doc("type: pipeline\njobs: {}\n")), "job");
        assert_eq!(
            kind_word(&doc("channels: [a]\ndependencies: [b]\n")),
            "document"
        );
        assert_eq!(
            kind_word(&doc(
                "$schema: https://x/commandComponent.schema.json\ntype: command\nname: c\nversion: 1\ncommand: x\n"
            )),
            "component"
        );
    }

    #[test]
    fn differences_are_named() {
        let doc = |t: &str| {
            yaml::parse(&file("t.yml", t), &mut Vec::new())
                .unwrap()
                .remove(0)
        };
        assert!(same_tree(&doc("a: 01\n"), &doc("a: 1\n"), "").is_ok());
        let error = same_tree(&doc("a: {b: \"1\"}\n"), &doc("a: {b: 1}\n"), "").unwrap_err();
        assert_eq!(error, "`a.b` from a string `1` to an integer `1`");
        assert!(same_tree(&doc("a: 1\nb: 2\n"), &doc("b: 2\na: 1\n"), "").is_err());
    }
}
