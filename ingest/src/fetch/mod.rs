//! Fetching URLs for ingestion: one page, a crawl of a site, or the pages of a `sitemap.xml`.
//!
//! Every request goes through the [`ssrf`] guard, has a connect and a total time limit, reads
//! at most the configured number of bytes, follows at most [`FetchConfig::max_redirects`]
//! redirects (each hop checked again), and must return a content type the extractors know.
//! Crawls stay on the start host when `same_site` is set, honour `robots.txt`, and stop at
//! `max_pages`.

pub mod robots;
pub mod ssrf;

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use engine::error::{Error, Result};
use futures::StreamExt;
use ipnet::IpNet;
use url::Url;

use crate::extract::{self, html, Extracted, Format};
use robots::Robots;
use ssrf::{GuardedResolver, SsrfGuard};

/// Limits of fetching.
#[derive(Debug, Clone)]
pub struct FetchConfig {
    pub connect_timeout: Duration,
    /// The whole request, body included.
    pub timeout: Duration,
    /// Largest body read, in bytes.
    pub max_bytes: usize,
    pub max_redirects: usize,
    /// Networks exempt from the SSRF guard.
    pub allowlist: Vec<IpNet>,
    /// Longest extraction of one fetched page (and the parse for its links); past it the page
    /// fails with a reason, as an upload does.
    pub extract_timeout: Duration,
}

impl Default for FetchConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(20),
            max_bytes: 25 * 1024 * 1024,
            max_redirects: 5,
            allowlist: Vec::new(),
            extract_timeout: extract::EXTRACT_TIMEOUT,
        }
    }
}

/// How far a crawl goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrawlOptions {
    /// Pages fetched at most (1: the given page only).
    pub max_pages: usize,
    /// Stay on the start URL's host.
    pub same_site: bool,
}

impl Default for CrawlOptions {
    fn default() -> Self {
        Self {
            max_pages: 1,
            same_site: true,
        }
    }
}

/// Hard upper bound on `max_pages`, whatever the request says.
pub const MAX_CRAWL_PAGES: usize = 500;

/// A fetched response body.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The URL after redirects.
    pub url: Url,
    pub content_type: Option<String>,
    pub bytes: Vec<u8>,
}

/// One extracted page of a crawl.
#[derive(Debug, Clone)]
pub struct Page {
    pub url: Url,
    pub extracted: Extracted,
}

/// An HTTP client for ingestion, behind the SSRF guard.
#[derive(Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    guard: SsrfGuard,
    config: Arc<FetchConfig>,
}

impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetcher")
            .field("config", &self.config)
            .finish()
    }
}

fn unreachable(url: &str, why: impl std::fmt::Display) -> Error {
    Error::unprocessable(format!("could not fetch {url}: {why}"))
}

/// The innermost cause of a reqwest error, which names the real problem (refused address,
/// timeout, connection refused).
fn root_cause(e: &reqwest::Error) -> String {
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    if e.is_timeout() {
        return "the server did not answer in time".to_owned();
    }
    cause.to_string()
}

impl Fetcher {
    /// A fetcher with `config`'s limits and allowlist.
    pub fn new(config: FetchConfig) -> Result<Self> {
        let guard = SsrfGuard::new(config.allowlist.clone());
        let redirect_guard = guard.clone();
        let max_redirects = config.max_redirects;
        let policy = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= max_redirects {
                return attempt.error(format!("more than {max_redirects} redirects"));
            }
            // IP literals never reach the resolver: check every hop's URL here too.
            match redirect_guard.check_url(attempt.url().as_str()) {
                Ok(_) => attempt.follow(),
                Err(e) => attempt.error(e.message().to_owned()),
            }
        });
        let client = reqwest::Client::builder()
            .user_agent(concat!(
                "Blaigent/",
                env!("CARGO_PKG_VERSION"),
                " (knowledge ingestion)"
            ))
            .connect_timeout(config.connect_timeout)
            .timeout(config.timeout)
            .redirect(policy)
            .dns_resolver(Arc::new(GuardedResolver::new(guard.clone())))
            .no_proxy()
            .build()
            .map_err(|e| Error::internal("could not build the HTTP client").with_source(e))?;
        Ok(Self {
            client,
            guard,
            config: Arc::new(config),
        })
    }

    /// The guard (to validate URLs when a source is created).
    pub fn guard(&self) -> &SsrfGuard {
        &self.guard
    }

    /// Fetches one URL within the limits.
    #[tracing::instrument(skip_all, fields(url = %raw))]
    pub async fn fetch(&self, raw: &str) -> Result<Fetched> {
        let url = self.guard.check_url(raw)?;
        let response = self
            .client
            .get(url.clone())
            .send()
            .await
            .map_err(|e| unreachable(raw, root_cause(&e)))?;
        let status = response.status();
        if !status.is_success() {
            return Err(unreachable(raw, format!("the server answered {status}")));
        }
        if let Some(length) = response.content_length() {
            if length as usize > self.config.max_bytes {
                return Err(unreachable(
                    raw,
                    format!("the page is larger than {} bytes", self.config.max_bytes),
                ));
            }
        }
        let final_url = response.url().clone();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut bytes = Vec::new();
        let mut stream = response.bytes_stream();
        while let Some(piece) = stream.next().await {
            let piece = piece.map_err(|e| unreachable(raw, root_cause(&e)))?;
            if bytes.len() + piece.len() > self.config.max_bytes {
                return Err(unreachable(
                    raw,
                    format!("the page is larger than {} bytes", self.config.max_bytes),
                ));
            }
            bytes.extend_from_slice(&piece);
        }
        Ok(Fetched {
            url: final_url,
            content_type,
            bytes,
        })
    }

    /// Fetches and extracts `start`, and with `max_pages > 1` the pages it links to (or, for a
    /// sitemap, the pages it lists). Pages without text are skipped; the crawl fails only when
    /// no page had any.
    #[tracing::instrument(skip_all, fields(url = %start, max_pages = options.max_pages))]
    pub async fn crawl(&self, start: &str, options: CrawlOptions) -> Result<Vec<Page>> {
        let max_pages = options.max_pages.clamp(1, MAX_CRAWL_PAGES);
        let first = self.fetch(start).await?;
        if is_sitemap(&first) {
            let listed = sitemap_locations(&String::from_utf8_lossy(&first.bytes));
            let robots = self.robots(&first.url).await;
            let mut pages = Vec::new();
            let mut last_error = None;
            for loc in listed {
                if pages.len() >= max_pages {
                    break;
                }
                let Ok(url) = Url::parse(&loc) else { continue };
                if options.same_site && url.host_str() != first.url.host_str() {
                    continue;
                }
                if !robots.allows(&path_of(&url)) {
                    continue;
                }
                match self.fetch_page(url.as_str(), false).await {
                    Ok((page, _)) => pages.push(page),
                    Err(e) => last_error = Some(e),
                }
            }
            return match (pages.is_empty(), last_error) {
                (false, _) => Ok(pages),
                (true, Some(e)) => Err(e),
                (true, None) => Err(Error::unprocessable(format!(
                    "the sitemap {start} lists no page that may be fetched"
                ))),
            };
        }
        let (first_page, first_links) = self.page_of(first, max_pages > 1).await?;
        if max_pages == 1 {
            return Ok(vec![first_page]);
        }
        let robots = self.robots(&first_page.url).await;
        let mut seen: HashSet<Url> = HashSet::from([first_page.url.clone()]);
        let mut queue: VecDeque<Url> = VecDeque::new();
        let start_host = first_page.url.host_str().map(str::to_owned);
        let mut enqueue = |links: Vec<Url>, queue: &mut VecDeque<Url>| {
            for link in links {
                if options.same_site && link.host_str().map(str::to_owned) != start_host {
                    continue;
                }
                if robots.allows(&path_of(&link)) && seen.insert(link.clone()) {
                    queue.push_back(link);
                }
            }
        };
        enqueue(first_links, &mut queue);
        let mut pages = vec![first_page];
        while pages.len() < max_pages {
            let Some(next) = queue.pop_front() else { break };
            match self.fetch_page(next.as_str(), true).await {
                Ok((page, links)) => {
                    enqueue(links, &mut queue);
                    pages.push(page);
                }
                Err(e) => tracing::debug!(url = %next, error = %e, "crawl skipped a page"),
            }
        }
        Ok(pages)
    }

    async fn fetch_page(&self, url: &str, with_links: bool) -> Result<(Page, Vec<Url>)> {
        let fetched = self.fetch(url).await?;
        self.page_of(fetched, with_links).await
    }

    /// Extracts a fetched body, with its links when asked (for a crawl). Both parse the page,
    /// so both run off the async threads within [`FetchConfig::extract_timeout`], the budget
    /// uploads have: a page built to stall the parser fails with a reason instead of hanging
    /// its job.
    async fn page_of(&self, fetched: Fetched, with_links: bool) -> Result<(Page, Vec<Url>)> {
        let format = Format::detect(fetched.content_type.as_deref(), Some(fetched.url.path()))
            .ok_or_else(|| {
                Error::unprocessable(format!(
                    "{} has the unsupported content type {}",
                    fetched.url,
                    fetched.content_type.as_deref().unwrap_or("(none)")
                ))
            })?;
        let what = format!("the page {}", fetched.url);
        extract::bounded(self.config.extract_timeout, &what, move || {
            let extracted = extract::extract(format, &fetched.bytes)?;
            let links = if with_links && format == Format::Html {
                html::links(&String::from_utf8_lossy(&fetched.bytes), &fetched.url)
            } else {
                Vec::new()
            };
            let page = Page {
                url: fetched.url,
                extracted,
            };
            Ok((page, links))
        })
        .await
    }

    /// The robots.txt rules of `url`'s origin; unreadable means no rules.
    async fn robots(&self, url: &Url) -> Robots {
        let Ok(robots_url) = url.join("/robots.txt") else {
            return Robots::default();
        };
        match self.fetch(robots_url.as_str()).await {
            Ok(f) => Robots::parse(&String::from_utf8_lossy(&f.bytes)),
            Err(_) => Robots::default(),
        }
    }
}

fn path_of(url: &Url) -> String {
    match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    }
}

fn is_sitemap(fetched: &Fetched) -> bool {
    let xml_type = fetched
        .content_type
        .as_deref()
        .is_some_and(|ct| ct.contains("xml") && !ct.contains("html"));
    let named = fetched.url.path().ends_with(".xml");
    (xml_type || named) && {
        let head = String::from_utf8_lossy(&fetched.bytes[..fetched.bytes.len().min(2048)]);
        head.contains("<urlset") || head.contains("<sitemapindex")
    }
}

/// The `<loc>` entries of a sitemap.
pub fn sitemap_locations(xml: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find("<loc>") {
        let after = &rest[start + 5..];
        let Some(end) = after.find("</loc>") else {
            break;
        };
        let loc = after[..end]
            .trim()
            .replace("&amp;", "&")
            .replace("<![CDATA[", "")
            .replace("]]>", "");
        out.push(loc);
        rest = &after[end..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sitemap_locations_are_listed_in_order() {
        let xml = "<?xml version=\"1.0\"?><urlset><url><loc>https://a.example/x?a=1&amp;b=2</loc></url>\n<url><loc> https://a.example/y </loc></url></urlset>";
        assert_eq!(
            sitemap_locations(xml),
            vec!["https://a.example/x?a=1&b=2", "https://a.example/y"]
        );
    }

    #[tokio::test]
    async fn loopback_is_refused_without_the_allowlist() {
        let fetcher = Fetcher::new(FetchConfig::default()).expect("fetcher");
        let err = fetcher
            .fetch("http://127.0.0.1:9/")
            .await
            .expect_err("refused");
        assert!(err.message().contains("may not be fetched"), "{err:?}");
        let err = fetcher
            .fetch("http://localhost:9/")
            .await
            .expect_err("refused");
        assert!(err.message().contains("may not be fetched"), "{err:?}");
    }
}
