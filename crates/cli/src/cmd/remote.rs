//! `cairn remote`, `push`, `pull`, `clone` and `fsck --remote`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use cairn_remote::{Remote, Remotes, Transfer};
use cairn_store::Store;
use clap::{Args, Subcommand};

use crate::output::Output;

#[derive(Debug, Subcommand)]
pub enum RemoteCommand {
    /// Name a remote: `s3://bucket/prefix` (credentials from the AWS_* environment or
    /// AWS_PROFILE's entry in ~/.aws/credentials), or `file:///path` (a shared folder).
    Add { name: String, url: String },
    /// The remotes this store knows.
    List,
    /// Forget a remote (nothing on it is touched).
    Remove { name: String },
}

#[derive(Debug, Args)]
pub struct TransferArgs {
    /// The remote (default `origin`), then the refs to move (default: all).
    #[arg(value_name = "REMOTE|REF")]
    args: Vec<String>,
    /// Move a mutable ref (`name/latest`, `deploy/…`) that holds another object on the
    /// other side. A published `name@version` never moves.
    #[arg(long)]
    force: bool,
}

#[derive(Debug, Args)]
pub struct CloneArgs {
    /// `s3://bucket/prefix`, `file:///path`, or a folder.
    url: String,
    /// The new store's folder (default: the store folder, `--store` or `artifacts`).
    dir: Option<std::path::PathBuf>,
}

pub fn remote(store: &Path, out: &Output, command: RemoteCommand) -> Result<ExitCode> {
    let store = Store::open(store)?;
    match command {
        RemoteCommand::Add { name, url } => {
            let parsed = Remotes::add(&store, &name, &url)?;
            out.status(format!("remote `{name}` is {parsed}"));
        }
        RemoteCommand::List => {
            let all = Remotes::load(&store)?;
            if out.json {
                out.json(&all.remote)?;
            } else {
                for (name, entry) in &all.remote {
                    out.line(format!("{name}\t{}", entry.url));
                }
            }
        }
        RemoteCommand::Remove { name } => {
            Remotes::remove(&store, &name)?;
            out.status(format!("forgot remote `{name}`"));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The remote and refs of `push`/`pull` arguments: the first names a remote when this store
/// knows one by that name (a ref name never could: remote names have no `@` or `/`).
fn remote_and_refs(store: &Store, args: &[String]) -> Result<(Remote, Vec<String>)> {
    let known = Remotes::load(store)?;
    match args.split_first() {
        Some((first, rest)) if known.remote.contains_key(first) => {
            Ok((Remote::named(store, first)?, rest.to_vec()))
        }
        _ => Ok((Remote::named(store, "origin")?, args.to_vec())),
    }
}

fn describe(out: &Output, verb: &str, t: &Transfer) -> Result<()> {
    if out.json {
        return out.json(t);
    }
    for name in &t.refs_updated {
        out.line(name);
    }
    out.status(format!(
        "{verb} {} objects ({} bytes; {} already there) and {} refs ({} unchanged) {} `{}` ({})",
        t.objects,
        t.bytes,
        t.present,
        t.refs_updated.len(),
        t.refs_unchanged,
        if verb == "pushed" { "to" } else { "from" },
        t.remote,
        t.url
    ));
    Ok(())
}

pub fn push(store: &Path, out: &Output, args: TransferArgs) -> Result<ExitCode> {
    let store = Store::open(store)?;
    let (remote, refs) = remote_and_refs(&store, &args.args)?;
    let report = cairn_remote::push(&store, &remote, &refs, args.force)?;
    describe(out, "pushed", &report)?;
    Ok(ExitCode::SUCCESS)
}

pub fn pull(store: &Path, out: &Output, args: TransferArgs) -> Result<ExitCode> {
    let store = Store::open(store)?;
    let (remote, refs) = remote_and_refs(&store, &args.args)?;
    let report = cairn_remote::pull(&store, &remote, &refs, args.force)?;
    describe(out, "pulled", &report)?;
    Ok(ExitCode::SUCCESS)
}

pub fn clone(store: &Path, out: &Output, args: CloneArgs) -> Result<ExitCode> {
    let dir = args.dir.as_deref().unwrap_or(store);
    let (_, report) = cairn_remote::clone(&args.url, dir)?;
    describe(out, "pulled", &report)?;
    out.status(format!("cloned into {}", dir.display()));
    Ok(ExitCode::SUCCESS)
}

/// `cairn fsck --remote <name>`.
pub fn fsck(store: &Path, out: &Output, name: &str) -> Result<ExitCode> {
    let store = Store::open(store)?;
    fsck_remote(out, &Remote::named(&store, name)?)
}

/// `cairn fsck` of a remote, or of the store a `--store s3://…` names.
pub fn fsck_remote(out: &Output, remote: &Remote) -> Result<ExitCode> {
    let report = cairn_remote::fsck(remote)?;
    if out.json {
        out.json(&report)?;
    } else {
        for p in &report.problems {
            let object = p.object.as_deref().unwrap_or("-");
            match &p.reference {
                Some(r) => out.line(format!("{r}: object {object}: {}", p.problem)),
                None => out.line(format!("object {object}: {}", p.problem)),
            }
        }
        out.status(format!(
            "checked {} objects ({} bytes) and {} refs on `{}` ({}): {}",
            report.objects,
            report.bytes,
            report.refs,
            report.remote,
            report.url,
            if report.problems.is_empty() {
                "clean".to_string()
            } else {
                format!("{} problem(s)", report.problems.len())
            }
        ));
    }
    Ok(if report.problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(crate::EXIT_FAILURE)
    })
}
