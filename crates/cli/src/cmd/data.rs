//! `cairn validate` and `cairn data merge | stats | diff | generate`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use cairn_data::{DatasetSource, Input, MergeInputs, MergeParams, Taxonomy, ValidateOptions};
use cairn_store::Store;
use clap::{Args, Subcommand};

use super::DiffArgs;
use crate::output::Output;

#[derive(Debug, Args)]
pub struct TaxonomyArg {
    /// A taxonomy TOML (families and contexts); default: the built-in one (datasets/taxonomy.toml).
    #[arg(long, value_name = "FILE")]
    taxonomy: Option<PathBuf>,
}

impl TaxonomyArg {
    fn load(&self) -> Result<Taxonomy> {
        Ok(match &self.taxonomy {
            Some(path) => Taxonomy::load(path)?,
            None => Taxonomy::builtin(),
        })
    }
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// JSONL files, or folders of them.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    #[command(flatten)]
    taxonomy: TaxonomyArg,
    /// The longest text accepted, in characters.
    #[arg(long, default_value_t = ValidateOptions::default().max_text_chars)]
    max_text_chars: usize,
    /// An empty file is an error, not a warning (as `cairn run` treats additions).
    #[arg(long)]
    strict: bool,
}

fn read_inputs(paths: &[PathBuf]) -> Result<Vec<Input>> {
    let mut inputs = Vec::new();
    for path in paths {
        for file in DatasetSource::files(path)? {
            inputs.push(Input::read(&file)?);
        }
    }
    Ok(inputs)
}

pub fn validate(out: &Output, args: ValidateArgs) -> Result<ExitCode> {
    let taxonomy = args.taxonomy.load()?;
    let inputs = read_inputs(&args.files)?;
    let (report, _) = cairn_data::validate(
        &inputs,
        &taxonomy,
        &ValidateOptions {
            max_text_chars: args.max_text_chars,
            strict: args.strict,
        },
    );
    if out.json {
        out.json(&report)?;
    } else {
        for warning in &report.warnings {
            out.line(format!("warning: {warning}"));
        }
        for problem in &report.problems {
            out.line(problem.to_string());
        }
        out.line(report.summary());
    }
    Ok(if report.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(crate::EXIT_FAILURE)
    })
}

#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Validate, merge base + additions with weights, dedup, and store the dataset.
    Merge(MergeArgs),
    /// Family distribution, label balance, sources and weights of a file, folder or dataset hash.
    Stats(StatsArgs),
    /// Rows added, removed and changed between two datasets (files, folders or hashes).
    Diff(DataDiffArgs),
    /// Regenerate the project's default datasets from its own templates.
    Generate(GenerateArgs),
    /// Convert your own data (JSONL with other field names, CSV, Parquet, YAML rule packs)
    /// into cairn's schema, e.g. `--map text=prompt --map label=is_attack --set source=prod`.
    Import(ImportArgs),
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The file to import.
    file: PathBuf,
    /// Where to write the examples (JSONL in cairn's schema).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    #[command(flatten)]
    mapping: MappingArgs,
    /// Write the rows that convert, leaving out the ones that do not (they are listed).
    #[arg(long)]
    skip_invalid: bool,
    #[command(flatten)]
    taxonomy: TaxonomyArg,
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Base JSONL files or folders.
    #[arg(long, required = true, num_args = 1..)]
    base: Vec<PathBuf>,
    /// Additions files or folders (new examples; their weights get the boost).
    #[arg(long = "add", num_args = 1..)]
    additions: Vec<PathBuf>,
    /// Multiplies the weight_multiplier of every addition row.
    #[arg(long, default_value_t = 1.0)]
    boost: f64,
    /// Use a seeded sample of this many base rows, stratified by family.
    #[arg(long)]
    base_sample: Option<u64>,
    /// Seed for sampling and the split.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Hold out this fraction for validation, stratified by family (e.g. 0.1).
    #[arg(long)]
    validation: Option<f64>,
    #[arg(long, default_value_t = ValidateOptions::default().max_text_chars)]
    max_text_chars: usize,
    #[command(flatten)]
    taxonomy: TaxonomyArg,
}

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// A JSONL file, a folder of them, or a dataset / rows object hash.
    source: String,
    #[command(flatten)]
    taxonomy: TaxonomyArg,
}

#[derive(Debug, Args)]
pub struct DataDiffArgs {
    #[command(flatten)]
    pair: DiffArgs,
    #[command(flatten)]
    taxonomy: TaxonomyArg,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Where to write (the repository's `datasets/` by default).
    #[arg(long, default_value = "datasets")]
    out: PathBuf,
    /// The generator's seed.
    #[arg(long, default_value_t = cairn_datagen::DEFAULT_SEED)]
    seed: u64,
}

fn store_if_present(store: &Path) -> Option<Store> {
    Store::open(store).ok()
}

pub fn data(store: &Path, out: &Output, command: DataCommand) -> Result<ExitCode> {
    match command {
        DataCommand::Merge(args) => {
            let taxonomy = args.taxonomy.load()?;
            let inputs = MergeInputs {
                base: read_inputs(&args.base)?,
                additions: read_inputs(&args.additions)?,
            };
            let params = MergeParams {
                new_data_boost: args.boost,
                base_sample: args.base_sample,
                seed: args.seed,
                validation_fraction: args.validation,
                max_text_chars: args.max_text_chars as u64,
            };
            // Validation (inside) happens before the store is even created: a failed merge
            // writes nothing.
            let merged = cairn_data::merge(&inputs, &taxonomy, &params)?;
            let store = Store::open_or_init(store)?;
            let (id, manifest, _) =
                cairn_data::store_result(&store, &inputs, &taxonomy, &params, merged)?;
            if out.json {
                out.json(&manifest.summary(&id))?;
            } else {
                out.line(format!("dataset {id}"));
                let c = &manifest.counts;
                out.status(format!(
                    "{} train + {} validation rows; base {} ({} sampled out), additions {} ({} replaced base rows, {} replaced earlier additions)",
                    manifest.train_rows,
                    manifest.validation_rows,
                    c.base_rows,
                    c.base_sampled_out,
                    c.addition_rows,
                    c.base_replaced_by_additions,
                    c.additions_replaced
                ));
                out.detail(manifest.stats.to_string());
            }
        }
        DataCommand::Stats(args) => {
            let taxonomy = args.taxonomy.load()?;
            let store = store_if_present(store);
            let loaded = DatasetSource::parse(&args.source)?.load(store.as_ref(), &taxonomy)?;
            let stats = cairn_data::DatasetStats::of(&loaded.rows);
            if out.json {
                out.json(&stats)?;
            } else {
                out.status(&loaded.label);
                out.line(stats.to_string().trim_end());
            }
        }
        DataCommand::Diff(args) => {
            let taxonomy = args.taxonomy.load()?;
            let store = store_if_present(store);
            let a = DatasetSource::parse(&args.pair.a)?.load(store.as_ref(), &taxonomy)?;
            let b = DatasetSource::parse(&args.pair.b)?.load(store.as_ref(), &taxonomy)?;
            let diff = cairn_data::diff(&a.rows, &b.rows, args.pair.examples);
            if out.json {
                out.json(&diff)?;
            } else {
                out.status(format!("{} -> {}", a.label, b.label));
                out.line(diff.to_string().trim_end());
            }
        }
        DataCommand::Import(args) => return import(out, args),
        DataCommand::Generate(args) => {
            let summary = cairn_datagen::write_all(&args.out, args.seed)
                .with_context(|| format!("failed to write datasets to `{}`", args.out.display()))?;
            for file in &summary.files {
                out.line(format!(
                    "{:>7}  {}",
                    file.rows,
                    args.out.join(&file.path).display()
                ));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// How a team's own file maps onto cairn's schema (`data import`, `eval --data`).
#[derive(Debug, Args)]
pub struct MappingArgs {
    /// jsonl, csv, parquet or rules (default: from the file's extension).
    #[arg(long)]
    pub format: Option<cairn_import::Format>,
    /// A schema field from a column of yours: `--map text=prompt --map label=is_attack`.
    #[arg(long = "map", value_name = "FIELD=COLUMN")]
    pub maps: Vec<String>,
    /// A schema field set to a constant: `--set source=public-benchmark`.
    #[arg(long = "set", value_name = "FIELD=VALUE")]
    pub sets: Vec<String>,
}

impl MappingArgs {
    /// Whether any mapping option was given.
    pub fn given(&self) -> bool {
        !self.maps.is_empty() || !self.sets.is_empty() || self.format.is_some()
    }

    /// The import options for `file` (its format from `--format` or its extension).
    pub fn options<'t>(
        &self,
        file: &Path,
        taxonomy: &'t Taxonomy,
    ) -> Result<cairn_import::ImportOptions<'t>> {
        let format = match self.format {
            Some(f) => f,
            None => cairn_import::Format::from_path(file).with_context(|| {
                format!(
                    "cannot tell the format of `{}` from its extension (pass --format jsonl|csv|parquet|rules)",
                    file.display()
                )
            })?,
        };
        Ok(cairn_import::ImportOptions {
            format,
            mapping: cairn_import::Mapping::from_args(&self.maps, &self.sets)?,
            taxonomy,
        })
    }
}

fn import(out: &Output, args: ImportArgs) -> Result<ExitCode> {
    let taxonomy = args.taxonomy.load()?;
    let options = args.mapping.options(&args.file, &taxonomy)?;
    let outcome = cairn_import::import_file(&args.file, &options)?;
    for problem in &outcome.problems {
        out.line(format!("{}: {problem}", args.file.display()));
    }
    if !outcome.problems.is_empty() && !args.skip_invalid {
        anyhow::bail!(
            "{} row(s) of `{}` could not be converted; nothing was written (fix them, or pass --skip-invalid to leave them out)",
            outcome.problems.len(),
            args.file.display()
        );
    }
    // The converted rows must pass the same validation as any training file.
    let bytes = cairn_import::to_jsonl(&outcome.examples);
    let input = Input {
        name: args.out.display().to_string(),
        bytes,
    };
    let (report, _) = cairn_data::validate(&[input], &taxonomy, &ValidateOptions::default());
    if !report.is_ok() {
        for problem in &report.problems {
            out.line(problem.to_string());
        }
        anyhow::bail!(
            "the converted rows do not validate; nothing was written ({})",
            report.summary()
        );
    }
    cairn_import::write_jsonl(&outcome.examples, &args.out)?;
    out.status(format!(
        "wrote {} example(s) to {} ({} skipped)",
        outcome.examples.len(),
        args.out.display(),
        outcome.problems.len()
    ));
    Ok(ExitCode::SUCCESS)
}
