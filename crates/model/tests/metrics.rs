use cairn_model::{Encoded, Prediction, evaluate};

fn pred(attack: bool, family: usize, severity: f32, context: usize) -> Prediction {
    let mut family_logits = vec![0.0; 3];
    family_logits[family] = 1.0;
    let mut context_logits = vec![0.0; 2];
    context_logits[context] = 1.0;
    Prediction {
        binary_logits: if attack { [0.0, 1.0] } else { [1.0, 0.0] },
        family_logits,
        severity,
        context_logits,
    }
}

fn truth(label: u8, family: usize, severity: f32, context: usize) -> Encoded {
    Encoded {
        ids: vec![1],
        label,
        family,
        severity,
        context,
        weight: 1.0,
    }
}

#[test]
fn exact_values() {
    // truth: A A A B B  (A = attack), predictions: A A B A B
    let t = vec![
        truth(1, 1, 1.0, 0),
        truth(1, 2, 0.5, 1),
        truth(1, 1, 0.5, 0),
        truth(0, 0, 0.0, 1),
        truth(0, 0, 0.0, 0),
    ];
    let p = vec![
        pred(true, 1, 0.75, 0),
        pred(true, 1, 0.5, 1),
        pred(false, 0, 0.0, 0),
        pred(true, 2, 0.25, 0),
        pred(false, 0, 0.0, 0),
    ];
    let m = evaluate(&p, &t);
    assert_eq!(m.examples, 5);
    assert_eq!(m.binary_confusion, [[1, 1], [1, 2]]);
    assert_eq!(m.accuracy, 3.0 / 5.0);
    assert_eq!(m.precision, 2.0 / 3.0);
    assert_eq!(m.recall, 2.0 / 3.0);
    assert!((m.f1 - 2.0 / 3.0).abs() < 1e-12);
    assert_eq!(m.fpr, 0.5);
    assert_eq!(m.fnr, 1.0 / 3.0);
    assert_eq!(
        m.family_confusion,
        vec![vec![1, 0, 1], vec![1, 1, 0], vec![0, 1, 0]]
    );
    assert_eq!(m.family_accuracy, 2.0 / 5.0);
    assert_eq!(m.family_recall.get(&0), Some(&0.5));
    assert_eq!(m.family_recall.get(&1), Some(&0.5));
    assert_eq!(m.family_recall.get(&2), Some(&0.0));
    assert!((m.severity_mae - (0.25 + 0.0 + 0.5 + 0.25 + 0.0) / 5.0).abs() < 1e-12);
    assert_eq!(m.context_accuracy, 4.0 / 5.0);
}

#[test]
fn zero_denominators() {
    let m = evaluate(&[], &[]);
    assert_eq!(m.examples, 0);
    for v in [
        m.accuracy,
        m.precision,
        m.recall,
        m.f1,
        m.fpr,
        m.fnr,
        m.family_accuracy,
        m.severity_mae,
        m.context_accuracy,
    ] {
        assert_eq!(v, 0.0);
    }
    assert!(m.family_confusion.is_empty());
    assert!(m.family_recall.is_empty());

    // All benign, all predicted benign: no positives at all.
    let m = evaluate(&[pred(false, 0, 0.0, 0)], &[truth(0, 0, 0.0, 0)]);
    assert_eq!(m.accuracy, 1.0);
    assert_eq!((m.precision, m.recall, m.f1, m.fnr), (0.0, 0.0, 0.0, 0.0));
    assert_eq!(m.fpr, 0.0);
    // Only attacks: fpr has no negatives.
    let m = evaluate(&[pred(true, 1, 1.0, 1)], &[truth(1, 1, 1.0, 1)]);
    assert_eq!(
        (m.precision, m.recall, m.f1, m.fpr, m.fnr),
        (1.0, 1.0, 1.0, 0.0, 0.0)
    );
    assert_eq!(m.family_confusion.len(), 3);
    assert!(serde_json::to_string(&m).is_ok());
}

#[test]
fn prediction_helpers() {
    let p = Prediction {
        binary_logits: [0.0, 0.0],
        family_logits: vec![1.0, 3.0, 3.0],
        severity: 0.1,
        context_logits: vec![],
    };
    assert_eq!(p.attack_probability(), 0.5);
    assert!(!p.is_attack());
    assert_eq!(p.family(), 1);
    assert_eq!(p.context(), 0);
    let q = Prediction {
        binary_logits: [-50.0, 50.0],
        ..p
    };
    assert!(q.attack_probability() > 0.999 && q.is_attack());
}
