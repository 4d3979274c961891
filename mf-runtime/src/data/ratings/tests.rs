//! Tests of `Ratings`: construction, views, selection and equality.

use super::*;

fn lcg(seed: &mut u64) -> u64 {
    *seed = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    *seed >> 33
}

/// A random matrix with repeats resolved by KeepLast, checked against a
/// dense reference and for CSR/CSC consistency.
#[test]
fn csr_and_csc_agree_with_a_dense_reference() {
    let (m, n) = (37u32, 23u32);
    let mut seed = 7;
    let mut dense = vec![None; (m * n) as usize];
    let mut b = RatingsBuilder::new().duplicates(Duplicates::KeepLast);
    // Touch every user and item first so that indices equal raw ids.
    for k in 0..m.max(n) {
        let (u, i) = (k % m, k % n);
        b.push(u, i, 1.0);
        dense[(u * n + i) as usize] = Some(1.0);
    }
    for _ in 0..600 {
        let u = (lcg(&mut seed) % m as u64) as u32;
        let i = (lcg(&mut seed) % n as u64) as u32;
        let v = (lcg(&mut seed) % 5) as f64 + 1.0;
        b.push(u, i, v);
        dense[(u * n + i) as usize] = Some(v);
    }
    let r = b.build().unwrap();
    assert_eq!((r.num_users(), r.num_items()), (m as usize, n as usize));
    let expected: Vec<_> = (0..m)
        .flat_map(|u| (0..n).map(move |i| (u, i)))
        .filter_map(|(u, i)| dense[(u * n + i) as usize].map(|v| (u, i, v)))
        .collect();
    assert_eq!(r.iter().collect::<Vec<_>>(), expected);
    for u in 0..m {
        for i in 0..n {
            assert_eq!(r.get(u, i), dense[(u * n + i) as usize]);
        }
    }
    // CSC holds the same entries, column by column, sorted by user; it
    // is built on first use, and building it changes no comparison.
    let before = r.clone();
    assert!(!r.has_csc());
    let csc = r.csc();
    assert!(r.has_csc() && !before.has_csc());
    assert_eq!(r, before);
    let csr = r.csr();
    let mut from_csc = Vec::new();
    for i in 0..n as usize {
        let (users, values) = csc.col(i);
        assert!(users.windows(2).all(|w| w[0] < w[1]));
        for (&u, &v) in users.iter().zip(values) {
            from_csc.push((u, i as u32, v));
        }
    }
    from_csc.sort_by_key(|&(u, i, _)| (u, i));
    assert_eq!(from_csc, expected);
    for (p, &q) in csc.csr_pos.iter().enumerate() {
        let q = q as usize;
        assert_eq!(csr.values[q], csc.values[p]);
        assert_eq!(
            csr.indptr.partition_point(|&s| s <= q) - 1,
            csc.indices[p] as usize
        );
    }
    let back = r.csr_to_csc();
    for (q, &p) in back.iter().enumerate() {
        assert_eq!(csc.csr_pos[p as usize] as usize, q);
    }
    let counts: usize = r.user_counts().sum();
    assert_eq!(counts, r.nnz());
    assert_eq!(r.item_counts().sum::<usize>(), r.nnz());
}

#[test]
fn masked_round_trip() {
    let r = Ratings::from_triplets(3, 4, [(0, 3, 1.5), (2, 0, -2.0), (1, 1, 0.0)]).unwrap();
    let m = r.to_masked();
    assert_eq!(m.num_observed(), 3);
    assert_eq!(Ratings::from_masked(&m).unwrap(), r);
}

#[test]
fn empty_rows_and_columns() {
    let r = Ratings::from_triplets(4, 4, [(3, 3, 1.0)]).unwrap();
    assert_eq!(r.csr().indptr, &[0, 0, 0, 0, 1]);
    assert_eq!(r.csc().indptr, &[0, 0, 0, 0, 1]);
    assert_eq!(r.iter().collect::<Vec<_>>(), [(3, 3, 1.0)]);
}
