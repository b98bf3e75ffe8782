//! Evaluation metrics.

use std::collections::BTreeMap;

use crate::{Encoded, Metrics, Prediction};

use cairn_metrics::{Confusion, ratio};

/// Metrics of `predictions` against `truth` (paired by position; extra items of the longer
/// slice are ignored). Positive class = attack (label 1); a ratio with a zero denominator is
/// 0.0, never NaN.
pub fn evaluate(predictions: &[Prediction], truth: &[Encoded]) -> Metrics {
    evaluate_at(predictions, truth, None)
}

/// [`evaluate`] at an operating point: a text is an attack when P(attack) >= `threshold`
/// ([`Prediction::is_attack_at`]).
pub fn evaluate_at(
    predictions: &[Prediction],
    truth: &[Encoded],
    threshold: Option<f32>,
) -> Metrics {
    let n = predictions.len().min(truth.len());
    let pairs = || predictions.iter().zip(truth.iter()).take(n);

    let mut confusion = Confusion::default();
    let families = pairs()
        .map(|(p, t)| p.family_logits.len().max(t.family + 1))
        .max()
        .unwrap_or(0);
    let mut family_confusion = vec![vec![0u64; families]; families];
    let mut severity_abs = 0.0f64;
    let mut context_correct = 0u64;
    for (p, t) in pairs() {
        confusion.add(t.label >= 1, p.is_attack_at(threshold));
        family_confusion[t.family][p.family()] += 1;
        severity_abs += (f64::from(p.severity) - f64::from(t.severity)).abs();
        context_correct += u64::from(p.context() == t.context);
    }
    let binary = confusion.binary();
    let mut family_recall = BTreeMap::new();
    let mut family_correct = 0u64;
    for (f, row) in family_confusion.iter().enumerate() {
        let total: u64 = row.iter().sum();
        family_correct += row[f];
        if total > 0 {
            family_recall.insert(f, ratio(row[f], total));
        }
    }
    let n64 = n as u64;
    Metrics {
        accuracy: binary.accuracy,
        precision: binary.precision,
        recall: binary.recall,
        f1: binary.f1,
        fpr: binary.fpr,
        fnr: binary.fnr,
        binary_confusion: confusion.matrix(),
        family_accuracy: ratio(family_correct, n64),
        family_recall,
        family_confusion,
        severity_mae: if n == 0 { 0.0 } else { severity_abs / n as f64 },
        context_accuracy: ratio(context_correct, n64),
        examples: n64,
    }
}
