//! One conformance suite for every backend this build has (burn's habit): each architecture
//! trains on it, repeats within the backend's promised tolerance, agrees with burn-ndarray
//! on the same weights, and its weights reload. `cargo test -p cairn-model` runs it on
//! ndarray; `just test-wgpu` and `just test-tch` run it on those backends too.

mod common;

use cairn_model::{Backend, ModelConfig, Trained, predict, train, weight_deviation};
use common::*;

/// The largest |Δ| between the same weights' outputs on two backends that the suite accepts
/// (float32 sums in another order, over a handful of layers).
const CROSS_BACKEND: f64 = 1e-4;

fn models() -> [(&'static str, ModelConfig); 3] {
    [
        ("bag", bag()),
        ("transformer", transformer()),
        ("bert", tiny_bert()),
    ]
}

fn fit(model: &ModelConfig, backend: Backend, seed: u64) -> Trained {
    let mut cfg = train_config(seed, 3);
    cfg.backend = backend;
    train(model, &cfg, &synthetic(96, 11), &[], None, &mut |_| {}).expect("training")
}

fn max_output_deviation(a: &[cairn_model::Prediction], b: &[cairn_model::Prediction]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .flat_map(|(x, y)| {
            let pairs = x
                .binary_logits
                .iter()
                .zip(&y.binary_logits)
                .chain(x.family_logits.iter().zip(&y.family_logits))
                .chain(x.context_logits.iter().zip(&y.context_logits))
                .chain(std::iter::once((&x.severity, &y.severity)));
            pairs
                .map(|(p, q)| f64::from((p - q).abs()))
                .collect::<Vec<_>>()
        })
        .fold(0.0, f64::max)
}

#[test]
fn every_backend_trains_every_architecture() {
    for &backend in Backend::BUILT {
        for (name, model) in models() {
            let t = fit(&model, backend, 5);
            let losses: Vec<f64> = t.epochs.iter().map(|e| e.train_loss).collect();
            assert!(
                losses.iter().all(|l| l.is_finite()),
                "{} {name}: {losses:?}",
                backend.name()
            );
            assert!(
                losses[2] < losses[0],
                "{} {name}: the loss must fall over 3 epochs: {losses:?}",
                backend.name()
            );
        }
    }
}

#[test]
fn every_backend_repeats_within_its_promise() {
    for &backend in Backend::BUILT {
        for (name, model) in models() {
            let (a, b) = (fit(&model, backend, 9), fit(&model, backend, 9));
            let d = weight_deviation(&a.weights, &b.weights).expect("weights");
            match backend.tolerance() {
                None => assert!(
                    a.weights == b.weights,
                    "{} {name}: promised bit for bit, max |Δ| {d:e}",
                    backend.name()
                ),
                Some(t) => assert!(
                    d <= t,
                    "{} {name}: max |Δ| {d:e} over its tolerance {t:e}",
                    backend.name()
                ),
            }
            eprintln!(
                "{} {name}: two trainings, max weight |Δ| {d:e}",
                backend.name()
            );
            let c = fit(&model, backend, 10);
            assert!(
                a.weights != c.weights,
                "{} {name}: the seed must matter",
                backend.name()
            );
        }
    }
}

#[test]
fn every_backend_agrees_with_ndarray_on_the_same_weights() {
    let data = synthetic(40, 12);
    for (name, model) in models() {
        let trained = fit(&model, Backend::Ndarray, 3);
        let reference =
            predict(&model, Backend::Ndarray, &trained.weights, &ids(&data), 8).expect("ndarray");
        for &backend in Backend::BUILT {
            let p = predict(&model, backend, &trained.weights, &ids(&data), 8).expect("predict");
            let d = max_output_deviation(&reference, &p);
            eprintln!(
                "{} {name}: outputs max |Δ| against ndarray {d:e}",
                backend.name()
            );
            assert!(
                d <= CROSS_BACKEND,
                "{} {name}: outputs max |Δ| {d:e} against ndarray",
                backend.name()
            );
            // Batch size does not change what a backend predicts beyond the same bound.
            let one = predict(&model, backend, &trained.weights, &ids(&data), 1).expect("b=1");
            assert!(
                max_output_deviation(&p, &one) <= CROSS_BACKEND,
                "{} {name}",
                backend.name()
            );
        }
    }
}

#[test]
fn weights_trained_on_any_backend_reload_on_every_backend() {
    let data = synthetic(24, 13);
    for &trained_on in Backend::BUILT {
        for (name, model) in models() {
            let t = fit(&model, trained_on, 4);
            let bytes = cairn_model::Weights(t.weights.0.clone());
            for &backend in Backend::BUILT {
                let p = predict(&model, backend, &bytes, &ids(&data), 8).expect("predict");
                assert_eq!(p.len(), data.len(), "{name}");
                assert!(
                    p.iter().all(|x| x.attack_probability().is_finite()),
                    "{} → {} {name}",
                    trained_on.name(),
                    backend.name()
                );
            }
        }
    }
}
