//! The main content of an HTML page as Markdown.
//!
//! The content root is `<main>`, else `<article>`, else `[role=main]`, else `<body>`. Inside it,
//! scripts, styles, navigation, headers, footers, asides, forms and hidden elements are dropped;
//! headings become `#` lines, list items `- ` lines, and block elements end paragraphs.
//!
//! Pages are parsed with nesting capped at [`MAX_DEPTH`] elements (the `depth` module): past
//! it, html5ever's tree builder would take time quadratic in the depth, and the text of deeper
//! elements is kept, flattened into the deepest element allowed.

mod depth;

pub use depth::MAX_DEPTH;

use ego_tree::iter::Edge;
use ego_tree::NodeRef;
use scraper::{Node, Selector};

use super::{first_heading, Body, Extracted};
use crate::normalize::normalize;

/// Elements whose whole subtree is boilerplate.
const DROPPED: &[&str] = &[
    "script", "style", "noscript", "nav", "header", "footer", "aside", "form", "iframe", "svg",
    "template", "button", "select", "head",
];

/// Elements that end a paragraph.
const BLOCKS: &[&str] = &[
    "p",
    "div",
    "section",
    "article",
    "main",
    "table",
    "tr",
    "ul",
    "ol",
    "blockquote",
    "pre",
    "br",
    "hr",
    "dl",
    "dt",
    "dd",
    "figure",
    "figcaption",
    "details",
    "summary",
];

/// Extracts the main content and title of a page.
pub fn extract_html(html: &str) -> Extracted {
    let document = depth::parse_document(html);
    let title = Selector::parse("title").ok().and_then(|s| {
        document
            .select(&s)
            .next()
            .map(|t| t.text().collect::<String>().trim().to_owned())
            .filter(|t| !t.is_empty())
    });
    let root = ["main", "article", "[role=main]", "body"]
        .iter()
        .filter_map(|css| Selector::parse(css).ok())
        .find_map(|s| document.select(&s).next());
    let mut out = String::new();
    match root {
        Some(root) => walk(*root, &mut out),
        None => walk(document.tree.root(), &mut out),
    }
    let markdown = normalize(&out);
    let title = title.or_else(|| first_heading(&markdown));
    Extracted {
        title,
        body: Body::Markdown(markdown),
    }
}

fn is_hidden(element: &scraper::node::Element) -> bool {
    element.attr("hidden").is_some()
        || element.attr("aria-hidden") == Some("true")
        || element
            .attr("style")
            .is_some_and(|s| s.replace(' ', "").contains("display:none"))
}

/// Appends the Markdown of `root`'s subtree to `out`.
///
/// Iterative (ego-tree's `traverse` yields each node's opening and closing): html5ever caps no
/// nesting depth, and a recursive walk of 16,000 nested `<span>` (a 96 KB page) overflowed the
/// 2 MiB stack of the thread extracting it, which aborts the whole server, not just this
/// upload. The page is `fuzz/regressions/html_extract/deep-span-nesting.html`.
fn walk(root: NodeRef<'_, Node>, out: &mut String) {
    // The text of the headings being read, innermost last: a heading's text is collected
    // apart, then written as one `#` line where the heading closes.
    let mut headings: Vec<String> = Vec::new();
    // The dropped or hidden element whose subtree is being skipped.
    let mut skipping: Option<ego_tree::NodeId> = None;
    for edge in root.traverse() {
        match edge {
            Edge::Open(node) => {
                if skipping.is_some() {
                    continue;
                }
                let buf = headings.last_mut().map_or(&mut *out, |text| text);
                match node.value() {
                    Node::Text(text) => buf.push_str(&text.replace('\n', " ")),
                    Node::Element(element) => {
                        let name = element.name();
                        if DROPPED.contains(&name) || is_hidden(element) {
                            skipping = Some(node.id());
                        } else if heading_level(name).is_some() {
                            headings.push(String::new());
                        } else {
                            match name {
                                "li" => buf.push_str("\n- "),
                                "td" | "th" => buf.push_str(" | "),
                                _ if BLOCKS.contains(&name) => buf.push_str("\n\n"),
                                _ => {}
                            }
                        }
                    }
                    _ => {}
                }
            }
            Edge::Close(node) => {
                if let Some(skipped) = skipping {
                    if skipped == node.id() {
                        skipping = None;
                    }
                    continue;
                }
                let Node::Element(element) = node.value() else {
                    continue;
                };
                let name = element.name();
                if let Some(level) = heading_level(name) {
                    let Some(text) = headings.pop() else {
                        continue;
                    };
                    let buf = headings.last_mut().map_or(&mut *out, |text| text);
                    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
                    if !text.is_empty() {
                        buf.push_str("\n\n");
                        buf.push_str(&"#".repeat(level));
                        buf.push(' ');
                        buf.push_str(&text);
                        buf.push_str("\n\n");
                    }
                } else if BLOCKS.contains(&name) {
                    headings
                        .last_mut()
                        .map_or(&mut *out, |text| text)
                        .push('\n');
                }
            }
        }
    }
}

/// The level of a heading element (`h1` is 1), `None` for other elements.
fn heading_level(name: &str) -> Option<usize> {
    match name {
        "h1" => Some(1),
        "h2" => Some(2),
        "h3" => Some(3),
        "h4" => Some(4),
        "h5" => Some(5),
        "h6" => Some(6),
        _ => None,
    }
}

/// The http(s) links of a page, resolved against `base`, without fragments, in page order.
pub fn links(html: &str, base: &url::Url) -> Vec<url::Url> {
    let document = depth::parse_document(html);
    let Ok(anchors) = Selector::parse("a[href]") else {
        return Vec::new();
    };
    document
        .select(&anchors)
        .filter_map(|a| a.value().attr("href"))
        .filter_map(|href| base.join(href.trim()).ok())
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .map(|mut u| {
            u.set_fragment(None);
            u
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn main_content_keeps_headings_and_drops_noise() {
        let page = r#"<html><head><title>Help centre</title><style>p{}</style></head><body>
            <header><a href="/">Logo</a></header>
            <nav><ul><li>Home</li><li>Shop</li></ul></nav>
            <main>
              <h1>Shipping</h1>
              <p>We ship within <b>2 days</b>.</p>
              <h2>International</h2>
              <ul><li>EU: 4 days</li><li>US: 7 days</li></ul>
              <div style="display: none">secret banner</div>
              <script>var tracking = "evil";</script>
            </main>
            <aside>Newsletter signup</aside>
            <footer>Copyright</footer></body></html>"#;
        let out = extract_html(page);
        assert_eq!(out.title.as_deref(), Some("Help centre"));
        let Body::Markdown(text) = out.body else {
            panic!("markdown")
        };
        assert_eq!(
            text,
            "# Shipping\n\nWe ship within 2 days.\n\n## International\n\n- EU: 4 days\n- US: 7 days"
        );
    }

    #[test]
    fn a_page_nested_100_000_deep_is_read_flattened() {
        // Unflattened, html5ever's scope checks walk up to 100,000 open elements for each
        // tag: this 1.1 MB page took 67 s in a release build, minutes in a test build.
        let page = format!(
            "<main><h1>Deep</h1>{}<h2>inside</h2><p>deep text</p>{}<p>after</p></main>",
            "<div>".repeat(100_000),
            "</div>".repeat(100_000)
        );
        let out = extract_html(&page);
        let Body::Markdown(text) = out.body else {
            panic!("markdown")
        };
        // Past the cap the heading and paragraph tags are dropped, their text kept.
        assert_eq!(text, "# Deep\n\ninside deep text\n\nafter");
    }

    #[test]
    fn links_of_a_deep_page_are_read() {
        let page = format!(
            "<a href=\"/before\">b</a>{}<a href=\"/inside\">i</a>{}<a href=\"/after\">a</a>",
            "<div>".repeat(100_000),
            "</div>".repeat(100_000)
        );
        let base = url::Url::parse("https://shop.example/").unwrap();
        let found: Vec<String> = links(&page, &base)
            .iter()
            .map(|u| u.path().to_owned())
            .collect();
        // The anchor past the cap is dropped with the other start tags; its text stays.
        assert_eq!(found, ["/before", "/after"]);
    }

    #[test]
    fn a_page_that_is_all_script_has_no_text() {
        let out = extract_html("<html><body><script>document.write('hi')</script></body></html>");
        assert!(out.is_empty());
    }
}
