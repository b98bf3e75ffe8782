//! `cairn run | plan | show | reproduce | export`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use cairn_pipeline::{Event, RunStatus};
use cairn_store::Store;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use super::DiffArgs;
use crate::output::Output;

const VERSION: &str = env!("CARGO_PKG_VERSION");

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("what").required(true))]
pub struct RunArgs {
    /// The experiment TOML.
    #[arg(group = "what")]
    experiment: Option<PathBuf>,
    /// Run a recipe already in the store (from `cairn plan --save`), by its hash: no input
    /// file is read.
    #[arg(long, value_name = "HASH", group = "what")]
    recipe: Option<cairn_store::ObjectId>,
    /// Where `metadata.json` goes for `--recipe` (an experiment names it in `[export] dir`).
    #[arg(long, value_name = "DIR", requires = "recipe")]
    metadata_dir: Option<PathBuf>,
    /// Register the version even if the regression gate rejects it (recorded in the run).
    #[arg(long)]
    force: bool,
}

#[derive(Debug, Args)]
pub struct LogArgs {
    /// The model name (all models when absent).
    model: Option<String>,
    /// Exit 1 when a version's run manifest is missing or damaged (it is listed either way).
    #[arg(long)]
    strict: bool,
}

#[derive(Debug, Args)]
pub struct GraphArgs {
    /// A registered version (its chain of parents), or a model's name (every run of it the
    /// store holds, rejected ones included).
    reference: String,
    /// dot, mermaid, json or svg.
    #[arg(long, default_value = "dot", value_parser = ["dot", "mermaid", "json", "svg"])]
    format: String,
    /// Every object as a node (runs, datasets, each input file, tokenizers, reports)
    /// instead of versions with their additions and badges.
    #[arg(long)]
    full: bool,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A registered version, or a model's name for its history page (with --html).
    reference: String,
    /// Write a self-contained HTML page (charts inline, nothing loaded from the network).
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// Draw this version's training curve beside the first one's (with --html).
    #[arg(long, value_name = "VERSION", requires = "html")]
    compare: Option<String>,
}

#[derive(Debug, Args)]
pub struct RegressArgs {
    /// The baseline version (with --backends: the version to evaluate).
    baseline: String,
    /// The candidate version.
    #[arg(required_unless_present = "backends")]
    candidate: Option<String>,
    /// A JSONL test set (default: the candidate's recorded test set).
    #[arg(long, value_name = "FILE")]
    test: Option<PathBuf>,
    /// Evaluate one version on each of these backends (comma-separated: ndarray, wgpu,
    /// tch, onnx) against the one it was trained on, and keep the table in its lineage.
    #[arg(long, value_name = "LIST", value_delimiter = ',', conflicts_with_all = ["candidate", "test"])]
    backends: Option<Vec<String>>,
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Registered versions, scored side by side.
    #[arg(required = true, value_name = "REF")]
    references: Vec<String>,
    /// Labelled JSONL in the example schema (a file, or a folder of `*.jsonl`); with
    /// `--map`/`--set`/`--format`, a file of your own (JSONL, CSV, Parquet, rule pack)
    /// converted as `cairn data import` converts it.
    #[arg(long, value_name = "FILE")]
    data: PathBuf,
    #[command(flatten)]
    mapping: crate::cmd::data::MappingArgs,
    /// Also per family or per source.
    #[arg(long, value_enum)]
    by: Option<By>,
    /// Validate the data against this taxonomy TOML (default: the first version's).
    #[arg(long, value_name = "FILE")]
    taxonomy: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum By {
    Family,
    Source,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The experiment TOML.
    experiment: PathBuf,
    /// Store the inputs and the recipe, so `cairn run --recipe <hash>` can run it later (here
    /// or on another machine sharing the store) without the files.
    #[arg(long)]
    save: bool,
}

#[derive(Debug, Args)]
pub struct ReproduceArgs {
    /// A registered version: `name@version` or `name/latest`.
    reference: String,
    /// Rewrite any stored output whose bytes no longer match its id from the re-run (only
    /// possible when the re-run makes exactly the recorded bytes).
    #[arg(long)]
    repair: bool,
}

#[derive(Debug, Args)]
pub struct RefArg {
    /// A registered version: `name@version` or `name/latest`.
    reference: String,
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("format").required(true).multiple(true))]
pub struct ExportArgs {
    /// A registered version: `name@version` or `name/latest`.
    reference: String,
    /// Write `model.safetensors` into this folder.
    #[arg(long, value_name = "DIR", group = "format")]
    safetensors: Option<PathBuf>,
    /// Write the run's ONNX export (checked against burn when it ran) to this file.
    #[arg(long, value_name = "FILE", group = "format")]
    onnx: Option<PathBuf>,
}

/// Turns pipeline events into status lines and a per-epoch progress bar.
struct Progress<'a> {
    out: &'a Output,
    bar: Option<ProgressBar>,
    interactive: bool,
}

impl<'a> Progress<'a> {
    fn new(out: &'a Output) -> Self {
        Self {
            out,
            bar: None,
            interactive: out.interactive(),
        }
    }

    fn event(&mut self, event: Event) {
        match event {
            Event::Stage(stage, detail) => self.out.status(format!("{stage:>9}  {detail}")),
            Event::Rejected { rule, reason, .. } => self
                .out
                .status(format!("{:>9}  {rule}: {reason}", "rejected")),
            Event::Registered { .. } => {}
            Event::Batch {
                epoch,
                epochs,
                batch,
                batches,
                running_loss,
            } if self.interactive => {
                let bar = self.bar.get_or_insert_with(|| {
                    let bar = ProgressBar::new(batches as u64);
                    if let Ok(style) = ProgressStyle::with_template(
                        "    epoch {prefix} [{bar:30}] {pos}/{len} loss {msg}",
                    ) {
                        bar.set_style(style.progress_chars("=> "));
                    }
                    bar
                });
                bar.set_prefix(format!("{epoch}/{epochs}"));
                bar.set_length(batches as u64);
                bar.set_position(batch as u64);
                bar.set_message(format!("{running_loss:.4}"));
                if batch == batches {
                    bar.finish_and_clear();
                    self.bar = None;
                }
            }
            Event::Batch { .. } => {}
            Event::Epoch(e) => {
                let val = match (e.validation_loss, e.validation_accuracy) {
                    (Some(l), Some(a)) => format!(", validation loss {l:.4}, accuracy {a:.4}"),
                    _ => String::new(),
                };
                self.out.status(format!(
                    "    epoch {}: train loss {:.4}{val}",
                    e.epoch, e.train_loss
                ));
            }
        }
    }
}

fn metric_line(metrics: &std::collections::BTreeMap<String, f64>) -> String {
    ["accuracy", "precision", "recall", "f1", "fpr", "fnr"]
        .iter()
        .filter_map(|k| metrics.get(*k).map(|v| format!("{k} {v:.4}")))
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn run(store: &Path, out: &Output, args: RunArgs) -> Result<ExitCode> {
    let store = Store::open_or_init(store)?;
    let mut progress = Progress::new(out);
    let mut events = |e| progress.event(e);
    let result = match (&args.experiment, &args.recipe) {
        (_, Some(recipe)) => cairn_pipeline::run_stored(
            &store,
            recipe,
            args.metadata_dir.as_deref(),
            args.force,
            VERSION,
            &mut events,
        )?,
        (Some(experiment), None) => {
            cairn_pipeline::run(&store, experiment, VERSION, args.force, &mut events)?
        }
        (None, None) => anyhow::bail!("name an experiment file, or --recipe <hash>"),
    };
    if let Some(mut tracker) = crate::track::open(&store, out) {
        crate::track::record(
            &mut tracker,
            &store,
            out,
            cairn_track::Record::Run(result.run),
        );
    }
    if out.json {
        out.json(&result.summary())?;
    } else {
        let (reference, run, recipe) =
            (&result.reference, result.run.short(), result.recipe.short());
        match result.status {
            RunStatus::UpToDate => out.status(format!("up to date: {reference} (recipe {recipe})")),
            RunStatus::Registered => {
                out.status(format!(
                    "registered {reference} (run {run}, recipe {recipe})"
                ));
                out.status(format!("  test: {}", metric_line(&result.manifest.metrics)));
                if let Some(report) = &result.report {
                    print_gate(out, report);
                }
                if let Some(p) = &result.manifest.onnx_parity {
                    out.status(format!(
                        "  onnx: max |onnx - burn| {:.2e} on {} test rows (tolerance {:.0e}), {} decisions differ",
                        p.max_deviation(),
                        p.examples,
                        p.tolerance,
                        p.binary_disagreements
                    ));
                }
                if result.manifest.forced {
                    out.status("  registered with --force although the gate rejected it (recorded in the run)");
                }
                if let Some(path) = &result.metadata {
                    out.status(format!("  wrote {}", path.display()));
                }
            }
            RunStatus::Stored => {
                out.status(format!("stored {reference} (run {run}); no ref was set"))
            }
            RunStatus::Rejected => {
                out.status(format!("rejected {reference} (run {run} stored, not registered; --force registers it anyway)"));
                if let Some(report) = &result.report {
                    print_gate(out, report);
                }
            }
        }
    }
    Ok(match result.status {
        RunStatus::Rejected => ExitCode::from(crate::EXIT_REJECTED),
        _ => ExitCode::SUCCESS,
    })
}

fn print_gate(out: &Output, report: &cairn_report::Report) {
    for line in report.gate_lines(5) {
        out.status(line);
    }
}

pub fn regress(store: &Path, out: &Output, args: RegressArgs) -> Result<ExitCode> {
    let store = Store::open(store)?;
    let candidate = match (&args.backends, &args.candidate) {
        (Some(backends), _) => {
            let (id, snapshot) =
                cairn_pipeline::backend_snapshot(&store, &args.baseline, backends)?;
            if out.json {
                out.json(&snapshot)?;
            } else {
                out.line(cairn_lineage::render_backends(&snapshot).trim_end());
                out.status(format!(
                    "stored as {id} (cairn show {} lists it)",
                    snapshot.version
                ));
            }
            return Ok(ExitCode::SUCCESS);
        }
        (None, Some(candidate)) => candidate,
        (None, None) => anyhow::bail!("name the candidate version, or pass --backends"),
    };
    let report = cairn_pipeline::regress(&store, &args.baseline, candidate, args.test.as_deref())?;
    if out.json {
        out.json(&report)?;
    } else {
        out.line(cairn_report::markdown(&report).trim_end());
    }
    Ok(if report.decision.accepted() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(crate::EXIT_REJECTED)
    })
}

pub fn log(store: &Path, out: &Output, args: LogArgs) -> Result<ExitCode> {
    let store = Store::open(store)?;
    let entries = cairn_lineage::log(&store, args.model.as_deref())?;
    if out.json {
        out.json(&entries)?;
    } else {
        out.line(cairn_lineage::render_log(&entries).trim_end());
    }
    let damaged = entries.iter().filter(|e| e.damaged.is_some()).count();
    if damaged > 0 {
        out.status(format!(
            "{damaged} version(s) damaged: their run manifests cannot be read (`cairn fsck` lists every problem)"
        ));
        if args.strict {
            return Ok(ExitCode::from(crate::EXIT_FAILURE));
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn diff(store: &Path, out: &Output, args: DiffArgs) -> Result<ExitCode> {
    let store = Store::open(store)?;
    let diff = cairn_lineage::diff(&store, &args.a, &args.b, args.examples)?;
    if out.json {
        out.json(&diff)?;
    } else {
        out.line(cairn_lineage::render_diff(&diff).trim_end());
    }
    Ok(ExitCode::SUCCESS)
}

pub fn graph(store: &Path, out: &Output, args: GraphArgs) -> Result<ExitCode> {
    let store = Store::open(store)?;
    let graph = cairn_lineage::graph(&store, &args.reference, args.full)?;
    match args.format.as_str() {
        "json" => out.json(&graph)?,
        "mermaid" => out.line(graph.to_mermaid().trim_end()),
        "svg" => out.line(graph.to_svg()?.trim_end()),
        _ => out.line(graph.to_dot().trim_end()),
    }
    Ok(ExitCode::SUCCESS)
}

pub fn report(store: &Path, out: &Output, args: ReportArgs) -> Result<ExitCode> {
    let store = Store::open(store)?;
    if cairn_lineage::is_model(&store, &args.reference)? {
        return history_report(&store, out, &args);
    }
    match &args.html {
        Some(path) => {
            let page =
                cairn_pipeline::html_report(&store, &args.reference, args.compare.as_deref())?;
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create the folder of `{}`", path.display()))?;
            }
            cairn_store::write_atomic(path, |w| w.write_all(page.as_bytes()))
                .with_context(|| format!("failed to write `{}`", path.display()))?;
            out.status(format!("wrote {}", path.display()));
        }
        None => out.line(cairn_pipeline::markdown_report(&store, &args.reference)?.trim_end()),
    }
    Ok(ExitCode::SUCCESS)
}

/// `cairn report <model> --html page.html`: the model's history page, and beside it each
/// registered version's own report (`<name>@<version>.html`), which the page links to.
fn history_report(store: &Store, out: &Output, args: &ReportArgs) -> Result<ExitCode> {
    let model = &args.reference;
    let (Some(path), None) = (&args.html, &args.compare) else {
        let why = if args.compare.is_some() {
            "--compare compares two versions, not a model"
        } else {
            "a model's history is a page: add --html FILE (`cairn log` lists it as text)"
        };
        anyhow::bail!("`{model}` is a model, not a version: {why}");
    };
    let dir = path.parent().unwrap_or(Path::new(""));
    // The folder of the page is made, as `export` and `deploy` make theirs.
    if !dir.as_os_str().is_empty() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the folder of `{}`", path.display()))?;
    }
    let file_of = |version: &str| format!("{}.html", version.replace('/', "-"));
    let history = cairn_lineage::history(store, model)?;
    let mut written = 0;
    for e in &history.entries {
        if e.gate == cairn_lineage::GateOutcome::Rejected {
            continue;
        }
        let page = cairn_pipeline::html_report(store, &e.version, None)?;
        let file = dir.join(file_of(&e.version));
        cairn_store::write_atomic(&file, |w| w.write_all(page.as_bytes()))
            .with_context(|| format!("failed to write `{}`", file.display()))?;
        written += 1;
    }
    let page = cairn_lineage::history_html(store, model, &|e| {
        (e.gate != cairn_lineage::GateOutcome::Rejected).then(|| file_of(&e.version))
    })?;
    cairn_store::write_atomic(path, |w| w.write_all(page.as_bytes()))
        .with_context(|| format!("failed to write `{}`", path.display()))?;
    out.status(format!(
        "wrote {} ({} runs) and {written} version report{} beside it",
        path.display(),
        history.entries.len(),
        if written == 1 { "" } else { "s" }
    ));
    Ok(ExitCode::SUCCESS)
}

pub fn plan(store: &Path, out: &Output, args: PlanArgs) -> Result<ExitCode> {
    let plan = if args.save {
        let store = Store::open_or_init(store)?;
        cairn_pipeline::save_plan(&store, &args.experiment, VERSION)?
    } else {
        let store = Store::open(store).ok();
        cairn_pipeline::plan(store.as_ref(), &args.experiment, VERSION)?
    };
    if out.json {
        out.json(&plan)?;
    } else {
        out.line(serde_json::to_string_pretty(&plan.resolved)?);
        out.line(format!("recipe {}", plan.recipe));
        if plan.saved {
            out.status(format!(
                "saved the recipe and its inputs: `cairn run --recipe {}` runs it",
                plan.recipe
            ));
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn show(store: &Path, out: &Output, args: RefArg) -> Result<ExitCode> {
    let store = Store::open(store)?;
    // A deploy that a crash interrupted after switching its folder is recorded first, so
    // "deployed" names what each folder serves.
    cairn_pipeline::settle_deployments(&store)?;
    let provenance = cairn_lineage::provenance(&store, &args.reference)?;
    if out.json {
        out.json(&provenance.document())?;
    } else {
        out.line(cairn_lineage::render_provenance(&provenance).trim_end());
    }
    Ok(ExitCode::SUCCESS)
}

pub fn reproduce(store: &Path, out: &Output, args: ReproduceArgs) -> Result<ExitCode> {
    let store = Store::open(store)?;
    let mut progress = Progress::new(out);
    let report =
        cairn_pipeline::reproduce(&store, &args.reference, VERSION, args.repair, &mut |e| {
            progress.event(e)
        })?;
    if out.json {
        out.json(&report)?;
    } else {
        for change in &report.environment {
            out.line(format!(
                "environment: {} was {}, is {}",
                change.field, change.recorded, change.now
            ));
        }
        for o in &report.outputs {
            let stored = match o.stored {
                "intact" => String::new(),
                "repaired" => "  (the stored copy was damaged; rewritten from the re-run)".into(),
                state => format!(
                    "  (the stored copy is {state}: `cairn reproduce {} --repair` rewrites it)",
                    report.reference
                ),
            };
            if o.identical {
                out.line(format!("{:<11} identical  {}{stored}", o.name, o.recorded));
            } else {
                out.line(format!(
                    "{:<11} DIFFERS    recorded {}, reproduced {}{stored}",
                    o.name, o.recorded, o.reproduced
                ));
            }
        }
        if let Some(d) = &report.deviation {
            let against = d
                .tolerance
                .map(|t| format!(" (tolerance {t:e})"))
                .unwrap_or_default();
            out.line(format!(
                "deviation   weights max |Δ| {:.3e}, test outputs max |Δ| {:.3e}{against}, {} decision(s) flipped",
                d.max_weight_deviation, d.max_output_deviation, d.flips
            ));
        }
        let r = &report.reference;
        let within = report.deviation.as_ref().is_some_and(|d| d.within);
        out.line(match (report.identical, within, report.damaged) {
            (true, _, false) => format!("{r}: bit-for-bit identical"),
            (true, _, true) => {
                format!("{r}: bit-for-bit identical, but stored outputs are damaged")
            }
            (false, true, false) => {
                format!("{r}: reproduced within the tolerance its backend promises")
            }
            (false, true, true) => format!(
                "{r}: reproduced within the tolerance its backend promises, but stored outputs are damaged"
            ),
            (false, false, _) => match (&report.promised, report.environment.is_empty()) {
                (Some(promised), true) => format!(
                    "{r}: not reproduced, although its backend promises {promised} in this environment"
                ),
                _ => format!("{r}: not reproduced"),
            },
        });
    }
    Ok(if report.reproduced {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(crate::EXIT_FAILURE)
    })
}

pub fn export(store: &Path, out: &Output, args: ExportArgs) -> Result<ExitCode> {
    let store = Store::open(store)?;
    if let Some(dir) = args.safetensors {
        let path = cairn_pipeline::export_safetensors(&store, &args.reference, &dir)?;
        out.status(format!("wrote {}", path.display()));
    }
    if let Some(file) = args.onnx {
        let path = cairn_pipeline::export_onnx(&store, &args.reference, &file)?;
        out.status(format!("wrote {}", path.display()));
    }
    Ok(ExitCode::SUCCESS)
}

pub fn eval(store: &Path, out: &Output, args: EvalArgs) -> Result<ExitCode> {
    let store = Store::open(store)?;
    let taxonomy = match &args.taxonomy {
        Some(path) => Some(cairn_data::Taxonomy::load(path)?),
        None => None,
    };
    let by = args.by.map(|b| match b {
        By::Family => cairn_pipeline::GroupBy::Family,
        By::Source => cairn_pipeline::GroupBy::Source,
    });
    let mapped = args.mapping.given();
    let report = if mapped {
        // The team's own columns, converted like `cairn data import`; rows that cannot be
        // converted are listed and nothing is scored.
        let taxonomy = match taxonomy {
            Some(t) => t,
            None => {
                let first = args
                    .references
                    .first()
                    .context("name at least one version")?;
                cairn_pipeline::LoadedModel::load(&store, first)?.taxonomy
            }
        };
        let options = args.mapping.options(&args.data, &taxonomy)?;
        let outcome = cairn_import::import_file(&args.data, &options)?;
        for problem in &outcome.problems {
            out.line(format!("{}: {problem}", args.data.display()));
        }
        if !outcome.problems.is_empty() {
            anyhow::bail!(
                "{} row(s) of `{}` could not be converted (fix them or the mapping)",
                outcome.problems.len(),
                args.data.display()
            );
        }
        let bytes = cairn_import::to_jsonl(&outcome.examples);
        cairn_pipeline::eval_jsonl(
            &store,
            &args.references,
            &args.data.display().to_string(),
            bytes,
            Some(&taxonomy),
            by,
        )?
    } else {
        cairn_pipeline::eval(&store, &args.references, &args.data, taxonomy.as_ref(), by)?
    };
    if out.json {
        out.json(&report)?;
    } else {
        out.line(cairn_pipeline::render_eval(&report).trim_end());
    }
    Ok(ExitCode::SUCCESS)
}
