//! Data assets and environments.

use std::path::Path;
use std::sync::Arc;

use super::node::{Node, ScalarKind};
use super::pydump;
use super::read::{Fields, Problems, expect_str, join};
use crate::diag::{Diagnostic, Located, SourceFile};
use crate::model::{
    BuildContext, Common, CondaFile, Data, DataPath, DataType, Environment, VersionSpec,
};

/// `description`, `tags` and (where allowed) `properties`.
pub fn read_common(fields: &mut Fields<'_>, properties: bool, problems: &mut Problems) -> Common {
    let description = fields.text("description", problems).map(|d| d.value);
    let tags = fields.str_map("tags", problems);
    let properties = if properties {
        fields.str_map("properties", problems)
    } else {
        Default::default()
    };
    Common {
        description,
        tags,
        properties,
    }
}

/// `version:` of an asset: `auto`, a pinned version, or absent.
pub fn read_version(fields: &mut Fields<'_>, problems: &mut Problems) -> VersionSpec {
    let Some(node) = fields.take_some("version") else {
        return VersionSpec::Unset;
    };
    let Some(scalar) = node.scalar() else {
        super::read::type_error(node, "version", "a string or number", problems);
        return VersionSpec::Unset;
    };
    if scalar.kind == ScalarKind::Str && scalar.text == "auto" {
        return VersionSpec::Auto(node.loc.clone());
    }
    let text = scalar.python_str();
    if text.trim().is_empty() || text.contains('/') || text.contains(':') || text.contains('@') {
        problems.error(
            &node.loc,
            "version",
            format!(
                "`version` `{text}` is not a valid version: use letters, digits, `.`, `-` and `_`"
            ),
        );
        return VersionSpec::Unset;
    }
    VersionSpec::Exact(Located::new(text, node.loc.clone()))
}

/// An asset name: what Azure accepts in a URL segment.
pub fn check_asset_name(name: &Located<String>, what: &str, problems: &mut Problems) {
    let valid = name.value.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && name.value.len() <= 255;
    if !valid {
        problems.error(
            &name.loc,
            "name",
            format!(
                "`{}` is not a valid {what} name: start with a letter or digit, then use letters, digits, `-`, `_` and `.` (at most 255)",
                name.value
            ),
        );
    }
}

/// A data asset document.
pub fn read_data(node: &Node, file: &Arc<SourceFile>, problems: &mut Problems) -> Option<Data> {
    let mut fields = Fields::new(node, "", "a data asset", problems)?;
    fields.allow(&["id", "datastore", "auto_delete_setting"]);
    let name = fields.req_str("name", problems);
    let version = read_version(&mut fields, problems);
    let common = read_common(&mut fields, false, problems);
    let data_type = fields
        .choice("type", DataType::NAMES, problems)
        .map(|t| DataType::parse(t.value).unwrap_or(DataType::UriFolder))
        .unwrap_or(DataType::UriFolder);
    let path = fields.req_str("path", problems);
    fields.finish(problems);

    let name = name?;
    check_asset_name(&name, "data asset", problems);
    let path = path?;
    let parsed = match DataPath::parse(&path.value, file.dir(), "data") {
        Ok(parsed) => parsed,
        Err(e) => {
            problems.error(&path.loc, "path", e.to_string());
            return None;
        }
    };
    if let DataPath::Local {
        path: local,
        written,
    } = &parsed
    {
        check_local_path(local, written, &path, "path", data_type, problems);
    }
    Some(Data {
        name,
        version,
        common,
        data_type,
        path: Located::new(parsed, path.loc),
    })
}

/// Checks that a local data path exists and has the shape its type needs.
pub fn check_local_path(
    local: &Path,
    written: &str,
    at: &Located<String>,
    field: &str,
    data_type: DataType,
    problems: &mut Problems,
) {
    let Ok(meta) = std::fs::metadata(local) else {
        problems.error(
            &at.loc,
            field,
            format!(
                "`{field}` `{written}` does not exist (looked for {})",
                local.display()
            ),
        );
        return;
    };
    match data_type {
        DataType::UriFile if meta.is_dir() => problems.error(
            &at.loc,
            field,
            format!(
                "`{written}` is a folder, but type `uri_file` needs a file: use `type: uri_folder`"
            ),
        ),
        DataType::UriFolder | DataType::Mltable if meta.is_file() => problems.error(
            &at.loc,
            field,
            format!(
                "`{written}` is a file, but type `{}` needs a folder",
                data_type.as_str()
            ),
        ),
        DataType::Mltable if !local.join("MLTable").is_file() => problems.error(
            &at.loc,
            field,
            format!("`{written}` has no `MLTable` file, which type `mltable` needs"),
        ),
        _ => {}
    }
}

/// An environment: a named asset document, or an inline `environment:` mapping of a job
/// (`named == false`).
pub fn read_environment(
    node: &Node,
    path: &str,
    file: &Arc<SourceFile>,
    named: bool,
    problems: &mut Problems,
) -> Option<Environment> {
    let what = if named {
        "an environment"
    } else {
        "an inline environment"
    };
    let mut fields = Fields::new(node, path, what, problems)?;
    fields.allow(&["id", "datastore", "auto_delete_setting"]);
    let name = if named {
        fields.req_str("name", problems)
    } else {
        // The SDK ignores (with a warning) the name of an anonymous environment.
        fields.str("name", problems);
        None
    };
    let version = read_version(&mut fields, problems);
    let common = read_common(&mut fields, false, problems);
    let image = fields.str("image", problems);
    let conda_file = fields
        .take_some("conda_file")
        .and_then(|n| read_conda(n, &fields.child_path("conda_file"), file, problems));
    let build = fields
        .take_some("build")
        .and_then(|n| read_build(n, &fields.child_path("build"), file, problems));
    let os_type = fields
        .choice("os_type", &["linux", "windows"], problems)
        .map(|o| {
            if o.value == "linux" {
                "Linux".to_owned()
            } else {
                "Windows".to_owned()
            }
        });
    let inference_config = fields
        .take_some("inference_config")
        .and_then(|n| read_inference_config(n, &fields.child_path("inference_config"), problems));
    fields.finish(problems);

    if let Some(name) = &name {
        check_asset_name(name, "environment", problems);
    }
    match (&image, &build) {
        (None, None) => problems.error(
            &node.loc,
            path,
            format!("{what} needs exactly one of `image` or `build`, and has neither"),
        ),
        (Some(image), Some(_)) => problems.push(
            Diagnostic::error(format!(
                "{what} needs exactly one of `image` or `build`, and has both"
            ))
            .at(&image.loc)
            .field(join(path, "image")),
        ),
        _ => {}
    }
    if build.is_some() && conda_file.is_some() {
        problems.error(
            &node.loc,
            path,
            "`conda_file` cannot be combined with `build`: install the conda environment in the Dockerfile".to_owned(),
        );
    }
    Some(Environment {
        name,
        version,
        common,
        image,
        conda_file,
        build,
        os_type,
        inference_config,
    })
}

/// `conda_file:` is a path to a conda YAML file, or the specification itself.
fn read_conda(
    node: &Node,
    path: &str,
    file: &Arc<SourceFile>,
    problems: &mut Problems,
) -> Option<CondaFile> {
    if node.entries().is_some() {
        return Some(CondaFile {
            text: pydump::dump(&node.to_json()),
            source: None,
            loc: node.loc.clone(),
        });
    }
    let written = expect_str(node, path, problems)?;
    let relative = written
        .value
        .strip_prefix("file:")
        .unwrap_or(&written.value);
    let local = file.dir().join(relative);
    problems.refer(&local);
    let text = match std::fs::read_to_string(&local) {
        Ok(text) => text,
        Err(e) => {
            problems.error(
                &written.loc,
                path,
                format!("cannot read conda file `{relative}`: {e}"),
            );
            return None;
        }
    };
    let conda_source = SourceFile::new(&local, text);
    let mut warnings = Vec::new();
    match super::yaml::parse(&conda_source, &mut warnings) {
        Ok(docs) => {
            let value = docs
                .first()
                .map(Node::to_json)
                .unwrap_or(serde_json::Value::Null);
            Some(CondaFile {
                text: pydump::dump(&value),
                source: Some(local),
                loc: written.loc,
            })
        }
        Err(e) => {
            problems.push(e);
            None
        }
    }
}

fn read_build(
    node: &Node,
    path: &str,
    file: &Arc<SourceFile>,
    problems: &mut Problems,
) -> Option<BuildContext> {
    let mut fields = Fields::new(node, path, "a build context", problems)?;
    let context = fields.req_str("path", problems);
    let dockerfile_path = fields.str("dockerfile_path", problems).map(|d| d.value);
    fields.finish(problems);
    let context = context?;
    let parsed = match DataPath::parse(&context.value, file.dir(), "data") {
        Ok(DataPath::Local {
            path: local,
            written,
        }) => {
            problems.refer(&local);
            if !local.is_dir() {
                problems.error(
                    &context.loc,
                    &join(path, "path"),
                    format!(
                        "build context `{written}` is not a folder (looked for {})",
                        local.display()
                    ),
                );
                return None;
            }
            let dockerfile = dockerfile_path.as_deref().unwrap_or("Dockerfile");
            if !local.join(dockerfile).is_file() {
                problems.error(
                    &context.loc,
                    &join(path, "path"),
                    format!("build context `{written}` has no `{dockerfile}`"),
                );
            }
            DataPath::Local {
                path: local,
                written,
            }
        }
        Ok(other) => other,
        Err(e) => {
            problems.error(&context.loc, &join(path, "path"), e.to_string());
            return None;
        }
    };
    Some(BuildContext {
        path: Located::new(parsed, context.loc),
        dockerfile_path,
    })
}

fn read_inference_config(
    node: &Node,
    path: &str,
    problems: &mut Problems,
) -> Option<serde_json::Value> {
    let mut fields = Fields::new(node, path, "an inference configuration", problems)?;
    let mut config = serde_json::Map::new();
    for (key, rest, required) in [
        ("liveness_route", "livenessRoute", true),
        ("readiness_route", "readinessRoute", true),
        ("scoring_route", "scoringRoute", true),
    ] {
        let route = if required {
            fields.require(key, problems)
        } else {
            fields.take_some(key)
        };
        let Some(route) = route else { continue };
        let route_path = join(path, key);
        let Some(mut route_fields) = Fields::new(route, &route_path, "a route", problems) else {
            continue;
        };
        let port = route_fields.int("port", problems);
        let route_at = route_fields.req_str("path", problems);
        if port.is_none() && !route_fields.has("port") {
            problems.error(
                &route.loc,
                &join(&route_path, "port"),
                format!("missing required key `{route_path}.port` in a route"),
            );
        }
        route_fields.finish(problems);
        if let (Some(port), Some(route_at)) = (port, route_at) {
            config.insert(
                rest.into(),
                serde_json::json!({"port": port.value, "path": route_at.value}),
            );
        }
    }
    fields.finish(problems);
    Some(serde_json::Value::Object(config))
}
