//! Extraction: bytes of a known format -> text with structure.
//!
//! Prose formats (PDF, HTML, Markdown, plain text) become one Markdown or plain body that the
//! chunker splits; record formats (FAQ pairs, product rows from CSV or JSON) become one record
//! per pair or row, each indexed as its own chunk with its fields kept as metadata.
//!
//! - [`pdf`]: PDF text (panics of the parser are caught; encrypted or corrupt files fail with a
//!   readable reason).
//! - [`html`]: the main content of a page, headings as `#`, boilerplate dropped.
//! - [`docx`]: Word documents: headings as `#`, paragraphs, table rows (zip-bomb capped).
//! - [`records`]: FAQ pairs and product rows (CSV, JSON).

pub mod docx;
pub mod html;
pub mod pdf;
pub mod records;

use engine::error::{Error, Result};
use serde::{Deserialize, Serialize};

use crate::normalize::normalize;

/// A format the pipeline can extract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Pdf,
    Docx,
    Html,
    Markdown,
    PlainText,
    Csv,
    Json,
}

impl Format {
    /// Picks the format from a content type (parameters ignored) or, failing that, the file
    /// name's extension. `None` means unsupported (415).
    pub fn detect(content_type: Option<&str>, file_name: Option<&str>) -> Option<Format> {
        let by_type = content_type.and_then(|ct| {
            let essence = ct
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            Some(match essence.as_str() {
                "application/pdf" => Format::Pdf,
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document" => {
                    Format::Docx
                }
                "text/html" | "application/xhtml+xml" => Format::Html,
                "text/markdown" | "text/x-markdown" => Format::Markdown,
                "text/plain" => Format::PlainText,
                "text/csv" | "application/csv" => Format::Csv,
                "application/json" => Format::Json,
                _ => return None,
            })
        });
        let by_name = file_name.and_then(|name| {
            let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
            Some(match ext.as_str() {
                "pdf" => Format::Pdf,
                "docx" => Format::Docx,
                "html" | "htm" => Format::Html,
                "md" | "markdown" => Format::Markdown,
                "txt" | "text" => Format::PlainText,
                "csv" => Format::Csv,
                "json" => Format::Json,
                _ => return None,
            })
        });
        // A browser labels many files `application/octet-stream` or `text/plain`: a precise
        // extension wins over a generic type.
        match (by_type, by_name) {
            (Some(Format::PlainText), Some(named)) => Some(named),
            (Some(t), _) => Some(t),
            (None, named) => named,
        }
    }
}

/// One record: an FAQ pair or a product row, indexed as its own chunk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Shown as the chunk's heading (the question, the product name).
    pub heading: String,
    /// The searchable text (`field: value` lines for products).
    pub text: String,
    /// The original fields.
    pub metadata: serde_json::Value,
}

/// What extraction produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "content", rename_all = "snake_case")]
pub enum Body {
    /// Markdown with `#` headings, split by the Markdown-aware splitter.
    Markdown(String),
    /// Text without structure.
    Plain(String),
    /// One chunk per record.
    Records(Vec<Record>),
}

/// The extracted, normalised content of one source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Extracted {
    /// A title found in the content (`<title>`, the first `#` heading), if any.
    pub title: Option<String>,
    pub body: Body,
}

impl Extracted {
    /// The text whose sha256 is the document's content hash.
    pub fn canonical_text(&self) -> String {
        match &self.body {
            Body::Markdown(t) | Body::Plain(t) => t.clone(),
            Body::Records(records) => records
                .iter()
                .map(|r| format!("{}\n{}", r.heading, r.text))
                .collect::<Vec<_>>()
                .join("\n\n"),
        }
    }

    /// True when there is nothing to index.
    pub fn is_empty(&self) -> bool {
        match &self.body {
            Body::Markdown(t) | Body::Plain(t) => t.trim().is_empty(),
            Body::Records(r) => r.is_empty(),
        }
    }
}

/// Extracts `bytes` of `format`. Blocking (PDF parsing can take a while): call from
/// `spawn_blocking`.
pub fn extract(format: Format, bytes: &[u8]) -> Result<Extracted> {
    let extracted = match format {
        Format::Pdf => Extracted {
            title: None,
            body: Body::Plain(normalize(&pdf::extract_pdf(bytes)?)),
        },
        Format::Docx => docx::extract_docx(bytes)?,
        Format::Html => html::extract_html(&utf8(bytes)?),
        Format::Markdown => {
            let text = normalize(&utf8(bytes)?);
            Extracted {
                title: first_heading(&text),
                body: Body::Markdown(text),
            }
        }
        Format::PlainText => Extracted {
            title: None,
            body: Body::Plain(normalize(&utf8(bytes)?)),
        },
        Format::Csv => Extracted {
            title: None,
            body: Body::Records(records::csv_rows(bytes)?),
        },
        Format::Json => records::json_document(bytes)?,
    };
    if extracted.is_empty() {
        return Err(Error::unprocessable(match format {
            Format::Html => "the page has no readable text (only scripts or navigation)",
            Format::Pdf => "the PDF contains no extractable text (a scan without OCR?)",
            _ => "the document contains no text",
        }));
    }
    Ok(extracted)
}

/// Longest time one file's (or one fetched page's) extraction may take by default
/// ([`crate::KnowledgeConfig::extract_timeout`]). A 25 MiB text PDF extracts in a few seconds;
/// a file that takes longer is too complex or built to stall the parser.
pub const EXTRACT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Extracts `bytes` of an uploaded file with [`bounded`].
pub async fn extract_bounded(
    format: Format,
    bytes: Vec<u8>,
    budget: std::time::Duration,
) -> Result<Extracted> {
    bounded(budget, "the file", move || extract(format, &bytes)).await
}

/// Runs blocking extraction `work` on the blocking pool under `budget`. Past it the caller
/// gets an unprocessable error naming `what` at once; the parser cannot be interrupted
/// (`pdf-extract` has no cancellation), so its thread finishes in the background and its
/// result is dropped.
pub async fn bounded<T: Send + 'static>(
    budget: std::time::Duration,
    what: &str,
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    let work = tokio::task::spawn_blocking(work);
    match tokio::time::timeout(budget, work).await {
        Ok(joined) => joined.map_err(|e| Error::internal("extraction failed").with_source(e))?,
        Err(_) => {
            tracing::warn!(what, "extraction ran past its time budget");
            Err(Error::unprocessable(format!(
                "reading {what} took longer than {} (too complex or damaged)",
                spoken(budget)
            )))
        }
    }
}

/// A budget as people say it: "30 seconds", or "250 ms" under a second.
fn spoken(budget: std::time::Duration) -> String {
    if budget.as_secs() >= 1 {
        format!("{} seconds", budget.as_secs())
    } else {
        format!("{} ms", budget.as_millis())
    }
}

/// Decodes UTF-8 (with or without a byte-order mark); other encodings are read as Latin-1,
/// which never fails and keeps ASCII intact.
fn utf8(bytes: &[u8]) -> Result<String> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(s) => Ok(s.to_owned()),
        Err(_) => Ok(bytes.iter().map(|b| char::from(*b)).collect()),
    }
}

/// The text of the first Markdown heading.
pub fn first_heading(markdown: &str) -> Option<String> {
    markdown.lines().find_map(|line| {
        let trimmed = line.trim_start();
        let rest = trimmed.trim_start_matches('#');
        (trimmed.starts_with('#') && rest.starts_with(' ') && !rest.trim().is_empty())
            .then(|| rest.trim().to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn work_past_its_budget_fails_at_once_with_a_reason() {
        let started = std::time::Instant::now();
        let err = bounded(
            std::time::Duration::from_millis(50),
            "the page https://shop.example/",
            || {
                std::thread::sleep(std::time::Duration::from_secs(2));
                Ok(())
            },
        )
        .await
        .expect_err("past its budget");
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        assert_eq!(
            err.message(),
            "reading the page https://shop.example/ took longer than 50 ms (too complex or damaged)"
        );
        let ok = bounded(std::time::Duration::from_secs(5), "the file", || Ok(7)).await;
        assert_eq!(ok.expect("within budget"), 7);
    }

    #[test]
    fn formats_are_detected_from_type_or_extension() {
        assert_eq!(
            Format::detect(Some("application/pdf"), None),
            Some(Format::Pdf)
        );
        assert_eq!(
            Format::detect(Some("text/html; charset=utf-8"), None),
            Some(Format::Html)
        );
        assert_eq!(
            Format::detect(Some("text/plain"), Some("faq.md")),
            Some(Format::Markdown)
        );
        assert_eq!(
            Format::detect(Some("application/octet-stream"), Some("products.CSV")),
            Some(Format::Csv)
        );
        assert_eq!(Format::detect(Some("image/png"), Some("logo.png")), None);
        assert_eq!(Format::detect(None, Some("archive.zip")), None);
        assert_eq!(
            Format::detect(Some("application/octet-stream"), Some("Policy.DOCX")),
            Some(Format::Docx)
        );
        assert_eq!(
            Format::detect(
                Some("application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
                None
            ),
            Some(Format::Docx)
        );
    }

    #[test]
    fn markdown_keeps_its_headings_and_title() {
        let out = extract(Format::Markdown, b"# Returns\n\nSend it  back.\n").expect("extract");
        assert_eq!(out.title.as_deref(), Some("Returns"));
        assert_eq!(
            out.body,
            Body::Markdown("# Returns\n\nSend it back.".into())
        );
    }

    #[test]
    fn empty_documents_are_refused_with_a_reason() {
        let err = extract(Format::PlainText, b"  \n\n ").expect_err("empty");
        assert_eq!(err.message(), "the document contains no text");
    }
}
