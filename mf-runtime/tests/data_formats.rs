//! Files from the field: quoting, every line ending, compressed input, the
//! Netflix layout, formats told by content rather than name, and a property
//! test that any ratings written as CSV, quoted and ended at random, load
//! back the same.

use std::io::Write;

use mf_runtime::data::{DataError, Delimiter, Header, LoadOptions, Ratings};
use proptest::prelude::*;

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

fn owned(rows: &[(&str, &str, f64)]) -> Vec<(String, String, f64)> {
    let mut out: Vec<_> = rows
        .iter()
        .map(|&(u, i, v)| (u.to_string(), i.to_string(), v))
        .collect();
    out.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

const ML_CSV: &str =
    "userId,movieId,rating,timestamp\n1,31,2.5,1260759144\n1,1029,3.0,1260759179\n7,31,0.5,1\n";

/// A comma inside quotes stays in its field: the rating is not lost and the
/// item is not taken for the rating.
#[test]
fn quoted_delimiters_stay_in_their_field() {
    let r = LoadOptions::new()
        .parse_str(
            "mine.csv",
            "\"Smith, J\",42,4\n\"Doe, A\",\"7, deluxe\",3\n",
        )
        .unwrap();
    assert_eq!(
        triplets(&r),
        owned(&[("Smith, J", "42", 4.0), ("Doe, A", "7, deluxe", 3.0)])
    );
    let r = LoadOptions::delimited(Delimiter::Semicolon)
        .parse_str("x", "a;\"b;\"\"c\"\"\";2\n")
        .unwrap();
    assert_eq!(r.get_raw("a", "b;\"c\""), Some(2.0));
}

/// Old-Mac files: every line loads, and errors name the right line.
#[test]
fn bare_carriage_returns_end_lines() {
    let text = "1,10,4,1000\r2,10,3,1001\r3,20,5,1002\r4,20,1,1003\r";
    let r = LoadOptions::new().parse_str("old-mac.csv", text).unwrap();
    assert_eq!(r.nnz(), 4);
    let tab = "1\t10\t4\t1000\r2\t10\tx\t1001\r";
    let err = LoadOptions::new().parse_str("u.data", tab).unwrap_err();
    assert_eq!(
        err.to_string(),
        "u.data:2: field `rating` (column 3): `x` is not a number"
    );
    let dat = "1::10::4::1000\r\r2::10::4.5::1001\r";
    let err = LoadOptions::new()
        .rating_range(1.0, 4.0)
        .parse_str("ratings.dat", dat)
        .unwrap_err();
    assert!(
        err.to_string().starts_with("ratings.dat:3: field `rating`"),
        "{err}"
    );
}

/// A control character never reaches the terminal raw.
#[test]
fn control_characters_in_messages_are_escaped() {
    let err = LoadOptions::comma()
        .parse_str("x", "1,2,\"4\x1b[2J\"\n")
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        r"x:1: field `rating` (column 3): `4\u{1b}[2J` is not a number"
    );
    let err = LoadOptions::movielens_csv()
        .parse_str("ratings.csv", "user\x07Id,movie,rating\n1,2,3\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains(r"found `user\u{7}Id,movie,rating`"), "{err}");
    assert!(!err.chars().any(char::is_control), "{err:?}");
}

/// `--data mydata.csv` holding MovieLens `ratings.csv` content; a
/// headerless `ratings.csv`; errors shown as messages by `Debug` too.
#[test]
fn format_is_told_by_content_not_name() {
    let dir = tempfile::tempdir().unwrap();
    let mine = dir.path().join("mydata.csv");
    std::fs::write(&mine, ML_CSV).unwrap();
    let r = Ratings::load(&mine).unwrap();
    assert_eq!(
        triplets(&r),
        owned(&[("1", "31", 2.5), ("1", "1029", 3.0), ("7", "31", 0.5)])
    );
    // MovieLens content means integer ids.
    assert!(r.user_ids().is_integer());
    let headerless = ML_CSV.split_once('\n').unwrap().1;
    let ml = dir.path().join("ratings.csv");
    std::fs::write(&ml, headerless).unwrap();
    assert_eq!(Ratings::load(&ml).unwrap(), r);
    assert_eq!(Ratings::from_movielens(&ml).unwrap(), r);
    let notes = dir.path().join("notes");
    std::fs::write(&notes, "1-2-3\n").unwrap();
    let err = Ratings::load(&notes).unwrap_err();
    assert!(matches!(err, DataError::UnknownFormat { .. }));
    let shown = format!("{err:?}");
    assert_eq!(shown, err.to_string());
    assert!(shown.contains("LoadOptions::delimiter"), "{shown}");
}

#[test]
fn gzip_is_read_whatever_the_name() {
    let dir = tempfile::tempdir().unwrap();
    let gz = gzip(ML_CSV.as_bytes());
    let plain = LoadOptions::new().parse_str("ratings.csv", ML_CSV).unwrap();
    for name in ["ratings.csv.gz", "ratings.csv", "export.bin"] {
        let path = dir.path().join(name);
        std::fs::write(&path, &gz).unwrap();
        assert_eq!(Ratings::load(&path).unwrap(), plain, "{name}");
    }
    // Errors count lines of the decompressed text.
    let bad = gzip(b"1,2,3\r\n4,5,x\r\n");
    let err = LoadOptions::new()
        .parse_reader("bad.csv.gz", &bad[..])
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "bad.csv.gz:2: field `rating` (column 3): `x` is not a number"
    );
}

#[test]
fn netflix_layout() {
    let text =
        "1:\r\n1488844,3,2005-09-06\r\n822109,5,2005-05-13\r\n\r\n2:\r\n1488844,4,2005-11-01\r\n";
    let r = LoadOptions::new()
        .parse_str("combined_data_1.txt", text)
        .unwrap();
    assert_eq!(
        triplets(&r),
        owned(&[
            ("1488844", "1", 3.0),
            ("1488844", "2", 4.0),
            ("822109", "1", 5.0)
        ])
    );
    let errors = [
        (
            "1:\n6,3\n",
            "n:2: field `date` (column 3): missing (the line has only 2 fields)",
        ),
        (
            "1:\n6,3,2005-9-6\n",
            "n:2: field `date` (column 3): `2005-9-6` is not a date YYYY-MM-DD",
        ),
        (
            "x1:\n",
            "n:1: field `item` (column 1): `x1` is not an integer (in the 64-bit range)",
        ),
        (
            "1:\n6,3,2005-09-06,x\n",
            "n:2: 4 fields, but a Netflix rating line has 3 (customer, rating, date)",
        ),
        (
            "1:\n6,nan,2005-09-06\n",
            "n:2: field `rating` (column 2): `nan` is not a finite number",
        ),
    ];
    for (text, want) in errors {
        let err = LoadOptions::netflix().parse_str("n", text).unwrap_err();
        assert_eq!(err.to_string(), want, "{text:?}");
    }
}

#[test]
fn columns_and_headers() {
    let r = LoadOptions::new()
        .parse_str("x.csv", "rating,item_id,user_id\n4,dune,ann\n")
        .unwrap();
    assert_eq!(r.get_raw("ann", "dune"), Some(4.0));
    let given = LoadOptions::new()
        .header(Header::Absent)
        .columns("item,rating,user".parse().unwrap())
        .parse_str("x.csv", "dune,4,ann\n")
        .unwrap();
    assert_eq!(given.get_raw("ann", "dune"), Some(4.0));
    let err = LoadOptions::comma()
        .columns("user,item,_,rating".parse().unwrap())
        .parse_str("x", "1,2,3\n")
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "x:1: field `rating` (column 4): missing (the line has only 3 fields)"
    );
    let err = LoadOptions::comma()
        .columns("user,item,rating,timestamp".parse().unwrap())
        .parse_str("x", "1,2,3,noon\n")
        .unwrap_err();
    assert!(
        err.to_string().contains("`noon` is not an integer"),
        "{err}"
    );
}

/// One id for the property test: letters, digits and the characters that
/// need quoting, never blank at either end (fields are trimmed).
fn id() -> impl Strategy<Value = String> {
    let chars = prop::sample::select(vec![
        'a', 'B', '7', '0', ' ', ',', ';', '|', '"', '\'', 'é', '\t',
    ]);
    prop::collection::vec(chars, 1..6).prop_map(|cs| {
        let s: String = cs.into_iter().collect();
        format!("x{s}y")
    })
}

/// Writes one field, quoted when it must be or when `quote` says.
fn field(text: &str, quote: bool) -> String {
    if quote || text.contains([',', '"', ';', '|', '\t']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 200,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn csv_written_any_way_loads_back_the_same(
        entries in prop::collection::btree_map((id(), id()), 0u32..=10, 1..30),
        order in prop::sample::select(vec![[0, 1, 2], [1, 0, 2], [2, 0, 1], [1, 2, 0], [0, 2, 1], [2, 1, 0]]),
        header in any::<bool>(),
        quoting in prop::collection::vec(any::<bool>(), 90),
        endings in prop::collection::vec(0usize..3, 31),
    ) {
        let names = ["user", "item", "rating"];
        let mut text = String::new();
        let ending = |k: usize| ["\n", "\r\n", "\r"][endings[k % endings.len()]];
        if header {
            let line: Vec<&str> = order.iter().map(|&c| names[c]).collect();
            text.push_str(&line.join(","));
            text.push_str(ending(30));
        }
        for (k, ((user, item), half)) in entries.iter().enumerate() {
            let rating = (*half as f64 / 2.0).to_string();
            let values = [user.as_str(), item.as_str(), rating.as_str()];
            let line: Vec<String> = order
                .iter()
                .enumerate()
                .map(|(j, &c)| field(values[c], quoting[(3 * k + j) % quoting.len()]))
                .collect();
            text.push_str(&line.join(","));
            text.push_str(ending(k));
        }
        let mut options = LoadOptions::new();
        if !header {
            let columns: Vec<&str> = order.iter().map(|&c| names[c]).collect();
            options = options.header(Header::Absent).columns(columns.join(",").parse().unwrap());
        }
        let loaded = options.parse_str("prop.csv", &text).unwrap();
        let want: Vec<(String, String, f64)> = entries
            .iter()
            .map(|((u, i), half)| (u.clone(), i.clone(), *half as f64 / 2.0))
            .collect();
        prop_assert_eq!(triplets(&loaded), want, "{:?}", text);
    }
}

/// Every format that has times keeps them, in seconds since the Unix
/// epoch (Netflix dates at their midnight, UTC: `date -u -d 2005-09-06 +%s`),
/// aligned with the entries; a repeat kept keeps its own time.
#[test]
fn timestamps_are_kept_in_every_format() {
    use mf_runtime::data::Duplicates;
    let times = |opts: LoadOptions, name: &str, text: &str| {
        let r = opts.parse_str(name, text).unwrap();
        let values = r.csr().values.to_vec();
        (values, r.timestamps().map(<[i64]>::to_vec))
    };
    let new = LoadOptions::new;
    let cases = [
        (
            new(),
            "u.data",
            "196\t242\t3\t881250949\n186\t302\t4\t891717742\n",
            vec![881_250_949, 891_717_742],
        ),
        (
            new(),
            "ratings.dat",
            "1::1193::5::978300760\n",
            vec![978_300_760],
        ),
        (
            new(),
            "x.csv",
            "userId,movieId,rating,timestamp\n1,31,2.5,1260759144\n",
            vec![1_260_759_144],
        ),
        (
            new(),
            "n.txt",
            "1:\n1488844,3,2005-09-06\n7,4,1970-01-02\n",
            vec![1_125_964_800, 86_400],
        ),
        (
            new(),
            "g.txt",
            "user;item;rating;timestamp\nann;dune;4;-17\n",
            vec![-17],
        ),
        (
            LoadOptions::comma().columns("timestamp,user,item,rating".parse().unwrap()),
            "g.csv",
            "17,ann,dune,4\n",
            vec![17],
        ),
    ];
    for (opts, name, text, want) in cases {
        assert_eq!(times(opts, name, text).1, Some(want), "{name}");
    }
    assert_eq!(times(new(), "g.csv", "ann,dune,4\n").1, None);
    let repeats = "1,1,1,5\n1,1,3,9\n1,1,2,7\n";
    let timed = || LoadOptions::comma().columns("user,item,rating,timestamp".parse().unwrap());
    for (policy, value, time) in [
        (Duplicates::KeepFirst, 1.0, 5),
        (Duplicates::KeepLast, 2.0, 7),
        (Duplicates::Average, 2.0, 9),
    ] {
        let got = times(timed().duplicates(policy), "d.csv", repeats);
        assert_eq!(got, (vec![value], Some(vec![time])), "{policy:?}");
    }
}
