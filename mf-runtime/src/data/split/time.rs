//! Time-ordered splits, the protocol that tests a model on the future of
//! its training data: each user's latest ratings held out
//! ([`Ratings::split_latest_per_user`]), or every rating from a cut-off
//! time on ([`Ratings::split_at_time`]). Both need the ratings'
//! timestamps ([`Ratings::timestamps`]); without them they fail with
//! [`DataError::NoTimestamps`].

use super::{Holdout, Split};
use crate::data::error::DataError;
use crate::data::ratings::Ratings;

impl Ratings {
    /// The timestamps, or the error naming the split that needs them.
    fn times_for(&self, split: &'static str) -> Result<&[i64], DataError> {
        self.timestamps().ok_or(DataError::NoTimestamps { split })
    }

    /// Per-user time-ordered holdout: for each user, their latest
    /// [`Holdout`] share of ratings goes to the test side (ratings at the
    /// same second are ordered by item index, so the split is
    /// deterministic); every user keeps at least one training rating, the
    /// earliest.
    ///
    /// # Errors
    /// [`DataError::NoTimestamps`] when the ratings have none; a fraction
    /// outside (0, 1).
    ///
    /// ```
    /// use mf_runtime::data::{Holdout, RatingsBuilder};
    /// let mut b = RatingsBuilder::new();
    /// for (user, item, time) in [("ann", "dune", 30), ("ann", "heat", 10), ("ann", "alien", 20), ("bob", "dune", 5), ("bob", "heat", 6)] {
    ///     b.push_timed(user, item, 4.0, time);
    /// }
    /// let s = b.build()?.split_latest_per_user(Holdout::Count(1))?;
    /// assert_eq!(s.test.get_raw("ann", "dune"), Some(4.0)); // ann's latest
    /// assert_eq!(s.test.get_raw("bob", "heat"), Some(4.0)); // bob's
    /// assert_eq!(s.train.nnz(), 3);
    /// assert!(mf_runtime::data::Ratings::from_triplets(1, 1, [(0, 0, 1.0)])?
    ///     .split_latest_per_user(Holdout::Count(1))
    ///     .is_err());
    /// # Ok::<(), mf_runtime::data::DataError>(())
    /// ```
    pub fn split_latest_per_user(&self, holdout: Holdout) -> Result<Split, DataError> {
        let times = self.times_for("Ratings::split_latest_per_user")?;
        holdout.check()?;
        let mut in_test = vec![false; self.nnz()];
        let mut row: Vec<usize> = Vec::new();
        let indptr = self.csr().indptr;
        for (u, count) in self.user_counts().enumerate() {
            let n_test = holdout.test_count(count);
            row.clear();
            row.extend(indptr[u]..indptr[u] + count);
            // CSR positions within a row follow the item index: a stable
            // sort by time breaks ties by it.
            row.sort_by_key(|&p| times[p]);
            for &p in &row[count - n_test..] {
                in_test[p] = true;
            }
        }
        Ok(Split::of(self, |p| in_test[p]))
    }

    /// Global time-ordered split: every rating at or after `cutoff`
    /// (seconds since the Unix epoch; [`timestamp_of_date`](crate::data::timestamp_of_date)
    /// reads one from a date) goes to the test side, every earlier one to
    /// training. Test ratings of users or items first seen after the
    /// cut-off are left out and counted, as in every split.
    ///
    /// # Errors
    /// [`DataError::NoTimestamps`] when the ratings have none;
    /// [`DataError::Invalid`] when no rating falls before the cut-off or
    /// none at or after it, giving the time range of the data.
    ///
    /// ```
    /// use mf_runtime::data::{timestamp_of_date, RatingsBuilder};
    /// let mut b = RatingsBuilder::new();
    /// b.push_timed("ann", "dune", 4.0, timestamp_of_date("1998-01-05")?);
    /// b.push_timed("bob", "heat", 3.0, timestamp_of_date("1998-01-20")?);
    /// b.push_timed("ann", "heat", 2.0, timestamp_of_date("1998-03-01")?);
    /// b.push_timed("bob", "dune", 5.0, timestamp_of_date("1998-02-10")?);
    /// let data = b.build()?;
    /// let s = data.split_at_time(timestamp_of_date("1998-02-01")?)?;
    /// assert_eq!((s.train.nnz(), s.test.nnz(), s.dropped_entries), (2, 2, 0));
    /// assert_eq!(s.test.get_raw("ann", "heat"), Some(2.0));
    /// assert!(data.split_at_time(0).is_err()); // nothing before 1970
    /// # Ok::<(), mf_runtime::data::DataError>(())
    /// ```
    pub fn split_at_time(&self, cutoff: i64) -> Result<Split, DataError> {
        let times = self.times_for("Ratings::split_at_time")?;
        let later = times.iter().filter(|&&t| t >= cutoff).count();
        if later == 0 || later == times.len() {
            let (first, last) = (times.iter().min(), times.iter().max());
            let side = if later == 0 { "at or after" } else { "before" };
            return Err(DataError::Invalid(format!(
                "split at time {cutoff}: no rating falls {side} it (the ratings span {} to {})",
                first.map_or("-".into(), i64::to_string),
                last.map_or("-".into(), i64::to_string),
            )));
        }
        Ok(Split::of(self, |p| times[p] >= cutoff))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{LoadOptions, RatingsBuilder};

    /// 6 users with 1 to 6 ratings each at scrambled times; user `u`'s
    /// rating of item `i` is at `(u * 7 + i * 5) % 11` seconds.
    fn timed() -> Ratings {
        let mut b = RatingsBuilder::new();
        for u in 0..6i64 {
            for i in 0..=u {
                b.push_timed(u, i, (i + 1) as f64, (u * 7 + i * 5) % 11);
            }
        }
        b.build().unwrap()
    }

    #[test]
    fn the_latest_ratings_of_each_user_are_held_out() {
        let data = timed();
        let times = data.timestamps().unwrap();
        for holdout in [Holdout::Count(2), Holdout::Fraction(0.5)] {
            let s = data.split_latest_per_user(holdout).unwrap();
            assert_eq!(s.train.nnz() + s.test.nnz() + s.dropped_entries, data.nnz());
            assert_eq!(s.test.timestamps().unwrap().len(), s.test.nnz());
            let csr = data.csr();
            for u in 0..data.num_users() {
                let (items, _) = csr.row(u);
                let count = items.len();
                let n_test = holdout.test_count(count);
                assert_eq!(s.train.user_count(u), count - n_test, "user {u}");
                // Every held-out rating is at least as late as every kept one.
                let when = |i: u32| times[csr.indptr[u] + items.binary_search(&i).unwrap()];
                let kept = s.train.csr().row(u).0.iter().map(|&i| when(i)).max();
                let held = items
                    .iter()
                    .filter(|&&i| s.train.get(u as u32, i).is_none())
                    .map(|&i| when(i))
                    .min();
                if let (Some(kept), Some(held)) = (kept, held) {
                    assert!(kept <= held, "user {u}: kept {kept}, held out {held}");
                }
            }
        }
        // Same seconds: the larger item index is the later one.
        let mut b = RatingsBuilder::new();
        for item in ["a", "b", "c"] {
            b.push_timed(1, item, 3.0, 100);
        }
        let s = b
            .build()
            .unwrap()
            .split_latest_per_user(Holdout::Count(1))
            .unwrap();
        // (Held out, and left out of `test`: no one else rated `c`.)
        assert_eq!(s.left_out.get_raw(1, "c"), Some(3.0));
        assert_eq!(s.train.nnz(), 2);
    }

    #[test]
    fn a_cut_off_sends_the_later_ratings_to_test() {
        let data = timed();
        let s = data.split_at_time(6).unwrap();
        let times = data.timestamps().unwrap();
        let later = times.iter().filter(|&&t| t >= 6).count();
        assert_eq!(s.test.nnz() + s.dropped_entries, later);
        assert!(s.train.timestamps().unwrap().iter().all(|&t| t < 6));
        assert!(s.test.timestamps().unwrap().iter().all(|&t| t >= 6));
        let err = data.split_at_time(100).unwrap_err().to_string();
        assert_eq!(
            err,
            "invalid argument: split at time 100: no rating falls at or after it (the ratings span 0 to 10)"
        );
        let err = data.split_at_time(-5).unwrap_err().to_string();
        assert!(err.contains("no rating falls before it"), "{err}");
    }

    #[test]
    fn splits_without_timestamps_say_so() {
        let data = LoadOptions::comma()
            .parse_str("x", "1,2,3\n2,2,4\n")
            .unwrap();
        let err = data.split_at_time(5).unwrap_err();
        assert!(matches!(
            err,
            DataError::NoTimestamps {
                split: "Ratings::split_at_time"
            }
        ));
        assert!(err.to_string().starts_with(
            "Ratings::split_at_time: the ratings have no timestamps; load a file that has them"
        ));
        let err = data.split_latest_per_user(Holdout::Count(1)).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("Ratings::split_latest_per_user:"),
            "{err}"
        );
        // A file's timestamp column, by header or by declaration, keeps them.
        let with = LoadOptions::comma()
            .parse_str("x", "user,item,rating,timestamp\n1,2,3,50\n2,2,4,60\n")
            .unwrap();
        let s = with.split_at_time(55).unwrap();
        assert_eq!((s.train.nnz(), s.left_out.get_raw(2, 2)), (1, Some(4.0)));
        let declared = LoadOptions::comma()
            .columns("timestamp,user,item,rating".parse().unwrap())
            .parse_str("x", "50,1,2,3\n60,2,2,4\n")
            .unwrap();
        assert_eq!(declared, with);
    }
}
