//! Sweep jobs and sweep nodes: a trial, a search space, an objective, limits.

use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::component::{self, Context};
use super::job::{self, read_outputs};
use super::node::Node;
use super::read::{Fields, Problems, expect_str, join, type_error};
use super::shape::{self, Shape, Ty};
use crate::diag::Located;
use crate::diag::{Diagnostic, SourceFile, did_you_mean};
use crate::model::{ComponentOrigin, ComponentUse, SweepJob, SweepSettings};

static OBJECTIVE: Shape = Shape {
    what: "a sweep objective",
    keys: &[
        ("goal", Ty::Choice(&["minimize", "maximize"])),
        ("primary_metric", Ty::Str),
    ],
    required: &["goal", "primary_metric"],
};

static LIMITS: Shape = Shape {
    what: "sweep limits",
    keys: &[
        ("max_total_trials", Ty::Int),
        ("max_concurrent_trials", Ty::Int),
        ("timeout", Ty::Int),
        ("trial_timeout", Ty::Int),
    ],
    required: &["max_total_trials"],
};

static SAMPLING: Shape = Shape {
    what: "a sampling algorithm",
    keys: &[
        ("type", Ty::Choice(&["random", "grid", "bayesian"])),
        ("seed", Ty::Int),
        ("rule", Ty::Choice(&["random", "sobol"])),
        ("logbase", Ty::Any),
    ],
    required: &["type"],
};

static BANDIT: Shape = Shape {
    what: "a bandit policy",
    keys: &[
        ("type", Ty::Str),
        ("slack_factor", Ty::Number),
        ("slack_amount", Ty::Number),
        ("evaluation_interval", Ty::Int),
        ("delay_evaluation", Ty::Int),
    ],
    required: &[],
};

static MEDIAN_STOPPING: Shape = Shape {
    what: "a median stopping policy",
    keys: &[
        ("type", Ty::Str),
        ("evaluation_interval", Ty::Int),
        ("delay_evaluation", Ty::Int),
    ],
    required: &[],
};

static TRUNCATION: Shape = Shape {
    what: "a truncation selection policy",
    keys: &[
        ("type", Ty::Str),
        ("truncation_percentage", Ty::Int),
        ("evaluation_interval", Ty::Int),
        ("delay_evaluation", Ty::Int),
        ("exclude_finished_jobs", Ty::Bool),
    ],
    required: &["truncation_percentage"],
};

/// The parameters of each search-space distribution.
const DISTRIBUTIONS: &[(&str, &[&str])] = &[
    ("choice", &["values"]),
    ("randint", &["upper"]),
    ("uniform", &["min_value", "max_value"]),
    ("loguniform", &["min_value", "max_value"]),
    ("quniform", &["min_value", "max_value", "q"]),
    ("qloguniform", &["min_value", "max_value", "q"]),
    ("normal", &["mu", "sigma"]),
    ("lognormal", &["mu", "sigma"]),
    ("qnormal", &["mu", "sigma", "q"]),
    ("qlognormal", &["mu", "sigma", "q"]),
];

/// Reads the keys of a sweep job (after the ones every job has).
pub fn read_sweep_job(
    fields: &mut Fields<'_>,
    file: &Arc<SourceFile>,
    problems: &mut Problems,
) -> Option<SweepJob> {
    let trial = fields
        .require("trial", problems)
        .and_then(|n| read_trial(n, "trial", file, problems));
    let inputs = job::read_inputs(fields.map("inputs", problems), "inputs", file, problems);
    let outputs = read_outputs(fields.map("outputs", problems), "outputs", problems);
    let settings = read_settings(fields, problems);
    if let Some(ComponentUse::Defined(component)) = &trial
        && component.origin == ComponentOrigin::Job
        && let crate::model::ComponentBody::Command(command) = &component.body
    {
        check_trial_bindings(&command.command, &inputs, &outputs, &settings, problems);
    }
    Some(SweepJob {
        trial: trial?,
        inputs,
        outputs,
        settings,
    })
}

/// A sweep's trial: a component file, a registered component, or an inline command.
pub fn read_trial(
    node: &Node,
    path: &str,
    file: &Arc<SourceFile>,
    problems: &mut Problems,
) -> Option<ComponentUse> {
    if node.entries().is_some() {
        let mut component = component::read_component(node, file, Context::Trial, problems)?;
        component.origin = ComponentOrigin::Job;
        return Some(ComponentUse::Defined(Box::new(component)));
    }
    let written = expect_str(node, path, problems)?;
    if written.value.trim().starts_with("azureml:") {
        return match super::pipeline::parse_component_ref(written.value.trim()) {
            Ok(reference) => Some(ComponentUse::Registered(Located::new(
                reference,
                written.loc,
            ))),
            Err(e) => {
                problems.error(&written.loc, path, e.to_string());
                None
            }
        };
    }
    let component = component::load_file(&written, path, file, problems)?;
    Some(ComponentUse::Defined(Box::new(component)))
}

/// `search_space`, `sampling_algorithm`, `objective`, `limits`, `early_termination` and the
/// settings a sweep may add, kept in the YAML's vocabulary.
pub fn read_settings(fields: &mut Fields<'_>, problems: &mut Problems) -> SweepSettings {
    let path = fields.path().to_owned();
    let mut settings = SweepSettings::default();
    if let Some(node) = fields.take_some("search_space") {
        settings.search_space = read_search_space(node, &join(&path, "search_space"), problems);
    }
    settings.sampling_algorithm = fields
        .take_some("sampling_algorithm")
        .and_then(|n| read_sampling(n, &join(&path, "sampling_algorithm"), problems))
        .unwrap_or_else(|| json!("random"));
    settings.objective = fields
        .require("objective", problems)
        .and_then(|n| shape::read(n, &join(&path, "objective"), &OBJECTIVE, problems))
        .unwrap_or(Value::Null);
    settings.limits = fields
        .require("limits", problems)
        .and_then(|n| shape::read(n, &join(&path, "limits"), &LIMITS, problems))
        .unwrap_or(Value::Null);
    settings.early_termination = fields
        .take_some("early_termination")
        .and_then(|n| read_early_termination(n, &join(&path, "early_termination"), problems));
    settings.queue_settings = fields.take_some("queue_settings").and_then(|n| {
        shape::read(
            n,
            &join(&path, "queue_settings"),
            &job::QUEUE_SETTINGS,
            problems,
        )
    });
    settings
}

fn read_search_space(node: &Node, path: &str, problems: &mut Problems) -> Map<String, Value> {
    let mut space = Map::new();
    let Some(entries) = node.entries() else {
        type_error(node, path, "a mapping", problems);
        return space;
    };
    for entry in entries {
        let item_path = join(path, &entry.key.value);
        if let Some(distribution) = read_distribution(&entry.value, &item_path, problems) {
            space.insert(entry.key.value.clone(), distribution);
        }
    }
    space
}

fn read_distribution(node: &Node, path: &str, problems: &mut Problems) -> Option<Value> {
    let mut fields = Fields::new(node, path, "a search-space distribution", problems)?;
    let written = fields.req_str("type", problems)?;
    let kind = written.value.to_ascii_lowercase();
    let Some((name, parameters)) = DISTRIBUTIONS.iter().find(|(n, _)| *n == kind) else {
        let names: Vec<&str> = DISTRIBUTIONS.iter().map(|(n, _)| *n).collect();
        let mut diagnostic = Diagnostic::error(format!(
            "`{}` must be a distribution ({}), found `{}`",
            join(path, "type"),
            names.join(", "),
            written.value
        ))
        .at(&written.loc)
        .field(join(path, "type"));
        if let Some(s) = did_you_mean(&written.value, names) {
            diagnostic = diagnostic.hint(format!("did you mean `{s}`?"));
        }
        problems.push(diagnostic);
        return None;
    };
    let mut out = Map::new();
    out.insert("type".into(), json!(name));
    for parameter in *parameters {
        let Some(value) = fields.require(parameter, problems) else {
            continue;
        };
        let value_path = join(path, parameter);
        let json = value.to_json();
        let ok = if *parameter == "values" {
            json.is_array()
        } else {
            json.is_number()
        };
        if !ok {
            let expected = if *parameter == "values" {
                "a list"
            } else {
                "a number"
            };
            type_error(value, &value_path, expected, problems);
            continue;
        }
        out.insert((*parameter).into(), json);
    }
    fields.finish(problems);
    Some(Value::Object(out))
}

fn read_sampling(node: &Node, path: &str, problems: &mut Problems) -> Option<Value> {
    if node.entries().is_some() {
        return shape::read(node, path, &SAMPLING, problems);
    }
    let written = expect_str(node, path, problems)?;
    super::read::check_choice(&written, path, &["random", "grid", "bayesian"], problems)
        .map(|c| json!(c.value))
}

fn read_early_termination(node: &Node, path: &str, problems: &mut Problems) -> Option<Value> {
    let kind = node.get_str("type").map(str::to_ascii_lowercase);
    let policy = match kind.as_deref() {
        Some("bandit") => &BANDIT,
        Some("median_stopping") => &MEDIAN_STOPPING,
        Some("truncation_selection") => &TRUNCATION,
        _ => {
            let at = node.get("type").map_or(&node.loc, |t| &t.loc);
            problems.error(
                at,
                &join(path, "type"),
                format!(
                    "`{}` must be one of `bandit`, `median_stopping`, `truncation_selection`",
                    join(path, "type")
                ),
            );
            return None;
        }
    };
    let mut value = shape::read(node, path, policy, problems)?;
    value["type"] = json!(kind.unwrap_or_default());
    Some(value)
}

/// Every `${{inputs.x}}`, `${{outputs.x}}` and `${{search_space.x}}` of an inline trial's
/// command names an input or output of the sweep, or a parameter of its search space.
fn check_trial_bindings(
    command: &Located<String>,
    inputs: &std::collections::BTreeMap<String, crate::model::JobInput>,
    outputs: &std::collections::BTreeMap<String, Option<crate::model::JobOutput>>,
    settings: &SweepSettings,
    problems: &mut Problems,
) {
    use crate::model::binding::{self, Target};
    for found in binding::bindings(&command.value) {
        let (name, section, known): (&str, &str, Vec<&str>) = match found.target() {
            Target::Input(n) => (n, "inputs", inputs.keys().map(String::as_str).collect()),
            Target::Output(n) => (n, "outputs", outputs.keys().map(String::as_str).collect()),
            Target::SearchSpace(n) => (
                n,
                "search_space",
                settings.search_space.keys().map(String::as_str).collect(),
            ),
            _ => continue,
        };
        if known.contains(&name) {
            continue;
        }
        let mut diagnostic = Diagnostic::error(format!(
            "the trial's command uses `${{{{{}}}}}`, but the sweep declares no `{section}.{name}`",
            found.expr
        ))
        .at(&command.loc)
        .field("trial.command");
        if let Some(s) = did_you_mean(name, known.iter().copied()) {
            diagnostic = diagnostic.hint(format!("did you mean `${{{{{section}.{s}}}}}`?"));
        }
        problems.push(diagnostic);
    }
}

#[cfg(test)]
mod tests {
    use crate::manifest::read_text;
    use crate::model::{JobBody, Spec};

    const SWEEP: &str = "type: sweep\ntrial:\n  command: python t.py --a ${{search_space.a}} --b ${{inputs.b}}\n  environment: azureml:AzureML-sklearn-1.5@latest\ninputs:\n  b: 1\nsearch_space:\n  a:\n    type: choice\n    values: [1, 2]\nobjective:\n  goal: minimize\n  primary_metric: loss\nlimits:\n  max_total_trials: 4\n";

    fn read(text: &str) -> crate::manifest::Manifest {
        read_text(std::path::Path::new("/nonexistent/s/sweep.yml"), text)
    }

    #[test]
    fn reads_a_sweep() {
        let manifest = read(SWEEP);
        assert!(!manifest.has_errors(), "{:?}", manifest.diagnostics);
        let Spec::Job(job) = &manifest.resources[0].spec else {
            panic!("a job")
        };
        let JobBody::Sweep(sweep) = &job.body else {
            panic!("a sweep")
        };
        assert_eq!(sweep.settings.max_total_trials(), Some(4));
        assert_eq!(
            sweep.settings.sampling_algorithm,
            serde_json::json!("random")
        );
    }

    #[test]
    fn distributions_and_trial_bindings_are_checked() {
        let text = SWEEP
            .replace(
                "type: choice\n    values: [1, 2]",
                "type: uniformm\n    min_value: 1",
            )
            .replace("${{inputs.b}}", "${{inputs.c}}");
        let manifest = read(&text);
        let messages: Vec<String> = manifest
            .diagnostics
            .errors()
            .map(|d| format!("{} {:?}", d.message, d.hints))
            .collect();
        for expected in [
            "must be a distribution",
            "did you mean `uniform`?",
            "the sweep declares no `inputs.c`",
        ] {
            assert!(
                messages.iter().any(|m| m.contains(expected)),
                "{expected:?} not in {messages:#?}"
            );
        }
        let missing = read(&SWEEP.replace("limits:\n  max_total_trials: 4\n", ""));
        assert!(
            missing
                .diagnostics
                .errors()
                .any(|d| d.message == "missing required key `limits` in a sweep job")
        );
    }
}
