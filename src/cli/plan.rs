//! `amlops plan` and `amlops apply`.

use std::process::ExitCode;
use std::time::Duration;

use amlops::apply::{self, ApplyOptions, Event, Progress};
use amlops::backend::Backend;
use amlops::manifest::{self, Manifest};
use amlops::plan::{Action, Plan, PlanOptions};
use amlops::render;
use amlops::workflow::{self, PlanError, PlanRequest};
use clap::Args;

use super::target::{self, TargetArgs};
use super::{DirArg, Format, targets, ui};

#[derive(Args)]
pub struct PlanArgs {
    #[command(flatten)]
    dir: DirArg,
    #[command(flatten)]
    target: TargetArgs,
    /// Print the plan as JSON (same as --format json)
    #[arg(long)]
    json: bool,
    /// Output format
    #[arg(long, value_enum, default_value = "human", conflicts_with = "json")]
    format: Format,
    /// Exit 0 when there are no changes, 2 when there are, 1 on error
    #[arg(long)]
    detailed_exitcode: bool,
}

#[derive(Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    dir: DirArg,
    #[command(flatten)]
    target: TargetArgs,
    /// Apply without asking for confirmation (required when stdin is not a terminal)
    #[arg(long)]
    auto_approve: bool,
    /// Allow changes that delete a compute and create it again
    #[arg(long)]
    allow_replace: bool,
    /// Submit jobs and return without waiting for them to finish
    #[arg(long)]
    no_wait: bool,
}

/// What every planning command starts with.
pub struct Planned {
    pub backend: Box<dyn Backend>,
    pub plan: Plan,
}

/// Loads the manifests, hashes their local content and plans against the target. Problems
/// are printed; `Err` carries the exit code.
pub async fn prepare(
    dir: &DirArg,
    target_args: &TargetArgs,
    detached_runs: bool,
) -> anyhow::Result<Result<Planned, ExitCode>> {
    let selection = match targets::select(&target_args.project, &dir.dir) {
        Ok(selection) => selection,
        Err(code) => return Ok(Err(code)),
    };
    let manifest = manifest::load_with(std::slice::from_ref(&dir.dir), &selection.inputs);
    ui::diagnostics(manifest.diagnostics.warnings());
    if manifest.has_errors() {
        report_errors(&manifest);
        return Ok(Err(ExitCode::from(1)));
    }
    if manifest.resources.is_empty() {
        ui::warning(&format!(
            "no Azure ML resources found in {}",
            dir.dir.display()
        ));
    }
    let artifacts = match workflow::artifacts(&manifest.resources) {
        Ok(artifacts) => artifacts,
        Err(errors) => {
            ui::diagnostics(&errors);
            return Ok(Err(ExitCode::from(1)));
        }
    };
    let backend = target::open(target_args, &selection.spec, &dir.dir, detached_runs)?;
    let project = selection
        .project
        .clone()
        .unwrap_or_else(|| workflow::project_name(&manifest.root));
    let request = PlanRequest {
        manifest: &manifest,
        artifacts: &artifacts,
        project: &project,
        options: PlanOptions::default(),
    };
    let mut plan = match workflow::make_plan(backend.as_ref(), request).await {
        Ok(plan) => plan,
        Err(PlanError::Invalid(diagnostics)) => {
            ui::diagnostics(&diagnostics);
            let count = diagnostics.iter().filter(|d| d.is_error()).count();
            ui::error(&format!(
                "the plan cannot be made: {count} problem{}",
                if count == 1 { "" } else { "s" }
            ));
            return Ok(Err(ExitCode::from(1)));
        }
        Err(PlanError::Backend(e)) => return Err(e.into()),
    };
    if backend.target().kind == "local" && plan.changes.iter().any(|c| c.action == Action::Submit) {
        plan.notes.push(
            "jobs run on this machine with its own interpreters; environment images and conda files are recorded, not built".into(),
        );
    }
    Ok(Ok(Planned { backend, plan }))
}

fn report_errors(manifest: &Manifest) {
    let errors: Vec<_> = manifest.diagnostics.errors().collect();
    ui::diagnostics(errors.iter().copied());
    let files: std::collections::BTreeSet<&str> = errors.iter().filter_map(|d| d.file()).collect();
    ui::error(&format!(
        "{} error{} in {} file{}",
        errors.len(),
        if errors.len() == 1 { "" } else { "s" },
        files.len(),
        if files.len() == 1 { "" } else { "s" }
    ));
}

pub async fn plan(args: PlanArgs) -> anyhow::Result<ExitCode> {
    let planned = match prepare(&args.dir, &args.target, false).await? {
        Ok(planned) => planned,
        Err(code) => return Ok(code),
    };
    let plan = &planned.plan;
    let format = if args.json { Format::Json } else { args.format };
    let serialised = serde_json::to_value(plan)?;
    match format {
        Format::Json => ui::out(&format!("{}\n", render::json(plan))),
        Format::Markdown => ui::out(&render::markdown::render(&serialised)?),
        Format::Human => ui::out(&render::human::render(&serialised)?),
    }
    if plan.has_conflicts() {
        ui::error("the plan has conflicts: apply would refuse it");
        return Ok(ExitCode::from(1));
    }
    Ok(if args.detailed_exitcode && plan.has_changes() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

pub async fn apply(args: ApplyArgs) -> anyhow::Result<ExitCode> {
    let planned = match prepare(&args.dir, &args.target, args.no_wait).await? {
        Ok(planned) => planned,
        Err(code) => return Ok(code),
    };
    let plan = &planned.plan;
    ui::out(&render::human::render(&serde_json::to_value(plan)?)?);
    if !plan.has_changes() {
        return Ok(ExitCode::SUCCESS);
    }
    if plan.has_conflicts() {
        ui::error("the plan has conflicts; nothing was changed");
        return Ok(ExitCode::from(1));
    }
    if !args.auto_approve {
        if !ui::stdin_is_terminal() {
            ui::error(
                "refusing to apply without confirmation: stdin is not a terminal; pass --auto-approve",
            );
            return Ok(ExitCode::from(1));
        }
        if !ui::confirm("\nDo you want to make these changes?") {
            ui::status("Apply cancelled.");
            return Ok(ExitCode::from(1));
        }
    }
    let options = ApplyOptions {
        allow_replace: args.allow_replace,
        wait: !args.no_wait,
        poll: Duration::from_millis(200),
    };
    let mut progress = Printer;
    let report = match apply::apply(planned.backend.as_ref(), plan, &options, &mut progress).await {
        Ok(report) => report,
        Err(e) => {
            ui::error(&e.to_string());
            if let apply::ApplyError::Change { applied, .. } = &e
                && !applied.is_empty()
            {
                ui::status(&format!(
                    "applied before the failure: {}",
                    applied.join(", ")
                ));
                ui::status("run apply again to finish: it plans from what is there now");
            }
            return Ok(ExitCode::from(1));
        }
    };
    let failed: Vec<_> = report.failed_jobs().collect();
    for job in &failed {
        ui::error(&format!(
            "{} ({}) ended {}",
            job.address, job.name, job.status
        ));
        if let Some(tail) = &job.log_tail {
            ui::status(&ui::paint(
                ui::MUTED,
                &format!("--- last lines of the log of {} ---", job.name),
            ));
            ui::status(tail);
            ui::status(&ui::paint(ui::MUTED, "---"));
        }
    }
    let summary = format!(
        "Apply complete: {} change{} made, {} upload{}.",
        report.applied.len(),
        if report.applied.len() == 1 { "" } else { "s" },
        report.uploads,
        if report.uploads == 1 { "" } else { "s" }
    );
    ui::status(&ui::paint(
        if failed.is_empty() {
            ui::GOOD
        } else {
            ui::ERROR
        },
        &summary,
    ));
    Ok(if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Prints apply's progress to stderr, one line per event.
struct Printer;

impl Progress for Printer {
    fn event(&mut self, event: Event<'_>) {
        match event {
            Event::Started { change } => ui::status(&format!(
                "{}: {}...",
                change.address,
                progressive(change.action)
            )),
            Event::Uploading { source, bytes, .. } => ui::status(&format!(
                "  ↑ uploading {source} ({})",
                render::human_bytes(bytes)
            )),
            Event::Finished { change, elapsed } => ui::status(&format!(
                "{}: {} [{}]",
                change.address,
                ui::paint(ui::GOOD, done(change.action)),
                seconds(elapsed)
            )),
            Event::JobStatus {
                address,
                name,
                status,
                elapsed,
            } => {
                let style = match status {
                    "Completed" => ui::GOOD,
                    "Failed" | "Canceled" => ui::ERROR,
                    _ => ui::MUTED,
                };
                ui::status(&format!(
                    "{address} ({name}): {} [{}]",
                    ui::paint(style, status),
                    seconds(elapsed)
                ));
            }
        }
    }
}

fn progressive(action: Action) -> &'static str {
    match action {
        Action::Create => "creating",
        Action::NewVersion => "creating a new version",
        Action::Update => "updating",
        Action::Replace => "replacing",
        Action::Submit => "submitting",
        Action::Restore => "restoring",
        Action::Archive => "archiving",
        Action::Delete => "deleting",
        Action::NoOp | Action::Conflict => "skipping",
    }
}

fn done(action: Action) -> &'static str {
    match action {
        Action::Create | Action::NewVersion => "created",
        Action::Update => "updated",
        Action::Replace => "replaced",
        Action::Submit => "submitted",
        Action::Restore => "restored",
        Action::Archive => "archived",
        Action::Delete => "deleted",
        Action::NoOp | Action::Conflict => "skipped",
    }
}

fn seconds(elapsed: Duration) -> String {
    format!("{:.1}s", elapsed.as_secs_f64())
}
