//! The documents of a manifest file, in either format, with what the project contributes
//! applied before they are read: variable values and the selected target's overlays.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::convert::Format;
use super::node::Node;
use super::overlay::{self, Overlay};
use super::vars::{self, Variables};
use super::{Classified, classify, kdl, yaml};
use crate::diag::{Diagnostic, Located, SourceFile, did_you_mean};
use crate::model::{Kind, ValueOrigin};

/// The project file at the root of a manifest directory; never read as a resource file.
pub const PROJECT_FILE: &str = "amlops.kdl";

/// What a project contributes to reading manifests.
#[derive(Clone, Debug, Default)]
pub struct Inputs {
    pub variables: Variables,
    pub overlays: Vec<Overlay>,
}

/// One document of a manifest file.
#[derive(Debug)]
pub struct Document {
    pub node: Node,
    /// For KDL, the node name the resource is written under.
    pub kind_word: Option<Located<String>>,
    /// Fields whose values came from variables or overlays, by dotted path.
    pub origins: Vec<(String, ValueOrigin)>,
    /// Problems were reported while preparing it: it is not read, to spare follow-on errors.
    pub skip: bool,
}

/// Parses a manifest file, YAML or KDL by its extension.
pub fn parse_file(
    file: &Arc<SourceFile>,
    warnings: &mut Vec<Diagnostic>,
) -> Result<Vec<Document>, Vec<Diagnostic>> {
    let document = |node, kind_word| Document {
        node,
        kind_word,
        origins: Vec::new(),
        skip: false,
    };
    match Format::of(&file.path) {
        Some(Format::Kdl) => Ok(kdl::parse(file)?
            .into_iter()
            .map(|r| document(r.doc, Some(r.kind_word)))
            .collect()),
        _ => Ok(yaml::parse(file, warnings)
            .map_err(|e| vec![e])?
            .into_iter()
            .map(|node| document(node, None))
            .collect()),
    }
}

/// Applies [`Inputs`] to the files of one manifest load, and remembers which overlays found
/// their resource.
pub struct Preparer<'a> {
    inputs: &'a Inputs,
    matched: Vec<bool>,
    /// Every resource seen, by kind and name, for "did you mean" on unmatched overlays.
    seen: BTreeSet<(Kind, String)>,
}

impl<'a> Preparer<'a> {
    pub fn new(inputs: &'a Inputs) -> Self {
        Self {
            inputs,
            matched: vec![false; inputs.overlays.len()],
            seen: BTreeSet::new(),
        }
    }

    /// Substitutes variables in every document of `file`, merges the overlays that name its
    /// resources, and checks that each KDL node is named for the kind its keys make it.
    pub fn prepare(
        &mut self,
        docs: &mut [Document],
        file: &SourceFile,
        problems: &mut Vec<Diagnostic>,
    ) {
        let many = docs.len() > 1;
        for (index, doc) in docs.iter_mut().enumerate() {
            let before = problems.len();
            vars::substitute(
                &mut doc.node,
                "",
                &self.inputs.variables,
                &mut doc.origins,
                problems,
            );
            doc.skip = problems.len() > before;
            let suffix = many.then_some(index + 1);
            if let Some(identity) = identity(&doc.node, file, suffix) {
                for (i, overlay) in self.inputs.overlays.iter().enumerate() {
                    if (overlay.kind, overlay.name.value.as_str())
                        == (identity.0, identity.1.as_str())
                    {
                        // A document with problems is not read, but its overlay found it.
                        if !doc.skip {
                            overlay::apply(&mut doc.node, overlay, &mut doc.origins);
                        }
                        self.matched[i] = true;
                    }
                }
                self.seen.insert(identity);
            }
            if let Some(word) = doc.kind_word.as_ref().filter(|_| !doc.skip)
                && let Some(problem) = check_kind(word, classify(&doc.node))
            {
                problems.push(problem);
                doc.skip = true;
            }
        }
    }

    /// Errors for overlays that named no resource of the manifests.
    pub fn unmatched(&self) -> Vec<Diagnostic> {
        self.inputs
            .overlays
            .iter()
            .zip(&self.matched)
            .filter(|(_, matched)| !**matched)
            .map(|(overlay, _)| {
                let names = self
                    .seen
                    .iter()
                    .filter(|(kind, _)| *kind == overlay.kind)
                    .map(|(_, name)| name.as_str());
                let mut diagnostic = Diagnostic::error(format!(
                    "the overlay of target `{}` changes {} `{}`, which no manifest declares",
                    overlay.target, overlay.kind, overlay.name.value
                ))
                .at(&overlay.name.loc);
                if let Some(close) = did_you_mean(&overlay.name.value, names) {
                    diagnostic = diagnostic.hint(format!("did you mean `{close}`?"));
                }
                diagnostic
            })
            .collect()
    }
}

/// The kind and name a document declares, as its address has them (an unnamed job is named
/// for its file).
fn identity(doc: &Node, file: &SourceFile, suffix: Option<usize>) -> Option<(Kind, String)> {
    let kind = match classify(doc) {
        Classified::Data => Kind::Data,
        Classified::Environment => Kind::Environment,
        Classified::Compute => Kind::Compute,
        Classified::Component => Kind::Component,
        Classified::Job => Kind::Job,
        _ => return None,
    };
    let name = match (doc.get_str("name"), kind) {
        (Some(name), _) => name.to_owned(),
        (None, Kind::Job) => {
            let stem = file.path.file_stem()?.to_string_lossy().into_owned();
            match suffix {
                Some(i) => format!("{stem}-{i}"),
                None => stem,
            }
        }
        (None, _) => return None,
    };
    Some((kind, name))
}

/// A KDL resource node must be named for the kind its keys make it, as `az ml` decides it.
pub fn check_kind(word: &Located<String>, classified: Classified) -> Option<Diagnostic> {
    let expected = match classified {
        Classified::Data => "data",
        Classified::Environment => "environment",
        Classified::Compute => "compute",
        Classified::Component => "component",
        Classified::Job => "job",
        Classified::Unsupported(_) => return None,
        Classified::NotResource(_) if word.value == "document" => return None,
        Classified::NotResource(_) => {
            let needs = match word.value.as_str() {
                "data" => "a data asset needs `name` and `path`",
                "environment" => "an environment needs `image` or `build`",
                "compute" => "a compute needs `type`, such as `type \"amlcompute\"`",
                "job" => "a command job needs `command`",
                _ => "its keys are not those of any Azure ML resource",
            };
            return Some(
                Diagnostic::error(format!(
                    "this `{}` is not an Azure ML resource: {needs}",
                    word.value
                ))
                .at(&word.loc),
            );
        }
    };
    (word.value != expected).then(|| {
        Diagnostic::error(format!(
            "this resource is written as `{}`, but its keys make it `{expected}`",
            word.value
        ))
        .at(&word.loc)
        .hint(format!("name the node `{expected}`, or change its keys"))
    })
}
