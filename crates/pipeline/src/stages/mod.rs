//! The stages of a run, one module each, in the order `execute` calls them. Each reads the
//! store and the outputs of the stages before it, reports [`crate::event::Event`]s, and returns
//! what the next needs; none writes a ref.

pub(crate) mod data;
pub(crate) mod export;
pub(crate) mod tokenizer;
pub(crate) mod train;
