//! Tests of the builder: duplicates, timestamps and refused entries.

use super::*;

#[test]
fn duplicate_policies() {
    let build = |policy| {
        let mut b = RatingsBuilder::new().duplicates(policy);
        for (u, i, v) in [(1, 1, 1.0), (2, 2, 5.0), (1, 1, 2.0), (1, 1, 6.0)] {
            b.push(u, i, v);
        }
        b.build()
    };
    assert_eq!(build(Duplicates::KeepFirst).unwrap().get(0, 0), Some(1.0));
    assert_eq!(build(Duplicates::KeepLast).unwrap().get(0, 0), Some(6.0));
    assert_eq!(build(Duplicates::Average).unwrap().get(0, 0), Some(3.0));
    let err = build(Duplicates::Error).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::Duplicate {
                first: 1,
                second: 3,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn the_earliest_repeat_is_reported() {
    let mut b = RatingsBuilder::new();
    for (u, i) in [(5, 5), (1, 1), (5, 5), (1, 1)] {
        b.push(u, i, 1.0);
    }
    let err = b.build().unwrap_err();
    assert!(
        matches!(&err, DataError::Duplicate { first: 1, second: 3, user, .. } if user == "5"),
        "{err:?}"
    );
}

#[test]
fn line_index_maps_entries_to_lines() {
    let mut index = LineIndex::default();
    for (e, line) in [2, 3, 4, 7, 8, 10].into_iter().enumerate() {
        index.record(e, line);
    }
    let lines: Vec<_> = (0..6).map(|e| index.line_of(e)).collect();
    assert_eq!(lines, [2, 3, 4, 7, 8, 10]);
}
