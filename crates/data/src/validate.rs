//! `cairn validate`: every problem on every line, with file, line and field.

use std::fmt;

use rayon::prelude::*;
use rustc_hash::FxHashMap;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::example::{Example, OPTIONAL_FIELDS, REQUIRED_FIELDS, normalize};
use crate::taxonomy::{BENIGN, Taxonomy};

/// A JSONL input: a display name (the path as the user wrote it) and its bytes.
#[derive(Debug, Clone)]
pub struct Input {
    pub name: String,
    pub bytes: Vec<u8>,
}

impl Input {
    pub fn read(path: &std::path::Path) -> Result<Self, crate::DataError> {
        let bytes = std::fs::read(path).map_err(|source| crate::DataError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Self {
            name: path.display().to_string(),
            bytes,
        })
    }
}

/// Limits that an experiment may change.
#[derive(Debug, Clone, Serialize)]
pub struct ValidateOptions {
    /// The longest text accepted, in characters.
    pub max_text_chars: usize,
    /// An empty file is an error (a warning otherwise).
    pub strict: bool,
}

impl Default for ValidateOptions {
    fn default() -> Self {
        Self {
            max_text_chars: 8192,
            strict: false,
        }
    }
}

/// The UTF-8 byte-order mark some editors put at the start of a file.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// One problem: `file:line: field: message`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub file: String,
    pub line: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(
                f,
                "{}:{}: {}: {}",
                self.file, self.line, field, self.message
            ),
            None => write!(f, "{}:{}: {}", self.file, self.line, self.message),
        }
    }
}

/// The valid rows of one file, with their line numbers.
#[derive(Debug, Clone)]
pub struct ParsedFile {
    pub name: String,
    pub rows: Vec<(usize, Example)>,
    pub lines: usize,
}

/// Everything `validate` found.
#[derive(Debug, Clone, Serialize)]
pub struct ValidationReport {
    pub files: Vec<FileSummary>,
    pub problems: Vec<Problem>,
    /// What was accepted but deserves a look: a byte-order mark, an empty file.
    pub warnings: Vec<Problem>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FileSummary {
    pub file: String,
    pub lines: usize,
    pub valid_rows: usize,
    pub problems: usize,
}

impl ValidationReport {
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }

    pub fn rows(&self) -> usize {
        self.files.iter().map(|f| f.valid_rows).sum()
    }

    /// `Err(DataError::Invalid)` naming the first problem when there is any.
    pub fn ensure_ok(&self) -> Result<(), crate::DataError> {
        match self.problems.first() {
            None => Ok(()),
            Some(first) => Err(crate::DataError::Invalid {
                problems: self.problems.len(),
                first: first.to_string(),
            }),
        }
    }

    /// The summary line.
    pub fn summary(&self) -> String {
        let lines: usize = self.files.iter().map(|f| f.lines).sum();
        if self.is_ok() {
            format!(
                "ok: {} rows in {} file(s) are valid",
                self.rows(),
                self.files.len()
            )
        } else {
            let bad_files = self.files.iter().filter(|f| f.problems > 0).count();
            format!(
                "{} problem(s) in {} of {} file(s) ({} lines read, {} valid rows)",
                self.problems.len(),
                bad_files,
                self.files.len(),
                lines,
                self.rows()
            )
        }
    }
}

impl fmt::Display for ValidationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in &self.problems {
            writeln!(f, "{p}")?;
        }
        writeln!(f, "{}", self.summary())
    }
}

/// Validates every line of every input, then the rules that span lines and files (the same
/// normalized text twice in a file; the same text with conflicting labels anywhere).
/// Returns the report and the valid rows.
pub fn validate(
    inputs: &[Input],
    taxonomy: &Taxonomy,
    options: &ValidateOptions,
) -> (ValidationReport, Vec<ParsedFile>) {
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    let mut parsed = Vec::new();
    let mut summaries = Vec::new();
    // normalized text → where it was first and last seen, across all files.
    let mut seen: FxHashMap<String, Seen> = FxHashMap::default();
    for (file_index, input) in inputs.iter().enumerate() {
        let bytes = match input.bytes.strip_prefix(BOM) {
            Some(rest) => {
                warnings.push(problem(
                    &input.name,
                    1,
                    None,
                    "starts with a UTF-8 byte-order mark, which was ignored (save the file as UTF-8 without BOM to silence this)",
                ));
                rest
            }
            None => &input.bytes,
        };
        let lines = split_lines(bytes);
        if lines.is_empty() {
            let empty = problem(
                &input.name,
                1,
                None,
                "the file is empty (add rows, or leave the file out)",
            );
            if options.strict {
                problems.push(empty);
            } else {
                warnings.push(empty);
            }
        }
        // The per-line checks (parsing, normalizing) run on every core; the rules that span
        // lines run after, in line order, so the report is deterministic.
        let results: Vec<LineResult> = lines
            .par_iter()
            .enumerate()
            .map(|(i, line)| {
                let (problems, example) = check_line(&input.name, i + 1, line, taxonomy, options);
                (
                    problems,
                    example.map(|e| {
                        let key = normalize(&e.text);
                        (e, key)
                    }),
                )
            })
            .collect();
        let mut file_problems = Vec::new();
        let mut rows = Vec::new();
        for (i, (line_problems, example)) in results.into_iter().enumerate() {
            let line = i + 1;
            file_problems.extend(line_problems);
            let Some((example, key)) = example else {
                continue;
            };
            let here = (file_index, line);
            let entry = seen.entry(key).or_insert(Seen {
                label: example.label,
                first: here,
                last: (usize::MAX, 0),
            });
            let mut ok = true;
            if entry.last.0 == file_index {
                let msg = format!(
                    "same normalized text as line {} (remove one of them)",
                    entry.last.1
                );
                file_problems.push(problem(&input.name, line, Some("text"), msg));
                ok = false;
            } else {
                entry.last = here;
            }
            if entry.label != example.label {
                let (other_file, other_line) = entry.first;
                file_problems.push(problem(
                    &input.name,
                    line,
                    Some("label"),
                    format!(
                        "{} conflicts with label {} for the same text at {}:{other_line} (decide which label is right and fix the other)",
                        example.label, entry.label, inputs[other_file].name
                    ),
                ));
                ok = false;
            }
            if ok {
                rows.push((line, example));
            }
        }
        file_problems.sort_by_key(|p| p.line);
        summaries.push(FileSummary {
            file: input.name.clone(),
            lines: lines.len(),
            valid_rows: rows.len(),
            problems: file_problems.len(),
        });
        problems.extend(file_problems);
        parsed.push(ParsedFile {
            name: input.name.clone(),
            rows,
            lines: lines.len(),
        });
    }
    (
        ValidationReport {
            files: summaries,
            problems,
            warnings,
        },
        parsed,
    )
}

/// A line's problems, and its example with its normalized text when it has none.
type LineResult = (Vec<Problem>, Option<(Example, String)>);

/// Where a normalized text was seen: its label, its first place and its latest place
/// (file index, line).
struct Seen {
    label: u8,
    first: (usize, usize),
    last: (usize, usize),
}

/// Lines without their terminator; a final newline does not start an extra line.
fn split_lines(bytes: &[u8]) -> Vec<&[u8]> {
    let mut lines = Vec::new();
    let mut start = 0;
    for end in memchr::memchr_iter(b'\n', bytes) {
        lines.push(strip_cr(&bytes[start..end]));
        start = end + 1;
    }
    if start < bytes.len() {
        lines.push(strip_cr(&bytes[start..]));
    }
    lines
}

fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// A problem on one line: control characters that came from the data (a `\n` inside a
/// family name, a key) are escaped, so a report line is never split or forged (found by
/// `cairn-fuzz jsonl`).
fn problem(file: &str, line: usize, field: Option<&str>, message: impl Into<String>) -> Problem {
    Problem {
        file: file.to_string(),
        line,
        field: field.map(|f| cairn_store::one_line(f).into_owned()),
        message: cairn_store::one_line(&message.into()).into_owned(),
    }
}

/// JSON has no NaN or infinities; serde_json only says "expected value". Find which field
/// holds one so the message can name it.
fn non_finite_field(line: &str) -> Option<(String, &'static str)> {
    for token in ["-Infinity", "Infinity", "NaN"] {
        let Some(at) = line.find(token) else { continue };
        let before = line[..at].trim_end();
        let before = before.strip_suffix(':')?.trim_end();
        let before = before.strip_suffix('"')?;
        let key_start = before.rfind('"')?;
        return Some((before[key_start + 1..].to_string(), token));
    }
    None
}

/// The first key that a line's top-level object holds twice (JSON parsers keep one of the
/// two values silently); `None` for a line that is not an object or has no repeated key.
fn duplicate_key(line: &str) -> Option<String> {
    struct Keys(Option<String>);
    impl<'de> serde::Deserialize<'de> for Keys {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct Visit;
            impl<'de> serde::de::Visitor<'de> for Visit {
                type Value = Keys;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("an object")
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(
                    self,
                    mut map: A,
                ) -> Result<Keys, A::Error> {
                    let mut seen = std::collections::BTreeSet::new();
                    let mut repeated = None;
                    while let Some(key) = map.next_key::<String>()? {
                        map.next_value::<serde::de::IgnoredAny>()?;
                        if !seen.insert(key.clone()) && repeated.is_none() {
                            repeated = Some(key);
                        }
                    }
                    Ok(Keys(repeated))
                }
            }
            d.deserialize_map(Visit)
        }
    }
    serde_json::from_str::<Keys>(line).ok()?.0
}

fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("{b}"),
        Value::Number(n) => format!("{n}"),
        Value::String(s) if s.chars().count() > 40 => {
            format!("\"{}…\"", s.chars().take(40).collect::<String>())
        }
        Value::String(s) => format!("\"{s}\""),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

fn check_line(
    file: &str,
    line: usize,
    bytes: &[u8],
    taxonomy: &Taxonomy,
    options: &ValidateOptions,
) -> (Vec<Problem>, Option<Example>) {
    let mut out = Vec::new();
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let msg = format!(
                "not valid UTF-8 (bad byte at column {}; re-encode the file as UTF-8)",
                e.valid_up_to() + 1
            );
            return (vec![problem(file, line, None, msg)], None);
        }
    };
    if text.trim().is_empty() {
        return (
            vec![problem(
                file,
                line,
                None,
                "empty line (JSONL needs one JSON object per line; delete it)",
            )],
            None,
        );
    }
    // Fast path: most lines are valid, and a typed parse is several times cheaper than
    // building a `Value`. Anything else takes the slow path, which names every problem.
    if let Ok(example) = serde_json::from_str::<Example>(text)
        && is_clean(&example, taxonomy, options)
    {
        return (Vec::new(), Some(example));
    }
    if let Some(key) = duplicate_key(text) {
        return (
            vec![problem(
                file,
                line,
                Some(&key),
                "appears more than once in this line (keep one)",
            )],
            None,
        );
    }
    let value: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            let msg = match non_finite_field(text) {
                Some((field, token)) => {
                    return (
                        vec![problem(
                            file,
                            line,
                            Some(&field),
                            format!(
                                "{token} is not a finite number (JSON allows only finite numbers)"
                            ),
                        )],
                        None,
                    );
                }
                None => {
                    // serde_json says "at line 1 column N" of the one-line document; only the
                    // column means something here.
                    let msg = e.to_string();
                    let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
                    format!("invalid JSON at column {}: {msg}", e.column())
                }
            };
            return (vec![problem(file, line, None, msg)], None);
        }
    };
    let Value::Object(map) = value else {
        return (
            vec![problem(
                file,
                line,
                None,
                format!("expected a JSON object, found {}", describe(&value)),
            )],
            None,
        );
    };
    let mut p = |field: &str, msg: String| out.push(problem(file, line, Some(field), msg));

    for key in map.keys() {
        if !REQUIRED_FIELDS.contains(&key.as_str()) && !OPTIONAL_FIELDS.contains(&key.as_str()) {
            p(
                key,
                format!(
                    "unknown field (expected one of: {}, {})",
                    REQUIRED_FIELDS.join(", "),
                    OPTIONAL_FIELDS.join(", ")
                ),
            );
        }
    }
    for field in REQUIRED_FIELDS {
        if !map.contains_key(field) {
            p(field, "missing required field".into());
        }
    }

    let text_value = string_field(&map, "text", &mut p);
    if let Some(t) = &text_value {
        if t.trim().is_empty() {
            p("text", "is empty or only whitespace".into());
        } else if t.chars().count() > options.max_text_chars {
            p(
                "text",
                format!(
                    "is {} characters long, more than the maximum {} (raise `max_text_chars` or shorten it)",
                    t.chars().count(),
                    options.max_text_chars
                ),
            );
        }
    }
    let label = match map.get("label") {
        None => None,
        Some(Value::Number(n)) if n.as_u64() == Some(0) || n.as_u64() == Some(1) => {
            n.as_u64().map(|l| l as u8)
        }
        Some(Value::Number(n)) => {
            p(
                "label",
                format!("{n} is not 0 or 1 (1 = attack, 0 = benign)"),
            );
            None
        }
        Some(other) => {
            p(
                "label",
                format!("expected 0 or 1, found {}", describe(other)),
            );
            None
        }
    };
    let family = string_field(&map, "family", &mut p);
    let family_idx = index_field(&map, "family_idx", &mut p);
    let context = string_field(&map, "context", &mut p);
    let context_idx = index_field(&map, "context_idx", &mut p);
    let severity = unit_field(&map, "severity_score", &mut p);
    let confidence = unit_field(&map, "confidence", &mut p);
    let weight = number_field(&map, "weight_multiplier", &mut p);
    if let Some(w) = weight
        && w <= 0.0
    {
        p("weight_multiplier", format!("{w} must be greater than 0"));
    }
    let source = string_field(&map, "source", &mut p);
    let optional: Vec<Option<String>> = OPTIONAL_FIELDS
        .iter()
        .map(|field| match map.get(*field) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => {
                p(
                    field,
                    format!("expected a string, found {}", describe(other)),
                );
                None
            }
        })
        .collect();

    if let Some(family) = &family {
        match taxonomy.family_index(family) {
            None => p(
                "family",
                format!(
                    "unknown family \"{family}\" (expected one of: {})",
                    taxonomy.families.join(", ")
                ),
            ),
            Some(idx) => {
                if let Some(given) = family_idx
                    && given != idx as u64
                {
                    p(
                        "family_idx",
                        format!("{given} does not match family \"{family}\", whose index is {idx}"),
                    );
                }
            }
        }
        match label {
            Some(0) if family != BENIGN => p(
                "family",
                format!(
                    "\"{family}\" with label 0 (benign rows must have family \"{BENIGN}\"; or is the label wrong?)"
                ),
            ),
            Some(1) if family == BENIGN => p(
                "family",
                format!(
                    "\"{BENIGN}\" with label 1 (attacks need an attack family; or is the label wrong?)"
                ),
            ),
            _ => {}
        }
    }
    if let Some(context) = &context {
        match taxonomy.context_index(context) {
            None => p(
                "context",
                format!(
                    "unknown context \"{context}\" (expected one of: {})",
                    taxonomy.contexts.join(", ")
                ),
            ),
            Some(idx) => {
                if let Some(given) = context_idx
                    && given != idx as u64
                {
                    p(
                        "context_idx",
                        format!(
                            "{given} does not match context \"{context}\", whose index is {idx}"
                        ),
                    );
                }
            }
        }
    }

    if !out.is_empty() {
        return (out, None);
    }
    // Every field was checked above, so all are present and well-typed here.
    let example = match (
        text_value,
        label,
        family,
        family_idx,
        severity,
        context,
        context_idx,
        weight,
        confidence,
        source,
    ) {
        (
            Some(text),
            Some(label),
            Some(family),
            Some(fi),
            Some(severity_score),
            Some(context),
            Some(ci),
            Some(weight_multiplier),
            Some(confidence),
            Some(source),
        ) => {
            let mut optional = optional.into_iter();
            Example {
                text,
                label,
                family,
                family_idx: fi as u32,
                severity_score,
                context,
                context_idx: ci as u32,
                weight_multiplier,
                confidence,
                source,
                sub_category: optional.next().flatten(),
                rule_id: optional.next().flatten(),
                notes: optional.next().flatten(),
            }
        }
        _ => return (out, None),
    };
    (out, Some(example))
}

/// Whether a typed example passes every single-line rule (the slow path's rules, in short).
fn is_clean(e: &Example, taxonomy: &Taxonomy, options: &ValidateOptions) -> bool {
    let unit = |v: f64| (0.0..=1.0).contains(&v);
    e.label <= 1
        && !e.text.trim().is_empty()
        && (e.text.len() <= options.max_text_chars
            || e.text.chars().count() <= options.max_text_chars)
        && unit(e.severity_score)
        && unit(e.confidence)
        && e.weight_multiplier > 0.0
        && e.weight_multiplier.is_finite()
        && taxonomy.family_index(&e.family) == Some(e.family_idx as usize)
        && taxonomy.context_index(&e.context) == Some(e.context_idx as usize)
        && (e.label == 0) == (e.family == BENIGN)
}

fn string_field(
    map: &Map<String, Value>,
    field: &str,
    p: &mut impl FnMut(&str, String),
) -> Option<String> {
    match map.get(field)? {
        Value::String(s) => Some(s.clone()),
        other => {
            p(
                field,
                format!("expected a string, found {}", describe(other)),
            );
            None
        }
    }
}

fn index_field(
    map: &Map<String, Value>,
    field: &str,
    p: &mut impl FnMut(&str, String),
) -> Option<u64> {
    match map.get(field)? {
        Value::Number(n) if n.as_u64().is_some_and(|v| v <= u32::MAX as u64) => n.as_u64(),
        other => {
            p(
                field,
                format!("expected a non-negative integer, found {}", describe(other)),
            );
            None
        }
    }
}

fn number_field(
    map: &Map<String, Value>,
    field: &str,
    p: &mut impl FnMut(&str, String),
) -> Option<f64> {
    match map.get(field)? {
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.is_finite() => Some(f),
            _ => {
                p(field, format!("{n} is not a finite number"));
                None
            }
        },
        other => {
            p(
                field,
                format!("expected a number, found {}", describe(other)),
            );
            None
        }
    }
}

fn unit_field(
    map: &Map<String, Value>,
    field: &str,
    p: &mut impl FnMut(&str, String),
) -> Option<f64> {
    let v = number_field(map, field, p)?;
    if !(0.0..=1.0).contains(&v) {
        p(field, format!("{v} is outside [0, 1]"));
        return None;
    }
    Some(v)
}

/// Validates `inputs` and returns their rows (weight = each row's own multiplier), or the
/// first problem when there is any.
pub fn validated_rows(
    inputs: &[Input],
    taxonomy: &Taxonomy,
    options: &ValidateOptions,
) -> Result<Vec<crate::DatasetRow>, crate::DataError> {
    let (report, parsed) = validate(inputs, taxonomy, options);
    report.ensure_ok()?;
    Ok(parsed
        .into_iter()
        .flat_map(|file| {
            let origin = file.name;
            file.rows
                .into_iter()
                .map(move |(_, example)| crate::DatasetRow {
                    weight: example.weight_multiplier,
                    example,
                    origin: origin.clone(),
                })
        })
        .collect())
}
