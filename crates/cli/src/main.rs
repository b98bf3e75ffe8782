//! The `cairn` binary: argument parsing, output and exit codes. Every capability lives in a
//! library crate; each command here is a call into one.

mod cmd;
mod output;
mod track;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use output::Output;

/// Exit codes: 0 ok, 1 failure, 2 usage error (clap), 3 regression gate rejected.
pub const EXIT_FAILURE: u8 = 1;
pub const EXIT_REJECTED: u8 = 3;

#[derive(Debug, Parser)]
#[command(name = "cairn", version, about = "Reproducible, content-addressed ML model updates", long_about = None)]
struct Cli {
    /// The store: a folder, or `s3://bucket/prefix` (the store in object storage, with a
    /// local cache) [default: $CAIRN_STORE, else `artifacts`].
    #[arg(long, global = true, value_name = "DIR")]
    store: Option<PathBuf>,
    /// The tracking database: a postgres://user[:password]@host[:port]/database URL for one a
    /// team shares; unset, the store's own SQLite file (`<store>/track.db`).
    #[arg(
        long,
        global = true,
        env = "CAIRN_DB",
        value_name = "URL",
        hide_env_values = true
    )]
    db: Option<String>,
    /// Machine-readable JSON on stdout (human text stays on stderr).
    #[arg(long, global = true)]
    json: bool,
    /// Print only results and errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
    /// Print more detail.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run an experiment: validate, merge, tokenize, train, evaluate, register `name@version`.
    Run(cmd::run::RunArgs),
    /// The regression report of a candidate version against a baseline; exit 3 on reject.
    Regress(cmd::run::RegressArgs),
    /// A model's versions, newest first: parent, mode, additions, F1/FPR/FNR, gate, backend.
    Log(cmd::run::LogArgs),
    /// What changed between two versions: common ancestor, parameters, training rows, metrics.
    Diff(cmd::DiffArgs),
    /// The DAG behind a version (runs, datasets, inputs, tokenizers, reports): dot, mermaid, json, svg.
    Graph(cmd::run::GraphArgs),
    /// A version's stored regression report (Markdown), or `--html out.html` with charts.
    Report(cmd::run::ReportArgs),
    /// Score versions side by side on labelled JSONL: precision, recall, F1, FPR, FNR, ROC AUC,
    /// overall and `--by family|source`.
    Eval(cmd::run::EvalArgs),
    /// Print the resolved recipe of an experiment (every default filled in) and its hash.
    Plan(cmd::run::PlanArgs),
    /// A registered version's run manifest: recipe, outputs, metrics, environment.
    Show(cmd::run::RefArg),
    /// Re-run a registered version from the store and prove its outputs are bit-for-bit equal.
    Reproduce(cmd::run::ReproduceArgs),
    /// Write a registered version's model in other formats: `--onnx out.onnx`, `--safetensors dir/`.
    Export(cmd::run::ExportArgs),
    /// Classify texts with a version's tokenizer and ONNX export (ONNX Runtime), as production does.
    Scan(cmd::scan::ScanArgs),
    /// Put a version into a production folder (model.onnx, tokenizer.json, metadata.json), or roll back.
    Deploy(cmd::deploy::DeployArgs),
    /// Make a folder a store (the store folder by default); needed for a folder that
    /// already holds other files.
    Init(cmd::store::InitArgs),
    /// Store files as objects and print `<hash>  <path>` for each (`-` reads stdin).
    Add(cmd::store::AddArgs),
    /// Write an object to stdout, after checking its hash.
    Cat(cmd::store::CatArgs),
    /// Re-hash every object and check refs and manifest references; exit 1 if anything is wrong.
    Fsck(cmd::store::FsckArgs),
    /// Delete objects no ref reaches (objects younger than the grace period are kept).
    Gc(cmd::store::GcArgs),
    /// Check JSONL training files: every problem on every line, then a summary; exit 1 if any.
    Validate(cmd::data::ValidateArgs),
    /// Datasets: merge, stats, diff, generate.
    #[command(subcommand)]
    Data(cmd::data::DataCommand),
    /// List, read and move refs (`name@version` is immutable, `name/latest` moves).
    #[command(subcommand)]
    Ref(cmd::store::RefCommand),
    /// Red-team suites against several models: `run` scores them, `show` prints a result.
    #[command(subcommand)]
    Redteam(cmd::redteam::RedteamCommand),
    /// The HTTP API: red-team tests, failures, retraining logs, runs, lineage (JSON).
    Serve(cmd::serve::ServeArgs),
    /// Rebuild the tracking database (`<store>/track.db`, or `--db`) from the store alone.
    Reindex,
    /// Analytics from the tracking database: failures, retraining, tests, models.
    #[command(subcommand)]
    Stats(cmd::stats::StatsCommand),
    /// Name, list and forget remotes (S3-compatible object storage or a shared folder).
    #[command(subcommand)]
    Remote(cmd::remote::RemoteCommand),
    /// Send what the refs reach to a remote, then move its refs (compare-and-swap):
    /// `cairn push [remote] [ref...]`.
    Push(cmd::remote::TransferArgs),
    /// Fetch a remote's refs and what they reach, each object re-hashed on arrival:
    /// `cairn pull [remote] [ref...]`.
    Pull(cmd::remote::TransferArgs),
    /// A new store holding everything a remote has, with it as `origin`.
    Clone(cmd::remote::CloneArgs),
    /// Queue an experiment for `cairn worker`s: its recipe and inputs go to the remote, the
    /// request into the tracking database (`--db postgres://…` for a team).
    Submit(cmd::queue::SubmitArgs),
    /// Claim queued runs, run them, push them and register them (exactly once).
    Worker(cmd::queue::WorkerArgs),
    /// The queued runs and their states; `cairn queue cancel <id>`.
    Queue(cmd::queue::QueueArgs),
}

/// The store folder: `--store`, else `$CAIRN_STORE` (which may not be empty), else
/// `artifacts`.
fn store_path(flag: Option<PathBuf>) -> Result<PathBuf, String> {
    if let Some(path) = flag {
        if path.as_os_str().is_empty() {
            return Err("--store is empty (name the store folder)".into());
        }
        return Ok(path);
    }
    match std::env::var_os("CAIRN_STORE") {
        Some(v) if v.is_empty() => Err(
            "CAIRN_STORE is set but empty (set it to the store folder, or unset it to use ./artifacts)"
                .into(),
        ),
        Some(v) => Ok(PathBuf::from(v)),
        None => Ok(PathBuf::from("artifacts")),
    }
}

/// A store named by URL: `file://` is its folder; `s3://bucket/prefix` is opened through a
/// local cache folder (`$CAIRN_CACHE`, else `$XDG_CACHE_HOME/cairn` or `~/.cache/cairn`,
/// then `stores/<hash of the URL>`) whose `UPSTREAM` names it.
fn resolve_store(store: PathBuf) -> Result<PathBuf, String> {
    let Some(text) = store.to_str().filter(|s| s.contains("://")) else {
        return Ok(store);
    };
    let url = cairn_remote::RemoteUrl::parse(text).map_err(|e| format!("--store: {e}"))?;
    let url = match url {
        cairn_remote::RemoteUrl::File(path) => return Ok(path),
        url => url.to_string(),
    };
    let base = match std::env::var_os("CAIRN_CACHE").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => match std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
            Some(dir) => PathBuf::from(dir).join("cairn"),
            None => match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
                Some(home) => PathBuf::from(home).join(".cache").join("cairn"),
                None => {
                    return Err(format!(
                        "no cache folder for {url}: set CAIRN_CACHE (or HOME) to where cairn may keep it"
                    ));
                }
            },
        },
    };
    let hex = cairn_store::ObjectId::of(url.as_bytes()).to_hex();
    let cache = base.join("stores").join(&hex[..16]);
    cairn_store::upstream::bind(&cache, &url).map_err(|e| e.to_string())?;
    Ok(cache)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Stores named by URL (and the cache folders of such stores) open through the remote
    // crate's backends.
    cairn_remote::install();
    let store = match store_path(cli.store.clone()).and_then(resolve_store) {
        Ok(store) => store,
        Err(message) => {
            output::error(&message);
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    let out = Output {
        json: cli.json,
        quiet: cli.quiet,
        verbose: cli.verbose,
    };
    track::choose(cli.db.clone());
    let result = match cli.command {
        Command::Run(args) => cmd::run::run(&store, &out, args),
        Command::Regress(args) => cmd::run::regress(&store, &out, args),
        Command::Log(args) => cmd::run::log(&store, &out, args),
        Command::Diff(args) => cmd::run::diff(&store, &out, args),
        Command::Graph(args) => cmd::run::graph(&store, &out, args),
        Command::Report(args) => cmd::run::report(&store, &out, args),
        Command::Eval(args) => cmd::run::eval(&store, &out, args),
        Command::Plan(args) => cmd::run::plan(&store, &out, args),
        Command::Show(args) => cmd::run::show(&store, &out, args),
        Command::Reproduce(args) => cmd::run::reproduce(&store, &out, args),
        Command::Export(args) => cmd::run::export(&store, &out, args),
        Command::Scan(args) => cmd::scan::scan(&store, &out, args),
        Command::Deploy(args) => cmd::deploy::deploy(&store, &out, args),
        Command::Init(args) => cmd::store::init(&store, &out, args),
        Command::Add(args) => cmd::store::add(&store, &out, args),
        Command::Cat(args) => cmd::store::cat(&store, args),
        Command::Fsck(args) => cmd::store::fsck(&store, &out, args),
        Command::Gc(args) => cmd::store::gc(&store, &out, args),
        Command::Ref(command) => cmd::store::refs(&store, &out, command),
        Command::Validate(args) => cmd::data::validate(&out, args),
        Command::Data(command) => cmd::data::data(&store, &out, command),
        Command::Redteam(command) => cmd::redteam::redteam(&store, &out, command),
        Command::Reindex => cmd::stats::reindex(&store, &out),
        Command::Serve(args) => cmd::serve::serve(&store, &out, args),
        Command::Stats(command) => cmd::stats::stats(&store, &out, command),
        Command::Remote(command) => cmd::remote::remote(&store, &out, command),
        Command::Push(args) => cmd::remote::push(&store, &out, args),
        Command::Pull(args) => cmd::remote::pull(&store, &out, args),
        Command::Clone(args) => cmd::remote::clone(&store, &out, args),
        Command::Submit(args) => cmd::queue::submit(&store, &out, args),
        Command::Worker(args) => cmd::queue::worker(&store, &out, args),
        Command::Queue(args) => cmd::queue::queue(&store, &out, args),
    };
    match result {
        Ok(code) => code,
        // A reader that stopped reading (`cairn cat … | head`) is no failure: quiet, like
        // other Unix tools.
        Err(err)
            if err.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            ExitCode::SUCCESS
        }
        Err(err) => {
            // One line: the error and its causes, cargo-style.
            let mut msg = err.to_string();
            for cause in err.chain().skip(1) {
                let cause = cause.to_string();
                if !msg.contains(&cause) {
                    msg.push_str(": ");
                    msg.push_str(&cause);
                }
            }
            output::error(&msg);
            ExitCode::from(EXIT_FAILURE)
        }
    }
}
