use clap::Args;

pub mod data;
pub mod deploy;
pub mod queue;
pub mod redteam;
pub mod remote;
pub mod run;
pub mod scan;
pub mod serve;
pub mod stats;
pub mod store;

/// The two sides of `cairn diff` (versions) and `cairn data diff` (datasets).
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The older side: a version (`cairn diff`), or a dataset file, folder or hash (`cairn
    /// data diff`).
    pub a: String,
    /// The newer side, of the same kind.
    pub b: String,
    /// How many example rows of each kind to list.
    #[arg(long, default_value_t = 5)]
    pub examples: usize,
}
