//! BERT as all-MiniLM-L6-v2 uses it: word + position + token-type embeddings, post-norm
//! transformer layers (self-attention, GELU feed-forward), mean pooling over real tokens.
//! Every operation is a plain candle tensor op so gradients flow through all of it (candle's
//! fused layer-norm and softmax kernels have no backward pass).

use std::path::Path;

use candle_core::{Tensor, D};
use candle_nn::{embedding, Embedding, Module, VarBuilder};
use serde::Deserialize;

use crate::error::{Error, Result};

/// The name of the word-embedding matrix, which fine-tuning leaves as it is.
pub const WORD_EMBEDDINGS: &str = "embeddings.word_embeddings.weight";

/// The fields of the model's `config.json` the network needs.
#[derive(Debug, Clone, Deserialize)]
pub struct BertConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub max_position_embeddings: usize,
    pub type_vocab_size: usize,
    pub layer_norm_eps: f64,
}

impl BertConfig {
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::unavailable(format!(
                "encoder config {} is missing; run scripts/setup-models.sh",
                path.display()
            ))
            .with_source(e)
        })?;
        let config: Self = serde_json::from_str(&text).map_err(|e| {
            Error::internal(format!("encoder config {} is invalid", path.display())).with_source(e)
        })?;
        if config.num_attention_heads == 0
            || !config
                .hidden_size
                .is_multiple_of(config.num_attention_heads)
        {
            return Err(Error::internal(
                "encoder config: the hidden size is not a multiple of the head count",
            ));
        }
        Ok(config)
    }
}

/// Layer normalisation over the last dimension from differentiable ops.
#[derive(Debug)]
struct Norm {
    weight: Tensor,
    bias: Tensor,
    eps: f64,
}

impl Norm {
    fn new(size: usize, eps: f64, vb: VarBuilder) -> candle_core::Result<Self> {
        Ok(Self {
            weight: vb.get_with_hints(size, "weight", candle_nn::Init::Const(1.0))?,
            bias: vb.get_with_hints(size, "bias", candle_nn::Init::Const(0.0))?,
            eps,
        })
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let centred = x.broadcast_sub(&x.mean_keepdim(D::Minus1)?)?;
        let variance = centred.sqr()?.mean_keepdim(D::Minus1)?;
        let normed = centred.broadcast_div(&(variance + self.eps)?.sqrt()?)?;
        normed
            .broadcast_mul(&self.weight)?
            .broadcast_add(&self.bias)
    }
}

/// A dense layer applied to every token: the (batch, tokens, in) input is flattened to one
/// matrix so forward and backward are single matrix products (candle's `Linear` broadcasts
/// the weight over the batch instead, and its weight gradient is a per-text product summed
/// afterwards: several times slower to train).
#[derive(Debug)]
struct Dense {
    weight: Tensor,
    bias: Tensor,
}

fn dense(inputs: usize, outputs: usize, vb: VarBuilder) -> candle_core::Result<Dense> {
    Ok(Dense {
        weight: vb.get((outputs, inputs), "weight")?,
        bias: vb.get(outputs, "bias")?,
    })
}

impl Dense {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let (batch, tokens, inputs) = x.dims3()?;
        let outputs = self.weight.dim(0)?;
        x.reshape((batch * tokens, inputs))?
            .matmul(&self.weight.t()?)?
            .broadcast_add(&self.bias)?
            .reshape((batch, tokens, outputs))
    }
}

#[derive(Debug)]
struct Layer {
    query: Dense,
    key: Dense,
    value: Dense,
    attention_out: Dense,
    attention_norm: Norm,
    up: Dense,
    down: Dense,
    output_norm: Norm,
}

impl Layer {
    fn new(c: &BertConfig, vb: VarBuilder) -> candle_core::Result<Self> {
        let h = c.hidden_size;
        let attention = vb.pp("attention");
        let this = attention.pp("self");
        Ok(Self {
            query: dense(h, h, this.pp("query"))?,
            key: dense(h, h, this.pp("key"))?,
            value: dense(h, h, this.pp("value"))?,
            attention_out: dense(h, h, attention.pp("output").pp("dense"))?,
            attention_norm: Norm::new(h, c.layer_norm_eps, attention.pp("output").pp("LayerNorm"))?,
            up: dense(h, c.intermediate_size, vb.pp("intermediate").pp("dense"))?,
            down: dense(c.intermediate_size, h, vb.pp("output").pp("dense"))?,
            output_norm: Norm::new(h, c.layer_norm_eps, vb.pp("output").pp("LayerNorm"))?,
        })
    }

    /// `x`: (batch, tokens, hidden); `mask_bias`: (batch, 1, 1, tokens), 0 or a large negative.
    fn forward(&self, x: &Tensor, mask_bias: &Tensor, heads: usize) -> candle_core::Result<Tensor> {
        let (batch, tokens, hidden) = x.dims3()?;
        let head_dim = hidden / heads;
        let split = |t: Tensor| -> candle_core::Result<Tensor> {
            t.reshape((batch, tokens, heads, head_dim))?
                .transpose(1, 2)?
                .contiguous()
        };
        let q = split(self.query.forward(x)?)?;
        let k = split(self.key.forward(x)?)?;
        let v = split(self.value.forward(x)?)?;
        let scores = (q.matmul(&k.t()?.contiguous()?)? / (head_dim as f64).sqrt())?
            .broadcast_add(mask_bias)?;
        let probs = candle_nn::ops::softmax(&scores, D::Minus1)?;
        let context = probs
            .matmul(&v)?
            .transpose(1, 2)?
            .contiguous()?
            .reshape((batch, tokens, hidden))?;
        let attended = self
            .attention_norm
            .forward(&(self.attention_out.forward(&context)? + x)?)?;
        let inner = self.up.forward(&attended)?.gelu_erf()?;
        self.output_norm
            .forward(&(self.down.forward(&inner)? + attended)?)
    }
}

/// The network.
#[derive(Debug)]
pub struct Bert {
    words: Embedding,
    positions: Embedding,
    token_types: Embedding,
    embedding_norm: Norm,
    layers: Vec<Layer>,
    heads: usize,
}

impl Bert {
    /// Declares every weight under the names of the Hugging Face checkpoint.
    pub fn new(c: &BertConfig, vb: VarBuilder) -> candle_core::Result<Self> {
        let e = vb.pp("embeddings");
        let layers = (0..c.num_hidden_layers)
            .map(|i| Layer::new(c, vb.pp("encoder").pp("layer").pp(i.to_string())))
            .collect::<candle_core::Result<Vec<_>>>()?;
        let words = embedding(c.vocab_size, c.hidden_size, e.pp("word_embeddings"))?;
        Ok(Self {
            // Detached: no gradient flows into the word embeddings (see `tune`). The tensor
            // shares its storage with the variable, so loading the weights fills it too.
            words: Embedding::new(words.embeddings().detach(), c.hidden_size),
            positions: embedding(
                c.max_position_embeddings,
                c.hidden_size,
                e.pp("position_embeddings"),
            )?,
            token_types: embedding(
                c.type_vocab_size,
                c.hidden_size,
                e.pp("token_type_embeddings"),
            )?,
            embedding_norm: Norm::new(c.hidden_size, c.layer_norm_eps, e.pp("LayerNorm"))?,
            layers,
            heads: c.num_attention_heads,
        })
    }

    /// Token states (batch, tokens, hidden) for `ids` (u32, batch x tokens) and `mask` (f32,
    /// 1 for real tokens, 0 for padding). Every text is a single segment (token type 0).
    pub fn forward(&self, ids: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
        let (_, tokens) = ids.dims2()?;
        let device = ids.device();
        let positions = Tensor::arange(0u32, tokens as u32, device)?;
        let segment = Tensor::zeros(tokens, candle_core::DType::U32, device)?;
        let x = self
            .words
            .forward(ids)?
            .broadcast_add(&self.positions.forward(&positions)?)?
            .broadcast_add(&self.token_types.forward(&segment)?)?;
        let mut x = self.embedding_norm.forward(&x)?;
        // 0 where attended, -10,000 on padding (the value BERT itself uses).
        let mask_bias = ((mask.unsqueeze(1)?.unsqueeze(1)? - 1.0)? * 10_000.0)?;
        for layer in &self.layers {
            x = layer.forward(&x, &mask_bias, self.heads)?;
        }
        Ok(x)
    }

    /// Mean of the real tokens' states, scaled to unit length: (batch, hidden).
    pub fn sentence_embeddings(&self, ids: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
        let states = self.forward(ids, mask)?;
        let weights = mask.unsqueeze(D::Minus1)?;
        let summed = states.broadcast_mul(&weights)?.sum(1)?;
        let counts = weights.sum(1)?.clamp(1.0, f64::MAX)?;
        let mean = summed.broadcast_div(&counts)?;
        let norm = mean
            .sqr()?
            .sum_keepdim(D::Minus1)?
            .sqrt()?
            .clamp(1e-12, f64::MAX)?;
        mean.broadcast_div(&norm)
    }
}
