//! Selecting a target of the project file (`--target`, `--var`) and `amlops targets`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use amlops::diag::display_path;
use amlops::project::{Override, Project, Selection, TargetDecl};
use amlops::target::TargetSpec;
use clap::Args;
use serde_json::{Value, json};

use super::{DirArg, ui};

/// The target options every command that reads manifests or a workspace takes.
#[derive(Args, Clone, Debug, Default)]
pub struct ProjectArgs {
    /// The target of amlops.kdl to use [default: its `default-target`, else `local`]
    #[arg(long, short = 't', env = "AMLOPS_TARGET", value_name = "NAME")]
    pub target: Option<String>,
    /// Set a variable of amlops.kdl for this run, over the target's value and over
    /// AMLOPS_VAR_NAME from the environment (repeatable)
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,
}

#[derive(Args)]
pub struct TargetsArgs {
    #[command(flatten)]
    dir: DirArg,
    /// Set a variable of amlops.kdl, as plan would (repeatable)
    #[arg(long = "var", value_name = "NAME=VALUE")]
    vars: Vec<String>,
    /// Print the targets as JSON
    #[arg(long)]
    json: bool,
}

/// The target options for applying a saved plan: the target it was made for, which a
/// `--target` naming another contradicts.
pub fn saved_target(
    args: &super::target::TargetArgs,
    origin: &amlops::plan::Origin,
) -> anyhow::Result<super::target::TargetArgs> {
    let mut target = args.clone();
    match (&args.project.target, &origin.target) {
        (Some(given), Some(saved)) if given != saved => {
            anyhow::bail!("the saved plan was made for target `{saved}`, not `{given}`")
        }
        (None, Some(saved)) => target.project.target = Some(saved.clone()),
        _ => {}
    }
    Ok(target)
}

/// The directory whose `amlops.kdl` applies to `path` (a manifest directory or a file in it).
pub fn project_root(path: &Path) -> PathBuf {
    if path.is_file() {
        path.parent().map(Path::to_path_buf).unwrap_or_default()
    } else {
        path.to_path_buf()
    }
}

/// Loads the project file of `dir` and selects the target `args` ask for, saying which
/// (on stderr) when `announce` and the project has a file. Problems are printed; `Err`
/// carries the exit code.
pub fn select(args: &ProjectArgs, dir: &Path, announce: bool) -> Result<Selection, ExitCode> {
    let project = load(dir)?;
    let overrides = overrides(&args.vars)?;
    let selection = project
        .select(args.target.as_deref(), &overrides)
        .map_err(|problems| fail(&problems))?;
    if announce && project.file.is_some() {
        ui::status(&ui::paint(
            ui::MUTED,
            &format!("target: {}", selection.target),
        ));
    }
    Ok(selection)
}

/// Variable values from `AMLOPS_VAR_NAME` environment variables, then from `--var` (which
/// wins): the environment is how CI hands over secrets without putting them in a command
/// line.
fn overrides(assignments: &[String]) -> Result<Vec<Override>, ExitCode> {
    let mut overrides = Override::from_environment(std::env::vars());
    for text in assignments {
        overrides.push(Override::from_assignment(text).map_err(|e| fail(&[e]))?);
    }
    Ok(overrides)
}

fn load(dir: &Path) -> Result<Project, ExitCode> {
    Project::load(&project_root(dir)).map_err(|problems| fail(&problems))
}

fn fail(problems: &[amlops::diag::Diagnostic]) -> ExitCode {
    ui::diagnostics(problems);
    ExitCode::from(1)
}

/// `amlops targets`: every target with where it applies, its variables and its overlays.
pub fn run(args: TargetsArgs) -> anyhow::Result<ExitCode> {
    let root = project_root(&args.dir.dir);
    let project = match load(&args.dir.dir) {
        Ok(project) => project,
        Err(code) => return Ok(code),
    };
    let overrides = match overrides(&args.vars) {
        Ok(overrides) => overrides,
        Err(code) => return Ok(code),
    };
    let mut listed = Vec::new();
    let mut failed = false;
    for target in project.targets() {
        let selection = match project.select(Some(&target.name.value), &overrides) {
            Ok(selection) => Some(selection),
            Err(problems) => {
                ui::diagnostics(&problems);
                failed = true;
                None
            }
        };
        listed.push(describe(&project, &target, selection.as_ref(), &root));
    }
    let report = json!({
        "project": project.name_or(|| amlops::workflow::project_name(&root)),
        "file": project.file.as_ref().map(|f| f.display.clone()),
        "default_target": project.default_target_name(),
        "targets": listed,
    });
    if args.json {
        ui::out(&format!("{}\n", serde_json::to_string_pretty(&report)?));
    } else {
        ui::out(&render(&report));
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn describe(
    project: &Project,
    target: &TargetDecl,
    selection: Option<&Selection>,
    root: &Path,
) -> Value {
    let variables: serde_json::Map<String, Value> = selection
        .map(|s| {
            s.inputs
                .variables
                .values()
                .map(|(name, v)| {
                    let value = if v.sensitive {
                        json!(amlops::plan::SENSITIVE)
                    } else {
                        v.value.to_json()
                    };
                    (name.clone(), json!({"value": value, "from": v.origin}))
                })
                .collect()
        })
        .unwrap_or_default();
    let unset: serde_json::Map<String, Value> = selection
        .map(|s| {
            s.inputs
                .variables
                .unset()
                .map(|(name, why)| (name.clone(), json!(why)))
                .collect()
        })
        .unwrap_or_default();
    json!({
        "name": target.name.value,
        "default": target.name.value == project.default_target_name(),
        "implicit": target.implicit,
        "description": target.description,
        "where": where_words(&target.spec, root),
        "spec": target.spec,
        "variables": variables,
        "unset": unset,
        "overlays": target.overlays.iter().map(|o| o.address()).collect::<Vec<_>>(),
        "valid": selection.is_some(),
    })
}

/// Where a target applies, in words.
fn where_words(spec: &TargetSpec, root: &Path) -> String {
    match spec {
        TargetSpec::Local { data_dir } => {
            let dir = data_dir.clone().unwrap_or_else(|| root.join(".amlops"));
            format!("local workspace in {}", display_path(&dir))
        }
        TargetSpec::Workspace {
            subscription,
            resource_group,
            workspace,
            connection,
        } => with_connection(
            format!("workspace {subscription}/{resource_group}/{workspace}"),
            connection,
        ),
        TargetSpec::Registry {
            name,
            location,
            connection,
            ..
        } => {
            let mut words = format!("registry {name}");
            if let Some(location) = location {
                let _ = write!(words, " in {location}");
            }
            with_connection(words, connection)
        }
    }
}

fn with_connection(mut words: String, connection: &amlops::target::Connection) -> String {
    if let Some(endpoint) = &connection.endpoint {
        let _ = write!(words, " at {endpoint}");
    }
    if let Some(auth) = connection.auth {
        let auth = serde_json::to_value(auth).ok();
        let _ = write!(
            words,
            ", auth {}",
            auth.as_ref().and_then(Value::as_str).unwrap_or("?")
        );
    }
    words
}

/// The report as a table for people, the default target marked.
fn render(report: &Value) -> String {
    let mut out = String::new();
    let project = report["project"].as_str().unwrap_or_default();
    match report["file"].as_str() {
        Some(file) => {
            let _ = writeln!(out, "Project {project} ({file})\n");
        }
        None => {
            let _ = writeln!(
                out,
                "Project {project} (no amlops.kdl: the local workspace only)\n"
            );
        }
    }
    let targets = report["targets"].as_array().cloned().unwrap_or_default();
    let width = targets
        .iter()
        .filter_map(|t| t["name"].as_str())
        .map(str::len)
        .max()
        .unwrap_or(0);
    for target in &targets {
        let name = target["name"].as_str().unwrap_or_default();
        let marker = if target["default"] == json!(true) {
            "*"
        } else {
            " "
        };
        let mut line = format!(
            "{marker} {name:<width$}  {}",
            target["where"].as_str().unwrap_or_default()
        );
        if target["implicit"] == json!(true) {
            line.push_str(" (built in)");
        }
        let _ = writeln!(out, "{line}");
        let pad = " ".repeat(width + 4);
        if let Some(description) = target["description"]
            .as_str()
            .filter(|_| target["implicit"] != json!(true))
        {
            let _ = writeln!(out, "{pad}{description}");
        }
        let mut values: Vec<String> = target["variables"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(name, v)| format!("{name} = {}", v["value"]))
            .collect();
        values.extend(
            target["unset"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(name, _)| format!("{name} unset")),
        );
        if !values.is_empty() {
            let _ = writeln!(out, "{pad}variables: {}", values.join(", "));
        }
        if let Some(overlays) = target["overlays"].as_array().filter(|o| !o.is_empty()) {
            let names: Vec<&str> = overlays.iter().filter_map(Value::as_str).collect();
            let _ = writeln!(out, "{pad}overlays: {}", names.join(", "));
        }
    }
    let _ = writeln!(
        out,
        "\n* the default target; pick another with --target NAME"
    );
    out
}
