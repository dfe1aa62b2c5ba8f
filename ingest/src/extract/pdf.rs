//! PDF text through `pdf-extract`, after a check that bounds what it inflates.
//!
//! pdf-extract (over lopdf) decodes every stream it reads whole, with no size limit: a PDF of
//! FlateDecode streams of zeros can ask for a thousand times its size in memory. Before
//! extracting, `budget::check` measures what extraction would inflate, each stream through a
//! streaming decoder that counts its output and stops past a limit (`decode`), and refuses
//! the file when:
//!
//! - one stream (every stage of its filter chain counted), or one page's content streams
//!   joined, inflate past [`MAX_STREAM_BYTES`] (128 MiB);
//! - all streams together inflate past [`MAX_INFLATION_RATIO`] (64) times the file's
//!   size, clamped between [`MIN_TOTAL_BYTES`] (64 MiB) and
//!   [`MAX_TOTAL_BYTES`] (512 MiB).
//!
//! That covers the three places lopdf inflates: cross-reference streams while it locates the
//! objects (measured in the raw bytes first, `xref`), object streams while it loads and
//! decrypts (the check loads with them kept packed and measures them before unpacking), and
//! the page contents, fonts and XObjects pdf-extract reads (every stream of the file is
//! measured, as pdf-extract may decode any XObject a page draws). The check itself holds the
//! file's objects and, once they have fit the budget, its unpacked object streams.
//!
//! The same check refuses forms that draw themselves (`forms`) and page trees whose `/Parent`
//! links loop (`page_tree`): pdf-extract would recurse until the thread's stack overflowed,
//! which aborts the process.
//!
//! The parser panics on some malformed files, so everything runs inside `catch_unwind`;
//! every failure becomes a reason a dashboard user can act on.

mod budget;
mod decode;
mod forms;
mod page_tree;
mod xref;

pub use budget::{MAX_INFLATION_RATIO, MAX_STREAM_BYTES, MAX_TOTAL_BYTES, MIN_TOTAL_BYTES};

use budget::Verdict;
use engine::error::{Error, Result};

/// Extracts the text of a PDF. Blocking.
pub fn extract_pdf(bytes: &[u8]) -> Result<String> {
    if !bytes.starts_with(b"%PDF-") {
        return Err(Error::unprocessable(
            "the file is not a PDF (it does not start with %PDF-)",
        ));
    }
    std::panic::catch_unwind(|| checked_text(bytes)).unwrap_or_else(|_| {
        Err(Error::unprocessable(
            "the PDF is corrupt or unreadable (the parser failed on it)",
        ))
    })
}

/// Checks the budget, then extracts.
fn checked_text(bytes: &[u8]) -> Result<String> {
    match budget::check(bytes)? {
        Verdict::Encrypted => Err(Error::unprocessable(
            "the PDF is encrypted (password-protected); upload an unprotected copy",
        )),
        Verdict::Readable => pdf_extract::extract_text_from_mem(bytes)
            .map_err(|e| Error::unprocessable(format!("the PDF is corrupt or unreadable ({e})"))),
    }
}

#[cfg(test)]
mod samples;

#[cfg(test)]
mod tests {
    use super::samples::{self, zlib_of_spaces};
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/knowledge")
            .join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// The process's peak resident memory so far (`VmHWM`), in MiB.
    fn peak_rss_mib() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap();
        kib / 1024
    }

    /// Asserts `bytes` is refused as a bomb, and that the process never held anything near
    /// `inflated_mib` (tests of this binary run in parallel, so the peak is the process's,
    /// but none of the others comes near a gigabyte).
    fn assert_refused_as_bomb(bytes: &[u8], inflated_mib: u64) {
        let err = extract_pdf(bytes).expect_err("a bomb");
        assert!(
            err.message()
                .starts_with("the PDF's compressed content inflates past"),
            "{err:?}"
        );
        let peak = peak_rss_mib();
        assert!(
            peak < inflated_mib / 2,
            "peak {peak} MiB for {inflated_mib} MiB"
        );
    }

    #[test]
    fn text_of_a_small_real_pdf_is_extracted() {
        let text = extract_pdf(&fixture("warranty.pdf")).expect("extract");
        assert!(text.contains("two year warranty"), "{text:?}");
    }

    #[test]
    fn a_small_pdf_built_here_is_extracted() {
        let pdf = samples::with_page_content(&zlib_of_spaces(
            b"BT /F1 12 Tf 72 712 Td (Refunds within 30 days) Tj ET\n",
            1,
        ));
        let text = extract_pdf(&pdf).expect("extract");
        assert!(text.contains("Refunds within 30 days"), "{text:?}");
    }

    #[test]
    fn a_content_stream_bomb_is_refused_without_being_inflated() {
        // 2 GiB of spaces after the text, from about 2 MB.
        let content = zlib_of_spaces(b"BT /F1 12 Tf 72 712 Td (hi) Tj ET\n", 2048);
        let pdf = samples::with_page_content(&content);
        assert!(pdf.len() < 4 << 20, "{} bytes", pdf.len());
        assert_refused_as_bomb(&pdf, 2048);
        let err = extract_pdf(&pdf).expect_err("a bomb");
        // The file is about 2 MB: the total allowed is 64 times that, 128 MiB, which one
        // stream reaches first.
        assert!(err.message().contains("past 128 MiB"), "{err:?}");
    }

    #[test]
    fn an_object_stream_bomb_is_refused_before_lopdf_unpacks_it() {
        let pdf = samples::with_object_stream_bomb(2048);
        assert_refused_as_bomb(&pdf, 2048);
    }

    #[test]
    fn a_cross_reference_stream_bomb_is_refused_before_lopdf_reads_it() {
        let pdf = samples::with_xref_stream_bomb(2048);
        assert_refused_as_bomb(&pdf, 2048);
    }

    #[test]
    fn a_page_listing_one_stream_many_times_is_refused() {
        // 1 MiB inflated, listed 200 times: lopdf would join 200 MiB for the page.
        let pdf = samples::with_repeated_content(&zlib_of_spaces(b"", 1), 200);
        let err = extract_pdf(&pdf).expect_err("too much for one page");
        assert!(err.message().contains("in one page"), "{err:?}");
    }

    #[test]
    fn a_length_inside_an_object_stream_does_not_hide_a_bomb() {
        let pdf = samples::with_deferred_length_bomb(1024);
        assert_refused_as_bomb(&pdf, 1024);
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
