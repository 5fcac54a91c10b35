//! Where a declared value came from when the manifest did not write it directly.
//!
//! A project file (`amlops.kdl`) can fill fields through variables and per-target overlays.
//! Plans show the origin next to each field it explains, so that a reviewer can tell a value
//! written in a manifest from one a target chose.

use serde::{Deserialize, Serialize};

/// What set a field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OriginKind {
    /// A `${var.NAME}` reference in the manifest.
    Variable,
    /// A target's overlay in the project file.
    Overlay,
}

/// Where a field's value came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValueOrigin {
    pub kind: OriginKind,
    /// The variable, for [`OriginKind::Variable`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variable: Option<String>,
    /// The target whose value or overlay applied; absent for a variable's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Where the value was written: `amlops.kdl:14`, or `--var` for the command line.
    pub source: String,
}

impl ValueOrigin {
    /// The origin in words: `variable nodes (target dev, amlops.kdl:14)`.
    pub fn describe(&self) -> String {
        let mut details = Vec::new();
        match self.kind {
            OriginKind::Variable => {
                if let Some(target) = &self.target {
                    details.push(format!("target {target}"));
                } else if self.source != "--var" {
                    details.push("default".to_owned());
                }
            }
            OriginKind::Overlay => {}
        }
        details.push(self.source.clone());
        let what = match self.kind {
            OriginKind::Variable => {
                format!("variable {}", self.variable.as_deref().unwrap_or("?"))
            }
            OriginKind::Overlay => format!(
                "overlay of target {}",
                self.target.as_deref().unwrap_or("?")
            ),
        };
        format!("{what} ({})", details.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_itself() {
        let variable = ValueOrigin {
            kind: OriginKind::Variable,
            variable: Some("nodes".into()),
            target: Some("dev".into()),
            source: "amlops.kdl:14".into(),
        };
        assert_eq!(
            variable.describe(),
            "variable nodes (target dev, amlops.kdl:14)"
        );
        let default = ValueOrigin {
            target: None,
            ..variable.clone()
        };
        assert_eq!(
            default.describe(),
            "variable nodes (default, amlops.kdl:14)"
        );
        let cli = ValueOrigin {
            target: None,
            source: "--var".into(),
            ..variable
        };
        assert_eq!(cli.describe(), "variable nodes (--var)");
        let overlay = ValueOrigin {
            kind: OriginKind::Overlay,
            variable: None,
            target: Some("dev".into()),
            source: "amlops.kdl:20".into(),
        };
        assert_eq!(overlay.describe(), "overlay of target dev (amlops.kdl:20)");
    }
}
