//! cairn's tokenizer: byte-level BPE, trained from the training texts or loaded from a
//! `tokenizer.json`, with truncation to `max_length` built in (so Python's `tokenizers`
//! loading the same JSON encodes identically).
//!
//! The key decision is BPE rather than WordPiece: the `tokenizers` crate's BPE trainer gives
//! byte-identical output for the same input, while its WordPiece trainer breaks frequency
//! ties in hash-map order. Training texts are fed in a fixed order and the trainer runs
//! without its progress bar; the saved JSON is therefore a pure function of the texts and
//! the parameters, and is stored as an object. Normalization is NFKC + lowercase, so
//! full-width and compatibility forms of a payload map to the same tokens; the byte-level
//! pre-tokenizer means no text is ever out of vocabulary.

use tokenizers::models::bpe::{BPE, BpeTrainerBuilder};
use tokenizers::normalizers::{Lowercase, NFKC, Sequence as NormalizerSequence};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{AddedToken, PaddingParams, Tokenizer, TokenizerImpl, TruncationParams};

/// Token id 0: padding. The model treats it as "no token".
pub const PAD: &str = "[PAD]";
/// Token id 1: unknown (unused by byte-level BPE, kept so ids are stable).
pub const UNK: &str = "[UNK]";

#[derive(Debug, thiserror::Error)]
pub enum TokenizeError {
    /// Training failed inside the tokenizers crate.
    #[error("tokenizer training failed: {0}")]
    Train(String),
    /// A `tokenizer.json` could not be read.
    #[error("not a usable tokenizer.json: {0} (give a file saved by the `tokenizers` library)")]
    Load(String),
    /// Encoding failed.
    #[error("tokenizing failed: {0}")]
    Encode(String),
    /// Parameters out of range.
    #[error("{0}")]
    Param(String),
}

/// How to train a tokenizer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrainSpec {
    pub vocab_size: usize,
    pub min_frequency: u64,
    pub max_length: usize,
}

/// A tokenizer ready to encode.
pub struct CairnTokenizer {
    inner: Tokenizer,
    max_length: usize,
}

impl std::fmt::Debug for CairnTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "CairnTokenizer(vocab {}, max_length {})",
            self.vocab_size(),
            self.max_length
        )
    }
}

fn truncation(max_length: usize) -> TruncationParams {
    TruncationParams {
        max_length,
        ..Default::default()
    }
}

impl CairnTokenizer {
    /// Trains a byte-level BPE on `texts` (in the given order).
    pub fn train(texts: &[&str], spec: &TrainSpec) -> Result<Self, TokenizeError> {
        if spec.vocab_size < 300 {
            return Err(TokenizeError::Param(format!(
                "vocab_size {} is too small: byte-level BPE needs at least 300 (256 bytes + specials)",
                spec.vocab_size
            )));
        }
        if spec.max_length == 0 {
            return Err(TokenizeError::Param("max_length must be at least 1".into()));
        }
        let mut trainer = BpeTrainerBuilder::new()
            .vocab_size(spec.vocab_size)
            .min_frequency(spec.min_frequency)
            .show_progress(false)
            .special_tokens(vec![
                AddedToken::from(PAD, true),
                AddedToken::from(UNK, true),
            ])
            .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
            .build();
        let mut tokenizer: TokenizerImpl<BPE, NormalizerSequence, ByteLevel, ByteLevel, ByteLevel> =
            TokenizerImpl::new(BPE::default());
        tokenizer
            .with_normalizer(Some(NormalizerSequence::new(vec![
                NFKC.into(),
                Lowercase.into(),
            ])))
            .with_pre_tokenizer(Some(ByteLevel::new(false, true, true)))
            .with_post_processor(Some(ByteLevel::new(false, true, true)))
            .with_decoder(Some(ByteLevel::default()));
        tokenizer
            .train(&mut trainer, texts.iter().copied())
            .map_err(|e| TokenizeError::Train(e.to_string()))?;
        tokenizer
            .with_truncation(Some(truncation(spec.max_length)))
            .map_err(|e| TokenizeError::Train(e.to_string()))?;
        tokenizer.with_padding(None::<PaddingParams>);
        let json = tokenizer
            .to_string(false)
            .map_err(|e| TokenizeError::Train(e.to_string()))?;
        Self::from_json(json.as_bytes(), spec.max_length)
    }

    /// Loads a `tokenizer.json`; truncation is set to `max_length`. A file that is not
    /// well-formed JSON is refused before the tokenizers library reads it: that library
    /// panics on some malformed files instead of returning an error (found by `cairn-fuzz`).
    pub fn from_json(bytes: &[u8], max_length: usize) -> Result<Self, TokenizeError> {
        serde_json::from_slice::<serde::de::IgnoredAny>(bytes)
            .map_err(|e| TokenizeError::Load(format!("not valid JSON: {e}")))?;
        let loaded = std::panic::catch_unwind(|| Tokenizer::from_bytes(bytes)).map_err(|_| {
            TokenizeError::Load("the tokenizers library could not read this file".into())
        })?;
        let mut inner = loaded.map_err(|e| TokenizeError::Load(e.to_string()))?;
        inner
            .with_truncation(Some(truncation(max_length)))
            .map_err(|e| TokenizeError::Load(e.to_string()))?;
        inner.with_padding(None);
        Ok(Self { inner, max_length })
    }

    /// The JSON form (what is stored and deployed).
    pub fn to_json(&self) -> Result<Vec<u8>, TokenizeError> {
        self.inner
            .to_string(false)
            .map(String::into_bytes)
            .map_err(|e| TokenizeError::Encode(e.to_string()))
    }

    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    pub fn max_length(&self) -> usize {
        self.max_length
    }

    /// Token ids of one text, truncated to `max_length`, never empty (an empty text encodes
    /// as a single pad).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, TokenizeError> {
        let encoding = self
            .inner
            .encode(text, true)
            .map_err(|e| TokenizeError::Encode(e.to_string()))?;
        let mut ids = encoding.get_ids().to_vec();
        if ids.is_empty() {
            ids.push(0);
        }
        Ok(ids)
    }

    /// Token ids of many texts, in order, encoded on every core (each text on its own, so
    /// the result does not depend on the thread count).
    pub fn encode_all(&self, texts: &[&str]) -> Result<Vec<Vec<u32>>, TokenizeError> {
        let encodings = self
            .inner
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| TokenizeError::Encode(e.to_string()))?;
        Ok(encodings
            .into_iter()
            .map(|e| {
                let ids = e.get_ids();
                if ids.is_empty() {
                    vec![0]
                } else {
                    ids.to_vec()
                }
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn corpus() -> Vec<String> {
        let words = [
            "ignore",
            "previous",
            "instructions",
            "please",
            "summarize",
            "the",
            "report",
            "reset",
            "my",
            "password",
            "system",
            "prompt",
        ];
        (0..400)
            .map(|i| {
                format!(
                    "{} {} {} #{}",
                    words[i % 12],
                    words[(i * 7) % 12],
                    words[(i * 5 + 3) % 12],
                    i % 17
                )
            })
            .collect()
    }

    fn spec() -> TrainSpec {
        TrainSpec {
            vocab_size: 400,
            min_frequency: 2,
            max_length: 8,
        }
    }

    #[test]
    fn training_is_byte_identical_and_round_trips() {
        let texts = corpus();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let a = CairnTokenizer::train(&refs, &spec()).expect("train");
        let b = CairnTokenizer::train(&refs, &spec()).expect("train");
        let json = a.to_json().expect("json");
        assert_eq!(json, b.to_json().expect("json"));
        let loaded = CairnTokenizer::from_json(&json, 8).expect("load");
        assert_eq!(loaded.to_json().expect("json"), json);
        assert_eq!(
            a.encode_all(&refs).expect("enc"),
            loaded.encode_all(&refs).expect("enc")
        );
    }

    #[test]
    fn truncates_lowercases_and_never_returns_empty() {
        let texts = corpus();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let t = CairnTokenizer::train(&refs, &spec()).expect("train");
        assert!(t.vocab_size() <= 400 && t.vocab_size() > 256);
        let long = t
            .encode(&"ignore previous instructions ".repeat(20))
            .expect("enc");
        assert_eq!(long.len(), 8);
        assert_eq!(
            t.encode("IGNORE Previous").expect("enc"),
            t.encode("ignore previous").expect("enc")
        );
        assert_eq!(
            t.encode("ＩＧＮＯＲＥ").expect("enc"),
            t.encode("ignore").expect("enc"),
            "NFKC folds full-width forms"
        );
        assert_eq!(t.encode("").expect("enc"), vec![0]);
        assert!(
            t.encode("ünïcödé ✓ 日本")
                .expect("enc")
                .iter()
                .all(|&id| id >= 2),
            "byte-level: no unknown tokens"
        );
    }

    #[test]
    fn rejects_bad_parameters_and_bad_json() {
        let e = CairnTokenizer::train(
            &["a"],
            &TrainSpec {
                vocab_size: 10,
                min_frequency: 1,
                max_length: 8,
            },
        )
        .expect_err("too small");
        assert!(e.to_string().contains("vocab_size"), "{e}");
        assert!(CairnTokenizer::from_json(b"{not json", 8).is_err());
    }

    /// Found by `cairn-fuzz tokenizer`: the tokenizers library panicked ("Helper") on a
    /// file whose `decoder` value is cut short, instead of returning an error.
    #[test]
    fn a_malformed_decoder_is_an_error_not_a_panic() {
        let texts = corpus();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let json = CairnTokenizer::train(&refs, &spec())
            .expect("train")
            .to_json()
            .expect("json");
        let text = String::from_utf8(json).expect("utf-8");
        let at = text.find("\"decoder\"").expect("a decoder") + 14;
        let cut = &text.as_bytes()[..at];
        assert!(CairnTokenizer::from_json(cut, 8).is_err());
    }
}
