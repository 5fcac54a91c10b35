//! Components (`az ml component create`), and the component files pipeline nodes and sweep
//! trials load.
//!
//! A component file read on its own is strict: unknown keys are errors and the name must be a
//! Python-style identifier. The same file loaded by a pipeline node is an *anonymous*
//! component, as the SDK reads it: its name and version are ignored, and unknown keys are
//! tolerated (reported as warnings), because the SDK loads it with `unknown=INCLUDE`.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::assets::read_version;
use super::job::{read_code, read_env_source};
use super::node::{Entry, Node};
use super::read::{Fields, Problems, check_choice, join, type_error};
use super::shape::{self, Shape, Ty};
use crate::diag::{Diagnostic, Located, SourceFile, did_you_mean};
use crate::model::binding::{self, Target};
use crate::model::{
    CommandSpec, Component, ComponentBody, ComponentOrigin, ParallelSpec, Port, SparkSpec,
    VersionSpec,
};
use crate::translate::python;

/// How a component document is being read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Context {
    /// A component file of the manifest set: a registered asset.
    Registered,
    /// A component file a pipeline node or a sweep's trial loads: anonymous and lenient.
    Loaded,
    /// A sweep's trial written inline: anonymous and lenient, its command binding the sweep's
    /// inputs and search space (which the sweep reader checks).
    Trial,
}

pub static COMPONENT_RESOURCES: Shape = Shape {
    what: "component resources",
    keys: &[
        ("instance_count", Ty::Int),
        ("instance_type", Ty::Str),
        ("shm_size", Ty::Str),
        ("docker_args", Ty::StrOrList),
        ("locations", Ty::StrList),
        ("properties", Ty::Any),
        ("max_instance_count", Ty::Int),
    ],
    required: &[],
};

/// The parameter (value) types a port may have.
pub const PARAMETER_TYPES: &[&str] = &["string", "integer", "number", "boolean"];
/// The data types a port may have, `path` being the legacy spelling of `uri_folder`.
pub const PORT_TYPES: &[&str] = &[
    "uri_file",
    "uri_folder",
    "mltable",
    "mlflow_model",
    "custom_model",
    "triton_model",
    "path",
];
/// Modes a port declaration may name.
pub const PORT_MODES: &[&str] = &[
    "ro_mount",
    "rw_mount",
    "download",
    "direct",
    "eval_mount",
    "eval_download",
    "mount",
    "upload",
    "link",
];

/// Reads a component document.
pub fn read_component(
    doc: &Node,
    file: &Arc<SourceFile>,
    context: Context,
    problems: &mut Problems,
) -> Option<Component> {
    let kind = doc
        .get_str("type")
        .map(str::to_ascii_lowercase)
        .unwrap_or_else(|| "command".into());
    let what = match kind.as_str() {
        "pipeline" => "a pipeline component",
        "parallel" => "a parallel component",
        "spark" => "a Spark component",
        _ => "a command component",
    };
    let mut fields = Fields::new(doc, "", what, problems)?;
    fields.allow(&[
        "id",
        "creation_context",
        "latest_version",
        "auto_delete_setting",
    ]);
    fields.take("type");
    let schema = fields.str("$schema", problems).map(|s| s.value);
    let (name, version) = match context {
        Context::Registered => {
            let name = fields.req_str("name", problems);
            if let Some(name) = &name {
                check_component_name(name, problems);
            }
            (name, read_version(&mut fields, problems))
        }
        Context::Loaded | Context::Trial => {
            // The SDK ignores the name and version of a component it registers anonymously.
            fields.take("name");
            fields.take("version");
            (None, VersionSpec::Unset)
        }
    };
    let display_name = fields.text("display_name", problems).map(|v| v.value);
    let description = fields.text("description", problems).map(|v| v.value);
    let tags = fields.str_map("tags", problems);
    let is_deterministic = fields.bool("is_deterministic", problems).map(|b| b.value);
    let inputs = read_ports(fields.take_some("inputs"), "inputs", true, problems);
    let outputs = read_ports(fields.take_some("outputs"), "outputs", false, problems);
    let body = match kind.as_str() {
        "command" => {
            read_command_spec(&mut fields, file, false, problems).map(ComponentBody::Command)
        }
        "pipeline" => {
            super::pipeline::read_component_graph(&mut fields, file, &inputs, &outputs, problems)
                .map(ComponentBody::Pipeline)
        }
        "parallel" => read_parallel_spec(&mut fields, file, problems).map(ComponentBody::Parallel),
        // Spark components are read where pipelines use them; on their own, `classify`
        // refuses them as unsupported.
        "spark" => read_spark_spec(&mut fields, file, problems).map(ComponentBody::Spark),
        other => {
            let at = doc.get("type").map_or(&doc.loc, |t| &t.loc);
            problems.push(
                Diagnostic::error(format!("unsupported kind: {other} component"))
                    .at(at)
                    .field("type")
                    .hint("amlops manages command, pipeline and parallel components"),
            );
            None
        }
    };
    match context {
        Context::Registered => fields.finish(problems),
        Context::Loaded | Context::Trial => warn_unknown(fields, problems),
    }
    let body = body?;
    if let ComponentBody::Command(spec) = &body
        && context != Context::Trial
    {
        check_command_bindings(&spec.command, &inputs, &outputs, problems);
    }
    Some(Component {
        name,
        version,
        schema,
        display_name,
        description,
        tags,
        is_deterministic,
        inputs,
        outputs,
        body,
        origin: ComponentOrigin::ComponentFile,
        loc: doc.loc.clone(),
    })
}

/// Reports unknown keys as warnings: the SDK loads these mappings with `unknown=INCLUDE`, so
/// `az ml` accepts them, but they are most likely typos.
pub fn warn_unknown(fields: Fields<'_>, problems: &mut Problems) {
    let mut strict = Problems::default();
    fields.finish(&mut strict);
    for mut diagnostic in strict.items {
        diagnostic.severity = crate::diag::Severity::Warning;
        diagnostic.message = format!("{} (ignored, as `az ml` ignores it)", diagnostic.message);
        problems.push(diagnostic);
    }
}

/// Component names: lower-case letters, digits and `_`, starting with a letter, as the SDK
/// checks for registered components.
pub fn check_component_name(name: &Located<String>, problems: &mut Problems) {
    let valid = name.value.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !valid {
        let suggestion: String = name
            .value
            .to_ascii_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        problems.push(
            Diagnostic::error(format!(
                "`name` `{}` is not a valid component name: lower-case letters, digits and `_`, starting with a letter",
                name.value
            ))
            .at(&name.loc)
            .field("name")
            .hint(format!("for example `{suggestion}`")),
        );
    }
}

/// `command`, `code`, `environment` and the settings of a command component (or of an inline
/// command: a sweep's trial, a pipeline node), read from `fields`. `job_style` allows
/// `environment_variables`, which components do not have, and refuses `additional_includes`
/// and `properties`, which only components have.
pub fn read_command_spec(
    fields: &mut Fields<'_>,
    file: &Arc<SourceFile>,
    job_style: bool,
    problems: &mut Problems,
) -> Option<CommandSpec> {
    let command = fields.req_str("command", problems);
    let code = fields
        .take_some("code")
        .and_then(|n| read_code(n, &fields.child_path("code"), file, problems));
    let environment = match fields.require("environment", problems) {
        Some(node) => read_env_source(node, &fields.child_path("environment"), file, problems),
        None => None,
    };
    let environment_variables = if job_style {
        fields.str_map("environment_variables", problems)
    } else {
        BTreeMap::new()
    };
    let distribution = fields
        .take_some("distribution")
        .and_then(|n| super::job::read_distribution(n, problems));
    let resources = fields.take_some("resources").and_then(|n| {
        shape::read(
            n,
            &fields.child_path("resources"),
            &COMPONENT_RESOURCES,
            problems,
        )
    });
    let queue_settings = fields.take_some("queue_settings").and_then(|n| {
        shape::read(
            n,
            &fields.child_path("queue_settings"),
            &super::job::QUEUE_SETTINGS,
            problems,
        )
    });
    let additional_includes = if job_style {
        Vec::new()
    } else {
        fields.str_list("additional_includes", problems)
    };
    let properties = if job_style {
        BTreeMap::new()
    } else {
        fields.str_map("properties", problems)
    };
    let mut include_paths = Vec::new();
    for include in &additional_includes {
        let local = super::normalize(&file.dir().join(include.value.trim()));
        include_paths.push(local.clone());
        problems.refer(&local);
        if !local.exists() {
            problems.error(
                &include.loc,
                "additional_includes",
                format!(
                    "additional include `{}` does not exist (looked for {})",
                    include.value,
                    local.display()
                ),
            );
        }
    }
    Some(CommandSpec {
        command: command?,
        code,
        environment: environment?,
        environment_variables,
        additional_includes,
        include_paths,
        distribution,
        resources,
        queue_settings,
        properties,
    })
}

static SPARK_ENTRY: Shape = Shape {
    what: "a Spark entry",
    keys: &[("file", Ty::Str), ("class_name", Ty::Str)],
    required: &[],
};

/// The Spark settings the SDK also takes as keys of their own, and the `conf` keys they become.
const SPARK_CONF_KEYS: &[(&str, &str)] = &[
    ("driver_cores", "spark.driver.cores"),
    ("driver_memory", "spark.driver.memory"),
    ("executor_cores", "spark.executor.cores"),
    ("executor_memory", "spark.executor.memory"),
    ("executor_instances", "spark.executor.instances"),
    (
        "dynamic_allocation_enabled",
        "spark.dynamicAllocation.enabled",
    ),
    (
        "dynamic_allocation_min_executors",
        "spark.dynamicAllocation.minExecutors",
    ),
    (
        "dynamic_allocation_max_executors",
        "spark.dynamicAllocation.maxExecutors",
    ),
];

/// What a Spark component (or an inline Spark node) runs: `code`, `entry` (a Python file or a
/// Scala class), `args`, `conf`, the files it ships, an optional environment.
pub fn read_spark_spec(
    fields: &mut Fields<'_>,
    file: &Arc<SourceFile>,
    problems: &mut Problems,
) -> Option<SparkSpec> {
    let path = fields.path().to_owned();
    let code = fields
        .take_some("code")
        .and_then(|n| read_code(n, &join(&path, "code"), file, problems));
    let environment = fields
        .take_some("environment")
        .and_then(|n| read_env_source(n, &join(&path, "environment"), file, problems));
    let mut settings = serde_json::Map::new();
    let entry = fields.require("entry", problems);
    if let Some(entry) =
        entry.and_then(|n| shape::read(n, &join(&path, "entry"), &SPARK_ENTRY, problems))
    {
        if entry.get("file").is_none() && entry.get("class_name").is_none() {
            problems.error(
                fields.key_loc("entry").unwrap_or(fields.loc()),
                &join(&path, "entry"),
                format!("`{}` needs `file` or `class_name`", join(&path, "entry")),
            );
        }
        settings.insert("entry".into(), entry);
    }
    if let Some(args) = fields.str("args", problems) {
        settings.insert("args".into(), json!(args.value));
    }
    let mut conf = match fields.take_some("conf") {
        Some(node) => match node.to_json() {
            Value::Object(map) => map,
            _ => {
                type_error(node, &join(&path, "conf"), "a mapping", problems);
                serde_json::Map::new()
            }
        },
        None => serde_json::Map::new(),
    };
    for (key, conf_key) in SPARK_CONF_KEYS {
        if let Some(value) = fields.take_some(key) {
            conf.insert((*conf_key).into(), value.to_json());
        }
    }
    if !conf.is_empty() {
        settings.insert("conf".into(), Value::Object(conf));
    }
    for key in ["files", "py_files", "jars", "archives"] {
        let list = fields.str_list(key, problems);
        if !list.is_empty() {
            settings.insert(
                key.into(),
                json!(list.into_iter().map(|l| l.value).collect::<Vec<_>>()),
            );
        }
    }
    Some(SparkSpec {
        code,
        environment,
        settings,
    })
}

static RETRY_SETTINGS: Shape = Shape {
    what: "retry settings",
    keys: &[("max_retries", Ty::Any), ("timeout", Ty::Any)],
    required: &[],
};

fn read_parallel_spec(
    fields: &mut Fields<'_>,
    file: &Arc<SourceFile>,
    problems: &mut Problems,
) -> Option<ParallelSpec> {
    let task = fields
        .require("task", problems)
        .and_then(|n| super::pipeline::read_parallel_task(n, "task", file, problems));
    let mut settings = Map::new();
    super::pipeline::read_parallel_settings(fields, &mut settings, problems);
    if let Some(resources) = fields.take_some("resources").and_then(|n| {
        shape::read(
            n,
            &fields.child_path("resources"),
            &COMPONENT_RESOURCES,
            problems,
        )
    }) {
        settings.insert("resources".into(), resources);
    }
    Some(ParallelSpec {
        task: task?,
        settings,
    })
}

pub fn retry_settings(node: &Node, path: &str, problems: &mut Problems) -> Option<Value> {
    shape::read(node, path, &RETRY_SETTINGS, problems)
}

/// Reads `inputs:` or `outputs:` declarations of a component.
pub fn read_ports(
    node: Option<&Node>,
    path: &str,
    inputs: bool,
    problems: &mut Problems,
) -> BTreeMap<String, Port> {
    let mut ports = BTreeMap::new();
    let Some(node) = node else {
        return ports;
    };
    let Some(entries) = node.entries() else {
        type_error(node, path, "a mapping", problems);
        return ports;
    };
    for entry in entries {
        if let Some(port) = read_port(entry, path, inputs, problems) {
            ports.insert(entry.key.value.clone(), port);
        }
    }
    ports
}

fn read_port(entry: &Entry, path: &str, input: bool, problems: &mut Problems) -> Option<Port> {
    let name = &entry.key.value;
    let port_path = join(path, name);
    if !super::job::io_name_ok(name) {
        problems.error(
            &entry.key.loc,
            &port_path,
            format!("`{name}` is not a valid port name: letters, digits and `_`, not starting with a digit"),
        );
        return None;
    }
    let what = if input {
        "an input declaration"
    } else {
        "an output declaration"
    };
    let mut fields = Fields::new(&entry.value, &port_path, what, problems)?;
    let written = fields.req_str("type", problems)?;
    let lowered = written.value.to_ascii_lowercase();
    let is_parameter = PARAMETER_TYPES.contains(&lowered.as_str());
    let all: Vec<&'static str> = PORT_TYPES.iter().chain(PARAMETER_TYPES).copied().collect();
    let port_type = check_choice(&written, &join(&port_path, "type"), &all, problems)?;
    let mut spec = Map::new();
    spec.insert("type".into(), json!(port_type.value));
    if let Some(description) = fields.text("description", problems) {
        spec.insert("description".into(), json!(description.value));
    }
    let optional = fields.bool("optional", problems).map(|b| b.value);
    if input && let Some(optional) = optional {
        spec.insert("optional".into(), json!(optional));
    }
    if !input && optional.is_some() {
        problems.error(
            fields.key_loc("optional").unwrap_or(&entry.value.loc),
            &join(&port_path, "optional"),
            format!("unknown key `optional` in {what}"),
        );
    }
    if let Some(mode) = fields.str("mode", problems)
        && let Some(mode) = check_choice(&mode, &join(&port_path, "mode"), PORT_MODES, problems)
        && !is_parameter
    {
        spec.insert("mode".into(), json!(mode.value));
    }
    if input {
        if let Some(default) = fields.take_some("default") {
            let default_path = join(&port_path, "default");
            if let Some(text) = parameter_text(default, port_type.value, &default_path, problems) {
                spec.insert("default".into(), json!(text));
            }
        }
        if is_parameter {
            for key in ["min", "max"] {
                if let Some(bound) = fields.take_some(key) {
                    let bound_path = join(&port_path, key);
                    if let Some(text) =
                        parameter_text(bound, port_type.value, &bound_path, problems)
                    {
                        spec.insert(key.into(), json!(text));
                    }
                }
            }
            if let Some(values) = fields.take_some("enum") {
                spec.insert(
                    "enum".into(),
                    enum_values(values, &join(&port_path, "enum"), problems),
                );
            }
        }
    }
    if is_parameter && !input {
        // Primitive outputs load with `unknown=INCLUDE`.
        fields.finish_lenient();
    } else {
        fields.finish(problems);
    }
    Some(Port {
        port_type: port_type.value.to_owned(),
        optional: optional.unwrap_or(false),
        spec: Value::Object(spec),
        loc: entry.value.loc.clone(),
    })
}

fn enum_values(node: &Node, path: &str, problems: &mut Problems) -> Value {
    let Some(items) = node.items() else {
        type_error(node, path, "a list", problems);
        return Value::Array(Vec::new());
    };
    Value::Array(
        items
            .iter()
            .filter_map(|item| item.scalar().map(|s| json!(s.python_str())))
            .collect(),
    )
}

/// A default, minimum or maximum as the SDK sends it: parsed as the port's type, then written
/// as Python's `str()` writes the result (`1024` for a number is `1024.0`).
pub fn parameter_text(
    node: &Node,
    port_type: &str,
    path: &str,
    problems: &mut Problems,
) -> Option<String> {
    let Some(scalar) = node.scalar() else {
        type_error(node, path, "a value", problems);
        return None;
    };
    let converted = python::coerce(scalar, port_type);
    if converted.is_none() {
        problems.push(
            Diagnostic::error(format!(
                "`{path}` `{}` is not a valid {port_type}",
                scalar.text
            ))
            .at(&node.loc)
            .field(path),
        );
    }
    converted
}

/// Every `${{inputs.x}}` and `${{outputs.y}}` in a component's command names a declared
/// port, as the SDK checks.
pub fn check_command_bindings(
    command: &Located<String>,
    inputs: &BTreeMap<String, Port>,
    outputs: &BTreeMap<String, Port>,
    problems: &mut Problems,
) {
    for found in binding::bindings(&command.value) {
        let (name, section, known): (&str, &str, Vec<&str>) = match found.target() {
            Target::Input(name) => (name, "inputs", inputs.keys().map(String::as_str).collect()),
            Target::Output(name) => (
                name,
                "outputs",
                outputs.keys().map(String::as_str).collect(),
            ),
            _ => continue,
        };
        if known.contains(&name) {
            continue;
        }
        let mut diagnostic = Diagnostic::error(format!(
            "the command uses `${{{{{}}}}}`, but the component declares no {} `{name}`",
            found.expr,
            section.trim_end_matches('s')
        ))
        .at(&command.loc)
        .field("command");
        diagnostic = match did_you_mean(name, known.iter().copied()) {
            Some(s) => diagnostic.hint(format!("did you mean `${{{{{section}.{s}}}}}`?")),
            None => diagnostic.hint(format!("declare it under `{section}:`")),
        };
        problems.push(diagnostic);
    }
}

/// Loads the component file a node or a trial names (`./train.yml`, `file:train.yml`).
pub fn load_file(
    written: &Located<String>,
    path: &str,
    file: &Arc<SourceFile>,
    problems: &mut Problems,
) -> Option<Component> {
    let relative = written.value.trim();
    let relative = relative.strip_prefix("file:").unwrap_or(relative);
    let local = file.dir().join(relative);
    problems.refer(&local);
    let text = match super::read::read_file_text(&local) {
        Ok(text) => text,
        Err(e) => {
            problems.error(
                &written.loc,
                path,
                format!("cannot read component file `{relative}`: {e}"),
            );
            return None;
        }
    };
    let component_file = SourceFile::new(&local, text);
    let docs = match super::yaml::parse(&component_file, &mut problems.items) {
        Ok(docs) => docs,
        Err(e) => {
            problems.push(e);
            return None;
        }
    };
    let Some(doc) = docs.first() else {
        problems.error(
            &written.loc,
            path,
            format!("component file `{relative}` is empty"),
        );
        return None;
    };
    if is_prompt_flow(doc) {
        problems.push(
            Diagnostic::error("unsupported kind: prompt flow component")
                .at(&written.loc)
                .field(path)
                .hint("amlops runs command, pipeline and parallel components"),
        );
        return None;
    }
    read_component(doc, &component_file, Context::Loaded, problems)
}

/// A prompt flow definition (`flow.dag.yaml`), which pipelines may use as a component.
fn is_prompt_flow(doc: &Node) -> bool {
    doc.get_str("$schema")
        .is_some_and(|s| s.to_ascii_lowercase().contains("promptflow"))
        || (doc.get("nodes").is_some() && doc.get("type").is_none())
}

/// Whether `text` looks like a path to a local YAML file rather than a reference.
pub fn is_file_reference(text: &str) -> bool {
    let text = text.trim();
    text.starts_with("file:")
        || ((text.ends_with(".yml") || text.ends_with(".yaml")) && !text.starts_with("azureml:"))
}

#[cfg(test)]
mod tests {
    use crate::manifest::read_text;
    use crate::model::Spec;
    use serde_json::json;

    fn read(text: &str) -> crate::manifest::Manifest {
        read_text(std::path::Path::new("/nonexistent/c/component.yml"), text)
    }

    const COMPONENT: &str = "type: command\nname: train\nversion: 1\ninputs:\n  lr:\n    type: number\n    default: 1024\n  flag:\n    type: boolean\n    default: false\n  k:\n    type: integer\n    min: 0\n    max: 10.0\n  data:\n    type: uri_folder\n    optional: true\noutputs:\n  model:\n    type: mlflow_model\ncommand: python t.py --lr ${{inputs.lr}} $[[--d ${{inputs.data}}]] --o ${{outputs.model}}\nenvironment: azureml://registries/azureml/environments/sklearn-1.5/labels/latest\n";

    #[test]
    fn ports_are_written_as_the_sdk_sends_them() {
        let manifest = read(COMPONENT);
        assert!(!manifest.has_errors(), "{:?}", manifest.diagnostics);
        let Spec::Component(component) = &manifest.resources[0].spec else {
            panic!("a component")
        };
        assert_eq!(
            component.inputs["lr"].spec,
            json!({"type": "number", "default": "1024.0"})
        );
        assert_eq!(
            component.inputs["flag"].spec,
            json!({"type": "boolean", "default": "False"})
        );
        assert_eq!(
            component.inputs["k"].spec,
            json!({"type": "integer", "min": "0", "max": "10"})
        );
        assert_eq!(
            component.inputs["data"].spec,
            json!({"type": "uri_folder", "optional": true})
        );
        assert_eq!(
            manifest.resources[0].address.to_string(),
            "component.train:1"
        );
    }

    #[test]
    fn names_defaults_and_bindings_are_checked() {
        let text = COMPONENT
            .replace("name: train", "name: r-train")
            .replace("default: false", "default: maybe")
            .replace("${{inputs.lr}}", "${{inputs.rl}}");
        let manifest = read(&text);
        let messages: Vec<String> = manifest
            .diagnostics
            .errors()
            .map(|d| format!("{} {:?}", d.message, d.hints))
            .collect();
        for expected in [
            "`name` `r-train` is not a valid component name",
            "for example `r_train`",
            "`inputs.flag.default` `maybe` is not a valid boolean",
            "the component declares no input `rl`",
            "did you mean `${{inputs.lr}}`?",
        ] {
            assert!(
                messages.iter().any(|m| m.contains(expected)),
                "{expected:?} not in {messages:#?}"
            );
        }
    }
}
