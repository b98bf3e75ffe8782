//! cairn's experiments: the TOML a person writes, and the **recipe** it resolves to.
//!
//! An [`Experiment`] is parsed strictly (unknown keys are errors) and checked (ranges,
//! vocabularies, semver), and every error names `file:line:col` and the fix. Resolving it
//! fills every default, turns each input path into the hash of its bytes, and each version
//! name (`parent`, `baseline`) into the run it points to. The result, a [`Recipe`], is a
//! manifest: its object id *is* the recipe hash, the cache key of a run. The same recipe
//! means the same work, so a second `cairn run` of an unchanged experiment does nothing.
//!
//! This crate depends only on `store`; it knows the names of backends, and of
//! architectures only what the caller registers ([`ArchitectureSchema`]: name, size keys
//! and defaults, checks), nothing of how they are built.

/// `as_str` and `Display` for the enums of manifests: the words they are stored as.
macro_rules! display_as_serialized {
    ($($t:ty => { $($v:ident => $s:literal),+ }),+) => {$(
        impl $t {
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$v => $s),+ }
            }
        }
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.pad(self.as_str())
            }
        }
    )+};
}

mod backends;
mod deploy;
mod derive;
mod experiment;
mod recipe;
mod refcheck;
mod run;

use std::path::{Path, PathBuf};

pub use backends::*;
pub use deploy::*;
pub use derive::*;
pub use experiment::*;
pub use recipe::*;
pub use refcheck::*;
pub use run::*;

use experiment::SizeValue;

/// An error in an experiment file: `file:line:col: message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
// Values echoed in the message cannot split the line (found by `cairn-fuzz`).
#[error("{file}:{line}:{col}: {}", cairn_store::one_line(.message))]
pub struct SpecError {
    pub file: String,
    pub line: usize,
    pub col: usize,
    pub message: String,
}

/// The CPU backend every build has; others ([`OPTIONAL_BACKENDS`]) arrive as Cargo
/// features, and the pipeline says whether a build has them.
pub const BACKENDS: [&str; 1] = ["ndarray"];

/// What checking and resolving an experiment needs to know about an architecture. The
/// caller passes the architectures it can build (the pipeline passes the model crate's
/// registry), in a fixed order: the order error messages list them in.
pub trait ArchitectureSchema {
    /// The value of `[model] architecture`.
    fn name(&self) -> &str;
    /// The `[model]` size keys and their defaults, in a fixed order.
    fn sizes(&self) -> &[(&'static str, u64)];
    /// Checks beyond "every size written is at least 1" on the sizes, defaults filled in:
    /// `Err((key, message))` points at `[model] key`.
    fn check(&self, size: &dyn Fn(&str) -> u64) -> Result<(), (&'static str, String)>;
}

impl<T: ArchitectureSchema + ?Sized> ArchitectureSchema for &T {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn sizes(&self) -> &[(&'static str, u64)] {
        (**self).sizes()
    }
    fn check(&self, size: &dyn Fn(&str) -> u64) -> Result<(), (&'static str, String)> {
        (**self).check(size)
    }
}

/// A parsed, checked experiment and where it came from.
#[derive(Debug, Clone)]
pub struct LoadedExperiment {
    pub experiment: Experiment,
    pub path: PathBuf,
    text: String,
}

impl LoadedExperiment {
    /// Reads, parses and checks an experiment file against the `architectures` the caller
    /// can build.
    pub fn load<A: ArchitectureSchema>(
        path: &Path,
        architectures: &[A],
    ) -> Result<Self, SpecError> {
        let text = std::fs::read_to_string(path).map_err(|e| SpecError {
            file: path.display().to_string(),
            line: 1,
            col: 1,
            message: format!("cannot read the experiment: {e}"),
        })?;
        Self::parse(&text, path, architectures)
    }

    /// Parses and checks experiment TOML; `path` names it in errors and anchors relative paths.
    /// `[model]` sizes come out with the architecture's defaults filled in.
    pub fn parse<A: ArchitectureSchema>(
        text: &str,
        path: &Path,
        architectures: &[A],
    ) -> Result<Self, SpecError> {
        let file = path.display().to_string();
        let experiment: Experiment = toml::from_str(text).map_err(|e| {
            let (line, col) = e
                .span()
                .map(|s| cairn_store::line_col(text, s.start))
                .unwrap_or((1, 1));
            let message = e.message().trim().replace('\n', " ");
            SpecError {
                file: file.clone(),
                line,
                col,
                message: hint_for(&message),
            }
        })?;
        let mut loaded = Self {
            experiment,
            path: path.to_path_buf(),
            text: text.to_string(),
        };
        loaded.check_size_keys(architectures)?;
        loaded.check(architectures, true)?;
        loaded.fill_sizes(architectures);
        Ok(loaded)
    }

    /// Checks settings made in code (a [`RecipeBuilder`]'s) as a file's are checked, against
    /// the `architectures` the caller can build, and returns them with the architecture's
    /// default sizes filled in; `origin` names them in errors. Inputs are not checked here:
    /// the builder holds them.
    pub fn check_settings<A: ArchitectureSchema>(
        experiment: &Experiment,
        origin: &str,
        architectures: &[A],
    ) -> Result<Experiment, SpecError> {
        let mut loaded = Self {
            experiment: experiment.clone(),
            path: PathBuf::from(origin),
            text: String::new(),
        };
        // Sizes set in code are checked as written keys are.
        let m = &mut loaded.experiment.model;
        m.other = std::mem::take(&mut m.sizes)
            .into_iter()
            .map(|(k, v)| (k, SizeValue::Size(v)))
            .collect();
        loaded.check_size_keys(architectures)?;
        loaded.check(architectures, false)?;
        loaded.fill_sizes(architectures);
        Ok(loaded.experiment)
    }

    /// What toml would have said of the `[model]` size keys had they been fields: a key
    /// that no architecture has, a value that is not a `u64`.
    fn check_size_keys<A: ArchitectureSchema>(&self, architectures: &[A]) -> Result<(), SpecError> {
        let mut keys: Vec<&str> = vec!["architecture"];
        for a in architectures {
            for (key, _) in a.sizes() {
                if !keys.contains(key) {
                    keys.push(key);
                }
            }
        }
        keys.extend(["dropout", "parent", "pretrained"]);
        for (key, value) in &self.experiment.model.other {
            if !keys.contains(&key.as_str()) {
                let (line, col) = locate_key(&self.text, "model", key);
                let expected: Vec<String> = keys.iter().map(|k| format!("`{k}`")).collect();
                return Err(SpecError {
                    file: self.path.display().to_string(),
                    line,
                    col,
                    message: hint_for(&format!(
                        "unknown field `{key}`, expected one of {}",
                        expected.join(", ")
                    )),
                });
            }
            if let SizeValue::Invalid(message) = value {
                return Err(self.error_at("model", key, message.clone()));
            }
        }
        Ok(())
    }

    /// The architecture's sizes, as written or their defaults, into `[model]`'s `sizes`.
    fn fill_sizes<A: ArchitectureSchema>(&mut self, architectures: &[A]) {
        let m = &mut self.experiment.model;
        let sizes = match architectures.iter().find(|a| a.name() == m.architecture) {
            Some(a) => a
                .sizes()
                .iter()
                .map(|(key, default)| (key.to_string(), model_size(m, key).unwrap_or(*default)))
                .collect(),
            None => Default::default(),
        };
        m.sizes = sizes;
        m.other.clear();
    }

    /// The folder relative paths are resolved against.
    pub fn base_dir(&self) -> PathBuf {
        self.path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default()
    }

    /// An error located at `[section] key` (or the section, or the top, when not written).
    pub fn error_at(&self, section: &str, key: &str, message: impl Into<String>) -> SpecError {
        let (line, col) = locate(&self.text, section, key);
        SpecError {
            file: self.path.display().to_string(),
            line,
            col,
            message: message.into(),
        }
    }

    /// Checks every value; `paths` also checks that the input lists are not empty.
    fn check<A: ArchitectureSchema>(
        &self,
        architectures: &[A],
        paths: bool,
    ) -> Result<(), SpecError> {
        let e = &self.experiment;
        let err = |section: &str, key: &str, msg: String| Err(self.error_at(section, key, msg));
        let x = &e.experiment;
        if x.name.contains('@') {
            return err(
                "experiment",
                "name",
                format!(
                    "name `{}` may not contain `@` (the version goes in `version`)",
                    x.name
                ),
            );
        }
        if let Err(problem) = cairn_store::RefName::versioned(&x.name, "0") {
            return err("experiment", "name", problem.to_string());
        }
        if !is_semver(&x.version) {
            return err(
                "experiment",
                "version",
                format!(
                    "version `{}` is not a semantic version (write MAJOR.MINOR.PATCH, e.g. \"1.2.0\")",
                    x.version
                ),
            );
        }
        let d = &e.data;
        if paths && d.base.is_empty() {
            return err(
                "data",
                "base",
                "`base` lists no files (give at least one JSONL file or folder)".into(),
            );
        }
        if !(d.new_data_boost.is_finite() && d.new_data_boost > 0.0) {
            return err(
                "data",
                "new_data_boost",
                format!(
                    "new_data_boost {} must be a finite number greater than 0",
                    d.new_data_boost
                ),
            );
        }
        if d.base_sample == Some(0) {
            return err(
                "data",
                "base_sample",
                "base_sample must be at least 1 (leave it out to use every base row)".into(),
            );
        }
        if !(0.0..0.9).contains(&d.validation_split) {
            return err(
                "data",
                "validation_split",
                format!(
                    "validation_split {} must be in [0, 0.9) (0 turns the split off)",
                    d.validation_split
                ),
            );
        }
        if d.max_text_chars == 0 {
            return err(
                "data",
                "max_text_chars",
                "max_text_chars must be at least 1".into(),
            );
        }
        for (key, value) in [
            ("min_train_rows", d.min_train_rows),
            ("min_test_rows", d.min_test_rows),
        ] {
            if value == 0 {
                return err(
                    "data",
                    key,
                    format!(
                        "{key} must be at least 1 (a model needs rows to learn from and to be measured on)"
                    ),
                );
            }
        }
        let t = &e.tokenizer;
        if !(300..=1_000_000).contains(&t.vocab_size) {
            return err(
                "tokenizer",
                "vocab_size",
                format!(
                    "vocab_size {} must be in [300, 1000000] (byte-level BPE needs 256 bytes + specials)",
                    t.vocab_size
                ),
            );
        }
        if !(1..=4096).contains(&t.max_length) {
            return err(
                "tokenizer",
                "max_length",
                format!("max_length {} must be in [1, 4096]", t.max_length),
            );
        }
        if t.min_frequency == 0 {
            return err(
                "tokenizer",
                "min_frequency",
                "min_frequency must be at least 1".into(),
            );
        }
        let m = &e.model;
        let Some(arch) = architectures.iter().find(|a| a.name() == m.architecture) else {
            let names: Vec<&str> = architectures.iter().map(|a| a.name()).collect();
            return err(
                "model",
                "architecture",
                format!(
                    "unknown architecture `{}` (expected one of: {})",
                    m.architecture,
                    names.join(", ")
                ),
            );
        };
        let own = arch.sizes();
        for other in architectures.iter().filter(|a| a.name() != arch.name()) {
            for (key, _) in other.sizes() {
                if !own.iter().any(|(k, _)| k == key) && model_size(m, key).is_some() {
                    return err(
                        "model",
                        key,
                        format!(
                            "`{key}` does not apply to the {} architecture (remove it)",
                            m.architecture
                        ),
                    );
                }
            }
        }
        for (key, _) in own {
            match model_size(m, key) {
                Some(0) => return err("model", key, format!("`{key}` must be at least 1")),
                Some(n) if n > MAX_MODEL_SIZE => {
                    return err(
                        "model",
                        key,
                        format!("`{key}` = {n} is more than {MAX_MODEL_SIZE}"),
                    );
                }
                _ => {}
            }
        }
        let size = |key: &str| {
            model_size(m, key)
                .or_else(|| own.iter().find(|(k, _)| *k == key).map(|(_, d)| *d))
                .unwrap_or(0)
        };
        if let Err((key, message)) = arch.check(&size) {
            return err("model", key, message);
        }
        if !(0.0..1.0).contains(&m.dropout) {
            return err(
                "model",
                "dropout",
                format!("dropout {} must be in [0, 1)", m.dropout),
            );
        }
        let tr = &e.train;
        if !(1..=MAX_EPOCHS).contains(&tr.epochs) {
            return err(
                "train",
                "epochs",
                format!("epochs {} must be in [1, {MAX_EPOCHS}]", tr.epochs),
            );
        }
        if !(1..=MAX_BATCH).contains(&tr.batch_size) {
            return err(
                "train",
                "batch_size",
                format!("batch_size {} must be in [1, {MAX_BATCH}]", tr.batch_size),
            );
        }
        if !(tr.learning_rate.is_finite() && tr.learning_rate > 0.0) {
            return err(
                "train",
                "learning_rate",
                format!(
                    "learning_rate {} must be a finite number greater than 0, e.g. 0.001",
                    tr.learning_rate
                ),
            );
        }
        if !(tr.weight_decay.is_finite() && tr.weight_decay >= 0.0) {
            return err(
                "train",
                "weight_decay",
                format!(
                    "weight_decay {} must be a finite number, 0 or more",
                    tr.weight_decay
                ),
            );
        }
        if tr.trainable_layers.is_some() && m.pretrained.is_none() && m.parent.is_none() {
            return err(
                "train",
                "trainable_layers",
                "trainable_layers freezes layers that were never trained: give `[model] pretrained` or `parent`, or remove it".into(),
            );
        }
        if let Some(lr) = tr.encoder_learning_rate
            && !(lr.is_finite() && lr >= 0.0)
        {
            return err(
                "train",
                "encoder_learning_rate",
                format!("encoder_learning_rate {lr} must be a finite number, 0 or more"),
            );
        }
        let ev = &e.evaluate;
        if ev.target_fpr.is_some() && ev.threshold.is_some() {
            return err(
                "evaluate",
                "threshold",
                "give `target_fpr` or `threshold`, not both".into(),
            );
        }
        if let Some(t) = ev.target_fpr
            && !(t.is_finite() && t > 0.0 && t < 1.0)
        {
            return err(
                "evaluate",
                "target_fpr",
                format!("target_fpr {t} must be in (0, 1), e.g. 0.02"),
            );
        }
        if let Some(t) = ev.threshold
            && !(t.is_finite() && (0.0..=1.0).contains(&t))
        {
            return err(
                "evaluate",
                "threshold",
                format!("threshold {t} must be a probability in [0, 1]"),
            );
        }
        if ev.target_fpr.is_some() && e.data.validation_split == 0.0 {
            return err(
                "evaluate",
                "target_fpr",
                "target_fpr chooses the threshold on the validation split: set `[data] validation_split` above 0".into(),
            );
        }
        let lw = &tr.loss_weights;
        for (key, v) in [
            ("binary", lw.binary),
            ("family", lw.family),
            ("severity", lw.severity),
            ("context", lw.context),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return err(
                    "train.loss_weights",
                    key,
                    format!("loss weight {key} = {v} must be 0 or more"),
                );
            }
        }
        if lw.binary + lw.family + lw.severity + lw.context <= 0.0 {
            return err(
                "train.loss_weights",
                "binary",
                "at least one loss weight must be greater than 0".into(),
            );
        }
        // Whether this build has it is the pipeline's to say (it knows its features).
        if !BACKENDS.contains(&tr.backend.as_str())
            && !OPTIONAL_BACKENDS
                .iter()
                .any(|(name, _)| *name == tr.backend)
        {
            return err(
                "train",
                "backend",
                format!(
                    "unknown backend `{}` (available: {}; wgpu and tch come as Cargo features)",
                    tr.backend,
                    BACKENDS.join(", ")
                ),
            );
        }
        if !(1..=256).contains(&tr.threads) {
            return err(
                "train",
                "threads",
                format!("threads {} must be in [1, 256]", tr.threads),
            );
        }
        let r = &e.regression;
        if !(0.0..=1.0).contains(&r.reject_rate) {
            return err(
                "regression",
                "reject_rate",
                format!("reject_rate {} must be in [0, 1]", r.reject_rate),
            );
        }
        if !(0.0..=r.reject_rate).contains(&r.caution_rate) {
            return err(
                "regression",
                "caution_rate",
                format!(
                    "caution_rate {} must be in [0, reject_rate]",
                    r.caution_rate
                ),
            );
        }
        if !(e.export.tolerance.is_finite() && e.export.tolerance > 0.0) {
            return err(
                "export",
                "tolerance",
                format!("tolerance {} must be greater than 0", e.export.tolerance),
            );
        }
        Ok(())
    }
}

/// The size `key` as written in `[model]` (a valid `u64`; checked before this is used).
fn model_size(m: &ModelSection, key: &str) -> Option<u64> {
    m.other
        .iter()
        .find(|(k, _)| k == key)
        .and_then(|(_, v)| match v {
            SizeValue::Size(n) => Some(*n),
            SizeValue::Invalid(_) => None,
        })
        .or_else(|| m.sizes.get(key).copied())
}

/// The architecture's sizes with defaults filled in (by [`LoadedExperiment::parse`]), sorted
/// by key.
pub fn model_sizes(m: &ModelSection) -> Vec<(String, u64)> {
    m.sizes.iter().map(|(k, v)| (k.clone(), *v)).collect()
}

/// The largest `[model]` size (a width, a layer count, a bucket count) an experiment may
/// ask for; what fits the machine is checked from the parameter count before a run.
pub const MAX_MODEL_SIZE: u64 = 1 << 20;
/// The most `[train] epochs`.
pub const MAX_EPOCHS: u64 = 100_000;
/// The largest `[train] batch_size`.
pub const MAX_BATCH: u64 = 65_536;

/// Whether `v` is a semantic version (`MAJOR.MINOR.PATCH`, optional pre-release and build)
/// that a ref can hold.
pub fn is_semver(v: &str) -> bool {
    let core = v.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    let numeric = |p: &&str| {
        !p.is_empty()
            && p.bytes().all(|b| b.is_ascii_digit())
            && (p.len() == 1 || !p.starts_with('0'))
    };
    parts.len() == 3 && parts.iter().all(numeric) && cairn_store::RefName::versioned("x", v).is_ok()
}

/// Adds the fix to toml's messages where it is known.
fn hint_for(message: &str) -> String {
    if message.starts_with("unknown field") {
        format!("{message} (remove it or fix its spelling)")
    } else if message.starts_with("missing field") {
        format!("{message} (add it; see experiments/quickstart.toml)")
    } else {
        message.to_string()
    }
}

/// Finds `key = …` inside `[section]`: the position of its value (or the section header
/// when the key is not written).
fn locate(text: &str, section: &str, key: &str) -> (usize, usize) {
    find(text, section, key, false)
}

/// Like [`locate`], the position of the key itself.
fn locate_key(text: &str, section: &str, key: &str) -> (usize, usize) {
    find(text, section, key, true)
}

fn find(text: &str, section: &str, key: &str, at_key: bool) -> (usize, usize) {
    let mut current = String::new();
    let mut header = None;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim_start();
        let indent = raw.len() - line.len();
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.split(']').next()) {
            current = name.trim().to_string();
            if current == section {
                header = Some((i + 1, indent + 1));
            }
            continue;
        }
        if current == section
            && let Some(rest) = line.strip_prefix(key)
            && rest.trim_start().starts_with('=')
        {
            if at_key {
                return (i + 1, indent + 1);
            }
            let value_col = raw
                .find('=')
                .map(|eq| eq + 1 + raw[eq + 1..].len() - raw[eq + 1..].trim_start().len())
                .unwrap_or(indent);
            return (i + 1, value_col + 1);
        }
    }
    header.unwrap_or((1, 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semver() {
        for ok in ["1.2.0", "0.0.1", "10.20.30", "1.0.0-rc.1", "1.0.0+build.5"] {
            assert!(is_semver(ok), "{ok}");
        }
        for bad in ["1.2", "1.2.3.4", "01.2.3", "a.b.c", "1.2.x", ""] {
            assert!(!is_semver(bad), "{bad}");
        }
    }

    #[test]
    fn locate_finds_keys_in_sections() {
        let text = "[experiment]\nname = \"x\"\n\n[train]\n  epochs =  0\n[train.loss_weights]\nbinary = -1\n";
        assert_eq!(locate(text, "train", "epochs"), (5, 13));
        assert_eq!(locate(text, "train.loss_weights", "binary"), (7, 10));
        assert_eq!(locate(text, "train", "seed"), (4, 1));
        assert_eq!(locate(text, "model", "parent"), (1, 1));
    }

    /// Two architectures shaped like the model crate's.
    struct Fake(&'static str, &'static [(&'static str, u64)]);

    impl ArchitectureSchema for Fake {
        fn name(&self) -> &str {
            self.0
        }
        fn sizes(&self) -> &[(&'static str, u64)] {
            self.1
        }
        fn check(&self, size: &dyn Fn(&str) -> u64) -> Result<(), (&'static str, String)> {
            if self.0 == "transformer" && !size("d_model").is_multiple_of(size("heads")) {
                return Err(("heads", "heads must divide d_model".into()));
            }
            Ok(())
        }
    }

    const ARCHS: [Fake; 2] = [
        Fake(
            "bag",
            &[("embed_dim", 64), ("hidden", 128), ("buckets", 65536)],
        ),
        Fake(
            "transformer",
            &[("d_model", 64), ("heads", 4), ("layers", 2), ("d_ff", 128)],
        ),
    ];

    fn parse(model: &str) -> Result<LoadedExperiment, String> {
        let text = format!(
            "[experiment]\nname = \"x\"\nversion = \"1.0.0\"\n\n[data]\nbase = [\"b.jsonl\"]\ntest = \"t.jsonl\"\n\n[model]\n{model}\n"
        );
        LoadedExperiment::parse(&text, Path::new("e.toml"), &ARCHS).map_err(|e| e.to_string())
    }

    fn sizes(model: &str) -> Vec<(String, u64)> {
        model_sizes(&parse(model).expect("parses").experiment.model)
    }

    #[test]
    fn sizes_get_the_architectures_defaults() {
        assert_eq!(
            sizes("hidden = 7"),
            [("buckets", 65536), ("embed_dim", 64), ("hidden", 7)].map(|(k, v)| (k.to_string(), v))
        );
        assert_eq!(
            sizes("architecture = \"transformer\"\nlayers = 1"),
            [("d_ff", 128), ("d_model", 64), ("heads", 4), ("layers", 1)]
                .map(|(k, v)| (k.to_string(), v))
        );
    }

    #[test]
    fn size_errors_read_as_before_the_registry() {
        let err = |model: &str| parse(model).expect_err(model);
        assert_eq!(
            err("embed_dim = 8\nbucket = 3"),
            "e.toml:11:1: unknown field `bucket`, expected one of `architecture`, `embed_dim`, \
             `hidden`, `buckets`, `d_model`, `heads`, `layers`, `d_ff`, `dropout`, `parent`, \
             `pretrained` (remove it or fix its spelling)"
        );
        assert_eq!(
            err("embed_dim = \"wide\""),
            "e.toml:10:13: invalid type: string \"wide\", expected u64"
        );
        assert_eq!(
            err("hidden = -1"),
            "e.toml:10:10: invalid value: integer `-1`, expected u64"
        );
        assert_eq!(
            err("hidden = 2\nheads = 2"),
            "e.toml:11:9: `heads` does not apply to the bag architecture (remove it)"
        );
        assert_eq!(
            err("architecture = \"lstm\""),
            "e.toml:10:16: unknown architecture `lstm` (expected one of: bag, transformer)"
        );
        assert_eq!(
            err("buckets = 0"),
            "e.toml:10:11: `buckets` must be at least 1"
        );
        assert_eq!(
            err("architecture = \"transformer\"\nd_model = 10"),
            "e.toml:9:1: heads must divide d_model"
        );
        assert_eq!(
            err("dropout = \"x\""),
            "e.toml:10:11: invalid type: string \"x\", expected f64"
        );
    }
}
