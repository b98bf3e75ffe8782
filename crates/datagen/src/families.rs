//! Which templates make which rows: the lists of `datasets/templates/*.toml`
//! (see [`crate::templates`]) grouped per family, in the taxonomy's order.

use crate::taxonomy::taxonomy;
use crate::templates::{self, Slot, Sub, TemplateFile};

/// The sub-categories that make one family's rows in one file.
pub struct Spec {
    /// The family's name in the taxonomy.
    pub family: &'static str,
    /// Its position in the taxonomy.
    pub family_idx: u32,
    /// Its generation stream (the template file's `stream`).
    pub stream: u32,
    pub subs: &'static [Sub],
}

impl Spec {
    /// `family`'s lists, with the name and index taken from the taxonomy
    /// (every template family is checked to be there when the templates load).
    fn new(family: &str, subs: &'static [Sub]) -> Self {
        let idx = taxonomy()
            .family_index(family)
            .expect("template families are checked against the taxonomy");
        let stream = templates::family(family)
            .and_then(|f| f.stream)
            .unwrap_or(0);
        Spec {
            stream,
            family: &taxonomy().families[idx],
            family_idx: u32::try_from(idx).expect("a taxonomy has fewer than 2^32 families"),
            subs,
        }
    }

    /// Whether these are benign (label 0) rows.
    pub fn is_benign(&self) -> bool {
        self.family == cairn_data::BENIGN
    }
}

/// `context`'s name and index in the built-in taxonomy (every template context
/// is checked to be there when the templates load).
pub fn context(context: &str) -> (&'static str, u32) {
    let idx = taxonomy()
        .context_index(context)
        .expect("template contexts are checked against the taxonomy");
    let idx32 = u32::try_from(idx).expect("a taxonomy has fewer than 2^32 contexts");
    (&taxonomy().contexts[idx], idx32)
}

/// Every taxonomy family's template file, in stream order (see [`TemplateFile::stream`]),
/// so the rows do not depend on the taxonomy's order.
fn family_files() -> impl Iterator<Item = (&'static str, &'static TemplateFile)> {
    let mut files: Vec<(&'static str, &'static TemplateFile)> = taxonomy()
        .families
        .iter()
        .map(|name| {
            let file = templates::family(name).expect("every taxonomy family has a template file");
            (name.as_str(), file)
        })
        .collect();
    files.sort_by_key(|(_, f)| f.stream);
    files.into_iter()
}

/// Every slot table, searched in order (slot names are unique across them).
pub fn all_tables() -> Vec<&'static [Slot]> {
    templates::all().slot_tables()
}

/// Base / test templates per family, in stream order.
pub fn base_specs() -> Vec<Spec> {
    family_files()
        .map(|(family, file)| Spec::new(family, &file.base))
        .collect()
}

/// Benign rows of the kind a production filter wrongly flagged.
pub fn production_fp_spec() -> Spec {
    let benign = cairn_data::BENIGN;
    let file = templates::family(benign).expect("the benign family has a template file");
    Spec::new(benign, &file.production_fp)
}

/// Newer attack styles (multi-step, nested encodings, agents and tools), in
/// the order of `research.toml`.
pub fn research_specs() -> Vec<Spec> {
    templates::research()
        .map(|group| Spec::new(&group.family, &group.subs))
        .collect()
}

/// The transfer split: benign styles and attack forms that no other file uses, in the
/// order of `transfer.toml`.
pub fn transfer_specs() -> Vec<Spec> {
    templates::transfer()
        .map(|group| Spec::new(&group.family, &group.subs))
        .collect()
}

/// Attacks confirmed in production: new phrasings per attack family, in
/// stream order.
pub fn confirmed_specs() -> Vec<Spec> {
    family_files()
        .filter(|(_, file)| !file.confirmed.is_empty())
        .map(|(family, file)| Spec::new(family, &file.confirmed))
        .collect()
}

/// Every sub-category list, for template checks.
pub fn all_subs() -> Vec<&'static [Sub]> {
    let mut v: Vec<&'static [Sub]> = base_specs().iter().map(|s| s.subs).collect();
    v.push(production_fp_spec().subs);
    v.extend(research_specs().iter().map(|s| s.subs));
    v.extend(confirmed_specs().iter().map(|s| s.subs));
    v.extend(transfer_specs().iter().map(|s| s.subs));
    v
}

/// The `base/` file a benign row of `sub_category` goes to.
pub fn benign_base_file(sub_category: &str) -> &'static str {
    match sub_category {
        s if s.starts_with("hard_negative") => "base/benign_hard_negatives.jsonl",
        "coding_question" | "writing_help" | "business_email" | "document_summary" => {
            "base/benign_work.jsonl"
        }
        "role_framed_task"
        | "passage_with_questions"
        | "quiz_and_puzzle"
        | "fact_check"
        | "text_task_instruction" => "base/benign_tasks.jsonl",
        _ => "base/benign.jsonl",
    }
}
