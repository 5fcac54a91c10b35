//! The end-to-end flow on the embedded local workspace, through the binary: plan, apply,
//! re-apply, changes, conflicts, failures and located errors.

mod support;

use support::Project;

const ENV: &str = "name: env\nversion: 1\nimage: python:3.11\n";
const COMPUTE: &str = "name: cpu\ntype: amlcompute\nmax_instances: 2\n";

#[test]
fn quickstart_applies_runs_and_then_changes_nothing() {
    let project = Project::example("quickstart");

    let plan = project.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 2, "{}", plan.both());
    assert!(
        plan.stdout.contains("Plan: 4 to create, 1 to submit."),
        "{}",
        plan.stdout
    );
    assert!(
        !project.database().exists(),
        "plan must not create the workspace"
    );

    let apply = project.run(&["apply", "--auto-approve"]);
    assert_eq!(apply.code, 0, "{}", apply.both());
    assert!(apply.stderr.contains("accuracy: 0.967"), "{}", apply.stderr);
    let jobs = project.jobs();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0]["status"], "Completed");
    let model = std::fs::read_dir(project.path().join(".amlops/runs"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    assert!(model.join("outputs/model/model.json").is_file());
    assert!(model.join("outputs/model/metrics.json").is_file());

    let before = project.database_bytes();
    let again = project.run(&["apply", "--auto-approve"]);
    assert_eq!(again.code, 0, "{}", again.both());
    assert!(again.stdout.starts_with("No changes."), "{}", again.stdout);
    assert!(
        project.database_bytes() == before,
        "a second apply must write nothing"
    );
    let plan = project.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{}", plan.both());
}

#[test]
fn a_changed_script_runs_exactly_one_new_job() {
    let project = Project::example("quickstart");
    assert_eq!(project.run(&["apply", "--auto-approve"]).code, 0);

    project.append("src/train.py", "\n# tuned\n");
    let plan = project.run(&["plan", "--json"]);
    assert_eq!(plan.code, 0, "{}", plan.both());
    let plan: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap();
    let actions: Vec<(String, String)> = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["action"] != "no_op")
        .map(|c| {
            (
                c["kind"].as_str().unwrap().to_owned(),
                c["action"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        vec![
            ("code".into(), "create".into()),
            ("job".into(), "submit".into())
        ]
    );

    assert_eq!(project.run(&["apply", "--auto-approve"]).code, 0);
    let jobs = project.jobs();
    assert_eq!(jobs.len(), 2);
    assert!(jobs.iter().all(|j| j["status"] == "Completed"));
    assert!(project.run(&["plan"]).stdout.starts_with("No changes."));
}

#[test]
fn a_version_conflict_is_planned_and_refused() {
    let project = Project::empty();
    project.write(
        "env.yml",
        "name: env\nversion: 1\nimage: python:3.11\nconda_file: conda.yml\n",
    );
    project.write("conda.yml", "dependencies:\n- python=3.11\n");
    assert_eq!(project.run(&["apply", "--auto-approve"]).code, 0);

    project.write("conda.yml", "dependencies:\n- python=3.12\n");
    let plan = project.run(&["plan"]);
    assert_eq!(plan.code, 1, "{}", plan.both());
    assert!(
        plan.stdout
            .contains("conflict: version 1 already exists with different conda_file"),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout.contains("-- python=3.11") && plan.stdout.contains("+- python=3.12"),
        "{}",
        plan.stdout
    );
    assert!(plan.stdout.contains("set `version: 2`"), "{}", plan.stdout);

    let before = project.database_bytes();
    let apply = project.run(&["apply", "--auto-approve"]);
    assert_eq!(apply.code, 1, "{}", apply.both());
    assert!(apply.stderr.contains("conflicts"), "{}", apply.stderr);
    assert!(
        project.database_bytes() == before,
        "a refused apply writes nothing"
    );
}

#[test]
fn version_auto_follows_the_content() {
    let project = Project::empty();
    project.write(
        "data.yml",
        "name: samples\nversion: auto\ntype: uri_folder\npath: ./samples\n",
    );
    project.write("samples/a.csv", "x,y\n1,2\n");
    project.write("samples/b.csv", "x,y\n3,4\n");
    assert_eq!(project.run(&["apply", "--auto-approve"]).code, 0);
    let first = versions(&project, "samples");
    assert_eq!(first.len(), 1);
    assert_eq!(
        first[0].len(),
        12,
        "an auto version is a short content hash"
    );

    // Touching files (new modification times) changes nothing.
    project.write("samples/a.csv", "x,y\n1,2\n");
    let plan = project.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "{}", plan.both());

    project.write("samples/b.csv", "x,y\n3,5\n");
    let plan = project.run(&["plan"]);
    assert!(
        plan.stdout.contains("Plan: 1 new version."),
        "{}",
        plan.stdout
    );
    assert_eq!(project.run(&["apply", "--auto-approve"]).code, 0);
    let second = versions(&project, "samples");
    assert_eq!(second.len(), 2);
    assert!(second.contains(&first[0]), "the old version stays");
}

fn versions(project: &Project, name: &str) -> Vec<String> {
    let show = project.show();
    show["assets"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == name)
        .map(|d| {
            d["versions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v["version"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn unset_versions_reuse_the_latest_or_take_the_next() {
    let project = Project::empty();
    project.write("data.yml", "name: numbers\ntype: uri_file\npath: ./n.csv\n");
    project.write("n.csv", "1\n");
    assert_eq!(project.run(&["apply", "--auto-approve"]).code, 0);
    assert_eq!(versions(&project, "numbers"), vec!["1"]);
    assert!(project.run(&["plan"]).stdout.starts_with("No changes."));
    project.write("n.csv", "2\n");
    let plan = project.run(&["plan"]);
    assert!(
        plan.stdout
            .contains("new version: the content differs from the latest version"),
        "{}",
        plan.stdout
    );
    assert_eq!(project.run(&["apply", "--auto-approve"]).code, 0);
    assert_eq!(versions(&project, "numbers"), vec!["1", "2"]);
}

#[test]
fn a_failing_job_fails_apply_and_shows_its_log() {
    let project = Project::empty();
    project.write("env.yml", ENV).write("compute.yml", COMPUTE).write(
        "job.yml",
        "command: echo starting && echo the data is missing >&2 && exit 3\nenvironment: azureml:env:1\ncompute: azureml:cpu\n",
    );
    let apply = project.run(&["apply", "--auto-approve"]);
    assert_eq!(apply.code, 1, "{}", apply.both());
    assert!(apply.stderr.contains("ended Failed"), "{}", apply.stderr);
    assert!(
        apply.stderr.contains("the data is missing"),
        "{}",
        apply.stderr
    );
    assert_eq!(project.jobs()[0]["status"], "Failed");
    let name = project.jobs()[0]["name"].as_str().unwrap().to_owned();
    let logs = project.run(&["logs", &name]);
    assert!(logs.stdout.contains("starting"), "{}", logs.both());
    // The failed specification is not resubmitted by the next apply.
    assert!(project.run(&["plan"]).stdout.starts_with("No changes."));
}

#[test]
fn jobs_get_inputs_outputs_and_environment_variables() {
    let project = Project::empty();
    project.write("env.yml", ENV).write(
        "data.yml",
        "name: words\ntype: uri_file\npath: ./words.txt\n",
    );
    project.write("words.txt", "alpha\nbeta\n");
    project.write(
        "job.yml",
        "command: >-\n  cat ${{inputs.words}} > ${{outputs.out}}/copy.txt &&\n  echo \"$GREETING ${{inputs.n}}\"\nenvironment: azureml:env@latest\ninputs:\n  words:\n    type: uri_file\n    path: azureml:words@latest\n  n: 3\noutputs:\n  out:\n    type: uri_folder\nenvironment_variables:\n  GREETING: hello\n",
    );
    let apply = project.run(&["apply", "--auto-approve"]);
    assert_eq!(apply.code, 0, "{}", apply.both());
    assert!(apply.stderr.contains("hello 3"), "{}", apply.stderr);
    let runs = std::fs::read_dir(project.path().join(".amlops/runs"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    assert_eq!(
        std::fs::read_to_string(runs.join("outputs/out/copy.txt")).unwrap(),
        "alpha\nbeta\n"
    );
}

#[test]
fn apply_refuses_without_a_terminal_or_approval() {
    let project = Project::empty();
    project.write("env.yml", ENV);
    let apply = project.run(&["apply"]);
    assert_eq!(apply.code, 1);
    assert!(
        apply.stderr.contains("pass --auto-approve"),
        "{}",
        apply.stderr
    );
    assert!(!project.database().exists());
}

#[test]
fn bad_yaml_is_located() {
    let project = Project::empty();
    project.write("env.yml", "name: env\nimage: [python\nversion: 1\n");
    let plan = project.run(&["plan"]);
    assert_eq!(plan.code, 1);
    assert!(
        plan.stderr.contains("error: invalid YAML"),
        "{}",
        plan.stderr
    );
    assert!(plan.stderr.contains("env.yml:3:"), "{}", plan.stderr);
    assert!(plan.stderr.contains("3 | version: 1"), "{}", plan.stderr);
}

#[test]
fn unknown_keys_are_located_with_a_suggestion() {
    let project = Project::empty();
    project.write("env.yml", ENV);
    project.write(
        "job.yml",
        "comand: echo hi\ncommand: echo hi\nenvironment: azureml:env:1\n",
    );
    let plan = project.run(&["plan"]);
    assert_eq!(plan.code, 1, "{}", plan.both());
    assert!(
        plan.stderr
            .contains("unknown key `comand` in a command job"),
        "{}",
        plan.stderr
    );
    assert!(plan.stderr.contains("job.yml:1:1"), "{}", plan.stderr);
    assert!(
        plan.stderr.contains("1 | comand: echo hi\n  | ^^^^^^"),
        "{}",
        plan.stderr
    );
    assert!(
        plan.stderr.contains("did you mean `command`?"),
        "{}",
        plan.stderr
    );
}

#[test]
fn missing_files_are_located() {
    let project = Project::empty();
    project.write(
        "env.yml",
        "name: env\nversion: 1\nimage: python\nconda_file: nowhere.yml\n",
    );
    project.write("data.yml", "name: d\ntype: uri_file\npath: ./absent.csv\n");
    let plan = project.run(&["plan"]);
    assert_eq!(plan.code, 1, "{}", plan.both());
    assert!(
        plan.stderr.contains("cannot read conda file `nowhere.yml`"),
        "{}",
        plan.stderr
    );
    assert!(plan.stderr.contains("env.yml:4:13"), "{}", plan.stderr);
    assert!(
        plan.stderr.contains("`path` `./absent.csv` does not exist"),
        "{}",
        plan.stderr
    );
    assert!(plan.stderr.contains("data.yml:3:7"), "{}", plan.stderr);
    assert!(
        plan.stderr.contains("2 errors in 2 files"),
        "{}",
        plan.stderr
    );
}

#[test]
fn unresolved_references_name_both_ends() {
    let project = Project::empty();
    project.write("env.yml", ENV);
    project.write(
        "job.yml",
        "command: echo hi\nenvironment: azureml:env:2\ncompute: azureml:gpu\n",
    );
    let plan = project.run(&["plan"]);
    assert_eq!(plan.code, 1, "{}", plan.both());
    assert!(
        plan.stderr.contains("job.job refers to environment `env:2`, which is neither declared in the manifests nor present in the local workspace"),
        "{}",
        plan.stderr
    );
    assert!(plan.stderr.contains("job.yml:2:14"), "{}", plan.stderr);
    assert!(
        plan.stderr.contains("known versions of `env`: 1"),
        "{}",
        plan.stderr
    );
    assert!(
        plan.stderr.contains("environment.env:1 is declared at"),
        "{}",
        plan.stderr
    );
    assert!(
        plan.stderr
            .contains("compute `gpu`, which is neither declared"),
        "{}",
        plan.stderr
    );
}

#[test]
fn yaml_that_is_no_resource_is_reported_not_skipped_silently() {
    let project = Project::empty();
    project.write("env.yml", ENV);
    project.write("notes.yaml", "owner: team-a\n");
    let plan = project.run(&["plan"]);
    assert_eq!(plan.code, 0, "{}", plan.both());
    assert!(
        plan.stderr
            .contains("warning: skipped: not an Azure ML resource"),
        "{}",
        plan.stderr
    );
    assert!(plan.stderr.contains("notes.yaml"), "{}", plan.stderr);
}

#[test]
fn only_plans_a_resource_and_what_it_needs() {
    let project = Project::example("quickstart");
    project.write(
        "extra-env.yml",
        "name: unrelated\nversion: 1\nimage: python:3.12\n",
    );
    let plan = project.run(&["plan", "--json", "--only", "job.train-job"]);
    assert_eq!(plan.code, 0, "{}", plan.both());
    let plan: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap();
    let mut addresses: Vec<&str> = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["address"].as_str().unwrap())
        .collect();
    addresses.sort();
    assert_eq!(addresses.len(), 5, "{addresses:?}");
    assert!(!addresses.contains(&"environment.unrelated:1"));

    let apply = project.run(&["apply", "--auto-approve", "--only", "data.iris"]);
    assert_eq!(apply.code, 0, "{}", apply.both());
    assert!(
        apply.stdout.contains("Plan: 1 to create."),
        "{}",
        apply.stdout
    );

    let unknown = project.run(&["plan", "--only", "data.irsi"]);
    assert_eq!(unknown.code, 1);
    assert!(
        unknown
            .stderr
            .contains("no resource `data.irsi` in the plan (did you mean `data.iris`?)"),
        "{}",
        unknown.stderr
    );
}
