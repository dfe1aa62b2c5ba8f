//! PDF text through `pdf-extract`. The parser panics on some malformed files, so it runs inside
//! `catch_unwind`; every failure becomes a reason a dashboard user can act on.

use engine::error::{Error, Result};

/// Extracts the text of a PDF. Blocking.
pub fn extract_pdf(bytes: &[u8]) -> Result<String> {
    if !bytes.starts_with(b"%PDF-") {
        return Err(Error::unprocessable(
            "the file is not a PDF (it does not start with %PDF-)",
        ));
    }
    let encrypted = std::panic::catch_unwind(|| {
        pdf_extract::Document::load_mem(bytes)
            .map(|doc| doc.is_encrypted())
            .unwrap_or(false)
    })
    .unwrap_or(false);
    let outcome = std::panic::catch_unwind(|| pdf_extract::extract_text_from_mem(bytes));
    match outcome {
        Ok(Ok(text)) => Ok(text),
        Ok(Err(_)) | Err(_) if encrypted => Err(Error::unprocessable(
            "the PDF is encrypted (password-protected); upload an unprotected copy",
        )),
        Ok(Err(e)) => Err(Error::unprocessable(format!(
            "the PDF is corrupt or unreadable ({e})"
        ))),
        Err(_) => Err(Error::unprocessable(
            "the PDF is corrupt or unreadable (the parser failed on it)",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/knowledge")
            .join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[test]
    fn text_of_a_small_real_pdf_is_extracted() {
        let text = extract_pdf(&fixture("warranty.pdf")).expect("extract");
        assert!(text.contains("two year warranty"), "{text:?}");
    }

    #[test]
    fn a_truncated_pdf_fails_with_a_readable_reason() {
        let mut bytes = fixture("warranty.pdf");
        bytes.truncate(60);
        let err = extract_pdf(&bytes).expect_err("corrupt");
        assert!(err.message().starts_with("the PDF is corrupt"), "{err:?}");
    }

    #[test]
    fn something_else_named_pdf_is_refused() {
        let err = extract_pdf(b"<html>not a pdf</html>").expect_err("not a pdf");
        assert!(err.message().contains("not a PDF"));
    }
}
