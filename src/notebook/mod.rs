//! Notebook to job: turns a Jupyter notebook into a Python script, its environment and data
//! manifests, and an Azure ML command job that `amlops plan` reads as it is.
//!
//! The stages follow the data:
//! 1. [`reader`] reads `.ipynb` bytes into a normalised [`Notebook`];
//! 2. [`python`] parses each code cell (ruff's parser, notebook mode) and handles cell magics
//!    and automagics; [`ipython`] decides what each IPython construct becomes;
//! 3. [`analysis`] classifies cells and statements, finds [`params`], checks names ([`names`]),
//!    binds [`data`] paths to inputs and outputs, and collects [`deps`];
//! 4. [`script`], [`manifests`] and [`report`] render the outputs from the analysis.
//!
//! Everything here is pure: the caller reads the notebook and writes the files. Output depends
//! only on the notebook's content and the options, so a re-run is byte-identical.

pub mod analysis;
pub mod data;
pub mod deps;
pub mod ipython;
pub mod manifests;
pub mod names;
pub mod params;
pub mod python;
pub mod reader;
pub mod report;
pub mod script;

use sha2::{Digest, Sha256};

pub use analysis::{Analysis, Diagnostic, NoFiles, NotebookFiles, Options, Severity};
pub use manifests::{DEFAULT_IMAGE, Target};
pub use reader::{Notebook, ReadError, read_notebook};
pub use report::{Outcome, Report};

/// A generated file, relative to the output folder.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputFile {
    pub path: String,
    pub contents: Vec<u8>,
}

/// The notebook as given on the command line.
#[derive(Debug, Clone)]
pub struct Source<'a> {
    /// Path as shown to the user.
    pub display: String,
    /// File name (`train.ipynb`).
    pub file_name: String,
    pub bytes: &'a [u8],
}

impl Source<'_> {
    fn stem(&self) -> &str {
        self.file_name
            .strip_suffix(".ipynb")
            .unwrap_or(&self.file_name)
    }
}

/// Reads and analyses a notebook.
pub fn inspect(
    source: &Source<'_>,
    files: &dyn NotebookFiles,
    options: &Options,
) -> Result<Analysis, ReadError> {
    let notebook = read_notebook(source.bytes)?;
    let info = analysis::NotebookInfo {
        path: source.display.clone(),
        sha256: hex::encode(Sha256::digest(source.bytes)),
        nbformat: format!("{}.{}", notebook.nbformat, notebook.nbformat_minor),
        kernel: notebook.kernel_name.clone(),
        language: None,
        language_version: notebook.language_version.clone(),
    };
    Ok(analysis::analyze(
        &notebook,
        info,
        source.stem(),
        files,
        options,
    ))
}

/// The files of a conversion, report last. Call only when the analysis has no errors.
pub fn convert(analysis: &Analysis, target: &Target) -> Vec<OutputFile> {
    let mut files = vec![
        text_file(
            format!("{}/{}.py", manifests::CODE_DIR, analysis.name),
            script::render(analysis, &target.notebook_file),
        ),
        text_file(
            manifests::ENVIRONMENT_FILE.to_string(),
            manifests::environment(analysis, target),
        ),
        text_file(
            manifests::CONDA_FILE.to_string(),
            manifests::conda(analysis, &[]),
        ),
    ];
    for input in &analysis.inputs {
        files.push(text_file(
            manifests::data_file(input),
            manifests::data_asset(analysis, input, target),
        ));
    }
    files.push(text_file(
        manifests::JOB_FILE.to_string(),
        manifests::job(analysis, target),
    ));
    with_reports(analysis, Outcome::Converted, files)
}

/// Error codes that stop a papermill run too; IPython constructs do not, papermill runs a kernel.
const AS_IS_BLOCKERS: &[&str] = &[
    "NB002", "NB003", "NB010", "NB011", "NB012", "NB020", "NB040", "NB050",
];

/// Whether the notebook can run unchanged with papermill.
pub fn as_is_blocked(analysis: &Analysis) -> bool {
    analysis
        .diagnostics
        .iter()
        .any(|d| d.severity == Severity::Error && AS_IS_BLOCKERS.contains(&d.code))
}

/// The files of `job --as-is`: the notebook itself, an environment with papermill, the job.
pub fn as_is(analysis: &Analysis, source: &Source<'_>, target: &Target) -> Vec<OutputFile> {
    let tagged = matches!(
        analysis.param_source,
        Some(params::ParamSource::TaggedCell { .. })
    );
    let parameters: Vec<&params::Parameter> = if tagged {
        analysis
            .parameters
            .iter()
            .filter(|p| {
                p.cell
                    == analysis
                        .param_source
                        .as_ref()
                        .map_or(usize::MAX, |s| s.cell())
            })
            .collect()
    } else {
        Vec::new()
    };
    let files = vec![
        OutputFile {
            path: format!("{}/{}", manifests::CODE_DIR, source.file_name),
            contents: source.bytes.to_vec(),
        },
        text_file(
            manifests::ENVIRONMENT_FILE.to_string(),
            manifests::environment(analysis, target),
        ),
        text_file(
            manifests::CONDA_FILE.to_string(),
            manifests::conda(analysis, &["ipykernel", "papermill"]),
        ),
        text_file(
            manifests::JOB_FILE.to_string(),
            manifests::papermill_job(analysis, target, &parameters),
        ),
    ];
    with_reports(analysis, Outcome::Converted, files)
}

/// Report files alone, for a refusal.
pub fn refusal(analysis: &Analysis) -> Vec<OutputFile> {
    with_reports(analysis, Outcome::Refused, Vec::new())
}

fn with_reports(
    analysis: &Analysis,
    outcome: Outcome,
    mut files: Vec<OutputFile>,
) -> Vec<OutputFile> {
    let mut names: Vec<String> = files.iter().map(|file| file.path.clone()).collect();
    names.extend(["report.md".to_string(), "report.json".to_string()]);
    let report = Report::new(analysis, outcome, names);
    files.push(text_file("report.md".to_string(), report.to_markdown()));
    files.push(text_file("report.json".to_string(), report.to_json()));
    files
}

fn text_file(path: String, text: String) -> OutputFile {
    OutputFile {
        path,
        contents: text.into_bytes(),
    }
}

/// The harness shared by the fuzz target and the randomized test.
pub mod fuzzing {
    use super::*;

    /// Reads, analyses and renders `bytes` as a notebook; panics are the only failure.
    pub fn exercise(bytes: &[u8]) {
        let source = Source {
            display: "fuzz.ipynb".to_string(),
            file_name: "fuzz.ipynb".to_string(),
            bytes,
        };
        let Ok(analysis) = inspect(&source, &NoFiles, &Options::default()) else {
            return;
        };
        let target = Target {
            compute: None,
            image: DEFAULT_IMAGE.to_string(),
            notebook_dir: ".".to_string(),
            notebook_file: source.file_name.clone(),
        };
        let _ = convert(&analysis, &target);
        let _ = as_is(&analysis, &source, &target);
    }
}
