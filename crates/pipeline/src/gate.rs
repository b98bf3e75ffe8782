//! The regression gate inside a run: the baseline (the parent, or `[regression] baseline`)
//! and the candidate are both run on the test set and the extra regression sets, and
//! `cairn-report` compares them example by example.

use cairn_data::{DatasetRow, Taxonomy};
use cairn_model::{ModelConfig, Prediction, TrainConfig, Weights};
use cairn_report::{Outcome, Report, Scored, Thresholds};
use cairn_spec::{Recipe, RunManifest};
use cairn_store::{ObjectId, Store, canonical};
use cairn_tokenize::CairnTokenizer;

use crate::error::PipelineError;
use crate::event::{Event, Stage};
use crate::loaded::LoadedModel;

/// The model a run just trained.
pub(crate) struct Candidate<'a> {
    pub model: &'a ModelConfig,
    pub config: &'a TrainConfig,
    pub weights: &'a Weights,
    pub tokenizer: &'a CairnTokenizer,
    pub tokenizer_id: ObjectId,
    /// The candidate's operating point.
    pub threshold: Option<f64>,
}

/// The gate stage: the candidate against the baseline (`[regression] baseline`, else the
/// parent) on the test rows plus the extra regression sets; a first version is compared
/// with itself (accepted with a note).
pub(crate) fn gate(
    store: &Store,
    recipe: &Recipe,
    name: &str,
    candidate: Candidate<'_>,
    (test, test_ids, test_predictions): (&[DatasetRow], &[Vec<u32>], &[Prediction]),
    taxonomy: &Taxonomy,
    events: &mut dyn FnMut(Event),
) -> Result<Report, PipelineError> {
    let mut rows = test.to_vec();
    let mut after = test_predictions.to_vec();
    let mut gate_ids = test_ids.to_vec();
    for set in &recipe.regression.extra_sets {
        let extra =
            crate::stages::data::test_rows(store, set, taxonomy, recipe.data.max_text_chars)?;
        let texts: Vec<&str> = extra.iter().map(|r| r.example.text.as_str()).collect();
        let ids = candidate.tokenizer.encode_all(&texts)?;
        gate_ids.extend(ids.iter().cloned());
        after.extend(cairn_model::predict(
            candidate.model,
            candidate.config.backend,
            candidate.weights,
            &ids,
            256,
        )?);
        rows.extend(extra);
    }
    let backend = &recipe.train.backend;
    let baseline = recipe
        .regression
        .baseline
        .as_ref()
        .or(recipe.model.parent.as_ref());
    let Some(baseline) = baseline else {
        return Ok(cairn_report::compare(
            None,
            name,
            backend,
            &outcomes(
                &rows,
                (&after, candidate.threshold),
                (&after, candidate.threshold),
            ),
            thresholds(recipe),
        ));
    };
    events(Event::Stage(
        Stage::Gate,
        format!(
            "{name} against {} on {} examples",
            baseline.name,
            rows.len()
        ),
    ));
    let run: RunManifest = store.get_manifest(&baseline.run)?;
    let baseline_model = LoadedModel::of_run(store, baseline.run, run)?;
    // A fine-tune shares its parent's tokenizer: the ids are already known.
    let before = if baseline_model.run.outputs.tokenizer == candidate.tokenizer_id {
        baseline_model.predict_ids(&gate_ids)?
    } else {
        baseline_model.predict(&rows)?
    };
    Ok(cairn_report::compare(
        Some(&baseline.name),
        name,
        backend,
        &outcomes(
            &rows,
            (&before, baseline_model.run.threshold),
            (&after, candidate.threshold),
        ),
        thresholds(recipe),
    ))
}

pub(crate) fn scored(p: &Prediction, threshold: Option<f64>) -> Scored {
    // Scores are rounded so the stored report does not depend on the last bits of a float.
    Scored {
        attack: p.is_attack_at(threshold.map(|t| t as f32)),
        score: (f64::from(p.attack_probability()) * 1e6).round() / 1e6,
    }
}

/// Pairs rows with both models' predictions.
pub(crate) fn outcomes(
    rows: &[DatasetRow],
    (baseline, baseline_threshold): (&[Prediction], Option<f64>),
    (candidate, candidate_threshold): (&[Prediction], Option<f64>),
) -> Vec<Outcome> {
    rows.iter()
        .zip(baseline.iter().zip(candidate))
        .map(|(r, (b, c))| Outcome {
            text: r.example.text.clone(),
            label: r.example.label,
            family: r.example.family.clone(),
            source: r.example.source.clone(),
            baseline: scored(b, baseline_threshold),
            candidate: scored(c, candidate_threshold),
        })
        .collect()
}

/// The stored forms of a report: canonical JSON and Markdown objects.
pub(crate) fn store_report(
    store: &Store,
    report: &Report,
) -> Result<(ObjectId, ObjectId), PipelineError> {
    let json = store
        .put_bytes(&canonical::to_vec(report).map_err(cairn_store::StoreError::from)?)?
        .id;
    let markdown = store
        .put_bytes(cairn_report::markdown(report).as_bytes())?
        .id;
    Ok((json, markdown))
}

pub(crate) fn thresholds(recipe: &Recipe) -> Thresholds {
    Thresholds {
        reject_rate: recipe.regression.reject_rate,
        caution_rate: recipe.regression.caution_rate,
    }
}
