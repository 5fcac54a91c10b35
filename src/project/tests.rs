//! The project file: parsing, selection, and its errors located in the file.

use std::path::Path;
use std::sync::Arc;

use super::*;
use crate::manifest::vars::VarValue;
use crate::model::OriginKind;

const PROJECT: &str = r#"// The iris project.
project "iris"
default-target "dev"

variable "max_nodes" type="integer" default=4 description="largest cluster size"
variable "tier" type="string" default="dedicated"
variable "lr" type="number" default=0.01
variable "prefix" type="string" default="iris"
variable "cluster" type="string" default="${var.prefix}-cpu"
variable "data_path" type="string"

target "dev" {
    description "a sandbox"
    local data-dir=".amlops-dev"
    variables {
        max_nodes 1
        data_path "./data/sample.csv"
    }
    overlay {
        compute "cpu-cluster" {
            tier "low_priority"
            max_instances "${var.max_nodes}"
        }
    }
}

target "prod" {
    workspace subscription="00000000-0000-0000-0000-000000000000" resource-group="ml-prod" name="mlw-prod"
    endpoint "http://127.0.0.1:9"
    auth "workload-identity"
    variables {
        prefix "prod"
    }
}

target "shared" {
    registry "team-registry" location="westeurope"
    auth "cli"
}
"#;

fn file(text: &str) -> Arc<SourceFile> {
    SourceFile::new(Path::new("/work/p/amlops.kdl"), text.into())
}

fn project() -> Project {
    Project::parse(&file(PROJECT)).unwrap_or_else(|e| panic!("{e:#?}"))
}

fn parse_errors(text: &str) -> Vec<Diagnostic> {
    Project::parse(&file(text)).expect_err("errors")
}

fn select_errors(text: &str, target: Option<&str>, vars: &[&str]) -> Vec<Diagnostic> {
    let project = Project::parse(&file(text)).unwrap_or_else(|e| panic!("{e:#?}"));
    project.select(target, &cli(vars)).expect_err("errors")
}

fn value(selection: &Selection, name: &str) -> VarValue {
    selection
        .inputs
        .variables
        .get(name)
        .expect(name)
        .value
        .clone()
}

fn line_of(diagnostic: &Diagnostic) -> u32 {
    diagnostic.loc.as_ref().expect("located").line
}

#[test]
fn reads_targets_variables_and_overlays() {
    let project = project();
    assert_eq!(project.name.as_ref().unwrap().value, "iris");
    assert_eq!(project.default_target_name(), "dev");
    let names: Vec<String> = project
        .targets()
        .iter()
        .map(|t| t.name.value.clone())
        .collect();
    assert_eq!(names, ["local", "dev", "prod", "shared"]);
    let targets = project.targets();
    assert!(targets[0].implicit);
    assert_eq!(
        targets[1].spec,
        TargetSpec::Local {
            data_dir: Some(PathBuf::from("/work/p/.amlops-dev"))
        }
    );
    assert_eq!(
        targets[2].spec,
        TargetSpec::Workspace {
            subscription: "00000000-0000-0000-0000-000000000000".into(),
            resource_group: "ml-prod".into(),
            workspace: "mlw-prod".into(),
            connection: Connection {
                endpoint: Some("http://127.0.0.1:9".into()),
                ca_cert: None,
                auth: Some(AuthMethod::WorkloadIdentity),
            },
        }
    );
    assert_eq!(
        targets[3].spec,
        TargetSpec::Registry {
            name: "team-registry".into(),
            subscription: None,
            resource_group: None,
            location: Some("westeurope".into()),
            connection: Connection {
                auth: Some(AuthMethod::Cli),
                ..Connection::default()
            },
        }
    );
}

#[test]
fn each_target_resolves_its_own_values() {
    let project = project();
    let dev = project.select(None, &[]).unwrap();
    assert_eq!(dev.target, "dev");
    assert_eq!(value(&dev, "max_nodes"), VarValue::Int(1));
    assert_eq!(value(&dev, "cluster"), VarValue::Str("iris-cpu".into()));
    assert_eq!(value(&dev, "lr"), VarValue::Float(0.01));
    let origin = &dev.inputs.variables.get("max_nodes").unwrap().origin;
    assert_eq!(origin.target.as_deref(), Some("dev"));
    assert_eq!(origin.source, "/work/p/amlops.kdl:16");
    let overlay = &dev.inputs.overlays[0];
    assert_eq!(overlay.address(), "compute.cpu-cluster");
    let max = overlay
        .fields
        .get("max_instances")
        .unwrap()
        .scalar()
        .unwrap();
    assert_eq!(
        max.kind,
        crate::manifest::node::ScalarKind::Int(1),
        "overlay variables are substituted"
    );

    let prod = project.select(Some("prod"), &[]).unwrap();
    assert_eq!(value(&prod, "max_nodes"), VarValue::Int(4));
    assert_eq!(value(&prod, "cluster"), VarValue::Str("prod-cpu".into()));
    assert!(prod.inputs.overlays.is_empty());
    assert!(
        prod.inputs.variables.get("data_path").is_none(),
        "unset in prod"
    );
    let default = &prod.inputs.variables.get("max_nodes").unwrap().origin;
    assert_eq!(
        (default.target.as_deref(), default.source.as_str()),
        (None, "/work/p/amlops.kdl:5")
    );

    let local = project.select(Some("local"), &[]).unwrap();
    assert_eq!(local.spec, TargetSpec::Local { data_dir: None });
}

fn cli(assignments: &[&str]) -> Vec<Override> {
    assignments
        .iter()
        .map(|a| Override::from_assignment(a).unwrap())
        .collect()
}

#[test]
fn command_line_values_win_and_are_typed() {
    let project = project();
    let dev = project
        .select(None, &cli(&["max_nodes=7", "prefix=x", "lr=1"]))
        .unwrap();
    assert_eq!(value(&dev, "max_nodes"), VarValue::Int(7));
    assert_eq!(value(&dev, "cluster"), VarValue::Str("x-cpu".into()));
    assert_eq!(value(&dev, "lr"), VarValue::Int(1));
    assert_eq!(
        dev.inputs.variables.get("max_nodes").unwrap().origin.source,
        "--var"
    );
    let errors = project
        .select(None, &cli(&["max_nodes=many", "nodes=1"]))
        .unwrap_err();
    let messages: Vec<&str> = errors.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            "`--var` sets variable `max_nodes`, which is an integer, and `many` is not an integer",
            "`--var` sets an unknown variable `nodes`",
        ]
    );
    assert_eq!(
        Override::from_assignment("oops").unwrap_err().message,
        "`--var` takes NAME=VALUE"
    );
}

#[test]
fn environment_values_come_before_the_command_line() {
    let environment = [
        ("AMLOPS_VAR_max_nodes".to_owned(), "5".to_owned()),
        ("AMLOPS_VAR_unrelated".to_owned(), "x".to_owned()),
        ("PATH".to_owned(), "/bin".to_owned()),
    ];
    let mut overrides = Override::from_environment(environment);
    assert_eq!(overrides.len(), 2);
    let project = project();
    let dev = project.select(None, &overrides).unwrap();
    assert_eq!(value(&dev, "max_nodes"), VarValue::Int(5));
    let origin = &dev.inputs.variables.get("max_nodes").unwrap().origin;
    assert_eq!(origin.source, "AMLOPS_VAR_max_nodes");
    overrides.extend(cli(&["max_nodes=6"]));
    let dev = project.select(None, &overrides).unwrap();
    assert_eq!(value(&dev, "max_nodes"), VarValue::Int(6));
}

#[test]
fn sensitive_values_stay_hidden() {
    let project = Project::parse(&file(concat!(
        "variable \"password\" type=\"string\" sensitive=#true\n",
        "variable \"pin\" type=\"integer\" sensitive=#true\n",
        "variable \"url\" type=\"string\" default=\"https://u:${var.password}@h\"\n",
    )))
    .unwrap();
    let selection = project.select(None, &cli(&["password=hunter22"])).unwrap();
    let variables = &selection.inputs.variables;
    assert!(variables.get("password").unwrap().sensitive);
    assert!(
        variables.get("url").unwrap().sensitive,
        "what uses a secret is secret"
    );
    assert_eq!(
        variables.secrets(),
        ["hunter22".to_owned(), "https://u:hunter22@h".to_owned()]
    );
    let errors = project.select(None, &cli(&["pin=12x4"])).unwrap_err();
    assert!(!errors[0].message.contains("12x4"), "{}", errors[0].message);
}

#[test]
fn unknown_targets_are_errors() {
    let errors = project().select(Some("staging"), &[]).unwrap_err();
    assert_eq!(errors[0].message, "unknown target `staging`");
    assert_eq!(errors[0].file(), Some("/work/p/amlops.kdl"));
    let errors = errors_of_default_target();
    assert_eq!(errors[0].message, "unknown target `prd`");
    assert_eq!(line_of(&errors[0]), 1);
    assert!(errors[0].hints.iter().any(|h| h == "did you mean `prod`?"));
    let none = Project::default().select(Some("dev"), &[]).unwrap_err();
    assert!(
        none[0].hints[0].contains("amlops.kdl"),
        "{:?}",
        none[0].hints
    );
}

fn errors_of_default_target() -> Vec<Diagnostic> {
    parse_errors("default-target \"prd\"\ntarget \"prod\" {\n    local\n}\n")
}

#[test]
fn wrong_types_are_located() {
    let errors = parse_errors("variable \"n\" type=\"integer\" default=\"four\"\n");
    assert_eq!(
        errors[0].message,
        "variable `n` is an integer, found a string"
    );
    assert_eq!(
        (line_of(&errors[0]), errors[0].loc.as_ref().unwrap().column),
        (1, 37)
    );
    let errors = select_errors(
        "variable \"n\" type=\"integer\"\ntarget \"dev\" {\n    local\n    variables {\n        n 1.5\n    }\n}\n",
        Some("dev"),
        &[],
    );
    assert_eq!(
        errors[0].message,
        "variable `n` is an integer, found a number"
    );
    assert_eq!(line_of(&errors[0]), 5);
    let errors = parse_errors("variable \"s\" type=\"string\" default=4\n");
    assert_eq!(errors[0].hints, ["quote it to use it as text: \"4\""]);
    let errors = parse_errors("variable \"s\" type=\"text\"\n");
    assert!(
        errors[0]
            .message
            .contains("must be one of `string`, `integer`, `number`, `boolean`"),
        "{}",
        errors[0].message
    );
    let errors = select_errors(
        "variable \"a\" type=\"integer\" default=\"${var.b}\"\nvariable \"b\" type=\"string\" default=\"x\"\n",
        None,
        &[],
    );
    assert_eq!(
        errors[0].message,
        "variable `a` is an integer, found a string"
    );
}

#[test]
fn unknown_keys_are_located_with_suggestions() {
    let errors = parse_errors("projet \"x\"\n");
    assert_eq!(
        errors[0].message,
        "unknown key `projet` in the project file"
    );
    assert_eq!(errors[0].hints, ["did you mean `project`?"]);
    let errors = parse_errors("target \"dev\" {\n    local\n    overlays {}\n}\n");
    assert_eq!(errors[0].message, "unknown key `overlays` in target `dev`");
    assert_eq!(line_of(&errors[0]), 3);
    let errors = parse_errors(
        "target \"p\" {\n    workspace subscription=\"s\" resource-group=\"r\" name=\"w\" regoin=\"x\"\n}\n",
    );
    assert_eq!(
        errors[0].message,
        "unknown key `regoin` in a workspace target"
    );
    assert_eq!(line_of(&errors[0]), 2);
    let errors = parse_errors("target \"p\" {\n    workspace subscription=\"s\" name=\"w\"\n}\n");
    assert_eq!(
        errors[0].message,
        "missing required key `workspace.resource-group` in a workspace target"
    );
    let errors = parse_errors("variable \"n\" type=\"integer\" defualt=1\n");
    assert_eq!(errors[0].hints, ["did you mean `default`?"]);
    let errors = parse_errors(
        "variable \"n\" type=\"integer\"\ntarget \"d\" {\n    local\n    variables { nn 2 }\n}\n",
    );
    assert_eq!(
        errors[0].message,
        "target `d` sets `nn`, which is not a declared variable"
    );
    assert_eq!(errors[0].hints[0], "did you mean `n`?");
}

#[test]
fn target_mistakes_are_located() {
    let errors = parse_errors("target \"a\" {\n    description \"x\"\n}\n");
    assert_eq!(
        errors[0].message,
        "target `a` does not say where it applies"
    );
    let errors = parse_errors("target \"a\" {\n    local\n    registry \"r\"\n}\n");
    assert_eq!(errors[0].message, "target `a` is already a `local` target");
    assert_eq!(line_of(&errors[0]), 3);
    let errors = parse_errors("target \"a\" {\n    local\n    auth \"cli\"\n}\n");
    assert!(
        errors[0]
            .message
            .contains("`auth` applies to workspace and registry targets"),
        "{}",
        errors[0].message
    );
    let errors = parse_errors("target \"a\" {\n    registry \"r\"\n    auth \"password\"\n}\n");
    assert!(
        errors[0]
            .message
            .starts_with("`auth` must be one of `env`, `workload-identity`"),
        "{}",
        errors[0].message
    );
    let errors = parse_errors("target \"a\" {\n    local\n}\ntarget \"a\" {\n    local\n}\n");
    assert_eq!(errors[0].message, "target `a` is declared twice");
    assert_eq!(line_of(&errors[0]), 4);
    let errors = parse_errors(
        "target \"a\" {\n    local\n    overlay {\n        model \"m\" {}\n        compute {}\n    }\n}\n",
    );
    assert!(
        errors[0].message.contains("not a `model`"),
        "{}",
        errors[0].message
    );
    assert!(
        errors[1].message.contains("an overlay names the compute"),
        "{}",
        errors[1].message
    );
    let errors = parse_errors("project \"a b\"\n");
    assert!(
        errors[0].message.contains("not a valid project name"),
        "{}",
        errors[0].message
    );
}

#[test]
fn variable_cycles_are_located() {
    let text = "variable \"a\" type=\"string\" default=\"x-${var.b}\"\nvariable \"b\" type=\"string\" default=\"${var.c}\"\nvariable \"c\" type=\"string\" default=\"${var.a}\"\n";
    let errors = select_errors(text, None, &[]);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].message, "variable cycle: `a` → `b` → `c` → `a`");
    let loc = errors[0].loc.as_ref().unwrap();
    assert_eq!((loc.line, loc.column, loc.len), (3, 37, 8));
    let errors = select_errors(
        "variable \"a\" type=\"string\" default=\"${var.a}\"\n",
        None,
        &[],
    );
    assert_eq!(errors[0].message, "variable cycle: `a` → `a`");
    let errors = select_errors(
        "variable \"a\" type=\"string\" default=\"${var.nope}\"\n",
        None,
        &[],
    );
    assert_eq!(errors[0].message, "unknown variable `nope`");
}

#[test]
fn unset_variables_explain_why() {
    let project = Project::parse(&file(
        "variable \"a\" type=\"string\"\nvariable \"b\" type=\"string\" default=\"${var.a}/x\"\n",
    ))
    .unwrap();
    let selection = project.select(None, &[]).unwrap();
    let unset: Vec<(&String, &String)> = selection.inputs.variables.unset().collect();
    assert_eq!(unset.len(), 2);
    assert_eq!(
        unset[0].1,
        "target `local` gives it no value and it has no default"
    );
    assert_eq!(unset[1].1, "it uses `a`, which has no value");
}

#[test]
fn no_project_file_means_the_local_workspace() {
    let project = Project::load(Path::new("/nonexistent-amlops-test-dir")).unwrap();
    assert!(project.file.is_none());
    let selection = project.select(None, &[]).unwrap();
    assert_eq!(selection.target, "local");
    assert_eq!(selection.spec, TargetSpec::default());
    assert_eq!(project.name_or(|| "dir".into()), "dir");
}

#[test]
fn overlay_origin_kind() {
    let project = project();
    let dev = project.select(None, &[]).unwrap();
    assert_eq!(dev.inputs.overlays[0].target, "dev");
    assert_eq!(
        dev.inputs.variables.get("tier").unwrap().origin.kind,
        OriginKind::Variable
    );
}
