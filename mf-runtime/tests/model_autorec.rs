//! AutoRec both ways round, over sparse and dense data: the generated model
//! predicts through its encoder table exactly what the loss reconstructs,
//! `W σ(V (mask ∘ D) + b) + c` (item-based) or `σ((mask ∘ D) V + b) W + c`
//! (user-based), computed here by hand from the training ratings.

use mf_runtime::data::Ratings;
use mf_runtime::model::{Model, Prediction, Unknown};
use mf_runtime::{loss, Init, Params};
use rand::SeedableRng;

type TestResult = Result<(), Box<dyn std::error::Error>>;

loss! {
    /// Item-based AutoRec (Sedhain et al. 2015): an item's column of
    /// ratings encoded to k values, decoded to every user.
    pub struct ItemAutoRec {
        data D: sparse[users, items],
        param V: [k, users],
        param b: [k, 1],
        param W: [users, k],
        param c: [users, 1],
        hyper lambda: f64 = 1.0,
    }
    minimize sum(mask * (D - W @ sigmoid(V @ (mask(D) * D) + b) - c)^2) + lambda * (sum(V^2) + sum(W^2))
}

loss! {
    pub struct ItemAutoRecDense {
        data D: [users, items],
        param V: [k, users],
        param b: [k, 1],
        param W: [users, k],
        param c: [users, 1],
        hyper lambda: f64 = 1.0,
    }
    minimize sum(mask * (D - W @ sigmoid(V @ (mask(D) * D) + b) - c)^2) + lambda * (sum(V^2) + sum(W^2))
}

loss! {
    /// User-based AutoRec: a user's row of ratings encoded to k values,
    /// decoded to every item.
    pub struct UserAutoRec {
        data D: sparse[users, items],
        param V: [items, k],
        param b: [1, k],
        param W: [k, items],
        param c: [1, items],
        hyper lambda: f64 = 1.0,
    }
    minimize sum(mask * (D - sigmoid((mask(D) * D) @ V + b) @ W - c)^2) + lambda * (sum(V^2) + sum(W^2))
}

loss! {
    pub struct UserAutoRecDense {
        data D: [users, items],
        param V: [items, k],
        param b: [1, k],
        param W: [k, items],
        param c: [1, items],
        hyper lambda: f64 = 1.0,
    }
    minimize sum(mask * (D - sigmoid((mask(D) * D) @ V + b) @ W - c)^2) + lambda * (sum(V^2) + sum(W^2))
}

const USERS: usize = 4;
const ITEMS: usize = 5;
const K: usize = 2;

fn train() -> Ratings {
    train_in(USERS, ITEMS)
}

/// The training ratings in a grid of `users × items` (at least `USERS ×
/// ITEMS`: the others have no rating).
fn train_in(users: usize, items: usize) -> Ratings {
    Ratings::from_triplets(
        users as u32,
        items as u32,
        [
            (0, 0, 5.0),
            (0, 2, 3.0),
            (1, 1, 4.0),
            (1, 2, 1.0),
            (1, 4, 2.0),
            (2, 3, 4.0),
            (3, 0, 1.0),
            (3, 2, 2.5),
        ],
    )
    .expect("valid ratings")
}

fn start(layout: mf_runtime::ParamLayout, seed: u64) -> Params {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    Params::init(
        layout,
        Init::Normal {
            mean: 0.0,
            std: 0.7,
        },
        &mut rng,
    )
}

/// The training ratings as a `users × items` grid, 0 where missing.
fn grid(train: &Ratings) -> [[f64; ITEMS]; USERS] {
    let mut d = [[0.0; ITEMS]; USERS];
    for (u, row) in d.iter_mut().enumerate() {
        let (items, ratings) = train.csr().row(u);
        for (&i, &r) in items.iter().zip(ratings) {
            row[i as usize] = r;
        }
    }
    d
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// `(W σ(V (mask ∘ D) + b) + c)[u, i]`.
fn item_based_by_hand(p: &Params, d: &[[f64; ITEMS]; USERS], u: usize, i: usize) -> f64 {
    let v = |n: &str| p.view(n).unwrap().to_owned();
    (0..K)
        .map(|h| {
            let z: f64 = (0..USERS).map(|w| v("V")[[h, w]] * d[w][i]).sum::<f64>() + v("b")[[h, 0]];
            v("W")[[u, h]] * sigmoid(z)
        })
        .sum::<f64>()
        + v("c")[[u, 0]]
}

/// `(σ((mask ∘ D) V + b) W + c)[u, i]`.
fn user_based_by_hand(p: &Params, d: &[[f64; ITEMS]; USERS], u: usize, i: usize) -> f64 {
    let v = |n: &str| p.view(n).unwrap().to_owned();
    (0..K)
        .map(|h| {
            let z: f64 = (0..ITEMS).map(|j| d[u][j] * v("V")[[j, h]]).sum::<f64>() + v("b")[[0, h]];
            sigmoid(z) * v("W")[[h, i]]
        })
        .sum::<f64>()
        + v("c")[[0, i]]
}

/// Every prediction of `models` against `by_hand`, to 1e-12.
fn check(models: [&Model; 2], by_hand: impl Fn(usize, usize) -> f64) -> TestResult {
    for u in 0..USERS {
        for i in 0..ITEMS {
            let expected = by_hand(u, i);
            for model in models {
                let got = model.predict_index(u as u32, i as u32)?;
                assert!(
                    (got - expected).abs() < 1e-12,
                    "({u}, {i}): {got} vs {expected}"
                );
            }
        }
    }
    Ok(())
}

#[test]
fn item_based_autorec_predicts_its_reconstruction() -> TestResult {
    let train = train();
    assert!(!ItemAutoRec::default().tables().is_empty());
    let p = start(ItemAutoRec::layout(&train, K)?, 5);
    let sparse = Model::new(&ItemAutoRec::default(), p.clone(), &train)?;
    let dense = Model::new(&ItemAutoRecDense::default(), p.clone(), &train)?;
    let d = grid(&train);
    check([&sparse, &dense], |u, i| item_based_by_hand(&p, &d, u, i))
}

#[test]
fn user_based_autorec_predicts_its_reconstruction() -> TestResult {
    let train = train();
    assert!(!UserAutoRec::default().tables().is_empty());
    let p = start(UserAutoRec::layout(&train, K)?, 6);
    let sparse = Model::new(&UserAutoRec::default(), p.clone(), &train)?;
    let dense = Model::new(&UserAutoRecDense::default(), p.clone(), &train)?;
    let d = grid(&train);
    check([&sparse, &dense], |u, i| user_based_by_hand(&p, &d, u, i))
}

/// Unknown ids follow the policy of rows at zero, and the encoder table
/// is computed so: an id of the maps without training ratings is encoded
/// from its empty row (column) of ratings. Under [`Unknown::Baseline`] an
/// item without training ratings is predicted, item-based, by the decoding
/// of `σ(b)`, `W[u] σ(b) + c[u]`, and a user without training ratings,
/// user-based, by `σ(b) W[:, i] + c[i]`; an id whose decoder rows are
/// params (the user item-based, the item user-based) gets 0.
#[test]
fn autorec_unknown_ids_predict_with_their_rows_at_zero() -> TestResult {
    let train = train_in(USERS + 1, ITEMS + 1);
    let (new_user, new_item) = (USERS as u32, ITEMS as u32);
    let baseline = |loss: &dyn Prediction, p: &Params| {
        Model::builder(loss, p.clone(), &train)
            .unknown(Unknown::Baseline)
            .build()
    };
    let close = |got: f64, expected: f64| (got - expected).abs() < 1e-12;
    let p = start(ItemAutoRec::layout(&train, K)?, 7);
    let item_based = baseline(&ItemAutoRec::default(), &p)?;
    let v = |n: &str| p.view(n).expect("a block of the loss").to_owned();
    for u in 0..USERS {
        let decoded: f64 = (0..K)
            .map(|h| v("W")[[u, h]] * sigmoid(v("b")[[h, 0]]))
            .sum();
        let got = item_based.predict_index(u as u32, new_item)?;
        assert!(close(got, decoded + v("c")[[u, 0]]), "{u}: {got}");
    }
    assert_eq!(item_based.predict_index(new_user, 0)?, 0.0);

    let p = start(UserAutoRec::layout(&train, K)?, 8);
    let user_based = baseline(&UserAutoRec::default(), &p)?;
    let v = |n: &str| p.view(n).expect("a block of the loss").to_owned();
    for i in 0..ITEMS {
        let decoded: f64 = (0..K)
            .map(|h| sigmoid(v("b")[[0, h]]) * v("W")[[h, i]])
            .sum();
        let got = user_based.predict_index(new_user, i as u32)?;
        assert!(close(got, decoded + v("c")[[0, i]]), "{i}: {got}");
    }
    assert_eq!(user_based.predict_index(0, new_item)?, 0.0);
    Ok(())
}
