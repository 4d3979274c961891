//! Cutting a normalised input into blocks of whole records, to be parsed
//! apart: a block ends on a line break that ends a record (one inside a
//! quoted field does not), and knows the number of its first line.

use std::io::Read;

use super::input::Input;
use crate::data::DataError;

/// A run of whole records of the input.
pub(super) struct Block {
    /// The 1-based number of the block's first line.
    pub(super) first_line: usize,
    /// The records, each ended by `\n` (the input's last one may be cut off
    /// inside a quoted field).
    pub(super) bytes: Vec<u8>,
}

/// Where records end: at every `\n` (lines), or at a `\n` outside quotes
/// as the `csv` crate reads fields split on a delimiter byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Records {
    Lines,
    Quoted(u8),
}

/// Where the `csv` crate (RFC 4180 quoting, `""` an escaped quote) is after
/// the bytes seen so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// At the start of a field (or of a record): a quote opens a field.
    FieldStart,
    /// In an unquoted field: quotes are plain bytes.
    InField,
    /// In a quoted field: only a quote is special.
    Quoted,
    /// Just after a quote that closed a quoted field: a second quote is an
    /// escaped one (the field stays quoted), anything else continues the
    /// field unquoted.
    AfterQuote,
}

/// Follows the records of an input across the blocks it is read in.
struct Boundaries {
    records: Records,
    state: State,
}

impl Boundaries {
    /// Reads `bytes`, the next bytes of the input; returns the position just
    /// after the last `\n` among them that ends a record.
    fn scan(&mut self, bytes: &[u8]) -> Option<usize> {
        let delimiter = match self.records {
            Records::Lines => return memchr::memrchr(b'\n', bytes).map(|k| k + 1),
            Records::Quoted(d) => d,
        };
        if self.state != State::Quoted && memchr::memchr(b'"', bytes).is_none() {
            // No quote can open: every line break ends a record, and the
            // state is told by the last byte.
            let end = memchr::memrchr(b'\n', bytes).map(|k| k + 1);
            self.state = match bytes.last() {
                None => self.state,
                Some(&b) if b == b'\n' || b == delimiter => State::FieldStart,
                Some(_) => State::InField,
            };
            return end;
        }
        let mut end = None;
        let mut k = 0;
        while k < bytes.len() {
            if self.state == State::Quoted {
                // Nothing but a quote ends a quoted field: jump to it.
                match memchr::memchr(b'"', &bytes[k..]) {
                    Some(q) => {
                        k += q + 1;
                        self.state = State::AfterQuote;
                        continue;
                    }
                    None => return end,
                }
            }
            let b = bytes[k];
            k += 1;
            self.state = match (self.state, b) {
                (State::FieldStart | State::AfterQuote, b'"') => State::Quoted,
                (_, b'\n') => {
                    end = Some(k);
                    State::FieldStart
                }
                (_, b) if b == delimiter => State::FieldStart,
                _ => State::InField,
            };
        }
        end
    }
}

/// Reads an input in blocks of about `size` bytes (more when one record is
/// longer), each cut just after a record.
pub(super) struct Blocks<'a> {
    file: &'a str,
    input: Input<'a>,
    size: usize,
    boundaries: Boundaries,
    /// Bytes read after the last cut: the start of the next block.
    carry: Vec<u8>,
    next_line: usize,
    /// The input is read to its end.
    ended: bool,
    /// A read failed: the error comes after the records read before it.
    failed: Option<DataError>,
}

impl<'a> Blocks<'a> {
    pub(super) fn new(file: &'a str, input: Input<'a>, records: Records, size: usize) -> Self {
        Blocks {
            file,
            input,
            size: size.max(1),
            boundaries: Boundaries {
                records,
                state: State::FieldStart,
            },
            carry: Vec::new(),
            next_line: 1,
            ended: false,
            failed: None,
        }
    }

    /// Whether the input has been read to its end: no block follows.
    pub(super) fn finished(&self) -> bool {
        self.ended && self.carry.is_empty() && self.failed.is_none()
    }

    /// The next block, written into `buf` (whose allocation is reused), or
    /// `None` at the end of the input; a read error once the records read
    /// before it are given out.
    pub(super) fn next(&mut self, mut buf: Vec<u8>) -> Result<Option<Block>, DataError> {
        buf.clear();
        buf.append(&mut self.carry);
        let mut scanned = buf.len();
        let mut end = None;
        while !self.ended && self.failed.is_none() && (buf.len() < self.size || end.is_none()) {
            match (&mut self.input)
                .take(self.size as u64)
                .read_to_end(&mut buf)
            {
                Ok(0) => self.ended = true,
                Ok(_) => {}
                Err(source) => {
                    self.failed = Some(DataError::Io {
                        file: self.file.into(),
                        source,
                    })
                }
            }
            if let Some(k) = self.boundaries.scan(&buf[scanned..]) {
                end = Some(scanned + k);
            }
            scanned = buf.len();
        }
        let end = match (self.ended, &self.failed) {
            (true, None) => buf.len(),
            _ => end.unwrap_or(0),
        };
        if self.failed.is_some() {
            buf.truncate(end);
        }
        self.carry.extend_from_slice(&buf[end..]);
        buf.truncate(end);
        if buf.is_empty() {
            return self.failed.take().map_or(Ok(None), Err);
        }
        let first_line = self.next_line;
        self.next_line += buf.iter().filter(|&&b| b == b'\n').count();
        Ok(Some(Block {
            first_line,
            bytes: buf,
        }))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::data::load::input;

    /// The records the `csv` crate reads from `text` (configured as
    /// `records.rs` does), each with the line it starts on.
    fn csv_records(text: &[u8], first_line: usize) -> Vec<(usize, Vec<Vec<u8>>)> {
        let mut out = Vec::new();
        let delimiter = super::super::format::Delimiter::Comma;
        super::super::records::for_each("x", text, first_line, delimiter, |line, record| {
            out.push((line, record.iter().map(<[u8]>::to_vec).collect()));
            Ok(())
        })
        .unwrap();
        out
    }

    fn blocks(text: &[u8], records: Records, size: usize) -> Vec<Block> {
        let input = input::normalize(text).unwrap();
        let mut blocks = Blocks::new("x", input, records, size);
        let mut out = Vec::new();
        while let Some(block) = blocks.next(Vec::new()).unwrap() {
            out.push(block);
        }
        assert!(blocks.finished());
        out
    }

    fn text() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(
            prop_oneof![Just(b'a'), Just(b','), Just(b'"'), Just(b'\n'), Just(b' ')],
            0..120,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Blocks read one by one give the records, and the lines they
        /// start on, that the whole input gives.
        #[test]
        fn blocks_cut_where_the_csv_crate_ends_records(text in text(), size in 1usize..40) {
            let whole = {
                let mut normal = Vec::new();
                input::normalize(&text[..]).unwrap().read_to_end(&mut normal).unwrap();
                normal
            };
            let expected = csv_records(&whole, 1);
            let mut got = Vec::new();
            let mut joined = Vec::new();
            for block in blocks(&text, Records::Quoted(b','), size) {
                joined.extend_from_slice(&block.bytes);
                got.extend(csv_records(&block.bytes, block.first_line));
            }
            prop_assert_eq!(joined, whole);
            prop_assert_eq!(got, expected);
        }
    }

    #[test]
    fn quoted_line_breaks_are_not_cuts() {
        let text = b"a,\"x\ny\",1\n\"p\"\"\n\",q\nb\"\n,2\n";
        let cuts: Vec<(usize, Vec<u8>)> = blocks(text, Records::Quoted(b','), 1)
            .into_iter()
            .map(|b| (b.first_line, b.bytes))
            .collect();
        assert_eq!(
            cuts,
            [
                (1, b"a,\"x\ny\",1\n".to_vec()),
                (3, b"\"p\"\"\n\",q\n".to_vec()),
                (5, b"b\"\n".to_vec()),
                (6, b",2\n".to_vec()),
            ]
        );
        // Lines: every line break is a cut; large blocks hold many lines.
        let lines = blocks(b"1::\"2\n3::4\n5\n", Records::Lines, 1);
        assert_eq!(lines.len(), 3);
        assert_eq!((lines[2].first_line, &lines[2].bytes[..]), (3, &b"5\n"[..]));
        assert_eq!(blocks(b"1\n2\n3\n", Records::Lines, 1 << 20).len(), 1);
        assert!(blocks(b"", Records::Lines, 4).is_empty());
    }

    /// A read error comes after the whole records read before it.
    #[test]
    fn read_errors_follow_the_records_before_them() {
        struct Failing(&'static [u8]);
        impl std::io::Read for Failing {
            fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
                if self.0.is_empty() {
                    return Err(std::io::Error::other("disk on fire"));
                }
                let n = self.0.len().min(out.len());
                out[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let reader = std::io::BufReader::new(Failing(b"1,2,3\n4,5,6\n7,8"));
        let input = input::normalize(reader).unwrap();
        let mut blocks = Blocks::new("x", input, Records::Quoted(b','), 1 << 10);
        let block = blocks.next(Vec::new()).unwrap().unwrap();
        assert_eq!(block.bytes, b"1,2,3\n4,5,6\n");
        let err = blocks.next(Vec::new()).err().unwrap().to_string();
        assert!(err.contains("disk on fire"), "{err}");
        assert!(!blocks.finished());
    }
}
