//! Splitting a normalised input into records of fields: the `csv` crate for
//! single-byte delimiters (RFC 4180 quoting), a line splitter for `::`, runs
//! of whitespace and multi-byte delimiters.

use csv::ByteRecord;

use super::format::Delimiter;
use super::input::{self, Input};
use crate::data::DataError;

fn io_error(file: &str, source: std::io::Error) -> DataError {
    DataError::Io {
        file: file.into(),
        source,
    }
}

/// Calls `each(line, fields)` for every line (record) of `input`, with its
/// 1-based line number (a quoted field may span lines: the first one).
/// Empty lines may be skipped; lines of blank fields are passed on.
pub(super) fn for_each(
    file: &str,
    mut input: Input<'_>,
    delimiter: Delimiter,
    mut each: impl FnMut(usize, &ByteRecord) -> Result<(), DataError>,
) -> Result<(), DataError> {
    let mut record = ByteRecord::new();
    if let Some(byte) = delimiter.byte() {
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(byte)
            .has_headers(false)
            .flexible(true)
            .buffer_capacity(1 << 16)
            .from_reader(input);
        while reader
            .read_byte_record(&mut record)
            .map_err(|e| io_error(file, e.into()))?
        {
            // The record's own position is where the reader started, before
            // any blank lines it skipped; the reader's count after the record
            // is right: the record began on the line before its terminator,
            // less its quoted line breaks (counted only when the two differ).
            // A quote left open at the end of the input has no terminator
            // after the record: the count is then one short, and the start
            // is right (hence the larger of the two).
            let end = reader.position().line() as usize - 1;
            let start = record.position().map_or(0, |p| p.line() as usize);
            let line = match end == start {
                true => end,
                false => start.max(end - memchr::memchr_iter(b'\n', record.as_slice()).count()),
            };
            each(line, &record)?;
        }
        return Ok(());
    }
    let mut text = [0u8; 4];
    let needle: Option<&[u8]> = match delimiter {
        Delimiter::DoubleColon => Some(b"::"),
        Delimiter::Char(c) => Some(c.encode_utf8(&mut text).as_bytes()),
        _ => None,
    };
    let mut buf = Vec::new();
    let mut line = 0;
    while input::next_line(&mut input, &mut buf).map_err(|e| io_error(file, e))? {
        line += 1;
        record.clear();
        match needle {
            Some(needle) => split_on(&buf, needle, &mut record),
            None => buf
                .split(|&b| b == b' ' || b == b'\t')
                .filter(|f| !f.is_empty())
                .for_each(|f| record.push_field(f)),
        }
        each(line, &record)?;
    }
    Ok(())
}

/// Splits `line` on every occurrence of `needle`, left to right, as
/// `str::split` does (`4:::5` on `::` gives `4` and `:5`).
fn split_on(line: &[u8], needle: &[u8], record: &mut ByteRecord) {
    let (mut start, mut from) = (0, 0);
    while let Some(k) = memchr::memchr(needle[0], &line[from..]) {
        let at = from + k;
        if line[at..].starts_with(needle) {
            record.push_field(&line[start..at]);
            start = at + needle.len();
            from = start;
        } else {
            from = at + 1;
        }
    }
    record.push_field(&line[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(text: &[u8], delimiter: Delimiter) -> Vec<(usize, Vec<String>)> {
        let mut out = Vec::new();
        let input = input::normalize(text).unwrap();
        for_each("x", input, delimiter, |line, r| {
            let fields = r
                .iter()
                .map(|f| String::from_utf8_lossy(f).into())
                .collect();
            out.push((line, fields));
            Ok(())
        })
        .unwrap();
        out
    }

    fn row(line: usize, fields: &[&str]) -> (usize, Vec<String>) {
        (line, fields.iter().map(|f| f.to_string()).collect())
    }

    #[test]
    fn csv_quoting_and_line_numbers() {
        let text = b"\"Smith, J\",42,4\r\r\n\"say \"\"hi\"\"\",\"two\nlines\",3\rx,y,1";
        assert_eq!(
            records(text, Delimiter::Comma),
            [
                row(1, &["Smith, J", "42", "4"]),
                row(3, &["say \"hi\"", "two\nlines", "3"]),
                row(5, &["x", "y", "1"]),
            ]
        );
        // A quote left open runs to the end, from the line it opened on.
        assert_eq!(
            records(b"h,t,g\n1,a,b\n2,\"c,d\n3,e,f\n", Delimiter::Comma),
            [
                row(1, &["h", "t", "g"]),
                row(2, &["1", "a", "b"]),
                row(3, &["2", "c,d\n3,e,f\n"]),
            ]
        );
    }

    #[test]
    fn text_delimiters_split_lines() {
        let text = b"1::2::3\r\n\r\n4:::5::6";
        assert_eq!(
            records(text, Delimiter::DoubleColon),
            [
                row(1, &["1", "2", "3"]),
                row(2, &[""]),
                row(3, &["4", ":5", "6"])
            ]
        );
        assert_eq!(
            records(b" a \t b  c\n", Delimiter::Whitespace),
            [row(1, &["a", "b", "c"])]
        );
        assert_eq!(
            records("a·b·c\n".as_bytes(), Delimiter::Char('·')),
            [row(1, &["a", "b", "c"])]
        );
    }
}
