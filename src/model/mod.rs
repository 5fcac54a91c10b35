//! The typed resources amlops manages, independent of the file format they were read from.
//!
//! Both readers (CLI v2 YAML and KDL) produce these types; the planner and the translation to
//! ARM requests consume them. Values that later stages may need to blame keep their location
//! ([`Located`]), so that an unresolved reference found at plan time still points into a file.

pub mod binding;
pub mod component;
pub mod jobs;
pub mod origin;
pub mod refs;
pub mod walk;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::diag::{Loc, Located};
use crate::manifest::node::Scalar;
pub use component::{
    CommandSpec, Component, ComponentBody, ComponentOrigin, ComponentUse, ParallelSpec, Port,
    SparkSpec,
};
pub use jobs::{
    Graph, Node, NodeInput, NodeKind, NodeOutput, PipelineJob, PipelineSettings, SweepJob,
    SweepSettings,
};
pub use origin::{OriginKind, ValueOrigin};
pub use refs::{AssetRef, DataPath, VersionSel};
pub use walk::{LocalPath, LocalUse, Reference};

/// The kinds of resources amlops plans and applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Compute,
    Code,
    Data,
    Environment,
    Component,
    Job,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Compute => "compute",
            Kind::Code => "code",
            Kind::Data => "data",
            Kind::Environment => "environment",
            Kind::Component => "component",
            Kind::Job => "job",
        }
    }

    /// The URL segment of this kind's collection in the ARM API.
    pub fn collection(self) -> &'static str {
        match self {
            Kind::Compute => "computes",
            Kind::Code => "codes",
            Kind::Data => "data",
            Kind::Environment => "environments",
            Kind::Component => "components",
            Kind::Job => "jobs",
        }
    }

    /// Assets are versioned and immutable per version; computes and jobs are not.
    pub fn is_versioned(self) -> bool {
        matches!(
            self,
            Kind::Code | Kind::Data | Kind::Environment | Kind::Component
        )
    }

    pub fn parse(text: &str) -> Option<Kind> {
        [
            Kind::Compute,
            Kind::Code,
            Kind::Data,
            Kind::Environment,
            Kind::Component,
            Kind::Job,
        ]
        .into_iter()
        .find(|k| k.as_str() == text)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The stable name of a declared resource in plans and on the command line: `data.iris`,
/// `environment.sklearn:3`, `compute.cpu-cluster`, `job.train`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Address {
    pub kind: Kind,
    pub name: String,
    /// The version when the manifest pins one.
    pub version: Option<String>,
}

impl Address {
    pub fn new(kind: Kind, name: impl Into<String>, version: Option<String>) -> Self {
        Self {
            kind,
            name: name.into(),
            version,
        }
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.kind, self.name)?;
        if let Some(version) = &self.version {
            write!(f, ":{version}")?;
        }
        Ok(())
    }
}

/// A declared resource.
#[derive(Clone, Debug)]
pub struct Resource {
    pub address: Address,
    /// Where the resource's document starts.
    pub origin: Loc,
    pub spec: Spec,
}

#[derive(Clone, Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "a manifest holds few resources, each built once"
)]
pub enum Spec {
    Data(Data),
    Environment(Environment),
    Compute(Compute),
    Component(Component),
    Job(Job),
}

impl Spec {
    pub fn kind(&self) -> Kind {
        match self {
            Spec::Data(_) => Kind::Data,
            Spec::Environment(_) => Kind::Environment,
            Spec::Compute(_) => Kind::Compute,
            Spec::Component(_) => Kind::Component,
            Spec::Job(_) => Kind::Job,
        }
    }
}

/// How an asset's version is chosen.
#[derive(Clone, Debug, PartialEq)]
pub enum VersionSpec {
    /// `version: 3`: exactly this version; different content under it is a conflict.
    Exact(Located<String>),
    /// `version: auto`: a short hash of the content, so unchanged content is a no-op.
    Auto(Loc),
    /// No version: the latest version when its content matches, else the next integer.
    Unset,
}

impl VersionSpec {
    pub fn exact(&self) -> Option<&str> {
        match self {
            VersionSpec::Exact(v) => Some(&v.value),
            _ => None,
        }
    }
}

/// Fields every asset and job share.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Common {
    pub description: Option<String>,
    pub tags: BTreeMap<String, String>,
    pub properties: BTreeMap<String, String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum DataType {
    #[serde(rename = "uri_file")]
    UriFile,
    #[serde(rename = "uri_folder")]
    UriFolder,
    #[serde(rename = "mltable")]
    Mltable,
}

impl DataType {
    pub const NAMES: &'static [&'static str] = &["uri_file", "uri_folder", "mltable"];

    pub fn as_str(self) -> &'static str {
        match self {
            DataType::UriFile => "uri_file",
            DataType::UriFolder => "uri_folder",
            DataType::Mltable => "mltable",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "uri_file" => Some(DataType::UriFile),
            "uri_folder" => Some(DataType::UriFolder),
            "mltable" => Some(DataType::Mltable),
            _ => None,
        }
    }
}

/// A data asset (`az ml data create`).
#[derive(Clone, Debug)]
pub struct Data {
    pub name: Located<String>,
    pub version: VersionSpec,
    pub common: Common,
    pub data_type: DataType,
    pub path: Located<DataPath>,
    /// For a local `mltable`: the paths its `MLTable` file names, which the SDK sends.
    pub referenced_uris: Vec<String>,
}

/// An environment, registered (`az ml environment create`) or inline in a job.
#[derive(Clone, Debug, PartialEq)]
pub struct Environment {
    /// `None` for an anonymous (inline) environment.
    pub name: Option<Located<String>>,
    pub version: VersionSpec,
    pub common: Common,
    pub image: Option<Located<String>>,
    pub conda_file: Option<CondaFile>,
    pub build: Option<BuildContext>,
    /// `Linux` or `Windows`, as the REST API spells it.
    pub os_type: Option<String>,
    /// The inference configuration in the REST API's shape.
    pub inference_config: Option<serde_json::Value>,
}

/// A conda specification, from a file or written inline.
#[derive(Clone, Debug, PartialEq)]
pub struct CondaFile {
    /// The specification as the SDK sends it (YAML text, keys sorted).
    pub text: String,
    /// The file it came from, if any.
    pub source: Option<PathBuf>,
    pub loc: Loc,
}

/// A Docker build context: a local folder (uploaded) or a URL.
#[derive(Clone, Debug, PartialEq)]
pub struct BuildContext {
    pub path: Located<DataPath>,
    pub dockerfile_path: Option<String>,
}

/// A compute target.
#[derive(Clone, Debug)]
pub struct Compute {
    pub name: Located<String>,
    pub description: Option<String>,
    pub tags: BTreeMap<String, String>,
    pub location: Option<Located<String>>,
    /// Managed identity in the REST API's shape.
    pub identity: Option<serde_json::Value>,
    pub spec: ComputeSpec,
}

#[derive(Clone, Debug)]
pub enum ComputeSpec {
    AmlCompute(AmlCompute),
    Instance(ComputeInstance),
    /// A compute that exists elsewhere in Azure and is attached by its ARM id.
    Attached(AttachedCompute),
}

impl ComputeSpec {
    pub fn type_name(&self) -> &'static str {
        match self {
            ComputeSpec::AmlCompute(_) => "amlcompute",
            ComputeSpec::Instance(_) => "computeinstance",
            ComputeSpec::Attached(a) => a.kind.yaml_name(),
        }
    }
}

/// An Azure ML compute instance: one VM for one user.
#[derive(Clone, Debug, Default)]
pub struct ComputeInstance {
    pub size: Option<Located<String>>,
    pub ssh_public_access_enabled: Option<bool>,
    /// Only `ssh_key_value` of these applies to an instance.
    pub ssh_settings: Option<SshSettings>,
    /// ARM id of the subnet, from `network_settings`.
    pub subnet: Option<String>,
    pub idle_time_before_shutdown: Option<String>,
    pub idle_time_before_shutdown_minutes: Option<i64>,
    pub enable_node_public_ip: Option<bool>,
    pub enable_sso: Option<bool>,
    pub enable_root_access: Option<bool>,
    pub enable_os_patching: Option<bool>,
    pub release_quota_on_stop: Option<bool>,
    /// `create_on_behalf_of`: the user's object and tenant ids.
    pub on_behalf_of: Option<(String, String)>,
    /// Start/stop schedules, setup scripts and custom applications in the REST API's shape.
    pub schedules: Option<serde_json::Value>,
    pub setup_scripts: Option<serde_json::Value>,
    pub custom_services: Option<serde_json::Value>,
}

/// The kinds of compute `az ml compute attach` attaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttachedKind {
    VirtualMachine,
    SynapseSpark,
    Kubernetes,
}

impl AttachedKind {
    pub fn yaml_name(self) -> &'static str {
        match self {
            AttachedKind::VirtualMachine => "virtualmachine",
            AttachedKind::SynapseSpark => "synapsespark",
            AttachedKind::Kubernetes => "kubernetes",
        }
    }

    /// The REST API's `computeType`.
    pub fn rest_name(self) -> &'static str {
        match self {
            AttachedKind::VirtualMachine => "VirtualMachine",
            AttachedKind::SynapseSpark => "SynapseSpark",
            AttachedKind::Kubernetes => "Kubernetes",
        }
    }
}

/// A compute attached by its ARM id.
#[derive(Clone, Debug)]
pub struct AttachedCompute {
    pub kind: AttachedKind,
    /// The ARM id of the machine, Spark pool or cluster; required except for Kubernetes.
    pub resource_id: Option<Located<String>>,
    /// Virtual machines: how to log in. The password and private key are secrets.
    pub vm_ssh: Option<VmSsh>,
    /// Kubernetes: the namespace and properties in the REST API's shape.
    pub namespace: Option<String>,
    pub properties: Option<serde_json::Value>,
}

#[derive(Clone, Debug, Default)]
pub struct VmSsh {
    pub admin_username: Option<String>,
    pub admin_password: Option<String>,
    pub ssh_port: Option<i64>,
    /// The private key's text, read from `ssh_private_key_file`.
    pub private_key: Option<String>,
}

/// An Azure ML compute cluster.
#[derive(Clone, Debug, Default)]
pub struct AmlCompute {
    pub size: Option<Located<String>>,
    /// `Dedicated` or `LowPriority`, as the REST API spells it.
    pub tier: Option<Located<String>>,
    pub min_instances: Option<Located<i64>>,
    pub max_instances: Option<Located<i64>>,
    /// Seconds.
    pub idle_time_before_scale_down: Option<Located<i64>>,
    pub ssh_public_access_enabled: Option<bool>,
    pub enable_node_public_ip: Option<bool>,
    pub ssh_settings: Option<SshSettings>,
    /// ARM id of the subnet, from `network_settings`.
    pub subnet: Option<String>,
}

#[derive(Clone, Debug, Default)]
pub struct SshSettings {
    pub admin_username: Option<String>,
    /// A secret: never printed, never stored in a plan file.
    pub admin_password: Option<String>,
    pub ssh_key_value: Option<String>,
}

/// A job: a run record submitted once per distinct resolved specification.
#[derive(Clone, Debug)]
pub struct Job {
    /// The name the manifest gives; amlops derives a deterministic one otherwise.
    pub name: Option<Located<String>>,
    pub display_name: Option<String>,
    pub experiment_name: Option<String>,
    pub common: Common,
    /// `azureml:<name>`, a bare name, or `None` for serverless.
    pub compute: Option<Located<String>>,
    /// When apply submits the job again (amlops' own `rerun` key).
    pub rerun: Rerun,
    pub body: JobBody,
}

/// When `apply` submits a job, set per job with amlops' own `rerun` key.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rerun {
    /// Once per distinct resolved specification: editing an input submits a new job.
    #[default]
    OnChange,
    /// On every apply, under a new name each time.
    Always,
    /// Once: after a job of this address ran, changes to it are not submitted.
    Never,
}

impl Rerun {
    pub const CHOICES: &[&str] = &["on-change", "always", "never"];

    pub fn parse(text: &str) -> Option<Rerun> {
        match text.to_ascii_lowercase().as_str() {
            "on-change" => Some(Rerun::OnChange),
            "always" => Some(Rerun::Always),
            "never" => Some(Rerun::Never),
            _ => None,
        }
    }
}

#[derive(Clone, Debug)]
pub enum JobBody {
    Command(CommandJob),
    Sweep(SweepJob),
    Pipeline(PipelineJob),
}

impl JobBody {
    pub fn type_name(&self) -> &'static str {
        match self {
            JobBody::Command(_) => "command",
            JobBody::Sweep(_) => "sweep",
            JobBody::Pipeline(_) => "pipeline",
        }
    }
}

/// A command job (`type: command`, or no `type`).
#[derive(Clone, Debug)]
pub struct CommandJob {
    pub command: Located<String>,
    pub code: Option<Located<CodeSource>>,
    pub environment: Located<EnvSource>,
    pub inputs: BTreeMap<String, JobInput>,
    /// `None` values are outputs declared without settings (`outputs: {model: }`).
    pub outputs: BTreeMap<String, Option<JobOutput>>,
    pub environment_variables: BTreeMap<String, String>,
    /// The following are kept in the REST API's shape, already validated.
    pub distribution: Option<serde_json::Value>,
    pub resources: Option<serde_json::Value>,
    pub limits: Option<serde_json::Value>,
    pub identity: Option<serde_json::Value>,
    pub services: Option<serde_json::Value>,
    pub queue_settings: Option<serde_json::Value>,
}

/// Where a job's environment comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum EnvSource {
    Ref(AssetRef),
    Inline(Box<Environment>),
}

/// Where a job's code comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum CodeSource {
    /// A local folder or file, snapshotted as an anonymous code asset.
    Local { path: PathBuf, written: String },
    /// A registered code asset.
    Asset(AssetRef),
    /// A remote location (git, blob), passed as written.
    Uri(String),
}

/// The input and output types of jobs and components.
pub const DATA_TYPES: &[&str] = &[
    "uri_file",
    "uri_folder",
    "mltable",
    "mlflow_model",
    "custom_model",
    "triton_model",
];

#[derive(Clone, Debug)]
pub enum JobInput {
    /// A literal value: the SDK sends its `str()`.
    Literal(Located<Scalar>),
    Data(DataInput),
}

#[derive(Clone, Debug)]
pub struct DataInput {
    /// One of [`DATA_TYPES`].
    pub input_type: &'static str,
    pub path: Option<Located<DataPath>>,
    /// The REST spelling: `ReadOnlyMount`, `Download`, `Direct`, …
    pub mode: Option<&'static str>,
    pub description: Option<String>,
    pub loc: Loc,
}

#[derive(Clone, Debug)]
pub struct JobOutput {
    pub output_type: &'static str,
    pub path: Option<Located<String>>,
    pub mode: Option<&'static str>,
    pub asset_name: Option<String>,
    pub asset_version: Option<String>,
    pub description: Option<String>,
    pub loc: Loc,
}

/// Input modes: the YAML spelling and the REST spelling.
pub const INPUT_MODES: &[(&str, &str)] = &[
    ("ro_mount", "ReadOnlyMount"),
    ("rw_mount", "ReadWriteMount"),
    ("download", "Download"),
    ("direct", "Direct"),
    ("eval_mount", "EvalMount"),
    ("eval_download", "EvalDownload"),
];

/// Output modes: the YAML spelling and the REST spelling.
pub const OUTPUT_MODES: &[(&str, &str)] = &[
    ("rw_mount", "ReadWriteMount"),
    ("upload", "Upload"),
    ("direct", "Direct"),
    ("mount", "ReadWriteMount"),
];
