//! JSONL with the user's own field names ("seed format").

use std::collections::BTreeSet;
use std::path::Path;

use cairn_data::Taxonomy;
use serde_json::{Map, Value};

use crate::convert::{Cell, Converter};
use crate::mapping::{Field, Mapping};
use crate::{ImportError, ImportOutcome, RowProblem};

fn cell(value: Option<&Value>) -> Cell {
    match value {
        None | Some(Value::Null) => Cell::Null,
        Some(Value::Bool(b)) => Cell::Bool(*b),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(i) => Cell::Int(i),
            None => n
                .as_f64()
                .map_or_else(|| Cell::Other(format!("the number {n}")), Cell::Float),
        },
        Some(Value::String(s)) => Cell::Str(s.clone()),
        Some(Value::Array(_)) => Cell::Other("an array".into()),
        Some(Value::Object(_)) => Cell::Other("an object".into()),
    }
}

fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

pub(crate) fn import(
    path: &Path,
    mapping: &Mapping,
    taxonomy: &Taxonomy,
) -> Result<ImportOutcome, ImportError> {
    let converter = Converter::new(path, mapping, taxonomy)?;
    let bytes = std::fs::read(path).map_err(|source| ImportError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let bytes = bytes
        .strip_prefix(b"\xef\xbb\xbf".as_slice())
        .unwrap_or(&bytes);

    let mut problems = Vec::new();
    let mut objects: Vec<(usize, Map<String, Value>)> = Vec::new();
    for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
        let row = i + 1;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let whole_row = |reason: String| RowProblem {
            row,
            field: None,
            reason,
        };
        match serde_json::from_slice::<Value>(line) {
            Ok(Value::Object(map)) => objects.push((row, map)),
            Ok(other) => problems.push(whole_row(format!(
                "expected a JSON object, found {}",
                describe(&other)
            ))),
            Err(e) => problems.push(whole_row(format!("invalid JSON: {e}"))),
        }
    }

    // A mapped key that no object has is a typo, not a row problem.
    if !objects.is_empty() {
        for (field, column) in mapping.columns() {
            if !objects.iter().any(|(_, map)| map.contains_key(column)) {
                let keys: BTreeSet<&String> =
                    objects.iter().flat_map(|(_, map)| map.keys()).collect();
                return Err(ImportError::MissingColumn {
                    path: path.to_path_buf(),
                    field: field.to_string(),
                    column: column.to_string(),
                    available: keys.into_iter().cloned().collect(),
                });
            }
        }
    }

    let mut examples = Vec::with_capacity(objects.len());
    let mut cells = vec![Cell::Null; Field::ALL.len()];
    for (row, map) in &objects {
        for field in Field::ALL {
            cells[field.index()] = mapping
                .column(field)
                .map_or(Cell::Null, |c| cell(map.get(c)));
        }
        if let Some(example) = converter.convert(*row, &cells, &mut problems) {
            examples.push(example);
        }
    }
    problems.sort_by_key(|p| p.row);
    Ok(ImportOutcome { examples, problems })
}
