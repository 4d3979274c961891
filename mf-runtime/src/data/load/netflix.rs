//! The Netflix Prize layout: a `MovieID:` line, then one
//! `CustomerID,Rating,Date` line per rating of that movie.

use csv::ByteRecord;

use super::fields::{is_blank, Line};
use super::format::IdKind;
use super::pipeline::{Parse, Sink};
use super::records::lines;
use crate::data::{DataError, RawId};

/// Reads the ratings of a Netflix file, block by block: users are
/// customers, items movies; ids are integers ≥ 0, dates `YYYY-MM-DD` are
/// checked and kept as the midnight (UTC) that starts the day.
#[derive(Clone)]
pub(super) struct Netflix<'a> {
    file: &'a str,
    range: Option<(f64, f64)>,
    /// The movie of the last `MovieID:` line read.
    movie: Option<i64>,
}

impl<'a> Netflix<'a> {
    pub(super) fn new(file: &'a str, range: Option<(f64, f64)>) -> Self {
        Netflix {
            file,
            range,
            movie: None,
        }
    }

    /// The movie of a `MovieID:` line (`id` is the text before the colon).
    fn movie(&self, line: usize, id: &[u8]) -> Result<i64, DataError> {
        let fields = ByteRecord::from(vec![id]);
        let at = Line {
            file: self.file,
            line,
            fields: &fields,
        };
        at.integer_id(0, "item")
    }
}

/// The id of a `MovieID:` line, or `None` for a rating line.
fn movie_id(line: &[u8]) -> Option<&[u8]> {
    line.trim_ascii().strip_suffix(b":")
}

impl Parse for Netflix<'_> {
    fn ready(&self) -> bool {
        true
    }

    /// The last `MovieID:` line of `text` sets the movie of the ratings
    /// after it (one that is not valid is reported by the block holding it,
    /// before any later one).
    fn skip(&mut self, text: &[u8]) {
        let body = text.strip_suffix(b"\n").unwrap_or(text);
        if let Some(id) = body.rsplit(|&b| b == b'\n').find_map(movie_id) {
            self.movie = self.movie(0, id).ok();
        }
    }

    fn parse(&mut self, first_line: usize, text: &[u8], sink: &mut Sink) -> Result<(), DataError> {
        let mut fields = ByteRecord::new();
        for (k, buf) in lines(text).enumerate() {
            let line = first_line + k;
            if let Some(id) = movie_id(buf) {
                self.movie = Some(self.movie(line, id)?);
                continue;
            }
            fields.clear();
            buf.split(|&b| b == b',').for_each(|f| fields.push_field(f));
            if is_blank(&fields) {
                continue;
            }
            let at = Line {
                file: self.file,
                line,
                fields: &fields,
            };
            let user = at.id(0, "user", IdKind::Integer)?;
            let rating = at.rating(1, self.range)?;
            let time = at.date(2, "date")?;
            let Some(movie) = self.movie else {
                return Err(DataError::Line {
                    file: self.file.into(),
                    line,
                    message: "a rating before any `MovieID:` line".into(),
                });
            };
            if fields.len() > 3 {
                return Err(DataError::Line {
                    file: self.file.into(),
                    line,
                    message: format!(
                        "{} fields, but a Netflix rating line has 3 (customer, rating, date)",
                        fields.len()
                    ),
                });
            }
            sink.push(line, user, RawId::Int(movie), rating, Some(time));
        }
        Ok(())
    }
}
