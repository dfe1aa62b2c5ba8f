//! The parsers Blaigent runs on bytes from outside, called the way the server calls them.
//!
//! Each `pub fn <target>(data)` feeds `data` to the very function the server uses for that
//! input and checks what a client would see:
//! - no panic (a panic in an upload's extraction is a 500, in a webhook a dropped message);
//! - a refusal is a 4xx with a reason: never [`ErrorKind::Internal`] or another 5xx kind;
//! - what comes out is bounded by what went in (linearly, or by a documented cap);
//! - a forged signature is refused and the genuine one accepted, whatever the body.
//!
//! `fuzz_targets/<target>.rs` runs these under libFuzzer (`scripts/fuzz.sh`);
//! `tests/tests/fuzz_corpus.rs` includes this file and replays every input of `fuzz/corpus/`
//! and `fuzz/regressions/` through it on each `cargo test`.
//!
//! Inputs that carry a header beside a body (the signature headers, the multipart content
//! type) hold the header on their first line and the body after the first `\n`.

use axum::extract::{FromRequest, Multipart};
use engine::channels::{mailgun, meta, twilio};
use engine::error::{Error, ErrorKind};
use ingest::extract::{extract, Body, Extracted, Format};

/// A fuzz target: takes any bytes, panics only on a defect.
pub type Target = fn(&[u8]);

/// Every target, by the name of its `fuzz_targets/` file and corpus folder.
pub const TARGETS: &[(&str, Target)] = &[
    ("pdf_extract", pdf_extract),
    ("html_extract", html_extract),
    ("docx", docx),
    ("product_rows", product_rows),
    ("twilio_form", twilio_form),
    ("meta_payload", meta_payload),
    ("mailgun_form", mailgun_form),
    ("multipart_upload", multipart_upload),
];

/// Signing secrets of the channel the payloads are "sent" to.
const SECRET: &str = "fuzz-secret-0123456789abcdef";
/// The URL Twilio would have requested (part of what it signs).
const TWILIO_URL: &str = "https://agent.example.test/api/v1/channels/ch_fuzz/twilio/messages";
/// The server clock for Mailgun's freshness check (a fixed instant keeps runs reproducible).
const NOW_SECS: i64 = 1_770_000_000;
/// Largest XML a Word document may inflate to before it is refused (the docx reader's cap,
/// 32 MiB); its text cannot be longer than that, times the normalisation margin below.
const DOCX_XML_CAP: usize = 32 * 1024 * 1024;
/// Unicode NFC can triple the UTF-8 length of a string (the standard's bound), and the
/// Markdown rendering adds a few bytes per element (`# `, `- `, blank lines); outputs are
/// allowed this many bytes per input byte, plus a constant for the shortest inputs.
const GROWTH: usize = 8;
const SLACK: usize = 256;

/// A PDF upload: `ingest::extract::extract(Format::Pdf, ..)`. The text of a PDF has no
/// linear bound (compressed streams, fonts that map one code to many characters), so only a
/// clean outcome is checked here.
pub fn pdf_extract(data: &[u8]) {
    checked_extract(Format::Pdf, data, usize::MAX);
}

/// An HTML upload or a crawled page.
pub fn html_extract(data: &[u8]) {
    checked_extract(Format::Html, data, GROWTH * data.len() + SLACK);
}

/// A Word upload (a zip archive whose `word/document.xml` is inflated under a cap).
pub fn docx(data: &[u8]) {
    checked_extract(Format::Docx, data, 4 * DOCX_XML_CAP);
}

/// Product data, the same bytes read as a CSV upload and as a JSON upload.
pub fn product_rows(data: &[u8]) {
    // A CSV header is repeated in every row's text, so the whole output is bounded by
    // rows x (header + row), each record by a multiple of the input.
    if let Some(out) = checked_extract(Format::Csv, data, usize::MAX) {
        let Body::Records(records) = &out.body else {
            panic!("CSV must give records, got {:?}", out.body);
        };
        let lines = data.iter().filter(|b| **b == b'\n' || **b == b'\r').count() + 1;
        assert!(
            records.len() <= lines,
            "{} records from {lines} lines",
            records.len()
        );
        for record in records {
            let size = record.heading.len() + record.text.len();
            assert!(
                size <= GROWTH * data.len() + SLACK,
                "a {size}-byte record from {} bytes",
                data.len()
            );
        }
    }
    // JSON numbers print longer than they are written (`1e15` is `1000000000000000.0`), and an
    // FAQ question is both the heading and the first line of the text.
    checked_extract(Format::Json, data, 8 * GROWTH * data.len() + SLACK);
}

/// A Twilio messaging webhook: the first line is `X-Twilio-Signature`, the rest the
/// form-encoded body, parsed as `routes::inbound::twilio` does.
pub fn twilio_form(data: &[u8]) {
    let (header, body) = split_header(data);
    let params = match api::routes::inbound::form_pairs(body) {
        Ok(params) => params,
        Err(err) => return assert_refused(&err, "Twilio form"),
    };
    let genuine = twilio::signature(SECRET, TWILIO_URL, &params);
    assert!(
        twilio::verify(SECRET, TWILIO_URL, &params, Some(&genuine)).is_ok(),
        "the genuine signature is refused"
    );
    if header.map(str::trim) != Some(genuine.as_str()) {
        let verdict = twilio::verify(SECRET, TWILIO_URL, &params, header);
        assert!(
            verdict.is_err(),
            "a forged signature {header:?} is accepted"
        );
    }
    match twilio::parse_message(&params) {
        Ok(message) => {
            assert!(message.media.len() <= 10, "{} media", message.media.len());
            // Percent-decoding only shrinks; an invalid UTF-8 byte becomes U+FFFD (3 bytes).
            assert!(message.text.len() <= 3 * body.len());
        }
        Err(err) => assert_refused(&err, "Twilio message"),
    }
}

/// A Meta (WhatsApp, Instagram) delivery: the first line is `X-Hub-Signature-256`, the rest
/// the raw JSON body.
pub fn meta_payload(data: &[u8]) {
    let (header, body) = split_header(data);
    let genuine = meta::signature::sign(SECRET, body);
    assert!(
        meta::verify_signature(SECRET, Some(&genuine), body),
        "the genuine signature is refused"
    );
    if header.map(|h| h.trim().to_ascii_lowercase()) != Some(genuine) {
        assert!(
            !meta::verify_signature(SECRET, header, body),
            "a forged signature {header:?} is accepted"
        );
    }
    match meta::parse(body) {
        Ok(delivery) => {
            // Every message needs at least an id and a sender in the JSON.
            assert!(delivery.messages.len() <= body.len() / 8 + 1);
            let text: usize = delivery.messages.iter().map(|m| m.text.len()).sum();
            assert!(
                text <= 4 * GROWTH * body.len() + SLACK,
                "{text} bytes of text from {} bytes",
                body.len()
            );
        }
        Err(err) => assert_refused(&err, "Meta delivery"),
    }
}

/// A Mailgun inbound route (url-encoded variant): the signature trio checked as
/// `routes::inbound::mailgun` does, then the e-mail fields.
pub fn mailgun_form(data: &[u8]) {
    let fields = match api::routes::inbound::form_pairs(data) {
        Ok(fields) => fields,
        Err(err) => return assert_refused(&err, "Mailgun form"),
    };
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    };
    let (timestamp, token, signature) = (field("timestamp"), field("token"), field("signature"));
    let genuine = mailgun::signature::sign(SECRET, timestamp.trim(), token);
    let cache = mailgun::TokenCache::default();
    let verdict = cache.verify(SECRET, timestamp, token, signature, NOW_SECS);
    if signature.trim().to_ascii_lowercase() != genuine {
        assert!(verdict.is_err(), "a forged Mailgun signature is accepted");
    }
    // The genuine trio is accepted when fresh, refused as stale otherwise; accepted once and
    // then refused as a replay.
    if let (Ok(sent), false) = (timestamp.trim().parse::<i64>(), token.is_empty()) {
        let fresh = NOW_SECS.abs_diff(sent) <= mailgun::signature::FRESHNESS_SECS.unsigned_abs();
        let at_now =
            mailgun::signature::verify_signature(SECRET, timestamp, token, &genuine, NOW_SECS);
        let expected = if fresh {
            Ok(())
        } else {
            Err(mailgun::Rejection::Stale)
        };
        assert_eq!(at_now, expected, "timestamp {sent}");
        let cache = mailgun::TokenCache::default();
        let first = cache.verify(SECRET, timestamp, token, &genuine, sent);
        assert_eq!(first, Ok(()), "the genuine signature is refused");
        let again = cache.verify(SECRET, timestamp, token, &genuine, sent);
        assert_eq!(again, Err(mailgun::Rejection::Replayed));
    }
    match mailgun::inbound::parse(&fields, Vec::new()) {
        Ok(email) => {
            assert!(email.from.contains('@') && email.recipient.contains('@'));
            assert!(email.thread_key().starts_with('<') && email.thread_key().ends_with('>'));
            let text = email.text_for_agent();
            assert!(text.len() <= 3 * data.len(), "{} bytes of text", text.len());
            let message = mailgun::to_inbound(email);
            assert!(!message.provider_message_id.is_empty());
        }
        Err(err) => assert_refused(&err, "Mailgun e-mail"),
    }
}

/// A knowledge upload: the first line is the `Content-Type` header (with the boundary), the
/// rest the body, read by axum's `Multipart` and `routes::knowledge::multipart_source`, then
/// the file's format picked as the ingestion service picks it.
pub fn multipart_upload(data: &[u8]) {
    let (content_type, body) = split_header(data);
    let Ok(request) = axum::http::Request::builder()
        .method("POST")
        .uri("/api/v1/dashboard/knowledge")
        .header(
            axum::http::header::CONTENT_TYPE,
            content_type.unwrap_or_default(),
        )
        .body(axum::body::Body::from(body.to_vec()))
    else {
        // Not a valid header value: the HTTP layer refuses it before any handler runs.
        return;
    };
    let outcome = futures::executor::block_on(async {
        let multipart = Multipart::from_request(request, &()).await.map_err(|e| {
            api::error::ApiError(Error::invalid(format!(
                "the multipart body is invalid: {e}"
            )))
        })?;
        api::routes::knowledge::multipart_source(multipart).await
    });
    match outcome {
        Ok(source) => {
            let ingest::SourceContent::File {
                bytes,
                file_name,
                content_type,
            } = source.content
            else {
                panic!("a multipart upload must be a file source");
            };
            assert!(bytes.len() <= body.len());
            let _ = Format::detect(content_type.as_deref(), file_name.as_deref());
        }
        Err(err) => assert_refused(&err.0, "multipart upload"),
    }
}

/// Splits `data` at its first `\n`: the header (when it is UTF-8) and the body.
fn split_header(data: &[u8]) -> (Option<&str>, &[u8]) {
    let (header, body) = match data.iter().position(|b| *b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &data[data.len()..]),
    };
    (std::str::from_utf8(header).ok(), body)
}

/// Extracts `data` as the server does and checks the outcome; returns what came out.
fn checked_extract(format: Format, data: &[u8], max_bytes: usize) -> Option<Extracted> {
    match extract(format, data) {
        Ok(out) => {
            assert!(
                !out.is_empty(),
                "{format:?}: nothing extracted, yet no refusal"
            );
            let size = out.canonical_text().len() + out.title.as_ref().map_or(0, String::len);
            assert!(
                size <= max_bytes,
                "{format:?}: {size} bytes of text from {} input bytes",
                data.len()
            );
            Some(out)
        }
        Err(err) => {
            assert_refused(&err, &format!("{format:?}"));
            None
        }
    }
}

/// A refusal must reach the client as a 4xx with a reason.
fn assert_refused(err: &Error, what: &str) {
    assert!(
        matches!(
            err.kind(),
            ErrorKind::Invalid
                | ErrorKind::Unprocessable
                | ErrorKind::TooLarge
                | ErrorKind::UnsupportedMediaType
        ),
        "{what}: refused as {:?} ({}), which the client sees as a 5xx",
        err.kind(),
        err.message()
    );
    assert!(
        !err.message().trim().is_empty(),
        "{what}: refused without a reason"
    );
}
