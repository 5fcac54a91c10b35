//! The project file and KDL manifests through the real binary: targets plan as declared,
//! the quickstart in KDL plans as it does in YAML, errors point into the files, and `fmt`,
//! `convert` and `targets` do what they say.

mod support;

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;
use tempfile::TempDir;

fn amlops() -> Command {
    let mut command = Command::cargo_bin("amlops").expect("the amlops binary");
    command
        .env_remove("AMLOPS_TARGET")
        .env_remove("AMLOPS_DATA_DIR")
        .env("NO_COLOR", "1");
    command
}

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
}

/// Copies a directory, leaving out hidden entries (local workspaces).
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            copy_dir(&path, &to.join(&name));
        } else {
            std::fs::copy(&path, to.join(&name)).unwrap();
        }
    }
}

/// The environments example, with prod pointed at a second local workspace so that both
/// targets can be planned on this machine.
fn environments() -> (TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("environments");
    copy_dir(&examples().join("environments"), &dir);
    let project = std::fs::read_to_string(dir.join("amlops.kdl")).unwrap();
    let local_prod = project
        .replace(
            "workspace subscription=\"00000000-0000-0000-0000-000000000000\" resource-group=\"rg-iris-prod\" name=\"mlw-iris-prod\"",
            "local data-dir=\".amlops-prod\"",
        )
        .replace("    auth \"workload-identity\"\n", "");
    assert_ne!(
        project, local_prod,
        "the example's prod target changed: update this test"
    );
    std::fs::write(dir.join("amlops.kdl"), local_prod).unwrap();
    (tmp, dir)
}

fn plan_json(dir: &Path, args: &[&str]) -> Value {
    let output = amlops()
        .arg("plan")
        .arg(dir)
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

fn change<'p>(plan: &'p Value, address: &str) -> &'p Value {
    plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["address"] == address)
        .unwrap_or_else(|| panic!("no change for {address}"))
}

/// A field's new value and where it came from.
fn field<'p>(plan: &'p Value, address: &str, path: &str) -> (&'p Value, &'p Value) {
    let fields = change(plan, address)["fields"].as_array().unwrap();
    let field = fields
        .iter()
        .find(|f| f["path"] == path)
        .unwrap_or_else(|| panic!("no field {path} in {address}"));
    (&field["after"], &field["from"])
}

#[test]
fn dev_and_prod_plan_exactly_as_declared() {
    let (_tmp, dir) = environments();
    let dev = plan_json(&dir, &["--target", "dev"]);
    let prod = plan_json(&dir, &["--target", "prod"]);

    let (max, from) = field(&dev, "compute.cpu-cluster", "max_instances");
    assert_eq!(max, 1, "an integer variable stays an integer");
    assert_eq!(from["kind"], "variable");
    assert_eq!(from["variable"], "max_nodes");
    assert_eq!(from["target"], "dev");
    assert!(
        from["source"].as_str().unwrap().ends_with("amlops.kdl:21"),
        "{from}"
    );
    let (tier, from) = field(&dev, "compute.cpu-cluster", "tier");
    assert_eq!(
        (tier, &from["kind"], &from["target"]),
        (&"low_priority".into(), &"overlay".into(), &"dev".into())
    );
    assert_eq!(
        field(&dev, "compute.cpu-cluster", "idle_time_before_scale_down").0,
        60
    );
    let (size, from) = field(&dev, "compute.cpu-cluster", "size");
    assert_eq!(size, "STANDARD_DS3_V2");
    assert_eq!(from["target"], Value::Null, "the default applied");
    assert_eq!(
        change(&dev, "data.iris")["uploads"][0]["source"],
        "./data/iris-sample.csv"
    );
    assert_eq!(field(&dev, "data.iris", "path").1["variable"], "train_data");
    assert_eq!(field(&dev, "job.train", "inputs.test_fraction").0, "0.3");
    assert_eq!(field(&dev, "job.train", "tags.stage").1["kind"], "overlay");

    let (max, from) = field(&prod, "compute.cpu-cluster", "max_instances");
    assert_eq!((max, &from["target"]), (&4.into(), &Value::Null));
    let (tier, from) = field(&prod, "compute.cpu-cluster", "tier");
    assert_eq!((tier, from), (&"dedicated".into(), &Value::Null));
    assert_eq!(
        field(&prod, "compute.cpu-cluster", "idle_time_before_scale_down").0,
        120
    );
    let (size, from) = field(&prod, "compute.cpu-cluster", "size");
    assert_eq!(
        (size, &from["target"]),
        (&"STANDARD_DS4_V2".into(), &"prod".into())
    );
    assert_eq!(
        field(&prod, "data.iris", "path").0,
        "azureml://datastores/workspaceblobstore/paths/iris/iris.csv"
    );
    assert!(change(&prod, "data.iris").get("uploads").is_none());
    assert_eq!(field(&prod, "job.train", "inputs.test_fraction").0, "0.2");
    let prod_job = change(&prod, "job.train")["fields"].as_array().unwrap();
    assert!(!prod_job.iter().any(|f| f["path"] == "tags.stage"));
    assert_ne!(
        change(&dev, "job.train")["name"],
        change(&prod, "job.train")["name"]
    );

    let cli = plan_json(&dir, &["--target", "prod", "--var", "max_nodes=9"]);
    let (max, from) = field(&cli, "compute.cpu-cluster", "max_instances");
    assert_eq!((max, &from["source"]), (&9.into(), &"--var".into()));
}

#[test]
fn plans_show_where_values_came_from() {
    let (_tmp, dir) = environments();
    let output = amlops().arg("plan").arg(&dir).output().unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(
        text.contains("+ max_instances: 1 # from variable max_nodes (target dev, "),
        "{text}"
    );
    assert!(
        text.contains("+ tier: \"low_priority\" # from overlay of target dev ("),
        "{text}"
    );
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("target: dev"), "{stderr}");
    let markdown = amlops()
        .arg("plan")
        .arg(&dir)
        .args(["--format", "markdown"])
        .output()
        .unwrap();
    let markdown = String::from_utf8(markdown.stdout).unwrap();
    assert!(
        markdown.contains("+ max_instances: 1  # from variable max_nodes (target dev, "),
        "{markdown}"
    );
}

/// The quickstart's resource files converted to KDL plan exactly as the YAML files do, and
/// after applying the YAML, the KDL form finds nothing to change.
#[test]
fn quickstart_in_kdl_plans_as_in_yaml() {
    let tmp = tempfile::tempdir().unwrap();
    let yaml_dir = tmp.path().join("yaml/quickstart");
    let kdl_dir = tmp.path().join("kdl/quickstart");
    copy_dir(&examples().join("quickstart"), &yaml_dir);
    copy_dir(&examples().join("quickstart"), &kdl_dir);
    for name in ["compute", "environment", "iris-data", "train-job"] {
        let yaml = kdl_dir.join(format!("{name}.yml"));
        let kdl = kdl_dir.join(format!("{name}.kdl"));
        amlops()
            .arg("convert")
            .arg(&yaml)
            .args(["--to", "kdl", "-o"])
            .arg(&kdl)
            .assert()
            .success();
        std::fs::remove_file(&yaml).unwrap();
    }
    let compute = std::fs::read_to_string(kdl_dir.join("compute.kdl")).unwrap();
    assert!(
        compute.starts_with(
            "// A CPU cluster that scales to zero when idle.\ncompute \"cpu-cluster\" {\n"
        ),
        "{compute}"
    );

    let workspace = tmp.path().join("workspace");
    let data_dir = ["--data-dir", workspace.to_str().unwrap()];
    let from_yaml = plan_json(&yaml_dir, &data_dir);
    let from_kdl = plan_json(&kdl_dir, &data_dir);
    assert_eq!(from_yaml["changes"].as_array().unwrap().len(), 5);
    assert_eq!(without_places(from_yaml), without_places(from_kdl));

    amlops()
        .arg("apply")
        .arg(&yaml_dir)
        .args(data_dir)
        .arg("--auto-approve")
        .assert()
        .success();
    amlops()
        .arg("plan")
        .arg(&kdl_dir)
        .args(data_dir)
        .arg("--detailed-exitcode")
        .assert()
        .code(0)
        .stdout(predicates::str::contains("No changes."));
}

/// A plan without what names the files it came from (`.yml` or `.kdl`) and where they are.
fn without_places(mut value: Value) -> Value {
    fn strip(value: &mut Value) {
        match value {
            Value::Object(map) => {
                map.remove("source");
                map.remove("local_path");
                map.remove("manifests");
                map.values_mut().for_each(strip);
            }
            Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    strip(&mut value);
    value
}

/// Writes `files` into a fresh manifest directory.
fn manifests(files: &[(&str, &str)]) -> (TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("project");
    std::fs::create_dir_all(&dir).unwrap();
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    (tmp, dir)
}

const COMPUTE: &str =
    "name: cpu-cluster\ntype: amlcompute\nsize: STANDARD_DS3_V2\nmax_instances: ${var.max_nodes}\n";

/// Plans `dir` expecting failure; returns stderr.
fn plan_fails(dir: &Path) -> String {
    let output = amlops().arg("plan").arg(dir).output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    String::from_utf8(output.stderr).unwrap()
}

#[test]
fn project_file_errors_point_into_it() {
    let cases: &[(&str, &[&str])] = &[
        (
            "default-target \"prd\"\ntarget \"prod\" {\n    local\n}\n",
            &[
                "error: unknown target `prd`",
                "amlops.kdl:1:16",
                "did you mean `prod`?",
            ],
        ),
        (
            "variable \"max_nodes\" type=\"integer\"\ntarget \"dev\" {\n    local\n    variables {\n        max_nodes \"two\"\n    }\n}\ndefault-target \"dev\"\n",
            &[
                "error: variable `max_nodes` is an integer, found a string",
                "amlops.kdl:5:19",
            ],
        ),
        (
            "variable \"max_nodes\" type=\"integer\" default=1\ntarget \"dev\" {\n    local\n    overlays {}\n}\n",
            &[
                "error: unknown key `overlays` in target `dev`",
                "amlops.kdl:4:5",
                "did you mean `overlay`?",
            ],
        ),
        (
            "variable \"max_nodes\" type=\"integer\" default=\"${var.n}\"\nvariable \"n\" type=\"integer\" default=\"${var.max_nodes}\"\n",
            &[
                "error: variable cycle: `max_nodes` → `n` → `max_nodes`",
                "amlops.kdl:2:38",
            ],
        ),
        (
            "variable \"max_nodes\" type=\"integer\" default=1\ndefault-target \"dev\"\ntarget \"dev\" {\n    local\n    overlay {\n        compute \"cpu-clustr\" {\n            max_instances 2\n        }\n    }\n}\n",
            &[
                "error: the overlay of target `dev` changes compute `cpu-clustr`, which no manifest declares",
                "amlops.kdl:6:17",
                "did you mean `cpu-cluster`?",
            ],
        ),
    ];
    for (project, expected) in cases {
        let (_tmp, dir) = manifests(&[("amlops.kdl", project), ("compute.yml", COMPUTE)]);
        let stderr = plan_fails(&dir);
        for text in *expected {
            assert!(stderr.contains(text), "expected {text:?} in:\n{stderr}");
        }
    }
}

#[test]
fn variables_in_manifests_are_checked_where_they_are_used() {
    let project = "variable \"max_nodes\" type=\"integer\"\nvariable \"size\" type=\"string\" default=\"S\"\n";
    let (_tmp, dir) = manifests(&[
        ("amlops.kdl", project),
        ("compute.yml", COMPUTE),
        (
            "job.kdl",
            "job {\n    command \"echo ${var.sise}\"\n    environment \"azureml:e@latest\"\n}\n",
        ),
    ]);
    let stderr = plan_fails(&dir);
    assert!(stderr.contains("error: variable `max_nodes` has no value: target `local` gives it no value and it has no default"), "{stderr}");
    assert!(stderr.contains("compute.yml:4:16"), "{stderr}");
    assert!(
        stderr.contains("error: unknown variable `sise`"),
        "{stderr}"
    );
    assert!(stderr.contains("job.kdl:2:19"), "{stderr}");
    assert!(stderr.contains("did you mean `${var.size}`?"), "{stderr}");
}

#[test]
fn kdl_manifest_errors_point_into_the_kdl_file() {
    let (_tmp, dir) = manifests(&[(
        "compute.kdl",
        "compute \"cpu-cluster\" {\n    type \"amlcompute\"\n    max_instances \"many\"\n    min_instnces 0\n}\n",
    )]);
    let stderr = plan_fails(&dir);
    assert!(
        stderr.contains("error: `max_instances` must be an integer, found a string"),
        "{stderr}"
    );
    assert!(stderr.contains("compute.kdl:3:19"), "{stderr}");
    assert!(
        stderr.contains("error: unknown key `min_instnces` in an amlcompute"),
        "{stderr}"
    );
    assert!(stderr.contains("compute.kdl:4:5"), "{stderr}");
    assert!(stderr.contains("did you mean `min_instances`?"), "{stderr}");
}

#[test]
fn targets_are_listed() {
    let dir = examples().join("environments");
    let output = amlops()
        .arg("targets")
        .arg(&dir)
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["project"], "iris-environments");
    assert_eq!(report["default_target"], "dev");
    let names: Vec<&str> = report["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["local", "dev", "prod"]);
    let prod = &report["targets"][2];
    assert_eq!(prod["spec"]["kind"], "workspace");
    assert_eq!(prod["spec"]["connection"]["auth"], "workload-identity");
    assert_eq!(prod["variables"]["vm_size"]["value"], "STANDARD_DS4_V2");
    assert_eq!(
        report["targets"][1]["overlays"],
        serde_json::json!(["compute.cpu-cluster", "job.train"])
    );
    assert_eq!(
        report["targets"][0]["unset"]["train_data"],
        "target `local` gives it no value and it has no default"
    );

    let text = amlops().arg("targets").arg(&dir).output().unwrap();
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.contains("* dev    local workspace in "), "{text}");
    assert!(text.contains("  prod   workspace 00000000-0000-0000-0000-000000000000/rg-iris-prod/mlw-iris-prod, auth workload-identity"), "{text}");
}

#[test]
fn other_commands_take_the_target() {
    let (_tmp, dir) = environments();
    amlops()
        .args(["validate", "--target", "prod"])
        .arg(&dir)
        .assert()
        .success();
    amlops()
        .arg("show")
        .arg(&dir)
        .args(["--target", "prod", "--json"])
        .assert()
        .success();
    amlops()
        .arg("show")
        .arg(&dir)
        .args(["--target", "staging"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("unknown target `staging`"));
    let azure = examples().join("environments");
    // The prod target authenticates with workload identity; without its settings (removed
    // here, so nothing can reach Azure) the plan stops before any request.
    let mut plan = amlops();
    for name in [
        "AZURE_TENANT_ID",
        "AZURE_CLIENT_ID",
        "AZURE_FEDERATED_TOKEN_FILE",
        "ACTIONS_ID_TOKEN_REQUEST_URL",
        "AMLOPS_AUTH",
        "AMLOPS_ENDPOINT",
    ] {
        plan.env_remove(name);
    }
    plan.arg("plan")
        .arg(&azure)
        .args(["--target", "prod"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains(
            "workload-identity authentication needs AZURE_TENANT_ID",
        ));
}

#[test]
fn fmt_lays_out_kdl_and_checks_it() {
    let (_tmp, dir) = manifests(&[
        (
            "compute.kdl",
            "// the cluster\ncompute \"c\" { type amlcompute; max_instances 0x4 // four\n  }\n",
        ),
        ("broken.kdl", "compute \"c\" {\n"),
    ]);
    let file = dir.join("compute.kdl");
    amlops()
        .args(["fmt", "--check"])
        .arg(&file)
        .assert()
        .code(1)
        .stdout(predicates::str::contains("compute.kdl"));
    amlops().arg("fmt").arg(&file).assert().success();
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "// the cluster\ncompute \"c\" {\n    type \"amlcompute\"\n    max_instances 4 // four\n}\n"
    );
    amlops()
        .args(["fmt", "--check"])
        .arg(&file)
        .assert()
        .success();
    amlops()
        .args(["fmt", "--check"])
        .arg(&dir)
        .assert()
        .code(1)
        .stderr(predicates::str::contains("broken.kdl:1:"));

    // The kdl crate drops a comment after a closing `}`: fmt refuses rather than lose it.
    let kept = dir.join("kept.kdl");
    let text = "data \"a\" { path \"p\" } // why\n";
    std::fs::write(&kept, text).unwrap();
    amlops()
        .arg("fmt")
        .arg(&kept)
        .assert()
        .code(1)
        .stderr(predicates::str::contains(
            "error: formatting would lose this comment, so the file is left as it is",
        ))
        .stderr(predicates::str::contains("kept.kdl:1:23"));
    assert_eq!(std::fs::read_to_string(&kept).unwrap(), text);
}

#[test]
fn convert_goes_both_ways() {
    let (_tmp, dir) = manifests(&[(
        "data.yml",
        "# iris\nname: iris\ntype: uri_file\npath: https://x/iris.csv\nversion: 01\n",
    )]);
    let kdl = amlops()
        .arg("convert")
        .arg(dir.join("data.yml"))
        .output()
        .unwrap();
    let kdl = String::from_utf8(kdl.stdout).unwrap();
    assert_eq!(
        kdl,
        "// iris\ndata \"iris\" {\n    type \"uri_file\"\n    path \"https://x/iris.csv\"\n    version 1\n}\n"
    );
    std::fs::write(dir.join("data.kdl"), &kdl).unwrap();
    amlops()
        .arg("convert")
        .arg(dir.join("data.kdl"))
        .arg("-o")
        .arg(dir.join("back.yml"))
        .assert()
        .success();
    assert_eq!(
        std::fs::read_to_string(dir.join("back.yml")).unwrap(),
        "# iris\nname: iris\ntype: uri_file\npath: https://x/iris.csv\nversion: 1\n"
    );
    std::fs::write(dir.join("bad.yml"), "a: [1\n").unwrap();
    amlops()
        .arg("convert")
        .arg(dir.join("bad.yml"))
        .assert()
        .code(1)
        .stderr(predicates::str::contains("invalid YAML"));
}

#[test]
fn saved_plans_remember_their_target() {
    let (tmp, dir) = environments();
    let saved = tmp.path().join("prod.plan.json");
    amlops()
        .arg("plan")
        .arg(&dir)
        .args(["--target", "prod", "--only", "compute.cpu-cluster", "-o"])
        .arg(&saved)
        .assert()
        .success();
    let plan: Value = serde_json::from_str(&std::fs::read_to_string(&saved).unwrap()).unwrap();
    assert_eq!(plan["origin"]["target"], "prod");
    amlops()
        .arg("apply")
        .arg(&saved)
        .args(["--target", "dev"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains(
            "the saved plan was made for target `prod`, not `dev`",
        ));
    amlops().arg("apply").arg(&saved).assert().success();
    assert!(
        dir.join(".amlops-prod").is_dir(),
        "applied to prod's workspace"
    );
    assert!(!dir.join(".amlops-dev").exists(), "not to dev's");
}

/// A sensitive variable's value reaches the workspace but no output: not the plan in any
/// format, not `amlops targets`, not apply's progress.
#[test]
fn sensitive_variables_never_show() {
    const SECRET: &str = "s3cr3t-t0ken-value";
    let (tmp, dir) = manifests(&[
        (
            "amlops.kdl",
            "variable \"token\" type=\"string\" sensitive=#true\nvariable \"url\" type=\"string\" default=\"https://x/${var.token}/iris.csv\"\n",
        ),
        (
            "data.yml",
            "name: iris\ntype: uri_file\npath: ${var.url}\ntags:\n  token: ${var.token}\n",
        ),
    ]);
    let workspace = tmp.path().join("workspace");
    let run = |args: &[&str]| {
        let output = amlops()
            .args(args)
            .arg(&dir)
            .arg("--data-dir")
            .arg(&workspace)
            .env("AMLOPS_VAR_token", SECRET)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            !text.contains(SECRET),
            "the secret leaked from {args:?}:\n{text}"
        );
        (output.status.code(), text)
    };
    let (code, json) = run(&["plan", "--json"]);
    assert_eq!(code, Some(0), "{json}");
    assert!(json.contains("\"after\": \"(sensitive)\""), "{json}");
    assert!(json.contains("\"kind\": \"variable\""), "{json}");
    run(&["plan"]);
    run(&["plan", "--format", "markdown"]);
    let (code, text) = run(&["apply", "--auto-approve"]);
    assert_eq!(code, Some(0), "{text}");
    let (_, text) = run(&["plan", "--detailed-exitcode"]);
    assert!(
        text.contains("No changes."),
        "the workspace holds the real value:\n{text}"
    );
    let listing = amlops()
        .args(["targets", "--json"])
        .arg(&dir)
        .env("AMLOPS_VAR_token", SECRET)
        .output()
        .unwrap();
    let listing = String::from_utf8(listing.stdout).unwrap();
    assert!(!listing.contains(SECRET), "{listing}");
    assert!(listing.contains("(sensitive)"), "{listing}");
}

#[test]
fn a_sensitive_variables_previous_value_is_never_shown() {
    let project = support::Project::empty();
    project
        .write(
            "amlops.kdl",
            "project \"secrets\"\nvariable \"token\" type=\"string\" default=\"OLD-SECRET-VALUE\" sensitive=#true\n",
        )
        .write(
            "c.yml",
            "name: cpu-cluster\ntype: amlcompute\ntags:\n  token: ${var.token}\n",
        );
    let apply = project.run(&["apply", "--auto-approve"]);
    assert_eq!(apply.code, 0, "{}", apply.both());
    let plan_file = project.path().join("plan.json");
    let runs = [
        project.run(&["plan", "--var", "token=NEW-SECRET-VALUE"]),
        project.run(&["plan", "--json", "--var", "token=NEW-SECRET-VALUE"]),
        project.run(&["drift", "--var", "token=NEW-SECRET-VALUE"]),
        project.run(&["drift", "--json", "--var", "token=NEW-SECRET-VALUE"]),
        project.run(&[
            "plan",
            "--var",
            "token=NEW-SECRET-VALUE",
            "-o",
            plan_file.to_str().unwrap(),
        ]),
    ];
    assert!(
        runs[0]
            .stdout
            .contains("~ tags.token: \"(sensitive)\" → \"(sensitive)\""),
        "{}",
        runs[0].stdout
    );
    let saved = std::fs::read_to_string(&plan_file).unwrap();
    for text in runs.iter().map(support::Run::both).chain([saved]) {
        assert!(!text.contains("SECRET-VALUE"), "a secret is shown:\n{text}");
    }
}

#[test]
fn errors_never_quote_a_secret() {
    let project = support::Project::empty();
    project
        .write(
            "amlops.kdl",
            "project \"s\"\nvariable \"tok\" type=\"string\" sensitive=#true default=\"VAR-SECRET!\"\n",
        )
        .write("d.yml", "name: ${var.tok}\ntype: uri_file\npath: ./${var.tok}\n")
        .write(
            "c.yml",
            "name: cpu-cluster\ntype: amlcompute\nssh_settings:\n  admin_username: u\n  admin_password: [PASSWORD-SECRET, 2]\n",
        )
        .write(
            "j.yml",
            "command: cat ${{inputs.x}}\nenvironment: {image: py}\ninputs:\n  x:\n    type: uri_file\n    path: ./none.csv?sv=1&sig=SIGNATURE-SECRET\n",
        );
    for args in [&["plan"][..], &["validate"], &["validate", "--json"]] {
        let run = project.run(args);
        assert_eq!(run.code, 1, "{}", run.both());
        assert!(run.both().contains("error") || run.stdout.contains("\"valid\": false"));
        assert!(!run.both().contains("SECRET"), "{args:?}:\n{}", run.both());
    }
}
