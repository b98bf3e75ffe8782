//! What a run reports while it works, when, and the crash test's pause points.

/// Crash-test hook: when `CAIRN_PAUSE_AT` names this point (comma-separated names), the
/// process says so on stderr and sleeps, so a test can `kill -9` it at exactly this instant
/// (`just crash-test`). Points: `register` (the version ref is set, `latest` not yet),
/// `metadata` (before `metadata.json`), `deploy-adopt` (between the links of a folder being
/// adopted), `deploy-switch` (journal written, folder not switched), `deploy-ref` (folder
/// switched, its ref not moved).
pub(crate) fn pause_point(name: &str) {
    let Some(points) = std::env::var_os("CAIRN_PAUSE_AT") else {
        return;
    };
    if points.to_string_lossy().split(',').any(|p| p == name) {
        eprintln!("cairn: paused at {name}");
        std::thread::sleep(std::time::Duration::from_secs(60));
    }
}

/// Now, as RFC 3339 to the second (`started` of runs, deployments and red-team tests).
pub(crate) fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

/// A stage of a run, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    /// Validate and merge base + additions into the dataset object.
    Merge,
    /// Train, read or inherit the tokenizer.
    Tokenizer,
    /// Token ids of the train, validation and test rows.
    Encode,
    Train,
    /// Metrics on the test set.
    Evaluate,
    /// The regression gate against the baseline.
    Gate,
    /// ONNX export and its parity check.
    Onnx,
    /// The version ref is set.
    Register,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Merge => "merge",
            Stage::Tokenizer => "tokenizer",
            Stage::Encode => "encode",
            Stage::Train => "train",
            Stage::Evaluate => "evaluate",
            Stage::Gate => "gate",
            Stage::Onnx => "onnx",
            Stage::Register => "register",
        }
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// What a run reports while it works: a tracker or a progress bar subscribes to these.
#[derive(Debug, Clone)]
pub enum Event {
    /// A stage started, with a line for people: `(Stage::Merge, "3 base file(s) + …")`.
    Stage(Stage, String),
    /// A training batch finished.
    Batch {
        epoch: usize,
        epochs: usize,
        batch: usize,
        batches: usize,
        running_loss: f64,
    },
    /// An epoch finished.
    Epoch(cairn_spec::EpochRecord),
    /// The gate refused the version: the run is stored, no ref is set.
    Rejected {
        run: cairn_store::ObjectId,
        rule: String,
        reason: String,
    },
    /// `reference` now points at `run`.
    Registered {
        reference: String,
        run: cairn_store::ObjectId,
    },
}
