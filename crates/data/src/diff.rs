//! Row-level diff of two datasets keyed by normalized text (what `cairn data diff` and the
//! lineage diff show).

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::dataset::DatasetRow;

/// Counts for one family.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FamilyDiff {
    pub added: u64,
    pub removed: u64,
    /// Rows whose label changed.
    pub relabelled: u64,
    /// Rows whose label stayed but family, severity or weight changed.
    pub changed: u64,
}

/// A row in an example list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RowBrief {
    pub text: String,
    pub label: u8,
    pub family: String,
    pub weight: f64,
}

/// One field that differs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    pub field: String,
    pub a: String,
    pub b: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RowChange {
    pub text: String,
    pub changes: Vec<FieldChange>,
}

/// What changed from dataset `a` to dataset `b`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DataDiff {
    pub a_rows: u64,
    pub b_rows: u64,
    pub added: u64,
    pub removed: u64,
    pub relabelled: u64,
    pub changed: u64,
    pub unchanged: u64,
    /// Keyed by family (of `b` for added and changed rows, of `a` for removed ones).
    pub families: BTreeMap<String, FamilyDiff>,
    pub added_examples: Vec<RowBrief>,
    pub removed_examples: Vec<RowBrief>,
    pub changed_examples: Vec<RowChange>,
}

const TEXT_CUT: usize = 100;

fn cut(text: &str) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= TEXT_CUT {
        flat
    } else {
        format!("{}…", flat.chars().take(TEXT_CUT).collect::<String>())
    }
}

fn brief(row: &DatasetRow) -> RowBrief {
    RowBrief {
        text: cut(&row.example.text),
        label: row.example.label,
        family: row.example.family.clone(),
        weight: row.weight,
    }
}

fn changes(a: &DatasetRow, b: &DatasetRow) -> Vec<FieldChange> {
    let mut out = Vec::new();
    let mut push = |field: &str, x: String, y: String| {
        if x != y {
            out.push(FieldChange {
                field: field.into(),
                a: x,
                b: y,
            });
        }
    };
    push(
        "label",
        a.example.label.to_string(),
        b.example.label.to_string(),
    );
    push("family", a.example.family.clone(), b.example.family.clone());
    push(
        "severity_score",
        a.example.severity_score.to_string(),
        b.example.severity_score.to_string(),
    );
    push("weight", a.weight.to_string(), b.weight.to_string());
    out
}

/// Diffs two row sets; lists at most `examples` rows of each kind, in key order.
pub fn diff(a: &[DatasetRow], b: &[DatasetRow], examples: usize) -> DataDiff {
    let a_map: HashMap<String, &DatasetRow> = a.iter().map(|r| (r.key(), r)).collect();
    let b_map: HashMap<String, &DatasetRow> = b.iter().map(|r| (r.key(), r)).collect();
    let mut keys: Vec<&String> = a_map
        .keys()
        .chain(b_map.keys().filter(|k| !a_map.contains_key(*k)))
        .collect();
    keys.sort();
    let mut d = DataDiff {
        a_rows: a.len() as u64,
        b_rows: b.len() as u64,
        ..Default::default()
    };
    for key in keys {
        match (a_map.get(key), b_map.get(key)) {
            (None, Some(row)) => {
                d.added += 1;
                d.families
                    .entry(row.example.family.clone())
                    .or_default()
                    .added += 1;
                if d.added_examples.len() < examples {
                    d.added_examples.push(brief(row));
                }
            }
            (Some(row), None) => {
                d.removed += 1;
                d.families
                    .entry(row.example.family.clone())
                    .or_default()
                    .removed += 1;
                if d.removed_examples.len() < examples {
                    d.removed_examples.push(brief(row));
                }
            }
            (Some(x), Some(y)) => {
                let changes = changes(x, y);
                if changes.is_empty() {
                    d.unchanged += 1;
                    continue;
                }
                let family = d.families.entry(y.example.family.clone()).or_default();
                if x.example.label != y.example.label {
                    d.relabelled += 1;
                    family.relabelled += 1;
                } else {
                    d.changed += 1;
                    family.changed += 1;
                }
                if d.changed_examples.len() < examples {
                    d.changed_examples.push(RowChange {
                        text: cut(&y.example.text),
                        changes,
                    });
                }
            }
            (None, None) => {}
        }
    }
    d
}

impl fmt::Display for DataDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "rows: {} -> {}", self.a_rows, self.b_rows)?;
        writeln!(
            f,
            "added {}, removed {}, relabelled {}, changed {}, unchanged {}",
            self.added, self.removed, self.relabelled, self.changed, self.unchanged
        )?;
        if !self.families.is_empty() {
            writeln!(f)?;
            let width = self
                .families
                .keys()
                .map(|k| k.chars().count())
                .max()
                .unwrap_or(0)
                .max(6);
            writeln!(
                f,
                "{:<width$}  {:>7}  {:>7}  {:>10}  {:>7}",
                "family", "added", "removed", "relabelled", "changed"
            )?;
            for (name, c) in &self.families {
                writeln!(
                    f,
                    "{name:<width$}  {:>7}  {:>7}  {:>10}  {:>7}",
                    c.added, c.removed, c.relabelled, c.changed
                )?;
            }
        }
        for (title, rows, sign) in [
            ("added", &self.added_examples, '+'),
            ("removed", &self.removed_examples, '-'),
        ] {
            if !rows.is_empty() {
                writeln!(f, "\n{title}:")?;
                for r in rows {
                    writeln!(
                        f,
                        "  {sign} [{} {} w={}] {}",
                        r.label, r.family, r.weight, r.text
                    )?;
                }
            }
        }
        if !self.changed_examples.is_empty() {
            writeln!(f, "\nchanged:")?;
            for c in &self.changed_examples {
                let what: Vec<String> = c
                    .changes
                    .iter()
                    .map(|x| format!("{} {} -> {}", x.field, x.a, x.b))
                    .collect();
                writeln!(f, "  ~ [{}] {}", what.join(", "), c.text)?;
            }
        }
        Ok(())
    }
}
