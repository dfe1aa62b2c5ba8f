//! A tuned encoder written into a copy of the shipped ONNX model, so that ONNX Runtime serves
//! it (about 3 ms a message on the project machine) rather than candle (about 43 ms).
//!
//! The shipped `model.onnx` stores each weight matrix as int8 with one fp32 scale per output
//! column (`w = q * scale`, symmetric, `scale = max |w| / 127`, rounded half to even) and the
//! position embeddings with one scale per row; biases, LayerNorm parameters and the token-type
//! embeddings are fp32 under their PyTorch names prefixed `inner.`. The matrices carry export
//! names (`val_<n>_q`, `val_<n>_scale`): in order of `n`, each layer's query, key, value,
//! attention output, intermediate and output projections. The tuned weights are quantized the
//! same way and written over those initializers' bytes in place, so the graph and every other
//! byte stay as shipped; the untuned weights reproduce the shipped file byte for byte (tested).
//! The word embeddings are frozen while tuning and are left as they are.

use std::collections::HashMap;

use candle_core::Tensor;

use super::onnx_file::{initializers, Initializer, Initializers};
use super::{candle_error, Encoder};
use crate::error::{Error, Result};

/// Prefix of the network's variables in the ONNX file.
const ONNX_PREFIX: &str = "inner.";

/// The projections of one layer, in the order the file's `val_<n>` matrices follow.
const LAYER_MATRICES: [&str; 6] = [
    "attention.self.query",
    "attention.self.key",
    "attention.self.value",
    "attention.output.dense",
    "intermediate.dense",
    "output.dense",
];

/// Fp32 parameters the file keeps under their own names.
fn is_plain(variable: &str) -> bool {
    variable.ends_with(".bias")
        || variable.contains("LayerNorm.")
        || variable == "embeddings.token_type_embeddings.weight"
}

/// Returns `shipped` (the bytes of `model.onnx`) with the encoder's weights written in.
pub fn export_onnx(shipped: &[u8], encoder: &Encoder) -> Result<Vec<u8>> {
    let span = tracing::debug_span!("encoder_onnx_export", bytes = shipped.len());
    let _guard = span.enter();
    let found = initializers(shipped)?;
    let matrices = matrix_names(&found)?;
    let (weights, _, _) = encoder.parts();
    let variables: HashMap<String, Tensor> = weights
        .data()
        .lock()
        .map_err(|_| Error::internal("the encoder weights lock was poisoned"))?
        .iter()
        .map(|(name, var)| (name.clone(), var.as_tensor().clone()))
        .collect();
    let mut out = shipped.to_vec();
    let mut written = 0usize;
    for (name, tensor) in &variables {
        let values = flat_values(tensor)?;
        if is_plain(name) {
            let target = lookup(&found, &format!("{ONNX_PREFIX}{name}"))?;
            write_f32(&mut out, target, &values)?;
        } else if name == "embeddings.position_embeddings.weight" {
            let base = format!("{ONNX_PREFIX}{name}");
            let (rows, cols) = dims2(tensor)?;
            let (q, scales) = quantize_rows(&values, rows, cols);
            write_i8(&mut out, lookup(&found, &format!("{base}_q"))?, &q)?;
            write_f32(&mut out, lookup(&found, &format!("{base}_scale"))?, &scales)?;
        } else if let Some(base) = matrices.get(name.as_str()) {
            // candle keeps a projection as [outputs, inputs]; the file multiplies by its
            // transpose, [inputs, outputs], with a scale per output.
            let (outputs, inputs) = dims2(tensor)?;
            let (q, scales) = quantize_columns_of_transpose(&values, outputs, inputs);
            write_i8(&mut out, lookup(&found, &format!("{base}_q"))?, &q)?;
            write_f32(&mut out, lookup(&found, &format!("{base}_scale"))?, &scales)?;
        } else {
            // The word embeddings (frozen) and bookkeeping tensors stay as shipped.
            continue;
        }
        written += 1;
    }
    tracing::debug!(written, "tuned weights written into the ONNX model");
    Ok(out)
}

/// Maps each layer projection's variable name to its `val_<n>` base name in the file.
fn matrix_names(found: &Initializers) -> Result<HashMap<String, String>> {
    let mut numbered: Vec<(u64, &str)> = found
        .keys()
        .filter_map(|name| {
            let number = name.strip_prefix("val_")?.strip_suffix("_q")?;
            Some((number.parse().ok()?, name.as_str()))
        })
        .collect();
    numbered.sort_unstable();
    if numbered.is_empty() || !numbered.len().is_multiple_of(LAYER_MATRICES.len()) {
        return Err(Error::unavailable(format!(
            "the ONNX model has {} quantized matrices, not six per layer; it is not the file \
             scripts/setup-models.sh installs",
            numbered.len()
        )));
    }
    Ok(numbered
        .iter()
        .enumerate()
        .map(|(i, (_, name))| {
            let layer = i / LAYER_MATRICES.len();
            let part = LAYER_MATRICES[i % LAYER_MATRICES.len()];
            let base = name.trim_end_matches("_q").to_owned();
            (format!("encoder.layer.{layer}.{part}.weight"), base)
        })
        .collect())
}

fn lookup<'a>(found: &'a Initializers, name: &str) -> Result<&'a Initializer> {
    found.get(name).ok_or_else(|| {
        Error::unavailable(format!(
            "the ONNX model has no initializer {name}; it is not the file \
             scripts/setup-models.sh installs"
        ))
    })
}

fn dims2(tensor: &Tensor) -> Result<(usize, usize)> {
    tensor
        .dims2()
        .map_err(candle_error("reading a weight matrix's shape"))
}

fn flat_values(tensor: &Tensor) -> Result<Vec<f32>> {
    tensor
        .flatten_all()
        .and_then(|t| t.to_vec1::<f32>())
        .map_err(candle_error("reading the encoder weights"))
}

/// The scale that maps the largest magnitude to 127.
fn scale_for(values: impl Iterator<Item = f32>) -> f32 {
    values.fold(0.0f32, |max, v| max.max(v.abs())) / 127.0
}

fn quantize(value: f32, scale: f32) -> i8 {
    if scale == 0.0 {
        return 0;
    }
    (value / scale).round_ties_even().clamp(-127.0, 127.0) as i8
}

/// Row-major `[rows, cols]` to int8 with one scale per row.
fn quantize_rows(values: &[f32], rows: usize, cols: usize) -> (Vec<i8>, Vec<f32>) {
    let mut q = Vec::with_capacity(values.len());
    let mut scales = Vec::with_capacity(rows);
    for row in values.chunks(cols.max(1)).take(rows) {
        let scale = scale_for(row.iter().copied());
        q.extend(row.iter().map(|v| quantize(*v, scale)));
        scales.push(scale);
    }
    (q, scales)
}

/// Row-major `[outputs, inputs]` to the int8 of its transpose `[inputs, outputs]`, with one
/// scale per output.
fn quantize_columns_of_transpose(
    values: &[f32],
    outputs: usize,
    inputs: usize,
) -> (Vec<i8>, Vec<f32>) {
    let scales: Vec<f32> = values
        .chunks(inputs.max(1))
        .take(outputs)
        .map(|row| scale_for(row.iter().copied()))
        .collect();
    let mut q = vec![0i8; outputs * inputs];
    for (o, row) in values.chunks(inputs.max(1)).take(outputs).enumerate() {
        for (i, value) in row.iter().enumerate() {
            q[i * outputs + o] = quantize(*value, scales[o]);
        }
    }
    (q, scales)
}

fn write_f32(out: &mut [u8], target: &Initializer, values: &[f32]) -> Result<()> {
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    write_bytes(out, target, &bytes)
}

fn write_i8(out: &mut [u8], target: &Initializer, values: &[i8]) -> Result<()> {
    let bytes: Vec<u8> = values.iter().map(|v| v.to_le_bytes()[0]).collect();
    write_bytes(out, target, &bytes)
}

fn write_bytes(out: &mut [u8], target: &Initializer, bytes: &[u8]) -> Result<()> {
    if target.data.len() != bytes.len() {
        return Err(Error::internal(format!(
            "a tuned weight has {} bytes where the ONNX model keeps {} (shape {:?})",
            bytes.len(),
            target.data.len(),
            target.dims
        )));
    }
    out[target.data.clone()].copy_from_slice(bytes);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::local::{LocalEmbedder, ModelPaths};
    use crate::embed::{dot, Embedder};
    use crate::encoder::tune::{tune, TuningSettings};

    fn shipped() -> Vec<u8> {
        std::fs::read(ModelPaths::from_env().model_dir.join("model.onnx"))
            .expect("run scripts/setup-models.sh")
    }

    fn encoder() -> Encoder {
        Encoder::load(&ModelPaths::from_env().model_dir, 64).expect("run scripts/setup-models.sh")
    }

    #[test]
    fn the_untuned_weights_reproduce_the_shipped_file_byte_for_byte() {
        let shipped = shipped();
        let exported = export_onnx(&shipped, &encoder()).expect("exports");
        assert_eq!(exported.len(), shipped.len());
        let differing = exported
            .iter()
            .zip(&shipped)
            .filter(|(a, b)| a != b)
            .count();
        assert_eq!(differing, 0);
    }

    #[test]
    fn a_tuned_encoder_served_by_onnx_runtime_embeds_like_candle() {
        let texts: Vec<String> = [
            "where is my order",
            "track my package",
            "I want a refund",
            "give me my money back",
            "reset my password",
            "I cannot log in",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let labels = [
            "tracking", "tracking", "refund", "refund", "access", "access",
        ];
        let mut encoder = encoder();
        let settings = TuningSettings {
            rounds: 2,
            batch_size: 3,
            learning_rate: 2e-4,
            ..TuningSettings::default()
        };
        tune(&mut encoder, &texts, &labels, &settings).expect("tunes");
        let tuned = encoder.embed(&texts).expect("embeds");
        let paths = ModelPaths::from_env();
        let shipped = shipped();
        let served = LocalEmbedder::from_onnx(&paths, export_onnx(&shipped, &encoder).unwrap())
            .expect("loads")
            .embed(&texts)
            .expect("embeds");
        let frozen = LocalEmbedder::from_onnx(&paths, shipped)
            .expect("loads")
            .embed(&texts)
            .expect("embeds");
        for ((t, s), f) in tuned.iter().zip(&served).zip(&frozen) {
            // int8 storage costs the served copy about 0.001 of cosine, as it does the
            // shipped model; tuning moved the embedding much further than that.
            assert!(dot(t, s) > 0.995, "served {}", dot(t, s));
            assert!(
                dot(t, f) < dot(t, s) - 0.01,
                "{} vs {}",
                dot(t, f),
                dot(t, s)
            );
        }
    }
}
