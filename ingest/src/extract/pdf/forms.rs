//! Forms that draw themselves. pdf-extract follows every `Do` (draw an XObject) into the form's
//! content with a recursive call and no depth limit, so a form whose content draws itself,
//! directly or through other forms, overflows the extracting thread's stack, and a stack
//! overflow aborts the whole process (it is not a panic `catch_unwind` could stop): a 600-byte
//! upload would take the server down.
//!
//! [`check`] walks the graph pdf-extract would walk, before it does: from each page's content,
//! every `Do` is resolved in the resources in effect (the form's own, else its caller's, as
//! pdf-extract resolves them), and the file is refused when a form is reached again on its own
//! path or forms nest deeper than [`MAX_FORM_DEPTH`]. A form already walked with the same
//! resources is not walked again, so a form drawn many times costs one walk.

use std::collections::HashSet;

use engine::error::{Error, Result};
use pdf_extract::content::Content;
use pdf_extract::{Dictionary, Document, Object, ObjectId, Stream};

use super::page_tree::MAX_PAGE_TREE_DEPTH;

/// Deepest nesting of forms accepted (real documents nest a handful).
pub const MAX_FORM_DEPTH: usize = 32;

/// Refuses a file whose forms draw themselves or nest past [`MAX_FORM_DEPTH`].
///
/// # Errors
/// Unprocessable, naming the problem.
pub fn check(doc: &Document) -> Result<()> {
    let empty = Dictionary::new();
    let mut walked = HashSet::new();
    for page_id in doc.page_iter() {
        let Ok(page) = doc.get_dictionary(page_id) else {
            continue;
        };
        let resources = inherited_resources(doc, page).unwrap_or(&empty);
        let Ok(content) = doc.get_page_content(page_id) else {
            continue;
        };
        let mut walk = Walk {
            doc,
            path: Vec::new(),
            walked: &mut walked,
        };
        walk.content(&content, resources)?;
    }
    Ok(())
}

struct Walk<'a, 'w> {
    doc: &'a Document,
    /// The forms being drawn, outermost first.
    path: Vec<ObjectId>,
    /// (form, resources) pairs whose whole subtree was walked without a finding.
    walked: &'w mut HashSet<(ObjectId, *const Dictionary)>,
}

impl<'a> Walk<'a, '_> {
    /// Follows every form `content` draws, resolved in `resources`.
    fn content(&mut self, content: &[u8], resources: &'a Dictionary) -> Result<()> {
        // Content pdf-extract cannot decode fails there too, caught as a readable reason.
        let Ok(content) = Content::decode(content) else {
            return Ok(());
        };
        for operation in content.operations.iter().filter(|op| op.operator == "Do") {
            let Some(name) = operation.operands.first().and_then(|o| o.as_name().ok()) else {
                continue;
            };
            if let Some((id, form)) = self.form_named(resources, name) {
                self.form(id, form, resources)?;
            }
        }
        Ok(())
    }

    /// Walks into the form `id`, drawn where `caller_resources` are in effect.
    fn form(
        &mut self,
        id: ObjectId,
        form: &'a Stream,
        caller_resources: &'a Dictionary,
    ) -> Result<()> {
        if self.path.contains(&id) {
            return Err(Error::unprocessable(
                "the PDF is corrupt or unreadable (a form in it draws itself, without end)",
            ));
        }
        if self.path.len() >= MAX_FORM_DEPTH {
            return Err(Error::unprocessable(format!(
                "the PDF is corrupt or unreadable (its forms nest more than {MAX_FORM_DEPTH} deep)"
            )));
        }
        let resources = form
            .dict
            .get(b"Resources")
            .ok()
            .and_then(|r| self.doc.dereference(r).ok())
            .and_then(|(_, r)| r.as_dict().ok())
            .unwrap_or(caller_resources);
        let key = (id, std::ptr::from_ref(resources));
        if self.walked.contains(&key) {
            return Ok(());
        }
        self.path.push(id);
        self.content(&decoded(form), resources)?;
        self.path.pop();
        self.walked.insert(key);
        Ok(())
    }

    /// The form XObject `name` refers to in `resources`, with its object id.
    fn form_named(&self, resources: &'a Dictionary, name: &[u8]) -> Option<(ObjectId, &'a Stream)> {
        let (_, xobjects) = self.doc.dereference(resources.get(b"XObject").ok()?).ok()?;
        let (id, object) = self
            .doc
            .dereference(xobjects.as_dict().ok()?.get(name).ok()?)
            .ok()?;
        match object {
            // A stream is always an indirect object, so it has an id.
            Object::Stream(stream) => Some((id?, stream)),
            _ => None,
        }
    }
}

/// The resources a page inherits: its own, else the nearest ancestor's (as pdf-extract looks
/// them up).
fn inherited_resources<'a>(doc: &'a Document, page: &'a Dictionary) -> Option<&'a Dictionary> {
    let mut node = page;
    for _ in 0..MAX_PAGE_TREE_DEPTH {
        if let Ok(resources) = node.get(b"Resources") {
            return doc.dereference(resources).ok()?.1.as_dict().ok();
        }
        let parent = node.get(b"Parent").ok()?.as_reference().ok()?;
        node = doc.get_dictionary(parent).ok()?;
    }
    None
}

/// A stream's content as pdf-extract reads it: decoded when its filters are known, else raw.
/// (The budget check has already bounded what decoding inflates.)
fn decoded(stream: &Stream) -> Vec<u8> {
    if stream.filters().is_ok() {
        stream
            .decompressed_content()
            .unwrap_or_else(|_| stream.content.clone())
    } else {
        stream.content.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::super::samples;
    use super::*;

    /// A one-page PDF whose page draws form 5 0 R as `/X` (and offers the empty form 6 0 R as
    /// `/Y`); the form's content is `form`, its own resources `form_resources` (dictionary
    /// entries, or empty for none).
    fn pdf_with_form(form: &str, form_resources: &str) -> Vec<u8> {
        let form_dict = format!("/Type /XObject /Subtype /Form /BBox [0 0 10 10] {form_resources}");
        samples::assemble(&[
            b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] \
              /Resources << /XObject << /X 5 0 R /Y 6 0 R >> >> /Contents 4 0 R >>"
                .to_vec(),
            samples::stream_object("", b"/X Do"),
            samples::stream_object(&form_dict, form.as_bytes()),
            samples::stream_object("/Type /XObject /Subtype /Form /BBox [0 0 10 10]", b""),
        ])
    }

    fn checked(bytes: &[u8]) -> Result<()> {
        check(&Document::load_mem(bytes).expect("a PDF lopdf loads"))
    }

    #[test]
    fn a_form_drawing_itself_through_inherited_resources_is_refused() {
        // The form has no resources of its own: `/X` resolves in the page's, to itself.
        let err = checked(&pdf_with_form("/X Do", "")).expect_err("a cycle");
        assert!(err.message().contains("draws itself"), "{err:?}");
    }

    #[test]
    fn a_form_drawing_itself_through_its_own_resources_is_refused() {
        let err = checked(&pdf_with_form(
            "/Me Do",
            "/Resources << /XObject << /Me 5 0 R >> >>",
        ))
        .expect_err("a cycle");
        assert!(err.message().contains("draws itself"), "{err:?}");
    }

    #[test]
    fn forms_drawing_other_forms_many_times_are_fine() {
        // The form draws the empty form `/Y` (found in the inherited page resources) twice.
        assert!(checked(&pdf_with_form("/Y Do /Y Do", "")).is_ok());
        assert!(checked(&pdf_with_form("", "")).is_ok());
    }

    #[test]
    fn the_whole_extraction_refuses_the_self_drawing_form_instead_of_crashing() {
        let err = super::super::extract_pdf(&pdf_with_form("/X Do", "")).expect_err("refused");
        assert!(err.message().contains("draws itself"), "{err:?}");
    }
}
