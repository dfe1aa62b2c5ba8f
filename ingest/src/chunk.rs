//! Chunking sized in tokens of the embedding model's own tokenizer.
//!
//! all-MiniLM-L6-v2 reads at most 256 tokens; chunks of at most [`MAX_TOKENS`] leave room for the
//! title and headings that are embedded with each chunk. [`OVERLAP_TOKENS`] of overlap keep a
//! sentence cut at a boundary findable from both sides. Markdown bodies go through the
//! Markdown-aware splitter (it prefers to cut at headings, then paragraphs, then sentences) and
//! every chunk records the heading path above it.

use std::path::Path;

use engine::error::{Error, Result};
use text_splitter::{ChunkConfig, MarkdownSplitter, TextSplitter};
use tokenizers::Tokenizer;

use crate::extract::{Body, Extracted};

/// Largest chunk, in model tokens.
pub const MAX_TOKENS: usize = 200;
/// Chunks are filled to at least this many tokens when the text allows.
pub const DESIRED_TOKENS: usize = 150;
/// Tokens shared by consecutive chunks.
pub const OVERLAP_TOKENS: usize = 30;

/// A piece of text ready to embed, with the headings above it.
#[derive(Debug, Clone, PartialEq)]
pub struct ChunkDraft {
    pub text: String,
    pub heading_path: Vec<String>,
}

/// Splits extracted content into chunks.
pub struct Chunker {
    markdown: MarkdownSplitter<Tokenizer>,
    plain: TextSplitter<Tokenizer>,
    tokenizer: Tokenizer,
}

impl std::fmt::Debug for Chunker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chunker")
            .field("max_tokens", &MAX_TOKENS)
            .finish()
    }
}

impl Chunker {
    /// Loads the tokenizer from `tokenizer.json` in the model folder.
    pub fn load(model_dir: &Path) -> Result<Self> {
        let path = model_dir.join("tokenizer.json");
        let mut tokenizer = Tokenizer::from_file(&path).map_err(|e| {
            Error::internal(format!(
                "could not load the tokenizer {}; run scripts/setup-models.sh",
                path.display()
            ))
            .with_source(e.to_string())
        })?;
        // Sizes must count the real tokens: no padding to a fixed length, no truncation.
        tokenizer.with_padding(None);
        tokenizer.with_truncation(None).map_err(|e| {
            Error::internal("could not configure the tokenizer").with_source(e.to_string())
        })?;
        let config = || {
            ChunkConfig::new(DESIRED_TOKENS..MAX_TOKENS)
                .with_overlap(OVERLAP_TOKENS)
                .map(|c| c.with_sizer(tokenizer.clone()))
                .map_err(|e| Error::internal("invalid chunk configuration").with_source(e))
        };
        Ok(Self {
            markdown: MarkdownSplitter::new(config()?),
            plain: TextSplitter::new(config()?),
            tokenizer,
        })
    }

    /// Loads the tokenizer of the installed model (see `engine::embed::local::ModelPaths`).
    pub fn load_default() -> Result<Self> {
        Self::load(&engine::embed::local::ModelPaths::from_env().model_dir)
    }

    /// Number of model tokens in `text` (without special tokens).
    pub fn count_tokens(&self, text: &str) -> usize {
        self.tokenizer
            .encode_fast(text, false)
            .map(|e| e.len())
            .unwrap_or(0)
    }

    /// Splits `content` into chunks, in document order. Blocking (tokenisation): call from
    /// `spawn_blocking` for large texts.
    pub fn chunk(&self, content: &Extracted) -> Vec<ChunkDraft> {
        match &content.body {
            Body::Markdown(text) => {
                let headings = heading_offsets(text);
                self.markdown
                    .chunk_indices(text)
                    .map(|(offset, chunk)| ChunkDraft {
                        text: chunk.to_owned(),
                        heading_path: heading_path_at(&headings, offset),
                    })
                    .collect()
            }
            Body::Plain(text) => self
                .plain
                .chunks(text)
                .map(|chunk| ChunkDraft {
                    text: chunk.to_owned(),
                    heading_path: Vec::new(),
                })
                .collect(),
            Body::Records(records) => records
                .iter()
                .flat_map(|record| {
                    let heading = vec![record.heading.clone()];
                    if self.count_tokens(&record.text) <= MAX_TOKENS {
                        vec![ChunkDraft {
                            text: record.text.clone(),
                            heading_path: heading,
                        }]
                    } else {
                        self.plain
                            .chunks(&record.text)
                            .map(|chunk| ChunkDraft {
                                text: chunk.to_owned(),
                                heading_path: heading.clone(),
                            })
                            .collect()
                    }
                })
                .collect(),
        }
    }
}

/// `(byte offset, level, text)` of every ATX heading line.
fn heading_offsets(markdown: &str) -> Vec<(usize, usize, String)> {
    let mut out = Vec::new();
    let mut offset = 0;
    for line in markdown.split_inclusive('\n') {
        let trimmed = line.trim_end();
        let level = trimmed.chars().take_while(|c| *c == '#').count();
        if (1..=6).contains(&level) && trimmed[level..].starts_with(' ') {
            out.push((offset, level, trimmed[level..].trim().to_owned()));
        }
        offset += line.len();
    }
    out
}

/// The headings in force at `offset`, outermost first (a chunk starting with a heading counts
/// it as its own).
fn heading_path_at(headings: &[(usize, usize, String)], offset: usize) -> Vec<String> {
    let mut stack: Vec<(usize, &str)> = Vec::new();
    for (at, level, text) in headings {
        if *at > offset {
            break;
        }
        while stack.last().is_some_and(|(l, _)| l >= level) {
            stack.pop();
        }
        stack.push((*level, text));
    }
    stack.into_iter().map(|(_, t)| t.to_owned()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::Record;

    fn chunker() -> Chunker {
        Chunker::load_default().expect("tokenizer installed by setup-models.sh")
    }

    #[test]
    fn long_text_is_cut_into_chunks_within_the_token_budget_with_overlap() {
        let chunker = chunker();
        let sentences: Vec<String> = (0..120)
            .map(|i| format!("Sentence number {i} explains one more detail of the return policy."))
            .collect();
        let text = sentences.join(" ");
        let chunks = chunker.chunk(&Extracted {
            title: None,
            body: Body::Plain(text),
        });
        assert!(chunks.len() >= 8, "{} chunks", chunks.len());
        for chunk in &chunks {
            let tokens = chunker.count_tokens(&chunk.text);
            assert!(tokens <= MAX_TOKENS, "{tokens} tokens");
        }
        // Overlap: the start of each chunk appeared at the end of the previous one.
        let first_words: String = chunks[1]
            .text
            .split(' ')
            .take(3)
            .collect::<Vec<_>>()
            .join(" ");
        assert!(chunks[0].text.contains(&first_words), "{first_words:?}");
    }

    #[test]
    fn markdown_chunks_carry_their_heading_path() {
        let chunker = chunker();
        let body = format!(
            "# Help\n\nIntro.\n\n## Shipping\n\n{}\n\n### International\n\n{}\n\n## Returns\n\nSend it back within 30 days.",
            "We ship fast. ".repeat(60),
            "Abroad takes a week. ".repeat(60)
        );
        let chunks = chunker.chunk(&Extracted {
            title: None,
            body: Body::Markdown(body),
        });
        let last = chunks.last().expect("chunks");
        assert!(last.text.contains("30 days"));
        assert_eq!(last.heading_path, vec!["Help", "Returns"]);
        let abroad = chunks
            .iter()
            .find(|c| c.text.starts_with("Abroad"))
            .expect("a chunk starts in the International section");
        assert_eq!(
            abroad.heading_path,
            vec!["Help", "Shipping", "International"]
        );
    }

    #[test]
    fn each_record_is_one_chunk_under_its_heading() {
        let chunks = chunker().chunk(&Extracted {
            title: None,
            body: Body::Records(vec![
                Record {
                    heading: "Q1?".into(),
                    text: "Q1?\nA1.".into(),
                    metadata: serde_json::Value::Null,
                },
                Record {
                    heading: "Q2?".into(),
                    text: "Q2?\nA2.".into(),
                    metadata: serde_json::Value::Null,
                },
            ]),
        });
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[1].heading_path, vec!["Q2?"]);
        assert_eq!(chunks[1].text, "Q2?\nA2.");
    }
}
