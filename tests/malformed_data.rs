//! The malformed-data corpus: every file in `tests/data/malformed/` is read
//! from disk by the loader, and its expected outcome is written here by hand
//! (never derived from the loader's output): for a broken file, the line,
//! the field (where one is at fault) and the problem the error must name,
//! besides the file; for a valid edge case (BOM, CRLF, tabs, quotes, huge
//! text ids), the ratings it must load as.
//!
//! A file in the directory without a row here, or a row without a file,
//! fails the test: adding to the corpus means saying what it must do.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use mf_runtime::data::{Header, IdKind, LoadOptions, Ratings};

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/malformed")
}

enum Outcome {
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

struct Case {
    file: &'static str,
    options: LoadOptions,
    outcome: Outcome,
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

fn cases() -> Vec<Case> {
    let tab = LoadOptions::movielens_tab;
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
        // The wrong delimiter.
        fails(
            "tabs-in-comma-file.csv",
            detect(),
            Some(1),
            Some("item"),
            "missing (the line has only 1 field)",
        ),
        fails(
            "commas-in-tab-file.tsv",
            detect(),
            Some(1),
            Some("item"),
            "missing (the line has only 1 field)",
        ),
        fails(
            "commas-in-u-data.base",
            detect(),
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
        fails(
            "undeclared-header.csv",
            detect(),
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
        fails(
            "gzip-garbage.csv",
            detect(),
            Some(1),
            None,
            "not valid UTF-8 (byte 2)",
        ),
        fails(
            "latin1.csv",
            detect(),
            Some(3),
            None,
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
    ]
}

fn entries(r: &Ratings) -> Vec<(String, String, f64)> {
    let mut out: Vec<_> = r
        .iter()
        .map(|(u, i, v)| {
            (
                r.user_ids().raw(u).unwrap().to_string(),
                r.item_ids().raw(i).unwrap().to_string(),
                v,
            )
        })
        .collect();
    out.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    out
}

#[test]
fn every_corpus_file_has_an_expected_outcome() {
    let on_disk: BTreeSet<String> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| !name.starts_with('.')) // .gitattributes
        .collect();
    let listed: BTreeSet<String> = cases().iter().map(|c| c.file.to_string()).collect();
    assert_eq!(on_disk, listed, "the corpus and the table differ");
    let broken = cases()
        .iter()
        .filter(|c| matches!(c.outcome, Outcome::Fails { .. }))
        .count();
    assert!(broken >= 20, "only {broken} malformed files");
}

#[test]
fn malformed_files_name_the_file_line_field_and_problem() {
    let mut failures = Vec::new();
    for case in cases() {
        let path = corpus_dir().join(case.file);
        let shown = path.display().to_string();
        let result = case.options.load(&path);
        match (&case.outcome, result) {
            (
                Outcome::Fails {
                    line,
                    field,
                    problem,
                },
                Err(err),
            ) => {
                let msg = err.to_string();
                let place = match line {
                    Some(line) => format!("{shown}:{line}: "),
                    None => format!("{shown}: "),
                };
                let mut ok = msg.starts_with(&place) && msg.contains(problem);
                if let Some(field) = field {
                    ok &= msg.contains(&format!("field `{field}`"));
                }
                if !ok {
                    failures.push(format!(
                        "{}: {msg:?} should start with {place:?}, name field {field:?} and say {problem:?}",
                        case.file
                    ));
                }
            }
            (Outcome::Fails { .. }, Ok(r)) => {
                failures.push(format!("{}: loaded {} ratings", case.file, r.nnz()))
            }
            (Outcome::Loads(want), Ok(r)) => {
                let mut want: Vec<_> = want
                    .iter()
                    .map(|&(u, i, v)| (u.to_string(), i.to_string(), v))
                    .collect();
                want.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
                if entries(&r) != want {
                    failures.push(format!("{}: loaded {:?}", case.file, entries(&r)));
                }
            }
            (Outcome::Loads(_), Err(err)) => failures.push(format!("{}: {err}", case.file)),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Negative ids are an error only where ids are read as integers; as text
/// they are ids like any other.
#[test]
fn negative_ids_are_text_unless_integers_are_required() {
    let text = "1,10,4\n2,-20,3\n";
    let r = LoadOptions::comma().parse_str("x.csv", text).unwrap();
    assert_eq!(r.get_raw(2, -20), Some(3.0));
    let err = LoadOptions::comma()
        .ids(IdKind::Integer)
        .parse_str("x.csv", text)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "x.csv:2: field `item` (column 2): `-20` is negative (ids must be ≥ 0)"
    );
}
