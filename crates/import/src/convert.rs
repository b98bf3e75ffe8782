//! From one row of source values to an [`Example`]: label and name parsing, defaults, the
//! benign/attack consistency rules.

use std::path::Path;

use cairn_data::{BENIGN, Example, Taxonomy};

use crate::mapping::{Binding, Field, Mapping};
use crate::{ImportError, RowProblem};

/// Strings accepted as label 1 (case-insensitive, surrounding whitespace ignored).
pub const ATTACK_LABELS: &[&str] = &[
    "1",
    "1.0",
    "true",
    "t",
    "yes",
    "y",
    "attack",
    "malicious",
    "injection",
    "prompt_injection",
    "jailbreak",
    "unsafe",
    "harmful",
];
/// Strings accepted as label 0 (case-insensitive, surrounding whitespace ignored).
pub const BENIGN_LABELS: &[&str] = &[
    "0",
    "0.0",
    "false",
    "f",
    "no",
    "n",
    "benign",
    "safe",
    "clean",
    "legitimate",
];

/// Severity words and the scores they stand for (rule packs, and mapped `severity_score`
/// columns that hold words rather than numbers).
pub const SEVERITY_WORDS: &[(&str, f64)] = &[
    ("critical", 0.95),
    ("high", 0.8),
    ("medium", 0.55),
    ("low", 0.3),
];

/// Default `severity_score` of an attack row whose severity is neither mapped nor set.
pub const DEFAULT_ATTACK_SEVERITY: f64 = 0.5;
/// Default context of benign rows.
pub const DEFAULT_BENIGN_CONTEXT: &str = "conversational";
/// Default context of attack rows.
pub const DEFAULT_ATTACK_CONTEXT: &str = "attack";

/// One source value, whatever the input format.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) enum Cell {
    #[default]
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    /// A value no field can use (a JSON array or object, …), described for messages.
    Other(String),
}

impl Cell {
    /// The value as a message shows it.
    fn describe(&self) -> String {
        match self {
            Cell::Null => "null".into(),
            Cell::Bool(b) => b.to_string(),
            Cell::Int(i) => i.to_string(),
            Cell::Float(x) => x.to_string(),
            Cell::Str(s) if s.chars().count() > 40 => {
                format!("\"{}…\"", s.chars().take(40).collect::<String>())
            }
            Cell::Str(s) => format!("\"{s}\""),
            Cell::Other(d) => d.clone(),
        }
    }

    /// Null, or a string that is empty or only whitespace.
    fn is_blank(&self) -> bool {
        match self {
            Cell::Null => true,
            Cell::Str(s) => s.trim().is_empty(),
            _ => false,
        }
    }
}

/// `Ok(None)` for a blank cell.
fn parse_label(cell: &Cell) -> Result<Option<u8>, String> {
    let bad = || {
        format!(
            "cannot read {} as a label (accepted for 1: {}; for 0: {})",
            cell.describe(),
            ATTACK_LABELS.join(", "),
            BENIGN_LABELS.join(", ")
        )
    };
    match cell {
        c if c.is_blank() => Ok(None),
        Cell::Bool(b) => Ok(Some(u8::from(*b))),
        Cell::Int(0) => Ok(Some(0)),
        Cell::Int(1) => Ok(Some(1)),
        Cell::Float(x) if *x == 0.0 => Ok(Some(0)),
        Cell::Float(x) if *x == 1.0 => Ok(Some(1)),
        Cell::Str(s) => {
            let s = s.trim().to_lowercase();
            if ATTACK_LABELS.contains(&s.as_str()) {
                Ok(Some(1))
            } else if BENIGN_LABELS.contains(&s.as_str()) {
                Ok(Some(0))
            } else {
                Err(bad())
            }
        }
        _ => Err(bad()),
    }
}

/// A string value (numbers and booleans in their usual spelling); `Ok(None)` for a blank cell.
fn parse_string(cell: &Cell) -> Result<Option<String>, String> {
    match cell {
        c if c.is_blank() => Ok(None),
        Cell::Str(s) => Ok(Some(s.clone())),
        Cell::Bool(b) => Ok(Some(b.to_string())),
        Cell::Int(i) => Ok(Some(i.to_string())),
        Cell::Float(x) => Ok(Some(x.to_string())),
        other => Err(format!("expected a string, found {}", other.describe())),
    }
}

/// A name from a vocabulary: exact, or else the one entry that matches ignoring ASCII case.
fn parse_name(cell: &Cell, vocabulary: &[String], what: &str) -> Result<Option<String>, String> {
    let Some(raw) = parse_string(cell)? else {
        return Ok(None);
    };
    let name = raw.trim();
    if let Some(exact) = vocabulary.iter().find(|v| *v == name) {
        return Ok(Some(exact.clone()));
    }
    let mut folded = vocabulary.iter().filter(|v| v.eq_ignore_ascii_case(name));
    match (folded.next(), folded.next()) {
        (Some(only), None) => Ok(Some(only.clone())),
        _ => Err(format!(
            "unknown {what} \"{name}\" (expected one of: {})",
            vocabulary.join(", ")
        )),
    }
}

/// A finite number; `Ok(None)` for a blank cell.
fn parse_number(cell: &Cell) -> Result<Option<f64>, String> {
    let x = match cell {
        c if c.is_blank() => return Ok(None),
        Cell::Int(i) => *i as f64,
        Cell::Float(x) => *x,
        Cell::Str(s) => s
            .trim()
            .parse::<f64>()
            .map_err(|_| format!("expected a number, found {}", cell.describe()))?,
        other => return Err(format!("expected a number, found {}", other.describe())),
    };
    if x.is_finite() {
        Ok(Some(x))
    } else {
        Err(format!("{x} is not a finite number"))
    }
}

fn parse_unit(cell: &Cell) -> Result<Option<f64>, String> {
    match parse_number(cell)? {
        Some(x) if !(0.0..=1.0).contains(&x) => Err(format!("{x} is outside [0, 1]")),
        x => Ok(x),
    }
}

/// A severity word (see [`SEVERITY_WORDS`]) or a number in [0, 1].
pub(crate) fn severity_from_word(word: &str) -> Option<f64> {
    let word = word.trim().to_lowercase();
    SEVERITY_WORDS
        .iter()
        .find(|(w, _)| *w == word)
        .map(|(_, x)| *x)
}

fn parse_severity(cell: &Cell) -> Result<Option<f64>, String> {
    if let Cell::Str(s) = cell
        && let Some(x) = severity_from_word(s)
    {
        return Ok(Some(x));
    }
    parse_unit(cell).map_err(|e| {
        let words = SEVERITY_WORDS
            .iter()
            .map(|(w, x)| format!("{w} = {x}"))
            .collect::<Vec<_>>()
            .join(", ");
        format!("{e} (expected a number in [0, 1] or a severity word: {words})")
    })
}

fn parse_weight(cell: &Cell) -> Result<Option<f64>, String> {
    match parse_number(cell)? {
        Some(x) if x <= 0.0 => Err(format!("{x} must be greater than 0")),
        x => Ok(x),
    }
}

/// Turns rows into examples for one file: the mapping, the taxonomy, and the constants
/// already parsed and checked.
pub(crate) struct Converter<'a> {
    mapping: &'a Mapping,
    taxonomy: &'a Taxonomy,
    /// `--set` values as cells, by field index.
    constants: Vec<Cell>,
    default_source: String,
    /// No label binding: derive it from the mapped family column.
    label_from_family: bool,
}

impl<'a> Converter<'a> {
    /// Checks that the mapping can drive an import of `path` and that every constant is valid.
    /// Rows without a `source` get `import:<file stem>`.
    pub(crate) fn new(
        path: &Path,
        mapping: &'a Mapping,
        taxonomy: &'a Taxonomy,
    ) -> Result<Self, ImportError> {
        let err = |reason: String| ImportError::Mapping {
            path: path.to_path_buf(),
            reason,
        };
        match mapping.get(Field::Text) {
            Some(Binding::Column(_)) => {}
            Some(Binding::Const(_)) => {
                return Err(err(
                    "`text` must come from a column (--map text=COLUMN), not a constant".into(),
                ));
            }
            None => return Err(err(
                "`text` is not mapped; name the column that holds the text with --map text=COLUMN"
                    .into(),
            )),
        }
        let label_from_family = mapping.get(Field::Label).is_none();
        if label_from_family && mapping.column(Field::Family).is_none() {
            return Err(err(
                "`label` is not mapped; name its column with --map label=COLUMN, set it for every row with --set label=0|1, or map a family column (--map family=COLUMN) to derive it".into(),
            ));
        }
        let constants: Vec<Cell> = Field::ALL
            .into_iter()
            .map(|f| {
                mapping
                    .constant(f)
                    .map_or(Cell::Null, |v| Cell::Str(v.to_string()))
            })
            .collect();
        let converter = Converter {
            mapping,
            taxonomy,
            constants,
            default_source: format!("import:{}", crate::file_stem(path)),
            label_from_family,
        };
        for field in Field::ALL {
            let cell = &converter.constants[field.index()];
            if *cell != Cell::Null
                && let Err(reason) = converter.check_value(field, cell)
            {
                return Err(err(format!("--set {field}: {reason}")));
            }
        }
        Ok(converter)
    }

    /// Checks one value the way the row conversion would, for validating constants.
    fn check_value(&self, field: Field, cell: &Cell) -> Result<(), String> {
        match field {
            Field::Label => parse_label(cell).map(drop),
            Field::Family => parse_name(cell, &self.taxonomy.families, "family").map(drop),
            Field::Context => parse_name(cell, &self.taxonomy.contexts, "context").map(drop),
            Field::SeverityScore => parse_severity(cell).map(drop),
            Field::Confidence => parse_unit(cell).map(drop),
            Field::WeightMultiplier => parse_weight(cell).map(drop),
            Field::Text | Field::Source | Field::SubCategory | Field::RuleId | Field::Notes => {
                parse_string(cell).map(drop)
            }
        }
    }

    /// Converts one row. `cells` holds, by field index, the row's value for every mapped
    /// field (`Cell::Null` for the others). Problems are appended to `problems`.
    pub(crate) fn convert(
        &self,
        row: usize,
        cells: &[Cell],
        problems: &mut Vec<RowProblem>,
    ) -> Option<Example> {
        let before = problems.len();
        let mut problem = |field: Field, reason: String| {
            let reason = match self.mapping.column(field) {
                Some(column) => format!("{reason} (column `{column}`)"),
                None => reason,
            };
            problems.push(RowProblem {
                row,
                field: Some(field.as_str().to_string()),
                reason,
            });
        };
        let value = |field: Field| -> &Cell {
            match self.mapping.get(field) {
                Some(Binding::Column(_)) => &cells[field.index()],
                Some(Binding::Const(_)) => &self.constants[field.index()],
                None => &Cell::Null,
            }
        };
        let mut ok = |field: Field, result: Result<Option<String>, String>| match result {
            Ok(v) => v,
            Err(reason) => {
                problem(field, reason);
                None
            }
        };

        let text = match parse_string(value(Field::Text)) {
            Ok(Some(t)) => Some(t),
            Ok(None) => {
                ok(Field::Text, Err("is empty or only whitespace".into()));
                None
            }
            Err(e) => ok(Field::Text, Err(e)),
        };
        let family_cell = value(Field::Family);
        let family_value = match self.mapping.get(Field::Family) {
            Some(Binding::Column(_)) => ok(
                Field::Family,
                parse_name(family_cell, &self.taxonomy.families, "family"),
            ),
            _ => None,
        };
        let family_const = match self.mapping.get(Field::Family) {
            Some(Binding::Const(_)) => parse_name(family_cell, &self.taxonomy.families, "family")
                .ok()
                .flatten(),
            _ => None,
        };
        let label = if self.label_from_family {
            match &family_value {
                Some(f) => Some(u8::from(f != BENIGN)),
                None => {
                    if family_cell.is_blank() {
                        ok(Field::Family, Err("is empty, and the label is derived from it (map a label column with --map label=COLUMN)".into()));
                    }
                    None
                }
            }
        } else {
            match parse_label(value(Field::Label)) {
                Ok(Some(l)) => Some(l),
                Ok(None) => {
                    ok(Field::Label, Err("is empty".into()));
                    None
                }
                Err(e) => {
                    ok(Field::Label, Err(e));
                    None
                }
            }
        };
        let family = match (label, family_value) {
            (Some(0), Some(f)) if f != BENIGN => {
                ok(
                    Field::Family,
                    Err(format!(
                        "\"{f}\" with label 0 (benign rows must have family \"{BENIGN}\"; or is the label wrong?)"
                    )),
                );
                None
            }
            (Some(1), Some(f)) if f == BENIGN => {
                ok(
                    Field::Family,
                    Err(format!(
                        "\"{BENIGN}\" with label 1 (attacks need an attack family; or is the label wrong?)"
                    )),
                );
                None
            }
            (_, Some(f)) => Some(f),
            (Some(0), None) => Some(BENIGN.to_string()),
            (Some(1), None) => match family_const {
                Some(f) if f == BENIGN => {
                    ok(
                        Field::Family,
                        Err(format!(
                            "label 1, but --set family={BENIGN} (attacks need an attack family)"
                        )),
                    );
                    None
                }
                Some(f) => Some(f),
                None => {
                    if self.mapping.column(Field::Family).is_none() || family_cell.is_blank() {
                        let hint = if self.mapping.column(Field::Family).is_some() {
                            "is empty for an attack row (label 1); fill it in"
                        } else {
                            "is needed for attack rows (label 1): map a family column with --map family=COLUMN or give one for all attacks with --set family=NAME"
                        };
                        ok(Field::Family, Err(hint.into()));
                    }
                    None
                }
            },
            _ => None,
        };

        let context = match ok(
            Field::Context,
            parse_name(value(Field::Context), &self.taxonomy.contexts, "context"),
        ) {
            Some(c) => Some(c),
            None if value(Field::Context).is_blank() => match label {
                Some(0) => Some(DEFAULT_BENIGN_CONTEXT.to_string()),
                Some(_) => Some(DEFAULT_ATTACK_CONTEXT.to_string()),
                None => None,
            },
            None => None,
        };
        let context_idx = context
            .as_ref()
            .and_then(|c| match self.taxonomy.context_index(c) {
                Some(i) => Some(i as u32),
                None => {
                    ok(
                        Field::Context,
                        Err(format!(
                            "default context \"{c}\" is not in the taxonomy; map or set a context"
                        )),
                    );
                    None
                }
            });
        let family_idx = family
            .as_ref()
            .and_then(|f| self.taxonomy.family_index(f))
            .map(|i| i as u32);

        let mut number = |field: Field,
                          parse: fn(&Cell) -> Result<Option<f64>, String>,
                          default: f64| match parse(value(field)) {
            Ok(x) => Some(x.unwrap_or(default)),
            Err(reason) => {
                ok(field, Err(reason));
                None
            }
        };
        let severity_score = number(
            Field::SeverityScore,
            parse_severity,
            if label == Some(1) {
                DEFAULT_ATTACK_SEVERITY
            } else {
                0.0
            },
        );
        let weight_multiplier = number(Field::WeightMultiplier, parse_weight, 1.0);
        let confidence = number(Field::Confidence, parse_unit, 1.0);
        let source = ok(Field::Source, parse_string(value(Field::Source)))
            .unwrap_or_else(|| self.default_source.clone());
        let sub_category = ok(Field::SubCategory, parse_string(value(Field::SubCategory)));
        let rule_id = ok(Field::RuleId, parse_string(value(Field::RuleId)));
        let notes = ok(Field::Notes, parse_string(value(Field::Notes)));

        if problems.len() > before {
            return None;
        }
        Some(Example {
            text: text?,
            label: label?,
            family: family?,
            family_idx: family_idx?,
            severity_score: severity_score?,
            context: context?,
            context_idx: context_idx?,
            weight_multiplier: weight_multiplier?,
            confidence: confidence?,
            source,
            sub_category,
            rule_id,
            notes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        for (cell, want) in [
            (Cell::Bool(true), Some(1)),
            (Cell::Int(0), Some(0)),
            (Cell::Float(1.0), Some(1)),
            (Cell::Str(" Attack ".into()), Some(1)),
            (Cell::Str("SAFE".into()), Some(0)),
            (Cell::Str("injection".into()), Some(1)),
            (Cell::Str("".into()), None),
            (Cell::Null, None),
        ] {
            assert_eq!(parse_label(&cell), Ok(want), "{cell:?}");
        }
        for cell in [
            Cell::Int(2),
            Cell::Str("maybe".into()),
            Cell::Float(0.5),
            Cell::Other("an array".into()),
        ] {
            let e = parse_label(&cell).expect_err("invalid");
            assert!(e.contains("accepted for 1"), "{e}");
        }
    }

    #[test]
    fn severities_and_names() {
        assert_eq!(parse_severity(&Cell::Str("High".into())), Ok(Some(0.8)));
        assert_eq!(parse_severity(&Cell::Str("0.25".into())), Ok(Some(0.25)));
        assert_eq!(parse_severity(&Cell::Int(1)), Ok(Some(1.0)));
        assert!(parse_severity(&Cell::Float(1.5)).is_err());
        assert!(
            parse_severity(&Cell::Str("extreme".into()))
                .expect_err("bad")
                .contains("critical = 0.95")
        );
        assert!(parse_weight(&Cell::Int(0)).is_err());
        let families: Vec<String> = ["benign", "PI", "JB"].map(String::from).to_vec();
        assert_eq!(
            parse_name(&Cell::Str("pi".into()), &families, "family"),
            Ok(Some("PI".into()))
        );
        assert!(parse_name(&Cell::Str("XX".into()), &families, "family").is_err());
    }
}
