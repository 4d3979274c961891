//! Errors of the data layer.
//!
//! Every error that comes from a file names the file, and where it can, the
//! line (1-based, counting the header and blank lines) and the field, in the
//! form compilers use: `ratings.csv:12: field `rating` (column 3): `abc` is
//! not a number`. Errors from data built in memory name the source given to
//! the builder (`<triplets>` by default) and the entry number instead.
//! Text quoted from a file shows control characters escaped (`\r`, `\0`,
//! `\u{1b}`), so a message never moves the cursor or garbles a terminal.

use std::fmt;
use std::io;

/// What is wrong with one field of a line.
///
/// ```
/// use mf_runtime::data::Problem;
/// let p = Problem::NotANumber("abc".into());
/// assert_eq!(p.to_string(), "`abc` is not a number");
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Problem {
    /// The line has too few fields; `found` is how many it has.
    Missing {
        /// Number of fields on the line.
        found: usize,
    },
    /// The field is empty.
    Empty,
    /// The text does not parse as a number.
    NotANumber(String),
    /// The number is NaN or infinite.
    NotFinite(String),
    /// The text is not an integer (ids that must be integers, timestamps).
    NotAnInteger(String),
    /// An id read as an integer is negative.
    Negative(i64),
    /// The field is not valid UTF-8; `byte` is the 1-based offset of the
    /// first invalid byte within the field.
    NotUtf8 {
        /// 1-based byte offset in the field.
        byte: usize,
    },
    /// The text is not a calendar date `YYYY-MM-DD`.
    NotADate(String),
    /// The text is not among the values the field allows (a gender other
    /// than `M` or `F`, a flag other than `0` or `1`, …).
    Unexpected {
        /// The text found.
        text: String,
        /// What the field must be, e.g. `M or F`.
        expected: &'static str,
    },
    /// The rating lies outside the range given to the loader.
    OutOfRange {
        /// The rating read.
        value: f64,
        /// Smallest allowed rating.
        min: f64,
        /// Largest allowed rating.
        max: f64,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Missing { found } => {
                write!(f, "missing (the line has only {found} field")?;
                f.write_str(if *found == 1 { ")" } else { "s)" })
            }
            Problem::Empty => f.write_str("empty"),
            Problem::NotANumber(t) => write!(f, "`{}` is not a number", escaped(t)),
            Problem::NotFinite(t) => write!(f, "`{}` is not a finite number", escaped(t)),
            Problem::NotAnInteger(t) => {
                write!(
                    f,
                    "`{}` is not an integer (in the 64-bit range)",
                    escaped(t)
                )
            }
            Problem::NotUtf8 { byte } => write!(f, "not valid UTF-8 (byte {byte})"),
            Problem::NotADate(t) => write!(f, "`{}` is not a date YYYY-MM-DD", escaped(t)),
            Problem::Unexpected { text, expected } => {
                write!(f, "`{}` is not {expected}", escaped(text))
            }
            Problem::Negative(v) => write!(f, "`{v}` is negative (ids must be ≥ 0)"),
            Problem::OutOfRange { value, min, max } => {
                write!(f, "{value} is outside the allowed range [{min}, {max}]")
            }
        }
    }
}

/// `text` with control characters escaped: `\r`, `\n`, `\t`, `\0`, and
/// `\u{…}` for the others.
///
/// ```
/// use mf_runtime::data::Problem;
/// let p = Problem::NotANumber("4\r2".into());
/// assert_eq!(p.to_string(), r"`4\r2` is not a number");
/// ```
pub(crate) fn escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\0' => out.push_str("\\0"),
            c if c.is_control() => out.extend(c.escape_unicode()),
            c => out.push(c),
        }
    }
    out
}

/// An error reading or assembling ratings.
///
/// `Debug` shows the same message as `Display`, so that a `main` returning
/// `Result<(), Box<dyn Error>>` prints the message, not the fields; match on
/// the variants to read them.
///
/// ```
/// use mf_runtime::data::{DataError, LoadOptions};
/// let err = LoadOptions::comma().parse_str("mine.csv", "1,2,five\n").unwrap_err();
/// assert!(matches!(err, DataError::Field { line: 1, field: "rating", .. }));
/// assert_eq!(err.to_string(), "mine.csv:1: field `rating` (column 3): `five` is not a number");
/// assert_eq!(format!("{err:?}"), err.to_string());
/// ```
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// The file could not be opened or read.
    #[error("{file}: cannot read: {source}")]
    Io {
        /// The file.
        file: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The file could not be created or written.
    #[error("{file}: cannot write: {source}")]
    Write {
        /// The file (`<writer>` for a writer given in memory).
        file: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// One field of one line is wrong.
    #[error("{file}:{line}: field `{field}` (column {column}): {problem}")]
    Field {
        /// The file.
        file: String,
        /// 1-based line number.
        line: usize,
        /// Name of the field: `user`, `item`, `rating`, `timestamp`.
        field: &'static str,
        /// 1-based column of the field.
        column: usize,
        /// What is wrong.
        problem: Problem,
    },
    /// A line is wrong as a whole (a bad header, more or fewer fields than
    /// the first line, a Netflix rating before any movie line).
    #[error("{file}:{line}: {message}")]
    Line {
        /// The file.
        file: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The input holds no rating.
    #[error("{file}: no ratings: {reason}")]
    Empty {
        /// The file.
        file: String,
        /// `the file is empty`, `only a header`, `only blank lines`, …
        reason: String,
    },
    /// An attribute file describes no id (it is empty or blank).
    #[error("{file}: no attributes: the file describes no id")]
    NoAttributes {
        /// The file.
        file: String,
    },
    /// The same (user, item) pair is rated twice under [`Duplicates::Error`](super::Duplicates::Error).
    #[error(
        "{file}:{second}: duplicate rating for user `{user}` and item `{item}` \
         (first given at {unit} {first}); choose a Duplicates policy \
         (KeepFirst, KeepLast, Average) to accept repeats"
    )]
    Duplicate {
        /// The file.
        file: String,
        /// Raw user id.
        user: String,
        /// Raw item id.
        item: String,
        /// `line` for files, `entry` for data pushed in memory.
        unit: &'static str,
        /// Line (or entry) of the first rating of the pair, 1-based.
        first: usize,
        /// Line (or entry) of the repeat, 1-based.
        second: usize,
    },
    /// A value given in memory is wrong (non-finite rating, index out of range).
    #[error("{file}: entry {entry}: {message}")]
    Entry {
        /// The source name given to the builder.
        file: String,
        /// 1-based entry number.
        entry: usize,
        /// What is wrong.
        message: String,
    },
    /// The loader cannot tell the format of the file from its content.
    #[error(
        "{file}: cannot tell the format: {reason}; give the delimiter with \
         LoadOptions::delimiter (`--delimiter` in the examples)"
    )]
    UnknownFormat {
        /// The file.
        file: String,
        /// What was looked for and not found.
        reason: String,
    },
    /// A loader setting is invalid (a NaN or inverted rating range); named
    /// with the file the load was for.
    #[error("{file}: {setting}: {message}")]
    Setting {
        /// The file being loaded.
        file: String,
        /// The setting, e.g. `LoadOptions::rating_range`.
        setting: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A time-ordered split of ratings that have no timestamps.
    #[error(
        "{split}: the ratings have no timestamps; load a file that has them \
         (MovieLens, Netflix, or a `timestamp` column: LoadOptions::columns, \
         `--columns user,item,rating,timestamp` in the examples) with \
         LoadOptions::keep_timestamps left on"
    )]
    NoTimestamps {
        /// The split asked for, e.g. `Ratings::split_latest_per_user`.
        split: &'static str,
    },
    /// A setting or request is invalid (a split fraction outside (0, 1), k < 2, …).
    #[error("invalid argument: {0}")]
    Invalid(String),
}

debug_as_display!(DataError);
