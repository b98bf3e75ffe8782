//! `cairn add | cat | fsck | gc | ref`.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use cairn_store::{Expect, GcOptions, ObjectId, Problem, RefName, Store};
use clap::{Args, Subcommand};

use crate::output::Output;

/// Files at least this big get a progress bar on a terminal.
const PROGRESS_MIN: u64 = 64 << 20;

#[derive(Debug, Args)]
pub struct AddArgs {
    /// Files to store (`-` for stdin).
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CatArgs {
    /// The object's hash (64 hex digits).
    hash: ObjectId,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The folder (default: the store folder, `--store`).
    dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct GcArgs {
    /// List what would be deleted, delete nothing.
    #[arg(long)]
    dry_run: bool,
    /// Keep unreachable objects younger than this (e.g. `30s`, `10m`, `1h`, `0s`).
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    grace: Duration,
    /// Sweep even when a ref reaches a missing or damaged object (after `cairn fsck`):
    /// whatever only the broken part referenced is deleted too. Without it gc refuses.
    #[arg(long)]
    force_broken_refs: bool,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{e} (write e.g. `30s`, `10m`, `1h`)"))
}

#[derive(Debug, Subcommand)]
pub enum RefCommand {
    /// Every ref with its target.
    List,
    /// The hash a ref points to.
    Get { name: RefName },
    /// Point a ref at an object. Published versions (`name@version`) can be set only once.
    Set {
        name: RefName,
        hash: ObjectId,
        /// Only if the ref currently points to this hash (compare-and-swap).
        #[arg(long, conflicts_with = "create")]
        expect: Option<ObjectId>,
        /// Only if the ref does not exist yet.
        #[arg(long)]
        create: bool,
    },
    /// Delete a movable ref.
    Delete {
        name: RefName,
        /// Only if the ref currently points to this hash.
        #[arg(long)]
        expect: Option<ObjectId>,
    },
}

fn open(store: &Path) -> Result<Store> {
    Ok(Store::open(store)?)
}

pub fn init(store: &Path, out: &Output, args: InitArgs) -> Result<ExitCode> {
    let dir = args.dir.as_deref().unwrap_or(store);
    let existed = dir.join("CAIRN_STORE").is_file();
    let made = Store::init(dir)?;
    if let Some(url) = made.upstream() {
        out.status(format!(
            "{url} is a cairn store (cached in `{}`)",
            dir.display()
        ));
        return Ok(ExitCode::SUCCESS);
    }
    out.status(if existed {
        format!("`{}` is a cairn store already", dir.display())
    } else {
        format!("initialized a cairn store in `{}`", dir.display())
    });
    Ok(ExitCode::SUCCESS)
}

pub fn add(store: &Path, out: &Output, args: AddArgs) -> Result<ExitCode> {
    for path in &args.files {
        if path.is_dir() {
            anyhow::bail!(
                "`{}` is a folder; `cairn add` stores files (name them, e.g. `{}/*.jsonl`)",
                path.display(),
                path.display()
            );
        }
    }
    // Re-adding a file whose stored copy no longer matches its hash heals that copy
    // (every existing object met is re-hashed).
    let store = Store::open_or_init(store)?.repairing();
    let mut added = Vec::new();
    for path in &args.files {
        let outcome = if path.as_os_str() == "-" {
            store
                .put_reader(io::stdin().lock())
                .context("failed to store stdin")?
        } else {
            let size = std::fs::metadata(path)
                .with_context(|| format!("failed to read `{}`", path.display()))?
                .len();
            let bar = if size >= PROGRESS_MIN {
                out.bytes_progress(size, &path.display().to_string())
            } else {
                None
            };
            let progress = |n: u64| {
                if let Some(bar) = &bar {
                    bar.set_position(n);
                }
            };
            let outcome = store.put_path_with_progress(path, &progress)?;
            if let Some(bar) = bar {
                bar.finish_and_clear();
            }
            outcome
        };
        if !out.json {
            out.line(format!("{}  {}", outcome.id, path.display()));
        }
        out.detail(if outcome.written {
            "  stored"
        } else {
            "  already stored"
        });
        added.push(outcome.describe(&path.display().to_string()));
    }
    if out.json {
        out.json(&added)?;
    }
    Ok(ExitCode::SUCCESS)
}

pub fn cat(store: &Path, args: CatArgs) -> Result<ExitCode> {
    let store = open(store)?;
    let mut lock = crate::output::stdout();
    store.copy_to(&args.hash, &mut lock)?;
    lock.flush().context("failed to write to stdout")?;
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Args)]
pub struct FsckArgs {
    /// Say how to repair each damaged or missing object: the version whose output it is
    /// (`cairn reproduce <version> --repair` rewrites it from a re-run), or that no version
    /// can make it again.
    #[arg(long, conflicts_with = "remote")]
    repair: bool,
    /// Check a remote instead: download and re-hash every object, and check that every
    /// ref reaches only objects it holds.
    #[arg(long, value_name = "NAME")]
    remote: Option<String>,
}

pub fn fsck(store: &Path, out: &Output, args: FsckArgs) -> Result<ExitCode> {
    if let Some(name) = &args.remote {
        return crate::cmd::remote::fsck(store, out, name);
    }
    let store = open(store)?;
    if let Some(url) = store.upstream() {
        // The store is where the URL says; this folder is only its cache.
        let remote = cairn_remote::Remote::open("store", cairn_remote::RemoteUrl::parse(url)?)?;
        return crate::cmd::remote::fsck_remote(out, &remote);
    }
    let mut report = store.fsck()?;
    // Refs that name a run must hold that run: the store cannot tell, the spec can.
    let mut lagging = Vec::new();
    for m in cairn_spec::check_refs(&store)? {
        if m.stale {
            lagging.push(m);
            continue;
        }
        report.problems.push(Problem::MisnamedRef {
            name: m.reference,
            says: m.says,
            holds: m.holds,
        });
    }
    for m in &lagging {
        out.status(format!(
            "note: {m}: it lags (a run stopped before moving it); the next run of the model moves it"
        ));
    }
    if out.json {
        out.json(&report.summary())?;
    } else {
        for problem in &report.problems {
            out.line(problem.to_string());
            let damaged = match problem {
                Problem::Corrupt { id, .. } => Some(*id),
                Problem::MissingReference { missing, .. } => Some(*missing),
                _ => None,
            };
            if let (true, Some(id)) = (args.repair, damaged) {
                let versions = cairn_lineage::versions_with_output(&store, &id)?;
                match versions.first() {
                    Some((version, output)) => out.line(format!(
                        "  repair: `cairn reproduce {version} --repair` rewrites {id} (its `{output}`) from a re-run"
                    )),
                    None => out.line(format!(
                        "  repair: no version's outputs include {id}; restore the file it was made from with `cairn add`, or delete what references it"
                    )),
                }
            }
        }
        for temp in &report.temp_files {
            out.detail(format!(
                "note: leftover temp file `{}` (harmless; `cairn gc` removes it)",
                temp.display()
            ));
        }
        if !report.temp_files.is_empty() {
            out.status(format!(
                "note: {} leftover temp file(s) from interrupted writes; `cairn gc` removes them",
                report.temp_files.len()
            ));
        }
        out.status(format!(
            "checked {} objects ({} bytes, {} manifests) and {} refs: {}",
            report.objects,
            report.bytes,
            report.manifests,
            report.refs,
            if report.is_clean() {
                "clean".to_string()
            } else {
                format!("{} problem(s)", report.problems.len())
            }
        ));
    }
    Ok(if report.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(crate::EXIT_FAILURE)
    })
}

pub fn gc(store: &Path, out: &Output, args: GcArgs) -> Result<ExitCode> {
    let store = open(store)?;
    let report = store.gc(&GcOptions {
        dry_run: args.dry_run,
        grace: args.grace,
        force_broken_refs: args.force_broken_refs,
    })?;
    if out.json {
        out.json(&report.summary())?;
        return Ok(ExitCode::SUCCESS);
    }
    let verb = if report.dry_run {
        "would delete"
    } else {
        "deleted"
    };
    for (id, size) in &report.removed {
        if report.dry_run {
            out.line(format!("{id}  {size}"));
        } else {
            out.detail(format!("deleted {id} ({size} bytes)"));
        }
    }
    out.status(format!(
        "{verb} {} unreachable object(s) ({} bytes) and {} temp file(s); {} reachable; {} unreachable kept (younger than {})",
        report.removed.len(),
        report.bytes_removed(),
        report.temp_removed.len(),
        report.reachable,
        report.kept_young,
        humantime::format_duration(args.grace)
    ));
    if report.held > 0 || !report.roots_expired.is_empty() {
        out.status(format!(
            "{} object(s) held by running cairn processes; {} root file(s) of finished processes {}",
            report.held,
            report.roots_expired.len(),
            if report.dry_run { "to expire" } else { "expired" }
        ));
    }
    Ok(ExitCode::SUCCESS)
}

pub fn refs(store: &Path, out: &Output, command: RefCommand) -> Result<ExitCode> {
    match command {
        RefCommand::List => {
            let store = open(store)?;
            let refs = store.list_refs()?;
            if out.json {
                let map: serde_json::Map<String, serde_json::Value> = refs
                    .iter()
                    .map(|(n, id)| (n.to_string(), id.to_hex().into()))
                    .collect();
                out.json(&map)?;
            } else {
                for (name, id) in refs {
                    out.line(format!("{id}  {name}"));
                }
            }
        }
        RefCommand::Get { name } => {
            let store = open(store)?;
            let id = store
                .get_ref(&name)?
                .with_context(|| format!("no ref named `{name}` (see `cairn ref list`)"))?;
            if out.json {
                out.json(&cairn_store::RefEntry::new(&name, &id))?;
            } else {
                out.line(id.to_hex());
            }
        }
        RefCommand::Set {
            name,
            hash,
            expect,
            create,
        } => {
            let store = open(store)?;
            // A model whose versions are semantic versions gets no other kind.
            if let Some(version) = name.version()
                && !cairn_spec::is_semver(version)
                && !cairn_spec::registered_versions(&store, name.path())?.is_empty()
            {
                anyhow::bail!(
                    "`{name}`: `{version}` is not a semantic version, and the versions of `{}` are (write MAJOR.MINOR.PATCH, e.g. `{}@1.2.0`)",
                    name.path(),
                    name.path()
                );
            }
            // A ref that names a run must hold it: a version ref a run of that name and
            // version, a model's `latest` its highest registered version.
            let mut refs = store.list_refs()?;
            refs.retain(|(n, _)| *n != name);
            refs.push((name.clone(), hash));
            if let Some(m) = cairn_spec::check_ref(&store, &name, hash, &refs)? {
                anyhow::bail!(
                    "{m}: refused (a version ref holds its own run; `latest` moves by itself to the highest registered version)"
                );
            }
            let expect = match (expect, create) {
                (Some(id), _) => Expect::Is(id),
                (None, true) => Expect::Absent,
                (None, false) => Expect::Any,
            };
            let update = store.set_ref(&name, hash, expect)?;
            // A new version of a model moves its `latest`, as registration does.
            if name.version().is_some() && cairn_spec::run_at(&store, &hash)?.is_some() {
                cairn_pipeline::settle_latest(&store, name.path())?;
            }
            if out.json {
                out.json(&update.describe(&name))?;
            } else if update.changed() {
                let old = update
                    .old
                    .map(|i| i.short())
                    .unwrap_or_else(|| "(new)".into());
                out.status(format!("{name}: {old} -> {}", update.new.short()));
            } else {
                out.status(format!("{name}: already {}", update.new.short()));
            }
        }
        RefCommand::Delete { name, expect } => {
            let store = open(store)?;
            let expect = expect.map(Expect::Is).unwrap_or(Expect::Any);
            match store.delete_ref(&name, expect)? {
                Some(old) => out.status(format!("deleted {name} (was {})", old.short())),
                None => anyhow::bail!("no ref named `{name}` (see `cairn ref list`)"),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
