//! Loads on many threads, with blocks down to one byte, against loads on
//! one thread: the same ratings, and the same first error.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::{run, Parse, Plan, Sink};
use crate::data::load::cut::{Blocks, Records};
use crate::data::load::input;
use crate::data::{
    DataError, Delimiter, Duplicates, LoadOptions, Ratings, RatingsBuilder, RawId, Unseen,
};

/// `options` on one thread, its blocks as large as the input, against
/// three threads with blocks of a few bytes: equal, errors included.
fn same_on_threads(options: &LoadOptions, bytes: &[u8]) -> Result<(), String> {
    let load = |o: LoadOptions| o.parse_reader("f.csv", bytes).map_err(|e| e.to_string());
    let alone = load(options.clone().threads(1));
    for block in [1, 2, 3, 5, 8, 13, 64, 1000] {
        let spread = LoadOptions {
            block,
            ..options.clone().threads(3)
        };
        assert_eq!(load(spread), alone, "blocks of {block} bytes");
    }
    alone.map(|_| ())
}

/// A field for a generic file: plain, or quoted around delimiters, line
/// breaks and escaped quotes.
fn field(rng: &mut StdRng, kind: char) -> String {
    let plain = format!("{kind}{}", rng.random_range(0..9));
    match rng.random_range(0..6) {
        0 => format!("\"{plain}\""),
        1 => format!("\"{plain},\n{plain}\""),
        2 => format!("\"{plain} \"\"q\"\"\""),
        3 => format!(" {plain} "),
        _ => plain.to_string(),
    }
}

/// A comma-separated ratings file: quoted fields, blank lines, an optional
/// header, and (when `faults`) now and then a bad line.
fn generic(rng: &mut StdRng, faults: bool) -> String {
    let mut text = String::new();
    if rng.random_bool(0.5) {
        text.push_str("user,item,rating\n");
    }
    for _ in 0..rng.random_range(0..60) {
        let (user, item) = (field(rng, 'u'), field(rng, 'i'));
        let rating = rng.random_range(1..=5);
        let line = match (faults, rng.random_range(0..40)) {
            (_, 0 | 1) => String::new(),
            (true, 2) => format!("{user},{item},five"),
            (true, 3) => format!("{user},{item}"),
            (true, 4) => format!("{user},{item},{rating},extra"),
            (true, 5) => format!("{user},\"{item},{rating}"),
            _ => format!("{user},{item},{rating}"),
        };
        text.push_str(&line);
        text.push('\n');
    }
    text
}

/// The bytes of `text` as a file may hold them: line endings `\n`, `\r\n`
/// or `\r`, with or without a byte-order mark, maybe gzipped.
fn encoded(rng: &mut StdRng, text: &str) -> Vec<u8> {
    let ending = ["\n", "\r\n", "\r"][rng.random_range(0..3)];
    let mut bytes = Vec::new();
    if rng.random_bool(0.3) {
        bytes.extend_from_slice("\u{feff}".as_bytes());
    }
    bytes.extend_from_slice(text.replace('\n', ending).as_bytes());
    if rng.random_bool(0.2) {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&bytes).unwrap();
        bytes = gz.finish().unwrap();
    }
    bytes
}

#[test]
fn generic_files_load_alike_on_many_threads() {
    let mut rng = StdRng::seed_from_u64(13);
    let (mut loaded, mut failed) = (0, 0);
    for k in 0..300 {
        let text = generic(&mut rng, k % 2 == 1);
        let policy = [Duplicates::Error, Duplicates::KeepLast][k % 4 / 2];
        let options = LoadOptions::comma().duplicates(policy);
        match same_on_threads(&options, &encoded(&mut rng, &text)) {
            Ok(()) => loaded += 1,
            Err(_) => failed += 1,
        }
    }
    // Both outcomes are exercised.
    assert!(
        loaded > 50 && failed > 50,
        "{loaded} loaded, {failed} failed"
    );
}

#[test]
fn text_delimited_and_movielens_files_load_alike_on_many_threads() {
    let mut rng = StdRng::seed_from_u64(7);
    for k in 0..150 {
        let mut text = String::new();
        for _ in 0..rng.random_range(0..40) {
            let (u, i, r) = (
                rng.random_range(0..7),
                rng.random_range(0..7),
                rng.random_range(1..=5),
            );
            let line = match rng.random_range(0..30) {
                0 => String::new(),
                1 if k % 2 == 1 => format!("{u}::{i}::x::5"),
                2 if k % 2 == 1 => format!("{u}::{i}::{r}"),
                _ => format!("{u}::{i}::{r}::{}", 978300760 + k),
            };
            text.push_str(&line);
            text.push('\n');
        }
        let bytes = encoded(&mut rng, &text);
        let _ = same_on_threads(&LoadOptions::movielens_dat(), &bytes);
        let spaced = text.replace("::", "  ");
        let _ = same_on_threads(
            &LoadOptions::delimited(Delimiter::Whitespace),
            spaced.as_bytes(),
        );
        let dotted = text.replace("::", "·");
        let _ = same_on_threads(
            &LoadOptions::delimited(Delimiter::Char('·')),
            dotted.as_bytes(),
        );
    }
}

#[test]
fn netflix_files_load_alike_on_many_threads() {
    let mut rng = StdRng::seed_from_u64(5);
    for k in 0..150 {
        let mut text = String::new();
        for _ in 0..rng.random_range(0..40) {
            let line = match rng.random_range(0..12) {
                0 | 1 => format!("{}:", rng.random_range(1..6)),
                2 => String::new(),
                3 if k % 2 == 1 => "x:".into(),
                4 if k % 2 == 1 => format!("{},9,2005-09-06", rng.random_range(1..6)),
                _ => format!(
                    "{},{},2005-0{}-1{}",
                    rng.random_range(1..6),
                    rng.random_range(1..6),
                    rng.random_range(1..10),
                    rng.random_range(0..10)
                ),
            };
            text.push_str(&line);
            text.push('\n');
        }
        let options = LoadOptions::netflix().rating_range(1.0, 5.0);
        let _ = same_on_threads(&options, &encoded(&mut rng, &text));
    }
}

/// Test files read on the id maps of a training file: the same entries
/// and the same unseen counts; timestamps dropped alike.
#[test]
fn loads_on_fixed_maps_and_without_times_alike() {
    let mut rng = StdRng::seed_from_u64(11);
    let train = LoadOptions::comma()
        .parse_str("train", &generic(&mut rng, false))
        .unwrap();
    for _ in 0..100 {
        let text = generic(&mut rng, false);
        let on = |o: LoadOptions| {
            o.parse_on("t", text.as_bytes(), &train)
                .map_err(|e| e.to_string())
        };
        let alone = on(LoadOptions::comma().threads(1));
        for block in [1, 4, 32] {
            let spread = LoadOptions {
                block,
                ..LoadOptions::comma().threads(3)
            };
            assert_eq!(on(spread), alone, "blocks of {block} bytes");
        }
    }
    let text = "userId,movieId,rating,timestamp\n1,2,3,10\n2,2,4,20\n";
    let load = |o: LoadOptions| {
        o.keep_timestamps(false)
            .parse_str("ratings.csv", text)
            .unwrap()
    };
    let spread = load(LoadOptions {
        block: 1,
        ..LoadOptions::movielens_csv().threads(2)
    });
    assert_eq!(spread.timestamps(), None);
    assert_eq!(spread, load(LoadOptions::movielens_csv().threads(1)));
}

/// `text` on `threads` threads in blocks of `block` bytes, on `train`'s
/// id maps when given.
fn load_with(
    options: &LoadOptions,
    text: &str,
    train: Option<&Ratings>,
    threads: usize,
    block: usize,
) -> Result<(Ratings, Unseen), String> {
    let options = LoadOptions {
        block,
        ..options.clone().threads(threads)
    };
    match train {
        Some(train) => options.parse_on("x", text.as_bytes(), train),
        None => options.parse_str("x", text).map(|r| (r, Unseen::default())),
    }
    .map_err(|e| e.to_string())
}

/// Blocks whose ids are all new, all known, all unseen on fixed maps, or
/// mixed: the ids, entries and unseen counts of pushing the lines one by
/// one into a builder.
#[test]
fn blocks_of_new_known_and_unseen_ids() {
    let train = LoadOptions::comma()
        .parse_str("train", "u1,i1,1\nu2,i2,2\nu3,i3,3\n")
        .unwrap();
    // Ten lines of each kind, about 80 bytes: one block of 80 bytes each.
    let mut lines = Vec::new();
    for k in 0..10 {
        lines.push((
            format!("u{}", 1 + k % 3),
            format!("i{}", 1 + (k + k / 3) % 3),
        ));
    }
    for k in 0..10 {
        lines.push((format!("x{}", k % 4), format!("y{}", k % 5)));
    }
    for k in 0..10 {
        lines.push((format!("u{}", 1 + k % 3), format!("y{}", k)));
    }
    let text: String = lines
        .iter()
        .zip(1..)
        .map(|((u, i), r)| format!("{u},{i},{}\n", r % 5 + 1))
        .collect();
    let options = LoadOptions::comma().duplicates(Duplicates::KeepLast);
    for fixed in [false, true] {
        let mut one_by_one = match fixed {
            true => RatingsBuilder::with_id_maps(&train),
            false => RatingsBuilder::new(),
        }
        .duplicates(Duplicates::KeepLast);
        for ((u, i), r) in lines.iter().zip(1..) {
            one_by_one.push(u.as_str(), i.as_str(), f64::from(r % 5 + 1));
        }
        let unseen = one_by_one.unseen();
        let expected = Ok((one_by_one.build().unwrap(), unseen));
        let train = fixed.then_some(&train);
        for (threads, block) in [(1, 1 << 20), (3, 1), (3, 8), (3, 80), (2, 1000)] {
            let loaded = load_with(&options, &text, train, threads, block);
            assert_eq!(loaded, expected, "{threads} threads, blocks of {block}");
        }
    }
    // Unseen: users x0..x3, items y0..y9 (y0..y4 counted once), and every
    // entry but the ten known ones.
    let (_, unseen) = load_with(&options, &text, Some(&train), 3, 80).unwrap();
    let expected = Unseen {
        users: 4,
        items: 10,
        entries: 20,
    };
    assert_eq!(unseen, expected);
}

/// Repeats of a pair on adjacent lines (one block) and far apart (other
/// blocks), with timestamps, under every policy: what pushing the lines
/// one by one gives, and the same error naming both lines.
#[test]
fn repeats_within_and_across_blocks() {
    let mut text = String::from("userId,movieId,rating,timestamp\n");
    let mut entries = Vec::new();
    for k in 0..300i64 {
        let (u, i) = (k % 7, k % 11);
        entries.push((u, i, (k % 9) as f64 / 2.0 + 0.5, 1000 + k));
        if k % 10 == 5 {
            entries.push((u, i, 5.0, 900 + k));
        }
    }
    for (u, i, r, t) in &entries {
        text.push_str(&format!("{u},{i},{r},{t}\n"));
    }
    for policy in [
        Duplicates::KeepFirst,
        Duplicates::KeepLast,
        Duplicates::Average,
    ] {
        let mut one_by_one = RatingsBuilder::new().duplicates(policy);
        for &(u, i, r, t) in &entries {
            one_by_one.push_timed(u, i, r, t);
        }
        let expected = Ok((one_by_one.build().unwrap(), Unseen::default()));
        assert!(expected.as_ref().unwrap().0.timestamps().is_some());
        let options = LoadOptions::movielens_csv().duplicates(policy);
        for (threads, block) in [(1, 1 << 20), (3, 1), (3, 40), (2, 600)] {
            let loaded = load_with(&options, &text, None, threads, block);
            assert_eq!(
                loaded, expected,
                "{policy:?}: {threads} threads, blocks of {block}"
            );
        }
    }
    // The first repeat in file order: line 7 (k = 5) again on line 8.
    for (threads, block) in [(1, 1 << 20), (3, 1), (3, 40)] {
        let err =
            load_with(&LoadOptions::movielens_csv(), &text, None, threads, block).unwrap_err();
        assert!(
            err.starts_with(
                "x:8: duplicate rating for user `5` and item `5` (first given at line 7)"
            ),
            "{err}"
        );
    }
}

/// Ids, their order and the lines duplicates name across many blocks.
#[test]
fn blocks_keep_file_order_and_lines() {
    let n = 5000;
    let mut text = String::from("user,item,rating\n");
    let mut builder = RatingsBuilder::new();
    for k in 0..n {
        let (user, item, rating) = (format!("u{}", k % 97), (k * 7) % 1013, (k % 5) as f64);
        text.push_str(&format!("{user},{item},{rating}\n"));
        builder.push(user.as_str(), item as i64, rating);
    }
    let options = LoadOptions {
        block: 100,
        ..LoadOptions::comma().threads(2)
    };
    assert_eq!(
        options.parse_str("x", &text).unwrap(),
        builder.build().unwrap()
    );
    text.push_str("u2,14,1\n");
    let err = options.parse_str("x", &text).unwrap_err();
    assert!(
        err.to_string().starts_with(&format!(
            "x:{}: duplicate rating for user `u2` and item `14` (first given at line 4)",
            n + 2
        )),
        "{err}"
    );
    // The header and the field count, read before the blocks are handed
    // out, hold for every block.
    let options = LoadOptions {
        block: 1,
        ..options
    };
    let text = "\n\nitem,user,rating\nb,a,1\nb,c,2\nd,e,3,4\n";
    let err = options.parse_str("x", text).unwrap_err().to_string();
    assert_eq!(
        err,
        "x:6: 4 fields, but line 3 has 3: column 4 is the first extra one"
    );
    let r = options.parse_str("x", &text[..text.len() - 8]).unwrap();
    assert_eq!(r.get_raw("c", "b"), Some(2.0));
}

/// A parser whose first block fails only after the second has failed.
#[derive(Clone)]
struct Late(Arc<(Mutex<bool>, Condvar)>);

impl Parse for Late {
    fn ready(&self) -> bool {
        true
    }

    fn skip(&mut self, _text: &[u8]) {}

    fn parse(&mut self, line: usize, _: &[u8], sink: &mut Sink) -> Result<(), DataError> {
        let (failed, signal) = &*self.0;
        match line {
            1 => drop(signal.wait_while(failed.lock().unwrap(), |f| !*f).unwrap()),
            2 => {
                *failed.lock().unwrap() = true;
                signal.notify_all();
            }
            _ => sink.push(line, RawId::Int(1), RawId::Int(line as i64), 1.0, None),
        }
        Err(DataError::Invalid(format!("line {line}")))
    }
}

#[test]
fn the_first_error_in_file_order_wins() {
    let input = input::normalize(&b"a\nb\nc\nd\n"[..]).unwrap();
    let blocks = Blocks::new("x", input, Records::Lines, 1);
    let plan = Plan {
        threads: 2,
        keep_times: false,
    };
    let late = Late(Arc::new((Mutex::new(false), Condvar::new())));
    let err = run(blocks, late, RatingsBuilder::new(), plan)
        .err()
        .unwrap();
    assert_eq!(err.to_string(), "invalid argument: line 1");
}

#[test]
fn zero_threads_is_refused() {
    let err = LoadOptions::new()
        .threads(0)
        .parse_str("x", "1,2,3\n")
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "x: LoadOptions::threads: 0: at least one thread parses"
    );
}
