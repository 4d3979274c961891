//! Telling a file's format from its first lines (and, second, its name):
//! the reading rules ([`Spec`]) one load follows.

use csv::ByteRecord;

use super::fields::trim;
use super::format::{Columns, Delimiter, Header, IdKind};
use crate::data::error::escaped;
use crate::data::DataError;

/// A format chosen by a preset or detected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Preset {
    Detect,
    MovieLensTab,
    MovieLensDat,
    MovieLensCsv,
    Netflix,
    Generic,
}

/// How the lines of a file are laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Layout {
    /// One rating per line, fields split by the delimiter.
    Delimited(Delimiter),
    /// `MovieID:` lines, each followed by `CustomerID,Rating,Date` lines.
    Netflix,
}

/// The resolved reading rules for one file.
#[derive(Clone, Copy, Debug)]
pub(super) struct Spec {
    pub(super) layout: Layout,
    /// `Present`, `Absent`, or `Auto` when the first line decides.
    pub(super) header: Header,
    pub(super) ids: IdKind,
    pub(super) columns: Columns,
    /// MovieLens: every line has exactly 4 fields.
    pub(super) movielens: bool,
    /// MovieLens CSV: a header must name `userId,movieId,rating`.
    pub(super) movielens_header: bool,
    /// A header that names the columns (`movieId,userId,rating`) sets them.
    pub(super) columns_from_header: bool,
}

/// What the caller fixed; `None` is left to detection.
pub(super) struct Given {
    pub(super) preset: Preset,
    pub(super) delimiter: Option<Delimiter>,
    pub(super) header: Option<Header>,
    pub(super) ids: Option<IdKind>,
    pub(super) columns: Option<Columns>,
}

/// The reading rules for the file `name` whose first non-blank lines are
/// `head` (at most two).
pub(super) fn resolve(given: &Given, name: &str, head: &[String]) -> Result<Spec, DataError> {
    let preset = match given.preset {
        Preset::Detect => sniff(name, head, given.delimiter)?,
        p => p,
    };
    let movielens = |delimiter, movielens_header| Spec {
        layout: Layout::Delimited(delimiter),
        header: if movielens_header {
            Header::Auto
        } else {
            Header::Absent
        },
        ids: IdKind::Integer,
        columns: Columns::MOVIELENS,
        movielens: true,
        movielens_header,
        columns_from_header: false,
    };
    let mut spec = match preset {
        Preset::MovieLensTab => movielens(Delimiter::Tab, false),
        Preset::MovieLensDat => movielens(Delimiter::DoubleColon, false),
        Preset::MovieLensCsv => movielens(Delimiter::Comma, true),
        Preset::Netflix => Spec {
            layout: Layout::Netflix,
            header: Header::Absent,
            ids: IdKind::Integer,
            columns: Columns::default(),
            movielens: false,
            movielens_header: false,
            columns_from_header: false,
        },
        Preset::Generic | Preset::Detect => {
            let delimiter = match given.delimiter {
                Some(d) => d,
                None => sniff_delimiter(name, head.first().map(String::as_str))?,
            };
            Spec {
                layout: Layout::Delimited(delimiter),
                header: Header::Auto,
                ids: IdKind::Text,
                columns: Columns::default(),
                movielens: false,
                movielens_header: false,
                columns_from_header: given.columns.is_none(),
            }
        }
    };
    if let (Some(d), Layout::Delimited(_)) = (given.delimiter, spec.layout) {
        spec.layout = Layout::Delimited(d);
    }
    if let Some(h) = given.header {
        spec.header = h;
    }
    if let Some(ids) = given.ids {
        spec.ids = ids;
    }
    if let Some(columns) = given.columns {
        spec.columns = columns;
    }
    if spec.header == Header::Auto {
        spec.header = sniff_header(&spec, head);
    }
    Ok(spec)
}

fn file_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let base = base.strip_suffix(".gz").unwrap_or(base);
    base.to_ascii_lowercase()
}

/// The MovieLens preset the file name implies, if any.
pub(super) fn movielens_by_name(name: &str) -> Option<Preset> {
    let base = file_name(name);
    if base == "u.data" || base.ends_with(".base") || base.ends_with(".test") {
        Some(Preset::MovieLensTab)
    } else if base == "ratings.dat" {
        Some(Preset::MovieLensDat)
    } else if base == "ratings.csv" {
        Some(Preset::MovieLensCsv)
    } else {
        None
    }
}

/// Splits a line on a delimiter for sniffing, as the loader will: single
/// bytes by the `csv` crate (quotes respected), others as text; fields trimmed.
fn split_for_sniffing(line: &str, delimiter: Delimiter) -> Vec<String> {
    let mut record = ByteRecord::new();
    let fields: Vec<&[u8]> = match delimiter.byte() {
        Some(byte) => {
            let mut reader = csv::ReaderBuilder::new()
                .delimiter(byte)
                .has_headers(false)
                .flexible(true)
                .from_reader(line.as_bytes());
            // Reading from memory cannot fail; a line of nothing has no fields.
            if !reader.read_byte_record(&mut record).unwrap_or(false) {
                return Vec::new();
            }
            record.iter().collect()
        }
        None => match delimiter {
            Delimiter::DoubleColon => line.split("::").map(str::as_bytes).collect(),
            Delimiter::Char(c) => line.split(c).map(str::as_bytes).collect(),
            _ => line.split_ascii_whitespace().map(str::as_bytes).collect(),
        },
    };
    fields
        .into_iter()
        .map(|f| String::from_utf8_lossy(trim(f)).into_owned())
        .collect()
}

fn is_number(text: &str) -> bool {
    text.parse::<f64>().is_ok()
}

/// The format from the first lines: Netflix's `MovieID:`, MovieLens CSV's
/// header, `::`; else a generic file whose delimiter the first line shows,
/// read as MovieLens when the name is MovieLens's and agrees.
fn sniff(name: &str, head: &[String], given: Option<Delimiter>) -> Result<Preset, DataError> {
    let by_name = movielens_by_name(name);
    let Some(first) = head.first().map(|l| l.trim()) else {
        // Empty or blank: any preset reports it.
        return Ok(by_name.unwrap_or(Preset::Generic));
    };
    if given.is_none() {
        if let Some(id) = first.strip_suffix(':') {
            if !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) {
                return Ok(Preset::Netflix);
            }
        }
    }
    let delimiter = match given {
        Some(d) => d,
        None => sniff_delimiter(name, Some(first))?,
    };
    let fields = split_for_sniffing(first, delimiter);
    if delimiter == Delimiter::Comma
        && fields.get(..3) == Some(&["userId", "movieId", "rating"].map(String::from))
    {
        return Ok(Preset::MovieLensCsv);
    }
    let movielens_delimiter = match by_name {
        Some(Preset::MovieLensTab) => Some(Delimiter::Tab),
        Some(Preset::MovieLensDat) => Some(Delimiter::DoubleColon),
        Some(Preset::MovieLensCsv) => Some(Delimiter::Comma),
        _ => None,
    };
    if movielens_delimiter == Some(delimiter) {
        return Ok(by_name.expect("a MovieLens name"));
    }
    let integer = |k: usize| fields[k].parse::<i64>().is_ok();
    if delimiter == Delimiter::DoubleColon
        && fields.len() == 4
        && integer(0)
        && integer(1)
        && integer(3)
        && is_number(&fields[2])
    {
        return Ok(Preset::MovieLensDat);
    }
    Ok(Preset::Generic)
}

/// The delimiter the first line shows: `::`, else the most frequent of tab,
/// comma, semicolon and `|` outside quotes, else runs of whitespace when
/// they split the line into three or more fields, else what the extension
/// says (`.csv`, `.tsv`, `.dat`).
fn sniff_delimiter(name: &str, first: Option<&str>) -> Result<Delimiter, DataError> {
    let first = first.unwrap_or("");
    // What lies outside double quotes: a delimiter inside a quoted field
    // does not count.
    let outside: String = first.split('"').step_by(2).collect::<Vec<_>>().join("\"\"");
    if outside.contains("::") {
        return Ok(Delimiter::DoubleColon);
    }
    let candidates = [
        Delimiter::Tab,
        Delimiter::Comma,
        Delimiter::Semicolon,
        Delimiter::Char('|'),
    ];
    let counts = [b'\t', b',', b';', b'|'].map(|d| outside.bytes().filter(|&b| b == d).count());
    let (best, &count) = counts
        .iter()
        .enumerate()
        .max_by_key(|&(k, &n)| (n, std::cmp::Reverse(k)))
        .expect("four candidates");
    if count > 0 {
        return Ok(candidates[best]);
    }
    if first.split_ascii_whitespace().count() >= 3 {
        return Ok(Delimiter::Whitespace);
    }
    let base = file_name(name);
    match base.rsplit_once('.').map(|(_, ext)| ext) {
        Some("csv") => Ok(Delimiter::Comma),
        Some("tsv" | "data") => Ok(Delimiter::Tab),
        Some("dat") => Ok(Delimiter::DoubleColon),
        _ if first.is_empty() => Ok(Delimiter::Comma),
        _ => Err(DataError::UnknownFormat {
            file: name.into(),
            reason: format!(
                "the first line `{}` has no tab, comma, semicolon, `|`, `::` or spaces between fields",
                escaped(first)
            ),
        }),
    }
}

/// `Header::Auto` resolved: a header when the first line has the user, item
/// and rating columns, none of its fields is a number, and the second line's
/// rating is one (or there is no second line).
fn sniff_header(spec: &Spec, head: &[String]) -> Header {
    let Layout::Delimited(delimiter) = spec.layout else {
        return Header::Absent;
    };
    let Some(first) = head.first() else {
        return Header::Absent;
    };
    let first = split_for_sniffing(first, delimiter);
    let names: Vec<&str> = first.iter().map(String::as_str).collect();
    let columns = match spec.columns_from_header {
        true => Columns::from_header(&names).unwrap_or(spec.columns),
        false => spec.columns,
    };
    let second_rates = head.get(1).is_none_or(|line| {
        let fields = split_for_sniffing(line, delimiter);
        fields.get(columns.rating).is_some_and(|r| is_number(r))
    });
    let wide_enough = first.len() > columns.user.max(columns.item).max(columns.rating);
    if wide_enough && !first.iter().any(|f| is_number(f)) && second_rates {
        Header::Present
    } else {
        Header::Absent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(String::from).collect()
    }

    #[test]
    fn the_first_line_tells_the_format() {
        let cases = [
            (
                "mydata.csv",
                "userId,movieId,rating,timestamp\n1,2,3,4",
                Preset::MovieLensCsv,
            ),
            ("mine.txt", "1:\n6,3,2005-09-06", Preset::Netflix),
            ("mine.txt", "1::2::3::4", Preset::MovieLensDat),
            ("mine.txt", "a::b::3", Preset::Generic),
            ("ratings.csv", "1,2,3,4", Preset::MovieLensCsv),
            ("u.data", "1,2,3,4", Preset::Generic),
            ("u1.base", "1\t2\t3\t4", Preset::MovieLensTab),
            ("x.csv.gz", "1\t2\t3", Preset::Generic),
        ];
        for (name, text, want) in cases {
            assert_eq!(
                sniff(name, &lines(text), None).unwrap(),
                want,
                "{name}: {text}"
            );
        }
    }

    #[test]
    fn delimiters_are_counted_outside_quotes() {
        let d = |line| sniff_delimiter("x", Some(line)).unwrap();
        assert_eq!(d("\"a,b\";c;4"), Delimiter::Semicolon);
        assert_eq!(d("\"a::b\",c,4"), Delimiter::Comma);
        assert_eq!(d("a|b|4"), Delimiter::Char('|'));
        assert_eq!(d("1\t2,5\t3"), Delimiter::Tab);
        assert_eq!(d("1  2 3"), Delimiter::Whitespace);
        assert_eq!(
            sniff_delimiter("f.csv", Some("hello")).unwrap(),
            Delimiter::Comma
        );
        let err = sniff_delimiter("notes", Some("a\rb"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(r"`a\rb`") && err.contains("LoadOptions::delimiter"),
            "{err}"
        );
    }

    #[test]
    fn a_header_is_words_above_a_number() {
        let spec = |head: &str| {
            let given = Given {
                preset: Preset::Generic,
                delimiter: None,
                header: None,
                ids: None,
                columns: None,
            };
            resolve(&given, "x.csv", &lines(head)).unwrap().header
        };
        assert_eq!(spec("user,item,rating\n1,2,3"), Header::Present);
        assert_eq!(spec("user,item,rating"), Header::Present);
        assert_eq!(spec("ann,dune,4\nbob,dune,5"), Header::Absent);
        assert_eq!(spec("ann,dune,five\nbob,dune,bad"), Header::Absent);
        assert_eq!(spec("1,2,x\n1,2,3"), Header::Absent);
        assert_eq!(spec("hello\n1,2,3"), Header::Absent);
        assert_eq!(spec("rating,item,user\n4,dune,ann"), Header::Present);
    }
}
