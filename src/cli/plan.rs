//! `amlops plan` and `amlops apply`.

use std::process::ExitCode;
use std::time::Duration;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use amlops::apply::{self, ApplyOptions};
use amlops::backend::Backend;
use amlops::lock;
use amlops::manifest::{self, Manifest};
use amlops::plan::{Action, Plan, PlanOptions};
use amlops::render;
use amlops::workflow::{self, PlanError, PlanRequest};
use anyhow::Context as _;
use clap::Args;

use super::progress::Printer;
use super::target::{self, Opening, TargetArgs};
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
    #[command(flatten)]
    selection: Selection,
    /// Save the plan to FILE; `amlops apply FILE` applies exactly it, or refuses if the
    /// workspace or the manifests changed since
    #[arg(short = 'o', long = "out", value_name = "FILE")]
    out: Option<std::path::PathBuf>,
}

#[derive(Args)]
pub struct DriftArgs {
    #[command(flatten)]
    dir: DirArg,
    #[command(flatten)]
    target: TargetArgs,
    /// Print the report as JSON (same as --format json)
    #[arg(long)]
    json: bool,
    /// Output format
    #[arg(long, value_enum, default_value = "human", conflicts_with = "json")]
    format: Format,
    #[command(flatten)]
    selection: Selection,
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
    #[command(flatten)]
    selection: Selection,
    /// Seconds to wait for another apply's lock on the target before giving up
    #[arg(long, default_value_t = 0, value_name = "SECONDS")]
    lock_timeout: u64,
    /// Changes made at once; independent changes run concurrently
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..))]
    parallelism: u16,
}

impl ApplyArgs {
    /// Detached jobs with `--no-wait`; as many requests in flight as changes.
    fn opening(&self) -> Opening {
        Opening {
            detached_runs: self.no_wait,
            requests: usize::from(self.parallelism),
        }
    }
}

/// Which resources a command plans.
#[derive(Args, Clone, Debug, Default)]
pub struct Selection {
    /// Only this resource (and what it depends on); repeatable
    #[arg(long, value_name = "ADDRESS")]
    only: Vec<String>,
    /// Archive asset versions this project owns that left the manifests
    #[arg(long)]
    prune: bool,
    /// Also delete computes this project owns that left the manifests (never while a job runs
    /// on them or a declared resource refers to them)
    #[arg(long)]
    prune_computes: bool,
}

impl Selection {
    /// The selection a saved plan was made with.
    fn of(origin: &amlops::plan::Origin) -> Self {
        Self {
            only: origin.only.clone(),
            prune: origin.prune,
            prune_computes: origin.prune_computes,
        }
    }

    fn prune(&self) -> amlops::plan::prune::Prune {
        amlops::plan::prune::Prune {
            assets: self.prune || self.prune_computes,
            computes: self.prune_computes,
        }
    }
}

/// What every planning command starts with.
pub struct Planned {
    pub backend: Box<dyn Backend>,
    pub plan: Plan,
}

/// [`prepare`] again for a second look, without repeating the warnings of the first.
async fn prepare_quietly(
    dir: &DirArg,
    target: &TargetArgs,
    selection: &Selection,
    opening: Opening,
) -> anyhow::Result<Result<Planned, ExitCode>> {
    QUIET.store(true, Ordering::SeqCst);
    let result = prepare(dir, target, selection, opening).await;
    QUIET.store(false, Ordering::SeqCst);
    result
}

static QUIET: AtomicBool = AtomicBool::new(false);

/// Loads the manifests, hashes their local content and plans against the target. Problems
/// are printed; `Err` carries the exit code.
pub async fn prepare(
    dir: &DirArg,
    target_args: &TargetArgs,
    selection: &Selection,
    opening: Opening,
) -> anyhow::Result<Result<Planned, ExitCode>> {
    let chosen = match targets::select(
        &target_args.project,
        &dir.dir,
        !QUIET.load(Ordering::SeqCst),
    ) {
        Ok(chosen) => chosen,
        Err(code) => return Ok(Err(code)),
    };
    let manifest = manifest::load_with(std::slice::from_ref(&dir.dir), &chosen.inputs);
    if !QUIET.load(Ordering::SeqCst) {
        ui::diagnostics(manifest.diagnostics.warnings());
    }
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
    let backend = target::open(target_args, &chosen.spec, &dir.dir, opening).await?;
    let project = chosen
        .project
        .clone()
        .unwrap_or_else(|| workflow::project_name(&manifest.root));
    let request = PlanRequest {
        manifest: &manifest,
        artifacts: &artifacts,
        project: &project,
        options: PlanOptions {
            prune: selection.prune(),
            ..PlanOptions::default()
        },
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
    if !selection.only.is_empty()
        && let Err(message) = plan.restrict(&selection.only)
    {
        ui::error(&message);
        return Ok(Err(ExitCode::from(1)));
    }
    if backend.target().kind == "local" && plan.changes.iter().any(|c| c.action == Action::Submit) {
        plan.notes.push(
            "jobs run on this machine with its own interpreters; environment images and conda files are recorded, not built".into(),
        );
    }
    plan.origin = Some(amlops::plan::Origin {
        manifests: manifest::normalize(&dir.dir),
        only: selection.only.clone(),
        prune: selection.prune,
        prune_computes: selection.prune_computes,
        target: Some(chosen.target),
    });
    Ok(Ok(Planned { backend, plan }))
}

fn report_errors(manifest: &Manifest) {
    let errors: Vec<_> = manifest.diagnostics.errors().collect();
    ui::diagnostics(errors.iter().copied());
    let files: std::collections::BTreeSet<&str> = errors.iter().filter_map(|d| d.file()).collect();
    if files.is_empty() {
        // Nothing was read (a path that does not exist): the errors above say it all.
        return;
    }
    ui::error(&format!(
        "{} error{} in {} file{}",
        errors.len(),
        if errors.len() == 1 { "" } else { "s" },
        files.len(),
        if files.len() == 1 { "" } else { "s" }
    ));
}

pub async fn plan(args: PlanArgs) -> anyhow::Result<ExitCode> {
    let planned =
        match prepare(&args.dir, &args.target, &args.selection, Opening::default()).await? {
            Ok(planned) => planned,
            Err(code) => return Ok(code),
        };
    let plan = &planned.plan;
    if let Some(out) = &args.out {
        std::fs::write(out, format!("{}\n", render::json(plan)))
            .with_context(|| format!("cannot write {}", out.display()))?;
        ui::status(&format!(
            "plan saved to {}; apply it with `amlops apply {}`",
            out.display(),
            out.display()
        ));
    }
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

pub async fn drift(args: DriftArgs) -> anyhow::Result<ExitCode> {
    let planned =
        match prepare(&args.dir, &args.target, &args.selection, Opening::default()).await? {
            Ok(planned) => planned,
            Err(code) => return Ok(code),
        };
    let report = amlops::plan::drift::drift(&planned.plan);
    let serialised = serde_json::to_value(&report)?;
    match if args.json { Format::Json } else { args.format } {
        Format::Json => ui::out(&format!("{}\n", serde_json::to_string_pretty(&serialised)?)),
        Format::Markdown => ui::out(&render::drift::markdown(&serialised)?),
        Format::Human => ui::out(&render::drift::human(&serialised)?),
    }
    Ok(ExitCode::from(report.exit_code as u8))
}

pub async fn apply(args: ApplyArgs) -> anyhow::Result<ExitCode> {
    let saved = read_saved_plan(&args.dir.dir)?;
    let planned = match &saved {
        Some(saved) => {
            let Some(origin) = &saved.origin else {
                anyhow::bail!(
                    "{} has no record of its manifests; save plans with `amlops plan -o FILE`",
                    args.dir.dir.display()
                );
            };
            let dir = DirArg {
                dir: origin.manifests.clone(),
            };
            let target = targets::saved_target(&args.target, origin)?;
            prepare(&dir, &target, &Selection::of(origin), args.opening()).await?
        }
        None => prepare(&args.dir, &args.target, &args.selection, args.opening()).await?,
    };
    let planned = match planned {
        Ok(planned) => planned,
        Err(code) => return Ok(code),
    };
    let plan = &planned.plan;
    if let Some(saved) = &saved
        && let Err(stale) = saved.check_saved(plan)
    {
        ui::error(&format!(
            "refusing to apply {}: {stale}",
            args.dir.dir.display()
        ));
        ui::status("plan again to review the current changes");
        return Ok(ExitCode::from(1));
    }
    ui::out(&render::human::render(&serde_json::to_value(plan)?)?);
    if plan.has_conflicts() {
        ui::error("the plan has conflicts; nothing was changed");
        return Ok(ExitCode::from(1));
    }
    if !plan.has_changes() {
        return Ok(ExitCode::SUCCESS);
    }
    // A saved plan was reviewed when it was saved.
    if !args.auto_approve && saved.is_none() {
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
    let check = ApplyOptions {
        allow_replace: args.allow_replace,
        ..ApplyOptions::default()
    };
    if let Err(e) = apply::refuse_unsafe(plan, &check) {
        ui::error(&e.to_string());
        return Ok(ExitCode::from(1));
    }
    let lock_info = match lock::acquire(
        planned.backend.as_ref(),
        lock::LockInfo::for_this_process("apply"),
        Duration::from_secs(args.lock_timeout),
        Duration::from_secs(2),
    )
    .await
    {
        Ok(info) => info,
        Err(e) => {
            ui::error(&e.to_string());
            if matches!(e, lock::LockError::Held { .. }) {
                ui::status(
                    "wait for it to finish (--lock-timeout SECONDS waits), or, if it died, `amlops force-unlock ID`",
                );
            }
            return Ok(ExitCode::from(1));
        }
    };
    let code = apply_locked(&args, plan, saved.as_ref(), &lock_info.id).await;
    if let Err(e) = lock::release(planned.backend.as_ref(), &lock_info).await {
        ui::warning(&format!(
            "could not release the lock {}: {e}; `amlops force-unlock {}` releases it",
            lock_info.id, lock_info.id
        ));
    }
    code
}

/// Applies `reviewed` while holding the lock: plans again, and goes ahead only when nothing
/// moved between the review and the lock.
async fn apply_locked(
    args: &ApplyArgs,
    reviewed: &Plan,
    saved: Option<&Plan>,
    lock_id: &str,
) -> anyhow::Result<ExitCode> {
    let (dir, selection, target) = match saved.and_then(|s| s.origin.as_ref()) {
        Some(origin) => (
            DirArg {
                dir: origin.manifests.clone(),
            },
            Selection::of(origin),
            targets::saved_target(&args.target, origin)?,
        ),
        None => (
            args.dir.clone(),
            args.selection.clone(),
            args.target.clone(),
        ),
    };
    let planned = match prepare_quietly(&dir, &target, &selection, args.opening()).await? {
        Ok(planned) => planned,
        Err(code) => return Ok(code),
    };
    if let Err(stale) = reviewed.check_saved(&planned.plan) {
        ui::error(&format!("not applying: {stale}"));
        ui::status("another change landed while this plan was reviewed; plan again");
        return Ok(ExitCode::from(1));
    }
    let options = ApplyOptions {
        allow_replace: args.allow_replace,
        wait: !args.no_wait,
        poll: Duration::from_millis(200),
        parallelism: usize::from(args.parallelism),
        cancel: interrupt_flag(lock_id),
    };
    let mut progress = Printer::new();
    let result = apply::apply(
        planned.backend.as_ref(),
        &planned.plan,
        &options,
        &mut progress,
    )
    .await;
    progress.finish();
    match result {
        Ok(report) => Ok(report_jobs(&report)),
        Err(e) => {
            report_apply_error(&e);
            Ok(ExitCode::from(1))
        }
    }
}

fn report_apply_error(error: &apply::ApplyError) {
    ui::error(&error.to_string());
    let (applied, not_done) = match error {
        apply::ApplyError::Change {
            applied, not_done, ..
        }
        | apply::ApplyError::Interrupted { applied, not_done } => (applied, not_done),
        _ => return,
    };
    if !applied.is_empty() {
        ui::status(&format!("done: {}", applied.join(", ")));
    }
    if !not_done.is_empty() {
        ui::status(&format!("not done: {}", not_done.join(", ")));
    }
    ui::status("run apply again to finish: it plans from what is there now");
}

/// A saved plan, when `path` is a file other than a manifest.
fn read_saved_plan(path: &std::path::Path) -> anyhow::Result<Option<Plan>> {
    let is_manifest = path
        .extension()
        .is_some_and(|e| e == "yml" || e == "yaml" || e == "kdl");
    if !path.is_file() || is_manifest {
        return Ok(None);
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let plan: Plan = serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is neither a manifest directory nor a plan saved by `amlops plan -o`",
            path.display()
        )
    })?;
    if plan.format_version != amlops::plan::FORMAT_VERSION {
        anyhow::bail!(
            "{} has plan format {}, this amlops reads {}",
            path.display(),
            plan.format_version,
            amlops::plan::FORMAT_VERSION
        );
    }
    Ok(Some(plan))
}

/// Prints what the jobs printed (the end of the log of those that failed) and the summary.
fn report_jobs(report: &apply::ApplyReport) -> ExitCode {
    for job in report.jobs.iter().filter(|j| j.status == "Completed") {
        if let Some(tail) = job.log_tail.as_deref().filter(|t| !t.trim().is_empty()) {
            ui::status(&ui::paint(
                ui::MUTED,
                &format!("--- {} ({}) printed ---", job.address, job.name),
            ));
            ui::status(tail);
        }
    }
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
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// A flag Ctrl-C sets: apply then starts nothing new. A second Ctrl-C ends the program at
/// once, leaving the lock `lock_id` held, and says how to release it.
fn interrupt_flag(lock_id: &str) -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let setter = Arc::clone(&flag);
    let lock_id = lock_id.to_owned();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            setter.store(true, Ordering::SeqCst);
            ui::warning(
                "interrupted: finishing the changes in flight, starting nothing new (Ctrl-C again to quit now)",
            );
            if tokio::signal::ctrl_c().await.is_ok() {
                ui::error(&format!(
                    "quit with changes in flight; the lock {lock_id} stays held: once no apply runs, `amlops force-unlock {lock_id}` releases it"
                ));
                std::process::exit(130);
            }
        }
    });
    flag
}
