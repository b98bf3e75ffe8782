//! `cairn deploy`: a version's ONNX export, tokenizer and metadata into a production
//! folder in one atomic switch, or `--rollback` to what the newest deployment replaced.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Result, bail};
use cairn_store::Store;
use clap::Args;

use crate::output::Output;

#[derive(Debug, Args)]
pub struct DeployArgs {
    /// The version to deploy: `name@version` or `name/latest`.
    #[arg(required_unless_present = "rollback")]
    reference: Option<String>,
    /// The production folder.
    #[arg(long, value_name = "DIR")]
    to: PathBuf,
    /// Restore what the newest deployment to the folder replaced.
    #[arg(long, conflicts_with = "reference")]
    rollback: bool,
    /// How many releases the folder keeps (the current one always stays); older ones are
    /// deleted after the change.
    #[arg(long, default_value_t = cairn_pipeline::DEFAULT_KEEP as u64, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    keep: u64,
}

pub fn deploy(store: &Path, out: &Output, args: DeployArgs) -> Result<ExitCode> {
    let store = Store::open(store)?;
    let result = match (&args.reference, args.rollback) {
        (_, true) => cairn_pipeline::rollback(&store, &args.to, args.keep as usize)?,
        (Some(reference), false) => {
            cairn_pipeline::deploy(&store, reference, &args.to, args.keep as usize)?
        }
        (None, false) => bail!("name the version to deploy, or pass --rollback"),
    };
    if out.json {
        out.json(&result)?;
    } else {
        let version = result
            .version
            .as_deref()
            .unwrap_or("files not deployed by cairn");
        let kept = result
            .backup
            .as_deref()
            .map(|b| format!(" (the files it replaced are kept in {b})"))
            .unwrap_or_default();
        let target = result.target.display();
        out.status(if result.unchanged {
            format!("{target} already serves {version} (nothing changed)")
        } else if args.rollback {
            format!("rolled back {target} to {version}{kept}")
        } else {
            format!("deployed {version} to {target}{kept}")
        });
        if result.pruned > 0 {
            out.status(format!(
                "  deleted {} old release(s) beyond the newest {}",
                result.pruned, args.keep
            ));
        }
    }
    Ok(ExitCode::SUCCESS)
}
