//! Per-target overlays: fields of named resources that one target changes.
//!
//! An overlay is merged into the resource's document before it is read, so the result goes
//! through the same validation as a field written in the manifest: mappings merge key by key,
//! anything else replaces what the manifest wrote, and `#null` makes a field absent. Each
//! field an overlay sets is recorded, so that plans can say the value came from the target.

use super::node::{Entry, Node, NodeValue};
use super::read::join;
use crate::diag::{Loc, Located};
use crate::model::{Kind, OriginKind, ValueOrigin};

/// The fields one target changes in one resource.
#[derive(Clone, Debug)]
pub struct Overlay {
    pub kind: Kind,
    pub name: Located<String>,
    /// The fields to set, as a mapping located in the project file.
    pub fields: Node,
    /// The target the overlay belongs to.
    pub target: String,
    /// Where the overlay is written.
    pub loc: Loc,
}

impl Overlay {
    /// The address the overlay names, as plans write it (`compute.cpu-cluster`).
    pub fn address(&self) -> String {
        format!("{}.{}", self.kind, self.name.value)
    }

    fn origin(&self, at: &Loc) -> ValueOrigin {
        ValueOrigin {
            kind: OriginKind::Overlay,
            variable: None,
            target: Some(self.target.clone()),
            source: format!("{}:{}", at.file.display, at.line),
        }
    }
}

/// Merges `overlay` into the document `doc`, recording the path of each field it sets.
pub fn apply(doc: &mut Node, overlay: &Overlay, origins: &mut Vec<(String, ValueOrigin)>) {
    let (NodeValue::Map(entries), Some(patch)) = (&mut doc.value, overlay.fields.entries()) else {
        return;
    };
    merge(entries, patch, "", overlay, origins);
}

fn merge(
    entries: &mut Vec<Entry>,
    patch: &[Entry],
    path: &str,
    overlay: &Overlay,
    origins: &mut Vec<(String, ValueOrigin)>,
) {
    for change in patch {
        let child = join(path, &change.key.value);
        let existing = entries.iter_mut().find(|e| e.key.value == change.key.value);
        match (existing, change.value.entries()) {
            (Some(entry), Some(fields))
                if !fields.is_empty() && entry.value.entries().is_some() =>
            {
                if let NodeValue::Map(inner) = &mut entry.value.value {
                    merge(inner, fields, &child, overlay, origins);
                }
            }
            (Some(entry), _) => {
                entry.value = change.value.clone();
                origins.push((child, overlay.origin(&change.key.loc)));
            }
            (None, _) => {
                entries.push(change.clone());
                origins.push((child, overlay.origin(&change.key.loc)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::SourceFile;
    use crate::manifest::yaml;
    use std::path::Path;

    fn doc(name: &str, text: &str) -> Node {
        let file = SourceFile::new(Path::new(name), text.into());
        yaml::parse(&file, &mut Vec::new()).unwrap().remove(0)
    }

    #[test]
    fn merges_maps_and_replaces_the_rest() {
        let mut compute = doc(
            "c.yml",
            "name: cpu\ntype: amlcompute\nmax_instances: 4\ntags: {team: a, env: prod}\n",
        );
        let fields = doc(
            "amlops.kdl",
            "max_instances: 2\ntags: {env: dev}\ntier: low_priority\n",
        );
        let overlay = Overlay {
            kind: Kind::Compute,
            name: Located::new("cpu".into(), fields.loc.clone()),
            loc: fields.loc.clone(),
            fields,
            target: "dev".into(),
        };
        let mut origins = Vec::new();
        apply(&mut compute, &overlay, &mut origins);
        assert_eq!(
            compute.to_json(),
            serde_json::json!({"name": "cpu", "type": "amlcompute", "max_instances": 2,
                "tags": {"team": "a", "env": "dev"}, "tier": "low_priority"})
        );
        let paths: Vec<&str> = origins.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(paths, ["max_instances", "tags.env", "tier"]);
        assert_eq!(origins[0].1.source, "amlops.kdl:1");
        assert_eq!(origins[0].1.target.as_deref(), Some("dev"));
    }
}
