//! `cairn scan`: a registered version's tokenizer and ONNX export, run by ONNX Runtime, as
//! production runs them.

use cairn_onnx::OnnxModel;
use cairn_spec::Recipe;
use cairn_store::Store;
use cairn_tokenize::CairnTokenizer;
use serde::Serialize;

use crate::PipelineError;
use crate::register::load_run;

/// The verdict on one text.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    pub threat: bool,
    /// Probability of the attack class.
    pub probability: f32,
    pub family: String,
    /// In `[0, 1]`.
    pub severity: f32,
    pub context: String,
}

/// A loaded version, ready to scan texts. The tokenizer and the classifier are separate
/// so one thread can tokenize the next batch while another runs the current one.
pub struct Scanner {
    /// `name@version`.
    pub version: String,
    pub tokenizer: TextEncoder,
    pub classifier: Classifier,
}

/// The version's tokenizer.
pub struct TextEncoder(CairnTokenizer);

impl TextEncoder {
    /// Token ids of texts (in parallel when there are several).
    pub fn tokenize(&self, texts: &[&str]) -> Result<Vec<Vec<u32>>, PipelineError> {
        Ok(match texts {
            [one] => vec![self.0.encode(one)?],
            many => self.0.encode_all(many)?,
        })
    }
}

/// The version's ONNX export in an ONNX Runtime session, and its label names.
pub struct Classifier {
    model: OnnxModel,
    families: Vec<String>,
    contexts: Vec<String>,
}

impl Classifier {
    /// Verdicts for one batch of tokenized texts, in order.
    pub fn classify(&mut self, ids: &[Vec<u32>]) -> Result<Vec<Verdict>, PipelineError> {
        let refs: Vec<&[u32]> = ids.iter().map(Vec::as_slice).collect();
        let predictions = self.model.predict(&refs)?;
        let name = |names: &[String], i: usize| names.get(i).cloned().unwrap_or_default();
        Ok(predictions
            .iter()
            .map(|p| Verdict {
                threat: p.is_attack(),
                probability: p.attack_probability(),
                family: name(&self.families, p.family()),
                severity: p.severity,
                context: name(&self.contexts, p.context()),
            })
            .collect())
    }
}

/// The model to scan with when none is named: the only `<name>/latest` ref in the store.
pub fn default_model(store: &Store) -> Result<String, PipelineError> {
    let latest: Vec<String> = store
        .list_refs()?
        .into_iter()
        .map(|(name, _)| name.to_string())
        .filter(|n| n.ends_with("/latest") && !n.starts_with(cairn_spec::DEPLOYMENT_REF_PREFIX))
        .collect();
    match latest.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(PipelineError::UnknownVersion(
            "<name>/latest (no model is registered in this store: run an experiment first)".into(),
        )),
        many => Err(PipelineError::UnknownVersion(format!(
            "<name>/latest (several models are registered: pass --model with one of {})",
            many.join(", ")
        ))),
    }
}

fn names(props: &[(String, String)], key: &str) -> Result<Vec<String>, PipelineError> {
    props
        .iter()
        .find(|(k, _)| k == key)
        .and_then(|(_, v)| serde_json::from_str(v).ok())
        .ok_or_else(|| {
            PipelineError::Onnx(cairn_onnx::OnnxError::Runtime(format!(
                "the ONNX export has no `{key}` metadata"
            )))
        })
}

impl Scanner {
    /// Opens `reference` (default: [`default_model`]) with `threads` ONNX Runtime threads.
    pub fn open(
        store: &Store,
        reference: Option<&str>,
        threads: usize,
    ) -> Result<Self, PipelineError> {
        let reference = match reference {
            Some(r) => r.to_string(),
            None => default_model(store)?,
        };
        let (_, _, run) = load_run(store, &reference)?;
        let onnx_id = run
            .outputs
            .onnx
            .ok_or_else(|| PipelineError::NoOnnx(reference.clone()))?;
        let recipe: Recipe = store.get_manifest(&run.recipe)?;
        let onnx = store.read(&onnx_id)?;
        let props = cairn_onnx::metadata(&onnx)?;
        Ok(Self {
            version: format!("{}@{}", run.name, run.version),
            tokenizer: TextEncoder(CairnTokenizer::from_json(
                &store.read(&run.outputs.tokenizer)?,
                recipe.tokenizer.max_length as usize,
            )?),
            classifier: Classifier {
                families: names(&props, "cairn.families")?,
                contexts: names(&props, "cairn.contexts")?,
                model: OnnxModel::load(&onnx, threads)?,
            },
        })
    }

    /// Verdicts for one batch of texts, in order.
    pub fn scan(&mut self, texts: &[&str]) -> Result<Vec<Verdict>, PipelineError> {
        let ids = self.tokenizer.tokenize(texts)?;
        self.classifier.classify(&ids)
    }
}
