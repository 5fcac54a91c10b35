//! `amlops validate`: checks manifests as `az ml` would, without reading any workspace.

use std::path::PathBuf;
use std::process::ExitCode;

use amlops::manifest;
use clap::Args;
use serde_json::json;

use super::ui;

#[derive(Args)]
pub struct ValidateArgs {
    /// Files or directories to check
    #[arg(default_value = ".")]
    paths: Vec<PathBuf>,
    /// Print the result as JSON
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
        let report = json!({
            "valid": errors == 0,
            "files": manifest.files_read,
            "resources": manifest.resources.iter().map(|r| json!({
                "address": r.address.to_string(),
                "kind": r.address.kind,
                "source": format!("{}:{}", r.origin.file.display, r.origin.line),
            })).collect::<Vec<_>>(),
            "diagnostics": manifest.diagnostics.items.iter().map(|d| d.to_json()).collect::<Vec<_>>(),
        });
        ui::out(&format!("{}\n", serde_json::to_string_pretty(&report)?));
    } else {
        ui::diagnostics(&manifest.diagnostics.items);
        if errors == 0 {
            ui::status(&format!(
                "{} {} resource{} in {} file{}",
                ui::paint(ui::GOOD, "valid:"),
                manifest.resources.len(),
                if manifest.resources.len() == 1 {
                    ""
                } else {
                    "s"
                },
                manifest.files_read,
                if manifest.files_read == 1 { "" } else { "s" }
            ));
        } else {
            ui::error(&format!(
                "{errors} error{}",
                if errors == 1 { "" } else { "s" }
            ));
        }
    }
    Ok(if errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
