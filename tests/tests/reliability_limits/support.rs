//! Helpers of the resource-limit suite: memory sampling, bomb builders, a health check.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tests::{send_json, TestApp};

/// Resident memory of this process (the in-process server included), in bytes.
pub fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("a VmRSS line");
    kib * 1024
}

/// Samples the resident set every 10 ms until stopped; reports the largest growth seen.
pub struct RssWatch {
    baseline: u64,
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl RssWatch {
    pub fn start() -> RssWatch {
        let baseline = rss_bytes();
        let peak = Arc::new(AtomicU64::new(baseline));
        let stop = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn({
            let (peak, stop) = (peak.clone(), stop.clone());
            async move {
                while !stop.load(Ordering::Relaxed) {
                    peak.fetch_max(rss_bytes(), Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        });
        RssWatch {
            baseline,
            peak,
            stop,
            task,
        }
    }

    /// Stops sampling and returns the peak growth over the baseline, in MiB.
    pub async fn growth_mib(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.unwrap();
        let peak = self.peak.load(Ordering::Relaxed).max(rss_bytes());
        peak.saturating_sub(self.baseline) / (1024 * 1024)
    }
}

/// The bound on memory growth while a bomb is handled. Tests of this file run in parallel in
/// one process, so the bound is generous; every bomb here would inflate to at least 512 MiB.
pub const MEMORY_BOUND_MIB: u64 = 300;

/// A raw deflate stream that inflates to `mib` MiB of spaces from about a kilobyte per MiB: one
/// compressed MiB ends with a full flush (byte-aligned, no back-references across it), so its
/// bytes can be repeated, then an empty final block closes the stream.
pub fn deflate_bomb(mib: usize) -> Vec<u8> {
    use flate2::{Compress, Compression, FlushCompress};
    let block = vec![b' '; 1 << 20];
    let mut compress = Compress::new(Compression::best(), false);
    let mut one = Vec::with_capacity(64 * 1024);
    compress
        .compress_vec(&block, &mut one, FlushCompress::Full)
        .unwrap();
    assert_eq!(
        compress.total_in(),
        block.len() as u64,
        "one call compresses it all"
    );
    let mut out = Vec::with_capacity(one.len() * mib + 16);
    for _ in 0..mib {
        out.extend_from_slice(&one);
    }
    let mut end = Vec::with_capacity(64);
    Compress::new(Compression::best(), false)
        .compress_vec(&[], &mut end, FlushCompress::Finish)
        .unwrap();
    out.extend_from_slice(&end);
    out
}

/// A one-page PDF whose content stream (FlateDecode) inflates to `mib` MiB of spaces from
/// about a kilobyte per MiB: [`deflate_bomb`] in a zlib wrapper.
pub fn pdf_bomb(mib: usize) -> Vec<u8> {
    let mut zlib = vec![0x78, 0xDA];
    zlib.extend(deflate_bomb(mib));
    zlib.extend_from_slice(&adler32_of_spaces((mib as u128) << 20).to_be_bytes());
    let mut content = format!(
        "<< /Length {} /Filter /FlateDecode >>\nstream\n",
        zlib.len()
    )
    .into_bytes();
    content.extend_from_slice(&zlib);
    content.extend_from_slice(b"\nendstream");
    let objects: [&[u8]; 4] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
        &content,
    ];
    let mut out = b"%PDF-1.7\n".to_vec();
    let mut offsets = Vec::new();
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend_from_slice(b"xref\n0 5\n0000000000 65535 f \n");
    for offset in offsets {
        out.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!("trailer\n<< /Size 5 /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n").as_bytes(),
    );
    out
}

/// The Adler-32 checksum of `n` spaces, in closed form (zlib's trailer).
fn adler32_of_spaces(n: u128) -> u32 {
    const MOD: u128 = 65521;
    let a = (1 + 32 * n) % MOD;
    let b = (n + 32 * (n * (n + 1) / 2)) % MOD;
    u32::try_from((b << 16) | a).unwrap()
}

/// A gzip body that inflates to `mib` MiB of zeros: one gzip member per MiB, concatenated
/// (a valid multi-member gzip file, as `gzip -d` reads it).
pub fn gzip_bomb(mib: usize) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(&vec![0u8; 1 << 20]).unwrap();
    let member = encoder.finish().unwrap();
    member.repeat(mib)
}

/// One zip entry: its name, method (0 stored, 8 deflated), data and claimed inflated size.
pub struct ZipEntry<'a> {
    pub name: &'a str,
    pub method: u16,
    pub data: &'a [u8],
    pub size: u32,
}

/// A minimal zip archive (CRCs left 0: the server's reader does not check them).
pub fn zip_archive(entries: &[ZipEntry<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for e in entries {
        let local = out.len() as u32;
        let n = e.name.len() as u16;
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        out.extend_from_slice(&[20, 0, 0, 0]);
        out.extend_from_slice(&e.method.to_le_bytes());
        out.extend_from_slice(&[0; 8]);
        out.extend_from_slice(&(e.data.len() as u32).to_le_bytes());
        out.extend_from_slice(&e.size.to_le_bytes());
        out.extend_from_slice(&n.to_le_bytes());
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(e.name.as_bytes());
        out.extend_from_slice(e.data);

        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&[20, 0, 20, 0, 0, 0]);
        central.extend_from_slice(&e.method.to_le_bytes());
        central.extend_from_slice(&[0; 8]);
        central.extend_from_slice(&(e.data.len() as u32).to_le_bytes());
        central.extend_from_slice(&e.size.to_le_bytes());
        central.extend_from_slice(&n.to_le_bytes());
        central.extend_from_slice(&[0; 12]);
        central.extend_from_slice(&local.to_le_bytes());
        central.extend_from_slice(e.name.as_bytes());
    }
    let at = out.len() as u32;
    out.extend_from_slice(&central);
    let count = (entries.len() as u16).to_le_bytes();
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&count);
    out.extend_from_slice(&count);
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&at.to_le_bytes());
    out.extend_from_slice(&[0, 0]);
    out
}

/// The knowledge endpoint.
pub const KNOWLEDGE: &str = "/api/v1/dashboard/knowledge";

/// The PDF content type.
pub const PDF: &str = "application/pdf";

/// The DOCX content type.
pub const DOCX: &str = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";

/// A multipart form with one `file` part.
pub fn file_form(bytes: Vec<u8>, name: &str, mime: &str) -> reqwest::multipart::Form {
    reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(bytes)
            .file_name(name.to_owned())
            .mime_str(mime)
            .unwrap(),
    )
}

/// Asserts the server still answers: `/healthz` is 200 and a normal chat gets a reply.
pub async fn assert_healthy(app: &TestApp) {
    let response = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 200, "healthz after the abuse");
    let (status, body) = app
        .chat("cust_after", "What are your opening hours?", None)
        .await;
    assert_eq!(status, 200, "a normal chat after the abuse: {body}");
    assert!(
        !body["response"].as_str().unwrap_or("").is_empty(),
        "{body}"
    );
}

/// The organization's documents (first page).
pub async fn documents(app: &TestApp) -> Vec<serde_json::Value> {
    let (status, body) = send_json(app.get(KNOWLEDGE)).await;
    assert_eq!(status, 200, "{body}");
    body["documents"].as_array().unwrap().clone()
}

/// A chat body for the default organization.
pub fn chat_body(app: &TestApp, message: &str) -> serde_json::Value {
    json!({"message": message, "customer_id": "cust_limits", "organization_id": app.org_id})
}
