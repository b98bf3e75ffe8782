//! `cairn-metrics`: the detector's binary metrics, computed in one place.
//!
//! The positive class is "attack" (label 1). Every ratio with a zero denominator is 0.0,
//! never NaN, so a metric can always be stored, compared and printed. Training evaluation
//! (`cairn-model`) and the regression report (`cairn-report`) both count into a
//! [`Confusion`] and read their numbers from it; this crate depends on nothing else.
//! [`Verdict`] is what a detector says of one text, wherever it says it (scan, eval,
//! red-team, the server).

mod verdict;

use serde::{Deserialize, Serialize};

pub use verdict::Verdict;

/// `num / den`, or 0.0 when `den` is 0.
pub fn ratio(num: u64, den: u64) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

/// Counts of a binary decision against the truth.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confusion {
    pub true_positives: u64,
    pub false_positives: u64,
    pub true_negatives: u64,
    pub false_negatives: u64,
}

impl Confusion {
    /// Counts one example: was it an attack, and was it flagged as one.
    pub fn add(&mut self, attack: bool, flagged: bool) {
        match (attack, flagged) {
            (true, true) => self.true_positives += 1,
            (false, true) => self.false_positives += 1,
            (false, false) => self.true_negatives += 1,
            (true, false) => self.false_negatives += 1,
        }
    }

    /// Counts every `(attack, flagged)` pair.
    pub fn of(pairs: impl IntoIterator<Item = (bool, bool)>) -> Self {
        let mut c = Self::default();
        for (attack, flagged) in pairs {
            c.add(attack, flagged);
        }
        c
    }

    /// Adds another count (of another window, version or shard) to this one.
    pub fn merge(&mut self, other: &Confusion) {
        self.true_positives += other.true_positives;
        self.false_positives += other.false_positives;
        self.true_negatives += other.true_negatives;
        self.false_negatives += other.false_negatives;
    }

    pub fn examples(&self) -> u64 {
        self.true_positives + self.false_positives + self.true_negatives + self.false_negatives
    }

    /// `[true label][predicted label]`, label 1 = attack.
    pub fn matrix(&self) -> [[u64; 2]; 2] {
        [
            [self.true_negatives, self.false_positives],
            [self.false_negatives, self.true_positives],
        ]
    }

    /// The ratios.
    pub fn binary(&self) -> Binary {
        let (tp, fp, tn, fn_) = (
            self.true_positives,
            self.false_positives,
            self.true_negatives,
            self.false_negatives,
        );
        let precision = ratio(tp, tp + fp);
        let recall = ratio(tp, tp + fn_);
        let f1 = if precision + recall > 0.0 {
            2.0 * precision * recall / (precision + recall)
        } else {
            0.0
        };
        Binary {
            accuracy: ratio(tp + tn, self.examples()),
            precision,
            recall,
            f1,
            fpr: ratio(fp, fp + tn),
            fnr: ratio(fn_, fn_ + tp),
        }
    }
}

impl std::ops::AddAssign for Confusion {
    fn add_assign(&mut self, other: Confusion) {
        self.merge(&other);
    }
}

impl std::ops::Add for Confusion {
    type Output = Confusion;
    fn add(mut self, other: Confusion) -> Confusion {
        self.merge(&other);
        self
    }
}

impl std::iter::Sum for Confusion {
    fn sum<I: Iterator<Item = Confusion>>(iter: I) -> Confusion {
        iter.fold(Confusion::default(), |a, b| a + b)
    }
}

/// Binary metrics of one model on one set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Binary {
    pub accuracy: f64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Benign examples flagged, of all benign examples.
    pub fpr: f64,
    /// Attacks missed, of all attacks.
    pub fnr: f64,
}

impl Binary {
    /// The ratios by name, in a fixed order.
    pub fn named(&self) -> [(&'static str, f64); 6] {
        [
            ("accuracy", self.accuracy),
            ("precision", self.precision),
            ("recall", self.recall),
            ("f1", self.f1),
            ("fpr", self.fpr),
            ("fnr", self.fnr),
        ]
    }
}

/// The area under the ROC curve of attack scores: the probability that a random attack
/// scores above a random benign example (ties count half), computed from ranks in
/// O(n log n). `None` when either class is missing.
pub fn roc_auc(scored: &[(f64, bool)]) -> Option<f64> {
    let positives = scored.iter().filter(|(_, attack)| *attack).count();
    let negatives = scored.len() - positives;
    if positives == 0 || negatives == 0 {
        return None;
    }
    let mut sorted: Vec<(f64, bool)> = scored.to_vec();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Sum of the (1-based, tie-averaged) ranks of the positives.
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < sorted.len() {
        let mut j = i;
        while j < sorted.len() && sorted[j].0 == sorted[i].0 {
            j += 1;
        }
        let average_rank = (i + 1 + j) as f64 / 2.0;
        rank_sum += average_rank * sorted[i..j].iter().filter(|(_, a)| *a).count() as f64;
        i = j;
    }
    let (p, n) = (positives as f64, negatives as f64);
    Some((rank_sum - p * (p + 1.0) / 2.0) / (p * n))
}

/// The ROC curve's recall where it still keeps false positives at or below `max_fpr`: the
/// share of attacks flagged by the lowest score cut (flag when the score is at least the
/// cut, ties all in or all out) that flags at most `max_fpr` of the benign rows. It is the
/// ranking's own figure, read off this data, so two models with different calibrations
/// compare at the same false-positive budget. `None` when either class is missing.
pub fn recall_at_fpr(scored: &[(f64, bool)], max_fpr: f64) -> Option<f64> {
    let positives = scored.iter().filter(|(_, attack)| *attack).count();
    let negatives = scored.len() - positives;
    if positives == 0 || negatives == 0 {
        return None;
    }
    let mut sorted: Vec<(f64, bool)> = scored.to_vec();
    sorted.sort_by(|a, b| b.0.total_cmp(&a.0));
    let (mut tp, mut fp, mut best) = (0usize, 0usize, 0usize);
    let mut i = 0;
    while i < sorted.len() {
        let mut j = i;
        while j < sorted.len() && sorted[j].0 == sorted[i].0 {
            j += 1;
        }
        let attacks = sorted[i..j].iter().filter(|(_, a)| *a).count();
        tp += attacks;
        fp += (j - i) - attacks;
        if fp as f64 > max_fpr * negatives as f64 {
            break;
        }
        best = tp;
        i = j;
    }
    Some(best as f64 / positives as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recall_at_a_false_positive_budget() {
        let s = [
            (0.9, true),
            (0.8, false),
            (0.7, true),
            (0.6, true),
            (0.1, false),
        ];
        assert_eq!(recall_at_fpr(&s, 0.0), Some(1.0 / 3.0));
        assert_eq!(recall_at_fpr(&s, 0.5), Some(1.0));
        // A tie of a benign row with an attack is taken whole or not at all.
        let tie = [(0.9, true), (0.5, true), (0.5, false), (0.1, false)];
        assert_eq!(recall_at_fpr(&tie, 0.0), Some(0.5));
        assert_eq!(recall_at_fpr(&[(0.5, true)], 0.05), None);
    }

    #[test]
    fn roc_auc_from_ranks() {
        // Perfect, inverted, all tied, one class only.
        assert_eq!(roc_auc(&[(0.9, true), (0.1, false)]), Some(1.0));
        assert_eq!(roc_auc(&[(0.1, true), (0.9, false)]), Some(0.0));
        assert_eq!(roc_auc(&[(0.5, true), (0.5, false)]), Some(0.5));
        assert_eq!(roc_auc(&[(0.5, true)]), None);
        // 2 attacks, 2 benign: pairs (a>b): 0.8>0.3, 0.8>0.6, 0.4>0.3, 0.4<0.6 → 3/4.
        let s = [(0.8, true), (0.4, true), (0.3, false), (0.6, false)];
        assert_eq!(roc_auc(&s), Some(0.75));
        // Brute force over pairs agrees on a tie-heavy set.
        let s: Vec<(f64, bool)> = (0..40)
            .map(|i| (f64::from((i * 7) % 5), i % 3 == 0))
            .collect();
        let mut wins = 0.0;
        let mut pairs = 0.0;
        for (a, pa) in &s {
            for (b, pb) in &s {
                if *pa && !*pb {
                    pairs += 1.0;
                    wins += if a > b {
                        1.0
                    } else if a == b {
                        0.5
                    } else {
                        0.0
                    };
                }
            }
        }
        let auc = roc_auc(&s).unwrap_or(f64::NAN);
        assert!(
            (auc - wins / pairs).abs() < 1e-12,
            "{auc} vs {}",
            wins / pairs
        );
    }

    #[test]
    fn ratios_from_counts() {
        // 3 attacks (2 caught), 5 benign (1 flagged).
        let c = Confusion::of([
            (true, true),
            (true, true),
            (true, false),
            (false, true),
            (false, false),
            (false, false),
            (false, false),
            (false, false),
        ]);
        assert_eq!(c.matrix(), [[4, 1], [1, 2]]);
        let b = c.binary();
        assert_eq!(b.accuracy, 6.0 / 8.0);
        assert_eq!(b.precision, 2.0 / 3.0);
        assert_eq!(b.recall, 2.0 / 3.0);
        assert!((b.f1 - 2.0 / 3.0).abs() < 1e-15);
        assert_eq!(b.fpr, 1.0 / 5.0);
        assert_eq!(b.fnr, 1.0 / 3.0);
    }

    #[test]
    fn empty_denominators_are_zero_not_nan() {
        assert_eq!(Confusion::default().binary(), Binary::default());
        let only_benign = Confusion::of([(false, false)]).binary();
        assert_eq!(
            (only_benign.precision, only_benign.recall, only_benign.f1),
            (0.0, 0.0, 0.0)
        );
        assert_eq!(only_benign.accuracy, 1.0);
    }
}
