//! The table of the malformed-data corpus: each file of
//! `tests/data/malformed/`, the options it is read with, and what the load
//! must do, written by hand.

use mf_runtime::data::{Header, LoadOptions};

pub enum Outcome {
    /// The load fails; the message names the file, then `line` (when the
    /// problem has one), `field` (when one field is at fault) and contains
    /// `problem`.
    Fails {
        line: Option<usize>,
        field: Option<&'static str>,
        problem: &'static str,
    },
    /// The load succeeds with exactly these (user, item, rating) entries.
    Loads(&'static [(&'static str, &'static str, f64)]),
}

pub struct Case {
    pub file: &'static str,
    pub options: LoadOptions,
    pub outcome: Outcome,
}

fn fails(
    file: &'static str,
    options: LoadOptions,
    line: Option<usize>,
    field: Option<&'static str>,
    problem: &'static str,
) -> Case {
    Case {
        file,
        options,
        outcome: Outcome::Fails {
            line,
            field,
            problem,
        },
    }
}

fn loads(
    file: &'static str,
    options: LoadOptions,
    entries: &'static [(&'static str, &'static str, f64)],
) -> Case {
    Case {
        file,
        options,
        outcome: Outcome::Loads(entries),
    }
}

fn detect() -> LoadOptions {
    LoadOptions::new()
}

pub fn cases() -> Vec<Case> {
    let tab = LoadOptions::movielens_tab;
    let comma = LoadOptions::comma;
    let dat = LoadOptions::movielens_dat;
    let ml_csv = LoadOptions::movielens_csv;
    let one_to_five = || LoadOptions::new().rating_range(1.0, 5.0);
    vec![
        // Truncated input.
        fails(
            "truncated-last-line.csv",
            detect(),
            Some(2),
            Some("rating"),
            "missing (the line has only 2 fields)",
        ),
        fails(
            "truncated-after-delimiter.tsv",
            detect(),
            Some(3),
            Some("item"),
            "empty",
        ),
        // Ratings that are not finite numbers.
        fails(
            "non-numeric-rating.csv",
            detect(),
            Some(2),
            Some("rating"),
            "`four` is not a number",
        ),
        fails(
            "nan-rating.csv",
            detect(),
            Some(3),
            Some("rating"),
            "`NaN` is not a finite number",
        ),
        fails(
            "inf-rating.csv",
            detect(),
            Some(1),
            Some("rating"),
            "`-inf` is not a finite number",
        ),
        fails(
            "overflowing-rating.csv",
            detect(),
            Some(2),
            Some("rating"),
            "`1e400` is not a finite number",
        ),
        // Trailing garbage.
        fails(
            "trailing-garbage-rating.csv",
            detect(),
            Some(2),
            Some("rating"),
            "`4.5 stars` is not a number",
        ),
        fails(
            "trailing-garbage-field.base",
            detect(),
            Some(2),
            None,
            "5 fields, but a MovieLens line has 4",
        ),
        fails(
            "trailing-garbage-timestamp.base",
            detect(),
            Some(1),
            Some("timestamp"),
            "`881250949x` is not an integer",
        ),
        // Ids.
        fails(
            "huge-id.base",
            detect(),
            Some(2),
            Some("user"),
            "`99999999999999999999` is not an integer (in the 64-bit range)",
        ),
        fails(
            "negative-id.base",
            tab(),
            Some(2),
            Some("item"),
            "`-20` is negative",
        ),
        // Missing and empty fields.
        fails(
            "missing-rating-field.csv",
            detect(),
            Some(2),
            Some("rating"),
            "missing (the line has only 2 fields)",
        ),
        fails(
            "missing-item-field.csv",
            detect(),
            Some(2),
            Some("item"),
            "missing (the line has only 1 field)",
        ),
        fails(
            "empty-user-field.csv",
            detect(),
            Some(2),
            Some("user"),
            "empty",
        ),
        fails(
            "blank-rating-field.csv",
            detect(),
            Some(1),
            Some("rating"),
            "empty",
        ),
        // The wrong delimiter, declared (detection would find the right one).
        fails(
            "tabs-in-comma-file.csv",
            comma(),
            Some(1),
            Some("item"),
            "missing (the line has only 1 field)",
        ),
        fails(
            "commas-in-tab-file.tsv",
            LoadOptions::tab(),
            Some(1),
            Some("item"),
            "missing (the line has only 1 field)",
        ),
        fails(
            "commas-in-u-data.base",
            tab(),
            Some(1),
            Some("user"),
            "`1,10,4,881250949` is not an integer",
        ),
        // `::` format errors.
        fails(
            "single-colons.dat",
            detect(),
            Some(1),
            Some("item"),
            "missing (the line has only 1 field)",
        ),
        fails(
            "triple-colons.dat",
            dat(),
            Some(2),
            Some("item"),
            "`:20` is not an integer",
        ),
        fails(
            "missing-timestamp.dat",
            dat(),
            Some(2),
            Some("timestamp"),
            "missing (the line has only 3 fields)",
        ),
        // No ratings at all.
        fails(
            "empty.csv",
            detect(),
            None,
            None,
            "no ratings: the file is empty",
        ),
        fails(
            "blank-lines-only.csv",
            detect(),
            None,
            None,
            "no ratings: only blank lines",
        ),
        fails(
            "header-only.csv",
            detect().header(Header::Present),
            None,
            None,
            "no ratings: only a header (line 1)",
        ),
        // Headers.
        loads("undeclared-header.csv", detect(), &[("1", "10", 4.0)]),
        fails(
            "undeclared-header.csv",
            detect().header(Header::Absent),
            Some(1),
            Some("rating"),
            "`rating` is not a number",
        ),
        fails(
            "wrong-movielens-header.csv",
            ml_csv(),
            Some(1),
            None,
            "expected the header `userId,movieId,rating,timestamp`",
        ),
        // Repeats and ranges.
        fails(
            "duplicate-pair.csv",
            detect(),
            Some(4),
            None,
            "duplicate rating for user `1` and item `10` (first given at line 1)",
        ),
        fails(
            "rating-above-range.csv",
            one_to_five(),
            Some(2),
            Some("rating"),
            "6 is outside the allowed range [1, 5]",
        ),
        fails(
            "rating-below-range.csv",
            one_to_five(),
            Some(3),
            Some("rating"),
            "-1 is outside the allowed range [1, 5]",
        ),
        // Not text.
        // Read through the gzip layer: the decompressed text is one word.
        fails(
            "gzip-garbage.csv",
            detect(),
            Some(1),
            Some("item"),
            "missing (the line has only 1 field)",
        ),
        fails(
            "latin1.csv",
            detect(),
            Some(3),
            Some("user"),
            "not valid UTF-8 (byte 2)",
        ),
        fails(
            "nul-bytes.csv",
            detect(),
            Some(2),
            Some("item"),
            "missing (the line has only 1 field)",
        ),
        // Valid edge cases: they load, exactly.
        loads("bom.csv", detect(), &[("1", "10", 4.0), ("2", "20", 3.0)]),
        loads("crlf.csv", detect(), &[("1", "10", 4.0), ("2", "20", 3.0)]),
        loads(
            "bom-crlf-movielens.csv",
            ml_csv(),
            &[("1", "10", 4.5), ("2", "20", 3.0)],
        ),
        loads("tabs.tsv", detect(), &[("1", "10", 4.0), ("2", "20", 3.0)]),
        loads(
            "quoted-and-padded.csv",
            detect(),
            &[("1", "10", 4.0), ("2", "20", 3.0)],
        ),
        loads(
            "huge-id-as-text.csv",
            detect(),
            &[("99999999999999999999", "10", 4.0), ("1", "10", 3.0)],
        ),
        // Quoting (RFC 4180).
        loads(
            "quoted-comma-in-user.csv",
            detect(),
            &[("Smith, J", "42", 4.0), ("Doe, A", "42", 3.0)],
        ),
        loads(
            "quoted-comma-in-item.csv",
            detect(),
            &[("1", "Dune, Part Two", 5.0), ("2", "Dune, Part Two", 3.0)],
        ),
        loads(
            "escaped-quotes.csv",
            detect(),
            &[("1", "The \"Best\" Film", 4.0)],
        ),
        fails(
            "quoted-line-break.csv",
            detect(),
            Some(3),
            Some("rating"),
            "`oops` is not a number",
        ),
        // Line endings.
        loads(
            "bare-cr.csv",
            detect(),
            &[
                ("1", "10", 4.0),
                ("2", "10", 3.0),
                ("3", "20", 5.0),
                ("4", "20", 1.0),
            ],
        ),
        fails(
            "bare-cr-error.csv",
            detect(),
            Some(2),
            Some("rating"),
            "`x` is not a number",
        ),
        loads(
            "mixed-line-endings.csv",
            detect(),
            &[("1", "10", 4.0), ("2", "10", 3.0), ("3", "10", 2.0)],
        ),
        // Control characters are shown escaped.
        fails(
            "escape-sequence-in-rating.tsv",
            detect(),
            Some(1),
            Some("rating"),
            r"`4\u{1b}[31m` is not a number",
        ),
        fails(
            "cr-in-quoted-rating.csv",
            detect(),
            Some(1),
            Some("rating"),
            r"`4\n2` is not a number",
        ),
        // Encodings.
        loads(
            "bom-u-data.base",
            detect(),
            &[("1", "10", 4.0), ("2", "20", 3.0)],
        ),
        fails(
            "utf16.csv",
            detect(),
            Some(1),
            Some("user"),
            "not valid UTF-8 (byte 1)",
        ),
        // Compressed input, recognised by its bytes.
        loads(
            "gzip-ratings.csv.gz",
            detect(),
            &[("1", "10", 4.0), ("2", "20", 3.0)],
        ),
        loads("gzip-without-gz-name.csv", detect(), &[("1", "10", 4.5)]),
        fails("truncated-gzip.csv.gz", detect(), None, None, "cannot read"),
        // The Netflix Prize layout.
        loads(
            "netflix.txt",
            detect(),
            &[("6", "1", 3.0), ("7", "1", 5.0), ("6", "2", 4.0)],
        ),
        fails(
            "netflix-bad-date.txt",
            detect(),
            Some(3),
            Some("date"),
            "`2005-02-30` is not a date YYYY-MM-DD",
        ),
        fails(
            "netflix-rating-before-movie.txt",
            LoadOptions::netflix(),
            Some(1),
            None,
            "a rating before any `MovieID:` line",
        ),
        fails(
            "netflix-negative-customer.txt",
            detect(),
            Some(3),
            Some("user"),
            "`-7` is negative",
        ),
        // Layout.
        fails(
            "field-count-mismatch.csv",
            detect(),
            Some(2),
            None,
            "4 fields, but line 1 has 3: column 4 is the first extra one",
        ),
        loads(
            "pipe-delimited.txt",
            detect(),
            &[("ann", "dune", 4.0), ("bob", "dune", 3.0)],
        ),
        loads(
            "header-reordered.csv",
            detect(),
            &[("1", "10", 4.0), ("2", "20", 3.0)],
        ),
        // Settings out of range, named.
        fails(
            "rating-range-inverted.csv",
            detect().rating_range(5.0, 1.0),
            None,
            None,
            "LoadOptions::rating_range: [5, 1]",
        ),
        fails(
            "rating-range-nan.csv",
            detect().rating_range(f64::NAN, 5.0),
            None,
            None,
            "LoadOptions::rating_range: [NaN, 5]",
        ),
    ]
}
