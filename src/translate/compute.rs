//! Computes as the SDK sends them: clusters, compute instances and attached computes.

use serde_json::{Map, Value, json};

use super::iso_duration;
use crate::model::{
    AmlCompute, AttachedCompute, AttachedKind, Compute, ComputeInstance, ComputeSpec,
};

/// SDK defaults for a compute cluster.
pub const DEFAULT_VM_SIZE: &str = "STANDARD_DS3_V2";
pub const DEFAULT_MAX_INSTANCES: i64 = 4;
pub const DEFAULT_IDLE_SECONDS: i64 = 120;

/// The PUT body of a compute. `location` is the workspace's region, used when the manifest
/// names none.
pub fn compute(compute: &Compute, location: &str) -> Value {
    let mut body = Map::new();
    body.insert(
        "location".into(),
        json!(
            compute
                .location
                .as_ref()
                .map(|l| l.value.as_str())
                .unwrap_or(location)
        ),
    );
    if !compute.tags.is_empty() {
        body.insert("tags".into(), json!(compute.tags));
    }
    if let Some(identity) = &compute.identity {
        body.insert("identity".into(), identity.clone());
    }
    let mut properties = Map::new();
    if let Some(description) = &compute.description {
        properties.insert("description".into(), json!(description));
    }
    match &compute.spec {
        ComputeSpec::AmlCompute(aml) => {
            properties.insert("computeType".into(), json!("AmlCompute"));
            properties.insert("disableLocalAuth".into(), json!(aml.ssh_settings.is_none()));
            properties.insert("properties".into(), aml_properties(aml));
        }
        ComputeSpec::Instance(instance) => {
            properties.insert("computeType".into(), json!("ComputeInstance"));
            let disable_local_auth =
                match (instance.ssh_public_access_enabled, &instance.ssh_settings) {
                    (None, None) => true,
                    (enabled, _) => !enabled.unwrap_or(false),
                };
            properties.insert("disableLocalAuth".into(), json!(disable_local_auth));
            properties.insert("properties".into(), instance_properties(instance));
        }
        ComputeSpec::Attached(attached) => attached_properties(attached, &mut properties),
    }
    body.insert("properties".into(), Value::Object(properties));
    Value::Object(body)
}

fn aml_properties(aml: &AmlCompute) -> Value {
    let mut properties = Map::new();
    properties.insert(
        "enableNodePublicIp".into(),
        json!(aml.enable_node_public_ip.unwrap_or(true)),
    );
    properties.insert("osType".into(), json!("Linux"));
    let access = match aml.ssh_public_access_enabled {
        Some(true) => "Enabled",
        Some(false) => "Disabled",
        None => "NotSpecified",
    };
    properties.insert("remoteLoginPortPublicAccess".into(), json!(access));
    properties.insert(
        "scaleSettings".into(),
        json!({
            "maxNodeCount": aml.max_instances.as_ref().map_or(DEFAULT_MAX_INSTANCES, |v| v.value),
            "minNodeCount": aml.min_instances.as_ref().map_or(0, |v| v.value),
            "nodeIdleTimeBeforeScaleDown": iso_duration(aml.idle_time_before_scale_down.as_ref().map_or(DEFAULT_IDLE_SECONDS, |v| v.value)),
        }),
    );
    if let Some(tier) = &aml.tier {
        properties.insert("vmPriority".into(), json!(tier.value));
    }
    properties.insert(
        "vmSize".into(),
        json!(
            aml.size
                .as_ref()
                .map(|s| s.value.as_str())
                .unwrap_or(DEFAULT_VM_SIZE)
        ),
    );
    if let Some(ssh) = &aml.ssh_settings {
        let mut credentials = Map::new();
        if let Some(user) = &ssh.admin_username {
            credentials.insert("adminUserName".into(), json!(user));
        }
        if let Some(password) = &ssh.admin_password {
            credentials.insert("adminUserPassword".into(), json!(password));
        }
        if let Some(key) = &ssh.ssh_key_value {
            credentials.insert("adminUserSshPublicKey".into(), json!(key));
        }
        properties.insert("userAccountCredentials".into(), Value::Object(credentials));
    }
    if let Some(subnet) = &aml.subnet {
        properties.insert("subnet".into(), json!({ "id": subnet }));
    }
    Value::Object(properties)
}

fn instance_properties(instance: &ComputeInstance) -> Value {
    let mut properties = Map::new();
    properties.insert(
        "vmSize".into(),
        json!(
            instance
                .size
                .as_ref()
                .map(|s| s.value.as_str())
                .unwrap_or(DEFAULT_VM_SIZE)
        ),
    );
    if let Some(subnet) = &instance.subnet {
        properties.insert("subnet".into(), json!({ "id": subnet }));
    }
    if instance.ssh_public_access_enabled.is_some() || instance.ssh_settings.is_some() {
        let mut ssh = Map::new();
        let access = if instance.ssh_public_access_enabled.unwrap_or(false) {
            "Enabled"
        } else {
            "Disabled"
        };
        ssh.insert("sshPublicAccess".into(), json!(access));
        if let Some(key) = instance
            .ssh_settings
            .as_ref()
            .and_then(|s| s.ssh_key_value.as_ref())
        {
            ssh.insert("adminPublicKey".into(), json!(key));
        }
        properties.insert("sshSettings".into(), Value::Object(ssh));
    }
    if let Some((object_id, tenant_id)) = &instance.on_behalf_of {
        properties.insert(
            "personalComputeInstanceSettings".into(),
            json!({"assignedUser": {"objectId": object_id, "tenantId": tenant_id}}),
        );
    }
    if let Some(minutes) = instance
        .idle_time_before_shutdown_minutes
        .filter(|m| *m != 0)
    {
        properties.insert(
            "idleTimeBeforeShutdown".into(),
            json!(format!("PT{minutes}M")),
        );
    } else if let Some(idle) = &instance.idle_time_before_shutdown {
        properties.insert("idleTimeBeforeShutdown".into(), json!(idle));
    }
    properties.insert(
        "enableNodePublicIp".into(),
        json!(instance.enable_node_public_ip.unwrap_or(true)),
    );
    properties.insert(
        "enableSSO".into(),
        json!(instance.enable_sso.unwrap_or(true)),
    );
    properties.insert(
        "enableRootAccess".into(),
        json!(instance.enable_root_access.unwrap_or(true)),
    );
    properties.insert(
        "releaseQuotaOnStop".into(),
        json!(instance.release_quota_on_stop.unwrap_or(false)),
    );
    properties.insert(
        "enableOSPatching".into(),
        json!(instance.enable_os_patching.unwrap_or(false)),
    );
    properties.insert("applicationSharingPolicy".into(), json!("Shared"));
    properties.insert("computeInstanceAuthorizationType".into(), json!("personal"));
    if let Some(schedules) = &instance.schedules {
        properties.insert("schedules".into(), schedules.clone());
    }
    if let Some(scripts) = &instance.setup_scripts {
        properties.insert("setupScripts".into(), super::camel_keys(scripts));
    }
    if let Some(services) = &instance.custom_services {
        properties.insert("customServices".into(), super::camel_keys(services));
    }
    Value::Object(properties)
}

fn attached_properties(attached: &AttachedCompute, properties: &mut Map<String, Value>) {
    properties.insert("computeType".into(), json!(attached.kind.rest_name()));
    if let Some(id) = &attached.resource_id {
        properties.insert("resourceId".into(), json!(id.value));
    }
    match attached.kind {
        AttachedKind::VirtualMachine => {
            if let Some(ssh) = &attached.vm_ssh {
                let mut account = Map::new();
                if let Some(user) = &ssh.admin_username {
                    account.insert("username".into(), json!(user));
                }
                if let Some(password) = &ssh.admin_password {
                    account.insert("password".into(), json!(password));
                }
                if let Some(key) = &ssh.private_key {
                    account.insert("privateKeyData".into(), json!(key));
                }
                properties.insert(
                    "properties".into(),
                    json!({"sshPort": ssh.ssh_port.unwrap_or(22), "administratorAccount": account}),
                );
            }
        }
        AttachedKind::SynapseSpark => {}
        AttachedKind::Kubernetes => {
            let mut inner = attached
                .properties
                .as_ref()
                .map(super::camel_keys)
                .and_then(|v| v.as_object().cloned())
                .unwrap_or_default();
            if let Some(namespace) = &attached.namespace {
                inner.insert("namespace".into(), json!(namespace));
            }
            properties.insert("properties".into(), Value::Object(inner));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::{Loc, Located, SourceFile};
    use crate::model::{SshSettings, VmSsh};
    use serde_json::json;

    fn located<T>(value: T) -> Located<T> {
        Located::new(
            value,
            Loc::file_start(&SourceFile::new(
                std::path::Path::new("c.yml"),
                String::new(),
            )),
        )
    }

    fn compute(spec: ComputeSpec) -> Compute {
        Compute {
            name: located("c1".to_owned()),
            description: None,
            tags: Default::default(),
            location: None,
            identity: None,
            spec,
        }
    }

    #[test]
    fn clusters_with_ssh_allow_local_auth() {
        let aml = AmlCompute {
            ssh_settings: Some(SshSettings {
                admin_username: Some("u".into()),
                admin_password: Some("p".into()),
                ssh_key_value: None,
            }),
            ..AmlCompute::default()
        };
        let body = super::compute(&compute(ComputeSpec::AmlCompute(aml)), "eastus");
        assert_eq!(body["properties"]["disableLocalAuth"], json!(false));
        assert_eq!(body["location"], json!("eastus"));
    }

    #[test]
    fn instances_carry_the_sdk_defaults_and_schedules() {
        let instance = ComputeInstance {
            idle_time_before_shutdown_minutes: Some(30),
            schedules: Some(json!({"computeStartStop": []})),
            ..ComputeInstance::default()
        };
        let body = super::compute(&compute(ComputeSpec::Instance(instance)), "eastus");
        let properties = &body["properties"]["properties"];
        assert_eq!(body["properties"]["computeType"], json!("ComputeInstance"));
        assert_eq!(properties["vmSize"], json!(DEFAULT_VM_SIZE));
        assert_eq!(properties["idleTimeBeforeShutdown"], json!("PT30M"));
        assert_eq!(properties["enableRootAccess"], json!(true));
        assert_eq!(properties["applicationSharingPolicy"], json!("Shared"));
        assert_eq!(properties["schedules"], json!({"computeStartStop": []}));
    }

    #[test]
    fn attached_machines_name_their_account() {
        let attached = AttachedCompute {
            kind: AttachedKind::VirtualMachine,
            resource_id: Some(located("/subscriptions/s/vm".to_owned())),
            vm_ssh: Some(VmSsh {
                admin_username: Some("u".into()),
                admin_password: Some("p".into()),
                ssh_port: None,
                private_key: None,
            }),
            namespace: None,
            properties: None,
        };
        let body = super::compute(&compute(ComputeSpec::Attached(attached)), "eastus");
        assert_eq!(
            body["properties"],
            json!({"computeType": "VirtualMachine", "resourceId": "/subscriptions/s/vm",
                "properties": {"sshPort": 22, "administratorAccount": {"username": "u", "password": "p"}}})
        );
    }
}
