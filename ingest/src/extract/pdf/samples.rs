//! PDFs built by the tests: one page of text, and a decompression bomb for each place lopdf
//! or pdf-extract inflates. A bomb is zlib data of a megabyte of spaces compressed once and
//! repeated (about a kilobyte per inflated megabyte), so a 2 GiB bomb costs 2 MB to build.

use flate2::{Compress, Compression, FlushCompress};

/// Zlib data that inflates to `prefix` followed by `mib` MiB of spaces.
pub fn zlib_of_spaces(prefix: &[u8], mib: usize) -> Vec<u8> {
    let mut out = vec![0x78, 0xDA];
    out.extend(deflate_segment(prefix, FlushCompress::Full));
    let block = deflate_segment(&vec![b' '; 1 << 20], FlushCompress::Full);
    for _ in 0..mib {
        out.extend_from_slice(&block);
    }
    out.extend(deflate_segment(&[], FlushCompress::Finish));
    out.extend_from_slice(&adler32(prefix, (mib as u128) << 20).to_be_bytes());
    out
}

/// Raw deflate of `data` by a fresh compressor, ending byte-aligned (a full flush keeps no
/// reference to what came before, so segments can be concatenated).
fn deflate_segment(data: &[u8], flush: FlushCompress) -> Vec<u8> {
    let mut compress = Compress::new(Compression::best(), false);
    let mut out = Vec::with_capacity(data.len() / 100 + 1024);
    compress.compress_vec(data, &mut out, flush).unwrap();
    assert_eq!(
        compress.total_in(),
        data.len() as u64,
        "one call compresses it all"
    );
    out
}

/// The Adler-32 checksum of `prefix` followed by `spaces` spaces, computed in closed form.
fn adler32(prefix: &[u8], spaces: u128) -> u32 {
    const MOD: u128 = 65521;
    let (mut a, mut b) = (1u128, 0u128);
    for &byte in prefix {
        a = (a + u128::from(byte)) % MOD;
        b = (b + a) % MOD;
    }
    let space = u128::from(b' ');
    let b = (b + spaces % MOD * a + space * (spaces * (spaces + 1) / 2 % MOD)) % MOD;
    let a = (a + spaces % MOD * space) % MOD;
    u32::try_from((b << 16) | a).unwrap()
}

/// The body of a stream object: `dict` entries besides `/Length`, then `data`.
pub fn stream_object(dict: &str, data: &[u8]) -> Vec<u8> {
    let mut out = format!("<< /Length {} {dict} >>\nstream\n", data.len()).into_bytes();
    out.extend_from_slice(data);
    out.extend_from_slice(b"\nendstream");
    out
}

/// Objects 1 to 5: the catalog, the page tree, a page whose `/Contents` is `contents`, the
/// content stream object `stream` (object 4) and a Helvetica font (object 5).
fn one_page(contents: &str, stream: Vec<u8>) -> Vec<Vec<u8>> {
    vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        format!(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] \
             /Resources << /Font << /F1 5 0 R >> >> /Contents {contents} >>"
        )
        .into_bytes(),
        stream,
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_vec(),
    ]
}

/// Writes `objects` (numbered from 1) and a classic cross-reference table.
pub fn assemble(objects: &[Vec<u8>]) -> Vec<u8> {
    let (mut out, offsets) = write_objects(objects);
    let xref_at = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for offset in offsets {
        out.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref_at}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}

/// The header and `objects` (numbered from 1), with each one's offset.
fn write_objects(objects: &[Vec<u8>]) -> (Vec<u8>, Vec<usize>) {
    let mut out = b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n".to_vec();
    let mut offsets = Vec::new();
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(b"\nendobj\n");
    }
    (out, offsets)
}

/// One page drawing the FlateDecode content `zlib`.
pub fn with_page_content(zlib: &[u8]) -> Vec<u8> {
    assemble(&one_page(
        "4 0 R",
        stream_object("/Filter /FlateDecode", zlib),
    ))
}

/// One page whose `/Contents` lists the FlateDecode stream `zlib` `times` times.
pub fn with_repeated_content(zlib: &[u8], times: usize) -> Vec<u8> {
    let contents = format!("[{}]", vec!["4 0 R"; times].join(" "));
    assemble(&one_page(
        &contents,
        stream_object("/Filter /FlateDecode", zlib),
    ))
}

/// One page, plus an object stream (object 6) holding a dictionary and then `mib` MiB of
/// spaces: lopdf unpacks it while loading the file, whatever the pages use.
pub fn with_object_stream_bomb(mib: usize) -> Vec<u8> {
    let content = zlib_of_spaces(b"BT /F1 12 Tf 72 712 Td (hi) Tj ET", 0);
    let mut objects = one_page("4 0 R", stream_object("/Filter /FlateDecode", &content));
    let packed = zlib_of_spaces(b"7 0 << /Note (packed) >>", mib);
    objects.push(stream_object(
        "/Type /ObjStm /N 1 /First 4 /Filter /FlateDecode",
        &packed,
    ));
    assemble(&objects)
}

/// A bomb whose content stream's `/Length` refers to object 7, stored in an object stream:
/// lopdf reads that stream only after unpacking the object stream.
pub fn with_deferred_length_bomb(mib: usize) -> Vec<u8> {
    let content = zlib_of_spaces(b"BT /F1 12 Tf 72 712 Td (hi) Tj ET\n", mib);
    let mut stream = b"<< /Length 7 0 R /Filter /FlateDecode >>\nstream\n".to_vec();
    stream.extend_from_slice(&content);
    stream.extend_from_slice(b"\nendstream");
    let mut objects = one_page("4 0 R", stream);
    let length = format!("7 0 {}", content.len());
    objects.push(stream_object(
        "/Type /ObjStm /N 1 /First 4",
        length.as_bytes(),
    ));
    assemble(&objects)
}

/// One page located by a cross-reference stream (object 6) whose entries are followed by
/// `mib` MiB of spaces: lopdf inflates it before reading any object.
pub fn with_xref_stream_bomb(mib: usize) -> Vec<u8> {
    let content = zlib_of_spaces(b"BT /F1 12 Tf 72 712 Td (hi) Tj ET", 0);
    let objects = one_page("4 0 R", stream_object("/Filter /FlateDecode", &content));
    let (mut out, offsets) = write_objects(&objects);
    let xref_at = out.len();
    // Entries of 1 + 4 + 2 bytes: type, offset, generation.
    let mut entries = vec![0, 0, 0, 0, 0, 0xFF, 0xFF];
    for offset in offsets.iter().chain([&xref_at]) {
        entries.push(1);
        entries.extend_from_slice(&u32::try_from(*offset).unwrap().to_be_bytes());
        entries.extend_from_slice(&[0, 0]);
    }
    let data = zlib_of_spaces(&entries, mib);
    out.extend_from_slice(b"6 0 obj\n");
    out.extend(stream_object(
        "/Type /XRef /Size 7 /W [1 4 2] /Root 1 0 R /Filter /FlateDecode",
        &data,
    ));
    out.extend_from_slice(format!("\nendobj\nstartxref\n{xref_at}\n%%EOF\n").as_bytes());
    out
}

#[test]
fn the_bomb_builder_writes_valid_zlib() {
    use std::io::Read;
    let data = zlib_of_spaces(b"BT", 3);
    let mut inflated = Vec::new();
    flate2::read::ZlibDecoder::new(&data[..])
        .read_to_end(&mut inflated)
        .expect("valid zlib, checksum included");
    assert_eq!(inflated.len(), 2 + (3 << 20));
    assert!(inflated.starts_with(b"BT  "));
}
