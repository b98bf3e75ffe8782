mod common;

use cairn_model::{
    Architecture, Encoded, ModelError, Progress, Weights, evaluate, parameter_count, predict,
    safetensors, tensors, train,
};
use common::*;

fn fit(
    model: &cairn_model::ModelConfig,
    cfg: &cairn_model::TrainConfig,
    data: &[Encoded],
    init: Option<&Weights>,
) -> cairn_model::Trained {
    train(model, cfg, data, &[], init, &mut |_| {}).expect("training")
}

#[test]
fn training_is_deterministic_in_process() {
    let data = synthetic(120, 1);
    for model in [bag(), transformer()] {
        let cfg = train_config(42, 2);
        let a = fit(&model, &cfg, &data, None);
        let b = fit(&model, &cfg, &data, None);
        assert!(a.weights == b.weights, "{:?}", model.architecture);
        assert_eq!(a.epochs, b.epochs);
        let c = fit(&model, &train_config(43, 2), &data, None);
        assert!(a.weights != c.weights, "seed must matter");
    }
}

#[test]
fn thread_counts() {
    let data = synthetic(200, 2);
    for model in [bag(), transformer()] {
        let mut cfg = train_config(5, 2);
        cfg.threads = 1;
        let one = fit(&model, &cfg, &data, None);
        cfg.threads = 2;
        let two = fit(&model, &cfg, &data, None);
        let two_again = fit(&model, &cfg, &data, None);
        assert!(two.weights == two_again.weights);
        eprintln!(
            "{:?}: 1 vs 2 threads bit-identical: {}",
            model.architecture,
            one.weights == two.weights
        );
    }
}

fn accuracy_after_training(model: &cairn_model::ModelConfig, epochs: usize, n: usize) -> f64 {
    let data = synthetic(n, 3);
    let batches = n.div_ceil(16);
    let test = synthetic(200, 4);
    let mut progress = Vec::new();
    let trained = train(
        model,
        &train_config(7, epochs),
        &data,
        &test,
        None,
        &mut |p: Progress| progress.push(p),
    )
    .expect("training");
    assert_eq!(progress.len(), epochs * batches);
    let last = progress.last().expect("progress");
    assert_eq!(
        (last.epoch, last.epochs, last.batch, last.batches),
        (epochs, epochs, batches, batches)
    );
    assert_eq!(trained.epochs.len(), epochs);
    let first_loss = trained.epochs[0].train_loss;
    let last_loss = trained.epochs[epochs - 1].train_loss;
    assert!(last_loss < first_loss, "{first_loss} -> {last_loss}");
    let preds = predict(model, cfg_backend(), &trained.weights, &ids(&test), 32).expect("predict");
    assert_eq!(preds.len(), test.len());
    let m = evaluate(&preds, &test);
    let reported = trained.epochs[epochs - 1]
        .validation_accuracy
        .expect("validation accuracy");
    assert!(
        (reported - m.accuracy).abs() < 1e-9,
        "{reported} vs {}",
        m.accuracy
    );
    eprintln!(
        "{:?}: accuracy {:.3} family {:.3} context {:.3} severity_mae {:.3}",
        model.architecture, m.accuracy, m.family_accuracy, m.context_accuracy, m.severity_mae
    );
    m.accuracy
}

fn cfg_backend() -> cairn_model::Backend {
    cairn_model::Backend::Ndarray
}

#[test]
fn bag_learns() {
    let acc = accuracy_after_training(&bag(), 12, 1600);
    assert!(acc > 0.9, "accuracy {acc}");
}

#[test]
fn transformer_learns() {
    let acc = accuracy_after_training(&transformer(), 12, 400);
    assert!(acc > 0.9, "accuracy {acc}");
}

#[test]
fn weights_round_trip() {
    let data = synthetic(64, 5);
    for model in [bag(), transformer()] {
        let trained = fit(&model, &train_config(1, 1), &data, None);
        // 0 epochs from `init`: load into a burn model and serialize again.
        let again = fit(&model, &train_config(99, 0), &data, Some(&trained.weights));
        assert!(trained.weights == again.weights);
        // Predictions through a reloaded model are stable.
        let p1 = predict(&model, cfg_backend(), &trained.weights, &ids(&data), 7).expect("p1");
        let p2 = predict(&model, cfg_backend(), &again.weights, &ids(&data), 64).expect("p2");
        assert_eq!(p1.len(), p2.len());
        for (a, b) in p1.iter().zip(&p2) {
            assert!((a.attack_probability() - b.attack_probability()).abs() < 1e-5);
            assert_eq!(a.family(), b.family());
        }
    }
}

#[test]
fn fine_tuning_changes_weights_keeps_shapes() {
    let data = synthetic(100, 6);
    let model = bag();
    let base = fit(&model, &train_config(1, 1), &data, None);
    let tuned = fit(
        &model,
        &train_config(2, 1),
        &synthetic(50, 7),
        Some(&base.weights),
    );
    assert!(base.weights != tuned.weights);
    let a = tensors(&model, &base.weights).expect("tensors");
    let b = tensors(&model, &tuned.weights).expect("tensors");
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!((&x.0, &x.1), (&y.0, &y.1));
    }
    assert!(a.iter().zip(&b).any(|(x, y)| x.2 != y.2));
}

#[test]
fn incompatible_init_is_reported() {
    let data = synthetic(32, 8);
    let model = bag();
    let base = fit(&model, &train_config(1, 1), &data, None);

    let mut other = bag();
    other.architecture = Architecture::new(
        "bag",
        &[("embed_dim", 16), ("hidden", 32), ("buckets", 1024)],
    )
    .expect("architecture");
    other.families = 4;
    let err = train(
        &other,
        &train_config(1, 1),
        &data,
        &[],
        Some(&base.weights),
        &mut |_| {},
    )
    .expect_err("must fail");
    let msg = err.to_string();
    assert!(matches!(err, ModelError::Incompatible { .. }), "{msg}");
    assert!(
        msg.contains("buckets=512") && msg.contains("buckets=1024"),
        "{msg}"
    );
    assert!(msg.contains("families: weights 3, config 4"), "{msg}");

    let err = train(
        &transformer(),
        &train_config(1, 1),
        &data,
        &[],
        Some(&base.weights),
        &mut |_| {},
    )
    .expect_err("must fail");
    assert!(matches!(err, ModelError::Incompatible { .. }), "{err}");
    assert!(err.to_string().contains("transformer("), "{err}");

    let err = predict(&other, cfg_backend(), &base.weights, &ids(&data), 8).expect_err("must fail");
    assert!(matches!(err, ModelError::Incompatible { .. }), "{err}");

    let err = predict(
        &model,
        cfg_backend(),
        &Weights(vec![1, 2, 3]),
        &ids(&data),
        8,
    )
    .expect_err("must fail");
    assert!(matches!(err, ModelError::CorruptWeights(_)), "{err}");
    let mut truncated = base.weights.clone();
    truncated.0.pop();
    let err = tensors(&model, &truncated).expect_err("must fail");
    assert!(matches!(err, ModelError::CorruptWeights(_)), "{err}");
}

#[test]
fn invalid_inputs_are_errors() {
    let model = bag();
    let mut data = synthetic(10, 9);
    let mut cfg = train_config(1, 1);
    cfg.threads = 0;
    assert!(matches!(
        train(&model, &cfg, &data, &[], None, &mut |_| {}),
        Err(ModelError::InvalidTrainConfig(_))
    ));
    data[3].family = 3;
    let err =
        train(&model, &train_config(1, 1), &data, &[], None, &mut |_| {}).expect_err("family");
    assert!(matches!(err, ModelError::InvalidInput(_)), "{err}");
    assert!(err.to_string().contains("example 3"), "{err}");
    let mut t = transformer();
    t.architecture = Architecture::new(
        "transformer",
        &[("d_model", 10), ("heads", 3), ("layers", 1), ("d_ff", 8)],
    )
    .expect("architecture");
    assert!(matches!(
        train(&t, &train_config(1, 1), &[], &[], None, &mut |_| {}),
        Err(ModelError::InvalidConfig(_))
    ));
    let trained = fit(&transformer(), &train_config(1, 0), &[], None);
    let err = predict(
        &transformer(),
        cfg_backend(),
        &trained.weights,
        &[vec![1, 64]],
        4,
    )
    .expect_err("vocab");
    assert!(matches!(err, ModelError::InvalidInput(_)), "{err}");
    // Empty sequences are fine.
    let p = predict(
        &transformer(),
        cfg_backend(),
        &trained.weights,
        &[vec![], vec![3]],
        4,
    )
    .expect("empty ok");
    assert_eq!(p.len(), 2);
    let p = predict(
        &bag(),
        cfg_backend(),
        &fit(&bag(), &train_config(1, 0), &[], None).weights,
        &[vec![]],
        4,
    )
    .expect("empty ok");
    assert!(p[0].severity.is_finite());
}

#[test]
fn tensors_and_safetensors() {
    let data = synthetic(32, 10);
    for model in [bag(), transformer()] {
        let trained = fit(&model, &train_config(3, 1), &data, None);
        let t1 = tensors(&model, &trained.weights).expect("tensors");
        let t2 = tensors(&model, &trained.weights).expect("tensors");
        assert_eq!(t1, t2);
        let total: usize = t1.iter().map(|t| t.2.len()).sum();
        assert_eq!(total, parameter_count(&model));
        for (name, shape, values) in &t1 {
            assert_eq!(shape.iter().product::<usize>(), values.len(), "{name}");
        }
        let names: Vec<&str> = t1.iter().map(|t| t.0.as_str()).collect();
        let tail = [
            "binary.weight",
            "binary.bias",
            "family.weight",
            "family.bias",
            "severity.weight",
            "severity.bias",
            "context.weight",
            "context.bias",
        ];
        assert_eq!(&names[names.len() - 8..], &tail);
        match model.architecture.kind() {
            "bag" => {
                assert_eq!(
                    &names[..3],
                    &["bag.embedding", "bag.trunk.weight", "bag.trunk.bias"]
                );
                assert_eq!(t1[0].1, vec![512, 16]);
                assert_eq!(t1[1].1, vec![16, 32]);
                assert_eq!(t1[3].1, vec![32, 2]);
            }
            "transformer" => {
                assert_eq!(
                    &names[..2],
                    &[
                        "transformer.token_embedding",
                        "transformer.position_embedding"
                    ]
                );
                assert!(
                    names.contains(&"transformer.encoder.layers.0.mha.query.weight"),
                    "{names:?}"
                );
                assert!(names.contains(&"transformer.norm.gamma"), "{names:?}");
            }
            other => panic!("no test for the {other} architecture"),
        }

        let bytes = safetensors(&model, &trained.weights).expect("safetensors");
        assert_eq!(bytes, safetensors(&model, &trained.weights).expect("again"));
        let st = ::safetensors::SafeTensors::deserialize(&bytes).expect("parse");
        assert_eq!(st.len(), t1.len());
        for (name, shape, values) in &t1 {
            let view = st.tensor(name).expect(name);
            assert_eq!(view.dtype(), ::safetensors::Dtype::F32);
            assert_eq!(view.shape(), shape.as_slice());
            let got: Vec<f32> = view
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            assert_eq!(&got, values);
        }
        let (_, meta) = ::safetensors::SafeTensors::read_metadata(&bytes).expect("meta");
        let cfg = meta
            .metadata()
            .as_ref()
            .and_then(|m| m.get("cairn_model_config"))
            .expect("config metadata");
        let back: cairn_model::ModelConfig = serde_json::from_str(cfg).expect("json");
        assert_eq!(back, model);
    }
}

#[test]
fn config_serde_shape() {
    let json = serde_json::to_string(&bag().architecture).expect("json");
    assert_eq!(
        json,
        r#"{"kind":"bag","embed_dim":16,"hidden":32,"buckets":512}"#
    );
    let backend = serde_json::to_string(&cairn_model::Backend::Ndarray).expect("json");
    assert_eq!(backend, r#""ndarray""#);
    assert!(
        serde_json::from_str::<Architecture>(
            r#"{"kind":"bag","embed_dim":1,"hidden":1,"buckets":1,"x":1}"#
        )
        .is_err()
    );
    for bad in [
        r#"{"kind":"lstm","embed_dim":1,"hidden":1,"buckets":1}"#,
        r#"{"kind":"bag","embed_dim":1,"hidden":1}"#,
        r#"{"kind":"bag","embed_dim":1,"hidden":1,"buckets":1,"heads":1}"#,
        r#"{"embed_dim":1,"hidden":1,"buckets":1}"#,
    ] {
        assert!(serde_json::from_str::<Architecture>(bad).is_err(), "{bad}");
    }
    let t = serde_json::from_str::<Architecture>(
        r#"{"heads":2,"kind":"transformer","d_ff":8,"layers":1,"d_model":4}"#,
    )
    .expect("any key order");
    assert_eq!(
        serde_json::to_string(&t).expect("json"),
        r#"{"kind":"transformer","d_model":4,"heads":2,"layers":1,"d_ff":8}"#
    );
    assert_eq!(
        t.describe(),
        "transformer(d_model=4, heads=2, layers=1, d_ff=8)"
    );
}

/// Whatever the registry holds: defaults build, train, reload, and count their parameters.
#[test]
fn every_registered_architecture_trains_and_reloads() {
    let data = synthetic(24, 21);
    for def in cairn_model::arch::registry() {
        let mut model = bag();
        model.architecture = Architecture::with_defaults(def.name()).expect("defaults");
        assert_eq!(model.architecture.kind(), def.name());
        assert_eq!(
            model.architecture.sizes().count(),
            def.sizes().len(),
            "{}",
            def.name()
        );
        let trained = fit(&model, &train_config(3, 1), &data, None);
        let t = tensors(&model, &trained.weights).expect("tensors");
        let count: usize = t.iter().map(|(_, _, v)| v.len()).sum();
        assert_eq!(parameter_count(&model), count, "{}", def.name());
        assert!(
            t.iter()
                .take(1)
                .all(|(name, _, _)| name.starts_with(&format!("{}.", def.name()))),
            "encoder parameters are named after the architecture"
        );
        let p = predict(&model, cfg_backend(), &trained.weights, &ids(&data), 8).expect("predict");
        assert_eq!(p.len(), data.len());
        let err = cairn_model::train_from(
            &model,
            &train_config(3, 1),
            &data,
            &[],
            cairn_model::Init::Pretrained(b"not a checkpoint"),
            &mut |_| {},
        )
        .expect_err("not a checkpoint");
        assert!(
            err.to_string().contains("takes no pretrained weights")
                || err.to_string().contains("not a safetensors file"),
            "{err}"
        );
    }
}
