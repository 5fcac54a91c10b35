//! Table-style tests of the planner: declarations read from YAML, live state written by hand,
//! one decision checked per test.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::*;
use crate::manifest;
use crate::plan::{Action, Plan, Query, Snapshot};

/// Live state as a map of paths (inside the scope) to objects.
#[derive(Default, Clone)]
struct Live {
    objects: BTreeMap<String, Value>,
}

impl Live {
    fn answer(&self, queries: &[Query], snapshot: &mut Snapshot) {
        for query in queries {
            match query {
                Query::Versions { kind, name } => {
                    let prefix = format!("{}/{name}/versions/", kind.collection());
                    let versions = self
                        .objects
                        .iter()
                        .filter(|(p, _)| p.starts_with(&prefix) && !p[prefix.len()..].contains('/'))
                        .map(|(_, v)| v.clone())
                        .collect();
                    snapshot.versions.insert((*kind, name.clone()), versions);
                }
                Query::Get(path) => {
                    snapshot
                        .objects
                        .insert(path.clone(), self.objects.get(path).cloned());
                }
                Query::JobsOf(address) => {
                    let jobs = self
                        .objects
                        .iter()
                        .filter(|(p, v)| {
                            p.starts_with("jobs/")
                                && v.pointer("/properties/tags/amlops.address")
                                    == Some(&json!(address))
                        })
                        .map(|(_, v)| v.clone())
                        .collect();
                    snapshot.jobs_of.insert(address.clone(), jobs);
                }
                Query::ActiveJobs => {
                    snapshot.active_jobs = self
                        .objects
                        .iter()
                        .filter(|(p, v)| {
                            p.starts_with("jobs/")
                                && v.pointer("/properties/status") == Some(&json!("Running"))
                        })
                        .map(|(_, v)| v.clone())
                        .collect();
                    snapshot.active_jobs_known = true;
                }
                Query::Owned { .. } => {}
                Query::CodeByHash(hash) => {
                    let found = self
                        .objects
                        .iter()
                        .find(|(p, v)| {
                            p.starts_with("codes/")
                                && v.pointer("/properties/properties/hash_sha256")
                                    == Some(&json!(hash))
                        })
                        .map(|(p, _)| p.clone());
                    snapshot.code_by_hash.insert(hash.clone(), found);
                }
            }
        }
    }

    /// Records the PUTs of `plan` as the service would store them.
    fn record(&mut self, plan: &Plan) {
        let scope = Scope::local();
        for change in &plan.changes {
            for request in &change.requests {
                let path = scope
                    .relative(request.path.split('?').next().unwrap())
                    .unwrap()
                    .to_owned();
                match request.method.as_str() {
                    "PUT" => {
                        let mut body = request.wire_body().cloned().unwrap();
                        body["name"] = json!(path.rsplit('/').next().unwrap());
                        body["id"] = json!(scope.resource_id(&path));
                        self.objects.insert(path, body);
                    }
                    "PATCH" if path.ends_with(crate::translate::api::TAGS_SUFFIX) => {
                        let object = path.trim_end_matches(crate::translate::api::TAGS_SUFFIX);
                        let tags = request.body.as_ref().unwrap()["properties"]["tags"]
                            .as_object()
                            .unwrap()
                            .clone();
                        let object = self.objects.get_mut(object).unwrap();
                        object["tags"].as_object_mut().unwrap().extend(tags);
                    }
                    "PATCH" => {
                        let scale = request
                            .body
                            .as_ref()
                            .unwrap()
                            .pointer("/properties/properties/scaleSettings")
                            .cloned()
                            .unwrap();
                        let object = self.objects.get_mut(&path).unwrap();
                        *object
                            .pointer_mut("/properties/properties/scaleSettings")
                            .unwrap() = scale;
                    }
                    "DELETE" => {
                        self.objects.remove(&path);
                    }
                    _ => {}
                }
            }
        }
    }
}

struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn new(files: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        Self { dir }
    }

    fn plan(&self, live: &Live) -> Result<Plan, Vec<crate::diag::Diagnostic>> {
        self.plan_with(live, PlanOptions::default())
    }

    fn plan_with(
        &self,
        live: &Live,
        options: PlanOptions,
    ) -> Result<Plan, Vec<crate::diag::Diagnostic>> {
        let manifest = manifest::load(&[self.dir.path().to_path_buf()]);
        assert!(!manifest.has_errors(), "{:?}", manifest.diagnostics.items);
        let artifacts = crate::workflow::artifacts(&manifest.resources).unwrap();
        let scope = Scope::local();
        let input = PlanInput {
            resources: &manifest.resources,
            artifacts: &artifacts,
            scope: &scope,
            target_kind: "local",
            location: "local",
            project: "test",
            options,
        };
        let mut snapshot = Snapshot::default();
        for _ in 0..4 {
            match plan(&input, &snapshot) {
                Outcome::Ready(plan) => return Ok(plan),
                Outcome::Invalid(diagnostics) => return Err(diagnostics),
                Outcome::Needs(queries) => live.answer(&queries, &mut snapshot),
            }
        }
        panic!("the planner kept asking");
    }
}

fn actions(plan: &Plan) -> Vec<(&str, Action)> {
    plan.changes
        .iter()
        .map(|c| (c.address.as_str(), c.action))
        .collect()
}

fn fields(plan: &Plan, address: &str) -> Vec<String> {
    plan.change(address)
        .unwrap()
        .fields
        .iter()
        .map(|f| f.path.clone())
        .collect()
}

const DATA: &str =
    "name: iris\nversion: 1\ntype: uri_file\npath: azureml://datastores/ds/paths/iris.csv\n";

#[test]
fn first_questions_cover_every_declaration_and_reference() {
    let files = Files::new(&[
        ("data.yml", DATA),
        ("compute.yml", "name: cpu\ntype: amlcompute\n"),
        (
            "job.yml",
            "command: echo\nenvironment: azureml:env@latest\ncompute: azureml:cpu\n",
        ),
    ]);
    let manifest = manifest::load(&[files.dir.path().to_path_buf()]);
    let artifacts = crate::workflow::artifacts(&manifest.resources).unwrap();
    let scope = Scope::local();
    let input = PlanInput {
        resources: &manifest.resources,
        artifacts: &artifacts,
        scope: &scope,
        target_kind: "local",
        location: "local",
        project: "test",
        options: PlanOptions::default(),
    };
    let Outcome::Needs(queries) = plan(&input, &Snapshot::default()) else {
        panic!("expected questions")
    };
    assert_eq!(
        queries,
        vec![
            Query::Versions {
                kind: Kind::Data,
                name: "iris".into()
            },
            Query::Versions {
                kind: Kind::Environment,
                name: "env".into()
            },
            Query::Get("computes/cpu".into()),
        ]
    );
}

#[test]
fn a_data_version_is_created_then_left_alone() {
    let files = Files::new(&[("data.yml", DATA)]);
    let mut live = Live::default();
    let first = files.plan(&live).unwrap();
    assert_eq!(actions(&first), vec![("data.iris:1", Action::Create)]);
    let request = &first.changes[0].requests[0];
    assert_eq!(request.method, "PUT");
    assert!(
        request
            .path
            .ends_with("/workspaces/local/data/iris/versions/1")
    );
    assert_eq!(
        request.body.as_ref().unwrap()["properties"]["tags"]["amlops.address"],
        "data.iris:1"
    );
    live.record(&first);
    assert_eq!(
        actions(&files.plan(&live).unwrap()),
        vec![("data.iris:1", Action::NoOp)]
    );
}

#[test]
fn changed_content_under_a_pinned_version_is_a_conflict_with_the_next_free_version() {
    let mut live = Live::default();
    live.record(&Files::new(&[("data.yml", DATA)]).plan(&live).unwrap());
    let moved = Files::new(&[("data.yml", &DATA.replace("iris.csv", "iris-v2.csv"))]);
    let plan = moved.plan(&live).unwrap();
    let change = plan.change("data.iris:1").unwrap();
    assert_eq!(change.action, Action::Conflict);
    assert_eq!(fields(&plan, "data.iris:1"), vec!["path"]);
    assert_eq!(
        change.hint.as_deref(),
        Some("set `version: 2` (the next free version), or use `version: auto`")
    );
    assert!(change.requests.is_empty());
}

#[test]
fn tags_change_in_place_and_keep_tags_set_by_others() {
    let mut live = Live::default();
    live.record(&Files::new(&[("data.yml", DATA)]).plan(&live).unwrap());
    live.objects.get_mut("data/iris/versions/1").unwrap()["properties"]["tags"]["owner"] =
        json!("someone");
    let tagged = Files::new(&[("data.yml", &format!("{DATA}tags:\n  team: a\n"))]);
    let plan = tagged.plan(&live).unwrap();
    let change = plan.change("data.iris:1").unwrap();
    assert_eq!(change.action, Action::Update);
    assert_eq!(fields(&plan, "data.iris:1"), vec!["tags.team"]);
    let tags = &change.requests[0].body.as_ref().unwrap()["properties"]["tags"];
    assert_eq!(tags["team"], "a");
    assert_eq!(tags["owner"], "someone", "foreign tags are kept");
}

#[test]
fn an_archived_version_declared_again_is_restored() {
    let mut live = Live::default();
    live.record(&Files::new(&[("data.yml", DATA)]).plan(&live).unwrap());
    live.objects.get_mut("data/iris/versions/1").unwrap()["properties"]["isArchived"] = json!(true);
    let plan = Files::new(&[("data.yml", DATA)]).plan(&live).unwrap();
    assert_eq!(plan.change("data.iris:1").unwrap().action, Action::Restore);
}

#[test]
fn unset_versions_keep_a_matching_latest_or_take_the_next_integer() {
    let unversioned = "name: iris\ntype: uri_file\npath: azureml://datastores/ds/paths/iris.csv\n";
    let mut live = Live::default();
    let first = Files::new(&[("data.yml", unversioned)])
        .plan(&live)
        .unwrap();
    assert_eq!(first.changes[0].version.as_deref(), Some("1"));
    live.record(&first);
    let same = Files::new(&[("data.yml", unversioned)])
        .plan(&live)
        .unwrap();
    assert_eq!(actions(&same), vec![("data.iris", Action::NoOp)]);
    let changed = Files::new(&[("data.yml", &unversioned.replace("iris.csv", "iris2.csv"))])
        .plan(&live)
        .unwrap();
    assert_eq!(actions(&changed), vec![("data.iris", Action::NewVersion)]);
    assert_eq!(changed.changes[0].version.as_deref(), Some("2"));
}

#[test]
fn auto_versions_are_content_hashes_that_ignore_tags() {
    let auto =
        "name: iris\nversion: auto\ntype: uri_file\npath: azureml://datastores/ds/paths/iris.csv\n";
    let a = Files::new(&[("data.yml", auto)])
        .plan(&Live::default())
        .unwrap();
    let b = Files::new(&[("data.yml", &format!("{auto}tags:\n  x: y\n"))])
        .plan(&Live::default())
        .unwrap();
    let c = Files::new(&[("data.yml", &auto.replace("iris.csv", "other.csv"))])
        .plan(&Live::default())
        .unwrap();
    assert_eq!(a.changes[0].version, b.changes[0].version);
    assert_ne!(a.changes[0].version, c.changes[0].version);
    assert_eq!(a.changes[0].version.as_ref().unwrap().len(), 12);
}

const COMPUTE: &str = "name: cpu\ntype: amlcompute\nsize: STANDARD_DS3_v2\nmax_instances: 4\n";

#[test]
fn compute_scale_settings_patch_in_place() {
    let mut live = Live::default();
    live.record(&Files::new(&[("c.yml", COMPUTE)]).plan(&live).unwrap());
    let scaled = Files::new(&[(
        "c.yml",
        &COMPUTE.replace(
            "max_instances: 4",
            "max_instances: 2\nidle_time_before_scale_down: 600",
        ),
    )]);
    let plan = scaled.plan(&live).unwrap();
    let change = plan.change("compute.cpu").unwrap();
    assert_eq!(change.action, Action::Update);
    assert_eq!(
        fields(&plan, "compute.cpu"),
        vec!["idle_time_before_scale_down", "max_instances"]
    );
    assert_eq!(change.requests.len(), 2);
    assert_eq!(change.requests[0].method, "PATCH");
    assert_eq!(
        change.requests[0].body.as_ref().unwrap(),
        &json!({"properties": {"properties": {"scaleSettings": {"maxNodeCount": 2, "minNodeCount": 0, "nodeIdleTimeBeforeScaleDown": "PT10M"}}}})
    );
    // Then the Tags API records the specification now applied.
    let tags = &change.requests[1];
    assert_eq!(tags.method, "PATCH");
    assert!(
        tags.path
            .ends_with("/computes/cpu/providers/Microsoft.Resources/tags/default"),
        "{}",
        tags.path
    );
    assert_eq!(tags.api_version, "2021-04-01");
    let body = tags.body.as_ref().unwrap();
    assert_eq!(body["operation"], "Merge");
    assert_eq!(
        body["properties"]["tags"]["amlops.spec"].as_str(),
        change.desired_spec.as_deref()
    );
    live.record(&plan);
    let recorded = plan.change("compute.cpu").unwrap().desired_spec.clone();
    let again = scaled.plan(&live).unwrap();
    let change = again.change("compute.cpu").unwrap();
    assert_eq!(change.action, Action::NoOp);
    assert_eq!(change.applied_spec, recorded);
}

#[test]
fn compute_tags_change_through_the_tags_api_and_a_description_by_put() {
    let mut live = Live::default();
    let tagged = format!("{COMPUTE}tags:\n  team: a\n");
    live.record(&Files::new(&[("c.yml", &tagged)]).plan(&live).unwrap());
    let plan = Files::new(&[("c.yml", &tagged.replace("team: a", "team: b"))])
        .plan(&live)
        .unwrap();
    let change = plan.change("compute.cpu").unwrap();
    assert_eq!(change.action, Action::Update);
    assert_eq!(change.reason.as_deref(), Some("tags change in place"));
    let methods: Vec<(&str, bool)> = change
        .requests
        .iter()
        .map(|r| (r.method.as_str(), r.path.ends_with("/tags/default")))
        .collect();
    assert_eq!(methods, vec![("PATCH", true)]);
    let body = change.requests[0].body.as_ref().unwrap();
    assert_eq!(body["properties"]["tags"]["team"], "b");
    assert_eq!(body["operation"], "Merge");

    let described = Files::new(&[("c.yml", &format!("{tagged}description: CPU\n"))])
        .plan(&live)
        .unwrap();
    let change = described.change("compute.cpu").unwrap();
    assert_eq!(change.action, Action::Update);
    assert_eq!(change.requests.len(), 1);
    assert_eq!(change.requests[0].method, "PUT");
}

#[test]
fn a_replaced_compute_keeps_the_tags_others_set() {
    let mut live = Live::default();
    live.record(&Files::new(&[("c.yml", COMPUTE)]).plan(&live).unwrap());
    live.objects.get_mut("computes/cpu").unwrap()["tags"]["costcenter"] = json!("42");
    let plan = Files::new(&[(
        "c.yml",
        &COMPUTE.replace("STANDARD_DS3_v2", "STANDARD_D4_v2"),
    )])
    .plan(&live)
    .unwrap();
    let change = plan.change("compute.cpu").unwrap();
    assert_eq!(change.action, Action::Replace);
    let put = change.requests.iter().find(|r| r.method == "PUT").unwrap();
    assert_eq!(put.body.as_ref().unwrap()["tags"]["costcenter"], "42");
}

#[test]
fn a_patched_compute_plans_no_change_although_its_record_is_older() {
    let mut live = Live::default();
    live.record(&Files::new(&[("c.yml", COMPUTE)]).plan(&live).unwrap());
    let scaled = Files::new(&[(
        "c.yml",
        &COMPUTE.replace("max_instances: 4", "max_instances: 2"),
    )]);
    // An older amlops sent the scale PATCH alone: the recorded specification is the first.
    let mut patch_only = scaled.plan(&live).unwrap();
    for change in &mut patch_only.changes {
        change.requests.truncate(1);
    }
    live.record(&patch_only);
    let again = scaled.plan(&live).unwrap();
    assert_eq!(actions(&again), vec![("compute.cpu", Action::NoOp)]);
    // A compute amlops does not own yet is still adopted (its tags are written).
    live.objects
        .get_mut("computes/cpu")
        .unwrap()
        .pointer_mut("/tags")
        .unwrap()
        .as_object_mut()
        .unwrap()
        .remove("amlops.project");
    let adopted = scaled.plan(&live).unwrap();
    assert_eq!(actions(&adopted), vec![("compute.cpu", Action::Update)]);
}

#[test]
fn a_compute_whose_provisioning_failed_is_created_again() {
    let mut live = Live::default();
    let files = Files::new(&[("c.yml", COMPUTE)]);
    live.record(&files.plan(&live).unwrap());
    live.objects.get_mut("computes/cpu").unwrap()["properties"]["provisioningState"] =
        json!("Failed");
    let plan = files.plan(&live).unwrap();
    let change = plan.change("compute.cpu").unwrap();
    assert_eq!(change.action, Action::Replace);
    assert_eq!(
        change.reason.as_deref(),
        Some("its last provisioning failed: delete it and create it again")
    );
    let methods: Vec<&str> = change.requests.iter().map(|r| r.method.as_str()).collect();
    assert_eq!(methods, ["DELETE", "PUT"]);
    assert!(
        change.requests[0]
            .path
            .ends_with("?underlyingResourceAction=Delete")
    );
}

#[test]
fn compute_size_changes_replace_and_say_why() {
    let mut live = Live::default();
    live.record(&Files::new(&[("c.yml", COMPUTE)]).plan(&live).unwrap());
    let plan = Files::new(&[("c.yml", &COMPUTE.replace("STANDARD_DS3_v2", "STANDARD_NC6"))])
        .plan(&live)
        .unwrap();
    let change = plan.change("compute.cpu").unwrap();
    assert_eq!(change.action, Action::Replace);
    assert_eq!(
        change.reason.as_deref(),
        Some("size cannot change in place")
    );
    assert!(change.fields[0].forces_replacement);
    let methods: Vec<&str> = change.requests.iter().map(|r| r.method.as_str()).collect();
    assert_eq!(methods, vec!["DELETE", "PUT"]);
    assert!(
        change.requests[0]
            .path
            .ends_with("computes/cpu?underlyingResourceAction=Delete")
    );
}

#[test]
fn compute_noise_from_the_service_is_no_change() {
    let mut live = Live::default();
    live.record(&Files::new(&[("c.yml", COMPUTE)]).plan(&live).unwrap());
    let object = live.objects.get_mut("computes/cpu").unwrap();
    object["properties"]["properties"]["vmSize"] = json!("STANDARD_DS3_V2");
    object["properties"]["properties"]["remoteLoginPortPublicAccess"] = json!("Enabled");
    object["properties"]["provisioningState"] = json!("Succeeded");
    object["properties"]["properties"]["currentNodeCount"] = json!(3);
    assert_eq!(
        actions(&Files::new(&[("c.yml", COMPUTE)]).plan(&live).unwrap()),
        vec![("compute.cpu", Action::NoOp)]
    );
}

#[test]
fn passwords_never_reach_the_serialised_plan() {
    let with_password = format!(
        "{COMPUTE}ssh_settings:\n  admin_username: azureuser\n  admin_password: hunter2-secret\n"
    );
    let plan = Files::new(&[("c.yml", &with_password)])
        .plan(&Live::default())
        .unwrap();
    let serialised = serde_json::to_string(&plan).unwrap();
    assert!(!serialised.contains("hunter2-secret"), "{serialised}");
    let request = &plan.changes[0].requests[0];
    assert_eq!(
        request
            .wire_body()
            .unwrap()
            .pointer("/properties/properties/userAccountCredentials/adminUserPassword"),
        Some(&json!("hunter2-secret"))
    );
}

const ENV: &str = "name: env\nversion: 1\nimage: python:3.11\n";
const JOB: &str = "command: echo ${{inputs.n}}\nenvironment: azureml:env@latest\ninputs:\n  n: 1\n";

#[test]
fn jobs_depend_on_what_they_use_and_run_once_per_specification() {
    let files = Files::new(&[("env.yml", ENV), ("train.yml", JOB)]);
    let mut live = Live::default();
    let first = files.plan(&live).unwrap();
    assert_eq!(
        actions(&first),
        vec![
            ("environment.env:1", Action::Create),
            ("job.train", Action::Submit)
        ]
    );
    let job = first.change("job.train").unwrap();
    assert_eq!(job.depends_on, vec!["environment.env:1"]);
    assert!(
        job.name.starts_with("train-") && job.name.len() == "train-".len() + 10,
        "{}",
        job.name
    );
    live.record(&first);
    let again = files.plan(&live).unwrap();
    assert_eq!(
        actions(&again),
        vec![
            ("environment.env:1", Action::NoOp),
            ("job.train", Action::NoOp)
        ]
    );

    let changed = Files::new(&[
        ("env.yml", ENV),
        ("train.yml", &JOB.replace("n: 1", "n: 2")),
    ])
    .plan(&live)
    .unwrap();
    let rerun = changed.change("job.train").unwrap();
    assert_eq!(rerun.action, Action::Submit);
    assert_ne!(rerun.name, job.name);
    assert_eq!(fields(&changed, "job.train"), vec!["inputs.n"]);
    assert_eq!(
        rerun.reason.as_deref(),
        Some(format!("changed since {}: inputs.n", job.name).as_str())
    );
}

#[test]
fn a_named_job_with_a_new_specification_is_a_conflict() {
    let named = format!("name: nightly\n{JOB}");
    let mut live = Live::default();
    live.record(
        &Files::new(&[("env.yml", ENV), ("train.yml", &named)])
            .plan(&live)
            .unwrap(),
    );
    let plan = Files::new(&[
        ("env.yml", ENV),
        ("train.yml", &named.replace("n: 1", "n: 2")),
    ])
    .plan(&live)
    .unwrap();
    let change = plan.change("job.nightly").unwrap();
    assert_eq!(change.action, Action::Conflict);
    assert_eq!(fields(&plan, "job.nightly"), vec!["inputs.n"]);
}

#[test]
fn rerun_always_submits_on_every_apply_under_a_new_name() {
    let always = format!("rerun: always\n{JOB}");
    let files = Files::new(&[("env.yml", ENV), ("train.yml", &always)]);
    let mut live = Live::default();
    let mut names = Vec::new();
    for run in 1..=3 {
        let plan = files.plan(&live).unwrap();
        let change = plan.change("job.train").unwrap();
        assert_eq!(change.action, Action::Submit, "run {run}");
        assert!(change.name.ends_with(&format!("-{run}")), "{}", change.name);
        names.push(change.name.clone());
        live.record(&plan);
    }
    assert_eq!(
        names.iter().collect::<BTreeSet<_>>().len(),
        3,
        "every run has its own name: {names:?}"
    );
    let last = files.plan(&live).unwrap();
    assert_eq!(
        last.change("job.train").unwrap().reason.as_deref(),
        Some(format!("rerun: always; unchanged since {}", names[2]).as_str())
    );
}

#[test]
fn rerun_never_submits_once_and_then_keeps_the_job_whatever_changes() {
    let never = format!("rerun: never\n{JOB}");
    let mut live = Live::default();
    let first = Files::new(&[("env.yml", ENV), ("train.yml", &never)])
        .plan(&live)
        .unwrap();
    assert_eq!(first.change("job.train").unwrap().action, Action::Submit);
    live.record(&first);
    let edited = Files::new(&[
        ("env.yml", ENV),
        ("train.yml", &never.replace("n: 1", "n: 2")),
    ])
    .plan(&live)
    .unwrap();
    let kept = edited.change("job.train").unwrap();
    assert_eq!(kept.action, Action::NoOp);
    assert!(
        kept.reason.as_deref().unwrap().starts_with("rerun: never;"),
        "{:?}",
        kept.reason
    );
    assert_eq!(
        edited.notes,
        vec![format!("job.train: {}", kept.reason.as_deref().unwrap())],
        "the unsubmitted edit is said"
    );
    // The same edit under the default policy is a new submission.
    let default = Files::new(&[
        ("env.yml", ENV),
        ("train.yml", &JOB.replace("n: 1", "n: 2")),
    ])
    .plan(&live)
    .unwrap();
    assert_eq!(default.change("job.train").unwrap().action, Action::Submit);
}

#[test]
fn rerun_always_cannot_keep_a_fixed_name() {
    let files = Files::new(&[("train.yml", &format!("name: nightly\nrerun: always\n{JOB}"))]);
    let manifest = manifest::load(&[files.dir.path().to_path_buf()]);
    let message = format!("{:?}", manifest.diagnostics.items);
    assert!(manifest.has_errors());
    assert!(
        message.contains("rerun") && message.contains("remove `name:`"),
        "{message}"
    );
}

#[test]
fn inline_environments_become_the_sdk_anonymous_environment() {
    let files = Files::new(&[(
        "hello.yml",
        "command: echo hello\nenvironment:\n  image: library/python:latest\n",
    )]);
    let plan = files.plan(&Live::default()).unwrap();
    assert_eq!(
        actions(&plan),
        vec![
            (
                "environment.CliV2AnonymousEnvironment:65cb0b33ff5c",
                Action::Create
            ),
            ("job.hello", Action::Submit)
        ]
    );
    let environment = &plan.changes[0];
    assert!(environment.derived);
    assert!(environment.requests[0].path.ends_with(
        "environments/CliV2AnonymousEnvironment/versions/65cb0b33ff5c91a624f57556b658973423dd7a3dd9aa6b4289458d4de41d88e6"
    ));
}

#[test]
fn unresolved_references_are_plan_errors_pointing_at_both_ends() {
    let files = Files::new(&[
        ("env.yml", ENV),
        ("train.yml", &JOB.replace("env@latest", "env:7")),
    ]);
    let errors = files.plan(&Live::default()).unwrap_err();
    assert_eq!(errors.len(), 1);
    let error = &errors[0];
    assert!(
        error
            .message
            .contains("job.train refers to environment `env:7`"),
        "{}",
        error.message
    );
    assert_eq!(error.loc.as_ref().unwrap().line, 2);
    assert_eq!(error.hints, vec!["known versions of `env`: 1".to_owned()]);
    assert_eq!(error.related[0].0, "environment.env:1 is declared");
}

#[test]
fn references_to_live_assets_need_no_declaration() {
    let mut live = Live::default();
    live.record(&Files::new(&[("env.yml", ENV)]).plan(&live).unwrap());
    let plan = Files::new(&[("train.yml", JOB)]).plan(&live).unwrap();
    assert_eq!(actions(&plan), vec![("job.train", Action::Submit)]);
    assert!(plan.changes[0].depends_on.is_empty());
}

#[test]
fn dependency_cycles_name_their_ends() {
    let files = Files::new(&[
        (
            "a.yml",
            "name: a\nversion: 1\ntype: uri_file\npath: azureml:b:1\n",
        ),
        (
            "b.yml",
            "name: b\nversion: 1\ntype: uri_file\npath: azureml:a:1\n",
        ),
    ]);
    let errors = files.plan(&Live::default()).unwrap_err();
    assert!(
        errors[0]
            .message
            .starts_with("dependency cycle between data.a:1 and data.b:1"),
        "{}",
        errors[0].message
    );
}

#[test]
fn changes_come_in_dependency_order() {
    let files = Files::new(&[
        (
            "z-job.yml",
            "command: echo\nenvironment: azureml:env@latest\ncompute: azureml:cpu\n",
        ),
        ("a-env.yml", ENV),
        ("m-compute.yml", COMPUTE),
    ]);
    let plan = files.plan(&Live::default()).unwrap();
    assert_eq!(
        actions(&plan),
        vec![
            ("compute.cpu", Action::Create),
            ("environment.env:1", Action::Create),
            ("job.z-job", Action::Submit)
        ]
    );
}

#[test]
fn without_ownership_tags_bodies_are_the_sdk_bodies() {
    let files = Files::new(&[("data.yml", DATA)]);
    let plan = files
        .plan_with(
            &Live::default(),
            PlanOptions {
                ownership_tags: false,
                ..PlanOptions::default()
            },
        )
        .unwrap();
    assert_eq!(
        plan.changes[0].requests[0].body.as_ref().unwrap(),
        &json!({"properties": {"dataType": "uri_file", "dataUri": "azureml://datastores/ds/paths/iris.csv", "isAnonymous": false,
            "isArchived": false, "properties": {}, "tags": {}}})
    );
}
