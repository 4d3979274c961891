//! Every loader on small inline inputs, and malformed inputs whose errors
//! must name the file, the line and the field.
//!
//! The malformed cases are a table: add a row (file name, content, options,
//! the pieces the message must contain) to cover a new one.

use std::path::PathBuf;

use mf_runtime::data::{
    DataError, Delimiter, Duplicates, Header, IdKind, LoadOptions, Problem, Ratings, Split,
};

/// A temporary directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("mf-data-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn write(&self, name: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, content).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn triplets(r: &Ratings) -> Vec<(String, String, f64)> {
    let mut out: Vec<_> = r
        .iter()
        .map(|(u, i, v)| {
            let user = r.user_ids().raw(u).unwrap().to_string();
            let item = r.item_ids().raw(i).unwrap().to_string();
            (user, item, v)
        })
        .collect();
    out.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    out
}

fn expect(r: &Ratings, rows: &[(&str, &str, f64)]) {
    let mut want: Vec<_> = rows
        .iter()
        .map(|&(u, i, v)| (u.to_string(), i.to_string(), v))
        .collect();
    want.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    assert_eq!(triplets(r), want);
}

#[test]
fn movielens_u_data() {
    let text =
        "196\t242\t3\t881250949\n186\t302\t3\t891717742\n22\t377\t1\t878887116\n196\t377\t4.5\t1\n";
    let r = LoadOptions::movielens_tab()
        .parse_str("u.data", text)
        .unwrap();
    expect(
        &r,
        &[
            ("196", "242", 3.0),
            ("186", "302", 3.0),
            ("22", "377", 1.0),
            ("196", "377", 4.5),
        ],
    );
    assert_eq!((r.num_users(), r.num_items()), (3, 3));
    // First-seen order.
    assert_eq!(r.user_ids().index(196), Some(0));
    assert_eq!(r.user_ids().index(22), Some(2));
    assert_eq!(r.item_ids().index(377), Some(2));
    // The name alone picks the format.
    assert_eq!(
        LoadOptions::new().parse_str("dir/u3.base", text).unwrap(),
        r
    );
    assert_eq!(LoadOptions::new().parse_str("ub.test", text).unwrap(), r);
}

#[test]
fn movielens_ratings_dat() {
    let text = "1::1193::5::978300760\n1::661::3::978302109\n2::1193::4::978298413\n";
    let r = LoadOptions::new()
        .parse_str("ml-1m/ratings.dat", text)
        .unwrap();
    expect(
        &r,
        &[("1", "1193", 5.0), ("1", "661", 3.0), ("2", "1193", 4.0)],
    );
}

#[test]
fn movielens_ratings_csv() {
    let text =
        "userId,movieId,rating,timestamp\n1,31,2.5,1260759144\n1,1029,3.0,1260759179\n7,31,0.5,1\n";
    let r = LoadOptions::new()
        .parse_str("ml-latest-small/ratings.csv", text)
        .unwrap();
    expect(
        &r,
        &[("1", "31", 2.5), ("1", "1029", 3.0), ("7", "31", 0.5)],
    );
}

#[test]
fn generic_delimited() {
    let text = "alice,matrix,5\nbob,matrix,3\n\"carol\",\"dune 2\",4\n  dave , dune 2 , 1.5 \n";
    let r = LoadOptions::comma().parse_str("x", text).unwrap();
    expect(
        &r,
        &[
            ("alice", "matrix", 5.0),
            ("bob", "matrix", 3.0),
            ("carol", "dune 2", 4.0),
            ("dave", "dune 2", 1.5),
        ],
    );
    assert!(!r.user_ids().is_integer());
    // Every line has as many fields as the first.
    let err = LoadOptions::comma()
        .parse_str("x", "alice,matrix,5\nbob,matrix,3,extra\n")
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "x:2: 4 fields, but line 1 has 3: column 4 is the first extra one"
    );
    let err = LoadOptions::comma()
        .parse_str("x", "alice,matrix,5,1\nbob,matrix,3\n")
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "x:2: 3 fields, but line 1 has 4: column 4 is missing"
    );

    let tsv = LoadOptions::new().parse_str("f.tsv", "1\t2\t3\n").unwrap();
    assert_eq!(tsv.get_raw(1, 2), Some(3.0));
    let semi = LoadOptions::delimited(Delimiter::Semicolon)
        .parse_str("x", "1;2;3\n")
        .unwrap();
    assert_eq!(semi.get_raw("1", "2"), Some(3.0));
    let ws = LoadOptions::delimited(Delimiter::Whitespace)
        .parse_str("x", "1 \t 2   3\n")
        .unwrap();
    assert_eq!(ws.get_raw(1, 2), Some(3.0));
    let dat = LoadOptions::new()
        .parse_str("other.dat", "a::b::2\n")
        .unwrap();
    assert_eq!(dat.get_raw("a", "b"), Some(2.0));
    let header = LoadOptions::new()
        .header(Header::Present)
        .parse_str("mine.csv", "u,i,r\n1,2,3\n")
        .unwrap();
    assert_eq!(header.nnz(), 1);
}

#[test]
fn bom_crlf_blank_lines() {
    let text = "\u{feff}1,2,3\r\n\r\n2,2,4\r\n   \r\n\r\n";
    let r = LoadOptions::comma().parse_str("x", text).unwrap();
    expect(&r, &[("1", "2", 3.0), ("2", "2", 4.0)]);
    // Line numbers count the blank lines.
    let err = LoadOptions::comma()
        .parse_str("x", "1,2,3\r\n\r\n2,2,oops\r\n")
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "x:3: field `rating` (column 3): `oops` is not a number"
    );
    let csv = "\u{feff}userId,movieId,rating,timestamp\r\n1,31,2.5,1260759144\r\n";
    assert_eq!(
        LoadOptions::new()
            .parse_str("ratings.csv", csv)
            .unwrap()
            .nnz(),
        1
    );
}

#[test]
fn files_on_disk() {
    let dir = TempDir::new("disk");
    let path = dir.write("u.data", "1\t1\t5\t0\r\n2\t1\t3\t0\r\n");
    let r = Ratings::load(&path).unwrap();
    assert_eq!(r.nnz(), 2);
    assert_eq!(Ratings::from_movielens(&path).unwrap(), r);
    // The content tells the format, not the name.
    let renamed = dir.write("u.data.bak", "1\t1\t5\t0\r\n2\t1\t3\t0\r\n");
    assert_eq!(triplets(&Ratings::load(&renamed).unwrap()), triplets(&r));
    let bad = dir.write("notes.bak", "1-1-5\n");
    assert!(matches!(
        Ratings::load(&bad),
        Err(DataError::UnknownFormat { .. })
    ));
    let missing = dir.0.join("absent.csv");
    let err = Ratings::load(&missing).unwrap_err();
    assert!(err.to_string().contains("absent.csv: cannot read"), "{err}");
    let latin1 = dir.write("latin1.csv", b"1,2,3\n\xe9,2,3\n");
    let err = Ratings::load(&latin1).unwrap_err().to_string();
    assert!(
        err.contains("latin1.csv:2: field `user` (column 1): not valid UTF-8 (byte 1)"),
        "{err}"
    );
}

#[test]
fn given_split_files_count_unseen() {
    let dir = TempDir::new("split");
    let train = dir.write("u1.base", "1\t10\t5\t0\n1\t20\t3\t0\n2\t10\t4\t0\n");
    let test = dir.write(
        "u1.test",
        "2\t20\t2\t0\n3\t10\t1\t0\n3\t30\t1\t0\n1\t30\t2\t0\n",
    );
    let s = Split::from_files(&train, &test, &LoadOptions::new()).unwrap();
    assert_eq!((s.train.nnz(), s.test.nnz()), (3, 1));
    assert_eq!(s.test.get_raw(2, 20), Some(2.0));
    assert_eq!(
        (s.unseen_users, s.unseen_items, s.dropped_entries),
        (1, 1, 3)
    );
    assert_eq!(s.test.user_ids(), s.train.user_ids());
    assert_eq!(
        (s.test.num_users(), s.test.num_items()),
        (s.train.num_users(), s.train.num_items())
    );
    let summary = s.to_string();
    assert!(summary.contains("3 test ratings left out"), "{summary}");
    let by_name = Split::movielens(&dir.0, "u1").unwrap();
    assert_eq!(by_name.test, s.test);
    // Errors in the test file name the test file.
    dir.write("u2.base", "1\t10\t5\t0\n");
    dir.write("u2.test", "1\t10\t5\n");
    let err = Split::movielens(&dir.0, "u2").unwrap_err().to_string();
    assert!(
        err.contains("u2.test:1: field `timestamp` (column 4): missing"),
        "{err}"
    );
}

#[test]
fn duplicate_policies_in_files() {
    let text = "1,1,1\n1,2,5\n1,1,2\n1,1,6\n";
    let err = LoadOptions::comma().parse_str("dup.csv", text).unwrap_err();
    assert!(
        matches!(
            &err,
            DataError::Duplicate {
                first: 1,
                second: 3,
                unit: "line",
                ..
            }
        ),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.starts_with("dup.csv:3: duplicate rating for user `1` and item `1`"),
        "{msg}"
    );
    assert!(msg.contains("line 1"), "{msg}");
    let get = |p| {
        LoadOptions::comma()
            .duplicates(p)
            .parse_str("dup.csv", text)
            .unwrap()
            .get_raw(1, 1)
    };
    assert_eq!(get(Duplicates::KeepFirst), Some(1.0));
    assert_eq!(get(Duplicates::KeepLast), Some(6.0));
    assert_eq!(get(Duplicates::Average), Some(3.0));
    // Line numbers stay right after a header and blank lines.
    let err = LoadOptions::comma()
        .header(Header::Present)
        .parse_str("dup.csv", "u,i,r\n\n1,1,1\n2,2,2\n\n1,1,1\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("dup.csv:6:") && err.contains("line 3"),
        "{err}"
    );
}

/// One malformed input: where the error must point.
struct Case {
    file: &'static str,
    text: &'static str,
    options: LoadOptions,
    /// Substrings of the message besides the file name (line, field, problem).
    expect: &'static [&'static str],
}

fn case(file: &'static str, text: &'static str, expect: &'static [&'static str]) -> Case {
    Case {
        file,
        text,
        options: LoadOptions::new(),
        expect,
    }
}

#[test]
fn malformed_inputs_name_file_line_and_field() {
    let cases = [
        case(
            "bad.csv",
            "1,2,3\n1,3,abc\n",
            &[":2:", "field `rating`", "column 3", "`abc` is not a number"],
        ),
        case(
            "bad.csv",
            "1,2,3\n1,3,NaN\n",
            &[":2:", "field `rating`", "`NaN` is not a finite number"],
        ),
        case(
            "bad.csv",
            "1,2,inf\n",
            &[":1:", "field `rating`", "not a finite number"],
        ),
        case(
            "bad.csv",
            "1,2,3\n1,3\n",
            &[
                ":2:",
                "field `rating`",
                "missing (the line has only 2 fields)",
            ],
        ),
        case(
            "bad.csv",
            "1,2,3\n1\n",
            &[":2:", "field `item`", "missing (the line has only 1 field)"],
        ),
        case(
            "bad.csv",
            "1,,3\n",
            &[":1:", "field `item`", "column 2", "empty"],
        ),
        case("bad.csv", "1,2,\n", &[":1:", "field `rating`", "empty"]),
        case(
            "u.data",
            "1\t2\t3\t4\n5\t6\t7\n",
            &[":2:", "field `timestamp`", "column 4", "missing"],
        ),
        case(
            "u.data",
            "1\t2\t3\tnoon\n",
            &[":1:", "field `timestamp`", "`noon` is not an integer"],
        ),
        Case {
            options: LoadOptions::movielens_tab(),
            ..case(
                "u.data",
                "1,2,3,4\n",
                &[":1:", "field `user`", "`1,2,3,4` is not an integer"],
            )
        },
        case(
            "u.data",
            "ann\t2\t3\t4\n",
            &[":1:", "field `user`", "column 1", "`ann` is not an integer"],
        ),
        case(
            "u.data",
            "99999999999999999999\t2\t3\t4\n",
            &[
                ":1:",
                "field `user`",
                "not an integer (in the 64-bit range)",
            ],
        ),
        case(
            "ratings.dat",
            "1::2::3::4\n1::x::3::4\n",
            &[":2:", "field `item`", "`x` is not an integer"],
        ),
        case(
            "ratings.csv",
            "userId,itemId,rating,timestamp\n1,31,2.5,1260759144\n",
            &[
                ":1:",
                "expected the header `userId,movieId,rating,timestamp`",
            ],
        ),
        case(
            "ratings.csv",
            "userId,movieId,rating,timestamp\n1,31,2.5,later\n",
            &[":2:", "field `timestamp`"],
        ),
        case("empty.csv", "", &["no ratings: the file is empty"]),
        case("blank.csv", "\n  \r\n\n", &["no ratings: only blank lines"]),
        case(
            "ratings.csv",
            "userId,movieId,rating,timestamp\r\n\r\n",
            &["no ratings: only a header (line 1)"],
        ),
        case(
            "dup.csv",
            "1,2,3\n4,5,6\n1,2,4\n",
            &[
                ":3:",
                "duplicate rating for user `1` and item `2`",
                "line 1",
            ],
        ),
        case(
            "notes.txt",
            "1-2-3\n",
            &[
                "cannot tell the format",
                "`1-2-3`",
                "LoadOptions::delimiter",
            ],
        ),
        Case {
            options: LoadOptions::comma().rating_range(1.0, 5.0),
            ..case(
                "range.csv",
                "1,2,3\n1,3,0\n",
                &[
                    ":2:",
                    "field `rating`",
                    "0 is outside the allowed range [1, 5]",
                ],
            )
        },
        Case {
            options: LoadOptions::comma().ids(IdKind::Integer),
            ..case(
                "ids.csv",
                "1,2,3\n1,b2,3\n",
                &[":2:", "field `item`", "`b2` is not an integer"],
            )
        },
        Case {
            options: LoadOptions::tab(),
            ..case(
                "tabs-vs-commas",
                "1,2,3\n",
                &[":1:", "field `item`", "missing"],
            )
        },
        Case {
            options: LoadOptions::comma().header(Header::Present),
            ..case(
                "header-only.csv",
                "user,item,rating\n",
                &["no ratings: only a header (line 1)"],
            )
        },
    ];
    for c in cases {
        let err = c
            .options
            .parse_str(c.file, c.text)
            .expect_err(&format!("{} {:?} should fail", c.file, c.text));
        let msg = err.to_string();
        assert!(
            msg.starts_with(c.file),
            "{msg:?} does not start with {}",
            c.file
        );
        for piece in c.expect {
            assert!(
                msg.contains(piece),
                "{msg:?} lacks {piece:?} ({:?})",
                c.text
            );
        }
    }
}

#[test]
fn field_errors_are_structured() {
    let err = LoadOptions::comma()
        .parse_str("x.csv", "1,2,3\n\n1,3,abc\n")
        .unwrap_err();
    match err {
        DataError::Field {
            file,
            line,
            field,
            column,
            problem,
        } => {
            assert_eq!(
                (file.as_str(), line, field, column),
                ("x.csv", 3, "rating", 3)
            );
            assert_eq!(problem, Problem::NotANumber("abc".into()));
        }
        other => panic!("{other:?}"),
    }
}
