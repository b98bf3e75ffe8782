//! YAML rule packs: detection rules with the examples they must and must not match.
//!
//! ```yaml
//! rules:
//!   - id: PI-001
//!     family: PI            # a taxonomy family, not benign
//!     severity: high        # critical | high | medium | low, or a number in [0, 1]
//!     context: attack       # optional; the context of the should_match examples
//!     description: "..."    # optional; becomes the examples' `notes`
//!     examples:
//!       should_match: ["text 1", "text 2"]
//!       should_not_match: ["benign text"]
//! ```
//!
//! Each `should_match` text becomes a label-1 example with the rule's family, severity and
//! context (default `attack`), and `rule_id` = the rule's id. Each `should_not_match` text
//! becomes a label-0 example: family `benign`, severity 0, context `conversational`,
//! `rule_id` = the rule's id, `sub_category` = `rule_negative`. Severity words: critical =
//! 0.95, high = 0.8, medium = 0.55, low = 0.3 ([`crate::SEVERITY_WORDS`]).
//!
//! `source` is `rules:<file stem>`, `weight_multiplier` and `confidence` 1; the mapping may
//! `--set` those three. Unknown keys, unknown families or contexts, duplicate rule ids and
//! empty texts are errors that name the rule.

use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;

use cairn_data::{BENIGN, Example, Taxonomy};
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

use crate::convert::{
    DEFAULT_ATTACK_CONTEXT, DEFAULT_BENIGN_CONTEXT, SEVERITY_WORDS, severity_from_word,
};
use crate::mapping::{Binding, Field, Mapping};
use crate::{ImportError, ImportOutcome, file_stem};

/// `sub_category` of the examples made from `should_not_match`.
pub const NEGATIVE_SUB_CATEGORY: &str = "rule_negative";

/// A rule pack file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulePack {
    pub rules: Vec<Rule>,
}

/// One rule.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub id: String,
    pub family: String,
    pub severity: Severity,
    #[serde(default)]
    pub context: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub examples: RuleExamples,
}

/// A rule's example texts.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleExamples {
    #[serde(default)]
    pub should_match: Vec<String>,
    #[serde(default)]
    pub should_not_match: Vec<String>,
}

/// A rule's severity score in [0, 1], written as a word or a number.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Severity(pub f64);

impl<'de> Deserialize<'de> for Severity {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SeverityVisitor;

        fn words() -> String {
            SEVERITY_WORDS
                .iter()
                .map(|(w, _)| *w)
                .collect::<Vec<_>>()
                .join(" | ")
        }

        impl Visitor<'_> for SeverityVisitor {
            type Value = Severity;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "a severity: {} or a number in [0, 1]", words())
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Severity, E> {
                severity_from_word(v).map(Severity).ok_or_else(|| {
                    E::custom(format!(
                        "unknown severity `{v}` (expected {} or a number in [0, 1])",
                        words()
                    ))
                })
            }

            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Severity, E> {
                if (0.0..=1.0).contains(&v) {
                    Ok(Severity(v))
                } else {
                    Err(E::custom(format!("severity {v} is outside [0, 1]")))
                }
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Severity, E> {
                self.visit_f64(v as f64)
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Severity, E> {
                self.visit_f64(v as f64)
            }
        }

        deserializer.deserialize_any(SeverityVisitor)
    }
}

/// Parses a rule pack; `path` names the file in errors.
pub fn parse(text: &str, path: &Path) -> Result<RulePack, ImportError> {
    serde_yaml_ng::from_str(text).map_err(|e| {
        let (line, column) = e.location().map_or((1, 1), |l| (l.line(), l.column()));
        let message = e.to_string();
        // The message ends in " at line L column C"; the location is already in front.
        let message = match message.rfind(" at line ") {
            Some(i) => message[..i].to_string(),
            None => message,
        };
        ImportError::Yaml {
            path: path.to_path_buf(),
            line,
            column,
            message,
        }
    })
}

/// The constants a rule pack import takes from the mapping.
struct Overrides {
    source: String,
    weight_multiplier: f64,
    confidence: f64,
}

fn overrides(path: &Path, mapping: &Mapping) -> Result<Overrides, ImportError> {
    let err = |reason: String| ImportError::Mapping {
        path: path.to_path_buf(),
        reason,
    };
    let mut out = Overrides {
        source: format!("rules:{}", file_stem(path)),
        weight_multiplier: 1.0,
        confidence: 1.0,
    };
    for field in Field::ALL {
        let value = match mapping.get(field) {
            None => continue,
            Some(Binding::Column(c)) => {
                return Err(err(format!(
                    "rule packs have no columns to map (--map {field}={c}); only --set source, weight_multiplier or confidence apply"
                )));
            }
            Some(Binding::Const(v)) => v,
        };
        let number = || value.trim().parse::<f64>().ok().filter(|x| x.is_finite());
        match field {
            Field::Source => out.source = value.clone(),
            Field::WeightMultiplier => match number() {
                Some(x) if x > 0.0 => out.weight_multiplier = x,
                _ => {
                    return Err(err(format!(
                        "--set weight_multiplier: `{value}` is not a number greater than 0"
                    )));
                }
            },
            Field::Confidence => match number() {
                Some(x) if (0.0..=1.0).contains(&x) => out.confidence = x,
                _ => {
                    return Err(err(format!(
                        "--set confidence: `{value}` is not a number in [0, 1]"
                    )));
                }
            },
            _ => {
                return Err(err(format!(
                    "--set {field} does not apply to rule packs (each rule gives its own); only source, weight_multiplier or confidence can be set"
                )));
            }
        }
    }
    Ok(out)
}

/// Imports a rule pack (see the module documentation).
pub(crate) fn import(
    path: &Path,
    mapping: &Mapping,
    taxonomy: &Taxonomy,
) -> Result<ImportOutcome, ImportError> {
    let overrides = overrides(path, mapping)?;
    let text = std::fs::read_to_string(path).map_err(|source| ImportError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let pack = parse(&text, path)?;
    let examples = examples(&pack, path, taxonomy, &overrides)?;
    Ok(ImportOutcome {
        examples,
        problems: Vec::new(),
    })
}

fn examples(
    pack: &RulePack,
    path: &Path,
    taxonomy: &Taxonomy,
    o: &Overrides,
) -> Result<Vec<Example>, ImportError> {
    let index = |i: usize| u32::try_from(i).unwrap_or(u32::MAX);
    let benign_idx = taxonomy.family_index(BENIGN).map(index);
    let negative_context = taxonomy.context_index(DEFAULT_BENIGN_CONTEXT).map(index);
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for rule in &pack.rules {
        let err = |reason: String| ImportError::Rule {
            path: path.to_path_buf(),
            rule_id: rule.id.clone(),
            reason,
        };
        if rule.id.trim().is_empty() {
            return Err(err("the id is empty".into()));
        }
        if !seen.insert(rule.id.as_str()) {
            return Err(err("the id is used by an earlier rule too".into()));
        }
        let family_idx = match taxonomy.family_index(&rule.family) {
            Some(_) if rule.family == BENIGN => {
                return Err(err(format!(
                    "family \"{BENIGN}\" is not a threat family (a rule's should_match examples are attacks)"
                )));
            }
            Some(i) => index(i),
            None => {
                let families: Vec<&str> = taxonomy
                    .families
                    .iter()
                    .map(String::as_str)
                    .filter(|f| *f != BENIGN)
                    .collect();
                return Err(err(format!(
                    "unknown family \"{}\" (expected one of: {})",
                    rule.family,
                    families.join(", ")
                )));
            }
        };
        let context = rule.context.as_deref().unwrap_or(DEFAULT_ATTACK_CONTEXT);
        let Some(context_idx) = taxonomy.context_index(context).map(index) else {
            return Err(err(format!(
                "unknown context \"{context}\" (expected one of: {})",
                taxonomy.contexts.join(", ")
            )));
        };
        let texts = rule
            .examples
            .should_match
            .iter()
            .chain(&rule.examples.should_not_match);
        if let Some(n) = texts.clone().position(|t| t.trim().is_empty()) {
            let (list, i) = if n < rule.examples.should_match.len() {
                ("should_match", n)
            } else {
                ("should_not_match", n - rule.examples.should_match.len())
            };
            return Err(err(format!("examples.{list}[{i}] is empty")));
        }
        let example = |text: &String, attack: bool| -> Result<Example, ImportError> {
            let (label, family, family_idx, severity_score, context, context_idx, sub_category) =
                if attack {
                    (
                        1,
                        rule.family.clone(),
                        Some(family_idx),
                        rule.severity.0,
                        context.to_string(),
                        Some(context_idx),
                        None,
                    )
                } else {
                    (
                        0,
                        BENIGN.to_string(),
                        benign_idx,
                        0.0,
                        DEFAULT_BENIGN_CONTEXT.to_string(),
                        negative_context,
                        Some(NEGATIVE_SUB_CATEGORY.to_string()),
                    )
                };
            let (Some(family_idx), Some(context_idx)) = (family_idx, context_idx) else {
                return Err(err(format!(
                    "the taxonomy lacks \"{family}\" or \"{context}\", needed for the negative examples"
                )));
            };
            Ok(Example {
                text: text.clone(),
                label,
                family,
                family_idx,
                severity_score,
                context,
                context_idx,
                weight_multiplier: o.weight_multiplier,
                confidence: o.confidence,
                source: o.source.clone(),
                sub_category,
                rule_id: Some(rule.id.clone()),
                notes: rule.description.clone().filter(|d| !d.trim().is_empty()),
            })
        };
        for text in &rule.examples.should_match {
            out.push(example(text, true)?);
        }
        for text in &rule.examples.should_not_match {
            out.push(example(text, false)?);
        }
    }
    Ok(out)
}
