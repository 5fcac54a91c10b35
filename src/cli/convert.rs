//! `amlops convert`: a manifest file from YAML to KDL or back, checked to lose nothing.

use std::path::PathBuf;
use std::process::ExitCode;

use amlops::diag::{SourceFile, display_path};
use amlops::manifest::convert::{self, Format};
use anyhow::Context as _;
use clap::{Args, ValueEnum};

use super::ui;

#[derive(Args)]
pub struct ConvertArgs {
    /// The manifest file (.yml, .yaml or .kdl)
    file: PathBuf,
    /// The format to write [default: KDL for YAML files, YAML for KDL files]
    #[arg(long, value_enum)]
    to: Option<To>,
    /// Write to this file instead of stdout
    #[arg(long, short = 'o', value_name = "PATH")]
    output: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum To {
    Kdl,
    Yaml,
}

pub fn run(args: ConvertArgs) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("cannot read {}", display_path(&args.file)))?;
    let file = SourceFile::new(&args.file, text);
    let to = match (args.to, Format::of(&args.file)) {
        (Some(To::Kdl), _) => Format::Kdl,
        (Some(To::Yaml), _) => Format::Yaml,
        (None, Some(Format::Kdl)) => Format::Yaml,
        (None, _) => Format::Kdl,
    };
    let converted = match convert::convert(&file, to) {
        Ok(converted) => converted,
        Err(problems) => {
            ui::diagnostics(&problems);
            return Ok(ExitCode::from(1));
        }
    };
    ui::diagnostics(&converted.warnings);
    match &args.output {
        Some(output) => {
            super::fmt::write_atomically(output, &converted.text)?;
            ui::status(&format!(
                "wrote {} ({})",
                display_path(output),
                to.extension()
            ));
        }
        None => ui::out(&converted.text),
    }
    Ok(ExitCode::SUCCESS)
}
