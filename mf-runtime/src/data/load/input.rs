//! The bytes of a ratings file as the parsers see them: gzip decompressed
//! (detected by its magic bytes), a UTF-8 byte-order mark dropped, and every
//! line ending (`\n`, `\r\n`, a bare `\r`) turned into `\n`, the last line
//! ended too.

use std::io::{self, BufRead, BufReader, Cursor, Read};

use flate2::bufread::MultiGzDecoder;

const BOM: &[u8] = b"\xef\xbb\xbf";
const GZIP_MAGIC: &[u8] = b"\x1f\x8b";
/// Read buffer: large enough to hold the lines the format is sniffed from.
const CAPACITY: usize = 1 << 18;

/// A normalised input: see the [module docs](self).
pub(super) type Input<'a> = BufReader<Normalized<Box<dyn BufRead + 'a>>>;

/// Wraps `reader`: gzip is decompressed when the first bytes are gzip's
/// magic number, whatever the file is called.
pub(super) fn normalize<'a>(mut reader: impl BufRead + 'a) -> io::Result<Input<'a>> {
    let magic = take_head(&mut reader, GZIP_MAGIC.len())?;
    let gzip = magic == GZIP_MAGIC;
    let raw = Cursor::new(magic).chain(reader);
    let mut text: Box<dyn BufRead + 'a> = match gzip {
        true => Box::new(BufReader::with_capacity(CAPACITY, MultiGzDecoder::new(raw))),
        false => Box::new(raw),
    };
    let mut mark = take_head(&mut text, BOM.len())?;
    if mark == BOM {
        mark.clear();
    }
    Ok(BufReader::with_capacity(
        CAPACITY,
        Normalized {
            inner: Box::new(Cursor::new(mark).chain(text)),
            after_cr: false,
            at_line_start: true,
            failed: None,
        },
    ))
}

/// Takes the first `n` bytes out of `reader` (fewer at its end), however
/// its reads are cut.
fn take_head(reader: &mut impl BufRead, n: usize) -> io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(n);
    while head.len() < n {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            break;
        }
        let k = buf.len().min(n - head.len());
        head.extend_from_slice(&buf[..k]);
        reader.consume(k);
    }
    Ok(head)
}

/// The first `n` lines of `input` that are not blank, without consuming
/// them (as far as the read buffer holds; invalid UTF-8 replaced).
pub(super) fn peek_lines(input: &mut Input<'_>, n: usize) -> io::Result<Vec<String>> {
    let head = input.fill_buf()?;
    Ok(head
        .split(|&b| b == b'\n')
        .map(|line| String::from_utf8_lossy(line).into_owned())
        .filter(|line| !line.trim().is_empty())
        .take(n)
        .collect())
}

/// Turns `\r\n` and bare `\r` into `\n`, and ends a last line that has
/// no line ending.
pub(super) struct Normalized<R> {
    inner: R,
    /// The last byte given out was `\n` (or nothing was given out yet).
    at_line_start: bool,
    /// The last byte given out was a `\r` turned into `\n`: a `\n` next is
    /// the rest of a CRLF and is dropped.
    after_cr: bool,
    /// A read error held back while the bytes read before it are given out.
    failed: Option<io::Error>,
}

impl<R: BufRead> Read for Normalized<R> {
    /// Fills `out` as far as the input goes (so that the first read holds
    /// the lines the format is told from).
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let mut written = 0;
        while written < out.len() {
            // Bytes read before an error are given out first, the error
            // at the next read.
            let src = match self
                .failed
                .take()
                .map_or_else(|| self.inner.fill_buf(), Err)
            {
                Ok(src) => src,
                Err(e) if written > 0 => {
                    self.failed = Some(e);
                    break;
                }
                Err(e) => return Err(e),
            };
            if src.is_empty() {
                if !self.at_line_start {
                    out[written] = b'\n';
                    written += 1;
                    self.at_line_start = true;
                }
                break;
            }
            let mut consumed = 0;
            while consumed < src.len() && written < out.len() {
                if std::mem::take(&mut self.after_cr) && src[consumed] == b'\n' {
                    consumed += 1;
                    continue;
                }
                let room = (src.len() - consumed).min(out.len() - written);
                let chunk = &src[consumed..consumed + room];
                match memchr::memchr(b'\r', chunk) {
                    None => {
                        out[written..written + room].copy_from_slice(chunk);
                        written += room;
                        consumed += room;
                    }
                    Some(k) => {
                        out[written..written + k].copy_from_slice(&chunk[..k]);
                        out[written + k] = b'\n';
                        written += k + 1;
                        consumed += k + 1;
                        self.after_cr = true;
                    }
                }
            }
            self.inner.consume(consumed);
            if written > 0 {
                self.at_line_start = out[written - 1] == b'\n';
            }
        }
        Ok(written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A reader that hands out `step` bytes at a time, to cross buffer edges.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = self.step.min(self.data.len()).min(out.len());
            out[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    fn all(reader: impl BufRead) -> Vec<u8> {
        let mut out = Vec::new();
        normalize(reader).unwrap().read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn every_line_ending_becomes_lf_across_buffer_edges() {
        let text = b"\xef\xbb\xbfa\r\nb\rc\nd\r\r\ne\r";
        for step in 1..=text.len() {
            let reader = BufReader::with_capacity(step, Trickle { data: text, step });
            assert_eq!(all(reader), b"a\nb\nc\nd\n\ne\n", "step {step}");
        }
        // Part of a mark is content.
        assert_eq!(all(&b"\xef\xbb"[..]), b"\xef\xbb\n");
        assert_eq!(all(&b"1,2\r\n3,4"[..]), b"1,2\n3,4\n");
        assert_eq!(all(&b""[..]), b"");
        // A BOM later in the file is content, not a mark.
        assert_eq!(all(&b"x\n\xef\xbb\xbf"[..]), b"x\n\xef\xbb\xbf\n");
    }

    #[test]
    fn gzip_is_recognised_by_its_bytes() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"1,2,3\r\n4,5,6\r\n").unwrap();
        let bytes = gz.finish().unwrap();
        assert_eq!(all(&bytes[..]), b"1,2,3\n4,5,6\n");
        let trickle = BufReader::with_capacity(
            1,
            Trickle {
                data: &bytes,
                step: 1,
            },
        );
        assert_eq!(all(trickle), b"1,2,3\n4,5,6\n");
        let mut input = normalize(&bytes[..]).unwrap();
        assert_eq!(peek_lines(&mut input, 1).unwrap(), ["1,2,3"]);
        let mut text = Vec::new();
        input.read_to_end(&mut text).unwrap();
        assert_eq!(text, b"1,2,3\n4,5,6\n");
    }
}
