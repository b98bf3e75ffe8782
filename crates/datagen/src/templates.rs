//! The generator's templates and fill vocabularies: data files under
//! `datasets/templates/` (format: `datasets/README.md`), compiled in and
//! parsed once.
//!
//! Other crates (red-team suites, say) can read them through [`family`],
//! [`research`], [`common_slots`] and [`all`], or parse a file of the same
//! format with [`parse`].

use std::sync::LazyLock;

use cairn_data::Taxonomy;
use serde::{Deserialize, Serialize};

/// Which template / vocabulary pool a row is drawn from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    /// Training rows (`datasets/base`) and the additions.
    Train,
    /// Held-out rows (`datasets/test.jsonl`).
    Test,
}

/// A named list of fill values. `test` values are used only for the test
/// split (which also draws from `train` half the time), so the held-out set
/// contains fills the model never saw.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Slot {
    pub name: String,
    #[serde(default)]
    pub train: Vec<String>,
    #[serde(default)]
    pub test: Vec<String>,
}

fn ten() -> u32 {
    10
}

fn yes() -> bool {
    true
}

/// A sub-category: its labels and its templates for each split.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sub {
    pub name: String,
    /// 0 ..= 1; ignored for benign rows (always 0).
    pub severity: f64,
    /// A context name of the taxonomy.
    pub context: String,
    /// Relative frequency within its list (default 10).
    #[serde(default = "ten")]
    pub weight: u32,
    /// Whether typo / casing / punctuation noise may be applied (off for
    /// encoded payloads and code, where noise would corrupt the content).
    #[serde(default = "yes")]
    pub noise: bool,
    /// Whether a generic wrapper (email, chat log, ...) may be put around it.
    #[serde(default = "yes")]
    pub wrap: bool,
    pub train: Vec<String>,
    /// Held-out templates; when empty the test split uses `train`.
    #[serde(default)]
    pub test: Vec<String>,
}

impl Sub {
    pub fn templates(&self, split: Split) -> &[String] {
        match split {
            Split::Train => &self.train,
            Split::Test if self.test.is_empty() => &self.train,
            Split::Test => &self.test,
        }
    }
}

/// Research sub-categories of one family (`additions/research_attacks.jsonl`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResearchGroup {
    /// A family name of the taxonomy.
    pub family: String,
    pub subs: Vec<Sub>,
}

/// One template file. A family's file names its `family` and may hold
/// `base`, `confirmed` and `production_fp` lists; any file may hold
/// `research` groups and `slots`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    /// A family file's generation stream: families are generated in stream order, each from
    /// its own seeded stream, so the data does not depend on the taxonomy's order (only the
    /// indices written into the rows do).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<u32>,
    /// Base and test rows (`base/*.jsonl`, `test.jsonl`).
    #[serde(default)]
    pub base: Vec<Sub>,
    /// Attacks confirmed in production (`additions/confirmed_detections.jsonl`).
    #[serde(default)]
    pub confirmed: Vec<Sub>,
    /// Benign rows a production filter wrongly flagged
    /// (`additions/production_false_positives.jsonl`).
    #[serde(default)]
    pub production_fp: Vec<Sub>,
    #[serde(default)]
    pub research: Vec<ResearchGroup>,
    /// The transfer split's groups (`transfer.jsonl`): styles held out of training.
    #[serde(default)]
    pub transfer: Vec<ResearchGroup>,
    /// Fill vocabularies; slot names are global across all files.
    #[serde(default)]
    pub slots: Vec<Slot>,
}

/// Parses a template file; `origin` names it in the error.
pub fn parse(text: &str, origin: &str) -> Result<TemplateFile, String> {
    toml::from_str(text).map_err(|e| format!("{origin}: {e}"))
}

/// The compiled-in files, in the order slot tables are searched.
const FILES: [(&str, &str); 11] = [
    (
        "benign.toml",
        include_str!("../../../datasets/templates/benign.toml"),
    ),
    (
        "pi.toml",
        include_str!("../../../datasets/templates/pi.toml"),
    ),
    (
        "jb.toml",
        include_str!("../../../datasets/templates/jb.toml"),
    ),
    (
        "cmd.toml",
        include_str!("../../../datasets/templates/cmd.toml"),
    ),
    (
        "pii.toml",
        include_str!("../../../datasets/templates/pii.toml"),
    ),
    (
        "enc.toml",
        include_str!("../../../datasets/templates/enc.toml"),
    ),
    (
        "rag.toml",
        include_str!("../../../datasets/templates/rag.toml"),
    ),
    (
        "hc.toml",
        include_str!("../../../datasets/templates/hc.toml"),
    ),
    (
        "research.toml",
        include_str!("../../../datasets/templates/research.toml"),
    ),
    (
        "common.toml",
        include_str!("../../../datasets/templates/common.toml"),
    ),
    (
        "transfer.toml",
        include_str!("../../../datasets/templates/transfer.toml"),
    ),
];

/// Every compiled-in template file.
pub struct Templates {
    /// `(file name, contents)`, in compiled-in order (the order slot tables
    /// are searched in).
    pub files: Vec<(&'static str, TemplateFile)>,
}

impl Templates {
    /// Parses the compiled-in files.
    pub fn load() -> Result<Self, String> {
        let mut files = Vec::with_capacity(FILES.len());
        for (name, text) in FILES {
            files.push((name, parse(text, &format!("datasets/templates/{name}"))?));
        }
        Ok(Templates { files })
    }

    /// The file of `family`, if any.
    pub fn family(&self, family: &str) -> Option<&TemplateFile> {
        self.files
            .iter()
            .map(|(_, f)| f)
            .find(|f| f.family.as_deref() == Some(family))
    }

    /// Every slot table, one per file, in file order.
    pub fn slot_tables(&self) -> Vec<&[Slot]> {
        self.files.iter().map(|(_, f)| f.slots.as_slice()).collect()
    }

    /// Every research group, in file order.
    pub fn research(&self) -> impl Iterator<Item = &ResearchGroup> {
        self.files.iter().flat_map(|(_, f)| &f.research)
    }

    /// Every transfer-split group, in file order.
    pub fn transfer(&self) -> impl Iterator<Item = &ResearchGroup> {
        self.files.iter().flat_map(|(_, f)| &f.transfer)
    }

    /// Checks the files against `taxonomy`: every family has exactly one
    /// file and every named family and context exists; sub-category lists
    /// sit in a family's file; slot names are unique across all files (so
    /// the search order of slot tables does not matter).
    pub fn check(&self, taxonomy: &Taxonomy) -> Result<(), String> {
        for family in &taxonomy.families {
            let n = self
                .files
                .iter()
                .filter(|(_, f)| f.family.as_ref() == Some(family))
                .count();
            if n != 1 {
                return Err(format!("family {family:?} has {n} template files"));
            }
        }
        let mut slots = std::collections::BTreeSet::new();
        let mut streams = std::collections::BTreeSet::new();
        for (name, file) in &self.files {
            let at = |what: &str| format!("datasets/templates/{name}: {what}");
            match (&file.family, file.stream) {
                (Some(_), None) => return Err(at("a family file needs a `stream` number")),
                (Some(_), Some(n)) if !streams.insert(n) => {
                    return Err(at(&format!("stream {n} is used twice")));
                }
                (None, Some(_)) => return Err(at("`stream` is only for family files")),
                _ => {}
            }
            match &file.family {
                Some(f) if taxonomy.family_index(f).is_none() => {
                    return Err(at(&format!("family {f:?} is not in the taxonomy")));
                }
                None if !(file.base.is_empty()
                    && file.confirmed.is_empty()
                    && file.production_fp.is_empty()) =>
                {
                    return Err(at("base/confirmed/production_fp lists need a `family`"));
                }
                _ => {}
            }
            for group in file.research.iter().chain(&file.transfer) {
                if taxonomy.family_index(&group.family).is_none() {
                    return Err(at(&format!(
                        "research/transfer family {:?} is not in the taxonomy",
                        group.family
                    )));
                }
            }
            let subs = file
                .base
                .iter()
                .chain(&file.confirmed)
                .chain(&file.production_fp)
                .chain(file.research.iter().flat_map(|g| &g.subs))
                .chain(file.transfer.iter().flat_map(|g| &g.subs));
            for sub in subs {
                if taxonomy.context_index(&sub.context).is_none() {
                    return Err(at(&format!(
                        "{}: context {:?} is not in the taxonomy",
                        sub.name, sub.context
                    )));
                }
                if sub.train.is_empty() {
                    return Err(at(&format!("{} has no train templates", sub.name)));
                }
                if !(0.0..=1.0).contains(&sub.severity) || sub.weight == 0 {
                    return Err(at(&format!("{}: bad severity or weight", sub.name)));
                }
            }
            for slot in &file.slots {
                if !slots.insert(slot.name.as_str()) {
                    return Err(at(&format!("slot {:?} is defined twice", slot.name)));
                }
                if slot.train.is_empty() && slot.test.is_empty() {
                    return Err(at(&format!("slot {:?} has no values", slot.name)));
                }
            }
        }
        Ok(())
    }
}

static TEMPLATES: LazyLock<Templates> = LazyLock::new(|| {
    let t = Templates::load().expect("the compiled-in templates parse (a test covers this)");
    if let Err(e) = t.check(crate::taxonomy::taxonomy()) {
        panic!("the compiled-in templates fit the built-in taxonomy (a test covers this): {e}");
    }
    t
});

/// Every compiled-in template file, parsed and checked.
pub fn all() -> &'static Templates {
    &TEMPLATES
}

/// The compiled-in file of `family` (a taxonomy name, e.g. `"benign"`, `"PI"`).
pub fn family(family: &str) -> Option<&'static TemplateFile> {
    all().family(family)
}

/// The compiled-in research groups, in file order.
pub fn research() -> impl Iterator<Item = &'static ResearchGroup> {
    all().research()
}

/// The compiled-in transfer-split groups, in file order.
pub fn transfer() -> impl Iterator<Item = &'static ResearchGroup> {
    all().transfer()
}

/// The shared fill vocabularies (`common.toml`).
pub fn common_slots() -> &'static [Slot] {
    all()
        .files
        .iter()
        .find(|(name, _)| *name == "common.toml")
        .map_or(&[], |(_, f)| f.slots.as_slice())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiled_in_files_parse_and_fit_the_taxonomy() {
        let t = Templates::load().expect("parse");
        t.check(&Taxonomy::builtin()).expect("check");
        assert!(family("benign").is_some_and(|f| !f.base.is_empty()));
        assert!(research().count() > 0);
        assert!(!common_slots().is_empty());
    }

    #[test]
    fn check_rejects_unknown_names_and_duplicate_slots() {
        let tax = Taxonomy::builtin();
        let mut t = Templates::load().expect("parse");
        t.files[0].1.base[0].context = "nowhere".to_string();
        assert!(t.check(&tax).is_err());
        let mut t = Templates::load().expect("parse");
        let slot = t.files[0].1.slots[0].clone();
        t.files[1].1.slots.push(slot);
        assert!(t.check(&tax).unwrap_err().contains("twice"));
        assert!(parse("family = 1", "x").is_err());
        assert!(parse("colour = \"red\"", "x").is_err());
    }
}
