//! Which source column (or constant) feeds each schema field.

use std::fmt;
use std::str::FromStr;

use crate::ImportError;

/// A schema field that an import can fill. `family_idx` and `context_idx` are not here:
/// they are always derived from the taxonomy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Field {
    Text,
    Label,
    Family,
    SeverityScore,
    Context,
    WeightMultiplier,
    Confidence,
    Source,
    SubCategory,
    RuleId,
    Notes,
}

impl Field {
    /// Every mappable field, in schema order.
    pub const ALL: [Field; 11] = [
        Field::Text,
        Field::Label,
        Field::Family,
        Field::SeverityScore,
        Field::Context,
        Field::WeightMultiplier,
        Field::Confidence,
        Field::Source,
        Field::SubCategory,
        Field::RuleId,
        Field::Notes,
    ];

    /// The schema name (`severity_score`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Field::Text => "text",
            Field::Label => "label",
            Field::Family => "family",
            Field::SeverityScore => "severity_score",
            Field::Context => "context",
            Field::WeightMultiplier => "weight_multiplier",
            Field::Confidence => "confidence",
            Field::Source => "source",
            Field::SubCategory => "sub_category",
            Field::RuleId => "rule_id",
            Field::Notes => "notes",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }

    fn names() -> String {
        Field::ALL.map(Field::as_str).join(", ")
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Field {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(field) = Field::ALL.into_iter().find(|f| f.as_str() == s) {
            return Ok(field);
        }
        Err(match s {
            "family_idx" | "context_idx" => {
                format!(
                    "`{s}` is derived from the taxonomy and cannot be mapped or set (map `{}` instead)",
                    s.trim_end_matches("_idx")
                )
            }
            _ => format!(
                "unknown schema field `{s}` (expected one of: {})",
                Field::names()
            ),
        })
    }
}

/// Where one field's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Binding {
    /// A column (CSV, Parquet) or top-level key (JSONL) of the input.
    Column(String),
    /// The same value for every row, written as on the command line (`--set label=1`).
    Const(String),
}

/// For each schema field: a source column, a constant, or nothing (the default applies).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mapping {
    bindings: [Option<Binding>; 11],
}

impl Mapping {
    /// An empty mapping: every field takes its default (and `text` is unmapped).
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses CLI-style `--map FIELD=COLUMN` and `--set FIELD=VALUE` arguments.
    ///
    /// Errors: a malformed `k=v`, an unknown schema field (or `family_idx`/`context_idx`,
    /// which are derived), an empty column name or value, a field given twice, or a field
    /// both mapped and set.
    pub fn from_args(maps: &[String], sets: &[String]) -> Result<Mapping, ImportError> {
        let mut mapping = Mapping::new();
        for (args, flag) in [(maps, "--map"), (sets, "--set")] {
            for arg in args {
                let bad = |reason: String| ImportError::MappingArg {
                    arg: arg.clone(),
                    reason,
                };
                let Some((key, value)) = arg.split_once('=') else {
                    return Err(bad(format!(
                        "expected FIELD=VALUE, e.g. `{flag} text=prompt`"
                    )));
                };
                let field: Field = key.trim().parse().map_err(bad)?;
                if value.trim().is_empty() {
                    return Err(bad(format!("no value after `=` for `{field}`")));
                }
                if let Some(previous) = &mapping.bindings[field.index()] {
                    return Err(bad(match previous {
                        Binding::Column(c) => {
                            format!("`{field}` is already mapped to column `{c}`")
                        }
                        Binding::Const(v) => format!("`{field}` is already set to `{v}`"),
                    }));
                }
                let binding = if flag == "--map" {
                    Binding::Column(value.to_string())
                } else {
                    Binding::Const(value.to_string())
                };
                mapping.bindings[field.index()] = Some(binding);
            }
        }
        Ok(mapping)
    }

    /// Maps `field` to a source column (replacing any earlier binding).
    pub fn map(mut self, field: Field, column: impl Into<String>) -> Self {
        self.bindings[field.index()] = Some(Binding::Column(column.into()));
        self
    }

    /// Sets `field` to a constant (replacing any earlier binding).
    pub fn set(mut self, field: Field, value: impl Into<String>) -> Self {
        self.bindings[field.index()] = Some(Binding::Const(value.into()));
        self
    }

    /// How `field` is bound, if at all.
    pub fn get(&self, field: Field) -> Option<&Binding> {
        self.bindings[field.index()].as_ref()
    }

    /// The column `field` is mapped to, if it is mapped to one.
    pub fn column(&self, field: Field) -> Option<&str> {
        match self.get(field) {
            Some(Binding::Column(c)) => Some(c),
            _ => None,
        }
    }

    /// The constant `field` is set to, if it is set.
    pub fn constant(&self, field: Field) -> Option<&str> {
        match self.get(field) {
            Some(Binding::Const(v)) => Some(v),
            _ => None,
        }
    }

    /// Every `(field, column)` pair, in schema order.
    pub fn columns(&self) -> impl Iterator<Item = (Field, &str)> {
        Field::ALL
            .into_iter()
            .filter_map(|f| self.column(f).map(|c| (f, c)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_maps_and_sets() {
        let m = Mapping::from_args(
            &args(&["text=prompt", "label=is_attack", "family=category"]),
            &args(&[
                "source=prod-logs",
                "context=conversational",
                "weight_multiplier=2",
            ]),
        )
        .expect("valid");
        assert_eq!(m.column(Field::Text), Some("prompt"));
        assert_eq!(m.column(Field::Label), Some("is_attack"));
        assert_eq!(m.column(Field::Family), Some("category"));
        assert_eq!(m.constant(Field::Source), Some("prod-logs"));
        assert_eq!(m.constant(Field::WeightMultiplier), Some("2"));
        assert_eq!(m.get(Field::Notes), None);
        // A value may itself contain `=`.
        let m = Mapping::from_args(&args(&["text=a=b"]), &[]).expect("valid");
        assert_eq!(m.column(Field::Text), Some("a=b"));
    }

    #[test]
    fn rejects_bad_arguments() {
        let err = |maps: &[&str], sets: &[&str]| {
            Mapping::from_args(&args(maps), &args(sets))
                .expect_err("invalid")
                .to_string()
        };
        assert!(err(&["prompt"], &[]).contains("FIELD=VALUE"));
        assert!(err(&["txt=prompt"], &[]).contains("unknown schema field `txt`"));
        assert!(err(&["family_idx=x"], &[]).contains("derived from the taxonomy"));
        assert!(err(&[], &["context_idx=1"]).contains("derived from the taxonomy"));
        assert!(err(&["text="], &[]).contains("no value"));
        assert!(err(&["text=a", "text=b"], &[]).contains("already mapped"));
        let e = err(&["family=category"], &["family=PI"]);
        assert!(
            e.contains("`family` is already mapped to column `category`"),
            "{e}"
        );
    }
}
