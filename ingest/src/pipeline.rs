//! From extracted content to the chunks of one generation of a document.

use engine::ids::{DocumentId, OrganizationId};
use engine::knowledge::{content_hash, Chunk};

use crate::chunk::Chunker;
use crate::extract::Extracted;

/// One source page (an upload has one, a crawl several).
#[derive(Debug, Clone)]
pub struct SourcePage {
    pub url: Option<String>,
    pub extracted: Extracted,
}

/// What a document is indexed as.
#[derive(Debug, Clone)]
pub struct DocumentMeta {
    pub organization_id: OrganizationId,
    pub document_id: DocumentId,
    pub generation: i64,
    pub title: String,
    pub tags: Vec<String>,
}

/// The content hash of a set of pages (sha256 of their normalised texts, in order).
pub fn pages_hash(pages: &[SourcePage]) -> String {
    let joined = pages
        .iter()
        .map(|p| p.extracted.canonical_text())
        .collect::<Vec<_>>()
        .join("\n\n");
    content_hash(&joined)
}

/// Chunks every page, numbering chunks across pages. Blocking (tokenisation).
pub fn build_chunks(
    chunker: &Chunker,
    meta: &DocumentMeta,
    pages: &[SourcePage],
    hash: &str,
) -> Vec<Chunk> {
    let mut chunks = Vec::new();
    for page in pages {
        // Pages of a crawl carry their own title; a single upload uses the document's.
        let title = if pages.len() > 1 {
            page.extracted
                .title
                .clone()
                .unwrap_or_else(|| meta.title.clone())
        } else {
            meta.title.clone()
        };
        for draft in chunker.chunk(&page.extracted) {
            chunks.push(Chunk {
                organization_id: meta.organization_id.clone(),
                document_id: meta.document_id.clone(),
                generation: meta.generation,
                chunk_index: chunks.len() as i64,
                text: draft.text,
                title: title.clone(),
                url: page.url.clone(),
                heading_path: draft.heading_path,
                tags: meta.tags.clone(),
                content_hash: hash.to_owned(),
            });
        }
    }
    chunks
}
