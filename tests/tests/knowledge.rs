//! Knowledge-base scenarios (issue 3), each run on SQLite and on PostgreSQL, through HTTP like a
//! dashboard would: real files from `tests/fixtures/knowledge/`, web pages served by a loopback
//! server the SSRF allowlist lets through, the real embedding model and the embedded Qdrant.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use engine::ids::{DocumentId, OrganizationId};
use engine::knowledge::{Chunk, SourceKind};
use engine::store::knowledge::NewDocument;
use serde_json::{json, Value};
use tests::{both_backends, send_json, spawn_app_with, Backend, TestApp};

const KNOWLEDGE: &str = "/api/v1/dashboard/knowledge";
const SEARCH: &str = "/api/v1/dashboard/knowledge/search";

fn fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/knowledge")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A server whose fetcher may reach 127.0.0.1 (where the test pages are served).
async fn app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |config| {
        config.knowledge.fetch_allowlist = vec!["127.0.0.1/32".parse().expect("cidr")];
        config.knowledge.poll_interval = Duration::from_millis(200);
    })
    .await
}

async fn upload(app: &TestApp, name: &str, mime: &str, extra: &[(&str, &str)]) -> (u16, Value) {
    let part = reqwest::multipart::Part::bytes(fixture(name))
        .file_name(name.to_owned())
        .mime_str(mime)
        .expect("mime");
    let mut form = reqwest::multipart::Form::new().part("file", part);
    for (k, v) in extra {
        form = form.text((*k).to_owned(), (*v).to_owned());
    }
    send_json(app.post(KNOWLEDGE).multipart(form)).await
}

/// Polls a document until it leaves `processing`.
async fn settled(app: &TestApp, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let (status, body) = send_json(app.get(&format!("{KNOWLEDGE}/{id}"))).await;
        assert_eq!(status, 200, "{body}");
        if body["status"] != "processing" {
            return body;
        }
        assert!(Instant::now() < deadline, "document {id} still processing");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn search(app: &TestApp, query: &str) -> Vec<Value> {
    let (status, body) =
        send_json(app.post(SEARCH).json(&json!({"query": query, "top_k": 3}))).await;
    assert_eq!(status, 200, "{body}");
    body["passages"].as_array().cloned().unwrap_or_default()
}

/// A loopback web server whose pages the test can change.
struct Site {
    base: String,
    pages: Pages,
}

/// Pages the loopback site serves: (path, content type, body).
type Pages = Arc<Mutex<Vec<(String, String, String)>>>;

impl Site {
    async fn start() -> Site {
        let pages: Pages = Arc::default();
        async fn serve(
            State(pages): State<Pages>,
            uri: axum::http::Uri,
        ) -> axum::response::Response {
            let found = pages
                .lock()
                .expect("pages")
                .iter()
                .find(|(path, _, _)| path == uri.path())
                .map(|(_, mime, body)| (mime.clone(), body.clone()));
            match found {
                Some((mime, body)) => ([(header::CONTENT_TYPE, mime)], body).into_response(),
                None => axum::http::StatusCode::NOT_FOUND.into_response(),
            }
        }
        let router = Router::new().fallback(get(serve)).with_state(pages.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, router).await });
        Site { base, pages }
    }

    fn set(&self, path: &str, mime: &str, body: &str) {
        let mut pages = self.pages.lock().expect("pages");
        pages.retain(|(p, _, _)| p != path);
        pages.push((path.to_owned(), mime.to_owned(), body.to_owned()));
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

async fn every_format_is_ingested_and_found(backend: Backend) {
    let app = app(backend).await;
    let mut ids = Vec::new();
    for (name, mime) in [
        ("warranty.pdf", "application/pdf"),
        ("returns.md", "text/markdown"),
        ("faq.json", "application/json"),
        ("products.csv", "text/csv"),
        ("help-centre.html", "text/html"),
    ] {
        let (status, body) = upload(&app, name, mime, &[("tags", "help,2026")]).await;
        assert_eq!(status, 201, "{name}: {body}");
        assert_eq!(body["status"], "processing", "{name}");
        assert!(body["id"].as_str().expect("id").starts_with("doc_"));
        ids.push(body["id"].as_str().expect("id").to_owned());
    }
    for id in &ids {
        let doc = settled(&app, id).await;
        assert_eq!(doc["status"], "ready", "{doc}");
        assert!(doc["chunk_count"].as_i64().expect("count") >= 1);
        assert_eq!(doc["content_hash"].as_str().expect("hash").len(), 64);
        assert_eq!(doc["tags"], json!(["2026", "help"]));
    }
    let (_, list) = send_json(app.get(KNOWLEDGE)).await;
    assert_eq!(list["documents"].as_array().expect("list").len(), 5);

    let expectations = [
        ("is there a warranty on shoes", &ids[0], "two year warranty"),
        (
            "how many days until my refund arrives",
            &ids[1],
            "5 working days",
        ),
        ("do you accept paypal", &ids[2], "PayPal"),
        ("waterproof trail running shoe price", &ids[3], "129.90"),
        (
            "how long does delivery to Germany take",
            &ids[4],
            "1 to 2 working days",
        ),
    ];
    for (query, id, needle) in expectations {
        let passages = search(&app, query).await;
        assert!(!passages.is_empty(), "{query}: nothing found");
        assert_eq!(
            passages[0]["document_id"],
            id.as_str(),
            "{query}: {passages:?}"
        );
        assert!(
            passages[0]["text"].as_str().expect("text").contains(needle),
            "{query}: {}",
            passages[0]["text"]
        );
    }
    // The HTML page lost its navigation, scripts and footer, and kept its headings.
    let passages = search(&app, "parcel tracking link").await;
    assert_eq!(passages[0]["document_id"], ids[4].as_str());
    assert_eq!(
        passages[0]["title"], "Stride Shoes Help Centre",
        "the page's <title>"
    );
    assert_eq!(passages[0]["heading_path"], json!(["Delivery"]));
    let all_text: String = passages
        .iter()
        .map(|p| p["text"].as_str().unwrap_or(""))
        .collect();
    assert!(!all_text.contains("newsletter") && !all_text.contains("analytics"));

    assert!(search(&app, "what is the capital of France")
        .await
        .is_empty());
}

async fn a_url_source_is_fetched_refreshed_and_deleted(backend: Backend) {
    let app = app(backend).await;
    let site = Site::start().await;
    site.set(
        "/opening-hours",
        "text/html; charset=utf-8",
        "<html><head><title>Opening hours</title></head><body><nav>Menu</nav><main><h1>Opening hours</h1><p>Our Berlin store is open Monday to Friday from 9 am to 6 pm.</p></main></body></html>",
    );
    let (status, body) = send_json(
        app.post(KNOWLEDGE)
            .json(&json!({"url": site.url("/opening-hours"), "tags": ["store"]})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().expect("id").to_owned();
    let doc = settled(&app, &id).await;
    assert_eq!(doc["status"], "ready", "{doc}");
    assert_eq!(doc["source"], "url");
    let first_hash = doc["content_hash"].clone();

    let passages = search(&app, "when is the berlin store open").await;
    assert!(passages[0]["text"]
        .as_str()
        .expect("text")
        .contains("9 am to 6 pm"));
    assert_eq!(passages[0]["url"], site.url("/opening-hours"));

    // Unchanged content: the refresh is skipped, nothing changes.
    let (status, _) = send_json(app.post(&format!("{KNOWLEDGE}/{id}/refresh"))).await;
    assert_eq!(status, 202);
    tokio::time::sleep(Duration::from_millis(800)).await;
    let (_, doc) = send_json(app.get(&format!("{KNOWLEDGE}/{id}"))).await;
    assert_eq!(doc["content_hash"], first_hash);

    // Changed content replaces the old chunks.
    site.set(
        "/opening-hours",
        "text/html",
        "<html><body><main><h1>Opening hours</h1><p>Our Berlin store is now open every day from 10 am to 8 pm.</p></main></body></html>",
    );
    let (status, _) = send_json(app.post(&format!("{KNOWLEDGE}/{id}/refresh"))).await;
    assert_eq!(status, 202);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, doc) = send_json(app.get(&format!("{KNOWLEDGE}/{id}"))).await;
        if doc["content_hash"] != first_hash {
            break;
        }
        assert!(Instant::now() < deadline, "the refresh never landed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let passages = search(&app, "when is the berlin store open").await;
    let texts: Vec<&str> = passages.iter().filter_map(|p| p["text"].as_str()).collect();
    assert!(
        texts.iter().any(|t| t.contains("10 am to 8 pm")),
        "{texts:?}"
    );
    assert!(
        !texts.iter().any(|t| t.contains("9 am to 6 pm")),
        "old content is gone: {texts:?}"
    );

    // Delete: gone from the listing, from search, and 404 afterwards.
    let (status, _) = send_json(app.delete(&format!("{KNOWLEDGE}/{id}"))).await;
    assert_eq!(status, 204);
    assert!(search(&app, "when is the berlin store open")
        .await
        .is_empty());
    let (status, body) = send_json(app.get(&format!("{KNOWLEDGE}/{id}"))).await;
    assert_eq!(status, 404, "{body}");
    let (status, _) = send_json(app.delete(&format!("{KNOWLEDGE}/{id}"))).await;
    assert_eq!(status, 404);
}

async fn bad_input_is_refused_or_fails_with_a_reason(backend: Backend) {
    let app = spawn_app_with(backend, |config| {
        config.knowledge.fetch_allowlist = vec!["127.0.0.1/32".parse().expect("cidr")];
        config.knowledge.max_bytes = 2_000;
        config.knowledge.poll_interval = Duration::from_millis(200);
    })
    .await;
    let site = Site::start().await;
    site.set(
        "/app",
        "text/html",
        "<html><body><script>render()</script><noscript>Enable JavaScript</noscript></body></html>",
    );

    let part = |bytes: Vec<u8>, name: &str, mime: &str| {
        reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(bytes)
                .file_name(name.to_owned())
                .mime_str(mime)
                .expect("mime"),
        )
    };
    let (status, body) = send_json(app.post(KNOWLEDGE).multipart(part(
        b"GIF89a".to_vec(),
        "logo.gif",
        "image/gif",
    )))
    .await;
    assert_eq!(status, 415, "{body}");
    let (status, body) = send_json(app.post(KNOWLEDGE).multipart(part(
        Vec::new(),
        "empty.txt",
        "text/plain",
    )))
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["detail"], "the file is empty");
    let (status, body) = send_json(app.post(KNOWLEDGE).multipart(part(
        vec![b'a'; 3_000],
        "big.txt",
        "text/plain",
    )))
    .await;
    assert_eq!(status, 413, "{body}");

    // A corrupt PDF is listed as failed with a reason.
    let mut pdf = fixture("warranty.pdf");
    pdf.truncate(300);
    let (status, body) = send_json(app.post(KNOWLEDGE).multipart(part(
        pdf,
        "broken.pdf",
        "application/pdf",
    )))
    .await;
    assert_eq!(status, 201, "{body}");
    let doc = settled(&app, body["id"].as_str().expect("id")).await;
    assert_eq!(doc["status"], "failed");
    assert!(
        doc["failure_reason"]
            .as_str()
            .expect("reason")
            .contains("PDF"),
        "{doc}"
    );

    // The same content twice: 409 naming the first document.
    let (_, first) = send_json(
        app.post(KNOWLEDGE)
            .json(&json!({"title": "Note", "text": "Our hotline is open 24/7."})),
    )
    .await;
    let (status, body) = send_json(
        app.post(KNOWLEDGE)
            .json(&json!({"text": "Our  hotline is open 24/7.\n"})),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert!(body["detail"]
        .as_str()
        .expect("detail")
        .contains(first["id"].as_str().expect("id")));

    // A page that is all script, and an unreachable URL, end as failed with a reason.
    let (_, body) = send_json(app.post(KNOWLEDGE).json(&json!({"url": site.url("/app")}))).await;
    let doc = settled(&app, body["id"].as_str().expect("id")).await;
    assert_eq!(doc["status"], "failed");
    assert!(
        doc["failure_reason"]
            .as_str()
            .expect("reason")
            .contains("no readable text"),
        "{doc}"
    );
    let (_, body) = send_json(
        app.post(KNOWLEDGE)
            .json(&json!({"url": site.url("/missing")})),
    )
    .await;
    let doc = settled(&app, body["id"].as_str().expect("id")).await;
    assert_eq!(doc["status"], "failed");
    assert!(
        doc["failure_reason"]
            .as_str()
            .expect("reason")
            .contains("404"),
        "{doc}"
    );

    // Private addresses are refused unless allowlisted.
    let (status, body) = send_json(
        app.post(KNOWLEDGE)
            .json(&json!({"url": "http://169.254.169.254/latest/meta-data/"})),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    let (status, _) = send_json(
        app.post(KNOWLEDGE)
            .json(&json!({"url": "ftp://example.com/x"})),
    )
    .await;
    assert_eq!(status, 400);
    let (status, _) = send_json(
        app.post(KNOWLEDGE)
            .json(&json!({"text": "a", "url": "https://example.com"})),
    )
    .await;
    assert_eq!(status, 422);

    // Nothing else was affected: the good document is ready and searchable.
    let doc = settled(&app, first["id"].as_str().expect("id")).await;
    assert_eq!(doc["status"], "ready");
    assert_eq!(search(&app, "when is the hotline open").await.len(), 1);
}

async fn another_organization_sees_nothing(backend: Backend) {
    let app = app(backend).await;
    let (_, body) = send_json(app.post(KNOWLEDGE).json(&json!({"faqs": [{"question": "Do you ship to Norway?", "answer": "Yes, Norway deliveries take 6 days."}]}))).await;
    let id = body["id"].as_str().expect("id").to_owned();
    assert_eq!(settled(&app, &id).await["status"], "ready");
    assert_eq!(search(&app, "shipping to norway").await.len(), 1);

    let (_, other_key) = app
        .create_org(engine::store::orgs::Plan::Scale, Some(1_000_000), None)
        .await;
    let as_other = |req: reqwest::RequestBuilder| req.bearer_auth(&other_key);
    let (status, body) = send_json(as_other(app.client.get(app.url(KNOWLEDGE)))).await;
    assert_eq!(status, 200);
    assert_eq!(body["documents"], json!([]));
    let (status, _) = send_json(as_other(
        app.client.get(app.url(&format!("{KNOWLEDGE}/{id}"))),
    ))
    .await;
    assert_eq!(status, 404);
    let (status, _) = send_json(as_other(
        app.client.delete(app.url(&format!("{KNOWLEDGE}/{id}"))),
    ))
    .await;
    assert_eq!(status, 404);
    let (status, body) = send_json(
        as_other(app.client.post(app.url(SEARCH))).json(&json!({"query": "shipping to norway"})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["passages"], json!([]));
    // Still there for its owner.
    assert_eq!(search(&app, "shipping to norway").await.len(), 1);
}

async fn an_interrupted_ingestion_is_resumed_and_never_half_visible(backend: Backend) {
    // The first server runs no ingestion worker, so the job below is claimed by this test
    // alone; the restarted one runs it as usual.
    let started = Arc::new(AtomicBool::new(false));
    let app = spawn_app_with(backend, move |config| {
        config.knowledge.poll_interval = Duration::from_millis(200);
        config.knowledge.run_worker = started.swap(true, Ordering::SeqCst);
    })
    .await;
    let org = OrganizationId::parse(&app.org_id).expect("org");
    let knowledge = app.state.knowledge.clone();
    let store = app.state.store.clone();
    // A document whose job a worker claimed and then "crashed" after indexing part of it.
    let id = DocumentId::new();
    let text = "# Loyalty programme\n\nEvery euro spent earns one Stride point. 500 points buy a 10 euro voucher.";
    let extracted = json!({"title": null, "body": {"kind": "markdown", "content": text}});
    store
        .create_document(
            &NewDocument {
                id: id.clone(),
                organization_id: org.clone(),
                title: "Loyalty".into(),
                source_kind: SourceKind::Text,
                url: None,
                tags: vec![],
                metadata: json!({}),
                crawl: None,
                refresh_interval_secs: None,
                content_hash: Some(engine::knowledge::content_hash(text)),
            },
            Some(&extracted.to_string()),
        )
        .await
        .expect("document");
    let claimed = store
        .claim_ingest_job(4_000)
        .await
        .expect("claim")
        .expect("a job");
    assert_eq!(claimed.document_id, id);
    knowledge
        .retriever()
        .index_chunks(vec![Chunk {
            organization_id: org.clone(),
            document_id: id.clone(),
            generation: 1,
            chunk_index: 0,
            text: "Every euro spent earns one Stride point (half-written).".into(),
            title: "Loyalty".into(),
            url: None,
            heading_path: vec![],
            tags: vec![],
            content_hash: String::new(),
        }])
        .await
        .expect("partial index");
    assert!(
        search(&app, "how do stride points work").await.is_empty(),
        "half a document is never visible"
    );

    // After a restart the expired lease lets the job run again, from scratch.
    let app = app.restart().await;
    let doc = settled(&app, id.as_str()).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut doc = doc;
    while doc["status"] == "processing" || doc["chunk_count"] == 0 {
        assert!(Instant::now() < deadline, "never resumed: {doc}");
        tokio::time::sleep(Duration::from_millis(200)).await;
        doc = send_json(app.get(&format!("{KNOWLEDGE}/{}", id.as_str())))
            .await
            .1;
    }
    assert_eq!(doc["status"], "ready", "{doc}");
    let passages = search(&app, "how do stride points work").await;
    assert_eq!(passages.len(), 1, "{passages:?}");
    assert!(passages[0]["text"]
        .as_str()
        .expect("text")
        .contains("500 points"));
    assert!(!passages[0]["text"]
        .as_str()
        .expect("text")
        .contains("half-written"));
}

async fn the_listing_pages_with_a_cursor(backend: Backend) {
    let app = app(backend).await;
    for i in 0..3 {
        let (status, body) = send_json(app.post(KNOWLEDGE).json(&json!({"title": format!("Note {i}"), "text": format!("Note number {i} about gift wrapping.")}))).await;
        assert_eq!(status, 201, "{body}");
    }
    let (_, page1) = send_json(app.get(&format!("{KNOWLEDGE}?limit=2"))).await;
    assert_eq!(page1["documents"].as_array().expect("docs").len(), 2);
    assert_eq!(page1["documents"][0]["title"], "Note 2", "newest first");
    let cursor = page1["next_cursor"].as_str().expect("cursor");
    let (_, page2) = send_json(app.get(&format!("{KNOWLEDGE}?limit=2&cursor={cursor}"))).await;
    assert_eq!(page2["documents"].as_array().expect("docs").len(), 1);
    assert_eq!(page2["documents"][0]["title"], "Note 0");
    assert!(page2["next_cursor"].is_null());
    let (status, _) = send_json(app.get(&format!("{KNOWLEDGE}?cursor=garbage"))).await;
    assert_eq!(status, 400);
}

/// A Word document (made by `fixtures/knowledge/make_docx.py`) is uploaded like any file:
/// its title and headings are kept, its table rows are searchable, deleted text is not.
async fn a_word_document_is_ingested_with_its_headings_and_table(backend: Backend) {
    let app = app(backend).await;
    let part = reqwest::multipart::Part::bytes(fixture("returns-policy.docx"))
        .file_name("returns-policy.docx")
        .mime_str("application/vnd.openxmlformats-officedocument.wordprocessingml.document")
        .expect("mime");
    let form = reqwest::multipart::Form::new().part("file", part);
    let (status, body) = send_json(app.post(KNOWLEDGE).multipart(form)).await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().expect("id").to_owned();
    let doc = settled(&app, &id).await;
    assert_eq!(doc["status"], "ready", "{doc}");

    let passages = search(&app, "how long until the refund reaches my card").await;
    assert_eq!(passages[0]["document_id"], id.as_str(), "{passages:?}");
    let text = passages[0]["text"].as_str().expect("text");
    assert!(text.contains("within 5 business days"), "{text}");
    // The document title comes from the paragraph styled `Title`; the whole (short) document
    // is one chunk, under that heading.
    assert_eq!(passages[0]["title"], "Returns policy", "{passages:?}");
    assert_eq!(passages[0]["heading_path"], json!(["Returns policy"]));
    let passages = search(&app, "how many days to return an item in the United States").await;
    assert_eq!(passages[0]["document_id"], id.as_str(), "{passages:?}");
    assert!(
        passages[0]["text"]
            .as_str()
            .expect("text")
            .contains("United States | 45"),
        "{}",
        passages[0]["text"]
    );
    let all: String = search(&app, "returns accepted for 60 days")
        .await
        .iter()
        .map(|p| p["text"].as_str().unwrap_or("").to_owned())
        .collect();
    assert!(!all.contains("60 days"), "deleted text was indexed: {all}");
}

/// A fetched page that takes longer to read than the extraction budget (the one uploads have)
/// ends its document `failed` with the reason instead of holding its job; a crawl skips such a
/// page and keeps the others.
async fn a_page_past_the_extraction_budget_fails_with_a_reason(backend: Backend) {
    let app = spawn_app_with(backend, |config| {
        config.knowledge.fetch_allowlist = vec!["127.0.0.1/32".parse().expect("cidr")];
        config.knowledge.poll_interval = Duration::from_millis(200);
        // Far more than a normal page needs, far less than the heavy one below.
        config.knowledge.extract_timeout = Duration::from_millis(200);
    })
    .await;
    let site = Site::start().await;
    // About 5 MB of markup: seconds of parsing.
    let heavy = format!(
        "<html><body><main>{}</main></body></html>",
        "<div><p>Shelf <b>item</b></p></div>".repeat(150_000)
    );
    site.set("/heavy", "text/html", &heavy);
    site.set(
        "/returns",
        "text/html",
        "<html><body><main><h1>Returns</h1><p>Parcels may be returned within 30 days of delivery.</p><a href=\"/heavy\">Catalogue</a></main></body></html>",
    );

    let started = Instant::now();
    let (status, body) = send_json(
        app.post(KNOWLEDGE)
            .json(&json!({"url": site.url("/heavy")})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let doc = settled(&app, body["id"].as_str().expect("id")).await;
    assert_eq!(doc["status"], "failed", "{doc}");
    let reason = doc["failure_reason"].as_str().expect("reason");
    assert!(
        reason.contains(&site.url("/heavy")) && reason.contains("took longer than 200 ms"),
        "{reason}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );

    let (status, body) = send_json(app.post(KNOWLEDGE).json(&json!({
        "url": site.url("/returns"),
        "crawl": {"max_pages": 5},
    })))
    .await;
    assert_eq!(status, 201, "{body}");
    let doc = settled(&app, body["id"].as_str().expect("id")).await;
    assert_eq!(doc["status"], "ready", "{doc}");
    let passages = search(&app, "how long do I have to return a parcel").await;
    assert!(
        passages[0]["text"]
            .as_str()
            .expect("text")
            .contains("within 30 days"),
        "{passages:?}"
    );
}

both_backends!(
    every_format_is_ingested_and_found,
    a_word_document_is_ingested_with_its_headings_and_table,
    a_url_source_is_fetched_refreshed_and_deleted,
    bad_input_is_refused_or_fails_with_a_reason,
    another_organization_sees_nothing,
    an_interrupted_ingestion_is_resumed_and_never_half_visible,
    the_listing_pages_with_a_cursor,
    a_page_past_the_extraction_budget_fails_with_a_reason,
);
