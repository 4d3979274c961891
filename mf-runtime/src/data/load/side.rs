//! Loaders of side information, MovieLens's attribute files, into
//! [`Features`] aligned with a ratings id map: `u.user` (age, gender,
//! occupation, zip code), `u.item` (genres, release date) and the
//! `movies.csv` genres of the later MovieLens sets.

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use csv::ByteRecord;

use super::fields::{is_blank, Line};
use super::format::{Delimiter, IdKind};
use super::input;
use super::records;
use crate::data::error::Problem;
use crate::data::features::Attribute;
use crate::data::{DataError, Features, IdMap};

/// The MovieLens 1M age groups, used as the buckets of `u.user`'s ages.
const AGE_BUCKETS: [&str; 7] = ["<18", "18-24", "25-34", "35-44", "45-49", "50-55", "56+"];

/// The nineteen genres of `u.item`, in the file's column order (`u.genre`).
const ML100K_GENRES: [&str; 19] = [
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
];

/// The decades of release dates, the buckets of `u.item`'s dates.
const DECADES: [&str; 5] = ["<1960", "1960s", "1970s", "1980s", "1990s+"];

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// One attribute file being read: the rows it describes, and where.
struct Described<'a> {
    file: &'a str,
    ids: &'a IdMap,
    /// The line that described each row.
    lines: HashMap<u32, usize>,
    unused: usize,
}

impl<'a> Described<'a> {
    /// No line read yet, for the rows of `ids`.
    fn new(file: &'a str, ids: &'a IdMap) -> Self {
        Described {
            file,
            ids,
            lines: HashMap::new(),
            unused: 0,
        }
    }

    /// The row of the id in `column` of `at`, `None` when the map lacks
    /// it; an error when another line described it.
    fn row(
        &mut self,
        at: &Line<'_>,
        column: usize,
        field: &'static str,
    ) -> Result<Option<usize>, DataError> {
        let id = at.id(column, field, IdKind::Integer)?;
        let Some(row) = self.ids.index(id) else {
            self.unused += 1;
            return Ok(None);
        };
        if let Some(first) = self.lines.insert(row, at.line) {
            return Err(DataError::Line {
                file: self.file.into(),
                line: at.line,
                message: format!("{field} `{id}` is described twice (first at line {first})"),
            });
        }
        Ok(Some(row as usize))
    }

    fn features(self, attributes: &[Attribute]) -> Result<Features, DataError> {
        if self.lines.is_empty() && self.unused == 0 {
            return Err(DataError::NoAttributes {
                file: self.file.into(),
            });
        }
        let mut described = vec![false; self.ids.len()];
        for &row in self.lines.keys() {
            described[row as usize] = true;
        }
        Ok(Features::encode(
            self.ids,
            attributes,
            &described,
            self.unused,
        ))
    }
}

/// Calls `each` on every non-blank line of the file at `path`, split on
/// `delimiter` (gzip, BOM and line endings handled as for ratings), after
/// checking it has `width` fields (`layout` names them in the error).
fn for_each_line(
    path: &Path,
    delimiter: Delimiter,
    width: usize,
    layout: &str,
    mut each: impl FnMut(&Line<'_>) -> Result<(), DataError>,
) -> Result<(), DataError> {
    let file = path.display().to_string();
    let io = |source| DataError::Io {
        file: file.clone(),
        source,
    };
    let reader = std::fs::File::open(path).map_err(io)?;
    let mut text = Vec::new();
    input::normalize(std::io::BufReader::new(reader))
        .and_then(|mut input| input.read_to_end(&mut text))
        .map_err(io)?;
    records::for_each(&file, &text, 1, delimiter, |line, fields: &ByteRecord| {
        if is_blank(fields) {
            return Ok(());
        }
        if fields.len() != width {
            return Err(DataError::Line {
                file: file.clone(),
                line,
                message: format!("{} fields, but {layout}", fields.len()),
            });
        }
        each(&Line {
            file: &file,
            line,
            fields,
        })
    })
}

impl Line<'_> {
    /// A field that must be one of `allowed`'s texts, or an error saying
    /// what it should be.
    fn one_of(
        &self,
        column: usize,
        name: &'static str,
        allowed: &[&str],
        expected: &'static str,
    ) -> Result<String, DataError> {
        let text = self.text(column, name)?;
        match allowed.contains(&text) {
            true => Ok(text.to_string()),
            false => Err(self.error(
                column,
                name,
                Problem::Unexpected {
                    text: text.into(),
                    expected,
                },
            )),
        }
    }
}

/// The age bucket of an age in years.
fn age_bucket(age: i64) -> &'static str {
    let k = match age {
        ..18 => 0,
        18..25 => 1,
        25..35 => 2,
        35..45 => 3,
        45..50 => 4,
        50..56 => 5,
        _ => 6,
    };
    AGE_BUCKETS[k]
}

/// The decade bucket of a MovieLens date `01-Jan-1995`, or `None` when it
/// is not one.
fn release_decade(text: &str) -> Option<&'static str> {
    let mut parts = text.split('-');
    let (day, month, year) = (parts.next()?, parts.next()?, parts.next()?);
    day.parse::<u32>().ok().filter(|d| (1..=31).contains(d))?;
    let year: u32 = year.parse().ok().filter(|y| (1800..=2100).contains(y))?;
    if parts.next().is_some() || !MONTHS.contains(&month) {
        return None;
    }
    Some(
        DECADES[match year {
            ..1960 => 0,
            1960..1970 => 1,
            1970..1980 => 2,
            1980..1990 => 3,
            _ => 4,
        }],
    )
}

impl Features {
    /// User attributes from MovieLens 100k's `u.user`
    /// (`user id|age|gender|occupation|zip code`) for the users of `users`
    /// (a ratings set's [`user_ids`](crate::data::Ratings::user_ids)),
    /// rows in its order. 41 columns on ml-100k: the age in the seven
    /// MovieLens 1M groups (`age=<18` … `age=56+`), gender (`gender=F`,
    /// `gender=M`), the occupations found in the file, one-hot, and the
    /// zip code's first digit (`zip=0` … `zip=9`, `zip=other` for codes not
    /// starting with one).
    ///
    /// # Errors
    /// A [`DataError`] naming the file, the line and the field: a line
    /// without five fields, an id that is not an integer ≥ 0, an age that
    /// is not an integer from 1 to 120, a gender other than `M` or `F`, an
    /// empty field, a user described twice; an empty file.
    ///
    /// ```no_run
    /// use mf_runtime::data::{find_dataset, Features, Split};
    /// let dir = find_dataset("ml-100k").unwrap();
    /// let split = Split::movielens(&dir, "u1")?;
    /// let users = Features::movielens_users(dir.join("u.user"), split.train.user_ids())?;
    /// assert_eq!(users.dim(), (943, 41));
    /// # Ok::<(), mf_runtime::data::DataError>(())
    /// ```
    pub fn movielens_users(path: impl AsRef<Path>, users: &IdMap) -> Result<Features, DataError> {
        let path = path.as_ref();
        let file = path.display().to_string();
        let mut described = Described::new(&file, users);
        let mut age = Attribute::ordered("age", &AGE_BUCKETS);
        let mut gender = Attribute::ordered("gender", &["F", "M"]);
        let mut occupation = Attribute::new("occupation");
        let zips: Vec<String> = (0..10)
            .map(|d| d.to_string())
            .chain(["other".into()])
            .collect();
        let zips: Vec<&str> = zips.iter().map(String::as_str).collect();
        let mut zip = Attribute::ordered("zip", &zips);
        let layout = "a u.user line has 5 (user id, age, gender, occupation, zip code)";
        for_each_line(path, Delimiter::Char('|'), 5, layout, |at| {
            let row = described.row(at, 0, "user")?;
            let years = at.integer(1, "age")?;
            if !(1..=120).contains(&years) {
                let text = years.to_string();
                let expected = "an age in years from 1 to 120";
                return Err(at.error(1, "age", Problem::Unexpected { text, expected }));
            }
            let sex = at.one_of(2, "gender", &["F", "M"], "M or F")?;
            let job = at.text(3, "occupation")?;
            let code = at.text(4, "zip code")?;
            if let Some(row) = row {
                age.values.push((row, age_bucket(years).into()));
                gender.values.push((row, sex));
                occupation.values.push((row, job.into()));
                let first = code.chars().next().filter(char::is_ascii_digit);
                zip.values
                    .push((row, first.map_or("other".into(), String::from)));
            }
            Ok(())
        })?;
        described.features(&[age, gender, occupation, zip])
    }

    /// Item attributes from MovieLens 100k's `u.item` (`movie id|title|
    /// release date|video release date|IMDb URL|` and 19 genre flags) for
    /// the items of `items`, rows in its order. 24 columns: the genres,
    /// multi-hot (`genre=Action`, …, in the file's order), and the release
    /// date's decade (`released=<1960`, `1960s`, `1970s`, `1980s`,
    /// `1990s+`; none for a movie without a date). Titles are not read
    /// (they are Latin-1 in ml-100k).
    ///
    /// # Errors
    /// A [`DataError`] naming the file, the line and the field: a line
    /// without 24 fields, an id that is not an integer ≥ 0, a date that is
    /// not `DD-Mon-YYYY`, a genre flag other than `0` or `1`, an item
    /// described twice.
    ///
    /// ```no_run
    /// use mf_runtime::data::{find_dataset, Features, Split};
    /// let dir = find_dataset("ml-100k").unwrap();
    /// let split = Split::movielens(&dir, "u1")?;
    /// let items = Features::movielens_items(dir.join("u.item"), split.train.item_ids())?;
    /// assert_eq!(items.dim(), (split.train.num_items(), 24));
    /// # Ok::<(), mf_runtime::data::DataError>(())
    /// ```
    pub fn movielens_items(path: impl AsRef<Path>, items: &IdMap) -> Result<Features, DataError> {
        let path = path.as_ref();
        let file = path.display().to_string();
        let mut described = Described::new(&file, items);
        let mut genres = Attribute::ordered("genre", &ML100K_GENRES);
        let mut released = Attribute::ordered("released", &DECADES);
        let layout = "a u.item line has 24 (movie id, title, release date, video release date, IMDb URL, 19 genre flags)";
        for_each_line(path, Delimiter::Char('|'), 24, layout, |at| {
            let row = described.row(at, 0, "movie id")?;
            let date = std::str::from_utf8(at.fields[2].trim_ascii()).unwrap_or("?");
            let decade = match date.is_empty() {
                true => None,
                false => Some(release_decade(date).ok_or_else(|| {
                    at.error(
                        2,
                        "release date",
                        Problem::Unexpected {
                            text: date.into(),
                            expected: "a date DD-Mon-YYYY",
                        },
                    )
                })?),
            };
            let mut flags = Vec::new();
            for (k, genre) in ML100K_GENRES.iter().enumerate() {
                if at.one_of(5 + k, "genre flag", &["0", "1"], "0 or 1")? == "1" {
                    flags.push(genre.to_string());
                }
            }
            if let Some(row) = row {
                released.values.extend(decade.map(|d| (row, d.to_string())));
                genres.values.extend(flags.into_iter().map(|g| (row, g)));
            }
            Ok(())
        })?;
        described.features(&[genres, released])
    }

    /// Item genres from a MovieLens `movies.csv` (`movieId,title,genres`,
    /// the genres `|`-separated; `(no genres listed)` is none) for the
    /// items of `items`, rows in its order: one column per genre found,
    /// multi-hot, sorted (`genre=Action`, …).
    ///
    /// # Errors
    /// A [`DataError`] naming the file, the line and the field: a first
    /// line other than the header `movieId,title,genres`, a line without
    /// three fields, an id that is not an integer ≥ 0, an empty genre
    /// (`Drama||War`), an item described twice.
    ///
    /// ```
    /// use mf_runtime::data::{Features, LoadOptions};
    /// let ratings = LoadOptions::new().parse_str("r.csv", "user,item,rating\n1,31,4\n1,2,3\n2,5,1\n")?;
    /// let path = std::env::temp_dir().join(format!("mf-doc-movies-{}.csv", std::process::id()));
    /// std::fs::write(&path, "movieId,title,genres\n2,\"Jumanji, The (1995)\",Adventure|Children\n31,Dangerous Minds (1995),Drama\n")?;
    /// let f = Features::movielens_genres(&path, ratings.item_ids())?;
    /// std::fs::remove_file(&path)?;
    /// assert_eq!(f.names(), ["genre=Adventure", "genre=Children", "genre=Drama"]);
    /// assert_eq!(f.matrix().row(1).to_vec(), [1.0, 1.0, 0.0]); // item 2
    /// assert_eq!(f.missing(), ["5"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn movielens_genres(path: impl AsRef<Path>, items: &IdMap) -> Result<Features, DataError> {
        let path = path.as_ref();
        let file = path.display().to_string();
        let mut described = Described::new(&file, items);
        let mut genres = Attribute::new("genre");
        let mut first = true;
        let layout = "a movies.csv line has 3 (movieId, title, genres)";
        for_each_line(path, Delimiter::Comma, 3, layout, |at| {
            if std::mem::take(&mut first) {
                let header: Vec<&[u8]> = at.fields.iter().map(<[u8]>::trim_ascii).collect();
                if header != [&b"movieId"[..], b"title", b"genres"] {
                    return Err(DataError::Line {
                        file: file.clone(),
                        line: at.line,
                        message: "expected the header `movieId,title,genres`".into(),
                    });
                }
                return Ok(());
            }
            let row = described.row(at, 0, "movieId")?;
            let listed = at.text(2, "genres")?;
            let names: Vec<&str> = match listed {
                "(no genres listed)" => Vec::new(),
                _ => listed.split('|').map(str::trim).collect(),
            };
            if names.iter().any(|g| g.is_empty()) {
                let problem = Problem::Unexpected {
                    text: listed.into(),
                    expected: "genres separated by single `|`",
                };
                return Err(at.error(2, "genres", problem));
            }
            if let Some(row) = row {
                genres
                    .values
                    .extend(names.into_iter().map(|g| (row, g.to_string())));
            }
            Ok(())
        })?;
        described.features(&[genres])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names of the features `row` of `f` has.
    fn active(f: &Features, row: usize) -> Vec<&str> {
        f.names()
            .iter()
            .zip(f.matrix().row(row))
            .filter(|&(_, &v)| v == 1.0)
            .map(|(n, _)| n.as_str())
            .collect()
    }

    #[test]
    fn ages_and_dates_fall_in_their_buckets() {
        let ages = [
            (1, "<18"),
            (17, "<18"),
            (18, "18-24"),
            (34, "25-34"),
            (49, "45-49"),
            (55, "50-55"),
            (56, "56+"),
            (73, "56+"),
        ];
        for (age, bucket) in ages {
            assert_eq!(age_bucket(age), bucket, "{age}");
        }
        assert_eq!(release_decade("01-Jan-1995"), Some("1990s+"));
        assert_eq!(release_decade("12-Oct-1959"), Some("<1960"));
        assert_eq!(release_decade("01-Jan-1970"), Some("1970s"));
        for bad in [
            "1995-01-01",
            "01-Foo-1995",
            "32-Jan-1995",
            "01-Jan-95",
            "01-Jan-1995-1",
            "",
        ] {
            assert_eq!(release_decade(bad), None, "{bad}");
        }
    }

    #[test]
    fn user_attributes_are_one_hot_rows_in_the_map_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("u.user");
        std::fs::write(
            &path,
            "1|24|M|technician|85711\r\n2|53|F|other|94043\n5|33|F|other|T8H1N\n\n",
        )
        .unwrap();
        let mut users = IdMap::new();
        for id in [5, 9, 1] {
            users.get_or_insert(id);
        }
        let f = Features::movielens_users(&path, &users).unwrap();
        assert_eq!(f.dim(), (3, 7 + 2 + 2 + 11));
        let on = |row: usize| active(&f, row);
        assert_eq!(
            on(0),
            ["age=25-34", "gender=F", "occupation=other", "zip=other"]
        );
        assert_eq!(on(1), Vec::<&str>::new());
        assert_eq!(
            on(2),
            ["age=18-24", "gender=M", "occupation=technician", "zip=8"]
        );
        assert_eq!((f.missing(), f.unused()), (&["9".to_string()][..], 1));
        assert_eq!(
            f.to_string(),
            "3 ids × 22 features; 1 ids without attributes (zero rows): 9; 1 described ids not in the ratings (ignored)"
        );
    }

    #[test]
    fn item_attributes_are_genres_and_decades() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("u.item");
        let flags = |on: &[usize]| {
            (0..19)
                .map(|k| if on.contains(&k) { "1" } else { "0" })
                .collect::<Vec<_>>()
                .join("|")
        };
        let text = format!(
            "1|Toy Story (1995)|01-Jan-1995||http://x|{}\n267|unknown||||{}\n",
            flags(&[3, 4, 5]),
            flags(&[0])
        );
        std::fs::write(&path, text).unwrap();
        let items = IdMap::identity(300);
        let f = Features::movielens_items(&path, &items).unwrap();
        assert_eq!(f.dim(), (300, 24));
        let on = |row: usize| active(&f, row);
        assert_eq!(
            on(1),
            [
                "genre=Animation",
                "genre=Children's",
                "genre=Comedy",
                "released=1990s+"
            ]
        );
        assert_eq!(on(267), ["genre=unknown"]);
        assert_eq!(f.missing().len(), 298);
    }
}
