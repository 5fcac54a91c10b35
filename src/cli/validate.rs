//! `amlops validate`: checks manifests as `az ml` would, without reading any workspace.
//!
//! Every file is read and every problem reported, file by file, with its location; the exit
//! status is 0 when no file has an error and 1 otherwise.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use amlops::diag::Diagnostic;
use amlops::manifest::{self, Manifest};
use clap::Args;
use serde_json::{Value, json};

use super::ui;

#[derive(Args)]
pub struct ValidateArgs {
    /// Files or directories to check (directories are searched recursively)
    #[arg(default_value = ".")]
    paths: Vec<PathBuf>,
    /// Print the result as JSON on stdout
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    project: super::targets::ProjectArgs,
}

pub fn run(args: ValidateArgs) -> anyhow::Result<ExitCode> {
    let root = args.paths.first().cloned().unwrap_or_default();
    let selection = match super::targets::select(&args.project, &root, true) {
        Ok(selection) => selection,
        Err(code) => return Ok(code),
    };
    let manifest = manifest::load_with(&args.paths, &selection.inputs);
    let errors = manifest.diagnostics.error_count();

    if args.json {
        ui::out(&format!(
            "{}\n",
            serde_json::to_string_pretty(&report(&manifest))?
        ));
    } else {
        ui::diagnostics(&manifest.diagnostics.items);
        summarise(&manifest, errors);
    }

    Ok(if errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The versioned machine-readable report: one entry per file, with its resources and
/// diagnostics, and the diagnostics that concern no single file.
fn report(manifest: &Manifest) -> Value {
    let mut by_file: BTreeMap<&str, Vec<&Diagnostic>> = BTreeMap::new();
    let mut general = Vec::new();
    for diagnostic in &manifest.diagnostics.items {
        match diagnostic.file() {
            Some(file) => by_file.entry(file).or_default().push(diagnostic),
            None => general.push(diagnostic.to_json()),
        }
    }
    let files: Vec<Value> = manifest
        .files
        .iter()
        .map(|file| {
            let diagnostics = by_file.remove(file.as_str()).unwrap_or_default();
            let resources: Vec<Value> = manifest
                .resources
                .iter()
                .filter(|r| &r.origin.file.display == file)
                .map(|r| {
                    json!({
                        "address": r.address.to_string(),
                        "kind": r.address.kind,
                        "line": r.origin.line,
                    })
                })
                .collect();
            json!({
                "path": file,
                "valid": !diagnostics.iter().any(|d| d.is_error()),
                "resources": resources,
                "diagnostics": diagnostics.iter().map(|d| d.to_json()).collect::<Vec<_>>(),
            })
        })
        .collect();
    // Problems found in files read on another's behalf (a component a pipeline loads).
    for diagnostics in by_file.values() {
        general.extend(diagnostics.iter().map(|d| d.to_json()));
    }
    json!({
        "format_version": "1",
        "valid": manifest.diagnostics.error_count() == 0,
        "summary": {
            "files": manifest.files_read,
            "resources": manifest.resources.len(),
            "errors": manifest.diagnostics.error_count(),
            "warnings": manifest.diagnostics.warnings().count(),
        },
        "files": files,
        "diagnostics": general,
    })
}

fn summarise(manifest: &Manifest, errors: usize) {
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    if errors == 0 {
        ui::status(&format!(
            "{} {} in {}",
            ui::paint(ui::GOOD, "valid:"),
            plural(manifest.resources.len(), "resource"),
            plural(manifest.files_read, "file"),
        ));
        return;
    }
    let failing: std::collections::BTreeSet<&str> = manifest
        .diagnostics
        .errors()
        .filter_map(Diagnostic::file)
        .collect();
    if manifest.files_read == 0 {
        // Nothing was read (a path that does not exist): the errors above say it all.
        return;
    }
    ui::error(&format!(
        "{} in {} of {}",
        plural(errors, "error"),
        plural(failing.len(), "file"),
        plural(manifest.files_read, "file"),
    ));
}
