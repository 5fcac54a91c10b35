//! Compute targets (`az ml compute create`).

use super::node::Node;
use super::read::{Fields, Problems, join};
use super::shape::{self, Shape, Ty};
use crate::diag::Diagnostic;
use crate::diag::Located;
use crate::model::{
    AmlCompute, AttachedCompute, AttachedKind, Compute, ComputeInstance, ComputeSpec, SshSettings,
    VmSsh,
};

/// The compute types amlops reads, with the YAML `type` that selects each.
pub const COMPUTE_TYPES: &[&str] = &[
    "amlcompute",
    "computeinstance",
    "virtualmachine",
    "synapsespark",
    "kubernetes",
];

/// Whether a name can stand as one segment of a request path without changing which
/// resource the path addresses.
pub fn safe_in_path(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && !name
            .chars()
            .any(|c| matches!(c, '/' | '\\' | '?' | '#' | '%') || c.is_control())
}

/// Compute names as Azure accepts them: 3 to 24 letters, digits and `-`, a letter first, not
/// ending in `-<digits>`.
pub fn valid_compute_name(name: &str) -> bool {
    let len_ok = (3..=24).contains(&name.len());
    let chars_ok = name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    let tail_ok = match name.rsplit_once('-') {
        Some((_, tail)) => tail.is_empty() || !tail.chars().all(|c| c.is_ascii_digit()),
        None => true,
    };
    len_ok && chars_ok && tail_ok
}

pub fn read_compute(node: &Node, problems: &mut Problems) -> Option<Compute> {
    let compute_type = node
        .get_str("type")
        .unwrap_or_default()
        .to_ascii_lowercase();
    let what = match compute_type.as_str() {
        "computeinstance" => "a compute instance",
        "virtualmachine" => "an attached virtual machine",
        "synapsespark" => "an attached Synapse Spark pool",
        "kubernetes" => "an attached Kubernetes cluster",
        _ => "an amlcompute",
    };
    let mut fields = Fields::new(node, "", what, problems)?;
    fields.allow(&[
        "id",
        "created_on",
        "provisioning_state",
        "provisioning_errors",
    ]);
    fields.take("type");
    let name = fields.req_str("name", problems);
    let description = fields.text("description", problems).map(|d| d.value);
    let tags = fields.str_map("tags", problems);
    let location = fields.str("location", problems);
    let identity = match compute_type.as_str() {
        "virtualmachine" => None,
        _ => fields
            .take_some("identity")
            .and_then(|n| read_identity(n, "identity", problems)),
    };
    let spec = match compute_type.as_str() {
        "computeinstance" => ComputeSpec::Instance(read_instance(&mut fields, problems)),
        "virtualmachine" | "synapsespark" | "kubernetes" => {
            ComputeSpec::Attached(read_attached(&mut fields, &compute_type, node, problems)?)
        }
        _ => {
            fields.allow(&["resource_id"]);
            ComputeSpec::AmlCompute(read_aml_compute(&mut fields, problems))
        }
    };
    fields.finish(problems);

    let name = name?;
    if !safe_in_path(&name.value) {
        // The name is a segment of every request's path: one that could leave it (`/`,
        // `..`, `?`, `#`, `%`) would address another resource.
        problems.push(
            Diagnostic::error(format!(
                "`{}` cannot be a compute name: it would change the path of the requests amlops sends (Azure accepts 3 to 24 letters, digits and `-`, starting with a letter)",
                name.value.escape_debug()
            ))
            .at(&name.loc)
            .field("name"),
        );
        return None;
    }
    if !valid_compute_name(&name.value) {
        // `az ml` leaves the name to Azure, which refuses it; amlops says so before.
        problems.push(
            Diagnostic::warning(format!(
                "`{}` is not a valid compute name: Azure accepts 3 to 24 letters, digits and `-`, starting with a letter and not ending in `-` followed by digits",
                name.value
            ))
            .at(&name.loc)
            .field("name"),
        );
    }
    Some(Compute {
        name,
        description,
        tags,
        location,
        identity,
        spec,
    })
}

static SCHEDULE_TRIGGER: Shape = Shape {
    what: "a schedule trigger",
    keys: &[
        ("type", Ty::Choice(&["cron", "recurrence"])),
        ("expression", Ty::Str),
        ("start_time", Ty::Str),
        ("time_zone", Ty::Str),
        (
            "frequency",
            Ty::Choice(&["minute", "hour", "day", "week", "month"]),
        ),
        ("interval", Ty::Int),
        ("schedule", Ty::Nested(&RECURRENCE)),
    ],
    required: &["type"],
};

static RECURRENCE: Shape = Shape {
    what: "a recurrence schedule",
    keys: &[
        ("hours", Ty::Any),
        ("minutes", Ty::Any),
        ("week_days", Ty::StrList),
    ],
    required: &[],
};

static SCRIPT: Shape = Shape {
    what: "a setup script",
    keys: &[
        ("path", Ty::Str),
        ("command", Ty::Str),
        ("timeout_minutes", Ty::Int),
    ],
    required: &[],
};

static SETUP_SCRIPTS: Shape = Shape {
    what: "setup scripts",
    keys: &[
        ("creation_script", Ty::Nested(&SCRIPT)),
        ("startup_script", Ty::Nested(&SCRIPT)),
    ],
    required: &[],
};

fn read_instance(fields: &mut Fields<'_>, problems: &mut Problems) -> ComputeInstance {
    let mut instance = ComputeInstance {
        size: fields.str("size", problems),
        ssh_public_access_enabled: fields
            .bool("ssh_public_access_enabled", problems)
            .map(|b| b.value),
        idle_time_before_shutdown: fields
            .str("idle_time_before_shutdown", problems)
            .map(|v| v.value),
        idle_time_before_shutdown_minutes: fields
            .int("idle_time_before_shutdown_minutes", problems)
            .map(|v| v.value),
        enable_node_public_ip: fields
            .bool("enable_node_public_ip", problems)
            .map(|b| b.value),
        enable_sso: fields.bool("enable_sso", problems).map(|b| b.value),
        enable_root_access: fields.bool("enable_root_access", problems).map(|b| b.value),
        enable_os_patching: fields.bool("enable_os_patching", problems).map(|b| b.value),
        release_quota_on_stop: fields
            .bool("release_quota_on_stop", problems)
            .map(|b| b.value),
        ..ComputeInstance::default()
    };
    fields.allow(&["state", "last_operation", "services", "os_image_metadata"]);
    instance.ssh_settings = fields.take_some("ssh_settings").and_then(|n| {
        let mut ssh = Fields::new(n, "ssh_settings", "ssh settings", problems)?;
        let settings = SshSettings {
            admin_username: ssh.str("admin_username", problems).map(|v| v.value),
            admin_password: None,
            ssh_key_value: ssh.str("ssh_key_value", problems).map(|v| v.value),
        };
        ssh.allow(&["ssh_port"]);
        ssh.finish(problems);
        Some(settings)
    });
    instance.subnet = fields
        .take_some("network_settings")
        .and_then(|n| read_network(n, problems));
    if let Some(node) = fields.take_some("create_on_behalf_of") {
        let mut on_behalf = Fields::new(node, "create_on_behalf_of", "a user", problems);
        if let Some(f) = on_behalf.as_mut() {
            let object = f.str("user_object_id", problems).map(|v| v.value);
            let tenant = f.str("user_tenant_id", problems).map(|v| v.value);
            instance.on_behalf_of = object.zip(tenant);
        }
        if let Some(f) = on_behalf {
            f.finish(problems);
        }
    }
    instance.schedules = fields
        .take_some("schedules")
        .and_then(|n| read_schedules(n, problems));
    instance.setup_scripts = fields
        .take_some("setup_scripts")
        .and_then(|n| shape::read(n, "setup_scripts", &SETUP_SCRIPTS, problems));
    instance.custom_services = fields.take_some("custom_applications").map(|n| n.to_json());
    instance
}

/// `schedules.compute_start_stop`, in the REST API's shape.
fn read_schedules(node: &Node, problems: &mut Problems) -> Option<serde_json::Value> {
    let mut fields = Fields::new(node, "schedules", "compute schedules", problems)?;
    let mut rest = Vec::new();
    if let Some(list) = fields.take_some("compute_start_stop") {
        let path = "schedules.compute_start_stop";
        match list.items() {
            Some(items) => {
                for (i, item) in items.iter().enumerate() {
                    if let Some(schedule) = read_start_stop(item, &format!("{path}[{i}]"), problems)
                    {
                        rest.push(schedule);
                    }
                }
            }
            None => super::read::type_error(list, path, "a list", problems),
        }
    }
    fields.finish(problems);
    Some(serde_json::json!({ "computeStartStop": rest }))
}

fn read_start_stop(node: &Node, path: &str, problems: &mut Problems) -> Option<serde_json::Value> {
    let mut fields = Fields::new(node, path, "a start/stop schedule", problems)?;
    fields.allow(&["schedule_id", "provisioning_state"]);
    let action = fields.choice("action", &["start", "stop"], problems);
    if action.is_none() && !fields.has("action") {
        problems.error(
            fields.loc(),
            &join(path, "action"),
            format!(
                "missing required key `{}` in a start/stop schedule",
                join(path, "action")
            ),
        );
    }
    let state = fields
        .choice("state", &["enabled", "disabled"], problems)
        .map_or("Enabled", |s| {
            if s.value == "enabled" {
                "Enabled"
            } else {
                "Disabled"
            }
        });
    let trigger = fields
        .take_some("trigger")
        .and_then(|n| shape::read(n, &join(path, "trigger"), &SCHEDULE_TRIGGER, problems));
    fields.finish(problems);
    let mut schedule = serde_json::Map::new();
    schedule.insert("action".into(), serde_json::json!(action?.value));
    schedule.insert("status".into(), serde_json::json!(state));
    if let Some(trigger) = trigger {
        let kind = trigger
            .get("type")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("cron");
        let rest_kind = if kind == "cron" { "Cron" } else { "Recurrence" };
        schedule.insert("triggerType".into(), serde_json::json!(rest_kind));
        let mut body = serde_json::Map::new();
        for (yaml, rest) in [
            ("expression", "expression"),
            ("start_time", "startTime"),
            ("time_zone", "timeZone"),
            ("frequency", "frequency"),
            ("interval", "interval"),
        ] {
            if let Some(value) = trigger.get(yaml) {
                body.insert(rest.into(), value.clone());
            }
        }
        if let Some(recurrence) = trigger.get("schedule") {
            body.insert("schedule".into(), crate::translate::camel_keys(recurrence));
        }
        body.insert("triggerType".into(), serde_json::json!(rest_kind));
        let key = if kind == "cron" { "cron" } else { "recurrence" };
        schedule.insert(key.into(), serde_json::Value::Object(body));
    }
    Some(serde_json::Value::Object(schedule))
}

fn read_attached(
    fields: &mut Fields<'_>,
    compute_type: &str,
    node: &Node,
    problems: &mut Problems,
) -> Option<AttachedCompute> {
    let kind = match compute_type {
        "virtualmachine" => AttachedKind::VirtualMachine,
        "synapsespark" => AttachedKind::SynapseSpark,
        _ => AttachedKind::Kubernetes,
    };
    let resource_id = if kind == AttachedKind::Kubernetes {
        fields.str("resource_id", problems)
    } else {
        fields.req_str("resource_id", problems)
    };
    let mut attached = AttachedCompute {
        kind,
        resource_id,
        vm_ssh: None,
        namespace: None,
        properties: None,
    };
    match kind {
        AttachedKind::VirtualMachine => {
            fields.allow(&["compute_location"]);
            attached.vm_ssh = fields
                .take_some("ssh_settings")
                .and_then(|n| read_vm_ssh(n, node, problems));
        }
        AttachedKind::SynapseSpark => {
            fields.allow(&[
                "node_family",
                "node_size",
                "node_count",
                "spark_version",
                "scale_settings",
                "auto_pause_settings",
            ]);
        }
        AttachedKind::Kubernetes => {
            attached.namespace = fields.req_str("namespace", problems).map(|n| n.value);
            attached.properties = fields.take_some("properties").map(|n| n.to_json());
        }
    }
    Some(attached)
}

fn read_vm_ssh(node: &Node, document: &Node, problems: &mut Problems) -> Option<VmSsh> {
    let mut fields = Fields::new(node, "ssh_settings", "ssh settings", problems)?;
    let mut ssh = VmSsh {
        admin_username: fields.str("admin_username", problems).map(|v| v.value),
        admin_password: fields.str("admin_password", problems).map(|v| v.value),
        ssh_port: fields.int("ssh_port", problems).map(|v| v.value),
        private_key: None,
    };
    if let Some(key_file) = fields.str("ssh_private_key_file", problems) {
        let path = document.loc.file.dir().join(&key_file.value);
        match super::read::read_file_text(&path) {
            Ok(text) => ssh.private_key = Some(text),
            Err(e) => problems.error(
                &key_file.loc,
                "ssh_settings.ssh_private_key_file",
                format!("cannot read `{}`: {e}", key_file.value),
            ),
        }
    }
    fields.finish(problems);
    Some(ssh)
}

fn read_aml_compute(fields: &mut Fields<'_>, problems: &mut Problems) -> AmlCompute {
    let size = fields.str("size", problems);
    let tier = fields
        .choice("tier", &["dedicated", "low_priority"], problems)
        .map(|t| {
            Located::new(
                if t.value == "dedicated" {
                    "Dedicated"
                } else {
                    "LowPriority"
                }
                .to_owned(),
                t.loc,
            )
        });
    let min_instances = fields.int("min_instances", problems);
    let max_instances = fields.int("max_instances", problems);
    let idle_time_before_scale_down = fields.int("idle_time_before_scale_down", problems);
    let ssh_public_access_enabled = fields
        .bool("ssh_public_access_enabled", problems)
        .map(|b| b.value);
    let enable_node_public_ip = fields
        .bool("enable_node_public_ip", problems)
        .map(|b| b.value);
    let ssh_settings = fields
        .take_some("ssh_settings")
        .and_then(|n| read_ssh(n, problems));
    let subnet = fields
        .take_some("network_settings")
        .and_then(|n| read_network(n, problems));
    for (value, key) in [
        (&min_instances, "min_instances"),
        (&max_instances, "max_instances"),
    ] {
        if let Some(v) = value.as_ref().filter(|v| v.value < 0) {
            problems.error(&v.loc, key, format!("`{key}` must not be negative"));
        }
        if let Some(v) = value.as_ref().filter(|v| v.value > i64::from(i32::MAX)) {
            // The REST API holds node counts as 32-bit integers.
            problems.error(
                &v.loc,
                key,
                format!("`{key}` is too large: Azure takes at most {}", i32::MAX),
            );
        }
    }
    if let (Some(min), Some(max)) = (&min_instances, &max_instances)
        && min.value > max.value
    {
        problems.error(
            &min.loc,
            "min_instances",
            format!(
                "`min_instances` ({}) is larger than `max_instances` ({})",
                min.value, max.value
            ),
        );
    }
    AmlCompute {
        size,
        tier,
        min_instances,
        max_instances,
        idle_time_before_scale_down,
        ssh_public_access_enabled,
        enable_node_public_ip,
        ssh_settings,
        subnet,
    }
}

fn read_ssh(node: &Node, problems: &mut Problems) -> Option<SshSettings> {
    let mut fields = Fields::new(node, "ssh_settings", "ssh settings", problems)?;
    let settings = SshSettings {
        admin_username: fields.str("admin_username", problems).map(|v| v.value),
        admin_password: fields.str("admin_password", problems).map(|v| v.value),
        ssh_key_value: fields.str("ssh_key_value", problems).map(|v| v.value),
    };
    fields.finish(problems);
    Some(settings)
}

fn read_network(node: &Node, problems: &mut Problems) -> Option<String> {
    let mut fields = Fields::new(node, "network_settings", "network settings", problems)?;
    let vnet = fields.str("vnet_name", problems);
    let subnet = fields.str("subnet", problems);
    fields.finish(problems);
    let subnet = subnet?;
    // A bare subnet name needs its virtual network; an ARM id stands alone.
    Some(match vnet {
        Some(vnet) if !subnet.value.starts_with('/') => {
            format!("{}/subnets/{}", vnet.value, subnet.value)
        }
        _ => subnet.value,
    })
}

/// `identity:` of a compute, in the REST API's `ManagedServiceIdentity` shape.
pub fn read_identity(
    node: &Node,
    path: &str,
    problems: &mut Problems,
) -> Option<serde_json::Value> {
    let mut fields = Fields::new(node, path, "an identity", problems)?;
    let kind = fields.choice(
        "type",
        &[
            "system_assigned",
            "user_assigned",
            "system_assigned,user_assigned",
            "none",
        ],
        problems,
    );
    let mut identities = serde_json::Map::new();
    if let Some(items) = fields.take_some("user_assigned_identities") {
        let list_path = join(path, "user_assigned_identities");
        match items.items() {
            Some(items) => {
                for (i, item) in items.iter().enumerate() {
                    let item_path = format!("{list_path}[{i}]");
                    if let Some(mut item_fields) =
                        Fields::new(item, &item_path, "a user-assigned identity", problems)
                    {
                        if let Some(id) = item_fields.req_str("resource_id", problems) {
                            identities.insert(id.value, serde_json::json!({}));
                        }
                        item_fields.finish(problems);
                    }
                }
            }
            None => super::read::type_error(items, &list_path, "a list", problems),
        }
    }
    fields.finish(problems);
    let kind = match kind?.value {
        "system_assigned" => "SystemAssigned",
        "user_assigned" => "UserAssigned",
        "system_assigned,user_assigned" => "SystemAssigned,UserAssigned",
        _ => "None",
    };
    let mut identity = serde_json::json!({ "type": kind });
    if !identities.is_empty() {
        identity["userAssignedIdentities"] = serde_json::Value::Object(identities);
    }
    Some(identity)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_would_change_a_request_path_are_refused() {
        for ok in ["cpu-cluster", "<ATTACHED_SPARK_POOL_NAME>", "a.b"] {
            assert!(safe_in_path(ok), "{ok}");
        }
        for bad in [
            "zz/../cpu",
            "..",
            ".",
            "a?b",
            "a#b",
            "a%2Fb",
            "a\\b",
            "a\nb",
            "",
        ] {
            assert!(!safe_in_path(bad), "{bad:?}");
        }
    }

    #[test]
    fn compute_names() {
        for ok in ["cpu-cluster", "gpu1", "minimal-example", "a-1b"] {
            assert!(valid_compute_name(ok), "{ok}");
        }
        for bad in [
            "ab",
            "1cpu",
            "cpu_cluster",
            "cluster-01",
            "a-very-long-compute-name-x",
        ] {
            assert!(!valid_compute_name(bad), "{bad}");
        }
    }
}
