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
//! (user, item) pairs follow the [`Duplicates`](crate::data::Duplicates) policy, an error naming both
//! lines by default.

mod cut;
mod detect;
mod fields;
mod format;
mod input;
mod netflix;
mod options;
mod pipeline;
mod records;
mod rows;
mod side;

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use super::error::DataError;
use super::ratings::{Ratings, RatingsBuilder, Unseen};
use cut::{Blocks, Records};
use detect::Layout;
pub use format::{Columns, Delimiter, Header, IdKind};
use netflix::Netflix;
pub use options::LoadOptions;
use pipeline::Plan;
use rows::Rows;

impl LoadOptions {
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
