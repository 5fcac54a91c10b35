//! `amlops validate` through the binary: every file reported with its location, `--json`,
//! exit status 0 or 1.

mod support;

use support::{Project, amlops};

const JOB: &str = "command: echo hi\nenvironment:\n  image: python:3.11\n";

const PIPELINE: &str = "\
type: pipeline
inputs:
  rows: 10
jobs:
  make:
    command: echo ${{inputs.rows}} > ${{outputs.out}}/rows.txt
    environment: azureml://registries/azureml/environments/sklearn-1.5/labels/latest
    inputs:
      rows: ${{parent.inputs.rows}}
    outputs:
      out:
  read:
    command: cat ${{inputs.table}}/rows.txt
    environment: azureml://registries/azureml/environments/sklearn-1.5/labels/latest
    inputs:
      table: ${{parent.jobs.make.outputs.out}}
";

fn broken_project() -> Project {
    let project = Project::empty();
    project
        .write("good.yml", JOB)
        .write(
            "typo.yml",
            "comand: echo hi\nenvironment:\n  image: python:3.11\n",
        )
        .write("syntax.yml", "name: x\ninputs: [1, 2\n")
        .write(
            "pipeline.yml",
            &PIPELINE.replace(
                "parent.jobs.make.outputs.out",
                "parent.jobs.mke.outputs.out",
            ),
        )
        .write("automl.yml", "type: automl\ntask: classification\n");
    project
}

#[test]
fn every_broken_file_is_reported_with_its_place() {
    let project = broken_project();
    let run = project.run(&["validate"]);
    assert_eq!(run.code, 1, "{}", run.both());
    for expected in [
        "typo.yml:1:1",
        "unknown key `comand` in a command job",
        "did you mean `command`?",
        "syntax.yml:2:9",
        "invalid YAML",
        "pipeline.yml:16:14",
        "the pipeline has no node `mke`",
        "did you mean `make`?",
        "automl.yml:1:7",
        "unsupported kind: AutoML job",
        "4 errors in 4 files of 5 files",
    ] {
        assert!(
            run.stderr.contains(expected),
            "missing {expected:?} in\n{}",
            run.stderr
        );
    }
    assert!(
        run.stderr.contains("1 | comand: echo hi\n  | ^^^^^^"),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout.is_empty(),
        "validate prints data only with --json"
    );
}

#[test]
fn json_reports_each_file() {
    let project = broken_project();
    let run = project.run(&["validate", "--json"]);
    assert_eq!(run.code, 1, "{}", run.both());
    let report: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON on stdout");
    assert_eq!(report["format_version"], "1");
    assert_eq!(report["valid"], false);
    assert_eq!(report["summary"]["files"], 5);
    // The misspelt required key is one error, not also a missing `command`.
    assert_eq!(report["summary"]["errors"], 4);
    let files = report["files"].as_array().expect("files");
    let by_name = |name: &str| {
        files
            .iter()
            .find(|f| f["path"].as_str().unwrap_or_default().ends_with(name))
            .unwrap_or_else(|| panic!("{name} is reported"))
            .clone()
    };
    let good = by_name("good.yml");
    assert_eq!(good["valid"], true);
    assert_eq!(good["resources"][0]["kind"], "job");
    let typo = by_name("typo.yml");
    assert_eq!(typo["valid"], false);
    let diagnostic = typo["diagnostics"]
        .as_array()
        .and_then(|d| d.iter().find(|d| d["field"] == "comand"))
        .expect("the misspelt key is reported");
    assert_eq!(
        (diagnostic["line"].as_u64(), diagnostic["column"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(
        diagnostic["hints"][0],
        "did you mean `command`? It is required."
    );
    assert_eq!(typo["diagnostics"].as_array().map(Vec::len), Some(1));
}

#[test]
fn valid_manifests_exit_zero() {
    let project = Project::empty();
    project
        .write("job.yml", JOB)
        .write("pipeline.yml", PIPELINE);
    let run = project.run(&["validate"]);
    assert_eq!(run.code, 0, "{}", run.both());
    assert!(
        run.stderr.contains("valid: 2 resources in 2 files"),
        "{}",
        run.stderr
    );
    let single = amlops(&["validate", "pipeline.yml"], project.path());
    assert_eq!(single.code, 0, "{}", single.both());
}

#[test]
fn linked_folders_are_read_once_and_never_outside_the_directory() {
    let project = Project::empty();
    project.write("job.yml", JOB).write("a/keep.txt", "");
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(
        outside.path().join("elsewhere.yml"),
        "name: elsewhere\nversion: 1\nimage: python:3.11\n",
    )
    .unwrap();
    // Two links back to the root: a loop that must neither hang nor declare the job twice.
    std::os::unix::fs::symlink("..", project.path().join("a/x")).unwrap();
    std::os::unix::fs::symlink("..", project.path().join("a/y")).unwrap();
    std::os::unix::fs::symlink(outside.path(), project.path().join("a/out")).unwrap();
    let run = project.run(&["validate"]);
    assert_eq!(run.code, 0, "{}", run.both());
    assert!(
        run.stderr.contains("valid: 1 resource in 1 file"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("skipped the linked folder a/x: its folder")
            && run.stderr.contains("a link loop"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("skipped the linked folder a/out: it leads out of the manifest directory"),
        "{}",
        run.stderr
    );
}

#[test]
fn limits_and_missing_paths_are_said_plainly() {
    let project = Project::empty();
    let mut bomb = String::from("l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..9 {
        let refs = vec![format!("*l{}", i - 1); 10].join(", ");
        bomb.push_str(&format!("l{i}: &l{i} [{refs}]\n"));
    }
    project.write("bomb.yml", &bomb).write(
        "big.yml",
        "name: cpu-cluster\ntype: amlcompute\nmax_instances: 99999999999999999999\n",
    );
    let run = project.run(&["validate"]);
    assert_eq!(run.code, 1, "{}", run.both());
    assert!(
        run.stderr
            .contains("YAML document refused: it expands to more than 250000 values"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("`max_instances` is too large: integers go up to 9223372036854775807"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("budget breached"), "{}", run.stderr);

    let missing = amlops(&["plan", "no-such-dir"], project.path());
    assert_eq!(missing.code, 1);
    assert_eq!(missing.stderr.trim(), "error: no-such-dir does not exist");
}
