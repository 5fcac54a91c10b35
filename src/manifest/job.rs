//! Jobs (`az ml job create`).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::assets::{read_common, read_environment};
use super::node::{Node, NodeValue, ScalarKind};
use super::read::{Fields, Problems, expect_str, join};
use super::shape::{self, Shape, Ty};
use crate::diag::{Diagnostic, Located, SourceFile, did_you_mean};
use crate::model::binding::{self, Target};
use crate::model::refs::{DataPath, has_uri_scheme, parse_asset_ref};
use crate::model::{
    CodeSource, CommandJob, DATA_TYPES, DataInput, EnvSource, INPUT_MODES, Job, JobBody, JobInput,
    JobOutput, OUTPUT_MODES, Rerun,
};

static RESOURCES: Shape = Shape {
    what: "job resources",
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

static LIMITS: Shape = Shape {
    what: "job limits",
    keys: &[("timeout", Ty::Int)],
    required: &[],
};

pub static QUEUE_SETTINGS: Shape = Shape {
    what: "queue settings",
    keys: &[
        (
            "job_tier",
            Ty::Choice(&["spot", "basic", "standard", "premium", "null"]),
        ),
        ("priority", Ty::Choice(&["low", "medium", "high"])),
    ],
    required: &[],
};

static SERVICE: Shape = Shape {
    what: "a job service",
    keys: &[
        (
            "type",
            Ty::Choice(&["jupyter_lab", "ssh", "tensor_board", "vs_code"]),
        ),
        ("port", Ty::Int),
        ("nodes", Ty::Str),
        ("properties", Ty::StrMap),
        ("log_dir", Ty::Str),
        ("ssh_public_keys", Ty::Str),
    ],
    required: &[],
};

static IDENTITY: Shape = Shape {
    what: "a job identity",
    keys: &[
        (
            "type",
            Ty::Choice(&["user_identity", "managed", "managed_identity", "aml_token"]),
        ),
        ("client_id", Ty::Str),
        ("object_id", Ty::Str),
        ("msi_resource_id", Ty::Str),
    ],
    required: &["type"],
};

static DISTRIBUTION_MPI: Shape = Shape {
    what: "an mpi distribution",
    keys: &[("type", Ty::Str), ("process_count_per_instance", Ty::Int)],
    required: &[],
};

static DISTRIBUTION_PYTORCH: Shape = Shape {
    what: "a pytorch distribution",
    keys: &[("type", Ty::Str), ("process_count_per_instance", Ty::Int)],
    required: &[],
};

static DISTRIBUTION_TENSORFLOW: Shape = Shape {
    what: "a tensorflow distribution",
    keys: &[
        ("type", Ty::Str),
        ("worker_count", Ty::Int),
        ("parameter_server_count", Ty::Int),
    ],
    required: &[],
};

static DISTRIBUTION_RAY: Shape = Shape {
    what: "a ray distribution",
    keys: &[
        ("type", Ty::Str),
        ("port", Ty::Int),
        ("address", Ty::Str),
        ("include_dashboard", Ty::Bool),
        ("dashboard_port", Ty::Int),
        ("head_node_additional_args", Ty::Str),
        ("worker_node_additional_args", Ty::Str),
    ],
    required: &[],
};

pub fn read_job(node: &Node, file: &Arc<SourceFile>, problems: &mut Problems) -> Option<Job> {
    let kind = node
        .get_str("type")
        .map(str::to_ascii_lowercase)
        .unwrap_or_else(|| "command".into());
    let what = match kind.as_str() {
        "sweep" => "a sweep job",
        "pipeline" => "a pipeline job",
        _ => "a command job",
    };
    let mut fields = Fields::new(node, "", what, problems)?;
    fields.take("type");
    fields.allow(&[
        "parent_job_name",
        "id",
        "status",
        "creation_context",
        "log_files",
        "services",
    ]);
    let name = fields.str("name", problems);
    if let Some(name) = &name {
        check_job_name(name, problems);
    }
    let display_name = fields.text("display_name", problems).map(|v| v.value);
    let experiment_name = fields.text("experiment_name", problems).map(|v| v.value);
    let common = read_common(&mut fields, true, problems);
    let compute = fields.str("compute", problems);
    let rerun = read_rerun(&mut fields, name.is_some(), problems);
    let body = match kind.as_str() {
        "sweep" => super::sweep::read_sweep_job(&mut fields, file, problems).map(JobBody::Sweep),
        "pipeline" => {
            super::pipeline::read_pipeline_job(&mut fields, file, problems).map(JobBody::Pipeline)
        }
        _ => read_command(&mut fields, file, problems).map(JobBody::Command),
    };
    fields.finish(problems);
    Some(Job {
        name,
        display_name,
        experiment_name,
        common,
        compute,
        rerun,
        body: body?,
    })
}

/// amlops' own `rerun` key. `always` submits under a new name on every apply, so a job
/// that fixes its `name` cannot have it.
fn read_rerun(fields: &mut Fields<'_>, named: bool, problems: &mut Problems) -> Rerun {
    let Some(choice) = fields.choice("rerun", Rerun::CHOICES, problems) else {
        return Rerun::default();
    };
    let rerun = Rerun::parse(choice.value).unwrap_or_default();
    if rerun == Rerun::Always && named {
        problems.error(
            &choice.loc,
            "rerun",
            "`rerun: always` submits a new job on every apply, each under a new name; \
             remove `name:` so amlops can name them",
        );
    }
    rerun
}

/// Job names are used in URLs: letters, digits, `-` and `_`, at most 255.
fn check_job_name(name: &Located<String>, problems: &mut Problems) {
    let valid = name.value.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
        && name.value.len() <= 255;
    if !valid {
        problems.error(
            &name.loc,
            "name",
            format!("`{}` is not a valid job name: letters, digits, `-` and `_`, starting with a letter or digit", name.value),
        );
    }
}

fn read_command(
    fields: &mut Fields<'_>,
    file: &Arc<SourceFile>,
    problems: &mut Problems,
) -> Option<CommandJob> {
    let command = fields.req_str("command", problems);
    let code = fields
        .take_some("code")
        .and_then(|n| read_code(n, "code", file, problems));
    let environment = match fields.require("environment", problems) {
        Some(node) => read_env_source(node, "environment", file, problems),
        None => None,
    };
    let inputs = read_inputs(fields.map("inputs", problems), "inputs", file, problems);
    let outputs = read_outputs(fields.map("outputs", problems), "outputs", problems);
    let environment_variables = fields.str_map("environment_variables", problems);
    let distribution = fields
        .take_some("distribution")
        .and_then(|n| read_distribution(n, problems));
    let resources = fields
        .take_some("resources")
        .and_then(|n| shape::read(n, "resources", &RESOURCES, problems));
    let limits = fields
        .take_some("limits")
        .and_then(|n| shape::read(n, "limits", &LIMITS, problems));
    let identity = fields
        .take_some("identity")
        .and_then(|n| shape::read(n, "identity", &IDENTITY, problems));
    let services = fields
        .take_some("services")
        .and_then(|n| read_services(n, problems));
    let queue_settings = fields
        .take_some("queue_settings")
        .and_then(|n| shape::read(n, "queue_settings", &QUEUE_SETTINGS, problems));

    let command = command?;
    check_bindings(&command, &inputs, &outputs, problems);
    Some(CommandJob {
        command,
        code,
        environment: environment?,
        inputs,
        outputs,
        environment_variables,
        distribution,
        resources,
        limits,
        identity,
        services,
        queue_settings,
    })
}

/// Every `${{inputs.x}}` and `${{outputs.y}}` in a command names a declared input or output,
/// as the SDK checks before submitting.
pub fn check_bindings(
    command: &Located<String>,
    inputs: &BTreeMap<String, JobInput>,
    outputs: &BTreeMap<String, Option<JobOutput>>,
    problems: &mut Problems,
) {
    for found in binding::bindings(&command.value) {
        let (name, declared, list): (&str, bool, Vec<&str>) = match found.target() {
            Target::Input(name) => (
                name,
                inputs.contains_key(name),
                inputs.keys().map(String::as_str).collect(),
            ),
            Target::Output(name) => (
                name,
                outputs.contains_key(name),
                outputs.keys().map(String::as_str).collect(),
            ),
            _ => continue,
        };
        if declared {
            continue;
        }
        let section = found.expr.split('.').next().unwrap_or_default();
        let mut diagnostic = Diagnostic::error(format!(
            "the command uses `${{{{{}}}}}`, but the job declares no {} `{name}`",
            found.expr,
            section.trim_end_matches('s')
        ))
        .at(&command.loc)
        .field("command");
        if let Some(suggestion) = did_you_mean(name, list.iter().copied()) {
            diagnostic =
                diagnostic.hint(format!("did you mean `${{{{{section}.{suggestion}}}}}`?"));
        } else {
            diagnostic = diagnostic.hint(format!("declare it under `{section}:`"));
        }
        problems.push(diagnostic);
    }
}

/// `code:` is a local folder or file, an `azureml:` code asset, or a remote URL.
pub fn read_code(
    node: &Node,
    path: &str,
    file: &Arc<SourceFile>,
    problems: &mut Problems,
) -> Option<Located<CodeSource>> {
    let written = expect_str(node, path, problems)?;
    let text = written.value.trim();
    let source = if text.starts_with("azureml:") && !text.starts_with("azureml://datastores/") {
        match parse_asset_ref(text, "codes") {
            Ok(reference) => CodeSource::Asset(reference),
            Err(e) => {
                problems.error(&written.loc, path, e.to_string());
                return None;
            }
        }
    } else if has_uri_scheme(text) || text.starts_with("git+") {
        CodeSource::Uri(text.to_owned())
    } else {
        let relative = text.strip_prefix("file:").unwrap_or(text);
        let local = file.dir().join(relative);
        problems.refer(&local);
        if !local.exists() {
            problems.error(
                &written.loc,
                path,
                format!(
                    "code `{relative}` does not exist (looked for {})",
                    local.display()
                ),
            );
            return None;
        }
        CodeSource::Local {
            path: local,
            written: relative.to_owned(),
        }
    };
    Some(Located::new(source, written.loc))
}

/// `environment:` is a reference, a `file:` path to an environment YAML, or inline.
pub fn read_env_source(
    node: &Node,
    path: &str,
    file: &Arc<SourceFile>,
    problems: &mut Problems,
) -> Option<Located<EnvSource>> {
    if node.entries().is_some() {
        let env = read_environment(node, path, file, false, problems)?;
        return Some(Located::new(
            EnvSource::Inline(Box::new(env)),
            node.loc.clone(),
        ));
    }
    let written = expect_str(node, path, problems)?;
    if let Some(relative) = written.value.strip_prefix("file:") {
        let local = file.dir().join(relative.trim());
        problems.refer(&local);
        let env_file = match super::read::read_file_text(&local) {
            Ok(text) => SourceFile::new(&local, text),
            Err(e) => {
                problems.error(
                    &written.loc,
                    path,
                    format!("cannot read environment file `{relative}`: {e}"),
                );
                return None;
            }
        };
        let docs = match super::yaml::parse(&env_file, &mut Vec::new()) {
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
                format!("environment file `{relative}` is empty"),
            );
            return None;
        };
        // A job registers the environment of a `file:` anonymously, as an inline one: the
        // SDK ignores its name and version.
        let env = read_environment(doc, "", &env_file, false, problems)?;
        return Some(Located::new(EnvSource::Inline(Box::new(env)), written.loc));
    }
    match parse_asset_ref(&written.value, "environments") {
        Ok(reference) => Some(Located::new(EnvSource::Ref(reference), written.loc)),
        Err(_) => {
            problems.push(
                Diagnostic::error(format!(
                    "`{path}` `{}` is neither an environment reference nor an inline environment",
                    written.value
                ))
                .at(&written.loc)
                .field(path)
                .hint("write `azureml:<name>:<version>`, `azureml:<name>@latest`, `azureml://registries/...`, or a mapping with `image`"),
            );
            None
        }
    }
}

pub fn io_name_ok(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

pub fn read_inputs(
    entries: Vec<&super::node::Entry>,
    path: &str,
    file: &Arc<SourceFile>,
    problems: &mut Problems,
) -> BTreeMap<String, JobInput> {
    let mut inputs = BTreeMap::new();
    for entry in entries {
        let name = &entry.key.value;
        let input_path = join(path, name);
        if !io_name_ok(name) {
            problems.error(
                &entry.key.loc,
                &input_path,
                format!("`{name}` is not a valid input name: letters, digits and `_`, not starting with a digit"),
            );
            continue;
        }
        if let Some(input) = read_input(&entry.value, &input_path, file, problems) {
            inputs.insert(name.clone(), input);
        }
    }
    inputs
}

pub fn read_input(
    node: &Node,
    path: &str,
    file: &Arc<SourceFile>,
    problems: &mut Problems,
) -> Option<JobInput> {
    match &node.value {
        NodeValue::Scalar(s) if s.kind == ScalarKind::Null => {
            problems.error(&node.loc, path, format!("input `{path}` has no value"));
            None
        }
        NodeValue::Scalar(s) => Some(JobInput::Literal(Located::new(s.clone(), node.loc.clone()))),
        NodeValue::Seq(_) => {
            problems.error(
                &node.loc,
                path,
                format!("input `{path}` must be a value or a mapping, found a list"),
            );
            None
        }
        NodeValue::Map(_) => {
            if node.get("type").is_none() && node.get("value").is_some() {
                let mut fields = Fields::new(node, path, "a literal input", problems)?;
                let value = fields.take_some("value");
                fields.allow(&["description"]);
                fields.finish(problems);
                return match value.and_then(|v| v.scalar().cloned()) {
                    Some(s) => Some(JobInput::Literal(Located::new(s, node.loc.clone()))),
                    None => {
                        problems.error(
                            &node.loc,
                            path,
                            format!("input `{path}` must have a scalar `value`"),
                        );
                        None
                    }
                };
            }
            read_data_input(node, path, file, problems).map(JobInput::Data)
        }
    }
}

fn read_data_input(
    node: &Node,
    path: &str,
    file: &Arc<SourceFile>,
    problems: &mut Problems,
) -> Option<DataInput> {
    read_input_mapping(node, path, file, false, problems)
}

/// An input written as a mapping (`type`, `path`, `mode`). With `bound_path`, `path` is a
/// `${{parent.…}}` binding, which the caller keeps: the input's own `path` is then left empty.
pub fn read_input_mapping(
    node: &Node,
    path: &str,
    file: &Arc<SourceFile>,
    bound_path: bool,
    problems: &mut Problems,
) -> Option<DataInput> {
    let mut fields = Fields::new(node, path, "an input", problems)?;
    fields.allow(&["datastore", "path_on_compute"]);
    let input_type = fields
        .choice("type", DATA_TYPES, problems)
        .map(|t| t.value)
        .unwrap_or("uri_folder");
    let written = if bound_path {
        fields.take("path");
        None
    } else {
        fields.str("path", problems)
    };
    let mode = fields
        .str("mode", problems)
        .and_then(|m| mode(&m, &join(path, "mode"), INPUT_MODES, problems));
    let description = fields.text("description", problems).map(|d| d.value);
    fields.finish(problems);
    let collection = if input_type.ends_with("model") {
        "models"
    } else {
        "data"
    };
    let data_path = match written {
        Some(written) => match DataPath::parse(&written.value, file.dir(), collection) {
            Ok(parsed) => {
                if let DataPath::Local {
                    path: local,
                    written: text,
                } = &parsed
                {
                    problems.refer(local);
                    if !local.exists() {
                        problems.error(
                            &written.loc,
                            &join(path, "path"),
                            format!(
                                "input path `{text}` does not exist (looked for {})",
                                local.display()
                            ),
                        );
                    }
                }
                Some(Located::new(parsed, written.loc))
            }
            Err(e) => {
                problems.error(&written.loc, &join(path, "path"), e.to_string());
                None
            }
        },
        None => None,
    };
    Some(DataInput {
        input_type,
        path: data_path,
        mode,
        description,
        loc: node.loc.clone(),
    })
}

fn mode(
    written: &Located<String>,
    path: &str,
    modes: &'static [(&'static str, &'static str)],
    problems: &mut Problems,
) -> Option<&'static str> {
    if let Some((_, rest)) = modes
        .iter()
        .find(|(yaml, _)| yaml.eq_ignore_ascii_case(&written.value))
    {
        return Some(rest);
    }
    let names: Vec<&str> = modes.iter().map(|(yaml, _)| *yaml).collect();
    let listed: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    let mut diagnostic = Diagnostic::error(format!(
        "`{path}` must be one of {}, found `{}`",
        listed.join(", "),
        written.value
    ))
    .at(&written.loc)
    .field(path);
    if let Some(suggestion) = did_you_mean(&written.value, names.iter().copied()) {
        diagnostic = diagnostic.hint(format!("did you mean `{suggestion}`?"));
    }
    problems.push(diagnostic);
    None
}

pub fn read_outputs(
    entries: Vec<&super::node::Entry>,
    path: &str,
    problems: &mut Problems,
) -> BTreeMap<String, Option<JobOutput>> {
    let mut outputs = BTreeMap::new();
    for entry in entries {
        let name = &entry.key.value;
        let output_path = join(path, name);
        if !io_name_ok(name) {
            problems.error(
                &entry.key.loc,
                &output_path,
                format!("`{name}` is not a valid output name: letters, digits and `_`, not starting with a digit"),
            );
            continue;
        }
        if entry.value.is_null() {
            outputs.insert(name.clone(), None);
            continue;
        }
        let Some(mut fields) = Fields::new(&entry.value, &output_path, "an output", problems)
        else {
            continue;
        };
        let output_type = fields
            .choice("type", DATA_TYPES, problems)
            .map(|t| t.value)
            .unwrap_or("uri_folder");
        let out_path = fields.str("path", problems);
        let mode = fields
            .str("mode", problems)
            .and_then(|m| mode(&m, &join(&output_path, "mode"), OUTPUT_MODES, problems));
        let asset_name = fields.str("name", problems).map(|n| n.value);
        let asset_version = fields.text("version", problems).map(|v| v.value);
        let description = fields.text("description", problems).map(|d| d.value);
        fields.finish(problems);
        outputs.insert(
            name.clone(),
            Some(JobOutput {
                output_type,
                path: out_path,
                mode,
                asset_name,
                asset_version,
                description,
                loc: entry.value.loc.clone(),
            }),
        );
    }
    outputs
}

pub fn read_distribution(node: &Node, problems: &mut Problems) -> Option<serde_json::Value> {
    let kind = node.get_str("type").map(str::to_ascii_lowercase);
    let shape = match kind.as_deref() {
        Some("mpi") => &DISTRIBUTION_MPI,
        Some("pytorch") => &DISTRIBUTION_PYTORCH,
        Some("tensorflow") => &DISTRIBUTION_TENSORFLOW,
        Some("ray") => &DISTRIBUTION_RAY,
        _ => {
            let at = node.get("type").map(|t| &t.loc).unwrap_or(&node.loc);
            problems.error(
                at,
                "distribution.type",
                "`distribution.type` must be one of `mpi`, `pytorch`, `tensorflow`, `ray`"
                    .to_owned(),
            );
            return None;
        }
    };
    let mut value = shape::read(node, "distribution", shape, problems)?;
    if kind.as_deref() == Some("tensorflow") && value.get("parameter_server_count").is_none() {
        // The SDK's default, which it sends.
        value["parameter_server_count"] = serde_json::json!(0);
    }
    value["type"] = serde_json::Value::String(kind.unwrap_or_default());
    Some(value)
}

fn read_services(node: &Node, problems: &mut Problems) -> Option<serde_json::Value> {
    let entries = node.entries().or_else(|| {
        super::read::type_error(node, "services", "a mapping", problems);
        None
    })?;
    let services = entries
        .iter()
        .filter_map(|e| {
            Some((
                e.key.value.clone(),
                shape::read(
                    &e.value,
                    &join("services", &e.key.value),
                    &SERVICE,
                    problems,
                )?,
            ))
        })
        .collect();
    Some(serde_json::Value::Object(services))
}

/// Checks the keys every job shares, for a document amlops otherwise refuses as an unsupported
/// kind, so that its report also names what `az ml` would reject: `resources`, `inputs` and
/// `outputs` must be mappings.
pub fn check_shared_keys(doc: &Node, problems: &mut Problems) {
    for key in ["resources", "inputs", "outputs", "limits"] {
        if let Some(value) = doc.get(key)
            && !value.is_null()
            && value.entries().is_none()
        {
            super::read::type_error(value, key, "a mapping", problems);
        }
    }
}
