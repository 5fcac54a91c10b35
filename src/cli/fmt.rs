//! `amlops fmt`: KDL files in the one layout amlops writes.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use amlops::diag::{SourceFile, display_path};
use amlops::manifest::kdl;
use anyhow::Context as _;
use clap::Args;

use super::ui;

#[derive(Args)]
pub struct FmtArgs {
    /// KDL files, or directories searched recursively for *.kdl
    #[arg(default_value = ".")]
    paths: Vec<PathBuf>,
    /// Change nothing: list the files that are not formatted and exit 1 if there are any
    #[arg(long)]
    check: bool,
}

pub fn run(args: FmtArgs) -> anyhow::Result<ExitCode> {
    let mut files = Vec::new();
    for path in &args.paths {
        if path.is_dir() {
            let mut skipped = amlops::diag::Diagnostics::default();
            files.extend(amlops::manifest::find_files(
                path,
                &|name| name.ends_with(".kdl"),
                &mut skipped,
            ));
            ui::diagnostics(&skipped.items);
        } else if path.exists() {
            files.push(path.clone());
        } else {
            anyhow::bail!("{} does not exist", display_path(path));
        }
    }
    files.sort();
    files.dedup();
    let (mut unformatted, mut invalid) = (0, 0);
    for path in &files {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", display_path(path)))?;
        let file = SourceFile::new(path, text);
        let formatted = match kdl::format(&file) {
            Ok(formatted) => formatted,
            Err(problems) => {
                ui::diagnostics(&problems);
                invalid += 1;
                continue;
            }
        };
        if formatted == file.text {
            continue;
        }
        unformatted += 1;
        if args.check {
            ui::out(&format!("{}\n", file.display));
        } else {
            write_atomically(path, &formatted)?;
            ui::status(&format!("formatted {}", file.display));
        }
    }
    let summary = summary(files.len(), unformatted, invalid, args.check);
    ui::status(&ui::paint(ui::MUTED, &summary));
    Ok(if invalid > 0 || (args.check && unformatted > 0) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn summary(files: usize, unformatted: usize, invalid: usize, check: bool) -> String {
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    let mut summary = if check {
        format!(
            "{unformatted} of {files} KDL file{} would be reformatted",
            plural(files)
        )
    } else {
        format!(
            "{unformatted} of {files} KDL file{} reformatted",
            plural(files)
        )
    };
    if invalid > 0 {
        summary.push_str(&format!(", {invalid} left as they are (problems above)"));
    }
    summary
}

/// Replaces `path` by `text` in one step, so an interrupted run leaves the old file whole.
pub fn write_atomically(path: &Path, text: &str) -> anyhow::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut temporary = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot write in {}", display_path(dir)))?;
    temporary.write_all(text.as_bytes())?;
    if let Ok(metadata) = std::fs::metadata(path) {
        let _ = std::fs::set_permissions(temporary.path(), metadata.permissions());
    }
    temporary
        .persist(path)
        .with_context(|| format!("cannot replace {}", display_path(path)))?;
    Ok(())
}
