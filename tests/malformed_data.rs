//! The malformed-data corpus: every file in `tests/data/malformed/` is read
//! from disk by the loader, and its expected outcome is written here by hand
//! (never derived from the loader's output): for a broken file, the line,
//! the field (where one is at fault) and the problem the error must name,
//! besides the file; for a valid edge case (BOM, CRLF, tabs, quotes, huge
//! text ids), the ratings it must load as.
//!
//! A file in the directory without a row here, or a row without a file,
//! fails the test: adding to the corpus means saying what it must do.

#[path = "malformed_data/cases.rs"]
mod cases;
#[path = "malformed_data/side_cases.rs"]
mod side_cases;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use cases::{cases, Outcome};
use mf_runtime::data::{Features, IdKind, IdMap, LoadOptions, Ratings};
use side_cases::{side_cases, Side};

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/malformed")
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
    // A file may be listed more than once, with other options.
    let listed: BTreeSet<String> = cases()
        .iter()
        .map(|c| c.file)
        .chain(side_cases().iter().map(|c| c.file))
        .map(String::from)
        .collect();
    assert_eq!(on_disk, listed, "the corpus and the table differ");
    let broken = cases()
        .iter()
        .filter(|c| matches!(c.outcome, Outcome::Fails { .. }))
        .count();
    assert!(broken >= 40, "only {broken} malformed files");
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
                failures.extend(
                    misplaced(&shown, &err.to_string(), *line, *field, problem)
                        .map(|why| format!("{}: {why}", case.file)),
                );
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

/// Why `msg`, the error for file `shown`, does not name the `line`, the
/// `field` and the `problem` it must; `None` when it does.
fn misplaced(
    shown: &str,
    msg: &str,
    line: Option<usize>,
    field: Option<&str>,
    problem: &str,
) -> Option<String> {
    let place = match line {
        Some(line) => format!("{shown}:{line}: "),
        None => format!("{shown}: "),
    };
    let mut ok = msg.starts_with(&place) && msg.contains(problem);
    if let Some(field) = field {
        ok &= msg.contains(&format!("field `{field}`"));
    }
    (!ok).then(|| {
        format!("{msg:?} should start with {place:?}, name field {field:?} and say {problem:?}")
    })
}

/// Malformed user and item attribute files: each error names the file,
/// the line and the field, read on the ids 0 … 9.
#[test]
fn malformed_side_information_names_the_file_line_field_and_problem() {
    let ids = IdMap::identity(10);
    let mut failures = Vec::new();
    let cases = side_cases();
    assert!(
        cases.len() >= 15,
        "only {} side-information files",
        cases.len()
    );
    for case in cases {
        let path = corpus_dir().join(case.file);
        let shown = path.display().to_string();
        let result = match case.side {
            Side::Users => Features::movielens_users(&path, &ids),
            Side::Items => Features::movielens_items(&path, &ids),
            Side::Genres => Features::movielens_genres(&path, &ids),
        };
        match result {
            Ok(f) => failures.push(format!("{}: loaded {f}", case.file)),
            Err(err) => failures.extend(
                misplaced(
                    &shown,
                    &err.to_string(),
                    case.line,
                    case.field,
                    case.problem,
                )
                .map(|why| format!("{}: {why}", case.file)),
            ),
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
