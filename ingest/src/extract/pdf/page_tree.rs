//! Page trees that never end. pdf-extract looks up a page's inherited attributes (its media box
//! and the like) by following `/Parent` links with a recursive call and no limit, so a page
//! whose parents loop back on themselves without the attribute overflows the extracting
//! thread's stack, which aborts the whole process. Found by the `pdf_extract` fuzz target: a
//! file of under a kilobyte.
//!
//! [`check`] follows every page's `/Parent` links first and refuses the file when one chain
//! loops or is longer than [`MAX_PAGE_TREE_DEPTH`] (real files nest a few levels).

use std::collections::HashSet;

use engine::error::{Error, Result};
use pdf_extract::{Document, ObjectId};

/// Most `/Parent` links accepted from a page to the root of its tree.
pub const MAX_PAGE_TREE_DEPTH: usize = 64;

/// Refuses a file in which a page's `/Parent` chain loops or nests past
/// [`MAX_PAGE_TREE_DEPTH`].
///
/// # Errors
/// Unprocessable, naming the problem.
pub fn check(doc: &Document) -> Result<()> {
    for page_id in doc.page_iter() {
        check_chain(doc, page_id)?;
    }
    Ok(())
}

fn check_chain(doc: &Document, page_id: ObjectId) -> Result<()> {
    let mut seen = HashSet::from([page_id]);
    let mut node = page_id;
    for _ in 0..=MAX_PAGE_TREE_DEPTH {
        let Some(parent) = doc
            .get_dictionary(node)
            .ok()
            .and_then(|d| d.get(b"Parent").ok())
            .and_then(|p| p.as_reference().ok())
        else {
            return Ok(());
        };
        if !seen.insert(parent) {
            return Err(Error::unprocessable(
                "the PDF's page tree loops back on itself (a page's parents lead back to it); \
                 it cannot be read",
            ));
        }
        node = parent;
    }
    Err(Error::unprocessable(format!(
        "the PDF's page tree nests deeper than {MAX_PAGE_TREE_DEPTH} levels; it cannot be read"
    )))
}

#[cfg(test)]
mod tests {
    use super::super::samples;
    use super::*;

    /// A one-page PDF whose page's `/Parent` is `parent` and whose page tree node 2 has
    /// `node_parent` entries; no `/MediaBox` anywhere, so pdf-extract would climb for ever.
    fn pdf_with_parents(parent: &str, node_parent: &str) -> Vec<u8> {
        samples::assemble(&[
            b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
            format!("<< /Type /Pages /Kids [3 0 R] /Count 1 {node_parent} >>").into_bytes(),
            format!("<< /Type /Page /Parent {parent} /Contents 4 0 R >>").into_bytes(),
            samples::stream_object("", b"BT ET"),
        ])
    }

    fn checked(bytes: &[u8]) -> Result<()> {
        check(&Document::load_mem(bytes).expect("a PDF lopdf loads"))
    }

    #[test]
    fn a_page_that_is_its_own_parent_is_refused() {
        let err = checked(&pdf_with_parents("3 0 R", "")).expect_err("a loop");
        assert!(err.message().contains("loops back"), "{err:?}");
    }

    #[test]
    fn parents_that_lead_back_to_each_other_are_refused() {
        let err = checked(&pdf_with_parents("2 0 R", "/Parent 3 0 R")).expect_err("a loop");
        assert!(err.message().contains("loops back"), "{err:?}");
    }

    #[test]
    fn an_ordinary_page_tree_is_fine() {
        assert!(checked(&pdf_with_parents("2 0 R", "")).is_ok());
    }

    #[test]
    fn the_whole_extractor_refuses_the_loop_instead_of_overflowing() {
        let err =
            crate::extract::pdf::extract_pdf(&pdf_with_parents("3 0 R", "")).expect_err("refused");
        assert!(err.message().contains("page tree"), "{err:?}");
    }
}
