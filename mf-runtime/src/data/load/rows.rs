//! The lines of a delimited file: the header (checked, or read for the
//! column order), then one rating per line, each with as many fields as
//! the first.

use csv::ByteRecord;

use super::detect::Spec;
use super::fields::{is_blank, trim, Line};
use super::format::{Columns, Delimiter, Header};
use super::pipeline::{Parse, Sink};
use super::records;
use crate::data::error::escaped;
use crate::data::DataError;

/// The lines of a delimited file: the header, then ratings. Once the first
/// non-blank line is read (and the header with it), any block of lines can
/// be read on its own.
#[derive(Clone)]
pub(super) struct Rows<'a> {
    file: &'a str,
    spec: Spec,
    delimiter: Delimiter,
    range: Option<(f64, f64)>,
    /// The first non-blank line and its number of fields.
    first: Option<(usize, usize)>,
    header_line: Option<usize>,
}

impl<'a> Rows<'a> {
    /// Reads the lines of `file`, split on `delimiter`, by `spec`; ratings
    /// must be within `range`.
    pub(super) fn new(
        file: &'a str,
        spec: Spec,
        delimiter: Delimiter,
        range: Option<(f64, f64)>,
    ) -> Self {
        Rows {
            file,
            spec,
            delimiter,
            range,
            first: None,
            header_line: None,
        }
    }

    /// The header's line, once one was read.
    pub(super) fn header_line(&self) -> Option<usize> {
        self.header_line
    }

    /// Takes the next line: skipped when blank, the header, or a rating
    /// (into `sink`).
    fn take(&mut self, line: usize, fields: &ByteRecord, sink: &mut Sink) -> Result<(), DataError> {
        if is_blank(fields) {
            return Ok(());
        }
        let (first_line, width) = *self.first.get_or_insert((line, fields.len()));
        if first_line == line && self.spec.header == Header::Present {
            return self.header(line, fields);
        }
        let at = Line {
            file: self.file,
            line,
            fields,
        };
        let columns = self.spec.columns;
        let user = at.id(columns.user, "user", self.spec.ids)?;
        let item = at.id(columns.item, "item", self.spec.ids)?;
        let rating = at.rating(columns.rating, self.range)?;
        let time = match columns.timestamp {
            Some(t) => Some(at.integer(t, "timestamp")?),
            None => None,
        };
        let n = fields.len();
        let wrong = |message| DataError::Line {
            file: self.file.into(),
            line,
            message,
        };
        if self.spec.movielens && n != 4 {
            return Err(wrong(format!(
                "{n} fields, but a MovieLens line has 4 (user, item, rating, timestamp)"
            )));
        }
        if n != width {
            let (column, what) = match n > width {
                true => (width + 1, "is the first extra one"),
                false => (n + 1, "is missing"),
            };
            return Err(wrong(format!(
                "{n} fields, but line {first_line} has {width}: column {column} {what}"
            )));
        }
        sink.push(line, user, item, rating, time);
        Ok(())
    }

    /// Checks a MovieLens header, or reads the columns a generic one names.
    fn header(&mut self, line: usize, fields: &ByteRecord) -> Result<(), DataError> {
        self.header_line = Some(line);
        let names: Vec<String> = fields
            .iter()
            .map(|f| String::from_utf8_lossy(trim(f)).into_owned())
            .collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        if self.spec.movielens_header && names.get(..3) != Some(&["userId", "movieId", "rating"]) {
            return Err(DataError::Line {
                file: self.file.into(),
                line,
                message: format!(
                    "expected the header `userId,movieId,rating,timestamp`, found `{}`",
                    escaped(&names.join(","))
                ),
            });
        }
        if self.spec.columns_from_header {
            if let Some(columns) = Columns::from_header(&names) {
                self.spec.columns = columns;
            }
        }
        Ok(())
    }
}

impl Parse for Rows<'_> {
    fn ready(&self) -> bool {
        self.first.is_some()
    }

    fn skip(&mut self, _text: &[u8]) {}

    fn parse(&mut self, first_line: usize, text: &[u8], sink: &mut Sink) -> Result<(), DataError> {
        records::for_each(
            self.file,
            text,
            first_line,
            self.delimiter,
            |line, fields| self.take(line, fields, sink),
        )
    }
}
