//! Texts to the tensors the network takes: token ids (u32) and an attention mask (f32), padded
//! to the longest text of the batch and cut at `max_tokens`.

use std::path::Path;

use candle_core::{Device, Tensor};
use tokenizers::Tokenizer;

use super::candle_error;
use crate::error::{Error, Result};

/// One padded batch.
#[derive(Debug)]
pub struct TokenBatch {
    pub ids: Tensor,
    pub mask: Tensor,
}

/// The model's tokenizer with truncation.
pub struct TextBatcher {
    tokenizer: Tokenizer,
    max_tokens: usize,
}

impl TextBatcher {
    pub fn load(path: &Path, max_tokens: usize) -> Result<Self> {
        let mut tokenizer = Tokenizer::from_file(path).map_err(|e| {
            Error::unavailable(format!(
                "tokenizer {} could not be read ({e}); run scripts/setup-models.sh",
                path.display()
            ))
        })?;
        // The model's tokenizer.json pads every text to 128 tokens and truncates there; the
        // batcher pads to the batch's longest text itself and masks the padding, so both are
        // switched off (padding counted as text would change every embedding).
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(None)
            .map_err(|e| Error::internal(format!("configuring the tokenizer: {e}")))?;
        Ok(Self {
            tokenizer,
            max_tokens: max_tokens.max(2),
        })
    }

    pub fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    /// Tokenizes `texts` (with `[CLS]`/`[SEP]`) into one batch.
    pub fn encode(&self, texts: &[String]) -> Result<TokenBatch> {
        self.encode_capped(texts, self.max_tokens)
    }

    /// [`Self::encode`] cut at `cap` tokens (at most the batcher's own limit).
    pub fn encode_capped(&self, texts: &[String], cap: usize) -> Result<TokenBatch> {
        let cap = cap.clamp(2, self.max_tokens);
        let mut rows: Vec<Vec<u32>> = Vec::with_capacity(texts.len());
        for text in texts {
            let encoding = self
                .tokenizer
                .encode(text.as_str(), true)
                .map_err(|e| Error::internal(format!("tokenizing for the encoder: {e}")))?;
            let mut ids = encoding.get_ids().to_vec();
            if ids.len() > cap {
                // Keep [CLS] ... and end on [SEP], as the truncating tokenizer would.
                let sep = ids.last().copied();
                ids.truncate(cap - 1);
                ids.extend(sep);
            }
            rows.push(ids);
        }
        let width = rows.iter().map(Vec::len).max().unwrap_or(1).max(1);
        let mut ids = Vec::with_capacity(rows.len() * width);
        let mut mask = Vec::with_capacity(rows.len() * width);
        for row in &rows {
            ids.extend(row.iter().copied());
            mask.extend(std::iter::repeat_n(1.0f32, row.len()));
            ids.extend(std::iter::repeat_n(0u32, width - row.len()));
            mask.extend(std::iter::repeat_n(0.0f32, width - row.len()));
        }
        let shape = (rows.len(), width);
        Ok(TokenBatch {
            ids: Tensor::from_vec(ids, shape, &Device::Cpu)
                .map_err(candle_error("building the id tensor"))?,
            mask: Tensor::from_vec(mask, shape, &Device::Cpu)
                .map_err(candle_error("building the mask tensor"))?,
        })
    }
}
