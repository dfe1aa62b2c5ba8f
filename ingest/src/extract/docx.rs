//! Word documents (`.docx`, Office Open XML) as Markdown.
//!
//! A `.docx` file is a zip archive; the text lives in `word/document.xml`. This module reads
//! the archive's central directory itself (stored and deflated entries, no zip64, no
//! encryption: what every word processor writes), inflates only that one entry, and walks
//! its body in order:
//!
//! - a paragraph styled `Title` or `HeadingN` becomes a `#` line of level N (the chunker uses
//!   headings as chunk titles; the title or first heading is the document title);
//! - other paragraphs become paragraphs (tabs and line breaks kept);
//! - a table becomes one line per row, its cells joined by ` | `.
//!
//! Bombs: the entry is inflated through a reader capped at [`MAX_XML_BYTES`], whatever its
//! header claims; the archive may list at most [`MAX_ENTRIES`] entries; the XML may hold at
//! most [`MAX_XML_NODES`] nodes nested at most [`MAX_XML_DEPTH`] deep, and is walked in time
//! linear in its size. A file past any of these is unreadable (the document ends `failed`
//! with the reason), never a server that runs out of memory or time.

use std::io::Read;

use engine::error::{Error, Result};
use roxmltree::{Document, Node};

use super::{first_heading, Body, Extracted};
use crate::normalize::normalize;

/// Largest `word/document.xml` inflated: a 300-page text document is about 5 MB of XML, so
/// 32 MB leaves room for heavy formatting and stops a small file from inflating to gigabytes.
pub const MAX_XML_BYTES: u64 = 32 * 1024 * 1024;

/// Most entries an archive may list: a long document with many images has a few hundred.
pub const MAX_ENTRIES: usize = 5_000;

/// Most XML nodes parsed (elements, text, attributes not counted): heavy formatting spends
/// about three nodes per word, so 2 million covers the largest documents at [`MAX_XML_BYTES`],
/// and caps the parsed tree at roughly 150 MB instead of letting 32 MB of `<a/>` become
/// eight million nodes.
pub const MAX_XML_NODES: u32 = 2_000_000;

/// Deepest element nesting: real documents nest tables in tables a few levels, under 30.
pub const MAX_XML_DEPTH: usize = 256;

/// The WordprocessingML namespace.
const W: &str = "http://schemas.openxmlformats.org/wordprocessingml/2006/main";

/// The end-of-central-directory record: signature, fixed size, and how far from the end of
/// the file it can start (its comment is at most 65,535 bytes).
const EOCD_SIGNATURE: u32 = 0x0605_4b50;
const EOCD_LEN: usize = 22;
const CENTRAL_SIGNATURE: u32 = 0x0201_4b50;
const LOCAL_SIGNATURE: u32 = 0x0403_4b50;

/// Extracts the text of a `.docx` file.
pub fn extract_docx(bytes: &[u8]) -> Result<Extracted> {
    extract_capped(bytes, MAX_XML_BYTES)
}

fn extract_capped(bytes: &[u8], cap: u64) -> Result<Extracted> {
    let xml = read_entry(bytes, "word/document.xml", cap)?;
    let xml = String::from_utf8(xml)
        .map_err(|_| Error::unprocessable("the Word document's XML is not UTF-8"))?;
    let markdown = normalize(&document_markdown(&xml)?);
    Ok(Extracted {
        title: first_heading(&markdown),
        body: Body::Markdown(markdown),
    })
}

fn corrupt(what: &str) -> Error {
    Error::unprocessable(format!("not a readable .docx file: {what}"))
}

fn u16_at(bytes: &[u8], at: usize) -> Result<usize> {
    bytes
        .get(at..at + 2)
        .map(|b| usize::from(u16::from_le_bytes([b[0], b[1]])))
        .ok_or_else(|| corrupt("truncated archive"))
}

fn u32_at(bytes: &[u8], at: usize) -> Result<u32> {
    bytes
        .get(at..at + 4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or_else(|| corrupt("truncated archive"))
}

/// Finds `name` in the zip archive `bytes` and returns its contents, inflated and capped.
fn read_entry(bytes: &[u8], name: &str, cap: u64) -> Result<Vec<u8>> {
    if bytes.len() < EOCD_LEN {
        return Err(corrupt("too short to be a zip archive"));
    }
    let earliest = bytes.len().saturating_sub(EOCD_LEN + usize::from(u16::MAX));
    let eocd = (earliest..=bytes.len() - EOCD_LEN)
        .rev()
        .find(|&at| u32_at(bytes, at).ok() == Some(EOCD_SIGNATURE))
        .ok_or_else(|| corrupt("no zip directory (is it an old binary .doc?)"))?;
    let entries = u16_at(bytes, eocd + 10)?;
    if entries > MAX_ENTRIES {
        return Err(Error::unprocessable(format!(
            "the .docx archive lists {entries} entries; at most {MAX_ENTRIES} are accepted"
        )));
    }
    let mut at = u32_at(bytes, eocd + 16)? as usize;
    for _ in 0..entries {
        if u32_at(bytes, at)? != CENTRAL_SIGNATURE {
            return Err(corrupt("damaged zip directory"));
        }
        let flags = u16_at(bytes, at + 8)?;
        let method = u16_at(bytes, at + 10)?;
        let compressed = u32_at(bytes, at + 20)? as usize;
        let name_len = u16_at(bytes, at + 28)?;
        let extra_len = u16_at(bytes, at + 30)?;
        let comment_len = u16_at(bytes, at + 32)?;
        let local = u32_at(bytes, at + 42)? as usize;
        let entry_name = bytes
            .get(at + 46..at + 46 + name_len)
            .ok_or_else(|| corrupt("truncated archive"))?;
        at += 46 + name_len + extra_len + comment_len;
        if entry_name != name.as_bytes() {
            continue;
        }
        if flags & 1 != 0 {
            return Err(Error::unprocessable(
                "the Word document is encrypted; save it without a password",
            ));
        }
        if u32_at(bytes, local)? != LOCAL_SIGNATURE {
            return Err(corrupt("damaged entry header"));
        }
        let start = local + 30 + u16_at(bytes, local + 26)? + u16_at(bytes, local + 28)?;
        let data = bytes
            .get(start..start.saturating_add(compressed))
            .ok_or_else(|| corrupt("truncated entry"))?;
        return match method {
            0 => capped(data, cap),
            8 => capped(flate2::read::DeflateDecoder::new(data), cap),
            _ => Err(corrupt("unsupported compression method")),
        };
    }
    Err(corrupt(&format!("no {name} inside")))
}

/// Reads at most `cap` bytes; more is refused as too large.
fn capped(reader: impl Read, cap: u64) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    reader
        .take(cap + 1)
        .read_to_end(&mut out)
        .map_err(|e| corrupt(&format!("cannot inflate: {e}")))?;
    if out.len() as u64 > cap {
        // Unprocessable, not "too large": the upload itself was small, and the document is
        // listed as `failed` with this reason like any other unreadable file.
        return Err(Error::unprocessable(format!(
            "the Word document's text inflates past {} KB (a zip bomb?); at most that much is read",
            cap / 1024
        )));
    }
    Ok(out)
}

/// The document body as Markdown: headings, paragraphs and table rows in order.
fn document_markdown(xml: &str) -> Result<String> {
    check_depth(xml)?;
    let options = roxmltree::ParsingOptions {
        allow_dtd: false,
        nodes_limit: MAX_XML_NODES,
    };
    let document = Document::parse_with_options(xml, options).map_err(|e| match e {
        roxmltree::Error::NodesLimitReached => Error::unprocessable(format!(
            "word/document.xml has more than {MAX_XML_NODES} XML nodes; at most that many are read"
        )),
        e => corrupt(&format!("word/document.xml is not valid XML ({e})")),
    })?;
    let body = document
        .descendants()
        .find(|n| is_w(n, "body"))
        .ok_or_else(|| corrupt("word/document.xml has no body"))?;
    let mut blocks: Vec<String> = Vec::new();
    for node in body.children() {
        if is_w(&node, "p") {
            let text = paragraph_text(node);
            if text.trim().is_empty() {
                continue;
            }
            match heading_level(node) {
                Some(level) => blocks.push(format!("{} {}", "#".repeat(level), text.trim())),
                None => blocks.push(text),
            }
        } else if is_w(&node, "tbl") {
            let rows: Vec<String> = node
                .children()
                .filter(|r| is_w(r, "tr"))
                .map(row_text)
                .filter(|r| !r.trim().is_empty())
                .collect();
            if !rows.is_empty() {
                blocks.push(rows.join("\n"));
            }
        }
    }
    Ok(blocks.join("\n\n"))
}

/// Refuses XML nested deeper than [`MAX_XML_DEPTH`] before it is parsed: the XML parser
/// recurses per level (50,000 nested elements overflow a thread's stack and abort the whole
/// server), and every walk below that looks at ancestors or descendants stays bounded.
/// A byte scan: `<` opens an element unless it starts a closing tag, a comment, a CDATA
/// section, a processing instruction or a declaration; `/>` closes it at once.
fn check_depth(xml: &str) -> Result<()> {
    let bytes = xml.as_bytes();
    let mut depth = 0usize;
    let mut at = 0;
    let skip_to = |from: usize, end: &[u8]| {
        bytes[from..]
            .windows(end.len())
            .position(|w| w == end)
            .map_or(bytes.len(), |p| from + p + end.len())
    };
    while let Some(p) = bytes[at..].iter().position(|&b| b == b'<') {
        let open = at + p;
        let rest = &bytes[open..];
        at = if rest.starts_with(b"<!--") {
            skip_to(open, b"-->")
        } else if rest.starts_with(b"<![CDATA[") {
            skip_to(open, b"]]>")
        } else if rest.starts_with(b"<?") {
            skip_to(open, b"?>")
        } else if rest.starts_with(b"</") {
            depth = depth.saturating_sub(1);
            skip_to(open, b">")
        } else if rest.starts_with(b"<!") {
            skip_to(open, b">")
        } else {
            let end = skip_to(open, b">");
            if !bytes[open..end].ends_with(b"/>") {
                depth += 1;
                if depth > MAX_XML_DEPTH {
                    return Err(Error::unprocessable(format!(
                        "word/document.xml nests elements more than {MAX_XML_DEPTH} levels deep"
                    )));
                }
            }
            end
        };
    }
    Ok(())
}

fn is_w(node: &Node, name: &str) -> bool {
    node.is_element() && node.tag_name().name() == name && node.tag_name().namespace() == Some(W)
}

/// `Title` is level 1, `HeadingN` (or `heading N`) level N, capped at 6.
fn heading_level(paragraph: Node) -> Option<usize> {
    let style = paragraph
        .children()
        .find(|n| is_w(n, "pPr"))?
        .children()
        .find(|n| is_w(n, "pStyle"))?
        .attribute((W, "val"))?
        .to_ascii_lowercase()
        .replace(' ', "");
    if style == "title" {
        return Some(1);
    }
    let level: usize = style.strip_prefix("heading")?.parse().ok()?;
    Some(level.clamp(1, 6))
}

/// The text of a paragraph: its runs' text, tabs and breaks, in order (hyperlinks and
/// tracked insertions included, deleted text left out).
fn paragraph_text(paragraph: Node) -> String {
    let mut out = String::new();
    if paragraph.ancestors().any(|a| is_w(&a, "del")) {
        return out;
    }
    // Depth first in document order, never entering a deletion: linear in the paragraph.
    let mut pending = vec![paragraph];
    while let Some(node) = pending.pop() {
        if is_w(&node, "del") {
            continue;
        }
        if is_w(&node, "t") {
            out.push_str(node.text().unwrap_or(""));
        } else if is_w(&node, "tab") {
            out.push('\t');
        } else if is_w(&node, "br") || is_w(&node, "cr") {
            out.push('\n');
        }
        pending.extend(node.children().rev());
    }
    out
}

/// A table row: the text of each cell (its paragraphs joined by spaces), joined by ` | `.
fn row_text(row: Node) -> String {
    row.children()
        .filter(|c| is_w(c, "tc"))
        .map(|cell| {
            cell.descendants()
                .filter(|p| is_w(p, "p"))
                .map(paragraph_text)
                .map(|t| t.split_whitespace().collect::<Vec<_>>().join(" "))
                .filter(|t| !t.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join(" | ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small real document written by `tests/fixtures/knowledge/make_docx.py` (a title, two
    /// headings, paragraphs, a table, a deleted run).
    const SAMPLE: &[u8] = include_bytes!("../../../tests/fixtures/knowledge/returns-policy.docx");

    #[test]
    fn a_word_document_becomes_markdown_with_headings_and_table_rows() {
        let out = extract_docx(SAMPLE).expect("extract");
        assert_eq!(out.title.as_deref(), Some("Returns policy"));
        let Body::Markdown(text) = out.body else {
            panic!("not markdown: {:?}", out.body);
        };
        assert!(text.starts_with("# Returns policy\n\n"), "{text}");
        assert!(text.contains("## Refunds\n\nRefunds reach your card within 5 business days."));
        assert!(text.contains("Region | Days to return\nEurope | 30\nUnited States | 45"));
        assert!(!text.contains("60 days"), "deleted text leaked: {text}");
    }

    #[test]
    fn a_zip_bomb_is_refused_as_too_large() {
        // Deflated spaces: a few hundred bytes that inflate past the cap (a small cap here
        // keeps the test fast; the shipped cap works the same way).
        let cap = 256 * 1024;
        let big = vec![b' '; 4 * cap as usize];
        let mut encoder =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        std::io::Write::write_all(&mut encoder, &big).expect("deflate");
        let data = encoder.finish().expect("deflate");
        let archive = one_entry_zip("word/document.xml", 8, &data, big.len());
        let err = extract_capped(&archive, cap).expect_err("bomb");
        assert!(err.message().contains("inflates past"), "{}", err.message());
        assert_eq!(err.kind(), engine::error::ErrorKind::Unprocessable);
    }

    #[test]
    fn files_that_are_not_docx_are_refused_with_a_reason() {
        let err = extract_docx(b"\xD0\xCF\x11\xE0 an old binary .doc").expect_err("doc");
        assert!(
            err.message().contains("not a readable .docx"),
            "{}",
            err.message()
        );
        let archive = one_entry_zip("word/other.xml", 0, b"<x/>", 4);
        let err = extract_docx(&archive).expect_err("no document.xml");
        assert!(
            err.message().contains("no word/document.xml"),
            "{}",
            err.message()
        );
    }

    /// A minimal zip archive with one entry (CRC left 0: this reader does not check it).
    fn one_entry_zip(name: &str, method: u16, data: &[u8], size: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let n = name.len() as u16;
        out.extend_from_slice(&LOCAL_SIGNATURE.to_le_bytes());
        out.extend_from_slice(&[20, 0, 0, 0]);
        out.extend_from_slice(&method.to_le_bytes());
        out.extend_from_slice(&[0; 8]);
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(&(size as u32).to_le_bytes());
        out.extend_from_slice(&n.to_le_bytes());
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(data);
        let central = out.len() as u32;
        out.extend_from_slice(&CENTRAL_SIGNATURE.to_le_bytes());
        out.extend_from_slice(&[20, 0, 20, 0, 0, 0]);
        out.extend_from_slice(&method.to_le_bytes());
        out.extend_from_slice(&[0; 8]);
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(&(size as u32).to_le_bytes());
        out.extend_from_slice(&n.to_le_bytes());
        out.extend_from_slice(&[0; 12]);
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        let central_len = out.len() as u32 - central;
        out.extend_from_slice(&EOCD_SIGNATURE.to_le_bytes());
        out.extend_from_slice(&[0, 0, 0, 0, 1, 0, 1, 0]);
        out.extend_from_slice(&central_len.to_le_bytes());
        out.extend_from_slice(&central.to_le_bytes());
        out.extend_from_slice(&[0, 0]);
        out
    }
}
