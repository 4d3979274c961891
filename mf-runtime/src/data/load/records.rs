//! Splitting a normalised input into records of fields: the `csv` crate for
//! single-byte delimiters (RFC 4180 quoting), a line splitter for `::`, runs
//! of whitespace and multi-byte delimiters.

use csv::ByteRecord;

use super::format::Delimiter;
use crate::data::DataError;

/// Calls `each(line, fields)` for every record of `text` (whole records of
/// a normalised input, its first line numbered `first_line`), with the
/// 1-based number of the line it starts on (a quoted field may span lines).
/// Empty lines may be skipped; lines of blank fields are passed on.
pub(super) fn for_each(
    file: &str,
    text: &[u8],
    first_line: usize,
    delimiter: Delimiter,
    mut each: impl FnMut(usize, &ByteRecord) -> Result<(), DataError>,
) -> Result<(), DataError> {
    let mut record = ByteRecord::new();
    if let Some(byte) = delimiter.byte() {
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(byte)
            .has_headers(false)
            .flexible(true)
            .from_reader(text);
        while reader
            .read_byte_record(&mut record)
            .map_err(|e| DataError::Io {
                file: file.into(),
                source: e.into(),
            })?
        {
            // The record's position is where the reader started, before
            // the blank lines it skipped: the record starts after them.
            let (at, line) = record
                .position()
                .map_or((0, 1), |p| (p.byte() as usize, p.line() as usize));
            let blank = text[at..].iter().take_while(|&&b| b == b'\n').count();
            each(first_line - 1 + line + blank, &record)?;
        }
        return Ok(());
    }
    let mut buf = [0u8; 4];
    let needle: Option<&[u8]> = match delimiter {
        Delimiter::DoubleColon => Some(b"::"),
        Delimiter::Char(c) => Some(c.encode_utf8(&mut buf).as_bytes()),
        _ => None,
    };
    for (k, line) in lines(text).enumerate() {
        record.clear();
        match needle {
            Some(needle) => split_on(line, needle, &mut record),
            None => line
                .split(|&b| b == b' ' || b == b'\t')
                .filter(|f| !f.is_empty())
                .for_each(|f| record.push_field(f)),
        }
        each(first_line + k, &record)?;
    }
    Ok(())
}

/// The lines of `text` (whole lines of a normalised input), without their
/// `\n`.
pub(super) fn lines(text: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut start = 0;
    memchr::memchr_iter(b'\n', text).map(move |end| {
        let line = &text[start..end];
        start = end + 1;
        line
    })
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
        let mut normal = Vec::new();
        let mut input = super::super::input::normalize(text).unwrap();
        std::io::Read::read_to_end(&mut input, &mut normal).unwrap();
        for_each("x", &normal, 1, delimiter, |line, r| {
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
