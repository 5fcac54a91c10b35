//! `amlops notebook`: inspect a notebook, convert it to a script and job, or wrap it as is.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use amlops::notebook::{self, Analysis, NotebookFiles, Options, Report, Severity, Source, Target};
use anyhow::{Context as _, bail};

/// Turn a Jupyter notebook into a script, its assets and an Azure ML command job.
#[derive(Debug, clap::Args)]
pub struct NotebookArgs {
    #[command(subcommand)]
    pub command: NotebookCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum NotebookCommand {
    /// Analyse a notebook and print the report; writes nothing.
    Inspect {
        /// The notebook (.ipynb).
        notebook: PathBuf,
        /// Print the report as JSON instead of Markdown.
        #[arg(long)]
        json: bool,
    },
    /// Write a script, environment, data and job manifests, and a report.
    Convert {
        /// The notebook (.ipynb).
        notebook: PathBuf,
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Write a job that runs the notebook unchanged with papermill.
    Job {
        /// The notebook (.ipynb).
        notebook: PathBuf,
        /// Run the notebook as it is (the only mode so far).
        #[arg(long, required = true)]
        as_is: bool,
        #[command(flatten)]
        common: CommonArgs,
    },
}

#[derive(Debug, clap::Args)]
pub struct CommonArgs {
    /// Output folder; created if missing.
    #[arg(long)]
    pub out: PathBuf,
    /// Compute for the job (`azureml:NAME`); default: the target's default compute.
    #[arg(long)]
    pub compute: Option<String>,
    /// A requirements file (`pip freeze`) to take package versions from.
    #[arg(long)]
    pub requirements: Option<PathBuf>,
    /// Base image of the environment.
    #[arg(long, default_value = notebook::DEFAULT_IMAGE)]
    pub image: String,
    /// Script and asset name; default: from the notebook's file name.
    #[arg(long)]
    pub name: Option<String>,
    /// Bind an input the notebook reads from an absolute path: NAME=PATH_OR_ASSET.
    #[arg(long, value_name = "NAME=PATH")]
    pub data: Vec<String>,
    /// Use the values of the last papermill run (`injected-parameters` cell) as defaults.
    #[arg(long)]
    pub use_injected: bool,
    /// Print the report as JSON instead of Markdown.
    #[arg(long)]
    pub json: bool,
}

/// Runs a notebook subcommand. Exit code 0: done; 1: the notebook was refused.
pub fn run(args: NotebookArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        NotebookCommand::Inspect { notebook, json } => inspect(&notebook, json),
        NotebookCommand::Convert { notebook, common } => convert(&notebook, &common, false),
        NotebookCommand::Job {
            notebook, common, ..
        } => convert(&notebook, &common, true),
    }
}

fn inspect(path: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let bytes = read(path)?;
    let analysis = analyse(path, &bytes, &Options::default())?;
    let report = Report::new(&analysis, notebook::Outcome::Inspected, Vec::new());
    print_report(&report, json)?;
    Ok(exit_code(&analysis))
}

fn convert(path: &Path, common: &CommonArgs, as_is: bool) -> anyhow::Result<ExitCode> {
    let bytes = read(path)?;
    let options = options(common)?;
    let analysis = analyse(path, &bytes, &options)?;

    let refused = if as_is {
        notebook::as_is_blocked(&analysis)
    } else {
        analysis.has_errors()
    };
    let target = target(path, common)?;
    let source = source(path, &bytes);
    let files = match (refused, as_is) {
        (true, _) => notebook::refusal(&analysis),
        (false, false) => notebook::convert(&analysis, &target),
        (false, true) => notebook::as_is(&analysis, &source, &target),
    };

    write_files(&common.out, &files)?;
    warn_summary(&analysis, refused, &common.out);
    let outcome = if refused {
        notebook::Outcome::Refused
    } else {
        notebook::Outcome::Converted
    };
    let names = files.iter().map(|file| file.path.clone()).collect();
    print_report(&Report::new(&analysis, outcome, names), common.json)?;
    Ok(if refused {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

fn source<'a>(path: &Path, bytes: &'a [u8]) -> Source<'a> {
    Source {
        display: path.display().to_string(),
        file_name: path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default(),
        bytes,
    }
}

fn analyse(path: &Path, bytes: &[u8], options: &Options) -> anyhow::Result<Analysis> {
    let files = Folder(path.parent().unwrap_or(Path::new(".")).to_path_buf());
    notebook::inspect(&source(path, bytes), &files, options)
        .map_err(|error| anyhow::anyhow!("{}: {error}\nhint: {}", path.display(), error.hint()))
}

fn options(common: &CommonArgs) -> anyhow::Result<Options> {
    let requirements = match &common.requirements {
        Some(path) => Some((
            path.display().to_string(),
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?,
        )),
        None => None,
    };
    let mut data = Vec::new();
    for binding in &common.data {
        let Some((name, value)) = binding.split_once('=') else {
            bail!("--data expects NAME=PATH, got {binding:?}");
        };
        data.push((name.to_string(), value.to_string()));
    }
    Ok(Options {
        name: common.name.clone(),
        requirements,
        data,
        use_injected: common.use_injected,
    })
}

fn target(path: &Path, common: &CommonArgs) -> anyhow::Result<Target> {
    std::fs::create_dir_all(&common.out)
        .with_context(|| format!("cannot create {}", common.out.display()))?;
    let out = std::fs::canonicalize(&common.out)?;
    let folder = std::fs::canonicalize(path)?
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    Ok(Target {
        compute: common.compute.clone(),
        image: common.image.clone(),
        notebook_dir: relative_path(&out, &folder),
        notebook_file: path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default(),
    })
}

/// `to` relative to `from`, with `/` separators.
fn relative_path(from: &Path, to: &Path) -> String {
    let from: Vec<_> = from.components().collect();
    let to: Vec<_> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = vec!["..".to_string(); from.len() - common];
    parts.extend(
        to[common..]
            .iter()
            .map(|part| part.as_os_str().to_string_lossy().into_owned()),
    );
    if parts.is_empty() {
        ".".to_string()
    } else {
        parts.join("/")
    }
}

fn write_files(out: &Path, files: &[notebook::OutputFile]) -> anyhow::Result<()> {
    for file in files {
        let path = out.join(&file.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, &file.contents)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

fn warn_summary(analysis: &Analysis, refused: bool, out: &Path) {
    let count = |severity| {
        analysis
            .diagnostics
            .iter()
            .filter(|d| d.severity == severity)
            .count()
    };
    let verdict = if refused { "refused" } else { "converted" };
    eprintln!(
        "{verdict} {} ({} errors, {} warnings); report in {}",
        analysis.notebook.path,
        count(Severity::Error),
        count(Severity::Warning),
        out.join("report.md").display()
    );
}

fn print_report(report: &Report<'_>, json: bool) -> anyhow::Result<()> {
    let text = if json {
        report.to_json()
    } else {
        report.to_markdown()
    };
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(text.as_bytes()) {
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("cannot write to stdout"),
    }
}

fn exit_code(analysis: &Analysis) -> ExitCode {
    if analysis.has_errors() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Files next to the notebook.
struct Folder(PathBuf);

impl NotebookFiles for Folder {
    fn read(&self, relative: &str) -> Option<String> {
        std::fs::read_to_string(self.0.join(relative)).ok()
    }
    fn exists(&self, relative: &str) -> bool {
        self.0.join(relative).exists()
    }
}
