//! The settings of a load: the presets of the known formats and the
//! overrides of what detection would tell, each kept as given and checked
//! before anything is read.

use super::detect::{Given, Preset};
use super::format::{Columns, Delimiter, Header, IdKind};
use crate::data::{DataError, Duplicates};

/// Bytes per block of the input parsed apart: large enough that handing
/// one over costs nothing, small enough that every worker gets blocks
/// early and the blocks in flight take little memory.
const BLOCK: usize = 1 << 21;

/// Settings for reading a ratings file; see the [module docs](super).
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
    pub(super) preset: Preset,
    pub(super) delimiter: Option<Delimiter>,
    pub(super) header: Option<Header>,
    pub(super) ids: Option<IdKind>,
    pub(super) columns: Option<Columns>,
    pub(super) duplicates: Duplicates,
    pub(super) range: Option<(f64, f64)>,
    pub(super) keep_timestamps: bool,
    /// `None`: every core.
    pub(super) threads: Option<usize>,
    /// [`BLOCK`], or smaller in tests to cut inputs everywhere.
    pub(super) block: usize,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl LoadOptions {
    /// The settings of a known format, nothing overridden.
    pub(super) fn preset(preset: Preset) -> Self {
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

    /// Format from the content (see the [module docs](super)).
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

    pub(super) fn given(&self) -> Given {
        Given {
            preset: self.preset,
            delimiter: self.delimiter,
            header: self.header,
            ids: self.ids,
            columns: self.columns,
        }
    }

    /// Refuses a setting that cannot be used (`name`: the file, for the error).
    pub(super) fn check(&self, name: &str) -> Result<(), DataError> {
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
}
