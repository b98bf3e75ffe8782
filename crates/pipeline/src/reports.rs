//! Reports of registered versions: `cairn regress` (a regression report between any two
//! versions), the HTML page of a version and its stored Markdown report.

use std::path::Path;

use cairn_spec::RunManifest;
use cairn_store::Store;

use crate::error::PipelineError;
use crate::gate::{outcomes, thresholds};
use crate::loaded::LoadedModel;
use crate::stages::data::test_rows;
use crate::versions::load_run;

/// `cairn regress`: the regression report of `candidate` against `baseline` on the
/// candidate's test set (or `test`), with the candidate's thresholds.
pub fn regress(
    store: &Store,
    baseline: &str,
    candidate: &str,
    test: Option<&Path>,
) -> Result<cairn_report::Report, PipelineError> {
    let base = LoadedModel::load(store, baseline)?;
    let cand = LoadedModel::load(store, candidate)?;
    let (recipe, taxonomy) = (&cand.recipe, &cand.taxonomy);
    let rows = match test {
        Some(path) => {
            let loaded =
                cairn_data::DatasetSource::Path(path.to_path_buf()).load(None, taxonomy)?;
            loaded.rows
        }
        None => test_rows(
            store,
            &recipe.data.test,
            taxonomy,
            recipe.data.max_text_chars,
        )?,
    };
    let before = base.predict(&rows)?;
    let after = cand.predict(&rows)?;
    let outcomes = outcomes(
        &rows,
        (&before, base.run.threshold),
        (&after, cand.run.threshold),
    );
    Ok(cairn_report::compare(
        Some(baseline),
        &cand.version,
        &cand.evaluated_on(),
        &outcomes,
        thresholds(recipe),
    ))
}

/// A run's training curve as the report draws it: per step, and per epoch.
fn curve_of(run: &RunManifest) -> (Vec<cairn_report::StepPoint>, Vec<cairn_report::EpochPoint>) {
    let steps = run
        .steps
        .iter()
        .map(|s| cairn_report::StepPoint {
            step: s.step,
            epoch: s.epoch,
            loss: s.loss,
        })
        .collect();
    let epochs = run
        .epochs
        .iter()
        .map(|e| cairn_report::EpochPoint {
            epoch: e.epoch,
            train_loss: e.train_loss,
            validation_loss: e.validation_loss,
            validation_accuracy: e.validation_accuracy,
        })
        .collect();
    (steps, epochs)
}

/// The evaluation document a run stored: metrics plus the family names.
#[derive(serde::Deserialize)]
struct EvaluationDoc {
    metrics: cairn_model::Metrics,
    families: Vec<String>,
}

fn evaluation(store: &Store, run: &RunManifest) -> Result<EvaluationDoc, PipelineError> {
    let bytes = store.read(&run.outputs.evaluation)?;
    serde_json::from_slice(&bytes)
        .map_err(|e| PipelineError::io(&store.object_path(&run.outputs.evaluation), e.into()))
}

/// `cairn report --html`: one self-contained page for a registered version.
pub fn html_report(
    store: &Store,
    reference: &str,
    compare: Option<&str>,
) -> Result<String, PipelineError> {
    let (name, run, manifest) = load_run(store, reference)?;
    let compare = match compare {
        Some(other) => {
            let (other_name, _, other_run) = load_run(store, other)?;
            let (steps, epochs) = curve_of(&other_run);
            Some(cairn_report::ComparedCurve {
                version: other_name.to_string(),
                steps,
                epochs,
            })
        }
        None => None,
    };
    let (steps, epochs) = curve_of(&manifest);
    let eval = evaluation(store, &manifest)?;
    let baseline = match manifest.parent {
        Some(parent) => Some(evaluation(
            store,
            &store.get_manifest::<RunManifest>(&parent)?,
        )?),
        None => None,
    };
    let report: Option<cairn_report::Report> = match manifest.outputs.report {
        Some(id) => Some(
            serde_json::from_slice(&store.read(&id)?)
                .map_err(|e| PipelineError::io(&store.object_path(&id), e.into()))?,
        ),
        None => None,
    };
    let family_recall = eval
        .families
        .iter()
        .enumerate()
        .filter_map(|(i, family)| {
            eval.metrics
                .family_recall
                .get(&i)
                .map(|&candidate| cairn_report::FamilyRecall {
                    family: family.clone(),
                    candidate,
                    baseline: baseline
                        .as_ref()
                        .and_then(|b| b.metrics.family_recall.get(&i).copied()),
                })
        })
        .collect();
    let input = cairn_report::HtmlInput {
        title: format!("{name}"),
        subtitle: format!(
            "run {run} · {} · {} on {}, {} thread(s) · started {}",
            manifest.mode,
            manifest.environment.backend,
            manifest.environment.device,
            manifest.environment.threads,
            manifest.started
        ),
        metrics: manifest
            .metrics
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect(),
        epochs,
        steps,
        compare,
        family_recall,
        confusion: eval.metrics.binary_confusion,
        report: report.as_ref(),
        backends: cairn_spec::BackendSnapshot::of_run(store, &run)?.map(|(_, s)| {
            let caption = format!(
                "{} test rows at threshold {}, trained on {}; |Δ| and flips against {}",
                s.examples, s.threshold, s.trained_on, s.reference
            );
            let rows = s
                .rows
                .into_iter()
                .map(|row| {
                    let metric = |k: &str| row.metrics.get(k).copied().unwrap_or(0.0);
                    cairn_report::BackendLine {
                        figures: row.available.then(|| cairn_report::BackendFigures {
                            f1: metric("f1"),
                            fpr: metric("fpr"),
                            fnr: metric("fnr"),
                            max_deviation: row.max_deviation(),
                            flips: row.flips.unwrap_or(0),
                        }),
                        backend: row.backend,
                        note: row.note,
                    }
                })
                .collect();
            (caption, rows)
        }),
    };
    cairn_report::html(&input).map_err(|e| {
        PipelineError::io(
            Path::new("report.html"),
            std::io::Error::other(e.to_string()),
        )
    })
}

/// The stored Markdown regression report of a version.
pub fn markdown_report(store: &Store, reference: &str) -> Result<String, PipelineError> {
    let (_, _, manifest) = load_run(store, reference)?;
    let id = manifest
        .outputs
        .report_markdown
        .ok_or_else(|| PipelineError::NotFound {
            what: "regression report of",
            name: reference.to_string(),
            fix: "it was registered before the gate existed; `cairn regress` computes one".into(),
        })?;
    Ok(String::from_utf8_lossy(&store.read(&id)?).into_owned())
}
