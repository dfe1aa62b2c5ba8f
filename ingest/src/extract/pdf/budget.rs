//! The decompression budget of one PDF, and the check that enforces it before extraction.
//!
//! The check loads the file once with lopdf, keeping its object streams packed, and measures
//! every stream with the bounded decoder of `super::decode`; only a file that fits is then
//! extracted (and loaded again) by pdf-extract. The limits are in `super`'s documentation.

use std::collections::HashMap;

use engine::error::{Error, Result};
use pdf_extract::{Document, Object, ObjectId, ObjectStream, Reader, Stream};

use super::decode::{self, Measure, MAX_FILTERS};
use super::xref;

const MIB: u64 = 1024 * 1024;

/// Largest inflated size of one stream (every stage of its filter chain counted), and of one
/// page's content streams joined. A page's text and drawing commands take kilobytes to a few
/// megabytes; the largest streams in real files are losslessly compressed images, and a
/// 600 dpi A4 page in RGB is 100 MiB.
pub const MAX_STREAM_BYTES: u64 = 128 * MIB;

/// The total inflated size of all streams may be this many times the file's size. Text,
/// fonts and object streams compress 3 to 10 times, images less; 64 is past any real file
/// and far below deflate's 1000 (what a bomb gets).
pub const MAX_INFLATION_RATIO: u64 = 64;

/// The total allowed whatever the file's size: a small file of a few mostly-white images
/// may inflate well past 64 times its size without being a bomb.
pub const MIN_TOTAL_BYTES: u64 = 64 * MIB;

/// The total allowed however large the file.
pub const MAX_TOTAL_BYTES: u64 = 512 * MIB;

/// What the check found a file to be.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Within the budget: extraction may inflate it.
    Readable,
    /// Encrypted with a password (lopdf opens files encrypted with an empty one itself).
    Encrypted,
}

/// Checks that extracting `bytes` inflates no stream, page or total past the limits.
///
/// # Errors
/// Unprocessable: past a limit (naming it), or lopdf cannot load the file.
pub fn check(bytes: &[u8]) -> Result<Verdict> {
    let mut budget = Budget::for_file(bytes.len());
    xref::measure_xref_streams(bytes, &mut budget)?;
    let mut doc = load_packed(bytes)?;
    if doc.is_encrypted() {
        return Ok(Verdict::Encrypted);
    }
    let ids: Vec<ObjectId> = doc.objects.keys().copied().collect();
    budget.charge_objects(&doc, &ids)?;
    unpack_object_streams(&mut doc);
    let filled = fill_deferred_streams(&mut doc, bytes);
    budget.charge_objects(&doc, &filled)?;
    budget.check_pages(&doc)?;
    super::page_tree::check(&doc)?;
    super::forms::check(&doc)?;
    Ok(Verdict::Readable)
}

/// What has been inflated so far, against the limits of one file.
#[derive(Debug)]
pub struct Budget {
    total_limit: u64,
    used: u64,
    /// The decoded size of each stream object measured, for page totals.
    decoded: HashMap<ObjectId, u64>,
}

impl Budget {
    /// The budget of a file of `len` bytes.
    pub fn for_file(len: usize) -> Budget {
        // Whole MiB, so that the refusal names the limit exactly.
        let scaled = (len as u64).saturating_mul(MAX_INFLATION_RATIO) / MIB * MIB;
        Budget {
            total_limit: scaled.clamp(MIN_TOTAL_BYTES, MAX_TOTAL_BYTES),
            used: 0,
            decoded: HashMap::new(),
        }
    }

    /// Measures `stream` and charges what lopdf holds decoding it.
    ///
    /// # Errors
    /// Past the one-stream limit or the total.
    pub fn charge(&mut self, stream: &Stream) -> Result<Measure> {
        let room = MAX_STREAM_BYTES.min(self.total_limit.saturating_sub(self.used));
        let measure = decode::measure(stream, room).map_err(|filters| {
            Error::unprocessable(format!(
                "the PDF is corrupt or unreadable (a stream chains {filters} filters; at most \
                 {MAX_FILTERS} are read)"
            ))
        })?;
        if measure.held > MAX_STREAM_BYTES {
            return Err(past(MAX_STREAM_BYTES, "in one stream"));
        }
        self.used += measure.held;
        if self.used > self.total_limit {
            return Err(past(self.total_limit, "in total"));
        }
        Ok(measure)
    }

    /// Charges the stream objects among `ids`.
    fn charge_objects(&mut self, doc: &Document, ids: &[ObjectId]) -> Result<()> {
        for id in ids {
            if let Some(Object::Stream(stream)) = doc.objects.get(id) {
                let measure = self.charge(stream)?;
                self.decoded.insert(*id, measure.decoded);
            }
        }
        Ok(())
    }

    /// Checks each page's content streams joined (lopdf concatenates them, and a page may
    /// list one stream many times) against the one-stream limit.
    fn check_pages(&self, doc: &Document) -> Result<()> {
        for page in doc.page_iter() {
            let joined: u64 = doc
                .get_page_contents(page)
                .iter()
                .map(|id| self.decoded.get(id).copied().unwrap_or(0))
                .fold(0, u64::saturating_add);
            if joined > MAX_STREAM_BYTES {
                return Err(past(MAX_STREAM_BYTES, "in one page"));
            }
        }
        Ok(())
    }
}

/// The refusal of a file whose streams inflate past `limit` bytes `where_`.
fn past(limit: u64, where_: &str) -> Error {
    Error::unprocessable(format!(
        "the PDF's compressed content inflates past {} MiB {where_} (a decompression bomb?); \
         at most {} MiB per stream or page and {MAX_INFLATION_RATIO} times the file's size in \
         total (between {} and {} MiB) are read",
        limit / MIB,
        MAX_STREAM_BYTES / MIB,
        MIN_TOTAL_BYTES / MIB,
        MAX_TOTAL_BYTES / MIB,
    ))
}

/// The `/Type` an object stream is given while it is kept packed.
const PACKED: &[u8] = b"ObjStmKeptPacked";

/// Loads `bytes` as lopdf does, except that object streams stay compressed (lopdf inflates
/// each whole while loading, and again while decrypting; their total is checked first).
fn load_packed(bytes: &[u8]) -> Result<Document> {
    let reader = Reader {
        buffer: bytes,
        document: Document::new(),
    };
    reader
        .read(Some(keep_object_stream_packed))
        .map_err(|e| Error::unprocessable(format!("the PDF is corrupt or unreadable ({e})")))
}

/// lopdf's load filter: renames an object stream's type so lopdf does not unpack it. lopdf
/// keeps the object as edited in place and only looks at whether the result is `Some`.
fn keep_object_stream_packed(id: ObjectId, object: &mut Object) -> Option<(ObjectId, Object)> {
    if let Object::Stream(stream) = object {
        if stream.dict.has_type(b"ObjStm") {
            stream.dict.set("Type", Object::Name(PACKED.to_vec()));
        }
    }
    Some((id, Object::Null))
}

/// Unpacks the object streams kept packed, as lopdf would have (an object already loaded is
/// not replaced).
fn unpack_object_streams(doc: &mut Document) {
    let mut unpacked = Vec::new();
    for object in doc.objects.values_mut() {
        let Object::Stream(stream) = object else {
            continue;
        };
        if stream.dict.has_type(PACKED) {
            stream.dict.set("Type", Object::Name(b"ObjStm".to_vec()));
            if let Ok(objects) = ObjectStream::new(stream) {
                unpacked.extend(objects.objects);
            }
        }
    }
    for (id, object) in unpacked {
        doc.objects.entry(id).or_insert(object);
    }
}

/// Reads the streams whose `/Length` lopdf could not resolve while loading (it refers to an
/// object inside an object stream), as lopdf does once object streams are unpacked; returns
/// their ids.
fn fill_deferred_streams(doc: &mut Document, bytes: &[u8]) -> Vec<ObjectId> {
    let mut found = Vec::new();
    for (id, object) in &doc.objects {
        let Object::Stream(stream) = object else {
            continue;
        };
        let Some(start) = stream.start_position.filter(|_| stream.content.is_empty()) else {
            continue;
        };
        let length = stream
            .dict
            .get(b"Length")
            .and_then(|l| doc.dereference(l))
            .and_then(|(_, l)| l.as_i64());
        let end = length
            .ok()
            .and_then(|l| usize::try_from(l).ok())
            .and_then(|l| start.checked_add(l));
        if let Some(data) = end.and_then(|end| bytes.get(start..end)) {
            found.push((*id, data));
        }
    }
    for (id, data) in &found {
        if let Some(Object::Stream(stream)) = doc.objects.get_mut(id) {
            stream.content = data.to_vec();
        }
    }
    found.into_iter().map(|(id, _)| id).collect()
}
