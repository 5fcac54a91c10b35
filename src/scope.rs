//! Where resources live: a workspace or a registry, and the ARM ids inside it.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The subscription of the embedded local workspace. It is all zeros, like the placeholder
/// subscriptions of Azure's own examples, so it can never name a real one.
pub const LOCAL_SUBSCRIPTION: &str = "00000000-0000-0000-0000-000000000000";
pub const LOCAL_RESOURCE_GROUP: &str = "amlops-local";
pub const LOCAL_WORKSPACE: &str = "local";
/// The region reported for the local workspace.
pub const LOCAL_LOCATION: &str = "local";

const PROVIDER: &str = "providers/Microsoft.MachineLearningServices";

/// A workspace or a registry, addressed as ARM addresses it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Scope {
    Workspace {
        subscription: String,
        resource_group: String,
        workspace: String,
    },
    Registry {
        subscription: String,
        resource_group: String,
        registry: String,
    },
}

impl Scope {
    /// The embedded local workspace.
    pub fn local() -> Self {
        Scope::Workspace {
            subscription: LOCAL_SUBSCRIPTION.into(),
            resource_group: LOCAL_RESOURCE_GROUP.into(),
            workspace: LOCAL_WORKSPACE.into(),
        }
    }

    pub fn workspace(subscription: &str, resource_group: &str, workspace: &str) -> Self {
        Scope::Workspace {
            subscription: subscription.into(),
            resource_group: resource_group.into(),
            workspace: workspace.into(),
        }
    }

    /// Reads `SUBSCRIPTION/RESOURCE_GROUP/NAME`.
    pub fn parse_workspace(text: &str) -> Option<Self> {
        match text.split('/').collect::<Vec<_>>().as_slice() {
            [s, r, w] if !s.is_empty() && !r.is_empty() && !w.is_empty() => {
                Some(Self::workspace(s, r, w))
            }
            _ => None,
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Scope::Workspace { workspace, .. } => workspace,
            Scope::Registry { registry, .. } => registry,
        }
    }

    pub fn subscription(&self) -> &str {
        match self {
            Scope::Workspace { subscription, .. } | Scope::Registry { subscription, .. } => {
                subscription
            }
        }
    }

    pub fn resource_group(&self) -> &str {
        match self {
            Scope::Workspace { resource_group, .. } | Scope::Registry { resource_group, .. } => {
                resource_group
            }
        }
    }

    pub fn is_registry(&self) -> bool {
        matches!(self, Scope::Registry { .. })
    }

    /// The ARM id of the workspace or registry itself.
    pub fn id(&self) -> String {
        match self {
            Scope::Workspace {
                subscription,
                resource_group,
                workspace,
            } => {
                format!(
                    "/subscriptions/{subscription}/resourceGroups/{resource_group}/{PROVIDER}/workspaces/{workspace}"
                )
            }
            Scope::Registry {
                subscription,
                resource_group,
                registry,
            } => {
                format!(
                    "/subscriptions/{subscription}/resourceGroups/{resource_group}/{PROVIDER}/registries/{registry}"
                )
            }
        }
    }

    /// The ARM id of a resource at `relative` (such as `data/iris/versions/1`).
    pub fn resource_id(&self, relative: &str) -> String {
        format!("{}/{relative}", self.id())
    }

    /// The path relative to this scope of an ARM id inside it, compared without regard to
    /// case as ARM compares ids.
    pub fn relative<'a>(&self, id: &'a str) -> Option<&'a str> {
        let prefix = self.id();
        let head = id.get(..prefix.len())?;
        if !head.eq_ignore_ascii_case(&prefix) {
            return None;
        }
        id[prefix.len()..].strip_prefix('/')
    }

    /// The ARM resource type of an object at `relative`.
    pub fn resource_type(&self, relative: &str) -> String {
        let base = match self {
            Scope::Workspace { .. } => "Microsoft.MachineLearningServices/workspaces",
            Scope::Registry { .. } => "Microsoft.MachineLearningServices/registries",
        };
        let segments: Vec<&str> = relative.split('/').collect();
        let types: Vec<&str> = segments.iter().step_by(2).copied().collect();
        format!("{base}/{}", types.join("/"))
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Workspace {
                subscription,
                resource_group,
                workspace,
            } => {
                write!(f, "workspace {subscription}/{resource_group}/{workspace}")
            }
            Scope::Registry { registry, .. } => write!(f, "registry {registry}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_relative_paths() {
        let scope = Scope::workspace("s", "rg", "ws");
        let id = scope.resource_id("data/iris/versions/1");
        assert_eq!(
            id,
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws/data/iris/versions/1"
        );
        assert_eq!(
            scope.relative(
                &id.to_uppercase()
                    .replace("DATA/IRIS/VERSIONS/1", "data/iris/versions/1")
            ),
            Some("data/iris/versions/1")
        );
        assert_eq!(scope.relative("/subscriptions/other/x"), None);
        assert_eq!(
            scope.resource_type("data/iris/versions/1"),
            "Microsoft.MachineLearningServices/workspaces/data/versions"
        );
        assert_eq!(
            Scope::parse_workspace("a/b/c"),
            Some(Scope::workspace("a", "b", "c"))
        );
        assert_eq!(Scope::parse_workspace("a/b"), None);
    }
}
