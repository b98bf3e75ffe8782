//! One training example, as a line of JSONL.

use serde::{Deserialize, Serialize};

/// The schema of a training example. Names and indices must agree with the taxonomy, and
/// label 0 ⇔ family `benign` (see `validate`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Example {
    pub text: String,
    /// 1 = attack, 0 = benign.
    pub label: u8,
    pub family: String,
    pub family_idx: u32,
    /// 0 (harmless) ..= 1 (critical).
    pub severity_score: f64,
    pub context: String,
    pub context_idx: u32,
    /// > 0; the example's own weight before the experiment's boost.
    pub weight_multiplier: f64,
    /// 0 ..= 1: how sure the labeller was.
    pub confidence: f64,
    /// Where the example came from (`production_fp`, `research`, …).
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

/// The field names, in schema order, required first.
pub const REQUIRED_FIELDS: [&str; 10] = [
    "text",
    "label",
    "family",
    "family_idx",
    "severity_score",
    "context",
    "context_idx",
    "weight_multiplier",
    "confidence",
    "source",
];
pub const OPTIONAL_FIELDS: [&str; 3] = ["sub_category", "rule_id", "notes"];

/// The key examples are deduplicated and compared by: Unicode lowercase, whitespace runs
/// collapsed to one space, trimmed.
pub fn normalize(text: &str) -> String {
    if text.is_ascii() {
        return normalize_ascii(text.as_bytes());
    }
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        for c in word.chars() {
            out.extend(c.to_lowercase());
        }
    }
    out
}

/// The same as the general path for ASCII text, without per-character Unicode tables.
fn normalize_ascii(bytes: &[u8]) -> String {
    let mut out = Vec::with_capacity(bytes.len());
    let mut pending_space = false;
    for &b in bytes {
        if b.is_ascii_whitespace() || b == 0x0b {
            pending_space = !out.is_empty();
        } else {
            if pending_space {
                out.push(b' ');
                pending_space = false;
            }
            out.push(b.to_ascii_lowercase());
        }
    }
    // Only ASCII bytes were pushed.
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_folds_case_and_whitespace() {
        assert_eq!(
            normalize("  Ignore\tALL \n previous  "),
            "ignore all previous"
        );
        assert_eq!(normalize("ÉCOLE"), "école");
        assert_eq!(normalize(" \n\t "), "");
    }

    proptest::proptest! {
        #[test]
        fn ascii_fast_path_agrees_with_the_general_one(s in "[ -~\t\n\r\x0b\x0c]{0,40}") {
            let general: String = s.split_whitespace().map(|w| w.to_lowercase()).collect::<Vec<_>>().join(" ");
            proptest::prop_assert_eq!(normalize(&s), general);
        }
    }
}
