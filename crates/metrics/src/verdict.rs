//! A detector's verdict on one text.

use serde::{Deserialize, Serialize};

/// What a detector says of one text: the one vocabulary of `cairn scan`, `cairn eval`, the
/// red-team scoring and the server. `latency_ms` and `version` are filled in where they are
/// known (a served verdict names the version that gave it) and left out of the JSON
/// otherwise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// Flagged as an attack, at the model's operating point.
    pub threat: bool,
    /// Probability of the attack class.
    pub probability: f32,
    /// The most likely attack family.
    pub family: String,
    /// In `[0, 1]`.
    pub severity: f32,
    /// The most likely context (where the text came from).
    pub context: String,
    /// Milliseconds from the text's arrival to its verdict.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
    /// `name@version` of the model that gave it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

impl Verdict {
    /// The probability as the ranking metrics read it.
    pub fn score(&self) -> f64 {
        f64::from(self.probability)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Confusion;

    #[test]
    fn confusions_of_windows_merge_into_the_whole() {
        let truth = [true, false, true, false, false, true];
        let flagged = [true, true, false, false, true, true];
        let whole = Confusion::of(truth.iter().copied().zip(flagged.iter().copied()));
        let first = Confusion::of(truth[..2].iter().copied().zip(flagged[..2].iter().copied()));
        let rest = Confusion::of(truth[2..].iter().copied().zip(flagged[2..].iter().copied()));
        assert_eq!(first + rest, whole);
        assert_eq!([first, rest].into_iter().sum::<Confusion>(), whole);
        let mut acc = Confusion::default();
        acc += first;
        acc.merge(&rest);
        assert_eq!(acc, whole);
        assert_eq!(whole.examples(), 6);
    }

    #[test]
    fn unmeasured_fields_stay_out_of_the_json() {
        let mut v = Verdict {
            threat: true,
            probability: 0.75,
            family: "jailbreak".into(),
            severity: 0.5,
            context: "user".into(),
            latency_ms: None,
            version: None,
        };
        let json = serde_json::to_string(&v).expect("json");
        assert_eq!(
            json,
            r#"{"threat":true,"probability":0.75,"family":"jailbreak","severity":0.5,"context":"user"}"#
        );
        v.latency_ms = Some(1.5);
        v.version = Some("detector@1.0.0".into());
        let json = serde_json::to_string(&v).expect("json");
        assert!(
            json.ends_with(r#","latency_ms":1.5,"version":"detector@1.0.0"}"#),
            "{json}"
        );
        assert_eq!(serde_json::from_str::<Verdict>(&json).expect("parse"), v);
    }
}
