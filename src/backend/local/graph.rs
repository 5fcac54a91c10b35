//! Running pipeline and sweep jobs on this machine, one command at a time.
//!
//! A pipeline runs node by node in dependency order: each command node runs its component's
//! command in a folder of its own, with `${{parent.jobs.<node>.outputs.<name>}}` bound to the
//! output folder the upstream node wrote, pipeline inputs bound to their values or local
//! copies, and pipeline outputs written to the pipeline's output folders. Pipeline components
//! run as nested graphs. A node of another kind (parallel, sweep, Spark, AutoML) cannot run
//! here: the pipeline fails before running anything, saying which node and why.
//!
//! A sweep runs its trials one after the other, at most `max_total_trials`, with parameters
//! drawn from the search space (every combination for `grid`; a pseudo-random draw seeded by
//! the job's name, or by the sampling algorithm's `seed`, otherwise). The objective is not
//! evaluated: metrics stay in the trials' own logs and outputs.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Map, Value};

use super::runner::{
    Prepared, Resolved, code_location, copy_files, ensure_outputs_folder, execute, io,
    literal_text, python_shim, resolve_uri, shell_word,
};
use super::store::Store;
use crate::backend::Result;
use crate::model::binding::{self, Target};
use crate::scope::Scope;

/// What every command of one job run shares.
struct Run<'a> {
    store: &'a mut Store,
    data_dir: &'a Path,
    scope: &'a Scope,
    /// The job being run: its status carries cancellation.
    name: String,
    log: &'a mut File,
}

/// Values of a pipeline's (or pipeline component's) ports: literal text, or local paths.
type Ports = BTreeMap<String, String>;

/// Runs a pipeline job; `Some(0)` when every node completed.
pub(super) fn run_pipeline(
    store: &mut Store,
    data_dir: &Path,
    scope: &Scope,
    job: &Value,
    run_dir: &Path,
    log: &mut File,
) -> Result<Option<i32>> {
    let properties = job.get("properties").cloned().unwrap_or(Value::Null);
    let name = job.get("name").and_then(Value::as_str).unwrap_or_default();
    let mut run = Run {
        store,
        data_dir,
        scope,
        name: name.to_owned(),
        log,
    };
    let jobs = properties
        .get("jobs")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    if let Some(reason) = unrunnable(&run, &jobs, "") {
        let _ = writeln!(
            run.log,
            "[amlops] the pipeline cannot run on the local workspace: {reason}"
        );
        return Ok(Some(1));
    }
    let inputs = top_level_inputs(&run, &properties)?;
    let mut outputs = Ports::new();
    if let Some(map) = properties.get("outputs").and_then(Value::as_object) {
        for (output, value) in map {
            let folder = output_folder(
                &run,
                value.get("uri"),
                &run_dir.join("outputs").join(output),
            )?;
            outputs.insert(output.clone(), folder.to_string_lossy().into_owned());
        }
    }
    run_graph(&mut run, &jobs, &inputs, &outputs, run_dir, "")
}

/// The first node (at any depth) that cannot run here, with the reason.
fn unrunnable(run: &Run<'_>, jobs: &Map<String, Value>, prefix: &str) -> Option<String> {
    for (name, node) in jobs {
        let path = format!("{prefix}{name}");
        let kind = node
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("command");
        if !matches!(kind, "command" | "pipeline") {
            return Some(format!(
                "node `{path}` is a {kind} node, which runs only on Azure (command and pipeline nodes run here)"
            ));
        }
        let spec = match component_spec(run, node) {
            Ok(spec) => spec,
            Err(reason) => return Some(format!("node `{path}`: {reason}")),
        };
        if kind == "pipeline" {
            let children = spec
                .get("jobs")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            if let Some(reason) = unrunnable(run, &children, &format!("{path}.")) {
                return Some(reason);
            }
        }
    }
    None
}

/// The specification of the component a node runs, from the workspace.
fn component_spec(run: &Run<'_>, node: &Value) -> std::result::Result<Value, String> {
    let id = node
        .get("componentId")
        .and_then(Value::as_str)
        .ok_or("it names no component")?;
    let relative = run
        .scope
        .relative(id)
        .ok_or_else(|| format!("its component {id} is not in this workspace"))?;
    let component = run
        .store
        .get(&run.scope.id(), relative)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("its component {relative} does not exist"))?;
    component
        .pointer("/properties/componentSpec")
        .cloned()
        .ok_or_else(|| format!("component {relative} has no specification"))
}

fn top_level_inputs(run: &Run<'_>, properties: &Value) -> Result<Ports> {
    let mut ports = Ports::new();
    let Some(map) = properties.get("inputs").and_then(Value::as_object) else {
        return Ok(ports);
    };
    for (name, input) in map {
        let value = match input.get("jobInputType").and_then(Value::as_str) {
            Some("literal") => input.get("value").map(literal_text).unwrap_or_default(),
            _ => local_text(
                run,
                input.get("uri").and_then(Value::as_str).unwrap_or_default(),
            )?,
        };
        ports.insert(name.clone(), value);
    }
    Ok(ports)
}

/// A URI as a local path where the workspace holds its content, else as written.
fn local_text(run: &Run<'_>, uri: &str) -> Result<String> {
    Ok(
        match resolve_uri(run.store, run.data_dir, run.scope, uri)? {
            Resolved::Local(path) => path.to_string_lossy().into_owned(),
            Resolved::Remote(uri) => uri,
        },
    )
}

fn output_folder(run: &Run<'_>, uri: Option<&Value>, fallback: &Path) -> Result<PathBuf> {
    let folder = match uri.and_then(Value::as_str) {
        Some(uri) if !uri.contains("${{") => {
            match resolve_uri(run.store, run.data_dir, run.scope, uri)? {
                Resolved::Local(path) => path,
                Resolved::Remote(_) => fallback.to_path_buf(),
            }
        }
        _ => fallback.to_path_buf(),
    };
    std::fs::create_dir_all(&folder).map_err(io(&folder))?;
    Ok(folder)
}

/// The nodes in an order where every node comes after the nodes whose outputs it reads.
fn order(jobs: &Map<String, Value>) -> Vec<String> {
    let depends: BTreeMap<&String, BTreeSet<String>> = jobs
        .iter()
        .map(|(name, node)| (name, upstream(node)))
        .collect();
    let mut done: Vec<String> = Vec::new();
    while done.len() < jobs.len() {
        let next = depends
            .iter()
            .find(|(name, deps)| {
                !done.contains(name)
                    && deps
                        .iter()
                        .all(|d| done.contains(d) || !jobs.contains_key(d))
            })
            .map(|(name, _)| (*name).clone());
        match next {
            Some(name) => done.push(name),
            // A cycle (the reader refuses them): run the rest in name order.
            None => done.extend(
                jobs.keys()
                    .filter(|k| !done.contains(k))
                    .cloned()
                    .collect::<Vec<_>>(),
            ),
        }
    }
    done
}

/// The nodes whose outputs `node` reads.
fn upstream(node: &Value) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let inputs = node.get("inputs").and_then(Value::as_object);
    for input in inputs.into_iter().flat_map(|m| m.values()) {
        let text = input
            .get("value")
            .and_then(Value::as_str)
            .unwrap_or_default();
        for b in binding::bindings(text) {
            if let Target::Node { node, .. } = b.target() {
                found.insert(node.to_owned());
            }
        }
    }
    found
}

fn run_graph(
    run: &mut Run<'_>,
    jobs: &Map<String, Value>,
    inputs: &Ports,
    outputs: &Ports,
    dir: &Path,
    prefix: &str,
) -> Result<Option<i32>> {
    let mut produced: BTreeMap<(String, String), String> = BTreeMap::new();
    for name in order(jobs) {
        let node = &jobs[&name];
        let path = format!("{prefix}{name}");
        let spec = component_spec(run, node).unwrap_or(Value::Null);
        let node_dir = dir.join("nodes").join(&name);
        let bound = node_inputs(run, node, &spec, inputs, &produced)?;
        let written = node_outputs(run, node, &spec, outputs, &node_dir)?;
        for (output, folder) in &written {
            produced.insert((name.clone(), output.clone()), folder.clone());
        }
        let _ = writeln!(run.log, "[amlops] node `{path}`: starting");
        let code = match spec.get("type").and_then(Value::as_str) {
            Some("pipeline") => {
                let children = spec
                    .get("jobs")
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default();
                run_graph(
                    run,
                    &children,
                    &bound,
                    &written,
                    &node_dir,
                    &format!("{path}."),
                )?
            }
            _ => run_command_node(run, node, &spec, &bound, &written, &node_dir)?,
        };
        match code {
            Some(0) => {
                let _ = writeln!(run.log, "[amlops] node `{path}`: completed");
            }
            other => {
                let _ = writeln!(
                    run.log,
                    "[amlops] node `{path}`: {}; the nodes after it do not run",
                    other.map_or("stopped".to_owned(), |c| format!(
                        "failed with exit status {c}"
                    ))
                );
                return Ok(other.or(None));
            }
        }
    }
    Ok(Some(0))
}

/// The values of a node's inputs: what the node sets, else the component's defaults. Inputs
/// bound to nothing stay unbound, so that optional fragments (`$[[…]]`) using them drop out.
fn node_inputs(
    run: &Run<'_>,
    node: &Value,
    spec: &Value,
    parent: &Ports,
    produced: &BTreeMap<(String, String), String>,
) -> Result<Ports> {
    let mut values = Ports::new();
    if let Some(declared) = spec.get("inputs").and_then(Value::as_object) {
        for (name, port) in declared {
            if let Some(default) = port.get("default") {
                values.insert(name.clone(), literal_text(default));
            }
        }
    }
    let Some(map) = node.get("inputs").and_then(Value::as_object) else {
        return Ok(values);
    };
    for (name, input) in map {
        let value = match input.get("job_input_type").and_then(Value::as_str) {
            Some("literal") => {
                let text = input.get("value").map(literal_text).unwrap_or_default();
                bind(&text, parent, produced)
            }
            _ => Some(local_text(
                run,
                input.get("uri").and_then(Value::as_str).unwrap_or_default(),
            )?),
        };
        match value {
            Some(value) => {
                values.insert(name.clone(), value);
            }
            None => {
                values.remove(name);
            }
        }
    }
    Ok(values)
}

/// A node input's text with its `${{parent.…}}` bindings replaced; `None` when it is bound to
/// an input nobody set.
fn bind(
    text: &str,
    parent: &Ports,
    produced: &BTreeMap<(String, String), String>,
) -> Option<String> {
    let mut unbound = false;
    let result = binding::substitute(text, |b| {
        let value = match b.target() {
            Target::ParentInput(name) => parent.get(name).cloned(),
            Target::Node {
                node,
                port,
                output: true,
            } => produced.get(&(node.to_owned(), port.to_owned())).cloned(),
            _ => return None,
        };
        if value.is_none() {
            unbound = true;
        }
        value
    });
    (!unbound).then_some(result)
}

/// The folders a node writes its outputs to: the pipeline's own outputs where the node binds
/// them, the datastore path a node names, else folders of the node's own.
fn node_outputs(
    run: &Run<'_>,
    node: &Value,
    spec: &Value,
    parent: &Ports,
    dir: &Path,
) -> Result<Ports> {
    let mut folders = Ports::new();
    let declared = spec
        .get("outputs")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let settings = node
        .get("outputs")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for (name, port) in &declared {
        let fallback = dir.join("outputs").join(name);
        let setting = settings.get(name);
        let bound = setting
            .and_then(|s| s.get("value"))
            .and_then(Value::as_str)
            .and_then(|v| binding::bindings(v).into_iter().next())
            .and_then(|b| match b.target() {
                Target::ParentOutput(name) => parent.get(name).cloned(),
                _ => None,
            });
        let folder = match bound {
            Some(folder) => PathBuf::from(folder),
            None => output_folder(run, setting.and_then(|s| s.get("uri")), &fallback)?,
        };
        let is_file = port.get("type").and_then(Value::as_str) == Some("uri_file");
        let dir_to_make = if is_file {
            folder
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or(folder.clone())
        } else {
            folder.clone()
        };
        std::fs::create_dir_all(&dir_to_make).map_err(io(&dir_to_make))?;
        folders.insert(name.clone(), folder.to_string_lossy().into_owned());
    }
    Ok(folders)
}

fn run_command_node(
    run: &mut Run<'_>,
    node: &Value,
    spec: &Value,
    inputs: &Ports,
    outputs: &Ports,
    dir: &Path,
) -> Result<Option<i32>> {
    let code_dir = dir.join("code");
    std::fs::create_dir_all(&code_dir).map_err(io(&code_dir))?;
    if let Some(code) = spec.get("code").and_then(Value::as_str) {
        let id = code.strip_prefix("azureml:").unwrap_or(code);
        copy_code(run, id, &code_dir)?;
    }
    ensure_outputs_folder(&code_dir)?;
    let command = spec
        .get("command")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let command = substitute(command, inputs, outputs, &Ports::new(), &run.name);
    let env = environment(node.get("environment_variables"), &run.name, dir)?;
    let timeout = node
        .pointer("/limits/timeout")
        .and_then(|t| {
            t.as_str()
                .and_then(crate::translate::parse_iso_duration)
                .or(t.as_i64())
        })
        .filter(|s| *s > 0)
        .map(|s| Duration::from_secs(s as u64));
    let _ = writeln!(run.log, "[amlops] $ {command}");
    let prepared = Prepared {
        command,
        working_dir: code_dir,
        env,
        timeout,
    };
    let name = run.name.clone();
    execute(run.store, run.scope, &name, &prepared, run.log)
}

fn copy_code(run: &Run<'_>, code_id: &str, into: &Path) -> Result<()> {
    let source = code_location(run.store, run.data_dir, run.scope, code_id)?;
    let set = crate::content::list(&source)?;
    let dest = if set.is_dir {
        into.to_path_buf()
    } else {
        into.join(&set.files[0].relative)
    };
    copy_files(&set, &dest)
}

/// A command with `${{inputs.x}}`, `${{outputs.x}}` and `${{search_space.x}}` replaced by
/// shell words; optional fragments whose inputs are unbound drop out.
fn substitute(command: &str, inputs: &Ports, outputs: &Ports, space: &Ports, name: &str) -> String {
    binding::substitute(command, |b| match b.target() {
        Target::Input(n) => inputs.get(n).map(|v| shell_word(v)),
        Target::Output(n) => outputs.get(n).map(|v| shell_word(v)),
        Target::SearchSpace(n) => space.get(n).map(|v| shell_word(v)),
        Target::RunTime("name") => Some(name.to_owned()),
        _ => None,
    })
}

fn environment(variables: Option<&Value>, name: &str, dir: &Path) -> Result<Vec<(String, String)>> {
    let mut env: Vec<(String, String)> = variables
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), literal_text(v)))
                .collect()
        })
        .unwrap_or_default();
    env.push(("AZUREML_RUN_ID".into(), name.to_owned()));
    env.push(("AMLOPS_RUN_DIR".into(), dir.to_string_lossy().into_owned()));
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    if let Some(path) = python_shim(dir)? {
        env.push(("PATH".into(), path));
    }
    Ok(env)
}

/// Runs a sweep's trials one after the other; `Some(0)` when at least one completed.
pub(super) fn run_sweep(
    store: &mut Store,
    data_dir: &Path,
    scope: &Scope,
    job: &Value,
    run_dir: &Path,
    log: &mut File,
) -> Result<Option<i32>> {
    let properties = job.get("properties").cloned().unwrap_or(Value::Null);
    let name = job.get("name").and_then(Value::as_str).unwrap_or_default();
    let mut run = Run {
        store,
        data_dir,
        scope,
        name: name.to_owned(),
        log,
    };
    let trial = properties.get("trial").cloned().unwrap_or(Value::Null);
    if trial.get("command").is_none() {
        let _ = writeln!(
            run.log,
            "[amlops] the sweep cannot run on the local workspace: its trial is a registered component"
        );
        return Ok(Some(1));
    }
    let inputs = top_level_inputs(&run, &properties)?;
    let trials = draw(
        properties.get("searchSpace"),
        properties.get("samplingAlgorithm"),
        max_trials(&properties),
        name,
    );
    let _ = writeln!(
        run.log,
        "[amlops] running {} trial(s) one after the other; the objective is not evaluated here",
        trials.len()
    );
    let mut completed = 0;
    let mut last = None;
    for (i, parameters) in trials.iter().enumerate() {
        let dir = run_dir.join("trials").join(i.to_string());
        let shown: Vec<String> = parameters.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let _ = writeln!(run.log, "[amlops] trial {i}: {}", shown.join(" "));
        let mut outputs = Ports::new();
        if let Some(map) = properties.get("outputs").and_then(Value::as_object) {
            for output in map.keys() {
                let folder = dir.join("outputs").join(output);
                std::fs::create_dir_all(&folder).map_err(io(&folder))?;
                outputs.insert(output.clone(), folder.to_string_lossy().into_owned());
            }
        }
        let code = run_trial(&mut run, &trial, &inputs, &outputs, parameters, &dir)?;
        let _ = writeln!(
            run.log,
            "[amlops] trial {i}: {}",
            match code {
                Some(0) => "completed".to_owned(),
                Some(c) => format!("failed with exit status {c}"),
                None => "stopped".to_owned(),
            }
        );
        if code.is_none() {
            return Ok(None);
        }
        if code == Some(0) {
            completed += 1;
        }
        last = code;
    }
    std::fs::write(
        run_dir.join("trials.json"),
        serde_json::to_string_pretty(&trials).unwrap_or_default(),
    )
    .map_err(io(run_dir))?;
    Ok(if completed > 0 || trials.is_empty() {
        Some(0)
    } else {
        last
    })
}

fn max_trials(properties: &Value) -> usize {
    properties
        .pointer("/limits/maxTotalTrials")
        .and_then(Value::as_u64)
        .unwrap_or(1)
        .clamp(1, 1000) as usize
}

fn run_trial(
    run: &mut Run<'_>,
    trial: &Value,
    inputs: &Ports,
    outputs: &Ports,
    parameters: &Ports,
    dir: &Path,
) -> Result<Option<i32>> {
    let code_dir = dir.join("code");
    std::fs::create_dir_all(&code_dir).map_err(io(&code_dir))?;
    if let Some(code) = trial.get("codeId").and_then(Value::as_str) {
        copy_code(run, code, &code_dir)?;
    }
    ensure_outputs_folder(&code_dir)?;
    let command = trial
        .get("command")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let command = substitute(command, inputs, outputs, parameters, &run.name);
    let env = environment(trial.get("environmentVariables"), &run.name, dir)?;
    let _ = writeln!(run.log, "[amlops] $ {command}");
    let prepared = Prepared {
        command,
        working_dir: code_dir,
        env,
        timeout: None,
    };
    let name = run.name.clone();
    execute(run.store, run.scope, &name, &prepared, run.log)
}

/// The parameters of each trial: every combination of the choices for `grid`, else `count`
/// pseudo-random draws.
fn draw(space: Option<&Value>, sampling: Option<&Value>, count: usize, name: &str) -> Vec<Ports> {
    let space: Vec<(String, String, Vec<Value>)> = space
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(param, expression)| {
            let kind = expression.get(0)?.as_str()?.to_owned();
            let arguments = expression.get(1)?.as_array()?.clone();
            Some((param.clone(), kind, arguments))
        })
        .collect();
    let algorithm = sampling
        .and_then(|s| s.get("samplingAlgorithmType"))
        .and_then(Value::as_str)
        .unwrap_or("Random");
    if algorithm == "Grid" {
        return grid(&space, count);
    }
    let seed = sampling
        .and_then(|s| s.get("seed"))
        .and_then(Value::as_u64)
        .unwrap_or_else(|| {
            name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
            })
        });
    let mut random = SplitMix(seed);
    (0..count)
        .map(|_| {
            space
                .iter()
                .map(|(param, kind, arguments)| {
                    (param.clone(), sample(kind, arguments, &mut random))
                })
                .collect()
        })
        .collect()
}

fn grid(space: &[(String, String, Vec<Value>)], count: usize) -> Vec<Ports> {
    let mut trials = vec![Ports::new()];
    for (param, _, arguments) in space {
        let values = arguments
            .first()
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        trials = trials
            .into_iter()
            .flat_map(|trial| {
                values.iter().map(move |value| {
                    let mut next = trial.clone();
                    next.insert(param.clone(), literal_text(value));
                    next
                })
            })
            .take(count)
            .collect();
    }
    trials
}

/// A small deterministic generator (SplitMix64), so that a sweep's trials are reproducible.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A float in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn sample(kind: &str, arguments: &[Value], random: &mut SplitMix) -> String {
    let number = |i: usize| arguments.get(i).and_then(Value::as_f64).unwrap_or(0.0);
    let quantize = |x: f64, q: f64| if q > 0.0 { (x / q).round() * q } else { x };
    let normal = |random: &mut SplitMix| {
        let (u, v) = (random.unit().max(f64::MIN_POSITIVE), random.unit());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    };
    let value = match kind {
        "choice" => {
            let values = arguments
                .first()
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if values.is_empty() {
                return String::new();
            }
            let i = (random.next() % values.len() as u64) as usize;
            return literal_text(&values[i]);
        }
        "randint" => return (random.next() % (number(0).max(1.0) as u64)).to_string(),
        "uniform" => number(0) + random.unit() * (number(1) - number(0)),
        "quniform" => quantize(
            number(0) + random.unit() * (number(1) - number(0)),
            number(2),
        ),
        "loguniform" => (number(0) + random.unit() * (number(1) - number(0))).exp(),
        "qloguniform" => quantize(
            (number(0) + random.unit() * (number(1) - number(0))).exp(),
            number(2),
        ),
        "normal" => number(0) + number(1) * normal(random),
        "qnormal" => quantize(number(0) + number(1) * normal(random), number(2)),
        "lognormal" => (number(0) + number(1) * normal(random)).exp(),
        "qlognormal" => quantize((number(0) + number(1) * normal(random)).exp(), number(2)),
        _ => 0.0,
    };
    crate::manifest::node::python_float_repr(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nodes_run_after_what_they_read() {
        let jobs = json!({
            "b": {"inputs": {"x": {"job_input_type": "literal", "value": "${{parent.jobs.a.outputs.o}}"}}},
            "a": {"inputs": {"y": {"job_input_type": "literal", "value": "${{parent.inputs.y}}"}}},
            "c": {"inputs": {"x": {"job_input_type": "literal", "value": "${{parent.jobs.b.outputs.o}}"}}},
        });
        assert_eq!(order(jobs.as_object().unwrap()), vec!["a", "b", "c"]);
    }

    #[test]
    fn unbound_inputs_stay_unbound() {
        let parent = Ports::from([("set".to_owned(), "1".to_owned())]);
        let produced = BTreeMap::new();
        assert_eq!(
            bind("${{parent.inputs.set}}", &parent, &produced).as_deref(),
            Some("1")
        );
        assert_eq!(bind("${{parent.inputs.unset}}", &parent, &produced), None);
        assert_eq!(bind("plain", &parent, &produced).as_deref(), Some("plain"));
    }

    #[test]
    fn draws_are_reproducible_and_inside_the_space() {
        let space = json!({"b": ["choice", [["x", "y"]]], "c": ["uniform", [0.1, 1.0]], "n": ["randint", [5]]});
        let first = draw(Some(&space), None, 4, "job");
        assert_eq!(first, draw(Some(&space), None, 4, "job"));
        assert_eq!(first.len(), 4);
        for trial in &first {
            assert!(["x", "y"].contains(&trial["b"].as_str()));
            let c: f64 = trial["c"].parse().unwrap();
            assert!((0.1..1.0).contains(&c), "{c}");
            assert!(trial["n"].parse::<u64>().unwrap() < 5);
        }
        let grid = draw(
            Some(&json!({"a": ["choice", [[1, 2]]], "b": ["choice", [["x", "y", "z"]]]})),
            Some(&json!({"samplingAlgorithmType": "Grid"})),
            5,
            "job",
        );
        assert_eq!(grid.len(), 5);
        assert_eq!(
            grid[0],
            Ports::from([("a".into(), "1".into()), ("b".into(), "x".into())])
        );
    }
}
