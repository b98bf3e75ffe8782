//! Evaluation metrics.

use std::collections::BTreeMap;

use crate::{Encoded, Metrics, Prediction};

fn ratio(num: u64, den: u64) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

/// Metrics of `predictions` against `truth` (paired by position; extra items of the longer
/// slice are ignored). Positive class = attack (label 1); a ratio with a zero denominator is
/// 0.0, never NaN.
pub fn evaluate(predictions: &[Prediction], truth: &[Encoded]) -> Metrics {
    let n = predictions.len().min(truth.len());
    let pairs = || predictions.iter().zip(truth.iter()).take(n);

    let mut confusion = [[0u64; 2]; 2];
    let families = pairs()
        .map(|(p, t)| p.family_logits.len().max(t.family + 1))
        .max()
        .unwrap_or(0);
    let mut family_confusion = vec![vec![0u64; families]; families];
    let mut severity_abs = 0.0f64;
    let mut context_correct = 0u64;
    for (p, t) in pairs() {
        let truth_label = usize::from(t.label >= 1);
        confusion[truth_label][usize::from(p.is_attack())] += 1;
        family_confusion[t.family][p.family()] += 1;
        severity_abs += (f64::from(p.severity) - f64::from(t.severity)).abs();
        context_correct += u64::from(p.context() == t.context);
    }
    let [[tn, fp], [fn_, tp]] = confusion;
    let precision = ratio(tp, tp + fp);
    let recall = ratio(tp, tp + fn_);
    let f1 = if precision + recall > 0.0 {
        2.0 * precision * recall / (precision + recall)
    } else {
        0.0
    };
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
        accuracy: ratio(tp + tn, n64),
        precision,
        recall,
        f1,
        fpr: ratio(fp, fp + tn),
        fnr: ratio(fn_, fn_ + tp),
        binary_confusion: confusion,
        family_accuracy: ratio(family_correct, n64),
        family_recall,
        family_confusion,
        severity_mae: if n == 0 { 0.0 } else { severity_abs / n as f64 },
        context_accuracy: ratio(context_correct, n64),
        examples: n64,
    }
}
