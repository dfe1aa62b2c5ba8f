//! The cross-reference streams lopdf inflates while it loads a file, measured before it does.
//!
//! lopdf's `Reader::read` starts at the `startxref` offset near the end of the file and reads
//! the cross-reference section there, then each older one its `/Prev` names (and the
//! `/XRefStm` of a hybrid file). A section may be a *stream*, which lopdf inflates whole,
//! without limit, before any object is read, so before anything a caller can hook
//! (`Reader::read`'s filter only sees objects). This module walks the same chain in the raw
//! bytes, from the same `startxref`, parses each section's dictionary with lopdf's own parser
//! and measures each stream with the bounded decoder: whatever lopdf will inflate there has
//! been charged to the budget first.

use std::collections::HashSet;

use engine::error::{Error, Result};
use pdf_extract::{Dictionary, Object, ObjectStream, Stream};

use super::budget::Budget;

/// Charges every cross-reference stream lopdf will read to `budget`.
///
/// # Errors
/// A stream inflates past the budget, or a stream section lopdf would read cannot be parsed
/// here (refused rather than left unmeasured).
pub fn measure_xref_streams(bytes: &[u8], budget: &mut Budget) -> Result<()> {
    // Without a `startxref`, lopdf refuses the file before inflating anything.
    let Some(start) = xref_start(bytes) else {
        return Ok(());
    };
    let mut pending = vec![start];
    let mut seen = HashSet::new();
    while let Some(at) = pending.pop() {
        if !seen.insert(at) {
            continue;
        }
        let Some(section) = read_section(bytes, at)? else {
            continue;
        };
        if let Some(stream) = &section.stream {
            budget.charge(stream)?;
        }
        for key in [&b"Prev"[..], b"XRefStm"] {
            let offset = section.dict.get(key).and_then(Object::as_i64).ok();
            if let Some(offset) = offset.and_then(|o| usize::try_from(o).ok()) {
                pending.push(offset);
            }
        }
    }
    Ok(())
}

/// One cross-reference section: its trailer or stream dictionary, and the stream.
struct Section {
    dict: Dictionary,
    stream: Option<Stream>,
}

/// The offset after `startxref`, found as lopdf finds it: the first `%%EOF` in the last 512
/// bytes, and the first `startxref` from 25 bytes before it.
fn xref_start(bytes: &[u8]) -> Option<usize> {
    let tail = bytes.len().saturating_sub(512);
    let eof = tail + find(&bytes[tail..], b"%%EOF")?;
    let from = eof.checked_sub(25).filter(|_| eof > 25)?;
    let keyword = from + find(&bytes[from..], b"startxref")?;
    let rest = skip_space(bytes, keyword + b"startxref".len());
    let digits = bytes[rest..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    std::str::from_utf8(&bytes[rest..rest + digits])
        .ok()?
        .parse()
        .ok()
}

/// The section at `at`: a classic table's trailer, or a cross-reference stream. `None` where
/// lopdf finds neither (it then fails to load the file, inflating nothing more).
fn read_section(bytes: &[u8], at: usize) -> Result<Option<Section>> {
    let Some(section) = bytes.get(at..) else {
        return Ok(None);
    };
    if section.starts_with(b"xref") {
        // The table holds only digits, spaces and `n`/`f` up to its trailer.
        let Some(trailer) = find(section, b"trailer") else {
            return Ok(None);
        };
        let dict_at = skip_space(bytes, at + trailer + b"trailer".len());
        let dict = dictionary_at(bytes, dict_at).map(|(dict, _)| dict);
        return Ok(dict.map(|dict| Section { dict, stream: None }));
    }
    let Some(dict_at) = object_body(bytes, at) else {
        return Ok(None);
    };
    let Some((dict, end)) = dictionary_at(bytes, dict_at) else {
        return Ok(None);
    };
    let stream = stream_data(bytes, end, &dict)?.map(|data| Stream::new(dict.clone(), data));
    Ok(Some(Section { dict, stream }))
}

/// Where the object whose header (`12 0 obj`) starts at `at` begins.
fn object_body(bytes: &[u8], at: usize) -> Option<usize> {
    let mut i = skip_space(bytes, at);
    for _ in 0..2 {
        let digits = bytes.get(i..)?.iter().take_while(|b| b.is_ascii_digit());
        let n = digits.count();
        if n == 0 {
            return None;
        }
        i = skip_space(bytes, i + n);
    }
    bytes
        .get(i..)?
        .starts_with(b"obj")
        .then(|| skip_space(bytes, i + 3))
}

/// The data of the stream whose dictionary `dict` ends at `end`, if `stream` follows it.
/// lopdf reads `/Length` bytes when the length is a direct number; otherwise it cannot
/// resolve the length this early and reads the stream as empty.
///
/// # Errors
/// A stream whose length lopdf reads but that does not fit in the file.
fn stream_data(bytes: &[u8], end: usize, dict: &Dictionary) -> Result<Option<Vec<u8>>> {
    let mut i = skip_space(bytes, end);
    if !bytes[i.min(bytes.len())..].starts_with(b"stream") {
        return Ok(None);
    }
    i += b"stream".len();
    while matches!(bytes.get(i), Some(b' ' | b'\t')) {
        i += 1;
    }
    i += match bytes.get(i..i + 2) {
        Some(b"\r\n") => 2,
        _ if matches!(bytes.get(i), Some(b'\n' | b'\r')) => 1,
        _ => return Ok(None),
    };
    let Ok(length) = dict.get(b"Length").and_then(Object::as_i64) else {
        return Ok(None);
    };
    let data = usize::try_from(length)
        .ok()
        .and_then(|len| bytes.get(i..i.checked_add(len)?));
    match data {
        Some(data) => Ok(Some(data.to_vec())),
        // lopdf fails on it too; refusing keeps the rule simple: what is not measured is not
        // read.
        None => Err(Error::unprocessable(
            "the PDF is corrupt or unreadable (a cross-reference stream runs past the end of \
             the file)",
        )),
    }
}

/// The dictionary at `at` and the offset just past it, parsed by lopdf.
fn dictionary_at(bytes: &[u8], at: usize) -> Option<(Dictionary, usize)> {
    let len = dictionary_len(bytes.get(at..)?)?;
    let object = parse_direct(&bytes[at..at + len])?;
    Some((object.as_dict().ok()?.clone(), at + len))
}

/// Parses one direct object with lopdf's parser. lopdf exposes it through object streams
/// only: an object stream's content is a list of `number offset` pairs, then the objects.
fn parse_direct(bytes: &[u8]) -> Option<Object> {
    let mut content = b"1 0 ".to_vec();
    content.extend_from_slice(bytes);
    let mut dict = Dictionary::new();
    dict.set("N", 1);
    dict.set("First", 4);
    let mut holder = Stream::new(dict, content);
    ObjectStream::new(&mut holder).ok()?.objects.remove(&(1, 0))
}

/// The length of the dictionary that starts `bytes` (`<<` to its matching `>>`), read
/// lexically: strings and comments may hold `<`, `>` and parentheses.
fn dictionary_len(bytes: &[u8]) -> Option<usize> {
    if !bytes.starts_with(b"<<") {
        return None;
    }
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match (bytes[i], bytes.get(i + 1)) {
            (b'<', Some(b'<')) => {
                depth += 1;
                i += 2;
            }
            (b'>', Some(b'>')) => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return Some(i);
                }
            }
            (b'<', _) => i += find(&bytes[i..], b">")? + 1,
            (b'(', _) => i += literal_string_len(&bytes[i..])?,
            (b'%', _) => i = line_end(bytes, i),
            _ => i += 1,
        }
    }
    None
}

/// The length of the literal string that starts `bytes`: balanced parentheses, `\` escaping
/// the next byte.
fn literal_string_len(bytes: &[u8]) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 1,
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// The offset after whitespace and comments from `at`.
fn skip_space(bytes: &[u8], mut at: usize) -> usize {
    loop {
        match bytes.get(at) {
            Some(b' ' | b'\t' | b'\n' | b'\r' | b'\0' | b'\x0C') => at += 1,
            Some(b'%') => at = line_end(bytes, at),
            _ => return at,
        }
    }
}

/// The offset of the end of the line holding `at`.
fn line_end(bytes: &[u8], at: usize) -> usize {
    bytes[at..]
        .iter()
        .position(|b| matches!(b, b'\n' | b'\r'))
        .map_or(bytes.len(), |n| at + n)
}

/// The first offset of `needle` in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dictionaries_are_delimited_past_strings_and_comments() {
        let bytes = b"<< /A (a >> b \\) c) /B <3E3E> /C << /D 1 >> % >>\n /E [1 2] >>stream";
        let (dict, end) = dictionary_at(bytes, 0).unwrap();
        assert_eq!(&bytes[end..], b"stream");
        assert_eq!(dict.get(b"E").unwrap().as_array().unwrap().len(), 2);
        assert_eq!(
            dict.get(b"A").unwrap().as_str().unwrap(),
            b"a >> b ) c".as_slice()
        );
    }

    #[test]
    fn the_start_is_found_as_lopdf_finds_it() {
        let bytes = b"%PDF-1.7\n...\nstartxref\n1234\n%%EOF\n";
        assert_eq!(xref_start(bytes), Some(1234));
        assert_eq!(xref_start(b"%PDF-1.7\nno trailer"), None);
    }
}
