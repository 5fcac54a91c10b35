//! The noise catalogue (`src/plan/normalize.rs`) against realistic live bodies: a manifest
//! whose objects the service holds, with everything the service adds, plans no change; and a
//! real difference still shows through each rule.

use std::collections::BTreeMap;
use std::path::Path;

use amlops::model::Kind;
use amlops::plan::normalize::flatten;
use amlops::plan::view::view;
use amlops::plan::{self, Action, Outcome, Plan, PlanInput, PlanOptions, Query, Snapshot};
use amlops::scope::Scope;
use serde_json::Value;

const SUBNET: &str = "/subscriptions/00000000-0000-0000-0000-0000000000c1/resourceGroups/net-rg/providers/Microsoft.Network/virtualNetworks/vnet/subnets/training";

fn scope() -> Scope {
    Scope::workspace("00000000-0000-0000-0000-0000000000c1", "rg-ml", "ws-ml")
}

const FIXTURES: &[&str] = &[
    "compute-amlcompute.json",
    "data-uri-folder.json",
    "data-uri-file.json",
    "environment-image.json",
    "environment-build.json",
];

fn fixture(name: &str, digest: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/live")
        .join(name);
    let text = std::fs::read_to_string(&path).expect("fixture");
    serde_json::from_str(&text.replace("{{BUILD_DIGEST}}", digest)).expect("fixture is JSON")
}

/// The manifests the fixtures were "applied" from.
fn manifests(dir: &Path) {
    let write = |name: &str, text: String| std::fs::write(dir.join(name), text).unwrap();
    write(
        "compute.yml",
        format!(
            "name: cpu-cluster\ntype: amlcompute\nsize: Standard_DS3_v2\nlocation: West Europe\nmin_instances: 0\nmax_instances: 4\nidle_time_before_scale_down: 120\nnetwork_settings:\n  subnet: {SUBNET}\ntags:\n  team: ml\n"
        ),
    );
    write(
        "reviews.yml",
        "name: reviews\nversion: 2\ntype: uri_folder\npath: azureml://datastores/workspaceblobstore/paths/reviews/2026/\ndescription: Product reviews crawled in 2026\ntags:\n  source: crawl\n".into(),
    );
    write(
        "iris.yml",
        "name: iris\nversion: 1\ntype: uri_file\npath: azureml://datastores/workspaceblobstore/paths/iris/iris.csv\n".into(),
    );
    write(
        "sklearn.yml",
        "name: sklearn\nversion: 5\nimage: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest\ndescription: scikit-learn on Ubuntu 22.04\ntags:\n  framework: sklearn\n".into(),
    );
    std::fs::create_dir_all(dir.join("ctx")).unwrap();
    std::fs::write(dir.join("ctx/Dockerfile"), "FROM python:3.11-slim\n").unwrap();
    write(
        "trainer.yml",
        "name: trainer\nversion: 3\nbuild:\n  path: ./ctx\n".into(),
    );
}

/// Plans the manifests in `dir` against the fixtures, changed by `edit`.
fn plan_against(dir: &Path, edit: impl Fn(&str, &mut Value)) -> Plan {
    let manifest = amlops::manifest::load(&[dir.to_path_buf()]);
    assert!(!manifest.has_errors(), "{:?}", manifest.diagnostics);
    let artifacts = amlops::workflow::artifacts(&manifest.resources).expect("artifacts");
    let context = artifacts
        .iter()
        .find(|(path, _)| path.ends_with("ctx"))
        .map(|(_, a)| a.digest.hex[..32].to_owned())
        .expect("the build context is hashed");
    let mut live: BTreeMap<String, Value> = BTreeMap::new();
    for name in FIXTURES {
        let mut body = fixture(name, &context);
        edit(name, &mut body);
        let id = body["id"].as_str().unwrap().to_owned();
        live.insert(scope().relative(&id).unwrap().to_owned(), body);
    }
    let scope = scope();
    let input = PlanInput {
        resources: &manifest.resources,
        artifacts: &artifacts,
        scope: &scope,
        target_kind: "workspace",
        location: "westeurope",
        project: "noise",
        options: PlanOptions {
            ownership_tags: false,
            ..PlanOptions::default()
        },
    };
    let mut snapshot = Snapshot::default();
    for _ in 0..4 {
        match plan::plan(&input, &snapshot) {
            Outcome::Ready(plan) => return plan,
            Outcome::Invalid(diagnostics) => panic!("{diagnostics:?}"),
            Outcome::Needs(queries) => answer(&queries, &live, &mut snapshot),
        }
    }
    panic!("the plan did not settle");
}

fn answer(queries: &[Query], live: &BTreeMap<String, Value>, snapshot: &mut Snapshot) {
    for query in queries {
        match query {
            Query::Versions { kind, name } => {
                let prefix = format!("{}/{name}/versions/", kind.collection());
                let versions = live
                    .iter()
                    .filter(|(path, _)| path.starts_with(&prefix))
                    .map(|(_, body)| body.clone())
                    .collect();
                snapshot.versions.insert((*kind, name.clone()), versions);
            }
            Query::Get(path) => {
                snapshot
                    .objects
                    .insert(path.clone(), live.get(path).cloned());
            }
            Query::CodeByHash(hash) => {
                snapshot.code_by_hash.insert(hash.clone(), None);
            }
            Query::JobsOf(address) => {
                snapshot.jobs_of.insert(address.clone(), Vec::new());
            }
            Query::Owned { kind, .. } => {
                snapshot.owned.insert(*kind, Vec::new());
            }
            Query::ActiveJobs => {
                snapshot.active_jobs_known = true;
            }
        }
    }
}

fn actions(plan: &Plan) -> Vec<(String, Action)> {
    plan.changes
        .iter()
        .map(|c| (c.address.clone(), c.action))
        .collect()
}

#[test]
fn applied_manifests_plan_no_change_despite_the_noise() {
    let dir = tempfile::tempdir().unwrap();
    manifests(dir.path());
    let plan = plan_against(dir.path(), |_, _| {});
    for change in &plan.changes {
        assert_eq!(
            change.action,
            Action::NoOp,
            "{}: {:?}",
            change.address,
            change.fields
        );
    }
    assert_eq!(plan.changes.len(), 5);
}

#[test]
fn server_fields_never_reach_a_view() {
    let forbidden = [
        "provisioning",
        "system",
        "created",
        "modified",
        "node_count",
        "allocation",
        "errors",
        "environment_type",
        "anonymous",
        "compute_location",
        "attached",
        "stage",
        "auto_rebuild",
        "latest_version",
        "next_version",
        "property_bag",
        "isolated",
    ];
    for name in FIXTURES {
        let body = fixture(name, &"0".repeat(32));
        let kind = match body["type"].as_str().unwrap() {
            t if t.ends_with("/computes") => Kind::Compute,
            t if t.ends_with("/data/versions") => Kind::Data,
            _ => Kind::Environment,
        };
        let shown = flatten(&view(kind, &body, &scope()));
        for path in shown.keys() {
            let lowered = path.to_ascii_lowercase().replace('_', "");
            assert!(
                !forbidden
                    .iter()
                    .any(|f| lowered.contains(&f.replace('_', ""))),
                "{name}: {path} is server noise"
            );
        }
    }
}

#[test]
fn compute_noise_hides_no_real_change() {
    let dir = tempfile::tempdir().unwrap();
    manifests(dir.path());
    let plan = plan_against(dir.path(), |name, body| {
        if name == "compute-amlcompute.json" {
            let aml = &mut body["properties"]["properties"];
            aml["vmSize"] = "STANDARD_D2_V2".into();
            aml["scaleSettings"]["maxNodeCount"] = 2.into();
            aml["subnet"]["id"] = SUBNET.replace("training", "other").into();
        }
    });
    let change = plan.change("compute.cpu-cluster").unwrap();
    assert_eq!(change.action, Action::Replace);
    let fields: Vec<(&str, bool)> = change
        .fields
        .iter()
        .map(|f| (f.path.as_str(), f.forces_replacement))
        .collect();
    assert_eq!(
        fields,
        [
            ("max_instances", false),
            ("network_settings.subnet", true),
            ("size", true)
        ]
    );
}

#[test]
fn compute_identity_and_locations_are_compared_for_real() {
    let dir = tempfile::tempdir().unwrap();
    manifests(dir.path());
    let plan = plan_against(dir.path(), |name, body| {
        if name == "compute-amlcompute.json" {
            body["identity"] =
                serde_json::json!({"type": "SystemAssigned", "principalId": "p", "tenantId": "t"});
            body["location"] = "northeurope".into();
        }
    });
    let paths: Vec<&str> = plan
        .change("compute.cpu-cluster")
        .unwrap()
        .fields
        .iter()
        .map(|f| f.path.as_str())
        .collect();
    assert_eq!(paths, ["identity.type", "location"]);
}

#[test]
fn asset_noise_hides_no_real_change() {
    let dir = tempfile::tempdir().unwrap();
    manifests(dir.path());
    let plan = plan_against(dir.path(), |name, body| {
        let properties = &mut body["properties"];
        match name {
            "data-uri-folder.json" => {
                properties["dataUri"] = properties["dataUri"]
                    .as_str()
                    .unwrap()
                    .replace("2026", "2025")
                    .into();
            }
            "data-uri-file.json" => {
                // The long form of another workspace's datastore is another datastore.
                properties["dataUri"] = properties["dataUri"]
                    .as_str()
                    .unwrap()
                    .replace("ws-ml", "ws-other")
                    .into();
            }
            "environment-build.json" => {
                let uri = properties["build"]["contextUri"].as_str().unwrap();
                properties["build"]["contextUri"] = uri.replace("/ctx/", "/other/").into();
            }
            "environment-image.json" => {
                properties["properties"]["azureml.labels"] = "stable".into();
                properties["tags"] = serde_json::json!({"framework": "pytorch"});
            }
            _ => {}
        }
    });
    let found: BTreeMap<String, (Action, Vec<String>)> = plan
        .changes
        .iter()
        .map(|c| {
            (
                c.address.clone(),
                (c.action, c.fields.iter().map(|f| f.path.clone()).collect()),
            )
        })
        .collect();
    assert_eq!(
        found["data.reviews:2"],
        (Action::Conflict, vec!["path".into()])
    );
    assert_eq!(
        found["data.iris:1"],
        (Action::Conflict, vec!["path".into()])
    );
    assert_eq!(
        found["environment.trainer:3"],
        (Action::Conflict, vec!["build.path".into()])
    );
    // A foreign `azureml.*` property is noise; a declared tag that changed is not.
    assert_eq!(
        found["environment.sklearn:5"],
        (Action::Update, vec!["tags.framework".into()])
    );
    assert_eq!(found["compute.cpu-cluster"].0, Action::NoOp);
    let _ = actions(&plan);
}
