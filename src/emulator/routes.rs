//! Which resource a request path names.
//!
//! ARM compares the fixed parts of a path (`subscriptions`, `resourceGroups`, the provider
//! namespace, resource types) and the names of subscriptions, resource groups, workspaces and
//! registries without regard to case; the names of assets, computes and jobs inside them are
//! kept as written. Each segment is percent-decoded after splitting, so an encoded `/` stays
//! inside its name.

use percent_encoding::percent_decode_str;

use crate::scope::Scope;

const PROVIDER: &str = "Microsoft.MachineLearningServices";

/// Where a request goes.
#[derive(Clone, Debug, PartialEq)]
pub enum Route {
    /// Inside a served workspace or registry; `relative` holds the segments after its id.
    Scoped {
        scope: Scope,
        relative: Vec<String>,
    },
    /// A workspace or registry that this emulator does not serve: 404, as Azure answers.
    Unserved {
        kind: &'static str,
        resource_group: String,
        name: String,
    },
    /// A long-running operation's status (`Azure-AsyncOperation`) or result (`Location`).
    Operation {
        id: String,
        result: bool,
    },
    /// The cloud metadata document (`ARM_CLOUD_METADATA_URL`).
    CloudMetadata,
    /// A registry's discovery document, which the SDK reads before using a registry.
    RegistryDiscovery(String),
    Unknown,
}

/// Finds the route of `path` (without its query) among the `served` scopes.
pub fn route<'s>(served: impl IntoIterator<Item = &'s Scope>, path: &str) -> Route {
    let segments: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
        .collect();
    let words: Vec<&str> = segments.iter().map(String::as_str).collect();
    let is = |actual: &str, expected: &str| actual.eq_ignore_ascii_case(expected);
    match words.as_slice() {
        ["metadata", "endpoints"] => Route::CloudMetadata,
        [registry_management, version, registries, name, discovery]
            if is(registry_management, "registrymanagement")
                && is(version, "v1.0")
                && is(registries, "registries")
                && is(discovery, "discovery") =>
        {
            Route::RegistryDiscovery((*name).to_owned())
        }
        [
            subscriptions,
            _,
            providers,
            provider,
            locations,
            _,
            kind,
            id,
        ] if is(subscriptions, "subscriptions")
            && is(providers, "providers")
            && is(provider, PROVIDER)
            && is(locations, "locations") =>
        {
            let lower = kind.to_ascii_lowercase();
            if lower.ends_with("operationsstatus") {
                Route::Operation {
                    id: (*id).to_owned(),
                    result: false,
                }
            } else if lower.ends_with("operationresults") || lower.ends_with("operationsresults") {
                Route::Operation {
                    id: (*id).to_owned(),
                    result: true,
                }
            } else {
                Route::Unknown
            }
        }
        [
            subscriptions,
            subscription,
            resource_groups,
            resource_group,
            providers,
            provider,
            kind,
            name,
            rest @ ..,
        ] if is(subscriptions, "subscriptions")
            && is(resource_groups, "resourceGroups")
            && is(providers, "providers")
            && is(provider, PROVIDER) =>
        {
            let kind = if is(kind, "workspaces") {
                "workspaces"
            } else if is(kind, "registries") {
                "registries"
            } else {
                return Route::Unknown;
            };
            let found = served.into_iter().find(|scope| {
                scope.is_registry() == (kind == "registries")
                    && is(scope.subscription(), subscription)
                    && is(scope.resource_group(), resource_group)
                    && is(scope.name(), name)
            });
            match found {
                Some(scope) => Route::Scoped {
                    scope: scope.clone(),
                    relative: rest.iter().map(|s| (*s).to_owned()).collect(),
                },
                None => Route::Unserved {
                    kind,
                    resource_group: (*resource_group).to_owned(),
                    name: (*name).to_owned(),
                },
            }
        }
        _ => Route::Unknown,
    }
}

/// What a path inside a scope names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// The workspace or registry itself.
    Root,
    Datastores,
    Datastore(String),
    /// `POST datastores/{name}/listSecrets`.
    DatastoreSecrets(String),
    /// An asset collection (`data`, `environments`, `codes`, `components`, `models`).
    Containers(&'static str),
    Container(&'static str, String),
    Versions(&'static str, String),
    Version(&'static str, String, String),
    /// `POST <collection>/{name}/versions/{version}/startPendingUpload`.
    PendingUpload(&'static str, String, String),
    Computes,
    Compute(String),
    Jobs,
    Job(String),
    /// `POST jobs/{name}/cancel`.
    JobCancel(String),
    /// `computes/{name}/providers/Microsoft.Resources/tags/default`: ARM's Tags API on a
    /// compute (the only tracked resource served here besides the workspace).
    ComputeTags(String),
    Unknown,
}

/// The asset collections, as their path segments are spelt.
pub const ASSET_COLLECTIONS: &[&str] = &["data", "environments", "codes", "components", "models"];

/// Classifies the segments after a scope's id. Registries hold assets only.
pub fn target(scope: &Scope, relative: &[String]) -> Target {
    let words: Vec<&str> = relative.iter().map(String::as_str).collect();
    let is = |actual: &str, expected: &str| actual.eq_ignore_ascii_case(expected);
    let collection = |word: &str| {
        ASSET_COLLECTIONS
            .iter()
            .copied()
            .find(|c| c.eq_ignore_ascii_case(word))
    };
    let workspace = !scope.is_registry();
    match words.as_slice() {
        [] => Target::Root,
        [c] if collection(c).is_some() => Target::Containers(collection(c).expect("checked")),
        [c, name] if collection(c).is_some() => {
            Target::Container(collection(c).expect("checked"), (*name).to_owned())
        }
        [c, name, versions] if collection(c).is_some() && is(versions, "versions") => {
            Target::Versions(collection(c).expect("checked"), (*name).to_owned())
        }
        [c, name, versions, version] if collection(c).is_some() && is(versions, "versions") => {
            Target::Version(
                collection(c).expect("checked"),
                (*name).to_owned(),
                (*version).to_owned(),
            )
        }
        [c, name, versions, version, action]
            if collection(c).is_some()
                && is(versions, "versions")
                && is(action, "startPendingUpload") =>
        {
            Target::PendingUpload(
                collection(c).expect("checked"),
                (*name).to_owned(),
                (*version).to_owned(),
            )
        }
        [d] if workspace && is(d, "datastores") => Target::Datastores,
        [d, name] if workspace && is(d, "datastores") => Target::Datastore((*name).to_owned()),
        [d, name, action] if workspace && is(d, "datastores") && is(action, "listSecrets") => {
            Target::DatastoreSecrets((*name).to_owned())
        }
        [c] if workspace && is(c, "computes") => Target::Computes,
        [c, name] if workspace && is(c, "computes") => Target::Compute((*name).to_owned()),
        [j] if workspace && is(j, "jobs") => Target::Jobs,
        [j, name] if workspace && is(j, "jobs") => Target::Job((*name).to_owned()),
        [j, name, action] if workspace && is(j, "jobs") && is(action, "cancel") => {
            Target::JobCancel((*name).to_owned())
        }
        [c, name, providers, namespace, tags, default]
            if workspace
                && is(c, "computes")
                && is(providers, "providers")
                && is(namespace, "Microsoft.Resources")
                && is(tags, "tags")
                && is(default, "default") =>
        {
            Target::ComputeTags((*name).to_owned())
        }
        _ => Target::Unknown,
    }
}

impl Target {
    /// The object's path in the store (`data/iris/versions/1`), for targets that are objects
    /// or collections.
    pub fn store_path(&self) -> Option<String> {
        Some(match self {
            Target::Datastores => "datastores".into(),
            Target::Datastore(n) | Target::DatastoreSecrets(n) => format!("datastores/{n}"),
            Target::Containers(c) => (*c).into(),
            Target::Container(c, n) => format!("{c}/{n}"),
            Target::Versions(c, n) => format!("{c}/{n}/versions"),
            Target::Version(c, n, v) | Target::PendingUpload(c, n, v) => {
                format!("{c}/{n}/versions/{v}")
            }
            Target::Computes => "computes".into(),
            Target::Compute(n) | Target::ComputeTags(n) => format!("computes/{n}"),
            Target::Jobs => "jobs".into(),
            Target::Job(n) | Target::JobCancel(n) => format!("jobs/{n}"),
            Target::Root | Target::Unknown => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn served() -> Vec<Scope> {
        vec![
            Scope::workspace("sub", "rg", "ws"),
            Scope::Registry {
                subscription: "sub".into(),
                resource_group: "rg".into(),
                registry: "shared".into(),
            },
        ]
    }

    #[test]
    fn scopes_match_without_regard_to_case() {
        let path = "/subscriptions/SUB/resourcegroups/RG/providers/microsoft.machinelearningservices/workspaces/WS/data/Iris/versions/1";
        let Route::Scoped { scope, relative } = route(&served(), path) else {
            panic!("not scoped");
        };
        assert_eq!(scope, Scope::workspace("sub", "rg", "ws"));
        assert_eq!(
            target(&scope, &relative),
            Target::Version("data", "Iris".into(), "1".into())
        );
    }

    #[test]
    fn unserved_workspaces_and_unknown_paths() {
        let path = "/subscriptions/sub/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/other";
        assert_eq!(
            route(&served(), path),
            Route::Unserved {
                kind: "workspaces",
                resource_group: "rg".into(),
                name: "other".into()
            }
        );
        assert_eq!(route(&served(), "/nothing/here"), Route::Unknown);
        assert_eq!(
            route(
                &served(),
                "/subscriptions/sub/providers/Microsoft.MachineLearningServices/locations/local/computeOperationsStatus/abc"
            ),
            Route::Operation {
                id: "abc".into(),
                result: false
            }
        );
    }

    #[test]
    fn targets_inside_scopes() {
        let workspace = Scope::workspace("sub", "rg", "ws");
        let registry = &served()[1];
        let split = |p: &str| p.split('/').map(str::to_owned).collect::<Vec<_>>();
        assert_eq!(
            target(&workspace, &split("jobs/j1/cancel")),
            Target::JobCancel("j1".into())
        );
        assert_eq!(
            target(&workspace, &split("codes/c/versions/1/startPendingUpload")),
            Target::PendingUpload("codes", "c".into(), "1".into())
        );
        assert_eq!(
            target(
                &workspace,
                &split("datastores/workspaceblobstore/listSecrets")
            ),
            Target::DatastoreSecrets("workspaceblobstore".into())
        );
        assert_eq!(target(registry, &split("computes/c")), Target::Unknown);
        assert_eq!(
            target(registry, &split("environments")),
            Target::Containers("environments")
        );
        assert_eq!(
            target(&workspace, &split("onlineEndpoints/e")),
            Target::Unknown
        );
        let encoded = route(
            &served(),
            "/subscriptions/sub/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws/data/a%2Fb",
        );
        let Route::Scoped { relative, .. } = encoded else {
            panic!("not scoped")
        };
        assert_eq!(relative, vec!["data", "a/b"]);
    }
}
