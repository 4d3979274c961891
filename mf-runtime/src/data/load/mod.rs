//! Loading ratings from text files: the [`LoadOptions`] API, and the read
//! loop that turns records into a [`Ratings`].
//!
//! | format                  | preset                          | delimiter | header   | ids      |
//! |-------------------------|---------------------------------|-----------|----------|----------|
//! | MovieLens `u.data`, `u1.base`, `ua.test` | [`LoadOptions::movielens_tab`] | tab | none | integers |
//! | MovieLens `ratings.dat` | [`LoadOptions::movielens_dat`]  | `::`      | none     | integers |
//! | MovieLens `ratings.csv` | [`LoadOptions::movielens_csv`]  | `,`       | `userId,movieId,rating,timestamp` or none | integers |
//! | Netflix Prize `combined_data_*.txt` | [`LoadOptions::netflix`] | `MovieID:` lines, then `CustomerID,Rating,Date` | none | integers |
//! | generic `user,item,rating[,…]` | [`LoadOptions::delimited`] | any | detected (configurable) | any text |
//!
//! MovieLens lines must have exactly the four fields `user item rating
//! timestamp`, the timestamp an integer. Generic lines need the user, item
//! and rating columns ([`Columns`], by default the first three; a header
//! naming them, e.g. `movieId,userId,rating`, sets them), and every line as
//! many fields as the first: a line with more or fewer is an error. Ids read
//! as integers (MovieLens, Netflix, [`IdKind::Integer`]) must not be
//! negative. Netflix dates must be real days `YYYY-MM-DD`.
//!
//! Timestamps are kept ([`Ratings::timestamps`], seconds since the Unix
//! epoch) when the file has them: MovieLens's fourth field, Netflix's date
//! (its midnight, UTC), a generic file's `timestamp` column (named by its
//! header or by [`LoadOptions::columns`]). [`LoadOptions::keep_timestamps`]
//! drops them (they are still checked).
//!
//! [`LoadOptions::new`] (and [`Ratings::load`]) reads the format from the
//! first lines, whatever the file is called: a `MovieID:` line is Netflix;
//! the header `userId,movieId,rating,…` is MovieLens CSV; `::` with four
//! integer fields is MovieLens `ratings.dat`; otherwise the delimiter is the
//! most frequent of tab, comma, semicolon and `|` outside quotes (else runs
//! of spaces, else the extension: `.csv`, `.tsv`, `.dat`). A file named like
//! MovieLens (`u.data`, `*.base`, `*.test`, `ratings.dat`, `ratings.csv`)
//! whose delimiter matches is read as MovieLens. The header is detected
//! ([`Header::Auto`]) unless declared.
//!
//! Every format accepts gzip-compressed input (recognised by its first bytes,
//! not by a `.gz` name), a UTF-8 byte-order mark, `\n`, `\r\n` and bare `\r`
//! line endings, blank lines anywhere (skipped, but counted in line numbers)
//! and ASCII spaces around fields. Single-byte delimiters are parsed by the
//! `csv` crate: RFC 4180 quoting, so `"Smith, J"` is one field and `""` a
//! quote inside a quoted field.
//!
//! Errors name the file, the line and the field (see [`DataError`]), with
//! control characters escaped; an input with no rating is an error; repeated
//! (user, item) pairs follow the [`Duplicates`] policy, an error naming both
//! lines by default.

mod cut;
mod detect;
mod fields;
mod format;
mod input;
mod netflix;
mod pipeline;
mod records;
mod rows;
mod side;

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use super::error::DataError;
use super::ratings::{Duplicates, Ratings, RatingsBuilder, Unseen};
use cut::{Blocks, Records};
use detect::{Given, Layout, Preset};
pub use format::{Columns, Delimiter, Header, IdKind};
use netflix::Netflix;
use pipeline::Plan;
use rows::Rows;

/// Bytes per block of the input parsed apart: large enough that handing
/// one over costs nothing, small enough that every worker gets blocks
/// early and the blocks in flight take little memory.
const BLOCK: usize = 1 << 21;

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
    columns: Option<Columns>,
    duplicates: Duplicates,
    range: Option<(f64, f64)>,
    keep_timestamps: bool,
    /// `None`: every core.
    threads: Option<usize>,
    /// [`BLOCK`], or smaller in tests to cut inputs everywhere.
    block: usize,
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
            columns: None,
            duplicates: Duplicates::Error,
            range: None,
            keep_timestamps: true,
            threads: None,
            block: BLOCK,
        }
    }

    /// Format from the content (see the [module docs](self)).
    ///
    /// ```
    /// # use mf_runtime::data::LoadOptions;
    /// let r = LoadOptions::new().parse_str("ratings.dat", "1::1193::5::978300760\n").unwrap();
    /// assert_eq!(r.nnz(), 1);
    /// let text = "userId,movieId,rating,timestamp\n1,31,2.5,1260759144\n";
    /// assert_eq!(LoadOptions::new().parse_str("mydata.csv", text).unwrap().get_raw(1, 31), Some(2.5));
    /// assert!(LoadOptions::new().parse_str("ratings.xyz", "1-2-3\n").is_err());
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
    /// `userId,movieId,rating,timestamp` or none.
    ///
    /// ```
    /// # use mf_runtime::data::LoadOptions;
    /// let text = "userId,movieId,rating,timestamp\n1,31,2.5,1260759144\n";
    /// assert_eq!(LoadOptions::movielens_csv().parse_str("ratings.csv", text).unwrap().nnz(), 1);
    /// let headerless = "1,31,2.5,1260759144\n";
    /// assert_eq!(LoadOptions::movielens_csv().parse_str("ratings.csv", headerless).unwrap().nnz(), 1);
    /// ```
    pub fn movielens_csv() -> Self {
        Self::preset(Preset::MovieLensCsv)
    }

    /// The Netflix Prize layout: a `MovieID:` line, then that movie's
    /// `CustomerID,Rating,Date` lines (integer ids, dates `YYYY-MM-DD`).
    /// Users are customers, items movies.
    ///
    /// ```
    /// # use mf_runtime::data::LoadOptions;
    /// let text = "1:\n1488844,3,2005-09-06\n822109,5,2005-05-13\n2:\n1488844,4,2005-11-01\n";
    /// let r = LoadOptions::netflix().parse_str("combined_data_1.txt", text).unwrap();
    /// assert_eq!((r.num_users(), r.num_items(), r.get_raw(1488844, 2)), (2, 2, Some(4.0)));
    /// let err = LoadOptions::netflix().parse_str("n.txt", "1:\n6,3,2005-02-30\n").unwrap_err();
    /// assert_eq!(err.to_string(), "n.txt:2: field `date` (column 3): `2005-02-30` is not a date YYYY-MM-DD");
    /// ```
    pub fn netflix() -> Self {
        Self::preset(Preset::Netflix)
    }

    /// Generic `user<d>item<d>rating[<d>…]` lines; header
    /// [`Header::Auto`], ids [`IdKind::Text`].
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
    /// not detected as MovieLens). `"…".parse::<Delimiter>()` reads one
    /// from a command-line value.
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

    /// Which columns hold the user, the item, the rating (and a timestamp)
    /// in delimited formats (the Netflix layout is fixed);
    /// `"item,user,rating".parse::<Columns>()` reads them from a
    /// command-line value.
    ///
    /// ```
    /// # use mf_runtime::data::LoadOptions;
    /// let opts = LoadOptions::tab().columns("rating,item,user".parse().unwrap());
    /// assert_eq!(opts.parse_str("x", "4\tdune\tann\n").unwrap().get_raw("ann", "dune"), Some(4.0));
    /// ```
    pub fn columns(mut self, columns: Columns) -> Self {
        self.columns = Some(columns);
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

    /// Ratings outside `[min, max]` are an error naming the line. A NaN
    /// bound or `min > max` makes every load fail, naming this setting.
    ///
    /// ```
    /// # use mf_runtime::data::LoadOptions;
    /// let err = LoadOptions::comma().rating_range(1.0, 5.0).parse_str("x", "1,1,6\n").unwrap_err();
    /// assert_eq!(err.to_string(), "x:1: field `rating` (column 3): 6 is outside the allowed range [1, 5]");
    /// let err = LoadOptions::comma().rating_range(5.0, 1.0).parse_str("x", "1,1,3\n").unwrap_err();
    /// assert_eq!(
    ///     err.to_string(),
    ///     "x: LoadOptions::rating_range: [5, 1]: the bounds must be numbers with min ≤ max"
    /// );
    /// ```
    pub fn rating_range(mut self, min: f64, max: f64) -> Self {
        self.range = Some((min, max));
        self
    }

    /// Whether timestamps are kept when the file has them (default: yes).
    /// Dropping them saves 8 bytes per rating; they are checked either way.
    ///
    /// ```
    /// # use mf_runtime::data::LoadOptions;
    /// let text = "1\t2\t3\t881250949\n";
    /// assert_eq!(LoadOptions::new().parse_str("u.data", text).unwrap().timestamps(), Some(&[881250949][..]));
    /// let r = LoadOptions::new().keep_timestamps(false).parse_str("u.data", text).unwrap();
    /// assert_eq!(r.timestamps(), None);
    /// ```
    pub fn keep_timestamps(mut self, keep: bool) -> Self {
        self.keep_timestamps = keep;
        self
    }

    /// How many threads parse the file (default: one per core, as
    /// [`std::thread::available_parallelism`] counts them). With more than
    /// one, the caller's thread reads the input in blocks of whole records
    /// (a few MiB), the threads parse blocks and list each block's distinct
    /// ids, one more maps those ids in file order, and as many threads sort
    /// the entries into CSR at the end: the result, errors included, is the
    /// one a single thread gives. `threads(1)` reads, parses and maps on
    /// the caller's thread, and sorts on one thread.
    /// 0 makes every load fail, naming this setting.
    ///
    /// ```
    /// # use mf_runtime::data::LoadOptions;
    /// let text = "1,1,5\n2,1,3\n";
    /// let r = LoadOptions::comma().threads(1).parse_str("x", text).unwrap();
    /// assert_eq!(r, LoadOptions::comma().threads(4).parse_str("x", text).unwrap());
    /// let err = LoadOptions::comma().threads(0).parse_str("x", text).unwrap_err();
    /// assert_eq!(err.to_string(), "x: LoadOptions::threads: 0: at least one thread parses");
    /// ```
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = Some(threads);
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

    fn given(&self) -> Given {
        Given {
            preset: self.preset,
            delimiter: self.delimiter,
            header: self.header,
            ids: self.ids,
            columns: self.columns,
        }
    }

    fn check(&self, name: &str) -> Result<(), DataError> {
        if let Some((min, max)) = self.range {
            if min.is_nan() || max.is_nan() || min > max {
                return Err(DataError::Setting {
                    file: name.into(),
                    setting: "LoadOptions::rating_range",
                    message: format!("[{min}, {max}]: the bounds must be numbers with min ≤ max"),
                });
            }
        }
        if self.threads == Some(0) {
            return Err(DataError::Setting {
                file: name.into(),
                setting: "LoadOptions::threads",
                message: "0: at least one thread parses".into(),
            });
        }
        Ok(())
    }

    fn read(
        &self,
        name: &str,
        reader: impl BufRead,
        builder: RatingsBuilder,
    ) -> Result<(Ratings, Unseen), DataError> {
        self.check(name)?;
        let io = |source| DataError::Io {
            file: name.into(),
            source,
        };
        let mut input = input::normalize(reader).map_err(io)?;
        let empty = input.fill_buf().map_err(io)?.is_empty();
        let head = input::peek_lines(&mut input, 2).map_err(io)?;
        let spec = detect::resolve(&self.given(), name, &head)?;
        let plan = Plan {
            threads: self.threads.unwrap_or_else(|| {
                std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
            }),
            keep_times: self.keep_timestamps,
        };
        let (builder, header_line) = match spec.layout {
            Layout::Netflix => {
                let blocks = Blocks::new(name, input, Records::Lines, self.block);
                let parser = Netflix::new(name, self.range);
                (pipeline::run(blocks, parser, builder, plan)?.0, None)
            }
            Layout::Delimited(delimiter) => {
                let records = delimiter.byte().map_or(Records::Lines, Records::Quoted);
                let blocks = Blocks::new(name, input, records, self.block);
                let parser = Rows::new(name, spec, delimiter, self.range);
                let (builder, rows) = pipeline::run(blocks, parser, builder, plan)?;
                (builder, rows.header_line())
            }
        };
        if builder.pushed() == 0 {
            let reason = match (empty, header_line) {
                (true, _) => "the file is empty".to_string(),
                (false, Some(h)) => format!("only a header (line {h})"),
                (false, None) => "only blank lines".to_string(),
            };
            return Err(DataError::Empty {
                file: name.into(),
                reason,
            });
        }
        let unseen = builder.unseen();
        // The sort into CSR runs on rayon's threads: as many as parse.
        if plan.threads == rayon::current_num_threads() {
            return Ok((builder.build()?, unseen));
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(plan.threads)
            .build()
            .map_err(|e| DataError::Io {
                file: name.into(),
                source: std::io::Error::other(e),
            })?;
        Ok((pool.install(|| builder.build())?, unseen))
    }
}

impl Ratings {
    /// Reads a ratings file, its format detected from the content
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
        match detect::movielens_by_name(&name) {
            Some(preset) => LoadOptions::preset(preset).load(path),
            None => Err(DataError::UnknownFormat {
                file: name,
                reason: "Ratings::from_movielens reads files named u.data, *.base, *.test, \
                         ratings.dat or ratings.csv (optionally .gz); LoadOptions::new detects \
                         the format of others"
                    .into(),
            }),
        }
    }
}

/// The seconds since the Unix epoch of the midnight (UTC) that starts a
/// date `YYYY-MM-DD`: how Netflix dates are kept, and a cut-off for
/// [`Ratings::split_at_time`].
///
/// # Errors
/// [`DataError::Invalid`] for text that is not a real day `YYYY-MM-DD`.
///
/// ```
/// use mf_runtime::data::timestamp_of_date;
/// assert_eq!(timestamp_of_date("1998-03-01").unwrap(), 888_710_400);
/// assert!(timestamp_of_date("1998-02-30").is_err());
/// ```
pub fn timestamp_of_date(date: &str) -> Result<i64, DataError> {
    fields::parse_date(date).ok_or_else(|| {
        DataError::Invalid(format!(
            "`{}` is not a date YYYY-MM-DD",
            crate::data::error::escaped(date)
        ))
    })
}

fn open(path: &Path, name: &str) -> Result<BufReader<File>, DataError> {
    let file = File::open(path).map_err(|source| DataError::Io {
        file: name.into(),
        source,
    })?;
    Ok(BufReader::with_capacity(1 << 16, file))
}
