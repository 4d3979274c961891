//! The Netflix Prize layout: a `MovieID:` line, then one
//! `CustomerID,Rating,Date` line per rating of that movie.

use csv::ByteRecord;

use super::fields::{is_blank, Line};
use super::format::IdKind;
use super::input::{self, Input};
use super::pipeline::Sink;
use crate::data::{DataError, RawId};

/// Reads every rating of `input` into `sink`: users are customers, items
/// movies; ids are integers ≥ 0, dates `YYYY-MM-DD` are checked and kept
/// as the midnight (UTC) that starts the day.
pub(super) fn read(
    file: &str,
    mut input: Input<'_>,
    range: Option<(f64, f64)>,
    sink: &mut Sink,
) -> Result<(), DataError> {
    let mut buf = Vec::new();
    let mut fields = ByteRecord::new();
    let mut movie = None;
    let mut line = 0;
    let io = |source| DataError::Io {
        file: file.into(),
        source,
    };
    while input::next_line(&mut input, &mut buf).map_err(io)? {
        line += 1;
        fields.clear();
        match buf.trim_ascii().strip_suffix(b":") {
            Some(id) => {
                fields.push_field(id);
                let at = Line {
                    file,
                    line,
                    fields: &fields,
                };
                movie = Some(at.integer_id(0, "item")?);
            }
            None => {
                buf.split(|&b| b == b',').for_each(|f| fields.push_field(f));
                if is_blank(&fields) {
                    continue;
                }
                let at = Line {
                    file,
                    line,
                    fields: &fields,
                };
                let user = at.id(0, "user", IdKind::Integer)?;
                let rating = at.rating(1, range)?;
                let time = at.date(2, "date")?;
                let Some(movie) = movie else {
                    return Err(DataError::Line {
                        file: file.into(),
                        line,
                        message: "a rating before any `MovieID:` line".into(),
                    });
                };
                if fields.len() > 3 {
                    return Err(DataError::Line {
                        file: file.into(),
                        line,
                        message: format!(
                            "{} fields, but a Netflix rating line has 3 (customer, rating, date)",
                            fields.len()
                        ),
                    });
                }
                sink.push(line, user, RawId::Int(movie), rating, Some(time));
            }
        }
    }
    Ok(())
}
