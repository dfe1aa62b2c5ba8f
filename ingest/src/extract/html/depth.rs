//! Parsing a page with a cap on how deep its elements nest.
//!
//! For most tags, html5ever's tree builder asks whether some element is "in scope" by walking
//! its stack of open elements from the top, and the stack is as deep as the page nests: a page
//! of `n` nested `<div>` takes time quadratic in `n` (16,000 of them, 80 KB, parsed in 2.5 s
//! in a release build, and an upload may be 25 MiB). Browsers cap the depth instead (Blink
//! stops nesting at 512 and puts deeper elements beside each other), and so does this parser,
//! between html5ever's tokenizer and its tree builder:
//!
//! - while the tree builder holds fewer than [`MAX_DEPTH`] elements, every token passes;
//! - at the cap, a start tag is dropped, and so is the end tag that closes it: the text
//!   inside still reaches the tree, in the deepest element allowed, and a dropped tag other
//!   than a phrasing one (`<b>`, `<span>`) leaves a line break, so the words of two dropped
//!   paragraphs do not run together. Void elements (`<br>`, `<img>`) and raw-text ones
//!   (`<script>`, `<style>`, `<textarea>`) always pass: they hold no elements, and dropping
//!   a `<script>` would turn its code into page text.
//!
//! The depth is the tree builder's own, counted through its public `trace_handles` (the open
//! elements plus the formatting elements it may reopen), not a guess from the tags. Counting
//! costs as much as the tree builder's walks of the same stack, so it only runs when the depth
//! could have reached the cap since the last count: each token then costs time bounded by the
//! cap, and a page parses in time linear in its size. Below the cap the tree is exactly
//! html5ever's.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use ego_tree::NodeId;
use html5ever::interface::{Tracer, TreeSink};
use html5ever::tendril::StrTendril;
use html5ever::tokenizer::{
    BufferQueue, Tag, TagKind, Token, TokenSink, TokenSinkResult, Tokenizer, TokenizerOpts,
    TokenizerResult,
};
use html5ever::tree_builder::{TreeBuilder, TreeBuilderOpts};
use html5ever::LocalName;
use scraper::{Html, HtmlTreeSink};

/// Most elements the tree builder may hold at once (open elements and the formatting elements
/// it may reopen). Real pages nest a few dozen deep; 512 is Blink's cap.
pub const MAX_DEPTH: usize = 512;

/// Elements that pass at the cap: void elements hold nothing, and raw-text elements switch
/// the tokenizer to reading their content as text.
const ALWAYS_PASS: &[&str] = &[
    "area",
    "base",
    "basefont",
    "bgsound",
    "br",
    "col",
    "embed",
    "frame",
    "hr",
    "image",
    "img",
    "input",
    "keygen",
    "link",
    "meta",
    "param",
    "source",
    "track",
    "wbr",
    "script",
    "style",
    "xmp",
    "iframe",
    "noembed",
    "noframes",
    "noscript",
    "textarea",
    "title",
    "plaintext",
];

/// Elements that sit inside a line of text: dropping them leaves no line break.
const PHRASING: &[&str] = &[
    "a", "abbr", "b", "bdi", "bdo", "big", "cite", "code", "data", "dfn", "em", "font", "i", "kbd",
    "label", "mark", "nobr", "q", "s", "samp", "small", "span", "strike", "strong", "sub", "sup",
    "time", "tt", "u", "var",
];

/// Parses a whole document as `Html::parse_document` does, with nesting capped at
/// [`MAX_DEPTH`].
pub fn parse_document(html: &str) -> Html {
    let builder = TreeBuilder::new(
        HtmlTreeSink::new(Html::new_document()),
        TreeBuilderOpts::default(),
    );
    let tokenizer = Tokenizer::new(DepthCap::new(builder), TokenizerOpts::default());
    let input = BufferQueue::default();
    input.push_back(StrTendril::from_slice(html));
    // The tree builder pauses at each `</script>` for a script engine; there is none.
    while let TokenizerResult::Script(_) = tokenizer.feed(&input) {}
    tokenizer.end();
    tokenizer.sink.builder.sink.finish()
}

/// The tree builder behind a filter that drops start tags past the cap.
struct DepthCap {
    builder: TreeBuilder<NodeId, HtmlTreeSink>,
    /// The depth at the last count.
    counted: Cell<usize>,
    /// Start tags passed since the last count.
    passed_since: Cell<usize>,
    /// Whether a tag passed since the last count (only tags close elements).
    may_have_shrunk: Cell<bool>,
    /// Dropped start tags not yet closed, by name: their end tags are dropped too.
    dropped: RefCell<HashMap<LocalName, usize>>,
    /// Their total (most pages drop nothing, and skip the lookup).
    open_dropped: Cell<usize>,
    /// Whether the last token the tree builder got is a line break left by a dropped tag.
    broke_line: Cell<bool>,
}

impl DepthCap {
    fn new(builder: TreeBuilder<NodeId, HtmlTreeSink>) -> Self {
        DepthCap {
            builder,
            counted: Cell::new(0),
            passed_since: Cell::new(0),
            may_have_shrunk: Cell::new(false),
            dropped: RefCell::new(HashMap::new()),
            open_dropped: Cell::new(0),
            broke_line: Cell::new(false),
        }
    }

    /// Whether `tag` is dropped; records what passing it may change.
    fn drops(&self, tag: &Tag) -> bool {
        let drop = match tag.kind {
            TagKind::EndTag => self.closes_dropped(&tag.name),
            TagKind::StartTag => self.at_cap() && !ALWAYS_PASS.contains(&&*tag.name),
        };
        if drop && tag.kind == TagKind::StartTag {
            let mut dropped = self.dropped.borrow_mut();
            *dropped.entry(tag.name.clone()).or_default() += 1;
            self.open_dropped.set(self.open_dropped.get() + 1);
        } else if !drop {
            self.may_have_shrunk.set(true);
            if tag.kind == TagKind::StartTag {
                self.passed_since.set(self.passed_since.get() + 1);
            }
        }
        drop
    }

    /// Whether the end tag `name` closes a dropped element (and forgets that element).
    fn closes_dropped(&self, name: &LocalName) -> bool {
        if self.open_dropped.get() == 0 {
            return false;
        }
        let mut dropped = self.dropped.borrow_mut();
        match dropped.get_mut(name) {
            Some(open) if *open > 0 => {
                *open -= 1;
                self.open_dropped.set(self.open_dropped.get() - 1);
                true
            }
            _ => false,
        }
    }

    /// Whether the tree builder is at the cap, counting only when it may be.
    fn at_cap(&self) -> bool {
        // Since the count, each start tag adds its element, implied parents (`<tbody>`,
        // `<tr>`) and a formatting entry, and text may reopen every formatting element
        // already counted; other tokens add nothing.
        let bound = 2 * self.counted.get() + 8 * self.passed_since.get() + 8;
        if bound < MAX_DEPTH {
            return false;
        }
        if self.counted.get() >= MAX_DEPTH && !self.may_have_shrunk.get() {
            return true;
        }
        let count = Count(Cell::new(0));
        self.builder.trace_handles(&count);
        self.counted.set(count.0.get());
        self.passed_since.set(0);
        self.may_have_shrunk.set(false);
        count.0.get() >= MAX_DEPTH
    }
}

impl TokenSink for DepthCap {
    type Handle = NodeId;

    fn process_token(&self, token: Token, line_number: u64) -> TokenSinkResult<NodeId> {
        if let Token::TagToken(tag) = &token {
            if self.drops(tag) {
                if !PHRASING.contains(&&*tag.name) && !self.broke_line.replace(true) {
                    let line_break = Token::CharacterTokens(StrTendril::from_slice("\n"));
                    // Text never pauses the tokenizer: the result is always `Continue`.
                    let _ = self.builder.process_token(line_break, line_number);
                }
                return TokenSinkResult::Continue;
            }
        }
        self.broke_line.set(false);
        self.builder.process_token(token, line_number)
    }

    fn end(&self) {
        self.builder.end();
    }

    fn adjusted_current_node_present_but_not_in_html_namespace(&self) -> bool {
        self.builder
            .adjusted_current_node_present_but_not_in_html_namespace()
    }
}

/// Counts the handles the tree builder holds.
struct Count(Cell<usize>);

impl Tracer for Count {
    type Handle = NodeId;

    fn trace_handle(&self, _node: &NodeId) {
        self.0.set(self.0.get() + 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_the_cap_the_tree_is_html5evers() {
        let nested = format!(
            "{}<b>deep <i>and</b> misnested</i>{}",
            "<div><span>".repeat(100),
            "</span></div>".repeat(100)
        );
        let page = format!(
            "<!DOCTYPE html><html><head><title>a < b</title><style>p > a {{}}</style></head>\
             <body><p>one<p>two<ul><li>a<li>b</ul><table><tr><td>cell<td>cell</table>\
             <script>document.write('<div><div>')</script><!-- <div> -->\
             <svg><path d='M0'/><circle/></svg><textarea><div></textarea>{nested}\
             <p>last<br>line</body></html>"
        );
        assert_eq!(
            parse_document(&page).html(),
            Html::parse_document(&page).html()
        );
    }

    #[test]
    fn past_the_cap_start_tags_are_dropped_and_text_kept() {
        let depth = 2 * MAX_DEPTH;
        let page = format!(
            "<body>{}<p>deep</p><script>var x = '<b>';</script>{}<p>after</p></body>",
            "<div>".repeat(depth),
            "</div>".repeat(depth)
        );
        let html = parse_document(&page);
        let deepest = html
            .tree
            .nodes()
            .filter(|n| n.value().is_text())
            .map(|n| n.ancestors().count())
            .max()
            .unwrap();
        assert!(deepest <= MAX_DEPTH + 2, "text {deepest} deep");
        let text: String = html.root_element().text().collect();
        let words: Vec<&str> = text.split_whitespace().collect();
        assert_eq!(words, ["deep", "var", "x", "=", "'<b>';", "after"]);
        // The script is still a script, and `after` is outside every div again.
        let script = scraper::Selector::parse("script").unwrap();
        assert_eq!(html.select(&script).count(), 1);
        let after = scraper::Selector::parse("body > p").unwrap();
        assert_eq!(html.select(&after).count(), 1);
    }
}
