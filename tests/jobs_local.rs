//! Pipeline and sweep jobs on the embedded local workspace, through the binary: nodes run in
//! dependency order with outputs wired to inputs, components (from files, nested pipelines)
//! are registered anonymously, sweeps run their trials, and what cannot run here fails with a
//! line saying why.

mod support;

use support::Project;

const ENV: &str = "environment:\n      image: python:3.11";

fn pipeline() -> String {
    format!(
        "type: pipeline
inputs:
  greeting: hello
outputs:
  report:
    type: uri_folder
jobs:
  write:
    command: echo ${{{{inputs.text}}}} > ${{{{outputs.out}}}}/text.txt
    {ENV}
    inputs:
      text: ${{{{parent.inputs.greeting}}}}
    outputs:
      out:
  count:
    component: ./count.yml
    inputs:
      source: ${{{{parent.jobs.write.outputs.out}}}}
  nested:
    type: pipeline
    component: ./copy.yml
    inputs:
      source: ${{{{parent.jobs.count.outputs.counted}}}}
    outputs:
      copied: ${{{{parent.outputs.report}}}}
"
    )
}

const COUNT: &str = "type: command
name: count
inputs:
  source:
    type: uri_folder
  suffix:
    type: string
    default: words
  extra:
    type: string
    optional: true
outputs:
  counted:
    type: uri_folder
command: >-
  wc -w < ${{inputs.source}}/text.txt > ${{outputs.counted}}/count.txt &&
  echo ${{inputs.suffix}} >> ${{outputs.counted}}/count.txt
  $[[&& echo ${{inputs.extra}}]]
environment:
  image: python:3.11
";

const COPY: &str = "type: pipeline
name: copy
inputs:
  source:
    type: uri_folder
outputs:
  copied:
    type: uri_folder
jobs:
  cp:
    command: cp ${{inputs.from}}/count.txt ${{outputs.to}}/
    environment:
      image: python:3.11
    inputs:
      from: ${{parent.inputs.source}}
    outputs:
      to: ${{parent.outputs.copied}}
";

#[test]
fn a_pipeline_runs_node_by_node_and_then_changes_nothing() {
    let project = Project::empty();
    project
        .write("pipeline.yml", &pipeline())
        .write("count.yml", COUNT)
        .write("copy.yml", COPY);

    let plan = project.run(&["plan", "--json"]);
    assert_eq!(plan.code, 0, "{}", plan.both());
    let document: serde_json::Value = serde_json::from_str(&plan.stdout).expect("JSON plan");
    let components = document["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] == "component")
        .count();
    assert_eq!(
        components, 4,
        "three inline nodes and one file component, nested one included"
    );

    let apply = project.run(&["apply", "--auto-approve"]);
    assert_eq!(apply.code, 0, "{}", apply.both());
    let jobs = project.jobs();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0]["status"], "Completed", "{}", apply.stderr);
    let run = std::fs::read_dir(project.path().join(".amlops/runs"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let report = std::fs::read_to_string(run.join("outputs/report/count.txt"))
        .expect("the nested pipeline wrote the pipeline's output");
    assert_eq!(
        report.split_whitespace().collect::<Vec<_>>(),
        ["1", "words"]
    );
    let log = std::fs::read_to_string(run.join("std_log.txt")).unwrap();
    let order: Vec<usize> = ["node `write`", "node `count`", "node `nested.cp`"]
        .iter()
        .map(|n| log.find(&format!("[amlops] {n}: starting")).expect(n))
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{log}");

    let again = project.run(&["apply", "--auto-approve"]);
    assert!(again.stdout.starts_with("No changes."), "{}", again.both());

    project.write(
        "count.yml",
        &COUNT.replace("default: words", "default: tokens"),
    );
    let plan = project.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(
        plan.code,
        2,
        "a changed component makes a new pipeline run: {}",
        plan.both()
    );
}

#[test]
fn a_sweep_runs_its_trials() {
    let project = Project::empty();
    project
        .write("src/trial.py", "import sys\nprint('trial', sys.argv[1:])\n")
        .write(
            "sweep.yml",
            "type: sweep
trial:
  command: python trial.py --rate ${{search_space.rate}} --kind ${{search_space.kind}} --n ${{inputs.n}}
  code: src
  environment:
    image: python:3.11
inputs:
  n: 3
sampling_algorithm: grid
search_space:
  kind:
    type: choice
    values: [a, b, c]
  rate:
    type: choice
    values: [0.1, 0.2]
objective:
  goal: maximize
  primary_metric: accuracy
limits:
  max_total_trials: 4
",
        );
    let apply = project.run(&["apply", "--auto-approve"]);
    assert_eq!(apply.code, 0, "{}", apply.both());
    assert_eq!(project.jobs()[0]["status"], "Completed");
    let run = std::fs::read_dir(project.path().join(".amlops/runs"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let log = std::fs::read_to_string(run.join("std_log.txt")).unwrap();
    assert_eq!(log.matches("trial ['--rate'").count(), 4, "{log}");
    assert!(
        log.contains("trial ['--rate', '0.1', '--kind', 'a', '--n', '3']"),
        "{log}"
    );
    let trials: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("trials.json")).unwrap()).unwrap();
    assert_eq!(trials.as_array().map(Vec::len), Some(4));
}

#[test]
fn a_node_that_cannot_run_here_fails_the_pipeline_with_a_reason() {
    let project = Project::empty();
    project.write(
        "pipeline.yml",
        "type: pipeline
jobs:
  score:
    type: parallel
    input_data: ${{inputs.data}}
    inputs:
      data:
        type: uri_folder
        path: azureml://datastores/workspaceblobstore/paths/x/
    task:
      type: run_function
      entry_script: score.py
      environment:
        image: python:3.11
",
    );
    let apply = project.run(&["apply", "--auto-approve"]);
    assert_ne!(apply.code, 0, "{}", apply.both());
    assert_eq!(project.jobs()[0]["status"], "Failed");
    assert!(
        apply.both().contains(
            "the pipeline cannot run on the local workspace: node `score` is a parallel node, which runs only on Azure"
        ),
        "{}",
        apply.both()
    );
}

#[test]
fn code_beside_the_manifests_leaves_the_workspace_out() {
    let project = support::Project::empty();
    project.write(
        "job.yml",
        "command: ls -a\ncode: .\nenvironment:\n  image: python:3.11\n",
    );
    let first = project.run(&["apply", "--auto-approve"]);
    assert_eq!(first.code, 0, "{}", first.both());
    assert!(
        !first.both().contains(".amlops"),
        "the snapshot holds the workspace: {}",
        first.both()
    );
    let again = project.run(&["apply", "--auto-approve"]);
    assert_eq!(again.code, 0, "{}", again.both());
    assert!(again.stdout.contains("No changes."), "{}", again.both());
    // A data directory of another name inside the folder is passed over too, as content
    // and as manifests.
    for _ in 0..2 {
        let run = project.run(&["apply", "--auto-approve", "--data-dir", "state"]);
        assert_eq!(run.code, 0, "{}", run.both());
        assert!(!run.both().contains("workspace.db"), "{}", run.both());
    }
    let settled = project.run(&["plan", "--data-dir", "state"]);
    assert!(
        settled.stdout.starts_with("No changes."),
        "{}",
        settled.both()
    );
}
