//! Settings of the knowledge base, read from the environment:
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `BLAIGENT_QDRANT_URL` | unset | a Qdrant server (gRPC, e.g. `http://qdrant:6334`) instead of the embedded engine |
//! | `BLAIGENT_QDRANT_API_KEY` | unset | its API key |
//! | `BLAIGENT_QDRANT_COLLECTION` | `blaigent_chunks` | its collection |
//! | `BLAIGENT_VECTOR_TIMEOUT_MS` | 2000 | deadline of a vector search; past it the answer comes from keyword retrieval |
//! | `BLAIGENT_KNOWLEDGE_MAX_BYTES` | 26214400 (25 MiB) | largest upload or fetched page |
//! | `BLAIGENT_FETCH_ALLOWLIST` | empty | comma-separated CIDRs the SSRF guard lets through |
//! | `BLAIGENT_INGEST_WORKER` | `on` | `off` keeps this process from running ingestion jobs (an API-only replica; another process ingests) |
//! | `BLAIGENT_INGEST_LEASE` | `60s` | how long a claimed job stays its worker's without renewal (renewed every third of it); a job whose process died is taken over this long after its last renewal |

use std::time::Duration;

use engine::error::{Error, Result};
use ipnet::IpNet;

use crate::fetch::ssrf::SsrfGuard;
use crate::fetch::FetchConfig;

/// 25 MiB.
pub const DEFAULT_MAX_BYTES: usize = 25 * 1024 * 1024;

/// A minute: three renewals (every 20 s) may fail in a row, e.g. through a short database
/// outage, before another worker takes the job over.
pub const DEFAULT_JOB_LEASE: Duration = Duration::from_secs(60);

/// The shortest lease accepted. A renewal is a database write; with a lease of a second or two
/// a brief stall of the database would let a second worker start a job that is still running.
const MIN_JOB_LEASE: Duration = Duration::from_secs(3);

/// Knowledge-base settings.
#[derive(Debug, Clone)]
pub struct KnowledgeConfig {
    pub qdrant_url: Option<String>,
    pub qdrant_api_key: Option<String>,
    pub qdrant_collection: String,
    /// Largest upload or fetched body, in bytes.
    pub max_bytes: usize,
    /// Networks exempt from the SSRF guard (tests allow `127.0.0.1/32`).
    pub fetch_allowlist: Vec<IpNet>,
    /// Whether this process runs the ingestion worker at all.
    pub run_worker: bool,
    /// How often the worker looks for work when nobody woke it.
    pub poll_interval: Duration,
    /// How long a claimed job stays claimed without renewal: the longest a job waits after
    /// its worker's process died (see `crate::worker`).
    pub job_lease: Duration,
    /// Deadline of a vector search (see `engine::index::guarded`).
    pub vector_timeout: Duration,
    /// Longest extraction of one uploaded file or one fetched page (see
    /// [`crate::extract::bounded`]).
    pub extract_timeout: Duration,
}

impl Default for KnowledgeConfig {
    fn default() -> Self {
        Self {
            qdrant_url: None,
            qdrant_api_key: None,
            qdrant_collection: engine::index::qdrant_server::DEFAULT_COLLECTION.to_owned(),
            max_bytes: DEFAULT_MAX_BYTES,
            fetch_allowlist: Vec::new(),
            run_worker: true,
            poll_interval: Duration::from_secs(2),
            job_lease: DEFAULT_JOB_LEASE,
            vector_timeout: engine::index::guarded::DEFAULT_QUERY_TIMEOUT,
            extract_timeout: crate::extract::EXTRACT_TIMEOUT,
        }
    }
}

impl KnowledgeConfig {
    /// The defaults overridden by the environment variables above.
    pub fn from_env() -> Result<Self> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let mut config = Self {
            qdrant_url: var("BLAIGENT_QDRANT_URL"),
            qdrant_api_key: var("BLAIGENT_QDRANT_API_KEY"),
            ..Self::default()
        };
        if let Some(collection) = var("BLAIGENT_QDRANT_COLLECTION") {
            config.qdrant_collection = collection;
        }
        if let Some(raw) = var("BLAIGENT_KNOWLEDGE_MAX_BYTES") {
            config.max_bytes = raw.trim().parse().map_err(|_| {
                Error::invalid("BLAIGENT_KNOWLEDGE_MAX_BYTES must be a number of bytes")
            })?;
        }
        if let Some(raw) = var("BLAIGENT_VECTOR_TIMEOUT_MS") {
            let ms: u64 = raw
                .trim()
                .parse()
                .ok()
                .filter(|ms| *ms > 0)
                .ok_or_else(|| {
                    Error::invalid(
                        "BLAIGENT_VECTOR_TIMEOUT_MS must be a positive number of milliseconds",
                    )
                })?;
            config.vector_timeout = Duration::from_millis(ms);
        }
        if let Some(raw) = var("BLAIGENT_INGEST_WORKER") {
            config.run_worker = match raw.trim().to_ascii_lowercase().as_str() {
                "on" | "true" | "1" => true,
                "off" | "false" | "0" => false,
                _ => return Err(Error::invalid("BLAIGENT_INGEST_WORKER must be on or off")),
            };
        }
        if let Some(raw) = var("BLAIGENT_INGEST_LEASE") {
            config.job_lease = engine::webhooks::settings::parse_duration(raw.trim())
                .ok()
                .filter(|lease| *lease >= MIN_JOB_LEASE)
                .ok_or_else(|| {
                    Error::invalid(
                        "BLAIGENT_INGEST_LEASE must be a duration of at least 3s, like 20s or 2m",
                    )
                })?;
        }
        if let Some(raw) = var("BLAIGENT_FETCH_ALLOWLIST") {
            let entries: Vec<String> = raw.split(',').map(str::to_owned).collect();
            config.fetch_allowlist = SsrfGuard::parse_allowlist(&entries)?;
        }
        Ok(config)
    }

    /// The fetch limits these settings imply.
    pub fn fetch_config(&self) -> FetchConfig {
        FetchConfig {
            max_bytes: self.max_bytes,
            allowlist: self.fetch_allowlist.clone(),
            extract_timeout: self.extract_timeout,
            ..FetchConfig::default()
        }
    }
}
