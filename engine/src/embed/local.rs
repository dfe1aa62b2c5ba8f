//! all-MiniLM-L6-v2 (384 dimensions, mean pooling) through fastembed and a dynamically loaded
//! ONNX Runtime. The model files and `libonnxruntime.so` come from pinned PyPI wheels unpacked
//! by `scripts/setup-models.sh`; see `NOTES-offline-models.md` for the measurements behind the
//! choices here (batch size, spinning, max length).

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use fastembed::{
    InitOptionsUserDefined, Pooling, TextEmbedding, TokenizerFiles, UserDefinedEmbeddingModel,
};

use super::{normalize, Embedder};
use crate::error::{Error, Result};

/// The model was trained on sequences of at most 256 tokens.
pub const MAX_TOKENS: usize = 256;
/// Batches of 8-32 were fastest on a 2-core machine; 256 (fastembed's default) was 40% slower
/// and used 1.8 GB.
const BATCH_SIZE: usize = 16;
const DIMENSION: usize = 384;

/// Where the model files and ONNX Runtime live.
#[derive(Debug, Clone)]
pub struct ModelPaths {
    /// Folder with `model.onnx`, `tokenizer.json`, `config.json`, `special_tokens_map.json`,
    /// `tokenizer_config.json`.
    pub model_dir: PathBuf,
    /// The ONNX Runtime shared library (`libonnxruntime.so`).
    pub onnxruntime_lib: PathBuf,
}

impl ModelPaths {
    /// The layout `scripts/setup-models.sh` installs under `root` (default `./models`).
    pub fn under(root: &Path) -> Self {
        Self {
            model_dir: root.join("all-minilm-l6-v2"),
            onnxruntime_lib: root.join("onnxruntime").join("libonnxruntime.so"),
        }
    }

    /// Resolves from `BLAIGENT_MODEL_DIR`, else `models/` in the current directory, else
    /// `models/` beside the workspace root (so test binaries running from `target/` find it).
    pub fn from_env() -> Self {
        if let Some(dir) = std::env::var_os("BLAIGENT_MODEL_DIR") {
            return Self::under(Path::new(&dir));
        }
        let cwd = PathBuf::from("models");
        if cwd.join("all-minilm-l6-v2").is_dir() {
            return Self::under(&cwd);
        }
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join("models");
        Self::under(&workspace)
    }
}

/// The local all-MiniLM-L6-v2 embedder. Thread-safe; one ONNX session shared behind a mutex
/// (the session itself already uses both cores per call).
pub struct LocalEmbedder {
    model: Mutex<TextEmbedding>,
}

/// ONNX Runtime allows one environment per process: it is created once, kept here, and handed
/// to every model session (fastembed refuses to create a second one).
static RUNTIME: OnceLock<std::result::Result<ort::environment::Environment, String>> =
    OnceLock::new();

fn init_runtime(lib: &Path) -> Result<ort::environment::Environment> {
    let outcome = RUNTIME.get_or_init(|| {
        let absolute = std::fs::canonicalize(lib).map_err(|e| {
            format!(
                "ONNX Runtime library not found at {} ({e}); run scripts/setup-models.sh",
                lib.display()
            )
        })?;
        let environment = ort::init_from(&absolute)
            .map_err(|e| {
                format!(
                    "could not load ONNX Runtime from {}: {e}",
                    absolute.display()
                )
            })?
            .with_name("blaigent")
            .build()
            .map_err(|e| format!("could not start ONNX Runtime: {e}"))?;
        Ok(environment)
    });
    outcome.clone().map_err(Error::unavailable)
}

/// Reads one of the installed model files, saying how to install it when it is missing.
pub(crate) fn read(dir: &Path, name: &str) -> Result<Vec<u8>> {
    let path = dir.join(name);
    std::fs::read(&path).map_err(|e| {
        Error::unavailable(format!(
            "embedding model file {} is missing; run scripts/setup-models.sh",
            path.display()
        ))
        .with_source(e)
    })
}

impl LocalEmbedder {
    /// Loads the model (about half a second).
    pub fn load(paths: &ModelPaths) -> Result<Self> {
        let onnx = read(&paths.model_dir, "model.onnx")?;
        Self::from_onnx(paths, onnx)
    }

    /// Loads the network `onnx` (the shipped file's bytes, or a tuned copy of them from
    /// [`crate::encoder::onnx_export`]) with the tokenizer files of `paths`.
    pub fn from_onnx(paths: &ModelPaths, onnx: Vec<u8>) -> Result<Self> {
        let environment = init_runtime(&paths.onnxruntime_lib)?;
        let dir = &paths.model_dir;
        let tokenizer_files = TokenizerFiles {
            tokenizer_file: read(dir, "tokenizer.json")?,
            config_file: read(dir, "config.json")?,
            special_tokens_map_file: read(dir, "special_tokens_map.json")?,
            tokenizer_config_file: read(dir, "tokenizer_config.json")?,
        };
        let model =
            UserDefinedEmbeddingModel::new(onnx, tokenizer_files).with_pooling(Pooling::Mean);
        // Spinning threads burn the second core while the other is busy with the server; on a
        // two-core machine turning it off costs nothing measurable and keeps latency steady.
        let options = InitOptionsUserDefined::new()
            .with_max_length(MAX_TOKENS)
            .with_session_config("session.intra_op.allow_spinning", "0")
            .with_environment(environment);
        let model = TextEmbedding::try_new_from_user_defined(model, options)
            .map_err(|e| Error::unavailable(format!("could not load the embedding model: {e}")))?;
        Ok(Self {
            model: Mutex::new(model),
        })
    }

    /// Loads from [`ModelPaths::from_env`].
    pub fn load_default() -> Result<Self> {
        Self::load(&ModelPaths::from_env())
    }
}

impl Embedder for LocalEmbedder {
    fn dimension(&self) -> usize {
        DIMENSION
    }

    fn model_name(&self) -> &str {
        "all-MiniLM-L6-v2"
    }

    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let mut model = self
            .model
            .lock()
            .map_err(|_| Error::internal("the embedding model lock was poisoned"))?;
        let mut vectors = model
            .embed(texts, Some(BATCH_SIZE))
            .map_err(|e| Error::internal(format!("embedding failed: {e}")))?;
        for vector in &mut vectors {
            normalize(vector);
        }
        Ok(vectors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::dot;

    #[test]
    fn paraphrases_are_closer_than_unrelated_texts() {
        let embedder = LocalEmbedder::load_default().expect("run scripts/setup-models.sh");
        let texts = vec![
            "Where is my package?".to_string(),
            "I want to track my order delivery".to_string(),
            "What is the capital of France?".to_string(),
        ];
        let v = embedder.embed(&texts).unwrap();
        assert_eq!(v.len(), 3);
        assert_eq!(v[0].len(), 384);
        let norm: f32 = v[0].iter().map(|x| x * x).sum();
        assert!((norm - 1.0).abs() < 1e-3);
        assert!(dot(&v[0], &v[1]) > dot(&v[0], &v[2]) + 0.2);
    }

    #[test]
    fn a_missing_model_folder_is_a_clear_error() {
        let paths = ModelPaths {
            model_dir: PathBuf::from("/nonexistent/model"),
            onnxruntime_lib: ModelPaths::from_env().onnxruntime_lib,
        };
        let err = LocalEmbedder::load(&paths).err().expect("must fail");
        assert!(err.to_string().contains("setup-models"), "{err}");
    }
}
