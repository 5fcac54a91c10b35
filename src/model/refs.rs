//! References between resources, as written in CLI v2 YAML.
//!
//! | written | meaning |
//! | --- | --- |
//! | `azureml:name:version` | a workspace asset, exact version |
//! | `azureml:name@latest` (or `:latest`) | a workspace asset by label, resolved at plan time |
//! | `azureml:name` | a compute, or an asset without a version |
//! | `azureml://registries/r/environments/n/versions/v` or `/labels/l` | a registry asset |
//! | `/subscriptions/…/workspaces/w/environments/n/versions/v` | a full ARM id |
//! | `azureml://datastores/ds/paths/p` | a location inside a datastore |
//! | `https://…`, `wasbs://…`, `abfss://…`, `adl://…` | storage URLs |
//! | anything else | a local path, relative to the file that holds it |

use std::fmt;
use std::path::PathBuf;

/// Which version of an asset a reference asks for.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum VersionSel {
    Exact(String),
    Label(String),
    /// No version given (`azureml:name`).
    Unspecified,
}

/// A reference to an asset (data, environment, component, model, code).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AssetRef {
    /// An asset of the target workspace, by name.
    Workspace { name: String, version: VersionSel },
    /// An asset of a registry (`azureml://registries/...`); passed to Azure as written.
    Registry {
        registry: String,
        name: String,
        version: VersionSel,
        /// The reference exactly as written.
        text: String,
    },
    /// A full ARM id (`/subscriptions/...`), possibly of another workspace.
    ArmId {
        id: String,
        name: String,
        version: VersionSel,
    },
}

impl AssetRef {
    pub fn name(&self) -> &str {
        match self {
            Self::Workspace { name, .. }
            | Self::Registry { name, .. }
            | Self::ArmId { name, .. } => name,
        }
    }

    pub fn version(&self) -> &VersionSel {
        match self {
            Self::Workspace { version, .. }
            | Self::Registry { version, .. }
            | Self::ArmId { version, .. } => version,
        }
    }

    /// Curated environments (`AzureML-…`) live in every workspace; Azure resolves them itself.
    pub fn is_curated(&self) -> bool {
        matches!(self, Self::Workspace { name, .. } if name.starts_with("AzureML-"))
    }
}

impl fmt::Display for AssetRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Workspace { name, version } => match version {
                VersionSel::Exact(v) => write!(f, "azureml:{name}:{v}"),
                VersionSel::Label(l) => write!(f, "azureml:{name}@{l}"),
                VersionSel::Unspecified => write!(f, "azureml:{name}"),
            },
            Self::Registry { text, .. } => f.write_str(text),
            Self::ArmId { id, .. } => f.write_str(id),
        }
    }
}

/// Why a reference could not be read.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum RefError {
    #[error("`{0}` is not an `azureml:` reference")]
    NotAReference(String),
    #[error("`{text}` has an empty {part}")]
    Empty { text: String, part: &'static str },
    #[error(
        "`{0}` is not a registry reference of the form azureml://registries/<registry>/<kind>/<name>/versions/<version> or /labels/<label>"
    )]
    BadRegistry(String),
    #[error("`{text}` refers to {found}, where {expected} is expected")]
    WrongKind {
        text: String,
        found: String,
        expected: &'static str,
    },
}

/// Reads an asset reference. `collection` is the kind's URL segment (`environments`, `data`,
/// `components`, `models`, `codes`), used to check registry and ARM ids.
pub fn parse_asset_ref(text: &str, collection: &'static str) -> Result<AssetRef, RefError> {
    let trimmed = text.trim();
    if let Some(rest) = trimmed.strip_prefix("azureml://registries/") {
        return parse_registry(trimmed, rest, collection);
    }
    let body = trimmed.strip_prefix("azureml:").unwrap_or(trimmed);
    if body.starts_with("/subscriptions/") || body.starts_with("/Subscriptions/") {
        return parse_arm_id(body, collection);
    }
    if !trimmed.starts_with("azureml:") || body.starts_with("//") {
        return Err(RefError::NotAReference(text.to_owned()));
    }
    let (name, version) = if let Some((name, label)) = body.split_once('@') {
        (name, VersionSel::Label(label.to_owned()))
    } else if let Some((name, version)) = body.split_once(':') {
        if version == "latest" {
            (name, VersionSel::Label("latest".into()))
        } else {
            (name, VersionSel::Exact(version.to_owned()))
        }
    } else {
        (body, VersionSel::Unspecified)
    };
    if name.is_empty() {
        return Err(RefError::Empty {
            text: text.to_owned(),
            part: "name",
        });
    }
    if matches!(&version, VersionSel::Exact(v) | VersionSel::Label(v) if v.is_empty()) {
        return Err(RefError::Empty {
            text: text.to_owned(),
            part: "version",
        });
    }
    Ok(AssetRef::Workspace {
        name: name.to_owned(),
        version,
    })
}

fn parse_registry(text: &str, rest: &str, collection: &'static str) -> Result<AssetRef, RefError> {
    let parts: Vec<&str> = rest.split('/').collect();
    let [registry, kind, name, selector @ ..] = parts.as_slice() else {
        return Err(RefError::BadRegistry(text.to_owned()));
    };
    if registry.is_empty() || name.is_empty() {
        return Err(RefError::BadRegistry(text.to_owned()));
    }
    if !same_collection(kind, collection) {
        return Err(RefError::WrongKind {
            text: text.to_owned(),
            found: format!("registry {kind}"),
            expected: collection,
        });
    }
    let version = match selector {
        [] => VersionSel::Unspecified,
        ["versions", v] if !v.is_empty() => VersionSel::Exact((*v).to_owned()),
        ["labels", l] if !l.is_empty() => VersionSel::Label((*l).to_owned()),
        _ => return Err(RefError::BadRegistry(text.to_owned())),
    };
    Ok(AssetRef::Registry {
        registry: (*registry).to_owned(),
        name: (*name).to_owned(),
        version,
        text: text.to_owned(),
    })
}

fn parse_arm_id(id: &str, collection: &'static str) -> Result<AssetRef, RefError> {
    let parts: Vec<&str> = id.trim_end_matches('/').split('/').collect();
    let position = parts
        .iter()
        .rposition(|p| same_collection(p, collection))
        .ok_or_else(|| RefError::WrongKind {
            text: id.to_owned(),
            found: "another kind of resource".into(),
            expected: collection,
        })?;
    let name = parts
        .get(position + 1)
        .filter(|n| !n.is_empty())
        .ok_or(RefError::Empty {
            text: id.to_owned(),
            part: "name",
        })?;
    let version = match parts.get(position + 2..) {
        Some(["versions", v]) => VersionSel::Exact((*v).to_owned()),
        Some(["labels", l]) => VersionSel::Label((*l).to_owned()),
        _ => VersionSel::Unspecified,
    };
    Ok(AssetRef::ArmId {
        id: id.to_owned(),
        name: (*name).to_owned(),
        version,
    })
}

/// Registry URLs say `models`/`environments`/`components`/`data`; ARM paths say the same
/// except that SDK-era ids sometimes use singular forms.
fn same_collection(segment: &str, collection: &str) -> bool {
    segment.eq_ignore_ascii_case(collection)
        || segment.eq_ignore_ascii_case(collection.trim_end_matches('s'))
}

/// Where the data of an input, an output or a data asset lives.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DataPath {
    /// A file or folder on this machine; uploaded at apply.
    Local {
        /// Absolute path.
        path: PathBuf,
        /// As written (without a `file:` prefix).
        written: String,
    },
    /// A registered data or model asset.
    Asset(AssetRef),
    /// `azureml://datastores/<datastore>/paths/<path>`.
    Datastore { datastore: String, path: String },
    /// Any other URI (https, wasbs, abfss, adl, full `azureml://` ids), passed as written.
    Uri(String),
}

impl DataPath {
    /// Reads a path as written in `path:` of an input or data asset. `base` is the directory
    /// of the file that holds it; `collection` is where `azureml:` references point.
    pub fn parse(
        text: &str,
        base: &std::path::Path,
        collection: &'static str,
    ) -> Result<DataPath, RefError> {
        let trimmed = text.trim();
        if let Some(rest) = trimmed.strip_prefix("azureml://datastores/") {
            if let Some((datastore, path)) = rest.split_once("/paths/") {
                return Ok(DataPath::Datastore {
                    datastore: datastore.to_owned(),
                    path: path.to_owned(),
                });
            }
            return Ok(DataPath::Uri(trimmed.to_owned()));
        }
        if trimmed.starts_with("azureml://registries/") {
            return parse_asset_ref(trimmed, collection).map(DataPath::Asset);
        }
        if trimmed.starts_with("azureml:") && !trimmed.starts_with("azureml://") {
            return parse_asset_ref(trimmed, collection).map(DataPath::Asset);
        }
        if has_uri_scheme(trimmed) {
            return Ok(DataPath::Uri(trimmed.to_owned()));
        }
        let written = trimmed.strip_prefix("file:").unwrap_or(trimmed);
        Ok(DataPath::Local {
            path: base.join(written),
            written: written.to_owned(),
        })
    }

    pub fn is_local(&self) -> bool {
        matches!(self, DataPath::Local { .. })
    }
}

/// Whether `text` starts with a URI scheme such as `https://` or `wasbs://`. Single letters
/// are not schemes, so Windows drive paths stay local.
pub fn has_uri_scheme(text: &str) -> bool {
    match text.split_once("://") {
        Some((scheme, _)) => {
            scheme.len() > 1
                && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn ws(name: &str, version: VersionSel) -> AssetRef {
        AssetRef::Workspace {
            name: name.into(),
            version,
        }
    }

    #[test]
    fn workspace_references() {
        let exact = VersionSel::Exact("1".into());
        let latest = VersionSel::Label("latest".into());
        assert_eq!(
            parse_asset_ref("azureml:env:1", "environments"),
            Ok(ws("env", exact))
        );
        assert_eq!(
            parse_asset_ref("azureml:env@latest", "environments"),
            Ok(ws("env", latest.clone()))
        );
        assert_eq!(
            parse_asset_ref("azureml:env:latest", "environments"),
            Ok(ws("env", latest))
        );
        assert_eq!(
            parse_asset_ref("azureml:cpu", "computes"),
            Ok(ws("cpu", VersionSel::Unspecified))
        );
        assert!(parse_asset_ref("env:1", "environments").is_err());
        assert!(parse_asset_ref("azureml::1", "environments").is_err());
        assert!(parse_asset_ref("< your environment name >", "environments").is_err());
        assert!(
            parse_asset_ref("azureml:AzureML-sklearn@latest", "environments")
                .unwrap()
                .is_curated()
        );
    }

    #[test]
    fn registry_and_arm_references() {
        let r = parse_asset_ref(
            "azureml://registries/azureml/environments/sklearn-1.5/labels/latest",
            "environments",
        )
        .unwrap();
        assert!(
            matches!(&r, AssetRef::Registry { registry, name, version: VersionSel::Label(l), .. }
            if registry == "azureml" && name == "sklearn-1.5" && l == "latest")
        );
        assert!(
            parse_asset_ref(
                "azureml://registries/azureml/components/x/versions/1",
                "environments"
            )
            .is_err()
        );
        let id = "/subscriptions/s/resourceGroups/r/providers/Microsoft.MachineLearningServices/workspaces/w/environments/e/versions/3";
        let a = parse_asset_ref(id, "environments").unwrap();
        assert_eq!(a.name(), "e");
        assert_eq!(a.version(), &VersionSel::Exact("3".into()));
    }

    #[test]
    fn data_paths() {
        let base = Path::new("/m");
        assert_eq!(
            DataPath::parse(
                "azureml://datastores/workspaceblobstore/paths/example-data/",
                base,
                "data"
            ),
            Ok(DataPath::Datastore {
                datastore: "workspaceblobstore".into(),
                path: "example-data/".into()
            })
        );
        assert!(matches!(
            DataPath::parse("wasbs://c@a.blob.core.windows.net/x", base, "data"),
            Ok(DataPath::Uri(_))
        ));
        assert!(matches!(
            DataPath::parse("azureml:iris:1", base, "data"),
            Ok(DataPath::Asset(_))
        ));
        assert_eq!(
            DataPath::parse("file:./data/iris.csv", base, "data"),
            Ok(DataPath::Local {
                path: "/m/./data/iris.csv".into(),
                written: "./data/iris.csv".into()
            })
        );
        assert!(DataPath::parse("C:/data", base, "data").unwrap().is_local());
    }
}
