//! Conversions of every corpus notebook, held to their expected outcome.
//!
//! The corpus lives in `../shared/corpus/notebooks/` next to the repository; without it these
//! tests print why and pass. Converted scripts are checked with `python3 -m py_compile` and
//! `--help` when python3 is on the machine.

#[path = "../src/cli/notebook.rs"]
#[allow(dead_code, reason = "the binary uses all of it; this test only some")]
mod cli_notebook;

use std::path::{Path, PathBuf};
use std::process::Command;

use amlops::notebook::{self, NotebookFiles, Options, Severity, Source, Target};

fn corpus() -> Option<PathBuf> {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/notebooks");
    if folder.is_dir() {
        Some(folder)
    } else {
        eprintln!("skipping: corpus folder {} is absent", folder.display());
        None
    }
}

fn python3() -> bool {
    let found = Command::new("python3").arg("--version").output().is_ok();
    if !found {
        eprintln!("python3 not found: script checks skipped");
    }
    found
}

/// Expected outcome per corpus file: `Ok(parameters)` or `Err(error codes)`.
/// `Ok(parameters)` when it converts, `Err(error codes)` when it is refused.
type Outcome = Result<&'static [&'static str], &'static [&'static str]>;

fn expected() -> Vec<(&'static str, Outcome)> {
    vec![
        (
            "microsoft__MLOpsPython/experimentation__Diabetes Ridge Regression Training.ipynb",
            Err(&["NB020"]),
        ),
        (
            "microsoft__MLOpsPython/experimentation__Diabetes Ridge Regression Parameter Experimentation.ipynb",
            Err(&["NB030", "NB032", "NB060"]),
        ),
        (
            "Azure__mlops-project-template/classical__rai-aml-cli-v2__data-science__experiment__train.ipynb",
            Err(&["NB020", "NB040"]),
        ),
        (
            "Azure__mlops-project-template/classical__rai-aml-cli-v2__data-science__experiment__prep.ipynb",
            Ok(&["raw_data", "train_data", "val_data", "test_data"]),
        ),
        (
            "Azure__azureml-examples/tutorials__get-started-notebooks__cloud-workstation.ipynb",
            Ok(&["credit_df_path"]),
        ),
        (
            "Azure__azureml-examples/cli__jobs__single-step__scikit-learn__iris-notebook__src__main.ipynb",
            Ok(&["iris_csv", "C", "kernel", "coef0", "random_state"]),
        ),
        (
            "Azure__azureml-examples/sdk__python__using-mlflow__train-and-log__xgboost_classification_mlflow.ipynb",
            Ok(&["file_url"]),
        ),
        (
            "recommenders-team__recommenders/examples__00_quick_start__lightgbm_tinycriteo.ipynb",
            Ok(&[
                "MAX_LEAF",
                "MIN_DATA",
                "NUM_OF_TREES",
                "TREE_LEARNING_RATE",
                "EARLY_STOPPING_ROUNDS",
                "METRIC",
                "SIZE",
            ]),
        ),
        (
            "recommenders-team__recommenders/examples__00_quick_start__embdotbias_movielens.ipynb",
            Ok(&[
                "TOP_K",
                "MOVIELENS_DATA_SIZE",
                "N_FACTORS",
                "EPOCHS",
                "SEED",
            ]),
        ),
        (
            "recommenders-team__recommenders/examples__run_notebook_on_azureml.ipynb",
            Err(&["NB010", "NB060"]),
        ),
        (
            "nteract__papermill/papermill__tests__notebooks__complex_parameters.ipynb",
            Err(&["NB010"]),
        ),
        (
            "nteract__papermill/binder__cli-simple__simple_output.ipynb",
            Ok(&["msg"]),
        ),
        (
            "mwouts__jupytext/tests__data__notebooks__inputs__ipynb_py__nteract_with_parameter.ipynb",
            Ok(&["param"]),
        ),
        (
            "mwouts__jupytext/tests__data__notebooks__inputs__ipynb_py__Notebook_with_more_R_magic_111.ipynb",
            Err(&["NB003"]),
        ),
        (
            "mwouts__jupytext/tests__data__notebooks__inputs__ipynb_R__ir_notebook.ipynb",
            Err(&["NB002"]),
        ),
    ]
}

struct Folder(PathBuf);

impl NotebookFiles for Folder {
    fn read(&self, relative: &str) -> Option<String> {
        std::fs::read_to_string(self.0.join(relative)).ok()
    }
    fn exists(&self, relative: &str) -> bool {
        self.0.join(relative).exists()
    }
}

fn analyse(path: &Path, bytes: &[u8]) -> notebook::Analysis {
    let source = Source {
        display: path.file_name().unwrap().to_string_lossy().into_owned(),
        file_name: path.file_name().unwrap().to_string_lossy().into_owned(),
        bytes,
    };
    let files = Folder(path.parent().unwrap().to_path_buf());
    notebook::inspect(&source, &files, &Options::default()).expect("corpus notebooks are readable")
}

fn target(path: &Path) -> Target {
    Target {
        compute: None,
        image: notebook::DEFAULT_IMAGE.to_string(),
        notebook_dir: "../notebooks".to_string(),
        notebook_file: path.file_name().unwrap().to_string_lossy().into_owned(),
    }
}

fn write(out: &Path, files: &[notebook::OutputFile]) {
    for file in files {
        let path = out.join(&file.path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, &file.contents).unwrap();
    }
}

#[test]
fn corpus_outcomes() {
    let Some(corpus) = corpus() else { return };
    let python = python3();
    let scratch = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for (file, expected) in expected() {
        let path = corpus.join(file);
        let bytes = std::fs::read(&path).unwrap();
        let analysis = analyse(&path, &bytes);
        let errors: Vec<&str> = analysis
            .diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .map(|d| d.code)
            .collect();
        match expected {
            Err(codes) => {
                for code in codes {
                    if !errors.contains(code) {
                        failures.push(format!("{file}: expected refusal {code}, got {errors:?}"));
                    }
                }
                for diagnostic in analysis
                    .diagnostics
                    .iter()
                    .filter(|d| d.severity == Severity::Error)
                {
                    if diagnostic.index.is_none() && diagnostic.code != "NB002"
                        || diagnostic.hint.is_none()
                    {
                        failures.push(format!(
                            "{file}: refusal without cell or fix: {diagnostic:?}"
                        ));
                    }
                }
            }
            Ok(parameters) => {
                if !errors.is_empty() {
                    failures.push(format!(
                        "{file}: expected conversion, got {:#?}",
                        analysis.diagnostics
                    ));
                    continue;
                }
                let names: Vec<&str> = analysis
                    .parameters
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect();
                for name in parameters {
                    if !names.contains(name) {
                        failures.push(format!("{file}: parameter {name} missing from {names:?}"));
                    }
                }
                // Lay out out/<name> and notebooks/<owner>/ side by side, plus the `data/` folder
                // two levels above the notebook that the mlops-project-template prep notebook
                // reads, so relative data paths resolve as they would in the upstream repo.
                let owner = file.split('/').next().unwrap();
                std::fs::create_dir_all(scratch.path().join("notebooks").join(owner)).unwrap();
                std::fs::create_dir_all(scratch.path().join("data")).unwrap();
                let out = scratch.path().join("out").join(&analysis.name);
                let target = Target {
                    notebook_dir: format!("../../notebooks/{owner}"),
                    ..target(&path)
                };
                write(&out, &notebook::convert(&analysis, &target));
                check_manifests(&out, scratch.path(), &mut failures);
                if python {
                    check_script(&out, &analysis, parameters, &mut failures);
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// `amlops validate` and `amlops plan` accept the output folder as it is.
fn check_manifests(out: &Path, scratch: &Path, failures: &mut Vec<String>) {
    let amlops = env!("CARGO_BIN_EXE_amlops");
    let validate = Command::new(amlops)
        .arg("validate")
        .arg(out)
        .output()
        .unwrap();
    if !validate.status.success() {
        let stderr = String::from_utf8_lossy(&validate.stderr);
        failures.push(format!("{}: validate failed:\n{stderr}", out.display()));
        return;
    }
    let plan = Command::new(amlops)
        .arg("plan")
        .arg(out)
        .arg("--data-dir")
        .arg(scratch.join("workspace"))
        .output()
        .unwrap();
    if !plan.status.success() {
        let stderr = String::from_utf8_lossy(&plan.stderr);
        failures.push(format!("{}: plan failed:\n{stderr}", out.display()));
    }
}

fn check_script(
    out: &Path,
    analysis: &notebook::Analysis,
    parameters: &[&str],
    failures: &mut Vec<String>,
) {
    let script = out.join("src").join(format!("{}.py", analysis.name));
    let compiled = Command::new("python3")
        .args(["-m", "py_compile"])
        .arg(&script)
        .output()
        .unwrap();
    if !compiled.status.success() {
        failures.push(format!(
            "{}: py_compile failed: {}",
            script.display(),
            String::from_utf8_lossy(&compiled.stderr)
        ));
        return;
    }
    // `--help` runs only the module level: imports of packages missing here would fail first,
    // so check the argument parser through an AST-level stub run.
    let help = Command::new("python3")
        .arg("-c")
        .arg(HELP_PROBE)
        .arg(&script)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&help.stdout);
    for name in parameters {
        if !text.contains(&format!("--{name}")) {
            failures.push(format!(
                "{}: --help does not list --{name}:\n{text}{}",
                script.display(),
                String::from_utf8_lossy(&help.stderr)
            ));
        }
    }
}

/// Runs the script's `--help` with third-party imports replaced by stubs, so the parser can be
/// checked without installing every notebook's packages.
const HELP_PROBE: &str = r#"
import importlib.abc, importlib.machinery, sys, types
class Stub(types.ModuleType):
    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return Stub(name)
    def __call__(self, *args, **kwargs):
        return Stub("call")
class Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path, target=None):
        if importlib.machinery.PathFinder.find_spec(name.split(".")[0]) is None and name.split(".")[0] not in sys.builtin_module_names:
            return importlib.machinery.ModuleSpec(name, self, is_package=True)
        return None
    def create_module(self, spec):
        return Stub(spec.name)
    def exec_module(self, module):
        module.__path__ = []
sys.meta_path.append(Finder())
script = sys.argv[1]
sys.argv = [script, "--help"]
import runpy
try:
    runpy.run_path(script, run_name="__main__")
except SystemExit:
    pass
"#;

#[test]
fn offline_notebook_runs_with_the_same_output() {
    let Some(corpus) = corpus() else { return };
    if !python3() {
        return;
    }
    let path = corpus.join("nteract__papermill/binder__cli-simple__simple_output.ipynb");
    let bytes = std::fs::read(&path).unwrap();
    let analysis = analyse(&path, &bytes);
    let scratch = tempfile::tempdir().unwrap();
    write(
        scratch.path(),
        &notebook::convert(&analysis, &target(&path)),
    );
    let notebook = notebook::read_notebook(&bytes).unwrap();
    let printed: String = notebook
        .cells
        .iter()
        .map(|cell| cell.stdout.as_str())
        .collect();
    // The stored run had papermill inject msg = "Hello"; pass the same value.
    let script = scratch
        .path()
        .join("src")
        .join(format!("{}.py", analysis.name));
    let run = Command::new("python3")
        .arg(&script)
        .args(["--msg", "Hello"])
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&run.stdout), printed);
}

#[test]
fn output_is_byte_identical_across_spellings() {
    let Some(corpus) = corpus() else { return };
    for (file, expected) in expected() {
        if expected.is_err() {
            continue;
        }
        let path = corpus.join(file);
        let bytes = std::fs::read(&path).unwrap();
        let first = notebook::convert(&analyse(&path, &bytes), &target(&path));
        let again = notebook::convert(&analyse(&path, &bytes), &target(&path));
        assert_eq!(first, again, "{file}: re-run differs");
        let respelled = respell(&bytes);
        let other = notebook::convert(&analyse(&path, &respelled), &target(&path));
        let strip = |files: Vec<notebook::OutputFile>| -> Vec<notebook::OutputFile> {
            files
                .into_iter()
                .filter(|f| !f.path.starts_with("report"))
                .map(|mut f| {
                    let text = String::from_utf8(f.contents).unwrap();
                    f.contents = text
                        .lines()
                        .filter(|l| !l.starts_with("# Generated by amlops"))
                        .collect::<Vec<_>>()
                        .join("\n")
                        .into_bytes();
                    f
                })
                .collect()
        };
        assert_eq!(
            strip(first),
            strip(other),
            "{file}: string sources with CRLF differ"
        );
    }
}

/// The same notebook with every source as one string with CRLF line breaks.
fn respell(bytes: &[u8]) -> Vec<u8> {
    let mut value: serde_json::Value = serde_json::from_slice(bytes).unwrap();
    for cell in value["cells"].as_array_mut().unwrap() {
        if let Some(parts) = cell["source"].as_array() {
            let joined: String = parts.iter().map(|p| p.as_str().unwrap()).collect();
            let lf = joined.replace("\r\n", "\n");
            cell["source"] = serde_json::Value::String(lf.replace('\n', "\r\n"));
        }
    }
    serde_json::to_vec(&value).unwrap()
}

#[test]
fn cli_converts_into_a_folder() {
    let Some(corpus) = corpus() else { return };
    let scratch = tempfile::tempdir().unwrap();
    let path = corpus.join(
        "mwouts__jupytext/tests__data__notebooks__inputs__ipynb_py__nteract_with_parameter.ipynb",
    );
    let args = cli_notebook::NotebookArgs {
        command: cli_notebook::NotebookCommand::Convert {
            notebook: path,
            common: cli_notebook::CommonArgs {
                out: scratch.path().to_path_buf(),
                compute: Some("cpu-cluster".to_string()),
                requirements: None,
                image: notebook::DEFAULT_IMAGE.to_string(),
                name: None,
                data: Vec::new(),
                use_injected: false,
                json: true,
            },
        },
    };
    let code = cli_notebook::run(args).unwrap();
    assert_eq!(code, std::process::ExitCode::SUCCESS);
    let job = std::fs::read_to_string(scratch.path().join("job.yml")).unwrap();
    assert!(job.contains("\ncompute: azureml:cpu-cluster\n"), "{job}");
    for file in [
        "job.yml",
        "environment.yml",
        "conda.yml",
        "report.json",
        "report.md",
    ] {
        assert!(scratch.path().join(file).is_file(), "{file} missing");
    }
}

#[test]
fn as_is_job_runs_papermill_with_the_parameters() {
    let Some(corpus) = corpus() else { return };
    let path = corpus.join(
        "mwouts__jupytext/tests__data__notebooks__inputs__ipynb_py__nteract_with_parameter.ipynb",
    );
    let bytes = std::fs::read(&path).unwrap();
    let analysis = analyse(&path, &bytes);
    assert!(!notebook::as_is_blocked(&analysis));
    let source = Source {
        display: "nb".into(),
        file_name: path.file_name().unwrap().to_string_lossy().into_owned(),
        bytes: &bytes,
    };
    let files = notebook::as_is(&analysis, &source, &target(&path));
    let job = files.iter().find(|file| file.path == "job.yml").unwrap();
    let job = String::from_utf8(job.contents.clone()).unwrap();
    assert!(job.contains("papermill tests__data__notebooks__inputs__ipynb_py__nteract_with_parameter.ipynb outputs/tests__data__notebooks__inputs__ipynb_py__nteract_with_parameter.out.ipynb -k python3"), "{job}");
    assert!(
        job.contains("-p param '${{inputs.param}}'") && job.contains("  param: 4"),
        "{job}"
    );
    let conda = files.iter().find(|file| file.path == "conda.yml").unwrap();
    let conda = String::from_utf8(conda.contents.clone()).unwrap();
    assert!(
        conda.contains("- papermill")
            && conda.contains("- ipykernel")
            && conda.contains("- matplotlib"),
        "{conda}"
    );
    assert_eq!(files[0].contents, bytes, "the notebook is copied unchanged");
}

#[test]
fn xgboost_environment_matches_its_requirements_file() {
    let Some(corpus) = corpus() else { return };
    let folder = corpus.join("Azure__azureml-examples");
    let notebook_file =
        "sdk__python__using-mlflow__train-and-log__xgboost_classification_mlflow.ipynb";
    let expected = [
        "azureml-mlflow",
        "matplotlib",
        "mlflow",
        "numpy",
        "pandas",
        "scikit-learn",
        "xgboost",
    ];
    let names = |analysis: &notebook::Analysis| -> Vec<String> {
        analysis
            .dependencies
            .iter()
            .map(|d| d.name.clone())
            .collect()
    };

    // Without the -r file beside it: imports alone give the same names, and a warning.
    let bytes = std::fs::read(folder.join(notebook_file)).unwrap();
    let alone = analyse(&folder.join(notebook_file), &bytes);
    assert_eq!(names(&alone), expected);
    assert!(alone.diagnostics.iter().any(|d| d.code == "NB048"));

    // With the file under its upstream name: it is followed.
    let scratch = tempfile::tempdir().unwrap();
    let copy = scratch.path().join(notebook_file);
    std::fs::copy(folder.join(notebook_file), &copy).unwrap();
    let requirements =
        "sdk__python__using-mlflow__train-and-log__xgboost_classification_mlflow.txt";
    std::fs::copy(
        folder.join(requirements),
        scratch.path().join("xgboost_classification_mlflow.txt"),
    )
    .unwrap();
    let followed = analyse(&copy, &bytes);
    assert_eq!(names(&followed), expected);
    assert!(!followed.diagnostics.iter().any(|d| d.code == "NB048"));
    assert!(
        followed
            .dependencies
            .iter()
            .any(|d| d.origin.contains("xgboost_classification_mlflow.txt"))
    );
}

/// With `AMLOPS_TEST_PYDATA` naming a python that has pandas and matplotlib (a venv outside
/// the repository), the jupytext nteract notebook's script runs to completion and its real
/// `--help` lists the parameter.
#[test]
fn pandas_notebook_runs_to_completion() {
    let Some(corpus) = corpus() else { return };
    let Ok(python) = std::env::var("AMLOPS_TEST_PYDATA") else {
        // `scripts/test` always provides it (and sets AMLOPS_REQUIRE_EMULATOR_TOOLS).
        assert!(
            std::env::var_os("AMLOPS_REQUIRE_EMULATOR_TOOLS").is_none(),
            "AMLOPS_TEST_PYDATA must name a python with pandas and matplotlib"
        );
        eprintln!(
            "skipping: set AMLOPS_TEST_PYDATA to a python with pandas and matplotlib (scripts/test does)"
        );
        return;
    };
    let path = corpus.join(
        "mwouts__jupytext/tests__data__notebooks__inputs__ipynb_py__nteract_with_parameter.ipynb",
    );
    let bytes = std::fs::read(&path).unwrap();
    let analysis = analyse(&path, &bytes);
    let scratch = tempfile::tempdir().unwrap();
    write(
        scratch.path(),
        &notebook::convert(&analysis, &target(&path)),
    );
    let script = scratch
        .path()
        .join("src")
        .join(format!("{}.py", analysis.name));
    let help = Command::new(&python)
        .arg(&script)
        .arg("--help")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&help.stdout).contains("--param PARAM"));
    let run = Command::new(&python)
        .arg(&script)
        .args(["--param", "5"])
        .env("MPLBACKEND", "Agg")
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    // The notebook printed nothing (its outputs are a table and a plot); neither does the job.
    let printed: String = notebook::read_notebook(&bytes)
        .unwrap()
        .cells
        .iter()
        .map(|c| c.stdout.as_str())
        .collect();
    assert_eq!(String::from_utf8_lossy(&run.stdout), printed);
}

/// The offline notebook, converted with the values of its last papermill run, applied as an
/// amlops job on the local workspace: the job prints what the notebook printed.
#[test]
fn offline_notebook_runs_as_a_local_job() {
    let Some(corpus) = corpus() else { return };
    if !python3() {
        return;
    }
    let path = corpus.join("nteract__papermill/binder__cli-simple__simple_output.ipynb");
    let scratch = tempfile::tempdir().unwrap();
    let out = scratch.path().join("job");
    let args = cli_notebook::NotebookArgs {
        command: cli_notebook::NotebookCommand::Convert {
            notebook: path.clone(),
            common: cli_notebook::CommonArgs {
                out: out.clone(),
                compute: None,
                requirements: None,
                image: notebook::DEFAULT_IMAGE.to_string(),
                name: None,
                data: Vec::new(),
                use_injected: true,
                json: true,
            },
        },
    };
    assert_eq!(
        cli_notebook::run(args).unwrap(),
        std::process::ExitCode::SUCCESS
    );
    std::fs::remove_file(out.join("report.json")).unwrap();
    let amlops = env!("CARGO_BIN_EXE_amlops");
    let workspace = scratch.path().join("workspace");
    let validate = Command::new(amlops)
        .arg("validate")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        validate.status.success(),
        "{}",
        String::from_utf8_lossy(&validate.stderr)
    );
    let apply = Command::new(amlops)
        .arg("apply")
        .arg(&out)
        .arg("--auto-approve")
        .arg("--data-dir")
        .arg(&workspace)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&apply.stdout);
    let stderr = String::from_utf8_lossy(&apply.stderr);
    assert!(apply.status.success(), "{stdout}\n{stderr}");
    let logs = Command::new(amlops)
        .args(["logs", "job.job"])
        .arg(&out)
        .arg("--data-dir")
        .arg(&workspace)
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&logs.stdout);
    let bytes = std::fs::read(&path).unwrap();
    let printed: String = notebook::read_notebook(&bytes)
        .unwrap()
        .cells
        .iter()
        .map(|cell| cell.stdout.as_str())
        .collect();
    assert_eq!(printed, "Hello\n");
    assert!(
        log.contains(&printed),
        "job log:\n{log}{}",
        String::from_utf8_lossy(&logs.stderr)
    );
}
