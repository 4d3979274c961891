//! The bytes of a ratings file as the parsers see them: gzip decompressed
//! (detected by its magic bytes), a UTF-8 byte-order mark dropped, and every
//! line ending (`\n`, `\r\n`, a bare `\r`) turned into `\n`, the last line
//! ended too.

use std::io::{self, BufRead, BufReader, Read};

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
    let inner: Box<dyn BufRead + 'a> = if reader.fill_buf()?.starts_with(GZIP_MAGIC) {
        Box::new(BufReader::with_capacity(
            CAPACITY,
            MultiGzDecoder::new(reader),
        ))
    } else {
        Box::new(reader)
    };
    Ok(BufReader::with_capacity(
        CAPACITY,
        Normalized {
            inner,
            started: false,
            after_cr: false,
            at_line_start: true,
        },
    ))
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

/// Reads the next line into `buf` (without its `\n`); `false` at the end.
pub(super) fn next_line(input: &mut Input<'_>, buf: &mut Vec<u8>) -> io::Result<bool> {
    buf.clear();
    if input.read_until(b'\n', buf)? == 0 {
        return Ok(false);
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
    }
    Ok(true)
}

/// Drops a leading BOM (when the first read holds its three bytes, as any
/// file or decoder does), turns `\r\n` and bare `\r` into `\n`, and ends a
/// last line that has no line ending.
pub(super) struct Normalized<R> {
    inner: R,
    started: bool,
    /// The last byte given out was `\n` (or nothing was given out yet).
    at_line_start: bool,
    /// The last byte given out was a `\r` turned into `\n`: a `\n` next is
    /// the rest of a CRLF and is dropped.
    after_cr: bool,
}

impl<R: BufRead> Read for Normalized<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        loop {
            let src = self.inner.fill_buf()?;
            if out.is_empty() {
                return Ok(0);
            }
            if src.is_empty() {
                if self.at_line_start {
                    return Ok(0);
                }
                self.at_line_start = true;
                out[0] = b'\n';
                return Ok(1);
            }
            let mut consumed = 0;
            if !self.started {
                self.started = true;
                if src.starts_with(BOM) {
                    consumed = BOM.len();
                }
            }
            let mut written = 0;
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
                return Ok(written);
            }
        }
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
            let bytes = if step < 3 { &text[3..] } else { &text[..] };
            let reader = BufReader::with_capacity(step, Trickle { data: bytes, step });
            assert_eq!(all(reader), b"a\nb\nc\nd\n\ne\n", "step {step}");
        }
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
        let mut input = normalize(&bytes[..]).unwrap();
        assert_eq!(peek_lines(&mut input, 1).unwrap(), ["1,2,3"]);
        let mut line = Vec::new();
        assert!(next_line(&mut input, &mut line).unwrap());
        assert_eq!(line, b"1,2,3");
    }
}
