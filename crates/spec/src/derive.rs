//! Recipes derived from a registered version's recipe, for runs that something other than
//! a person's experiment file asks for (a red-team retrain today; production feedback and
//! bisection next). One derivation, so every derived run changes its parent's recipe the
//! same way and names why it exists ([`Cause`]).

use crate::{Cause, EvaluateSection, NamedObject, Recipe, VersionRef};

/// What a derived recipe changes of the recipe it comes from; `None` keeps the parent's.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overrides {
    /// `[data] base_sample`: a seeded sample of this many base rows.
    pub base_sample: Option<u64>,
    /// `[data] new_data_boost`: the additions' weight multiplier.
    pub new_data_boost: Option<f64>,
    pub epochs: Option<u64>,
    pub learning_rate: Option<f64>,
    /// The operating point (`[evaluate]`).
    pub evaluate: Option<EvaluateSection>,
}

/// A derived run: the version it registers, its additions (they replace the parent's),
/// what people read about it, and why it exists.
#[derive(Debug, Clone, PartialEq)]
pub struct Derivation {
    pub version: String,
    pub additions: Vec<NamedObject>,
    pub description: String,
    pub changes: Vec<String>,
    pub cause: Cause,
    pub overrides: Overrides,
}

impl Recipe {
    /// The recipe that fine-tunes `parent` (the version whose recipe this is, and its run):
    /// this recipe's settings and base, `parent` as `model.parent`, the derivation's
    /// additions, overrides and cause, no explicit baseline (the gate compares against the
    /// parent), recorded as made by `cairn_version`.
    pub fn fine_tune(&self, parent: VersionRef, how: Derivation, cairn_version: &str) -> Recipe {
        let mut recipe = self.derived(how, cairn_version);
        recipe.model.parent = Some(parent);
        recipe
    }

    /// The recipe that retrains from scratch with this recipe's settings and base, the
    /// derivation's additions, overrides and cause, and no parent.
    pub fn retrain(&self, how: Derivation, cairn_version: &str) -> Recipe {
        let mut recipe = self.derived(how, cairn_version);
        recipe.model.parent = None;
        recipe
    }

    fn derived(&self, how: Derivation, cairn_version: &str) -> Recipe {
        let mut recipe = self.clone();
        let Overrides {
            base_sample,
            new_data_boost,
            epochs,
            learning_rate,
            evaluate,
        } = how.overrides;
        recipe.version = how.version;
        recipe.description = how.description;
        recipe.changes = how.changes;
        recipe.data.additions = how.additions;
        if let Some(n) = base_sample {
            recipe.data.base_sample = Some(n);
        }
        if let Some(boost) = new_data_boost {
            recipe.data.new_data_boost = boost;
        }
        if let Some(epochs) = epochs {
            recipe.train.epochs = epochs;
        }
        if let Some(rate) = learning_rate {
            recipe.train.learning_rate = rate;
        }
        if let Some(evaluate) = evaluate {
            recipe.evaluate = evaluate;
        }
        recipe.regression.baseline = None;
        recipe.environment.cairn_version = cairn_version.to_string();
        recipe.cause = Some(how.cause);
        recipe
    }
}
