//! A PDF stream's decoded size, measured without holding it.
//!
//! lopdf decodes a stream whole (`Stream::decompressed_content`): the first filter of the
//! stream's chain runs to its end into a `Vec`, which the next filter reads, and so on. This
//! module runs the same filters as streaming readers and only counts what they produce,
//! stopping once past a limit: a stream that would inflate to gigabytes is measured in a few
//! tens of kilobytes of memory, in time proportional to the limit.
//!
//! lopdf 0.36 decodes three filters, and so does this module, the same way: `FlateDecode`
//! (zlib; lopdf keeps what it inflated before an error), `LZWDecode` (with `EarlyChange`) and
//! `ASCII85Decode`. Any other filter (`DCTDecode`, `RunLengthDecode`, `ASCIIHexDecode`, ...)
//! makes lopdf give up at that stage, after holding what the stages before it produced, and
//! pdf-extract then reads the raw bytes; a chain is therefore measured up to its first filter
//! lopdf cannot decode. PNG predictors only shrink the output and are not applied.

use std::io::{self, Read};

use pdf_extract::{Dictionary, Object, Stream};

/// Most filters one stream may chain. Real files use one, now and then two (`ASCII85Decode`
/// then `FlateDecode`); measuring a chain of `n` costs `n` passes over it (see [`measure`]).
pub const MAX_FILTERS: usize = 8;

/// What decoding one stream costs, as far as it was measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Measure {
    /// Bytes lopdf holds while decoding the stream: every stage's output, summed (a stage's
    /// input is alive while it runs). Past the limit given to [`measure`], it stops counting.
    pub held: u64,
    /// Bytes a reader of the stream gets: the last stage's output, or the raw bytes where
    /// lopdf fails (a filter it does not decode; a decoding error, which a count cannot tell
    /// from the end, so the larger of the two is taken).
    pub decoded: u64,
}

/// Measures `stream` with its own filters, counting at most a little past `limit` bytes.
///
/// Each prefix of the chain is drained on its own (the first filter alone, then the first
/// two, ...): streaming the whole chain once would under-count a stage whose successor stops
/// early, which lopdf still runs to its end.
///
/// # Errors
/// The stream chains more than [`MAX_FILTERS`] filters; the number is returned.
pub fn measure(stream: &Stream, limit: u64) -> Result<Measure, usize> {
    let raw = stream.content.len() as u64;
    let Ok(filters) = stream.filters() else {
        // lopdf reads a stream whose /Filter is neither a name nor an array as raw bytes.
        return Ok(Measure {
            held: 0,
            decoded: raw,
        });
    };
    if filters.len() > MAX_FILTERS {
        return Err(filters.len());
    }
    let params = stream
        .dict
        .get(b"DecodeParms")
        .and_then(Object::as_dict)
        .ok();
    let supported = filters.iter().take_while(|name| decodes(name)).count();
    let mut held = 0u64;
    let mut last = raw;
    for stages in 1..=supported {
        let reader = chain(&stream.content, &filters[..stages], params);
        last = drain(reader, limit.saturating_sub(held));
        held = held.saturating_add(last);
        if held > limit {
            break;
        }
    }
    let decoded = if supported == filters.len() {
        last.max(raw)
    } else {
        raw
    };
    Ok(Measure { held, decoded })
}

/// Whether lopdf decodes the filter `name`.
fn decodes(name: &[u8]) -> bool {
    matches!(name, b"FlateDecode" | b"LZWDecode" | b"ASCII85Decode")
}

/// The streaming decoder of `filters` (all of which [`decodes`]) over `content`.
fn chain<'a>(
    content: &'a [u8],
    filters: &[&[u8]],
    params: Option<&Dictionary>,
) -> Box<dyn Read + 'a> {
    let mut reader: Box<dyn Read + 'a> = Box::new(content);
    for &filter in filters {
        reader = match filter {
            b"FlateDecode" => Box::new(flate2::read::ZlibDecoder::new(reader)),
            b"LZWDecode" => Box::new(Lzw::new(reader, early_change(params))),
            _ => Box::new(Ascii85::new(reader)),
        };
    }
    reader
}

/// LZW's `EarlyChange` parameter as lopdf reads it (default on).
fn early_change(params: Option<&Dictionary>) -> bool {
    params
        .and_then(|p| p.get(b"EarlyChange").ok())
        .and_then(|v| v.as_i64().ok())
        .is_none_or(|v| v != 0)
}

/// Reads `reader` to its end, its first error, or a little past `limit` bytes, keeping
/// nothing; returns the bytes read. An error ends the count like lopdf's decoders end their
/// output (they keep what came before it).
fn drain(mut reader: impl Read, limit: u64) -> u64 {
    let mut buffer = vec![0u8; 32 * 1024];
    let mut total = 0u64;
    while total <= limit {
        match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => total += n as u64,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    total
}

/// Size of the input buffer of the LZW and ASCII85 readers.
const INPUT_CHUNK: usize = 16 * 1024;

/// `LZWDecode` as a reader: weezl's decoder (the one lopdf uses, configured the same way),
/// fed a chunk at a time.
struct Lzw<R> {
    inner: R,
    decoder: weezl::decode::Decoder,
    input: Vec<u8>,
    start: usize,
    end: usize,
    finished: bool,
}

impl<R: Read> Lzw<R> {
    fn new(inner: R, early_change: bool) -> Self {
        use weezl::{decode::Decoder, BitOrder};
        // PDF's LZW starts with 9-bit codes over 8-bit symbols.
        let decoder = if early_change {
            Decoder::with_tiff_size_switch(BitOrder::Msb, 8)
        } else {
            Decoder::new(BitOrder::Msb, 8)
        };
        Lzw {
            inner,
            decoder,
            input: vec![0; INPUT_CHUNK],
            start: 0,
            end: 0,
            finished: false,
        }
    }
}

impl<R: Read> Read for Lzw<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while !self.finished && !out.is_empty() {
            if self.start == self.end {
                self.end = self.inner.read(&mut self.input)?;
                self.start = 0;
            }
            let result = self
                .decoder
                .decode_bytes(&self.input[self.start..self.end], out);
            self.start += result.consumed_in;
            let stuck = result.consumed_in == 0 && result.consumed_out == 0;
            if stuck || !matches!(result.status, Ok(weezl::LzwStatus::Ok)) {
                // The end code, an invalid code, or no progress on the input's end.
                self.finished = true;
            }
            if result.consumed_out > 0 {
                return Ok(result.consumed_out);
            }
        }
        Ok(0)
    }
}

/// `ASCII85Decode` as a reader, with lopdf's reading of the format: whitespace is skipped,
/// `z` stands for four zero bytes, a character outside `!`..=`u` (such as the `~` of `~>`)
/// ends the data, and a final partial group yields one byte less than its characters. Where
/// lopdf fails (a `z` inside a group, a group past 2^32) the reader ends.
struct Ascii85<R> {
    inner: R,
    input: Vec<u8>,
    start: usize,
    end: usize,
    group: u32,
    count: usize,
    ready: [u8; 4],
    ready_from: usize,
    ready_to: usize,
    finished: bool,
}

impl<R: Read> Ascii85<R> {
    fn new(inner: R) -> Self {
        Ascii85 {
            inner,
            input: vec![0; INPUT_CHUNK],
            start: 0,
            end: 0,
            group: 0,
            count: 0,
            ready: [0; 4],
            ready_from: 0,
            ready_to: 0,
            finished: false,
        }
    }

    /// The next input byte, `None` at the end of the input.
    fn next_byte(&mut self) -> io::Result<Option<u8>> {
        if self.start == self.end {
            self.end = self.inner.read(&mut self.input)?;
            self.start = 0;
            if self.end == 0 {
                return Ok(None);
            }
        }
        self.start += 1;
        Ok(Some(self.input[self.start - 1]))
    }

    /// Makes the first `len` bytes of `bytes` the next output.
    fn emit(&mut self, bytes: [u8; 4], len: usize) {
        self.ready = bytes;
        self.ready_from = 0;
        self.ready_to = len;
    }

    /// Reads input until a group is complete or the data ends.
    fn advance(&mut self) -> io::Result<()> {
        let Some(c) = self.next_byte()? else {
            return self.finish();
        };
        match c {
            b'z' if self.count == 0 => self.emit([0; 4], 4),
            b'z' => self.finished = true,
            _ if c.is_ascii_whitespace() => {}
            b'!'..=b'u' => self.push(u32::from(c - b'!'), 5),
            _ => return self.finish(),
        }
        Ok(())
    }

    /// Adds a digit to the group, which is complete at `emit_at` digits.
    fn push(&mut self, digit: u32, emit_at: usize) {
        let Some(group) = self
            .group
            .checked_mul(85)
            .and_then(|g| g.checked_add(digit))
        else {
            self.finished = true;
            return;
        };
        self.group = group;
        self.count += 1;
        if self.count == emit_at {
            self.emit(group.to_be_bytes(), 4);
            self.group = 0;
            self.count = 0;
        }
    }

    /// Ends the data: a partial group of `n` digits, padded with `u`, yields `n - 1` bytes.
    fn finish(&mut self) -> io::Result<()> {
        let digits = self.count;
        if digits > 0 {
            for _ in digits..5 {
                self.push(84, usize::MAX);
            }
            if !self.finished {
                self.emit(self.group.to_be_bytes(), digits - 1);
            }
        }
        self.finished = true;
        Ok(())
    }
}

impl<R: Read> Read for Ascii85<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let mut written = 0;
        while written < out.len() {
            if self.ready_from < self.ready_to {
                out[written] = self.ready[self.ready_from];
                self.ready_from += 1;
                written += 1;
            } else if self.finished {
                break;
            } else {
                self.advance()?;
            }
        }
        Ok(written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn stream(filter: Object, content: Vec<u8>) -> Stream {
        let mut dict = Dictionary::new();
        dict.set("Filter", filter);
        Stream::new(dict, content)
    }

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut encoder =
            flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    fn name(n: &str) -> Object {
        Object::Name(n.as_bytes().to_vec())
    }

    /// ASCII85 with `z` for zero groups, a partial last group and the `~>` end.
    fn ascii85_encode(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for chunk in data.chunks(4) {
            let mut group = [0u8; 4];
            group[..chunk.len()].copy_from_slice(chunk);
            let mut value = u32::from_be_bytes(group);
            if chunk.len() == 4 && value == 0 {
                out.push(b'z');
                continue;
            }
            let mut digits = [0u8; 5];
            for d in digits.iter_mut().rev() {
                *d = b'!' + (value % 85) as u8;
                value /= 85;
            }
            out.extend_from_slice(&digits[..chunk.len() + 1]);
        }
        out.extend_from_slice(b"~>");
        out
    }

    /// The sizes lopdf's own decoder gives, for comparison.
    fn lopdf_size(stream: &Stream) -> u64 {
        stream.decompressed_content().unwrap().len() as u64
    }

    #[test]
    fn flate_lzw_and_ascii85_measure_what_lopdf_decodes() {
        let text = b"BT /F1 12 Tf 72 712 Td (Returns within 30 days) Tj ET\n".repeat(200);
        let flate = stream(name("FlateDecode"), zlib(&text));
        let lzw_bytes = weezl::encode::Encoder::with_tiff_size_switch(weezl::BitOrder::Msb, 8)
            .encode(&text)
            .unwrap();
        let lzw = stream(name("LZWDecode"), lzw_bytes);
        let mut binary = text.clone();
        binary.extend_from_slice(&[0, 0, 0, 0, 7, 0, 0]);
        let ascii85 = stream(name("ASCII85Decode"), ascii85_encode(&binary));
        for s in [&flate, &lzw, &ascii85] {
            let measured = measure(s, u64::MAX / 2).unwrap();
            assert_eq!(measured.held, lopdf_size(s), "{:?}", s.dict);
            // A reader gets the decoded bytes, or the raw ones where lopdf fails (which this
            // measure cannot tell apart): the larger of the two is counted.
            let raw = s.content.len() as u64;
            assert_eq!(measured.decoded, lopdf_size(s).max(raw));
        }
        assert_eq!(lopdf_size(&flate), text.len() as u64);
    }

    #[test]
    fn a_chain_counts_every_stage_lopdf_holds() {
        let inner = zlib(&vec![b' '; 3 << 20]);
        let twice = stream(
            Object::Array(vec![name("FlateDecode"), name("FlateDecode")]),
            zlib(&inner),
        );
        let measured = measure(&twice, u64::MAX / 2).unwrap();
        assert_eq!(measured.decoded, 3 << 20);
        assert_eq!(measured.held, (3 << 20) + inner.len() as u64);

        // The second stage fails at once on what the first produces: lopdf still inflated
        // the first whole, and so does the count.
        let garbage_after = stream(
            Object::Array(vec![name("FlateDecode"), name("FlateDecode")]),
            zlib(&vec![b' '; 3 << 20]),
        );
        let measured = measure(&garbage_after, u64::MAX / 2).unwrap();
        assert_eq!(measured.held, 3 << 20);
    }

    #[test]
    fn counting_stops_a_little_past_the_limit() {
        let bomb = stream(name("FlateDecode"), zlib(&vec![0u8; 64 << 20]));
        let measured = measure(&bomb, 1 << 20).unwrap();
        assert!(measured.held > 1 << 20, "{measured:?}");
        assert!(measured.held < 2 << 20, "{measured:?}");
    }

    #[test]
    fn unknown_filters_are_read_raw_and_long_chains_refused() {
        let jpeg = stream(name("DCTDecode"), vec![0xFF; 100]);
        assert_eq!(
            measure(&jpeg, 1000).unwrap(),
            Measure {
                held: 0,
                decoded: 100
            }
        );
        let chain = stream(Object::Array(vec![name("FlateDecode"); 9]), zlib(b"x"));
        assert_eq!(measure(&chain, 1000), Err(9));
    }
}
