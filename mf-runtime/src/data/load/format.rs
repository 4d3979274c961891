//! The settings that describe a ratings file's layout: delimiter, header,
//! id kind and column order, each readable from a command-line value.

use std::str::FromStr;

use crate::data::DataError;

/// How fields are separated.
///
/// Single-byte delimiters are read by the `csv` crate (RFC 4180 quoting);
/// `::`, runs of whitespace and non-ASCII characters split lines as text.
///
/// ```
/// use mf_runtime::data::{Delimiter, LoadOptions};
/// let r = LoadOptions::delimited(Delimiter::Char('|')).parse_str("x", "1|2|3.5\n").unwrap();
/// assert_eq!(r.get_raw(1, 2), Some(3.5));
/// assert_eq!("tab".parse::<Delimiter>().unwrap(), Delimiter::Tab);
/// assert_eq!("|".parse::<Delimiter>().unwrap(), Delimiter::Char('|'));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delimiter {
    /// `\t`
    Tab,
    /// `,`
    Comma,
    /// `;`
    Semicolon,
    /// `::` (MovieLens `ratings.dat`)
    DoubleColon,
    /// Any run of ASCII spaces and tabs.
    Whitespace,
    /// Any other single character.
    Char(char),
}

impl Delimiter {
    /// The byte the `csv` crate splits on, for single-byte delimiters.
    pub(crate) fn byte(self) -> Option<u8> {
        match self {
            Delimiter::Tab => Some(b'\t'),
            Delimiter::Comma => Some(b','),
            Delimiter::Semicolon => Some(b';'),
            Delimiter::Char(c) if c.is_ascii() => Some(c as u8),
            Delimiter::Char(_) | Delimiter::DoubleColon | Delimiter::Whitespace => None,
        }
    }
}

/// Reads `tab` (or `\t`), `comma`, `semicolon`, `whitespace` (or `space`),
/// `::`, or any single character.
impl FromStr for Delimiter {
    type Err = DataError;

    fn from_str(s: &str) -> Result<Self, DataError> {
        let mut chars = s.chars();
        Ok(match s {
            "tab" | "\\t" | "\t" => Delimiter::Tab,
            "comma" | "," => Delimiter::Comma,
            "semicolon" | ";" => Delimiter::Semicolon,
            "whitespace" | "space" | " " => Delimiter::Whitespace,
            "::" => Delimiter::DoubleColon,
            _ => match (chars.next(), chars.next()) {
                (Some(c), None) if c != '"' && c != '\n' && c != '\r' => Delimiter::Char(c),
                _ => {
                    return Err(DataError::Invalid(format!(
                        "delimiter `{}`: give one character, `::`, `tab`, `comma`, \
                         `semicolon` or `whitespace` (not a quote or a line break)",
                        s.escape_debug()
                    )))
                }
            },
        })
    }
}

/// Whether the first non-blank line is a header.
///
/// ```
/// use mf_runtime::data::{Header, LoadOptions};
/// let text = "user,item,rating\n1,2,3\n";
/// assert_eq!(LoadOptions::comma().header(Header::Present).parse_str("x", text).unwrap().nnz(), 1);
/// assert_eq!(LoadOptions::comma().header(Header::Auto).parse_str("x", text).unwrap().nnz(), 1);
/// assert!(LoadOptions::comma().header(Header::Absent).parse_str("x", text).is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Header {
    /// No header: every line is a rating.
    Absent,
    /// The first non-blank line is a header.
    Present,
    /// A header when no field of the first non-blank line is a number and
    /// the next line's rating is one (the default). A first line that is
    /// wholly malformed (`ann,dune,five`) is then taken for a header: say
    /// [`Absent`](Self::Absent) to have it reported.
    Auto,
}

/// How raw ids are read.
///
/// ```
/// use mf_runtime::data::{IdKind, LoadOptions};
/// let err = LoadOptions::comma().ids(IdKind::Integer).parse_str("x", "ann,2,3\n").unwrap_err();
/// assert!(err.to_string().contains("field `user`"));
/// // As text, `007` and `7` are two users; as integers, one.
/// let text = "007,1,3\n7,2,4\n";
/// assert_eq!(LoadOptions::comma().parse_str("x", text).unwrap().num_users(), 2);
/// assert_eq!(LoadOptions::comma().ids(IdKind::Integer).parse_str("x", text).unwrap().num_users(), 1);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdKind {
    /// Any text, as written (stored as integers while every id is a
    /// canonical integer; see [`IdMap`](crate::data::IdMap)).
    Text,
    /// Non-negative integers in the `i64` range (`007` is 7); anything else,
    /// a negative number included, is an error.
    ///
    /// ```
    /// # use mf_runtime::data::{IdKind, LoadOptions};
    /// let err = LoadOptions::comma().ids(IdKind::Integer).parse_str("x", "-3,1,2\n").unwrap_err();
    /// assert_eq!(err.to_string(), "x:1: field `user` (column 1): `-3` is negative (ids must be ≥ 0)");
    /// ```
    Integer,
}

/// Which column (0-based) holds the user, the item, the rating and, when
/// there is one, an integer timestamp (kept: [`Ratings::timestamps`](crate::data::Ratings::timestamps)).
/// Other columns are ignored.
///
/// Read from a list of names, `user`, `item`, `rating`, `timestamp`, with
/// `_` for a column to skip; the default is `user,item,rating`.
///
/// ```
/// use mf_runtime::data::{Columns, LoadOptions};
/// let columns: Columns = "item,_,user,rating".parse().unwrap();
/// let r = LoadOptions::comma().columns(columns).parse_str("x", "dune,x,ann,4\n").unwrap();
/// assert_eq!(r.get_raw("ann", "dune"), Some(4.0));
/// assert!("user,rating".parse::<Columns>().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Columns {
    pub(super) user: usize,
    pub(super) item: usize,
    pub(super) rating: usize,
    pub(super) timestamp: Option<usize>,
}

impl Default for Columns {
    fn default() -> Self {
        Columns {
            user: 0,
            item: 1,
            rating: 2,
            timestamp: None,
        }
    }
}

impl Columns {
    /// `user,item,rating,timestamp`, the MovieLens order.
    pub(super) const MOVIELENS: Columns = Columns {
        user: 0,
        item: 1,
        rating: 2,
        timestamp: Some(3),
    };

    /// The columns a header names, when it names a user, an item and a
    /// rating (`userId`, `movie_id`, `Rating`, … in any case), else `None`.
    pub(super) fn from_header(names: &[&str]) -> Option<Columns> {
        let (mut user, mut item, mut rating, mut timestamp) = (None, None, None, None);
        for (k, name) in names.iter().enumerate() {
            let key: String = name
                .chars()
                .filter(|c| c.is_ascii_alphanumeric())
                .map(|c| c.to_ascii_lowercase())
                .collect();
            let slot = match key.as_str() {
                "user" | "userid" | "customerid" | "uid" => &mut user,
                "item" | "itemid" | "movie" | "movieid" | "product" | "productid" | "iid" => {
                    &mut item
                }
                "rating" | "score" | "stars" => &mut rating,
                "timestamp" => &mut timestamp,
                _ => continue,
            };
            slot.get_or_insert(k);
        }
        Some(Columns {
            user: user?,
            item: item?,
            rating: rating?,
            timestamp,
        })
    }
}

/// Reads a comma-separated list of `user`, `item`, `rating`, `timestamp`
/// and `_` (skip); the first three are required, each name at most once.
impl FromStr for Columns {
    type Err = DataError;

    fn from_str(s: &str) -> Result<Self, DataError> {
        let invalid = |why: String| {
            DataError::Invalid(format!(
                "columns `{}`: {why} (expected e.g. `user,item,rating[,timestamp]`, `_` to skip one)",
                s.escape_debug()
            ))
        };
        let (mut user, mut item, mut rating, mut timestamp) = (None, None, None, None);
        for (k, name) in s.split(',').map(str::trim).enumerate() {
            let slot = match name {
                "user" => &mut user,
                "item" => &mut item,
                "rating" => &mut rating,
                "timestamp" => &mut timestamp,
                "_" => continue,
                other => {
                    return Err(invalid(format!(
                        "unknown column `{}`",
                        other.escape_debug()
                    )))
                }
            };
            if slot.replace(k).is_some() {
                return Err(invalid(format!("`{name}` given twice")));
            }
        }
        let need = |v: Option<usize>, name: &str| v.ok_or_else(|| invalid(format!("no `{name}`")));
        Ok(Columns {
            user: need(user, "user")?,
            item: need(item, "item")?,
            rating: need(rating, "rating")?,
            timestamp,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delimiters_from_flags() {
        assert_eq!("\\t".parse::<Delimiter>().unwrap(), Delimiter::Tab);
        assert_eq!(",".parse::<Delimiter>().unwrap(), Delimiter::Comma);
        assert_eq!("::".parse::<Delimiter>().unwrap(), Delimiter::DoubleColon);
        assert_eq!("space".parse::<Delimiter>().unwrap(), Delimiter::Whitespace);
        assert_eq!("·".parse::<Delimiter>().unwrap(), Delimiter::Char('·'));
        assert_eq!(Delimiter::Char('·').byte(), None);
        assert_eq!(Delimiter::Char('|').byte(), Some(b'|'));
        for bad in ["", "ab", "\"", "\n"] {
            let err = bad.parse::<Delimiter>().unwrap_err().to_string();
            assert!(err.starts_with("invalid argument: delimiter"), "{err}");
        }
    }

    #[test]
    fn columns_from_flags_and_headers() {
        let c: Columns = "rating, _ ,user,item,timestamp".parse().unwrap();
        assert_eq!((c.user, c.item, c.rating, c.timestamp), (2, 3, 0, Some(4)));
        let err = "user,item,user,rating".parse::<Columns>().unwrap_err();
        assert!(err.to_string().contains("`user` given twice"), "{err}");
        let err = "user,item,score".parse::<Columns>().unwrap_err();
        assert!(err.to_string().contains("unknown column `score`"), "{err}");
        let h = Columns::from_header(&["movie_id", "Rating", "userId", "timestamp"]).unwrap();
        assert_eq!((h.user, h.item, h.rating, h.timestamp), (2, 0, 1, Some(3)));
        assert_eq!(Columns::from_header(&["a", "b", "c"]), None);
    }
}
