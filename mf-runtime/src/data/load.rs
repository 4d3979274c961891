//! Loading ratings from delimited text files.
//!
//! | format                  | preset                          | delimiter | header   | ids      |
//! |-------------------------|---------------------------------|-----------|----------|----------|
//! | MovieLens `u.data`, `u1.base`, `ua.test` | [`LoadOptions::movielens_tab`] | tab | none | integers |
//! | MovieLens `ratings.dat` | [`LoadOptions::movielens_dat`]  | `::`      | none     | integers |
//! | MovieLens `ratings.csv` | [`LoadOptions::movielens_csv`]  | `,`       | `userId,movieId,rating,timestamp` | integers |
//! | generic `user,item,rating[,…]` | [`LoadOptions::delimited`] | any  | none (configurable) | any text |
//!
//! MovieLens lines must have exactly the four fields `user item rating
//! timestamp`, the timestamp an integer (a fifth field is an error); generic
//! lines need at least three fields and extra ones are ignored. Ids read as
//! integers (MovieLens, [`IdKind::Integer`]) must not be negative.
//!
//! [`LoadOptions::new`] (and [`Ratings::load`]) picks the format from the file
//! name: `u.data`, `*.base`, `*.test` → MovieLens tab; `ratings.dat` →
//! MovieLens `::`; `ratings.csv` → MovieLens CSV; other `*.dat` → generic `::`;
//! other `*.csv` → generic `,`; `*.tsv`, `*.data` → generic tab. Other names
//! are an error asking for a delimiter.
//!
//! Every format accepts: a UTF-8 byte-order mark, CRLF line endings, blank
//! lines anywhere (skipped, but counted in line numbers), ASCII spaces around
//! fields, and fields wrapped in double quotes (without delimiters inside).
//! Generic formats assume no header unless told ([`LoadOptions::header`]):
//! guessing would silently skip a malformed first line.
//!
//! Errors name the file, the line and the field (see [`DataError`]); an input
//! with no rating is an error; repeated (user, item) pairs follow the
//! [`Duplicates`] policy, an error naming both lines by default.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use super::error::{DataError, Problem};
use super::ids::RawId;
use super::ratings::{Duplicates, Ratings, RatingsBuilder, Unseen};

/// How fields are separated.
///
/// ```
/// use mf_runtime::data::{Delimiter, LoadOptions};
/// let r = LoadOptions::delimited(Delimiter::Char('|')).parse_str("x", "1|2|3.5\n").unwrap();
/// assert_eq!(r.get_raw(1, 2), Some(3.5));
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
    /// A header when the first non-blank line's rating field is not a
    /// number. Convenient, but a first line with a malformed rating is then
    /// skipped as a header rather than reported.
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
    /// canonical integer; see [`IdMap`](super::IdMap)).
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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Preset {
    Detect,
    MovieLensTab,
    MovieLensDat,
    MovieLensCsv,
    Generic,
}

/// The resolved reading rules for one file.
#[derive(Clone, Copy, Debug)]
struct Spec {
    delimiter: Delimiter,
    header: Header,
    ids: IdKind,
    /// MovieLens: four fields, the fourth an integer timestamp.
    timestamp: bool,
    /// MovieLens CSV: the header must name `userId,movieId,rating`.
    movielens_header: bool,
}

/// Settings for reading a ratings file; see the [module docs](self).
///
/// ```
/// use mf_runtime::data::{Duplicates, LoadOptions};
/// let text = "userId,movieId,rating,timestamp\r\n1,31,2.5,1260759144\r\n1,31,3.0,1260759145\r\n";
/// let r = LoadOptions::movielens_csv()
///     .duplicates(Duplicates::KeepLast)
///     .rating_range(0.5, 5.0)
///     .parse_str("ratings.csv", text)
///     .unwrap();
/// assert_eq!(r.get_raw(1, 31), Some(3.0));
/// ```
#[derive(Clone, Debug)]
pub struct LoadOptions {
    preset: Preset,
    delimiter: Option<Delimiter>,
    header: Option<Header>,
    ids: Option<IdKind>,
    duplicates: Duplicates,
    range: Option<(f64, f64)>,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl LoadOptions {
    fn preset(preset: Preset) -> Self {
        LoadOptions {
            preset,
            delimiter: None,
            header: None,
            ids: None,
            duplicates: Duplicates::Error,
            range: None,
        }
    }

    /// Format from the file name (see the [module docs](self)).
    ///
    /// ```
    /// # use mf_runtime::data::LoadOptions;
    /// let r = LoadOptions::new().parse_str("ratings.dat", "1::1193::5::978300760\n").unwrap();
    /// assert_eq!(r.nnz(), 1);
    /// assert!(LoadOptions::new().parse_str("ratings.xyz", "1 2 3\n").is_err());
    /// ```
    pub fn new() -> Self {
        Self::preset(Preset::Detect)
    }

    /// MovieLens 100k `u.data` and its splits: `user\titem\trating\ttimestamp`.
    ///
    /// ```
    /// # use mf_runtime::data::LoadOptions;
    /// let r = LoadOptions::movielens_tab().parse_str("u.data", "196\t242\t3\t881250949\n").unwrap();
    /// assert_eq!(r.get_raw(196, 242), Some(3.0));
    /// ```
    pub fn movielens_tab() -> Self {
        Self::preset(Preset::MovieLensTab)
    }

    /// MovieLens 1M/10M `ratings.dat`: `user::item::rating::timestamp`.
    ///
    /// ```
    /// # use mf_runtime::data::LoadOptions;
    /// let r = LoadOptions::movielens_dat().parse_str("ratings.dat", "1::1193::5::978300760\n").unwrap();
    /// assert_eq!(r.get_raw(1, 1193), Some(5.0));
    /// ```
    pub fn movielens_dat() -> Self {
        Self::preset(Preset::MovieLensDat)
    }

    /// MovieLens 20M/25M/latest `ratings.csv`, with the header
    /// `userId,movieId,rating,timestamp`.
    ///
    /// ```
    /// # use mf_runtime::data::LoadOptions;
    /// let text = "userId,movieId,rating,timestamp\n1,31,2.5,1260759144\n";
    /// assert_eq!(LoadOptions::movielens_csv().parse_str("ratings.csv", text).unwrap().nnz(), 1);
    /// ```
    pub fn movielens_csv() -> Self {
        Self::preset(Preset::MovieLensCsv)
    }

    /// Generic `user<d>item<d>rating[<d>…]` lines; header
    /// [`Header::Absent`], ids [`IdKind::Text`].
    ///
    /// ```
    /// # use mf_runtime::data::{Delimiter, LoadOptions};
    /// let r = LoadOptions::delimited(Delimiter::Semicolon).parse_str("x", "ann;dune;4\n").unwrap();
    /// assert_eq!(r.get_raw("ann", "dune"), Some(4.0));
    /// ```
    pub fn delimited(delimiter: Delimiter) -> Self {
        Self::preset(Preset::Generic).delimiter(delimiter)
    }

    /// Generic comma-separated lines (`delimited(Delimiter::Comma)`).
    ///
    /// ```
    /// # use mf_runtime::data::LoadOptions;
    /// assert_eq!(LoadOptions::comma().parse_str("x", "a,b,1\nb,a,2\n").unwrap().nnz(), 2);
    /// ```
    pub fn comma() -> Self {
        Self::delimited(Delimiter::Comma)
    }

    /// Generic tab-separated lines (`delimited(Delimiter::Tab)`).
    ///
    /// ```
    /// # use mf_runtime::data::LoadOptions;
    /// assert_eq!(LoadOptions::tab().parse_str("x", "a\tb\t1\n").unwrap().nnz(), 1);
    /// ```
    pub fn tab() -> Self {
        Self::delimited(Delimiter::Tab)
    }

    /// Overrides the delimiter (a detected format becomes generic if it was
    /// not detected as MovieLens).
    ///
    /// ```
    /// # use mf_runtime::data::{Delimiter, LoadOptions};
    /// let r = LoadOptions::new().delimiter(Delimiter::Whitespace).parse_str("x.txt", "1  2 3\n").unwrap();
    /// assert_eq!(r.nnz(), 1);
    /// ```
    pub fn delimiter(mut self, delimiter: Delimiter) -> Self {
        self.delimiter = Some(delimiter);
        self
    }

    /// Overrides the header rule.
    ///
    /// ```
    /// # use mf_runtime::data::{Header, LoadOptions};
    /// let r = LoadOptions::tab().header(Header::Present).parse_str("x", "u\ti\tr\n1\t2\t3\n").unwrap();
    /// assert_eq!(r.nnz(), 1);
    /// ```
    pub fn header(mut self, header: Header) -> Self {
        self.header = Some(header);
        self
    }

    /// Overrides how ids are read.
    ///
    /// ```
    /// # use mf_runtime::data::{IdKind, LoadOptions};
    /// let r = LoadOptions::comma().ids(IdKind::Integer).parse_str("x", "007,1,3\n8,1,4\n").unwrap();
    /// assert_eq!(r.user_ids().index(7), Some(0));
    /// ```
    pub fn ids(mut self, ids: IdKind) -> Self {
        self.ids = Some(ids);
        self
    }

    /// The policy for repeated (user, item) pairs (default: error).
    ///
    /// ```
    /// # use mf_runtime::data::{Duplicates, LoadOptions};
    /// let text = "1,1,1\n1,1,3\n";
    /// let r = LoadOptions::comma().duplicates(Duplicates::Average).parse_str("x", text).unwrap();
    /// assert_eq!(r.get_raw(1, 1), Some(2.0));
    /// let err = LoadOptions::comma().parse_str("x", text).unwrap_err().to_string();
    /// assert!(err.starts_with("x:2: duplicate") && err.contains("line 1"), "{err}");
    /// ```
    pub fn duplicates(mut self, policy: Duplicates) -> Self {
        self.duplicates = policy;
        self
    }

    /// Ratings outside `[min, max]` are an error naming the line.
    ///
    /// ```
    /// # use mf_runtime::data::LoadOptions;
    /// let err = LoadOptions::comma().rating_range(1.0, 5.0).parse_str("x", "1,1,6\n").unwrap_err();
    /// assert_eq!(err.to_string(), "x:1: field `rating` (column 3): 6 is outside the allowed range [1, 5]");
    /// ```
    pub fn rating_range(mut self, min: f64, max: f64) -> Self {
        self.range = Some((min, max));
        self
    }

    /// Reads the file at `path`.
    ///
    /// ```
    /// # use mf_runtime::data::LoadOptions;
    /// let path = std::env::temp_dir().join(format!("mf-doc-load-{}.csv", std::process::id()));
    /// std::fs::write(&path, "ann,dune,4\nbob,dune,3\n").unwrap();
    /// let r = LoadOptions::new().load(&path).unwrap();
    /// assert_eq!(r.get_raw("ann", "dune"), Some(4.0));
    /// std::fs::remove_file(&path).unwrap();
    /// assert!(LoadOptions::new().load(&path).unwrap_err().to_string().contains("cannot read"));
    /// ```
    pub fn load(&self, path: impl AsRef<Path>) -> Result<Ratings, DataError> {
        let path = path.as_ref();
        let name = path.display().to_string();
        let reader = open(path, &name)?;
        self.parse_reader(&name, reader)
    }

    /// Reads text held in memory; `name` stands for the file name, in errors
    /// and for format detection.
    ///
    /// ```
    /// # use mf_runtime::data::LoadOptions;
    /// let r = LoadOptions::new().parse_str("u.data", "\u{feff}1\t2\t3\t4\r\n\r\n").unwrap();
    /// assert_eq!(r.get_raw(1, 2), Some(3.0));
    /// ```
    pub fn parse_str(&self, name: &str, text: &str) -> Result<Ratings, DataError> {
        self.parse_reader(name, text.as_bytes())
    }

    /// Reads from any buffered reader; `name` as in [`parse_str`](Self::parse_str).
    ///
    /// ```
    /// # use mf_runtime::data::LoadOptions;
    /// let r = LoadOptions::comma().parse_reader("x", std::io::Cursor::new("1,2,3\n")).unwrap();
    /// assert_eq!(r.nnz(), 1);
    /// ```
    pub fn parse_reader(&self, name: &str, reader: impl BufRead) -> Result<Ratings, DataError> {
        let builder = RatingsBuilder::new()
            .duplicates(self.duplicates)
            .source(name);
        self.read(name, reader, builder).map(|(r, _)| r)
    }

    /// Reads a test file on the id maps of `train`: entries whose user or
    /// item `train` lacks are left out and counted in the returned [`Unseen`].
    ///
    /// ```
    /// # use mf_runtime::data::LoadOptions;
    /// let opts = LoadOptions::comma();
    /// let train = opts.parse_str("train.csv", "1,1,5\n2,2,3\n").unwrap();
    /// let path = std::env::temp_dir().join(format!("mf-doc-test-{}.csv", std::process::id()));
    /// std::fs::write(&path, "1,2,4\n3,1,2\n3,9,1\n").unwrap();
    /// let (test, unseen) = opts.load_on(&path, &train).unwrap();
    /// std::fs::remove_file(&path).unwrap();
    /// assert_eq!(test.nnz(), 1);
    /// assert_eq!((unseen.users, unseen.items, unseen.entries), (1, 1, 2));
    /// ```
    pub fn load_on(
        &self,
        path: impl AsRef<Path>,
        train: &Ratings,
    ) -> Result<(Ratings, Unseen), DataError> {
        let path = path.as_ref();
        let name = path.display().to_string();
        let reader = open(path, &name)?;
        self.parse_on(&name, reader, train)
    }

    /// [`load_on`](Self::load_on) from a reader.
    ///
    /// ```
    /// # use mf_runtime::data::LoadOptions;
    /// let opts = LoadOptions::comma();
    /// let train = opts.parse_str("train", "1,1,5\n").unwrap();
    /// let (test, unseen) = opts.parse_on("test", "1,1,4\n2,1,1\n".as_bytes(), &train).unwrap();
    /// assert_eq!((test.nnz(), unseen.users), (1, 1));
    /// ```
    pub fn parse_on(
        &self,
        name: &str,
        reader: impl BufRead,
        train: &Ratings,
    ) -> Result<(Ratings, Unseen), DataError> {
        let builder = RatingsBuilder::with_id_maps(train)
            .duplicates(self.duplicates)
            .source(name);
        self.read(name, reader, builder)
    }

    fn spec(&self, name: &str) -> Result<Spec, DataError> {
        let movielens = |delimiter, movielens_header| Spec {
            delimiter,
            header: if movielens_header {
                Header::Present
            } else {
                Header::Absent
            },
            ids: IdKind::Integer,
            timestamp: true,
            movielens_header,
        };
        let generic = |delimiter| Spec {
            delimiter,
            header: Header::Absent,
            ids: IdKind::Text,
            timestamp: false,
            movielens_header: false,
        };
        let preset = match self.preset {
            Preset::Detect => detect(name),
            p => Some(p),
        };
        let mut spec = match (preset, self.delimiter) {
            (Some(Preset::MovieLensTab), _) => movielens(Delimiter::Tab, false),
            (Some(Preset::MovieLensDat), _) => movielens(Delimiter::DoubleColon, false),
            (Some(Preset::MovieLensCsv), _) => movielens(Delimiter::Comma, true),
            (_, Some(d)) => generic(d),
            (Some(Preset::Generic | Preset::Detect) | None, None) => {
                match generic_delimiter(name) {
                    Some(d) => generic(d),
                    None => return Err(DataError::UnknownFormat { file: name.into() }),
                }
            }
        };
        if let Some(d) = self.delimiter {
            spec.delimiter = d;
        }
        if let Some(h) = self.header {
            spec.header = h;
        }
        if let Some(ids) = self.ids {
            spec.ids = ids;
        }
        Ok(spec)
    }

    fn read(
        &self,
        name: &str,
        mut reader: impl BufRead,
        mut builder: RatingsBuilder,
    ) -> Result<(Ratings, Unseen), DataError> {
        let spec = self.spec(name)?;
        let mut buf = Vec::new();
        let mut line_no = 0usize;
        let mut seen_content = false;
        let mut header_line = None;
        let mut any_bytes = false;
        loop {
            buf.clear();
            let n = reader
                .read_until(b'\n', &mut buf)
                .map_err(|source| DataError::Io {
                    file: name.into(),
                    source,
                })?;
            if n == 0 {
                break;
            }
            any_bytes = true;
            line_no += 1;
            let text = std::str::from_utf8(&buf).map_err(|e| DataError::Line {
                file: name.into(),
                line: line_no,
                message: format!("not valid UTF-8 (byte {})", e.valid_up_to() + 1),
            })?;
            let text = if line_no == 1 {
                text.strip_prefix('\u{feff}').unwrap_or(text)
            } else {
                text
            };
            let text = text.trim_end_matches(['\n', '\r']);
            if text.trim().is_empty() {
                continue;
            }
            let fields = Fields::split(text, spec.delimiter);
            if !seen_content {
                seen_content = true;
                let is_header = match spec.header {
                    Header::Absent => false,
                    Header::Present => true,
                    Header::Auto => fields.get(2).is_none_or(|r| r.parse::<f64>().is_err()),
                };
                if is_header {
                    if spec.movielens_header {
                        check_movielens_header(name, line_no, text)?;
                    }
                    header_line = Some(line_no);
                    continue;
                }
            }
            let line = Line {
                file: name,
                line: line_no,
                fields: &fields,
            };
            let user = line.id(0, "user", spec.ids)?;
            let item = line.id(1, "item", spec.ids)?;
            let rating = line.rating(self.range)?;
            if spec.timestamp {
                line.integer(3, "timestamp")?;
                if fields.count > 4 {
                    return Err(DataError::Line {
                        file: name.into(),
                        line: line_no,
                        message: format!(
                            "{} fields, but a MovieLens line has 4 (user, item, rating, timestamp)",
                            fields.count
                        ),
                    });
                }
            }
            builder.push_line(line_no, user, item, rating);
        }
        if builder.pushed() == 0 {
            let reason = match (any_bytes, header_line) {
                (false, _) => "the file is empty".to_string(),
                (true, Some(h)) => format!("only a header (line {h})"),
                (true, None) => "only blank lines".to_string(),
            };
            return Err(DataError::Empty {
                file: name.into(),
                reason,
            });
        }
        let unseen = builder.unseen();
        Ok((builder.build()?, unseen))
    }
}

impl Ratings {
    /// Reads a ratings file, its format picked from the name
    /// (`LoadOptions::new().load(path)`; see [`LoadOptions`]).
    ///
    /// ```
    /// use mf_runtime::data::Ratings;
    /// let path = std::env::temp_dir().join(format!("mf-doc-ratings-{}.csv", std::process::id()));
    /// std::fs::write(&path, "1,10,4.5\n2,10,3\n").unwrap();
    /// let r = Ratings::load(&path).unwrap();
    /// std::fs::remove_file(&path).unwrap();
    /// assert_eq!((r.num_users(), r.num_items()), (2, 1));
    /// ```
    pub fn load(path: impl AsRef<Path>) -> Result<Ratings, DataError> {
        LoadOptions::new().load(path)
    }

    /// Reads a MovieLens file: `u.data`, `u1.base`… (tab), `ratings.dat`
    /// (`::`) or `ratings.csv`; any other name is an error.
    ///
    /// ```
    /// use mf_runtime::data::Ratings;
    /// let dir = std::env::temp_dir().join(format!("mf-doc-ml-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// std::fs::write(dir.join("u.data"), "196\t242\t3\t881250949\n").unwrap();
    /// let r = Ratings::from_movielens(dir.join("u.data")).unwrap();
    /// std::fs::remove_dir_all(&dir).unwrap();
    /// assert_eq!(r.get_raw(196, 242), Some(3.0));
    /// assert!(Ratings::from_movielens("ratings.json").is_err());
    /// ```
    pub fn from_movielens(path: impl AsRef<Path>) -> Result<Ratings, DataError> {
        let path = path.as_ref();
        let name = path.display().to_string();
        match detect(&name) {
            Some(p @ (Preset::MovieLensTab | Preset::MovieLensDat | Preset::MovieLensCsv)) => {
                LoadOptions::preset(p).load(path)
            }
            _ => Err(DataError::UnknownFormat { file: name }),
        }
    }
}

fn open(path: &Path, name: &str) -> Result<BufReader<File>, DataError> {
    let file = File::open(path).map_err(|source| DataError::Io {
        file: name.into(),
        source,
    })?;
    Ok(BufReader::with_capacity(1 << 16, file))
}

fn file_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    base.to_ascii_lowercase()
}

/// The MovieLens preset a file name implies, or `Generic` for a known
/// generic extension.
fn detect(name: &str) -> Option<Preset> {
    let base = file_name(name);
    if base == "u.data" || base.ends_with(".base") || base.ends_with(".test") {
        Some(Preset::MovieLensTab)
    } else if base == "ratings.dat" {
        Some(Preset::MovieLensDat)
    } else if base == "ratings.csv" {
        Some(Preset::MovieLensCsv)
    } else {
        generic_delimiter(name).map(|_| Preset::Generic)
    }
}

fn generic_delimiter(name: &str) -> Option<Delimiter> {
    let base = file_name(name);
    let ext = base.rsplit_once('.').map(|(_, e)| e)?;
    match ext {
        "csv" => Some(Delimiter::Comma),
        "tsv" | "data" => Some(Delimiter::Tab),
        "dat" => Some(Delimiter::DoubleColon),
        _ => None,
    }
}

fn check_movielens_header(file: &str, line: usize, text: &str) -> Result<(), DataError> {
    let names: Vec<&str> = text.split(',').map(unquote).collect();
    if names.len() >= 3 && names[..3] == ["userId", "movieId", "rating"] {
        Ok(())
    } else {
        Err(DataError::Line {
            file: file.into(),
            line,
            message: format!(
                "expected the header `userId,movieId,rating,timestamp`, found `{text}`"
            ),
        })
    }
}

fn unquote(field: &str) -> &str {
    let field = field.trim_matches([' ', '\t']);
    field
        .strip_prefix('"')
        .and_then(|f| f.strip_suffix('"'))
        .unwrap_or(field)
}

/// The first four fields of a line and how many it has.
struct Fields<'a> {
    first: [&'a str; 4],
    count: usize,
}

impl<'a> Fields<'a> {
    fn split(text: &'a str, delimiter: Delimiter) -> Self {
        let mut fields = Fields {
            first: [""; 4],
            count: 0,
        };
        let mut put = |f: &'a str| {
            if fields.count < 4 {
                fields.first[fields.count] = unquote(f);
            }
            fields.count += 1;
        };
        match delimiter {
            Delimiter::Tab => text.split('\t').for_each(&mut put),
            Delimiter::Comma => text.split(',').for_each(&mut put),
            Delimiter::Semicolon => text.split(';').for_each(&mut put),
            Delimiter::Char(c) => text.split(c).for_each(&mut put),
            Delimiter::DoubleColon => text.split("::").for_each(&mut put),
            Delimiter::Whitespace => text.split_ascii_whitespace().for_each(&mut put),
        }
        fields
    }

    fn get(&self, k: usize) -> Option<&'a str> {
        (k < self.count.min(4)).then(|| self.first[k])
    }
}

/// One data line, for parsing its fields with errors that say where.
struct Line<'a> {
    file: &'a str,
    line: usize,
    fields: &'a Fields<'a>,
}

impl<'a> Line<'a> {
    fn error(&self, column: usize, field: &'static str, problem: Problem) -> DataError {
        DataError::Field {
            file: self.file.into(),
            line: self.line,
            field,
            column: column + 1,
            problem,
        }
    }

    fn field(&self, column: usize, name: &'static str) -> Result<&'a str, DataError> {
        let text = self.fields.get(column).ok_or_else(|| {
            self.error(
                column,
                name,
                Problem::Missing {
                    found: self.fields.count,
                },
            )
        })?;
        if text.is_empty() {
            return Err(self.error(column, name, Problem::Empty));
        }
        Ok(text)
    }

    fn integer(&self, column: usize, name: &'static str) -> Result<i64, DataError> {
        let text = self.field(column, name)?;
        text.parse()
            .map_err(|_| self.error(column, name, Problem::NotAnInteger(text.into())))
    }

    fn id(&self, column: usize, name: &'static str, kind: IdKind) -> Result<RawId<'a>, DataError> {
        match kind {
            IdKind::Integer => match self.integer(column, name)? {
                v if v < 0 => Err(self.error(column, name, Problem::Negative(v))),
                v => Ok(RawId::Int(v)),
            },
            IdKind::Text => self.field(column, name).map(RawId::Str),
        }
    }

    fn rating(&self, range: Option<(f64, f64)>) -> Result<f64, DataError> {
        let (column, name) = (2, "rating");
        let text = self.field(column, name)?;
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
}
