//! The core entry point through the public library API: a recipe built from store objects
//! only (no file anywhere), with a cause, run by `run_recipe`.

use std::path::Path;

use cairn_pipeline::{ErrorKind, Event, RunOptions, RunStatus, Stage, run_recipe};
use cairn_spec::{Cause, CauseKind, InputSource, RecipeBuilder};
use cairn_store::Store;

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/run")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn builder(store: &Store) -> RecipeBuilder {
    let train = store.put_bytes(&fixture("train.jsonl")).expect("put").id;
    let test = store.put_bytes(&fixture("test.jsonl")).expect("put").id;
    let failures = store
        .put_bytes(&fixture("additions.jsonl"))
        .expect("put")
        .id;
    let mut b = RecipeBuilder::new("tiny", "2.0.0");
    b.base = vec![InputSource::object(train, "base/train.jsonl")];
    b.additions = vec![InputSource::object(failures, "redteam/failures.jsonl")];
    b.test = Some(InputSource::object(test, "test.jsonl"));
    b.cause = Some(Cause {
        kind: CauseKind::Redteam,
        object: Some(failures),
        note: "retrain on this model's own failures".into(),
    });
    let s = &mut b.settings;
    s.tokenizer.vocab_size = 400;
    s.tokenizer.max_length = 32;
    s.model.sizes = [("embed_dim", 16), ("hidden", 32), ("buckets", 4096)]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    s.train.seed = 7;
    s.train.epochs = 1;
    s.train.batch_size = 32;
    s.export.onnx = false;
    b
}

#[test]
fn a_recipe_built_from_objects_runs_with_no_input_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open_or_init(dir.path().join("store")).expect("store");
    let b = builder(&store);
    let recipe = cairn_pipeline::build_recipe(&store, &b, "test").expect("build");
    assert_eq!(recipe.data.base[0].name, "base/train.jsonl");
    assert_eq!(recipe.model.sizes.get("embed_dim"), Some(&16));
    assert_eq!(recipe.model.sizes.len(), 3, "the bag's sizes, nothing else");
    assert_eq!(
        recipe.cause.as_ref().map(|c| c.kind.as_str()),
        Some("redteam")
    );
    // The same settings and objects give the same recipe hash.
    let again = cairn_pipeline::build_recipe(&store, &builder(&store), "test").expect("build");
    assert_eq!(recipe.id().expect("id"), again.id().expect("id"));

    let mut stages = Vec::new();
    let mut registered = None;
    let result = run_recipe(
        &store,
        &recipe,
        RunOptions::default(),
        "test",
        &mut |e| match e {
            Event::Stage(stage, _) => stages.push(stage),
            Event::Registered { reference, run } => registered = Some((reference, run)),
            _ => {}
        },
    )
    .expect("run");
    assert_eq!(result.status, RunStatus::Registered);
    assert_eq!(result.reference.as_str(), "tiny@2.0.0");
    assert_eq!(
        stages,
        [
            Stage::Merge,
            Stage::Tokenizer,
            Stage::Encode,
            Stage::Train,
            Stage::Evaluate,
            Stage::Register
        ]
    );
    // Stage names line up in progress output like the words they replaced.
    assert_eq!(
        format!("{:>9}|{:<6}|", Stage::Merge, Stage::Gate),
        "    merge|gate  |"
    );
    assert_eq!(
        registered,
        Some(("tiny@2.0.0".to_string(), result.run)),
        "a subscriber is told which run was registered"
    );
    let stored: cairn_spec::Recipe = store.get_manifest(&result.recipe).expect("recipe");
    assert_eq!(
        stored.cause, recipe.cause,
        "the cause is part of the recipe"
    );
    assert_eq!(result.recipe, recipe.id().expect("id"));
}

#[test]
fn bad_settings_and_missing_objects_are_errors_before_any_work() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open_or_init(dir.path().join("store")).expect("store");
    let mut b = builder(&store);
    b.settings.train.epochs = 0;
    let err = cairn_pipeline::build_recipe(&store, &b, "test").expect_err("epochs 0");
    assert!(
        err.to_string().contains("epochs 0 must be in [1, 100000]"),
        "{err}"
    );

    let mut b = builder(&store);
    b.settings.model.sizes.insert("d_model".into(), 8);
    let err = cairn_pipeline::build_recipe(&store, &b, "test").expect_err("a transformer key");
    assert!(
        err.to_string()
            .contains("`d_model` does not apply to the bag architecture"),
        "{err}"
    );

    let mut b = builder(&store);
    b.test = Some(InputSource::object(
        cairn_store::ObjectId::of(b"not stored"),
        "test.jsonl",
    ));
    let err = cairn_pipeline::build_recipe(&store, &b, "test").expect_err("missing object");
    assert!(err.to_string().contains("not in the store"), "{err}");

    // A parent version that does not exist is "not found" for a caller that acts on kinds.
    let err = cairn_pipeline::LoadedModel::load(&store, "tiny@9.9.9")
        .err()
        .expect("no such version");
    assert_eq!(err.kind(), ErrorKind::NotFound);
}

#[test]
fn derived_recipes_change_only_what_the_derivation_names() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open_or_init(dir.path().join("store")).expect("store");
    let parent = cairn_pipeline::build_recipe(&store, &builder(&store), "test").expect("build");
    let how = cairn_spec::Derivation {
        version: "2.0.1".into(),
        additions: Vec::new(),
        description: "derived".into(),
        changes: vec!["three epochs".into()],
        cause: Cause {
            kind: CauseKind::Redteam,
            object: None,
            note: "a test".into(),
        },
        overrides: cairn_spec::Overrides {
            epochs: Some(3),
            ..Default::default()
        },
    };
    let parent_ref = cairn_spec::VersionRef {
        name: "tiny@2.0.0".into(),
        run: cairn_store::ObjectId::of(b"the parent's run"),
    };
    let tuned = parent.fine_tune(parent_ref.clone(), how.clone(), "next");
    assert_eq!(tuned.model.parent, Some(parent_ref));
    assert_eq!((tuned.version.as_str(), tuned.train.epochs), ("2.0.1", 3));
    assert_eq!(tuned.train.learning_rate, parent.train.learning_rate);
    assert_eq!(tuned.data.base, parent.data.base);
    assert!(tuned.data.additions.is_empty());
    assert_eq!(tuned.environment.cairn_version, "next");
    assert_eq!(tuned.cause, Some(how.cause.clone()));
    assert_ne!(tuned.id().expect("id"), parent.id().expect("id"));
    // A retrain is the same derivation without a parent.
    let retrained = parent.retrain(how, "next");
    let mut expected = tuned;
    expected.model.parent = None;
    assert_eq!(retrained, expected);
}
