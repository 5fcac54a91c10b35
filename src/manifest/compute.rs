//! Compute targets (`az ml compute create`).

use super::node::Node;
use super::read::{Fields, Problems, join};
use crate::diag::Located;
use crate::model::{AmlCompute, Compute, ComputeSpec, SshSettings};

/// The compute types amlops reads, with the YAML `type` that selects each.
pub const COMPUTE_TYPES: &[&str] = &["amlcompute"];

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
    let mut fields = Fields::new(node, "", "an amlcompute", problems)?;
    fields.allow(&["id", "resource_id"]);
    fields.take("type");
    let name = fields.req_str("name", problems);
    let description = fields.text("description", problems).map(|d| d.value);
    let tags = fields.str_map("tags", problems);
    let location = fields.str("location", problems);
    let identity = fields
        .take_some("identity")
        .and_then(|n| read_identity(n, "identity", problems));
    let spec = match compute_type.as_str() {
        "amlcompute" => ComputeSpec::AmlCompute(read_aml_compute(&mut fields, problems)),
        other => unreachable!("read_compute is called for amlcompute only, not {other:?}"),
    };
    fields.finish(problems);

    let name = name?;
    if !valid_compute_name(&name.value) {
        problems.error(
            &name.loc,
            "name",
            format!(
                "`{}` is not a valid compute name: 3 to 24 letters, digits and `-`, starting with a letter and not ending in `-` followed by digits",
                name.value
            ),
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
