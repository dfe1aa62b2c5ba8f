//! Knowledge uploads: zip bombs inside `.docx` files, decompression bombs inside PDFs,
//! archives with thousands of entries, uploads past the configured size, and multipart bodies
//! with thousands of parts or huge part headers.

use serde_json::Value;
use tests::{both_backends, send_json, spawn_app, spawn_app_with, Backend};

use super::support::{
    assert_healthy, deflate_bomb, documents, file_form, pdf_bomb, zip_archive, RssWatch, ZipEntry,
    DOCX, KNOWLEDGE, MEMORY_BOUND_MIB, PDF,
};

/// Uploads a `.docx` and returns the 201 document.
async fn upload_docx(app: &tests::TestApp, bytes: Vec<u8>, name: &str) -> Value {
    let (status, body) =
        send_json(app.post(KNOWLEDGE).multipart(file_form(bytes, name, DOCX))).await;
    assert_eq!(status, 201, "{name}: {body}");
    body
}

/// A `.docx` whose `word/document.xml` inflates to 4 GiB from 4 MiB ends `failed` with the
/// reason, and the server's memory grows by a bounded amount (the reader stops at 32 MiB);
/// an archive listing thousands of entries and XML nested thousands deep fail the same way.
async fn docx_bombs_end_failed_with_a_reason_in_bounded_memory(backend: Backend) {
    let app = spawn_app(backend).await;

    let bomb = deflate_bomb(4 * 1024);
    assert!(bomb.len() < 8 * 1024 * 1024, "{} bytes", bomb.len());
    let archive = zip_archive(&[ZipEntry {
        name: "word/document.xml",
        method: 8,
        data: &bomb,
        size: u32::MAX,
    }]);
    let watch = RssWatch::start();
    let started = std::time::Instant::now();
    let doc = upload_docx(&app, archive, "bomb.docx").await;
    let took = started.elapsed();
    let growth = watch.growth_mib().await;
    assert_eq!(doc["status"], "failed", "{doc}");
    assert!(
        doc["failure_reason"]
            .as_str()
            .unwrap()
            .contains("inflates past 32768 KB"),
        "{doc}"
    );
    assert!(growth < MEMORY_BOUND_MIB, "memory grew by {growth} MiB");
    assert!(took.as_secs() < 30, "the bomb took {took:?}");

    // Thousands of tiny entries: refused from the directory alone.
    let names: Vec<String> = (0..6_000).map(|i| format!("media/{i}.bin")).collect();
    let mut entries: Vec<ZipEntry<'_>> = names
        .iter()
        .map(|name| ZipEntry {
            name,
            method: 0,
            data: b"x",
            size: 1,
        })
        .collect();
    let xml = document_xml("<w:p><w:r><w:t>Returns within 30 days.</w:t></w:r></w:p>");
    entries.push(ZipEntry {
        name: "word/document.xml",
        method: 0,
        data: xml.as_bytes(),
        size: xml.len() as u32,
    });
    let doc = upload_docx(&app, zip_archive(&entries), "many.docx").await;
    assert_eq!(doc["status"], "failed", "{doc}");
    assert!(
        doc["failure_reason"]
            .as_str()
            .unwrap()
            .contains("at most 5000 are accepted"),
        "{doc}"
    );

    // Elements nested 50,000 deep (a few hundred KB of XML).
    let deep = document_xml(&format!(
        "<w:p>{}<w:t>deep</w:t>{}</w:p>",
        "<w:r>".repeat(50_000),
        "</w:r>".repeat(50_000)
    ));
    let doc = upload_docx(
        &app,
        zip_archive(&[ZipEntry {
            name: "word/document.xml",
            method: 0,
            data: deep.as_bytes(),
            size: deep.len() as u32,
        }]),
        "deep.docx",
    )
    .await;
    assert_eq!(doc["status"], "failed", "{doc}");
    assert!(
        doc["failure_reason"]
            .as_str()
            .unwrap()
            .contains("levels deep"),
        "{doc}"
    );

    // None of them produced chunks; all are listed with their reasons.
    let listed = documents(&app).await;
    assert_eq!(listed.len(), 3);
    for doc in &listed {
        assert_eq!(doc["status"], "failed", "{doc}");
        assert_eq!(doc["chunk_count"], 0, "{doc}");
    }

    // A well-formed small document still ingests.
    let doc = upload_docx(
        &app,
        zip_archive(&[ZipEntry {
            name: "word/document.xml",
            method: 0,
            data: xml.as_bytes(),
            size: xml.len() as u32,
        }]),
        "fine.docx",
    )
    .await;
    assert_eq!(doc["status"], "processing", "{doc}");
    assert_healthy(&app).await;
}

/// A PDF whose content stream inflates to 4 GiB from 4 MiB ends `failed` with the reason,
/// and the server's memory grows by a bounded amount (the check before extraction measures
/// streams without holding them and stops at 128 MiB); a real PDF still ingests.
async fn pdf_bombs_end_failed_with_a_reason_in_bounded_memory(backend: Backend) {
    let app = spawn_app(backend).await;
    let bomb = pdf_bomb(4 * 1024);
    assert!(bomb.len() < 8 * 1024 * 1024, "{} bytes", bomb.len());

    let watch = RssWatch::start();
    let (status, doc) = send_json(
        app.post(KNOWLEDGE)
            .multipart(file_form(bomb, "bomb.pdf", PDF)),
    )
    .await;
    let growth = watch.growth_mib().await;
    assert_eq!(status, 201, "{doc}");
    assert_eq!(doc["status"], "failed", "{doc}");
    assert!(
        doc["failure_reason"]
            .as_str()
            .unwrap()
            .starts_with("the PDF's compressed content inflates past 128 MiB in one stream"),
        "{doc}"
    );
    assert!(growth < MEMORY_BOUND_MIB, "memory grew by {growth} MiB");
    assert_eq!(documents(&app).await[0]["chunk_count"], 0);

    let real = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/knowledge/warranty.pdf"),
    )
    .unwrap();
    let (status, doc) = send_json(app.post(KNOWLEDGE).multipart(file_form(
        real,
        "warranty.pdf",
        PDF,
    )))
    .await;
    assert_eq!(status, 201, "{doc}");
    assert_eq!(doc["status"], "processing", "{doc}");
    assert_healthy(&app).await;
}

/// `word/document.xml` around a body.
fn document_xml(body: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>{body}</w:body></w:document>"#
    )
}

/// An upload over `BLAIGENT_KNOWLEDGE_MAX_BYTES` gets 413 with the limit in `detail`, and one
/// over the route's body limit (the upload limit plus 1 MiB for the envelope) gets 413 too;
/// nothing is stored either way.
async fn uploads_over_the_limit_get_413_and_store_nothing(backend: Backend) {
    let app = spawn_app_with(backend, |config| config.knowledge.max_bytes = 64 * 1024).await;
    let (status, body) = send_json(app.post(KNOWLEDGE).multipart(file_form(
        vec![b'a'; 64 * 1024 + 1],
        "big.txt",
        "text/plain",
    )))
    .await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["detail"], "the file is larger than 65536 bytes");

    // The route's own body limit comes from the environment (25 MiB by default) plus 1 MiB.
    let route_limit = ingest::KnowledgeConfig::from_env().unwrap().max_bytes + 1024 * 1024;
    let (status, body) = send_json(app.post(KNOWLEDGE).multipart(file_form(
        vec![b'a'; route_limit + 1],
        "huge.txt",
        "text/plain",
    )))
    .await;
    assert_eq!(status, 413, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("larger than"),
        "{body}"
    );
    assert!(documents(&app).await.is_empty());
    assert_healthy(&app).await;
}

/// Thousands of parts, or a part whose headers run to megabytes: a 400 naming the problem,
/// which the client receives although it was still sending when the server decided.
async fn multipart_abuse_gets_a_clear_400(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut form = reqwest::multipart::Form::new();
    for i in 0..5_000 {
        form = form.text(format!("junk{i}"), "x");
    }
    form = form.part(
        "file",
        reqwest::multipart::Part::bytes(b"Opening hours: 9 to 5.".to_vec())
            .file_name("hours.txt")
            .mime_str("text/plain")
            .unwrap(),
    );
    let (status, body) = send_json(app.post(KNOWLEDGE).multipart(form)).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("more than 16 parts"),
        "{body}"
    );

    // A part header of 2 MiB (a giant file name), written by hand.
    let boundary = "limitsboundary";
    let mut raw = Vec::new();
    raw.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
    raw.extend_from_slice(b"Content-Disposition: form-data; name=\"file\"; filename=\"");
    raw.extend(std::iter::repeat_n(b'n', 2 * 1024 * 1024));
    raw.extend_from_slice(b".txt\"\r\nContent-Type: text/plain\r\n\r\nhello\r\n");
    raw.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    let (status, body) = send_json(
        app.post(KNOWLEDGE)
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(raw),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("multipart body is invalid"),
        "{body}"
    );
    assert!(documents(&app).await.is_empty());
    assert_healthy(&app).await;
}

both_backends!(
    docx_bombs_end_failed_with_a_reason_in_bounded_memory,
    pdf_bombs_end_failed_with_a_reason_in_bounded_memory,
    uploads_over_the_limit_get_413_and_store_nothing,
    multipart_abuse_gets_a_clear_400,
);
