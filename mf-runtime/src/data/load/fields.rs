//! Reading the values of one line's fields (ids, ratings, timestamps,
//! dates), with errors that name the file, the line and the field.

use csv::ByteRecord;

use super::format::IdKind;
use crate::data::error::{DataError, Problem};
use crate::data::RawId;

/// One line split into fields; for parsing them with errors that say where.
pub(super) struct Line<'a> {
    pub(super) file: &'a str,
    pub(super) line: usize,
    pub(super) fields: &'a ByteRecord,
}

/// ASCII spaces and tabs around a field are dropped; a field padded with
/// them and then quoted (` "10" `) loses its quotes too, as the `csv` crate
/// only unquotes a field that starts with the quote.
pub(super) fn trim(raw: &[u8]) -> &[u8] {
    let padded = raw.first().is_some_and(|b| b.is_ascii_whitespace());
    let field = raw.trim_ascii();
    match field {
        [b'"', inner @ .., b'"'] if padded => inner,
        _ => field,
    }
}

/// Whether every field of a line is blank (the line is skipped).
pub(super) fn is_blank(fields: &ByteRecord) -> bool {
    fields.iter().all(|f| f.trim_ascii().is_empty())
}

impl<'a> Line<'a> {
    pub(super) fn error(&self, column: usize, field: &'static str, problem: Problem) -> DataError {
        DataError::Field {
            file: self.file.into(),
            line: self.line,
            field,
            column: column + 1,
            problem,
        }
    }

    /// The trimmed bytes of a field; an error when absent or empty.
    fn bytes(&self, column: usize, name: &'static str) -> Result<&'a [u8], DataError> {
        let raw = self.fields.get(column).ok_or_else(|| {
            let found = self.fields.len();
            self.error(column, name, Problem::Missing { found })
        })?;
        let raw = trim(raw);
        if raw.is_empty() {
            return Err(self.error(column, name, Problem::Empty));
        }
        Ok(raw)
    }

    /// The trimmed text of a field; an error when absent, empty or not UTF-8.
    pub(super) fn text(&self, column: usize, name: &'static str) -> Result<&'a str, DataError> {
        let raw = self.bytes(column, name)?;
        std::str::from_utf8(raw).map_err(|e| {
            let byte = e.valid_up_to() + 1;
            self.error(column, name, Problem::NotUtf8 { byte })
        })
    }

    /// An integer field (`+7` and `-7` too, as `i64::from_str` reads them).
    pub(super) fn integer(&self, column: usize, name: &'static str) -> Result<i64, DataError> {
        // Ids and timestamps are nearly always plain digits: read those
        // directly, without the UTF-8 check and the general parser.
        let raw = self.bytes(column, name)?;
        if raw.len() <= 18 && raw.iter().all(u8::is_ascii_digit) {
            return Ok(raw
                .iter()
                .fold(0i64, |acc, &d| acc * 10 + i64::from(d - b'0')));
        }
        let text = self.text(column, name)?;
        text.parse()
            .map_err(|_| self.error(column, name, Problem::NotAnInteger(text.into())))
    }

    /// An integer id: an integer ≥ 0.
    pub(super) fn integer_id(&self, column: usize, name: &'static str) -> Result<i64, DataError> {
        match self.integer(column, name)? {
            v if v < 0 => Err(self.error(column, name, Problem::Negative(v))),
            v => Ok(v),
        }
    }

    /// An id, as [`IdKind`] says.
    pub(super) fn id(
        &self,
        column: usize,
        name: &'static str,
        kind: IdKind,
    ) -> Result<RawId<'a>, DataError> {
        match kind {
            IdKind::Integer => self.integer_id(column, name).map(RawId::Int),
            IdKind::Text => self.text(column, name).map(RawId::Str),
        }
    }

    /// A finite rating, within `range` when one is given.
    pub(super) fn rating(
        &self,
        column: usize,
        range: Option<(f64, f64)>,
    ) -> Result<f64, DataError> {
        let name = "rating";
        let text = self.text(column, name)?;
        let value: f64 = text
            .parse()
            .map_err(|_| self.error(column, name, Problem::NotANumber(text.into())))?;
        if !value.is_finite() {
            return Err(self.error(column, name, Problem::NotFinite(text.into())));
        }
        if let Some((min, max)) = range {
            if !(min..=max).contains(&value) {
                return Err(self.error(column, name, Problem::OutOfRange { value, min, max }));
            }
        }
        Ok(value)
    }

    /// A calendar date `YYYY-MM-DD`, as the seconds since the Unix epoch
    /// of the midnight (UTC) that starts it.
    pub(super) fn date(&self, column: usize, name: &'static str) -> Result<i64, DataError> {
        let text = self.text(column, name)?;
        parse_date(text).ok_or_else(|| self.error(column, name, Problem::NotADate(text.into())))
    }
}

/// `YYYY-MM-DD` naming a day that exists (leap years included), as the
/// seconds since the Unix epoch of its first instant (UTC).
pub(crate) fn parse_date(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let digits = |r: std::ops::Range<usize>| -> Option<u32> {
        b[r].iter().try_fold(0u32, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    (1..=days)
        .contains(&day)
        .then(|| days_from_epoch(year.into(), month.into(), day.into()) * 86_400)
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar
/// (Howard Hinnant's `days_from_civil`).
fn days_from_epoch(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_real_days() {
        // The seconds of `date -u -d … +%s`.
        for (ok, seconds) in [
            ("1970-01-01", 0),
            ("2005-09-06", 1_125_964_800),
            ("2000-02-29", 951_782_400),
            ("1999-12-31", 946_598_400),
            ("1969-12-31", -86_400),
        ] {
            assert_eq!(parse_date(ok), Some(seconds), "{ok}");
        }
        for bad in [
            "1900-02-29",
            "2005-13-01",
            "2005-00-10",
            "2005-04-31",
            "2005-9-06",
            "2005/09/06",
            "20050906xx",
            "2005-09-0a",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn integers_fast_and_slow() {
        let fields = ByteRecord::from(vec![
            "007",
            "999999999999999999",
            "9223372036854775807",
            "9223372036854775808",
            "+5",
            "-5",
            "5x",
        ]);
        let line = Line {
            file: "x",
            line: 1,
            fields: &fields,
        };
        let int = |k| line.integer(k, "user").map_err(|e| e.to_string());
        assert_eq!(int(0), Ok(7));
        assert_eq!(int(1), Ok(999_999_999_999_999_999));
        assert_eq!(int(2), Ok(i64::MAX));
        assert!(int(3)
            .unwrap_err()
            .contains("not an integer (in the 64-bit range)"));
        assert_eq!((int(4), int(5)), (Ok(5), Ok(-5)));
        assert!(int(6).unwrap_err().contains("`5x` is not an integer"));
    }

    #[test]
    fn padded_quotes_are_dropped_but_escaped_quotes_kept() {
        assert_eq!(trim(b" \"10\" "), b"10");
        assert_eq!(trim(b"\"x\""), b"\"x\"");
        assert_eq!(trim(b"\t7 "), b"7");
    }
}
