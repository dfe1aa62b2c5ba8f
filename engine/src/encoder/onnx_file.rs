//! Where each weight of an ONNX file lies: a reader of just enough of the protobuf wire format
//! to find the graph's initializers (name, shape and the byte range of their raw data).
//!
//! An ONNX file is a `ModelProto`; its field 7 is the `GraphProto`, whose field 5 repeats the
//! `TensorProto` initializers; a tensor's field 1 is its dimensions, field 8 its name and
//! field 9 its little-endian raw bytes. Every other field is skipped unread, so the bytes can
//! be patched in place without re-encoding (and losing) anything else.

use std::collections::HashMap;
use std::ops::Range;

use crate::error::{Error, Result};

const MODEL_GRAPH: u32 = 7;
const GRAPH_INITIALIZER: u32 = 5;
const TENSOR_DIMS: u32 = 1;
const TENSOR_NAME: u32 = 8;
const TENSOR_RAW_DATA: u32 = 9;

/// One initializer of the graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Initializer {
    pub dims: Vec<i64>,
    /// Where its raw data lies in the file.
    pub data: Range<usize>,
}

/// Initializers by name.
pub type Initializers = HashMap<String, Initializer>;

/// A field's value as the wire format carries it.
enum Value {
    Varint(u64),
    /// Length-delimited: absolute byte range in the file.
    Bytes(Range<usize>),
    Fixed,
}

/// Reads the fields of one message lying in `bytes[range]`.
struct Fields<'a> {
    bytes: &'a [u8],
    pos: usize,
    end: usize,
}

fn malformed(what: &str) -> Error {
    Error::unavailable(format!(
        "the ONNX model file is malformed ({what}); run scripts/setup-models.sh again"
    ))
}

impl<'a> Fields<'a> {
    fn new(bytes: &'a [u8], range: Range<usize>) -> Self {
        Self {
            bytes,
            pos: range.start,
            end: range.end,
        }
    }

    fn varint(&mut self) -> Result<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            if self.pos >= self.end {
                return Err(malformed("a number runs past its message"));
            }
            let byte = self.bytes[self.pos];
            self.pos += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(malformed("a number is longer than ten bytes"))
    }

    fn skip(&mut self, count: usize) -> Result<Range<usize>> {
        let start = self.pos;
        let end = start
            .checked_add(count)
            .filter(|end| *end <= self.end)
            .ok_or_else(|| malformed("a field runs past its message"))?;
        self.pos = end;
        Ok(start..end)
    }

    /// The next field number and value, or `None` at the end of the message.
    fn next_field(&mut self) -> Result<Option<(u32, Value)>> {
        if self.pos >= self.end {
            return Ok(None);
        }
        let key = self.varint()?;
        let number = u32::try_from(key >> 3).map_err(|_| malformed("a field number"))?;
        let value = match key & 7 {
            0 => Value::Varint(self.varint()?),
            1 => {
                self.skip(8)?;
                Value::Fixed
            }
            2 => {
                let length =
                    usize::try_from(self.varint()?).map_err(|_| malformed("a field length"))?;
                Value::Bytes(self.skip(length)?)
            }
            5 => {
                self.skip(4)?;
                Value::Fixed
            }
            other => return Err(malformed(&format!("wire type {other}"))),
        };
        Ok(Some((number, value)))
    }
}

/// Finds every initializer stored as raw data in the ONNX file `bytes`.
pub fn initializers(bytes: &[u8]) -> Result<Initializers> {
    let mut model = Fields::new(bytes, 0..bytes.len());
    let mut found = Initializers::new();
    while let Some((number, value)) = model.next_field()? {
        let (MODEL_GRAPH, Value::Bytes(graph)) = (number, value) else {
            continue;
        };
        let mut graph = Fields::new(bytes, graph);
        while let Some((number, value)) = graph.next_field()? {
            if let (GRAPH_INITIALIZER, Value::Bytes(tensor)) = (number, value) {
                if let Some((name, initializer)) = tensor_entry(bytes, tensor)? {
                    found.insert(name, initializer);
                }
            }
        }
    }
    if found.is_empty() {
        return Err(malformed("it has no initializers"));
    }
    Ok(found)
}

/// A tensor's name and placement, when it keeps its data as raw bytes.
fn tensor_entry(bytes: &[u8], range: Range<usize>) -> Result<Option<(String, Initializer)>> {
    let mut tensor = Fields::new(bytes, range);
    let (mut dims, mut name, mut data) = (Vec::new(), None, None);
    while let Some((number, value)) = tensor.next_field()? {
        match (number, value) {
            (TENSOR_DIMS, Value::Varint(dim)) => dims.push(dim as i64),
            (TENSOR_DIMS, Value::Bytes(packed)) => {
                let mut packed = Fields::new(bytes, packed);
                while packed.pos < packed.end {
                    dims.push(packed.varint()? as i64);
                }
            }
            (TENSOR_NAME, Value::Bytes(text)) => {
                let text = std::str::from_utf8(&bytes[text])
                    .map_err(|_| malformed("an initializer name is not UTF-8"))?;
                name = Some(text.to_owned());
            }
            (TENSOR_RAW_DATA, Value::Bytes(raw)) => data = Some(raw),
            _ => {}
        }
    }
    Ok(name
        .zip(data)
        .map(|(name, data)| (name, Initializer { dims, data })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::local::ModelPaths;

    #[test]
    fn the_shipped_model_lists_its_weights_with_shapes_and_sizes() {
        let path = ModelPaths::from_env().model_dir.join("model.onnx");
        let bytes = std::fs::read(path).expect("run scripts/setup-models.sh");
        let found = initializers(&bytes).expect("parses");
        let norm = &found["inner.encoder.layer.5.output.LayerNorm.weight"];
        assert_eq!(norm.dims, [384]);
        assert_eq!(norm.data.len(), 384 * 4);
        // LayerNorm weights start near one.
        let first = f32::from_le_bytes(bytes[norm.data.start..][..4].try_into().unwrap());
        assert!((0.2..3.0).contains(&first), "{first}");
        let words = &found["inner.embeddings.word_embeddings.weight_q"];
        assert_eq!(words.dims, [30522, 384]);
        assert_eq!(words.data.len(), 30522 * 384);
        let matrices = found
            .keys()
            .filter(|n| n.starts_with("val_") && n.ends_with("_q"))
            .count();
        assert_eq!(matrices, 36);
    }

    #[test]
    fn truncated_or_garbage_files_are_errors_not_panics() {
        let path = ModelPaths::from_env().model_dir.join("model.onnx");
        let bytes = std::fs::read(path).expect("run scripts/setup-models.sh");
        for cut in [1, 100, 5_000, bytes.len() / 2] {
            let err = initializers(&bytes[..cut]).expect_err("truncated");
            assert!(err.message().contains("malformed"), "{}", err.message());
        }
        assert!(initializers(&[0xff; 64]).is_err());
        assert!(initializers(&[]).is_err());
    }
}
