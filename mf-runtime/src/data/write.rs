//! Writing ratings and splits back as delimited text the loaders read
//! (raw ids, the rating, the timestamp when there is one), so another
//! library can be trained and scored on exactly the same split.
//!
//! The header is MovieLens's `userId,movieId,rating,timestamp` when the
//! ids are integers and the ratings have timestamps (the `ratings.csv`
//! layout), else `user,item,rating[,timestamp]`. Fields are quoted by the
//! `csv` crate where needed (an id holding the delimiter, a quote or a line
//! break); ratings are written in the shortest form that reads back to the
//! same `f64`.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use super::error::{escaped, DataError};
use super::ids::{IdMap, RawId};
use super::load::Delimiter;
use super::ratings::Ratings;
use super::split::Split;

impl Ratings {
    /// Writes the ratings to `path` as comma-separated text with a header,
    /// one line per entry in CSR order. The header is MovieLens's
    /// `userId,movieId,rating,timestamp` when the ids are integers and the
    /// ratings have timestamps, else `user,item,rating[,timestamp]`; fields
    /// are quoted where needed, ratings written in the shortest form that
    /// reads back to the same `f64`.
    /// [`LoadOptions::new`](super::LoadOptions::new) reads it back; read
    /// on this `Ratings`'s id maps ([`LoadOptions::load_on`](super::LoadOptions::load_on))
    /// it gives back an equal `Ratings`.
    ///
    /// # Errors
    /// [`DataError::Write`] naming the file when it cannot be written;
    /// [`DataError::Invalid`] for an id the loaders would not read back
    /// as written (empty, or with spaces around it).
    ///
    /// ```
    /// use mf_runtime::data::{LoadOptions, RatingsBuilder};
    /// let mut b = RatingsBuilder::new();
    /// b.push_timed("Smith, J", "dune", 4.5, 881250949);
    /// b.push_timed("ann", "heat", 2.0, 881250950);
    /// let r = b.build()?;
    /// let path = std::env::temp_dir().join(format!("mf-doc-write-{}.csv", std::process::id()));
    /// r.write_csv(&path)?;
    /// assert_eq!(
    ///     std::fs::read_to_string(&path)?,
    ///     "user,item,rating,timestamp\n\"Smith, J\",dune,4.5,881250949\nann,heat,2,881250950\n"
    /// );
    /// let (again, _) = LoadOptions::new().load_on(&path, &r)?;
    /// assert_eq!(again, r);
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn write_csv(&self, path: impl AsRef<Path>) -> Result<(), DataError> {
        let path = path.as_ref();
        let name = path.display().to_string();
        let io = |source| DataError::Write {
            file: name.clone(),
            source,
        };
        let file = File::create(path).map_err(io)?;
        let mut out = BufWriter::new(file);
        self.write_delimited(&mut out, Delimiter::Comma, true)
            .map_err(|e| match e {
                DataError::Write { source, .. } => io(source),
                other => other,
            })?;
        out.flush().map_err(io)
    }

    /// Writes the ratings to `out` separated by `delimiter` (a single
    /// byte: tab, comma, semicolon or an ASCII character), with the header
    /// line or without it (the header and the fields as in
    /// [`write_csv`](Self::write_csv)). Tab-separated without a header and with
    /// timestamps is the MovieLens `u.data` layout.
    ///
    /// # Errors
    /// [`DataError::Invalid`] for a delimiter of more than one byte, or an
    /// id the loaders would not read back as written; [`DataError::Write`]
    /// (file `<writer>`) when `out` fails.
    ///
    /// ```
    /// use mf_runtime::data::{Delimiter, LoadOptions};
    /// let r = LoadOptions::new().parse_str("u.data", "196\t242\t3\t881250949\n")?;
    /// let mut out = Vec::new();
    /// r.write_delimited(&mut out, Delimiter::Tab, false)?;
    /// assert_eq!(out, b"196\t242\t3\t881250949\n");
    /// assert!(r.write_delimited(&mut out, Delimiter::DoubleColon, false).is_err());
    /// # Ok::<(), mf_runtime::data::DataError>(())
    /// ```
    pub fn write_delimited(
        &self,
        out: impl Write,
        delimiter: Delimiter,
        header: bool,
    ) -> Result<(), DataError> {
        let Some(byte) = delimiter.byte() else {
            return Err(DataError::Invalid(format!(
                "cannot write ratings separated by {delimiter:?}: give a single-byte delimiter"
            )));
        };
        check_ids(self.user_ids(), "user")?;
        check_ids(self.item_ids(), "item")?;
        let io = |source: io::Error| DataError::Write {
            file: "<writer>".into(),
            source,
        };
        let mut writer = csv::WriterBuilder::new()
            .delimiter(byte)
            .has_headers(false)
            .from_writer(out);
        let times = self.timestamps();
        if header {
            let integers = |m: &IdMap| {
                m.is_integer() && m.iter().all(|id| matches!(id, RawId::Int(v) if v >= 0))
            };
            let movielens =
                times.is_some() && integers(self.user_ids()) && integers(self.item_ids());
            let names: &[&str] = match (movielens, times.is_some()) {
                (true, _) => &["userId", "movieId", "rating", "timestamp"],
                (false, true) => &["user", "item", "rating", "timestamp"],
                (false, false) => &["user", "item", "rating"],
            };
            writer.write_record(names).map_err(|e| io(e.into()))?;
        }
        let (users, items) = (self.user_ids(), self.item_ids());
        let mut fields = [String::new(), String::new(), String::new(), String::new()];
        let width = if times.is_some() { 4 } else { 3 };
        for (p, (u, i, v)) in self.iter().enumerate() {
            use std::fmt::Write as _;
            fields.iter_mut().for_each(String::clear);
            let (user, item) = (users.raw(u), items.raw(i));
            let (user, item) = (user.expect("a user index"), item.expect("an item index"));
            // Writing to a String cannot fail.
            let _ = write!(fields[0], "{user}");
            let _ = write!(fields[1], "{item}");
            let _ = write!(fields[2], "{v}");
            if let Some(t) = times {
                let _ = write!(fields[3], "{}", t[p]);
            }
            writer
                .write_record(&fields[..width])
                .map_err(|e| io(e.into()))?;
        }
        writer.flush().map_err(io)
    }
}

/// Refuses ids that would not read back as written: the loaders refuse an
/// empty field and drop spaces around one.
fn check_ids(ids: &IdMap, what: &str) -> Result<(), DataError> {
    if ids.is_integer() {
        return Ok(());
    }
    for id in ids.iter() {
        let text = id.to_string();
        if text.is_empty() || text.trim() != text {
            return Err(DataError::Invalid(format!(
                "{what} id `{}` cannot be written: the loaders read ids without spaces around them and never empty",
                escaped(&text)
            )));
        }
    }
    Ok(())
}

impl Split {
    /// Writes the split into the directory `dir` (created if missing) as
    /// `train.csv`, `test.csv` and `left_out.csv` (the test ratings whose
    /// user or item has no training rating; header only when there are
    /// none), each as [`Ratings::write_csv`] writes it, so another library
    /// can be trained on `train.csv` and scored on `test.csv`.
    /// [`Split::from_files`] reads `train.csv` and `test.csv` back.
    ///
    /// # Errors
    /// As [`Ratings::write_csv`]; [`DataError::Write`] naming `dir` when it
    /// cannot be created.
    ///
    /// ```
    /// use mf_runtime::data::{LoadOptions, Ratings, Split};
    /// let data = Ratings::from_triplets(20, 10, (0..200).map(|k| (k / 10, k % 10, (k % 5) as f64)))?;
    /// let split = data.split_random(0.2, 42)?;
    /// let dir = std::env::temp_dir().join(format!("mf-doc-split-write-{}", std::process::id()));
    /// split.write_csv(&dir)?;
    /// let again = Split::from_files(dir.join("train.csv"), dir.join("test.csv"), &LoadOptions::new())?;
    /// assert_eq!((again.train.nnz(), again.test.nnz()), (split.train.nnz(), split.test.nnz()));
    /// std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn write_csv(&self, dir: impl AsRef<Path>) -> Result<(), DataError> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|source| DataError::Write {
            file: dir.display().to_string(),
            source,
        })?;
        self.train.write_csv(dir.join("train.csv"))?;
        self.test.write_csv(dir.join("test.csv"))?;
        self.left_out.write_csv(dir.join("left_out.csv"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{LoadOptions, RatingsBuilder};

    fn same_entries(a: &Ratings, b: &Ratings) -> bool {
        let entries = |r: &Ratings| {
            let mut e: Vec<(String, String, f64, Option<i64>)> = r
                .iter()
                .enumerate()
                .map(|(p, (u, i, v))| {
                    let user = r.user_ids().raw(u).unwrap().to_string();
                    let item = r.item_ids().raw(i).unwrap().to_string();
                    (user, item, v, r.timestamps().map(|t| t[p]))
                })
                .collect();
            e.sort_by(|x, y| (&x.0, &x.1).cmp(&(&y.0, &y.1)));
            e
        };
        entries(a) == entries(b)
    }

    /// Text ids with delimiters, quotes and line breaks, awkward ratings,
    /// with and without timestamps: written, then read back by detection.
    #[test]
    fn written_ratings_read_back_the_same() {
        let ids = [
            "ann",
            "Smith, J",
            "say \"hi\"",
            "two\nlines",
            "007",
            "x;y",
            "é",
        ];
        let ratings = [4.5, 0.1 + 0.2, -1e-300, 1e21, 3.0, 2.25, 1.0 / 3.0];
        for timed in [false, true] {
            let mut b = RatingsBuilder::new();
            for (k, (&user, &v)) in ids.iter().zip(&ratings).enumerate() {
                let item = ids[(k * 3 + 1) % ids.len()];
                match timed {
                    true => b.push_timed(user, item, v, k as i64 * 1_000_003 - 5),
                    false => b.push(user, item, v),
                };
            }
            let r = b.build().unwrap();
            let dir = tempfile::tempdir().unwrap();
            for (delimiter, name) in [(Delimiter::Comma, "r.csv"), (Delimiter::Tab, "r.tsv")] {
                let path = dir.path().join(name);
                match delimiter {
                    Delimiter::Comma => r.write_csv(&path).unwrap(),
                    _ => r
                        .write_delimited(File::create(&path).unwrap(), delimiter, true)
                        .unwrap(),
                }
                let again = LoadOptions::new().load(&path).unwrap();
                assert!(same_entries(&again, &r), "{name}, timed {timed}");
                assert_eq!(again.timestamps().is_some(), timed);
                let (on_maps, unseen) = LoadOptions::new().load_on(&path, &r).unwrap();
                assert_eq!((on_maps, unseen.entries), (r.clone(), 0));
            }
        }
    }

    #[test]
    fn movielens_data_is_written_in_its_own_layout() {
        let text = "1,31,2.5,1260759144\n1,1029,3,1260759179\n2,31,4,835355493\n";
        let r = LoadOptions::movielens_csv()
            .parse_str("ratings.csv", text)
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ratings.csv");
        r.write_csv(&path).unwrap();
        let written = std::fs::read_to_string(&path).unwrap();
        assert_eq!(written, format!("userId,movieId,rating,timestamp\n{text}"));
        assert_eq!(Ratings::load(&path).unwrap(), r);
    }

    #[test]
    fn splits_are_written_as_three_files() {
        let mut b = RatingsBuilder::new();
        for k in 0..60i64 {
            b.push_timed(k % 7, k % 11, (k % 5 + 1) as f64, 1000 + k);
        }
        b.push_timed("lonely", 0, 5.0, 2000);
        let data = b.build().unwrap();
        let split = data.split_at_time(1040).unwrap();
        assert_eq!(split.dropped_entries, 1);
        let dir = tempfile::tempdir().unwrap();
        split.write_csv(dir.path()).unwrap();
        let read = |name| LoadOptions::new().load(dir.path().join(name)).unwrap();
        assert!(same_entries(&read("train.csv"), &split.train));
        assert!(same_entries(&read("test.csv"), &split.test));
        assert!(same_entries(&read("left_out.csv"), &split.left_out));
        let again = Split::from_files(
            dir.path().join("train.csv"),
            dir.path().join("test.csv"),
            &LoadOptions::new(),
        )
        .unwrap();
        assert!(same_entries(&again.test, &split.test));
        assert_eq!(again.dropped_entries, 0);
    }

    #[test]
    fn ids_that_would_not_read_back_are_refused() {
        let mut b = RatingsBuilder::new();
        b.push(" ann", "dune", 4.0);
        let err = b
            .build()
            .unwrap()
            .write_delimited(Vec::new(), Delimiter::Comma, true);
        assert_eq!(
            err.unwrap_err().to_string(),
            "invalid argument: user id ` ann` cannot be written: the loaders read ids without spaces around them and never empty"
        );
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no-such-dir").join("r.csv");
        let r = Ratings::from_triplets(1, 1, [(0, 0, 1.0)]).unwrap();
        let err = r.write_csv(&missing).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("{}: cannot write", missing.display())),
            "{err}"
        );
    }
}
